/*
 * sim: a node's agent, as hxd will run it: renew the lease, take the
 * fencing module's self-fence decision, feed the watchdog, carry out the
 * requests the leader stored for this node and report the outcome.
 *
 * DESIGN: the agent acts only while its lease is valid, executes each
 * request (uid) at most once, and never starts a resource that runs on
 * another node; such an attempt is counted as a safety violation, as is a
 * recovery while the old node still runs the resource (world.c). Its
 * memory (executed uids, lease, watchdog) is lost when the node powers
 * off; its reported mode and results are "stored" and survive.
 * Resources follow FORMAT.md: fa: ids fail starts, migrations or stops on
 * command, and a guest config lock makes start and migration fail.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tests/sim/sim.h"

static const char *name_of(const struct sim *s, uint32_t n)
{
	return n < s->n_nodes ? s->nodes[n].name : "-";
}

static bool runs_ha(const struct sim *s, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < s->n_res; i++)
		if (s->res[i].running_on == n)
			return true;
	return false;
}

/* Is a service assigned here in a state that needs this node? */
static bool assigned_active(const struct sim *s, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < s->st.n_svcs; i++) {
		const struct sched_status *st = &s->st.svcs[i].st;

		if (st->node != n)
			continue;
		switch (st->state) {
		case SCHED_SVC_STARTED:
		case SCHED_SVC_REQUEST_START:
		case SCHED_SVC_REQUEST_STOP:
		case SCHED_SVC_MIGRATE:
		case SCHED_SVC_RELOCATE:
			return true;
		default:
			break;
		}
	}
	return false;
}

static bool fa_applies(const struct sim *s, const struct sim_res *r,
		       uint32_t n)
{
	char want[16];

	if (r->fa_node == 0)
		return true;
	snprintf(want, sizeof(want), "node%u", r->fa_node);
	return strcmp(name_of(s, n), want) == 0;
}

static int try_start(struct sim *s, struct sim_res *r, uint32_t n)
{
	if (r->lock[0]) {
		sim_logf(s, name_of(s, n), "agent: start %s failed: locked (%s)",
			 r->sid, r->lock);
		return -EBUSY;
	}
	if (r->fa && r->fa_start > 0 && fa_applies(s, r, n) &&
	    r->start_fails < r->fa_start) {
		r->start_fails++;
		sim_logf(s, name_of(s, n), "agent: start %s failed (attempt %u)",
			 r->sid, r->start_fails);
		return -EIO;
	}
	r->start_fails = 0;
	r->running_on = n;
	sim_logf(s, name_of(s, n), "agent: started %s", r->sid);
	return 0;
}

static int try_stop(struct sim *s, struct sim_res *r, uint32_t n)
{
	if (r->fa && r->fa_nostop) {
		sim_logf(s, name_of(s, n), "agent: unable to stop %s "
					   "(still running)",
			 r->sid);
		return -EIO;
	}
	r->running_on = SCHED_NONE;
	sim_logf(s, name_of(s, n), "agent: stopped %s", r->sid);
	return 0;
}

static int try_move(struct sim *s, struct sim_res *r, uint32_t n,
		    uint32_t to, bool live)
{
	const char *how = live ? "migrate" : "relocate";

	if (to >= s->n_nodes || !s->nodes[to].agent_up ||
	    !sim_connected(s, n, to)) {
		sim_logf(s, name_of(s, n), "agent: %s %s to '%s' failed: "
					   "target unreachable",
			 how, r->sid, name_of(s, to));
		return -EHOSTUNREACH;
	}
	/*
	 * A live migration starts the VM on the target: its agent must accept
	 * it first, and does so only with a valid lease and after arming its
	 * watchdog, so a VM never runs on a node that cannot fence itself. A
	 * hung agent does not answer: the migration times out.
	 */
	if (live && (s->nodes[to].hung ||
		     !fencing_lease_valid(&s->fc, &s->nodes[to].lease,
					  s->now_ms))) {
		sim_logf(s, name_of(s, n), "agent: migrate %s to '%s' failed: "
					   "target agent did not accept",
			 r->sid, name_of(s, to));
		return -ETIMEDOUT;
	}
	if (live && !s->nodes[to].wd_armed) {
		s->nodes[to].wd_armed = true;
		s->nodes[to].wd_fed_ms = s->now_ms;
		sim_logf(s, name_of(s, to), "agent: watchdog armed for incoming "
					    "%s",
			 r->sid);
	}
	if (r->lock[0] || (r->fa && r->fa_migrate > 0 && fa_applies(s, r, n) &&
			   r->migrate_fails < r->fa_migrate)) {
		if (!r->lock[0])
			r->migrate_fails++;
		sim_logf(s, name_of(s, n), "agent: %s %s to '%s' failed%s%s",
			 how, r->sid, name_of(s, to),
			 r->lock[0] ? ": locked " : "", r->lock);
		return -EIO;
	}
	r->migrate_fails = 0;
	if (r->running_on == n)
		r->running_on = live ? to : SCHED_NONE;
	sim_logf(s, name_of(s, n), "agent: %s %s to '%s' done", how, r->sid,
		 name_of(s, to));
	return 0;
}

static void report(struct sim_res *r, uint64_t uid, int code)
{
	r->has_result = true;
	r->result_uid = uid;
	r->result_code = code;
}

