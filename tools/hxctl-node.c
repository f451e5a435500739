/*
 * hxctl node ... and hxctl settings ...: nodes, their labels, and the
 * cluster-wide settings.
 *
 * DESIGN: 'node label' is a read-modify-write: the API's PATCH replaces all
 * labels, so hxctl reads the node, applies the user's changes to the labels
 * it read and writes them back with If-Match set to the digest it read. A
 * 412 means someone else changed the node in between; the changes are then
 * applied again to a fresh read, a bounded number of times, since applying
 * KEY=VALUE and --remove KEY to newer labels is what the user asked for.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

/* Attempts of the read-modify-write in 'node label' before giving up. */
#define NODE_LABEL_ATTEMPTS 3

/* GETs /nodes/NAME into @ret; prints a failure. Returns the exit code. */
static int node_get(struct hxctl *c, const char *name, struct hxctl_resp *ret)
{
	return hxctl_get_object(c, "/nodes", name, ret);
}

int hxctl_cmd_node_list(struct hxctl *c, const struct hxctl_args *a)
{
	static const char *const hdr[] = {"NAME",  "ADDRESS",	"ARCH",
					  "CPUS",  "MEMORY",	"ROLE",
					  "STATE", "LAST-SEEN", "LABELS"};
	struct hxctl_req req = {.method = "GET", .path = "/nodes"};
	struct hxctl_table *t = NULL;
	struct hxctl_resp resp;
	json_t *n;
	size_t i;
	int code;

	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
		goto out_close_resp;
	}
	if (c->json) {
		hxctl_json_print(resp.data);
		goto out_close_resp;
	}
	t = hxctl_table_new(hdr, 9);
	if (t == NULL)
		goto err_oom;
	json_array_foreach (resp.data, i, n) {
		char name[128], addr[128], arch[32], cpus[16], mem[32];
		char role[32], state[32], seen[48], labels[1024];
		const char *cells[] = {name, addr,  arch, cpus,	 mem,
				       role, state, seen, labels};
		int64_t v;

		hxctl_fmt_cell(n, "name", name, sizeof(name));
		hxctl_fmt_cell(n, "address", addr, sizeof(addr));
		hxctl_fmt_cell(n, "arch", arch, sizeof(arch));
		hxctl_fmt_cell(n, "cpus", cpus, sizeof(cpus));
		if (hxctl_json_int(n, "memory_mb", &v) && v >= 0)
			hxctl_fmt_mb((uint64_t)v, mem, sizeof(mem));
		else
			snprintf(mem, sizeof(mem), "-");
		hxctl_fmt_cell(n, "role", role, sizeof(role));
		hxctl_fmt_cell(n, "state", state, sizeof(state));
		if (hxctl_json_int(n, "last_seen_ms", &v))
			hxctl_fmt_age(v, seen, sizeof(seen));
		else
			snprintf(seen, sizeof(seen), "-");
		hxctl_fmt_labels(json_object_get(n, "labels"), labels,
				 sizeof(labels));
		if (hxctl_table_add(t, cells) < 0)
			goto err_oom;
	}
	hxctl_table_print(t, stdout);
	goto out_free_table;

err_oom:
	hxctl_warn("out of memory");
	code = HXCTL_EXIT_ERROR;
out_free_table:
	hxctl_table_free(t);
out_close_resp:
	hxctl_resp_close(&resp);
	return code;
}

/* Prints a wall-clock time member as "ISO-date (age)". */
static void print_time(json_t *obj, const char *key, const char *label)
{
	char when[48];
	char age[48];
	int64_t ms;

	if (!hxctl_json_int(obj, key, &ms)) {
		hxctl_kv_print(stdout, label, "-");
		return;
	}
	hxctl_fmt_time(ms, when, sizeof(when));
	hxctl_fmt_age(hxctl_wall_ms() - ms, age, sizeof(age));
	hxctl_kv_print(stdout, label, "%s (%s)", when, age);
}

static void node_print(json_t *n)
{
	static const char *const keys[] = {"name", "id",   "address",
					   "arch", "cpus", "role"};
	char buf[1024];
	int64_t v;

	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(keys); i++) {
		hxctl_fmt_cell(n, keys[i], buf, sizeof(buf));
		hxctl_kv_print(stdout, keys[i], "%s", buf);
	}
	if (hxctl_json_int(n, "memory_mb", &v))
		hxctl_kv_print(stdout, "memory", "%lld MiB", (long long)v);
	else
		hxctl_kv_print(stdout, "memory", "-");
	hxctl_fmt_cell(n, "state", buf, sizeof(buf));
	hxctl_kv_print(stdout, "state", "%s", buf);
	print_time(n, "state_since", "since");
	if (hxctl_json_int(n, "last_seen_ms", &v))
		hxctl_fmt_age(v, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "-");
	hxctl_kv_print(stdout, "last seen", "%s", buf);
	print_time(n, "joined_at", "joined");
	hxctl_fmt_labels(json_object_get(n, "labels"), buf, sizeof(buf));
	hxctl_kv_print(stdout, "labels", "%s", buf);
	hxctl_fmt_cell(n, "digest", buf, sizeof(buf));
	hxctl_kv_print(stdout, "digest", "%s", buf);
}

