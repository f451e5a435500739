/*
 * Applying a node's network plan with libnl (rtnetlink): bridges, VXLAN
 * devices with head-end replication, tap ports.
 *
 * DESIGN: read the namespace's devices, compare with the plan, change
 * only what differs, then read again where a later step depends on an
 * earlier one (a VXLAN device needs its bridge's ifindex). Attributes the
 * kernel cannot change on a live VXLAN device (VNI, local address,
 * learning) are fixed by deleting and re-creating it. Only devices with
 * our prefixes are created or deleted; taps are only moved onto their
 * bridge, never created or removed (libvirt owns them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/if.h>
#include <linux/neighbour.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>

#include "lib/lib.h"
#include "net/net.h"

struct apply {
	struct nl_sock *sk;
	struct nl_cache *links;
	struct net_links_report *rep;
	struct hx_err *err;
};

static int nl_fail(struct apply *x, int nle, const char *what,
		   const char *name)
{
	return hx_err_set(x->err, -EIO, "netlink: %s '%s': %s", what, name,
			  nl_geterror(nle));
}

static int refill(struct apply *x)
{
	int r = nl_cache_refill(x->sk, x->links);

	return r < 0 ? nl_fail(x, r, "list", "links") : 0;
}

/* The device named @name (a new reference: rtnl_link_put), or NULL. */
static struct rtnl_link *find(struct apply *x, const char *name)
{
	return rtnl_link_get_by_name(x->links, name);
}

