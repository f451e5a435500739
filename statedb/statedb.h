/* statedb: the cluster's replicated state in dqlite, as typed records. */
#ifndef HX_STATEDB_STATEDB_H
#define HX_STATEDB_STATEDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/scheduler.h"

struct hx_err;

/*
 * DESIGN: statedb is the only code that speaks SQL. Callers get plain
 * structs. Every write goes through one writer thread that takes queued
 * operations, runs them in one transaction on the leader (a savepoint per
 * operation, so one failing operation does not fail its neighbours) and
 * commits once: dqlite gives a second concurrent writer "database is
 * locked", and batching amortizes the Raft round trip. Writers of other
 * nodes still compete for the leader's write lock: a batch that meets
 * "locked" is rolled back and run again until the leader timeout. Reads run
 * on a small pool of connections to the leader, where dqlite's barrier
 * makes them linearizable.
 *
 * All functions block (at most about the configured timeouts) and are
 * thread-safe: call them from worker threads, never from the agent loop.
 *
 * Errors: -ENOENT (no such object), -EEXIST, HX_ECONFLICT (stale digest),
 * HX_ENOQUORUM (no leader in time), HX_EOUTCOME (commit sent, result
 * unknown), HX_EBUSY (still locked by other writers at the leader
 * timeout), HX_ESCHEMA, HX_ETOKEN, HX_ESQL, -ETIMEDOUT.
 */

/* Newest schema version this build knows. */
#define STATEDB_SCHEMA_VERSION 6

/* Connects a stream socket to the dqlite node at @address. */
typedef int (*statedb_dial_fn)(void *data, const char *address,
			       int timeout_ms, int *ret_fd);

struct statedb_config {
	statedb_dial_fn dial;
	void *dial_data;
	const char *self_address;  /* tried first for leader discovery */
	int io_timeout_ms;	   /* per request (default 5000) */
	int leader_timeout_ms;	   /* to find a leader (default 10000) */
};

struct statedb;

int statedb_open(const struct statedb_config *cfg, struct statedb **ret_db,
		 struct hx_err *err);
/* Stops the writer (failing queued operations with -ECANCELED). */
void statedb_close(struct statedb *db);
/* Drops the connections to the leader (idle ones now, busy ones and the
 * writer's when next used), so that the next requests find the leader
 * anew: a node that just became leader calls it, since requests on
 * connections to a cut-off former leader wait for the I/O timeout.
 * Thread-safe. */
void statedb_reconnect(struct statedb *db);
/* Replaces the addresses used for leader discovery (self first). */
int statedb_set_peers(struct statedb *db, const char *const *addresses,
		      unsigned n);

/* Applies pending migrations cluster-wide (idempotent). Fails with
 * HX_ESCHEMA if the database is newer than this build. */
int statedb_migrate(struct statedb *db, int *ret_version,
		    struct hx_err *err);
/* The schema version stored in the database (0: empty). */
int statedb_schema_version(struct statedb *db, int *ret_version,
			   struct hx_err *err);

/* ---- cluster ---- */

struct statedb_node {
	uint64_t id;
	char name[64];
	char address[64];   /* node IP */
	char peer[80];	    /* peer address "IP:PORT" (the raft address) */
	unsigned api_port;
	char arch[65];
	int cpus;
	int64_t memory_mb;
	char labels[4096];  /* JSON object */
	char cert_fp[65];
	int64_t joined_ms;
	char digest[33];
};

/* Creates the cluster record: meta, default settings, the first node and
 * the admin API token hash. -EEXIST if already created. */
int statedb_cluster_create(struct statedb *db, const char *name,
			   const struct statedb_node *first,
			   const char *admin_token_hash, struct hx_err *err);
/* Cluster name ("" if not created yet) into @buf. */
int statedb_cluster_name(struct statedb *db, char *buf, size_t len,
			 struct hx_err *err);

/* Nodes. *ret_nodes is malloc'ed, owned by the caller. */
int statedb_node_list(struct statedb *db, struct statedb_node **ret_nodes,
		      unsigned *ret_n, struct hx_err *err);
int statedb_node_get(struct statedb *db, const char *name,
		     struct statedb_node *ret_node, struct hx_err *err);
/* Replaces labels (JSON object text) if @if_digest (NULL: any) matches. */
int statedb_node_set_labels(struct statedb *db, const char *name,
			    const char *labels, const char *if_digest,
			    struct hx_err *err);
/* Deletes the node row: its certificate is no longer trusted. */
int statedb_node_delete(struct statedb *db, const char *name,
			struct hx_err *err);

/* Join tokens: stores the hash of a new token. */
int statedb_token_add(struct statedb *db, const char *hash,
		      int64_t expires_ms, const char *issuer,
		      struct hx_err *err);
