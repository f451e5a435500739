/* fencing: lease arithmetic that decides when a node is dead and safe. */
#ifndef HX_FENCING_FENCING_H
#define HX_FENCING_FENCING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The protocol, in times (every value is monotonic milliseconds of the
 * clock of whoever holds the record; no clocks are compared across nodes):
 *
 *   node                                  leader
 *   sends renew at s ---------------->    accepts at a >= s, records a
 *   lease valid until s + lease           node alive until a + lease
 *   at s + lease: kill HA VMs,            at a + lease: node 'unknown'
 *     stop feeding the watchdog           at a + lease + margin: SAFE,
 *   by s + lease + watchdog: reset          its HA VMs may start elsewhere
 *
 * Because a >= s and margin >= watchdog, the leader's SAFE time is never
 * earlier than the moment the node is dead even if its agent hung. A newly
 * elected leader has no renewal records, so it counts from its election:
 * it waits a full lease + margin before it declares anyone safe. A fence
 * agent (IPMI, Redfish) confirming power-off after the last renewal makes
 * the node safe at once. A node being fenced is refused new leases, so it
 * cannot come back half-way.
 *
 * This holds only if no former leader grants a renewal after a new leader
 * was elected: grant renewals only while the raft leader has heard from a
 * quorum within the election timeout (check-quorum), which the election of
 * a successor makes impossible.
 *
 * Everything here is a pure function over these records and times; the
 * agent calls it, acts on the decision and logs its evidence.
 */

struct fencing_config {
	uint64_t renew_ms;    /* how often nodes renew (< lease_ms / 2) */
	uint64_t lease_ms;    /* validity of one renewal */
	uint64_t watchdog_ms; /* watchdog timeout (hardware or emulated) */
	uint64_t margin_ms;   /* extra wait for the leader, >= watchdog_ms */
};

/* Defaults: renew 1 s, lease 4 s, watchdog 2 s, margin 3 s. */
void fencing_config_default(struct fencing_config *c);
/* Returns 0 when the values are consistent, else -EINVAL (zero values,
 * renew_ms >= lease_ms / 2, margin_ms < watchdog_ms). */
int fencing_config_check(const struct fencing_config *c);

/* ---- on the node ---- */

/* A node's own lease. Zero-initialise: no lease. */
struct fencing_lease {
	bool held;	    /* a renewal was granted since start */
	uint64_t sent_ms;   /* when the last granted renewal was sent */
	bool self_fenced;   /* the self-fence decision was taken */
};

enum fencing_self_action {
	FENCING_SELF_IDLE,  /* no lease and nothing to protect */
	FENCING_SELF_OK,    /* lease valid: feed the watchdog, run VMs */
	FENCING_SELF_FENCE, /* lease lost: kill HA VMs now, stop feeding */
	FENCING_SELF_FENCED, /* already self-fenced: keep everything down */
};

struct fencing_self_decision {
	enum fencing_self_action action;
	bool feed_watchdog;
	uint64_t now_ms;
	uint64_t lease_age_ms; /* now - sent of the last granted renewal */
	uint64_t expires_ms;   /* when the lease ends (or ended) */
};

/* Records that the renewal sent at @sent_ms was granted. Clears a
 * previous self-fence: the node may run HA VMs again. Ignores renewals
 * older than the one recorded. */
void fencing_lease_granted(struct fencing_lease *l, uint64_t sent_ms);
/* Records a clean release (the agent stops its HA VMs and exits). */
void fencing_lease_release(struct fencing_lease *l);
/* True while the lease is valid at @now_ms. */
bool fencing_lease_valid(const struct fencing_config *c,
			 const struct fencing_lease *l, uint64_t now_ms);

/*
 * What the node must do now. @runs_ha: the node runs (or is assigned) HA
 * VMs. Returns FENCE exactly once per lost lease when @runs_ha, and marks
 * the lease self-fenced; the caller must then kill its HA VMs and stop
 * feeding the watchdog. Fills @ret (required).
 */
void fencing_lease_check(const struct fencing_config *c,
			 struct fencing_lease *l, uint64_t now_ms,
			 bool runs_ha, struct fencing_self_decision *ret);

