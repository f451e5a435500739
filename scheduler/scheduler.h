/* scheduler: pure HA placement and reconcile logic run on the leader. */
#ifndef HX_SCHEDULER_SCHEDULER_H
#define HX_SCHEDULER_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The scheduler is a function, not a daemon: the replicated cluster state,
 * the rules, what the leader observed (leases, agent reports, admin
 * commands) and the time go in; the changes to make to the state and a list
 * of events, each with a reason, come out. It does no I/O, keeps no memory
 * between calls and reads no clock, so a newly elected leader carries on
 * from the stored state where the old one stopped, and the simulator
 * (tests/sim/hx-sim) runs exactly this code.
 *
 * Indices: nodes and services are addressed by their index in struct
 * sched_state. Nodes are only ever appended (a removed node is marked
 * SCHED_NODE_GONE), so node indices are stable. Services are kept sorted by
 * id; adding or removing one shifts the indices of those after it, so
 * indices are valid until the next scheduler_state_add_service() or
 * scheduler_state_remove_service().
 *
 * Thread safety: none needed; every function works only on its arguments.
 */

#define SCHED_NONE UINT32_MAX
#define SCHED_NAME_MAX 64   /* node names, service ids, rule ids, with NUL */
#define SCHED_FAILED_MAX 16 /* failed nodes remembered per service */

/* ---- enumerations ---- */

/* HA state of a node as recorded by the leader. */
enum sched_node_state {
	SCHED_NODE_ONLINE,	/* holds a valid lease */
	SCHED_NODE_UNKNOWN,	/* lease lost (or fence done and not back) */
	SCHED_NODE_FENCE,	/* must be fenced before its services move */
	SCHED_NODE_GONE,	/* removed from the cluster */
	SCHED_NODE_MAINTENANCE, /* evacuated; services come back afterwards */
	SCHED_NODE__COUNT
};

/* HA state of a service (the leader's view, "crm state"). */
enum sched_svc_state {
	SCHED_SVC_REQUEST_START, /* asked to start; node choice pending */
	SCHED_SVC_STARTED,	 /* should run on .node */
	SCHED_SVC_REQUEST_STOP,	 /* agent on .node must stop it */
	SCHED_SVC_STOPPED,	 /* confirmed stopped */
	SCHED_SVC_FREEZE,	 /* node shutting down: leave it alone */
	SCHED_SVC_FENCE,	 /* its node must be fenced first */
	SCHED_SVC_RECOVERY,	 /* node fenced; looking for a new node */
	SCHED_SVC_MIGRATE,	 /* live migration .node -> .target */
	SCHED_SVC_RELOCATE,	 /* stop, move to .target, start */
	SCHED_SVC_ERROR,	 /* policies exhausted; needs an admin */
	SCHED_SVC_IGNORED,	 /* not managed by HA */
	SCHED_SVC__COUNT
};

/*
 * Requested state from the resource definition. 'disabled' is like
 * 'stopped' but also clears the error state; a service requested
 * 'disabled' shows crm state 'stopped'.
 */
enum sched_request {
	SCHED_REQ_STARTED,
	SCHED_REQ_STOPPED,
	SCHED_REQ_DISABLED,
	SCHED_REQ_IGNORED,
};

enum sched_kind {
	SCHED_KIND_VM, /* live-migrates */
	SCHED_KIND_CT, /* can only relocate (stop, move, start) */
};

/* Cluster resource scheduling mode. */
enum sched_crs {
	SCHED_CRS_BASIC,  /* fewest HA services per node */
	SCHED_CRS_STATIC, /* configured CPU and memory of nodes and VMs */
};

/* Mode an agent reports for its node. */
enum sched_agent_mode {
	SCHED_AGENT_NONE,	 /* never reported */
	SCHED_AGENT_ACTIVE,	 /* normal operation */
	SCHED_AGENT_FREEZE,	 /* shutting down; freeze its services */
	SCHED_AGENT_STOP,	 /* shutting down; services stop, fail over */
	SCHED_AGENT_MAINTENANCE, /* shutting down; evacuate it first */
};

/* Datacenter-wide policy for a node that is shut down or rebooted. */
enum sched_shutdown_policy {
	SCHED_SHUTDOWN_CONDITIONAL, /* freeze on reboot, fail over on poweroff */
	SCHED_SHUTDOWN_FREEZE,
	SCHED_SHUTDOWN_FAILOVER,
	SCHED_SHUTDOWN_MIGRATE,
};

