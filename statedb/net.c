/*
 * SDN objects: zones, vnets and subnets.
 *
 * DESIGN: everything is validated here, inside the write transaction that
 * stores it, because the checks that matter (an overlapping subnet, a VNI
 * taken, a zone deleted meanwhile) are only true inside it. Every write
 * bumps meta.net_generation so that the nodes' reconcilers notice.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

static const char *const zone_types[] = {"simple", "vxlan", "evpn", NULL};

bool db_net_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > STATEDB_NET_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

int db_net_bump(struct db_tx *tx, struct hx_err *err)
{
	return db_exec(tx,
		       "UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
		       "WHERE key = 'net_generation'",
		       NULL, 0, NULL, NULL, err);
}

/* Number of rows @sql (one text parameter) returns in its first column. */
int db_count(struct db_tx *tx, const char *sql, const char *arg,
	     int64_t *ret, struct hx_err *err)
{
	struct wire_value p[] = {db_text(arg)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, sql, p, arg != NULL ? 1 : 0, &rows, err);
	if (r < 0)
		return r;
	*ret = rows->nrows > 0 ? db_row_int(rows, 0, 0) : 0;
	wire_rows_free(rows);
	return 0;
}

/* ---- list helpers ---- */



struct list_req {
	const char *sql;
	struct wire_value p[2];
	unsigned np;
	size_t size;
	db_row_fn from_row;
	void *items;
	unsigned n;
};

static int list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct list_req *q = data;
	struct wire_rows *rows;
	int r;

	r = db_query(tx, q->sql, q->p, q->np, &rows, err);
	if (r < 0)
		return r;
	q->items = calloc(rows->nrows + 1, q->size);
	if (q->items == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (q->n = 0; q->n < rows->nrows; q->n++)
		q->from_row(rows, q->n, (char *)q->items + q->n * q->size);
	wire_rows_free(rows);
	return 0;
}

int db_list(struct statedb *db, const char *sql, const struct wire_value *p,
	    unsigned np, size_t size, db_row_fn from_row, void **ret,
	    unsigned *ret_n, struct hx_err *err)
{
	struct list_req q = {.sql = sql, .np = np, .size = size,
			     .from_row = from_row};
	int r;

	for (unsigned i = 0; i < np && i < 2; i++)
		q.p[i] = p[i];
	r = db_read(db, list_fn, &q, err);
	if (r < 0)
		return r;
	*ret = q.items;
	*ret_n = q.n;
	return 0;
}

/* One object by key: -ENOENT with "no @what '@key'" if absent. */
static int get_one(struct statedb *db, const char *sql, const char *key,
		   const char *what, size_t size, db_row_fn from_row, void *ret,
		   struct hx_err *err)
{
	struct wire_value p[] = {db_text(key)};
	void *items;
	unsigned n;
	int r;

	r = db_list(db, sql, p, 1, size, from_row, &items, &n, err);
	if (r < 0)
		return r;
	if (n == 0) {
		free(items);
		return hx_err_set(err, -ENOENT, "no %s '%s'", what, key);
	}
	memcpy(ret, items, size);
	free(items);
	return 0;
}

/* ---- zones ---- */

#define ZONE_COLS "name, type, mtu, asn"

static void zone_from_row(const struct wire_rows *rows, unsigned r, void *out)
{
	struct statedb_zone *z = out;

	db_row_copy(rows, r, 0, z->name, sizeof(z->name));
	db_row_copy(rows, r, 1, z->type, sizeof(z->type));
	z->mtu = (int)db_row_int(rows, r, 2);
	z->asn = db_row_int(rows, r, 3);
}

