/*
 * scheduler: one leader step.
 *
 * DESIGN: the step works on a private copy of the statuses and reports the
 * statuses it changed as actions, so the caller stores exactly what was
 * decided, in one transaction, and a failed commit loses nothing: the next
 * leader recomputes from the stored state. Within a step, decisions run to
 * a fixpoint (bounded): a node found dead is marked for fencing, its
 * services move to 'fence', the fence is acknowledged once the fencing
 * module says the node is safe, and the services are recovered, all in
 * one step. Services are handled in a fixed order (restart priority, then
 * id) so that every leader takes the same decisions from the same state.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/internal.h"

#define MAX_PASSES 16

bool sched_node_usable(const struct sched_work *w, uint32_t n)
{
	return n < w->st->n_nodes && w->pl.eligible[n];
}

static int push(void **arr, size_t *n, size_t *cap, size_t size)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;
		void *p = realloc(*arr, ncap * size);

		if (p == NULL)
			return -ENOMEM;
		*arr = p;
		*cap = ncap;
	}
	(*n)++;
	return 0;
}

void sched_emit(struct sched_work *w, enum sched_reason r, uint32_t svc,
		uint32_t node, uint32_t from_state, uint32_t to_state,
		uint32_t from_node, uint32_t to_node, uint64_t value)
{
	struct sched_plan *pl = w->plan;
	struct sched_event *ev;

	if (push((void **)&pl->events, &pl->n_events, &pl->cap_events,
		 sizeof(*pl->events)) < 0) {
		w->err = -ENOMEM;
		return;
	}
	ev = &pl->events[pl->n_events - 1];
	ev->time_ms = w->now;
	ev->reason = r;
	ev->svc = svc;
	ev->node = node;
	ev->from_state = from_state;
	ev->to_state = to_state;
	ev->from_node = from_node;
	ev->to_node = to_node;
	ev->value = value;
}

void sched_svc_set(struct sched_work *w, uint32_t i, enum sched_svc_state to,
		   uint32_t node, uint32_t target, enum sched_reason why,
		   const struct sched_explain *ex)
{
	struct sched_status *s = &w->svc[i];
	uint32_t from_node = s->node;

	sched_placer_account(&w->pl, i, s, -1);
	sched_emit(w, why, i, SCHED_NONE, s->state, to, s->node, node,
		   target != SCHED_NONE ? target : 0);
	s->state = to;
	s->node = node;
	s->target = target;
	s->uid = w->next_uid++;
	s->confirmed = false;
	if (ex != NULL) {
		s->why = *ex;
	} else {
		memset(&s->why, 0, sizeof(s->why));
		s->why.chosen = target != SCHED_NONE ? target : node;
		s->why.rejected = SCHED_F__COUNT;
	}
	s->why.from = from_node;
	s->why.time_ms = w->now;
	s->why.reason = why;
	sched_placer_account(&w->pl, i, s, 1);
	w->svc_dirty[i] = 1;
}

static void node_set(struct sched_work *w, uint32_t n,
		     enum sched_node_state to, enum sched_reason why,
		     uint64_t value)
{
	struct sched_node_status *ns = &w->node[n];

	sched_emit(w, why, SCHED_NONE, n, ns->state, to, SCHED_NONE,
		   SCHED_NONE, value);
	ns->state = to;
	ns->since_ms = w->now;
	w->node_dirty[n] = 1;
}

/* Services on each node that must not move before the node is fenced. */
static void count_fenceable(struct sched_work *w, uint32_t *count)
{
	uint32_t i;

	memset(count, 0, w->st->n_nodes * sizeof(*count));
	for (i = 0; i < w->st->n_svcs; i++) {
		const struct sched_status *s = &w->svc[i];

		if (s->node >= w->st->n_nodes)
			continue;
		switch (s->state) {
		case SCHED_SVC_REQUEST_START:
		case SCHED_SVC_STARTED:
		case SCHED_SVC_REQUEST_STOP:
		case SCHED_SVC_MIGRATE:
		case SCHED_SVC_RELOCATE:
		case SCHED_SVC_FENCE:
			count[s->node]++;
			break;
		default:
			break;
		}
	}
}

static void refresh_eligible(struct sched_work *w, bool *elig)
{
	uint32_t n;

	for (n = 0; n < w->st->n_nodes; n++)
		elig[n] = w->node[n].state == SCHED_NODE_ONLINE &&
			  w->in->nodes[n].online;
	sched_placer_set_eligible(&w->pl, elig);
}