/* Why a decision was taken; every event and explanation carries one. */
enum sched_reason {
	SCHED_R_NONE,
	SCHED_R_NEW,		   /* service appeared in the configuration */
	SCHED_R_REQUEST,	   /* requested state changed */
	SCHED_R_NODE_ONLINE,	   /* node holds a lease again */
	SCHED_R_LEASE_LOST,	   /* node's lease expired */
	SCHED_R_FENCE_NEEDED,	   /* lost node runs HA services */
	SCHED_R_FENCE_LEASE,	   /* fenced: lease + margin have passed */
	SCHED_R_FENCE_AGENT,	   /* fenced: external fence confirmed */
	SCHED_R_FENCE_NO_SERVICES, /* node in fence state with nothing to fence */
	SCHED_R_RECOVERED,	   /* recovered from a fenced node */
	SCHED_R_NO_NODE,	   /* no node satisfies the rules */
	SCHED_R_START_OK,	   /* agent confirmed the start */
	SCHED_R_START_RETRY,	   /* start failed; restart on the same node */
	SCHED_R_START_RELOCATE,	   /* start failed max_restart times; move */
	SCHED_R_RETRY_CURRENT,	   /* all nodes tried; retry current node */
	SCHED_R_RELOCATE_OK,	   /* started after failed nodes */
	SCHED_R_POLICY_EXHAUSTED,  /* max_relocate used up: error */
	SCHED_R_STOP_OK,
	SCHED_R_STOP_FAILED,
	SCHED_R_MIGRATE_OK,
	SCHED_R_MIGRATE_FAILED,
	SCHED_R_CMD_MIGRATE,   /* admin asked for a live migration */
	SCHED_R_CMD_RELOCATE,  /* admin asked for a relocation */
	SCHED_R_CMD_REJECTED,  /* admin command not applicable */
	SCHED_R_FREEZE,	       /* node shutting down with freeze */
	SCHED_R_UNFREEZE,      /* node's agent active again */
	SCHED_R_MAINT_ENTER,   /* node enters maintenance */
	SCHED_R_MAINT_LEAVE,   /* node leaves maintenance */
	SCHED_R_MAINT_EVACUATE, /* moved off a node in maintenance */
	SCHED_R_MAINT_RETURN,	/* back to the node it left for maintenance */
	SCHED_R_FAILBACK,	/* a node of higher priority is available */
	SCHED_R_NODE_AFFINITY,	/* current node not allowed by a rule */
	SCHED_R_AFFINITY,	/* join members of a positive rule */
	SCHED_R_ANTI_AFFINITY,	/* leave members of a negative rule */
	SCHED_R_ORDER_WAIT,	/* waits for a service ordered before it */
	SCHED_R_ERROR_CLEARED,	/* disabled while in error */
	SCHED_R_PLACED,		/* placement chose a node */
	SCHED_R_STOPPED_MOVED,	/* stopped service reassigned */
	SCHED_R__COUNT
};

/* Placement filters counted in an explanation. */
enum sched_filter {
	SCHED_F_OFFLINE,       /* node not online or in maintenance */
	SCHED_F_NODE_AFFINITY, /* not in a strict node affinity rule */
	SCHED_F_TRIED,	       /* start already failed there */
	SCHED_F_ANTI_AFFINITY, /* a member of a negative rule is there */
	SCHED_F_CAPACITY,      /* memory would not fit */
	SCHED_F_PRIORITY,      /* a node of higher priority is available */
	SCHED_F_AFFINITY,      /* members of a positive rule are elsewhere */
	SCHED_F__COUNT
};

/* ---- plain values ---- */

/* Why the last placement or state decision was taken ("ha why"). */
struct sched_explain {
	uint64_t time_ms;
	uint32_t reason;     /* enum sched_reason */
	uint32_t from;	     /* node before the decision or SCHED_NONE */
	uint32_t chosen;     /* node chosen or SCHED_NONE */
	uint32_t considered; /* nodes considered (not gone) */
	uint32_t filtered[SCHED_F__COUNT];
	uint32_t rejected;	  /* filter that rejected .from when it had
				   * to move, or SCHED_F__COUNT */
	uint32_t remaining;	  /* nodes left after all filters */
	uint32_t soft_violations; /* soft rules broken by the choice */
	double load;		  /* load score of the chosen node */
};

