/*
 * The HTTP API: transport, authentication, routing, errors.
 *
 * DESIGN: handlers see a transport-neutral request (method, path below the
 * API root, query, parsed JSON body) and fill a response (status, data or
 * error); this file alone knows HTTP. That keeps a future Proxmox-style
 * /api2/json surface, and requests forwarded from other nodes, on the same
 * handlers. Routes that need the leader's memory (liveness) are forwarded
 * to it over the peer channel when this node is not the leader. Error
 * codes are mapped to HTTP statuses here and nowhere else.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>

#include <microhttpd.h>
#include <sodium.h>

#include "agent/agent.h"
#include "agent/storage.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

#define API_ROOT "/api/v1"
#define API_MAX_BODY (64 * 1024)

enum {
	R_LOCAL = 1,	  /* unix socket only */
	R_UNINIT = 2,	  /* also served before the node is in a cluster */
	R_LEADER = 4,	  /* runs on the leader */
};

struct route {
	const char *method;
	const char *path; /* '*' matches one segment */
	api_handler_fn fn;
	int flags;
};

static const struct route routes[] = {
	{"GET", "/cluster", h_cluster_get, R_UNINIT | R_LEADER},
	{"POST", "/cluster/init", h_cluster_init, R_LOCAL | R_UNINIT},
	{"POST", "/cluster/join", h_cluster_join, R_LOCAL | R_UNINIT},
	{"POST", "/cluster/leave", h_cluster_leave, R_LOCAL},
	{"POST", "/cluster/tokens", h_cluster_tokens, 0},
	{"POST", "/cluster/remove", h_cluster_remove, R_LEADER},
	{"GET", "/nodes", h_nodes_list, R_LEADER},
	{"GET", "/nodes/*", h_node_get, R_LEADER},
	{"PATCH", "/nodes/*", h_node_patch, 0},
	{"GET", "/settings", h_settings_get, 0},
	{"PATCH", "/settings", h_settings_patch, 0},
	{"GET", "/tasks", h_tasks_list, 0},
	{"GET", "/tasks/*", h_task_get, 0},
	{"GET", "/events", h_events_list, 0},
	{"GET", "/vms", h_vms_list, 0},
	{"POST", "/vms", h_vm_create, 0},
	{"GET", "/vms/nextid", h_vm_nextid, 0},
	{"GET", "/vms/*", h_vm_get, 0},
	{"PATCH", "/vms/*", h_vm_patch, 0},
	{"DELETE", "/vms/*", h_vm_delete, 0},
	{"GET", "/vms/*/status", h_vm_status, 0},
	/* snapshots, templates, clones (agent/storageapi.c), before the
	 * catch-all of actions */
	{"GET", "/vms/*/snapshots", h_vm_snapshots_list, 0},
	{"POST", "/vms/*/snapshots", h_vm_snapshot_create, 0},
	{"POST", "/vms/*/snapshots/*/rollback", h_vm_snapshot_rollback, 0},
	{"DELETE", "/vms/*/snapshots/*", h_vm_snapshot_delete, 0},
	{"POST", "/vms/*/template", h_vm_template, 0},
	{"POST", "/vms/*/clone", h_vm_clone, 0},
	{"POST", "/vms/*/disks/*/move", h_vm_disk_move, 0},
	{"POST", "/vms/*/*", h_vm_action, 0},
	{"POST", "/vms/*/migrate/*", h_vm_migrate_op, 0},
	/* storage (agent/storageapi.c) */
	{"GET", "/storage/pools", h_pools_list, 0},
	{"POST", "/storage/pools", h_pool_create, 0},
	{"GET", "/storage/pools/*", h_pool_get, 0},
	{"PATCH", "/storage/pools/*", h_pool_patch, 0},
	{"DELETE", "/storage/pools/*", h_pool_delete, 0},
	{"GET", "/storage/pools/*/volumes", h_volumes_list, 0},
	{"POST", "/storage/pools/*/volumes", h_volume_create, 0},
	{"GET", "/storage/pools/*/volumes/*", h_volume_get, 0},
	{"DELETE", "/storage/pools/*/volumes/*", h_volume_delete, 0},
	{"POST", "/storage/pools/*/volumes/*/resize", h_volume_resize, 0},
	/* PUT /storage/pools/POOL/iso/NAME streams: see upload_begin() */
	{"POST", "/storage/pools/*/iso", h_iso_download, 0},
};

