/*
 * scheduler: events and explanations as text.
 *
 * DESIGN: decisions are stored as small numeric records (enums, indices,
 * counts) so that they replicate cheaply; the text is made on demand from
 * the record and the names in the state, for the agent's log, hx-sim and
 * "hxctl ha why".
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "scheduler/scheduler.h"

struct text {
	char *buf;
	size_t len;
	size_t need;
};

static void put(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	size_t room = t->need < t->len ? t->len - t->need : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? t->buf + t->need : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->need += (size_t)n;
}

static const char *node_name(const struct sched_state *st, uint32_t n)
{
	return n < st->n_nodes ? st->nodes[n].name : "-";
}

static void put_svc_event(struct text *t, const struct sched_state *st,
			  const struct sched_event *ev)
{
	const char *sid = ev->svc < st->n_svcs ? st->svcs[ev->svc].sid : "?";

	put(t, "service '%s': ", sid);
	if (ev->from_state != ev->to_state && ev->to_state != SCHED_NONE)
		put(t, "%s -> %s", scheduler_svc_state_str(ev->from_state),
		    scheduler_svc_state_str(ev->to_state));
	else if (ev->from_state != SCHED_NONE)
		put(t, "%s", scheduler_svc_state_str(ev->from_state));
	if (ev->reason == SCHED_R_CMD_REJECTED) {
		put(t, ", target '%s'", node_name(st, ev->to_node));
	} else if (ev->to_state == SCHED_SVC_MIGRATE ||
		   ev->to_state == SCHED_SVC_RELOCATE) {
		put(t, " '%s' -> '%s'", node_name(st, ev->from_node),
		    node_name(st, (uint32_t)ev->value));
	} else if (ev->from_node != ev->to_node && ev->to_node != SCHED_NONE &&
		   ev->from_node != SCHED_NONE) {
		put(t, " '%s' -> '%s'", node_name(st, ev->from_node),
		    node_name(st, ev->to_node));
	} else if (ev->to_node != SCHED_NONE) {
		put(t, " on '%s'", node_name(st, ev->to_node));
	} else if (ev->from_node != SCHED_NONE) {
		put(t, " on '%s'", node_name(st, ev->from_node));
	}
	put(t, " (%s", scheduler_reason_str(ev->reason));
	if (ev->reason == SCHED_R_RELOCATE_OK)
		put(t, ", after %" PRIu64 " failed node(s)", ev->value);
	put(t, ")");
}

int scheduler_event_format(const struct sched_state *st,
			   const struct sched_event *ev, char *buf, size_t len)
{
	struct text t = {buf, len, 0};

	if (len > 0)
		buf[0] = '\0';
	if (ev->svc != SCHED_NONE) {
		put_svc_event(&t, st, ev);
	} else if (ev->node != SCHED_NONE) {
		put(&t, "node '%s': ", node_name(st, ev->node));
		if (ev->from_state != SCHED_NONE && ev->to_state != SCHED_NONE)
			put(&t, "%s -> %s ",
			    scheduler_node_state_str(ev->from_state),
			    scheduler_node_state_str(ev->to_state));
		put(&t, "(%s", scheduler_reason_str(ev->reason));
		if (ev->reason == SCHED_R_FENCE_LEASE ||
		    ev->reason == SCHED_R_FENCE_AGENT ||
		    ev->reason == SCHED_R_FENCE_NO_SERVICES ||
		    ev->reason == SCHED_R_LEASE_LOST)
			put(&t, ", lease age %" PRIu64 " ms", ev->value);
		put(&t, ")");
	} else {
		put(&t, "(%s)", scheduler_reason_str(ev->reason));
	}
	return (int)t.need;
}

int scheduler_explain_format(const struct sched_state *st, uint32_t svc,
			     char *buf, size_t len)
{
	const struct sched_service *c;
	const struct sched_explain *ex;
	struct text t = {buf, len, 0};
	const char *sep = "";
	int f;

	if (svc >= st->n_svcs)
		return -EINVAL;
	if (len > 0)
		buf[0] = '\0';
	c = &st->svcs[svc];
	ex = &c->st.why;
	put(&t, "service '%s': %s on '%s'\n", c->sid,
	    scheduler_svc_state_str(c->st.state), node_name(st, c->st.node));
	put(&t, "last decision at %" PRIu64 ".%03" PRIu64 " s: %s",
	    ex->time_ms / 1000, ex->time_ms % 1000,
	    scheduler_reason_str(ex->reason));
	if (ex->from != SCHED_NONE && ex->from != ex->chosen)
		put(&t, " (from '%s')", node_name(st, ex->from));
	put(&t, "\n");
	if (ex->rejected < SCHED_F__COUNT)
		put(&t, "current node rejected by: %s\n",
		    scheduler_filter_str(ex->rejected));
	if (ex->considered == 0)
		return (int)t.need;
	put(&t, "placement: %u node(s) considered; filtered:", ex->considered);
	for (f = 0; f < SCHED_F__COUNT; f++) {
		if (ex->filtered[f] == 0)
			continue;
		put(&t, "%s %s %u", sep, scheduler_filter_str(f),
		    ex->filtered[f]);
		sep = ",";
	}
	if (*sep == '\0')
		put(&t, " none");
	put(&t, "; %u left; ", ex->remaining);
	if (ex->chosen != SCHED_NONE)
		put(&t, "chose '%s' (load %.3f, soft violations %u)\n",
		    node_name(st, ex->chosen), ex->load, ex->soft_violations);
	else
		put(&t, "no node chosen\n");
	return (int)t.need;
}