/* Node status: what the leader stores for a node. */
struct sched_node_status {
	enum sched_node_state state;
	uint64_t since_ms;
	bool maintenance; /* admin requested maintenance; survives reboots */
};

struct sched_node {
	char name[SCHED_NAME_MAX];
	double cpu;   /* capacity in CPUs, 0 = unknown */
	uint64_t mem; /* capacity in bytes, 0 = unknown */
	struct sched_node_status st;
};

/* Service status: what the leader stores for a service. */
struct sched_status {
	enum sched_svc_state state;
	uint32_t node;	     /* assigned node, SCHED_NONE if not placed */
	uint32_t target;     /* migrate/relocate target or SCHED_NONE */
	uint32_t maint_node; /* node it left for maintenance or SCHED_NONE */
	uint64_t uid;	     /* id of the current request to the agent */
	bool confirmed;	     /* agent reported success for uid */
	uint32_t restarts;   /* failed starts on .node since the last move */
	uint32_t n_failed;   /* failed starts counted by the relocate policy */
	uint32_t failed[SCHED_FAILED_MAX]; /* their nodes (first ones) */
	struct sched_explain why;	   /* last decision */
};

struct sched_service {
	char sid[SCHED_NAME_MAX];
	/* configuration (the resource definition) */
	enum sched_kind kind;
	enum sched_request request;
	uint32_t max_restart;  /* restarts on the same node after a failure */
	uint32_t max_relocate; /* moves to other nodes after failures */
	bool failback;	       /* move back to a higher-priority node */
	int32_t priority;      /* higher starts/recovers first */
	double cpu;	       /* demand in CPUs (static mode) */
	uint64_t mem;	       /* demand in bytes (static mode) */
	/* status */
	struct sched_status st;
};

/*
 * The whole input state that a leader stores and replicates. Transparent:
 * callers may read and write the fields; use the functions below to add
 * entries so that ordering invariants hold.
 */
struct sched_state {
	struct sched_node *nodes;
	uint32_t n_nodes;
	uint32_t cap_nodes;
	struct sched_service *svcs; /* sorted by sid */
	uint32_t n_svcs;
	uint32_t cap_svcs;
	enum sched_crs crs;
	uint64_t next_uid; /* next request id to hand out */
};

/* ---- rules ---- */

enum sched_rule_kind {
	SCHED_RULE_NODE_AFFINITY,     /* resources prefer/require nodes */
	SCHED_RULE_RESOURCE_AFFINITY, /* resources together or apart */
	SCHED_RULE_ORDER,	      /* each resource starts after the one before */
};

struct sched_node_prio {
	char node[SCHED_NAME_MAX];
	int32_t priority; /* higher is preferred; default 0 */
};

/*
 * One rule, by names. For SCHED_RULE_NODE_AFFINITY, .strict means only the
 * listed nodes are allowed (else they are preferred); for
 * SCHED_RULE_RESOURCE_AFFINITY, .strict means hard (else soft) and .positive
 * means together (else apart). Pointers are borrowed by
 * scheduler_rules_add(), which copies them.
 */
struct sched_rule {
	char id[SCHED_NAME_MAX];
	enum sched_rule_kind kind;
	bool disabled;
	bool strict;
	bool positive;
	const char (*sids)[SCHED_NAME_MAX];
	uint32_t n_sids;
	const struct sched_node_prio *nodes;
	uint32_t n_nodes;
};

/* A set of rules; owns its copies. */
struct sched_rules {
	struct sched_rule *rules;
	uint32_t n_rules;
	uint32_t cap_rules;
};

/* ---- input and output of a step ---- */

/* What the leader observed about a node (index as in the state). */
struct sched_node_obs {
	bool online;	     /* holds a valid lease (or the grace period of a
			      * new leader, see fencing.h) */
	bool renewed;	     /* renewed with this leader: may come back */
	bool expired;	     /* no valid lease: it must be self-fencing */
	bool fence_done;     /* fencing says the node is safe (see fencing.h) */
	bool fence_by_agent; /* ... because an external fence confirmed it */
	uint64_t lease_age_ms;		/* evidence for the event */
	enum sched_agent_mode mode; /* last mode its agent reported */
};

/* Outcome an agent reported for request @uid of service @svc. */
struct sched_result {
	uint32_t svc;
	uint64_t uid;
	int code; /* 0 success, negative errno failure */
};

