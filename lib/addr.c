/*
 * IP addresses, prefixes and MAC addresses as plain values.
 *
 * DESIGN: IPAM (statedb), the firewall renderer (net) and the API (agent)
 * all need the same arithmetic: parse, print canonically, test containment
 * and overlap, and map an address to its offset inside a prefix and back.
 * Addresses are 16 bytes in network order (IPv4 in the first 4) so that
 * both families share one code path. Offsets are capped at 2^62 so that
 * they fit a signed 64-bit database column.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"

static unsigned addr_bytes(int family)
{
	return family == 4 ? 4 : 16;
}

int hx_addr_parse(const char *s, struct hx_addr *ret)
{
	struct hx_addr a = {0};

	if (s == NULL || strlen(s) >= HX_ADDR_STRLEN)
		return -EINVAL;
	if (strchr(s, ':') != NULL) {
		if (inet_pton(AF_INET6, s, a.b) != 1)
			return -EINVAL;
		a.family = 6;
	} else {
		/* inet_pton accepts only dotted quads: no "10.1", no octal */
		if (inet_pton(AF_INET, s, a.b) != 1)
			return -EINVAL;
		a.family = 4;
	}
	*ret = a;
	return 0;
}

void hx_addr_format(const struct hx_addr *a, char *buf, size_t len)
{
	char tmp[HX_ADDR_STRLEN];

	if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, tmp,
		      sizeof(tmp)) == NULL)
		snprintf(tmp, sizeof(tmp), "?");
	snprintf(buf, len, "%s", tmp);
}

bool hx_addr_equal(const struct hx_addr *a, const struct hx_addr *b)
{
	return a->family == b->family &&
	       memcmp(a->b, b->b, addr_bytes(a->family)) == 0;
}

/* Whether bit @i (0 = most significant) of @a is set. */
static bool bit_of(const struct hx_addr *a, unsigned i)
{
	return (a->b[i / 8] >> (7 - i % 8)) & 1;
}

int hx_prefix_parse(const char *s, bool strict, struct hx_prefix *ret)
{
	char buf[HX_ADDR_STRLEN + 8], *slash, *end;
	struct hx_prefix p = {0};
	unsigned bits;
	long n;

	if (s == NULL || strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	if (hx_addr_parse(buf, &p.addr) < 0)
		return -EINVAL;
	bits = addr_bytes(p.addr.family) * 8;
	if (slash == NULL) {
		p.len = bits;
	} else {
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		n = strtol(slash + 1, &end, 10);
		if (*end != '\0' || n < 0 || n > (long)bits ||
		    (slash[1] == '0' && slash[2] != '\0'))
			return -EINVAL;
		p.len = (unsigned)n;
	}
	for (unsigned i = p.len; i < bits; i++) {
		if (!bit_of(&p.addr, i))
			continue;
		if (strict)
			return -EINVAL;
		p.addr.b[i / 8] &= (uint8_t)~(1u << (7 - i % 8));
	}
	*ret = p;
	return 0;
}

void hx_prefix_format(const struct hx_prefix *p, char *buf, size_t len)
{
	char a[HX_ADDR_STRLEN];

	hx_addr_format(&p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, p->len);
}

bool hx_prefix_contains(const struct hx_prefix *p, const struct hx_addr *a)
{
	if (p->addr.family != a->family)
		return false;
	for (unsigned i = 0; i < p->len; i++)
		if (bit_of(&p->addr, i) != bit_of(a, i))
			return false;
	return true;
}

bool hx_prefix_overlaps(const struct hx_prefix *a, const struct hx_prefix *b)
{
	/* Two prefixes overlap iff the shorter one contains the other. */
	if (a->addr.family != b->addr.family)
		return false;
	return a->len <= b->len ? hx_prefix_contains(a, &b->addr)
				: hx_prefix_contains(b, &a->addr);
}

uint64_t hx_prefix_last_offset(const struct hx_prefix *p)
{
	unsigned host = addr_bytes(p->addr.family) * 8 - p->len;

	if (host >= 62)
		return HX_OFFSET_MAX;
	return (UINT64_C(1) << host) - 1;
}

int hx_prefix_offset(const struct hx_prefix *p, const struct hx_addr *a,
		     uint64_t *ret)
{
	unsigned nb = addr_bytes(a->family);
	uint64_t off = 0;

	if (!hx_prefix_contains(p, a))
		return -EINVAL;
	/* The host part must fit in 62 bits: every byte above the last
	 * eight must be zero in the host part, and so must bits 62-63. */
	for (unsigned i = p->len; i < nb * 8; i++) {
		if (!bit_of(a, i))
			continue;
		if (nb * 8 - 1 - i >= 62)
			return -ERANGE;
		off |= UINT64_C(1) << (nb * 8 - 1 - i);
	}
	*ret = off;
	return 0;
}

int hx_prefix_nth(const struct hx_prefix *p, uint64_t n, struct hx_addr *ret)
{
	struct hx_addr a = p->addr;
	unsigned nb = addr_bytes(a.family);

	if (n > hx_prefix_last_offset(p))
		return -ERANGE;
	for (unsigned i = 0; i < 8 && n != 0; i++) {
		a.b[nb - 1 - i] |= (uint8_t)(n & 0xff);
		n >>= 8;
	}
	*ret = a;
	return 0;
}

int hx_mac_parse(const char *s, uint8_t ret[6])
{
	unsigned v[6];
	char tail;

	if (s == NULL || strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (s[3 * i] == ' ' || s[3 * i] == '+' || s[3 * i] == '-' ||
		    s[3 * i + 1] == ' ' || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		ret[i] = (uint8_t)v[i];
	}
	return 0;
}

void hx_mac_format(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

void hx_mac_link_local(const uint8_t mac[6], struct hx_addr *ret)
{
	struct hx_addr a = {.family = 6};

	a.b[0] = 0xfe;
	a.b[1] = 0x80;
	a.b[8] = mac[0] ^ 0x02;
	a.b[9] = mac[1];
	a.b[10] = mac[2];
	a.b[11] = 0xff;
	a.b[12] = 0xfe;
	a.b[13] = mac[3];
	a.b[14] = mac[4];
	a.b[15] = mac[5];
	*ret = a;
}
