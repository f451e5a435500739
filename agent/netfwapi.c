/*
 * API handlers for the distributed firewall: /network/firewall/...
 *
 * DESIGN: as for the other network objects, any node serves these; a rule
 * is checked by net/ (syntax, normalized) and then by statedb (what it
 * names exists) in the transaction that stores it, so a bad rule is a 400
 * and nothing is stored, and no node ever renders it. Every node's
 * executor renders its own ruleset from statedb and applies it;
 * GET /network/firewall/ruleset?node=N shows the text any node renders.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/net.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

static void fail(struct api_resp *resp, const struct hx_err *err)
{
	api_error_from(resp, err);
}

static bool is(const struct api_req *req, const char *method)
{
	return strcmp(req->method, method) == 0;
}

/* ---- options ---- */

static json_t *options_json(const struct statedb_fw_options *o)
{
	return json_pack("{s:s, s:b, s:s, s:s, s:b}", "scope", o->scope,
			 "enabled", o->enabled, "policy_in", o->policy_in,
			 "policy_out", o->policy_out, "log", o->log);
}

static void options(struct agent *a, struct api_req *req,
		    struct api_resp *resp)
{
	static const char *const allowed[] = {"scope",	    "enabled",
					      "policy_in",  "policy_out",
					      "log",	    NULL};
	struct statedb_fw_options o;
	struct hx_err err = {0};
	char scope[80] = "cluster";
	char pin[8], pout[8];

	if (is(req, "GET")) {
		(void)api_query(req, "scope", scope, sizeof(scope));
		if (statedb_fw_options_get(a->db, scope, &o, &err) < 0)
			return fail(resp, &err);
		resp->data = options_json(&o);
		return;
	}
	if (!api_body_check(req, resp, allowed, true) ||
	    !netapi_str(req, resp, "scope", true, scope, sizeof(scope)))
		return;
	/* Fields left out keep their value. */
	if (statedb_fw_options_get(a->db, scope, &o, &err) < 0)
		return fail(resp, &err);
	if (!netapi_bool(req, resp, "enabled", &o.enabled) ||
	    !netapi_bool(req, resp, "log", &o.log) ||
	    !netapi_str(req, resp, "policy_in", false, pin, sizeof(pin)) ||
	    !netapi_str(req, resp, "policy_out", false, pout, sizeof(pout)))
		return;
	if (json_object_get(req->body, "policy_in") != NULL)
		memcpy(o.policy_in, pin, sizeof(pin));
	if (json_object_get(req->body, "policy_out") != NULL)
		memcpy(o.policy_out, pout, sizeof(pout));
	if (statedb_fw_options_set(a->db, &o, &err) < 0)
		return fail(resp, &err);
	agent_event(a, "network.firewall", "network", req->actor,
		    "firewall options of %s: %s, in %s, out %s", o.scope,
		    o.enabled ? "enabled" : "disabled",
		    o.policy_in[0] ? o.policy_in : "(cluster's)",
		    o.policy_out[0] ? o.policy_out : "(cluster's)");
	netexec_kick(a);
	resp->data = options_json(&o);
}

/* ---- rules ---- */

static json_t *rule_json(const struct statedb_fw_rule *r)
{
	json_t *j = json_pack("{s:I, s:s, s:I, s:b, s:s, s:s, s:b}", "id",
			      (json_int_t)r->id, "scope", r->scope, "pos",
			      (json_int_t)r->pos, "enabled", r->enabled,
			      "direction", r->direction, "action", r->action,
			      "log", r->log);
	const char *const opt[][2] = {
		{"group", r->group}, {"macro", r->macro}, {"proto", r->proto},
		{"sport", r->sport}, {"dport", r->dport}, {"src", r->src},
		{"dst", r->dst},     {"comment", r->comment},
	};

	for (size_t i = 0; i < HX_ARRAY_SIZE(opt); i++)
		json_object_set_new(j, opt[i][0],
				    opt[i][1][0] ? json_string(opt[i][1])
						 : json_null());
	return j;
}