enum sched_cmd_kind {
	SCHED_CMD_MIGRATE,	   /* svc, node = target */
	SCHED_CMD_RELOCATE,	   /* svc, node = target */
	SCHED_CMD_MAINT_ENABLE,	   /* node */
	SCHED_CMD_MAINT_DISABLE,   /* node */
};

struct sched_cmd {
	enum sched_cmd_kind kind;
	uint32_t svc;
	uint32_t node;
};

/* Everything observed since the last step; arrays are borrowed. */
struct sched_input {
	const struct sched_node_obs *nodes; /* one per state node */
	const struct sched_result *results;
	size_t n_results;
	const struct sched_cmd *cmds; /* all are consumed by the step */
	size_t n_cmds;
};

enum sched_action_kind {
	SCHED_ACT_SERVICE, /* set the status of service .index */
	SCHED_ACT_NODE,	   /* set the status of node .index */
};

struct sched_action {
	enum sched_action_kind kind;
	uint32_t index;
	union {
		struct sched_status svc;
		struct sched_node_status node;
	} u;
};

/* A record of one decision. Fields not relevant are SCHED_NONE. */
struct sched_event {
	uint64_t time_ms;
	uint32_t reason; /* enum sched_reason */
	uint32_t svc;
	uint32_t node;	     /* node the event is about */
	uint32_t from_state; /* enum sched_svc_state or sched_node_state */
	uint32_t to_state;
	uint32_t from_node;
	uint32_t to_node;
	uint64_t value; /* reason-specific evidence (lease age, count, uid) */
};

/* Output of a step. */
struct sched_plan {
	struct sched_action *actions;
	size_t n_actions;
	size_t cap_actions;
	struct sched_event *events;
	size_t n_events;
	size_t cap_events;
	uint64_t next_uid; /* value for state.next_uid after apply */
};

/* ---- state ---- */

/* Initialises an empty state (basic CRS, next_uid 1). */
void scheduler_state_init(struct sched_state *st);
/* Frees the arrays; accepts a zeroed or NULL state. */
void scheduler_state_close(struct sched_state *st);
/* Deep copy into an initialised @dst (its contents are replaced). Returns
 * 0 or -ENOMEM (dst unchanged). */
int scheduler_state_copy(struct sched_state *dst, const struct sched_state *src);

/*
 * Appends a node in state UNKNOWN. Returns 0 and sets *ret_index, -EEXIST
 * if the name is taken, -EINVAL if it is empty or too long, -ENOMEM.
 */
int scheduler_state_add_node(struct sched_state *st, const char *name,
			     double cpu, uint64_t mem, uint32_t *ret_index);
uint32_t scheduler_state_find_node(const struct sched_state *st,
				   const char *name);

/*
 * Adds a service from its configuration @conf (sid, kind, request, limits,
 * demand; conf->st is ignored) assigned to @node (SCHED_NONE: to be placed).
 * Its status starts from the request: request_start, request_stop or
 * ignored. Keeps services sorted, which shifts later indices. Returns 0 and
 * sets *ret_index (may be NULL), -EEXIST, -EINVAL (bad sid or node),
 * -ENOMEM.
 */
int scheduler_state_add_service(struct sched_state *st,
				const struct sched_service *conf, uint32_t node,
				uint32_t *ret_index);
uint32_t scheduler_state_find_service(const struct sched_state *st,
				      const char *sid);
/* Removes service @index (shifts later indices). Returns 0 or -EINVAL. */
int scheduler_state_remove_service(struct sched_state *st, uint32_t index);
/* Fills @conf with the defaults of a new service: vm, started,
 * max_restart 1, max_relocate 1, failback on. */
void scheduler_service_defaults(struct sched_service *conf);

/* ---- rules ---- */

void scheduler_rules_init(struct sched_rules *rules);
void scheduler_rules_close(struct sched_rules *rules);
/* Copies @rule into @rules. Returns 0, -EINVAL (no id, no resources, node
 * affinity without nodes, resource affinity with fewer than 2 resources,
 * order with fewer than 2), -EEXIST (id taken) or -ENOMEM. */
int scheduler_rules_add(struct sched_rules *rules,
			const struct sched_rule *rule);

/*
 * Checks @rules against @st: unknown resources or nodes, a resource in two
 * node affinity rules, a pair both together and apart, positive groups
 * that inherit different node affinity rules. Writes one line per problem
 * into @buf (NUL-terminated, truncated to @len). Returns the number of
 * problems (0 = consistent) or -ENOMEM. Conflicting hard rules are still
 * applied by the step as documented in docs/ha.md; this is for the API.
 */
