/*
 * hxctl storage ...: storage pools and their volumes.
 *
 * DESIGN: the words follow Proxmox's pvesm (list, add, set, remove for
 * pools; content, alloc, free, resize for volumes), so an admin's habits
 * carry over. Volumes are named POOL:NAME as in VM disk configurations;
 * --node picks the node of a node-local pool (default: the node asked).
 * Like every hxctl command it speaks only the HTTP API (docs/api.md).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/hxctl.h"

#define SIZE_MAX_MB INT64_C(67108864) /* 64 TiB, as the API */

/* Runs @req and prints its data (as JSON with --json, else with @print);
 * returns the exit code. */
static int call_print(struct hxctl *c, struct hxctl_req *req,
		      void (*print)(json_t *data))
{
	struct hxctl_resp resp;
	int code = hxctl_call(c, req, &resp);

	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else if (print != NULL)
		print(resp.data);
	hxctl_resp_close(&resp);
	return code;
}

/* "/storage/pools/ESC(pool)[/volumes[/ESC(name)]][SUFFIX]?node=NODE". */
static int pool_path(char *buf, size_t len, const char *pool, const char *name,
		     bool volumes, const char *suffix, const char *node)
{
	char *ep = hxctl_escape(pool), *en = name ? hxctl_escape(name) : NULL;
	int n;

	if (ep == NULL || (name != NULL && en == NULL)) {
		free(ep);
		free(en);
		return -ENOMEM;
	}
	n = snprintf(buf, len, "/storage/pools/%s%s%s%s%s", ep,
		     volumes ? "/volumes" : "", en ? "/" : "", en ? en : "",
		     suffix ? suffix : "");
	free(ep);
	free(en);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return hxctl_query_add(buf, len, "node", node);
}

/* Splits "POOL:NAME". Prints a usage error. */
static bool volid_split(const char *volid, char *pool, size_t plen,
			const char **ret_name)
{
	const char *colon = strchr(volid, ':');

	if (colon == NULL || colon == volid || colon[1] == '\0' ||
	    (size_t)(colon - volid) >= plen) {
		hxctl_warn("'%s' is not a volume: expected POOL:NAME", volid);
		return false;
	}
	memcpy(pool, volid, (size_t)(colon - volid));
	pool[colon - volid] = '\0';
	*ret_name = colon + 1;
	return true;
}

static void bytes_cell(json_t *o, const char *key, char *buf, size_t len)
{
	int64_t v;

	if (hxctl_json_int(o, key, &v) && v >= 0)
		hxctl_fmt_mb((uint64_t)(v >> 20), buf, len);
	else
		snprintf(buf, len, "-");
}

/* " a b" from a JSON array of strings; "-" (or @empty) if none. */
static void words_cell(json_t *arr, const char *empty, char *buf, size_t len)
{
	size_t i, off = 0;
	json_t *e;

	buf[0] = '\0';
	json_array_foreach(arr, i, e) if (json_is_string(e) && off < len) off +=
		(size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
				 json_string_value(e));
	if (off == 0)
		snprintf(buf, len, "%s", empty);
}

/* ---- pools ---- */

static void pools_print(json_t *data)
{
	static const char *const hdr[] = {"NAME",   "TYPE",    "NODE",
					  "AVAIL",  "USED",    "TOTAL",
					  "SHARED", "CONTENT", "PATH"};
	struct hxctl_table *t = hxctl_table_new(hdr, 9);
	json_t *p, *s;
	size_t i, k;

	json_array_foreach(data, i, p)
	{
		char name[64], type[16], node[64], avail[8], used[32],
			total[32], shared[8], content[64], path[600];
		const char *cells[] = {name,  type,   node,    avail, used,
				       total, shared, content, path};

		hxctl_fmt_cell(p, "name", name, sizeof(name));
		hxctl_fmt_cell(p, "type", type, sizeof(type));
		hxctl_fmt_cell(p, "shared", shared, sizeof(shared));
		hxctl_fmt_cell(p, "path", path, sizeof(path));
		words_cell(json_object_get(p, "content"), "-", content,
			   sizeof(content));
		if (json_array_size(json_object_get(p, "status")) == 0) {
			snprintf(node, sizeof(node), "-");
			snprintf(avail, sizeof(avail), "-");
			snprintf(used, sizeof(used), "-");
			snprintf(total, sizeof(total), "-");
			if (t != NULL)
				hxctl_table_add(t, cells);
		}
		json_array_foreach(json_object_get(p, "status"), k, s)
		{
			hxctl_fmt_cell(s, "node", node, sizeof(node));
			hxctl_fmt_cell(s, "available", avail, sizeof(avail));
			bytes_cell(s, "used_bytes", used, sizeof(used));
			bytes_cell(s, "capacity_bytes", total, sizeof(total));
			if (t != NULL)
				hxctl_table_add(t, cells);
		}
	}
	if (t != NULL)
		hxctl_table_print(t, stdout);
	hxctl_table_free(t);
}