static void exec_started(struct sim *s, struct sim_res *r, uint32_t n,
			 uint64_t uid)
{
	if (r->running_on == n) {
		if (!r->has_result || r->result_uid != uid)
			report(r, uid, 0);
		return;
	}
	if (r->running_on != SCHED_NONE) {
		sim_logf(s, "CHECK", "VIOLATION: %s assigned to '%s' runs on "
				     "'%s'",
			 r->sid, name_of(s, n), name_of(s, r->running_on));
		s->violations++;
		return;
	}
	if (r->done_uid[n] == uid)
		return;
	r->done_uid[n] = uid;
	report(r, uid, try_start(s, r, n));
}

/* Carries out the leader's request for service @i on node @n. With
 * @moves_only (evacuating for a shutdown) nothing is started. */
static void exec(struct sim *s, uint32_t n, uint32_t i, bool moves_only)
{
	const struct sched_status *st = &s->st.svcs[i].st;
	struct sim_res *r = sim_res_find(s, s->st.svcs[i].sid);

	if (r == NULL || st->node != n)
		return;
	switch (st->state) {
	case SCHED_SVC_STARTED:
		if (!moves_only)
			exec_started(s, r, n, st->uid);
		break;
	case SCHED_SVC_REQUEST_STOP:
		if (r->done_uid[n] == st->uid)
			break;
		r->done_uid[n] = st->uid;
		report(r, st->uid, r->running_on == n ? try_stop(s, r, n) : 0);
		break;
	case SCHED_SVC_STOPPED:
		if (r->running_on == n && r->done_uid[n] != st->uid) {
			r->done_uid[n] = st->uid;
			(void)try_stop(s, r, n);
		}
		break;
	case SCHED_SVC_MIGRATE:
	case SCHED_SVC_RELOCATE:
		if (r->done_uid[n] == st->uid)
			break;
		r->done_uid[n] = st->uid;
		report(r, st->uid,
		       try_move(s, r, n, st->target,
				st->state == SCHED_SVC_MIGRATE));
		break;
	default:
		break;
	}
}

static void agent_exit(struct sim *s, uint32_t n)
{
	struct sim_node *node = &s->nodes[n];
	bool reboot = node->reboot;

	fencing_lease_release(&node->lease);
	node->wd_armed = false;
	sim_logf(s, node->name, "agent: released lease, watchdog closed, exit");
	if (s->leader == n) {
		sim_logf(s, node->name, "leader: stepping down (term %u)",
			 s->term);
		s->leader = SCHED_NONE;
		s->leader_lost_ms = s->now_ms - SIM_ELECTION_MS;
	}
	sim_power_off(s, n, reboot ? "reboot" : "shutdown");
	node->power_on_next = reboot;
}

/* Shutdown in progress: returns true when nothing else is to be done. */
static bool shutting_down(struct sim *s, uint32_t n)
{
	uint32_t i;

	if (s->nodes[n].want == SCHED_AGENT_MAINTENANCE) {
		for (i = 0; i < s->st.n_svcs; i++)
			exec(s, n, i, true);
		if (!runs_ha(s, n) && !assigned_active(s, n))
			agent_exit(s, n);
		return true;
	}
	for (i = 0; i < s->n_res; i++)
		if (s->res[i].running_on == n)
			(void)try_stop(s, &s->res[i], n);
	if (!runs_ha(s, n))
		agent_exit(s, n);
	return true;
}

static void renew(struct sim *s, uint32_t n)
{
	struct sim_node *node = &s->nodes[n];
	bool fencing = s->st.nodes[n].st.state == SCHED_NODE_FENCE;

	if (s->leader == SCHED_NONE || !sim_connected(s, n, s->leader))
		return;
	if (fencing_peer_renew(&s->peers[n], s->now_ms, fencing) == 0) {
		fencing_lease_granted(&node->lease, s->now_ms);
		node->refused = false;
	} else if (!node->refused) {
		node->refused = true;
		sim_logf(s, node->name, "agent: lease refused, node is being "
					"fenced");
	}
}

void sim_agent_iter(struct sim *s, uint32_t n)
{
	struct sim_node *node = &s->nodes[n];
	struct fencing_self_decision d;
	uint32_t i;

	renew(s, n);
	fencing_lease_check(&s->fc, &node->lease, s->now_ms,
			    runs_ha(s, n) || node->wd_armed, &d);
	if (d.action == FENCING_SELF_FENCE) {
		sim_logf(s, node->name,
			 "agent: self-fence: lease age %" PRIu64
			 " ms, killing HA resources, watchdog not fed",
			 d.lease_age_ms);
		for (i = 0; i < s->n_res; i++)
			if (s->res[i].running_on == n)
				s->res[i].running_on = SCHED_NONE;
	}
	if (d.action != FENCING_SELF_OK)
		return;
	if (node->wd_armed)
		node->wd_fed_ms = s->now_ms;
	if (s->leader != SCHED_NONE && sim_connected(s, n, s->leader))
		node->mode = node->shutdown ? node->want : SCHED_AGENT_ACTIVE;
	if (node->shutdown && shutting_down(s, n))
		return;
	/* armed before anything may start here */
	if (!node->wd_armed && (assigned_active(s, n) || runs_ha(s, n))) {
		node->wd_armed = true;
		node->wd_fed_ms = s->now_ms;
		sim_logf(s, node->name, "agent: watchdog armed");
	}
	for (i = 0; i < s->st.n_svcs; i++)
		exec(s, n, i, false);
	if (node->wd_armed && !assigned_active(s, n) && !runs_ha(s, n)) {
		node->wd_armed = false;
		sim_logf(s, node->name, "agent: idle, watchdog closed");
	}
}
