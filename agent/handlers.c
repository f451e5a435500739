/* API handlers: cluster, nodes, settings, tasks, events. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

static bool name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Reads an optional string field; false (and a 400) if of the wrong type. */
static bool body_str(struct api_req *req, struct api_resp *resp,
		     const char *key, const char **ret)
{
	json_t *v = req->body != NULL ? json_object_get(req->body, key) : NULL;

	*ret = NULL;
	if (v == NULL)
		return true;
	if (!json_is_string(v)) {
		api_error(resp, -EINVAL, "field '%s' must be a string", key);
		return false;
	}
	*ret = json_string_value(v);
	return true;
}

static bool query_uint(struct api_req *req, struct api_resp *resp,
		       const char *key, long long def, long long max,
		       long long *ret)
{
	char buf[32], *end = buf;
	long long v = -1;
	int r;

	*ret = def;
	if ((r = api_query(req, key, buf, sizeof(buf))) == 0)
		return true;
	if (r > 0)
		v = strtoll(buf, &end, 10);
	if (end == buf || *end != '\0' || v < 0 || v > max) {
		api_error(resp, -EINVAL,
			  "query parameter '%s' must be an integer between 0 "
			  "and %lld",
			  key, max);
		return false;
	}
	*ret = v;
	return true;
}

/* ---- cluster ---- */

static json_t *member_json(struct agent *a, const struct statedb_node *n,
			   const struct statedb_member *m, unsigned nm,
			   uint64_t now, bool is_leader)
{
	const char *role = "none";
	uint64_t age;
	json_t *labels, *j;

	for (unsigned i = 0; i < nm; i++)
		if (m[i].id == n->id)
			role = statedb_role_name(m[i].role);
	age = liveness_age(a->live, n->id, now);
	labels = json_loads(n->labels, 0, NULL);
	j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:I, s:o, s:I, s:s}",
		      "id", (json_int_t)n->id, "name", n->name, "address",
		      n->address, "role", role, "arch", n->arch, "cpus", n->cpus,
		      "memory_mb", (json_int_t)n->memory_mb, "labels",
		      labels != NULL ? labels : json_object(), "joined_at",
		      (json_int_t)n->joined_ms, "digest", n->digest);
	if (is_leader) {
		json_object_set_new(
			j, "state",
			json_string(liveness_state_name(liveness_state_of(
				age, a->unknown_after_ms, a->offline_after_ms))));
		json_object_set_new(j, "last_seen_ms",
				    age == UINT64_MAX ? json_null()
						      : json_integer((json_int_t)age));
	} else {
		json_object_set_new(j, "state", json_string("unknown"));
		json_object_set_new(j, "last_seen_ms", json_null());
	}
	return j;
}

/* Builds the member list; @is_leader says whether liveness is ours. */
static int members_json(struct agent *a, bool is_leader, json_t **ret,
			uint64_t *ret_leader, unsigned *ret_voters,
			unsigned *ret_online, struct hx_err *err)
{
	struct statedb_member *m = NULL;
	struct statedb_node *nodes = NULL;
	unsigned nm = 0, nn = 0, voters = 0, online = 0;
	uint64_t now = hx_now_ms();
	json_t *arr;
	int r;

	if ((r = statedb_members(a->db, &m, &nm, ret_leader, err)) < 0)
		return r;
	if ((r = statedb_node_list(a->db, &nodes, &nn, err)) < 0) {
		free(m);
		return r;
	}
	arr = json_array();
	for (unsigned i = 0; i < nn; i++) {
		json_t *j = member_json(a, &nodes[i], m, nm, now, is_leader);
		if (strcmp(json_string_value(json_object_get(j, "role")),
			   "voter") == 0) {
			voters++;
			online += strcmp(json_string_value(
						 json_object_get(j, "state")),
					 "online") == 0;
		}
		json_array_append_new(arr, j);
	}
	free(m);
	free(nodes);
	*ret = arr;
	*ret_voters = voters;
	*ret_online = online;
	return 0;
}

