/*
 * The firewall renderer: a node's whole nftables ruleset from plain values.
 *
 * DESIGN: the ruleset is two tables, rebuilt whole on every change and
 * applied as one script (net_nft_apply), so the kernel switches from the
 * old ruleset to the new one atomically:
 *
 * - "inet horcrux": stateful filtering. Chains "input" and "output" carry
 *   the cluster's and this node's rules for the host itself; "forward"
 *   sends bridged VM traffic (br_netfilter makes it pass the inet hooks:
 *   the bridge family has no conntrack on this kernel) to one chain per
 *   VM NIC and direction, found by MAC with verdict maps: "ether saddr" for
 *   what a VM sends, "ether daddr" for what it receives. A packet between
 *   two VMs passes the sender's "-out" chain, then the receiver's "-in"
 *   chain, so inside VM chains "accept" is "return" (to let the next chain
 *   decide) and only drop and reject end the packet. Security groups are
 *   expanded in place for the same reason: a jump would turn their accept
 *   into a verdict for the whole hook.
 * - "bridge horcrux": anti-spoofing, stateless, on the tap port a frame
 *   enters the bridge by (matched by name, so a NIC that is not up yet
 *   costs nothing): its MAC, and its IPAM addresses as IPv4/IPv6/ARP
 *   sources.
 *
 * IP sets are named sets of both families ("s-NAME-4", "s-NAME-6"),
 * derived ones too ("v-VNET-4": every address allocated in a vnet;
 * "nodes-4": the cluster's nodes, always accepted by the host chains so
 * that the cluster keeps talking whatever the policies). Rendering never
 * fails on a stored rule: net_fw_rule_check() vetted it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "net/firewall.h"

#define LOG_LIMIT "limit rate 10/second burst 5 packets"

/* ---- sets ---- */

/* The nft set behind reference @ref ("@web", "@vnet:web", "@nodes"). */
static void set_name(const char *ref, int family, char *buf, size_t len)
{
	if (strcmp(ref, "@nodes") == 0)
		snprintf(buf, len, "nodes-%d", family);
	else if (strncmp(ref, "@vnet:", 6) == 0)
		snprintf(buf, len, "v-%s-%d", ref + 6, family);
	else
		snprintf(buf, len, "s-%s-%d", ref + 1, family);
}

/* Appends the entries of space/comma-separated @list of @family. */
static void elems_add(struct hx_buf *b, const char *list, int family,
		      bool *first)
{
	char *copy = strdup(list), *save, *t;

	if (copy == NULL) {
		b->oom = true;
		return;
	}
	for (t = strtok_r(copy, ", ", &save); t != NULL;
	     t = strtok_r(NULL, ", ", &save)) {
		struct hx_prefix p;

		if (hx_prefix_parse(t, false, &p) < 0 ||
		    p.addr.family != family)
			continue;
		hx_buf_put(b, "%s%s", *first ? "" : ", ", t);
		*first = false;
	}
	free(copy);
}

static void set_begin(struct hx_buf *b, const char *name, int family)
{
	hx_buf_put(
	    b, "\tset %s {\n\t\ttype %s\n\t\tflags interval\n\t\tauto-merge\n",
	    name, family == 4 ? "ipv4_addr" : "ipv6_addr");
}

/* A set whose elements are the entries of @lists[0..n-1] of @family. */
static void render_set(struct hx_buf *b, const char *name, int family,
		       const char *const *lists, unsigned n)
{
	struct hx_buf e = {0};
	bool first = true;

	set_begin(b, name, family);
	for (unsigned i = 0; i < n; i++)
		elems_add(&e, lists[i], family, &first);
	if (e.oom)
		b->oom = true;
	if (!first)
		hx_buf_put(b, "\t\telements = { %s }\n", e.s);
	hx_buf_put(b, "\t}\n");
	free(e.s);
}