/* Applies the body's fields to @r (fields left out keep their value). */
static bool rule_fields(struct api_req *req, struct api_resp *resp,
			struct statedb_fw_rule *r)
{
	struct {
		const char *key;
		char *buf;
		size_t len;
	} strs[] = {
		{"direction", r->direction, sizeof(r->direction)},
		{"action", r->action, sizeof(r->action)},
		{"group", r->group, sizeof(r->group)},
		{"macro", r->macro, sizeof(r->macro)},
		{"proto", r->proto, sizeof(r->proto)},
		{"sport", r->sport, sizeof(r->sport)},
		{"dport", r->dport, sizeof(r->dport)},
		{"src", r->src, sizeof(r->src)},
		{"dst", r->dst, sizeof(r->dst)},
		{"comment", r->comment, sizeof(r->comment)},
	};
	struct hx_err err = {0};

	for (size_t i = 0; i < HX_ARRAY_SIZE(strs); i++) {
		char buf[512];

		if (json_object_get(req->body, strs[i].key) == NULL)
			continue;
		if (!netapi_str(req, resp, strs[i].key, false, buf,
				strs[i].len))
			return false;
		snprintf(strs[i].buf, strs[i].len, "%s", buf);
	}
	if (!netapi_bool(req, resp, "enabled", &r->enabled) ||
	    !netapi_bool(req, resp, "log", &r->log) ||
	    !netapi_int(req, resp, "pos", 0, 100000, &r->pos))
		return false;
	if (net_fw_rule_check(r, &err) < 0) {
		fail(resp, &err);
		return false;
	}
	return true;
}

static const char *const rule_keys[] = {
	"scope", "pos", "enabled", "direction", "action", "group", "macro",
	"proto", "sport", "dport", "src", "dst", "log", "comment", NULL};

static void rules(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_fw_rule r = {.enabled = true, .pos = -1}, *rs;
	struct hx_err err = {0};
	char scope[80] = "";
	int64_t id;
	unsigned n;

	if (is(req, "GET")) {
		bool by = api_query(req, "scope", scope, sizeof(scope));

		if (statedb_fw_rule_list(a->db, by ? scope : NULL, &rs, &n,
					 &err) < 0)
			return fail(resp, &err);
		resp->data = json_array();
		for (unsigned i = 0; i < n; i++)
			json_array_append_new(resp->data, rule_json(&rs[i]));
		free(rs);
		return;
	}
	if (!api_body_check(req, resp, rule_keys, true) ||
	    !netapi_str(req, resp, "scope", true, r.scope, sizeof(r.scope)) ||
	    !rule_fields(req, resp, &r))
		return;
	if (statedb_fw_rule_add(a->db, &r, &id, &err) < 0 ||
	    statedb_fw_rule_get(a->db, id, &r, &err) < 0)
		return fail(resp, &err);
	netexec_kick(a);
	resp->status = 201;
	resp->data = rule_json(&r);
}

static void rule_one(struct agent *a, struct api_req *req,
		     struct api_resp *resp, const char *key)
{
	static const char *const patchable[] = {
		"pos", "enabled", "direction", "action", "group", "macro",
		"proto", "sport", "dport", "src", "dst", "log", "comment", NULL};
	struct statedb_fw_rule r;
	struct hx_err err = {0};
	char *end;
	int64_t id = strtoll(key, &end, 10);

	if (*end != '\0' || end == key || id <= 0) {
		api_error(resp, -ENOENT, "no firewall rule '%s'", key);
		return;
	}
	if (statedb_fw_rule_get(a->db, id, &r, &err) < 0)
		return fail(resp, &err);
	if (is(req, "GET")) {
		resp->data = rule_json(&r);
		return;
	}
	if (is(req, "DELETE")) {
		if (statedb_fw_rule_delete(a->db, id, &err) < 0)
			return fail(resp, &err);
		netexec_kick(a);
		resp->data = json_object();
		return;
	}
	r.pos = -1;
	if (!api_body_check(req, resp, patchable, true) ||
	    !rule_fields(req, resp, &r))
		return;
	if (statedb_fw_rule_update(a->db, id, &r, &err) < 0 ||
	    statedb_fw_rule_get(a->db, id, &r, &err) < 0)
		return fail(resp, &err);
	netexec_kick(a);
	resp->data = rule_json(&r);
}