static void pool_print(json_t *p)
{
	char buf[1100];
	json_t *s;
	size_t i;

	static const char *const keys[] = {"name", "type", "path", "shared",
					   "digest"};
	for (size_t k = 0; k < HXCTL_ARRAY_SIZE(keys); k++) {
		hxctl_fmt_cell(p, keys[k], buf, sizeof(buf));
		hxctl_kv_print(stdout, keys[k], "%s", buf);
	}
	words_cell(json_object_get(p, "nodes"), "all", buf, sizeof(buf));
	hxctl_kv_print(stdout, "nodes", "%s", buf);
	words_cell(json_object_get(p, "content"), "-", buf, sizeof(buf));
	hxctl_kv_print(stdout, "content", "%s", buf);
	json_array_foreach(json_object_get(p, "status"), i, s)
	{
		char node[64], used[32], total[32], msg[300];

		hxctl_fmt_cell(s, "node", node, sizeof(node));
		bytes_cell(s, "used_bytes", used, sizeof(used));
		bytes_cell(s, "capacity_bytes", total, sizeof(total));
		hxctl_fmt_cell(s, "message", msg, sizeof(msg));
		if (json_is_true(json_object_get(s, "available")))
			hxctl_kv_print(stdout, "status", "%s: %s of %s used",
				       node, used, total);
		else
			hxctl_kv_print(stdout, "status", "%s: unavailable (%s)",
				       node, msg);
	}
}

int hxctl_cmd_storage_list(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET", .path = "/storage/pools"};

	(void)a;
	return call_print(c, &req, pools_print);
}

int hxctl_cmd_storage_show(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_resp resp;
	int code = hxctl_get_object(c, "/storage/pools", a->pos[0], &resp);

	if (code == HXCTL_EXIT_OK) {
		if (c->json)
			hxctl_json_print(resp.data);
		else
			pool_print(resp.data);
	}
	hxctl_resp_close(&resp);
	return code;
}

/* Sets body[@key] from the comma/space-separated option @opt as an array. */
static int words_opt(const struct hxctl_args *a, const char *opt,
		     const char *key, json_t *body)
{
	const char *v = hxctl_args_get(a, opt);
	char *copy, *save = NULL, *w;
	json_t *arr;

	if (v == NULL)
		return 0;
	if ((copy = strdup(v)) == NULL || (arr = json_array()) == NULL) {
		free(copy);
		return -ENOMEM;
	}
	for (w = strtok_r(copy, ", ", &save); w != NULL;
	     w = strtok_r(NULL, ", ", &save))
		json_array_append_new(arr, json_string(w));
	free(copy);
	return json_object_set_new(body, key, arr) < 0 ? -ENOMEM : 0;
}

/* --option KEY=VALUE, repeated, into body.options. */
static int options_opt(const struct hxctl_args *a, json_t *body)
{
	json_t *opts = NULL;
	const char *kv;
	int it = 0;

	while ((kv = hxctl_args_next(a, "option", &it)) != NULL) {
		char key[64];
		const char *val;

		if (hxctl_kv_split(kv, key, sizeof(key), &val) < 0) {
			hxctl_warn("--option: expected KEY=VALUE, got '%s'",
				   kv);
			json_decref(opts);
			return -EINVAL;
		}
		if (opts == NULL && (opts = json_object()) == NULL)
			return -ENOMEM;
		json_object_set_new(opts, key, hxctl_value_parse(val));
	}
	if (opts != NULL && json_object_set_new(body, "options", opts) < 0)
		return -ENOMEM;
	return 0;
}

