/*
 * IPAM: address allocations in the vnets' subnets.
 *
 * DESIGN: an allocation is a row of net_ips keyed by the canonical address
 * text, with the address's offset inside its subnet in "idx" (NULL past
 * 2^62, IPv6 only). Finding the lowest free offset of a pool is then one
 * query over an index, and the whole read-check-insert runs inside the
 * writer's single transaction: dqlite serializes write transactions
 * cluster-wide (a second writer is refused with "database is locked" and
 * retried), so two nodes can never both see an address as free. The
 * primary key and UNIQUE (subnet, idx) back that up.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

#define IP_COLS                                                          \
	"ip, subnet, vnet, family, kind, coalesce(vmid, 0), mac, hostname, " \
	"created_ms"

static void ip_from_row(const struct wire_rows *rows, unsigned r, void *out)
{
	struct statedb_ip *ip = out;

	db_row_copy(rows, r, 0, ip->ip, sizeof(ip->ip));
	db_row_copy(rows, r, 1, ip->subnet, sizeof(ip->subnet));
	db_row_copy(rows, r, 2, ip->vnet, sizeof(ip->vnet));
	ip->family = (int)db_row_int(rows, r, 3);
	db_row_copy(rows, r, 4, ip->kind, sizeof(ip->kind));
	ip->vmid = db_row_int(rows, r, 5);
	db_row_copy(rows, r, 6, ip->mac, sizeof(ip->mac));
	db_row_copy(rows, r, 7, ip->hostname, sizeof(ip->hostname));
	ip->created_ms = db_row_int(rows, r, 8);
}

/* A subnet's allocatable offsets. */
struct pool {
	char cidr[64];
	struct hx_prefix p;
	uint64_t lo, hi;
};

static int pool_of(const char *cidr, const char *start, const char *end,
		   struct pool *ret)
{
	struct hx_addr a;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->cidr, sizeof(ret->cidr), "%s", cidr);
	if (hx_prefix_parse(cidr, true, &ret->p) < 0)
		return -EINVAL;
	ret->lo = 1;
	ret->hi = hx_prefix_last_offset(&ret->p);
	if (ret->p.addr.family == 4)
		ret->hi--; /* the broadcast address */
	if (start[0] != '\0' && end[0] != '\0') {
		if (hx_addr_parse(start, &a) < 0 ||
		    hx_prefix_offset(&ret->p, &a, &ret->lo) < 0 ||
		    hx_addr_parse(end, &a) < 0 ||
		    hx_prefix_offset(&ret->p, &a, &ret->hi) < 0)
			return -EINVAL;
	}
	return 0;
}

static int ip_insert(struct db_tx *tx, const struct pool *pl,
		     const struct hx_addr *a, const char *vnet,
		     const char *kind, const struct statedb_ip_req *q,
		     struct statedb_ip *ret, struct hx_err *err)
{
	struct statedb_ip ip = {0};
	uint64_t off;
	bool has_idx = hx_prefix_offset(&pl->p, a, &off) == 0;
	int r;

	hx_addr_format(a, ip.ip, sizeof(ip.ip));
	snprintf(ip.subnet, sizeof(ip.subnet), "%s", pl->cidr);
	snprintf(ip.vnet, sizeof(ip.vnet), "%s", vnet);
	ip.family = a->family;
	snprintf(ip.kind, sizeof(ip.kind), "%s", kind);
	ip.vmid = q != NULL ? q->vmid : 0;
	snprintf(ip.mac, sizeof(ip.mac), "%s",
		 q != NULL && q->mac != NULL ? q->mac : "");
	snprintf(ip.hostname, sizeof(ip.hostname), "%s",
		 q != NULL && q->hostname != NULL ? q->hostname : "");
	ip.created_ms = (int64_t)hx_wall_ms();
	struct wire_value p[] = {
		db_text(ip.ip),
		db_text(ip.subnet),
		db_text(ip.vnet),
		db_int(ip.family),
		has_idx ? db_int((int64_t)off) : db_null(),
		db_text(ip.kind),
		ip.vmid != 0 ? db_int(ip.vmid) : db_null(),
		db_text(ip.mac),
		db_text(ip.hostname),
		db_int(ip.created_ms),
	};
	r = db_exec(tx,
		    "INSERT INTO net_ips (ip, subnet, vnet, family, idx, kind, "
		    "vmid, mac, hostname, created_ms) VALUES (?, ?, ?, ?, ?, ?, "
		    "?, ?, ?, ?)",
		    p, HX_ARRAY_SIZE(p), NULL, NULL, err);
	if (r < 0)
		return r;
	if (ret != NULL)
		*ret = ip;
	return 0;
}

