/* Unit tests for statedb's zones, vnets, subnets and IPAM against a real
 * dqlite node. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dqlite.h>

#include "lib/lib.h"
#include "statedb/statedb.h"
#include "tests/unit/statedb/dqfix.h"

/* Two handles on one node stand for two nodes: their writers meet on the
 * leader exactly as two hxds' writers do. */
struct fixture {
	struct statedb *db[2];
	struct dqfix dq;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (dqfix_setup(&f.dq, "ipam", 2, NULL) < 0)
		return -1;
	f.db[0] = f.dq.db[0];
	f.db[1] = f.dq.db[1];
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dqfix_teardown(&f->dq);
	return 0;
}

#define OK(call)                                                         \
	do {                                                             \
		struct hx_err e_ = {0};                                  \
		int r_ = (call);                                         \
		if (r_ < 0)                                              \
			fail_msg("%s: %d %s", #call, r_, e_.msg);        \
	} while (0)

/* The call fails with @code and a message containing @what. */
#define FAILS(code, what, call)                                           \
	do {                                                              \
		struct hx_err e_ = {0};                                   \
		int r_ = (call);                                          \
		if (r_ != (code) || strstr(e_.msg, (what)) == NULL)       \
			fail_msg("%s: got %d '%s', want %d '%s'", #call, \
				 r_, e_.msg, (code), (what));             \
	} while (0)

static void zone(struct statedb *db, const char *name, const char *type)
{
	struct statedb_zone z = {0};

	snprintf(z.name, sizeof(z.name), "%s", name);
	snprintf(z.type, sizeof(z.type), "%s", type);
	OK(statedb_zone_create(db, &z, &e_));
}

static void vnet(struct statedb *db, const char *name, const char *zn,
		 int64_t vni)
{
	struct statedb_vnet v = {.vni = vni};

	snprintf(v.name, sizeof(v.name), "%s", name);
	snprintf(v.zone, sizeof(v.zone), "%s", zn);
	OK(statedb_vnet_create(db, &v, &e_));
}

static struct statedb_subnet subnet_of(const char *vn, const char *cidr,
				       const char *gw, const char *lo,
				       const char *hi)
{
	struct statedb_subnet s = {0};

	snprintf(s.vnet, sizeof(s.vnet), "%s", vn);
	snprintf(s.cidr, sizeof(s.cidr), "%s", cidr);
	snprintf(s.gateway, sizeof(s.gateway), "%s", gw);
	snprintf(s.dhcp_start, sizeof(s.dhcp_start), "%s", lo);
	snprintf(s.dhcp_end, sizeof(s.dhcp_end), "%s", hi);
	return s;
}

static unsigned count_ips(struct statedb *db, const char *vn)
{
	struct statedb_ip *ips;
	unsigned n;

	OK(statedb_ip_list(db, vn, 0, &ips, &n, &e_));
	free(ips);
	return n;
}

static void test_zones_vnets(void **state)
{
	struct fixture *f = *state;
	struct statedb_zone z = {0}, *zs;
	struct statedb_vnet v = {0}, got;
	unsigned n;

	zone(f->db[0], "lan", "simple");
	zone(f->db[0], "ovl", "vxlan");
	OK(statedb_zone_get(f->db[1], "ovl", &z, &e_));
	assert_int_equal(z.mtu, 1450);
	snprintf(z.name, sizeof(z.name), "Bad");
	snprintf(z.type, sizeof(z.type), "vxlan");
	FAILS(-EINVAL, "not a zone name", statedb_zone_create(f->db[0], &z, &e_));
	snprintf(z.name, sizeof(z.name), "toolongxx");
	FAILS(-EINVAL, "not a zone name", statedb_zone_create(f->db[0], &z, &e_));
	snprintf(z.name, sizeof(z.name), "z2");
	snprintf(z.type, sizeof(z.type), "vlan");
	FAILS(-EINVAL, "unknown zone type", statedb_zone_create(f->db[0], &z, &e_));
	snprintf(z.type, sizeof(z.type), "simple");
	z.mtu = 100;
	FAILS(-EINVAL, "mtu", statedb_zone_create(f->db[0], &z, &e_));
	snprintf(z.name, sizeof(z.name), "lan");
	z.mtu = 0;
	FAILS(-EEXIST, "already exists", statedb_zone_create(f->db[0], &z, &e_));
	OK(statedb_zone_list(f->db[0], &zs, &n, &e_));
	assert_int_equal(n, 2);
	free(zs);

	vnet(f->db[0], "v1", "ovl", 100);
	snprintf(v.name, sizeof(v.name), "v2");
	snprintf(v.zone, sizeof(v.zone), "ovl");
	v.vni = 0;
	FAILS(-EINVAL, "out of range", statedb_vnet_create(f->db[0], &v, &e_));
	v.vni = STATEDB_VNI_MAX + 1;
	FAILS(-EINVAL, "out of range", statedb_vnet_create(f->db[0], &v, &e_));
	v.vni = 100;
	FAILS(-EEXIST, "already used by vnet 'v1'",
	      statedb_vnet_create(f->db[1], &v, &e_));
	snprintf(v.zone, sizeof(v.zone), "nozone");
	v.vni = 5;
	FAILS(-EINVAL, "no zone 'nozone'", statedb_vnet_create(f->db[0], &v, &e_));
	snprintf(v.zone, sizeof(v.zone), "lan");
	FAILS(-EINVAL, "have no VNI", statedb_vnet_create(f->db[0], &v, &e_));
	v.vni = 0;
	OK(statedb_vnet_create(f->db[0], &v, &e_));
	v.vni = STATEDB_VNI_MAX;
	snprintf(v.name, sizeof(v.name), "v3");
	snprintf(v.zone, sizeof(v.zone), "ovl");
	OK(statedb_vnet_create(f->db[0], &v, &e_));
	OK(statedb_vnet_get(f->db[1], "v3", &got, &e_));
	assert_int_equal(got.vni, STATEDB_VNI_MAX);
	assert_string_equal(got.zone_type, "vxlan");
	FAILS(-EBUSY, "still has 2 vnet", statedb_zone_delete(f->db[0], "ovl", &e_));
	OK(statedb_vnet_delete(f->db[0], "v3", &e_));
	FAILS(-ENOENT, "no vnet", statedb_vnet_delete(f->db[0], "v3", &e_));
}

static void test_subnets(void **state)
{
	struct fixture *f = *state;
	struct statedb_subnet s, got, *all;
	char fp1[33], fp2[33];
	unsigned n;

	zone(f->db[0], "lan", "simple");
	vnet(f->db[0], "a", "lan", 0);
	vnet(f->db[0], "b", "lan", 0);
	OK(statedb_net_fingerprint(f->db[0], fp1, &e_));
	s = subnet_of("a", "10.1.0.0/24", "10.1.0.1", "", "");
	snprintf(s.dns, sizeof(s.dns), "10.1.0.1, 9.9.9.9");
	OK(statedb_subnet_create(f->db[0], &s, &e_));
	OK(statedb_net_fingerprint(f->db[1], fp2, &e_));
	assert_string_not_equal(fp1, fp2);
	OK(statedb_subnet_get(f->db[1], "10.1.0.0/24", &got, &e_));
	assert_string_equal(got.dns, "10.1.0.1 9.9.9.9");
	assert_int_equal(got.family, 4);

	s = subnet_of("b", "10.1.0.0/16", "", "", "");
	FAILS(-EEXIST, "overlaps subnet 10.1.0.0/24 of vnet 'a'",
	      statedb_subnet_create(f->db[0], &s, &e_));
	s = subnet_of("b", "10.1.0.128/25", "", "", "");
	FAILS(-EEXIST, "overlaps", statedb_subnet_create(f->db[1], &s, &e_));
	s = subnet_of("b", "10.1.0.0/33", "", "", "");
	FAILS(-EINVAL, "not a network in CIDR",
	      statedb_subnet_create(f->db[0], &s, &e_));
	s = subnet_of("b", "10.2.0.5/24", "", "", "");
	FAILS(-EINVAL, "host bits zero", statedb_subnet_create(f->db[0], &s, &e_));
	s = subnet_of("b", "banana", "", "", "");
	FAILS(-EINVAL, "not a network", statedb_subnet_create(f->db[0], &s, &e_));
	s = subnet_of("b", "10.2.0.0/24", "10.3.0.1", "", "");
	FAILS(-EINVAL, "not inside", statedb_subnet_create(f->db[0], &s, &e_));
	s = subnet_of("b", "10.2.0.0/24", "", "10.2.0.50", "");
	FAILS(-EINVAL, "both", statedb_subnet_create(f->db[0], &s, &e_));
	s = subnet_of("b", "10.2.0.0/24", "", "10.2.0.50", "10.2.0.10");
	FAILS(-EINVAL, "not a range", statedb_subnet_create(f->db[0], &s, &e_));
	s = subnet_of("b", "10.2.0.0/24", "", "10.2.0.50", "10.2.0.255");
	FAILS(-EINVAL, "not a range", statedb_subnet_create(f->db[0], &s, &e_));
	s = subnet_of("nope", "10.2.0.0/24", "", "", "");
	FAILS(-EINVAL, "no vnet 'nope'", statedb_subnet_create(f->db[0], &s, &e_));
	/* nothing of the above was stored */
	OK(statedb_subnet_list(f->db[0], NULL, &all, &n, &e_));
	assert_int_equal(n, 1);
	free(all);
	assert_int_equal(count_ips(f->db[0], NULL), 1); /* the gateway */

	s = subnet_of("b", "FD00:1:0::/64", "fd00:1::1", "", "");
	OK(statedb_subnet_create(f->db[0], &s, &e_));
	OK(statedb_subnet_get(f->db[0], "fd00:1::/64", &got, &e_));
	assert_int_equal(got.family, 6);
	s = subnet_of("a", "fd00::/16", "", "", "");
	FAILS(-EEXIST, "overlaps", statedb_subnet_create(f->db[0], &s, &e_));
	FAILS(-EBUSY, "still has 1 subnet",
	      statedb_vnet_delete(f->db[0], "a", &e_));
	OK(statedb_subnet_delete(f->db[0], "10.1.0.0/24", &e_));
	assert_int_equal(count_ips(f->db[0], "a"), 0);
}

static void alloc(struct statedb *db, const char *vn, const char *ip,
		  const char *mac, const char *want)
{
	struct statedb_ip_req q = {.vnet = vn, .ip = ip, .mac = mac};
	struct statedb_ip got;

	OK(statedb_ip_allocate(db, &q, &got, NULL, &e_));
	assert_string_equal(got.ip, want);
}

static void test_allocate(void **state)
{
	struct fixture *f = *state;
	struct statedb_subnet s;
	struct statedb_ip_req q = {.vnet = "a"};
	struct statedb_ip got;
	bool created;

	zone(f->db[0], "lan", "simple");
	vnet(f->db[0], "a", "lan", 0);
	s = subnet_of("a", "10.5.0.0/29", "10.5.0.1", "", "");
	OK(statedb_subnet_create(f->db[0], &s, &e_));
	/* .0 network, .1 gateway, .7 broadcast: .2 to .6 */
	alloc(f->db[0], "a", NULL, NULL, "10.5.0.2");
	alloc(f->db[1], "a", "10.5.0.4", NULL, "10.5.0.4");
	alloc(f->db[0], "a", NULL, "52:54:00:00:00:01", "10.5.0.3");
	FAILS(-EEXIST, "already allocated",
	      statedb_ip_allocate(f->db[1], &(struct statedb_ip_req){.vnet = "a", .ip = "10.5.0.4"}, &got, NULL, &e_));
	FAILS(-EEXIST, "gateway",
	      statedb_ip_allocate(f->db[1], &(struct statedb_ip_req){.vnet = "a", .ip = "10.5.0.1"}, &got, NULL, &e_));
	FAILS(-EINVAL, "broadcast",
	      statedb_ip_allocate(f->db[1], &(struct statedb_ip_req){.vnet = "a", .ip = "10.5.0.7"}, &got, NULL, &e_));
	FAILS(-EINVAL, "not inside",
	      statedb_ip_allocate(f->db[1], &(struct statedb_ip_req){.vnet = "a", .ip = "10.6.0.7"}, &got, NULL, &e_));
	FAILS(-EINVAL, "no IPv6 subnet",
	      statedb_ip_allocate(f->db[1], &(struct statedb_ip_req){.vnet = "a", .family = 6}, &got, NULL, &e_));
	FAILS(-EINVAL, "no vnet",
	      statedb_ip_allocate(f->db[1], &(struct statedb_ip_req){.vnet = "zz"}, &got, NULL, &e_));
	FAILS(-EINVAL, "unicast MAC",
	      statedb_ip_allocate(f->db[1], &(struct statedb_ip_req){.vnet = "a", .mac = "01:00:5e:00:00:01"}, &got, NULL, &e_));
	/* the same MAC again: the same address, nothing new */
	q.mac = "52:54:00:00:00:01";
	OK(statedb_ip_allocate(f->db[1], &q, &got, &created, &e_));
	assert_string_equal(got.ip, "10.5.0.3");
	assert_false(created);
	q.ip = "10.5.0.6";
	FAILS(-EEXIST, "already holds 10.5.0.3",
	      statedb_ip_allocate(f->db[1], &q, &got, NULL, &e_));
	alloc(f->db[0], "a", NULL, NULL, "10.5.0.5");
	alloc(f->db[0], "a", NULL, NULL, "10.5.0.6");
	FAILS(-ENOSPC, "no free address",
	      statedb_ip_allocate(f->db[1], &(struct statedb_ip_req){.vnet = "a"}, &got, NULL, &e_));
	/* the lowest address released is the next one handed out */
	OK(statedb_ip_release(f->db[0], "10.5.0.3", &e_));
	FAILS(-ENOENT, "no allocation", statedb_ip_release(f->db[0], "10.5.0.3", &e_));
	FAILS(-EBUSY, "gateway", statedb_ip_release(f->db[0], "10.5.0.1", &e_));
	alloc(f->db[1], "a", NULL, NULL, "10.5.0.3");
	FAILS(-EBUSY, "still has allocated",
	      statedb_subnet_delete(f->db[0], "10.5.0.0/29", &e_));

	/* a DHCP range bounds automatic allocation, not static ones */
	vnet(f->db[0], "b", "lan", 0);
	s = subnet_of("b", "10.6.0.0/24", "", "10.6.0.100", "10.6.0.101");
	OK(statedb_subnet_create(f->db[0], &s, &e_));
	alloc(f->db[0], "b", NULL, NULL, "10.6.0.100");
	alloc(f->db[0], "b", "10.6.0.9", NULL, "10.6.0.9");
	alloc(f->db[0], "b", NULL, NULL, "10.6.0.101");
	FAILS(-ENOSPC, "no free address",
	      statedb_ip_allocate(f->db[1], &(struct statedb_ip_req){.vnet = "b"}, &got, NULL, &e_));

	/* IPv6 */
	s = subnet_of("b", "fd00:6::/64", "fd00:6::1", "", "");
	OK(statedb_subnet_create(f->db[0], &s, &e_));
	q = (struct statedb_ip_req){.vnet = "b", .family = 6};
	OK(statedb_ip_allocate(f->db[0], &q, &got, NULL, &e_));
	assert_string_equal(got.ip, "fd00:6::2");
	alloc(f->db[0], "b", "fd00:6::8000:0:0:1", NULL, "fd00:6::8000:0:0:1");
	alloc(f->db[0], "b", "FD00:6::3", NULL, "fd00:6::3");
	OK(statedb_ip_allocate(f->db[0], &q, &got, NULL, &e_));
	assert_string_equal(got.ip, "fd00:6::4");
}

#define THREADS 8
#define PER_THREAD 25

struct worker {
	struct statedb *db;
	int index;
	char ips[PER_THREAD][48];
	int failures;
	struct hx_err err;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		struct statedb_ip_req q = {.vnet = "c"};
		struct statedb_ip got;
		struct hx_err err = {0};

		if (statedb_ip_allocate(w->db, &q, &got, NULL, &err) < 0) {
			w->failures++;
			w->err = err;
			continue;
		}
		snprintf(w->ips[i], sizeof(w->ips[i]), "%s", got.ip);
	}
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Concurrent allocations through two handles (two nodes' writers):
 * every one succeeds and no address is handed out twice. */
static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	static struct worker w[THREADS];
	static char all[THREADS * PER_THREAD][48];
	pthread_t t[THREADS];
	struct statedb_subnet s;
	unsigned n = 0;

	zone(f->db[0], "lan", "simple");
	vnet(f->db[0], "c", "lan", 0);
	s = subnet_of("c", "10.9.0.0/24", "10.9.0.1", "", "");
	OK(statedb_subnet_create(f->db[0], &s, &e_));
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].db = f->db[i % 2];
		w[i].index = i;
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
				 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failures > 0)
			fprintf(stderr, "worker %d: %d failed, last: %s\n", i,
				w[i].failures, w[i].err.msg);
		assert_int_equal(w[i].failures, 0);
		for (int k = 0; k < PER_THREAD; k++)
			memcpy(all[n++], w[i].ips[k], 48);
	}
	qsort(all, n, 48, cmp_str);
	for (unsigned i = 1; i < n; i++)
		if (strcmp(all[i - 1], all[i]) == 0)
			fail_msg("%s handed out twice", all[i]);
	assert_int_equal(count_ips(f->db[1], "c"), THREADS * PER_THREAD + 1);
}

