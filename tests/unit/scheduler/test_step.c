/* Unit tests: the leader step: service state machine, fencing gates,
 * policies, commands, maintenance, freeze, ordering, and properties. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fencing/fencing.h"
#include "scheduler/scheduler.h"

#define MAXN 16
#define MAXR 256

struct h {
	struct sched_state st;
	struct sched_rules rs;
	struct sched_node_obs obs[MAXN];
	struct sched_result res[MAXR];
	size_t n_res;
	struct sched_cmd cmds[8];
	size_t n_cmds;
	struct sched_plan plan;
	uint64_t now;
};

static void h_init(struct h *h, int n)
{
	char name[16];
	int i;

	memset(h, 0, sizeof(*h));
	scheduler_state_init(&h->st);
	scheduler_rules_init(&h->rs);
	scheduler_plan_init(&h->plan);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "node%d", i + 1);
		assert_int_equal(scheduler_state_add_node(&h->st, name, 0, 0,
							  NULL),
				 0);
		h->st.nodes[i].st.state = SCHED_NODE_ONLINE;
		h->obs[i].online = h->obs[i].renewed = true;
		h->obs[i].mode = SCHED_AGENT_ACTIVE;
	}
}

static void h_close(struct h *h)
{
	scheduler_plan_close(&h->plan);
	scheduler_rules_close(&h->rs);
	scheduler_state_close(&h->st);
}

static uint32_t N(struct h *h, const char *name)
{
	return scheduler_state_find_node(&h->st, name);
}

static uint32_t I(struct h *h, const char *sid)
{
	uint32_t i = scheduler_state_find_service(&h->st, sid);

	assert_true(i != SCHED_NONE);
	return i;
}

static struct sched_status *S(struct h *h, const char *sid)
{
	return &h->st.svcs[I(h, sid)].st;
}

static void h_svc(struct h *h, const char *sid, const char *node,
		  enum sched_request req)
{
	struct sched_service c;

	scheduler_service_defaults(&c);
	snprintf(c.sid, sizeof(c.sid), "%s", sid);
	c.request = req;
	if (strncmp(sid, "ct:", 3) == 0)
		c.kind = SCHED_KIND_CT;
	assert_int_equal(scheduler_state_add_service(&h->st, &c, N(h, node),
						     NULL),
			 0);
}

/* One step with the current observations; results and commands are
 * consumed. Returns the number of actions. */
static size_t step(struct h *h)
{
	struct sched_input in = {h->obs, h->res, h->n_res, h->cmds, h->n_cmds};
	size_t n;

	h->now += 1000;
	assert_int_equal(scheduler_step(&h->st, &h->rs, &in, h->now, &h->plan),
			 0);
	n = h->plan.n_actions;
	assert_int_equal(scheduler_plan_apply(&h->st, &h->plan), 0);
	h->n_res = 0;
	h->n_cmds = 0;
	return n;
}

static void result(struct h *h, const char *sid, int code)
{
	assert_true(h->n_res < MAXR);
	h->res[h->n_res].svc = I(h, sid);
	h->res[h->n_res].uid = S(h, sid)->uid;
	h->res[h->n_res++].code = code;
}

static bool has_event(struct h *h, enum sched_reason r)
{
	size_t k;

	for (k = 0; k < h->plan.n_events; k++)
		if (h->plan.events[k].reason == r)
			return true;
	return false;
}

static void node_lost(struct h *h, const char *node, bool expired)
{
	uint32_t n = N(h, node);

	h->obs[n].online = false;
	h->obs[n].renewed = false;
	h->obs[n].expired = expired;
}