int db_ip_reserve_gateway(struct db_tx *tx, const struct statedb_subnet *s,
			  struct hx_err *err)
{
	struct pool pl;
	struct hx_addr a;
	int64_t n;
	int r;

	if (pool_of(s->cidr, "", "", &pl) < 0 ||
	    hx_addr_parse(s->gateway, &a) < 0)
		return hx_err_set(err, -EINVAL, "gateway: bad address");
	r = db_count(tx, "SELECT count(*) FROM net_ips WHERE ip = ?",
		     s->gateway, &n, err);
	if (r < 0)
		return r;
	if (n > 0)
		return hx_err_set(err, -EEXIST,
				  "gateway: %s is already allocated",
				  s->gateway);
	return ip_insert(tx, &pl, &a, s->vnet, "gateway", NULL, NULL, err);
}

/* -EEXIST naming who holds @ip, 0 if it is free. */
static int ip_taken(struct db_tx *tx, const char *ip, struct hx_err *err)
{
	struct wire_value p[] = {db_text(ip)};
	struct wire_rows *rows;
	struct statedb_ip cur;
	int r;

	r = db_query(tx, "SELECT " IP_COLS " FROM net_ips WHERE ip = ?", p, 1,
		     &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return 0;
	}
	ip_from_row(rows, 0, &cur);
	wire_rows_free(rows);
	if (strcmp(cur.kind, "gateway") == 0)
		return hx_err_set(err, -EEXIST,
				  "ip: %s is the gateway of subnet %s", ip,
				  cur.subnet);
	if (cur.vmid != 0)
		return hx_err_set(err, -EEXIST,
				  "ip: %s is already allocated to VM %" PRId64
				  " (MAC %s)",
				  ip, cur.vmid, cur.mac);
	return hx_err_set(err, -EEXIST, "ip: %s is already allocated%s%s", ip,
			  cur.mac[0] ? " to MAC " : "", cur.mac);
}

/* The lowest free offset in @pl (0 if none: offsets start at 1). */
static int pool_first_free(struct db_tx *tx, const struct pool *pl,
			   uint64_t *ret, struct hx_err *err)
{
	struct wire_value p[] = {db_text(pl->cidr), db_int((int64_t)pl->lo),
				 db_int((int64_t)pl->hi)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM net_ips WHERE "
		     "subnet = ?1 AND idx = ?2) THEN ?2 ELSE (SELECT min(a.idx) "
		     "+ 1 FROM net_ips a WHERE a.subnet = ?1 AND a.idx >= ?2 AND "
		     "a.idx < ?3 AND NOT EXISTS (SELECT 1 FROM net_ips b WHERE "
		     "b.subnet = ?1 AND b.idx = a.idx + 1)) END",
		     p, 3, &rows, err);
	if (r < 0)
		return r;
	*ret = rows->nrows > 0 ? (uint64_t)db_row_int(rows, 0, 0) : 0;
	wire_rows_free(rows);
	if (*ret < pl->lo || *ret > pl->hi)
		*ret = 0;
	return 0;
}

/* Checks the request's fields; the canonical MAC into @mac. */
static int req_check(const struct statedb_ip_req *q, char mac[18],
		     struct hx_err *err)
{
	uint8_t m[6];

