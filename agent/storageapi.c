/*
 * API handlers for storage: pools (cluster-wide definitions plus each
 * node's status) and their volumes.
 *
 * DESIGN: pool definitions are statedb rows and any node serves them.
 * Volume requests run on a node that reaches the pool: the one named by
 * ?node= (default: the node asked) for a node-local pool, whose volumes
 * exist per node; for a shared pool the node asked if it may use the pool,
 * else the first one that may, and for a resize the node running a VM
 * that uses the volume (only it can grow it online). Volume operations
 * are short (qemu-img create, unlink, truncate, a btrfs ioctl) and answer
 * at once; nothing is half-done when they fail.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/storage.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

#define USERS_MAX 256

/* ---- JSON ---- */

static json_t *words_json(const char *list)
{
	char buf[1024], *save = NULL, *w;
	json_t *a = json_array();

	snprintf(buf, sizeof(buf), "%s", list);
	for (w = strtok_r(buf, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save))
		json_array_append_new(a, json_string(w));
	return a;
}

static json_t *status_json(const struct statedb_pool_status *s)
{
	return json_pack("{s:s, s:b, s:I, s:I, s:I, s:s, s:I}", "node", s->node,
			 "available", s->available, "capacity_bytes",
			 (json_int_t)s->capacity_bytes, "used_bytes",
			 (json_int_t)s->used_bytes, "free_bytes",
			 (json_int_t)s->free_bytes, "message", s->message,
			 "updated_at", (json_int_t)s->updated_ms);
}

static json_t *pool_json(const struct statedb_pool *p,
			 const struct statedb_pool_status *st, unsigned nst)
{
	json_t *status = json_array();
	json_t *opts = json_loads(p->options, 0, NULL);

	for (unsigned i = 0; i < nst; i++)
		if (strcmp(st[i].pool, p->name) == 0)
			json_array_append_new(status, status_json(&st[i]));
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:I, s:s, s:o}",
			 "name", p->name, "type", p->type, "path", p->path,
			 "options", opts != NULL ? opts : json_object(),
			 "nodes", words_json(p->nodes), "content",
			 words_json(p->content), "shared", p->shared,
			 "created_at", (json_int_t)p->created_ms, "digest",
			 p->digest, "status", status);
}

static json_t *vol_json(const struct statedb_pool *p, const char *node,
			const struct stor_vol *v, const struct storage_user *u,
			unsigned nu)
{
	json_t *users = json_array(), *j;
	char volid[STATEDB_POOL_NAME_MAX + STATEDB_VOLUME_NAME_MAX + 2];

	snprintf(volid, sizeof(volid), "%s:%s", p->name, v->name);
	for (unsigned i = 0; i < nu; i++) {
		if (strcmp(u[i].name, v->name) != 0)
			continue;
		json_array_append_new(
			users,
			json_pack("{s:I, s:s, s:s, s:b}", "vmid",
				  (json_int_t)u[i].vmid, "node", u[i].node,
				  "device", u[i].disk < 0 ? "cdrom" : "disk",
				  "pending", u[i].pending));
	}
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o}",
		      "volid", volid, "pool", p->name, "name", v->name,
		      "format", v->format, "content", v->content, "size_bytes",
		      (json_int_t)v->size_bytes, "used_bytes",
		      (json_int_t)v->used_bytes, "backing",
		      v->backing[0] ? json_string(v->backing) : json_null(),
		      "snapshots", words_json(v->snapshots), "used_by", users);
	if (j != NULL)
		json_object_set_new(
			j, "node", p->shared ? json_null() : json_string(node));
	return j;
}

/* ---- request helpers ---- */

static bool str_field(struct api_req *req, struct api_resp *resp,
		      const char *key, char *buf, size_t len, bool required)
{
	json_t *v = json_object_get(req->body, key);

	if (v == NULL) {
		if (required)
			api_error(resp, -EINVAL, "%s: required", key);
		return !required;
	}
	if (!json_is_string(v) || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		api_error(resp, -EINVAL,
			  "%s: must be a string of at most %zu characters", key,
			  len - 1);
		return false;
	}
	snprintf(buf, len, "%s", json_string_value(v));
	return true;
}

