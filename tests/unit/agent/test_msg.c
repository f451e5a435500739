/* Unit tests of the peer message accessors (agent/msg.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/msg.h"
#include "lib/lib.h"

/* msg_in_parse() takes a malloc'ed buffer. */
static int parse(struct msg_in *in, const void *data, size_t len)
{
	void *buf = malloc(len > 0 ? len : 1);

	assert_non_null(buf);
	memcpy(buf, data, len);
	return msg_in_parse(in, buf, len);
}

/* Found by fuzzing: a container or string whose declared size cannot fit
 * in the message made msgpack-c allocate room for it first: five bytes
 * cost 64 GiB of address space (an out-of-memory abort under ASan), on
 * the JOIN service, before any authentication. */
static void test_declared_sizes_beyond_the_message(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} cases[] = {
		{"\xdd\xff\xff\xff\xff", 5},		  /* array32 of 2^32 */
		{"\xdf\x10\x00\x00\x00", 5},		  /* map32 of 2^28 */
		{"\x81\xa1t\xdc\xff\xff", 6},		  /* {"t": array16} */
		{"\x81\xa1t\xdb\xff\xff\xff\xff", 8},	  /* str32 of 4 GiB */
		{"\x81\xa1t\xc6\x00\x01\x00\x00", 8},	  /* bin32 of 64 KiB */
		{"\x81\xa1t\xc9\x00\x00\x00\x10\x01", 9}, /* ext32 of 16 */
		{"\x82\xa1t\x92\x01", 5},	/* a second pair missing */
		{"\x81\xa1t\x93\x01\x02", 6},	/* array one short */
	};
	struct msg_in in;

	(void)state;
	for (size_t i = 0; i < HX_ARRAY_SIZE(cases); i++)
		assert_int_equal(parse(&in, cases[i].bytes, cases[i].len),
				 HX_EPROTO);
}

/* Every msgpack type still parses: the size check knows them all. */
static void test_all_types(void **state)
{
	struct msg_out m;
	struct msg_in in;
	char buf[64];
	int64_t v;

	(void)state;
	msg_out_init(&m, 9);
	msg_put_str(&m, "t", "x");
	msg_put_int(&m, "neg", INT64_MIN);
	msg_put_int(&m, "big", INT64_MAX);
	msg_put_key(&m, "f");
	msgpack_pack_double(&m.pk, 1.5);
	msg_put_key(&m, "g");
	msgpack_pack_float(&m.pk, 2.5f);
	msg_put_key(&m, "bin");
	msgpack_pack_bin(&m.pk, 3);
	msgpack_pack_bin_body(&m.pk, "abc", 3);
	msg_put_key(&m, "ext");
	msgpack_pack_ext(&m.pk, 16, 5);
	msgpack_pack_ext_body(&m.pk, "0123456789abcdef", 16);
	msg_put_key(&m, "nest");
	msgpack_pack_array(&m.pk, 2);
	msgpack_pack_map(&m.pk, 1);
	msgpack_pack_nil(&m.pk);
	msgpack_pack_true(&m.pk);
	msgpack_pack_array(&m.pk, 0);
	msg_put_key(&m, "members");
	msgpack_pack_array(&m.pk, 1);
	msgpack_pack_array(&m.pk, 2);
	msg_pack_str(&m, "10.0.0.1:8007");
	msg_pack_str(&m, "ab");
	assert_int_equal(parse(&in, m.sbuf.data, m.sbuf.size), 0);
	msg_out_close(&m);
	assert_int_equal(msg_get_str(&in, "t", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "x");
	assert_int_equal(msg_get_int(&in, "neg", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(msg_get_int(&in, "big", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(msg_get_str(&in, "bin", buf, sizeof(buf)), -EINVAL);
	msg_in_close(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_declared_sizes_beyond_the_message),
		cmocka_unit_test(test_all_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
