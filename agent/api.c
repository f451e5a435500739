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
#define API_MAX_QUERY 1024
#define API_FORWARD_WAIT_MS 10000 /* for a leader, like statedb's writes */

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
	{"GET", "/ha/status", h_ha_status, R_LEADER},
	{"GET", "/ha/resources", h_ha_resources_list, 0},
	{"POST", "/ha/resources", h_ha_resource_add, R_LEADER},
	{"GET", "/ha/resources/*", h_ha_resource_get, 0},
	{"PATCH", "/ha/resources/*", h_ha_resource_patch, R_LEADER},
	{"DELETE", "/ha/resources/*", h_ha_resource_delete, R_LEADER},
	{"GET", "/ha/resources/*/*", h_ha_resource_why, 0},
	{"POST", "/ha/resources/*/*", h_ha_resource_action, R_LEADER},
	{"POST", "/ha/nodes/*/maintenance", h_ha_node_maintenance, R_LEADER},
	{"GET", "/ha/rules", h_ha_rules_list, 0},
	{"POST", "/ha/rules", h_ha_rule_add, R_LEADER},
	{"GET", "/ha/rules/*", h_ha_rule_get, 0},
	{"PATCH", "/ha/rules/*", h_ha_rule_patch, R_LEADER},
	{"DELETE", "/ha/rules/*", h_ha_rule_delete, R_LEADER},
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
	{"GET", "/network/*", h_network, 0},
	{"POST", "/network/*", h_network, 0},
	{"GET", "/network/*/*", h_network, 0},
	{"POST", "/network/*/*", h_network, 0},
	{"PATCH", "/network/*/*", h_network, 0},
	{"PUT", "/network/*/*", h_network, 0},
	{"DELETE", "/network/*/*", h_network, 0},
	{"GET", "/network/firewall/*/*", h_network, 0},
	{"PATCH", "/network/firewall/*/*", h_network, 0},
	{"PUT", "/network/firewall/*/*", h_network, 0},
	{"DELETE", "/network/firewall/*/*", h_network, 0},
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
	case -ENOSPC:
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
	case HX_ENOSPACE:
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

/*
 * The query string keeps each parameter as "key=value" joined by '&', with
 * '%', '&' and '=' inside keys and values escaped as %25, %26 and %3D
 * (api_query_add()), so that a decoded "a%26b=c" sent by a client stays
 * one value. It travels as is to other nodes with forwarded requests.
 */
static int hexdigit(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
				      : -1;
}

/* The byte at @s[*i] (of @n) decoded; advances *@i past it. */
static char query_char(const char *s, size_t n, size_t *i)
{
	char c = s[*i];

	if (c == '%' && *i + 2 < n && hexdigit(s[*i + 1]) >= 0 &&
	    hexdigit(s[*i + 2]) >= 0) {
		c = (char)(hexdigit(s[*i + 1]) * 16 + hexdigit(s[*i + 2]));
		*i += 2;
	}
	(*i)++;
	return c;
}

/* Decodes @n bytes of @s into @buf (@len bytes); -E2BIG if too long. */
static int query_unescape(const char *s, size_t n, char *buf, size_t len)
{
	size_t w = 0;

	for (size_t i = 0; i < n;) {
		if (w + 1 >= len)
			return -E2BIG;
		buf[w++] = query_char(s, n, &i);
	}
	buf[w] = '\0';
	return 0;
}

/* Whether the @n escaped bytes at @s decode to @key. */
static bool query_key_is(const char *s, size_t n, const char *key)
{
	size_t i = 0;

	while (i < n)
		if (*key == '\0' || query_char(s, n, &i) != *key++)
			return false;
	return *key == '\0';
}