int scheduler_rules_check(const struct sched_rules *rules,
			  const struct sched_state *st, char *buf, size_t len);

/* ---- the step ---- */

void scheduler_plan_init(struct sched_plan *plan);
void scheduler_plan_close(struct sched_plan *plan);

/*
 * Computes the next decisions: node states from the observations, admin
 * commands, each service's state machine, fencing acknowledgement and
 * recovery, placement under the rules. Leader only. Replaces the contents
 * of @plan with the actions (new statuses) and events; @st is not changed:
 * apply the plan with scheduler_plan_apply() (the leader stores exactly
 * those statuses). in->nodes must have st->n_nodes entries. Returns 0,
 * -EINVAL or -ENOMEM (plan then holds nothing to apply).
 */
int scheduler_step(const struct sched_state *st, const struct sched_rules *rules,
		   const struct sched_input *in, uint64_t now_ms,
		   struct sched_plan *plan);

/* Applies the actions of a plan computed from @st. Returns 0 or -EINVAL if
 * an action does not fit @st. */
int scheduler_plan_apply(struct sched_state *st, const struct sched_plan *plan);

/* ---- placement for any VM ---- */

enum sched_pref {
	SCHED_PREF_STAY, /* keep the current node if the rules allow it */
	SCHED_PREF_BEST, /* best node by rules and load */
	SCHED_PREF_NEXT, /* best node not yet tried (failed[] excluded) */
};

struct sched_placer;

/*
 * A placement engine over a snapshot of @st (copied) and compiled @rules,
 * with the online nodes given by @online (st->n_nodes entries; NULL means
 * nodes whose state is ONLINE). The same engine the step uses, for create
 * and start placement of any VM: put non-HA VMs in the state too, with
 * request ignored, so that they count and rules can name them. Returns 0
 * and sets *ret or -ENOMEM. Free with scheduler_placer_free().
 */
int scheduler_placer_new(const struct sched_state *st,
			 const struct sched_rules *rules, const bool *online,
			 struct sched_placer **ret);
void scheduler_placer_free(struct sched_placer *p);

/*
 * Chooses a node for service @svc (an index in the snapshot) with
 * preference @pref. Sets *ret_node (SCHED_NONE when no node fits) and,
 * if @ret_why is not NULL, the explanation. Returns 0 or -EINVAL.
 */
int scheduler_placer_place(struct sched_placer *p, uint32_t svc,
			   enum sched_pref pref, uint32_t *ret_node,
			   struct sched_explain *ret_why);
/* Records that @svc now runs on @node (updates load and rule footprints).
 * Returns 0 or -EINVAL. */
int scheduler_placer_commit(struct sched_placer *p, uint32_t svc,
			    uint32_t node);

/*
 * N+1 admission: could the cluster restart every running HA service (plus
 * @svc, if it is not running yet) after losing its largest node? Uses the
 * static demands and capacities, first-fit decreasing by memory onto the
 * other online nodes. Returns 0 when yes, -ENOSPC when no (then *ret_node
 * is the node whose loss could not be absorbed), -EINVAL.
 */
int scheduler_admission_check(const struct sched_state *st, uint32_t svc,
			      const bool *online, uint32_t *ret_node);

/* ---- names and formatting ---- */

const char *scheduler_node_state_str(enum sched_node_state s);
const char *scheduler_svc_state_str(enum sched_svc_state s);
const char *scheduler_reason_str(enum sched_reason r);
const char *scheduler_filter_str(enum sched_filter f);

/* Agent mode for a node that is shut down (@reboot false) or rebooted. */
enum sched_agent_mode scheduler_shutdown_mode(enum sched_shutdown_policy p,
					      bool reboot);

/* Formats @ev with names from @st into @buf ("service 'vm:101' started ->
 * fence on 'node3': lease lost"). Returns the length it needed. */
int scheduler_event_format(const struct sched_state *st,
			   const struct sched_event *ev, char *buf, size_t len);

/* Formats the explanation of service @svc ("ha why"). Returns the length
 * it needed, or -EINVAL. */
int scheduler_explain_format(const struct sched_state *st, uint32_t svc,
			     char *buf, size_t len);

#endif /* HX_SCHEDULER_SCHEDULER_H */