static int pool_write(struct hxctl *c, const struct hxctl_args *a, bool create)
{
	struct hxctl_req req = {.method = create ? "POST" : "PATCH"};
	json_t *body = json_object();
	char path[512];
	int code, r;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	if (create) {
		const char *type = hxctl_args_get(a, "type");
		const char *p = hxctl_args_get(a, "path");

		if (type == NULL) {
			hxctl_warn("--type is required (dir, btrfs)");
			json_decref(body);
			return HXCTL_EXIT_USAGE;
		}
		json_object_set_new(body, "name", json_string(a->pos[0]));
		json_object_set_new(body, "type", json_string(type));
		if (p != NULL)
			json_object_set_new(body, "path", json_string(p));
		if (hxctl_args_get(a, "shared") != NULL)
			json_object_set_new(body, "shared", json_true());
		snprintf(path, sizeof(path), "/storage/pools");
	} else {
		const char *d = hxctl_args_get(a, "digest");

		if (d != NULL)
			json_object_set_new(body, "digest", json_string(d));
		if (pool_path(path, sizeof(path), a->pos[0], NULL, false, NULL,
			      NULL) < 0) {
			json_decref(body);
			return HXCTL_EXIT_USAGE;
		}
	}
	if ((r = words_opt(a, "nodes", "nodes", body)) < 0 ||
	    (r = words_opt(a, "content", "content", body)) < 0 ||
	    (r = options_opt(a, body)) < 0) {
		json_decref(body);
		return r == -EINVAL ? HXCTL_EXIT_USAGE : HXCTL_EXIT_ERROR;
	}
	req.path = path;
	req.body = body;
	code = call_print(c, &req, pool_print);
	json_decref(body);
	return code;
}

int hxctl_cmd_storage_add(struct hxctl *c, const struct hxctl_args *a)
{
	return pool_write(c, a, true);
}

int hxctl_cmd_storage_set(struct hxctl *c, const struct hxctl_args *a)
{
	return pool_write(c, a, false);
}

int hxctl_cmd_storage_remove(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "DELETE"};
	char path[512];

	if (pool_path(path, sizeof(path), a->pos[0], NULL, false, NULL, NULL) <
	    0)
		return HXCTL_EXIT_USAGE;
	req.path = path;
	return call_print(c, &req, NULL);
}

/* ---- volumes ---- */

static void vol_row(json_t *v, struct hxctl_table *t)
{
	char volid[200], fmt[16], size[32], used[32], users[128], base[140],
		snaps[200];
	const char *cells[] = {volid, fmt, size, used, users, base, snaps};
	json_t *u;
	size_t i, off = 0;

	hxctl_fmt_cell(v, "volid", volid, sizeof(volid));
	hxctl_fmt_cell(v, "format", fmt, sizeof(fmt));
	bytes_cell(v, "size_bytes", size, sizeof(size));
	bytes_cell(v, "used_bytes", used, sizeof(used));
	hxctl_fmt_cell(v, "backing", base, sizeof(base));
	words_cell(json_object_get(v, "snapshots"), "-", snaps, sizeof(snaps));
	users[0] = '\0';
	json_array_foreach(json_object_get(v, "used_by"), i, u)
	{
		int64_t id = 0;
		hxctl_json_int(u, "vmid", &id);
		if (off < sizeof(users))
			off += (size_t)snprintf(users + off,
						sizeof(users) - off, "%s%lld",
						off ? "," : "", (long long)id);
	}
	if (off == 0)
		snprintf(users, sizeof(users), "-");
	hxctl_table_add(t, cells);
}

static void vols_print(json_t *data)
{
	static const char *const hdr[] = {
		"VOLUME", "FORMAT", "SIZE", "USED", "VMS", "BASE", "SNAPSHOTS"};
	struct hxctl_table *t = hxctl_table_new(hdr, 7);
	json_t *v;
	size_t i;

	if (t == NULL)
		return;
	if (json_is_object(data))
		vol_row(data, t);
	else
		json_array_foreach(data, i, v) vol_row(v, t);
	hxctl_table_print(t, stdout);
	hxctl_table_free(t);
}

int hxctl_cmd_storage_content(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET"};
	char path[512];

	if (pool_path(path, sizeof(path), a->pos[0], NULL, true, NULL,
		      hxctl_args_get(a, "node")) < 0)
		return HXCTL_EXIT_USAGE;
	req.path = path;
	return call_print(c, &req, vols_print);
}

