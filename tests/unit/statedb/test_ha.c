/* Unit tests for statedb/ha.c and haplan.c against a real dqlite node. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
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
#include "scheduler/scheduler.h"
#include "statedb/statedb.h"
#include "tests/unit/statedb/dqfix.h"

struct fixture {
	struct statedb *db;
	struct dqfix dq;
};

static void node_fill(struct statedb_node *n, uint64_t id, const char *name,
		      int cpus, int64_t mem)
{
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->cpus = cpus;
	n->memory_mb = mem;
	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->address, sizeof(n->address), "127.0.0.%" PRIu64, id);
	snprintf(n->peer, sizeof(n->peer), "127.0.0.%" PRIu64 ":8007", id);
	snprintf(n->labels, sizeof(n->labels), "{}");
	snprintf(n->cert_fp, sizeof(n->cert_fp), "fp%" PRIu64, id);
}

static void vm_add(struct statedb *db, int64_t vmid, const char *node,
		   int cpus, int64_t mem)
{
	struct statedb_vm_spec s = {0};
	char name[32];

	snprintf(name, sizeof(name), "vm%" PRId64, vmid);
	s.name = name;
	s.cpus = cpus;
	s.memory_mb = mem;
	s.tags = "";
	s.config = "{}";
	assert_int_equal(statedb_vm_create(db, vmid, node, &s, "running", NULL),
			 0);
	assert_int_equal(statedb_vm_lock(db, vmid, "", "create", NULL), 0);
}

static int setup(void **state)
{
	static struct fixture f;
	struct statedb_node n;
	struct hx_err err = {0};

	memset(&f, 0, sizeof(f));
	node_fill(&n, 1, "n1", 8, 16384);
	if (dqfix_setup(&f.dq, "ha", 1, &n) < 0)
		return -1;
	f.db = f.dq.db[0];
	for (uint64_t id = 2; id <= 3; id++) {
		char hash[16], name[8];
		snprintf(hash, sizeof(hash), "tok%" PRIu64, id);
		snprintf(name, sizeof(name), "n%" PRIu64, id);
		node_fill(&n, id, name, 8, 16384);
		if (statedb_token_add(f.db, hash, INT64_MAX, "t", &err) < 0 ||
		    statedb_node_admit(f.db, hash, 0, &n, &err) < 0) {
			fprintf(stderr, "setup: %s\n", err.msg);
			return -1;
		}
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dqfix_teardown(&f->dq);
	return 0;
}

/* Configuration: add, read, compare-and-set update, delete; bad input is
 * refused and changes nothing. */
static void test_resource_crud(void **state)
{
	struct fixture *f = *state;
	struct statedb_ha_config c;
	struct statedb_ha_resource h, *list;
	struct statedb_vm vm;
	struct hx_err err = {0};
	char digest[33];
	unsigned n;

	vm_add(f->db, 100, "n1", 1, 128);
	statedb_ha_config_defaults(&c);
	assert_int_equal(statedb_ha_resource_add(f->db, 999, &c, &err),
			 -ENOENT);
	snprintf(c.request, sizeof(c.request), "running");
	assert_int_equal(statedb_ha_resource_add(f->db, 100, &c, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "state"));
	assert_int_equal(statedb_ha_resource_get(f->db, 100, &h, NULL),
			 -ENOENT);
	statedb_ha_config_defaults(&c);
	c.priority = 5;
	snprintf(c.comment, sizeof(c.comment), "web");
	assert_int_equal(statedb_ha_resource_add(f->db, 100, &c, NULL), 0);
	assert_int_equal(statedb_ha_resource_add(f->db, 100, &c, NULL),
			 -EEXIST);
	assert_int_equal(statedb_ha_resource_get(f->db, 100, &h, NULL), 0);
	assert_string_equal(h.conf.request, "started");
	assert_int_equal(h.conf.priority, 5);
	assert_string_equal(h.conf.comment, "web");
	assert_string_equal(h.state, "");
	/* the VM row knows it is managed */
	assert_int_equal(statedb_vm_get(f->db, "100", &vm, NULL), 0);
	assert_true(vm.ha);
	statedb_vm_clear(&vm);
	/* compare-and-set */
	snprintf(digest, sizeof(digest), "%s", h.digest);
	c.max_restart = 3;
	assert_int_equal(statedb_ha_resource_update(f->db, 100, &c, digest,
						    NULL),
			 0);
	c.max_restart = 4;
	assert_int_equal(statedb_ha_resource_update(f->db, 100, &c, digest,
						    &err),
			 HX_ECONFLICT);
	c.max_relocate = 11;
	assert_int_equal(statedb_ha_resource_update(f->db, 100, &c, NULL,
						    &err),
			 -EINVAL);
	assert_int_equal(statedb_ha_resource_get(f->db, 100, &h, NULL), 0);
	assert_int_equal(h.conf.max_restart, 3);
	assert_int_equal(h.conf.max_relocate, 1);
	assert_int_equal(statedb_ha_resource_list(f->db, &list, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].vmid, 100);
	free(list);
	/* 'ignored' is not managed */
	snprintf(c.request, sizeof(c.request), "ignored");
	c.max_relocate = 1;
	assert_int_equal(statedb_ha_resource_update(f->db, 100, &c, NULL,
						    NULL),
			 0);
	assert_int_equal(statedb_vm_get(f->db, "100", &vm, NULL), 0);
	assert_false(vm.ha);
	statedb_vm_clear(&vm);
	assert_int_equal(statedb_ha_resource_delete(f->db, 100, "nope", &err),
			 HX_ECONFLICT);
	assert_int_equal(statedb_ha_resource_delete(f->db, 100, NULL, NULL),
			 0);
	assert_int_equal(statedb_ha_resource_delete(f->db, 100, NULL, NULL),
			 -ENOENT);
	assert_int_equal(statedb_vm_delete(f->db, 100, NULL), 0);
}

