/*
 * The HA leader loop: every 250 ms on the raft leader, one scheduler step
 * over the replicated state, committed in one write.
 *
 * DESIGN: the decisions are the scheduler's (scheduler/), a pure function;
 * this file only gathers its inputs and carries out its outputs. Inputs:
 * the state loaded from statedb, the fencing verdict of every node from
 * the leader's in-memory lease table (halease.c; a new leader starts empty
 * and counts from its election), the agents' reports read from the VM rows
 * (the node's executor reports a VM running: start confirmed; "failed"
 * after the request was made: start failed; a migration's task failing:
 * migration failed) and queued admin commands. Outputs: one transaction
 * (statedb_ha_apply) that stores the statuses, moves VMs (node and desired
 * state) and records the events; only once it committed, through this
 * node's own dqlite as leader, does anything act on it: the nodes whose
 * VMs must start or stop are woken, and live migrations the scheduler
 * asked for are started through the ordinary VM migration code. The
 * executors (vmexec.c) then do the rest, starting HA VMs only with a
 * valid lease. Each decision is logged at NOTICE with its reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/msg.h"
#include "agent/storage.h"
#include "agent/vm.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

#define STEP_MS 250
#define MIGS_MAX 64

struct ha_cmd {
	enum ha_cmd_kind kind;
	int64_t vmid;
	char node[64];
	bool taken, done, abandoned;
	int code;
	char msg[512];
	struct ha_cmd *next;
};

/* A live migration this leader asked a node for. */
struct ha_mig {
	int64_t vmid;
	uint64_t uid;
	enum { MIG_SUBMITTING, MIG_SUBMITTED, MIG_FAILED } state;
	int64_t task;
	int code;
	uint64_t failed_ms; /* when it was seen failing */
};

/* After a failed migration, the next one of the same VM waits this long
 * (the scheduler asks again at once, e.g. to evacuate a node). */
#define MIG_RETRY_MS 10000

struct ha_loop {
	pthread_t th;
	bool started;
	pthread_mutex_t lock; /* cmds, migs, kicked, stopping */
	pthread_cond_t cond;
	bool stopping, kicked;
	struct ha_cmd *cmds;
	struct ha_mig migs[MIGS_MAX];
	unsigned n_migs;
	/* loop thread only */
	bool was_leader;
	uint64_t err_log_ms;
};

/* ---- agent reports ---- */

static bool state_running(const char *s)
{
	return strcmp(s, "running") == 0 || strcmp(s, "paused") == 0 ||
	       strcmp(s, "shutting-down") == 0 || strcmp(s, "starting") == 0;
}

static struct ha_mig *mig_find(struct ha_loop *L, int64_t vmid, uint64_t uid)
{
	for (unsigned i = 0; i < L->n_migs; i++)
		if (L->migs[i].vmid == vmid && L->migs[i].uid == uid)
			return &L->migs[i];
	return NULL;
}

/* The outcome of the migration request of service @i, if known. */
static bool mig_result(struct agent *a, const struct statedb_ha_vm *v,
		       uint64_t uid, int *ret_code)
{
	struct ha_loop *L = a->ha->loop;
	struct statedb_task t;
	struct ha_mig m = {0};
	bool found;

	pthread_mutex_lock(&L->lock);
	struct ha_mig *p = mig_find(L, v->vmid, uid);
	found = p != NULL;
	if (found)
		m = *p;
	pthread_mutex_unlock(&L->lock);
	if (!found || m.state == MIG_SUBMITTING)
		return false;
	if (m.state == MIG_FAILED) {
		*ret_code = m.code;
		return true;
	}
	if (v->lock[0] != '\0' ||
	    statedb_task_get(a->db, m.task, &t, NULL, NULL, NULL) < 0 ||
	    strcmp(t.state, "error") != 0)
		return false;
	pthread_mutex_lock(&L->lock);
	if ((p = mig_find(L, v->vmid, uid)) != NULL) {
		p->state = MIG_FAILED;
		p->code = -EIO;
		p->failed_ms = hx_now_ms();
	}
	pthread_mutex_unlock(&L->lock);
	*ret_code = -EIO;
	return true;
}