static bool has_prefix(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* Brings @cur up with @mtu (0: any) on master @master (-1: any). */
static int link_fix(struct apply *x, struct rtnl_link *cur, int mtu,
		    int master)
{
	struct rtnl_link *chg = rtnl_link_alloc();
	bool any = false;
	int r;

	if (chg == NULL)
		return hx_err_set(x->err, -ENOMEM, "out of memory");
	if (master >= 0 && rtnl_link_get_master(cur) != master) {
		rtnl_link_set_master(chg, master);
		any = true;
	}
	if (mtu > 0 && rtnl_link_get_mtu(cur) != (unsigned)mtu) {
		rtnl_link_set_mtu(chg, (unsigned)mtu);
		any = true;
	}
	if (!(rtnl_link_get_flags(cur) & IFF_UP)) {
		rtnl_link_set_flags(chg, IFF_UP);
		any = true;
	}
	r = any ? rtnl_link_change(x->sk, cur, chg, 0) : 0;
	rtnl_link_put(chg);
	if (r < 0)
		return nl_fail(x, r, "change", rtnl_link_get_name(cur));
	if (any)
		x->rep->changed++;
	return 0;
}

/* "A/N" of @a. */
static void addr_text(struct rtnl_addr *a, char *buf, size_t len)
{
	char tmp[HX_PREFIX_STRLEN], *slash;

	nl_addr2str(rtnl_addr_get_local(a), tmp, sizeof(tmp));
	if ((slash = strchr(tmp, '/')) != NULL)
		*slash = '\0';
	tmp[HX_ADDR_STRLEN - 1] = '\0';
	snprintf(buf, len, "%.45s/%u", tmp,
		 (unsigned)rtnl_addr_get_prefixlen(a) & 0xff);
}

/* Gives @cur the MAC @mac. */
static int mac_fix(struct apply *x, struct rtnl_link *cur, const char *mac)
{
	struct rtnl_link *chg;
	struct nl_addr *want = NULL;
	char have[32] = "";
	int r;

	if (rtnl_link_get_addr(cur) != NULL)
		nl_addr2str(rtnl_link_get_addr(cur), have, sizeof(have));
	if (strcasecmp(have, mac) == 0)
		return 0;
	if (nl_addr_parse(mac, AF_LLC, &want) < 0)
		return hx_err_set(x->err, -EINVAL, "bad MAC '%s'", mac);
	if ((chg = rtnl_link_alloc()) == NULL) {
		nl_addr_put(want);
		return hx_err_set(x->err, -ENOMEM, "out of memory");
	}
	rtnl_link_set_addr(chg, want);
	r = rtnl_link_change(x->sk, cur, chg, 0);
	rtnl_link_put(chg);
	nl_addr_put(want);
	if (r < 0)
		return nl_fail(x, r, "set MAC of", rtnl_link_get_name(cur));
	x->rep->changed++;
	return 0;
}

/* Adds "A/N" @text to device @ifindex unless @addrs shows it there. */
static int addr_ensure(struct apply *x, struct nl_cache *addrs, int ifindex,
		       const char *text)
{
	struct nl_object *o;
	struct rtnl_addr *a;
	struct nl_addr *local = NULL;
	int r;

	for (o = nl_cache_get_first(addrs); o != NULL; o = nl_cache_get_next(o)) {
		char have[HX_PREFIX_STRLEN];

		a = (struct rtnl_addr *)o;
		if (rtnl_addr_get_ifindex(a) != ifindex ||
		    rtnl_addr_get_family(a) != AF_INET)
			continue;
		addr_text(a, have, sizeof(have));
		if (strcmp(have, text) == 0)
			return 0;
	}
	if ((a = rtnl_addr_alloc()) == NULL ||
	    nl_addr_parse(text, AF_INET, &local) < 0) {
		rtnl_addr_put(a);
		return hx_err_set(x->err, -EINVAL, "bad address '%s'", text);
	}
	rtnl_addr_set_ifindex(a, ifindex);
	rtnl_addr_set_local(a, local);
	r = rtnl_addr_add(x->sk, a, 0);
	nl_addr_put(local);
	rtnl_addr_put(a);
	if (r < 0 && r != -NLE_EXIST)
		return nl_fail(x, r, "add address", text);
	x->rep->addrs_added++;
	return 0;
}

static int link_delete(struct apply *x, struct rtnl_link *cur)
{
	int r = rtnl_link_delete(x->sk, cur);

	if (r < 0 && r != -NLE_NODEV && r != -NLE_OBJ_NOTFOUND)
		return nl_fail(x, r, "delete", rtnl_link_get_name(cur));
	x->rep->deleted++;
	return 0;
}

/* ---- bridges ---- */

static int bridge_ensure(struct apply *x, const struct net_link_want *w)
{
	struct rtnl_link *cur = find(x, w->name), *l;
	int r;

	if (cur != NULL && strcmp(rtnl_link_get_type(cur) ?: "", "bridge")) {
		/* our name, wrong kind: replace it */
		r = link_delete(x, cur);
		rtnl_link_put(cur);
		if (r < 0 || (r = refill(x)) < 0)
			return r;
		cur = NULL;
	}
	if (cur == NULL) {
		if ((l = rtnl_link_bridge_alloc()) == NULL)
			return hx_err_set(x->err, -ENOMEM, "out of memory");
		rtnl_link_set_name(l, w->name);
		rtnl_link_set_mtu(l, (unsigned)w->mtu);
		r = rtnl_link_add(x->sk, l, NLM_F_CREATE | NLM_F_EXCL);
		rtnl_link_put(l);
		if (r < 0)
			return nl_fail(x, r, "create bridge", w->name);
		x->rep->created++;
		if ((r = refill(x)) < 0)
			return r;
		if ((cur = find(x, w->name)) == NULL)
			return hx_err_set(x->err, -EIO,
					  "bridge '%s' vanished after creation",
					  w->name);
	}
	r = link_fix(x, cur, w->mtu, -1);
	if (r == 0 && w->mac[0] != '\0')
		r = mac_fix(x, cur, w->mac);
	rtnl_link_put(cur);
	return r;
}

/* ---- gateway addresses on bridges (IPv4) ---- */

struct addr_scan {
	struct apply *x;
	const struct net_plan *p;
	int r;
};

/* The plan's bridge of ifindex @idx, or NULL. */
static const struct net_link_want *bridge_of(struct apply *x,
					     const struct net_plan *p, int idx)
{
	for (unsigned i = 0; i < p->nlinks; i++) {
		struct rtnl_link *l;
		int k;

		if (p->links[i].vxlan || (l = find(x, p->links[i].name)) == NULL)
			continue;
		k = rtnl_link_get_ifindex(l);
		rtnl_link_put(l);
		if (k == idx)
			return &p->links[i];
	}
	return NULL;
}

/* Deletes IPv4 addresses of our bridges that the plan does not want. */
static void addr_sweep_one(struct nl_object *o, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)o;
	struct addr_scan *s = arg;
	struct rtnl_link *l;
	const struct net_link_want *w;
	char text[HX_PREFIX_STRLEN];
	bool ours;
	int r;

	if (s->r < 0 || rtnl_addr_get_family(a) != AF_INET)
		return;
	l = rtnl_link_get(s->x->links, rtnl_addr_get_ifindex(a));
	ours = l != NULL && has_prefix(rtnl_link_get_name(l), NET_BRIDGE_PREFIX);
	if (l != NULL)
		rtnl_link_put(l);
	if (!ours)
		return;
	addr_text(a, text, sizeof(text));
	w = bridge_of(s->x, s->p, rtnl_addr_get_ifindex(a));
	for (unsigned i = 0; w != NULL && i < w->ngateways; i++)
		if (strcmp(w->gateways[i], text) == 0)
			return;
	if ((r = rtnl_addr_delete(s->x->sk, a, 0)) < 0) {
		s->r = nl_fail(s->x, r, "delete address", text);
		return;
	}
	s->x->rep->addrs_deleted++;
}