/* Consumes the token with @hash and inserts @node in one transaction.
 * HX_ETOKEN if unknown, expired or used; -EEXIST if the name or address is
 * taken (the token is then not consumed). */
int statedb_node_admit(struct statedb *db, const char *hash, int64_t now_ms,
		       const struct statedb_node *node, struct hx_err *err);

/* API tokens: whether @hash is a valid token. */
int statedb_apitoken_check(struct statedb *db, const char *hash,
			   bool *ret_valid, struct hx_err *err);

/* ---- settings ---- */

struct statedb_setting_def {
	const char *key;
	int64_t def;
	int64_t min;
	int64_t max;
};
/* The table of known settings (NULL-key terminated). */
const struct statedb_setting_def *statedb_setting_defs(void);

struct statedb_settings {
	unsigned n;
	const char *keys[32];
	int64_t values[32];
	char digest[33];
};
int statedb_settings_get(struct statedb *db, struct statedb_settings *ret,
			 struct hx_err *err);
/* Updates @n keys; validates all first (-EINVAL with a message). */
int statedb_settings_update(struct statedb *db, const char *const *keys,
			    const int64_t *values, unsigned n,
			    const char *if_digest, struct hx_err *err);

/* ---- tasks ---- */

struct statedb_task {
	int64_t id;
	char kind[48];
	char node[64];
	char subject[128];
	char state[16]; /* running, ok, error */
	int progress;
	char message[512];
	char actor[96];
	int64_t started_ms;
	int64_t ended_ms; /* 0 while running */
};

struct statedb_task_line {
	int64_t time_ms;
	char line[512];
};

int statedb_task_create(struct statedb *db, const struct statedb_task *t,
			int64_t *ret_id, struct hx_err *err);
/* progress < 0 leaves it; message NULL leaves it. */
int statedb_task_update(struct statedb *db, int64_t id, int progress,
			const char *message, struct hx_err *err);
int statedb_task_log(struct statedb *db, int64_t id, const char *line,
		     struct hx_err *err);
int statedb_task_finish(struct statedb *db, int64_t id, bool ok,
			const char *message, struct hx_err *err);
/* Ends every task of @node still running with "error" and @message
 * (its hxd restarted), except migrations whose VM still holds the
 * "migrate" lock (their recovery ends them); the number ended in *ret_n. */
int statedb_task_abandon(struct statedb *db, const char *node,
			 const char *message, unsigned *ret_n,
			 struct hx_err *err);
/* Newest first; @state NULL for any. */
int statedb_task_list(struct statedb *db, const char *state, unsigned limit,
		      struct statedb_task **ret, unsigned *ret_n,
		      struct hx_err *err);
int statedb_task_get(struct statedb *db, int64_t id,
		     struct statedb_task *ret_task,
		     struct statedb_task_line **ret_lines, unsigned *ret_n,
		     struct hx_err *err);

/* ---- events ---- */

struct statedb_event {
	int64_t id;
	int64_t time_ms;
	char node[64];
	char kind[48];
	char subject[128];
	char message[512];
	char actor[96];
};

int statedb_event_add(struct statedb *db, const struct statedb_event *e,
		      struct hx_err *err);
/* Oldest first, id > @since, at most @limit; @subject NULL for any. */
int statedb_event_list(struct statedb *db, int64_t since, unsigned limit,
		       const char *subject, struct statedb_event **ret,
		       unsigned *ret_n, struct hx_err *err);

/* ---- virtual machines ---- */

#define STATEDB_VMID_MIN 100
#define STATEDB_VMID_MAX 999999999

/*
 * A VM row. The configuration is JSON text that agent/ validates and
 * owns; statedb keeps the columns beside it that queries need. @config and
 * @pending are malloc'ed: release with statedb_vm_clear() or
 * statedb_vm_list_free().
 */
struct statedb_vm {
	int64_t vmid;
	char name[64];
	char node[64];	     /* assigned node */
	int cpus;
	int64_t memory_mb;
	char tags[1100];     /* " a b " (space-delimited, for filtering) */
	char *config;	     /* JSON */
	char *pending;	     /* JSON, NULL when no change is pending */
	char desired[16];    /* running | stopped */
	char state[16];	     /* observed: stopped, running, ... */
	char state_node[64]; /* the node that reported @state */
	int64_t state_ms;    /* wall clock of the last state change */
	char lock[16];	     /* "" or the operation holding the VM */
	char target[64];     /* with lock "migrate": the destination node */
	bool ha;	     /* managed by HA (resource not 'ignored'): only
			      * the HA leader sets node and desired state */
	int64_t ha_uid;	     /* the HA request id (changes per decision) */
	int64_t created_ms;
	char digest[33];     /* of the configuration and pending change */
};