/* One result per HA service whose node reported on its current request. */
static size_t results(struct agent *a, const struct statedb_ha_snapshot *s,
		      struct sched_result *res)
{
	size_t n = 0;

	for (uint32_t i = 0; i < s->st.n_svcs; i++) {
		const struct sched_status *st = &s->st.svcs[i].st;
		const struct statedb_ha_vm *v = &s->vms[i];
		const char *node = st->node < s->st.n_nodes
					   ? s->st.nodes[st->node].name
					   : "";
		const char *target = st->target < s->st.n_nodes
					     ? s->st.nodes[st->target].name
					     : "";
		bool here = node[0] && strcmp(v->state_node, node) == 0;
		int code = 1;

		if (!v->ha)
			continue;
		switch (st->state) {
		case SCHED_SVC_STARTED:
			if (st->confirmed || !here)
				break;
			if (strcmp(v->state, "running") == 0 &&
			    strcmp(v->node, node) == 0)
				code = 0;
			else if (strcmp(v->state, "failed") == 0 &&
				 v->state_ms >= v->uid_ms)
				code = -EIO;
			break;
		case SCHED_SVC_REQUEST_STOP:
		case SCHED_SVC_RELOCATE:
			if (strcmp(v->desired, "stopped") == 0 &&
			    v->lock[0] == '\0' && !state_running(v->state) &&
			    (here || v->state_node[0] == '\0'))
				code = 0;
			break;
		case SCHED_SVC_MIGRATE:
			if (target[0] && strcmp(v->node, target) == 0 &&
			    v->lock[0] == '\0')
				code = 0;
			else if (!mig_result(a, v, st->uid, &code))
				code = 1;
			break;
		default:
			break;
		}
		if (code <= 0) {
			res[n].svc = i;
			res[n].uid = st->uid;
			res[n++].code = code;
		}
	}
	return n;
}

/* ---- admin commands ---- */

static void cmds_reap(struct ha_loop *L);

/* Turns the queued commands into scheduler commands; rejects at once
 * those that cannot apply. Hold L->lock. */
static size_t cmds_take(struct ha_loop *L, const struct statedb_ha_snapshot *s,
			struct sched_cmd *out, struct ha_cmd **taken,
			size_t max)
{
	size_t n = 0;

	for (struct ha_cmd *c = L->cmds; c != NULL && n < max; c = c->next) {
		char sid[SCHED_NAME_MAX];
		uint32_t svc = SCHED_NONE, node;

		if (c->done || c->taken)
			continue;
		node = scheduler_state_find_node(&s->st, c->node);
		if (node == SCHED_NONE) {
			c->done = true;
			c->code = -ENOENT;
			snprintf(c->msg, sizeof(c->msg), "no node '%s'", c->node);
			continue;
		}
		if (c->kind == HA_CMD_MIGRATE || c->kind == HA_CMD_RELOCATE) {
			snprintf(sid, sizeof(sid), "vm:%" PRId64, c->vmid);
			svc = scheduler_state_find_service(&s->st, sid);
			enum sched_svc_state st =
				svc != SCHED_NONE ? s->st.svcs[svc].st.state
						  : SCHED_SVC_IGNORED;
			if (svc == SCHED_NONE || !s->vms[svc].ha) {
				c->done = true;
				c->code = -ENOENT;
				snprintf(c->msg, sizeof(c->msg),
					 "VM %" PRId64 " is not an HA resource",
					 c->vmid);
				continue;
			}
			if (st != SCHED_SVC_STARTED && st != SCHED_SVC_STOPPED) {
				c->done = true;
				c->code = -EBUSY;
				snprintf(c->msg, sizeof(c->msg),
					 "VM %" PRId64 " is in HA state '%s': "
					 "retry once it is started or stopped",
					 c->vmid, scheduler_svc_state_str(st));
				continue;
			}
		}
		static const enum sched_cmd_kind kinds[] = {
			[HA_CMD_MIGRATE] = SCHED_CMD_MIGRATE,
			[HA_CMD_RELOCATE] = SCHED_CMD_RELOCATE,
			[HA_CMD_MAINT_ENABLE] = SCHED_CMD_MAINT_ENABLE,
			[HA_CMD_MAINT_DISABLE] = SCHED_CMD_MAINT_DISABLE,
		};
		out[n] = (struct sched_cmd){kinds[c->kind], svc, node};
		taken[n++] = c;
		c->taken = true;
	}
	return n;
}