static int addrs_sync(struct apply *x, const struct net_plan *p)
{
	struct nl_cache *addrs = NULL;
	struct addr_scan s = {.x = x, .p = p};
	int r;

	if ((r = rtnl_addr_alloc_cache(x->sk, &addrs)) < 0)
		return nl_fail(x, r, "list", "addresses");
	nl_cache_foreach(addrs, addr_sweep_one, &s);
	for (unsigned i = 0; i < p->nlinks && s.r == 0; i++) {
		const struct net_link_want *w = &p->links[i];
		struct rtnl_link *l;

		if (w->vxlan || w->ngateways == 0 ||
		    (l = find(x, w->name)) == NULL)
			continue;
		for (unsigned k = 0; k < w->ngateways && s.r == 0; k++)
			s.r = addr_ensure(x, addrs, rtnl_link_get_ifindex(l),
					  w->gateways[k]);
		rtnl_link_put(l);
	}
	nl_cache_free(addrs);
	return s.r;
}

/* ---- VXLAN ---- */

/* Whether @cur is a VXLAN device with @w's unchangeable attributes. */
static bool vxlan_matches(struct rtnl_link *cur, const struct net_link_want *w)
{
	struct nl_addr *local = NULL, *want = NULL;
	uint32_t id = 0;
	uint8_t learning = 0;
	bool same;

	if (strcmp(rtnl_link_get_type(cur) ?: "", "vxlan") != 0 ||
	    rtnl_link_vxlan_get_id(cur, &id) < 0 || id != w->vni)
		return false;
	if (rtnl_link_vxlan_get_local(cur, &local) < 0 ||
	    nl_addr_parse(w->local, AF_UNSPEC, &want) < 0) {
		nl_addr_put(local);
		return false;
	}
	same = nl_addr_cmp(local, want) == 0;
	learning = (uint8_t)rtnl_link_vxlan_get_learning(cur);
	nl_addr_put(local);
	nl_addr_put(want);
	return same && (learning != 0) == w->learning;
}

static int vxlan_create(struct apply *x, const struct net_link_want *w)
{
	struct rtnl_link *l = rtnl_link_vxlan_alloc();
	struct nl_addr *local = NULL;
	int r;

	if (l == NULL)
		return hx_err_set(x->err, -ENOMEM, "out of memory");
	if ((r = nl_addr_parse(w->local, AF_UNSPEC, &local)) < 0) {
		rtnl_link_put(l);
		return hx_err_set(x->err, -EINVAL, "vxlan '%s': bad local "
						   "address '%s'",
				  w->name, w->local);
	}
	rtnl_link_set_name(l, w->name);
	rtnl_link_set_mtu(l, (unsigned)w->mtu);
	rtnl_link_vxlan_set_id(l, w->vni);
	rtnl_link_vxlan_set_local(l, local);
	rtnl_link_vxlan_set_port(l, NET_VXLAN_PORT);
	rtnl_link_vxlan_set_learning(l, w->learning ? 1 : 0);
	r = rtnl_link_add(x->sk, l, NLM_F_CREATE | NLM_F_EXCL);
	nl_addr_put(local);
	rtnl_link_put(l);
	if (r < 0)
		return nl_fail(x, r, "create vxlan", w->name);
	x->rep->created++;
	return refill(x);
}

