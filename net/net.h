/* net: host networking: interface names, nftables rulesets, bridges. */
#ifndef HX_NET_NET_H
#define HX_NET_NET_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

#endif /* HX_NET_NET_H */