void statedb_vm_clear(struct statedb_vm *vm);
void statedb_vm_list_free(struct statedb_vm *vms, unsigned n);

/* A VM NIC on a vnet: @ip4/@ip6 are "auto" (an address if the vnet has a
 * subnet of that family), "none", or a static address. */
struct statedb_nic_net {
	const char *mac;
	const char *vnet;
	const char *ip4;
	const char *ip6;
};

/* What a create or a configuration change writes. @macs are the NIC MACs of
 * config and pending together; they must be unique in the cluster. */
struct statedb_vm_spec {
	const char *name;
	int cpus;
	int64_t memory_mb;
	const char *tags;
	const char *config;
	const char *pending; /* NULL: none */
	const char *const *macs;
	unsigned nmacs;
	/* NICs on vnets: their addresses are allocated (and the VM's others
	 * released) in the same transaction; hostname is the VM's name. */
	const struct statedb_nic_net *nets;
	unsigned nnets;
};

/* Inserts VM @vmid on @node with lock "create", desired @desired.
 * -EEXIST (VMID, name, a MAC or a static address taken), -ENOENT (unknown
 * node or vnet), -ENOSPC (a vnet's pool is exhausted). */
int statedb_vm_create(struct statedb *db, int64_t vmid, const char *node,
		      const struct statedb_vm_spec *spec, const char *desired,
		      struct hx_err *err);
/* Finds a VM by VMID (all digits) or name. -ENOENT if none. */
int statedb_vm_get(struct statedb *db, const char *key,
		   struct statedb_vm *ret_vm, struct hx_err *err);
/* VMs ordered by VMID; @node NULL for all. */
int statedb_vm_list(struct statedb *db, const char *node,
		    struct statedb_vm **ret_vms, unsigned *ret_n,
		    struct hx_err *err);
/* The lowest free VMID >= STATEDB_VMID_MIN. */
int statedb_vm_nextid(struct statedb *db, int64_t *ret_vmid,
		      struct hx_err *err);
/* Replaces configuration and pending change if @if_digest (NULL: any)
 * matches and the VM is not locked. HX_ECONFLICT, -EBUSY, -EEXIST. */
int statedb_vm_update(struct statedb *db, int64_t vmid,
		      const struct statedb_vm_spec *spec,
		      const char *if_digest, struct hx_err *err);
/* Sets the desired state. With @if_unlocked, -EBUSY if the VM is locked. */
int statedb_vm_set_desired(struct statedb *db, int64_t vmid,
			   const char *desired, bool if_unlocked,
			   struct hx_err *err);
/* Records the state @node observed, if it differs from the stored one. */
int statedb_vm_set_state(struct statedb *db, int64_t vmid, const char *node,
			 const char *state, struct hx_err *err);
/* Takes the lock @lock if the VM is unlocked (-EBUSY otherwise); with
 * @lock "" releases the lock if it is @held. */
int statedb_vm_lock(struct statedb *db, int64_t vmid, const char *lock,
		    const char *held, struct hx_err *err);
/* Takes the lock "migrate" towards node @to if the VM is on @from and
 * unlocked (-EBUSY otherwise). Released with statedb_vm_lock(db, vmid, "",
 * "migrate") or statedb_vm_move(). */
int statedb_vm_lock_migrate(struct statedb *db, int64_t vmid,
			    const char *from, const char *to,
			    struct hx_err *err);
/* Moves the pending change into the configuration. */
int statedb_vm_apply_pending(struct statedb *db, int64_t vmid,
			     struct hx_err *err);
/* Reassigns the VM from @from to @to (migration), releasing @held lock. */
int statedb_vm_move(struct statedb *db, int64_t vmid, const char *from,
		    const char *to, const char *held, struct hx_err *err);
/* Deletes the VM, its MACs, addresses and firewall rules. */
int statedb_vm_delete(struct statedb *db, int64_t vmid, struct hx_err *err);

/* ---- high availability (ha.c) ---- */

/*
 * An HA resource is a VM managed by the HA scheduler (sid "vm:VMID"). Its
 * configuration is what an admin edits (digest-protected like VMs); its
 * status is written only by the leader, in statedb_ha_apply().
 */
struct statedb_ha_config {
	char request[16]; /* started, stopped, disabled, ignored */
	int max_restart;  /* 0..10 */
	int max_relocate; /* 0..10 */
	bool failback;
	int priority; /* -1000000..1000000, higher first */
	char comment[256];
};

/* Fills @c with the defaults (started, 1, 1, failback, 0, ""). */
void statedb_ha_config_defaults(struct statedb_ha_config *c);
/* -EINVAL with a message naming the field when @c is out of range. */
int statedb_ha_config_check(const struct statedb_ha_config *c,
			    struct hx_err *err);