/* After a commit (@ok) or a failed step: the outcome of each command. */
static void cmds_finish(struct ha_loop *L, const struct statedb_ha_snapshot *s,
			const struct sched_state *post,
			const struct sched_plan *plan, const struct sched_cmd *in,
			struct ha_cmd **taken, size_t n, bool ok)
{
	pthread_mutex_lock(&L->lock);
	for (size_t k = 0; k < n; k++) {
		struct ha_cmd *c = taken[k];
		const struct sched_cmd *sc = &in[k];

		if (!ok) {
			c->taken = false; /* retried with the next step */
			continue;
		}
		c->done = true;
		c->code = 0;
		for (size_t e = 0; e < plan->n_events; e++) {
			const struct sched_event *ev = &plan->events[e];
			if (ev->reason != SCHED_R_CMD_REJECTED ||
			    (sc->svc != SCHED_NONE ? ev->svc != sc->svc
						   : ev->node != sc->node))
				continue;
			c->code = -EBUSY;
			(void)scheduler_event_format(&s->st, ev, c->msg,
						     sizeof(c->msg));
		}
		if (c->code == 0 && sc->svc != SCHED_NONE) {
			const struct sched_status *st = &post->svcs[sc->svc].st;
			bool moving = (st->state == SCHED_SVC_MIGRATE ||
				       st->state == SCHED_SVC_RELOCATE) &&
				      st->target == sc->node;
			bool moved = st->state == SCHED_SVC_STOPPED &&
				     st->node == sc->node;
			if (!moving && !moved) {
				c->code = -EBUSY;
				snprintf(c->msg, sizeof(c->msg),
					 "VM %" PRId64 " (HA state '%s') did not "
					 "take the command: retry",
					 c->vmid,
					 scheduler_svc_state_str(st->state));
			}
		}
	}
	cmds_reap(L);
	pthread_cond_broadcast(&L->cond);
	pthread_mutex_unlock(&L->lock);
}

/* Fails every command (leadership lost). Hold L->lock. */
static void cmds_fail_all(struct ha_loop *L, int code, const char *msg)
{
	for (struct ha_cmd *c = L->cmds; c != NULL; c = c->next) {
		if (c->done)
			continue;
		c->done = true;
		c->code = code;
		snprintf(c->msg, sizeof(c->msg), "%s", msg);
	}
	cmds_reap(L);
	pthread_cond_broadcast(&L->cond);
}

