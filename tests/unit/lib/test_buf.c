/* Unit tests for lib/buf.c: growable text buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/lib.h"

static void test_empty(void **state)
{
	struct hx_buf b = {0};
	char *s;

	(void)state;
	s = hx_buf_take(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	hx_buf_put(&b, "%s", "");
	assert_int_equal(b.len, 0);
	assert_string_equal(b.s, "");
	free(hx_buf_take(&b));
	assert_null(b.s);
}

/* Appends in pieces that cross the growth steps keep every byte. */
static void test_grows(void **state)
{
	struct hx_buf b = {0};
	char want[70001], *s;
	size_t off = 0;

	(void)state;
	for (unsigned i = 0; off + 7 < sizeof(want); i++) {
		hx_buf_put(&b, "%06u\n", i % 1000000);
		off += (size_t)snprintf(want + off, sizeof(want) - off,
					"%06u\n", i % 1000000);
	}
	assert_false(b.oom);
	assert_int_equal(b.len, off);
	assert_true(b.cap > b.len);
	s = hx_buf_take(&b);
	assert_string_equal(s, want);
	assert_int_equal(b.len, 0);
	free(s);
}

/* One append larger than the buffer's doubling. */
static void test_large_piece(void **state)
{
	struct hx_buf b = {0};
	char *big = malloc(100000), *s;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 99999);
	big[99999] = '\0';
	hx_buf_put(&b, "<%s>", big);
	assert_int_equal(b.len, 100001);
	s = hx_buf_take(&b);
	assert_int_equal(s[0], '<');
	assert_int_equal(s[100000], '>');
	assert_int_equal(s[100001], '\0');
	free(s);
	free(big);
}

/* After a failed allocation the buffer ignores appends; take gives NULL
 * and frees what was there. */
static void test_oom(void **state)
{
	struct hx_buf b = {0};

	(void)state;
	hx_buf_put(&b, "abc");
	b.oom = true;
	hx_buf_put(&b, "def");
	assert_int_equal(b.len, 3);
	assert_null(hx_buf_take(&b));
	assert_null(b.s);
	assert_false(b.oom);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_grows),
		cmocka_unit_test(test_large_piece),
		cmocka_unit_test(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
