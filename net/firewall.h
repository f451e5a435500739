/* net/firewall.h: the firewall renderer's private parts. */
#ifndef HX_NET_FIREWALL_H
#define HX_NET_FIREWALL_H

#include "net/net.h"

/* A service macro: up to two (protocol, ports or ICMP type) pairs. */
struct net_fw_macro {
	const char *name;
	struct {
		const char *proto;
		const char *arg; /* ports for tcp/udp, a type for icmp */
	} e[2];
};

/* The macro called @name, or NULL. */
const struct net_fw_macro *net_fw_macro_find(const char *name);

#endif /* HX_NET_FIREWALL_H */