/* Unlinks and frees finished commands nobody waits for. Hold L->lock. */
static void cmds_reap(struct ha_loop *L)
{
	struct ha_cmd **pp = &L->cmds;

	while (*pp != NULL) {
		struct ha_cmd *c = *pp;
		if (c->done && c->abandoned) {
			*pp = c->next;
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

int ha_command(struct agent *a, enum ha_cmd_kind kind, int64_t vmid,
	       const char *node, int timeout_ms, struct hx_err *err)
{
	struct ha_loop *L = a->ha != NULL ? a->ha->loop : NULL;
	uint64_t deadline = hx_now_ms() + (uint64_t)timeout_ms;
	struct ha_cmd *c;
	int r;

	if (L == NULL || !agent_is_leader_local(a, NULL, 0))
		return hx_err_set(err, HX_ENOTLEADER,
				  "node '%s' is not the leader: retry",
				  a->cfg.name);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	c->kind = kind;
	c->vmid = vmid;
	snprintf(c->node, sizeof(c->node), "%s", node);
	pthread_mutex_lock(&L->lock);
	c->next = L->cmds;
	L->cmds = c;
	L->kicked = true;
	pthread_cond_broadcast(&L->cond);
	while (!c->done && hx_now_ms() < deadline) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&L->cond, &L->lock, &ts);
	}
	if (!c->done) {
		r = hx_err_set(err, -ETIMEDOUT,
			       "the HA leader did not take the command within "
			       "%d ms: retry",
			       timeout_ms);
		c->abandoned = true;
		if (!c->taken)
			c->done = true; /* never started: drop it */
		cmds_reap(L);
		pthread_mutex_unlock(&L->lock);
		return r;
	}
	r = c->code;
	if (r < 0)
		hx_err_set(err, r, "%s", c->msg);
	c->abandoned = true;
	cmds_reap(L);
	pthread_mutex_unlock(&L->lock);
	return r;
}

/* ---- carrying out a committed plan ---- */

struct kick_job {
	struct agent *a;
	char nodes[16][64];
	unsigned n;
};

static void *kick_thread(void *data)
{
	struct kick_job *j = data;

	for (unsigned i = 0; i < j->n; i++) {
		struct statedb_node n;
		struct msg_out m;
		int fd;

		if (statedb_node_get(j->a->db, j->nodes[i], &n, NULL) < 0 ||
		    hxraft_peer_dial(j->a->peer, n.peer, HXRAFT_SVC_MSG, 1000,
				     &fd, NULL) < 0)
			continue;
		msg_out_init(&m, 1);
		msg_put_str(&m, "t", "kick");
		(void)hxraft_frame_send(fd, m.sbuf.data, m.sbuf.size);
		msg_out_close(&m);
		close(fd);
	}
	free(j);
	return NULL;
}

/* Wakes the executors of the nodes that must start or stop a VM now
 * rather than at their next reconcile pass. */
static void kick_nodes(struct agent *a, const struct statedb_ha_snapshot *s,
		       const struct sched_state *post,
		       const struct sched_plan *plan)
{
	struct kick_job *j = calloc(1, sizeof(*j));
	pthread_t th;

	if (j == NULL)
		return;
	j->a = a;
	for (size_t k = 0; k < plan->n_actions; k++) {
		const struct sched_action *act = &plan->actions[k];
		const struct sched_status *st;
		const char *name;
		bool dup = false;

		if (act->kind != SCHED_ACT_SERVICE || !s->vms[act->index].ha)
			continue;
		st = &post->svcs[act->index].st;
		if (st->node >= post->n_nodes ||
		    (st->state != SCHED_SVC_STARTED &&
		     st->state != SCHED_SVC_REQUEST_STOP &&
		     st->state != SCHED_SVC_RELOCATE))
			continue;
		name = post->nodes[st->node].name;
		if (strcmp(name, a->cfg.name) == 0) {
			vmexec_kick(a->vmx);
			continue;
		}
		for (unsigned i = 0; i < j->n; i++)
			dup = dup || strcmp(j->nodes[i], name) == 0;
		if (!dup && j->n < HX_ARRAY_SIZE(j->nodes))
			snprintf(j->nodes[j->n++], sizeof(j->nodes[0]), "%s",
				 name);
	}
	if (j->n == 0 || pthread_create(&th, NULL, kick_thread, j) != 0) {
		free(j);
		return;
	}
	pthread_detach(th);
}

struct mig_job {
	struct agent *a;
	int64_t vmid;
	uint64_t uid;
	char target[64];
};

static void *mig_thread(void *data)
{
	struct mig_job *j = data;
	struct ha_loop *L = j->a->ha->loop;
	struct api_req req = {0};
	struct api_resp resp = {0};
	char path[64], vmid[24];
	json_t *task;

	snprintf(path, sizeof(path), "/vms/%" PRId64 "/migrate", j->vmid);
	snprintf(vmid, sizeof(vmid), "%" PRId64, j->vmid);
	req.method = "POST";
	req.path = path;
	req.query = "";
	req.local = true;
	snprintf(req.actor, sizeof(req.actor), "ha");
	req.body = json_pack("{s:s, s:b, s:I}", "node", j->target, "online", 1,
			     "ha_uid", (json_int_t)j->uid);
	/* The ordinary VM route: it forwards to the VM's node. */
	agent_api_dispatch(j->a, &req, &resp);
	json_decref(req.body);
	task = resp.status < 300 ? json_object_get(resp.data, "task") : NULL;
	if (task == NULL)
		hx_log(LOG_WARNING, "ha: vm=%" PRId64 " migration to '%s' "
				    "refused: %s",
		       j->vmid, j->target, resp.error);
	else
		hx_log(LOG_NOTICE, "ha: vm=%" PRId64 " live migration to '%s' "
				   "started (task %" JSON_INTEGER_FORMAT ")",
		       j->vmid, j->target, json_integer_value(task));
	pthread_mutex_lock(&L->lock);
	struct ha_mig *m = mig_find(L, j->vmid, j->uid);
	if (m != NULL && task != NULL) {
		m->state = MIG_SUBMITTED;
		m->task = (int64_t)json_integer_value(task);
	} else if (m != NULL) {
		m->state = MIG_FAILED;
		m->code = -EIO;
		m->failed_ms = hx_now_ms();
	}
	L->kicked = true;
	pthread_cond_broadcast(&L->cond);
	pthread_mutex_unlock(&L->lock);
	json_decref(resp.data);
	free(j);
	return NULL;
}

/* Starts the live migrations the committed state asks for. */
static void migrations(struct agent *a, const struct statedb_ha_snapshot *s,
		       const struct sched_state *post)
{
	struct ha_loop *L = a->ha->loop;

	for (uint32_t i = 0; i < post->n_svcs; i++) {
		const struct sched_status *st = &post->svcs[i].st;
		struct mig_job *j;
		pthread_t th;

		if (!s->vms[i].ha || st->state != SCHED_SVC_MIGRATE ||
		    st->target >= post->n_nodes)
			continue;
		pthread_mutex_lock(&L->lock);
		bool known = mig_find(L, s->vms[i].vmid, st->uid) != NULL;
		for (unsigned k = 0; k < L->n_migs && !known; k++)
			known = L->migs[k].vmid == s->vms[i].vmid &&
				L->migs[k].state == MIG_FAILED &&
				hx_now_ms() - L->migs[k].failed_ms <
					MIG_RETRY_MS; /* later */
		if (!known) {
			if (L->n_migs == MIGS_MAX) /* oldest first out */
				memmove(&L->migs[0], &L->migs[1],
					(MIGS_MAX - 1) * sizeof(L->migs[0]));
			else
				L->n_migs++;
			L->migs[L->n_migs - 1] = (struct ha_mig){
				.vmid = s->vms[i].vmid, .uid = st->uid};
		}
		pthread_mutex_unlock(&L->lock);
		if (known || (j = calloc(1, sizeof(*j))) == NULL)
			continue;
		j->a = a;
		j->vmid = s->vms[i].vmid;
		j->uid = st->uid;
		snprintf(j->target, sizeof(j->target), "%s",
			 post->nodes[st->target].name);
		if (pthread_create(&th, NULL, mig_thread, j) != 0) {
			free(j);
			continue;
		}
		pthread_detach(th);
	}
}

/* Logs each decision, fences with their evidence. */
static void log_events(const struct statedb_ha_snapshot *s,
		       const struct sched_plan *plan,
		       const struct fencing_decision *dec)
{
	for (size_t k = 0; k < plan->n_events; k++) {
		const struct sched_event *ev = &plan->events[k];
		char msg[512], evidence[256] = "";

		(void)scheduler_event_format(&s->st, ev, msg, sizeof(msg));
		if (ev->svc == SCHED_NONE && ev->node < s->st.n_nodes &&
		    (ev->reason == SCHED_R_LEASE_LOST ||
		     ev->reason == SCHED_R_FENCE_NEEDED ||
		     ev->reason == SCHED_R_FENCE_LEASE ||
		     ev->reason == SCHED_R_FENCE_AGENT ||
		     ev->reason == SCHED_R_FENCE_NO_SERVICES))
			(void)fencing_decision_format(&dec[ev->node], evidence,
						      sizeof(evidence));
		hx_log(LOG_NOTICE, "ha: %s%s%s%s", msg, evidence[0] ? " (" : "",
		       evidence, evidence[0] ? ")" : "");
	}
}

/* ---- the step ---- */

/* The earliest moment a fencing verdict changes (lease end, safe), so
 * that the loop wakes right then rather than up to a period later. */
static uint64_t next_deadline(const struct fencing_decision *dec, uint32_t n,
			      uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = dec[i].verdict == FENCING_ALIVE ? dec[i].expired_ms
			     : dec[i].verdict == FENCING_EXPIRED
				     ? dec[i].safe_ms
				     : UINT64_MAX;
		if (t > now && t < next)
			next = t;
	}
	return next;
}