/* ---- security groups ---- */

static void groups(struct agent *a, struct api_req *req,
		   struct api_resp *resp)
{
	static const char *const allowed[] = {"name", "comment", NULL};
	struct statedb_fw_group g = {0}, *gs;
	struct hx_err err = {0};
	unsigned n;

	if (is(req, "GET")) {
		if (statedb_fw_group_list(a->db, &gs, &n, &err) < 0)
			return fail(resp, &err);
		resp->data = json_array();
		for (unsigned i = 0; i < n; i++)
			json_array_append_new(resp->data,
					      json_pack("{s:s, s:s}", "name",
							gs[i].name, "comment",
							gs[i].comment));
		free(gs);
		return;
	}
	if (!api_body_check(req, resp, allowed, true) ||
	    !netapi_str(req, resp, "name", true, g.name, sizeof(g.name)) ||
	    !netapi_str(req, resp, "comment", false, g.comment,
			sizeof(g.comment)))
		return;
	if (statedb_fw_group_create(a->db, &g, &err) < 0)
		return fail(resp, &err);
	resp->status = 201;
	resp->data = json_pack("{s:s, s:s}", "name", g.name, "comment",
			       g.comment);
}

static void group_one(struct agent *a, struct api_req *req,
		      struct api_resp *resp, const char *name)
{
	struct hx_err err = {0};

	if (!is(req, "DELETE")) {
		api_error(resp, -ENOENT,
			  "a group's rules are at "
			  "/network/firewall/rules?scope=group/%s",
			  name);
		return;
	}
	if (statedb_fw_group_delete(a->db, name, &err) < 0)
		return fail(resp, &err);
	netexec_kick(a);
	resp->data = json_object();
}

/* ---- IP sets ---- */

static json_t *ipset_json(const struct statedb_fw_ipset *s)
{
	json_t *entries = json_array();
	char buf[sizeof(s->entries)], *save, *t;

	snprintf(buf, sizeof(buf), "%s", s->entries);
	for (t = strtok_r(buf, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save))
		json_array_append_new(entries, json_string(t));
	return json_pack("{s:s, s:o, s:s}", "name", s->name, "entries",
			 entries, "comment", s->comment);
}

static void ipsets(struct agent *a, struct api_req *req,
		   struct api_resp *resp)
{
	struct statedb_fw_ipset *ss;
	struct hx_err err = {0};
	unsigned n;

	if (statedb_fw_ipset_list(a->db, &ss, &n, &err) < 0)
		return fail(resp, &err);
	resp->data = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(resp->data, ipset_json(&ss[i]));
	free(ss);
}

/* PUT /network/firewall/ipsets/NAME {"entries": [...], "comment": ""} */
static void ipset_one(struct agent *a, struct api_req *req,
		      struct api_resp *resp, const char *name)
{
	static const char *const allowed[] = {"entries", "comment", NULL};
	struct statedb_fw_ipset *s = calloc(1, sizeof(*s));
	struct hx_err err = {0};
	json_t *v, *e;
	char *joined = NULL;
	size_t i, off = 0;