int hxctl_cmd_node_show(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_resp resp;
	int code;

	code = node_get(c, a->pos[0], &resp);
	if (code == HXCTL_EXIT_OK && c->json)
		hxctl_json_print(resp.data);
	else if (code == HXCTL_EXIT_OK)
		node_print(resp.data);
	hxctl_resp_close(&resp);
	return code;
}

/* PATCHes the labels of node @name with If-Match @digest (may be NULL). */
static int label_write(struct hxctl *c, const char *name, json_t *labels,
		       const char *digest, struct hxctl_resp *ret)
{
	struct hxctl_req req = {.method = "PATCH", .if_match = digest};
	json_t *body = json_pack("{sO}", "labels", labels);
	char *esc = hxctl_escape(name);
	char *path = NULL;
	int code = HXCTL_EXIT_ERROR;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->msg, sizeof(ret->msg), "out of memory");
	if (body != NULL && esc != NULL &&
	    asprintf(&path, "/nodes/%s", esc) >= 0) {
		req.path = path;
		req.body = body;
		code = hxctl_call(c, &req, ret);
		free(path);
	}
	free(esc);
	json_decref(body);
	return code;
}

/* Prints the labels after the change: the server's view if it sent one. */
static void label_print(struct hxctl *c, const char *name, json_t *node,
			json_t *sent)
{
	json_t *labels = json_object_get(node, "labels");
	char buf[2048];

	if (c->json) {
		hxctl_json_print(json_is_object(node) ? node : sent);
		return;
	}
	hxctl_fmt_labels(json_is_object(labels) ? labels : sent, buf,
			 sizeof(buf));
	printf("%s: %s\n", name, buf);
}

/*
 * One read-modify-write of a node's labels. Returns the exit code; a 412 is
 * returned as HXCTL_EXIT_CONFLICT with *ret_stale set and nothing printed.
 */
static int label_once(struct hxctl *c, const struct hxctl_args *a,
		      const char *const *remove, int nremove, bool *ret_stale)
{
	struct hxctl_resp node;
	struct hxctl_resp resp = {0};
	const char *digest;
	json_t *labels;
	int code;

	*ret_stale = false;
	code = node_get(c, a->pos[0], &node);
	if (code != HXCTL_EXIT_OK)
		goto out_close_node;
	labels = json_deep_copy(json_object_get(node.data, "labels"));
	if (!json_is_object(labels)) {
		json_decref(labels);
		labels = json_object();
	}
	/* Checked by the caller already: fails only without memory. */
	if (hxctl_labels_merge(labels, a->pos + 1, a->npos - 1, remove, nremove,
			       NULL, 0) < 0) {
		hxctl_warn("out of memory");
		code = HXCTL_EXIT_ERROR;
		goto out_free_labels;
	}
	digest = node.etag[0] != '\0'
			 ? node.etag
			 : hxctl_json_str(node.data, "digest", NULL);
	code = label_write(c, a->pos[0], labels, digest, &resp);
	if (code == HXCTL_EXIT_OK)
		label_print(c, a->pos[0], resp.data, labels);
	else if (resp.status == 412)
		*ret_stale = true;
	else
		hxctl_fail(&resp, code);
	hxctl_resp_close(&resp);
out_free_labels:
	json_decref(labels);
out_close_node:
	hxctl_resp_close(&node);
	return code;
}

/* Checks the changes before talking to the server. */
static bool label_check(const struct hxctl_args *a, const char *const *remove,
			int nremove)
{
	json_t *scratch = json_object();
	char errbuf[256] = "out of memory";
	bool is_ok;

	is_ok = scratch != NULL &&
		hxctl_labels_merge(scratch, a->pos + 1, a->npos - 1, remove,
				   nremove, errbuf, sizeof(errbuf)) == 0;
	if (!is_ok)
		hxctl_warn("%s", errbuf);
	json_decref(scratch);
	return is_ok;
}

