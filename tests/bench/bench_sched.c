/*
 * bench_sched: scheduler throughput (docs/benchmarks.md, "Scheduler").
 *
 *   bench_sched [--quick] [--seed N]
 *
 * 1. Initial placement of 100,000 VMs on 2,000 nodes with affinity rules
 *    (preferred and strict node affinity, hard anti-affinity triples, hard
 *    positive pairs, soft anti-affinity groups), one decision and commit
 *    per VM through the public placer: placements per second.
 * 2. The same at 5,000 nodes, then 20,000 single decisions (a random VM,
 *    best node, committed): microseconds per decision, mean and p99.
 * 3. One leader step over 100,000 started HA services on 2,000 nodes with
 *    nothing to do, and one that fences a node and recovers its services.
 * Both CRS modes (basic, static). Build without sanitizers for figures.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scheduler/scheduler.h"

static uint64_t seed = 1;

static uint64_t rnd(void)
{
	uint64_t z = (seed += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_sched: %s: %s\n", what, strerror(-r));
	exit(1);
}

static void build(struct sched_state *st, uint32_t n_nodes, uint32_t n_vms,
		  enum sched_crs crs)
{
	struct sched_service c;
	char name[SCHED_NAME_MAX];
	uint32_t i;
	int r;

	scheduler_state_init(st);
	st->crs = crs;
	for (i = 0; i < n_nodes; i++) {
		snprintf(name, sizeof(name), "node%05u", i);
		r = scheduler_state_add_node(st, name, 64,
					     512ull * 1024 * 1024 * 1024, NULL);
		if (r < 0)
			die("add node", r);
		st->nodes[i].st.state = SCHED_NODE_ONLINE;
	}
	for (i = 0; i < n_vms; i++) {
		scheduler_service_defaults(&c);
		snprintf(c.sid, sizeof(c.sid), "vm:%07u", i);
		c.cpu = (double)(1 + rnd() % 8);
		c.mem = (1 + rnd() % 16) * 1024ull * 1024 * 1024;
		r = scheduler_state_add_service(st, &c, SCHED_NONE, NULL);
		if (r < 0)
			die("add service", r);
	}
}

static void add_rule(struct sched_rules *rs, const char *id,
		     enum sched_rule_kind kind, bool strict, bool positive,
		     const uint32_t *vms, uint32_t n, const uint32_t *nodes,
		     uint32_t n_nodes)
{
	char sids[16][SCHED_NAME_MAX];
	struct sched_node_prio np[8];
	struct sched_rule r;
	uint32_t k;
	int e;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.kind = kind;
	r.strict = strict;
	r.positive = positive;
	for (k = 0; k < n; k++)
		snprintf(sids[k], SCHED_NAME_MAX, "vm:%07u", vms[k]);
	for (k = 0; k < n_nodes; k++) {
		snprintf(np[k].node, SCHED_NAME_MAX, "node%05u", nodes[k]);
		np[k].priority = k == 0 ? 2 : 1;
	}
	r.sids = (const char(*)[SCHED_NAME_MAX])sids;
	r.n_sids = n;
	r.nodes = np;
	r.n_nodes = n_nodes;
	e = scheduler_rules_add(rs, &r);
	if (e < 0)
		die("add rule", e);
}

/* About 10% preferred and 2% strict node affinity (10 VMs per rule),
 * 15% in hard anti-affinity triples, 6% in hard positive pairs, 4% in
 * soft anti-affinity groups of four; each VM in at most one rule. */