static void test_start_stop(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, 2);
	h_svc(&h, "vm:1", "node1", SCHED_REQ_STARTED);
	h_svc(&h, "vm:2", "node2", SCHED_REQ_DISABLED);
	step(&h);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_STARTED);
	assert_int_equal(S(&h, "vm:1")->node, N(&h, "node1"));
	assert_int_equal(S(&h, "vm:2")->state, SCHED_SVC_REQUEST_STOP);
	result(&h, "vm:1", 0);
	result(&h, "vm:2", 0);
	step(&h);
	assert_true(S(&h, "vm:1")->confirmed);
	assert_int_equal(S(&h, "vm:2")->state, SCHED_SVC_STOPPED);
	/* request started again */
	h.st.svcs[I(&h, "vm:2")].request = SCHED_REQ_STARTED;
	step(&h);
	assert_int_equal(S(&h, "vm:2")->state, SCHED_SVC_STARTED);
	/* a stale result (old uid) is ignored */
	h.res[0].svc = I(&h, "vm:2");
	h.res[0].uid = S(&h, "vm:2")->uid - 1;
	h.res[0].code = -EIO;
	h.n_res = 1;
	assert_int_equal(step(&h), 0);
	h_close(&h);
}

static void test_fence_gates_recovery(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, 3);
	h_svc(&h, "vm:1", "node3", SCHED_REQ_STARTED);
	step(&h);
	result(&h, "vm:1", 0);
	step(&h);
	/* lease not renewed but not yet expired: only 'unknown' */
	node_lost(&h, "node3", false);
	step(&h);
	assert_int_equal(h.st.nodes[2].st.state, SCHED_NODE_UNKNOWN);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_STARTED);
	/* expired: fence, but nothing moves */
	h.obs[2].expired = true;
	step(&h);
	assert_int_equal(h.st.nodes[2].st.state, SCHED_NODE_FENCE);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_FENCE);
	assert_int_equal(step(&h), 0);
	assert_int_equal(S(&h, "vm:1")->node, N(&h, "node3"));
	/* fencing says safe: acknowledged and recovered in one step */
	h.obs[2].fence_done = true;
	step(&h);
	assert_true(has_event(&h, SCHED_R_FENCE_LEASE));
	assert_true(has_event(&h, SCHED_R_RECOVERED));
	assert_int_equal(h.st.nodes[2].st.state, SCHED_NODE_UNKNOWN);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_STARTED);
	assert_int_equal(S(&h, "vm:1")->node, N(&h, "node1"));
	assert_int_equal(S(&h, "vm:1")->why.reason, SCHED_R_RECOVERED);
	/* the node needs a renewal with this leader to come back */
	h.obs[2].online = true;
	h.obs[2].expired = h.obs[2].fence_done = false;
	step(&h);
	assert_int_equal(h.st.nodes[2].st.state, SCHED_NODE_UNKNOWN);
	h.obs[2].renewed = true;
	step(&h);
	assert_int_equal(h.st.nodes[2].st.state, SCHED_NODE_ONLINE);
	h_close(&h);
}

static void test_inherited_fence(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, 3);
	h_svc(&h, "vm:1", "node1", SCHED_REQ_STARTED);
	h.st.nodes[0].st.state = SCHED_NODE_ONLINE;
	S(&h, "vm:1")->state = SCHED_SVC_FENCE;
	h.st.nodes[1].st.state = SCHED_NODE_FENCE; /* nothing on it */
	step(&h);
	/* a fence service puts its node in fence, even if it looks alive */
	assert_int_equal(h.st.nodes[0].st.state, SCHED_NODE_FENCE);
	assert_int_equal(h.st.nodes[1].st.state, SCHED_NODE_FENCE);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_FENCE);
	/* refused renewals: its lease runs out, then it is safe */
	node_lost(&h, "node1", true);
	node_lost(&h, "node2", true);
	h.obs[0].fence_done = h.obs[1].fence_done = true;
	step(&h);
	assert_true(has_event(&h, SCHED_R_FENCE_NO_SERVICES));
	assert_int_equal(h.st.nodes[1].st.state, SCHED_NODE_UNKNOWN);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_STARTED);
	assert_int_equal(S(&h, "vm:1")->node, N(&h, "node3"));
	h_close(&h);
}

