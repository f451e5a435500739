/* net: host networking: interface names, nftables rulesets, bridges. */
#ifndef HX_NET_NET_H
#define HX_NET_NET_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/lib.h"
#include "statedb/statedb.h"

struct hx_err;

/*
 * DESIGN: net/ renders what a node's network should look like from plain
 * values (statedb's types) and applies it: the firewall as one nftables
 * ruleset text applied in one libnftables transaction, bridges, VXLAN
 * devices, FDB entries and tap ports through libnl. Rendering is pure and
 * deterministic (the same inputs give the same bytes, golden-tested);
 * only the apply functions touch the kernel. Nothing here reads statedb
 * or logs above DEBUG: agent/ gathers the inputs, decides and logs.
 *
 * Interface names are derived, never stored, so that every node agrees:
 * vnet V (at most 8 characters) has bridge "hxb-V" and, in overlay zones,
 * VXLAN device "hxv-V"; NIC I of VM N is tap "hxtNnI" (at most 15
 * characters for VMIDs up to 999999999 and 16 NICs). Only interfaces with
 * these prefixes are ever created or removed.
 */
#define NET_BRIDGE_PREFIX "hxb-"
#define NET_VXLAN_PREFIX "hxv-"
#define NET_TAP_PREFIX "hxt"
#define NET_IFNAMSIZ 16

static inline void net_bridge_name(const char *vnet, char buf[NET_IFNAMSIZ])
{
	snprintf(buf, NET_IFNAMSIZ, NET_BRIDGE_PREFIX "%.11s", vnet);
}

static inline void net_vxlan_name(const char *vnet, char buf[NET_IFNAMSIZ])
{
	snprintf(buf, NET_IFNAMSIZ, NET_VXLAN_PREFIX "%.11s", vnet);
}

static inline void net_tap_name(int64_t vmid, unsigned nic,
				char buf[NET_IFNAMSIZ])
{
	snprintf(buf, NET_IFNAMSIZ, NET_TAP_PREFIX "%" PRId64 "n%u", vmid,
		 nic % 100);
}

/* ---- firewall (firewall.c: pure; nft.c: apply) ---- */

/*
 * Checks the fields of @r (not its scope, nor whether the groups and IP
 * sets it names exist: statedb does that) and normalizes them in place:
 * lowercase, ports and address lists comma-separated without spaces,
 * addresses canonical. -EINVAL naming the field at fault.
 */
int net_fw_rule_check(struct statedb_fw_rule *r, struct hx_err *err);
/* Parses IP set entries (addresses and CIDRs separated by commas or
 * spaces) into canonical space-separated form in @out. -EINVAL. */
int net_fw_ipset_parse(const char *in, char *out, size_t len,
		       struct hx_err *err);
/* Names of the service macros ("ssh", "http", ...), NULL-terminated. */
const char *const *net_fw_macros(void);

/* A NIC of a VM on this node. */
struct net_fw_nic {
	int64_t vmid;
	unsigned index;
	char mac[18];
	bool filter4;  /* only @ips may be its IPv4 sources */
	bool filter6;  /* the same for IPv6 (plus its EUI-64 link-local) */
	char ips[512]; /* its allocations, canonical, space-separated */
};

/* A VM on this node and its effective firewall options. */
struct net_fw_vm {
	int64_t vmid;
	struct statedb_fw_options opts;
};

/* Everything a node's ruleset is rendered from; arrays sorted as statedb
 * lists them: rules by scope (strcmp order) and position (the renderer
 * finds a scope's rules by binary search), VMs and NICs by VMID. */
struct net_fw_input {
	const char *node;
	struct statedb_fw_options cluster; /* effective */
	struct statedb_fw_options host;	   /* this node's, policies filled */
	const struct statedb_fw_rule *rules;
	unsigned nrules;
	const struct statedb_fw_ipset *ipsets;
	unsigned nipsets;
	const struct statedb_ip *ips; /* all allocations: @vnet:NAME sets */
	unsigned nips;
	const char *const *node_addrs; /* the cluster's nodes: @nodes */
	unsigned nnode_addrs;
	const struct net_fw_vm *vms;
	unsigned nvms;
	const struct net_fw_nic *nics;
	unsigned nnics;
};

/*
 * Renders this node's whole ruleset as one nft script: it removes the
 * tables "inet horcrux" and "bridge horcrux" and creates them anew, so
 * that applying it replaces the ruleset in one transaction. With the
 * cluster's firewall disabled only the removal is rendered. The same input
 * always gives the same bytes. *@ret is malloc'ed, owned by the caller.
 */
int net_fw_render(const struct net_fw_input *in, char **ret,
		  struct hx_err *err);

/*
 * Applies @script in one libnftables transaction: all of it or, on any
 * error, nothing (the previous ruleset stays). With @bridged, first makes
 * bridged IPv4/IPv6 traffic pass the inet hooks (br_netfilter sysctls of
 * this network namespace). Blocking; -EINVAL with nft's message, -EIO.
 */
int net_nft_apply(const char *script, bool bridged, struct hx_err *err);

/* ---- bridges, VXLAN, taps (plan.c: pure; links.c: apply) ---- */

#define NET_VXLAN_PORT 4789
#define NET_MAX_PEERS 64

#define NET_MAX_GATEWAYS 4

