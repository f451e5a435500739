/*
 * Unit tests for the firewall: rule checks, the renderer against golden
 * files (tests/golden/nft/; HX_GOLDEN_UPDATE=1 rewrites them), and, as
 * root, applying the rendered rulesets for real in a private network
 * namespace: a good one replaces the old one, a broken one changes nothing.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/lib.h"
#include "net/net.h"

static struct statedb_fw_rule rule(const char *scope, const char *dir,
				   const char *action)
{
	struct statedb_fw_rule r = {.enabled = true};

	snprintf(r.scope, sizeof(r.scope), "%s", scope);
	snprintf(r.direction, sizeof(r.direction), "%s", dir);
	snprintf(r.action, sizeof(r.action), "%s", action);
	return r;
}

static void check_bad(struct statedb_fw_rule r, const char *what)
{
	struct hx_err err = {0};

	assert_int_equal(net_fw_rule_check(&r, &err), -EINVAL);
	if (strstr(err.msg, what) == NULL)
		fail_msg("'%s' lacks '%s'", err.msg, what);
}

static void test_rule_check(void **state)
{
	struct statedb_fw_rule r;
	struct hx_err err = {0};

	(void)state;
	r = rule("cluster", "IN", "Accept");
	snprintf(r.proto, sizeof(r.proto), "tcp");
	snprintf(r.dport, sizeof(r.dport), "22, 80,8000-8080");
	snprintf(r.src, sizeof(r.src), "10.1.0.0/16, FD00::1/128,@Admins");
	assert_int_equal(net_fw_rule_check(&r, &err), 0);
	assert_string_equal(r.direction, "in");
	assert_string_equal(r.action, "accept");
	assert_string_equal(r.dport, "22,80,8000-8080");
	assert_string_equal(r.src, "10.1.0.0/16,fd00::1,@admins");

	r = rule("cluster", "in", "allow");
	check_bad(r, "action");
	r = rule("cluster", "sideways", "drop");
	check_bad(r, "direction");
	r = rule("cluster", "in", "drop");
	snprintf(r.macro, sizeof(r.macro), "telnet");
	check_bad(r, "unknown macro");
	snprintf(r.macro, sizeof(r.macro), "ssh");
	snprintf(r.proto, sizeof(r.proto), "tcp");
	check_bad(r, "macro sets proto");
	r = rule("cluster", "in", "drop");
	snprintf(r.proto, sizeof(r.proto), "gre");
	check_bad(r, "proto");
	snprintf(r.proto, sizeof(r.proto), "icmp");
	snprintf(r.dport, sizeof(r.dport), "22");
	check_bad(r, "ports need proto");
	snprintf(r.proto, sizeof(r.proto), "udp");
	snprintf(r.dport, sizeof(r.dport), "0");
	check_bad(r, "dport");
	snprintf(r.dport, sizeof(r.dport), "90-80");
	check_bad(r, "dport");
	snprintf(r.dport, sizeof(r.dport), "65536");
	check_bad(r, "dport");
	r = rule("cluster", "in", "drop");
	snprintf(r.src, sizeof(r.src), "10.0.0.1/24");
	check_bad(r, "host bits");
	snprintf(r.src, sizeof(r.src), "@bad name");
	check_bad(r, "src");
	snprintf(r.src, sizeof(r.src), "@Bad_name");
	check_bad(r, "@SET");
	snprintf(r.src, sizeof(r.src), "10.0.0.1");
	snprintf(r.dst, sizeof(r.dst), "fd00::1");
	check_bad(r, "no address family in common");
	r = rule("cluster", "in", "drop");
	snprintf(r.proto, sizeof(r.proto), "icmp");
	snprintf(r.dst, sizeof(r.dst), "fd00::1");
	check_bad(r, "icmpv6");
	r = rule("vm/100", "", "group");
	snprintf(r.group, sizeof(r.group), "web");
	assert_int_equal(net_fw_rule_check(&r, &err), 0);
	snprintf(r.proto, sizeof(r.proto), "tcp");
	check_bad(r, "give only the group");
	r = rule("vm/100", "in", "accept");
	snprintf(r.group, sizeof(r.group), "web");
	check_bad(r, "only with action group");
	r = rule("vm/100", "", "group");
	snprintf(r.group, sizeof(r.group), "Web!");
	check_bad(r, "not a security group name");
}

static void test_ipset_parse(void **state)
{
	struct hx_err err = {0};
	char out[128];

	(void)state;
	assert_int_equal(net_fw_ipset_parse("10.0.0.0/8, FD00::/8 192.168.1.1",
					    out, sizeof(out), &err),
			 0);
	assert_string_equal(out, "10.0.0.0/8 fd00::/8 192.168.1.1");
	assert_int_equal(net_fw_ipset_parse("10.0.0.1/8", out, sizeof(out),
					    &err),
			 -EINVAL);
	assert_int_equal(net_fw_ipset_parse("nope", out, sizeof(out), &err),
			 -EINVAL);
}

/* ---- the golden cases ---- */