static int vxlan_ensure(struct apply *x, const struct net_link_want *w)
{
	struct rtnl_link *cur = find(x, w->name), *br;
	int r, master;

	if (cur != NULL && !vxlan_matches(cur, w)) {
		r = link_delete(x, cur);
		rtnl_link_put(cur);
		if (r < 0 || (r = refill(x)) < 0)
			return r;
		cur = NULL;
	}
	if (cur == NULL) {
		if ((r = vxlan_create(x, w)) < 0)
			return r;
		if ((cur = find(x, w->name)) == NULL)
			return hx_err_set(x->err, -EIO,
					  "vxlan '%s' vanished after creation",
					  w->name);
	}
	if ((br = find(x, w->master)) == NULL) {
		rtnl_link_put(cur);
		return hx_err_set(x->err, -EIO, "vxlan '%s': no bridge '%s'",
				  w->name, w->master);
	}
	master = rtnl_link_get_ifindex(br);
	rtnl_link_put(br);
	r = link_fix(x, cur, w->mtu, master);
	rtnl_link_put(cur);
	return r;
}

/* ---- head-end replication: all-zero FDB entries ---- */

struct fdb_scan {
	int ifindex;
	char dsts[NET_MAX_PEERS * 2][48];
	unsigned n;
};

static bool lladdr_zero(struct nl_addr *a)
{
	const unsigned char *b;

	if (a == NULL || nl_addr_get_len(a) != 6)
		return false;
	b = nl_addr_get_binary_addr(a);
	for (int i = 0; i < 6; i++)
		if (b[i] != 0)
			return false;
	return true;
}

static void fdb_collect(struct nl_object *o, void *arg)
{
	struct rtnl_neigh *n = (struct rtnl_neigh *)o;
	struct fdb_scan *s = arg;
	struct nl_addr *dst;

	if (rtnl_neigh_get_family(n) != AF_BRIDGE ||
	    rtnl_neigh_get_ifindex(n) != s->ifindex ||
	    !lladdr_zero(rtnl_neigh_get_lladdr(n)) ||
	    (dst = rtnl_neigh_get_dst(n)) == NULL ||
	    s->n >= HX_ARRAY_SIZE(s->dsts))
		return;
	nl_addr2str(dst, s->dsts[s->n], sizeof(s->dsts[0]));
	s->n++;
}

static int fdb_change(struct apply *x, int ifindex, const char *dst,
		      bool add)
{
	static const unsigned char zero[6];
	struct rtnl_neigh *n = rtnl_neigh_alloc();
	struct nl_addr *ll = nl_addr_build(AF_LLC, zero, 6), *ip = NULL;
	int r;

	if (n == NULL || ll == NULL || nl_addr_parse(dst, AF_UNSPEC, &ip) < 0) {
		r = hx_err_set(x->err, -ENOMEM, "fdb entry for %s", dst);
		goto out;
	}
	rtnl_neigh_set_ifindex(n, ifindex);
	/* the destination first: setting it also sets the family (to the
	 * address's), which AF_BRIDGE then overrides */
	rtnl_neigh_set_dst(n, ip);
	rtnl_neigh_set_lladdr(n, ll);
	rtnl_neigh_set_family(n, AF_BRIDGE);
	rtnl_neigh_set_state(n, NUD_NOARP | NUD_PERMANENT);
	rtnl_neigh_set_flags(n, NTF_SELF);
	r = add ? rtnl_neigh_add(x->sk, n, NLM_F_CREATE | NLM_F_APPEND)
		: rtnl_neigh_delete(x->sk, n, 0);
	if (r < 0) {
		r = nl_fail(x, r, add ? "add fdb entry" : "delete fdb entry",
			    dst);
		goto out;
	}
	if (add)
		x->rep->fdb_added++;
	else
		x->rep->fdb_deleted++;
out:
	nl_addr_put(ip);
	nl_addr_put(ll);
	rtnl_neigh_put(n);
	return r;
}

static int fdb_sync(struct apply *x, const struct net_link_want *w)
{
	struct rtnl_link *cur = find(x, w->name);
	struct nl_cache *neigh = NULL;
	struct fdb_scan *s = calloc(1, sizeof(*s));
	int r;

	if (cur == NULL || s == NULL) {
		r = hx_err_set(x->err, -EIO, "vxlan '%s' missing", w->name);
		goto out;
	}
	s->ifindex = rtnl_link_get_ifindex(cur);
	if ((r = rtnl_neigh_alloc_cache_flags(x->sk, &neigh,
					      NL_CACHE_AF_ITER)) < 0) {
		r = nl_fail(x, r, "list fdb of", w->name);
		goto out;
	}
	nl_cache_foreach(neigh, fdb_collect, s);
	for (unsigned i = 0; i < w->npeers && r == 0; i++) {
		bool have = false;

		for (unsigned k = 0; k < s->n; k++)
			have = have || strcmp(s->dsts[k], w->peers[i]) == 0;
		if (!have)
			r = fdb_change(x, s->ifindex, w->peers[i], true);
	}
	for (unsigned k = 0; k < s->n && r == 0; k++) {
		bool want = false;

		for (unsigned i = 0; i < w->npeers; i++)
			want = want || strcmp(s->dsts[k], w->peers[i]) == 0;
		if (!want)
			r = fdb_change(x, s->ifindex, s->dsts[k], false);
	}
out:
	nl_cache_free(neigh);
	if (cur != NULL)
		rtnl_link_put(cur);
	free(s);
	return r;
}