struct agent_api {
	struct MHD_Daemon *unix_d;
	struct MHD_Daemon *https_d;
	pthread_mutex_t lock; /* guards the token cache */
	char tok_hash[8][65];
	uint64_t tok_ms[8];
	unsigned tok_next;
};

/* ---- errors ---- */

static void __attribute__((format(printf, 4, 0)))
api_verror(struct api_resp *resp, int status, const char *code,
	   const char *fmt, va_list ap)
{
	resp->status = status;
	resp->code = code;
	vsnprintf(resp->error, sizeof(resp->error), fmt, ap);
	json_decref(resp->data);
	resp->data = NULL;
}

static void __attribute__((format(printf, 4, 5)))
api_fail(struct api_resp *resp, int status, const char *code, const char *fmt,
	 ...)
{
	va_list ap;

	va_start(ap, fmt);
	api_verror(resp, status, code, fmt, ap);
	va_end(ap);
}

static void api_status_of(int code, int *status, const char **name)
{
	switch (code) {
	case -EINVAL:
	case HX_EPROTO:
		*status = 400, *name = "bad_request";
		break;
	case HX_EAUTH:
	case HX_ETOKEN:
		*status = 401, *name = "unauthorized";
		break;
	case -EPERM:
	case -EACCES:
		*status = 403, *name = "forbidden";
		break;
	case -ENOENT:
		*status = 404, *name = "not_found";
		break;
	case -EEXIST:
	case -EBUSY:
	case HX_ENOTINIT:
	case HX_ESCHEMA:
		*status = 409, *name = "conflict";
		break;
	case HX_ECONFLICT:
		*status = 412, *name = "precondition_failed";
		break;
	case -EFBIG:
		*status = 413, *name = "too_large";
		break;
	case -ENOSPC:
		*status = 507, *name = "insufficient_storage";
		break;
	case HX_ENOQUORUM:
	case HX_ENOTLEADER:
	case HX_EOUTCOME:
	case HX_EBUSY:
	case -ETIMEDOUT:
	case -EAGAIN:
	case -ECONNRESET:
	case -ECONNREFUSED:
		*status = 503, *name = "unavailable";
		break;
	default:
		*status = 500, *name = "internal";
		break;
	}
}

void api_error(struct api_resp *resp, int code, const char *fmt, ...)
{
	const char *name;
	int status;
	va_list ap;

	api_status_of(code, &status, &name);
	va_start(ap, fmt);
	api_verror(resp, status, name, fmt, ap);
	va_end(ap);
}

void api_error_from(struct api_resp *resp, const struct hx_err *err)
{
	api_error(resp, err->code, "%s",
		  err->msg[0] != '\0' ? err->msg : hx_strerror(err->code));
}

/* ---- request helpers ---- */

bool api_query(const struct api_req *req, const char *key, char *buf,
	       size_t len)
{
	size_t klen = strlen(key);
	const char *p = req->query;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '&');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = n - klen - 1;
			if (vlen >= len)
				vlen = len - 1;
			memcpy(buf, p + klen + 1, vlen);
			buf[vlen] = '\0';
			return true;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return false;
}

const char *api_if_match(const struct api_req *req, char *buf, size_t len)
{
	const char *d = req->if_match;
	json_t *v;

	if (d == NULL && req->body != NULL &&
	    json_is_string(v = json_object_get(req->body, "digest")))
		d = json_string_value(v);
	if (d == NULL)
		return NULL;
	snprintf(buf, len, "%s", d[0] == '"' ? d + 1 : d);
	if (buf[0] != '\0' && buf[strlen(buf) - 1] == '"')
		buf[strlen(buf) - 1] = '\0';
	return buf;
}