struct statedb_ha_resource {
	int64_t vmid;
	struct statedb_ha_config conf;
	/* status, written by the leader ("" / 0 until it saw the resource) */
	char state[16]; /* crm state: started, fence, recovery, ... */
	char node[64];
	char target[64];
	char maint_node[64];
	int64_t uid;
	int64_t uid_ms; /* wall clock when uid was handed out */
	bool confirmed;
	int restarts;
	char failed[1024]; /* nodes where starts failed, space-separated */
	char why[1024];	   /* last decision, as `hxctl ha why` prints it */
	int64_t state_ms;  /* wall clock of the last status change */
	int64_t created_ms;
	char digest[33]; /* of the configuration */
};

/* Makes VM @vmid an HA resource. -ENOENT (no such VM), -EEXIST, -EINVAL. */
int statedb_ha_resource_add(struct statedb *db, int64_t vmid,
			    const struct statedb_ha_config *c,
			    struct hx_err *err);
int statedb_ha_resource_get(struct statedb *db, int64_t vmid,
			    struct statedb_ha_resource *ret,
			    struct hx_err *err);
/* Ordered by VMID; *ret is malloc'ed (free()). */
int statedb_ha_resource_list(struct statedb *db,
			     struct statedb_ha_resource **ret, unsigned *ret_n,
			     struct hx_err *err);
/* Replaces the configuration if @if_digest (NULL: any) matches;
 * HX_ECONFLICT, -ENOENT, -EINVAL. */
int statedb_ha_resource_update(struct statedb *db, int64_t vmid,
			       const struct statedb_ha_config *c,
			       const char *if_digest, struct hx_err *err);
/* Removes VM @vmid from HA (the VM stays as it is). */
int statedb_ha_resource_delete(struct statedb *db, int64_t vmid,
			       const char *if_digest, struct hx_err *err);

/* Rules, by name; the scheduler's meaning is in docs/ha.md section 5. */
struct statedb_ha_rule {
	char id[64];
	char kind[24]; /* node-affinity, resource-affinity, order */
	bool disabled;
	bool strict;   /* node affinity: only these nodes; resources: hard */
	bool positive; /* resource affinity: together (else apart) */
	char resources[2048]; /* VMIDs, space-separated, in order */
	char nodes[2048];     /* "NODE[:PRIORITY]", space-separated */
	char comment[256];
	char digest[33];
};

/* Converts a stored rule into the scheduler's form. @sids and @nodes
 * receive the rule's lists (at most @max entries each); returns -EINVAL
 * for a malformed rule. */
int statedb_ha_rule_to_sched(const struct statedb_ha_rule *r,
			     struct sched_rule *ret,
			     char (*sids)[SCHED_NAME_MAX],
			     struct sched_node_prio *nodes, unsigned max);
/* -EEXIST if the id is taken. */
int statedb_ha_rule_add(struct statedb *db, const struct statedb_ha_rule *r,
			struct hx_err *err);
int statedb_ha_rule_get(struct statedb *db, const char *id,
			struct statedb_ha_rule *ret, struct hx_err *err);
int statedb_ha_rule_list(struct statedb *db, struct statedb_ha_rule **ret,
			 unsigned *ret_n, struct hx_err *err);
/* Replaces rule r->id if @if_digest (NULL: any) matches. */
int statedb_ha_rule_update(struct statedb *db, const struct statedb_ha_rule *r,
			   const char *if_digest, struct hx_err *err);
int statedb_ha_rule_delete(struct statedb *db, const char *id,
			   const char *if_digest, struct hx_err *err);

/* The leader's view of one node. */
struct statedb_ha_node {
	char name[64];
	char state[16]; /* online, unknown, fence, gone, maintenance */
	int64_t since_ms;
	bool maintenance;
};
int statedb_ha_node_list(struct statedb *db, struct statedb_ha_node **ret,
			 unsigned *ret_n, struct hx_err *err);

/* What a VM looks like to the leader, beside its scheduler service. */
struct statedb_ha_vm {
	int64_t vmid;
	bool ha;	   /* an HA resource (else a plain VM, 'ignored') */
	char node[64];	   /* vms.node */
	char desired[16];
	char state[16]; /* observed */
	char state_node[64];
	int64_t state_ms;
	char lock[16];
	int64_t uid_ms; /* of the HA status */
};

/*
 * Everything the HA leader needs for one step, read at once: the
 * scheduler state (every node of the cluster with its configured CPUs and
 * memory, plus removed nodes the HA tables still name, marked gone; every
 * VM as a service "vm:VMID": HA resources with their stored status, other
 * VMs as 'ignored' load), the rules, and per service and node what the
 * leader needs to observe them. Owned; release with
 * statedb_ha_snapshot_close().
 */
