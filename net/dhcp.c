/*
 * A vnet's DHCP server configuration (dnsmasq), rendered per node.
 *
 * DESIGN: every node runs one dnsmasq per vnet with DHCP subnets, bound
 * to the vnet's bridge, in static mode: it knows only the NICs of the VMs
 * on its own node, each with its IPAM address, and ignores every other
 * client. On an overlay vnet all nodes hear a guest's broadcast, and
 * exactly one (the guest's) answers; nothing is ever handed out that IPAM
 * did not allocate. The anycast gateway on every node's bridge (same
 * address, same MAC) is the server's address. Hosts are listed in the
 * configuration itself, not in a hosts file: dnsmasq reads the
 * configuration before it drops root, and the executor restarts it on
 * any change.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "net/net.h"

/* Dotted netmask of an IPv4 prefix length. */
static void netmask(unsigned len, char *buf, size_t n)
{
	uint32_t m = len == 0 ? 0 : 0xffffffffu << (32 - len);

	snprintf(buf, n, "%u.%u.%u.%u", m >> 24, (m >> 16) & 0xff,
		 (m >> 8) & 0xff, m & 0xff);
}

int net_dhcp_render(const char *vnet, const char *dir, int mtu,
		    const struct statedb_subnet *subnets, unsigned nsubnets,
		    const struct net_dhcp_host *hosts, unsigned nhosts,
		    char **ret, struct hx_err *err)
{
	struct hx_buf b = {0};
	char bridge[NET_IFNAMSIZ], mask[16];
	unsigned tag = 0;

	net_bridge_name(vnet, bridge);
	hx_buf_put(&b,
		   "# horcrux DHCP of vnet %s (generated; do not edit)\n"
		   "interface=%s\nbind-interfaces\nexcept-interface=lo\n"
		   "port=0\nno-resolv\nno-hosts\nno-ping\n"
		   "dhcp-ignore=tag:!known\n"
		   "dhcp-leasefile=%s/%s.leases\npid-file=%s/%s.pid\n",
		   vnet, bridge, dir, vnet, dir, vnet);
	for (unsigned i = 0; i < nsubnets; i++) {
		const struct statedb_subnet *s = &subnets[i];
		struct hx_prefix p;
		char net[HX_ADDR_STRLEN], *dns, *save, *t;

		if (strcmp(s->vnet, vnet) != 0 || !net_dhcp_subnet(s) ||
		    hx_prefix_parse(s->cidr, true, &p) < 0)
			continue;
		hx_addr_format(&p.addr, net, sizeof(net));
		netmask(p.len, mask, sizeof(mask));
		hx_buf_put(&b, "dhcp-range=set:s%u,%s,static,%s,1h\n", tag, net,
			   mask);
		hx_buf_put(&b, "dhcp-option=tag:s%u,option:router,%s\n", tag,
			   s->gateway);
		if (s->dns[0] != '\0' && (dns = strdup(s->dns)) != NULL) {
			hx_buf_put(&b, "dhcp-option=tag:s%u,option:dns-server",
				   tag);
			for (t = strtok_r(dns, " ", &save); t != NULL;
			     t = strtok_r(NULL, " ", &save))
				hx_buf_put(&b, ",%s", t);
			hx_buf_put(&b, "\n");
			free(dns);
		}
		hx_buf_put(&b, "dhcp-option=tag:s%u,option:mtu,%d\n", tag, mtu);
		tag++;
	}
	for (unsigned i = 0; i < nhosts; i++)
		hx_buf_put(&b, "dhcp-host=%s,%s%s%s\n", hosts[i].mac,
			   hosts[i].ip, hosts[i].hostname[0] ? "," : "",
			   hosts[i].hostname);
	if (b.oom) {
		free(b.s);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	*ret = b.s;
	return 0;
}
