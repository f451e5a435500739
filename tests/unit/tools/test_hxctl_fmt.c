/* Unit tests of hxctl's output formatting (tools/hxctl-fmt.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tools/hxctl.h"

static void test_duration(void **state)
{
	static const struct {
		uint64_t ms;
		const char *text;
	} cases[] = {
		{0, "0ms"},	      {999, "999ms"},	   {1000, "1.0s"},
		{4250, "4.2s"},	      {9999, "9.9s"},	   {10000, "10s"},
		{59999, "59s"},	      {60000, "1m00s"},	   {303000, "5m03s"},
		{3600000, "1h00m"},   {11220000, "3h07m"}, {86400000, "1d00h"},
		{187200000, "2d04h"},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(cases); i++) {
		hxctl_fmt_duration(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
	hxctl_fmt_duration(303000, buf, 3);
	assert_string_equal(buf, "5m");
}

static void test_age_and_time(void **state)
{
	char buf[48];

	(void)state;
	hxctl_fmt_age(120, buf, sizeof(buf));
	assert_string_equal(buf, "120ms ago");
	hxctl_fmt_age(-5, buf, sizeof(buf));
	assert_string_equal(buf, "now");
	hxctl_fmt_time(1700000000000, buf, sizeof(buf));
	assert_string_equal(buf, "2023-11-14T22:13:20Z");
	hxctl_fmt_time(-1, buf, sizeof(buf));
	assert_string_equal(buf, "-");
}

static void test_mb_and_bar(void **state)
{
	char buf[32];

	(void)state;
	hxctl_fmt_mb(512, buf, sizeof(buf));
	assert_string_equal(buf, "512M");
	hxctl_fmt_mb(24000, buf, sizeof(buf));
	assert_string_equal(buf, "23.4G");
	hxctl_fmt_mb(3u << 20, buf, sizeof(buf));
	assert_string_equal(buf, "3.0T");
	hxctl_fmt_bar(40, 10, buf, sizeof(buf));
	assert_string_equal(buf, "[####      ]");
	hxctl_fmt_bar(250, 4, buf, sizeof(buf));
	assert_string_equal(buf, "[####]");
	hxctl_fmt_bar(-3, 2, buf, sizeof(buf));
	assert_string_equal(buf, "[  ]");
	hxctl_fmt_bar(50, 10, buf, 4);
	assert_string_equal(buf, "[##");
}

static void test_cells_and_labels(void **state)
{
	json_t *o = json_pack("{sssisbsnsfs{ss}}", "s", "text", "i", 42, "b", 1,
			      "n", "r", 1.5, "o", "k", "v");
	json_t *labels =
		json_pack("{ssssss}", "zone", "b", "gpu", "yes", "rack", "a");
	char buf[64];
	int64_t v = 0;

	(void)state;
	hxctl_fmt_cell(o, "s", buf, sizeof(buf));
	assert_string_equal(buf, "text");
	hxctl_fmt_cell(o, "i", buf, sizeof(buf));
	assert_string_equal(buf, "42");
	hxctl_fmt_cell(o, "b", buf, sizeof(buf));
	assert_string_equal(buf, "yes");
	hxctl_fmt_cell(o, "n", buf, sizeof(buf));
	assert_string_equal(buf, "-");
	hxctl_fmt_cell(o, "missing", buf, sizeof(buf));
	assert_string_equal(buf, "-");
	hxctl_fmt_cell(o, "r", buf, sizeof(buf));
	assert_string_equal(buf, "1.5");
	hxctl_fmt_cell(o, "o", buf, sizeof(buf));
	assert_string_equal(buf, "{\"k\":\"v\"}");
	hxctl_fmt_cell(NULL, "s", buf, sizeof(buf));
	assert_string_equal(buf, "-");
	assert_string_equal(hxctl_json_str(o, "s", "d"), "text");
	assert_string_equal(hxctl_json_str(o, "i", "d"), "d");
	assert_true(hxctl_json_int(o, "i", &v));
	assert_int_equal(v, 42);
	assert_false(hxctl_json_int(o, "s", &v));
	hxctl_fmt_labels(labels, buf, sizeof(buf));
	assert_string_equal(buf, "gpu=yes,rack=a,zone=b");
	hxctl_fmt_labels(json_object_get(o, "none"), buf, sizeof(buf));
	assert_string_equal(buf, "-");
	json_decref(labels);
	json_decref(o);
}

/* Prints @t into a string the caller frees. */
static char *table_text(struct hxctl_table *t)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	hxctl_table_print(t, f);
	fclose(f);
	return text;
}

static void test_table(void **state)
{
	static const char *const hdr[] = {"NAME", "STATE", "NOTE"};
	struct hxctl_table *t = hxctl_table_new(hdr, 3);
	char *text;

	(void)state;
	assert_non_null(t);
	assert_int_equal(
		hxctl_table_add(t, (const char *[]){"n1", "online", "x"}), 0);
	assert_int_equal(
		hxctl_table_add(t, (const char *[]){"node-é2", NULL, ""}), 0);
	text = table_text(t);
	assert_string_equal(text, "NAME     STATE   NOTE\n"
				  "n1       online  x\n"
				  "node-é2  -       \n");
	free(text);
	hxctl_table_free(t);
	hxctl_table_free(NULL);

	t = hxctl_table_new(NULL, 1);
	text = table_text(t);
	assert_string_equal(text, "");
	free(text);
	for (int i = 0; i < 40; i++)
		assert_int_equal(hxctl_table_add(t, (const char *[]){"r"}), 0);
	hxctl_table_free(t);
}

static void test_kv_print(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	hxctl_kv_print(f, "id", "%d", 7);
	hxctl_kv_print(f, "a-very-long-key", "%s", "v");
	fclose(f);
	assert_string_equal(text, "id:         7\na-very-long-key: v\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_age_and_time),
		cmocka_unit_test(test_mb_and_bar),
		cmocka_unit_test(test_cells_and_labels),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_kv_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