static void test_vm_nics(void **state)
{
	struct fixture *f = *state;
	struct statedb_subnet s;
	struct statedb_nic_net nets[2] = {
		{.mac = "52:54:00:00:01:01", .vnet = "a"},
		{.mac = "52:54:00:00:01:02", .vnet = "a", .ip4 = "10.7.0.50",
		 .ip6 = "none"},
	};
	const char *macs[] = {nets[0].mac, nets[1].mac};
	struct statedb_vm_spec spec = {.name = "web", .cpus = 1,
				       .memory_mb = 128, .tags = "",
				       .config = "{}", .macs = macs, .nmacs = 2,
				       .nets = nets, .nnets = 2};
	struct statedb_ip *ips;
	unsigned n;

	zone(f->db[0], "lan", "simple");
	vnet(f->db[0], "a", "lan", 0);
	s = subnet_of("a", "10.7.0.0/24", "10.7.0.1", "", "");
	OK(statedb_subnet_create(f->db[0], &s, &e_));
	s = subnet_of("a", "fd00:7::/64", "", "", "");
	OK(statedb_subnet_create(f->db[0], &s, &e_));
	/* a reservation for the first NIC's MAC, made before the VM */
	alloc(f->db[0], "a", "10.7.0.20", "52:54:00:00:01:01", "10.7.0.20");
	OK(statedb_vm_create(f->db[0], 100, "n1", &spec, "stopped", &e_));
	OK(statedb_ip_list(f->db[1], NULL, 100, &ips, &n, &e_));
	assert_int_equal(n, 3);
	assert_string_equal(ips[0].ip, "10.7.0.20");
	assert_string_equal(ips[0].hostname, "web");
	assert_string_equal(ips[1].ip, "10.7.0.50");
	assert_string_equal(ips[1].kind, "static");
	assert_string_equal(ips[2].ip, "fd00:7::1");
	assert_string_equal(ips[2].mac, "52:54:00:00:01:01");
	free(ips);
	FAILS(-EBUSY, "belongs to a NIC of VM 100",
	      statedb_ip_release(f->db[0], "10.7.0.50", &e_));
	/* a vnet named by a VM's configuration stays */
	vnet(f->db[0], "e", "lan", 0);
	struct statedb_vm_spec spec3 = {.name = "cfg", .tags = "",
					.config = "{\"nics\":[{\"vnet\":\"e\"}]}"};
	OK(statedb_vm_create(f->db[0], 102, "n1", &spec3, "stopped", &e_));
	FAILS(-EBUSY, "used by a NIC of VM 102",
	      statedb_vnet_delete(f->db[0], "e", &e_));
	OK(statedb_vm_delete(f->db[0], 102, &e_));
	OK(statedb_vnet_delete(f->db[0], "e", &e_));

	/* A second VM asking for a taken static address: nothing stored. */
	struct statedb_nic_net taken = {.mac = "52:54:00:00:02:01",
					.vnet = "a", .ip4 = "10.7.0.50"};
	const char *macs2[] = {taken.mac};
	struct statedb_vm_spec spec2 = spec;
	spec2.name = "db";
	spec2.macs = macs2;
	spec2.nmacs = 1;
	spec2.nets = &taken;
	spec2.nnets = 1;
	FAILS(-EEXIST, "10.7.0.50 is already allocated to VM 100",
	      statedb_vm_create(f->db[1], 101, "n1", &spec2, "stopped", &e_));
	struct statedb_vm vm;
	FAILS(-ENOENT, "no VM", statedb_vm_get(f->db[0], "101", &vm, &e_));
	taken.vnet = "nope";
	FAILS(-EINVAL, "no vnet 'nope'",
	      statedb_vm_create(f->db[1], 101, "n1", &spec2, "stopped", &e_));

	/* The second NIC goes away, the first changes to a static address. */
	OK(statedb_vm_lock(f->db[0], 100, "", "create", &e_));
	nets[0].ip4 = "10.7.0.30";
	spec.nmacs = 1;
	spec.nnets = 1;
	OK(statedb_vm_update(f->db[1], 100, &spec, NULL, &e_));
	OK(statedb_ip_list(f->db[1], NULL, 100, &ips, &n, &e_));
	assert_int_equal(n, 2);
	assert_string_equal(ips[0].ip, "10.7.0.30");
	assert_string_equal(ips[1].ip, "fd00:7::1");
	free(ips);
	OK(statedb_vm_delete(f->db[0], 100, &e_));
	OK(statedb_ip_list(f->db[1], NULL, 0, &ips, &n, &e_));
	assert_int_equal(n, 1); /* the gateway */
	free(ips);
	FAILS(-EBUSY, "still has 2 subnet",
	      statedb_vnet_delete(f->db[0], "a", &e_));
}

