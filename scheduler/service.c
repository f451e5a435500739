/*
 * scheduler: the state machine of one HA service.
 *
 * DESIGN: one function per state, each looking at the service's
 * configuration, its node's status and lease, the agent's result for the
 * current request (matched by uid) and pending admin commands, and taking
 * at most one transition. Every transition hands out a new uid, so an
 * agent executes each request once and a result for an old request is
 * ignored. Restart and relocation policies live here, not in the agent,
 * so their counters are part of the stored state and survive a change of
 * leader. Waiting states (no node fits, ordering) record their reason
 * once, without a transition.
 *
 * Safety: a service leaves a node that lost its lease only through
 * 'fence' -> 'recovery', and 'fence' ends only when the fencing module has
 * confirmed the node safe (step.c, fence_pass).
 */
#include "config.h"

#include <string.h>

#include "scheduler/internal.h"

static const struct sched_result *result_of(const struct sched_work *w,
					    uint32_t i)
{
	const struct sched_result *r = w->res[i];

	return r != NULL && r->uid == w->svc[i].uid ? r : NULL;
}

static bool node_fencing(const struct sched_work *w, uint32_t n)
{
	return n < w->st->n_nodes && w->node[n].state == SCHED_NODE_FENCE;
}

static bool lease_ok(const struct sched_work *w, uint32_t n)
{
	return n < w->st->n_nodes && w->in->nodes[n].online;
}

static enum sched_agent_mode mode_of(const struct sched_work *w, uint32_t n)
{
	return n < w->st->n_nodes ? w->in->nodes[n].mode : SCHED_AGENT_NONE;
}

static enum sched_svc_state move_state(const struct sched_service *c,
				       bool live)
{
	return live && c->kind == SCHED_KIND_VM ? SCHED_SVC_MIGRATE
						: SCHED_SVC_RELOCATE;
}

/* Records a waiting reason once (no transition); returns false. */
static bool note(struct sched_work *w, uint32_t i, enum sched_reason why,
		 const struct sched_explain *ex)
{
	struct sched_status *s = &w->svc[i];

	if (s->why.reason == why)
		return false;
	sched_emit(w, why, i, SCHED_NONE, s->state, s->state, s->node,
		   SCHED_NONE, 0);
	if (ex != NULL) {
		s->why = *ex;
	} else {
		memset(&s->why, 0, sizeof(s->why));
		s->why.from = s->node;
		s->why.chosen = SCHED_NONE;
		s->why.rejected = SCHED_F__COUNT;
	}
	s->why.reason = why;
	s->why.time_ms = w->now;
	w->svc_dirty[i] = 1;
	return false;
}

/* Does a service ordered before @i still have to start? */
static bool order_blocked(const struct sched_work *w, uint32_t i)
{
	const struct sched_compiled *rc = &w->rc;
	uint32_t k;

	for (k = rc->pred_start[i]; k < rc->pred_start[i + 1]; k++) {
		uint32_t p = rc->pred[k];
		const struct sched_status *ps = &w->svc[p];

		if (w->st->svcs[p].request != SCHED_REQ_STARTED ||
		    ps->state == SCHED_SVC_ERROR ||
		    ps->state == SCHED_SVC_IGNORED)
			continue;
		if (ps->state != SCHED_SVC_STARTED || !ps->confirmed)
			return true;
	}
	return false;
}

static enum sched_reason stay_reason(uint32_t rejected)
{
	switch (rejected) {
	case SCHED_F_NODE_AFFINITY:
		return SCHED_R_NODE_AFFINITY;
	case SCHED_F_ANTI_AFFINITY:
		return SCHED_R_ANTI_AFFINITY;
	case SCHED_F_PRIORITY:
		return SCHED_R_FAILBACK;
	case SCHED_F_AFFINITY:
		return SCHED_R_AFFINITY;
	default:
		return SCHED_R_PLACED;
	}
}

/* Leaves started/stopping states when the request says so. */
static bool follow_request(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	const struct sched_status *s = &w->svc[i];

	if (c->request == SCHED_REQ_IGNORED) {
		sched_svc_set(w, i, SCHED_SVC_IGNORED, s->node, SCHED_NONE,
			      SCHED_R_REQUEST, NULL);
		return true;
	}
	if (c->request != SCHED_REQ_STARTED) {
		sched_svc_set(w, i, SCHED_SVC_REQUEST_STOP, s->node, SCHED_NONE,
			      SCHED_R_REQUEST, NULL);
		return true;
	}
	return false;
}

