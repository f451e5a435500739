/*
 * One reconcile of the node's network: inputs from statedb, desired state
 * from net/, applied to this node's kernel.
 *
 * DESIGN: a snapshot of every input is read first (a handful of reads on
 * the leader), then everything is derived from the snapshot alone, so one
 * reconcile never mixes two versions of the cluster's state. The firewall
 * is rendered whole and applied only when its text differs from the last
 * one applied (a restarted hxd applies once: the kernel kept the old
 * ruleset meanwhile, so VMs were never unprotected). The same rendering
 * serves GET /network/firewall/ruleset for any node.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/net.h"
#include "agent/vm.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

void netnode_snapshot_free(struct netnode_snapshot *s)
{
	if (s == NULL)
		return;
	free(s->zones);
	free(s->vnets);
	free(s->subnets);
	free(s->ips);
	free(s->nodes);
	statedb_vm_list_free(s->vms, s->nvms);
	free(s->confs);
	free(s->opts);
	free(s->rules);
	free(s->ipsets);
	memset(s, 0, sizeof(*s));
}

/* VM configurations of the snapshot's VMs (a bad one is skipped: it
 * cannot have been stored, but the executor must not stop on it). */
static int snapshot_confs(struct netnode_snapshot *s, struct hx_err *err)
{
	s->confs = calloc(s->nvms + 1, sizeof(*s->confs));
	if (s->confs == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < s->nvms; i++) {
		struct hx_err e = {0};

		if (vmconf_load(s->vms[i].config, &s->confs[i], &e) < 0) {
			hx_log(LOG_WARNING,
			       "network: VM %" PRId64 ": %s; ignoring it",
			       s->vms[i].vmid, e.msg);
			memset(&s->confs[i], 0, sizeof(s->confs[i]));
		}
	}
	return 0;
}

int netnode_snapshot(struct agent *a, const char *node,
		     struct netnode_snapshot *s, struct hx_err *err)
{
	struct statedb *db = a->db;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = statedb_zone_list(db, &s->zones, &s->nzones, err)) < 0 ||
	    (r = statedb_vnet_list(db, &s->vnets, &s->nvnets, err)) < 0 ||
	    (r = statedb_subnet_list(db, NULL, &s->subnets, &s->nsubnets,
				     err)) < 0 ||
	    (r = statedb_ip_list(db, NULL, 0, &s->ips, &s->nips, err)) < 0 ||
	    (r = statedb_node_list(db, &s->nodes, &s->nnodes, err)) < 0 ||
	    (r = statedb_vm_list(db, node, &s->vms, &s->nvms, err)) < 0 ||
	    (r = statedb_fw_options_list(db, &s->opts, &s->nopts, err)) < 0 ||
	    (r = statedb_fw_rule_list(db, NULL, &s->rules, &s->nrules, err)) <
		    0 ||
	    (r = statedb_fw_ipset_list(db, &s->ipsets, &s->nipsets, err)) < 0 ||
	    (r = snapshot_confs(s, err)) < 0) {
		netnode_snapshot_free(s);
		return r;
	}
	snprintf(s->node, sizeof(s->node), "%s", node);
	return 0;
}

/* ---- firewall ---- */

static void options_of(const struct netnode_snapshot *s, const char *scope,
		       struct statedb_fw_options *ret)
{
	for (unsigned i = 0; i < s->nopts; i++)
		if (strcmp(s->opts[i].scope, scope) == 0) {
			*ret = s->opts[i];
			return;
		}
	statedb_fw_options_default(scope, ret);
}

static bool vnet_has_family(const struct netnode_snapshot *s,
			    const char *vnet, int family)
{
	for (unsigned i = 0; i < s->nsubnets; i++)
		if (strcmp(s->subnets[i].vnet, vnet) == 0 &&
		    s->subnets[i].family == family)
			return true;
	return false;
}

static void nic_of(const struct netnode_snapshot *s, int64_t vmid,
		   unsigned index, const struct vm_nic *c,
		   struct net_fw_nic *ret)
{
	size_t off = 0;

	memset(ret, 0, sizeof(*ret));
	ret->vmid = vmid;
	ret->index = index;
	snprintf(ret->mac, sizeof(ret->mac), "%s", c->mac);
	if (c->vnet[0] != '\0') {
		ret->filter4 = vnet_has_family(s, c->vnet, 4);
		ret->filter6 = vnet_has_family(s, c->vnet, 6);
	}
	for (unsigned i = 0; i < s->nips; i++) {
		const struct statedb_ip *ip = &s->ips[i];

		if (strcmp(ip->mac, c->mac) != 0 || off >= sizeof(ret->ips))
			continue;
		off += (size_t)snprintf(ret->ips + off, sizeof(ret->ips) - off,
					"%s%s", off ? " " : "", ip->ip);
		/* a NIC on a bridge with addresses: only those */
		if (ip->family == 4)
			ret->filter4 = true;
		else
			ret->filter6 = true;
	}
}