struct statedb_ha_snapshot {
	struct sched_state st;
	struct sched_rules rules;
	struct statedb_ha_vm *vms;  /* per st.svcs index */
	uint64_t *node_ids;	    /* per st.nodes index; 0 for gone nodes */
	int shutdown_policy;	    /* enum sched_shutdown_policy */
	bool admission;		    /* N+1 admission control */
	unsigned bad_rules;	    /* stored rules that could not be used */
};

int statedb_ha_load(struct statedb *db, struct statedb_ha_snapshot *ret,
		    struct hx_err *err);
void statedb_ha_snapshot_close(struct statedb_ha_snapshot *s);

/*
 * Commits @plan (computed by scheduler_step() from @snap) in ONE
 * transaction: the statuses of services and nodes; for each HA VM the
 * ownership and desired state its new crm state implies (started: its
 * node and "running"; request_stop, stopped, relocate: "stopped"; a VM
 * locked by an operation keeps its node); the events with their reasons,
 * as @node (the leader) and actor "ha"; the next request id. Statuses of
 * resources deleted since @snap are skipped. With @leader_id (not 0), the
 * transaction runs only on that node's dqlite, so it commits only while
 * that node is the raft leader (HX_ENOTLEADER otherwise): a deposed
 * leader's stale plan never lands through its successor. Leader only.
 */
int statedb_ha_apply(struct statedb *db, const struct statedb_ha_snapshot *snap,
		     const struct sched_plan *plan, const char *node,
		     uint64_t leader_id, struct hx_err *err);
/* ---- storage: pools, per-node pool status, VM snapshots ---- */

/*
 * A storage pool, defined cluster-wide. A volume is addressed "POOL:NAME".
 * @nodes and @content are space-delimited word lists with a space at each
 * end (" n1 n2 ", " images iso "); @nodes "" means every node. @options is
 * a JSON object of type-specific settings (agent/ reads it).
 */
#define STATEDB_POOL_NAME_MAX 32
#define STATEDB_VOLUME_NAME_MAX 128

struct statedb_pool {
	char name[STATEDB_POOL_NAME_MAX + 1];
	char type[8];	    /* dir, btrfs, nfs, rbd */
	char path[512];	    /* dir, btrfs: the directory on each node */
	char options[1024]; /* JSON object */
	char nodes[1024];   /* " n1 n2 ", "" for every node */
	char content[64];   /* " images iso backup template " */
	bool shared;	    /* one copy reached by every node of @nodes */
	int64_t created_ms;
	char digest[33];
};

/* Checks a pool definition without touching the database: name
 * ([a-z0-9][a-z0-9_-]*, at most STATEDB_POOL_NAME_MAX, not "local", which
 * names each node's images directory), type, path (absolute, normalized,
 * no "..", commas or control characters; required for dir and btrfs),
 * node and content lists, options (a JSON object text). nfs and rbd pools
 * are always shared. Normalizes the word lists in place. -EINVAL with the
 * field at fault. */
int statedb_pool_check(struct statedb_pool *p, struct hx_err *err);
/* Whether @p may be used by node @node / holds content @content. */
bool statedb_pool_on_node(const struct statedb_pool *p, const char *node);
bool statedb_pool_has_content(const struct statedb_pool *p,
			      const char *content);
/* Pool names: 1 to STATEDB_POOL_NAME_MAX of [a-z0-9_-], starting with a
 * letter or digit (storename.c, like the two below: no database). */
bool statedb_pool_name_ok(const char *name);
/* Checks a volume name: 1 to STATEDB_VOLUME_NAME_MAX characters of
 * [A-Za-z0-9_.+-], not starting with '.' or '-', without "..", '/', '@',
 * ':' or NUL. -EINVAL with the reason. */
int statedb_volume_name_check(const char *name, struct hx_err *err);
/* Splits "POOL:NAME" and checks both halves. -EINVAL. */
int statedb_volid_parse(const char *volid, char *ret_pool, size_t pool_len,
			char *ret_name, size_t name_len, struct hx_err *err);

/* Inserts @p after statedb_pool_check(). -EEXIST, -EINVAL. */
int statedb_pool_create(struct statedb *db, struct statedb_pool *p,
			struct hx_err *err);
/* -ENOENT if there is no pool @name. */
int statedb_pool_get(struct statedb *db, const char *name,
		     struct statedb_pool *ret, struct hx_err *err);
/* Pools by name; *ret is malloc'ed, owned by the caller (free()). */
int statedb_pool_list(struct statedb *db, struct statedb_pool **ret,
		      unsigned *ret_n, struct hx_err *err);