bool api_body_check(const struct api_req *req, struct api_resp *resp,
		    const char *const *allowed, bool required)
{
	const char *key;
	json_t *v;

	if (req->body == NULL) {
		if (required)
			api_fail(resp, 400, "bad_request",
				 "a JSON object body is required");
		return !required;
	}
	if (!json_is_object(req->body)) {
		api_fail(resp, 400, "bad_request",
			 "the body must be a JSON object");
		return false;
	}
	json_object_foreach(req->body, key, v)
	{
		bool ok = false;
		for (const char *const *a = allowed; *a != NULL && !ok; a++)
			ok = strcmp(*a, key) == 0;
		if (!ok) {
			api_fail(resp, 400, "bad_request",
				 "unknown field '%s'", key);
			return false;
		}
	}
	return true;
}

/* ---- routing ---- */

static bool route_match(const char *pattern, const char *path,
			const char **args, char *storage, size_t len)
{
	unsigned nargs = 0;

	while (*pattern != '\0' && *path != '\0') {
		if (*pattern == '*') {
			const char *end = strchr(path, '/');
			size_t n = end != NULL ? (size_t)(end - path)
					       : strlen(path);
			if (n == 0 || n >= len || nargs == 2)
				return false;
			memcpy(storage, path, n);
			storage[n] = '\0';
			args[nargs++] = storage;
			storage += n + 1;
			len -= n + 1;
			path += n;
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

void api_forward(struct agent *a, const char *peer, struct api_req *req,
		 struct api_resp *resp)
{
	struct agent_fwd_reply out = {0};
	struct hx_err err = {0};
	char *body_text = NULL;
	json_error_t jerr;
	json_t *j;

	if (req->body != NULL)
		body_text = json_dumps(req->body, JSON_COMPACT);
	if (agent_forward(a, peer, req, body_text != NULL ? body_text : "",
			  &out, &err) < 0) {
		free(body_text);
		api_error_from(resp, &err);
		return;
	}
	free(body_text);
	j = json_loads(out.body, 0, &jerr);
	free(out.body);
	resp->status = out.status;
	snprintf(resp->etag, sizeof(resp->etag), "%s", out.etag);
	if (out.status < 300) {
		resp->data = json_incref(json_object_get(j, "data"));
	} else {
		static const char *const codes[] = {
			"bad_request",	"unauthorized",	 "forbidden",
			"not_found",	"method_not_allowed", "conflict",
			"precondition_failed", "too_large", "unavailable"};
		json_t *e = json_object_get(j, "error");
		const char *c = json_string_value(json_object_get(e, "code"));
		resp->code = "internal";
		for (size_t i = 0; c != NULL && i < HX_ARRAY_SIZE(codes); i++)
			if (strcmp(codes[i], c) == 0)
				resp->code = codes[i];
		snprintf(resp->error, sizeof(resp->error), "%s",
			 json_string_value(json_object_get(e, "message"))
				 ?: "the other node failed without a message");
	}
	json_decref(j);
}

void agent_api_dispatch(struct agent *a, struct api_req *req,
			struct api_resp *resp)
{
	char storage[512];
	bool path_known = false;

	resp->status = 200;
	for (size_t i = 0; i < HX_ARRAY_SIZE(routes); i++) {
		const struct route *rt = &routes[i];

		if (!route_match(rt->path, req->path, req->arg, storage,
				 sizeof(storage)))
			continue;
		path_known = true;
		if (strcmp(rt->method, req->method) != 0)
			continue;
		if ((rt->flags & R_LOCAL) && !req->local) {
			api_fail(resp, 403, "forbidden",
				 "%s %s is only allowed on the node's control "
				 "socket (hxctl on that node)",
				 req->method, req->path);
			return;
		}
		if (!(rt->flags & R_UNINIT) && !a->ident.initialized) {
			api_fail(resp, 409, "conflict",
				 "this node is not in a cluster: run 'hxctl "
				 "cluster init' or 'hxctl cluster join'");
			return;
		}
		if ((rt->flags & R_LEADER) && a->ident.initialized &&
		    !req->forwarded && !agent_is_leader(a, NULL, 0)) {
			api_forward(a, NULL, req, resp);
			if (resp->status != 503 || strcmp(req->path, "/cluster"))
				return;
			/* no leader: answer the status request locally */
			resp->status = 200;
			req->forwarded = true;
		} else if ((rt->flags & R_LEADER) && req->forwarded &&
			   a->ident.initialized &&
			   !agent_is_leader(a, NULL, 0)) {
			api_fail(resp, 503, "unavailable",
				 "leadership moved while forwarding: retry");
			return;
		}
		rt->fn(a, req, resp);
		return;
	}
	if (path_known)
		api_fail(resp, 405, "method_not_allowed",
			 "%s is not allowed on %s", req->method, req->path);
	else
		api_fail(resp, 404, "not_found", "no such API path: %s",
			 req->path);
}

/* ---- HTTP ---- */

struct conn_ctx {
	char *body;
	size_t len;
	bool too_large;
	/* PUT /storage/pools/POOL/iso/NAME: the body streams to storage */
	bool upload_checked, is_upload;
	struct storage_upload *up;
	struct api_resp up_resp; /* the error, once there is one */
};

static enum MHD_Result send_json(struct MHD_Connection *c, int status,
				 json_t *j, const char *etag)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	if (text == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(text), text,
					    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (etag != NULL && etag[0] != '\0') {
		char q[48];
		snprintf(q, sizeof(q), "\"%s\"", etag);
		MHD_add_response_header(r, "ETag", q);
	}
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status,
				  const char *code, const char *msg)
{
	return send_json(c, status,
			 json_pack("{s:{s:s, s:s}}", "error", "code", code,
				   "message", msg),
			 NULL);
}

static enum MHD_Result query_cb(void *cls, enum MHD_ValueKind kind,
				const char *key, const char *value)
{
	char *q = cls;
	size_t n = strlen(q);

	(void)kind;
	snprintf(q + n, 1024 - n, "%s%s=%s", n > 0 ? "&" : "", key,
		 value != NULL ? value : "");
	return MHD_YES;
}

/* Bearer tokens are checked against the database, then cached briefly. */
static bool api_authorized(struct agent *a, struct MHD_Connection *c)
{
	struct agent_api *api = a->api;
	const char *h =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	unsigned char md[32];
	char hash[65];
	bool valid = false;
	uint64_t now = hx_now_ms();

	if (h == NULL || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) > 200)
		return false;
	crypto_generichash(md, sizeof(md), (const unsigned char *)h + 7,
			   strlen(h + 7), NULL, 0);
	sodium_bin2hex(hash, sizeof(hash), md, sizeof(md));
	pthread_mutex_lock(&api->lock);
	for (unsigned i = 0; i < 8 && !valid; i++)
		valid = strcmp(api->tok_hash[i], hash) == 0 &&
			now - api->tok_ms[i] < 10000;
	pthread_mutex_unlock(&api->lock);
	if (valid)
		return true;
	if (statedb_apitoken_check(a->db, hash, &valid, NULL) < 0 || !valid)
		return false;
	pthread_mutex_lock(&api->lock);
	snprintf(api->tok_hash[api->tok_next], 65, "%s", hash);
	api->tok_ms[api->tok_next] = now;
	api->tok_next = (api->tok_next + 1) % 8;
	pthread_mutex_unlock(&api->lock);
	return true;
}

static enum MHD_Result handle(struct agent *a, bool local,
			      struct MHD_Connection *c, const char *url,
			      const char *method, struct conn_ctx *ctx)
{
	struct api_req req = {0};
	struct api_resp resp = {0};
	char query[1024] = "";
	json_error_t jerr;
	json_t *out;

	if (ctx->too_large)
		return send_error(c, 413, "too_large",
				  "request body is larger than 64 KiB");
	if (strncmp(url, API_ROOT, strlen(API_ROOT)) != 0 ||
	    (url[strlen(API_ROOT)] != '/' && url[strlen(API_ROOT)] != '\0'))
		return send_error(c, 404, "not_found",
				  "no such path (the API lives under /api/v1)");
	if (!local && !api_authorized(a, c))
		return send_error(c, 401, "unauthorized",
				  "missing or invalid API token "
				  "(Authorization: Bearer TOKEN)");
	if (ctx->len > 0) {
		req.body = json_loadb(ctx->body, ctx->len,
				      JSON_REJECT_DUPLICATES, &jerr);
		if (req.body == NULL) {
			char msg[256];
			snprintf(msg, sizeof(msg),
				 "malformed JSON body at line %d column %d: %s",
				 jerr.line, jerr.column, jerr.text);
			return send_error(c, 400, "bad_request", msg);
		}
	}
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_cb, query);
	req.method = method;
	req.path = url + strlen(API_ROOT);
	if (req.path[0] == '\0')
		req.path = "/";
	req.query = query;
	req.local = local;
	req.if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						   "If-Match");
	snprintf(req.actor, sizeof(req.actor), "%s",
		 local ? "root@local" : "token");
	agent_api_dispatch(a, &req, &resp);
	json_decref(req.body);
	if (resp.status < 300)
		out = json_pack("{s:o}", "data",
				resp.data != NULL ? resp.data : json_null());
	else
		out = json_pack("{s:{s:s, s:s}}", "error", "code",
				resp.code != NULL ? resp.code : "internal",
				"message", resp.error);
	return send_json(c, resp.status, out, resp.etag);
}

