/* agent/ha.h: high availability in hxd (leases, self-fence, watchdog,
 * the leader's scheduler loop, the HA API); private to agent/. */
#ifndef HX_AGENT_HA_H
#define HX_AGENT_HA_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fencing/fencing.h"
#include "scheduler/scheduler.h"

struct agent;
struct hx_err;
struct msg_in;
struct statedb_ha_snapshot;

/*
 * Every node (halease.c): a renew thread asks the leader for its lease
 * every renew_ms over the peer channel; a fence thread checks the lease
 * every 100 ms on the monotonic clock, kills this node's HA VMs at once
 * when it is lost (self-fence) and feeds the watchdog only while the lease
 * is valid or no HA VM runs here. The leader (halease.c) keeps a struct
 * fencing_peer per node in memory and grants renewals only while it is
 * the raft leader and its HA loop (ha.c) has loaded the state of its term.
 */

struct ha_peer {
	char name[64];
	struct fencing_peer fp;
	enum sched_agent_mode mode;
};

struct ha_loop; /* ha.c */

/* a->ha; fields guarded by .lock unless noted. */
struct agent_ha {
	struct agent *a;
	struct fencing_config fc; /* constant */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	/* node side */
	struct fencing_lease lease;
	int64_t *vmids; /* HA VMs of the cluster, per the last grant */
	unsigned n_vmids;
	int active; /* HA VMs running here; -1 unknown */
	uint64_t scans; /* counts of .active taken so far */
	bool fence_logged;
	int wd_fd; /* watchdog, -1 none; fence thread only */
	char boot_id[64];
	pthread_t renew_th, fence_th, scan_th;
	bool threads;
	/* leader side */
	bool ready; /* the loop loaded the state of this term: the fence
		     * states and the HA VM list are known */
	bool is_leader;	   /* last answer of the raft node ... */
	uint64_t leader_ms; /* ... and when it was asked */
	uint64_t elected_ms;
	struct fencing_stall stall; /* ticked by the fence thread */
	struct ha_peer *peers;
	unsigned n_peers, cap_peers;
	char *fence_names; /* " n1 n2 ": nodes in fence state */
	char *vms_text;	   /* "VMID VMID": HA VMs, for the grants */
	/* the loop (ha.c) */
	struct ha_loop *loop;
};

/* Starts the lease threads and, if configured, opens the watchdog. Call
 * once the cluster services run. */
int agent_ha_start(struct agent *a, struct hx_err *err);
/* Clean stop (SIGTERM): stops the threads, self-fences the HA VMs that
 * run here (the leader restarts them elsewhere or here), then disarms the
 * watchdog with 'V'. */
void agent_ha_stop(struct agent *a);
/* Whether this node holds a valid lease now. Any thread. */
bool agent_ha_lease_valid(struct agent *a);
/* The fencing timing in use. */
const struct fencing_config *agent_ha_fencing(struct agent *a);

/* ---- leader side of leases (halease.c) ---- */

/* Handles a "lease" message on a MSG connection: replies with the grant
 * or the refusal. Peer connection thread. */
void agent_ha_serve_lease(struct agent *a, int fd, const struct msg_in *in);
/* Grants a renewal of node @name (mode: "active"...) at the leader's
 * monotonic now. On success sets *ret_vms to the HA VMs ("VMID VMID ...",
 * malloc'ed) or to NULL before the term's first load (the node keeps its
 * list); else a reason in @why. 0 or -EPERM (being fenced), -ENOMEM,
 * HX_ENOTLEADER. */
int agent_ha_grant(struct agent *a, const char *name, const char *mode,
		   char **ret_vms, char *why, size_t len);

/* The leader's in-memory lease table, used by ha.c. */
void ha_leader_reset(struct agent *a, uint64_t elected_ms);
void ha_leader_lost(struct agent *a);
/* After a load or a commit: nodes in fence state (refused renewals), the
 * HA VMs to tell nodes about (grants carry the list from then on). */
void ha_leader_update(struct agent *a, const struct sched_state *st,
		      const struct statedb_ha_snapshot *snap);
/* Fills the observation of node @name; *ret_dec gets the evidence. */
void ha_leader_observe(struct agent *a, const char *name, uint64_t now_ms,
		       struct sched_node_obs *ret,
		       struct fencing_decision *ret_dec);
/* Lease age of @name in ms for the status API (UINT64_MAX: none). */
uint64_t ha_leader_lease_age(struct agent *a, const char *name);

/* ---- the leader loop (ha.c) ---- */

void ha_loop_start(struct agent *a);
void ha_loop_stop(struct agent *a);
/* Wakes the loop now. */
void ha_loop_kick(struct agent *a);

enum ha_cmd_kind {
	HA_CMD_MIGRATE,
	HA_CMD_RELOCATE,
	HA_CMD_MAINT_ENABLE,
	HA_CMD_MAINT_DISABLE,
};

/* Queues an admin command for the next step and waits (at most
 * @timeout_ms) until a committed step took it. 0 if accepted; -EBUSY with
 * the reason in @err if the scheduler rejected it; -ETIMEDOUT; HX_ENOTLEADER.
 * Leader only. */
int ha_command(struct agent *a, enum ha_cmd_kind kind, int64_t vmid,
	       const char *node, int timeout_ms, struct hx_err *err);

/* ---- placement of any VM (haapi.c) ---- */

/*
 * Chooses the node for a new VM @vmid with @cpu CPUs and @mem bytes by
 * the scheduler's placement engine: nodes HA has online, rules, load.
 * Fills @ret with its name and @why with the explanation. -ENOSPC when
 * no node fits.
 */
int agent_ha_place(struct agent *a, int64_t vmid, double cpu, uint64_t mem,
		   char *ret, size_t len, char *why, size_t why_len,
		   struct hx_err *err);

#endif /* HX_AGENT_HA_H */
