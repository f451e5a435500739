/*
 * Unit tests for the node network plan (pure) and, as root in a private
 * network namespace, for applying it with libnl: bridges, VXLAN devices
 * with head-end replication, taps, idempotence, and removal of what is no
 * longer wanted. Verified with iproute2 (the code under test does not use
 * it).
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

static struct statedb_zone zones[3] = {
	{.name = "lan", .type = "simple", .mtu = 1500},
	{.name = "ovl", .type = "vxlan", .mtu = 1450},
	{.name = "ev", .type = "evpn", .mtu = 1450, .asn = 65000},
};
static struct statedb_vnet vnets[3] = {
	{.name = "a", .zone = "lan"},
	{.name = "b", .zone = "ovl", .vni = 100},
	{.name = "c", .zone = "ev", .vni = 200},
};
static const char *addrs[] = {"10.0.0.2", "10.0.0.1", "10.0.0.3",
			      "fd00::4"};
static struct net_plan_nic nics[] = {
	{.vmid = 100, .index = 0, .bridge = "hxb-a"},
	{.vmid = 100, .index = 1, .bridge = "hxb-b"},
};

static struct statedb_subnet subnets[2] = {
	{.cidr = "10.9.0.0/24", .vnet = "a", .family = 4,
	 .gateway = "10.9.0.1", .dns = "10.9.0.1 9.9.9.9",
	 .dhcp_start = "10.9.0.100", .dhcp_end = "10.9.0.200"},
	{.cidr = "10.8.0.0/24", .vnet = "b", .family = 4,
	 .gateway = "10.8.0.1"}, /* no DHCP range: no gateway on the bridge */
};

static struct net_plan_input input(void)
{
	return (struct net_plan_input){
		.self = "10.0.0.1",
		.zones = zones,
		.nzones = 3,
		.vnets = vnets,
		.nvnets = 3,
		.subnets = subnets,
		.nsubnets = 2,
		.node_addrs = addrs,
		.nnode_addrs = 4,
		.nics = nics,
		.nnics = 2,
	};
}

static void test_plan(void **state)
{
	struct net_plan_input in = input();
	struct net_plan p;
	struct hx_err err = {0};

	(void)state;
	assert_int_equal(net_plan_build(&in, &p, &err), 0);
	assert_int_equal(p.nlinks, 5);
	assert_string_equal(p.links[0].name, "hxb-a");
	assert_false(p.links[0].vxlan);
	assert_int_equal(p.links[1].mtu, 1450);
	assert_string_equal(p.links[3].name, "hxv-b");
	assert_true(p.links[3].vxlan);
	assert_int_equal(p.links[3].vni, 100);
	assert_string_equal(p.links[3].master, "hxb-b");
	assert_false(p.links[3].learning);
	assert_true(p.links[3].her);
	/* the other nodes of its family, never itself */
	assert_int_equal(p.links[3].npeers, 2);
	assert_string_equal(p.links[3].peers[0], "10.0.0.2");
	assert_string_equal(p.links[3].peers[1], "10.0.0.3");
	/* evpn: FRR fills the FDB */
	assert_string_equal(p.links[4].name, "hxv-c");
	assert_false(p.links[4].learning);
	assert_false(p.links[4].her);
	assert_int_equal(p.links[4].npeers, 0);
	assert_int_equal(p.links[0].ngateways, 1);
	assert_string_equal(p.links[0].gateways[0], "10.9.0.1/24");
	assert_string_equal(p.links[0].mac, "02:48:58:0c:29:2c");
	assert_int_equal(p.links[1].ngateways, 0);
	assert_string_equal(p.links[1].mac, "");
	assert_int_equal(p.ntaps, 2);
	assert_string_equal(p.taps[1].tap, "hxt100n1");
	assert_string_equal(p.taps[1].bridge, "hxb-b");
	net_plan_clear(&p);
}

static int sh(const char *cmd)
{
	int r = system(cmd);

	return r == -1 ? -1 : WEXITSTATUS(r);
}

static struct net_links_report apply(const struct net_plan_input *in)
{
	struct net_links_report rep = {0};
	struct net_plan p;
	struct hx_err err = {0};