/* Marks an ISO upload and starts it (or records why not). */
static void upload_begin(struct agent *a, bool local, struct MHD_Connection *c,
			 const char *url, const char *method,
			 struct conn_ctx *ctx)
{
	const char *args[2];
	char storage[512];

	if (strcmp(method, "PUT") != 0 ||
	    strncmp(url, API_ROOT, strlen(API_ROOT)) != 0 ||
	    !route_match("/storage/pools/*/iso/*", url + strlen(API_ROOT),
			 args, storage, sizeof(storage)))
		return;
	ctx->is_upload = true;
	if (!local && !api_authorized(a, c))
		api_fail(&ctx->up_resp, 401, "unauthorized",
			 "missing or invalid API token (Authorization: "
			 "Bearer TOKEN)");
	else if (!a->ident.initialized)
		api_fail(&ctx->up_resp, 409, "conflict",
			 "this node is not in a cluster");
	else
		storage_upload_begin(
			a, args[0], args[1],
			MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
						    "sha256"),
			MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    "Content-Length"),
			local ? "root@local" : "token", &ctx->up,
			&ctx->up_resp);
}

/* Upload data goes to the file; the end answers. */
static enum MHD_Result upload_step(struct agent *a, struct MHD_Connection *c,
				   const char *upload, size_t *upload_size,
				   struct conn_ctx *ctx)
{
	struct api_resp *resp = &ctx->up_resp;

