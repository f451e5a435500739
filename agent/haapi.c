/*
 * API handlers for high availability: resources, rules, status, "why",
 * maintenance, and the migrate/relocate commands.
 *
 * DESIGN: reads run anywhere; every change runs on the leader (the routes
 * are R_LEADER, forwarded like other leader-only routes), which serializes
 * the checks against the state the scheduler sees: rules are validated
 * with scheduler_rules_check() over the current state plus the new rule,
 * HA for a VM is refused when N+1 admission is on and the cluster could
 * not absorb the loss of its largest node. Commands go to the leader's
 * loop (ha.c) and the answer says whether the scheduler took them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/vm.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

#define CMD_TIMEOUT_MS 5000

static pthread_mutex_t rules_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- resources ---- */

static json_t *resource_json(const struct statedb_ha_resource *h)
{
	return json_pack(
		"{s:I, s:s, s:i, s:i, s:b, s:i, s:s, s:s, s:{s:s, s:o, s:o, "
		"s:o, s:I, s:b, s:i, s:s, s:I}}",
		"vmid", (json_int_t)h->vmid, "state", h->conf.request,
		"max_restart", h->conf.max_restart, "max_relocate",
		h->conf.max_relocate, "failback", h->conf.failback, "priority",
		h->conf.priority, "comment", h->conf.comment, "digest",
		h->digest, "status", "crm_state",
		h->state[0] ? h->state : "new", "node",
		h->node[0] ? json_string(h->node) : json_null(), "target",
		h->target[0] ? json_string(h->target) : json_null(),
		"maint_node",
		h->maint_node[0] ? json_string(h->maint_node) : json_null(),
		"uid", (json_int_t)h->uid, "confirmed", h->confirmed,
		"restarts", h->restarts, "failed_nodes", h->failed, "since",
		(json_int_t)h->state_ms);
}

static bool vmid_arg(const char *s, int64_t *ret, struct api_resp *resp)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*end != '\0' || end == s || v < STATEDB_VMID_MIN ||
	    v > STATEDB_VMID_MAX) {
		api_error(resp, -EINVAL, "'%s' is not a VMID", s);
		return false;
	}
	*ret = v;
	return true;
}

/* Fields of a resource body into @c; false (response set) if bad. */
static bool config_from_body(json_t *body, struct statedb_ha_config *c,
			     struct api_resp *resp)
{
	static const char *const ints[] = {"max_restart", "max_relocate",
					   "priority"};
	int *fields[] = {&c->max_restart, &c->max_relocate, &c->priority};
	json_t *v;
	struct hx_err err = {0};

	if ((v = json_object_get(body, "state")) != NULL) {
		if (!json_is_string(v) ||
		    json_string_length(v) >= sizeof(c->request)) {
			api_error(resp, -EINVAL,
				  "state: must be started, stopped, disabled "
				  "or ignored");
			return false;
		}
		snprintf(c->request, sizeof(c->request), "%s",
			 json_string_value(v));
	}
	for (size_t i = 0; i < HX_ARRAY_SIZE(ints); i++) {
		if ((v = json_object_get(body, ints[i])) == NULL)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < -1000000 ||
		    json_integer_value(v) > 1000000) {
			api_error(resp, -EINVAL, "%s: must be an integer",
				  ints[i]);
			return false;
		}
		*fields[i] = (int)json_integer_value(v);
	}
	if ((v = json_object_get(body, "failback")) != NULL) {
		if (!json_is_boolean(v)) {
			api_error(resp, -EINVAL,
				  "failback: must be true or false");
			return false;
		}
		c->failback = json_is_true(v);
	}
	if ((v = json_object_get(body, "comment")) != NULL) {
		if (!json_is_string(v) ||
		    json_string_length(v) >= sizeof(c->comment)) {
			api_error(resp, -EINVAL,
				  "comment: a string of at most %zu bytes",
				  sizeof(c->comment) - 1);
			return false;
		}
		snprintf(c->comment, sizeof(c->comment), "%s",
			 json_string_value(v));
	}
	if (statedb_ha_config_check(c, &err) < 0) {
		api_error_from(resp, &err);
		return false;
	}
	return true;
}