static void rule_fill(struct statedb_ha_rule *r, const char *id,
		      const char *kind, const char *res, const char *nodes)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->kind, sizeof(r->kind), "%s", kind);
	snprintf(r->resources, sizeof(r->resources), "%s", res);
	snprintf(r->nodes, sizeof(r->nodes), "%s", nodes);
	r->strict = true;
}

static void test_rule_crud(void **state)
{
	struct fixture *f = *state;
	struct statedb_ha_rule r, got, *list;
	struct sched_rule sr;
	char sids[4][SCHED_NAME_MAX];
	struct sched_node_prio np[4];
	struct hx_err err = {0};
	unsigned n;

	rule_fill(&r, "pin", "node-affinity", "100 101", "n1:2 n2");
	assert_int_equal(statedb_ha_rule_to_sched(&r, &sr, sids, np, 4), 0);
	assert_int_equal(sr.kind, SCHED_RULE_NODE_AFFINITY);
	assert_int_equal(sr.n_sids, 2);
	assert_string_equal(sr.sids[1], "vm:101");
	assert_int_equal(sr.n_nodes, 2);
	assert_string_equal(sr.nodes[0].node, "n1");
	assert_int_equal(sr.nodes[0].priority, 2);
	assert_int_equal(sr.nodes[1].priority, 0);
	assert_int_equal(statedb_ha_rule_add(f->db, &r, NULL), 0);
	assert_int_equal(statedb_ha_rule_add(f->db, &r, &err), -EEXIST);
	rule_fill(&r, "bad", "sideways", "100", "");
	assert_int_equal(statedb_ha_rule_add(f->db, &r, &err), -EINVAL);
	rule_fill(&r, "bad", "order", "100 x", "");
	assert_int_equal(statedb_ha_rule_add(f->db, &r, &err), -EINVAL);
	rule_fill(&r, "bad", "node-affinity", "100", "n1:");
	assert_int_equal(statedb_ha_rule_add(f->db, &r, &err), -EINVAL);
	assert_int_equal(statedb_ha_rule_get(f->db, "bad", &got, NULL),
			 -ENOENT);
	assert_int_equal(statedb_ha_rule_get(f->db, "pin", &got, NULL), 0);
	got.strict = false;
	assert_int_equal(statedb_ha_rule_update(f->db, &got, got.digest, NULL),
			 0);
	assert_int_equal(statedb_ha_rule_update(f->db, &got, got.digest, &err),
			 HX_ECONFLICT);
	assert_int_equal(statedb_ha_rule_list(f->db, &list, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_false(list[0].strict);
	free(list);
	assert_int_equal(statedb_ha_rule_delete(f->db, "pin", NULL, NULL), 0);
	assert_int_equal(statedb_ha_rule_delete(f->db, "pin", NULL, NULL),
			 -ENOENT);
}

/* Everyone online with a lease. */
static void obs_all(const struct sched_state *st, struct sched_node_obs *obs,
		    uint32_t dead)
{
	for (uint32_t i = 0; i < st->n_nodes; i++) {
		memset(&obs[i], 0, sizeof(obs[i]));
		obs[i].online = i != dead;
		obs[i].renewed = i != dead;
		obs[i].expired = i == dead;
		obs[i].fence_done = i == dead;
		obs[i].mode = SCHED_AGENT_ACTIVE;
	}
}

/* One step over the stored state; returns the number of actions. */
static size_t step(struct fixture *f, uint32_t dead_hint, const char *dead,
		   const struct sched_result *res, size_t nres)
{
	struct statedb_ha_snapshot s;
	struct sched_node_obs obs[8];
	struct sched_input in = {0};
	struct sched_plan plan;
	struct hx_err err = {0};
	uint32_t d = SCHED_NONE;
	size_t n;

	(void)dead_hint;
	assert_int_equal(statedb_ha_load(f->db, &s, &err), 0);
	if (dead != NULL)
		d = scheduler_state_find_node(&s.st, dead);
	obs_all(&s.st, obs, d);
	in.nodes = obs;
	in.results = res;
	in.n_results = nres;
	scheduler_plan_init(&plan);
	assert_int_equal(scheduler_step(&s.st, &s.rules, &in, hx_wall_ms(),
					&plan),
			 0);
	assert_int_equal(statedb_ha_apply(f->db, &s, &plan, "n1", 1, &err), 0);
	n = plan.n_actions;
	scheduler_plan_close(&plan);
	statedb_ha_snapshot_close(&s);
	return n;
}

/* Load, step, apply through the database: statuses, VM rows, events and
 * the next uid are stored; the stored state is a fixpoint; a dead node's
 * service is fenced, recovered and its VM row moved in committed writes. */
static void test_load_step_apply(void **state)
{
	struct fixture *f = *state;
	struct statedb_ha_snapshot s;
	struct statedb_ha_config c;
	struct statedb_ha_resource h;
	struct statedb_ha_rule r;
	struct statedb_event *ev;
	struct statedb_vm vm;
	struct sched_result res;
	uint32_t i;
	unsigned n;
	int64_t uid;

	vm_add(f->db, 200, "n2", 2, 1024);
	vm_add(f->db, 201, "n3", 1, 512); /* plain VM: load only */
	statedb_ha_config_defaults(&c);
	assert_int_equal(statedb_ha_resource_add(f->db, 200, &c, NULL), 0);
	rule_fill(&r, "keep-off-n1", "node-affinity", "200", "n2:2 n3:1");
	assert_int_equal(statedb_ha_rule_add(f->db, &r, NULL), 0);

	assert_int_equal(statedb_ha_load(f->db, &s, NULL), 0);
	assert_int_equal(s.st.n_nodes, 3);
	assert_string_equal(s.st.nodes[0].name, "n1");
	assert_true(s.st.nodes[1].cpu == 8.0);
	assert_int_equal(s.st.nodes[1].mem, 16384ull << 20);
	assert_int_equal(s.st.n_svcs, 2);
	assert_int_equal(s.rules.n_rules, 1);
	i = scheduler_state_find_service(&s.st, "vm:200");
	assert_int_not_equal(i, SCHED_NONE);
	assert_true(s.vms[i].ha);
	assert_int_equal(s.st.svcs[i].st.state, SCHED_SVC_REQUEST_START);
	assert_int_equal(s.st.svcs[i].st.node, 1);
	assert_true(s.st.svcs[i].mem == 1024ull << 20);
	i = scheduler_state_find_service(&s.st, "vm:201");
	assert_false(s.vms[i].ha);
	assert_int_equal(s.st.svcs[i].request, SCHED_REQ_IGNORED);
	assert_true(s.node_ids[2] == 3);
	statedb_ha_snapshot_close(&s);

	/* first step: nodes online, the service started on n2 */
	assert_true(step(f, 0, NULL, NULL, 0) > 0);
	assert_int_equal(statedb_ha_resource_get(f->db, 200, &h, NULL), 0);
	assert_string_equal(h.state, "started");
	assert_string_equal(h.node, "n2");
	assert_false(h.confirmed);
	assert_true(h.uid > 0 && h.uid_ms > 0);
	assert_non_null(strstr(h.why, "service 'vm:200'"));
	uid = h.uid;
	/* a fixpoint through the database */
	assert_int_equal(step(f, 0, NULL, NULL, 0), 0);
	/* the agent's confirmation */
	assert_int_equal(statedb_ha_load(f->db, &s, NULL), 0);
	res.svc = scheduler_state_find_service(&s.st, "vm:200");
	res.uid = (uint64_t)uid;
	res.code = 0;
	statedb_ha_snapshot_close(&s);
	assert_int_equal(step(f, 0, NULL, &res, 1), 1);
	assert_int_equal(statedb_ha_resource_get(f->db, 200, &h, NULL), 0);
	assert_true(h.confirmed);
	assert_int_equal(step(f, 0, NULL, NULL, 0), 0);

	/* n2 dies: fence, then (its fence done) recovery onto n3 */
	for (int k = 0; k < 4; k++)
		(void)step(f, 0, "n2", NULL, 0);
	assert_int_equal(statedb_ha_resource_get(f->db, 200, &h, NULL), 0);
	assert_string_equal(h.state, "started");
	assert_string_equal(h.node, "n3");
	assert_true(h.uid > uid);
	assert_int_equal(statedb_vm_get(f->db, "200", &vm, NULL), 0);
	assert_string_equal(vm.node, "n3");
	assert_string_equal(vm.desired, "running");
	assert_int_equal(vm.ha_uid, h.uid);
	statedb_vm_clear(&vm);
	/* the plain VM was not touched */
	assert_int_equal(statedb_vm_get(f->db, "201", &vm, NULL), 0);
	assert_string_equal(vm.node, "n3");
	statedb_vm_clear(&vm);
	/* events with reasons */
	assert_int_equal(statedb_event_list(f->db, 0, 1000, "vm/200", &ev, &n,
					    NULL),
			 0);
	bool fenced = false, recovered = false;
	for (unsigned k = 0; k < n; k++) {
		assert_string_equal(ev[k].actor, "ha");
		fenced = fenced || strstr(ev[k].message, "fence") != NULL;
		recovered = recovered ||
			    strstr(ev[k].message, "recovered") != NULL;
	}
	free(ev);
	assert_true(fenced);
	assert_true(recovered);
	/* node states are stored by name */
	struct statedb_ha_node *hn;
	assert_int_equal(statedb_ha_node_list(f->db, &hn, &n, NULL), 0);
	assert_int_equal(n, 3);
	assert_string_equal(hn[1].name, "n2");
	assert_string_not_equal(hn[1].state, "online");
	assert_string_equal(hn[2].state, "online");
	free(hn);
	/* the next uid is stored: a new load hands out larger ones */
	assert_int_equal(statedb_ha_load(f->db, &s, NULL), 0);
	assert_true(s.st.next_uid > (uint64_t)h.uid);
	statedb_ha_snapshot_close(&s);
	/* a plan commits only on the leader it names */
	assert_int_equal(statedb_ha_load(f->db, &s, NULL), 0);
	{
		struct sched_node_obs obs[8];
		struct sched_input in = {0};
		struct sched_plan plan;
		struct hx_err err = {0};
		struct statedb_ha_config c2;

		statedb_ha_config_defaults(&c2);
		snprintf(c2.request, sizeof(c2.request), "stopped");
		assert_int_equal(statedb_ha_resource_update(f->db, 200, &c2,
							    NULL, NULL),
				 0);
		statedb_ha_snapshot_close(&s);
		assert_int_equal(statedb_ha_load(f->db, &s, NULL), 0);
		obs_all(&s.st, obs, SCHED_NONE);
		in.nodes = obs;
		scheduler_plan_init(&plan);
		assert_int_equal(scheduler_step(&s.st, &s.rules, &in,
						hx_wall_ms(), &plan),
				 0);
		assert_true(plan.n_actions > 0);
		assert_int_equal(statedb_ha_apply(f->db, &s, &plan, "n2", 2,
						  &err),
				 HX_ENOTLEADER);
		scheduler_plan_close(&plan);
		assert_int_equal(statedb_ha_resource_get(f->db, 200, &h, NULL),
				 0);
		assert_string_equal(h.state, "started"); /* unchanged */
	}
	statedb_ha_snapshot_close(&s);
	/* after dropping every connection, reads and writes find the leader */
	statedb_reconnect(f->db);
	assert_int_equal(statedb_ha_resource_get(f->db, 200, &h, NULL), 0);
	assert_int_equal(statedb_ha_resource_update(f->db, 200, &h.conf, NULL,
						    NULL),
			 0);
	/* deleting the VM removes its HA resource */
	assert_int_equal(statedb_vm_delete(f->db, 200, NULL), 0);
	assert_int_equal(statedb_ha_resource_get(f->db, 200, &h, NULL),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resource_crud),
		cmocka_unit_test(test_rule_crud),
		cmocka_unit_test(test_load_step_apply),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