/* Set references of the enabled rules, sorted and unique, into @refs. */
static unsigned refs_collect(const struct net_fw_input *in, char (*refs)[32],
			     unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < in->nrules; i++) {
		const struct statedb_fw_rule *r = &in->rules[i];
		const char *lists[] = {r->src, r->dst};

		for (unsigned k = 0; k < 2; k++) {
			char copy[512], *save, *t;

			snprintf(copy, sizeof(copy), "%s", lists[k]);
			for (t = strtok_r(copy, ",", &save); t != NULL;
			     t = strtok_r(NULL, ",", &save)) {
				unsigned j = 0;

				if (t[0] != '@' || strcmp(t, "@nodes") == 0)
					continue;
				while (j < n && strcmp(refs[j], t) < 0)
					j++;
				if ((j < n && strcmp(refs[j], t) == 0) ||
				    n == max)
					continue;
				memmove(refs[j + 1], refs[j],
					(n - j) * sizeof(refs[0]));
				snprintf(refs[j], sizeof(refs[0]), "%s", t);
				n++;
			}
		}
	}
	return n;
}

/* Every address allocated in vnet @vnet, space-separated (malloc'ed). */
static char *vnet_addrs(const struct net_fw_input *in, const char *vnet)
{
	struct hx_buf b = {0};

	hx_buf_put(&b, "%s", "");
	for (unsigned i = 0; i < in->nips; i++)
		if (strcmp(in->ips[i].vnet, vnet) == 0 &&
		    strcmp(in->ips[i].kind, "gateway") != 0)
			hx_buf_put(&b, "%s ", in->ips[i].ip);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static void render_sets(struct hx_buf *b, const struct net_fw_input *in)
{
	static char refs[512][32];
	struct hx_buf nodes = {0};
	unsigned nrefs = refs_collect(in, refs, HX_ARRAY_SIZE(refs));
	char name[48];

	hx_buf_put(&nodes, "%s", "");
	for (unsigned i = 0; i < in->nnode_addrs; i++)
		hx_buf_put(&nodes, "%s ", in->node_addrs[i]);
	for (int f = 4; f <= 6; f += 2) {
		const char *list = nodes.s != NULL ? nodes.s : "";

		snprintf(name, sizeof(name), "nodes-%d", f);
		render_set(b, name, f, &list, 1);
	}
	free(nodes.s);
	/* user IP sets: all of them, referenced or not */
	for (unsigned i = 0; i < in->nipsets; i++)
		for (int f = 4; f <= 6; f += 2) {
			const char *list = in->ipsets[i].entries;
			char ref[32];

			snprintf(ref, sizeof(ref), "@%s", in->ipsets[i].name);
			set_name(ref, f, name, sizeof(name));
			render_set(b, name, f, &list, 1);
		}
	/* referenced sets not rendered above: vnets, and (defensively)
	 * user sets that vanished */
	for (unsigned k = 0; k < nrefs; k++) {
		bool is_vnet = strncmp(refs[k], "@vnet:", 6) == 0, known = false;
		char *addrs = NULL;

		for (unsigned i = 0; !is_vnet && i < in->nipsets; i++)
			known = known || strcmp(in->ipsets[i].name,
						refs[k] + 1) == 0;
		if (known)
			continue;
		if (is_vnet && (addrs = vnet_addrs(in, refs[k] + 6)) == NULL) {
			b->oom = true;
			return;
		}
		for (int f = 4; f <= 6; f += 2) {
			const char *list = addrs != NULL ? addrs : "";

			set_name(refs[k], f, name, sizeof(name));
			render_set(b, name, f, &list, 1);
		}
		free(addrs);
	}
}

/* ---- rules ---- */

struct chain_ctx {
	const char *chain; /* for log prefixes */
	const char *dir;   /* in, out */
	bool vm;	   /* accept is "return" */
};

/* One (protocol, ports) entry: a macro's, or the rule's own. */
struct proto_entry {
	const char *proto;
	const char *sport;
	const char *dport; /* ports, or the ICMP type for icmp/icmpv6 */
};

/* "22" or "{ 22, 80-90 }" for a comma-separated list. */
static void list_put(struct hx_buf *b, const char *list)
{
	if (strchr(list, ',') == NULL) {
		hx_buf_put(b, "%s", list);
		return;
	}
	hx_buf_put(b, "{ ");
	for (const char *p = list; *p != '\0'; p++)
		hx_buf_put(b, *p == ',' ? ", " : "%c", *p);
	hx_buf_put(b, " }");
}

static void proto_put(struct hx_buf *b, const struct proto_entry *e)
{
	bool icmp = strcmp(e->proto, "icmp") == 0,
	     icmp6 = strcmp(e->proto, "icmpv6") == 0;

	if (e->proto[0] == '\0')
		return;
	if (icmp || icmp6) {
		if (e->dport[0] != '\0')
			hx_buf_put(b, "%s type %s ", e->proto, e->dport);
		else
			hx_buf_put(b, "meta l4proto %s ",
				   icmp ? "icmp" : "ipv6-icmp");
		return;
	}
	if (e->sport[0] == '\0' && e->dport[0] == '\0')
		hx_buf_put(b, "meta l4proto %s ", e->proto);
	if (e->sport[0] != '\0') {
		hx_buf_put(b, "%s sport ", e->proto);
		list_put(b, e->sport);
		hx_buf_put(b, " ");
	}
	if (e->dport[0] != '\0') {
		hx_buf_put(b, "%s dport ", e->proto);
		list_put(b, e->dport);
		hx_buf_put(b, " ");
	}
}

#define MAX_ALTS 34

/* The alternatives an address list gives for @family: one anonymous set
 * of its literals (if any) and one named set per reference. An empty list
 * gives one empty alternative (no match on addresses). */
static unsigned addr_alts(const char *list, int family, char alts[][520])
{
	char copy[512], *save, *t;
	unsigned n = 0, lits = 0;
	char lit[520] = "";
	size_t off = 0;

	if (list[0] == '\0') {
		alts[0][0] = '\0';
		return 1;
	}
	snprintf(copy, sizeof(copy), "%s", list);
	for (t = strtok_r(copy, ",", &save); t != NULL && n < MAX_ALTS - 1;
	     t = strtok_r(NULL, ",", &save)) {
		struct hx_prefix p;

		if (t[0] == '@') {
			char name[48];

			set_name(t, family, name, sizeof(name));
			snprintf(alts[n++], 520, "@%s", name);
		} else if (hx_prefix_parse(t, false, &p) == 0 &&
			   p.addr.family == family) {
			off += (size_t)snprintf(lit + off, sizeof(lit) - off,
						"%s%s", lits ? ", " : "", t);
			lits++;
		}
	}
	if (lits == 1)
		snprintf(alts[n++], 520, "%s", lit);
	else if (lits > 1)
		snprintf(alts[n++], 520, "{ %s }", lit);
	return n;
}

static const char *verdict_of(const struct chain_ctx *cx, const char *action)
{
	if (strcmp(action, "accept") == 0)
		return cx->vm ? "return" : "accept";
	return action;
}

/* The rule for one family (0: any) and one pair of alternatives. */
static void emit_one(struct hx_buf *b, const struct chain_ctx *cx,
		     const struct statedb_fw_rule *r,
		     const struct proto_entry *e, int family, const char *s,
		     const char *d)
{
	struct hx_buf m = {0};
	const char *ipk = family == 6 ? "ip6" : "ip";

	hx_buf_put(&m, "%s", "");
	if (s[0] != '\0')
		hx_buf_put(&m, "%s saddr %s ", ipk, s);
	if (d[0] != '\0')
		hx_buf_put(&m, "%s daddr %s ", ipk, d);
	proto_put(&m, e);
	if (m.oom) {
		b->oom = true;
		free(m.s);
		return;
	}
	if (r->log)
		hx_buf_put(b,
			   "\t\t%s" LOG_LIMIT " log prefix \"hx %s r%" PRId64
			   " \" level info\n",
			   m.s, cx->chain, r->id);
	hx_buf_put(b, "\t\t%s%s comment \"r%" PRId64 "\"\n", m.s,
		   verdict_of(cx, r->action), r->id);
	free(m.s);
}

static void emit_entry(struct hx_buf *b, const struct chain_ctx *cx,
		       const struct statedb_fw_rule *r,
		       const struct proto_entry *e)
{
	static char src[MAX_ALTS][520], dst[MAX_ALTS][520];
	bool icmp = strcmp(e->proto, "icmp") == 0,
	     icmp6 = strcmp(e->proto, "icmpv6") == 0;

	if (r->src[0] == '\0' && r->dst[0] == '\0') {
		emit_one(b, cx, r, e, icmp ? 4 : icmp6 ? 6 : 0, "", "");
		return;
	}
	for (int f = 4; f <= 6; f += 2) {
		unsigned ns, nd;

		if ((f == 6 && icmp) || (f == 4 && icmp6))
			continue;
		ns = addr_alts(r->src, f, src);
		nd = addr_alts(r->dst, f, dst);
		for (unsigned i = 0; i < ns; i++)
			for (unsigned k = 0; k < nd; k++)
				emit_one(b, cx, r, e, f, src[i], dst[k]);
	}
}

static void emit_rule(struct hx_buf *b, const struct chain_ctx *cx,
		      const struct statedb_fw_rule *r)
{
	const struct net_fw_macro *m;

	if (r->macro[0] == '\0') {
		struct proto_entry e = {r->proto, r->sport, r->dport};

		emit_entry(b, cx, r, &e);
		return;
	}
	if ((m = net_fw_macro_find(r->macro)) == NULL)
		return;
	for (size_t i = 0; i < HX_ARRAY_SIZE(m->e) && m->e[i].proto; i++) {
		struct proto_entry e = {m->e[i].proto, "", m->e[i].arg};

		emit_entry(b, cx, r, &e);
	}
}

/* The index of the first rule of @scope (rules are sorted by scope). */
static unsigned scope_first(const struct net_fw_input *in, const char *scope)
{
	unsigned lo = 0, hi = in->nrules;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (strcmp(in->rules[mid].scope, scope) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The enabled rules of @scope for the chain's direction, groups expanded
 * in place. */
static void emit_scope(struct hx_buf *b, const struct net_fw_input *in,
		       const struct chain_ctx *cx, const char *scope)
{
	for (unsigned i = scope_first(in, scope);
	     i < in->nrules && strcmp(in->rules[i].scope, scope) == 0; i++) {
		const struct statedb_fw_rule *r = &in->rules[i];
		char group[32];

		if (!r->enabled)
			continue;
		if (strcmp(r->action, "group") != 0) {
			if (strcmp(r->direction, cx->dir) == 0)
				emit_rule(b, cx, r);
			continue;
		}
		snprintf(group, sizeof(group), "group/%s", r->group);
		for (unsigned k = scope_first(in, group);
		     k < in->nrules && strcmp(in->rules[k].scope, group) == 0;
		     k++) {
			const struct statedb_fw_rule *g = &in->rules[k];

			if (g->enabled && strcmp(g->action, "group") != 0 &&
			    strcmp(g->direction, cx->dir) == 0)
				emit_rule(b, cx, g);
		}
	}
}

/* The chain's default policy as its last rules (accept: nothing). */
static void emit_policy(struct hx_buf *b, const struct chain_ctx *cx,
			const char *policy, bool log)
{
	if (strcmp(policy, "drop") != 0 && strcmp(policy, "reject") != 0)
		return;
	if (log)
		hx_buf_put(b,
			   "\t\t" LOG_LIMIT
			   " log prefix \"hx %s policy \" level "
			   "info\n",
			   cx->chain);
	hx_buf_put(b, "\t\t%s\n", policy);
}

/* ---- chains ---- */

static const char *const nd_in = "nd-neighbor-solicit, nd-neighbor-advert, "
				 "nd-router-advert, nd-redirect";
static const char *const nd_out = "nd-neighbor-solicit, nd-neighbor-advert, "
				  "nd-router-solicit";

static void render_host_chain(struct hx_buf *b, const struct net_fw_input *in,
			      bool input)
{
	struct chain_ctx cx = {input ? "input" : "output", input ? "in" : "out",
			       false};
	const char *lo = input ? "iifname" : "oifname",
		   *peer = input ? "saddr" : "daddr";
	char scope[80];

	hx_buf_put(b,
		   "\tchain %s {\n\t\ttype filter hook %s priority filter; "
		   "policy accept;\n",
		   cx.chain, cx.chain);
	hx_buf_put(b,
		   "\t\tct state established,related accept\n"
		   "\t\tct state invalid drop\n"
		   "\t\t%s \"lo\" accept\n"
		   "\t\tip %s @nodes-4 accept\n"
		   "\t\tip6 %s @nodes-6 accept\n"
		   "\t\ticmpv6 type { %s } accept\n",
		   lo, peer, peer, input ? nd_in : nd_out);
	if (input) /* the vnets' DHCP servers on this node */
		hx_buf_put(b, "\t\tiifname \"" NET_BRIDGE_PREFIX
			      "*\" udp sport 68 "
			      "udp dport 67 accept\n");
	emit_scope(b, in, &cx, "cluster");
	snprintf(scope, sizeof(scope), "node/%s", in->node);
	emit_scope(b, in, &cx, scope);
	emit_policy(b, &cx, input ? in->host.policy_in : in->host.policy_out,
		    in->host.log);
	hx_buf_put(b, "\t}\n");
}

static const struct net_fw_vm *vm_of(const struct net_fw_input *in,
				     int64_t vmid)
{
	for (unsigned i = 0; i < in->nvms; i++)
		if (in->vms[i].vmid == vmid)
			return &in->vms[i];
	return NULL;
}

static bool nic_filtered(const struct net_fw_input *in,
			 const struct net_fw_nic *n)
{
	const struct net_fw_vm *vm = vm_of(in, n->vmid);

	return vm != NULL && vm->opts.enabled;
}

static void render_vm_chain(struct hx_buf *b, const struct net_fw_input *in,
			    const struct net_fw_nic *n, bool to_vm)
{
	const struct net_fw_vm *vm = vm_of(in, n->vmid);
	char tap[NET_IFNAMSIZ], chain[32], scope[32];
	struct chain_ctx cx = {chain, to_vm ? "in" : "out", true};

	net_tap_name(n->vmid, n->index, tap);
	snprintf(chain, sizeof(chain), "%s-%s", tap, cx.dir);
	snprintf(scope, sizeof(scope), "vm/%" PRId64, n->vmid);
	hx_buf_put(b, "\tchain %s {\n", chain);
	emit_scope(b, in, &cx, scope);
	emit_policy(b, &cx, to_vm ? vm->opts.policy_in : vm->opts.policy_out,
		    vm->opts.log);
	hx_buf_put(b, "\t}\n");
}

/* "{ a, b }" of the MACs of the filtered NICs; false if there are none. */
static bool vm_macs_put(struct hx_buf *b, const struct net_fw_input *in)
{
	bool first = true;

	for (unsigned i = 0; i < in->nnics; i++) {
		if (!nic_filtered(in, &in->nics[i]))
			continue;
		hx_buf_put(b, "%s%s", first ? "{ " : ", ", in->nics[i].mac);
		first = false;
	}
	if (!first)
		hx_buf_put(b, " }");
	return !first;
}

/*
 * What every VM chain would begin with is hoisted into the forward chain,
 * before the verdict maps: it is the same for every VM (neighbour
 * discovery and DHCP always pass, invalid packets never), and 2,000 VM
 * chains of a few rules apply much faster than of a few more each.
 */
static void render_forward(struct hx_buf *b, const struct net_fw_input *in)
{
	static const char *const keys[] = {"saddr", "daddr"};
	unsigned nf = 0;

	for (unsigned i = 0; i < in->nnics; i++)
		if (nic_filtered(in, &in->nics[i])) {
			render_vm_chain(b, in, &in->nics[i], true);
			render_vm_chain(b, in, &in->nics[i], false);
			nf++;
		}
	hx_buf_put(b,
		   "\tchain forward {\n\t\ttype filter hook forward priority "
		   "filter; policy accept;\n"
		   "\t\tct state established,related accept\n");
	if (nf == 0) {
		hx_buf_put(b, "\t}\n");
		return;
	}
	hx_buf_put(b,
		   "\t\ticmpv6 type { %s, nd-router-solicit } accept\n"
		   "\t\tudp sport { 67, 68 } udp dport { 67, 68 } accept\n"
		   "\t\tudp sport { 546, 547 } udp dport { 546, 547 } accept\n",
		   nd_in);
	for (unsigned k = 0; k < 2; k++) {
		hx_buf_put(b, "\t\tether %s ", keys[k]);
		vm_macs_put(b, in);
		hx_buf_put(b, " ct state invalid drop\n");
	}
	for (unsigned k = 0; k < 2; k++) {
		bool first = true;

		hx_buf_put(b, "\t\tether %s vmap { ", keys[k]);
		for (unsigned i = 0; i < in->nnics; i++) {
			char tap[NET_IFNAMSIZ];

			if (!nic_filtered(in, &in->nics[i]))
				continue;
			net_tap_name(in->nics[i].vmid, in->nics[i].index, tap);
			hx_buf_put(b, "%s%s : jump %s-%s", first ? "" : ", ",
				   in->nics[i].mac, tap, k == 0 ? "out" : "in");
			first = false;
		}
		hx_buf_put(b, " }\n");
	}
	hx_buf_put(b, "\t}\n");
}

/* ---- anti-spoofing ---- */

/* Appends "TAP . ADDR" elements of @n's allowed sources of @family. */
static void sources_put(struct hx_buf *b, const struct net_fw_nic *n,
			int family, bool *first)
{
	char tap[NET_IFNAMSIZ], *copy, *save, *t;
	struct hx_addr ll;
	uint8_t mac[6];
	char a[HX_ADDR_STRLEN];

	net_tap_name(n->vmid, n->index, tap);
	if (family == 4) {
		hx_buf_put(b, "%s\"%s\" . 0.0.0.0", *first ? "" : ", ", tap);
	} else {
		hx_buf_put(b, "%s\"%s\" . ::", *first ? "" : ", ", tap);
		if (hx_mac_parse(n->mac, mac) == 0) {
			hx_mac_link_local(mac, &ll);
			hx_addr_format(&ll, a, sizeof(a));
			hx_buf_put(b, ", \"%s\" . %s", tap, a);
		}
	}
	*first = false;
	if ((copy = strdup(n->ips)) == NULL) {
		b->oom = true;
		return;
	}
	for (t = strtok_r(copy, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save)) {
		struct hx_addr x;

		if (hx_addr_parse(t, &x) == 0 && x.family == family)
			hx_buf_put(b, ", \"%s\" . %s", tap, t);
	}
	free(copy);
}

/* A set of tap names (@family 0: all NICs, else those filtering it). */
static void ports_set(struct hx_buf *b, const struct net_fw_input *in,
		      const char *name, int family)
{
	bool first = true;

	hx_buf_put(b, "\tset %s {\n\t\ttype ifname\n", name);
	for (unsigned i = 0; i < in->nnics; i++) {
		const struct net_fw_nic *n = &in->nics[i];
		char tap[NET_IFNAMSIZ];

		if ((family == 4 && !n->filter4) || (family == 6 && !n->filter6))
			continue;
		net_tap_name(n->vmid, n->index, tap);
		hx_buf_put(b, "%s\"%s\"", first ? "\t\telements = { " : ", ",
			   tap);
		first = false;
	}
	hx_buf_put(b, "%s\t}\n", first ? "" : " }\n");
}

/* The (tap, address) pairs a port may send from. */
static void sources_set(struct hx_buf *b, const struct net_fw_input *in,
			int family)
{
	bool first = true;

	hx_buf_put(b, "\tset src%d {\n\t\ttype ifname . %s\n", family,
		   family == 4 ? "ipv4_addr" : "ipv6_addr");
	for (unsigned i = 0; i < in->nnics; i++) {
		const struct net_fw_nic *n = &in->nics[i];

		if ((family == 4 && !n->filter4) || (family == 6 && !n->filter6))
			continue;
		if (first)
			hx_buf_put(b, "\t\telements = { ");
		sources_put(b, n, family, &first);
	}
	hx_buf_put(b, "%s\t}\n", first ? "" : " }\n");
}

/*
 * One chain for all ports, driven by sets keyed by tap name: a port that
 * is not a VM NIC's passes; a VM's frames must carry its MAC, and its IP
 * and ARP sources must be its own where its vnet says so.
 */
static void render_bridge(struct hx_buf *b, const struct net_fw_input *in)
{
	bool first = true;

	hx_buf_put(b, "table bridge horcrux {\n");
	ports_set(b, in, "ports", 0);
	ports_set(b, in, "ports4", 4);
	ports_set(b, in, "ports6", 6);
	hx_buf_put(b, "\tset macs {\n\t\ttype ifname . ether_addr\n");
	for (unsigned i = 0; i < in->nnics; i++) {
		char tap[NET_IFNAMSIZ];

		net_tap_name(in->nics[i].vmid, in->nics[i].index, tap);
		hx_buf_put(b, "%s\"%s\" . %s",
			   first ? "\t\telements = { " : ", ", tap,
			   in->nics[i].mac);
		first = false;
	}
	hx_buf_put(b, "%s\t}\n", first ? "" : " }\n");
	sources_set(b, in, 4);
	sources_set(b, in, 6);
	hx_buf_put(b,
		   "\tchain prerouting {\n\t\ttype filter hook prerouting "
		   "priority filter; policy accept;\n"
		   "\t\tiifname != @ports accept\n"
		   "\t\tiifname . ether saddr != @macs drop\n"
		   "\t\tether type { 8021q, 8021ad } drop\n"
		   "\t\tiifname . arp saddr ether != @macs drop\n"
		   "\t\tiifname @ports4 iifname . arp saddr ip != @src4 drop\n"
		   "\t\tiifname @ports4 iifname . ip saddr != @src4 drop\n"
		   "\t\tether type ip udp sport 67 drop\n"
		   "\t\tiifname @ports6 iifname . ip6 saddr != @src6 drop\n"
		   "\t\tether type ip6 icmpv6 type nd-router-advert drop\n"
		   "\t\tether type ip6 udp sport 547 drop\n"
		   "\t}\n}\n");
}

int net_fw_render(const struct net_fw_input *in, char **ret,
		  struct hx_err *err)
{
	struct hx_buf b = {0};

	hx_buf_put(&b,
		   "# horcrux firewall of node %s\n"
		   "add table inet horcrux\n"
		   "delete table inet horcrux\n"
		   "add table bridge horcrux\n"
		   "delete table bridge horcrux\n",
		   in->node);
	if (in->cluster.enabled) {
		hx_buf_put(&b, "table inet horcrux {\n");
		render_sets(&b, in);
		if (in->host.enabled) {
			render_host_chain(&b, in, true);
			render_host_chain(&b, in, false);
		}
		render_forward(&b, in);
		hx_buf_put(&b, "}\n");
		if (in->nnics > 0)
			render_bridge(&b, in);
	}
	if (b.oom) {
		free(b.s);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	*ret = b.s;
	return 0;
}