static void test_failure_policy(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, 3);
	h_svc(&h, "vm:1", "node2", SCHED_REQ_STARTED);
	step(&h);
	result(&h, "vm:1", -EIO);
	step(&h); /* restart 1 of max_restart 1 */
	assert_true(has_event(&h, SCHED_R_START_RETRY));
	assert_int_equal(S(&h, "vm:1")->node, N(&h, "node2"));
	result(&h, "vm:1", -EIO);
	step(&h); /* relocate to the least loaded untried node */
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_RELOCATE);
	assert_int_equal(S(&h, "vm:1")->target, N(&h, "node1"));
	assert_int_equal(S(&h, "vm:1")->n_failed, 1);
	result(&h, "vm:1", 0);
	step(&h);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_STARTED);
	assert_int_equal(S(&h, "vm:1")->node, N(&h, "node1"));
	result(&h, "vm:1", -EIO);
	step(&h);
	result(&h, "vm:1", -EIO);
	step(&h); /* two failed nodes > max_relocate 1 */
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_ERROR);
	assert_true(has_event(&h, SCHED_R_POLICY_EXHAUSTED));
	h.st.svcs[I(&h, "vm:1")].request = SCHED_REQ_STOPPED;
	assert_int_equal(step(&h), 0); /* only 'disabled' clears an error */
	h.st.svcs[I(&h, "vm:1")].request = SCHED_REQ_DISABLED;
	step(&h);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_STOPPED);
	h_close(&h);
}

static void test_commands(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, 3);
	h_svc(&h, "ct:1", "node1", SCHED_REQ_STARTED);
	h_svc(&h, "vm:2", "node1", SCHED_REQ_STARTED);
	h_svc(&h, "vm:3", "node1", SCHED_REQ_STOPPED);
	step(&h);
	result(&h, "vm:3", 0);
	step(&h);
	h.cmds[0] = (struct sched_cmd){SCHED_CMD_MIGRATE, I(&h, "ct:1"), 1};
	h.cmds[1] = (struct sched_cmd){SCHED_CMD_MIGRATE, I(&h, "vm:2"), 1};
	h.cmds[2] = (struct sched_cmd){SCHED_CMD_MIGRATE, I(&h, "vm:3"), 2};
	h.n_cmds = 3;
	step(&h);
	assert_int_equal(S(&h, "ct:1")->state, SCHED_SVC_RELOCATE); /* CTs */
	assert_int_equal(S(&h, "vm:2")->state, SCHED_SVC_MIGRATE);
	assert_int_equal(S(&h, "vm:3")->state, SCHED_SVC_STOPPED);
	assert_int_equal(S(&h, "vm:3")->node, 2); /* stopped: reassigned */
	result(&h, "ct:1", 0);
	result(&h, "vm:2", -EIO);
	step(&h);
	assert_int_equal(S(&h, "ct:1")->node, 1);
	assert_int_equal(S(&h, "vm:2")->node, 0); /* failed: stays */
	assert_true(has_event(&h, SCHED_R_MIGRATE_FAILED));
	/* to an offline node or where it is: rejected */
	node_lost(&h, "node3", false);
	h.cmds[0] = (struct sched_cmd){SCHED_CMD_MIGRATE, I(&h, "vm:2"), 2};
	h.cmds[1] = (struct sched_cmd){SCHED_CMD_RELOCATE, I(&h, "vm:2"), 0};
	h.n_cmds = 1;
	step(&h);
	assert_true(has_event(&h, SCHED_R_CMD_REJECTED));
	assert_int_equal(S(&h, "vm:2")->state, SCHED_SVC_STARTED);
	h.cmds[0] = h.cmds[1];
	h.n_cmds = 1;
	step(&h);
	assert_true(has_event(&h, SCHED_R_CMD_REJECTED));
	h_close(&h);
}

