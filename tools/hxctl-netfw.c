/*
 * hxctl net fw-...: the distributed firewall (docs/network.md).
 *
 * DESIGN: as hxctl-net.c: one API call per command, options mapped to
 * body fields one to one, all checking done by the server.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

static const char *const rule_keys[] = {
	"id",  "scope", "pos", "enabled", "direction", "action", "group",
	"macro", "proto", "sport", "dport", "src", "dst", "log", "comment",
	NULL};

/* The rule options of add and set into @body. */
static int rule_body(const struct hxctl_args *a, json_t *body)
{
	static const char *const strs[][2] = {
		{"direction", "direction"}, {"action", "action"},
		{"group", "group"},	    {"macro", "macro"},
		{"proto", "proto"},	    {"sport", "sport"},
		{"dport", "dport"},	    {"src", "src"},
		{"dst", "dst"},		    {"comment", "comment"},
	};

	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(strs); i++)
		if (hxctl_net_opt(a, strs[i][0], strs[i][1], false, 0, 0,
				  body) != 0)
			return HXCTL_EXIT_USAGE;
	if (hxctl_net_opt(a, "pos", "pos", true, 0, 100000, body) != 0)
		return HXCTL_EXIT_USAGE;
	if (hxctl_args_get(a, "log") != NULL)
		json_object_set_new(body, "log", json_true());
	if (hxctl_args_get(a, "no-log") != NULL)
		json_object_set_new(body, "log", json_false());
	if (hxctl_args_get(a, "disabled") != NULL)
		json_object_set_new(body, "enabled", json_false());
	if (hxctl_args_get(a, "enabled") != NULL)
		json_object_set_new(body, "enabled", json_true());
	return 0;
}

int hxctl_cmd_net_fw_rules(struct hxctl *c, const struct hxctl_args *a)
{
	static const struct hxctl_column cols[] = {
		{"ID", "id"},	    {"SCOPE", "scope"},	 {"POS", "pos"},
		{"ON", "enabled"},  {"DIR", "direction"}, {"ACTION", "action"},
		{"GROUP", "group"}, {"MACRO", "macro"},	 {"PROTO", "proto"},
		{"DPORT", "dport"}, {"SRC", "src"},	 {"DST", "dst"}};
	char path[160] = "/network/firewall/rules";

	if (hxctl_query_add(path, sizeof(path), "scope",
			    hxctl_args_get(a, "scope")) < 0) {
		hxctl_warn("--scope: too long");
		return HXCTL_EXIT_USAGE;
	}
	return hxctl_net_list(c, path, cols, 12);
}