static bool next_request_start(struct sched_work *w, uint32_t i)
{
	struct sched_status *s = &w->svc[i];
	struct sched_explain ex;
	enum sched_reason why;
	uint32_t to;

	if (follow_request(w, i))
		return true;
	if (order_blocked(w, i))
		return note(w, i, SCHED_R_ORDER_WAIT, NULL);
	if (s->node == SCHED_NONE) {
		to = sched_place(&w->pl, i, SCHED_PREF_BEST, SCHED_NONE, &ex);
		if (to == SCHED_NONE)
			return note(w, i, SCHED_R_NO_NODE, &ex);
		sched_svc_set(w, i, SCHED_SVC_STARTED, to, SCHED_NONE,
			      SCHED_R_PLACED, &ex);
		return true;
	}
	if (node_fencing(w, s->node)) {
		sched_svc_set(w, i, SCHED_SVC_FENCE, s->node, SCHED_NONE,
			      SCHED_R_FENCE_NEEDED, NULL);
		return true;
	}
	/*
	 * Start where it is (it may already run there) unless the rules say
	 * otherwise; the started state then moves it in this same step, before
	 * any agent sees it. Never start it where it breaks a hard rule and
	 * nowhere else fits, nor on a node that has not renewed its lease yet.
	 */
	to = sched_place(&w->pl, i, SCHED_PREF_STAY, SCHED_NONE, &ex);
	if (to == SCHED_NONE) {
		if (!sched_node_usable(w, s->node))
			return false;
		return note(w, i, SCHED_R_NO_NODE, &ex);
	}
	why = s->why.reason == SCHED_R_NEW ? SCHED_R_NEW : SCHED_R_REQUEST;
	sched_svc_set(w, i, SCHED_SVC_STARTED, s->node, SCHED_NONE, why, NULL);
	return true;
}

/* The agent reported on the start request of a started service. */
static bool start_result(struct sched_work *w, uint32_t i,
			 const struct sched_result *r)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];
	struct sched_explain ex;
	uint32_t n = s->node, to;

	if (r->code == 0) {
		s->confirmed = true;
		s->restarts = 0;
		sched_emit(w, s->n_failed ? SCHED_R_RELOCATE_OK
					  : SCHED_R_START_OK,
			   i, SCHED_NONE, s->state, s->state, n, n,
			   s->n_failed);
		s->n_failed = 0;
		w->svc_dirty[i] = 1;
		return true;
	}
	if (s->restarts < c->max_restart) {
		s->restarts++;
		sched_svc_set(w, i, SCHED_SVC_STARTED, n, SCHED_NONE,
			      SCHED_R_START_RETRY, NULL);
		return true;
	}
	if (s->n_failed < SCHED_FAILED_MAX)
		s->failed[s->n_failed] = n;
	s->n_failed++;
	s->restarts = 0;
	if (s->n_failed > c->max_relocate) {
		sched_svc_set(w, i, SCHED_SVC_ERROR, n, SCHED_NONE,
			      SCHED_R_POLICY_EXHAUSTED, NULL);
		return true;
	}
	to = sched_place(&w->pl, i, SCHED_PREF_NEXT, SCHED_NONE, &ex);
	if (to == SCHED_NONE || to == n) {
		sched_svc_set(w, i, SCHED_SVC_STARTED, n, SCHED_NONE,
			      SCHED_R_RETRY_CURRENT, &ex);
		return true;
	}
	sched_svc_set(w, i, move_state(c, false), n, to, SCHED_R_START_RELOCATE,
		      &ex);
	return true;
}

static bool run_cmd(struct sched_work *w, uint32_t i, bool running)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];
	uint32_t to = w->pending_to[i];
	bool live = w->pending[i] == SCHED_PENDING_MIGRATE;
	int f;

	w->pending[i] = SCHED_PENDING_NONE;
	f = to == s->node ? SCHED_F_TRIED : sched_place_check(&w->pl, i, to);
	if (f >= 0) {
		sched_emit(w, SCHED_R_CMD_REJECTED, i, SCHED_NONE, s->state,
			   s->state, s->node, to, (uint64_t)f);
		return false;
	}
	if (!running) {
		sched_svc_set(w, i, s->state, to, SCHED_NONE,
			      SCHED_R_STOPPED_MOVED, NULL);
		return true;
	}
	sched_svc_set(w, i, move_state(c, live), s->node, to,
		      live ? SCHED_R_CMD_MIGRATE : SCHED_R_CMD_RELOCATE, NULL);
	return true;
}

static bool evacuate(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];
	struct sched_explain ex;
	uint32_t n = s->node, keep = s->maint_node, to;

	to = sched_place(&w->pl, i, SCHED_PREF_BEST, SCHED_NONE, &ex);
	if (to == SCHED_NONE)
		return note(w, i, SCHED_R_NO_NODE, &ex);
	sched_svc_set(w, i, move_state(c, true), n, to, SCHED_R_MAINT_EVACUATE,
		      &ex);
	s->maint_node = keep != SCHED_NONE ? keep : n;
	return true;
}

