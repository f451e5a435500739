/* agent/net.h: the networking API and the node's network executor. */
#ifndef HX_AGENT_NET_H
#define HX_AGENT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "net/net.h"
#include "statedb/statedb.h"

struct hx_err;

/* ---- API helpers (netapi.c) ---- */

/* Reads body field @key into @buf; false (response set to a 400) if it
 * is missing while @required, not a string, or too long. */
bool netapi_str(struct api_req *req, struct api_resp *resp, const char *key,
		bool required, char *buf, size_t len);
/* Reads an optional integer field in [min, max] into *@ret (left alone
 * when absent); false (400) otherwise. */
bool netapi_int(struct api_req *req, struct api_resp *resp, const char *key,
		int64_t min, int64_t max, int64_t *ret);
/* Reads an optional boolean field. */
bool netapi_bool(struct api_req *req, struct api_resp *resp, const char *key,
		 bool *ret);

/* /network/firewall/... (netfwapi.c), dispatched by h_network. */
void h_firewall(struct agent *a, struct api_req *req, struct api_resp *resp);

/* ---- executor (netexec.c) ---- */

/*
 * The node's network reconciler: a thread that renders this node's
 * bridges, VXLAN devices, tap ports and firewall from statedb whenever
 * statedb_net_fingerprint() changes (polled every second) or it is kicked,
 * and applies what differs. Idempotent: applying twice changes nothing.
 */
struct netexec;

int netexec_start(struct agent *a, struct netexec **ret, struct hx_err *err);
void netexec_stop(struct netexec *x);
/* Wakes this node's reconciler now (after a local API write). Thread-safe;
 * does nothing before the executor runs. */
void netexec_kick(struct agent *a);

/* ---- one reconcile (netnode.c) ---- */

struct vm_config;

/* Everything a node's network is derived from, read from statedb. */
struct netnode_snapshot {
	char node[64];
	struct statedb_zone *zones;
	unsigned nzones;
	struct statedb_vnet *vnets;
	unsigned nvnets;
	struct statedb_subnet *subnets;
	unsigned nsubnets;
	struct statedb_ip *ips;
	unsigned nips;
	struct statedb_node *nodes;
	unsigned nnodes;
	struct statedb_vm *vms; /* on @node */
	unsigned nvms;
	struct vm_config *confs; /* of @vms (zeroed if unreadable) */
	struct statedb_fw_options *opts;
	unsigned nopts;
	struct statedb_fw_rule *rules;
	unsigned nrules;
	struct statedb_fw_ipset *ipsets;
	unsigned nipsets;
};

/* Reads the snapshot for node @node. Worker threads only (blocks). */
int netnode_snapshot(struct agent *a, const char *node,
		     struct netnode_snapshot *ret, struct hx_err *err);
void netnode_snapshot_free(struct netnode_snapshot *s);
/* The node's firewall ruleset (nft script, malloc'ed) and whether the
 * cluster's firewall is enabled. */
int netnode_firewall_render(const struct netnode_snapshot *s, char **ret,
			    bool *ret_enabled, struct hx_err *err);

/* Starts, restarts and stops this node's DHCP servers (dnsmasq, one per
 * vnet with DHCP subnets) to match @s (netdhcp.c). Executor only. */
int netdhcp_reconcile(struct agent *a, const struct netnode_snapshot *s,
		      struct hx_err *err);

/* What the executor remembers between reconciles. */
struct netnode;
struct netnode *netnode_new(void);
void netnode_free(struct netnode *n);
/* Reads a snapshot and applies what differs from it to this node; with
 * @force, also what should already be there (repairs drift). */
int netnode_reconcile(struct netnode *n, struct agent *a, bool force,
		      struct hx_err *err);

#endif /* HX_AGENT_NET_H */