	assert_int_equal(net_plan_build(in, &p, &err), 0);
	if (net_links_apply(&p, &rep, &err) < 0)
		fail_msg("apply: %s", err.msg);
	net_plan_clear(&p);
	return rep;
}

static void test_apply(void **state)
{
	struct net_plan_input in = input();
	struct net_links_report rep;

	(void)state;
	if (unshare(CLONE_NEWNET) < 0) {
		printf("# apply: not root, only the plan tested\n");
		return;
	}
	assert_int_equal(sh("ip link set lo up && ip addr add 10.0.0.1/32 dev lo"
			    " && ip link add br0 type bridge && ip link add "
			    "hxt100n0 type veth peer name vm0"),
			 0);
	rep = apply(&in);
	assert_int_equal(rep.created, 5);
	assert_int_equal(rep.fdb_added, 2);
	assert_int_equal(rep.taps_attached, 1);
	assert_int_equal(sh("ip -d link show hxv-b | grep -q 'vxlan id 100 "
			    "local 10.0.0.1.*nolearning' && ip link show hxv-b "
			    "| grep -q 'master hxb-b .*UP\\|state UNKNOWN' && "
			    "ip link show hxv-b | grep -q 'mtu 1450'"),
			 0);
	assert_int_equal(sh("[ \"$(bridge fdb show dev hxv-b | grep -c "
			    "'^00:00:00:00:00:00 dst 10.0.0.[23] self "
			    "permanent')\" = 2 ]"),
			 0);
	assert_int_equal(sh("ip -d link show hxv-c | grep -q 'vxlan id 200.*"
			    "nolearning' && [ -z \"$(bridge fdb show dev hxv-c "
			    "| grep 00:00:00:00:00:00)\" ]"),
			 0);
	assert_int_equal(sh("ip link show hxt100n0 | grep -q 'master hxb-a'"),
			 0);
	assert_int_equal(sh("ip link show hxb-a | grep -q ',UP'"), 0);
	assert_int_equal(rep.addrs_added, 1);
	assert_int_equal(sh("ip -4 addr show hxb-a | grep -q 'inet 10.9.0.1/24' "
			    "&& ip link show hxb-a | grep -q 'ether "
			    "02:48:58:0c:29:2c' && [ -z \"$(ip -4 addr show "
			    "hxb-b)\" ]"),
			 0);

	/* the same plan again changes nothing */
	rep = apply(&in);
	assert_memory_equal(&rep, &(struct net_links_report){0}, sizeof(rep));

	/* drift: a peer's entry removed, a tap moved off, a stray device */
	assert_int_equal(sh("bridge fdb del 00:00:00:00:00:00 dev hxv-b dst "
			    "10.0.0.3 && ip link set hxt100n0 nomaster && ip "
			    "link add hxb-zz type bridge && bridge fdb append "
			    "00:00:00:00:00:00 dev hxv-b dst 10.0.0.9"),
			 0);
	rep = apply(&in);
	assert_int_equal(rep.fdb_added, 1);
	assert_int_equal(rep.fdb_deleted, 1);
	assert_int_equal(rep.taps_attached, 1);
	assert_int_equal(rep.deleted, 1);
	assert_int_equal(sh("! ip link show hxb-zz 2>/dev/null && ! bridge fdb "
			    "show dev hxv-b | grep -q 10.0.0.9"),
			 0);

	/* an address somebody put on our bridge goes */
	assert_int_equal(sh("ip addr add 10.9.0.77/24 dev hxb-a"), 0);
	rep = apply(&in);
	assert_int_equal(rep.addrs_deleted, 1);
	/* vnet b gone, c's VNI changed: hxv-b, hxb-b removed, hxv-c
	 * re-created; br0 and the veth are none of its business */
	vnets[1] = vnets[2];
	vnets[1].vni = 300;
	in.nvnets = 2;
	in.nnics = 1;
	rep = apply(&in);
	assert_int_equal(rep.deleted, 3);
	assert_int_equal(rep.created, 1);
	assert_int_equal(sh("! ip link show hxv-b 2>/dev/null && ! ip link show "
			    "hxb-b 2>/dev/null && ip -d link show hxv-c | grep "
			    "-q 'vxlan id 300' && ip link show br0 >/dev/null "
			    "&& ip link show vm0 >/dev/null"),
			 0);
	/* nothing wanted: every hx device goes */
	in.nvnets = 0;
	in.nnics = 0;
	rep = apply(&in);
	assert_int_equal(rep.deleted, 3);
	assert_int_equal(sh("! ip link | grep -q 'hx[bv]-'"), 0);
}