int netnode_firewall_render(const struct netnode_snapshot *s, char **ret,
			    bool *ret_enabled, struct hx_err *err)
{
	struct net_fw_input in = {.node = s->node};
	struct statedb_fw_options node;
	const char **addrs = calloc(s->nnodes + 1, sizeof(*addrs));
	struct net_fw_vm *vms = calloc(s->nvms + 1, sizeof(*vms));
	struct net_fw_nic *nics = calloc(s->nvms * VM_MAX_NICS + 1,
					 sizeof(*nics));
	char scope[80];
	int r;

	if (addrs == NULL || vms == NULL || nics == NULL) {
		r = hx_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	options_of(s, "cluster", &in.cluster);
	snprintf(scope, sizeof(scope), "node/%s", s->node);
	options_of(s, scope, &node);
	in.host = node;
	in.host.enabled = in.cluster.enabled && node.enabled;
	if (node.policy_in[0] == '\0')
		memcpy(in.host.policy_in, in.cluster.policy_in,
		       sizeof(in.host.policy_in));
	if (node.policy_out[0] == '\0')
		memcpy(in.host.policy_out, in.cluster.policy_out,
		       sizeof(in.host.policy_out));
	in.host.log = node.log || in.cluster.log;
	for (unsigned i = 0; i < s->nnodes; i++)
		addrs[i] = s->nodes[i].address;
	for (unsigned i = 0; i < s->nvms; i++) {
		vms[in.nvms].vmid = s->vms[i].vmid;
		snprintf(scope, sizeof(scope), "vm/%" PRId64, s->vms[i].vmid);
		options_of(s, scope, &vms[in.nvms++].opts);
		for (unsigned k = 0; k < s->confs[i].nnics; k++)
			nic_of(s, s->vms[i].vmid, k, &s->confs[i].nics[k],
			       &nics[in.nnics++]);
	}
	in.rules = s->rules;
	in.nrules = s->nrules;
	in.ipsets = s->ipsets;
	in.nipsets = s->nipsets;
	in.ips = s->ips;
	in.nips = s->nips;
	in.node_addrs = addrs;
	in.nnode_addrs = s->nnodes;
	in.vms = vms;
	in.nics = nics;
	r = net_fw_render(&in, ret, err);
	if (r == 0 && ret_enabled != NULL)
		*ret_enabled = in.cluster.enabled;
out:
	free(addrs);
	free(vms);
	free(nics);
	return r;
}

/* ---- the reconcile ---- */

struct netnode {
	unsigned char fw_applied[32]; /* hash of the ruleset last applied */
	bool fw_known;
	unsigned char evpn_applied[32]; /* of the EVPN setup last applied */
	bool evpn_known;
};

struct netnode *netnode_new(void)
{
	return calloc(1, sizeof(struct netnode));
}

void netnode_free(struct netnode *n)
{
	free(n);
}

static int firewall_reconcile(struct netnode *n,
			      const struct netnode_snapshot *s, bool force,
			      struct hx_err *err)
{
	unsigned char md[32];
	char *text = NULL;
	bool enabled = false;
	int r;

	if ((r = netnode_firewall_render(s, &text, &enabled, err)) < 0)
		return r;
	crypto_generichash(md, sizeof(md), (const unsigned char *)text,
			   strlen(text), NULL, 0);
	if (!force && n->fw_known &&
	    memcmp(md, n->fw_applied, sizeof(md)) == 0) {
		free(text);
		return 0;
	}
	r = net_nft_apply(text, enabled, err);
	free(text);
	if (r < 0)
		return hx_err_prefix(err, "firewall");
	memcpy(n->fw_applied, md, sizeof(md));
	n->fw_known = true;
	hx_log(LOG_INFO, "network: firewall %s applied",
	       enabled ? "ruleset" : "removal");
	return 0;
}

/* ---- bridges, VXLAN, taps ---- */

static int links_reconcile(struct agent *a, const struct netnode_snapshot *s,
			   struct hx_err *err)
{
	struct net_plan_input in = {.self = a->cfg.address};
	const char **addrs = calloc(s->nnodes + 1, sizeof(*addrs));
	struct net_plan_nic *nics = calloc(s->nvms * VM_MAX_NICS + 1,
					   sizeof(*nics));
	struct net_links_report rep;
	struct net_plan p;
	int r;

	if (addrs == NULL || nics == NULL) {
		r = hx_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < s->nnodes; i++)
		addrs[i] = s->nodes[i].address;
	for (unsigned i = 0; i < s->nvms; i++)
		for (unsigned k = 0; k < s->confs[i].nnics; k++)
			nics[in.nnics++] = (struct net_plan_nic){
				.vmid = s->vms[i].vmid,
				.index = k,
				.bridge = s->confs[i].nics[k].bridge,
			};
	in.zones = s->zones;
	in.nzones = s->nzones;
	in.vnets = s->vnets;
	in.nvnets = s->nvnets;
	in.subnets = s->subnets;
	in.nsubnets = s->nsubnets;
	in.node_addrs = addrs;
	in.nnode_addrs = s->nnodes;
	in.nics = nics;
	if ((r = net_plan_build(&in, &p, err)) < 0)
		goto out;
	r = net_links_apply(&p, &rep, err);
	net_plan_clear(&p);
	if (r < 0) {
		hx_err_prefix(err, "vnets");
		goto out;
	}
	if (rep.created || rep.changed || rep.deleted || rep.fdb_added ||
	    rep.fdb_deleted || rep.taps_attached || rep.addrs_added ||
	    rep.addrs_deleted)
		hx_log(LOG_INFO,
		       "network: devices created=%u changed=%u deleted=%u, "
		       "fdb +%u -%u, taps attached=%u, gateways +%u -%u",
		       rep.created, rep.changed, rep.deleted, rep.fdb_added,
		       rep.fdb_deleted, rep.taps_attached, rep.addrs_added,
		       rep.addrs_deleted);
out:
	free(addrs);
	free(nics);
	return r;
}

/* ---- BGP EVPN ---- */

static int evpn_reconcile(struct netnode *n, struct agent *a,
			  const struct netnode_snapshot *s, bool force,
			  struct hx_err *err)
{
	struct net_evpn_input in = {.self = a->cfg.address};
	const char **peers = calloc(s->nnodes + 1, sizeof(*peers));
	char *want = NULL, *running = NULL, *cmds = NULL;
	unsigned char md[32];
	struct hx_addr self, x;
	int r = 0;

	for (unsigned i = 0; i < s->nzones && in.asn == 0; i++)
		if (strcmp(s->zones[i].type, "evpn") == 0)
			in.asn = s->zones[i].asn;
	if (in.asn == 0 || peers == NULL) {
		free(peers);
		return peers == NULL ? hx_err_set(err, -ENOMEM, "out of memory")
				     : 0; /* no evpn zone: FRR is not ours */
	}
	if (hx_addr_parse(in.self, &self) == 0)
		for (unsigned i = 0; i < s->nnodes; i++)
			if (hx_addr_parse(s->nodes[i].address, &x) == 0 &&
			    x.family == self.family && !hx_addr_equal(&x, &self))
				peers[in.npeers++] = s->nodes[i].address;
	in.peers = peers;
	/* what we want, independent of FRR's state: skip when applied */
	if ((r = net_evpn_commands(&in, "", &want, err)) < 0)
		goto out;
	crypto_generichash(md, sizeof(md), (const unsigned char *)want,
			   strlen(want), NULL, 0);
	if (!force && n->evpn_known &&
	    memcmp(md, n->evpn_applied, sizeof(md)) == 0)
		goto out;
	if ((r = net_evpn_vtysh(a->cfg.frr_vty, NULL, &running, err)) < 0 ||
	    (r = net_evpn_commands(&in, running, &cmds, err)) < 0 ||
	    (r = net_evpn_vtysh(a->cfg.frr_vty, cmds, NULL, err)) < 0) {
		hx_err_prefix(err, "evpn");
		goto out;
	}
	if (!n->evpn_known || memcmp(md, n->evpn_applied, sizeof(md)) != 0)
		hx_log(LOG_INFO, "network: BGP EVPN configured: AS %" PRId64
				 ", %u peers",
		       in.asn, in.npeers);
	memcpy(n->evpn_applied, md, sizeof(md));
	n->evpn_known = true;
out:
	free(want);
	free(running);
	free(cmds);
	free(peers);
	return r;
}

int netnode_reconcile(struct netnode *n, struct agent *a, bool force,
		      struct hx_err *err)
{
	struct netnode_snapshot s;
	struct hx_err ferr = {0};
	int r, rf;

	if ((r = netnode_snapshot(a, a->cfg.name, &s, err)) < 0)
		return r;
	/* Devices first (the firewall names taps, not devices, so either
	 * order is safe); one failing does not hold the other back. */
	r = links_reconcile(a, &s, err);
	if (r == 0) /* the servers need their bridges and gateways */
		r = netdhcp_reconcile(a, &s, err);
	if (r == 0) /* zebra needs the VXLAN devices */
		r = evpn_reconcile(n, a, &s, force, err);
	rf = firewall_reconcile(n, &s, force, &ferr);
	if (rf < 0 && r == 0) {
		hx_err_copy(err, &ferr);
		r = rf;
	} else if (rf < 0 && err != NULL) {
		size_t len = strlen(err->msg);

		snprintf(err->msg + len, sizeof(err->msg) - len, "; %s",
			 ferr.msg);
	}
	netnode_snapshot_free(&s);
	return r;
}
