/* Unit tests for lib/addr.c: addresses, prefixes, offsets, MACs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/lib.h"

static void canon(const char *in, const char *want)
{
	struct hx_prefix p;
	char buf[HX_PREFIX_STRLEN];

	assert_int_equal(hx_prefix_parse(in, false, &p), 0);
	hx_prefix_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_parse(void **state)
{
	struct hx_addr a;
	struct hx_prefix p;
	char buf[HX_ADDR_STRLEN];

	(void)state;
	assert_int_equal(hx_addr_parse("10.1.2.3", &a), 0);
	assert_int_equal(a.family, 4);
	assert_int_equal(hx_addr_parse("FD00:0:0::1", &a), 0);
	assert_int_equal(a.family, 6);
	hx_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "fd00::1");
	static const char *const bad[] = {"", "10.1", "10.1.2.256", "1.2.3.4 ",
					  "::g", "010.1.2.3x", "1.2.3.4/24"};
	for (size_t i = 0; i < HX_ARRAY_SIZE(bad); i++)
		assert_int_equal(hx_addr_parse(bad[i], &a), -EINVAL);
	canon("10.1.2.3/24", "10.1.2.0/24");
	canon("fd00:1:0:0::5/64", "fd00:1::/64");
	canon("10.0.0.1", "10.0.0.1/32");
	assert_int_equal(hx_prefix_parse("10.1.2.3/24", true, &p), -EINVAL);
	assert_int_equal(hx_prefix_parse("10.1.2.0/33", true, &p), -EINVAL);
	assert_int_equal(hx_prefix_parse("10.1.2.0/", true, &p), -EINVAL);
	assert_int_equal(hx_prefix_parse("10.1.2.0/024", true, &p), -EINVAL);
	assert_int_equal(hx_prefix_parse("10.1.2.0/-1", true, &p), -EINVAL);
	assert_int_equal(hx_prefix_parse("fd00::/129", true, &p), -EINVAL);
	assert_int_equal(hx_prefix_parse("0.0.0.0/0", true, &p), 0);
	assert_int_equal(p.len, 0);
}

static void test_overlap(void **state)
{
	struct hx_prefix a, b, c, d;
	struct hx_addr x;

	(void)state;
	assert_int_equal(hx_prefix_parse("10.1.0.0/16", true, &a), 0);
	assert_int_equal(hx_prefix_parse("10.1.5.0/24", true, &b), 0);
	assert_int_equal(hx_prefix_parse("10.2.0.0/24", true, &c), 0);
	assert_int_equal(hx_prefix_parse("::/0", true, &d), 0);
	assert_true(hx_prefix_overlaps(&a, &b));
	assert_true(hx_prefix_overlaps(&b, &a));
	assert_false(hx_prefix_overlaps(&a, &c));
	assert_false(hx_prefix_overlaps(&a, &d)); /* families differ */
	assert_int_equal(hx_addr_parse("10.1.255.255", &x), 0);
	assert_true(hx_prefix_contains(&a, &x));
	assert_false(hx_prefix_contains(&b, &x));
}

static void test_offsets(void **state)
{
	struct hx_prefix p;
	struct hx_addr a;
	char buf[HX_ADDR_STRLEN];
	uint64_t off;

	(void)state;
	assert_int_equal(hx_prefix_parse("10.1.0.0/23", true, &p), 0);
	assert_int_equal(hx_prefix_last_offset(&p), 511);
	assert_int_equal(hx_prefix_nth(&p, 300, &a), 0);
	hx_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.1.44");
	assert_int_equal(hx_prefix_offset(&p, &a, &off), 0);
	assert_int_equal(off, 300);
	assert_int_equal(hx_prefix_nth(&p, 512, &a), -ERANGE);
	assert_int_equal(hx_addr_parse("10.1.2.0", &a), 0);
	assert_int_equal(hx_prefix_offset(&p, &a, &off), -EINVAL);
	/* IPv6: offsets stop at 2^62 */
	assert_int_equal(hx_prefix_parse("fd00::/64", true, &p), 0);
	assert_int_equal(hx_prefix_last_offset(&p), HX_OFFSET_MAX);
	assert_int_equal(hx_prefix_nth(&p, 0x10203, &a), 0);
	hx_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "fd00::1:203");
	assert_int_equal(hx_addr_parse("fd00::8000:0:0:1", &a), 0);
	assert_int_equal(hx_prefix_offset(&p, &a, &off), -ERANGE);
}

static void test_mac(void **state)
{
	uint8_t m[6];
	struct hx_addr ll;
	char buf[HX_ADDR_STRLEN];

	(void)state;
	assert_int_equal(hx_mac_parse("52:54:00:AB:cd:0f", m), 0);
	hx_mac_format(m, buf, sizeof(buf));
	assert_string_equal(buf, "52:54:00:ab:cd:0f");
	assert_int_equal(hx_mac_parse("52:54:00:ab:cd", m), -EINVAL);
	assert_int_equal(hx_mac_parse("52-54-00-ab-cd-0f", m), -EINVAL);
	assert_int_equal(hx_mac_parse("52:54:00:ab:cd:0f:", m), -EINVAL);
	assert_int_equal(hx_mac_parse(" 2:54:00:ab:cd:0f", m), -EINVAL);
	assert_int_equal(hx_mac_parse("52:54:00:ab:cd:0f", m), 0);
	hx_mac_link_local(m, &ll);
	hx_addr_format(&ll, buf, sizeof(buf));
	assert_string_equal(buf, "fe80::5054:ff:feab:cd0f");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_mac),
	};

	return cmocka_run_group_tests_name("lib addr", tests, NULL, NULL) == 0
		       ? 0
		       : 1;
}