/* Back to the node it left for maintenance, once that node is online. */
static bool maint_return(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];
	uint32_t m = s->maint_node;

	if (m == s->node || m >= w->st->n_nodes ||
	    w->node[m].state == SCHED_NODE_GONE) {
		s->maint_node = SCHED_NONE;
		w->svc_dirty[i] = 1;
		return false;
	}
	if (!sched_node_usable(w, m))
		return false; /* still in maintenance or away */
	if (sched_place_check(&w->pl, i, m) >= 0) {
		s->maint_node = SCHED_NONE; /* the rules say no: stay */
		w->svc_dirty[i] = 1;
		return false;
	}
	sched_svc_set(w, i, move_state(c, true), s->node, m,
		      SCHED_R_MAINT_RETURN, NULL);
	s->maint_node = SCHED_NONE;
	return true;
}

static bool next_started(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];
	const struct sched_result *r;
	struct sched_explain ex;
	uint32_t n = s->node, to;

	if (n == SCHED_NONE)
		return next_request_start(w, i);
	if (node_fencing(w, n)) {
		sched_svc_set(w, i, SCHED_SVC_FENCE, n, SCHED_NONE,
			      SCHED_R_FENCE_NEEDED, NULL);
		return true;
	}
	if (follow_request(w, i))
		return true;
	if (mode_of(w, n) == SCHED_AGENT_FREEZE) {
		sched_svc_set(w, i, SCHED_SVC_FREEZE, n, SCHED_NONE,
			      SCHED_R_FREEZE, NULL);
		return true;
	}
	if (!lease_ok(w, n))
		return false; /* lost: wait for the fence decision */
	r = result_of(w, i);
	if (r != NULL && !s->confirmed)
		return start_result(w, i, r);
	if (w->pending[i] != SCHED_PENDING_NONE)
		return run_cmd(w, i, true);
	if (w->node[n].state == SCHED_NODE_MAINTENANCE)
		return evacuate(w, i);
	if (s->maint_node != SCHED_NONE && maint_return(w, i))
		return true;
	to = sched_place(&w->pl, i, SCHED_PREF_STAY, SCHED_NONE, &ex);
	if (to == SCHED_NONE || to == n)
		return false;
	sched_svc_set(w, i, move_state(c, true), n, to,
		      stay_reason(ex.rejected), &ex);
	return true;
}

static bool next_request_stop(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];
	const struct sched_result *r;

	if (s->node == SCHED_NONE) {
		sched_svc_set(w, i, SCHED_SVC_STOPPED, s->node, SCHED_NONE,
			      SCHED_R_STOP_OK, NULL);
		return true;
	}
	if (node_fencing(w, s->node)) {
		sched_svc_set(w, i, SCHED_SVC_FENCE, s->node, SCHED_NONE,
			      SCHED_R_FENCE_NEEDED, NULL);
		return true;
	}
	if (c->request == SCHED_REQ_STARTED) {
		sched_svc_set(w, i, SCHED_SVC_STARTED, s->node, SCHED_NONE,
			      SCHED_R_REQUEST, NULL);
		return true;
	}
	r = result_of(w, i);
	if (r == NULL)
		return false;
	sched_svc_set(w, i, r->code == 0 ? SCHED_SVC_STOPPED : SCHED_SVC_ERROR,
		      s->node, SCHED_NONE,
		      r->code == 0 ? SCHED_R_STOP_OK : SCHED_R_STOP_FAILED, NULL);
	return true;
}

static bool next_stopped(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];

	if (c->request == SCHED_REQ_IGNORED) {
		sched_svc_set(w, i, SCHED_SVC_IGNORED, s->node, SCHED_NONE,
			      SCHED_R_REQUEST, NULL);
		return true;
	}
	if (c->request == SCHED_REQ_STARTED) {
		sched_svc_set(w, i, SCHED_SVC_REQUEST_START, s->node,
			      SCHED_NONE, SCHED_R_REQUEST, NULL);
		return true;
	}
	if (w->pending[i] != SCHED_PENDING_NONE)
		return run_cmd(w, i, false);
	return false;
}

static bool next_freeze(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];

	if (!lease_ok(w, s->node) || mode_of(w, s->node) != SCHED_AGENT_ACTIVE ||
	    node_fencing(w, s->node))
		return false;
	sched_svc_set(w, i,
		      c->request == SCHED_REQ_STARTED ? SCHED_SVC_STARTED
						      : SCHED_SVC_REQUEST_STOP,
		      s->node, SCHED_NONE, SCHED_R_UNFREEZE, NULL);
	return true;
}