	mac[0] = '\0';
	if (q->vnet == NULL || q->vnet[0] == '\0')
		return hx_err_set(err, -EINVAL, "vnet: required");
	if (q->family != 0 && q->family != 4 && q->family != 6)
		return hx_err_set(err, -EINVAL, "family: must be 4 or 6");
	if (q->mac != NULL && q->mac[0] != '\0') {
		if (hx_mac_parse(q->mac, m) < 0 || (m[0] & 1))
			return hx_err_set(err, -EINVAL,
					  "mac: '%s' is not a unicast MAC "
					  "address",
					  q->mac);
		hx_mac_format(m, mac, 18);
	}
	if (q->hostname != NULL) {
		size_t n = strlen(q->hostname);

		if (n > 63 || strspn(q->hostname,
				     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO"
				     "PQRSTUVWXYZ0123456789.-") != n)
			return hx_err_set(err, -EINVAL,
					  "hostname: '%s' is not a host name",
					  q->hostname);
	}
	if (q->vmid < 0)
		return hx_err_set(err, -EINVAL, "vmid: must be positive");
	return 0;
}

/* The subnets of the request, in allocation order. */
static int req_pools(struct db_tx *tx, const struct statedb_ip_req *q,
		     int family, struct pool **ret, unsigned *ret_n,
		     struct hx_err *err)
{
	struct wire_value p[] = {db_text(q->vnet), db_int(family)};
	struct wire_rows *rows;
	struct hx_prefix want;
	char canon[HX_PREFIX_STRLEN] = "";
	unsigned n = 0;
	int64_t k;
	int r;

	r = db_count(tx, "SELECT count(*) FROM net_vnets WHERE name = ?",
		     q->vnet, &k, err);
	if (r < 0)
		return r;
	if (k == 0)
		return hx_err_set(err, -EINVAL, "vnet: no vnet '%s'", q->vnet);
	if (q->subnet != NULL && q->subnet[0] != '\0') {
		if (hx_prefix_parse(q->subnet, true, &want) < 0)
			return hx_err_set(err, -EINVAL,
					  "subnet: '%s' is not a CIDR",
					  q->subnet);
		hx_prefix_format(&want, canon, sizeof(canon));
	}
	r = db_query(tx,
		     "SELECT cidr, dhcp_start, dhcp_end FROM net_subnets WHERE "
		     "vnet = ? AND family = ? ORDER BY cidr",
		     p, 2, &rows, err);
	if (r < 0)
		return r;
	*ret = calloc(rows->nrows + 1, sizeof(**ret));
	if (*ret == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < rows->nrows; i++) {
		if (canon[0] != '\0' &&
		    strcmp(canon, db_row_text(rows, i, 0)) != 0)
			continue;
		if (pool_of(db_row_text(rows, i, 0), db_row_text(rows, i, 1),
			    db_row_text(rows, i, 2), &(*ret)[n]) == 0)
			n++;
	}
	wire_rows_free(rows);
	*ret_n = n;
	if (n > 0)
		return 0;
	free(*ret);
	*ret = NULL;
	if (canon[0] != '\0')
		return hx_err_set(err, -EINVAL,
				  "subnet: vnet '%s' has no subnet %s", q->vnet,
				  canon);
	return hx_err_set(err, -EINVAL, "vnet: '%s' has no IPv%d subnet",
			  q->vnet, family);
}

/* An allocation @mac already holds among @pools, if any (1: found). */
static int mac_holds(struct db_tx *tx, const char *mac,
		     const struct pool *pools, unsigned n,
		     struct statedb_ip *ret, struct hx_err *err)
{
	struct wire_value p[] = {db_text(mac)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT " IP_COLS " FROM net_ips WHERE mac = ? ORDER BY "
		     "ip",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < rows->nrows; i++)
		for (unsigned k = 0; k < n; k++)
			if (strcmp(db_row_text(rows, i, 1), pools[k].cidr) ==
			    0) {
				ip_from_row(rows, i, ret);
				wire_rows_free(rows);
				return 1;
			}
	wire_rows_free(rows);
	return 0;
}