/* Replaces nodes, content and options of pool @p->name (name, type, path
 * and shared never change) if @if_digest (NULL: any) matches.
 * HX_ECONFLICT, -ENOENT, -EINVAL. */
int statedb_pool_update(struct statedb *db, struct statedb_pool *p,
			const char *if_digest, struct hx_err *err);
/* Deletes the pool and every node's status of it. -ENOENT. Whether VMs
 * still use it is for the caller to check. */
int statedb_pool_delete(struct statedb *db, const char *name,
			struct hx_err *err);

/* What one node observes of one pool. */
struct statedb_pool_status {
	char pool[STATEDB_POOL_NAME_MAX + 1];
	char node[64];
	bool available;
	int64_t capacity_bytes;
	int64_t used_bytes;
	int64_t free_bytes;
	char message[256]; /* why not available */
	int64_t updated_ms;
};

/* Records node @st->node's view of pool @st->pool (-ENOENT: no pool). */
int statedb_pool_status_set(struct statedb *db,
			    const struct statedb_pool_status *st,
			    struct hx_err *err);
/* Statuses of @pool (NULL: all pools), by pool then node; *ret malloc'ed. */
int statedb_pool_status_list(struct statedb *db, const char *pool,
			     struct statedb_pool_status **ret, unsigned *ret_n,
			     struct hx_err *err);

/*
 * VM snapshots: a tree per VM (@parent "" at the root). The snapshot the
 * VM's disks currently derive from is "current": the next snapshot's
 * parent. @config is the VM configuration when taken (malloc'ed JSON
 * text; release lists with statedb_snapshot_list_free()).
 */
#define STATEDB_SNAPSHOT_NAME_MAX 40

struct statedb_snapshot {
	int64_t vmid;
	char name[STATEDB_SNAPSHOT_NAME_MAX + 1];
	char parent[STATEDB_SNAPSHOT_NAME_MAX + 1];
	char description[256];
	bool ram;     /* RAM state saved (taken while running) */
	bool current; /* the disks derive from it */
	char *config;
	int64_t created_ms;
};

void statedb_snapshot_list_free(struct statedb_snapshot *s, unsigned n);
/* [A-Za-z0-9_-], 1 to STATEDB_SNAPSHOT_NAME_MAX, starting with a letter.
 * -EINVAL. */
int statedb_snapshot_name_check(const char *name, struct hx_err *err);
/* Adds snapshot @s->name of VM @s->vmid as a child of the current one,
 * and makes it current. -EEXIST, -ENOENT (no VM), -EINVAL. */
int statedb_snapshot_add(struct statedb *db, const struct statedb_snapshot *s,
			 struct hx_err *err);
/* Snapshots of @vmid by creation time. */
int statedb_snapshot_list(struct statedb *db, int64_t vmid,
			  struct statedb_snapshot **ret, unsigned *ret_n,
			  struct hx_err *err);
/* Makes @name current (after a rollback). -ENOENT. */
int statedb_snapshot_set_current(struct statedb *db, int64_t vmid,
				 const char *name, struct hx_err *err);
/* Removes @name; its children move to its parent, which becomes current
 * if @name was. -ENOENT. */
int statedb_snapshot_remove(struct statedb *db, int64_t vmid,
			    const char *name, struct hx_err *err);

/* ---- networking: zones, vnets, subnets, IPAM (net.c, ipam.c) ---- */

/*
 * Names of zones and vnets are 1 to 8 characters of [a-z0-9], starting
 * with a letter: they become parts of interface names on every node.
 * Every invalid value is -EINVAL with a message naming the field;
 * references to missing objects are -ENOENT, objects still in use -EBUSY.
 */
#define STATEDB_NET_NAME_MAX 8
#define STATEDB_VNI_MAX 16777215

struct statedb_zone {
	char name[16];
	char type[8]; /* simple, vxlan, evpn */
	int mtu;      /* 0 on create: 1500 (simple) or 1450 (overlays) */
	int64_t asn;  /* evpn: BGP AS number (0 on create: 65000) */
};

struct statedb_vnet {
	char name[16];
	char zone[16];
	int64_t vni;	   /* 1..STATEDB_VNI_MAX; 0 in simple zones */
	char description[128];
	char zone_type[8]; /* of its zone, on reads */
	int mtu;	   /* of its zone, on reads */
};

struct statedb_subnet {
	char cidr[64];	     /* canonical "10.1.0.0/24", "fd00:1::/64" */
	char vnet[16];
	int family;	     /* 4 or 6, on reads */
	char gateway[48];    /* "" for none; reserved in IPAM */
	char dns[256];	     /* space-separated addresses */
	char dhcp_start[48]; /* "" for no DHCP range */
	char dhcp_end[48];
};