static struct statedb_fw_rule rules_full[16];
static struct statedb_fw_ipset sets_full[1];
static struct statedb_ip ips_full[4];
static const char *nodes_full[] = {"10.0.0.1", "10.0.0.2", "fd00:ffff::3"};
static struct net_fw_vm vms_full[2];
static struct net_fw_nic nics_full[3];

static struct statedb_fw_rule mk(int64_t id, const char *scope,
				 const char *dir, const char *action,
				 const char *macro, const char *proto,
				 const char *dport, const char *src,
				 const char *dst, bool log)
{
	struct statedb_fw_rule r = rule(scope, dir, action);
	struct hx_err err = {0};

	r.id = id;
	snprintf(r.macro, sizeof(r.macro), "%s", macro);
	snprintf(r.proto, sizeof(r.proto), "%s", proto);
	snprintf(r.dport, sizeof(r.dport), "%s", dport);
	snprintf(r.src, sizeof(r.src), "%s", src);
	snprintf(r.dst, sizeof(r.dst), "%s", dst);
	r.log = log;
	if (strcmp(action, "group") == 0) {
		snprintf(r.group, sizeof(r.group), "%s", macro);
		r.macro[0] = '\0';
	}
	if (net_fw_rule_check(&r, &err) < 0)
		fail_msg("rule %lld: %s", (long long)id, err.msg);
	return r;
}

static struct net_fw_input input_full(void)
{
	struct net_fw_input in = {.node = "n1"};
	unsigned n = 0;

	statedb_fw_options_default("cluster", &in.cluster);
	in.cluster.enabled = true;
	in.host = in.cluster;
	snprintf(in.host.policy_in, sizeof(in.host.policy_in), "drop");
	in.host.log = true;
	/* sorted by scope, then position */
	rules_full[n++] = mk(1, "cluster", "in", "accept", "ssh", "", "",
			     "@admins", "", false);
	rules_full[n++] = mk(2, "cluster", "in", "accept", "ping", "", "", "",
			     "", false);
	rules_full[n++] = mk(3, "cluster", "out", "reject", "", "tcp", "25",
			     "", "", true);
	rules_full[n++] = mk(4, "group/web", "in", "accept", "web", "", "", "",
			     "", false);
	rules_full[n++] = mk(5, "group/web", "out", "drop", "", "udp", "",
			     "", "10.99.0.0/16,fd99::/16", false);
	rules_full[n++] = mk(6, "node/n1", "in", "accept", "", "tcp", "8006",
			     "10.50.0.0/24,10.51.0.7,@admins", "", false);
	rules_full[n++] = mk(7, "node/n2", "in", "accept", "", "tcp", "9999",
			     "", "", false);
	rules_full[n++] = mk(8, "vm/100", "", "group", "web", "", "", "", "",
			     false);
	rules_full[n++] = mk(9, "vm/100", "in", "accept", "", "tcp",
			     "8080", "@vnet:v1", "", true);
	rules_full[n++] = mk(10, "vm/100", "in", "drop", "", "", "", "", "",
			     false);
	rules_full[n - 1].enabled = false;
	rules_full[n++] = mk(11, "vm/100", "out", "accept", "dns", "", "", "",
			     "@vnet:v2", false);
	in.rules = rules_full;
	in.nrules = n;
	snprintf(sets_full[0].name, sizeof(sets_full[0].name), "admins");
	snprintf(sets_full[0].entries, sizeof(sets_full[0].entries),
		 "192.168.7.0/24 fd00:7::/64 192.168.7.9");
	in.ipsets = sets_full;
	in.nipsets = 1;
	static const char *const ipv[][4] = {
		{"10.1.0.1", "v1", "gateway", "0"},
		{"10.1.0.5", "v1", "static", "100"},
		{"10.1.0.6", "v1", "auto", "101"},
		{"fd00:1::5", "v1", "auto", "100"},
	};
	for (unsigned i = 0; i < 4; i++) {
		snprintf(ips_full[i].ip, sizeof(ips_full[i].ip), "%s", ipv[i][0]);
		snprintf(ips_full[i].vnet, sizeof(ips_full[i].vnet), "%s",
			 ipv[i][1]);
		snprintf(ips_full[i].kind, sizeof(ips_full[i].kind), "%s",
			 ipv[i][2]);
		ips_full[i].vmid = atoi(ipv[i][3]);
	}
	in.ips = ips_full;
	in.nips = 4;
	in.node_addrs = nodes_full;
	in.nnode_addrs = 3;
	vms_full[0].vmid = 100;
	statedb_fw_options_default("vm/100", &vms_full[0].opts);
	vms_full[0].opts.enabled = true;
	vms_full[0].opts.log = true;
	vms_full[1].vmid = 101;
	statedb_fw_options_default("vm/101", &vms_full[1].opts);
	in.vms = vms_full;
	in.nvms = 2;
	nics_full[0] = (struct net_fw_nic){.vmid = 100, .index = 0,
					   .mac = "52:54:00:00:01:00",
					   .filter4 = true, .filter6 = true,
					   .ips = "10.1.0.5 fd00:1::5"};
	nics_full[1] = (struct net_fw_nic){.vmid = 100, .index = 1,
					   .mac = "52:54:00:00:01:01"};
	nics_full[2] = (struct net_fw_nic){.vmid = 101, .index = 0,
					   .mac = "52:54:00:00:02:00",
					   .filter4 = true, .filter6 = true,
					   .ips = "10.1.0.6"};
	in.nics = nics_full;
	in.nnics = 3;
	return in;
}