static int alloc_static(struct db_tx *tx, const struct statedb_ip_req *q,
			const struct hx_addr *a, const struct pool *pools,
			unsigned n, struct statedb_ip *ret, struct hx_err *err)
{
	char text[HX_ADDR_STRLEN];
	uint64_t off;
	int r;

	hx_addr_format(a, text, sizeof(text));
	for (unsigned k = 0; k < n; k++) {
		const struct pool *pl = &pools[k];

		if (!hx_prefix_contains(&pl->p, a))
			continue;
		if (hx_prefix_offset(&pl->p, a, &off) == 0 &&
		    (off == 0 || (a->family == 4 &&
				  off == hx_prefix_last_offset(&pl->p))))
			return hx_err_set(err, -EINVAL,
					  "ip: %s is the %s address of %s",
					  text, off == 0 ? "network" : "broadcast",
					  pl->cidr);
		if ((r = ip_taken(tx, text, err)) < 0)
			return r;
		return ip_insert(tx, pl, a, q->vnet, "static", q, ret, err);
	}
	return hx_err_set(err, -EINVAL,
			  "ip: %s is not inside a subnet of vnet '%s'", text,
			  q->vnet);
}

static int alloc_auto(struct db_tx *tx, const struct statedb_ip_req *q,
		      const struct pool *pools, unsigned n,
		      struct statedb_ip *ret, struct hx_err *err)
{
	for (unsigned k = 0; k < n; k++) {
		struct hx_addr a;
		uint64_t off;
		int r;

		if ((r = pool_first_free(tx, &pools[k], &off, err)) < 0)
			return r;
		if (off == 0 || hx_prefix_nth(&pools[k].p, off, &a) < 0)
			continue;
		return ip_insert(tx, &pools[k], &a, q->vnet, "auto", q, ret,
				 err);
	}
	return hx_err_set(err, -ENOSPC,
			  "no free address left in the IPv%d subnets of vnet "
			  "'%s'",
			  pools[0].p.addr.family, q->vnet);
}

/* The whole allocation, inside the caller's transaction. */
static int ip_allocate_tx(struct db_tx *tx, const struct statedb_ip_req *in,
			  struct statedb_ip *ret, bool *ret_created,
			  struct hx_err *err)
{
	struct statedb_ip_req q = *in;
	struct statedb_ip held;
	struct pool *pools = NULL;
	struct hx_addr a;
	char mac[18], text[HX_ADDR_STRLEN];
	unsigned n = 0;
	int family = q.family, r;

	if ((r = req_check(&q, mac, err)) < 0)
		return r;
	q.mac = mac;
	if (q.ip != NULL) {
		if (hx_addr_parse(q.ip, &a) < 0)
			return hx_err_set(err, -EINVAL,
					  "ip: '%s' is not an IP address",
					  q.ip);
		if (family != 0 && family != a.family)
			return hx_err_set(err, -EINVAL,
					  "ip: %s is not an IPv%d address",
					  q.ip, family);
		family = a.family;
		hx_addr_format(&a, text, sizeof(text));
	}
	if (family == 0)
		family = 4;
	if ((r = req_pools(tx, &q, family, &pools, &n, err)) < 0)
		return r;
	r = mac[0] != '\0' ? mac_holds(tx, mac, pools, n, &held, err) : 0;
	if (r > 0 && q.ip != NULL && strcmp(held.ip, text) != 0) {
		r = hx_err_set(err, -EEXIST,
			       "mac: %s already holds %s in vnet '%s'", mac,
			       held.ip, q.vnet);
	} else if (r > 0 && held.vmid != 0 && q.vmid != 0 &&
		   held.vmid != q.vmid) {
		r = hx_err_set(err, -EEXIST,
			       "mac: %s holds %s for VM %" PRId64, mac, held.ip,
			       held.vmid);
	} else if (r > 0) {
		*ret = held;
		*ret_created = false;
		r = 0;
	} else if (r == 0) {
		r = q.ip != NULL ? alloc_static(tx, &q, &a, pools, n, ret, err)
				 : alloc_auto(tx, &q, pools, n, ret, err);
		*ret_created = r == 0;
		if (r == 0)
			r = db_net_bump(tx, err);
	}
	free(pools);
	return r;
}

struct alloc_req {
	const struct statedb_ip_req *q;
	struct statedb_ip ip;
	bool created;
};

static int ip_allocate_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct alloc_req *q = data;

	return ip_allocate_tx(tx, q->q, &q->ip, &q->created, err);
}