/* ---- what no longer belongs, taps ---- */

static bool wanted(const struct net_plan *p, const char *name)
{
	for (unsigned i = 0; i < p->nlinks; i++)
		if (strcmp(p->links[i].name, name) == 0)
			return true;
	return false;
}

struct sweep {
	struct apply *x;
	const struct net_plan *p;
	bool vxlan_pass; /* VXLAN devices first, then bridges */
	int r;
};

static void sweep_one(struct nl_object *o, void *arg)
{
	struct rtnl_link *l = (struct rtnl_link *)o;
	struct sweep *s = arg;
	const char *name = rtnl_link_get_name(l);
	const char *prefix = s->vxlan_pass ? NET_VXLAN_PREFIX
					   : NET_BRIDGE_PREFIX;

	if (s->r < 0 || name == NULL || !has_prefix(name, prefix) ||
	    wanted(s->p, name))
		return;
	s->r = link_delete(s->x, l);
}

static int sweep(struct apply *x, const struct net_plan *p)
{
	struct sweep s = {.x = x, .p = p, .vxlan_pass = true};

	nl_cache_foreach(x->links, sweep_one, &s);
	if (s.r < 0 || (s.r = refill(x)) < 0)
		return s.r;
	s.vxlan_pass = false;
	nl_cache_foreach(x->links, sweep_one, &s);
	return s.r < 0 ? s.r : refill(x);
}

static int taps_attach(struct apply *x, const struct net_plan *p)
{
	for (unsigned i = 0; i < p->ntaps; i++) {
		struct rtnl_link *tap = find(x, p->taps[i].tap), *br;
		int master = 0, r;

		if (tap == NULL)
			continue; /* the VM is not running here */
		if ((br = find(x, p->taps[i].bridge)) != NULL) {
			master = rtnl_link_get_ifindex(br);
			rtnl_link_put(br);
		}
		if (master == 0 || rtnl_link_get_master(tap) == master) {
			rtnl_link_put(tap);
			continue;
		}
		r = link_fix(x, tap, 0, master);
		rtnl_link_put(tap);
		if (r < 0)
			return r;
		x->rep->taps_attached++;
	}
	return 0;
}

int net_links_apply(const struct net_plan *p, struct net_links_report *ret,
		    struct hx_err *err)
{
	struct net_links_report rep = {0};
	struct apply x = {.rep = &rep, .err = err};
	int r;

	if ((x.sk = nl_socket_alloc()) == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = nl_connect(x.sk, NETLINK_ROUTE)) < 0) {
		r = nl_fail(&x, r, "connect", "route");
		goto out;
	}
	if ((r = rtnl_link_alloc_cache(x.sk, AF_UNSPEC, &x.links)) < 0) {
		r = nl_fail(&x, r, "list", "links");
		goto out;
	}
	if ((r = sweep(&x, p)) < 0)
		goto out;
	for (unsigned i = 0; i < p->nlinks && r == 0; i++)
		if (!p->links[i].vxlan)
			r = bridge_ensure(&x, &p->links[i]);
	for (unsigned i = 0; i < p->nlinks && r == 0; i++)
		if (p->links[i].vxlan &&
		    (r = vxlan_ensure(&x, &p->links[i])) == 0 && p->links[i].her)
			r = fdb_sync(&x, &p->links[i]);
	if (r == 0)
		r = taps_attach(&x, p);
	if (r == 0)
		r = addrs_sync(&x, p);
out:
	if (x.links != NULL)
		nl_cache_free(x.links);
	nl_socket_free(x.sk);
	if (r == 0 && ret != NULL)
		*ret = rep;
	return r;
}