struct statedb_ip {
	char ip[48];
	char subnet[64];
	char vnet[16];
	int family;
	char kind[8]; /* static, auto, gateway */
	int64_t vmid; /* 0: not a VM's */
	char mac[18];
	char hostname[64];
	int64_t created_ms;
};

/* One IPAM request. Without @ip the lowest free address of the subnet's
 * pool is taken (its DHCP range, else every host address). With @mac the
 * request is idempotent: a MAC that already holds an address in the
 * chosen subnet gets that one back (*ret_created false), unless a
 * different static @ip was asked for (-EEXIST). */
struct statedb_ip_req {
	const char *vnet;
	const char *subnet;   /* NULL: the vnet's subnets of @family in order */
	int family;	      /* 0: of @ip, else 4 */
	const char *ip;	      /* NULL: automatic */
	const char *mac;      /* NULL or "" */
	const char *hostname; /* NULL or "" */
	int64_t vmid;	      /* 0: none */
};

int statedb_zone_create(struct statedb *db, const struct statedb_zone *z,
			struct hx_err *err);
int statedb_zone_delete(struct statedb *db, const char *name,
			struct hx_err *err);
int statedb_zone_list(struct statedb *db, struct statedb_zone **ret,
		      unsigned *ret_n, struct hx_err *err);
int statedb_zone_get(struct statedb *db, const char *name,
		     struct statedb_zone *ret, struct hx_err *err);

int statedb_vnet_create(struct statedb *db, const struct statedb_vnet *v,
			struct hx_err *err);
/* -EBUSY while it has subnets or a VM NIC names it. */
int statedb_vnet_delete(struct statedb *db, const char *name,
			struct hx_err *err);
int statedb_vnet_list(struct statedb *db, struct statedb_vnet **ret,
		      unsigned *ret_n, struct hx_err *err);
int statedb_vnet_get(struct statedb *db, const char *name,
		     struct statedb_vnet *ret, struct hx_err *err);

/* Refuses a CIDR that overlaps any existing subnet (-EEXIST), a gateway
 * or DHCP range outside it (-EINVAL). The gateway is reserved. */
int statedb_subnet_create(struct statedb *db, const struct statedb_subnet *s,
			  struct hx_err *err);
/* -EBUSY while addresses other than the gateway are allocated in it. */
int statedb_subnet_delete(struct statedb *db, const char *cidr,
			  struct hx_err *err);
/* Ordered by vnet, then family, then CIDR; @vnet NULL for all. */
int statedb_subnet_list(struct statedb *db, const char *vnet,
			struct statedb_subnet **ret, unsigned *ret_n,
			struct hx_err *err);
int statedb_subnet_get(struct statedb *db, const char *cidr,
		       struct statedb_subnet *ret, struct hx_err *err);

/* Allocates an address (see struct statedb_ip_req), in one write
 * transaction: concurrent requests through any nodes never get the same
 * address. -ENOSPC when the pool is exhausted. */
int statedb_ip_allocate(struct statedb *db, const struct statedb_ip_req *q,
			struct statedb_ip *ret, bool *ret_created,
			struct hx_err *err);
/* Releases @ip (not a gateway: delete the subnet). */
int statedb_ip_release(struct statedb *db, const char *ip,
		       struct hx_err *err);
/* Ordered by vnet, family, address; @vnet NULL and @vmid 0 for all. */
int statedb_ip_list(struct statedb *db, const char *vnet, int64_t vmid,
		    struct statedb_ip **ret, unsigned *ret_n,
		    struct hx_err *err);
/* A digest of everything the network reconcilers render from (network
 * tables, VM placement and versions, node addresses): it changes whenever
 * any of them does. */
int statedb_net_fingerprint(struct statedb *db, char ret[33],
			    struct hx_err *err);

/* ---- firewall (firewall.c) ---- */

/*
 * Scopes: "cluster", "node/NAME", "vm/VMID" and, for rules only,
 * "group/NAME" (a security group). Names of groups and IP sets are 1 to
 * 15 characters of a-z, 0-9 and '-', starting with a letter. Field syntax
 * is net/'s to check (net_fw_rule_check); statedb checks that what a rule
 * or option names exists, in the transaction that stores it.
 */
#define STATEDB_FW_NAME_MAX 15

struct statedb_fw_options {
	char scope[80];
	bool enabled;
	char policy_in[8];  /* accept, drop, reject; "" for node: inherit */
	char policy_out[8];
	bool log;	    /* log what the policy drops or rejects */
};