static int zone_check(struct statedb_zone *z, struct hx_err *err)
{
	bool known = false;

	if (!db_net_name_ok(z->name))
		return hx_err_set(err, -EINVAL,
				  "name: '%s' is not a zone name (1-%d "
				  "characters of a-z and 0-9, starting with a "
				  "letter)",
				  z->name, STATEDB_NET_NAME_MAX);
	for (const char *const *t = zone_types; *t != NULL; t++)
		known = known || strcmp(*t, z->type) == 0;
	if (!known)
		return hx_err_set(err, -EINVAL,
				  "type: unknown zone type '%s' (simple, "
				  "vxlan, evpn)",
				  z->type);
	if (z->mtu == 0)
		z->mtu = strcmp(z->type, "simple") == 0 ? 1500 : 1450;
	if (z->mtu < 576 || z->mtu > 9000)
		return hx_err_set(err, -EINVAL,
				  "mtu: %d is out of range (576 to 9000)",
				  z->mtu);
	if (strcmp(z->type, "evpn") != 0 && z->asn != 0)
		return hx_err_set(err, -EINVAL,
				  "asn: only evpn zones have an AS number");
	if (strcmp(z->type, "evpn") == 0 && z->asn == 0)
		z->asn = 65000;
	if (z->asn < 0 || z->asn > 4294967295LL)
		return hx_err_set(err, -EINVAL,
				  "asn: %" PRId64
				  " is out of range (1 to 4294967295)",
				  z->asn);
	return 0;
}

static int zone_create_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct statedb_zone z = *(const struct statedb_zone *)data;
	int64_t n;
	int r;

	if ((r = zone_check(&z, err)) < 0)
		return r;
	r = db_count(tx, "SELECT count(*) FROM net_zones WHERE name = ?",
		     z.name, &n, err);
	if (r < 0)
		return r;
	if (n > 0)
		return hx_err_set(err, -EEXIST, "zone '%s' already exists",
				  z.name);
	/* one BGP instance per node: every evpn zone shares its AS */
	r = db_count(tx,
		     "SELECT coalesce(max(asn), 0) FROM net_zones WHERE type = "
		     "'evpn'",
		     NULL, &n, err);
	if (r < 0)
		return r;
	if (strcmp(z.type, "evpn") == 0 && n != 0 && n != z.asn)
		return hx_err_set(err, -EINVAL,
				  "asn: the evpn zones use AS %" PRId64
				  " (one BGP instance per node)",
				  n);
	struct wire_value p[] = {db_text(z.name), db_text(z.type),
				 db_int(z.mtu), db_int(z.asn),
				 db_int((int64_t)hx_wall_ms())};
	r = db_exec(tx,
		    "INSERT INTO net_zones (name, type, mtu, asn, created_ms) "
		    "VALUES (?, ?, ?, ?, ?)",
		    p, 5, NULL, NULL, err);
	return r < 0 ? r : db_net_bump(tx, err);
}

int statedb_zone_create(struct statedb *db, const struct statedb_zone *z,
			struct hx_err *err)
{
	return db_write(db, zone_create_fn, (void *)z, err);
}

static int zone_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const char *name = data;
	struct wire_value p[] = {db_text(name)};
	uint64_t changes = 0;
	int64_t n;
	int r;

	r = db_count(tx, "SELECT count(*) FROM net_vnets WHERE zone = ?", name,
		     &n, err);
	if (r < 0)
		return r;
	if (n > 0)
		return hx_err_set(err, -EBUSY,
				  "zone '%s' still has %" PRId64
				  " vnet(s): delete them first",
				  name, n);
	r = db_exec(tx, "DELETE FROM net_zones WHERE name = ?", p, 1, NULL,
		    &changes, err);
	if (r < 0)
		return r;
	if (changes == 0)
		return hx_err_set(err, -ENOENT, "no zone '%s'", name);
	return db_net_bump(tx, err);
}

int statedb_zone_delete(struct statedb *db, const char *name,
			struct hx_err *err)
{
	return db_write(db, zone_delete_fn, (void *)name, err);
}