void h_cluster_get(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct hx_err err = {0};
	unsigned voters = 0, online = 0;
	uint64_t leader_id = 0;
	bool is_leader;
	json_t *members, *leader = json_null();
	size_t i;
	json_t *mj;

	if (!a->ident.initialized) {
		resp->data = json_pack("{s:b, s:n, s:[], s:i}", "initialized",
				       0, "name", "members", "schema_version",
				       STATEDB_SCHEMA_VERSION);
		return;
	}
	is_leader = agent_is_leader(a, NULL, 0);
	if (members_json(a, is_leader, &members, &leader_id, &voters, &online,
			 &err) < 0) {
		/* No quorum: say so, with what this node knows. */
		resp->data = json_pack(
			"{s:b, s:s, s:n, s:b, s:s, s:[]}", "initialized", 1,
			"name", a->ident.cluster, "leader", "quorum", 0,
			"error", err.msg, "members");
		return;
	}
	json_array_foreach(members, i, mj)
	{
		if ((uint64_t)json_integer_value(json_object_get(mj, "id")) ==
		    leader_id)
			leader = json_pack(
				"{s:I, s:s, s:s}", "id", (json_int_t)leader_id,
				"name",
				json_string_value(json_object_get(mj, "name")),
				"address",
				json_string_value(json_object_get(mj, "address")));
	}
	resp->data = json_pack("{s:b, s:s, s:i, s:o, s:b, s:i, s:i, s:o}",
			       "initialized", 1, "name", a->ident.cluster,
			       "schema_version", STATEDB_SCHEMA_VERSION,
			       "leader", leader, "quorum", leader_id != 0,
			       "voters", voters, "voters_online", online,
			       "members", members);
	(void)req;
}

void h_cluster_init(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"name", NULL};
	struct hx_err err = {0};
	const char *name;
	char token[128];

	if (!api_body_check(req, resp, allowed, false) ||
	    !body_str(req, resp, "name", &name))
		return;
	if (name == NULL)
		name = "horcrux";
	if (!name_ok(name, 63)) {
		api_error(resp, -EINVAL,
			  "cluster name '%s' must be 1-63 characters of a-z, "
			  "0-9 and '-'",
			  name);
		return;
	}
	if (agent_cluster_init(a, name, token, sizeof(token), &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->status = 201;
	resp->data = json_pack("{s:s, s:s}", "name", name, "admin_token", token);
}

void h_cluster_tokens(struct agent *a, struct api_req *req,
		      struct api_resp *resp)
{
	static const char *const allowed[] = {"ttl", NULL};
	struct hx_err err = {0};
	json_int_t ttl = 3600;
	int64_t expires;
	char token[512];
	json_t *v;

	if (!api_body_check(req, resp, allowed, false))
		return;
	v = req->body != NULL ? json_object_get(req->body, "ttl") : NULL;
	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 60 ||
		    json_integer_value(v) > 86400) {
			api_error(resp, -EINVAL,
				  "field 'ttl' must be an integer number of "
				  "seconds between 60 and 86400");
			return;
		}
		ttl = json_integer_value(v);
	}
	if (agent_cluster_token(a, ttl, token, sizeof(token), &expires, &err) <
	    0) {
		api_error_from(resp, &err);
		return;
	}
	resp->status = 201;
	resp->data = json_pack("{s:s, s:I}", "token", token, "expires_at",
			       (json_int_t)expires);
}

void h_cluster_join(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"address", "token", NULL};
	struct statedb_member *m = NULL;
	struct hx_err err = {0};
	const char *address, *token, *role = "unknown";
	unsigned n = 0;

	if (!api_body_check(req, resp, allowed, true) ||
	    !body_str(req, resp, "address", &address) ||
	    !body_str(req, resp, "token", &token))
		return;
	if (address == NULL || token == NULL) {
		api_error(resp, -EINVAL, "fields 'address' and 'token' are "
					 "required");
		return;
	}
	if (agent_cluster_join(a, address, token, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	/* The join returned once the leader gave this node a role. */
	if (statedb_members(a->db, &m, &n, NULL, NULL) == 0) {
		for (unsigned i = 0; i < n; i++)
			if (m[i].id == a->ident.id)
				role = statedb_role_name(m[i].role);
		free(m);
	}
	resp->status = 201;
	resp->data = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id",
			       (json_int_t)a->ident.id, "name", a->cfg.name,
			       "address", a->cfg.address, "cluster",
			       a->ident.cluster, "role", role);
}