/* One step; returns when the next one is due at the latest. */
static uint64_t step(struct agent *a)
{
	struct ha_loop *L = a->ha->loop;
	struct statedb_ha_snapshot s;
	struct sched_state post;
	struct sched_input in = {0};
	struct sched_plan plan;
	struct hx_err err = {0};
	struct sched_node_obs *obs = NULL;
	struct fencing_decision *dec = NULL;
	struct sched_result *res = NULL;
	struct sched_cmd cmds[32];
	struct ha_cmd *taken[32];
	size_t ncmds;
	uint64_t now, next = UINT64_MAX;
	int r;

	if (statedb_ha_load(a->db, &s, &err) < 0) {
		if (hx_now_ms() - L->err_log_ms > 10000) {
			hx_log(LOG_WARNING, "ha: cannot load the state: %s; "
					    "retrying",
			       err.msg);
			L->err_log_ms = hx_now_ms();
		}
		return next;
	}
	ha_leader_update(a, &s.st, &s);
	scheduler_plan_init(&plan);
	scheduler_state_init(&post);
	obs = calloc(s.st.n_nodes + 1, sizeof(*obs));
	dec = calloc(s.st.n_nodes + 1, sizeof(*dec));
	res = calloc(s.st.n_svcs + 1, sizeof(*res));
	if (obs == NULL || dec == NULL || res == NULL)
		goto out;
	now = hx_now_ms();
	for (uint32_t n = 0; n < s.st.n_nodes; n++) {
		ha_leader_observe(a, s.st.nodes[n].name, now, &obs[n], &dec[n]);
		storage_fence_observe(a, s.st.nodes[n].name, &dec[n], &obs[n]);
	}
	next = next_deadline(dec, s.st.n_nodes, now);
	in.nodes = obs;
	in.results = res;
	in.n_results = results(a, &s, res);
	pthread_mutex_lock(&L->lock);
	ncmds = cmds_take(L, &s, cmds, taken, HX_ARRAY_SIZE(cmds));
	pthread_cond_broadcast(&L->cond); /* those rejected at once */
	pthread_mutex_unlock(&L->lock);
	in.cmds = cmds;
	in.n_cmds = ncmds;
	r = scheduler_step(&s.st, &s.rules, &in, hx_wall_ms(), &plan);
	if (r == 0)
		r = statedb_ha_apply(a->db, &s, &plan, a->cfg.name, a->ident.id,
				     &err);
	else
		hx_err_set(&err, r, "scheduler step failed");
	if (r == 0)
		r = scheduler_state_copy(&post, &s.st);
	if (r == 0)
		r = scheduler_plan_apply(&post, &plan);
	if (r < 0) {
		if (hx_now_ms() - L->err_log_ms > 10000) {
			hx_log(LOG_WARNING, "ha: step not committed: %s; "
					    "retrying",
			       err.msg[0] ? err.msg : hx_strerror(r));
			L->err_log_ms = hx_now_ms();
		}
		cmds_finish(L, &s, &s.st, &plan, cmds, taken, ncmds, false);
		goto out;
	}
	log_events(&s, &plan, dec);
	ha_leader_update(a, &post, &s);
	cmds_finish(L, &s, &post, &plan, cmds, taken, ncmds, true);
	kick_nodes(a, &s, &post, &plan);
	migrations(a, &s, &post);
out:
	scheduler_state_close(&post);
	scheduler_plan_close(&plan);
	statedb_ha_snapshot_close(&s);
	free(obs);
	free(dec);
	free(res);
	return next;
}