int statedb_zone_list(struct statedb *db, struct statedb_zone **ret,
		      unsigned *ret_n, struct hx_err *err)
{
	return db_list(db, "SELECT " ZONE_COLS " FROM net_zones ORDER BY name",
		       NULL, 0, sizeof(**ret), zone_from_row, (void **)ret,
		       ret_n, err);
}

int statedb_zone_get(struct statedb *db, const char *name,
		     struct statedb_zone *ret, struct hx_err *err)
{
	return get_one(db, "SELECT " ZONE_COLS " FROM net_zones WHERE name = ?",
		       name, "zone", sizeof(*ret), zone_from_row, ret, err);
}

/* ---- vnets ---- */

#define VNET_SELECT                                                   \
	"SELECT v.name, v.zone, coalesce(v.vni, 0), v.description, z.type, " \
	"z.mtu FROM net_vnets v JOIN net_zones z ON z.name = v.zone"

static void vnet_from_row(const struct wire_rows *rows, unsigned r, void *out)
{
	struct statedb_vnet *v = out;

	db_row_copy(rows, r, 0, v->name, sizeof(v->name));
	db_row_copy(rows, r, 1, v->zone, sizeof(v->zone));
	v->vni = db_row_int(rows, r, 2);
	db_row_copy(rows, r, 3, v->description, sizeof(v->description));
	db_row_copy(rows, r, 4, v->zone_type, sizeof(v->zone_type));
	v->mtu = (int)db_row_int(rows, r, 5);
}

static int vnet_create_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const struct statedb_vnet *v = data;
	struct wire_value p[] = {db_text(v->zone)};
	struct wire_rows *rows;
	char type[8];
	int64_t n;
	int r;

	if (!db_net_name_ok(v->name))
		return hx_err_set(err, -EINVAL,
				  "name: '%s' is not a vnet name (1-%d "
				  "characters of a-z and 0-9, starting with a "
				  "letter)",
				  v->name, STATEDB_NET_NAME_MAX);
	if (strlen(v->description) >= sizeof(v->description))
		return hx_err_set(err, -EINVAL, "description: too long");
	r = db_query(tx, "SELECT type FROM net_zones WHERE name = ?", p, 1,
		     &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, -EINVAL, "zone: no zone '%s'", v->zone);
	}
	db_row_copy(rows, 0, 0, type, sizeof(type));
	wire_rows_free(rows);
	if (strcmp(type, "simple") == 0 && v->vni != 0)
		return hx_err_set(err, -EINVAL,
				  "vni: vnets of the simple zone '%s' have no "
				  "VNI",
				  v->zone);
	if (strcmp(type, "simple") != 0 &&
	    (v->vni < 1 || v->vni > STATEDB_VNI_MAX))
		return hx_err_set(err, -EINVAL,
				  "vni: %" PRId64 " is out of range (1 to %d)",
				  v->vni, STATEDB_VNI_MAX);
	r = db_count(tx, "SELECT count(*) FROM net_vnets WHERE name = ?",
		     v->name, &n, err);
	if (r < 0)
		return r;
	if (n > 0)
		return hx_err_set(err, -EEXIST, "vnet '%s' already exists",
				  v->name);
	if (v->vni != 0) {
		struct wire_value q[] = {db_int(v->vni)};
		r = db_query(tx, "SELECT name FROM net_vnets WHERE vni = ?", q,
			     1, &rows, err);
		if (r < 0)
			return r;
		if (rows->nrows > 0) {
			r = hx_err_set(err, -EEXIST,
				       "vni: %" PRId64
				       " is already used by vnet '%s'",
				       v->vni, db_row_text(rows, 0, 0));
			wire_rows_free(rows);
			return r;
		}
		wire_rows_free(rows);
	}
	struct wire_value ins[] = {db_text(v->name), db_text(v->zone),
				   v->vni != 0 ? db_int(v->vni) : db_null(),
				   db_text(v->description),
				   db_int((int64_t)hx_wall_ms())};
	r = db_exec(tx,
		    "INSERT INTO net_vnets (name, zone, vni, description, "
		    "created_ms) VALUES (?, ?, ?, ?, ?)",
		    ins, 5, NULL, NULL, err);
	return r < 0 ? r : db_net_bump(tx, err);
}