	if (*upload_size > 0) {
		if (ctx->up != NULL &&
		    storage_upload_write(ctx->up, upload, *upload_size, resp) <
			    0) {
			storage_upload_abort(ctx->up);
			ctx->up = NULL;
		}
		*upload_size = 0; /* after an error: read and drop the rest */
		return MHD_YES;
	}
	if (ctx->up != NULL) {
		storage_upload_end(a, ctx->up, resp);
		ctx->up = NULL;
	}
	if (resp->status >= 200 && resp->status < 300) {
		json_t *data = resp->data;

		resp->data = NULL; /* the answer takes it */
		return send_json(c, resp->status,
				 json_pack("{s:o}", "data",
					   data ? data : json_null()),
				 NULL);
	}
	if (resp->status == 0)
		api_fail(resp, 500, "internal", "upload ended without answer");
	return send_error(c, resp->status, resp->code ? resp->code : "internal",
			  resp->error);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls,
				  bool local)
{
	struct agent *a = cls;
	struct conn_ctx *ctx = *con_cls;

	(void)version;
	if (ctx == NULL) {
		ctx = calloc(1, sizeof(*ctx));
		if (ctx == NULL)
			return MHD_NO;
		*con_cls = ctx;
		return MHD_YES;
	}
	if (!ctx->upload_checked) {
		ctx->upload_checked = true;
		upload_begin(a, local, c, url, method, ctx);
	}
	if (ctx->is_upload)
		return upload_step(a, c, upload, upload_size, ctx);
	if (*upload_size > 0) {
		if (!ctx->too_large && ctx->len + *upload_size <= API_MAX_BODY) {
			char *p = realloc(ctx->body, ctx->len + *upload_size);
			if (p == NULL)
				return MHD_NO;
			memcpy(p + ctx->len, upload, *upload_size);
			ctx->body = p;
			ctx->len += *upload_size;
		} else {
			ctx->too_large = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	return handle(a, local, c, url, method, ctx);
}

static enum MHD_Result on_request_unix(void *cls, struct MHD_Connection *c,
				       const char *url, const char *method,
				       const char *version, const char *upload,
				       size_t *upload_size, void **con_cls)
{
	return on_request(cls, c, url, method, version, upload, upload_size,
			  con_cls, true);
}

static enum MHD_Result on_request_https(void *cls, struct MHD_Connection *c,
					const char *url, const char *method,
					const char *version,
					const char *upload,
					size_t *upload_size, void **con_cls)
{
	return on_request(cls, c, url, method, version, upload, upload_size,
			  con_cls, false);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *ctx = *con_cls;

	(void)cls, (void)c, (void)toe;
	if (ctx != NULL) {
		storage_upload_abort(ctx->up); /* the client went away */
		json_decref(ctx->up_resp.data);
		free(ctx->body);
		free(ctx);
		*con_cls = NULL;
	}
}

static int unix_listen(struct agent *a, int *ret_fd, struct hx_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[1100];
	int fd = -1;

	agent_path(a, path, sizeof(path), "hxd.sock");
	if (strlen(path) >= sizeof(sa.sun_path))
		return hx_err_set(err, -ENAMETOOLONG, "socket path too long: %s",
				  path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return hx_err_set(err, -errno, "socket: %s", strerror(errno));
	/* root only: the socket grants full control without a token */
	if (fchmod(fd, 0600) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		int r = -errno;
		close(fd);
		return hx_err_set(err, r, "listen on %s: %s", path,
				  strerror(-r));
	}
	*ret_fd = fd;
	return 0;
}

int agent_api_start(struct agent *a, bool https, struct hx_err *err)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	int fd = -1;

	if (a->api == NULL) {
		a->api = calloc(1, sizeof(*a->api));
		if (a->api == NULL)
			return hx_err_set(err, -ENOMEM, "out of memory");
		pthread_mutex_init(&a->api->lock, NULL);
	}
	if (!https) {
		if (unix_listen(a, &fd, err) < 0)
			return err->code;
		a->api->unix_d = MHD_start_daemon(
			flags, 0, NULL, NULL, on_request_unix, a,
			MHD_OPTION_LISTEN_SOCKET, fd,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
			MHD_OPTION_END);
		if (a->api->unix_d == NULL)
			return hx_err_set(err, -EIO,
					  "cannot start the control socket");
		return 0;
	}
	if (a->api->https_d != NULL)
		return 0;
	{
		struct sockaddr_storage ss;
		struct addrinfo hints = {.ai_flags = AI_NUMERICHOST},
				*ai = NULL;
		if (getaddrinfo(a->cfg.bind, NULL, &hints, &ai) != 0)
			return hx_err_set(err, -EINVAL, "bad bind address %s",
					  a->cfg.bind);
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
				htons((uint16_t)a->cfg.api_port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
				htons((uint16_t)a->cfg.api_port);
		if (ss.ss_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		freeaddrinfo(ai);
		a->api->https_d = MHD_start_daemon(
			flags | MHD_USE_TLS, (uint16_t)a->cfg.api_port, NULL,
			NULL, on_request_https, a, MHD_OPTION_SOCK_ADDR, &ss,
			MHD_OPTION_HTTPS_MEM_KEY,
			hxraft_tls_node_key_pem(a->tls),
			MHD_OPTION_HTTPS_MEM_CERT,
			hxraft_tls_node_cert_pem(a->tls),
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
			MHD_OPTION_END);
	}
	if (a->api->https_d == NULL)
		return hx_err_set(err, -EIO, "cannot serve HTTPS on %s port %u",
				  a->cfg.bind, a->cfg.api_port);
	return 0;
}

void agent_api_stop(struct agent *a)
{
	if (a->api == NULL)
		return;
	if (a->api->https_d != NULL)
		MHD_stop_daemon(a->api->https_d);
	if (a->api->unix_d != NULL)
		MHD_stop_daemon(a->api->unix_d);
	a->api->https_d = a->api->unix_d = NULL;
}