static void test_maintenance(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, 3);
	h_svc(&h, "vm:1", "node3", SCHED_REQ_STARTED);
	h_svc(&h, "vm:2", "node3", SCHED_REQ_STOPPED);
	h_svc(&h, "vm:3", "node1", SCHED_REQ_STARTED);
	step(&h);
	result(&h, "vm:2", 0);
	step(&h);
	h.cmds[0] = (struct sched_cmd){SCHED_CMD_MAINT_ENABLE, SCHED_NONE, 2};
	h.n_cmds = 1;
	step(&h);
	assert_int_equal(h.st.nodes[2].st.state, SCHED_NODE_MAINTENANCE);
	assert_true(h.st.nodes[2].st.maintenance);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_MIGRATE);
	assert_int_equal(S(&h, "vm:1")->target, 1); /* node1 has vm:3 */
	assert_int_equal(S(&h, "vm:1")->maint_node, 2);
	assert_int_equal(S(&h, "vm:2")->state, SCHED_SVC_STOPPED); /* stays */
	result(&h, "vm:1", 0);
	step(&h);
	/* off and back on: still in maintenance, never fenced */
	node_lost(&h, "node3", true);
	step(&h);
	assert_int_equal(h.st.nodes[2].st.state, SCHED_NODE_MAINTENANCE);
	h.obs[2].online = h.obs[2].renewed = true;
	h.obs[2].expired = false;
	step(&h);
	assert_int_equal(h.st.nodes[2].st.state, SCHED_NODE_MAINTENANCE);
	h.cmds[0] = (struct sched_cmd){SCHED_CMD_MAINT_DISABLE, SCHED_NONE, 2};
	h.n_cmds = 1;
	step(&h);
	assert_int_equal(h.st.nodes[2].st.state, SCHED_NODE_ONLINE);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_MIGRATE);
	assert_int_equal(S(&h, "vm:1")->target, 2);
	assert_int_equal(S(&h, "vm:1")->maint_node, SCHED_NONE);
	assert_true(has_event(&h, SCHED_R_MAINT_RETURN));
	h_close(&h);
}

static void test_freeze(void **state)
{
	struct h h;

	(void)state;
	h_init(&h, 2);
	h_svc(&h, "vm:1", "node2", SCHED_REQ_STARTED);
	step(&h);
	h.obs[1].mode = SCHED_AGENT_FREEZE;
	step(&h);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_FREEZE);
	/* powered off: frozen services are never fenced or moved */
	node_lost(&h, "node2", true);
	h.obs[1].fence_done = true;
	step(&h);
	assert_int_equal(h.st.nodes[1].st.state, SCHED_NODE_UNKNOWN);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_FREEZE);
	h.obs[1] = (struct sched_node_obs){.online = true,
					   .renewed = true,
					   .mode = SCHED_AGENT_ACTIVE};
	step(&h);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_STARTED);
	assert_int_equal(S(&h, "vm:1")->node, 1);
	h_close(&h);
}

static void test_order_and_priority(void **state)
{
	char sids[2][SCHED_NAME_MAX] = {"vm:2", "vm:1"};
	struct sched_rule r = {.id = "o", .kind = SCHED_RULE_ORDER};
	struct h h;

	(void)state;
	h_init(&h, 2);
	h_svc(&h, "vm:1", "node1", SCHED_REQ_STARTED);
	h_svc(&h, "vm:2", "node2", SCHED_REQ_STARTED);
	r.sids = (const char(*)[SCHED_NAME_MAX])sids;
	r.n_sids = 2;
	assert_int_equal(scheduler_rules_add(&h.rs, &r), 0);
	step(&h);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_REQUEST_START);
	assert_int_equal(S(&h, "vm:1")->why.reason, SCHED_R_ORDER_WAIT);
	assert_int_equal(S(&h, "vm:2")->state, SCHED_SVC_STARTED);
	assert_int_equal(step(&h), 0); /* waiting is recorded once */
	result(&h, "vm:2", 0);
	step(&h);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_STARTED);
	h_close(&h);

	/* capacity for one: the higher priority recovers first */
	h_init(&h, 2);
	h.st.crs = SCHED_CRS_STATIC;
	h.st.nodes[0].mem = h.st.nodes[1].mem = 100;
	h_svc(&h, "vm:1", "node2", SCHED_REQ_STARTED);
	h_svc(&h, "vm:2", "node2", SCHED_REQ_STARTED);
	h.st.svcs[0].mem = h.st.svcs[1].mem = 60;
	h.st.svcs[1].priority = 5;
	S(&h, "vm:1")->state = S(&h, "vm:2")->state = SCHED_SVC_RECOVERY;
	h.st.nodes[1].st.state = SCHED_NODE_UNKNOWN;
	node_lost(&h, "node2", true);
	step(&h);
	assert_int_equal(S(&h, "vm:2")->state, SCHED_SVC_STARTED);
	assert_int_equal(S(&h, "vm:1")->state, SCHED_SVC_RECOVERY);
	assert_int_equal(S(&h, "vm:1")->why.reason, SCHED_R_NO_NODE);
	assert_int_equal(S(&h, "vm:1")->why.filtered[SCHED_F_CAPACITY], 1);
	h_close(&h);
}