int statedb_vnet_create(struct statedb *db, const struct statedb_vnet *v,
			struct hx_err *err)
{
	return db_write(db, vnet_create_fn, (void *)v, err);
}

/* The VM configuration is JSON owned by agent/, dumped compact with sorted
 * keys, so a NIC on vnet V contains exactly "vnet":"V". */
static int vnet_users(struct db_tx *tx, const char *name, int64_t *ret_vmid,
		      struct hx_err *err)
{
	char needle[48];
	struct wire_value p[] = {db_text(needle)};
	struct wire_rows *rows;
	int r;

	snprintf(needle, sizeof(needle), "\"vnet\":\"%s\"", name);
	r = db_query(tx,
		     "SELECT vmid FROM vms WHERE instr(config, ?1) > 0 OR "
		     "instr(coalesce(pending, ''), ?1) > 0 ORDER BY vmid "
		     "LIMIT 1",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	*ret_vmid = rows->nrows > 0 ? db_row_int(rows, 0, 0) : 0;
	wire_rows_free(rows);
	return 0;
}

static int vnet_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const char *name = data;
	struct wire_value p[] = {db_text(name)};
	uint64_t changes = 0;
	int64_t n, vmid;
	int r;

	r = db_count(tx, "SELECT count(*) FROM net_subnets WHERE vnet = ?",
		     name, &n, err);
	if (r < 0)
		return r;
	if (n > 0)
		return hx_err_set(err, -EBUSY,
				  "vnet '%s' still has %" PRId64
				  " subnet(s): delete them first",
				  name, n);
	if ((r = vnet_users(tx, name, &vmid, err)) < 0)
		return r;
	if (vmid != 0)
		return hx_err_set(err, -EBUSY,
				  "vnet '%s' is used by a NIC of VM %" PRId64,
				  name, vmid);
	r = db_exec(tx, "DELETE FROM net_vnets WHERE name = ?", p, 1, NULL,
		    &changes, err);
	if (r < 0)
		return r;
	if (changes == 0)
		return hx_err_set(err, -ENOENT, "no vnet '%s'", name);
	return db_net_bump(tx, err);
}

int statedb_vnet_delete(struct statedb *db, const char *name,
			struct hx_err *err)
{
	return db_write(db, vnet_delete_fn, (void *)name, err);
}

int statedb_vnet_list(struct statedb *db, struct statedb_vnet **ret,
		      unsigned *ret_n, struct hx_err *err)
{
	return db_list(db, VNET_SELECT " ORDER BY v.name", NULL, 0,
		       sizeof(**ret), vnet_from_row, (void **)ret, ret_n, err);
}

int statedb_vnet_get(struct statedb *db, const char *name,
		     struct statedb_vnet *ret, struct hx_err *err)
{
	return get_one(db, VNET_SELECT " WHERE v.name = ?", name, "vnet",
		       sizeof(*ret), vnet_from_row, ret, err);
}

/* ---- subnets ---- */

#define SUBNET_COLS "cidr, vnet, family, gateway, dns, dhcp_start, dhcp_end"

static void subnet_from_row(const struct wire_rows *rows, unsigned r,
			    void *out)
{
	struct statedb_subnet *s = out;

	db_row_copy(rows, r, 0, s->cidr, sizeof(s->cidr));
	db_row_copy(rows, r, 1, s->vnet, sizeof(s->vnet));
	s->family = (int)db_row_int(rows, r, 2);
	db_row_copy(rows, r, 3, s->gateway, sizeof(s->gateway));
	db_row_copy(rows, r, 4, s->dns, sizeof(s->dns));
	db_row_copy(rows, r, 5, s->dhcp_start, sizeof(s->dhcp_start));
	db_row_copy(rows, r, 6, s->dhcp_end, sizeof(s->dhcp_end));
}