static bool node_one(struct sched_work *w, uint32_t n, uint32_t fenceable)
{
	struct sched_node_status *ns = &w->node[n];
	const struct sched_node_obs *o = &w->in->nodes[n];
	bool maint = ns->maintenance || o->mode == SCHED_AGENT_MAINTENANCE;
	enum sched_node_state from = ns->state;

	switch (ns->state) {
	case SCHED_NODE_ONLINE:
		if (!o->online)
			node_set(w, n, SCHED_NODE_UNKNOWN, SCHED_R_LEASE_LOST,
				 o->lease_age_ms);
		else if (maint)
			node_set(w, n, SCHED_NODE_MAINTENANCE,
				 SCHED_R_MAINT_ENTER, 0);
		if (ns->state != SCHED_NODE_UNKNOWN || fenceable == 0 ||
		    !o->expired)
			break;
		/* lost while running services: mark for fencing at once */
		__attribute__((fallthrough));
	case SCHED_NODE_UNKNOWN:
		if (o->online && o->renewed)
			node_set(w, n,
				 maint ? SCHED_NODE_MAINTENANCE
				       : SCHED_NODE_ONLINE,
				 SCHED_R_NODE_ONLINE, 0);
		else if (fenceable > 0 && o->expired)
			node_set(w, n, SCHED_NODE_FENCE, SCHED_R_FENCE_NEEDED,
				 fenceable);
		break;
	case SCHED_NODE_MAINTENANCE:
		if (o->expired && fenceable > 0)
			node_set(w, n, SCHED_NODE_FENCE, SCHED_R_FENCE_NEEDED,
				 fenceable);
		else if (!maint)
			node_set(w, n,
				 o->online && o->renewed ? SCHED_NODE_ONLINE
					   : SCHED_NODE_UNKNOWN,
				 SCHED_R_MAINT_LEAVE, 0);
		break;
	default:
		break;
	}
	return ns->state != from;
}

static bool node_pass(struct sched_work *w, uint32_t *count, bool *elig)
{
	bool changed = false;
	uint32_t n;

	count_fenceable(w, count);
	for (n = 0; n < w->st->n_nodes; n++)
		changed |= node_one(w, n, count[n]);
	refresh_eligible(w, elig);
	return changed;
}

/* Acknowledges fences the fencing module confirmed; recovers services. */
static bool fence_pass(struct sched_work *w, bool *elig)
{
	bool changed = false;
	uint32_t n, i;

	for (n = 0; n < w->st->n_nodes; n++) {
		const struct sched_node_obs *o = &w->in->nodes[n];
		enum sched_reason why;
		uint32_t moved = 0;

		if (w->node[n].state != SCHED_NODE_FENCE || !o->fence_done)
			continue;
		why = o->fence_by_agent ? SCHED_R_FENCE_AGENT
					: SCHED_R_FENCE_LEASE;
		for (i = 0; i < w->st->n_svcs; i++)
			if (w->svc[i].state == SCHED_SVC_FENCE &&
			    w->svc[i].node == n)
				moved++;
		node_set(w, n, SCHED_NODE_UNKNOWN,
			 moved ? why : SCHED_R_FENCE_NO_SERVICES,
			 o->lease_age_ms);
		for (i = 0; i < w->st->n_svcs; i++)
			if (w->svc[i].state == SCHED_SVC_FENCE &&
			    w->svc[i].node == n)
				sched_svc_set(w, i, SCHED_SVC_RECOVERY, n,
					      SCHED_NONE, why, NULL);
		changed = true;
	}
	if (changed)
		refresh_eligible(w, elig);
	return changed;
}

static void apply_cmds(struct sched_work *w)
{
	size_t k;

	for (k = 0; k < w->in->n_cmds; k++) {
		const struct sched_cmd *c = &w->in->cmds[k];
		bool node_ok = c->node < w->st->n_nodes;

		switch (c->kind) {
		case SCHED_CMD_MAINT_ENABLE:
		case SCHED_CMD_MAINT_DISABLE:
			if (!node_ok) {
				sched_emit(w, SCHED_R_CMD_REJECTED, SCHED_NONE,
					   c->node, SCHED_NONE, SCHED_NONE,
					   SCHED_NONE, SCHED_NONE, c->kind);
				break;
			}
			w->node[c->node].maintenance =
				c->kind == SCHED_CMD_MAINT_ENABLE;
			w->node_dirty[c->node] = 1;
			break;
		case SCHED_CMD_MIGRATE:
		case SCHED_CMD_RELOCATE:
			if (c->svc >= w->st->n_svcs || !node_ok) {
				sched_emit(w, SCHED_R_CMD_REJECTED, c->svc,
					   SCHED_NONE, SCHED_NONE, SCHED_NONE,
					   SCHED_NONE, c->node, c->kind);
				break;
			}
			w->pending[c->svc] = c->kind == SCHED_CMD_MIGRATE
						     ? SCHED_PENDING_MIGRATE
						     : SCHED_PENDING_RELOCATE;
			w->pending_to[c->svc] = c->node;
			break;
		}
	}
}

