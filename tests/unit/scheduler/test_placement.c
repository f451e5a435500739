/* Unit tests: placement filters, scores, explanations, and properties. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler/internal.h"

/* ---- fixtures ---- */

static void nodes(struct sched_state *st, int n, double cpu, uint64_t mem)
{
	char name[16];
	int i;

	scheduler_state_init(st);
	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "node%d", i);
		assert_int_equal(scheduler_state_add_node(st, name, cpu, mem, NULL),
				 0);
		st->nodes[i - 1].st.state = SCHED_NODE_ONLINE;
	}
}

/* Adds a service running (started) on @node ("" = unplaced). */
static void svc(struct sched_state *st, const char *sid, const char *node)
{
	struct sched_service c;
	uint32_t n = node[0] ? scheduler_state_find_node(st, node) : SCHED_NONE;
	uint32_t i;

	scheduler_service_defaults(&c);
	snprintf(c.sid, sizeof(c.sid), "%s", sid);
	assert_int_equal(scheduler_state_add_service(st, &c, n, &i), 0);
	st->svcs[i].st.state = n == SCHED_NONE ? SCHED_SVC_REQUEST_START
					       : SCHED_SVC_STARTED;
}

static void rule(struct sched_rules *rs, const char *id,
		 enum sched_rule_kind kind, bool strict, bool positive,
		 const char *sids, const char *nodes_prio)
{
	char sidv[16][SCHED_NAME_MAX], buf[256], *t, *save = NULL;
	struct sched_node_prio np[16];
	struct sched_rule r;
	uint32_t n = 0, m = 0;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.kind = kind;
	r.strict = strict;
	r.positive = positive;
	snprintf(buf, sizeof(buf), "%s", sids);
	for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		snprintf(sidv[n++], SCHED_NAME_MAX, "%s", t);
	if (nodes_prio != NULL) {
		snprintf(buf, sizeof(buf), "%s", nodes_prio);
		for (t = strtok_r(buf, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			char *c = strchr(t, ':');

			if (c)
				*c = '\0';
			snprintf(np[m].node, SCHED_NAME_MAX, "%s", t);
			np[m++].priority = c ? atoi(c + 1) : 0;
		}
	}
	r.sids = (const char(*)[SCHED_NAME_MAX])sidv;
	r.n_sids = n;
	r.nodes = np;
	r.n_nodes = m;
	assert_int_equal(scheduler_rules_add(rs, &r), 0);
}

/* Places @sid with @pref and returns the chosen node's name ("-"). */
static const char *place(const struct sched_state *st,
			 const struct sched_rules *rs, const char *sid,
			 enum sched_pref pref, struct sched_explain *ex)
{
	static char name[SCHED_NAME_MAX];
	struct sched_placer *p;
	struct sched_explain tmp;
	uint32_t node;

	assert_int_equal(scheduler_placer_new(st, rs, NULL, &p), 0);
	assert_int_equal(scheduler_placer_place(p,
						scheduler_state_find_service(st,
									     sid),
						pref, &node, ex ? ex : &tmp),
			 0);
	scheduler_placer_free(p);
	snprintf(name, sizeof(name), "%s",
		 node == SCHED_NONE ? "-" : st->nodes[node].name);
	return name;
}

/* ---- basic and static scores ---- */

static void test_basic_fewest(void **state)
{
	struct sched_state st;

	(void)state;
	nodes(&st, 3, 0, 0);
	svc(&st, "vm:1", "node1");
	svc(&st, "vm:2", "node1");
	svc(&st, "vm:3", "node3");
	svc(&st, "vm:9", "");
	assert_string_equal(place(&st, NULL, "vm:9", SCHED_PREF_BEST, NULL),
			    "node2");
	svc(&st, "vm:4", "node2");
	/* node2 and node3 tie: first by name */
	assert_string_equal(place(&st, NULL, "vm:9", SCHED_PREF_BEST, NULL),
			    "node2");
	/* stopped services do not count */
	st.svcs[scheduler_state_find_service(&st, "vm:1")].st.state =
		SCHED_SVC_STOPPED;
	st.svcs[scheduler_state_find_service(&st, "vm:2")].st.state =
		SCHED_SVC_STOPPED;
	assert_string_equal(place(&st, NULL, "vm:9", SCHED_PREF_BEST, NULL),
			    "node1");
	/* offline nodes never */
	st.nodes[0].st.state = SCHED_NODE_UNKNOWN;
	assert_string_equal(place(&st, NULL, "vm:9", SCHED_PREF_BEST, NULL),
			    "node2");
	scheduler_state_close(&st);
}

static void test_static_spread(void **state)
{
	static const char *const want[] = {"node2", "node2", "node3",
					   "node2", "node2", "node3",
					   "node2", "node2", "node3"};
	struct sched_state st;
	struct sched_placer *p;
	char sid[16];
	uint32_t i, n;

	(void)state;
	scheduler_state_init(&st);
	st.crs = SCHED_CRS_STATIC;
	assert_int_equal(scheduler_state_add_node(&st, "node2", 64,
						  200000000000ull, NULL),
			 0);
	assert_int_equal(scheduler_state_add_node(&st, "node3", 32,
						  100000000000ull, NULL),
			 0);
	st.nodes[0].st.state = st.nodes[1].st.state = SCHED_NODE_ONLINE;
	for (i = 1; i <= 9; i++) {
		snprintf(sid, sizeof(sid), "vm:10%u", i);
		svc(&st, sid, "");
	}
	for (i = 0; i < 9; i++) {
		st.svcs[i].cpu = 2;
		st.svcs[i].mem = 4000000000ull;
	}
	assert_int_equal(scheduler_placer_new(&st, NULL, NULL, &p), 0);
	for (i = 0; i < 9; i++) {
		assert_int_equal(scheduler_placer_place(p, i, SCHED_PREF_BEST,
							&n, NULL),
				 0);
		assert_string_equal(st.nodes[n].name, want[i]);
		assert_int_equal(scheduler_placer_commit(p, i, n), 0);
	}
	scheduler_placer_free(p);
	scheduler_state_close(&st);
}

static void test_static_capacity(void **state)
{
	struct sched_state st;
	struct sched_explain ex;

	(void)state;
	nodes(&st, 2, 8, 8000);
	st.crs = SCHED_CRS_STATIC;
	svc(&st, "vm:1", "node1");
	svc(&st, "vm:2", "");
	st.svcs[0].mem = 6000;
	st.svcs[1].mem = 5000;
	st.nodes[1].mem = 4000; /* too small */
	assert_string_equal(place(&st, NULL, "vm:2", SCHED_PREF_BEST, &ex), "-");
	assert_int_equal(ex.filtered[SCHED_F_CAPACITY], 2);
	st.nodes[1].mem = 5000;
	assert_string_equal(place(&st, NULL, "vm:2", SCHED_PREF_BEST, &ex),
			    "node2");
	/* most free memory wins when CPU is equal */
	st.svcs[1].mem = 1000;
	st.nodes[1].mem = 100000;
	assert_string_equal(place(&st, NULL, "vm:2", SCHED_PREF_BEST, NULL),
			    "node2");
	scheduler_state_close(&st);
}

/* ---- node affinity ---- */

static void test_node_affinity(void **state)
{
	struct sched_state st;
	struct sched_rules rs;
	struct sched_explain ex;

	(void)state;
	nodes(&st, 4, 0, 0);
	svc(&st, "vm:1", "");
	svc(&st, "vm:2", "node2");
	scheduler_rules_init(&rs);
	rule(&rs, "na", SCHED_RULE_NODE_AFFINITY, true, false, "vm:1",
	     "node2:1,node3:2");
	assert_string_equal(place(&st, &rs, "vm:1", SCHED_PREF_BEST, &ex),
			    "node3");
	assert_int_equal(ex.filtered[SCHED_F_NODE_AFFINITY], 2);
	st.nodes[2].st.state = SCHED_NODE_UNKNOWN;
	assert_string_equal(place(&st, &rs, "vm:1", SCHED_PREF_BEST, &ex),
			    "node2");
	st.nodes[1].st.state = SCHED_NODE_MAINTENANCE;
	assert_string_equal(place(&st, &rs, "vm:1", SCHED_PREF_BEST, &ex), "-");
	assert_int_equal(ex.filtered[SCHED_F_OFFLINE], 2);
	scheduler_rules_close(&rs);

	/* preferred: outside nodes only when no rule node is usable */
	scheduler_rules_init(&rs);
	rule(&rs, "na", SCHED_RULE_NODE_AFFINITY, false, false, "vm:1",
	     "node2:1,node3:2");
	assert_string_equal(place(&st, &rs, "vm:1", SCHED_PREF_BEST, NULL),
			    "node1");
	st.nodes[2].st.state = SCHED_NODE_ONLINE;
	assert_string_equal(place(&st, &rs, "vm:1", SCHED_PREF_BEST, &ex),
			    "node3");
	assert_int_equal(ex.filtered[SCHED_F_PRIORITY], 2);
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
}

static void test_stay_and_failback(void **state)
{
	struct sched_state st;
	struct sched_rules rs;
	struct sched_explain ex;
	uint32_t i;

	(void)state;
	nodes(&st, 3, 0, 0);
	svc(&st, "vm:1", "node3");
	scheduler_rules_init(&rs);
	rule(&rs, "na", SCHED_RULE_NODE_AFFINITY, false, false, "vm:1",
	     "node2:2,node3:1");
	assert_string_equal(place(&st, &rs, "vm:1", SCHED_PREF_STAY, &ex),
			    "node2");
	assert_int_equal(ex.rejected, SCHED_F_PRIORITY);
	i = scheduler_state_find_service(&st, "vm:1");
	st.svcs[i].failback = false;
	assert_string_equal(place(&st, &rs, "vm:1", SCHED_PREF_STAY, &ex),
			    "node3");
	assert_int_equal(ex.rejected, SCHED_F__COUNT);
	/* even on a node outside a preferred rule */
	st.svcs[i].st.node = 0;
	assert_string_equal(place(&st, &rs, "vm:1", SCHED_PREF_STAY, NULL),
			    "node1");
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
}

/* ---- resource affinity ---- */

static void test_anti_affinity(void **state)
{
	struct sched_state st;
	struct sched_rules rs;
	struct sched_explain ex;

	(void)state;
	nodes(&st, 3, 0, 0);
	svc(&st, "vm:1", "node1");
	svc(&st, "vm:2", "node2");
	svc(&st, "vm:3", "");
	svc(&st, "vm:4", "node3");
	svc(&st, "vm:5", "node3");
	scheduler_rules_init(&rs);
	rule(&rs, "apart", SCHED_RULE_RESOURCE_AFFINITY, true, false,
	     "vm:1,vm:2,vm:3", NULL);
	/* node3 is the busiest but the only one allowed */
	assert_string_equal(place(&st, &rs, "vm:3", SCHED_PREF_BEST, &ex),
			    "node3");
	assert_int_equal(ex.filtered[SCHED_F_ANTI_AFFINITY], 2);
	st.nodes[2].st.state = SCHED_NODE_UNKNOWN;
	assert_string_equal(place(&st, &rs, "vm:3", SCHED_PREF_BEST, NULL),
			    "-");
	scheduler_rules_close(&rs);

	/* soft: preferred apart, but allowed together */
	scheduler_rules_init(&rs);
	rule(&rs, "apart", SCHED_RULE_RESOURCE_AFFINITY, false, false,
	     "vm:1,vm:2,vm:3", NULL);
	assert_string_equal(place(&st, &rs, "vm:3", SCHED_PREF_BEST, &ex),
			    "node1");
	assert_int_equal(ex.soft_violations, 1);
	st.nodes[2].st.state = SCHED_NODE_ONLINE;
	assert_string_equal(place(&st, &rs, "vm:3", SCHED_PREF_BEST, &ex),
			    "node3");
	assert_int_equal(ex.soft_violations, 0);
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
}

static void test_affinity_groups(void **state)
{
	struct sched_state st;
	struct sched_rules rs;
	uint32_t i;

	(void)state;
	nodes(&st, 3, 0, 0);
	svc(&st, "vm:1", "node1");
	svc(&st, "vm:2", "node1");
	svc(&st, "vm:3", "");
	svc(&st, "vm:4", "node2");
	scheduler_rules_init(&rs);
	/* vm:3 with vm:2 (transitively with vm:1): join them on the busy
	 * node rather than the empty one */
	rule(&rs, "a", SCHED_RULE_RESOURCE_AFFINITY, true, true, "vm:1,vm:2",
	     NULL);
	rule(&rs, "b", SCHED_RULE_RESOURCE_AFFINITY, true, true, "vm:2,vm:3",
	     NULL);
	assert_string_equal(place(&st, &rs, "vm:3", SCHED_PREF_BEST, NULL),
			    "node1");
	/* apart from vm:4 means apart from its whole group... */
	rule(&rs, "c", SCHED_RULE_RESOURCE_AFFINITY, true, false, "vm:4,vm:1",
	     NULL);
	i = scheduler_state_find_service(&st, "vm:4");
	st.svcs[i].st.node = 0;
	assert_string_equal(place(&st, &rs, "vm:4", SCHED_PREF_STAY, NULL),
			    "node2");
	/* ... and a group member that moves pulls the others along */
	i = scheduler_state_find_service(&st, "vm:1");
	st.svcs[i].st.state = SCHED_SVC_MIGRATE;
	st.svcs[i].st.target = 2;
	assert_string_equal(place(&st, &rs, "vm:2", SCHED_PREF_STAY, NULL),
			    "node3");
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
}

static void test_try_next(void **state)
{
	struct sched_state st;
	struct sched_explain ex;
	uint32_t i;

	(void)state;
	nodes(&st, 3, 0, 0);
	svc(&st, "vm:1", "node2");
	i = scheduler_state_find_service(&st, "vm:1");
	st.svcs[i].st.n_failed = 2;
	st.svcs[i].st.failed[0] = 1;
	st.svcs[i].st.failed[1] = 0;
	assert_string_equal(place(&st, NULL, "vm:1", SCHED_PREF_NEXT, &ex),
			    "node3");
	assert_int_equal(ex.filtered[SCHED_F_TRIED], 2);
	st.svcs[i].st.n_failed = 3;
	st.svcs[i].st.failed[2] = 2;
	assert_string_equal(place(&st, NULL, "vm:1", SCHED_PREF_NEXT, NULL),
			    "-");
	scheduler_state_close(&st);
}

static void test_explain_text(void **state)
{
	struct sched_state st;
	char buf[512];
	uint32_t i;
	int n;

	(void)state;
	nodes(&st, 2, 0, 0);
	svc(&st, "vm:1", "node2");
	i = scheduler_state_find_service(&st, "vm:1");
	st.svcs[i].st.why.reason = SCHED_R_RECOVERED;
	st.svcs[i].st.why.time_ms = 12500;
	st.svcs[i].st.why.from = 0;
	st.svcs[i].st.why.chosen = 1;
	st.svcs[i].st.why.considered = 2;
	st.svcs[i].st.why.filtered[SCHED_F_OFFLINE] = 1;
	st.svcs[i].st.why.remaining = 1;
	st.svcs[i].st.why.rejected = SCHED_F__COUNT;
	n = scheduler_explain_format(&st, i, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf,
			    "service 'vm:1': started on 'node2'\n"
			    "last decision at 12.500 s: recovered from fenced "
			    "node (from 'node1')\n"
			    "placement: 2 node(s) considered; filtered: offline "
			    "1; 1 left; chose 'node2' (load 0.000, soft "
			    "violations 0)\n");
	assert_int_equal(scheduler_explain_format(&st, 7, buf, sizeof(buf)),
			 -EINVAL);
	scheduler_state_close(&st);
}

/* ---- properties over random clusters ---- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Random nodes (some offline), services, strict node affinity rules and
 * hard anti-affinity pairs; every service placed in turn. Checks: never on
 * an offline node, never outside a strict rule, never next to an
 * anti-affine service; and a service is left unplaced only if no node
 * passes those filters.
 */
static void test_property_placement(void **state)
{
	unsigned seed_i;

	(void)state;
	for (seed_i = 1; seed_i <= 60; seed_i++) {
		uint64_t seed = seed_i;
		uint32_t nn = 2 + rnd(&seed) % 12, ns = 5 + rnd(&seed) % 60;
		uint32_t i, j, k, *where;
		struct sched_state st;
		struct sched_rules rs;
		struct sched_placer *p;
		bool *allowed; /* ns x nn: strict rule allows */
		bool *apart;   /* ns x ns */
		bool *has_na;  /* ns */
		char sid[32], id[32];

		nodes(&st, (int)nn, 0, 0);
		for (i = 0; i < nn; i++)
			if (rnd(&seed) % 5 == 0)
				st.nodes[i].st.state = SCHED_NODE_UNKNOWN;
		for (i = 0; i < ns; i++) {
			snprintf(sid, sizeof(sid), "vm:%04u", i);
			svc(&st, sid, "");
		}
		allowed = calloc(ns * nn, sizeof(*allowed));
		apart = calloc(ns * ns, sizeof(*apart));
		where = calloc(ns, sizeof(*where));
		has_na = calloc(ns, sizeof(*has_na));
		for (i = 0; i < ns * nn; i++)
			allowed[i] = true;
		scheduler_rules_init(&rs);
		for (k = 0; k < ns / 4; k++) {
			uint32_t a = rnd(&seed) % ns, b = rnd(&seed) % ns;
			char pair[64];

			if (a == b || apart[a * ns + b])
				continue;
			apart[a * ns + b] = apart[b * ns + a] = true;
			snprintf(id, sizeof(id), "neg%u", k);
			snprintf(pair, sizeof(pair), "vm:%04u,vm:%04u", a, b);
			rule(&rs, id, SCHED_RULE_RESOURCE_AFFINITY, true, false,
			     pair, NULL);
		}
		for (k = 0; k < ns / 5; k++) {
			uint32_t a = rnd(&seed) % ns, n1 = rnd(&seed) % nn;
			uint32_t n2 = rnd(&seed) % nn;
			char nl[64], one[16];

			if (has_na[a])
				continue; /* one rule per service */
			has_na[a] = true;
			for (j = 0; j < nn; j++)
				allowed[a * nn + j] = j == n1 || j == n2;
			snprintf(id, sizeof(id), "na%u", k);
			snprintf(one, sizeof(one), "vm:%04u", a);
			snprintf(nl, sizeof(nl), "node%u,node%u", n1 + 1, n2 + 1);
			rule(&rs, id, SCHED_RULE_NODE_AFFINITY, true, false, one,
			     nl);
		}
		assert_int_equal(scheduler_placer_new(&st, &rs, NULL, &p), 0);
		for (i = 0; i < ns; i++) {
			uint32_t n;

			assert_int_equal(scheduler_placer_place(p, i,
								SCHED_PREF_BEST,
								&n, NULL),
					 0);
			where[i] = n;
			if (n == SCHED_NONE) {
				/* check no node would have been fine */
				for (j = 0; j < nn; j++) {
					bool ok = st.nodes[j].st.state ==
							  SCHED_NODE_ONLINE &&
						  allowed[i * nn + j];

					for (k = 0; k < i && ok; k++)
						if (apart[i * ns + k] &&
						    where[k] == j)
							ok = false;
					if (ok)
						fail_msg("seed %u: vm %u unplaced "
							 "but node%u fits",
							 seed_i, i, j + 1);
				}
				continue;
			}
			assert_int_equal(st.nodes[n].st.state, SCHED_NODE_ONLINE);
			assert_true(allowed[i * nn + n]);
			for (k = 0; k < i; k++)
				if (apart[i * ns + k] && where[k] == n)
					fail_msg("seed %u: vm %u and %u both on "
						 "node%u",
						 seed_i, i, k, n + 1);
			assert_int_equal(scheduler_placer_commit(p, i, n), 0);
		}
		scheduler_placer_free(p);
		scheduler_rules_close(&rs);
		scheduler_state_close(&st);
		free(has_na);
		free(where);
		free(apart);
		free(allowed);
	}
}

/* The documented rule, computed by brute force: among eligible nodes not
 * holding an anti-affine service, not tried (NEXT) and with room, the
 * lowest (static: max fraction, sum of fractions; basic: count) then name
 * (node index: names sort like indices here). */
static uint32_t reference(const struct sched_state *st, const uint32_t *where,
			  const bool *apart, uint32_t ns, uint32_t i,
			  bool next)
{
	const struct sched_service *c = &st->svcs[i];
	uint32_t n, k, best = SCHED_NONE;
	uint64_t b1 = 0, b2 = 0;

	for (n = 0; n < st->n_nodes; n++) {
		double cpu = 0, mem = 0;
		uint64_t q1, q2, cnt = 0;
		bool ok = st->nodes[n].st.state == SCHED_NODE_ONLINE;

		for (k = 0; k < ns && ok; k++) {
			if (where[k] != n || k == i)
				continue;
			if (apart[i * ns + k])
				ok = false;
			cpu += st->svcs[k].cpu;
			mem += (double)st->svcs[k].mem;
			cnt++;
		}
		if (next && where[i] == n)
			ok = false;
		if (!ok)
			continue;
		if (st->crs == SCHED_CRS_STATIC) {
			if (mem + (double)c->mem > (double)st->nodes[n].mem)
				continue;
			sched_static_key(cpu + c->cpu, mem + (double)c->mem,
					 1.0 / st->nodes[n].cpu,
					 1.0 / (double)st->nodes[n].mem, &q1, &q2);
		} else {
			q1 = cnt;
			q2 = 0;
		}
		if (best == SCHED_NONE || q1 < b1 || (q1 == b1 && q2 < b2)) {
			best = n;
			b1 = q1;
			b2 = q2;
		}
	}
	return best;
}

/*
 * The fast full scan (masks, rank-ordered arrays, quantised keys) against
 * the brute-force reference, over random capacities, loads, anti-affinity
 * pairs, offline nodes and relocation after a failure, in both modes.
 */
static void test_property_scan_matches_reference(void **state)
{
	unsigned seed_i;

	(void)state;
	for (seed_i = 1; seed_i <= 80; seed_i++) {
		uint64_t seed = seed_i * 7919;
		uint32_t nn = 2 + rnd(&seed) % 40, ns = 2 + rnd(&seed) % 80;
		uint32_t i, k, *where = calloc(ns, sizeof(*where));
		bool *apart = calloc(ns * ns, sizeof(*apart));
		struct sched_state st;
		struct sched_rules rs;
		struct sched_placer *p;
		char sid[32], id[32], pair[64];

		scheduler_state_init(&st);
		st.crs = seed_i % 2 ? SCHED_CRS_STATIC : SCHED_CRS_BASIC;
		for (i = 0; i < nn; i++) {
			/* zero-padded: name order is index order */
			snprintf(sid, sizeof(sid), "n%03u", i);
			assert_int_equal(scheduler_state_add_node(&st, sid, 0, 0,
								  NULL),
					 0);
			st.nodes[i].st.state = SCHED_NODE_ONLINE;
			st.nodes[i].cpu = (double)(8 << (rnd(&seed) % 4));
			st.nodes[i].mem = (16ull << (rnd(&seed) % 4)) << 30;
			if (rnd(&seed) % 6 == 0)
				st.nodes[i].st.state = SCHED_NODE_UNKNOWN;
		}
		for (i = 0; i < ns; i++) {
			snprintf(sid, sizeof(sid), "vm:%04u", i);
			svc(&st, sid, "");
			st.svcs[i].cpu = (double)(1 + rnd(&seed) % 8);
			st.svcs[i].mem = (1 + rnd(&seed) % 8) << 30;
		}
		scheduler_rules_init(&rs);
		for (k = 0; k < ns / 3; k++) {
			uint32_t a = rnd(&seed) % ns, b = rnd(&seed) % ns;

			if (a == b || apart[a * ns + b])
				continue;
			apart[a * ns + b] = apart[b * ns + a] = true;
			snprintf(id, sizeof(id), "n%u", k);
			snprintf(pair, sizeof(pair), "vm:%04u,vm:%04u", a, b);
			rule(&rs, id, SCHED_RULE_RESOURCE_AFFINITY, true, false,
			     pair, NULL);
		}
		for (i = 0; i < ns; i++)
			where[i] = SCHED_NONE;
		assert_int_equal(scheduler_placer_new(&st, &rs, NULL, &p), 0);
		for (i = 0; i < 3 * ns; i++) {
			uint32_t v = i < ns ? i : (uint32_t)(rnd(&seed) % ns);
			bool next = i >= ns && where[v] != SCHED_NONE &&
				    rnd(&seed) % 2;
			uint32_t want, got;

			if (next) {
				/* as after a failed start on its node */
				p->svc[v].n_failed = 1;
				p->svc[v].failed[0] = where[v];
			}
			want = reference(&st, where, apart, ns, v, next);
			assert_int_equal(scheduler_placer_place(
						 p, v,
						 next ? SCHED_PREF_NEXT
						      : SCHED_PREF_BEST,
						 &got, NULL),
					 0);
			if (got != want)
				fail_msg("seed %u step %u vm %u: chose %d, "
					 "reference %d",
					 seed_i, i, v, (int)got, (int)want);
			p->svc[v].n_failed = 0;
			if (got != SCHED_NONE) {
				assert_int_equal(scheduler_placer_commit(p, v,
									 got),
						 0);
				where[v] = got;
			}
		}
		scheduler_placer_free(p);
		scheduler_rules_close(&rs);
		scheduler_state_close(&st);
		free(apart);
		free(where);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_fewest),
		cmocka_unit_test(test_static_spread),
		cmocka_unit_test(test_static_capacity),
		cmocka_unit_test(test_node_affinity),
		cmocka_unit_test(test_stay_and_failback),
		cmocka_unit_test(test_anti_affinity),
		cmocka_unit_test(test_affinity_groups),
		cmocka_unit_test(test_try_next),
		cmocka_unit_test(test_explain_text),
		cmocka_unit_test(test_property_placement),
		cmocka_unit_test(test_property_scan_matches_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