/* Parses @text as an address inside @p (canonical form into @out). */
static int addr_in(const struct hx_prefix *p, const char *field,
		   const char *text, struct hx_addr *a, char *out, size_t len,
		   struct hx_err *err)
{
	char cidr[HX_PREFIX_STRLEN];

	hx_prefix_format(p, cidr, sizeof(cidr));
	if (hx_addr_parse(text, a) < 0)
		return hx_err_set(err, -EINVAL, "%s: '%s' is not an IP address",
				  field, text);
	if (!hx_prefix_contains(p, a))
		return hx_err_set(err, -EINVAL, "%s: %s is not inside %s", field,
				  text, cidr);
	hx_addr_format(a, out, len);
	return 0;
}

/* Validates and normalizes @s (canonical CIDR and addresses) in place. */
static int subnet_check(struct statedb_subnet *s, struct hx_prefix *ret_p,
			struct hx_err *err)
{
	struct hx_prefix p;
	struct hx_addr gw, lo, hi, dns;
	char dns_in[sizeof(s->dns)], *save, *t;
	size_t off = 0;
	uint64_t olo, ohi;
	int r;

	if (hx_prefix_parse(s->cidr, true, &p) < 0)
		return hx_err_set(err, -EINVAL,
				  "cidr: '%s' is not a network in CIDR "
				  "notation with its host bits zero "
				  "(10.1.0.0/24, fd00:1::/64)",
				  s->cidr);
	if ((p.addr.family == 4 && p.len > 30) ||
	    (p.addr.family == 6 && p.len > 126) || p.len < 8)
		return hx_err_set(err, -EINVAL,
				  "cidr: a /%u is not a useful subnet (IPv4 "
				  "/8 to /30, IPv6 /8 to /126)",
				  p.len);
	hx_prefix_format(&p, s->cidr, sizeof(s->cidr));
	s->family = p.addr.family;
	if (s->gateway[0] != '\0') {
		r = addr_in(&p, "gateway", s->gateway, &gw, s->gateway,
			    sizeof(s->gateway), err);
		if (r < 0)
			return r;
		if (hx_addr_equal(&gw, &p.addr))
			return hx_err_set(err, -EINVAL,
					  "gateway: %s is the network address",
					  s->gateway);
	}
	if ((s->dhcp_start[0] != '\0') != (s->dhcp_end[0] != '\0'))
		return hx_err_set(err, -EINVAL,
				  "dhcp_range: give both its start and end");
	if (s->dhcp_start[0] != '\0') {
		if ((r = addr_in(&p, "dhcp_start", s->dhcp_start, &lo,
				 s->dhcp_start, sizeof(s->dhcp_start), err)) <
			    0 ||
		    (r = addr_in(&p, "dhcp_end", s->dhcp_end, &hi, s->dhcp_end,
				 sizeof(s->dhcp_end), err)) < 0)
			return r;
		if (hx_prefix_offset(&p, &lo, &olo) < 0 ||
		    hx_prefix_offset(&p, &hi, &ohi) < 0 || olo > ohi ||
		    olo == 0 ||
		    (p.addr.family == 4 && ohi == hx_prefix_last_offset(&p)))
			return hx_err_set(err, -EINVAL,
					  "dhcp_range: %s-%s is not a range "
					  "of host addresses of %s",
					  s->dhcp_start, s->dhcp_end, s->cidr);
	}
	snprintf(dns_in, sizeof(dns_in), "%s", s->dns);
	s->dns[0] = '\0';
	for (t = strtok_r(dns_in, " ,", &save); t != NULL;
	     t = strtok_r(NULL, " ,", &save)) {
		char a[HX_ADDR_STRLEN];

		if (hx_addr_parse(t, &dns) < 0)
			return hx_err_set(err, -EINVAL,
					  "dns: '%s' is not an IP address", t);
		hx_addr_format(&dns, a, sizeof(a));
		off += (size_t)snprintf(s->dns + off, sizeof(s->dns) - off,
					"%s%s", off ? " " : "", a);
	}
	*ret_p = p;
	return 0;
}