void h_cluster_leave(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	static const char *const allowed[] = {NULL};
	struct hx_err err = {0};

	if (!api_body_check(req, resp, allowed, false))
		return;
	if (agent_cluster_leave(a, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_pack("{s:s}", "left", a->ident.cluster);
	resp->exit_after = true; /* hxd stops once the client has its answer */
}

void h_cluster_remove(struct agent *a, struct api_req *req,
		      struct api_resp *resp)
{
	static const char *const allowed[] = {"node", NULL};
	struct hx_err err = {0};
	const char *node;

	if (!api_body_check(req, resp, allowed, true) ||
	    !body_str(req, resp, "node", &node))
		return;
	if (node == NULL || !name_ok(node, 63)) {
		api_error(resp, -EINVAL, "field 'node' must be a node name");
		return;
	}
	if (agent_cluster_remove(a, node, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_pack("{s:s}", "removed", node);
}

/* ---- nodes ---- */

void h_nodes_list(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct hx_err err = {0};
	unsigned voters, online;
	uint64_t leader;
	json_t *arr;

	if (members_json(a, agent_is_leader(a, NULL, 0), &arr, &leader, &voters,
			 &online, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = arr;
	(void)req;
}

void h_node_get(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_member *m = NULL;
	struct statedb_node node;
	struct hx_err err = {0};
	unsigned nm = 0;

	if (statedb_node_get(a->db, req->arg[0], &node, &err) < 0 ||
	    statedb_members(a->db, &m, &nm, NULL, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = member_json(a, &node, m, nm, hx_now_ms(),
				 agent_is_leader(a, NULL, 0));
	snprintf(resp->etag, sizeof(resp->etag), "%s", node.digest);
	free(m);
}

static bool label_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		      (k[i] >= '0' && k[i] <= '9') || strchr("_.-", k[i])))
			return false;
	return true;
}

void h_node_patch(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const char *const allowed[] = {"labels", "digest", NULL};
	struct hx_err err = {0};
	char digest[80], *text;
	const char *key;
	json_t *labels, *v;

	if (!api_body_check(req, resp, allowed, true))
		return;
	labels = json_object_get(req->body, "labels");
	if (!json_is_object(labels)) {
		api_error(resp, -EINVAL, "field 'labels' must be an object");
		return;
	}
	if (json_object_size(labels) > 32) {
		api_error(resp, -EINVAL, "at most 32 labels");
		return;
	}
	json_object_foreach(labels, key, v)
	{
		if (!label_key_ok(key)) {
			api_error(resp, -EINVAL,
				  "label key '%s' must be 1-63 characters of "
				  "a-z, 0-9, '_', '.' and '-'",
				  key);
			return;
		}
		if (!json_is_string(v) || strlen(json_string_value(v)) > 255) {
			api_error(resp, -EINVAL,
				  "label '%s' must be a string of at most 255 "
				  "characters",
				  key);
			return;
		}
	}
	text = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS);
	if (statedb_node_set_labels(a->db, req->arg[0], text,
				    api_if_match(req, digest, sizeof(digest)),
				    &err) < 0) {
		free(text);
		api_error_from(resp, &err);
		return;
	}
	free(text);
	h_node_get(a, req, resp);
}

/* ---- settings ---- */

static json_t *settings_json(const struct statedb_settings *s)
{
	json_t *kv = json_object();

	for (unsigned i = 0; i < s->n; i++)
		json_object_set_new(kv, s->keys[i],
				    json_integer((json_int_t)s->values[i]));
	return json_pack("{s:o, s:s}", "settings", kv, "digest", s->digest);
}

void h_settings_get(struct agent *a, struct api_req *req,
		    struct api_resp *resp)
{
	struct statedb_settings s;
	struct hx_err err = {0};

	if (statedb_settings_get(a->db, &s, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = settings_json(&s);
	snprintf(resp->etag, sizeof(resp->etag), "%s", s.digest);
	(void)req;
}

void h_settings_patch(struct agent *a, struct api_req *req,
		      struct api_resp *resp)
{
	static const char *const allowed[] = {"settings", "digest", NULL};
	const char *keys[32];
	int64_t values[32];
	struct hx_err err = {0};
	char digest[80];
	unsigned n = 0;
	const char *key;
	json_t *kv, *v;

	if (!api_body_check(req, resp, allowed, true))
		return;
	kv = json_object_get(req->body, "settings");
	if (!json_is_object(kv) || json_object_size(kv) == 0 ||
	    json_object_size(kv) > 32) {
		api_error(resp, -EINVAL,
			  "field 'settings' must be an object with 1 to 32 "
			  "keys");
		return;
	}
	json_object_foreach(kv, key, v)
	{
		if (!json_is_integer(v)) {
			api_error(resp, -EINVAL,
				  "setting '%s' must be an integer", key);
			return;
		}
		keys[n] = key;
		values[n++] = json_integer_value(v);
	}
	if (statedb_settings_update(a->db, keys, values, n,
				    api_if_match(req, digest, sizeof(digest)),
				    &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "settings.update", "settings", req->actor,
		    "%u setting(s) changed", n);
	h_settings_get(a, req, resp);
}

/* ---- tasks and events ---- */

static json_t *task_json(const struct statedb_task *t)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:o, s:s}",
			 "id", (json_int_t)t->id, "kind", t->kind, "node",
			 t->node, "subject", t->subject, "state", t->state,
			 "progress", t->progress, "message", t->message,
			 "started_at", (json_int_t)t->started_ms, "ended_at",
			 t->ended_ms > 0 ? json_integer((json_int_t)t->ended_ms)
					 : json_null(),
			 "actor", t->actor);
}

void h_tasks_list(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_task *tasks;
	struct hx_err err = {0};
	char state[16];
	bool has_state;
	long long limit;
	unsigned n;
	json_t *arr;
	int r;

	if (!query_uint(req, resp, "limit", 100, 1000, &limit))
		return;
	r = api_query(req, "state", state, sizeof(state));
	has_state = r > 0;
	if (r < 0 || (has_state && strcmp(state, "running") &&
		      strcmp(state, "ok") && strcmp(state, "error"))) {
		api_error(resp, -EINVAL,
			  "query parameter 'state' must be running, ok or "
			  "error");
		return;
	}
	if (statedb_task_list(a->db, has_state ? state : NULL, (unsigned)limit,
			      &tasks, &n, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	arr = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(arr, task_json(&tasks[i]));
	free(tasks);
	resp->data = arr;
}

void h_task_get(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_task_line *lines;
	struct statedb_task t;
	struct hx_err err = {0};
	unsigned n;
	char *end;
	long long id = strtoll(req->arg[0], &end, 10);
	json_t *j, *log;

	if (*end != '\0' || id <= 0) {
		api_error(resp, -ENOENT, "no task '%s'", req->arg[0]);
		return;
	}
	if (statedb_task_get(a->db, id, &t, &lines, &n, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	j = task_json(&t);
	log = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(log, json_pack("{s:I, s:s}", "time",
						     (json_int_t)lines[i].time_ms,
						     "line", lines[i].line));
	free(lines);
	json_object_set_new(j, "log", log);
	resp->data = j;
}

void h_events_list(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_event *ev;
	struct hx_err err = {0};
	long long since, limit;
	char subject[128];
	bool has_subject;
	unsigned n;
	json_t *arr;
	int r;

	if (!query_uint(req, resp, "since", 0, INT64_MAX, &since) ||
	    !query_uint(req, resp, "limit", 100, 1000, &limit))
		return;
	r = api_query(req, "subject", subject, sizeof(subject));
	if (r < 0) {
		api_error(resp, -EINVAL,
			  "query parameter 'subject' is too long");
		return;
	}
	has_subject = r > 0;
	if (statedb_event_list(a->db, since, (unsigned)limit,
			       has_subject ? subject : NULL, &ev, &n, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	arr = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(
			arr, json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}",
				       "id", (json_int_t)ev[i].id, "time",
				       (json_int_t)ev[i].time_ms, "node",
				       ev[i].node, "kind", ev[i].kind, "subject",
				       ev[i].subject, "message", ev[i].message,
				       "actor", ev[i].actor));
	free(ev);
	resp->data = arr;
}