int api_query(const struct api_req *req, const char *key, char *buf,
	      size_t len)
{
	const char *p = req->query;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, '&');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t kn = eq != NULL ? (size_t)(eq - p) : n;

		if (query_key_is(p, kn, key)) {
			if (eq == NULL) {
				buf[0] = '\0';
				return 1;
			}
			if (query_unescape(eq + 1, n - kn - 1, buf, len) < 0)
				return -EINVAL;
			return 1;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

const char *api_if_match(const struct api_req *req, char *buf, size_t len)
{
	const char *d = req->if_match;
	json_t *v;

	/* "If-Match: *" asks only that the object exists, which every handler
	 * checks: no precondition from the header. A weak tag (W/"...") is
	 * compared like a strong one, since digests are exact. */
	if (d != NULL && strcmp(d, "*") == 0)
		d = NULL;
	else if (d != NULL && strncmp(d, "W/", 2) == 0)
		d += 2;
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

/* Fills @resp from a forwarded request's reply. */
static void fill_reply(struct api_resp *resp, const struct agent_fwd_reply *out)
{
	json_error_t jerr;
	json_t *j = json_loads(out->body, 0, &jerr);

	if (out->status < 200 || out->status > 599) {
		/* never pass on what HTTP cannot carry (1xx, negative...) */
		json_decref(j);
		api_fail(resp, 500, "internal",
			 "the other node answered with status %d", out->status);
		return;
	}
	resp->status = out->status;
	snprintf(resp->etag, sizeof(resp->etag), "%s", out->etag);
	if (out->status < 300) {
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

void api_forward(struct agent *a, const char *peer, struct api_req *req,
		 struct api_resp *resp)
{
	struct agent_fwd_reply out = {0};
	struct hx_err err = {0};
	char *body_text = NULL;

	if (req->body != NULL)
		body_text = json_dumps(req->body, JSON_COMPACT);
	if (agent_forward(a, peer, req, body_text != NULL ? body_text : "",
			  &out, &err) < 0) {
		free(body_text);
		api_error_from(resp, &err);
		return;
	}
	free(body_text);
	fill_reply(resp, &out);
	free(out.body);
}

/*
 * Sends @req to the leader. Until it reaches one (during an election, or
 * while the leader is too busy to accept a connection) nothing has run, so
 * it waits and sends again, within API_FORWARD_WAIT_MS; the status request
 * does not wait, it is answered here instead. Returns false when the
 * request is to run here: this node became the leader meanwhile, or it is
 * the status request and no leader answered.
 */
static bool dispatch_forward(struct agent *a, struct api_req *req,
			     struct api_resp *resp)
{
	uint64_t deadline = hx_now_ms() + API_FORWARD_WAIT_MS;
	bool wait = strcmp(req->path, "/cluster") != 0;
	struct agent_fwd_reply out = {0};
	struct hx_err err = {0};
	char *body_text = NULL;
	int r;

	if (req->body != NULL)
		body_text = json_dumps(req->body, JSON_COMPACT);
	for (unsigned attempt = 0;; attempt++) {
		if (attempt > 0 && agent_is_leader(a, NULL, 0)) {
			free(body_text);
			return false;
		}
		r = agent_forward(a, NULL, req,
				  body_text != NULL ? body_text : "", &out,
				  &err);
		if (r != -EAGAIN || !wait || hx_now_ms() >= deadline)
			break;
		usleep(20000u << (attempt < 4 ? attempt : 4));
	}
	free(body_text);
	if (r < 0) {
		api_error_from(resp, &err);
		return wait || resp->status != 503;
	}
	fill_reply(resp, &out);
	free(out.body);
	return wait || resp->status != 503;
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
			if (dispatch_forward(a, req, resp))
				return;
			/* this node leads now, or no leader answered the
			 * status request: answer here */
			json_decref(resp->data);
			*resp = (struct api_resp){.status = 200};
			req->forwarded = true;
		} else if ((rt->flags & R_LEADER) && req->forwarded &&
			   a->ident.initialized &&
			   !agent_is_leader(a, NULL, 0)) {
			api_fail(resp, 503, "unavailable",
				 "leadership moved while forwarding: retry");
			resp->moved = true;
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

/* ---- HTTP, without the transport ---- */

/* Appends @s to @q at *@off, escaped (see api_query()) unless @raw;
 * false if @q (@size bytes) is full. */
static bool query_append(char *q, size_t size, size_t *off, const char *s,
			 bool raw)
{
	for (; *s != '\0'; s++) {
		bool esc = !raw && (*s == '%' || *s == '&' || *s == '=');

		if (*off + (esc ? 3 : 1) >= size)
			return false;
		if (esc)
			*off += (size_t)snprintf(q + *off, 4, "%%%02X",
						 (unsigned char)*s);
		else
			q[(*off)++] = *s;
	}
	q[*off] = '\0';
	return true;
}

int api_query_add(char *q, size_t size, const char *key, const char *value)
{
	size_t n = strlen(q), off = n;

	if (query_append(q, size, &off, n > 0 ? "&" : "", true) &&
	    query_append(q, size, &off, key, false) &&
	    query_append(q, size, &off, "=", true) &&
	    query_append(q, size, &off, value != NULL ? value : "", false))
		return 0;
	q[n] = '\0'; /* no half pair */
	return -E2BIG;
}

/* Bearer tokens are checked against the database, then cached briefly
 * (when the server runs: a->api). */
static bool api_authorized(struct agent *a, const char *h)
{
	struct agent_api *api = a->api;
	unsigned char md[32];
	char hash[65];
	bool valid = false;
	uint64_t now = hx_now_ms();

	if (h == NULL || strncmp(h, "Bearer ", 7) != 0 || strlen(h + 7) > 200)
		return false;
	crypto_generichash(md, sizeof(md), (const unsigned char *)h + 7,
			   strlen(h + 7), NULL, 0);
	sodium_bin2hex(hash, sizeof(hash), md, sizeof(md));
	if (api != NULL) {
		pthread_mutex_lock(&api->lock);
		for (unsigned i = 0; i < 8 && !valid; i++)
			valid = strcmp(api->tok_hash[i], hash) == 0 &&
				now - api->tok_ms[i] < 10000;
		pthread_mutex_unlock(&api->lock);
	}
	if (valid)
		return true;
	if (statedb_apitoken_check(a->db, hash, &valid, NULL) < 0 || !valid)
		return false;
	if (api == NULL)
		return true;
	pthread_mutex_lock(&api->lock);
	snprintf(api->tok_hash[api->tok_next], 65, "%s", hash);
	api->tok_ms[api->tok_next] = now;
	api->tok_next = (api->tok_next + 1) % 8;
	pthread_mutex_unlock(&api->lock);
	return true;
}

static void http_answer(struct api_http_resp *ret, int status, json_t *j,
			const char *etag)
{
	ret->status = status;
	ret->body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	snprintf(ret->etag, sizeof(ret->etag), "%s", etag != NULL ? etag : "");
}

static void http_error(struct api_http_resp *ret, int status,
		       const char *code, const char *msg)
{
	http_answer(ret, status,
		    json_pack("{s:{s:s, s:s}}", "error", "code", code,
			      "message", msg),
		    NULL);
}

void agent_api_http(struct agent *a, const struct api_http_req *in,
		    struct api_http_resp *ret)
{
	struct api_req req = {0};
	struct api_resp resp = {0};
	size_t root = strlen(API_ROOT);
	json_error_t jerr;
	json_t *out;

	if (in->body_too_large || in->body_len > API_MAX_BODY) {
		http_error(ret, 413, "too_large",
			   "request body is larger than 64 KiB");
		return;
	}
	if (in->query == NULL) {
		http_error(ret, 414, "too_large",
			   "the query string is longer than 1 KiB");
		return;
	}
	if (strncmp(in->url, API_ROOT, root) != 0 ||
	    (in->url[root] != '/' && in->url[root] != '\0')) {
		http_error(ret, 404, "not_found",
			   "no such path (the API lives under /api/v1)");
		return;
	}
	if (!in->local && !api_authorized(a, in->authorization)) {
		http_error(ret, 401, "unauthorized",
			   "missing or invalid API token "
			   "(Authorization: Bearer TOKEN)");
		return;
	}
	if (in->body_len > 0) {
		req.body = json_loadb(in->body, in->body_len,
				      JSON_REJECT_DUPLICATES, &jerr);
		if (req.body == NULL) {
			char msg[256];
			snprintf(msg, sizeof(msg),
				 "malformed JSON body at line %d column %d: %s",
				 jerr.line, jerr.column, jerr.text);
			http_error(ret, 400, "bad_request", msg);
			return;
		}
	}
	req.method = in->method;
	req.path = in->url + root;
	if (req.path[0] == '\0')
		req.path = "/";
	req.query = in->query;
	req.local = in->local;
	req.if_match = in->if_match;
	snprintf(req.actor, sizeof(req.actor), "%s",
		 in->local ? "root@local" : "token");
	agent_api_dispatch(a, &req, &resp);
	json_decref(req.body);
	if (resp.status < 300)
		out = json_pack("{s:o}", "data",
				resp.data != NULL ? resp.data : json_null());
	else
		out = json_pack("{s:{s:s, s:s}}", "error", "code",
				resp.code != NULL ? resp.code : "internal",
				"message", resp.error);
	http_answer(ret, resp.status, out, resp.etag);
	ret->exit_after = resp.exit_after;
}

/* ---- streamed uploads, without the transport ---- */

struct api_upload {
	struct storage_upload *up; /* NULL once failed or finished */
	struct api_resp resp;	   /* the error, once there is one */
};

bool agent_api_upload_begin(struct agent *a, const struct api_http_req *in,
			    struct api_upload **ret)
{
	size_t root = strlen(API_ROOT);
	struct api_req q = {.query = in->query};
	const char *args[2];
	char storage[512], sha[80];
	struct api_upload *u;
	int has_sha = 0;

	*ret = NULL;
	if (strcmp(in->method, "PUT") != 0 ||
	    strncmp(in->url, API_ROOT, root) != 0 ||
	    !route_match("/storage/pools/*/iso/*", in->url + root, args,
			 storage, sizeof(storage)))
		return false;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return false; /* buffered: answered 413 or by the router */
	*ret = u;
	if (in->query == NULL)
		api_fail(&u->resp, 414, "too_large",
			 "the query string is longer than 1 KiB");
	else if (!in->local && !api_authorized(a, in->authorization))
		api_fail(&u->resp, 401, "unauthorized",
			 "missing or invalid API token (Authorization: "
			 "Bearer TOKEN)");
	else if (!a->ident.initialized)
		api_fail(&u->resp, 409, "conflict",
			 "this node is not in a cluster");
	else if ((has_sha = api_query(&q, "sha256", sha, sizeof(sha))) < 0)
		api_fail(&u->resp, 400, "bad_request",
			 "sha256: expected 64 hexadecimal digits");
	else
		storage_upload_begin(a, args[0], args[1],
				     has_sha > 0 ? sha : NULL,
				     in->content_length,
				     in->local ? "root@local" : "token", &u->up,
				     &u->resp);
	return true;
}

void agent_api_upload_data(struct api_upload *u, const char *buf, size_t len)
{
	if (u->up != NULL &&
	    storage_upload_write(u->up, buf, len, &u->resp) < 0) {
		storage_upload_abort(u->up);
		u->up = NULL; /* the rest of the body is read and dropped */
	}
}

void agent_api_upload_end(struct agent *a, struct api_upload *u,
			  struct api_http_resp *ret)
{
	struct api_resp *resp = &u->resp;

	if (u->up != NULL) {
		storage_upload_end(a, u->up, resp);
		u->up = NULL;
	}
	if (resp->status == 0)
		api_fail(resp, 500, "internal", "upload ended without answer");
	if (resp->status >= 200 && resp->status < 300) {
		http_answer(ret, resp->status,
			    json_pack("{s:o}", "data",
				      resp->data != NULL ? resp->data
							 : json_null()),
			    NULL);
		resp->data = NULL; /* the answer took it */
	} else {
		http_error(ret, resp->status,
			   resp->code != NULL ? resp->code : "internal",
			   resp->error);
	}
	agent_api_upload_free(u);
}

void agent_api_upload_free(struct api_upload *u)
{
	if (u == NULL)
		return;
	storage_upload_abort(u->up);
	json_decref(u->resp.data);
	free(u);
}

/* ---- HTTP transport (libmicrohttpd) ---- */

struct conn_ctx {
	char *body;
	size_t len;
	bool too_large;
	bool exit_after; /* the response asks hxd to stop once it is sent */
	bool upload_checked;
	struct api_upload *up; /* a body that streams to storage */
};

struct query_ctx {
	char q[API_MAX_QUERY];
	bool too_long;
};

static enum MHD_Result query_cb(void *cls, enum MHD_ValueKind kind,
				const char *key, const char *value)
{
	struct query_ctx *qc = cls;

	(void)kind;
	if (api_query_add(qc->q, sizeof(qc->q), key, value) < 0)
		qc->too_long = true;
	return MHD_YES;
}

/* The request as agent_api_http() takes it; @query holds its query. */
static void http_req_init(struct MHD_Connection *c, const char *url,
			  const char *method, bool local,
			  const struct conn_ctx *ctx, struct query_ctx *query,
			  struct api_http_req *ret)
{
	*ret = (struct api_http_req){
		.method = method,
		.url = url,
		.if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							"If-Match"),
		.authorization = MHD_lookup_connection_value(
			c, MHD_HEADER_KIND, "Authorization"),
		.content_length = MHD_lookup_connection_value(
			c, MHD_HEADER_KIND, "Content-Length"),
		.body = ctx->body,
		.body_len = ctx->len,
		.body_too_large = ctx->too_large,
		.local = local,
	};
	*query = (struct query_ctx){.q = ""};
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_cb, query);
	ret->query = query->too_long ? NULL : query->q;
}

/* Queues @out (its body is taken). */
static enum MHD_Result send_http(struct MHD_Connection *c,
				 struct api_http_resp *out)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (out->body == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(out->body), out->body,
					    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(out->body);
		return MHD_NO;
	}
	out->body = NULL;
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (out->etag[0] != '\0') {
		char q[48];
		snprintf(q, sizeof(q), "\"%s\"", out->etag);
		MHD_add_response_header(r, "ETag", q);
	}
	ret = MHD_queue_response(c, (unsigned)out->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(struct agent *a, bool local,
			      struct MHD_Connection *c, const char *url,
			      const char *method, struct conn_ctx *ctx)
{
	struct query_ctx query;
	struct api_http_req in;
	struct api_http_resp out = {0};

	http_req_init(c, url, method, local, ctx, &query, &in);
	agent_api_http(a, &in, &out);
	ctx->exit_after = out.exit_after;
	return send_http(c, &out);
}

/* A streamed upload: each piece of the body goes on to storage as it
 * comes; its end answers. */
static enum MHD_Result upload_step(struct agent *a, struct MHD_Connection *c,
				   const char *upload, size_t *upload_size,
				   struct conn_ctx *ctx)
{
	struct api_http_resp out = {0};

	if (*upload_size > 0) {
		agent_api_upload_data(ctx->up, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	agent_api_upload_end(a, ctx->up, &out);
	ctx->up = NULL;
	return send_http(c, &out);
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
		struct query_ctx query;
		struct api_http_req in;

		ctx->upload_checked = true;
		http_req_init(c, url, method, local, ctx, &query, &in);
		(void)agent_api_upload_begin(a, &in, &ctx->up);
	}
	if (ctx->up != NULL)
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

	(void)c, (void)toe;
	if (ctx != NULL) {
		agent_api_upload_free(ctx->up); /* the client went away */
		if (ctx->exit_after) /* sent, or the client is gone */
			agent_request_exit(cls, 0);
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