static void test_admission(void **state)
{
	struct h h;
	uint32_t lost = SCHED_NONE, i;

	(void)state;
	h_init(&h, 3);
	h.st.crs = SCHED_CRS_STATIC;
	h.st.nodes[0].mem = h.st.nodes[1].mem = h.st.nodes[2].mem = 100;
	h_svc(&h, "vm:1", "node1", SCHED_REQ_STARTED);
	h_svc(&h, "vm:2", "node2", SCHED_REQ_STARTED);
	h_svc(&h, "vm:3", "node3", SCHED_REQ_STARTED);
	h_svc(&h, "vm:4", "", SCHED_REQ_STARTED); /* not placed yet */
	for (i = 0; i < 3; i++) {
		h.st.svcs[i].st.state = SCHED_SVC_STARTED;
		h.st.svcs[i].mem = 30;
	}
	h.st.svcs[3].mem = 10;
	/* vm:4 goes to node1; losing it moves 40 onto 70 + 70 free */
	assert_int_equal(scheduler_admission_check(&h.st, 3, NULL, &lost), 0);
	for (i = 0; i < 3; i++)
		h.st.svcs[i].mem = 60;
	assert_int_equal(scheduler_admission_check(&h.st, 3, NULL, &lost),
			 -ENOSPC);
	assert_int_equal(lost, 0);
	assert_int_equal(scheduler_admission_check(&h.st, 9, NULL, &lost),
			 -EINVAL);
	h_close(&h);
}

/* ---- properties ---- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Agents: every pending request succeeds, except random start failures. */
static void agents(struct h *h, uint64_t *seed, const bool *up)
{
	uint32_t i;

	for (i = 0; i < h->st.n_svcs; i++) {
		const struct sched_status *s = &h->st.svcs[i].st;

		if (s->node >= h->st.n_nodes || !up[s->node] || s->confirmed)
			continue;
		if (s->state != SCHED_SVC_STARTED &&
		    s->state != SCHED_SVC_REQUEST_STOP &&
		    s->state != SCHED_SVC_MIGRATE &&
		    s->state != SCHED_SVC_RELOCATE)
			continue;
		h->res[h->n_res].svc = i;
		h->res[h->n_res].uid = s->uid;
		h->res[h->n_res++].code = rnd(seed) % 6 == 0 ? -EIO : 0;
	}
}

static void dump(struct h *h)
{
	char buf[256];
	size_t k;

	for (k = 0; k < h->plan.n_events; k++) {
		scheduler_event_format(&h->st, &h->plan.events[k], buf,
				       sizeof(buf));
		print_message("event: %s\n", buf);
	}
}