int hxctl_cmd_net_fw_rule_add(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_pack("{s:s}", "scope", a->pos[0]);

	if (body == NULL) {
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	if (rule_body(a, body) != 0) {
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	return hxctl_net_send(c, "POST", "/network/firewall/rules", body,
			      rule_keys);
}

int hxctl_cmd_net_fw_rule_set(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = json_object();
	char *path = hxctl_net_path("/network/firewall/rules", a->pos[0]);
	int code;

	if (body == NULL || path == NULL) {
		json_decref(body);
		free(path);
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	if (rule_body(a, body) != 0) {
		json_decref(body);
		free(path);
		return HXCTL_EXIT_USAGE;
	}
	code = hxctl_net_send(c, "PATCH", path, body, rule_keys);
	free(path);
	return code;
}

int hxctl_cmd_net_fw_rule_delete(struct hxctl *c, const struct hxctl_args *a)
{
	return hxctl_net_delete(c, "/network/firewall/rules", a->pos[0]);
}

int hxctl_cmd_net_fw_groups(struct hxctl *c, const struct hxctl_args *a)
{
	static const struct hxctl_column cols[] = {{"NAME", "name"},
						   {"COMMENT", "comment"}};

	(void)a;
	return hxctl_net_list(c, "/network/firewall/groups", cols, 2);
}

int hxctl_cmd_net_fw_group_create(struct hxctl *c, const struct hxctl_args *a)
{
	static const char *const keys[] = {"name", "comment", NULL};
	json_t *body = json_pack("{s:s}", "name", a->pos[0]);

	if (body != NULL &&
	    hxctl_net_opt(a, "comment", "comment", false, 0, 0, body) != 0) {
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	return hxctl_net_send(c, "POST", "/network/firewall/groups", body,
			      keys);
}

int hxctl_cmd_net_fw_group_delete(struct hxctl *c, const struct hxctl_args *a)
{
	return hxctl_net_delete(c, "/network/firewall/groups", a->pos[0]);
}

int hxctl_cmd_net_fw_ipsets(struct hxctl *c, const struct hxctl_args *a)
{
	static const struct hxctl_column cols[] = {
		{"NAME", "name"}, {"ENTRIES", "entries"}, {"COMMENT", "comment"}};

	(void)a;
	return hxctl_net_list(c, "/network/firewall/ipsets", cols, 3);
}

int hxctl_cmd_net_fw_ipset_set(struct hxctl *c, const struct hxctl_args *a)
{
	static const char *const keys[] = {"name", "entries", "comment", NULL};
	json_t *entries = json_array(), *body = json_object();
	char *path = hxctl_net_path("/network/firewall/ipsets", a->pos[0]);
	int code = HXCTL_EXIT_ERROR;

	if (entries == NULL || body == NULL || path == NULL) {
		hxctl_warn("out of memory");
		goto out;
	}
	for (int i = 1; i < a->npos; i++)
		json_array_append_new(entries, json_string(a->pos[i]));
	json_object_set(body, "entries", entries);
	if (hxctl_net_opt(a, "comment", "comment", false, 0, 0, body) != 0) {
		code = HXCTL_EXIT_USAGE;
		goto out;
	}
	code = hxctl_net_send(c, "PUT", path, body, keys);
	body = NULL;
out:
	json_decref(entries);
	json_decref(body);
	free(path);
	return code;
}

int hxctl_cmd_net_fw_ipset_delete(struct hxctl *c, const struct hxctl_args *a)
{
	return hxctl_net_delete(c, "/network/firewall/ipsets", a->pos[0]);
}

int hxctl_cmd_net_fw_options(struct hxctl *c, const struct hxctl_args *a)
{
	static const char *const keys[] = {"scope", "enabled", "policy_in",
					   "policy_out", "log", NULL};
	const char *scope = a->npos > 0 ? a->pos[0] : "cluster";
	bool change = false;
	json_t *body;
	char path[160] = "/network/firewall/options";

	body = json_pack("{s:s}", "scope", scope);
	if (body == NULL) {
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	static const char *const flags[][3] = {
		{"enable", "enabled", "t"}, {"disable", "enabled", "f"},
		{"log", "log", "t"},	    {"no-log", "log", "f"},
	};
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(flags); i++)
		if (hxctl_args_get(a, flags[i][0]) != NULL) {
			json_object_set_new(body, flags[i][1],
					    json_boolean(flags[i][2][0] == 't'));
			change = true;
		}
	if (hxctl_args_get(a, "policy-in") != NULL ||
	    hxctl_args_get(a, "policy-out") != NULL)
		change = true;
	if (hxctl_net_opt(a, "policy-in", "policy_in", false, 0, 0, body) !=
		    0 ||
	    hxctl_net_opt(a, "policy-out", "policy_out", false, 0, 0, body) !=
		    0) {
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	if (change)
		return hxctl_net_send(c, "PUT", path, body, keys);
	json_decref(body);
	if (hxctl_query_add(path, sizeof(path), "scope", scope) < 0) {
		hxctl_warn("scope too long");
		return HXCTL_EXIT_USAGE;
	}
	struct hxctl_req req = {.method = "GET", .path = path};
	struct hxctl_resp resp;
	int code = hxctl_call(c, &req, &resp);

	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else
		for (const char *const *k = keys; *k != NULL; k++) {
			char buf[128];

			hxctl_fmt_cell(resp.data, *k, buf, sizeof(buf));
			hxctl_kv_print(stdout, *k, "%s", buf[0] ? buf : "-");
		}
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_net_fw_ruleset(struct hxctl *c, const struct hxctl_args *a)
{
	char path[160] = "/network/firewall/ruleset";
	struct hxctl_req req = {.method = "GET", .path = path};
	struct hxctl_resp resp;
	int code;

	if (hxctl_query_add(path, sizeof(path), "node",
			    a->npos > 0 ? a->pos[0] : NULL) < 0) {
		hxctl_warn("node name too long");
		return HXCTL_EXIT_USAGE;
	}
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else
		fputs(hxctl_json_str(resp.data, "ruleset", ""), stdout);
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_net_fw_macros(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET",
				.path = "/network/firewall/macros"};
	struct hxctl_resp resp;
	json_t *m;
	size_t i;
	int code;

	(void)a;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else
		json_array_foreach(resp.data, i, m)
			printf("%s\n", json_string_value(m));
	hxctl_resp_close(&resp);
	return code;
}
