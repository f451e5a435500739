/*
 * fencing: leases, self-fencing and the leader's safety verdict.
 *
 * DESIGN: the safety argument lives in fencing.h; this file only does the
 * arithmetic, saturating at 0 and UINT64_MAX so that no clock value makes a
 * deadline wrap. Each side uses only its own clock: the node measures from
 * when it sent a renewal, the leader from when it received it, which can
 * only make the leader later than the node.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "fencing/fencing.h"

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sub_sat(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

void fencing_config_default(struct fencing_config *c)
{
	c->renew_ms = 1000;
	c->lease_ms = 4000;
	c->watchdog_ms = 2000;
	c->margin_ms = 3000;
}

int fencing_config_check(const struct fencing_config *c)
{
	if (c->renew_ms == 0 || c->lease_ms == 0 || c->watchdog_ms == 0)
		return -EINVAL;
	if (c->renew_ms >= c->lease_ms / 2)
		return -EINVAL;
	if (c->margin_ms < c->watchdog_ms)
		return -EINVAL;
	return 0;
}

/* ---- node side ---- */

void fencing_lease_granted(struct fencing_lease *l, uint64_t sent_ms)
{
	if (l->held && sent_ms < l->sent_ms)
		return;
	l->held = true;
	l->sent_ms = sent_ms;
	l->self_fenced = false;
}

void fencing_lease_release(struct fencing_lease *l)
{
	l->held = false;
}

bool fencing_lease_valid(const struct fencing_config *c,
			 const struct fencing_lease *l, uint64_t now_ms)
{
	return l->held && !l->self_fenced &&
	       now_ms < add_sat(l->sent_ms, c->lease_ms);
}

void fencing_lease_check(const struct fencing_config *c,
			 struct fencing_lease *l, uint64_t now_ms,
			 bool runs_ha, struct fencing_self_decision *ret)
{
	ret->now_ms = now_ms;
	ret->lease_age_ms = l->held ? sub_sat(now_ms, l->sent_ms) : 0;
	ret->expires_ms = l->held ? add_sat(l->sent_ms, c->lease_ms) : 0;
	ret->feed_watchdog = false;
	if (fencing_lease_valid(c, l, now_ms)) {
		ret->action = FENCING_SELF_OK;
		ret->feed_watchdog = true;
		return;
	}
	if (l->self_fenced) {
		ret->action = FENCING_SELF_FENCED;
		return;
	}
	if (!runs_ha) {
		ret->action = FENCING_SELF_IDLE;
		return;
	}
	l->self_fenced = true;
	ret->action = FENCING_SELF_FENCE;
}

/* ---- leader side ---- */

void fencing_peer_check(const struct fencing_config *c,
			const struct fencing_peer *p, uint64_t elected_ms,
			uint64_t now_ms, struct fencing_decision *ret)
{
	uint64_t since = elected_ms;

	ret->basis = FENCING_BASIS_ELECTION;
	if (p->renewed && p->renew_ms >= elected_ms) {
		since = p->renew_ms;
		ret->basis = FENCING_BASIS_RENEWAL;
	}
	ret->now_ms = now_ms;
	ret->since_ms = since;
	ret->lease_age_ms = sub_sat(now_ms, since);
	ret->expired_ms = add_sat(since, c->lease_ms);
	ret->safe_ms = add_sat(ret->expired_ms, c->margin_ms);
	ret->confirmed_ms = 0;
	if (p->confirmed && (!p->renewed || p->confirmed_ms >= p->renew_ms)) {
		ret->verdict = FENCING_CONFIRMED;
		ret->confirmed_ms = p->confirmed_ms;
	} else if (now_ms < ret->expired_ms) {
		ret->verdict = FENCING_ALIVE;
	} else if (now_ms < ret->safe_ms) {
		ret->verdict = FENCING_EXPIRED;
	} else {
		ret->verdict = FENCING_SAFE;
	}
}

int fencing_peer_renew(struct fencing_peer *p, uint64_t now_ms, bool fencing)
{
	if (fencing)
		return -EPERM;
	if (p->renewed && now_ms < p->renew_ms)
		return 0; /* never move backwards */
	p->renewed = true;
	p->renew_ms = now_ms;
	p->confirmed = false;
	return 0;
}

void fencing_peer_confirm(struct fencing_peer *p, uint64_t now_ms)
{
	p->confirmed = true;
	p->confirmed_ms = now_ms;
}

static void stall_seen(struct fencing_stall *s, uint64_t now_ms,
		       uint64_t election_ms)
{
	s->stalled_ms = now_ms - s->tick_ms;
	if (now_ms + 2 * election_ms > s->hold_until_ms)
		s->hold_until_ms = now_ms + 2 * election_ms;
}

bool fencing_stall_tick(struct fencing_stall *s, uint64_t now_ms,
			uint64_t election_ms)
{
	bool stalled = s->tick_ms != 0 && now_ms > s->tick_ms + election_ms;

	if (stalled)
		stall_seen(s, now_ms, election_ms);
	if (now_ms > s->tick_ms)
		s->tick_ms = now_ms;
	return stalled;
}

bool fencing_stall_may_grant(struct fencing_stall *s, uint64_t now_ms,
			     uint64_t leader_ms, uint64_t election_ms)
{
	if (s->tick_ms == 0 || now_ms > s->tick_ms + election_ms) {
		stall_seen(s, now_ms, election_ms);
		return false;
	}
	return now_ms >= s->hold_until_ms && leader_ms >= s->hold_until_ms;
}

const char *fencing_verdict_str(enum fencing_verdict v)
{
	switch (v) {
	case FENCING_ALIVE:
		return "alive";
	case FENCING_EXPIRED:
		return "expired";
	case FENCING_SAFE:
		return "safe";
	case FENCING_CONFIRMED:
		return "confirmed";
	}
	return "?";
}

const char *fencing_self_action_str(enum fencing_self_action a)
{
	switch (a) {
	case FENCING_SELF_IDLE:
		return "idle";
	case FENCING_SELF_OK:
		return "ok";
	case FENCING_SELF_FENCE:
		return "self-fence";
	case FENCING_SELF_FENCED:
		return "self-fenced";
	}
	return "?";
}

int fencing_decision_format(const struct fencing_decision *d, char *buf,
			    size_t len)
{
	const char *basis = d->basis == FENCING_BASIS_RENEWAL
				    ? "last renewal"
				    : "leader election";

	if (d->verdict == FENCING_CONFIRMED)
		return snprintf(buf, len,
				"confirmed: fence agent confirmed power-off at "
				"%" PRIu64 " ms; lease age %" PRIu64
				" ms since %s",
				d->confirmed_ms, d->lease_age_ms, basis);
	return snprintf(buf, len,
			"%s: lease age %" PRIu64 " ms since %s, expired at %" PRIu64
			" ms, safe at %" PRIu64 " ms",
			fencing_verdict_str(d->verdict), d->lease_age_ms, basis,
			d->expired_ms, d->safe_ms);
}