static void *loop_thread(void *data)
{
	struct agent *a = data;
	struct ha_loop *L = a->ha->loop;
	uint64_t next = 0;

	for (;;) {
		uint64_t t0 = hx_now_ms(), due = t0 + STEP_MS;
		bool leader, stop;

		if (next > t0 && next < due)
			due = next;
		pthread_mutex_lock(&L->lock);
		while (!L->stopping && !L->kicked && hx_now_ms() < due) {
			uint64_t left = due - hx_now_ms();
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(left < 50 ? left : 50) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&L->cond, &L->lock, &ts);
		}
		L->kicked = false;
		stop = L->stopping;
		pthread_mutex_unlock(&L->lock);
		if (stop)
			break;
		leader = agent_is_leader_local(a, NULL, 0);
		if (!leader) {
			if (L->was_leader) {
				ha_leader_lost(a);
				hx_log(LOG_NOTICE, "ha: no longer leading");
			}
			L->was_leader = false;
			pthread_mutex_lock(&L->lock);
			cmds_fail_all(L, HX_ENOTLEADER,
				      "this node is no longer the leader: retry");
			L->n_migs = 0;
			pthread_mutex_unlock(&L->lock);
			continue;
		}
		if (!L->was_leader) {
			const struct fencing_config *fc = agent_ha_fencing(a);
			uint64_t now = hx_now_ms();

			ha_leader_reset(a, now);
			/* the pool may still talk to a cut-off old leader */
			statedb_reconnect(a->db);
			hx_log(LOG_NOTICE,
			       "ha: leading; no node is declared safe before "
			       "%" PRIu64 " ms (lease %" PRIu64
			       " ms + margin %" PRIu64 " ms after the election "
			       "at %" PRIu64 " ms)",
			       now + fc->lease_ms + fc->margin_ms, fc->lease_ms,
			       fc->margin_ms, now);
			L->was_leader = true;
		}
		next = step(a);
	}
	return NULL;
}