static int subnet_overlap(struct db_tx *tx, const struct hx_prefix *p,
			  struct hx_err *err)
{
	struct wire_value q[] = {db_int(p->addr.family)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT cidr, vnet FROM net_subnets WHERE family = ?",
		     q, 1, &rows, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < rows->nrows; i++) {
		struct hx_prefix o;
		char mine[HX_PREFIX_STRLEN];

		if (hx_prefix_parse(db_row_text(rows, i, 0), true, &o) < 0 ||
		    !hx_prefix_overlaps(p, &o))
			continue;
		hx_prefix_format(p, mine, sizeof(mine));
		r = hx_err_set(err, -EEXIST,
			       "cidr: %s overlaps subnet %s of vnet '%s'", mine,
			       db_row_text(rows, i, 0), db_row_text(rows, i, 1));
		break;
	}
	wire_rows_free(rows);
	return r;
}

static int subnet_create_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct statedb_subnet s = *(const struct statedb_subnet *)data;
	struct hx_prefix p;
	int64_t n;
	int r;

	if ((r = subnet_check(&s, &p, err)) < 0)
		return r;
	r = db_count(tx, "SELECT count(*) FROM net_vnets WHERE name = ?",
		     s.vnet, &n, err);
	if (r < 0)
		return r;
	if (n == 0)
		return hx_err_set(err, -EINVAL, "vnet: no vnet '%s'", s.vnet);
	if ((r = subnet_overlap(tx, &p, err)) < 0)
		return r;
	struct wire_value ins[] = {
		db_text(s.cidr),       db_text(s.vnet),	    db_int(s.family),
		db_text(s.gateway),    db_text(s.dns),	    db_text(s.dhcp_start),
		db_text(s.dhcp_end),   db_int((int64_t)hx_wall_ms()),
	};
	r = db_exec(tx,
		    "INSERT INTO net_subnets (cidr, vnet, family, gateway, dns, "
		    "dhcp_start, dhcp_end, created_ms) VALUES (?, ?, ?, ?, ?, "
		    "?, ?, ?)",
		    ins, HX_ARRAY_SIZE(ins), NULL, NULL, err);
	if (r < 0)
		return r;
	if (s.gateway[0] != '\0' &&
	    (r = db_ip_reserve_gateway(tx, &s, err)) < 0)
		return r;
	return db_net_bump(tx, err);
}

int statedb_subnet_create(struct statedb *db, const struct statedb_subnet *s,
			  struct hx_err *err)
{
	return db_write(db, subnet_create_fn, (void *)s, err);
}

static int subnet_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const char *cidr = data;
	struct wire_value p[] = {db_text(cidr)};
	struct wire_rows *rows;
	uint64_t changes = 0;
	int r;

	r = db_query(tx,
		     "SELECT ip, vmid FROM net_ips WHERE subnet = ? AND kind != "
		     "'gateway' ORDER BY ip LIMIT 1",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows > 0) {
		r = db_row_int(rows, 0, 1) != 0
			    ? hx_err_set(err, -EBUSY,
					 "subnet %s still has allocated "
					 "addresses (%s of VM %" PRId64 ")",
					 cidr, db_row_text(rows, 0, 0),
					 db_row_int(rows, 0, 1))
			    : hx_err_set(err, -EBUSY,
					 "subnet %s still has allocated "
					 "addresses (%s)",
					 cidr, db_row_text(rows, 0, 0));
		wire_rows_free(rows);
		return r;
	}
	wire_rows_free(rows);
	r = db_exec(tx, "DELETE FROM net_subnets WHERE cidr = ?", p, 1, NULL,
		    &changes, err);
	if (r < 0)
		return r;
	if (changes == 0)
		return hx_err_set(err, -ENOENT, "no subnet %s", cidr);
	r = db_exec(tx, "DELETE FROM net_ips WHERE subnet = ?", p, 1, NULL,
		    NULL, err);
	return r < 0 ? r : db_net_bump(tx, err);
}