/* A device this node should have. */
struct net_link_want {
	char name[NET_IFNAMSIZ];
	bool vxlan;	  /* else a bridge */
	int mtu;
	/* bridges only: the anycast gateway of the vnet's DHCP subnets,
	 * "A/N", with a MAC every node shares ("" for none) */
	char gateways[NET_MAX_GATEWAYS][HX_PREFIX_STRLEN];
	unsigned ngateways;
	char mac[18];
	/* VXLAN only */
	uint32_t vni;
	char master[NET_IFNAMSIZ]; /* its bridge */
	char local[48];		   /* this node's address */
	bool learning;		   /* the VXLAN device learns (never, yet) */
	bool her;		   /* manage head-end replication entries
				      (vxlan); evpn: FRR's zebra does */
	char peers[NET_MAX_PEERS][48]; /* head-end replication targets */
	unsigned npeers;
};

/* A VM tap this node should have on a bridge (when the tap exists). */
struct net_tap_want {
	char tap[NET_IFNAMSIZ];
	char bridge[NET_IFNAMSIZ];
};

struct net_plan {
	struct net_link_want *links; /* bridges first, then VXLAN devices */
	unsigned nlinks;
	struct net_tap_want *taps;
	unsigned ntaps;
};

/* One VM NIC on this node: its tap and the bridge it belongs on. */
struct net_plan_nic {
	int64_t vmid;
	unsigned index;
	const char *bridge;
};

struct net_plan_input {
	const char *self;	/* this node's address (VXLAN local) */
	const struct statedb_zone *zones;
	unsigned nzones;
	const struct statedb_vnet *vnets;
	unsigned nvnets;
	const struct statedb_subnet *subnets; /* gateways of DHCP subnets */
	unsigned nsubnets;
	const char *const *node_addrs; /* every node's, self included */
	unsigned nnode_addrs;
	const struct net_plan_nic *nics;
	unsigned nnics;
};

/* What this node's bridges, VXLAN devices and taps should be. Pure.
 * Release with net_plan_clear(). */
int net_plan_build(const struct net_plan_input *in, struct net_plan *ret,
		   struct hx_err *err);
void net_plan_clear(struct net_plan *p);

/* Whether subnet @s gets DHCP: IPv4 with a gateway and a DHCP range. */
bool net_dhcp_subnet(const struct statedb_subnet *s);
/* The MAC every node gives vnet @vnet's bridge when it carries a gateway:
 * locally administered, derived from the name. */
void net_gateway_mac(const char *vnet, char buf[18]);

/* What an apply changed. */
struct net_links_report {
	unsigned created, changed, deleted, fdb_added, fdb_deleted,
		taps_attached, addrs_added, addrs_deleted;
};

/*
 * Makes this network namespace's devices match @p through rtnetlink
 * (libnl): creates what is missing, corrects what differs (a VXLAN device
 * whose VNI or local address changed is re-created), adds and removes
 * head-end replication FDB entries, puts existing taps on their bridges,
 * and deletes hxb-* and hxv-* devices the plan does not name. Other
 * interfaces are never touched. Idempotent: a second apply of the same
 * plan reports no change. Blocking.
 */
int net_links_apply(const struct net_plan *p, struct net_links_report *ret,
		    struct hx_err *err);

/* ---- EVPN with FRR (evpn.c) ---- */

struct net_evpn_input {
	const char *self;	  /* this node's address: router id, VTEP */
	int64_t asn;		  /* the evpn zones' AS number */
	const char *const *peers; /* the other nodes' addresses */
	unsigned npeers;
};

/*
 * The vtysh commands that turn FRR's running configuration @running (the
 * text of "show running-config") into this node's BGP EVPN setup: one
 * iBGP session per other node in the l2vpn evpn family with
 * advertise-all-vni (zebra then announces every local VNI and installs
 * the remote VTEPs and MACs). Sessions that exist and are wanted are left
 * alone (re-stating them does not reset them), peers no longer wanted are
 * removed, a BGP instance of another AS number is replaced. One command
 * per line, for "vtysh -c"; "" when nothing needs doing. Pure.
 */
int net_evpn_commands(const struct net_evpn_input *in, const char *running,
		      char **ret, struct hx_err *err);
/* Runs vtysh against the FRR daemons whose vty sockets are in @vty_dir:
 * with @commands NULL, "show running-config" into *@ret_out (malloc'ed);
 * else each line of @commands in configure mode. Bounded: 15 s. */
int net_evpn_vtysh(const char *vty_dir, const char *commands, char **ret_out,
		   struct hx_err *err);

/* ---- DHCP (dhcp.c: pure) ---- */

/* A VM NIC the vnet's DHCP server answers, with its IPAM address. */
struct net_dhcp_host {
	const char *mac;
	const char *ip;
	const char *hostname;
};

/*
 * The dnsmasq configuration of vnet @vnet on this node: DHCP on its bridge
 * for the DHCP subnets among @subnets (net_dhcp_subnet), static mode: only
 * @hosts (this node's VM NICs) get answers, each exactly its IPAM
 * address; router, DNS servers and the zone's @mtu as options. Files live
 * in @dir. No DNS service. *@ret is malloc'ed.
 */
int net_dhcp_render(const char *vnet, const char *dir, int mtu,
		    const struct statedb_subnet *subnets, unsigned nsubnets,
		    const struct net_dhcp_host *hosts, unsigned nhosts,
		    char **ret, struct hx_err *err);

#endif /* HX_NET_NET_H */
