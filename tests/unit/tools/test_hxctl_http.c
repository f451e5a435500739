/* Unit tests of hxctl's status mapping and escaping (tools/hxctl-http.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tools/hxctl.h"

static void test_exit_from_status(void **state)
{
	static const struct {
		long status;
		int code;
	} cases[] = {
		{200, HXCTL_EXIT_OK},	       {201, HXCTL_EXIT_OK},
		{204, HXCTL_EXIT_OK},	       {400, HXCTL_EXIT_ERROR},
		{401, HXCTL_EXIT_DENIED},      {403, HXCTL_EXIT_DENIED},
		{404, HXCTL_EXIT_NOTFOUND},    {405, HXCTL_EXIT_ERROR},
		{409, HXCTL_EXIT_CONFLICT},    {412, HXCTL_EXIT_CONFLICT},
		{413, HXCTL_EXIT_ERROR},       {500, HXCTL_EXIT_ERROR},
		{503, HXCTL_EXIT_UNAVAILABLE}, {502, HXCTL_EXIT_ERROR},
		{0, HXCTL_EXIT_ERROR},
	};

	(void)state;
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(cases); i++)
		assert_int_equal(hxctl_exit_from_status(cases[i].status),
				 cases[i].code);
}

static void test_escape(void **state)
{
	char *s;

	(void)state;
	s = hxctl_escape("n1.rack-a_~");
	assert_string_equal(s, "n1.rack-a_~");
	free(s);
	s = hxctl_escape("a b/c?d&e=%");
	assert_string_equal(s, "a%20b%2Fc%3Fd%26e%3D%25");
	free(s);
	s = hxctl_escape("\xc3\xa9");
	assert_string_equal(s, "%C3%A9");
	free(s);
	s = hxctl_escape("");
	assert_string_equal(s, "");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_from_status),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
