/* agent: hxd's shared state, configuration, API, membership and liveness. */
#ifndef HX_AGENT_AGENT_H
#define HX_AGENT_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

struct hx_err;
struct hxraft_tls;
struct hxraft_peer;
struct hxraft_node;
struct statedb;
struct liveness;
struct vmexec;
struct agent_ha;
struct storx;

/* ---- configuration (config.c) ---- */

struct agent_config {
	char data_dir[1024];
	char name[64];
	char address[64];
	char bind[64];
	unsigned api_port;
	unsigned peer_port;
	unsigned latency_ms;
	char libvirt_uri[256];
	char images_dir[1024]; /* "" = DATA_DIR/images */
	char accel[8];	       /* auto, kvm, tcg */
	char watchdog[256];    /* watchdog device, "" = none */
	bool no_net;	       /* apply no vnets or firewall to this host */
	char frr_vty[256];     /* FRR's vty socket directory (evpn) */
	int verbose;
	bool check_only;
};

/* Parses argv; on a bad option prints the reason and usage to stderr and
 * returns -EINVAL. Returns 1 for --help/--version (already printed). */
int agent_config_parse(int argc, char **argv, struct agent_config *cfg);

/* ---- the agent ---- */

/* The node's persistent identity, DATA_DIR/node.json. */
struct agent_identity {
	bool initialized;
	uint64_t id;
	char cluster[64];
	char peers[16][80];
	unsigned npeers;
};

struct agent {
	struct agent_config cfg;
	char self_peer[80]; /* "IP:PEER_PORT" */
	uv_loop_t *loop;
	uv_async_t wakeup;
	pthread_mutex_t lock; /* guards ident, running, tls/peer/node/db */
	struct agent_identity ident;
	bool running;	      /* cluster services are up */
	bool left;	      /* left the cluster: never save membership */
	bool stopping;
	int exit_code;
	struct hxraft_tls *tls;
	struct hxraft_peer *peer;
	struct hxraft_node *node;
	struct statedb *db;
	struct liveness *live;
	struct agent_api *api;
	struct vmexec *vmx; /* NULL until the cluster services run */
	struct agent_ha *ha; /* NULL until the cluster services run */
	struct storx *stx;  /* storage executor (agent/storage.c) */
	struct netexec *netx; /* network executor, NULL until then too */
	uv_timer_t tick;
	bool tick_busy;
	uv_work_t tick_work;
	uint64_t tick_count;
	bool was_leader;
	int64_t heartbeat_ms;
	int64_t unknown_after_ms;
	int64_t offline_after_ms;
	char *trust_text; /* "fp peer\n" per member, guarded by lock */
	int hb_fd; /* heartbeat connection to the leader, -1 if none */
	char hb_leader[80];
};

/* Paths inside the data dir. */
int agent_path(const struct agent *a, char *buf, size_t len,
	       const char *name);

/* Identity file (cluster.c). */
int agent_identity_load(struct agent *a, struct hx_err *err);
int agent_identity_save(struct agent *a, struct hx_err *err);

/* Starts peer channel, dqlite node and statedb for an initialized node. */
int agent_cluster_start(struct agent *a, struct hx_err *err);
/* Trust set and peers from the nodes table. */
void agent_trust_refresh(struct agent *a);
/* Applies a member list "fp peer\n"... (from the table or the leader's
 * heartbeat ack): trust set, discovery peers, trust file. Takes @text. */
void agent_trust_apply(struct agent *a, char *text);
/* A copy of the current member list text (caller frees), or NULL. */
char *agent_trust_text(struct agent *a);
/* Whether the local dqlite node believes it is the leader; fills the
 * leader's peer address when known. */
bool agent_is_leader(struct agent *a, char *leader, size_t len);
/* The same, from the local dqlite node only (no leader on standbys and
 * spares). */
bool agent_is_leader_local(struct agent *a, char *leader, size_t len);
/* The leader's periodic duties (roles, liveness events). Worker thread. */
void agent_leader_tick(struct agent *a);
/* Asks the loop to stop hxd with @code. Thread-safe. */
void agent_request_exit(struct agent *a, int code);

/* Membership operations used by the API (cluster.c). */
int agent_cluster_init(struct agent *a, const char *name,
		       char *ret_admin_token, size_t len, struct hx_err *err);
int agent_cluster_token(struct agent *a, int64_t ttl_s, char *ret_token,
			size_t len, int64_t *ret_expires, struct hx_err *err);