void ha_loop_kick(struct agent *a)
{
	struct ha_loop *L = a->ha != NULL ? a->ha->loop : NULL;

	if (L == NULL)
		return;
	pthread_mutex_lock(&L->lock);
	L->kicked = true;
	pthread_cond_broadcast(&L->cond);
	pthread_mutex_unlock(&L->lock);
}

void ha_loop_start(struct agent *a)
{
	struct ha_loop *L = calloc(1, sizeof(*L));

	if (L == NULL)
		return;
	pthread_mutex_init(&L->lock, NULL);
	pthread_cond_init(&L->cond, NULL);
	a->ha->loop = L;
	if (pthread_create(&L->th, NULL, loop_thread, a) == 0)
		L->started = true;
	else
		hx_log(LOG_ERR, "ha: cannot start the leader loop");
}

void ha_loop_stop(struct agent *a)
{
	struct ha_loop *L = a->ha != NULL ? a->ha->loop : NULL;

	if (L == NULL || !L->started)
		return;
	pthread_mutex_lock(&L->lock);
	L->stopping = true;
	cmds_fail_all(L, HX_ENOTLEADER, "hxd is stopping");
	pthread_cond_broadcast(&L->cond);
	pthread_mutex_unlock(&L->lock);
	/* Not joined: a step may wait for the database for seconds, and
	 * nothing it does needs finishing (crash-only). */
	pthread_detach(L->th);
}