void h_ha_resources_list(struct agent *a, struct api_req *req,
			 struct api_resp *resp)
{
	struct statedb_ha_resource *list;
	struct hx_err err = {0};
	unsigned n;

	(void)req;
	if (statedb_ha_resource_list(a->db, &list, &n, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(resp->data, resource_json(&list[i]));
	free(list);
}

/* HA needs the VM's disks on storage every node reaches. */
static bool vm_movable(const struct statedb_vm *vm, struct api_resp *resp)
{
	struct vm_config *c = calloc(1, sizeof(*c));
	struct hx_err err = {0};
	bool ok = false;

	if (c == NULL) {
		api_error(resp, -ENOMEM, "out of memory");
		return false;
	}
	if (vmconf_load(vm->config, c, &err) < 0) {
		api_error_from(resp, &err);
		goto out;
	}
	for (unsigned i = 0; i < c->ndisks; i++) {
		if (strncmp(c->disks[i].volume, "local:", 6) == 0) {
			api_error(resp, -EINVAL,
				  "VM %" PRId64 " has a node-local disk "
				  "(disks[%u] '%s'): HA can only restart VMs "
				  "whose disks every node reaches",
				  vm->vmid, i, c->disks[i].volume);
			goto out;
		}
	}
	ok = true;
out:
	free(c);
	return ok;
}

/* N+1 admission (setting ha.admission): refuses a resource the cluster
 * could not restart after losing its largest node. */
static bool admission(struct agent *a, int64_t vmid, struct api_resp *resp)
{
	struct statedb_ha_snapshot s;
	struct hx_err err = {0};
	char sid[SCHED_NAME_MAX];
	uint32_t svc, lost = SCHED_NONE;
	bool *online = NULL, ok = true;

	if (statedb_ha_load(a->db, &s, &err) < 0) {
		api_error_from(resp, &err);
		return false;
	}
	if (!s.admission)
		goto out;
	snprintf(sid, sizeof(sid), "vm:%" PRId64, vmid);
	svc = scheduler_state_find_service(&s.st, sid);
	online = calloc(s.st.n_nodes + 1, sizeof(*online));
	if (svc == SCHED_NONE || online == NULL)
		goto out;
	for (uint32_t n = 0; n < s.st.n_nodes; n++)
		online[n] = s.st.nodes[n].st.state == SCHED_NODE_ONLINE;
	/* as if it were HA already */
	s.st.svcs[svc].request = SCHED_REQ_STARTED;
	if (scheduler_admission_check(&s.st, svc, online, &lost) == -ENOSPC) {
		api_error(resp, -EBUSY,
			  "N+1 admission (ha.admission): after losing node "
			  "'%s' the cluster could not restart every HA VM "
			  "with VM %" PRId64 " added",
			  lost < s.st.n_nodes ? s.st.nodes[lost].name : "?",
			  vmid);
		ok = false;
	}
out:
	free(online);
	statedb_ha_snapshot_close(&s);
	return ok;
}

void h_ha_resource_add(struct agent *a, struct api_req *req,
		       struct api_resp *resp)
{
	static const char *const allowed[] = {
		"vmid",	    "state",	"max_restart", "max_relocate",
		"failback", "priority", "comment",     NULL};
	struct statedb_ha_config c;
	struct statedb_ha_resource h;
	struct statedb_vm vm;
	struct hx_err err = {0};
	char key[24];
	json_t *v;

	if (!api_body_check(req, resp, allowed, true))
		return;
	v = json_object_get(req->body, "vmid");
	if (!json_is_integer(v)) {
		api_error(resp, -EINVAL, "vmid: the VM's id is required");
		return;
	}
	statedb_ha_config_defaults(&c);
	if (!config_from_body(req->body, &c, resp))
		return;
	snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
		 json_integer_value(v));
	if (statedb_vm_get(a->db, key, &vm, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	bool ok = vm_movable(&vm, resp);
	statedb_vm_clear(&vm);
	if (!ok || (strcmp(c.request, "started") == 0 &&
		    !admission(a, json_integer_value(v), resp)))
		return;
	if (statedb_ha_resource_add(a->db, json_integer_value(v), &c, &err) <
		    0 ||
	    statedb_ha_resource_get(a->db, json_integer_value(v), &h, &err) <
		    0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "ha.resource", key, req->actor,
		    "VM %s is now an HA resource (state %s)", key, c.request);
	ha_loop_kick(a);
	resp->status = 201;
	resp->data = resource_json(&h);
	snprintf(resp->etag, sizeof(resp->etag), "%s", h.digest);
}

void h_ha_resource_get(struct agent *a, struct api_req *req,
		       struct api_resp *resp)
{
	struct statedb_ha_resource h;
	struct hx_err err = {0};
	int64_t vmid;

	if (!vmid_arg(req->arg[0], &vmid, resp))
		return;
	if (statedb_ha_resource_get(a->db, vmid, &h, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = resource_json(&h);
	snprintf(resp->etag, sizeof(resp->etag), "%s", h.digest);
}

void h_ha_resource_patch(struct agent *a, struct api_req *req,
			 struct api_resp *resp)
{
	static const char *const allowed[] = {
		"state",    "max_restart", "max_relocate", "failback",
		"priority", "comment",	   "digest",	   NULL};
	struct statedb_ha_resource h;
	struct hx_err err = {0};
	char digest[80];
	const char *d;
	int64_t vmid;

	if (!vmid_arg(req->arg[0], &vmid, resp) ||
	    !api_body_check(req, resp, allowed, true))
		return;
	d = api_if_match(req, digest, sizeof(digest));
	if (statedb_ha_resource_get(a->db, vmid, &h, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (!config_from_body(req->body, &h.conf, resp))
		return;
	if (statedb_ha_resource_update(a->db, vmid, &h.conf, d, &err) < 0 ||
	    statedb_ha_resource_get(a->db, vmid, &h, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "ha.resource", req->arg[0], req->actor,
		    "HA resource %s changed (state %s)", req->arg[0],
		    h.conf.request);
	ha_loop_kick(a);
	resp->data = resource_json(&h);
	snprintf(resp->etag, sizeof(resp->etag), "%s", h.digest);
}

void h_ha_resource_delete(struct agent *a, struct api_req *req,
			  struct api_resp *resp)
{
	static const char *const allowed[] = {"digest", NULL};
	struct hx_err err = {0};
	char digest[80];
	int64_t vmid;

	if (!vmid_arg(req->arg[0], &vmid, resp) ||
	    !api_body_check(req, resp, allowed, false))
		return;
	if (statedb_ha_resource_delete(a->db, vmid,
				       api_if_match(req, digest, sizeof(digest)),
				       &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "ha.resource", req->arg[0], req->actor,
		    "VM %s is no longer an HA resource; it stays as it is",
		    req->arg[0]);
	ha_loop_kick(a);
	resp->data = json_pack("{s:I}", "vmid", (json_int_t)vmid);
}

/* GET /ha/resources/VMID/why */
void h_ha_resource_why(struct agent *a, struct api_req *req,
		       struct api_resp *resp)
{
	struct statedb_ha_resource h;
	struct hx_err err = {0};
	int64_t vmid;

	if (strcmp(req->arg[1], "why") != 0) {
		api_error(resp, -ENOENT, "no such API path: %s", req->path);
		return;
	}
	if (!vmid_arg(req->arg[0], &vmid, resp))
		return;
	if (statedb_ha_resource_get(a->db, vmid, &h, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_pack(
		"{s:I, s:s, s:o, s:s}", "vmid", (json_int_t)vmid, "crm_state",
		h.state[0] ? h.state : "new", "node",
		h.node[0] ? json_string(h.node) : json_null(), "text",
		h.why[0] ? h.why
			 : "no decision yet: the HA leader has not seen it");
}

/* POST /ha/resources/VMID/migrate|relocate {"node": NAME} */
void h_ha_resource_action(struct agent *a, struct api_req *req,
			  struct api_resp *resp)
{
	static const char *const allowed[] = {"node", NULL};
	bool migrate = strcmp(req->arg[1], "migrate") == 0;
	struct hx_err err = {0};
	int64_t vmid;
	json_t *v;

	if (!migrate && strcmp(req->arg[1], "relocate") != 0) {
		api_error(resp, -ENOENT,
			  "no HA action '%s' (migrate, relocate)", req->arg[1]);
		return;
	}
	if (!vmid_arg(req->arg[0], &vmid, resp) ||
	    !api_body_check(req, resp, allowed, true))
		return;
	v = json_object_get(req->body, "node");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= 64) {
		api_error(resp, -EINVAL, "node: the target node is required");
		return;
	}
	if (ha_command(a, migrate ? HA_CMD_MIGRATE : HA_CMD_RELOCATE, vmid,
		       json_string_value(v), CMD_TIMEOUT_MS, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->status = 202;
	resp->data = json_pack("{s:I, s:s, s:s}", "vmid", (json_int_t)vmid,
			       "action", req->arg[1], "node",
			       json_string_value(v));
}

/* POST /ha/nodes/NAME/maintenance {"enable": BOOL} */
void h_ha_node_maintenance(struct agent *a, struct api_req *req,
			   struct api_resp *resp)
{
	static const char *const allowed[] = {"enable", NULL};
	struct hx_err err = {0};
	json_t *v;

	if (!api_body_check(req, resp, allowed, true))
		return;
	v = json_object_get(req->body, "enable");
	if (!json_is_boolean(v)) {
		api_error(resp, -EINVAL, "enable: must be true or false");
		return;
	}
	if (ha_command(a, json_is_true(v) ? HA_CMD_MAINT_ENABLE
					  : HA_CMD_MAINT_DISABLE,
		       0, req->arg[0], CMD_TIMEOUT_MS, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "ha.maintenance", req->arg[0], req->actor,
		    "maintenance of node '%s' %s", req->arg[0],
		    json_is_true(v) ? "enabled" : "disabled");
	resp->data = json_pack("{s:s, s:b}", "node", req->arg[0],
			       "maintenance", json_is_true(v));
}

/* ---- placement of new VMs ---- */

int agent_ha_place(struct agent *a, int64_t vmid, double cpu, uint64_t mem,
		   char *ret, size_t len, char *why, size_t why_len,
		   struct hx_err *err)
{
	struct statedb_ha_snapshot s;
	struct sched_service conf;
	struct sched_placer *p = NULL;
	struct sched_explain ex;
	uint32_t i, node = SCHED_NONE;
	int r;

	if ((r = statedb_ha_load(a->db, &s, err)) < 0)
		return r;
	scheduler_service_defaults(&conf);
	snprintf(conf.sid, sizeof(conf.sid), "vm:%" PRId64, vmid);
	if (vmid <= 0 || scheduler_state_find_service(&s.st, conf.sid) !=
				 SCHED_NONE)
		snprintf(conf.sid, sizeof(conf.sid), "vm:new");
	conf.cpu = cpu;
	conf.mem = mem;
	r = scheduler_state_add_service(&s.st, &conf, SCHED_NONE, &i);
	if (r == 0)
		r = scheduler_placer_new(&s.st, &s.rules, NULL, &p);
	if (r == 0)
		r = scheduler_placer_place(p, i, SCHED_PREF_BEST, &node, &ex);
	if (r == 0 && node != SCHED_NONE) {
		snprintf(ret, len, "%s", s.st.nodes[node].name);
		s.st.svcs[i].st.why = ex;
		s.st.svcs[i].st.why.reason = SCHED_R_PLACED;
		s.st.svcs[i].st.node = node;
		(void)scheduler_explain_format(&s.st, i, why, why_len);
	} else if (r == 0) {
		r = hx_err_set(err, -ENOSPC, "no node fits");
	} else {
		hx_err_set(err, r, "placement failed");
	}
	scheduler_placer_free(p);
	statedb_ha_snapshot_close(&s);
	return r;
}

/* ---- status ---- */

void h_ha_status(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_ha_resource *res;
	struct statedb_ha_node *nodes;
	struct hx_err err = {0};
	unsigned nr, nn;
	json_t *jn, *js;

	(void)req;
	if (statedb_ha_node_list(a->db, &nodes, &nn, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	if (statedb_ha_resource_list(a->db, &res, &nr, &err) < 0) {
		free(nodes);
		api_error_from(resp, &err);
		return;
	}
	jn = json_array();
	for (unsigned i = 0; i < nn; i++) {
		uint64_t age = ha_leader_lease_age(a, nodes[i].name);
		json_array_append_new(
			jn, json_pack("{s:s, s:s, s:I, s:b, s:o}", "name",
				      nodes[i].name, "state", nodes[i].state,
				      "since", (json_int_t)nodes[i].since_ms,
				      "maintenance", nodes[i].maintenance,
				      "lease_age_ms",
				      age == UINT64_MAX
					      ? json_null()
					      : json_integer((json_int_t)age)));
	}
	js = json_array();
	for (unsigned i = 0; i < nr; i++)
		json_array_append_new(js, resource_json(&res[i]));
	resp->data = json_pack("{s:s, s:o, s:o}", "leader", a->cfg.name,
			       "nodes", jn, "resources", js);
	free(nodes);
	free(res);
}

/* ---- rules ---- */

static const char *rule_type(const struct statedb_ha_rule *r)
{
	return r->kind;
}

static json_t *rule_json(const struct statedb_ha_rule *r)
{
	json_t *res = json_array(), *nodes = json_array(), *j;
	char buf[2048], *save, *t;

	snprintf(buf, sizeof(buf), "%s", r->resources);
	for (t = strtok_r(buf, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save))
		json_array_append_new(res, json_integer(strtoll(t, NULL, 10)));
	snprintf(buf, sizeof(buf), "%s", r->nodes);
	for (t = strtok_r(buf, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save)) {
		char *colon = strchr(t, ':');
		long prio = 0;
		if (colon != NULL) {
			*colon = '\0';
			prio = strtol(colon + 1, NULL, 10);
		}
		json_array_append_new(nodes, json_pack("{s:s, s:i}", "node", t,
						       "priority", (int)prio));
	}
	j = json_pack("{s:s, s:s, s:o, s:b, s:b, s:s, s:s}", "id", r->id,
		      "type", rule_type(r), "resources", res, "strict",
		      r->strict, "disabled", r->disabled, "comment", r->comment,
		      "digest", r->digest);
	if (strcmp(r->kind, "node-affinity") == 0)
		json_object_set_new(j, "nodes", nodes);
	else
		json_decref(nodes);
	if (strcmp(r->kind, "resource-affinity") == 0)
		json_object_set_new(j, "affinity",
				    json_string(r->positive ? "positive"
							    : "negative"));
	return j;
}

static bool rule_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= SCHED_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static bool rule_resources(json_t *v, struct statedb_ha_rule *r,
			   struct api_resp *resp)
{
	size_t i, len = 0;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > 128) {
		api_error(resp, -EINVAL,
			  "resources: a list of 1 to 128 VMIDs is required");
		return false;
	}
	r->resources[0] = '\0';
	json_array_foreach(v, i, e)
	{
		if (!json_is_integer(e) ||
		    json_integer_value(e) < STATEDB_VMID_MIN ||
		    json_integer_value(e) > STATEDB_VMID_MAX) {
			api_error(resp, -EINVAL,
				  "resources[%zu]: must be a VMID", i);
			return false;
		}
		len += (size_t)snprintf(r->resources + len,
					sizeof(r->resources) - len,
					"%s%" JSON_INTEGER_FORMAT,
					len ? " " : "", json_integer_value(e));
	}
	return true;
}

static bool rule_nodes(json_t *v, struct statedb_ha_rule *r,
		       struct api_resp *resp)
{
	size_t i, len = 0;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > 64) {
		api_error(resp, -EINVAL,
			  "nodes: a list of 1 to 64 nodes is required for "
			  "node affinity");
		return false;
	}
	r->nodes[0] = '\0';
	json_array_foreach(v, i, e)
	{
		const char *name = json_is_string(e)
					   ? json_string_value(e)
					   : json_string_value(
						     json_object_get(e, "node"));
		json_t *p = json_is_object(e) ? json_object_get(e, "priority")
					      : NULL;

		if (name == NULL || name[0] == '\0' || strlen(name) > 63 ||
		    strpbrk(name, " :") != NULL ||
		    (p != NULL && (!json_is_integer(p) ||
				   json_integer_value(p) < -1000000 ||
				   json_integer_value(p) > 1000000))) {
			api_error(resp, -EINVAL,
				  "nodes[%zu]: a node name or {\"node\": "
				  "NAME, \"priority\": N}",
				  i);
			return false;
		}
		len += (size_t)snprintf(
			r->nodes + len, sizeof(r->nodes) - len, "%s%s:%d",
			len ? " " : "", name,
			p != NULL ? (int)json_integer_value(p) : 0);
	}
	return true;
}

/* A rule from a body; @r holds the current rule on update. */
static bool rule_from_body(json_t *body, struct statedb_ha_rule *r,
			   bool create, struct api_resp *resp)
{
	json_t *v;

	if (create) {
		v = json_object_get(body, "id");
		if (!json_is_string(v) || !rule_id_ok(json_string_value(v))) {
			api_error(resp, -EINVAL,
				  "id: 1-63 characters of a-z, A-Z, 0-9, "
				  "'-', '_', '.' are required");
			return false;
		}
		snprintf(r->id, sizeof(r->id), "%s", json_string_value(v));
		r->strict = true;
		r->positive = true;
	}
	if ((v = json_object_get(body, "type")) != NULL || create) {
		const char *t = json_string_value(v);
		if (t == NULL || (strcmp(t, "node-affinity") != 0 &&
				  strcmp(t, "resource-affinity") != 0 &&
				  strcmp(t, "order") != 0)) {
			api_error(resp, -EINVAL,
				  "type: node-affinity, resource-affinity or "
				  "order");
			return false;
		}
		snprintf(r->kind, sizeof(r->kind), "%s", t);
	}
	if (((v = json_object_get(body, "resources")) != NULL || create) &&
	    !rule_resources(v, r, resp))
		return false;
	if ((v = json_object_get(body, "nodes")) != NULL &&
	    !rule_nodes(v, r, resp))
		return false;
	if (strcmp(r->kind, "node-affinity") == 0 && r->nodes[0] == '\0') {
		api_error(resp, -EINVAL,
			  "nodes: a node-affinity rule needs nodes");
		return false;
	}
	if (strcmp(r->kind, "node-affinity") != 0 && r->nodes[0] != '\0') {
		api_error(resp, -EINVAL, "nodes: only for node-affinity rules");
		return false;
	}
	if ((v = json_object_get(body, "affinity")) != NULL) {
		const char *t = json_string_value(v);
		if (t == NULL || (strcmp(t, "positive") != 0 &&
				  strcmp(t, "negative") != 0)) {
			api_error(resp, -EINVAL,
				  "affinity: positive or negative");
			return false;
		}
		r->positive = strcmp(t, "positive") == 0;
	}
	static const char *const flags[] = {"strict", "disabled"};
	bool *fields[] = {&r->strict, &r->disabled};
	for (size_t i = 0; i < HX_ARRAY_SIZE(flags); i++) {
		if ((v = json_object_get(body, flags[i])) == NULL)
			continue;
		if (!json_is_boolean(v)) {
			api_error(resp, -EINVAL, "%s: must be true or false",
				  flags[i]);
			return false;
		}
		*fields[i] = json_is_true(v);
	}
	if ((v = json_object_get(body, "comment")) != NULL) {
		if (!json_is_string(v) ||
		    json_string_length(v) >= sizeof(r->comment)) {
			api_error(resp, -EINVAL, "comment: at most %zu bytes",
				  sizeof(r->comment) - 1);
			return false;
		}
		snprintf(r->comment, sizeof(r->comment), "%s",
			 json_string_value(v));
	}
	return true;
}

/*
 * The problems the rules would have with @r added (or replacing the rule
 * of the same id) that they do not have now, checked against the current
 * state. False (400 with every new problem) if there are any.
 */
static bool rule_validate(struct agent *a, const struct statedb_ha_rule *r,
			  struct api_resp *resp)
{
	char(*sids)[SCHED_NAME_MAX] = calloc(256, sizeof(*sids));
	struct sched_node_prio *np = calloc(256, sizeof(*np));
	char *before = calloc(2, 8192), *after = before + 8192;
	struct statedb_ha_snapshot s;
	struct sched_rules rules;
	struct sched_rule sr;
	struct hx_err err = {0};
	bool ok = false;
	int r0;

	scheduler_rules_init(&rules);
	if (sids == NULL || np == NULL || before == NULL) {
		api_error(resp, -ENOMEM, "out of memory");
		goto out_free;
	}
	if (statedb_ha_load(a->db, &s, &err) < 0) {
		api_error_from(resp, &err);
		goto out_free;
	}
	if (statedb_ha_rule_to_sched(r, &sr, sids, np, 256) < 0) {
		api_error(resp, -EINVAL, "rule '%s' is malformed", r->id);
		goto out;
	}
	if (scheduler_rules_check(&s.rules, &s.st, before, 8192) < 0)
		before[0] = '\0';
	for (uint32_t i = 0; i < s.rules.n_rules; i++)
		if (strcmp(s.rules.rules[i].id, r->id) != 0 &&
		    scheduler_rules_add(&rules, &s.rules.rules[i]) < 0)
			goto nomem;
	r0 = scheduler_rules_add(&rules, &sr);
	if (r0 == -EINVAL) {
		api_error(resp, -EINVAL,
			  "rule '%s': resource affinity and order rules need "
			  "at least 2 resources, node affinity at least one "
			  "node",
			  r->id);
		goto out;
	}
	if (r0 < 0 || scheduler_rules_check(&rules, &s.st, after, 8192) < 0)
		goto nomem;
	/* report only what this rule adds */
	char text[1024];
	size_t len = 0;
	for (char *save, *line = strtok_r(after, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strstr(before, line) != NULL)
			continue;
		len += (size_t)snprintf(text + len,
					len < sizeof(text) ? sizeof(text) - len
							   : 0,
					"%s%s", len ? "; " : "", line);
		if (len >= sizeof(text))
			break;
	}
	if (len > 0) {
		api_error(resp, -EINVAL, "%s", text);
		goto out;
	}
	ok = true;
	goto out;
nomem:
	api_error(resp, -ENOMEM, "out of memory");
out:
	statedb_ha_snapshot_close(&s);
out_free:
	scheduler_rules_close(&rules);
	free(before);
	free(np);
	free(sids);
	return ok;
}

void h_ha_rules_list(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	struct statedb_ha_rule *list;
	struct hx_err err = {0};
	unsigned n;

	(void)req;
	if (statedb_ha_rule_list(a->db, &list, &n, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(resp->data, rule_json(&list[i]));
	free(list);
}

void h_ha_rule_get(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_ha_rule *r = calloc(1, sizeof(*r));
	struct hx_err err = {0};

	if (r == NULL) {
		api_error(resp, -ENOMEM, "out of memory");
		return;
	}
	if (statedb_ha_rule_get(a->db, req->arg[0], r, &err) < 0) {
		api_error_from(resp, &err);
	} else {
		resp->data = rule_json(r);
		snprintf(resp->etag, sizeof(resp->etag), "%s", r->digest);
	}
	free(r);
}

static const char *const rule_fields[] = {
	"id",	   "type",   "resources", "nodes",  "affinity",
	"strict", "disabled", "comment",  "digest", NULL};

void h_ha_rule_add(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_ha_rule *r = calloc(1, sizeof(*r));
	struct hx_err err = {0};

	if (r == NULL) {
		api_error(resp, -ENOMEM, "out of memory");
		return;
	}
	pthread_mutex_lock(&rules_lock);
	if (api_body_check(req, resp, rule_fields, true) &&
	    rule_from_body(req->body, r, true, resp) &&
	    rule_validate(a, r, resp)) {
		if (statedb_ha_rule_add(a->db, r, &err) < 0 ||
		    statedb_ha_rule_get(a->db, r->id, r, &err) < 0) {
			api_error_from(resp, &err);
		} else {
			agent_event(a, "ha.rule", r->id, req->actor,
				    "HA rule '%s' (%s) added", r->id, r->kind);
			ha_loop_kick(a);
			resp->status = 201;
			resp->data = rule_json(r);
			snprintf(resp->etag, sizeof(resp->etag), "%s",
				 r->digest);
		}
	}
	pthread_mutex_unlock(&rules_lock);
	free(r);
}

void h_ha_rule_patch(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	struct statedb_ha_rule *r = calloc(1, sizeof(*r));
	struct hx_err err = {0};
	char digest[80];
	const char *d;

	if (r == NULL) {
		api_error(resp, -ENOMEM, "out of memory");
		return;
	}
	pthread_mutex_lock(&rules_lock);
	if (!api_body_check(req, resp, rule_fields + 1, true) ||
	    statedb_ha_rule_get(a->db, req->arg[0], r, &err) < 0) {
		if (err.code < 0)
			api_error_from(resp, &err);
		goto out;
	}
	d = api_if_match(req, digest, sizeof(digest));
	if (!rule_from_body(req->body, r, false, resp) ||
	    !rule_validate(a, r, resp))
		goto out;
	if (statedb_ha_rule_update(a->db, r, d, &err) < 0 ||
	    statedb_ha_rule_get(a->db, r->id, r, &err) < 0) {
		api_error_from(resp, &err);
		goto out;
	}
	agent_event(a, "ha.rule", r->id, req->actor, "HA rule '%s' changed",
		    r->id);
	ha_loop_kick(a);
	resp->data = rule_json(r);
	snprintf(resp->etag, sizeof(resp->etag), "%s", r->digest);
out:
	pthread_mutex_unlock(&rules_lock);
	free(r);
}

void h_ha_rule_delete(struct agent *a, struct api_req *req,
		      struct api_resp *resp)
{
	static const char *const allowed[] = {"digest", NULL};
	struct hx_err err = {0};
	char digest[80];

	if (!api_body_check(req, resp, allowed, false))
		return;
	if (statedb_ha_rule_delete(a->db, req->arg[0],
				   api_if_match(req, digest, sizeof(digest)),
				   &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	agent_event(a, "ha.rule", req->arg[0], req->actor,
		    "HA rule '%s' deleted", req->arg[0]);
	ha_loop_kick(a);
	resp->data = json_pack("{s:s}", "id", req->arg[0]);
}
