/*
 * hxctl ha ...: high availability resources, rules, status, "why",
 * maintenance and moves (docs/api.md, /ha/...).
 *
 * DESIGN: one small function per command, each one API call; 'ha rule'
 * takes its verb (list, show, add, set, delete) as the first argument so
 * that rules read like the other two-word commands.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

/* Calls @method @path with @body (borrowed) and prints the data (as JSON
 * with --json, else @ok_msg). Returns the exit code. */
static int ha_call(struct hxctl *c, const char *method, const char *path,
		   json_t *body, const char *if_match, const char *ok_msg)
{
	struct hxctl_req req = {.method = method, .path = path, .body = body,
				.if_match = if_match};
	struct hxctl_resp resp;
	int code = hxctl_call(c, &req, &resp);

	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else if (ok_msg != NULL)
		printf("%s\n", ok_msg);
	hxctl_resp_close(&resp);
	return code;
}

/* The resource options into @body; HXCTL_EXIT_USAGE on a bad value. */
static int resource_body(const struct hxctl_args *a, json_t *body)
{
	static const char *const ints[][2] = {{"max-restart", "max_restart"},
					      {"max-relocate", "max_relocate"},
					      {"priority", "priority"}};
	const char *v;

	if ((v = hxctl_args_get(a, "state")) != NULL)
		json_object_set_new(body, "state", json_string(v));
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(ints); i++) {
		int64_t n;

		if ((v = hxctl_args_get(a, ints[i][0])) == NULL)
			continue;
		if (hxctl_parse_int(v, -1000000, 1000000, &n) < 0) {
			hxctl_warn("--%s: '%s' is not a number", ints[i][0], v);
			return HXCTL_EXIT_USAGE;
		}
		json_object_set_new(body, ints[i][1], json_integer(n));
	}
	if (hxctl_args_get(a, "failback") != NULL)
		json_object_set_new(body, "failback", json_true());
	if (hxctl_args_get(a, "no-failback") != NULL)
		json_object_set_new(body, "failback", json_false());
	if ((v = hxctl_args_get(a, "comment")) != NULL)
		json_object_set_new(body, "comment", json_string(v));
	return HXCTL_EXIT_OK;
}

static int vm_path(struct hxctl *c, const char *arg, const char *suffix,
		   char *buf, size_t len, int64_t *ret_vmid)
{
	int64_t vmid;
	int code = hxctl_vm_ref(c, arg, &vmid);

	if (code != HXCTL_EXIT_OK)
		return code;
	snprintf(buf, len, "/ha/resources/%" PRId64 "%s", vmid, suffix);
	if (ret_vmid != NULL)
		*ret_vmid = vmid;
	return HXCTL_EXIT_OK;
}

int hxctl_cmd_ha_add(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_object();
	char path[64], msg[96];
	int64_t vmid;
	int code;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	code = vm_path(c, a->pos[0], "", path, sizeof(path), &vmid);
	if (code == HXCTL_EXIT_OK)
		code = resource_body(a, body);
	if (code == HXCTL_EXIT_OK) {
		json_object_set_new(body, "vmid", json_integer(vmid));
		snprintf(msg, sizeof(msg), "VM %" PRId64 " is an HA resource",
			 vmid);
		code = ha_call(c, "POST", "/ha/resources", body, NULL, msg);
	}
	json_decref(body);
	return code;
}

int hxctl_cmd_ha_set(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_object();
	char path[64];
	int code;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	code = vm_path(c, a->pos[0], "", path, sizeof(path), NULL);
	if (code == HXCTL_EXIT_OK)
		code = resource_body(a, body);
	if (code == HXCTL_EXIT_OK && json_object_size(body) == 0) {
		hxctl_warn("nothing to change");
		code = HXCTL_EXIT_USAGE;
	}
	if (code == HXCTL_EXIT_OK)
		code = ha_call(c, "PATCH", path, body,
			       hxctl_args_get(a, "digest"), "changed");
	json_decref(body);
	return code;
}

int hxctl_cmd_ha_remove(struct hxctl *c, const struct hxctl_args *a)
{
	char path[64];
	int code = vm_path(c, a->pos[0], "", path, sizeof(path), NULL);

	if (code != HXCTL_EXIT_OK)
		return code;
	return ha_call(c, "DELETE", path, NULL, hxctl_args_get(a, "digest"),
		       "removed from HA (the VM stays as it is)");
}

static void resource_row(json_t *r, char cells[7][96])
{
	json_t *st = json_object_get(r, "status");

	hxctl_fmt_cell(r, "vmid", cells[0], 96);
	hxctl_fmt_cell(r, "state", cells[1], 96);
	hxctl_fmt_cell(st, "crm_state", cells[2], 96);
	hxctl_fmt_cell(st, "node", cells[3], 96);
	hxctl_fmt_cell(st, "target", cells[4], 96);
	hxctl_fmt_cell(r, "priority", cells[5], 96);
	hxctl_fmt_cell(st, "failed_nodes", cells[6], 96);
}