static void test_dhcp_render(void **state)
{
	static const struct net_dhcp_host hosts[] = {
		{"52:54:00:00:00:01", "10.9.0.100", "web"},
		{"52:54:00:00:00:02", "10.9.0.5", ""},
	};
	struct hx_err err = {0};
	char *text = NULL;

	(void)state;
	assert_int_equal(net_dhcp_render("a", "/d", 1450, subnets, 2, hosts, 2,
					 &text, &err),
			 0);
	assert_string_equal(text,
			    "# horcrux DHCP of vnet a (generated; do not edit)\n"
			    "interface=hxb-a\nbind-interfaces\n"
			    "except-interface=lo\nport=0\nno-resolv\nno-hosts\n"
			    "no-ping\ndhcp-ignore=tag:!known\n"
			    "dhcp-leasefile=/d/a.leases\npid-file=/d/a.pid\n"
			    "dhcp-range=set:s0,10.9.0.0,static,255.255.255.0,1h\n"
			    "dhcp-option=tag:s0,option:router,10.9.0.1\n"
			    "dhcp-option=tag:s0,option:dns-server,10.9.0.1,"
			    "9.9.9.9\n"
			    "dhcp-option=tag:s0,option:mtu,1450\n"
			    "dhcp-host=52:54:00:00:00:01,10.9.0.100,web\n"
			    "dhcp-host=52:54:00:00:00:02,10.9.0.5\n");
	free(text);
}

static void test_evpn_commands(void **state)
{
	static const char *const peers[] = {"10.0.0.2", "10.0.0.3"};
	struct net_evpn_input in = {.self = "10.0.0.1", .asn = 65000,
				    .peers = peers, .npeers = 2};
	struct hx_err err = {0};
	char *cmds = NULL;
	static const char *const want =
		"router bgp 65000\nbgp router-id 10.0.0.1\n"
		"no bgp default ipv4-unicast\n"
		"neighbor 10.0.0.2 remote-as 65000\n"
		"neighbor 10.0.0.3 remote-as 65000\n"
		"address-family l2vpn evpn\nneighbor 10.0.0.2 activate\n"
		"neighbor 10.0.0.3 activate\nadvertise-all-vni\n"
		"exit-address-family\nexit\n";

	(void)state;
	assert_int_equal(net_evpn_commands(&in, "", &cmds, &err), 0);
	assert_string_equal(cmds, want);
	free(cmds);
	/* a peer that left is removed; one that stays is only restated */
	assert_int_equal(net_evpn_commands(&in,
					   "frr version 8.4.4\n!\n"
					   "router bgp 65000\n"
					   " neighbor 10.0.0.2 remote-as 65000\n"
					   " neighbor 10.0.0.9 remote-as 65000\n"
					   " !\n address-family l2vpn evpn\n"
					   "  neighbor 10.0.0.9 activate\n"
					   " exit-address-family\nexit\n!\n"
					   "router bgp 64999 vrf red\nexit\n",
					   &cmds, &err),
			 0);
	assert_non_null(strstr(cmds, "router bgp 65000\nno neighbor "
				     "10.0.0.9\nexit\n"));
	assert_null(strstr(cmds, "no neighbor 10.0.0.2"));
	assert_null(strstr(cmds, "no router bgp"));
	assert_non_null(strstr(cmds, want));
	free(cmds);
	/* another AS: replaced */
	assert_int_equal(net_evpn_commands(&in, "router bgp 64512\n "
						"neighbor 10.0.0.2 remote-as "
						"64512\nexit\n",
					   &cmds, &err),
			 0);
	assert_int_equal(strncmp(cmds, "no router bgp 64512\n", 20), 0);
	assert_null(strstr(cmds, "no neighbor"));
	free(cmds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_dhcp_render),
		cmocka_unit_test(test_evpn_commands),
		cmocka_unit_test(test_apply),
	};

	return cmocka_run_group_tests_name("net links", tests, NULL, NULL) == 0
		       ? 0
		       : 1;
}