struct statedb_fw_rule {
	int64_t id;
	char scope[80];
	int64_t pos;	    /* order in the scope, from 0 */
	bool enabled;
	char direction[4];  /* in, out; "" for a group reference */
	char action[8];	    /* accept, drop, reject, group */
	char group[16];	    /* action group: the security group */
	char macro[16];
	char proto[8];	    /* "", tcp, udp, sctp, icmp, icmpv6 */
	char sport[64];	    /* "22,80,8000-8080" */
	char dport[64];
	char src[512];	    /* "10.0.0.0/8,fd00::1,@set,@vnet:web,@nodes" */
	char dst[512];
	bool log;
	char comment[128];
};

struct statedb_fw_group {
	char name[16];
	char comment[128];
};

struct statedb_fw_ipset {
	char name[16];
	char entries[4096]; /* canonical CIDRs, space-separated */
	char comment[128];
};

/* The defaults of @scope's options: cluster disabled with accept/accept,
 * node enabled inheriting the cluster's policies, VM disabled with
 * drop/accept. */
void statedb_fw_options_default(const char *scope,
				struct statedb_fw_options *ret);
/* Stored options of @scope, or its defaults. */
int statedb_fw_options_get(struct statedb *db, const char *scope,
			   struct statedb_fw_options *ret, struct hx_err *err);
/* -ENOENT if the node or VM of the scope does not exist. */
int statedb_fw_options_set(struct statedb *db,
			   const struct statedb_fw_options *o,
			   struct hx_err *err);
/* Every stored options row, ordered by scope. */
int statedb_fw_options_list(struct statedb *db,
			    struct statedb_fw_options **ret, unsigned *ret_n,
			    struct hx_err *err);

/* Adds @r at r->pos (< 0: at the end; others move down). -EINVAL when
 * the scope, a group or an IP set it names does not exist. */
int statedb_fw_rule_add(struct statedb *db, const struct statedb_fw_rule *r,
			int64_t *ret_id, struct hx_err *err);
/* Replaces rule @id's fields (not its scope); r->pos < 0 keeps its
 * place. */
int statedb_fw_rule_update(struct statedb *db, int64_t id,
			   const struct statedb_fw_rule *r, struct hx_err *err);
int statedb_fw_rule_delete(struct statedb *db, int64_t id,
			   struct hx_err *err);
int statedb_fw_rule_get(struct statedb *db, int64_t id,
			struct statedb_fw_rule *ret, struct hx_err *err);
/* Ordered by scope, then position; @scope NULL for all. */
int statedb_fw_rule_list(struct statedb *db, const char *scope,
			 struct statedb_fw_rule **ret, unsigned *ret_n,
			 struct hx_err *err);

int statedb_fw_group_create(struct statedb *db,
			    const struct statedb_fw_group *g,
			    struct hx_err *err);
/* -EBUSY while a rule refers to it; its own rules go with it. */
int statedb_fw_group_delete(struct statedb *db, const char *name,
			    struct hx_err *err);
int statedb_fw_group_list(struct statedb *db, struct statedb_fw_group **ret,
			  unsigned *ret_n, struct hx_err *err);

/* Creates or replaces an IP set (entries already canonical). */
int statedb_fw_ipset_put(struct statedb *db, const struct statedb_fw_ipset *s,
			 struct hx_err *err);
/* -EBUSY while a rule refers to it. */
int statedb_fw_ipset_delete(struct statedb *db, const char *name,
			    struct hx_err *err);
int statedb_fw_ipset_list(struct statedb *db, struct statedb_fw_ipset **ret,
			  unsigned *ret_n, struct hx_err *err);

/* ---- raft membership (through the leader) ---- */

enum statedb_role {
	STATEDB_VOTER = 0,
	STATEDB_STANDBY = 1,
	STATEDB_SPARE = 2,
};

struct statedb_member {
	uint64_t id;
	char address[80];
	int role;
};

int statedb_members(struct statedb *db, struct statedb_member **ret,
		    unsigned *ret_n, uint64_t *ret_leader_id,
		    struct hx_err *err);
int statedb_member_add(struct statedb *db, uint64_t id, const char *address,
		       struct hx_err *err);
int statedb_member_assign(struct statedb *db, uint64_t id, int role,
			  struct hx_err *err);
int statedb_member_remove(struct statedb *db, uint64_t id,
			  struct hx_err *err);
int statedb_member_transfer(struct statedb *db, uint64_t id,
			    struct hx_err *err);
/* Who the node at @address believes is leader (no confirmation). When
 * @address is this node's, the answer also retires idle read connections
 * to any other node (a former leader may hang rather than refuse). */
int statedb_leader_of(struct statedb *db, const char *address,
		      uint64_t *ret_id, char *ret_address, size_t len,
		      struct hx_err *err);

/* Role names, "voter" etc. */
const char *statedb_role_name(int role);

#endif /* HX_STATEDB_STATEDB_H */