int agent_cluster_join(struct agent *a, const char *address,
		       const char *token, struct hx_err *err);
/* Leaves the cluster (leadership handed over first) and wipes this node's
 * membership; the caller then stops hxd. */
int agent_cluster_leave(struct agent *a, struct hx_err *err);
int agent_cluster_remove(struct agent *a, const char *name,
			 struct hx_err *err);
/* Peer-channel service handler (JOIN and MSG). */
void agent_peer_service(void *data, int service, int fd, const char *fp);

/* ---- liveness (liveness.c) ---- */

enum liveness_state { LIVE_ONLINE, LIVE_UNKNOWN, LIVE_OFFLINE };

struct liveness *liveness_new(void);
void liveness_free(struct liveness *l);
/* Records a heartbeat from node @id at monotonic @now_ms. */
void liveness_beat(struct liveness *l, uint64_t id, uint64_t now_ms);
/* Forgets everything and starts a grace period: a new leader treats every
 * node as last seen at @now_ms. */
void liveness_reset(struct liveness *l, uint64_t now_ms);
/* Age of the last heartbeat of @id, or UINT64_MAX if never seen. */
uint64_t liveness_age(struct liveness *l, uint64_t id, uint64_t now_ms);
enum liveness_state liveness_state_of(uint64_t age_ms, int64_t unknown_after,
				      int64_t offline_after);
const char *liveness_state_name(enum liveness_state s);
/* Compares each node's state with the one last reported; returns the
 * previous state and stores the new one. */
enum liveness_state liveness_swap(struct liveness *l, uint64_t id,
				  enum liveness_state now, bool *ret_known);

/* Sends one heartbeat to the leader. Worker thread. */
void agent_heartbeat(struct agent *a);
/* Handles a MSG connection (heartbeats, forwarded API requests). */
void agent_msg_serve(struct agent *a, int fd, const char *fp);
/* ---- API (api.c, handlers.c) ---- */

struct api_req {
	const char *method;
	const char *path;   /* after /api/v1 */
	const char *query;  /* raw query string or "" */
	json_t *body;	    /* NULL if none */
	const char *if_match;
	bool local;	    /* unix socket (root on this node) */
	bool forwarded;	    /* came from another node's API */
	char actor[96];
	const char *arg[2]; /* captured path segments */
};

struct api_resp {
	int status;
	json_t *data;	 /* for 2xx */
	char etag[40];
	char error[512]; /* for errors */
	const char *code;
	bool moved; /* refused unread: this node is no longer the leader */
	bool exit_after; /* stop hxd once this response is sent (local
			  * routes only) */
};

struct agent_fwd_reply {
	int status;
	char *body; /* malloc'ed JSON text */
	char etag[40];
};
/* Forwards an API request to the node at peer address @peer (NULL: the
 * leader), with its actor and If-Match. -EAGAIN means the request ran
 * nowhere (no leader known, the node could not be reached, or the node
 * reached was no leader any more): it can be sent again. Other errors: it
 * may have run. */
int agent_forward(struct agent *a, const char *peer,
		  const struct api_req *req, const char *body,
		  struct agent_fwd_reply *ret, struct hx_err *err);
/* Forwards @req to @peer (NULL: the leader) and fills @resp with the
 * answer. */
void api_forward(struct agent *a, const char *peer, struct api_req *req,
		 struct api_resp *resp);

struct agent_api;
int agent_api_start(struct agent *a, bool https, struct hx_err *err);
/* One HTTP request as the server received it, transport aside (all
 * borrowed). */
struct api_http_req {
	const char *method;
	const char *url;	   /* the path, percent-decoded, no query */
	const char *query;	   /* built with api_query_add(); NULL if it
				    * did not fit (the request gets a 414) */
	const char *if_match;	   /* header or NULL */
	const char *authorization; /* header or NULL */
	const char *content_length; /* header or NULL */
	const char *body;	   /* NULL if none */
	size_t body_len;
	bool body_too_large; /* the server dropped a body over the limit */
	bool local;	     /* unix socket */
};
/* Its answer: the status, the JSON text (malloc'ed, owned by the caller;
 * NULL on OOM) and the ETag without quotes ("" for none). */
struct api_http_resp {
	int status;
	char *body;
	char etag[40];
	bool exit_after; /* stop hxd once this response is sent */
};
/* Authenticates, parses, routes and runs @in; any thread. The HTTP
 * server's only entry into the API, and the fuzz target's. */
void agent_api_http(struct agent *a, const struct api_http_req *in,
		    struct api_http_resp *ret);