static int resource_table(json_t *list)
{
	static const char *const hdr[] = {"VMID",   "REQUEST",	"CRM-STATE",
					  "NODE",   "TARGET",	"PRIORITY",
					  "FAILED"};
	struct hxctl_table *t = hxctl_table_new(hdr, 7);
	json_t *r;
	size_t i;

	json_array_foreach (list, i, r) {
		char cells[7][96];
		const char *p[7];

		resource_row(r, cells);
		for (int k = 0; k < 7; k++)
			p[k] = cells[k][0] ? cells[k] : "-";
		if (t == NULL || hxctl_table_add(t, p) < 0)
			break;
	}
	if (t == NULL) {
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	hxctl_table_print(t, stdout);
	hxctl_table_free(t);
	return HXCTL_EXIT_OK;
}

int hxctl_cmd_ha_list(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET", .path = "/ha/resources"};
	struct hxctl_resp resp;
	int code = hxctl_call(c, &req, &resp);

	(void)a;
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else
		code = resource_table(resp.data);
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_ha_show(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET"};
	struct hxctl_resp resp;
	char path[64];
	int code = vm_path(c, a->pos[0], "", path, sizeof(path), NULL);

	if (code != HXCTL_EXIT_OK)
		return code;
	req.path = path;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
	} else if (c->json) {
		hxctl_json_print(resp.data);
	} else {
		static const char *const keys[] = {
			"vmid",	    "state",	"max_restart", "max_relocate",
			"failback", "priority", "comment",     "digest"};
		static const char *const skeys[] = {
			"crm_state", "node",	  "target",	  "maint_node",
			"uid",	     "confirmed", "restarts", "failed_nodes"};
		json_t *st = json_object_get(resp.data, "status");
		char buf[512];

		for (size_t i = 0; i < HXCTL_ARRAY_SIZE(keys); i++) {
			hxctl_fmt_cell(resp.data, keys[i], buf, sizeof(buf));
			hxctl_kv_print(stdout, keys[i], "%s", buf);
		}
		for (size_t i = 0; i < HXCTL_ARRAY_SIZE(skeys); i++) {
			hxctl_fmt_cell(st, skeys[i], buf, sizeof(buf));
			hxctl_kv_print(stdout, skeys[i], "%s",
				       buf[0] ? buf : "-");
		}
	}
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_ha_why(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET"};
	struct hxctl_resp resp;
	char path[64];
	int code = vm_path(c, a->pos[0], "/why", path, sizeof(path), NULL);

	if (code != HXCTL_EXIT_OK)
		return code;
	req.path = path;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else
		printf("%s", hxctl_json_str(resp.data, "text", ""));
	hxctl_resp_close(&resp);
	return code;
}

static int ha_move(struct hxctl *c, const struct hxctl_args *a,
		   const char *action)
{
	json_t *body = json_pack("{s:s}", "node", a->pos[1]);
	char path[64], suffix[16], msg[128];
	int code;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	snprintf(suffix, sizeof(suffix), "/%s", action);
	code = vm_path(c, a->pos[0], suffix, path, sizeof(path), NULL);
	snprintf(msg, sizeof(msg), "%s to '%s' requested", action, a->pos[1]);
	if (code == HXCTL_EXIT_OK)
		code = ha_call(c, "POST", path, body, NULL, msg);
	json_decref(body);
	return code;
}

int hxctl_cmd_ha_migrate(struct hxctl *c, const struct hxctl_args *a)
{
	return ha_move(c, a, "migrate");
}

int hxctl_cmd_ha_relocate(struct hxctl *c, const struct hxctl_args *a)
{
	return ha_move(c, a, "relocate");
}

int hxctl_cmd_ha_maintenance(struct hxctl *c, const struct hxctl_args *a)
{
	bool on = strcmp(a->pos[1], "on") == 0;
	char *esc, path[160];
	json_t *body;
	int code;

	if (!on && strcmp(a->pos[1], "off") != 0) {
		hxctl_warn("say 'on' or 'off', not '%s'", a->pos[1]);
		return HXCTL_EXIT_USAGE;
	}
	esc = hxctl_escape(a->pos[0]);
	body = json_pack("{s:b}", "enable", on);
	if (esc == NULL || body == NULL) {
		free(esc);
		json_decref(body);
		return HXCTL_EXIT_ERROR;
	}
	snprintf(path, sizeof(path), "/ha/nodes/%s/maintenance", esc);
	code = ha_call(c, "POST", path, body, NULL,
		       on ? "maintenance enabled: its VMs move away"
			  : "maintenance disabled: its VMs come back");
	free(esc);
	json_decref(body);
	return code;
}

int hxctl_cmd_ha_status(struct hxctl *c, const struct hxctl_args *a)
{
	static const char *const hdr[] = {"NODE", "HA-STATE", "MAINTENANCE",
					  "LEASE-AGE"};
	struct hxctl_req req = {.method = "GET", .path = "/ha/status"};
	struct hxctl_table *t;
	struct hxctl_resp resp;
	json_t *n;
	size_t i;
	int code = hxctl_call(c, &req, &resp);

	(void)a;
	if (code != HXCTL_EXIT_OK || c->json) {
		if (code != HXCTL_EXIT_OK)
			hxctl_fail(&resp, code);
		else
			hxctl_json_print(resp.data);
		hxctl_resp_close(&resp);
		return code;
	}
	printf("leader: %s\n\n", hxctl_json_str(resp.data, "leader", "-"));
	t = hxctl_table_new(hdr, 4);
	json_array_foreach (json_object_get(resp.data, "nodes"), i, n) {
		char name[96], state[32], age[32];
		const char *cells[] = {name, state, "", age};
		int64_t ms;

		hxctl_fmt_cell(n, "name", name, sizeof(name));
		hxctl_fmt_cell(n, "state", state, sizeof(state));
		cells[2] = json_is_true(json_object_get(n, "maintenance"))
				   ? "yes"
				   : "no";
		if (hxctl_json_int(n, "lease_age_ms", &ms))
			hxctl_fmt_duration((uint64_t)ms, age, sizeof(age));
		else
			snprintf(age, sizeof(age), "-");
		if (t == NULL || hxctl_table_add(t, cells) < 0)
			break;
	}
	if (t != NULL)
		hxctl_table_print(t, stdout);
	hxctl_table_free(t);
	printf("\n");
	code = resource_table(json_object_get(resp.data, "resources"));
	hxctl_resp_close(&resp);
	return code;
}

/* ---- rules ---- */

/* "100,101" or "web,db" into a list of VMIDs. */
static int rule_resources(struct hxctl *c, const char *s, json_t *list)
{
	char *copy = strdup(s), *save, *t;
	int code = HXCTL_EXIT_OK;

	if (copy == NULL)
		return HXCTL_EXIT_ERROR;
	for (t = strtok_r(copy, ",", &save); t != NULL && code == 0;
	     t = strtok_r(NULL, ",", &save)) {
		int64_t vmid;
		code = hxctl_vm_ref(c, t, &vmid);
		if (code == HXCTL_EXIT_OK)
			json_array_append_new(list, json_integer(vmid));
	}
	free(copy);
	return code;
}

/* "n1:2,n2" into [{"node": "n1", "priority": 2}, {"node": "n2"}]. */
static int rule_nodes(const char *s, json_t *list)
{
	char *copy = strdup(s), *save, *t;

	if (copy == NULL)
		return HXCTL_EXIT_ERROR;
	for (t = strtok_r(copy, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(t, ':');
		json_t *n;
		int64_t prio = 0;

		if (colon != NULL) {
			*colon = '\0';
			if (hxctl_parse_int(colon + 1, -1000000, 1000000,
					    &prio) < 0) {
				hxctl_warn("--nodes: bad priority in '%s:%s'",
					   t, colon + 1);
				free(copy);
				return HXCTL_EXIT_USAGE;
			}
		}
		n = json_pack("{s:s, s:I}", "node", t, "priority",
			      (json_int_t)prio);
		json_array_append_new(list, n);
	}
	free(copy);
	return HXCTL_EXIT_OK;
}

static int rule_body(struct hxctl *c, const struct hxctl_args *a, json_t *body)
{
	const char *v;
	int code = HXCTL_EXIT_OK;

	if ((v = hxctl_args_get(a, "type")) != NULL)
		json_object_set_new(body, "type", json_string(v));
	if ((v = hxctl_args_get(a, "resources")) != NULL) {
		json_t *l = json_array();
		code = rule_resources(c, v, l);
		json_object_set_new(body, "resources", l);
	}
	if (code == HXCTL_EXIT_OK && (v = hxctl_args_get(a, "nodes")) != NULL) {
		json_t *l = json_array();
		code = rule_nodes(v, l);
		json_object_set_new(body, "nodes", l);
	}
	if ((v = hxctl_args_get(a, "affinity")) != NULL)
		json_object_set_new(body, "affinity", json_string(v));
	if (hxctl_args_get(a, "strict") != NULL)
		json_object_set_new(body, "strict", json_true());
	if (hxctl_args_get(a, "soft") != NULL)
		json_object_set_new(body, "strict", json_false());
	if (hxctl_args_get(a, "disable") != NULL)
		json_object_set_new(body, "disabled", json_true());
	if (hxctl_args_get(a, "enable") != NULL)
		json_object_set_new(body, "disabled", json_false());
	if ((v = hxctl_args_get(a, "comment")) != NULL)
		json_object_set_new(body, "comment", json_string(v));
	return code;
}

static void rule_text(json_t *r, char *buf, size_t len)
{
	size_t n = 0, i;
	json_t *e;

	buf[0] = '\0';
	json_array_foreach (json_object_get(r, "resources"), i, e)
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
				      "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
				      json_integer_value(e));
	json_array_foreach (json_object_get(r, "nodes"), i, e)
		n += (size_t)snprintf(
			buf + n, n < len ? len - n : 0, "%s%s:%" JSON_INTEGER_FORMAT,
			i ? "," : " on ", hxctl_json_str(e, "node", "?"),
			json_integer_value(json_object_get(e, "priority")));
}

static int rule_list(struct hxctl *c)
{
	static const char *const hdr[] = {"ID", "TYPE", "MODE", "STATE",
					  "RULE"};
	struct hxctl_req req = {.method = "GET", .path = "/ha/rules"};
	struct hxctl_table *t;
	struct hxctl_resp resp;
	json_t *r;
	size_t i;
	int code = hxctl_call(c, &req, &resp);

	if (code != HXCTL_EXIT_OK || c->json) {
		if (code != HXCTL_EXIT_OK)
			hxctl_fail(&resp, code);
		else
			hxctl_json_print(resp.data);
		hxctl_resp_close(&resp);
		return code;
	}
	t = hxctl_table_new(hdr, 5);
	json_array_foreach (resp.data, i, r) {
		char id[96], type[32], mode[32], text[1024];
		const char *cells[] = {id, type, mode, "", text};
		const char *aff = hxctl_json_str(r, "affinity", NULL);

		hxctl_fmt_cell(r, "id", id, sizeof(id));
		hxctl_fmt_cell(r, "type", type, sizeof(type));
		snprintf(mode, sizeof(mode), "%s%s%s",
			 json_is_true(json_object_get(r, "strict")) ? "strict"
								    : "soft",
			 aff != NULL ? "," : "", aff != NULL ? aff : "");
		cells[3] = json_is_true(json_object_get(r, "disabled"))
				   ? "disabled"
				   : "enabled";
		rule_text(r, text, sizeof(text));
		if (t == NULL || hxctl_table_add(t, cells) < 0)
			break;
	}
	if (t != NULL)
		hxctl_table_print(t, stdout);
	hxctl_table_free(t);
	hxctl_resp_close(&resp);
	return code;
}

/* hxctl ha rule list|show|add|set|delete [ID] [options] */
int hxctl_cmd_ha_rule(struct hxctl *c, const struct hxctl_args *a)
{
	const char *verb = a->pos[0], *id = a->npos > 1 ? a->pos[1] : NULL;
	char path[160], msg[160], *esc = NULL;
	json_t *body = NULL;
	int code;

	if (strcmp(verb, "list") == 0)
		return a->npos == 1 ? rule_list(c) : HXCTL_EXIT_USAGE;
	if (id == NULL || a->npos != 2) {
		hxctl_warn("'ha rule %s' needs a rule ID", verb);
		return HXCTL_EXIT_USAGE;
	}
	esc = hxctl_escape(id);
	body = json_object();
	if (esc == NULL || body == NULL) {
		code = HXCTL_EXIT_ERROR;
		goto out;
	}
	snprintf(path, sizeof(path), "/ha/rules/%s", esc);
	if (strcmp(verb, "show") == 0) {
		struct hxctl_resp resp;
		code = hxctl_get_object(c, "/ha/rules", id, &resp);
		if (code == HXCTL_EXIT_OK)
			hxctl_json_print(resp.data);
		hxctl_resp_close(&resp);
	} else if (strcmp(verb, "delete") == 0) {
		snprintf(msg, sizeof(msg), "rule '%s' deleted", id);
		code = ha_call(c, "DELETE", path, NULL,
			       hxctl_args_get(a, "digest"), msg);
	} else if (strcmp(verb, "add") == 0 || strcmp(verb, "set") == 0) {
		bool add = verb[0] == 'a';
		code = rule_body(c, a, body);
		if (code != HXCTL_EXIT_OK)
			goto out;
		if (add)
			json_object_set_new(body, "id", json_string(id));
		snprintf(msg, sizeof(msg), "rule '%s' %s", id,
			 add ? "added" : "changed");
		code = ha_call(c, add ? "POST" : "PATCH",
			       add ? "/ha/rules" : path, body,
			       hxctl_args_get(a, "digest"), msg);
	} else {
		hxctl_warn("unknown 'ha rule' verb '%s' (list, show, add, set, "
			   "delete)",
			   verb);
		code = HXCTL_EXIT_USAGE;
	}
out:
	free(esc);
	json_decref(body);
	return code;
}