/* ---- on the leader ---- */

/* The leader's record of one node. Zero-initialise on election. */
struct fencing_peer {
	bool renewed;		/* renewed with this leader */
	uint64_t renew_ms;	/* leader clock at the last accepted renewal */
	bool confirmed;		/* fence agent confirmed power-off */
	uint64_t confirmed_ms;
};

enum fencing_verdict {
	FENCING_ALIVE,	   /* lease valid */
	FENCING_EXPIRED,   /* lease over; node should be self-fencing */
	FENCING_SAFE,	   /* lease + margin over: its HA VMs are down */
	FENCING_CONFIRMED, /* fence agent confirmed: safe now */
};

enum fencing_basis {
	FENCING_BASIS_RENEWAL,	/* counted from the node's last renewal */
	FENCING_BASIS_ELECTION, /* no renewal yet: from this leader's election */
};

/* A decision with its evidence, for the event log. */
struct fencing_decision {
	enum fencing_verdict verdict;
	enum fencing_basis basis;
	uint64_t now_ms;
	uint64_t since_ms;     /* renewal or election time used */
	uint64_t lease_age_ms; /* now - since */
	uint64_t expired_ms;   /* since + lease */
	uint64_t safe_ms;      /* since + lease + margin */
	uint64_t confirmed_ms; /* CONFIRMED: when the fence agent confirmed */
};

/*
 * Verdict on a node at @now_ms for a leader elected at @elected_ms. Fills
 * @ret (required). Leader only.
 */
void fencing_peer_check(const struct fencing_config *c,
			const struct fencing_peer *p, uint64_t elected_ms,
			uint64_t now_ms, struct fencing_decision *ret);

/*
 * A renewal arrived at @now_ms. Grants it (returns 0 and records it)
 * unless the node is being fenced (@fencing), then returns -EPERM and
 * changes nothing: the node stays without a lease until its fence is
 * acknowledged. Leader only.
 */
int fencing_peer_renew(struct fencing_peer *p, uint64_t now_ms, bool fencing);

/* A fence agent confirmed that the node is powered off at @now_ms. */
void fencing_peer_confirm(struct fencing_peer *p, uint64_t now_ms);

/*
 * A leader's guard against granting leases on stale leadership after its
 * own process stalled (SIGSTOP, a frozen cgroup, a paused host). Raft's
 * check-quorum runs in that same process, so right after a stall the
 * local raft node may still say "leader" although a successor was
 * elected meanwhile and counts the fence of this node from its election:
 * a grant then would keep this node's HA VMs running next to their
 * recovered copies. A thread that runs every few ms ticks it; a gap
 * longer than the election timeout between ticks, or between the last
 * tick and a grant, is a stall, after which grants wait two election
 * timeouts (raft has stepped down by then if it lost its quorum) and need
 * a leadership answer taken after that. Zero-initialise, then tick once.
 */
struct fencing_stall {
	uint64_t tick_ms;	/* last tick of the checking thread */
	uint64_t hold_until_ms; /* no grants before this */
	uint64_t stalled_ms;	/* length of the last stall seen */
};

/* The checking thread runs at @now_ms. Returns true if the gap since its
 * previous tick was a stall (then grants are held). */
bool fencing_stall_tick(struct fencing_stall *s, uint64_t now_ms,
			uint64_t election_ms);

/* Whether a leader may grant a lease at @now_ms on a leadership answer
 * of its raft node taken at @leader_ms. A gap since the last tick above
 * @election_ms counts as a stall (and starts a hold). */
bool fencing_stall_may_grant(struct fencing_stall *s, uint64_t now_ms,
			     uint64_t leader_ms, uint64_t election_ms);

const char *fencing_verdict_str(enum fencing_verdict v);
const char *fencing_self_action_str(enum fencing_self_action a);

/* Formats @d ("safe: lease age 7012 ms since renewal, safe since ...").
 * Returns the length it needed. */
int fencing_decision_format(const struct fencing_decision *d, char *buf,
			    size_t len);

#endif /* HX_FENCING_FENCING_H */