/* Appends the query parameter @key=@value (as the HTTP server decoded
 * them) to the query string @q of @size bytes. -E2BIG (@q unchanged) if
 * it does not fit. */
int api_query_add(char *q, size_t size, const char *key, const char *value);
/* A request whose body streams to a handler as it arrives instead of being
 * buffered: PUT /storage/pools/POOL/iso/NAME (an ISO image). */
struct api_upload;
/* Whether @in (headers and query; no body yet) is a streamed upload. If so
 * it is authenticated and started, and *@ret is set (owned by the caller:
 * end it with agent_api_upload_end() or drop it with _free()); a refusal is
 * kept in it and answered at the end, its body read and dropped. Any
 * thread (the HTTP server's). */
bool agent_api_upload_begin(struct agent *a, const struct api_http_req *in,
			    struct api_upload **ret);
/* The next @len bytes of the body (borrowed). */
void agent_api_upload_data(struct api_upload *u, const char *buf, size_t len);
/* The body is complete: finishes the upload, answers in @ret as
 * agent_api_http() does and frees @u. */
void agent_api_upload_end(struct agent *a, struct api_upload *u,
			  struct api_http_resp *ret);
/* The client went away: drops what was written and frees @u (NULL ok). */
void agent_api_upload_free(struct api_upload *u);
void agent_api_stop(struct agent *a);
/* Routes and runs a request (also used for forwarded requests). */
void agent_api_dispatch(struct agent *a, struct api_req *req,
			struct api_resp *resp);
/* Maps an error code to an HTTP status and sets the error body. */
void api_error(struct api_resp *resp, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void api_error_from(struct api_resp *resp, const struct hx_err *err);
/* Query parameter @key into @buf (@len bytes): 1 if present, 0 if
 * absent, -EINVAL if its value does not fit (@buf is then unusable). */
int api_query(const struct api_req *req, const char *key, char *buf,
	      size_t len);
/* The digest a client sent (If-Match, quotes stripped, or the body's
 * "digest" field) copied into @buf; NULL if none. */
const char *api_if_match(const struct api_req *req, char *buf, size_t len);
/* Rejects body fields not in @allowed (NULL-terminated). */
bool api_body_check(const struct api_req *req, struct api_resp *resp,
		    const char *const *allowed, bool required);

/* Handlers, one per route. */
typedef void (*api_handler_fn)(struct agent *a, struct api_req *req,
			       struct api_resp *resp);
void h_cluster_get(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_cluster_init(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_cluster_tokens(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_cluster_join(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_cluster_leave(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_cluster_remove(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_nodes_list(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_node_get(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_node_patch(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_settings_get(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_settings_patch(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_tasks_list(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_task_get(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_events_list(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vms_list(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_nextid(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_create(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_get(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_patch(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_delete(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_action(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_status(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_migrate_op(struct agent *a, struct api_req *req,
		     struct api_resp *resp);
/* High availability (haapi.c). */
void h_ha_status(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_ha_resources_list(struct agent *a, struct api_req *req,
			 struct api_resp *resp);
void h_ha_resource_add(struct agent *a, struct api_req *req,
		       struct api_resp *resp);
void h_ha_resource_get(struct agent *a, struct api_req *req,
		       struct api_resp *resp);
void h_ha_resource_patch(struct agent *a, struct api_req *req,
			 struct api_resp *resp);
void h_ha_resource_delete(struct agent *a, struct api_req *req,
			  struct api_resp *resp);
void h_ha_resource_why(struct agent *a, struct api_req *req,
		       struct api_resp *resp);
void h_ha_resource_action(struct agent *a, struct api_req *req,
			  struct api_resp *resp);
void h_ha_node_maintenance(struct agent *a, struct api_req *req,
			   struct api_resp *resp);
void h_ha_rules_list(struct agent *a, struct api_req *req,
		     struct api_resp *resp);
void h_ha_rule_add(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_ha_rule_get(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_ha_rule_patch(struct agent *a, struct api_req *req,
		     struct api_resp *resp);
void h_ha_rule_delete(struct agent *a, struct api_req *req,
		      struct api_resp *resp);
/* /network/...: zones, vnets, subnets, IPAM, firewall (netapi.c). */
void h_network(struct agent *a, struct api_req *req, struct api_resp *resp);

/* Records an event; failures are logged, never fatal. */
void agent_event(struct agent *a, const char *kind, const char *subject,
		 const char *actor, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif /* HX_AGENT_AGENT_H */