/* A volume request: METHOD on POOL:NAME (+ @suffix), with @body. */
static int vol_call(struct hxctl *c, const struct hxctl_args *a,
		    const char *method, const char *suffix, json_t *body,
		    bool name_in_body, void (*print)(json_t *))
{
	struct hxctl_req req = {.method = method, .body = body};
	char pool[64], path[1024];
	const char *name;

	if (!volid_split(a->pos[0], pool, sizeof(pool), &name))
		return HXCTL_EXIT_USAGE;
	if (name_in_body)
		json_object_set_new(body, "name", json_string(name));
	if (pool_path(path, sizeof(path), pool, name_in_body ? NULL : name,
		      true, suffix, hxctl_args_get(a, "node")) < 0)
		return HXCTL_EXIT_USAGE;
	req.path = path;
	return call_print(c, &req, print);
}

/* --size into body.size_mb. */
static bool size_opt(const struct hxctl_args *a, json_t *body)
{
	const char *s = hxctl_args_get(a, "size");
	int64_t mb;

	if (s == NULL) {
		hxctl_warn("--size is required (MiB, or with a G or T suffix)");
		return false;
	}
	if (hxctl_vm_size_parse(s, 1, SIZE_MAX_MB, &mb) < 0) {
		hxctl_warn("--size: '%s' is not a size from 1 MiB to 64 TiB",
			   s);
		return false;
	}
	json_object_set_new(body, "size_mb", json_integer(mb));
	return true;
}

int hxctl_cmd_storage_volume(struct hxctl *c, const struct hxctl_args *a)
{
	return vol_call(c, a, "GET", NULL, NULL, false, vols_print);
}

int hxctl_cmd_storage_alloc(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_object();
	int code = HXCTL_EXIT_USAGE;

	if (body != NULL && size_opt(a, body))
		code = vol_call(c, a, "POST", NULL, body, true, vols_print);
	json_decref(body);
	return code;
}

int hxctl_cmd_storage_free(struct hxctl *c, const struct hxctl_args *a)
{
	return vol_call(c, a, "DELETE", NULL, NULL, false, NULL);
}

int hxctl_cmd_storage_resize(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_object();
	int code = HXCTL_EXIT_USAGE;

	if (body != NULL && size_opt(a, body))
		code = vol_call(c, a, "POST", "/resize", body, false,
				vols_print);
	json_decref(body);
	return code;
}

/* ---- VM snapshots, templates, clones ---- */

#define SNAP_WAIT_S 1800

/* METHOD /vms/VMID/@path with @body as a task: prints "vm VMID: WHAT:
 * task ID" (the data with --json), then with --wait follows it. */
static int vm_task(struct hxctl *c, const struct hxctl_args *a,
		   const char *method, const char *sub, const char *arg,
		   const char *tail, json_t *body, const char *what)
{
	struct hxctl_req req = {.method = method, .body = body};
	bool is_wait = hxctl_args_get(a, "wait") != NULL;
	struct hxctl_resp resp;
	char path[256], *esc = NULL;
	int64_t vmid, task, clone;
	int code, n;

	if ((code = hxctl_vm_ref(c, a->pos[0], &vmid)) != HXCTL_EXIT_OK)
		return code;
	if (arg != NULL && (esc = hxctl_escape(arg)) == NULL)
		return HXCTL_EXIT_ERROR;
	n = snprintf(path, sizeof(path), "/vms/%lld%s%s%s%s", (long long)vmid,
		     sub, esc ? "/" : "", esc ? esc : "", tail);
	free(esc);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		hxctl_warn("snapshot name too long");
		return HXCTL_EXIT_USAGE;
	}
	req.path = path;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
		goto out;
	}
	if (!hxctl_json_int(resp.data, "task", &task)) {
		hxctl_warn("unexpected answer to %s: no task ID", what);
		code = HXCTL_EXIT_ERROR;
		goto out;
	}
	if (c->json && !is_wait)
		hxctl_json_print(resp.data);
	else if (!c->json && hxctl_json_int(resp.data, "clone", &clone))
		printf("vm %lld: %s as VM %lld: task %lld\n", (long long)vmid,
		       what, (long long)clone, (long long)task);
	else if (!c->json)
		printf("vm %lld: %s: task %lld\n", (long long)vmid, what,
		       (long long)task);
	fflush(stdout);
	if (is_wait)
		code = hxctl_task_wait(c, task, SNAP_WAIT_S);