	if (s == NULL) {
		api_error(resp, -ENOMEM, "out of memory");
		return;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (is(req, "DELETE")) {
		if (statedb_fw_ipset_delete(a->db, name, &err) < 0)
			fail(resp, &err);
		else
			resp->data = json_object();
		netexec_kick(a);
		goto out;
	}
	if (!is(req, "PUT")) {
		api_error(resp, -ENOENT, "IP sets are listed at "
					 "/network/firewall/ipsets");
		goto out;
	}
	if (!api_body_check(req, resp, allowed, true) ||
	    !netapi_str(req, resp, "comment", false, s->comment,
			sizeof(s->comment)))
		goto out;
	v = json_object_get(req->body, "entries");
	if (!json_is_array(v) || (joined = malloc(8192)) == NULL) {
		api_error(resp, -EINVAL, "entries: an array of addresses and "
					 "CIDRs is required");
		goto out;
	}
	joined[0] = '\0';
	json_array_foreach(v, i, e) {
		if (!json_is_string(e) || off + json_string_length(e) + 2 >= 8192) {
			api_error(resp, -EINVAL,
				  "entries: strings, at most 8 KiB in all");
			goto out;
		}
		off += (size_t)snprintf(joined + off, 8192 - off, "%s ",
					json_string_value(e));
	}
	if (net_fw_ipset_parse(joined, s->entries, sizeof(s->entries), &err) <
		    0 ||
	    statedb_fw_ipset_put(a->db, s, &err) < 0) {
		fail(resp, &err);
		goto out;
	}
	netexec_kick(a);
	resp->data = ipset_json(s);
out:
	free(joined);
	free(s);
}

/* ---- the rendered ruleset, macros ---- */

static void ruleset(struct agent *a, struct api_req *req,
		    struct api_resp *resp)
{
	struct netnode_snapshot s;
	struct statedb_node n;
	struct hx_err err = {0};
	char node[64];
	char *text = NULL;

	if (!api_query(req, "node", node, sizeof(node)))
		snprintf(node, sizeof(node), "%s", a->cfg.name);
	if (statedb_node_get(a->db, node, &n, &err) < 0 ||
	    netnode_snapshot(a, node, &s, &err) < 0)
		return fail(resp, &err);
	if (netnode_firewall_render(&s, &text, NULL, &err) < 0) {
		netnode_snapshot_free(&s);
		return fail(resp, &err);
	}
	netnode_snapshot_free(&s);
	resp->data = json_pack("{s:s, s:s}", "node", node, "ruleset", text);
	free(text);
}

static void macros(struct api_resp *resp)
{
	resp->data = json_array();
	for (const char *const *m = net_fw_macros(); *m != NULL; m++)
		json_array_append_new(resp->data, json_string(*m));
}

/* ---- routing ---- */

void h_firewall(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	const char *rest = req->path + strlen("/network/firewall/");
	const char *slash = strchr(rest, '/');
	char what[16], key[64] = "";
	size_t n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	bool one = slash != NULL, get = is(req, "GET"), post = is(req, "POST");

	if (n >= sizeof(what) || (one && strlen(slash + 1) >= sizeof(key))) {
		api_error(resp, -ENOENT, "no such API path: %s", req->path);
		return;
	}
	memcpy(what, rest, n);
	what[n] = '\0';
	if (one)
		snprintf(key, sizeof(key), "%s", slash + 1);
	if (!one && strcmp(what, "options") == 0 && (get || is(req, "PUT")))
		return options(a, req, resp);
	if (!one && strcmp(what, "rules") == 0 && (get || post))
		return rules(a, req, resp);
	if (one && strcmp(what, "rules") == 0 && !post)
		return rule_one(a, req, resp, key);
	if (!one && strcmp(what, "groups") == 0 && (get || post))
		return groups(a, req, resp);
	if (one && strcmp(what, "groups") == 0)
		return group_one(a, req, resp, key);
	if (!one && strcmp(what, "ipsets") == 0 && get)
		return ipsets(a, req, resp);
	if (one && strcmp(what, "ipsets") == 0)
		return ipset_one(a, req, resp, key);
	if (!one && strcmp(what, "ruleset") == 0 && get)
		return ruleset(a, req, resp);
	if (!one && strcmp(what, "macros") == 0 && get)
		return macros(resp);
	api_error(resp, -ENOENT, "no such API path: %s %s", req->method,
		  req->path);
}