/* A list given as an array of strings (or one string of words) into
 * " a b " text for statedb. */
static bool words_field(struct api_req *req, struct api_resp *resp,
			const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(req->body, key), *e;
	size_t i, off = 0;

	if (v == NULL)
		return true;
	if (json_is_string(v))
		return str_field(req, resp, key, buf, len, false);
	if (!json_is_array(v)) {
		api_error(resp, -EINVAL, "%s: must be an array of strings",
			  key);
		return false;
	}
	buf[0] = '\0';
	json_array_foreach(v, i, e)
	{
		const char *s = json_string_value(e);
		if (s == NULL || strchr(s, ' ') != NULL || s[0] == '\0' ||
		    off + strlen(s) + 2 >= len) {
			api_error(resp, -EINVAL,
				  "%s: entries are non-empty words; at most "
				  "%zu characters in all",
				  key, len - 2);
			return false;
		}
		off += (size_t)snprintf(buf + off, len - off, " %s", s);
	}
	return true;
}

static bool options_field(struct api_req *req, struct api_resp *resp, char *buf,
			  size_t len)
{
	json_t *v = json_object_get(req->body, "options");
	char *text;

	if (v == NULL)
		return true;
	if (!json_is_object(v)) {
		api_error(resp, -EINVAL, "options: must be an object");
		return false;
	}
	text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL || strlen(text) >= len) {
		free(text);
		api_error(resp, -EINVAL, "options: too large");
		return false;
	}
	snprintf(buf, len, "%s", text);
	free(text);
	return true;
}

static bool size_field(struct api_req *req, struct api_resp *resp,
		       int64_t *ret_bytes)
{
	json_t *v = json_object_get(req->body, "size_mb");

	if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > INT64_C(67108864)) {
		api_error(resp, -EINVAL,
			  "size_mb: an integer from 1 to 67108864 (64 TiB) is "
			  "required");
		return false;
	}
	*ret_bytes = (int64_t)json_integer_value(v) << 20;
	return true;
}

/* Forwards @req to node @node unless it is this one; true if answered. */
static bool forward_to(struct agent *a, const char *node, struct api_req *req,
		       struct api_resp *resp)
{
	struct statedb_node n;
	struct hx_err err = {0};

	if (strcmp(node, a->cfg.name) == 0)
		return false;
	if (req->forwarded) {
		api_error(resp, HX_ENOQUORUM,
			  "forwarded to node '%s', which is not the node "
			  "'%s' asked for: retry",
			  a->cfg.name, node);
		return true;
	}
	if (statedb_node_get(a->db, node, &n, &err) < 0) {
		api_error_from(resp, &err);
		return true;
	}
	api_forward(a, n.peer, req, resp);
	return true;
}

/* Loads the pool of req->arg[0] and sends the request to the node that
 * serves its volumes. True if the request is for this node to run. */
static bool vol_route(struct agent *a, struct api_req *req,
		      struct api_resp *resp, struct statedb_pool *p, char *node,
		      size_t len)
{
	struct hx_err err = {0};

	if (statedb_pool_get(a->db, req->arg[0], p, &err) < 0) {
		api_error_from(resp, &err);
		return false;
	}
	if (!api_query(req, "node", node, len))
		snprintf(node, len, "%s", a->cfg.name);
	if (p->shared && !api_query(req, "node", node, len) &&
	    !statedb_pool_on_node(p, a->cfg.name)) {
		char first[64] = "";
		sscanf(p->nodes, " %63s", first);
		snprintf(node, len, "%s", first);
	}
	if (!statedb_pool_on_node(p, node)) {
		api_error(resp, -EINVAL,
			  "storage pool '%s' is not for node '%s' (nodes:%s)",
			  p->name, node, p->nodes);
		return false;
	}
	return !forward_to(a, node, req, resp);
}

/* "storage/POOL", the subject of a pool's events, in @buf. */
static const char *subject(const char *pool, char *buf)
{
	snprintf(buf, 48, "storage/%s", pool);
	return buf;
}

/* ---- pools ---- */

