/*
 * Firewall rule and IP set syntax: checks and normalization, and the
 * service macros.
 *
 * DESIGN: what a rule says is checked once, here, before it is stored;
 * the renderer then trusts stored rules and never fails on one. Values are
 * normalized (lowercase, canonical addresses, lists comma-separated
 * without spaces) so that equal rules are equal strings and statedb can
 * find references to an IP set with a plain substring search.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "net/firewall.h"

static const struct net_fw_macro macros[] = {
	{"dns", {{"udp", "53"}, {"tcp", "53"}}},
	{"http", {{"tcp", "80"}}},
	{"https", {{"tcp", "443"}}},
	{"imap", {{"tcp", "143"}}},
	{"imaps", {{"tcp", "993"}}},
	{"mysql", {{"tcp", "3306"}}},
	{"ntp", {{"udp", "123"}}},
	{"ping", {{"icmp", "echo-request"}, {"icmpv6", "echo-request"}}},
	{"postgres", {{"tcp", "5432"}}},
	{"rdp", {{"tcp", "3389"}}},
	{"smtp", {{"tcp", "25"}}},
	{"ssh", {{"tcp", "22"}}},
	{"web", {{"tcp", "80,443"}}},
};

static const char *macro_names[HX_ARRAY_SIZE(macros) + 1];

const char *const *net_fw_macros(void)
{
	for (size_t i = 0; i < HX_ARRAY_SIZE(macros); i++)
		macro_names[i] = macros[i].name;
	return macro_names;
}

const struct net_fw_macro *net_fw_macro_find(const char *name)
{
	for (size_t i = 0; i < HX_ARRAY_SIZE(macros); i++)
		if (strcmp(macros[i].name, name) == 0)
			return &macros[i];
	return NULL;
}

static bool one_of(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* "22, 80,8000-8080" -> "22,80,8000-8080"; -EINVAL on anything else. */
static int ports_parse(const char *field, char *s, size_t len,
		       struct hx_err *err)
{
	char in[64], out[64] = "", *save, *t;
	size_t off = 0;
	unsigned n = 0;

	snprintf(in, sizeof(in), "%s", s);
	for (t = strtok_r(in, ", ", &save); t != NULL;
	     t = strtok_r(NULL, ", ", &save)) {
		char *end, *dash = strchr(t, '-');
		long lo, hi;

		lo = strtol(t, &end, 10);
		hi = lo;
		if (end == t || (dash != NULL && end != dash) ||
		    (dash == NULL && *end != '\0'))
			goto bad;
		if (dash != NULL) {
			hi = strtol(dash + 1, &end, 10);
			if (end == dash + 1 || *end != '\0')
				goto bad;
		}
		if (lo < 1 || hi > 65535 || lo > hi || ++n > 16)
			goto bad;
		off += (size_t)(lo == hi ? snprintf(out + off, sizeof(out) - off,
						    "%s%ld", off ? "," : "", lo)
					 : snprintf(out + off, sizeof(out) - off,
						    "%s%ld-%ld", off ? "," : "",
						    lo, hi));
		if (off >= sizeof(out))
			goto bad;
	}
	snprintf(s, len, "%s", out);
	return 0;
bad:
	return hx_err_set(err, -EINVAL,
			  "%s: '%s' is not a list of at most 16 ports or "
			  "ranges (22,80,8000-8080)",
			  field, s);
}