int hxctl_cmd_node_label(struct hxctl *c, const struct hxctl_args *a)
{
	const char **remove = calloc((size_t)a->nopts + 1, sizeof(*remove));
	const char *key;
	int nremove = 0;
	int iter = 0;
	bool is_stale = false;
	int code = HXCTL_EXIT_USAGE;

	if (remove == NULL) {
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	while ((key = hxctl_args_next(a, "remove", &iter)) != NULL)
		remove[nremove++] = key;
	if (a->npos < 2 && nremove == 0) {
		hxctl_warn("nothing to change: give KEY=VALUE or --remove KEY");
		goto out_free_remove;
	}
	if (!label_check(a, remove, nremove))
		goto out_free_remove;
	for (int i = 0; i < NODE_LABEL_ATTEMPTS; i++) {
		code = label_once(c, a, remove, nremove, &is_stale);
		if (!is_stale)
			goto out_free_remove;
		if (i + 1 < NODE_LABEL_ATTEMPTS)
			hxctl_warn("node '%s' changed while updating its "
				   "labels; retrying",
				   a->pos[0]);
	}
	hxctl_warn("node '%s' kept changing while updating its labels (412 "
		   "precondition failed); nothing changed, try again",
		   a->pos[0]);
out_free_remove:
	free(remove);
	return code;
}

int hxctl_cmd_settings_show(struct hxctl *c, const struct hxctl_args *a)
{
	static const char *const hdr[] = {"KEY", "VALUE"};
	struct hxctl_req req = {.method = "GET", .path = "/settings"};
	struct hxctl_table *t = NULL;
	struct hxctl_resp resp;
	json_t *settings;
	const char *keys[256];
	size_t n;
	int code;

	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK || c->json) {
		if (code != HXCTL_EXIT_OK)
			hxctl_fail(&resp, code);
		else
			hxctl_json_print(resp.data);
		goto out_close_resp;
	}
	settings = json_object_get(resp.data, "settings");
	n = hxctl_json_keys(settings, keys, HXCTL_ARRAY_SIZE(keys));
	t = hxctl_table_new(hdr, 2);
	for (size_t i = 0; t != NULL && i < n; i++) {
		char val[512];
		const char *cells[] = {keys[i], val};

		hxctl_fmt_cell(settings, keys[i], val, sizeof(val));
		if (hxctl_table_add(t, cells) < 0) {
			hxctl_table_free(t);
			t = NULL;
		}
	}
	if (t == NULL) {
		hxctl_warn("out of memory");
		code = HXCTL_EXIT_ERROR;
	} else {
		hxctl_table_print(t, stdout);
	}
	hxctl_table_free(t);
out_close_resp:
	hxctl_resp_close(&resp);
	return code;
}

/* Builds {"settings": {KEY: VALUE...}} from the KEY=VALUE arguments. */
static int settings_body(const struct hxctl_args *a, json_t **ret)
{
	json_t *settings = json_object();
	json_t *body = json_pack("{so}", "settings", settings);
	const char *val;
	char key[256];

	if (body == NULL) {
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	for (int i = 0; i < a->npos; i++) {
		json_t *v;

		if (hxctl_kv_split(a->pos[i], key, sizeof(key), &val) < 0) {
			hxctl_warn("expected KEY=VALUE, got '%s'", a->pos[i]);
			json_decref(body);
			return HXCTL_EXIT_USAGE;
		}
		v = hxctl_value_parse(val);
		if (v == NULL || json_object_set_new(settings, key, v) < 0) {
			hxctl_warn("'%s' is not valid UTF-8", a->pos[i]);
			json_decref(body);
			return HXCTL_EXIT_USAGE;
		}
	}
	*ret = body;
	return HXCTL_EXIT_OK;
}

int hxctl_cmd_settings_set(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "PATCH", .path = "/settings"};
	struct hxctl_resp resp;
	json_t *body = NULL;
	json_t *sent;
	json_t *now;
	const char *keys[256];
	size_t n;
	int code;

	code = settings_body(a, &body);
	if (code != HXCTL_EXIT_OK)
		return code;
	req.body = body;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
		goto out_close_resp;
	}
	if (c->json) {
		hxctl_json_print(resp.data);
		goto out_close_resp;
	}
	/* Show what the server now holds for the keys we set, if it said. */
	sent = json_object_get(body, "settings");
	now = json_object_get(resp.data, "settings");
	if (!json_is_object(now))
		now = sent;
	n = hxctl_json_keys(sent, keys, HXCTL_ARRAY_SIZE(keys));
	for (size_t i = 0; i < n; i++) {
		char val[512];

		hxctl_fmt_cell(now, keys[i], val, sizeof(val));
		printf("%s = %s\n", keys[i], val);
	}
out_close_resp:
	hxctl_resp_close(&resp);
	json_decref(body);
	return code;
}