void h_pools_list(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_pool *pools = NULL;
	struct statedb_pool_status *st = NULL;
	struct hx_err err = {0};
	unsigned n = 0, nst = 0;

	(void)req;
	if (statedb_pool_list(a->db, &pools, &n, &err) < 0 ||
	    statedb_pool_status_list(a->db, NULL, &st, &nst, &err) < 0) {
		free(pools);
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(resp->data,
				      pool_json(&pools[i], st, nst));
	free(pools);
	free(st);
}

static void pool_answer(struct agent *a, const char *name,
			struct api_resp *resp)
{
	struct statedb_pool p;
	struct statedb_pool_status *st = NULL;
	struct hx_err err = {0};
	unsigned nst = 0;

	if (statedb_pool_get(a->db, name, &p, &err) < 0 ||
	    statedb_pool_status_list(a->db, p.name, &st, &nst, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = pool_json(&p, st, nst);
	snprintf(resp->etag, sizeof(resp->etag), "%s", p.digest);
	free(st);
}

void h_pool_get(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	pool_answer(a, req->arg[0], resp);
}

/* The backend's own checks of a pool definition (options of nfs and rbd
 * pools). */
static bool backend_check(const struct statedb_pool *p, struct api_resp *resp)
{
	const struct stor_backend *be = stor_backend_of(p->type);
	struct hx_err err = {0};

	if (be == NULL) {
		api_error(resp, -EINVAL,
			  "type: this hxd has no %s backend (see "
			  "docs/storage.md)",
			  p->type);
		return false;
	}
	if (be->check != NULL && be->check(p, &err) < 0) {
		api_error_from(resp, &err);
		return false;
	}
	return true;
}

void h_pool_create(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"name",	 "type",  "path",
					      "options", "nodes", "content",
					      "shared",	 NULL};
	struct statedb_pool p = {.options = "{}", .content = "images"};
	char subj[48];
	struct hx_err err = {0};
	json_t *v;

	if (!api_body_check(req, resp, allowed, true) ||
	    !str_field(req, resp, "name", p.name, sizeof(p.name), true) ||
	    !str_field(req, resp, "type", p.type, sizeof(p.type), true) ||
	    !str_field(req, resp, "path", p.path, sizeof(p.path), false) ||
	    !words_field(req, resp, "nodes", p.nodes, sizeof(p.nodes)) ||
	    !words_field(req, resp, "content", p.content, sizeof(p.content)) ||
	    !options_field(req, resp, p.options, sizeof(p.options)))
		return;
	if ((v = json_object_get(req->body, "shared")) != NULL) {
		if (!json_is_boolean(v)) {
			api_error(resp, -EINVAL,
				  "shared: must be true or false");
			return;
		}
		p.shared = json_is_true(v);
	}
	if (statedb_pool_check(&p, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (!backend_check(&p, resp))
		return;
	if (statedb_pool_create(a->db, &p, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "storage.pool", subject(p.name, subj), req->actor,
		    "pool '%s' (%s) created", p.name, p.type);
	storage_kick(a);
	pool_answer(a, p.name, resp);
	if (resp->status == 200)
		resp->status = 201;
}

void h_pool_patch(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"nodes", "content", "options",
					      "digest", NULL};
	struct statedb_pool p;
	struct hx_err err = {0};
	char digest[80];

	if (!api_body_check(req, resp, allowed, true))
		return;
	if (statedb_pool_get(a->db, req->arg[0], &p, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (!words_field(req, resp, "nodes", p.nodes, sizeof(p.nodes)) ||
	    !words_field(req, resp, "content", p.content, sizeof(p.content)) ||
	    !options_field(req, resp, p.options, sizeof(p.options)) ||
	    !backend_check(&p, resp))
		return;
	if (statedb_pool_update(a->db, &p,
				api_if_match(req, digest, sizeof(digest)),
				&err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	storage_kick(a);
	pool_answer(a, p.name, resp);
}

void h_pool_delete(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const none[] = {NULL};
	struct storage_user u;
	struct statedb_pool p;
	char subj[48];
	struct hx_err err = {0};
	unsigned n = 0;

	if (!api_body_check(req, resp, none, false))
		return;
	if (statedb_pool_get(a->db, req->arg[0], &p, &err) < 0 ||
	    storage_users(a, &p, NULL, NULL, &u, 1, &n, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (n > 0) {
		api_error(resp, -EBUSY,
			  "storage pool '%s' is used by VM %" PRId64
			  "%s: detach its volumes first",
			  p.name, u.vmid, n > 1 ? " and others" : "");
		return;
	}
	if (statedb_pool_delete(a->db, p.name, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "storage.pool", subject(p.name, subj), req->actor,
		    "pool '%s' deleted (its volumes stay on disk)", p.name);
	resp->data = json_pack("{s:s}", "deleted", p.name);
}

/* ---- volumes ---- */

void h_volumes_list(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	const struct stor_backend *be;
	struct statedb_pool p;
	struct stor_vol *vols = NULL;
	struct storage_user *u = NULL;
	struct hx_err err = {0};
	char node[64];
	unsigned n = 0, nu = 0;

	if (!vol_route(a, req, resp, &p, node, sizeof(node)))
		return;
	if (storage_pool_here(a, p.name, &p, &be, &err) < 0 ||
	    be->list(&p, &vols, &n, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if ((u = calloc(USERS_MAX, sizeof(*u))) == NULL ||
	    storage_users(a, &p, NULL, node, u, USERS_MAX, &nu, &err) < 0) {
		if (u == NULL)
			hx_err_set(&err, -ENOMEM, "out of memory");
		api_error_from(resp, &err);
		goto out;
	}
	resp->data = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(
			resp->data, vol_json(&p, node, &vols[i], u,
					     nu < USERS_MAX ? nu : USERS_MAX));
out:
	free(u);
	free(vols);
}

static void vol_answer(struct agent *a, struct api_resp *resp,
		       const struct statedb_pool *p, const char *node,
		       const char *name)
{
	const struct stor_backend *be = stor_backend_of(p->type);
	struct storage_user u[16];
	struct hx_err err = {0};
	struct stor_vol v;
	unsigned nu = 0;

	if (be == NULL || be->info(p, name, &v, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (storage_users(a, p, name, node, u, 16, &nu, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = vol_json(p, node, &v, u, nu < 16 ? nu : 16);
}

void h_volume_get(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_pool p;
	struct hx_err err = {0};
	char node[64];

	if (statedb_volume_name_check(req->arg[1], &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (!vol_route(a, req, resp, &p, node, sizeof(node)))
		return;
	vol_answer(a, resp, &p, node, req->arg[1]);
}

void h_volume_create(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	static const char *const allowed[] = {"name", "size_mb", NULL};
	char name[STATEDB_VOLUME_NAME_MAX + 1], node[64];
	struct statedb_pool p;
	char subj[48];
	struct hx_err err = {0};
	int64_t size;

	if (!api_body_check(req, resp, allowed, true) ||
	    !str_field(req, resp, "name", name, sizeof(name), true) ||
	    !size_field(req, resp, &size))
		return;
	if (statedb_volume_name_check(name, &err) < 0) {
		api_error(resp, -EINVAL, "name: %s", err.msg);
		return;
	}
	if (!vol_route(a, req, resp, &p, node, sizeof(node)))
		return;
	if (storage_volume_create(a, p.name, name, size, NULL, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "storage.volume", subject(p.name, subj), req->actor,
		    "volume '%s:%s' created on node '%s'", p.name, name, node);
	vol_answer(a, resp, &p, node, name);
	if (resp->status == 200)
		resp->status = 201;
}

void h_volume_delete(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	static const char *const none[] = {NULL};
	struct statedb_pool p;
	char subj[48];
	struct hx_err err = {0};
	char node[64];

	if (!api_body_check(req, resp, none, false))
		return;
	if (statedb_volume_name_check(req->arg[1], &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (!vol_route(a, req, resp, &p, node, sizeof(node)))
		return;
	if (storage_volume_delete(a, p.name, req->arg[1], &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "storage.volume", subject(p.name, subj), req->actor,
		    "volume '%s:%s' deleted on node '%s'", p.name, req->arg[1],
		    node);
	resp->data =
		json_pack("{s:s, s:s}", "deleted", req->arg[1], "pool", p.name);
}

void h_volume_resize(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	static const char *const allowed[] = {"size_mb", NULL};
	struct storage_user u[8];
	struct statedb_pool p;
	char subj[48];
	struct hx_err err = {0};
	char node[64];
	bool online = false;
	unsigned n = 0;
	int64_t size;

	if (!api_body_check(req, resp, allowed, true) ||
	    !size_field(req, resp, &size))
		return;
	if (statedb_volume_name_check(req->arg[1], &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (!vol_route(a, req, resp, &p, node, sizeof(node)))
		return;
	/* On a shared pool, the node running a VM that uses it resizes. */
	if (p.shared &&
	    storage_users(a, &p, req->arg[1], NULL, u, 8, &n, &err) == 0)
		for (unsigned i = 0; i < n && i < 8; i++)
			if (!u[i].pending && u[i].disk >= 0 &&
			    strcmp(u[i].state, "running") == 0 &&
			    forward_to(a, u[i].node, req, resp))
				return;
	if (storage_volume_resize(a, p.name, req->arg[1], size, &online, &err) <
	    0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "storage.volume", subject(p.name, subj), req->actor,
		    "volume '%s:%s' grown to %" PRId64 " MiB%s", p.name,
		    req->arg[1], size >> 20, online ? " online" : "");
	vol_answer(a, resp, &p, node, req->arg[1]);
	if (resp->data != NULL)
		json_object_set_new(resp->data, "online", json_boolean(online));
}

/* ---- VM snapshots, templates and clones ---- */

/* Loads the VM of req->arg[0] and forwards to its node unless it is this
 * one. True if this node runs the request. */
static bool vm_route(struct agent *a, struct api_req *req,
		     struct api_resp *resp, struct statedb_vm *vm)
{
	struct hx_err err = {0};
	bool here;

	if (statedb_vm_get(a->db, req->arg[0], vm, &err) < 0) {
		api_error_from(resp, &err);
		return false;
	}
	here = !forward_to(a, vm->node, req, resp);
	if (!here)
		statedb_vm_clear(vm);
	return here;
}

static void vm_submit(struct agent *a, struct api_req *req,
		      struct api_resp *resp, struct svm_req *q,
		      const struct statedb_vm *vm)
{
	struct hx_err err = {0};
	int64_t task;

	q->vmid = vm->vmid;
	snprintf(q->actor, sizeof(q->actor), "%s", req->actor);
	if (storage_vm_submit(a, q, &task, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->status = 202;
	resp->data = json_pack("{s:I, s:I}", "vmid", (json_int_t)vm->vmid,
			       "task", (json_int_t)task);
	if (q->op == SVM_CLONE && resp->data != NULL)
		json_object_set_new(resp->data, "clone",
				    json_integer(q->newid));
}

void h_vm_snapshots_list(struct agent *a, struct api_req *req,
			 struct api_resp *resp)
{
	struct statedb_snapshot *list = NULL;
	struct statedb_vm vm;
	struct hx_err err = {0};
	unsigned n = 0;

	if (statedb_vm_get(a->db, req->arg[0], &vm, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (statedb_snapshot_list(a->db, vm.vmid, &list, &n, &err) < 0) {
		statedb_vm_clear(&vm);
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(
			resp->data,
			json_pack(
				"{s:s, s:o, s:s, s:b, s:b, s:I}", "name",
				list[i].name, "parent",
				list[i].parent[0] ? json_string(list[i].parent)
						  : json_null(),
				"description", list[i].description, "ram",
				list[i].ram, "current", list[i].current,
				"created_at", (json_int_t)list[i].created_ms));
	statedb_snapshot_list_free(list, n);
	statedb_vm_clear(&vm);
}

void h_vm_snapshot_create(struct agent *a, struct api_req *req,
			  struct api_resp *resp)
{
	static const char *const allowed[] = {"name", "description", NULL};
	struct svm_req q = {.op = SVM_SNAP_CREATE};
	struct statedb_vm vm;
	struct hx_err err = {0};

	if (!api_body_check(req, resp, allowed, true) ||
	    !str_field(req, resp, "name", q.name, sizeof(q.name), true) ||
	    !str_field(req, resp, "description", q.description,
		       sizeof(q.description), false))
		return;
	if (statedb_snapshot_name_check(q.name, &err) < 0) {
		api_error(resp, -EINVAL, "name: %s", err.msg);
		return;
	}
	if (!vm_route(a, req, resp, &vm))
		return;
	vm_submit(a, req, resp, &q, &vm);
	statedb_vm_clear(&vm);
}

static void snap_op(struct agent *a, struct api_req *req, struct api_resp *resp,
		    enum svm_op op)
{
	static const char *const none[] = {NULL};
	struct svm_req q = {.op = op};
	struct statedb_vm vm;
	struct hx_err err = {0};

	if (!api_body_check(req, resp, none, false))
		return;
	if (statedb_snapshot_name_check(req->arg[1], &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	snprintf(q.name, sizeof(q.name), "%s", req->arg[1]);
	if (!vm_route(a, req, resp, &vm))
		return;
	vm_submit(a, req, resp, &q, &vm);
	statedb_vm_clear(&vm);
}

void h_vm_snapshot_rollback(struct agent *a, struct api_req *req,
			    struct api_resp *resp)
{
	snap_op(a, req, resp, SVM_SNAP_ROLLBACK);
}

void h_vm_snapshot_delete(struct agent *a, struct api_req *req,
			  struct api_resp *resp)
{
	snap_op(a, req, resp, SVM_SNAP_DELETE);
}

void h_vm_template(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const none[] = {NULL};
	struct svm_req q = {.op = SVM_TEMPLATE};
	struct statedb_vm vm;

	if (!api_body_check(req, resp, none, false) ||
	    !vm_route(a, req, resp, &vm))
		return;
	vm_submit(a, req, resp, &q, &vm);
	statedb_vm_clear(&vm);
}

void h_vm_clone(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"name", "vmid",	"linked",
					      "pool", "format", "node", NULL};
	struct svm_req q = {.op = SVM_CLONE};
	struct statedb_vm vm;
	struct hx_err err = {0};
	json_t *v;

	if (!api_body_check(req, resp, allowed, true) ||
	    !str_field(req, resp, "name", q.newname, sizeof(q.newname), true) ||
	    !str_field(req, resp, "pool", q.pool, sizeof(q.pool), false) ||
	    !str_field(req, resp, "format", q.format, sizeof(q.format), false) ||
	    !str_field(req, resp, "node", q.node, sizeof(q.node), false))
		return;
	if (q.format[0] != '\0' && strcmp(q.format, "qcow2") != 0 &&
	    strcmp(q.format, "raw") != 0) {
		api_error(resp, -EINVAL, "format: qcow2 or raw");
		return;
	}
	if ((v = json_object_get(req->body, "linked")) != NULL &&
	    !json_is_boolean(v)) {
		api_error(resp, -EINVAL, "linked: must be true or false");
		return;
	}
	if ((v = json_object_get(req->body, "vmid")) != NULL &&
	    (!json_is_integer(v) || json_integer_value(v) < STATEDB_VMID_MIN ||
	     json_integer_value(v) > STATEDB_VMID_MAX)) {
		api_error(resp, -EINVAL, "vmid: an integer from %d to %d",
			  STATEDB_VMID_MIN, STATEDB_VMID_MAX);
		return;
	}
	if (!vm_route(a, req, resp, &vm))
		return;
	if (v != NULL)
		q.newid = json_integer_value(v);
	else if (statedb_vm_nextid(a->db, &q.newid, &err) < 0) {
		api_error_from(resp, &err);
		statedb_vm_clear(&vm);
		return;
	}
	/* Linked by default from a template, as on Proxmox; full when the
	 * disks go to another pool or format. */
	v = json_object_get(req->body, "linked");
	q.linked = v != NULL ? json_is_true(v)
			     : strstr(vm.config, "\"template\":true") != NULL &&
				       q.pool[0] == '\0' && q.format[0] == '\0';
	vm_submit(a, req, resp, &q, &vm);
	statedb_vm_clear(&vm);
}

void h_vm_disk_move(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"pool", "format", "keep_source",
					      "bandwidth_mbps", NULL};
	struct svm_req q = {.op = SVM_MOVE};
	struct statedb_vm vm;
	json_t *v;
	char *end;
	long disk;

	if (!api_body_check(req, resp, allowed, true) ||
	    !str_field(req, resp, "pool", q.pool, sizeof(q.pool), true) ||
	    !str_field(req, resp, "format", q.format, sizeof(q.format), false))
		return;
	disk = strtol(req->arg[1], &end, 10);
	if (*end != '\0' || disk < 0 || disk >= 16 || req->arg[1][0] == '-') {
		api_error(resp, -EINVAL,
			  "disk: an index from 0 to 15, not '%s'", req->arg[1]);
		return;
	}
	q.disk = (unsigned)disk;
	if ((v = json_object_get(req->body, "keep_source")) != NULL) {
		if (!json_is_boolean(v)) {
			api_error(resp, -EINVAL,
				  "keep_source: must be true or false");
			return;
		}
		q.keep = json_is_true(v);
	}
	if ((v = json_object_get(req->body, "bandwidth_mbps")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 1000000) {
			api_error(resp, -EINVAL,
				  "bandwidth_mbps: an integer from 0 (no "
				  "limit) to 1000000");
			return;
		}
		q.mibs = json_integer_value(v);
	}
	if (!vm_route(a, req, resp, &vm))
		return;
	vm_submit(a, req, resp, &q, &vm);
	statedb_vm_clear(&vm);
}

/* ---- ISO upload (streamed by api.c, PUT /storage/pools/POOL/iso/NAME) */

void storage_upload_begin(struct agent *a, const char *pool, const char *name,
			  const char *sha256, const char *length,
			  const char *actor, struct storage_upload **ret,
			  struct api_resp *resp)
{
	struct hx_err err = {0};
	int64_t len = -1;
	char *end;

	*ret = NULL;
	if (length != NULL) {
		long long l = strtoll(length, &end, 10);
		if (*end == '\0' && l >= 0)
			len = l;
	}
	if (storage_iso_open(a, pool, name, sha256, len, actor, ret, &err) < 0)
		api_error_from(resp, &err);
}

int storage_upload_write(struct storage_upload *u, const void *buf, size_t len,
			 struct api_resp *resp)
{
	struct hx_err err = {0};
	int r = storage_iso_write(u, buf, len, &err);

	if (r < 0)
		api_error_from(resp, &err);
	return r;
}

void storage_upload_end(struct agent *a, struct storage_upload *u,
			struct api_resp *resp)
{
	struct storage_iso iso;
	struct hx_err err = {0};

	if (storage_iso_close(a, u, &iso, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	vol_answer(a, resp, &iso.pool, a->cfg.name, iso.name);
	if (resp->data != NULL) {
		json_object_set_new(resp->data, "sha256",
				    json_string(iso.sha256));
		resp->status = 201;
	}
}

void storage_upload_abort(struct storage_upload *u)
{
	storage_iso_abort(u);
}

/* POST /storage/pools/POOL/iso {"name", "url", "sha256"}: a download task
 * on the node that keeps the pool's files. */
void h_iso_download(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"name", "url", "sha256", NULL};
	char name[STATEDB_VOLUME_NAME_MAX + 1], url[2048], sha[80], node[64];
	struct statedb_pool p;
	struct hx_err err = {0};
	int64_t task;

	if (!api_body_check(req, resp, allowed, true) ||
	    !str_field(req, resp, "name", name, sizeof(name), true) ||
	    !str_field(req, resp, "url", url, sizeof(url), true) ||
	    !str_field(req, resp, "sha256", sha, sizeof(sha), true))
		return;
	if (!vol_route(a, req, resp, &p, node, sizeof(node)))
		return;
	if (storage_iso_download(a, p.name, name, url, sha, req->actor, &task,
				 &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->status = 202;
	resp->data =
		json_pack("{s:s, s:I}", "volid", "", "task", (json_int_t)task);
	if (resp->data != NULL) {
		char volid[STATEDB_POOL_NAME_MAX + STATEDB_VOLUME_NAME_MAX + 2];
		snprintf(volid, sizeof(volid), "%s:%s", p.name, name);
		json_object_set_new(resp->data, "volid", json_string(volid));
	}
}
