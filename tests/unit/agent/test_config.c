/* Unit tests of hxd's command-line parsing (agent/config.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/agent.h"

#define ARGV(...) ((char *[]){"hxd", __VA_ARGS__, NULL})
#define ARGC(v)	  ((int)(sizeof(v) / sizeof(v[0])) - 1)

static void test_defaults(void **state)
{
	char **v = ARGV("--address=10.0.0.1", "-N", "n1");
	struct agent_config c;

	(void)state;
	assert_int_equal(agent_config_parse(4, v, &c), 0);
	assert_string_equal(c.data_dir, "/var/lib/horcrux");
	assert_string_equal(c.bind, "10.0.0.1");
	assert_int_equal(c.api_port, 8006);
	assert_int_equal(c.peer_port, 8007);
	assert_string_equal(c.accel, "auto");
	assert_int_equal(c.verbose, 0);
}

/* Found by fuzzing: a parse that stopped inside a cluster of short
 * options ("-hv" returns at 'h') left getopt pointing at the 'v' of the
 * old argv; the next parse took that 'v' and skipped its own first
 * argument. */
static void test_second_parse_starts_afresh(void **state)
{
	char **help = ARGV("-hv");
	char **bad = ARGV("-vp0");
	char **good = ARGV("-a", "10.0.0.1", "-N", "n1");
	struct agent_config c;

	(void)state;
	assert_int_equal(agent_config_parse(2, help, &c), 1);
	assert_int_equal(agent_config_parse(5, good, &c), 0);
	assert_string_equal(c.address, "10.0.0.1");
	assert_int_equal(c.verbose, 0);
	assert_int_equal(agent_config_parse(2, bad, &c), -EINVAL);
	assert_int_equal(agent_config_parse(5, good, &c), 0);
	assert_int_equal(c.verbose, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_second_parse_starts_afresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