static void check_step(struct h *h, unsigned seed_i, const uint64_t *renew,
		       uint64_t elected, const struct fencing_config *fc,
		       const bool *apart)
{
	uint32_t ns = h->st.n_svcs, i, j;
	size_t k;

	for (k = 0; k < h->plan.n_events; k++) {
		const struct sched_event *ev = &h->plan.events[k];
		uint64_t since;

		/* a fence is acknowledged (its services may move) only after
		 * lease + margin since the node's last renewal */
		if (ev->svc != SCHED_NONE || ev->node == SCHED_NONE ||
		    (ev->reason != SCHED_R_FENCE_LEASE &&
		     ev->reason != SCHED_R_FENCE_NO_SERVICES))
			continue;
		since = renew[ev->node] > elected ? renew[ev->node] : elected;
		if (h->now < since + fc->lease_ms + fc->margin_ms)
			fail_msg("seed %u: node%u fenced at %llu, last renewal "
				 "%llu",
				 seed_i, ev->node + 1,
				 (unsigned long long)h->now,
				 (unsigned long long)since);
	}
	for (i = 0; i < ns; i++) {
		const struct sched_status *a = &h->st.svcs[i].st;

		/* nothing is left running-state on a node being fenced */
		if (a->node < h->st.n_nodes &&
		    h->st.nodes[a->node].st.state == SCHED_NODE_FENCE &&
		    (a->state == SCHED_SVC_STARTED ||
		     a->state == SCHED_SVC_REQUEST_STOP ||
		     a->state == SCHED_SVC_MIGRATE ||
		     a->state == SCHED_SVC_RELOCATE)) {
			dump(h);
			fail_msg("seed %u: %s %s on node%u in fence", seed_i,
				 h->st.svcs[i].sid,
				 scheduler_svc_state_str(a->state), a->node + 1);
		}
	}
	for (i = 0; i < ns; i++)
		for (j = i + 1; j < ns; j++) {
			const struct sched_status *a = &h->st.svcs[i].st;
			const struct sched_status *b = &h->st.svcs[j].st;

			if (apart[i * ns + j] && a->state == SCHED_SVC_STARTED &&
			    b->state == SCHED_SVC_STARTED && a->node == b->node)
				fail_msg("seed %u: %s and %s together on node%u",
					 seed_i, h->st.svcs[i].sid,
					 h->st.svcs[j].sid, a->node + 1);
		}
}

/*
 * Random node failures and returns with real fencing verdicts, random
 * start failures, hard anti-affinity pairs. After every step: no fence was
 * acknowledged (so nothing recovered) before lease + margin since the
 * node's last renewal or the leader's election, no service is left in a
 * running state on a node being fenced, no two anti-affine services are
 * started on one node, and the step is a fixpoint: repeating it with the
 * same input changes nothing.
 */
