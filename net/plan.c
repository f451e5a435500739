/*
 * The desired bridges, VXLAN devices and tap ports of a node: a pure
 * function of the zones, vnets, node addresses and the node's VM NICs.
 *
 * DESIGN: every node builds every vnet (as Proxmox SDN does), so a VM can
 * start or arrive on any node without waiting for its network; a bridge
 * costs nothing while no port is on it. VXLAN peers are all other nodes
 * of the same address family: head-end replication needs no multicast in
 * the underlay, and the FDB's all-zero entries send broadcast and unknown
 * unicast to each of them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "net/net.h"

static const struct statedb_zone *zone_of(const struct net_plan_input *in,
					  const char *name)
{
	for (unsigned i = 0; i < in->nzones; i++)
		if (strcmp(in->zones[i].name, name) == 0)
			return &in->zones[i];
	return NULL;
}

static void vxlan_want(const struct net_plan_input *in,
		       const struct statedb_vnet *v,
		       const struct statedb_zone *z,
		       struct net_link_want *w)
{
	struct hx_addr self, a;
	bool have_self = hx_addr_parse(in->self, &self) == 0;

	memset(w, 0, sizeof(*w));
	net_vxlan_name(v->name, w->name);
	net_bridge_name(v->name, w->master);
	w->vxlan = true;
	w->mtu = z->mtu;
	w->vni = (uint32_t)v->vni;
	snprintf(w->local, sizeof(w->local), "%s", in->self);
	w->her = strcmp(z->type, "vxlan") == 0;
	if (!w->her)
		return; /* evpn: zebra fills the FDB from BGP type-3 routes */
	for (unsigned i = 0; i < in->nnode_addrs && w->npeers < NET_MAX_PEERS;
	     i++) {
		if (hx_addr_parse(in->node_addrs[i], &a) < 0 || !have_self ||
		    a.family != self.family || hx_addr_equal(&a, &self))
			continue;
		hx_addr_format(&a, w->peers[w->npeers++], sizeof(w->peers[0]));
	}
}

bool net_dhcp_subnet(const struct statedb_subnet *s)
{
	return s->family == 4 && s->gateway[0] != '\0' &&
	       s->dhcp_start[0] != '\0';
}

void net_gateway_mac(const char *vnet, char buf[18])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = vnet; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(buf, 18, "02:48:58:%02x:%02x:%02x", (h >> 16) & 0xff,
		 (h >> 8) & 0xff, h & 0xff);
}

/* The gateways a vnet's DHCP subnets need on its bridge, on every node
 * alike (an anycast gateway: same address, same MAC). */
static void gateways_want(const struct net_plan_input *in,
			  const struct statedb_vnet *v,
			  struct net_link_want *w)
{
	for (unsigned i = 0; i < in->nsubnets; i++) {
		const struct statedb_subnet *s = &in->subnets[i];
		const char *slash = strchr(s->cidr, '/');

		if (strcmp(s->vnet, v->name) != 0 || !net_dhcp_subnet(s) ||
		    slash == NULL || w->ngateways == NET_MAX_GATEWAYS)
			continue;
		snprintf(w->gateways[w->ngateways++], HX_PREFIX_STRLEN,
			 "%s%s", s->gateway, slash);
	}
	if (w->ngateways > 0)
		net_gateway_mac(v->name, w->mac);
}

int net_plan_build(const struct net_plan_input *in, struct net_plan *ret,
		   struct hx_err *err)
{
	struct net_plan p = {0};

	p.links = calloc(2 * in->nvnets + 1, sizeof(*p.links));
	p.taps = calloc(in->nnics + 1, sizeof(*p.taps));
	if (p.links == NULL || p.taps == NULL) {
		net_plan_clear(&p);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < in->nvnets; i++) {
		const struct statedb_zone *z = zone_of(in, in->vnets[i].zone);
		struct net_link_want *w = &p.links[p.nlinks++];

		net_bridge_name(in->vnets[i].name, w->name);
		w->mtu = z != NULL ? z->mtu : 1500;
		gateways_want(in, &in->vnets[i], w);
	}
	for (unsigned i = 0; i < in->nvnets; i++) {
		const struct statedb_zone *z = zone_of(in, in->vnets[i].zone);

		if (z != NULL && strcmp(z->type, "simple") != 0 &&
		    in->vnets[i].vni > 0)
			vxlan_want(in, &in->vnets[i], z, &p.links[p.nlinks++]);
	}
	for (unsigned i = 0; i < in->nnics; i++) {
		struct net_tap_want *t = &p.taps[p.ntaps++];

		net_tap_name(in->nics[i].vmid, in->nics[i].index, t->tap);
		snprintf(t->bridge, sizeof(t->bridge), "%s",
			 in->nics[i].bridge);
	}
	*ret = p;
	return 0;
}

void net_plan_clear(struct net_plan *p)
{
	if (p == NULL)
		return;
	free(p->links);
	free(p->taps);
	memset(p, 0, sizeof(*p));
}