static bool next_fence(struct sched_work *w, uint32_t i)
{
	struct sched_status *s = &w->svc[i];
	uint32_t n = s->node;

	if (n >= w->st->n_nodes) {
		sched_svc_set(w, i, SCHED_SVC_RECOVERY, n, SCHED_NONE,
			      SCHED_R_FENCE_LEASE, NULL);
		return true;
	}
	if (w->node[n].state == SCHED_NODE_FENCE)
		return false; /* until the fence is acknowledged */
	/* inherited 'fence' on a node not being fenced: fence it first */
	sched_emit(w, SCHED_R_FENCE_NEEDED, SCHED_NONE, n, w->node[n].state,
		   SCHED_NODE_FENCE, SCHED_NONE, SCHED_NONE, 1);
	w->node[n].state = SCHED_NODE_FENCE;
	w->node[n].since_ms = w->now;
	w->node_dirty[n] = 1;
	return true;
}

static bool next_recovery(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];
	struct sched_explain ex;
	uint32_t to;

	if (c->request != SCHED_REQ_STARTED) {
		sched_svc_set(w, i,
			      c->request == SCHED_REQ_IGNORED
				      ? SCHED_SVC_IGNORED
				      : SCHED_SVC_STOPPED,
			      s->node, SCHED_NONE, SCHED_R_REQUEST, NULL);
		return true;
	}
	if (order_blocked(w, i))
		return note(w, i, SCHED_R_ORDER_WAIT, NULL);
	to = sched_place(&w->pl, i, SCHED_PREF_BEST, SCHED_NONE, &ex);
	if (to == SCHED_NONE)
		return note(w, i, SCHED_R_NO_NODE, &ex);
	s->restarts = 0;
	sched_svc_set(w, i, SCHED_SVC_STARTED, to, SCHED_NONE,
		      SCHED_R_RECOVERED, &ex);
	return true;
}

static bool next_moving(struct sched_work *w, uint32_t i)
{
	struct sched_status *s = &w->svc[i];
	const struct sched_result *r;

	if (node_fencing(w, s->node)) {
		sched_svc_set(w, i, SCHED_SVC_FENCE, s->node, SCHED_NONE,
			      SCHED_R_FENCE_NEEDED, NULL);
		return true;
	}
	r = result_of(w, i);
	if (r == NULL)
		return false;
	if (r->code == 0) {
		s->restarts = 0;
		sched_svc_set(w, i, SCHED_SVC_STARTED, s->target, SCHED_NONE,
			      SCHED_R_MIGRATE_OK, NULL);
	} else {
		sched_svc_set(w, i, SCHED_SVC_STARTED, s->node, SCHED_NONE,
			      SCHED_R_MIGRATE_FAILED, NULL);
	}
	return true;
}

static bool next_error(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];

	if (c->request != SCHED_REQ_DISABLED)
		return false;
	s->n_failed = 0;
	s->restarts = 0;
	sched_svc_set(w, i, SCHED_SVC_STOPPED, s->node, SCHED_NONE,
		      SCHED_R_ERROR_CLEARED, NULL);
	return true;
}

static bool next_ignored(struct sched_work *w, uint32_t i)
{
	const struct sched_service *c = &w->st->svcs[i];
	struct sched_status *s = &w->svc[i];

	if (c->request == SCHED_REQ_IGNORED)
		return false;
	sched_svc_set(w, i,
		      c->request == SCHED_REQ_STARTED ? SCHED_SVC_REQUEST_START
						      : SCHED_SVC_REQUEST_STOP,
		      s->node, SCHED_NONE, SCHED_R_REQUEST, NULL);
	return true;
}

bool sched_svc_next(struct sched_work *w, uint32_t i)
{
	switch (w->svc[i].state) {
	case SCHED_SVC_REQUEST_START:
		return next_request_start(w, i);
	case SCHED_SVC_STARTED:
		return next_started(w, i);
	case SCHED_SVC_REQUEST_STOP:
		return next_request_stop(w, i);
	case SCHED_SVC_STOPPED:
		return next_stopped(w, i);
	case SCHED_SVC_FREEZE:
		return next_freeze(w, i);
	case SCHED_SVC_FENCE:
		return next_fence(w, i);
	case SCHED_SVC_RECOVERY:
		return next_recovery(w, i);
	case SCHED_SVC_MIGRATE:
	case SCHED_SVC_RELOCATE:
		return next_moving(w, i);
	case SCHED_SVC_ERROR:
		return next_error(w, i);
	case SCHED_SVC_IGNORED:
		return next_ignored(w, i);
	default:
		return false;
	}
}