static void golden(const char *name, const char *text)
{
	const char *srcdir = getenv("srcdir");
	char path[1024], *want = NULL;

	snprintf(path, sizeof(path), "%s/tests/golden/nft/%s.nft",
		 srcdir != NULL ? srcdir : ".", name);
	if (getenv("HX_GOLDEN_UPDATE") != NULL)
		assert_int_equal(hx_file_write_atomic(path, text, strlen(text),
						      0644),
				 0);
	if (hx_file_read(path, 1 << 22, &want, NULL) < 0)
		fail_msg("cannot read %s", path);
	if (strcmp(want, text) != 0)
		fail_msg("ruleset differs from %s (HX_GOLDEN_UPDATE=1 to "
			 "regenerate):\n%s",
			 path, text);
	free(want);
}

static char *render(const struct net_fw_input *in)
{
	struct hx_err err = {0};
	char *text = NULL;

	if (net_fw_render(in, &text, &err) < 0)
		fail_msg("render: %s", err.msg);
	return text;
}

static void test_render_disabled(void **state)
{
	struct net_fw_input in = input_full();
	char *text;

	(void)state;
	in.cluster.enabled = false;
	text = render(&in);
	golden("disabled", text);
	free(text);
}

static void test_render_full(void **state)
{
	struct net_fw_input in = input_full();
	char *a, *b;

	(void)state;
	a = render(&in);
	b = render(&in);
	assert_string_equal(a, b); /* deterministic */
	golden("full", a);
	free(a);
	free(b);
}

static void test_render_host_off(void **state)
{
	struct net_fw_input in = input_full();
	char *text;

	(void)state;
	in.host.enabled = false;
	in.nnics = 1; /* VM 100's first NIC only */
	text = render(&in);
	golden("host-off", text);
	assert_null(strstr(text, "chain input"));
	free(text);
}

/* ---- applying, in a private network namespace (root) ---- */

static bool in_private_netns(void)
{
	static int done = -1;

	if (done < 0)
		done = unshare(CLONE_NEWNET) == 0;
	return done == 1;
}

static void test_apply(void **state)
{
	struct net_fw_input in = input_full();
	struct hx_err err = {0};
	char *good, *other, *broken;

	(void)state;
	if (!in_private_netns()) {
		printf("# apply: not root, only rendering tested\n");
		return;
	}
	good = render(&in);
	assert_int_equal(net_nft_apply(good, true, &err), 0);
	/* again: a replace, not an addition */
	assert_int_equal(net_nft_apply(good, true, &err), 0);
	/* a broken script changes nothing: the ruleset stays whole */
	rules_full[1].id = 77;
	other = render(&in);
	size_t n = strlen(other);
	broken = malloc(n + 64);
	assert_non_null(broken);
	memcpy(broken, other, n);
	snprintf(broken + n, 64, "table inet horcrux { chain x { bogus } }\n");
	memset(&err, 0, sizeof(err));
	assert_int_equal(net_nft_apply(broken, true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nft refused"));
	assert_int_equal(system("nft list table inet horcrux | "
				"grep -q 'comment \"r2\"' && ! nft list table "
				"inet horcrux | grep -q 'r77'"),
			 0);
	/* the changed one applies */
	assert_int_equal(net_nft_apply(other, true, &err), 0);
	assert_int_equal(system("nft list table inet horcrux | grep -q r77"),
			 0);
	/* disabled: both tables go */
	in.cluster.enabled = false;
	free(other);
	other = render(&in);
	assert_int_equal(net_nft_apply(other, false, &err), 0);
	assert_int_equal(system("[ -z \"$(nft list tables)\" ]"), 0);
	free(good);
	free(other);
	free(broken);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_check),
		cmocka_unit_test(test_ipset_parse),
		cmocka_unit_test(test_render_disabled),
		cmocka_unit_test(test_render_full),
		cmocka_unit_test(test_render_host_off),
		cmocka_unit_test(test_apply),
	};

	return cmocka_run_group_tests_name("net firewall", tests, NULL, NULL) ==
			       0
		       ? 0
		       : 1;
}