/* A set reference: @nodes, @vnet:NAME or @NAME. */
static bool ref_ok(const char *t)
{
	const char *name = t + 1;
	size_t n;

	if (strcmp(t, "@nodes") == 0)
		return true;
	if (strncmp(t, "@vnet:", 6) == 0) {
		name = t + 6;
		n = strlen(name);
		return n > 0 && n <= 8 && name[0] >= 'a' && name[0] <= 'z' &&
		       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
	}
	n = strlen(name);
	return n > 0 && n <= 15 && name[0] >= 'a' && name[0] <= 'z' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* Canonical "A" for a host prefix, else "A/N"; -EINVAL. */
static int cidr_canon(const char *t, char *out, size_t len, int *ret_family)
{
	struct hx_prefix p;
	char a[HX_ADDR_STRLEN];

	if (hx_prefix_parse(t, true, &p) < 0)
		return -EINVAL;
	hx_addr_format(&p.addr, a, sizeof(a));
	if (p.len == (p.addr.family == 4 ? 32u : 128u))
		snprintf(out, len, "%s", a);
	else
		snprintf(out, len, "%s/%u", a, p.len);
	*ret_family = p.addr.family;
	return 0;
}

/* Normalizes an address list; *@ret_families gets bit 4 and/or 6 for its
 * literal addresses (references may hold either family). */
static int addrs_parse(const char *field, char *s, size_t len,
		       unsigned *ret_families, struct hx_err *err)
{
	char in[512], out[512] = "", *save, *t;
	size_t off = 0;
	unsigned n = 0;

	*ret_families = 0;
	snprintf(in, sizeof(in), "%s", s);
	lower(in);
	for (t = strtok_r(in, ", ", &save); t != NULL;
	     t = strtok_r(NULL, ", ", &save)) {
		char canon[HX_PREFIX_STRLEN];
		int family;

		if (++n > 32)
			return hx_err_set(err, -EINVAL,
					  "%s: at most 32 entries", field);
		if (t[0] == '@') {
			if (!ref_ok(t))
				return hx_err_set(err, -EINVAL,
						  "%s: '%s' is not @SET, "
						  "@vnet:NAME or @nodes",
						  field, t);
			snprintf(canon, sizeof(canon), "%s", t);
		} else if (cidr_canon(t, canon, sizeof(canon), &family) < 0) {
			return hx_err_set(err, -EINVAL,
					  "%s: '%s' is not an address, a CIDR "
					  "with its host bits zero, or @SET",
					  field, t);
		} else {
			*ret_families |= 1u << family;
		}
		off += (size_t)snprintf(out + off, sizeof(out) - off, "%s%s",
					off ? "," : "", canon);
		if (off >= sizeof(out) || off >= len)
			return hx_err_set(err, -EINVAL, "%s: too long", field);
	}
	snprintf(s, len, "%s", out);
	return 0;
}

static int check_proto(struct statedb_fw_rule *r, unsigned fam,
		       struct hx_err *err)
{
	static const char *const protos[] = {"",     "tcp",  "udp", "sctp",
					     "icmp", "icmpv6", NULL};
	bool ported = strcmp(r->proto, "tcp") == 0 ||
		      strcmp(r->proto, "udp") == 0 ||
		      strcmp(r->proto, "sctp") == 0;
	int rc;

	if (!one_of(r->proto, protos))
		return hx_err_set(err, -EINVAL,
				  "proto: '%s' is not tcp, udp, sctp, icmp or "
				  "icmpv6",
				  r->proto);
	if ((r->sport[0] || r->dport[0]) && !ported)
		return hx_err_set(err, -EINVAL,
				  "sport, dport: ports need proto tcp, udp or "
				  "sctp");
	if ((rc = ports_parse("sport", r->sport, sizeof(r->sport), err)) < 0 ||
	    (rc = ports_parse("dport", r->dport, sizeof(r->dport), err)) < 0)
		return rc;
	if (strcmp(r->proto, "icmp") == 0 && fam == (1u << 6))
		return hx_err_set(err, -EINVAL,
				  "proto: icmp with only IPv6 addresses (use "
				  "icmpv6)");
	if (strcmp(r->proto, "icmpv6") == 0 && fam == (1u << 4))
		return hx_err_set(err, -EINVAL,
				  "proto: icmpv6 with only IPv4 addresses (use "
				  "icmp)");
	return 0;
}

static int check_group_ref(struct statedb_fw_rule *r, struct hx_err *err)
{
	size_t n = strlen(r->group);

	if (n == 0 || n > 15 || r->group[0] < 'a' || r->group[0] > 'z' ||
	    strspn(r->group, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
		return hx_err_set(err, -EINVAL,
				  "group: '%s' is not a security group name",
				  r->group);
	if (r->macro[0] || r->proto[0] || r->sport[0] || r->dport[0] ||
	    r->src[0] || r->dst[0] || r->log)
		return hx_err_set(err, -EINVAL,
				  "action group: give only the group (its "
				  "rules say the rest)");
	r->direction[0] = '\0';
	return 0;
}

int net_fw_rule_check(struct statedb_fw_rule *r, struct hx_err *err)
{
	static const char *const dirs[] = {"in", "out", NULL};
	static const char *const actions[] = {"accept", "drop", "reject",
					      "group", NULL};
	unsigned fs = 0, fd = 0;
	int rc;

	lower(r->direction);
	lower(r->action);
	lower(r->macro);
	lower(r->proto);
	if (!one_of(r->action, actions))
		return hx_err_set(err, -EINVAL,
				  "action: '%s' is not accept, drop, reject or "
				  "group",
				  r->action);
	if (strcmp(r->action, "group") == 0)
		return check_group_ref(r, err);
	if (r->group[0] != '\0')
		return hx_err_set(err, -EINVAL,
				  "group: only with action group");
	if (!one_of(r->direction, dirs))
		return hx_err_set(err, -EINVAL,
				  "direction: '%s' is not in or out",
				  r->direction);
	if (r->macro[0] != '\0' && net_fw_macro_find(r->macro) == NULL)
		return hx_err_set(err, -EINVAL, "macro: unknown macro '%s'",
				  r->macro);
	if (r->macro[0] != '\0' && (r->proto[0] || r->sport[0] || r->dport[0]))
		return hx_err_set(err, -EINVAL,
				  "macro: a macro sets proto and ports itself");
	if ((rc = addrs_parse("src", r->src, sizeof(r->src), &fs, err)) < 0 ||
	    (rc = addrs_parse("dst", r->dst, sizeof(r->dst), &fd, err)) < 0)
		return rc;
	if (fs != 0 && fd != 0 && (fs & fd) == 0)
		return hx_err_set(err, -EINVAL,
				  "src, dst: no address family in common");
	if ((rc = check_proto(r, fs | fd, err)) < 0)
		return rc;
	for (const char *c = r->comment; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20)
			return hx_err_set(err, -EINVAL,
					  "comment: no control characters");
	return 0;
}

int net_fw_ipset_parse(const char *in, char *out, size_t len,
		       struct hx_err *err)
{
	char *copy = strdup(in), *save, *t;
	size_t off = 0;
	int r = 0;

	if (copy == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	out[0] = '\0';
	for (t = strtok_r(copy, ", \n\t", &save); t != NULL && r == 0;
	     t = strtok_r(NULL, ", \n\t", &save)) {
		char canon[HX_PREFIX_STRLEN];
		int family;

		if (cidr_canon(t, canon, sizeof(canon), &family) < 0) {
			r = hx_err_set(err, -EINVAL,
				       "entries: '%s' is not an address or a "
				       "CIDR with its host bits zero",
				       t);
			break;
		}
		off += (size_t)snprintf(out + off, len - off, "%s%s",
					off ? " " : "", canon);
		if (off >= len)
			r = hx_err_set(err, -EINVAL,
				       "entries: too many (at most %zu "
				       "characters)",
				       len - 1);
	}
	free(copy);
	return r;
}