int statedb_ip_allocate(struct statedb *db, const struct statedb_ip_req *q,
			struct statedb_ip *ret, bool *ret_created,
			struct hx_err *err)
{
	struct alloc_req a = {.q = q};
	int r = db_write(db, ip_allocate_fn, &a, err);

	if (r < 0)
		return r;
	*ret = a.ip;
	if (ret_created != NULL)
		*ret_created = a.created;
	return 0;
}

static int ip_release_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const char *ip = data;
	struct wire_value p[] = {db_text(ip)};
	struct wire_rows *rows;
	struct statedb_ip cur;
	int r;

	r = db_query(tx, "SELECT " IP_COLS " FROM net_ips WHERE ip = ?", p, 1,
		     &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOENT, "no allocation of %s", ip);
	}
	ip_from_row(rows, 0, &cur);
	wire_rows_free(rows);
	if (strcmp(cur.kind, "gateway") == 0)
		return hx_err_set(err, -EBUSY,
				  "%s is the gateway of subnet %s: it goes "
				  "with the subnet",
				  ip, cur.subnet);
	if (cur.vmid != 0)
		return hx_err_set(err, -EBUSY,
				  "%s belongs to a NIC of VM %" PRId64
				  ": change or delete the VM",
				  ip, cur.vmid);
	r = db_exec(tx, "DELETE FROM net_ips WHERE ip = ?", p, 1, NULL, NULL,
		    err);
	return r < 0 ? r : db_net_bump(tx, err);
}

int statedb_ip_release(struct statedb *db, const char *ip, struct hx_err *err)
{
	struct hx_addr a;
	char canon[HX_ADDR_STRLEN];

	if (hx_addr_parse(ip, &a) < 0)
		return hx_err_set(err, -ENOENT, "no allocation of '%s'", ip);
	hx_addr_format(&a, canon, sizeof(canon));
	return db_write(db, ip_release_fn, canon, err);
}

int statedb_ip_list(struct statedb *db, const char *vnet, int64_t vmid,
		    struct statedb_ip **ret, unsigned *ret_n,
		    struct hx_err *err)
{
	struct wire_value p[] = {db_text(vnet != NULL ? vnet : ""),
				 db_int(vmid)};

	/* idx orders addresses numerically inside a subnet */
	return db_list(db,
		       "SELECT " IP_COLS " FROM net_ips WHERE (?1 = '' OR vnet "
		       "= ?1) AND (?2 = 0 OR vmid = ?2) ORDER BY vnet, family, "
		       "subnet, idx IS NULL, idx, ip",
		       p, 2, sizeof(**ret), ip_from_row, (void **)ret, ret_n,
		       err);
}

/* ---- VM NICs ---- */

static const struct statedb_nic_net *net_of(const struct statedb_nic_net *nets,
					    unsigned n, const char *mac)
{
	for (unsigned i = 0; i < n; i++)
		if (strcasecmp(nets[i].mac, mac) == 0)
			return &nets[i];
	return NULL;
}

/* Whether the allocation @ip still matches what @net asks for. */
static bool ip_wanted(const struct statedb_ip *ip,
		      const struct statedb_nic_net *net)
{
	const char *want;
	struct hx_addr a;
	char canon[HX_ADDR_STRLEN];

	if (net == NULL || strcmp(net->vnet, ip->vnet) != 0)
		return false;
	want = ip->family == 4 ? net->ip4 : net->ip6;
	if (want == NULL || strcmp(want, "auto") == 0)
		return true;
	if (strcmp(want, "none") == 0 || hx_addr_parse(want, &a) < 0)
		return false;
	hx_addr_format(&a, canon, sizeof(canon));
	return strcmp(canon, ip->ip) == 0;
}

static int vm_release_unwanted(struct db_tx *tx, int64_t vmid,
			       const struct statedb_nic_net *nets, unsigned n,
			       struct hx_err *err)
{
	struct wire_value p[] = {db_int(vmid)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " IP_COLS " FROM net_ips WHERE vmid = ?", p,
		     1, &rows, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < rows->nrows && r == 0; i++) {
		struct statedb_ip ip;

		ip_from_row(rows, i, &ip);
		if (ip_wanted(&ip, net_of(nets, n, ip.mac)))
			continue;
		struct wire_value d[] = {db_text(ip.ip)};
		r = db_exec(tx, "DELETE FROM net_ips WHERE ip = ?", d, 1, NULL,
			    NULL, err);
	}
	wire_rows_free(rows);
	return r;
}