static uint32_t rules(struct sched_rules *rs, uint32_t n_nodes,
		      uint32_t n_vms)
{
	uint32_t next = 0, vms[16], nodes[8], k, j, count = 0;
	char id[32];

	scheduler_rules_init(rs);
#define TAKE(n)                                                                \
	for (j = 0; j < (n); j++)                                              \
		vms[j] = next++;
	for (k = 0; k < n_vms / 100 && next + 10 <= n_vms; k++, count++) {
		TAKE(10);
		for (j = 0; j < 3; j++)
			nodes[j] = (uint32_t)(rnd() % n_nodes);
		snprintf(id, sizeof(id), "pref%u", k);
		add_rule(rs, id, SCHED_RULE_NODE_AFFINITY, false, false, vms, 10,
			 nodes, 3);
	}
	for (k = 0; k < n_vms / 500 && next + 10 <= n_vms; k++, count++) {
		TAKE(10);
		for (j = 0; j < 4; j++)
			nodes[j] = (uint32_t)(rnd() % n_nodes);
		snprintf(id, sizeof(id), "strict%u", k);
		add_rule(rs, id, SCHED_RULE_NODE_AFFINITY, true, false, vms, 10,
			 nodes, 4);
	}
	for (k = 0; k < n_vms / 20 && next + 3 <= n_vms; k++, count++) {
		TAKE(3);
		snprintf(id, sizeof(id), "apart%u", k);
		add_rule(rs, id, SCHED_RULE_RESOURCE_AFFINITY, true, false, vms,
			 3, NULL, 0);
	}
	for (k = 0; k < n_vms / 33 && next + 2 <= n_vms; k++, count++) {
		TAKE(2);
		snprintf(id, sizeof(id), "together%u", k);
		add_rule(rs, id, SCHED_RULE_RESOURCE_AFFINITY, true, true, vms,
			 2, NULL, 0);
	}
	for (k = 0; k < n_vms / 100 && next + 4 <= n_vms; k++, count++) {
		TAKE(4);
		snprintf(id, sizeof(id), "spread%u", k);
		add_rule(rs, id, SCHED_RULE_RESOURCE_AFFINITY, false, false, vms,
			 4, NULL, 0);
	}
#undef TAKE
	return count;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Places every VM once; returns placements per second. */
static double place_all(struct sched_placer *p, uint32_t n_vms,
			uint32_t *where, uint32_t *unplaced)
{
	double t0 = now_s(), t;
	uint32_t i, node;
	int r;

	*unplaced = 0;
	for (i = 0; i < n_vms; i++) {
		r = scheduler_placer_place(p, i, SCHED_PREF_BEST, &node, NULL);
		if (r < 0)
			die("place", r);
		where[i] = node;
		if (node == SCHED_NONE) {
			(*unplaced)++;
			continue;
		}
		r = scheduler_placer_commit(p, i, node);
		if (r < 0)
			die("commit", r);
	}
	t = now_s() - t0;
	return n_vms / t;
}

static void bench_placement(uint32_t n_nodes, uint32_t n_vms,
			    uint32_t decisions, enum sched_crs crs)
{
	const char *mode = crs == SCHED_CRS_STATIC ? "static" : "basic";
	struct sched_state st;
	struct sched_rules rs;
	struct sched_placer *p;
	uint32_t *where = calloc(n_vms, sizeof(*where)), unplaced, n_rules, k;
	double t0, t_new, rate, *lat = NULL, sum = 0;
	int r;

	build(&st, n_nodes, n_vms, crs);
	n_rules = rules(&rs, n_nodes, n_vms);
	t0 = now_s();
	r = scheduler_placer_new(&st, &rs, NULL, &p);
	if (r < 0)
		die("placer", r);
	t_new = now_s() - t0;
	rate = place_all(p, n_vms, where, &unplaced);
	printf("placement %-6s %5u nodes %6u VMs %5u rules: %8.0f "
	       "placements/s (%.1f us each), setup %.0f ms, unplaced %u\n",
	       mode, n_nodes, n_vms, n_rules, rate, 1e6 / rate, t_new * 1e3,
	       unplaced);
	if (decisions > 0) {
		lat = calloc(decisions, sizeof(*lat));
		for (k = 0; k < decisions; k++) {
			uint32_t i = (uint32_t)(rnd() % n_vms), node;
			double t;

			t0 = now_s();
			r = scheduler_placer_place(p, i, SCHED_PREF_BEST, &node,
						   NULL);
			if (r == 0 && node != SCHED_NONE)
				r = scheduler_placer_commit(p, i, node);
			t = now_s() - t0;
			if (r < 0)
				die("decision", r);
			lat[k] = t * 1e6;
			sum += lat[k];
		}
		qsort(lat, decisions, sizeof(*lat), cmp_double);
		printf("decision  %-6s %5u nodes %6u VMs placed: mean %.1f us, "
		       "p50 %.1f us, p99 %.1f us (%u decisions)\n",
		       mode, n_nodes, n_vms, sum / decisions,
		       lat[decisions / 2], lat[decisions * 99 / 100], decisions);
		free(lat);
	}
	scheduler_placer_free(p);
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
	free(where);
}

/* Steady state and one node failure through scheduler_step(). */
static void bench_step(uint32_t n_nodes, uint32_t n_vms, enum sched_crs crs)
{
	const char *mode = crs == SCHED_CRS_STATIC ? "static" : "basic";
	struct sched_state st;
	struct sched_rules rs;
	struct sched_plan plan;
	struct sched_placer *p;
	struct sched_node_obs *obs = calloc(n_nodes, sizeof(*obs));
	struct sched_input in = {0};
	uint32_t *where = calloc(n_vms, sizeof(*where)), unplaced, i, moved = 0;
	double t0, t_idle, t_fail;
	size_t k;
	int r;

	build(&st, n_nodes, n_vms, crs);
	rules(&rs, n_nodes, n_vms);
	r = scheduler_placer_new(&st, &rs, NULL, &p);
	if (r < 0)
		die("placer", r);
	place_all(p, n_vms, where, &unplaced);
	scheduler_placer_free(p);
	for (i = 0; i < n_vms; i++) {
		st.svcs[i].st.node = where[i];
		st.svcs[i].st.state = where[i] == SCHED_NONE
					      ? SCHED_SVC_REQUEST_START
					      : SCHED_SVC_STARTED;
		st.svcs[i].st.confirmed = true;
	}
	for (i = 0; i < n_nodes; i++) {
		obs[i].online = obs[i].renewed = true;
		obs[i].mode = SCHED_AGENT_ACTIVE;
	}
	in.nodes = obs;
	scheduler_plan_init(&plan);
	t0 = now_s();
	r = scheduler_step(&st, &rs, &in, 1000, &plan);
	t_idle = now_s() - t0;
	if (r < 0)
		die("step", r);
	scheduler_plan_apply(&st, &plan);
	/* node 0 dies; lease + margin are over */
	obs[0] = (struct sched_node_obs){.expired = true, .fence_done = true};
	t0 = now_s();
	r = scheduler_step(&st, &rs, &in, 2000, &plan);
	t_fail = now_s() - t0;
	if (r < 0)
		die("step", r);
	for (k = 0; k < plan.n_events; k++)
		moved += plan.events[k].reason == SCHED_R_RECOVERED;
	printf("step      %-6s %5u nodes %6u services: idle %.0f ms, "
	       "node lost %.0f ms (%u recovered, %zu actions)\n",
	       mode, n_nodes, n_vms, t_idle * 1e3, t_fail * 1e3, moved,
	       plan.n_actions);
	scheduler_plan_close(&plan);
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
	free(where);
	free(obs);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"seed", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	uint32_t div = 1;
	int c;

	while ((c = getopt_long(argc, argv, "qs:", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			div = 20; /* a smoke run for tests */
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: bench_sched [--quick] "
					"[--seed N]\n");
			return 1;
		}
	}
	bench_placement(2000 / div, 100000 / div, 0, SCHED_CRS_BASIC);
	bench_placement(2000 / div, 100000 / div, 0, SCHED_CRS_STATIC);
	bench_placement(5000 / div, 100000 / div, 20000 / div, SCHED_CRS_BASIC);
	bench_placement(5000 / div, 100000 / div, 20000 / div,
			SCHED_CRS_STATIC);
	bench_step(2000 / div, 100000 / div, SCHED_CRS_BASIC);
	bench_step(2000 / div, 100000 / div, SCHED_CRS_STATIC);
	return 0;
}
