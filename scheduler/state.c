/*
 * scheduler: the state container, plans and names.
 *
 * DESIGN: the state is a pair of plain arrays so that the leader can store
 * it row by row and a new leader can rebuild it from rows. Nodes are only
 * appended, which keeps node indices stable for the statuses that refer to
 * them; services are kept sorted by id so that the step processes them in
 * the same order on every leader.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/scheduler.h"

static bool name_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return false;
	n = strlen(s);
	return n > 0 && n < SCHED_NAME_MAX;
}

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 8;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, (size_t)ncap * size);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

void scheduler_state_init(struct sched_state *st)
{
	memset(st, 0, sizeof(*st));
	st->crs = SCHED_CRS_BASIC;
	st->next_uid = 1;
}

void scheduler_state_close(struct sched_state *st)
{
	if (st == NULL)
		return;
	free(st->svcs);
	free(st->nodes);
	memset(st, 0, sizeof(*st));
}

int scheduler_state_copy(struct sched_state *dst, const struct sched_state *src)
{
	struct sched_state tmp = *src;

	tmp.nodes = NULL;
	tmp.svcs = NULL;
	tmp.cap_nodes = src->n_nodes;
	tmp.cap_svcs = src->n_svcs;
	if (src->n_nodes > 0) {
		tmp.nodes = malloc(src->n_nodes * sizeof(*tmp.nodes));
		if (tmp.nodes == NULL)
			return -ENOMEM;
		memcpy(tmp.nodes, src->nodes, src->n_nodes * sizeof(*tmp.nodes));
	}
	if (src->n_svcs > 0) {
		tmp.svcs = malloc(src->n_svcs * sizeof(*tmp.svcs));
		if (tmp.svcs == NULL) {
			free(tmp.nodes);
			return -ENOMEM;
		}
		memcpy(tmp.svcs, src->svcs, src->n_svcs * sizeof(*tmp.svcs));
	}
	scheduler_state_close(dst);
	*dst = tmp;
	return 0;
}

int scheduler_state_add_node(struct sched_state *st, const char *name,
			     double cpu, uint64_t mem, uint32_t *ret_index)
{
	struct sched_node *n;
	int r;

	if (!name_ok(name) || cpu < 0)
		return -EINVAL;
	if (scheduler_state_find_node(st, name) != SCHED_NONE)
		return -EEXIST;
	if (st->n_nodes == SCHED_NONE - 1)
		return -ENOMEM;
	r = grow((void **)&st->nodes, &st->cap_nodes, st->n_nodes + 1,
		 sizeof(*st->nodes));
	if (r < 0)
		return r;
	n = &st->nodes[st->n_nodes];
	memset(n, 0, sizeof(*n));
	strcpy(n->name, name);
	n->cpu = cpu;
	n->mem = mem;
	n->st.state = SCHED_NODE_UNKNOWN;
	if (ret_index != NULL)
		*ret_index = st->n_nodes;
	st->n_nodes++;
	return 0;
}

uint32_t scheduler_state_find_node(const struct sched_state *st,
				   const char *name)
{
	uint32_t i;

	for (i = 0; i < st->n_nodes; i++)
		if (strcmp(st->nodes[i].name, name) == 0)
			return i;
	return SCHED_NONE;
}

/* Index of the first service whose sid is >= @sid. */
static uint32_t svc_lower_bound(const struct sched_state *st, const char *sid)
{
	uint32_t lo = 0, hi = st->n_svcs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (strcmp(st->svcs[mid].sid, sid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t scheduler_state_find_service(const struct sched_state *st,
				      const char *sid)
{
	uint32_t i = svc_lower_bound(st, sid);

	if (i < st->n_svcs && strcmp(st->svcs[i].sid, sid) == 0)
		return i;
	return SCHED_NONE;
}

void scheduler_service_defaults(struct sched_service *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->kind = SCHED_KIND_VM;
	conf->request = SCHED_REQ_STARTED;
	conf->max_restart = 1;
	conf->max_relocate = 1;
	conf->failback = true;
}

static void status_fresh(struct sched_status *s, enum sched_request req,
			 uint32_t node, uint64_t uid)
{
	memset(s, 0, sizeof(*s));
	switch (req) {
	case SCHED_REQ_STARTED:
		s->state = SCHED_SVC_REQUEST_START;
		break;
	case SCHED_REQ_IGNORED:
		s->state = SCHED_SVC_IGNORED;
		break;
	default:
		s->state = SCHED_SVC_REQUEST_STOP;
		break;
	}
	s->node = node;
	s->target = SCHED_NONE;
	s->maint_node = SCHED_NONE;
	s->uid = uid;
	s->why.reason = SCHED_R_NEW;
	s->why.from = SCHED_NONE;
	s->why.chosen = node;
}

int scheduler_state_add_service(struct sched_state *st,
				const struct sched_service *conf, uint32_t node,
				uint32_t *ret_index)
{
	uint32_t at;
	int r;

	if (!name_ok(conf->sid) || conf->cpu < 0)
		return -EINVAL;
	if (node != SCHED_NONE && node >= st->n_nodes)
		return -EINVAL;
	at = svc_lower_bound(st, conf->sid);
	if (at < st->n_svcs && strcmp(st->svcs[at].sid, conf->sid) == 0)
		return -EEXIST;
	if (st->n_svcs == SCHED_NONE - 1)
		return -ENOMEM;
	r = grow((void **)&st->svcs, &st->cap_svcs, st->n_svcs + 1,
		 sizeof(*st->svcs));
	if (r < 0)
		return r;
	memmove(&st->svcs[at + 1], &st->svcs[at],
		(st->n_svcs - at) * sizeof(*st->svcs));
	st->svcs[at] = *conf;
	status_fresh(&st->svcs[at].st, conf->request, node, st->next_uid++);
	st->n_svcs++;
	if (ret_index != NULL)
		*ret_index = at;
	return 0;
}

int scheduler_state_remove_service(struct sched_state *st, uint32_t index)
{
	if (index >= st->n_svcs)
		return -EINVAL;
	memmove(&st->svcs[index], &st->svcs[index + 1],
		(st->n_svcs - index - 1) * sizeof(*st->svcs));
	st->n_svcs--;
	return 0;
}

/* ---- plans ---- */

void scheduler_plan_init(struct sched_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
}

void scheduler_plan_close(struct sched_plan *plan)
{
	if (plan == NULL)
		return;
	free(plan->actions);
	free(plan->events);
	memset(plan, 0, sizeof(*plan));
}

int scheduler_plan_apply(struct sched_state *st, const struct sched_plan *plan)
{
	size_t i;

	for (i = 0; i < plan->n_actions; i++) {
		const struct sched_action *a = &plan->actions[i];

		if (a->kind == SCHED_ACT_SERVICE && a->index >= st->n_svcs)
			return -EINVAL;
		if (a->kind == SCHED_ACT_NODE && a->index >= st->n_nodes)
			return -EINVAL;
	}
	for (i = 0; i < plan->n_actions; i++) {
		const struct sched_action *a = &plan->actions[i];

		if (a->kind == SCHED_ACT_SERVICE)
			st->svcs[a->index].st = a->u.svc;
		else
			st->nodes[a->index].st = a->u.node;
	}
	if (plan->next_uid > st->next_uid)
		st->next_uid = plan->next_uid;
	return 0;
}

/* ---- names ---- */

static const char *const node_state_names[SCHED_NODE__COUNT] = {
	[SCHED_NODE_ONLINE] = "online",
	[SCHED_NODE_UNKNOWN] = "unknown",
	[SCHED_NODE_FENCE] = "fence",
	[SCHED_NODE_GONE] = "gone",
	[SCHED_NODE_MAINTENANCE] = "maintenance",
};

static const char *const svc_state_names[SCHED_SVC__COUNT] = {
	[SCHED_SVC_REQUEST_START] = "request_start",
	[SCHED_SVC_STARTED] = "started",
	[SCHED_SVC_REQUEST_STOP] = "request_stop",
	[SCHED_SVC_STOPPED] = "stopped",
	[SCHED_SVC_FREEZE] = "freeze",
	[SCHED_SVC_FENCE] = "fence",
	[SCHED_SVC_RECOVERY] = "recovery",
	[SCHED_SVC_MIGRATE] = "migrate",
	[SCHED_SVC_RELOCATE] = "relocate",
	[SCHED_SVC_ERROR] = "error",
	[SCHED_SVC_IGNORED] = "ignored",
};

static const char *const reason_names[SCHED_R__COUNT] = {
	[SCHED_R_NONE] = "none",
	[SCHED_R_NEW] = "new service",
	[SCHED_R_REQUEST] = "requested state changed",
	[SCHED_R_NODE_ONLINE] = "node holds a lease",
	[SCHED_R_LEASE_LOST] = "lease lost",
	[SCHED_R_FENCE_NEEDED] = "lost node runs HA services",
	[SCHED_R_FENCE_LEASE] = "fenced: lease and safety margin expired",
	[SCHED_R_FENCE_AGENT] = "fenced: fence agent confirmed power-off",
	[SCHED_R_FENCE_NO_SERVICES] = "fence completed, no services on node",
	[SCHED_R_RECOVERED] = "recovered from fenced node",
	[SCHED_R_NO_NODE] = "no node satisfies the rules",
	[SCHED_R_START_OK] = "start confirmed",
	[SCHED_R_START_RETRY] = "start failed, restarting on same node",
	[SCHED_R_START_RELOCATE] = "start failed max_restart times, relocating",
	[SCHED_R_RETRY_CURRENT] = "all nodes tried, retrying current node",
	[SCHED_R_RELOCATE_OK] = "relocation policy successful",
	[SCHED_R_POLICY_EXHAUSTED] = "restart and relocate policy exhausted",
	[SCHED_R_STOP_OK] = "stop confirmed",
	[SCHED_R_STOP_FAILED] = "stop failed",
	[SCHED_R_MIGRATE_OK] = "migration done",
	[SCHED_R_MIGRATE_FAILED] = "migration failed, stays on source",
	[SCHED_R_CMD_MIGRATE] = "admin migrate",
	[SCHED_R_CMD_RELOCATE] = "admin relocate",
	[SCHED_R_CMD_REJECTED] = "admin command rejected",
	[SCHED_R_FREEZE] = "node shutting down, freeze",
	[SCHED_R_UNFREEZE] = "node active again",
	[SCHED_R_MAINT_ENTER] = "maintenance",
	[SCHED_R_MAINT_LEAVE] = "maintenance ended",
	[SCHED_R_MAINT_EVACUATE] = "node in maintenance, moving away",
	[SCHED_R_MAINT_RETURN] = "node back from maintenance, moving back",
	[SCHED_R_FAILBACK] = "node of higher priority available",
	[SCHED_R_NODE_AFFINITY] = "node not allowed by node affinity",
	[SCHED_R_AFFINITY] = "joining members of positive affinity",
	[SCHED_R_ANTI_AFFINITY] = "leaving members of negative affinity",
	[SCHED_R_ORDER_WAIT] = "waiting for a service ordered before it",
	[SCHED_R_ERROR_CLEARED] = "disabled, error cleared",
	[SCHED_R_PLACED] = "placed",
	[SCHED_R_STOPPED_MOVED] = "stopped service reassigned",
};

static const char *const filter_names[SCHED_F__COUNT] = {
	[SCHED_F_OFFLINE] = "offline",
	[SCHED_F_NODE_AFFINITY] = "node-affinity",
	[SCHED_F_TRIED] = "tried",
	[SCHED_F_ANTI_AFFINITY] = "anti-affinity",
	[SCHED_F_CAPACITY] = "capacity",
	[SCHED_F_PRIORITY] = "priority",
	[SCHED_F_AFFINITY] = "affinity",
};

const char *scheduler_node_state_str(enum sched_node_state s)
{
	return (unsigned)s < SCHED_NODE__COUNT ? node_state_names[s] : "?";
}

const char *scheduler_svc_state_str(enum sched_svc_state s)
{
	return (unsigned)s < SCHED_SVC__COUNT ? svc_state_names[s] : "?";
}

const char *scheduler_reason_str(enum sched_reason r)
{
	return (unsigned)r < SCHED_R__COUNT && reason_names[r] ? reason_names[r]
							       : "?";
}

const char *scheduler_filter_str(enum sched_filter f)
{
	return (unsigned)f < SCHED_F__COUNT ? filter_names[f] : "?";
}

enum sched_agent_mode scheduler_shutdown_mode(enum sched_shutdown_policy p,
					      bool reboot)
{
	switch (p) {
	case SCHED_SHUTDOWN_FREEZE:
		return SCHED_AGENT_FREEZE;
	case SCHED_SHUTDOWN_FAILOVER:
		return SCHED_AGENT_STOP;
	case SCHED_SHUTDOWN_MIGRATE:
		return SCHED_AGENT_MAINTENANCE;
	case SCHED_SHUTDOWN_CONDITIONAL:
	default:
		return reboot ? SCHED_AGENT_FREEZE : SCHED_AGENT_STOP;
	}
}