static void test_property_chaos(void **state)
{
	struct fencing_config fc;
	unsigned seed_i;

	(void)state;
	fencing_config_default(&fc);
	for (seed_i = 1; seed_i <= 40; seed_i++) {
		uint64_t seed = seed_i, renew[MAXN] = {0}, elected = 0;
		struct fencing_peer peers[MAXN];
		uint32_t nn = 3 + rnd(&seed) % 6, ns = 4 + rnd(&seed) % 20;
		uint32_t i, k;
		bool up[MAXN], *apart;
		struct h h;
		int t;

		h_init(&h, (int)nn);
		memset(peers, 0, sizeof(peers));
		apart = calloc(ns * ns, sizeof(*apart));
		for (i = 0; i < ns; i++) {
			char sid[16];

			snprintf(sid, sizeof(sid), "vm:%03u", i);
			h_svc(&h, sid, h.st.nodes[rnd(&seed) % nn].name,
			      SCHED_REQ_STARTED);
		}
		for (k = 0; k < ns / 3; k++) {
			char sv[2][SCHED_NAME_MAX];
			struct sched_rule r = {.kind =
						       SCHED_RULE_RESOURCE_AFFINITY,
					       .strict = true};
			uint32_t a = rnd(&seed) % ns, b = rnd(&seed) % ns;

			if (a == b || apart[a * ns + b])
				continue;
			apart[a * ns + b] = apart[b * ns + a] = true;
			snprintf(r.id, sizeof(r.id), "n%u", k);
			snprintf(sv[0], SCHED_NAME_MAX, "%s", h.st.svcs[a].sid);
			snprintf(sv[1], SCHED_NAME_MAX, "%s", h.st.svcs[b].sid);
			r.sids = (const char(*)[SCHED_NAME_MAX])sv;
			r.n_sids = 2;
			assert_int_equal(scheduler_rules_add(&h.rs, &r), 0);
		}
		for (i = 0; i < nn; i++)
			up[i] = true;
		for (t = 0; t < 300; t++) {
			struct sched_input in;
			size_t again;

			h.now += 500;
			if (rnd(&seed) % 40 == 0) /* leader change */
				elected = h.now, memset(peers, 0, sizeof(peers));
			i = (uint32_t)(rnd(&seed) % nn);
			if (rnd(&seed) % 15 == 0)
				up[i] = !up[i];
			for (i = 0; i < nn; i++) {
				struct fencing_decision d;
				bool fencing = h.st.nodes[i].st.state ==
					       SCHED_NODE_FENCE;

				if (up[i] &&
				    fencing_peer_renew(&peers[i], h.now, fencing) == 0)
					renew[i] = h.now;
				fencing_peer_check(&fc, &peers[i], elected, h.now,
						   &d);
				h.obs[i].online = d.verdict == FENCING_ALIVE;
				h.obs[i].renewed = peers[i].renewed;
				h.obs[i].expired = d.verdict != FENCING_ALIVE;
				h.obs[i].fence_done =
					d.verdict == FENCING_SAFE ||
					d.verdict == FENCING_CONFIRMED;
			}
			agents(&h, &seed, up);
			in = (struct sched_input){h.obs, h.res, h.n_res, NULL, 0};
			assert_int_equal(scheduler_step(&h.st, &h.rs, &in, h.now,
							&h.plan),
					 0);
			assert_int_equal(scheduler_plan_apply(&h.st, &h.plan), 0);
			check_step(&h, seed_i, renew, elected, &fc, apart);
			assert_int_equal(scheduler_step(&h.st, &h.rs, &in, h.now,
							&h.plan),
					 0);
			again = h.plan.n_actions;
			if (again != 0)
				fail_msg("seed %u step %d: not a fixpoint (%zu "
					 "actions)",
					 seed_i, t, again);
			h.n_res = 0;
		}
		free(apart);
		h_close(&h);
	}
}

/* Two leaders computing from the same stored state decide the same. */
static void test_deterministic(void **state)
{
	struct sched_plan a, b;
	struct h h;
	struct sched_input in;

	(void)state;
	h_init(&h, 4);
	h_svc(&h, "vm:1", "node1", SCHED_REQ_STARTED);
	h_svc(&h, "vm:2", "node1", SCHED_REQ_STARTED);
	h_svc(&h, "vm:3", "node2", SCHED_REQ_STARTED);
	step(&h);
	node_lost(&h, "node1", true);
	h.obs[0].fence_done = true;
	scheduler_plan_init(&a);
	scheduler_plan_init(&b);
	in = (struct sched_input){h.obs, NULL, 0, NULL, 0};
	assert_int_equal(scheduler_step(&h.st, &h.rs, &in, 5000, &a), 0);
	assert_int_equal(scheduler_step(&h.st, &h.rs, &in, 5000, &b), 0);
	assert_int_equal(a.n_actions, b.n_actions);
	assert_int_equal(a.n_events, b.n_events);
	assert_memory_equal(a.actions, b.actions,
			    a.n_actions * sizeof(*a.actions));
	assert_memory_equal(a.events, b.events, a.n_events * sizeof(*a.events));
	assert_int_equal(scheduler_step(&h.st, &h.rs, NULL, 5000, &a), -EINVAL);
	scheduler_plan_close(&a);
	scheduler_plan_close(&b);
	h_close(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_stop),
		cmocka_unit_test(test_fence_gates_recovery),
		cmocka_unit_test(test_inherited_fence),
		cmocka_unit_test(test_failure_policy),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_maintenance),
		cmocka_unit_test(test_freeze),
		cmocka_unit_test(test_order_and_priority),
		cmocka_unit_test(test_admission),
		cmocka_unit_test(test_property_chaos),
		cmocka_unit_test(test_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