static int cmp_order(const void *a, const void *b, void *data)
{
	const struct sched_state *st = data;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int32_t px = st->svcs[x].priority, py = st->svcs[y].priority;

	if (px != py)
		return px > py ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int work_init(struct sched_work *w, const struct sched_state *st,
		     const struct sched_input *in, uint64_t now,
		     struct sched_plan *plan)
{
	size_t ns = st->n_svcs ? st->n_svcs : 1;
	size_t nn = st->n_nodes ? st->n_nodes : 1;
	uint32_t i;
	size_t k;

	memset(w, 0, sizeof(*w));
	w->st = st;
	w->in = in;
	w->now = now;
	w->plan = plan;
	w->next_uid = st->next_uid;
	w->svc = malloc(ns * sizeof(*w->svc));
	w->node = malloc(nn * sizeof(*w->node));
	w->svc_dirty = calloc(ns, 1);
	w->node_dirty = calloc(nn, 1);
	w->pending = calloc(ns, 1);
	w->pending_to = calloc(ns, sizeof(*w->pending_to));
	w->res = calloc(ns, sizeof(*w->res));
	w->order = malloc(ns * sizeof(*w->order));
	if (!w->svc || !w->node || !w->svc_dirty || !w->node_dirty ||
	    !w->pending || !w->pending_to || !w->res || !w->order)
		return -ENOMEM;
	for (i = 0; i < st->n_svcs; i++) {
		w->svc[i] = st->svcs[i].st;
		w->order[i] = i;
	}
	for (i = 0; i < st->n_nodes; i++)
		w->node[i] = st->nodes[i].st;
	for (k = 0; k < in->n_results; k++) {
		const struct sched_result *r = &in->results[k];

		if (r->svc < st->n_svcs && r->uid == w->svc[r->svc].uid)
			w->res[r->svc] = r;
	}
	qsort_r(w->order, st->n_svcs, sizeof(*w->order), cmp_order,
		(void *)st);
	return 0;
}

static void work_close(struct sched_work *w)
{
	sched_placer_close(&w->pl);
	sched_compiled_close(&w->rc);
	free(w->order);
	free(w->res);
	free(w->pending_to);
	free(w->pending);
	free(w->node_dirty);
	free(w->svc_dirty);
	free(w->node);
	free(w->svc);
}

static int emit_actions(struct sched_work *w)
{
	struct sched_plan *pl = w->plan;
	uint32_t i;

	for (i = 0; i < w->st->n_nodes; i++) {
		if (!w->node_dirty[i])
			continue;
		if (push((void **)&pl->actions, &pl->n_actions,
			 &pl->cap_actions, sizeof(*pl->actions)) < 0)
			return -ENOMEM;
		pl->actions[pl->n_actions - 1].kind = SCHED_ACT_NODE;
		pl->actions[pl->n_actions - 1].index = i;
		pl->actions[pl->n_actions - 1].u.node = w->node[i];
	}
	for (i = 0; i < w->st->n_svcs; i++) {
		if (!w->svc_dirty[i])
			continue;
		if (push((void **)&pl->actions, &pl->n_actions,
			 &pl->cap_actions, sizeof(*pl->actions)) < 0)
			return -ENOMEM;
		pl->actions[pl->n_actions - 1].kind = SCHED_ACT_SERVICE;
		pl->actions[pl->n_actions - 1].index = i;
		pl->actions[pl->n_actions - 1].u.svc = w->svc[i];
	}
	pl->next_uid = w->next_uid;
	return 0;
}

static int run(struct sched_work *w, bool *elig, uint32_t *count)
{
	int pass;
	uint32_t k;

	apply_cmds(w);
	for (pass = 0; pass < MAX_PASSES && w->err == 0; pass++) {
		bool changed = node_pass(w, count, elig);

		for (k = 0; k < w->st->n_svcs; k++)
			changed |= sched_svc_next(w, w->order[k]);
		changed |= fence_pass(w, elig);
		if (!changed)
			break;
	}
	for (k = 0; k < w->st->n_svcs; k++)
		if (w->pending[k] != SCHED_PENDING_NONE)
			sched_emit(w, SCHED_R_CMD_REJECTED, k, SCHED_NONE,
				   w->svc[k].state, w->svc[k].state,
				   w->svc[k].node, w->pending_to[k],
				   w->pending[k]);
	return w->err;
}

int scheduler_step(const struct sched_state *st, const struct sched_rules *rules,
		   const struct sched_input *in, uint64_t now_ms,
		   struct sched_plan *plan)
{
	struct sched_work w;
	bool *elig = NULL;
	uint32_t *count = NULL;
	int r;

	plan->n_actions = 0;
	plan->n_events = 0;
	plan->next_uid = st->next_uid;
	if (in == NULL || (st->n_nodes > 0 && in->nodes == NULL) ||
	    (in->n_results > 0 && in->results == NULL) ||
	    (in->n_cmds > 0 && in->cmds == NULL))
		return -EINVAL;
	r = work_init(&w, st, in, now_ms, plan);
	if (r < 0)
		goto out;
	elig = calloc(st->n_nodes ? st->n_nodes : 1, sizeof(*elig));
	count = calloc(st->n_nodes ? st->n_nodes : 1, sizeof(*count));
	r = -ENOMEM;
	if (elig == NULL || count == NULL)
		goto out;
	r = sched_compile(&w.rc, rules, st);
	if (r < 0)
		goto out;
	r = sched_placer_init(&w.pl, st, &w.rc, w.svc);
	if (r < 0)
		goto out;
	refresh_eligible(&w, elig);
	r = run(&w, elig, count);
	if (r == 0)
		r = emit_actions(&w);
out:
	if (r < 0) {
		plan->n_actions = 0;
		plan->next_uid = st->next_uid;
	}
	free(count);
	free(elig);
	work_close(&w);
	return r;
}