/* The subnets of @vnet in @family (0 if none). */
static int vnet_has_family(struct db_tx *tx, const char *vnet, int family,
			   int64_t *ret, struct hx_err *err)
{
	struct wire_value p[] = {db_text(vnet), db_int(family)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT count(*) FROM net_subnets WHERE vnet = ? AND "
		     "family = ?",
		     p, 2, &rows, err);
	if (r < 0)
		return r;
	*ret = rows->nrows > 0 ? db_row_int(rows, 0, 0) : 0;
	wire_rows_free(rows);
	return 0;
}

static int vm_allocate_one(struct db_tx *tx, int64_t vmid,
			   const char *hostname,
			   const struct statedb_nic_net *net, int family,
			   struct hx_err *err)
{
	const char *want = family == 4 ? net->ip4 : net->ip6;
	struct statedb_ip_req q = {.vnet = net->vnet, .family = family,
				   .mac = net->mac, .hostname = hostname,
				   .vmid = vmid};
	struct statedb_ip ip;
	bool created;
	int64_t k;
	int r;

	if (want == NULL)
		want = "auto";
	if (strcmp(want, "none") == 0)
		return 0;
	if (strcmp(want, "auto") == 0) {
		if ((r = vnet_has_family(tx, net->vnet, family, &k, err)) < 0)
			return r;
		if (k == 0)
			return 0;
	} else {
		q.ip = want;
	}
	r = ip_allocate_tx(tx, &q, &ip, &created, err);
	if (r < 0)
		return hx_err_prefix(err, "NIC %s", net->mac);
	if (created || ip.vmid == vmid)
		return 0;
	/* A reservation made for this MAC: the VM claims it. */
	struct wire_value p[] = {db_int(vmid), db_text(ip.ip)};
	return db_exec(tx, "UPDATE net_ips SET vmid = ? WHERE ip = ?", p, 2,
		       NULL, NULL, err);
}

int db_ip_vm_sync(struct db_tx *tx, int64_t vmid, const char *hostname,
		  const struct statedb_nic_net *nets, unsigned n,
		  struct hx_err *err)
{
	struct wire_value p[] = {db_text(hostname), db_int(vmid)};
	int r;

	for (unsigned i = 0; i < n; i++) {
		int64_t k;

		r = db_count(tx, "SELECT count(*) FROM net_vnets WHERE name = ?",
			     nets[i].vnet, &k, err);
		if (r < 0)
			return r;
		if (k == 0)
			return hx_err_set(err, -EINVAL,
					  "NIC %s: no vnet '%s'", nets[i].mac,
					  nets[i].vnet);
	}
	if ((r = vm_release_unwanted(tx, vmid, nets, n, err)) < 0)
		return r;
	for (unsigned i = 0; i < n; i++)
		for (int family = 4; family <= 6; family += 2)
			if ((r = vm_allocate_one(tx, vmid, hostname, &nets[i],
						 family, err)) < 0)
				return r;
	r = db_exec(tx, "UPDATE net_ips SET hostname = ? WHERE vmid = ?", p, 2,
		    NULL, NULL, err);
	return r < 0 ? r : db_net_bump(tx, err);
}

int db_net_vm_forget(struct db_tx *tx, int64_t vmid, struct hx_err *err)
{
	static const char *const sql[] = {
		"DELETE FROM net_ips WHERE vmid = ?1",
		"DELETE FROM net_fw_rules WHERE scope = 'vm/' || ?1",
		"DELETE FROM net_fw_options WHERE scope = 'vm/' || ?1",
	};
	struct wire_value p[] = {db_int(vmid)};
	int r = 0;

	for (size_t i = 0; i < HX_ARRAY_SIZE(sql) && r == 0; i++)
		r = db_exec(tx, sql[i], p, 1, NULL, NULL, err);
	return r < 0 ? r : db_net_bump(tx, err);
}
