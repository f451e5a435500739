/* Unit tests of hxctl's command-line parsing (tools/hxctl-args.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tools/hxctl.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define ARGC(v)	  ((int)(sizeof(v) / sizeof(v[0])) - 1)

static void test_positional_and_options(void **state)
{
	char **v = ARGV("n1", "--state", "ok", "a=b", "--limit=5", "--follow",
			"--json");
	struct hxctl_args a;
	char err[128] = "";

	(void)state;
	assert_int_equal(hxctl_args_parse("state: limit: follow", 7, v, false,
					  &a, err, sizeof(err)),
			 0);
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[0], "n1");
	assert_string_equal(a.pos[1], "a=b");
	assert_string_equal(hxctl_args_get(&a, "state"), "ok");
	assert_string_equal(hxctl_args_get(&a, "limit"), "5");
	assert_string_equal(hxctl_args_get(&a, "follow"), "");
	assert_null(hxctl_args_get(&a, "since"));
	assert_true(a.json);
	assert_false(a.help);
	hxctl_args_close(&a);
}

static void test_repeated_option(void **state)
{
	char **v = ARGV("--remove", "a", "n1", "--remove=b", "--remove", "c");
	struct hxctl_args a;
	const char *s;
	int iter = 0;
	int n = 0;

	(void)state;
	assert_int_equal(hxctl_args_parse("remove:", 6, v, false, &a, NULL, 0),
			 0);
	assert_int_equal(a.npos, 1);
	assert_string_equal(hxctl_args_get(&a, "remove"), "c");
	while ((s = hxctl_args_next(&a, "remove", &iter)) != NULL) {
		assert_int_equal(s[0], "abc"[n]);
		n++;
	}
	assert_int_equal(n, 3);
	hxctl_args_close(&a);
}

static void test_errors(void **state)
{
	struct hxctl_args a;
	char err[128];

	(void)state;
	assert_int_equal(hxctl_args_parse("ttl:", 1, ARGV("--nope"), false, &a,
					  err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "unknown option '--nope'");
	hxctl_args_close(&a);
	assert_int_equal(hxctl_args_parse("ttl:", 1, ARGV("--ttl"), false, &a,
					  err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "option '--ttl' needs a value");
	hxctl_args_close(&a);
	assert_int_equal(hxctl_args_parse("follow", 1, ARGV("--follow=1"),
					  false, &a, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "option '--follow' takes no value");
	hxctl_args_close(&a);
	assert_int_equal(hxctl_args_parse("", 1, ARGV("-x"), false, &a, err,
					  sizeof(err)),
			 -EINVAL);
	hxctl_args_close(&a);
	/* a prefix of an option is not the option */
	assert_int_equal(hxctl_args_parse("limit:", 2, ARGV("--lim", "3"),
					  false, &a, err, sizeof(err)),
			 -EINVAL);
	hxctl_args_close(&a);
}

static void test_double_dash_and_help(void **state)
{
	char **v = ARGV("-h", "--", "--not-an-option", "-");
	struct hxctl_args a;

	(void)state;
	assert_int_equal(hxctl_args_parse("", 4, v, false, &a, NULL, 0), 0);
	assert_true(a.help);
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[0], "--not-an-option");
	assert_string_equal(a.pos[1], "-");
	hxctl_args_close(&a);
}

static void test_stop_at_positional(void **state)
{
	char **v =
		ARGV("--json", "--data-dir", "/d", "node", "show", "--bogus");
	struct hxctl_args a;

	(void)state;
	assert_int_equal(
		hxctl_args_parse("data-dir: url:", 6, v, true, &a, NULL, 0), 0);
	assert_int_equal(a.next, 3);
	assert_true(a.json);
	assert_string_equal(hxctl_args_get(&a, "data-dir"), "/d");
	hxctl_args_close(&a);
	assert_int_equal(hxctl_args_parse("", 0, ARGV(NULL), true, &a, NULL, 0),
			 0);
	assert_int_equal(a.next, 0);
	hxctl_args_close(&a);
}

static void test_parse_int(void **state)
{
	int64_t v = -7;

	(void)state;
	assert_int_equal(hxctl_parse_int("42", 1, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(hxctl_parse_int("0", 1, 100, &v), -ERANGE);
	assert_int_equal(hxctl_parse_int("101", 1, 100, &v), -ERANGE);
	assert_int_equal(hxctl_parse_int("-3", -5, 5, &v), 0);
	assert_int_equal(v, -3);
	assert_int_equal(hxctl_parse_int("", 0, 5, &v), -EINVAL);
	assert_int_equal(hxctl_parse_int("4x", 0, 5, &v), -EINVAL);
	assert_int_equal(hxctl_parse_int(" 4", 0, 5, &v), -EINVAL);
	assert_int_equal(hxctl_parse_int("+4", 0, 5, &v), -EINVAL);
	assert_int_equal(
		hxctl_parse_int("99999999999999999999", 0, INT64_MAX, &v),
		-ERANGE);
	assert_int_equal(v, -3);
}

static void test_value_parse(void **state)
{
	json_t *v;

	(void)state;
	v = hxctl_value_parse("500");
	assert_true(json_is_integer(v));
	assert_int_equal(json_integer_value(v), 500);
	json_decref(v);
	v = hxctl_value_parse("true");
	assert_true(json_is_true(v));
	json_decref(v);
	v = hxctl_value_parse("1.5");
	assert_true(json_is_string(v));
	json_decref(v);
	v = hxctl_value_parse("");
	assert_string_equal(json_string_value(v), "");
	json_decref(v);
}

static void test_kv_split(void **state)
{
	const char *val = NULL;
	char key[8];

	(void)state;
	assert_int_equal(hxctl_kv_split("a=b=c", key, sizeof(key), &val), 0);
	assert_string_equal(key, "a");
	assert_string_equal(val, "b=c");
	assert_int_equal(hxctl_kv_split("k=", key, sizeof(key), &val), 0);
	assert_string_equal(val, "");
	assert_int_equal(hxctl_kv_split("=v", key, sizeof(key), &val), -EINVAL);
	assert_int_equal(hxctl_kv_split("novalue", key, sizeof(key), &val),
			 -EINVAL);
	assert_int_equal(hxctl_kv_split("toolongkey=1", key, sizeof(key), &val),
			 -EINVAL);
}

static void test_labels_merge(void **state)
{
	json_t *l = json_pack("{ssss}", "rack", "a", "zone", "z");
	char *set[] = {"rack=b", "env=prod"};
	const char *remove[] = {"zone", "absent"};
	char err[128];

	(void)state;
	assert_int_equal(
		hxctl_labels_merge(l, set, 2, remove, 2, err, sizeof(err)), 0);
	assert_int_equal(json_object_size(l), 2);
	assert_string_equal(json_string_value(json_object_get(l, "rack")), "b");
	assert_string_equal(json_string_value(json_object_get(l, "env")),
			    "prod");
	assert_int_equal(hxctl_labels_merge(l, (char *[]){"bad"}, 1, NULL, 0,
					    err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "expected KEY=VALUE, got 'bad'");
	assert_int_equal(hxctl_labels_merge(l, (char *[]){"k=v"}, 1,
					    (const char *[]){"k"}, 1, err,
					    sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "label 'k' is both set and removed");
	json_decref(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positional_and_options),
		cmocka_unit_test(test_repeated_option),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_double_dash_and_help),
		cmocka_unit_test(test_stop_at_positional),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_value_parse),
		cmocka_unit_test(test_kv_split),
		cmocka_unit_test(test_labels_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