int statedb_subnet_delete(struct statedb *db, const char *cidr,
			  struct hx_err *err)
{
	struct hx_prefix p;
	char canon[HX_PREFIX_STRLEN];

	/* Accept any spelling of the CIDR; rows hold the canonical one. */
	if (hx_prefix_parse(cidr, true, &p) < 0)
		return hx_err_set(err, -ENOENT, "no subnet '%s'", cidr);
	hx_prefix_format(&p, canon, sizeof(canon));
	return db_write(db, subnet_delete_fn, canon, err);
}

int statedb_subnet_list(struct statedb *db, const char *vnet,
			struct statedb_subnet **ret, unsigned *ret_n,
			struct hx_err *err)
{
	struct wire_value p[] = {db_text(vnet)};

	if (vnet != NULL)
		return db_list(db,
			       "SELECT " SUBNET_COLS " FROM net_subnets WHERE "
			       "vnet = ? ORDER BY vnet, family, cidr",
			       p, 1, sizeof(**ret), subnet_from_row,
			       (void **)ret, ret_n, err);
	return db_list(db,
		       "SELECT " SUBNET_COLS " FROM net_subnets ORDER BY vnet, "
		       "family, cidr",
		       NULL, 0, sizeof(**ret), subnet_from_row, (void **)ret,
		       ret_n, err);
}

int statedb_subnet_get(struct statedb *db, const char *cidr,
		       struct statedb_subnet *ret, struct hx_err *err)
{
	struct hx_prefix p;
	char canon[HX_PREFIX_STRLEN];

	if (hx_prefix_parse(cidr, true, &p) < 0)
		return hx_err_set(err, -ENOENT, "no subnet '%s'", cidr);
	hx_prefix_format(&p, canon, sizeof(canon));
	return get_one(db,
		       "SELECT " SUBNET_COLS " FROM net_subnets WHERE cidr = ?",
		       canon, "subnet", sizeof(*ret), subnet_from_row, ret,
		       err);
}

/* ---- change detection ---- */

static int fingerprint_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	static const char *const sql[] = {
		"SELECT value FROM meta WHERE key = 'net_generation'",
		("SELECT count(*) || '/' || coalesce(sum(vmid * 1000003 + "
		 "version), 0) || '/' || coalesce(group_concat(node || '=' || "
		 "vmid, ','), '') FROM (SELECT vmid, version, node FROM vms "
		 "ORDER BY vmid)"),
		("SELECT coalesce(group_concat(name || '=' || address, ','), "
		 "'') FROM (SELECT name, address FROM nodes ORDER BY name)"),
	};
	char *texts[HX_ARRAY_SIZE(sql)] = {0};
	const char *parts[HX_ARRAY_SIZE(sql)];
	int r = 0;

	for (size_t i = 0; i < HX_ARRAY_SIZE(sql) && r == 0; i++) {
		struct wire_rows *rows;

		r = db_query(tx, sql[i], NULL, 0, &rows, err);
		if (r < 0)
			break;
		texts[i] = strdup(rows->nrows > 0 ? db_row_text(rows, 0, 0)
						  : "");
		wire_rows_free(rows);
		if (texts[i] == NULL)
			r = hx_err_set(err, -ENOMEM, "out of memory");
		parts[i] = texts[i];
	}
	if (r == 0)
		db_digest(parts, HX_ARRAY_SIZE(sql), data);
	for (size_t i = 0; i < HX_ARRAY_SIZE(sql); i++)
		free(texts[i]);
	return r;
}

int statedb_net_fingerprint(struct statedb *db, char ret[33],
			    struct hx_err *err)
{
	return db_read(db, fingerprint_fn, ret, err);
}