static struct statedb_fw_rule fw_rule(const char *scope, const char *comment,
				      int64_t pos)
{
	struct statedb_fw_rule r = {.enabled = true, .pos = pos};

	snprintf(r.scope, sizeof(r.scope), "%s", scope);
	snprintf(r.direction, sizeof(r.direction), "in");
	snprintf(r.action, sizeof(r.action), "accept");
	snprintf(r.comment, sizeof(r.comment), "%s", comment);
	return r;
}

/* The comments of @scope's rules in order, joined. */
static void order(struct statedb *db, const char *scope, char *buf,
		  size_t len)
{
	struct statedb_fw_rule *rs;
	unsigned n;
	size_t off = 0;

	OK(statedb_fw_rule_list(db, scope, &rs, &n, &e_));
	buf[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(rs[i].pos, i);
		off += (size_t)snprintf(buf + off, len - off, "%s", rs[i].comment);
	}
	free(rs);
}

static void test_firewall(void **state)
{
	struct fixture *f = *state;
	struct statedb_fw_rule r;
	struct statedb_fw_options o;
	struct statedb_fw_group g = {.name = "web"};
	struct statedb_fw_ipset set = {.name = "admins",
				       .entries = "10.0.0.0/8"};
	int64_t id_a, id_b, id_c;
	char buf[64];

	OK(statedb_fw_options_get(f->db[0], "vm/100", &o, &e_));
	assert_false(o.enabled);
	assert_string_equal(o.policy_in, "drop");
	snprintf(o.scope, sizeof(o.scope), "vm/100");
	FAILS(-EINVAL, "no VM '100'", statedb_fw_options_set(f->db[0], &o, &e_));
	snprintf(o.scope, sizeof(o.scope), "cluster");
	snprintf(o.policy_in, sizeof(o.policy_in), "maybe");
	FAILS(-EINVAL, "policy_in", statedb_fw_options_set(f->db[0], &o, &e_));
	snprintf(o.policy_in, sizeof(o.policy_in), "drop");
	o.enabled = true;
	OK(statedb_fw_options_set(f->db[0], &o, &e_));
	OK(statedb_fw_options_get(f->db[1], "cluster", &o, &e_));
	assert_true(o.enabled);

	/* positions: append, insert in front, move, delete */
	r = fw_rule("cluster", "a", -1);
	OK(statedb_fw_rule_add(f->db[0], &r, &id_a, &e_));
	r = fw_rule("cluster", "b", -1);
	OK(statedb_fw_rule_add(f->db[1], &r, &id_b, &e_));
	r = fw_rule("cluster", "c", 0);
	OK(statedb_fw_rule_add(f->db[0], &r, &id_c, &e_));
	order(f->db[0], "cluster", buf, sizeof(buf));
	assert_string_equal(buf, "cab");
	r = fw_rule("cluster", "c", 2);
	OK(statedb_fw_rule_update(f->db[0], id_c, &r, &e_));
	order(f->db[0], "cluster", buf, sizeof(buf));
	assert_string_equal(buf, "abc");
	OK(statedb_fw_rule_delete(f->db[0], id_a, &e_));
	order(f->db[0], "cluster", buf, sizeof(buf));
	assert_string_equal(buf, "bc");
	FAILS(-ENOENT, "no firewall rule", statedb_fw_rule_delete(f->db[0], id_a, &e_));

	/* references must exist, and what is referred to stays */
	r = fw_rule("vm/100", "x", -1);
	FAILS(-EINVAL, "no VM '100'", statedb_fw_rule_add(f->db[0], &r, NULL, &e_));
	r = fw_rule("node/n1", "x", -1);
	snprintf(r.action, sizeof(r.action), "group");
	snprintf(r.group, sizeof(r.group), "web");
	FAILS(-EINVAL, "no security group 'web'",
	      statedb_fw_rule_add(f->db[0], &r, NULL, &e_));
	OK(statedb_fw_group_create(f->db[0], &g, &e_));
	FAILS(-EEXIST, "already exists", statedb_fw_group_create(f->db[1], &g, &e_));
	OK(statedb_fw_rule_add(f->db[0], &r, NULL, &e_));
	FAILS(-EBUSY, "used by a rule of node/n1",
	      statedb_fw_group_delete(f->db[0], "web", &e_));
	r = fw_rule("group/web", "in-group", -1);
	snprintf(r.src, sizeof(r.src), "10.1.0.0/16,@admins");
	FAILS(-EINVAL, "no IP set 'admins'",
	      statedb_fw_rule_add(f->db[0], &r, NULL, &e_));
	OK(statedb_fw_ipset_put(f->db[0], &set, &e_));
	OK(statedb_fw_rule_add(f->db[0], &r, NULL, &e_));
	snprintf(r.dst, sizeof(r.dst), "@vnet:nope");
	FAILS(-EINVAL, "no vnet 'nope'", statedb_fw_rule_add(f->db[0], &r, NULL, &e_));
	FAILS(-EBUSY, "used by rule",
	      statedb_fw_ipset_delete(f->db[1], "admins", &e_));
	snprintf(set.name, sizeof(set.name), "nodes");
	FAILS(-EINVAL, "not an IP set name", statedb_fw_ipset_put(f->db[0], &set, &e_));
	r = fw_rule("group/web", "nested", -1);
	snprintf(r.action, sizeof(r.action), "group");
	snprintf(r.group, sizeof(r.group), "web");
	FAILS(-EINVAL, "cannot refer to another group",
	      statedb_fw_rule_add(f->db[0], &r, NULL, &e_));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_zones_vnets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_subnets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vm_nics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_firewall, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("statedb ipam", tests, NULL, NULL) ==
			       0
		       ? 0
		       : 1;
}