out:
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_vm_snapshot(struct hxctl *c, const struct hxctl_args *a)
{
	const char *d = hxctl_args_get(a, "description");
	json_t *body = json_pack("{s:s}", "name", a->pos[1]);
	int code;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	if (d != NULL)
		json_object_set_new(body, "description", json_string(d));
	code = vm_task(c, a, "POST", "/snapshots", NULL, "", body, "snapshot");
	json_decref(body);
	return code;
}

int hxctl_cmd_vm_rollback(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_task(c, a, "POST", "/snapshots", a->pos[1], "/rollback", NULL,
		       "rollback");
}

int hxctl_cmd_vm_delsnapshot(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_task(c, a, "DELETE", "/snapshots", a->pos[1], "", NULL,
		       "delete snapshot");
}

int hxctl_cmd_vm_template(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_task(c, a, "POST", "/template", NULL, "", NULL, "template");
}

int hxctl_cmd_vm_clone(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_pack("{s:s}", "name", a->pos[1]);
	const char *id = hxctl_args_get(a, "vmid");
	int64_t vmid;
	int code;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	if (hxctl_args_get(a, "full") != NULL &&
	    hxctl_args_get(a, "linked") != NULL) {
		hxctl_warn("--full and --linked exclude each other");
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	if (id != NULL) {
		if (hxctl_parse_int(id, 100, 999999999, &vmid) < 0) {
			hxctl_warn("--vmid: expected 100-999999999, got '%s'",
				   id);
			json_decref(body);
			return HXCTL_EXIT_USAGE;
		}
		json_object_set_new(body, "vmid", json_integer(vmid));
	}
	if (hxctl_args_get(a, "full") != NULL)
		json_object_set_new(body, "linked", json_false());
	if (hxctl_args_get(a, "linked") != NULL)
		json_object_set_new(body, "linked", json_true());
	for (size_t i = 0; i < 3; i++) {
		static const char *const keys[] = {"pool", "format", "node"};
		const char *v = hxctl_args_get(a, keys[i]);

		if (v != NULL)
			json_object_set_new(body, keys[i], json_string(v));
	}
	code = vm_task(c, a, "POST", "/clone", NULL, "", body, "clone");
	json_decref(body);
	return code;
}

/* Prints the children of @parent ("" for roots), indented by @depth. */
static void snap_tree(json_t *list, const char *parent, int depth)
{
	json_t *s;
	size_t i;

	if (depth > 64)
		return;
	json_array_foreach(list, i, s)
	{
		const char *p = hxctl_json_str(s, "parent", "");
		const char *name = hxctl_json_str(s, "name", "?");
		char when[48];
		int64_t ms = 0;

		if (strcmp(p, parent) != 0)
			continue;
		hxctl_json_int(s, "created_at", &ms);
		hxctl_fmt_time(ms, when, sizeof(when));
		printf("%*s%s%s  %s%s  %s\n", 2 * depth, "", name,
		       json_is_true(json_object_get(s, "current"))
			       ? " (current)"
			       : "",
		       when,
		       json_is_true(json_object_get(s, "ram")) ? "  +RAM" : "",
		       hxctl_json_str(s, "description", ""));
		snap_tree(list, name, depth + 1);
	}
}

int hxctl_cmd_vm_snapshots(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET"};
	struct hxctl_resp resp;
	char path[96];
	int64_t vmid;
	int code;

	if ((code = hxctl_vm_ref(c, a->pos[0], &vmid)) != HXCTL_EXIT_OK)
		return code;
	snprintf(path, sizeof(path), "/vms/%lld/snapshots", (long long)vmid);
	req.path = path;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else
		snap_tree(resp.data, "", 0);
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_vm_move_disk(struct hxctl *c, const struct hxctl_args *a)
{
	const char *fmt = hxctl_args_get(a, "format");
	const char *bw = hxctl_args_get(a, "bandwidth");
	json_t *body = json_pack("{s:s}", "pool", a->pos[2]);
	char sub[32];
	int64_t disk, mbps;
	int code;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	if (hxctl_parse_int(a->pos[1], 0, 15, &disk) < 0) {
		hxctl_warn("DISK: an index from 0 to 15, got '%s'", a->pos[1]);
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	if (bw != NULL) {
		if (hxctl_parse_int(bw, 0, 1000000, &mbps) < 0) {
			hxctl_warn("--bandwidth: MiB/s from 0 to 1000000");
			json_decref(body);
			return HXCTL_EXIT_USAGE;
		}
		json_object_set_new(body, "bandwidth_mbps", json_integer(mbps));
	}
	if (fmt != NULL)
		json_object_set_new(body, "format", json_string(fmt));
	if (hxctl_args_get(a, "keep") != NULL)
		json_object_set_new(body, "keep_source", json_true());
	snprintf(sub, sizeof(sub), "/disks/%lld", (long long)disk);
	code = vm_task(c, a, "POST", sub, NULL, "/move", body, "move disk");
	json_decref(body);
	return code;
}

int hxctl_cmd_storage_upload(struct hxctl *c, const struct hxctl_args *a)
{
	const char *sha = hxctl_args_get(a, "sha256");
	const char *name = hxctl_args_get(a, "name");
	struct hxctl_req req = {.method = "PUT",
				.timeout_ms = 6 * 3600 * 1000L};
	char path[1024];
	struct stat st;
	FILE *f;
	int code;

	if (sha == NULL) {
		hxctl_warn("--sha256 HEX is required: the node keeps the file "
			   "only if it matches");
		return HXCTL_EXIT_USAGE;
	}
	if (name == NULL) {
		name = strrchr(a->pos[1], '/');
		name = name != NULL ? name + 1 : a->pos[1];
	}
	if ((f = fopen(a->pos[1], "rb")) == NULL) {
		hxctl_warn("cannot open '%s': %s", a->pos[1], strerror(errno));
		return HXCTL_EXIT_ERROR;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		hxctl_warn("'%s' is not a regular file", a->pos[1]);
		fclose(f);
		return HXCTL_EXIT_ERROR;
	}
	if (pool_path(path, sizeof(path), a->pos[0], NULL, false, NULL, NULL) <
	    0) {
		fclose(f);
		return HXCTL_EXIT_USAGE;
	}
	{
		char *en = hxctl_escape(name);
		size_t n = strlen(path);

		if (en == NULL ||
		    snprintf(path + n, sizeof(path) - n, "/iso/%s", en) >=
			    (int)(sizeof(path) - n)) {
			free(en);
			fclose(f);
			return HXCTL_EXIT_USAGE;
		}
		free(en);
	}
	if (hxctl_query_add(path, sizeof(path), "sha256", sha) < 0) {
		fclose(f);
		return HXCTL_EXIT_USAGE;
	}
	req.path = path;
	req.upload = f;
	req.upload_size = st.st_size;
	code = call_print(c, &req, vols_print);
	fclose(f);
	return code;
}

int hxctl_cmd_storage_download(struct hxctl *c, const struct hxctl_args *a)
{
	const char *sha = hxctl_args_get(a, "sha256");
	const char *name = hxctl_args_get(a, "name");
	struct hxctl_req req = {.method = "POST"};
	struct hxctl_resp resp;
	char path[512];
	json_t *body;
	int64_t task;
	int code;

	if (sha == NULL) {
		hxctl_warn("--sha256 HEX is required: the node keeps the file "
			   "only if it matches");
		return HXCTL_EXIT_USAGE;
	}
	if (name == NULL) {
		name = strrchr(a->pos[1], '/');
		name = name != NULL ? name + 1 : a->pos[1];
	}
	if (pool_path(path, sizeof(path), a->pos[0], NULL, false, "/iso",
		      hxctl_args_get(a, "node")) < 0)
		return HXCTL_EXIT_USAGE;
	body = json_pack("{s:s, s:s, s:s}", "name", name, "url", a->pos[1],
			 "sha256", sha);
	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	req.path = path;
	req.body = body;
	code = hxctl_call(c, &req, &resp);
	json_decref(body);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
	} else if (!hxctl_json_int(resp.data, "task", &task)) {
		hxctl_warn("unexpected answer: no task ID");
		code = HXCTL_EXIT_ERROR;
	} else {
		if (c->json && hxctl_args_get(a, "wait") == NULL)
			hxctl_json_print(resp.data);
		else if (!c->json)
			printf("%s: download: task %lld\n",
			       hxctl_json_str(resp.data, "volid", "?"),
			       (long long)task);
		fflush(stdout);
		if (hxctl_args_get(a, "wait") != NULL)
			code = hxctl_task_wait(c, task, 6 * 3600);
	}
	hxctl_resp_close(&resp);
	return code;
}
