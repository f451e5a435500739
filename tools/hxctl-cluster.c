/*
 * hxctl cluster ...: create, join, leave and inspect the cluster.
 *
 * DESIGN: each command is one API call; the output is either the response's
 * data as JSON (--json) or a short human summary. 'cluster token' prints only
 * the token because scripts capture it with $(...).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

/* Calls @method @path with @body; prints a failure. Returns the exit code. */
static int cluster_call(struct hxctl *c, const char *method, const char *path,
			json_t *body, long timeout_ms, struct hxctl_resp *ret)
{
	struct hxctl_req req = {
		.method = method,
		.path = path,
		.body = body,
		.timeout_ms = timeout_ms,
	};
	int code = hxctl_call(c, &req, ret);

	if (code != HXCTL_EXIT_OK)
		return hxctl_fail(ret, code);
	if (c->json)
		hxctl_json_print(ret->data);
	return HXCTL_EXIT_OK;
}

/* Sets body[key] to the string @val; 0, or -EINVAL if it is not UTF-8. */
static int body_set_str(json_t *body, const char *key, const char *val)
{
	if (json_object_set_new(body, key, json_string(val)) < 0) {
		hxctl_warn("%s: not a valid UTF-8 string", key);
		return -EINVAL;
	}
	return 0;
}

int hxctl_cmd_cluster_init(struct hxctl *c, const struct hxctl_args *a)
{
	const char *name = hxctl_args_get(a, "name");
	struct hxctl_resp resp;
	json_t *body = json_object();
	const char *token;
	int code;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	if (name != NULL && body_set_str(body, "name", name) < 0) {
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	code = cluster_call(c, "POST", "/cluster/init", body, 0, &resp);
	json_decref(body);
	if (code != HXCTL_EXIT_OK || c->json)
		goto out_close_resp;
	token = hxctl_json_str(resp.data, "admin_token", "?");
	printf("Created cluster '%s'.\n\n"
	       "Admin token (printed only once):\n\n    %s\n\n"
	       "It is also stored in %s/admin.token on this node.\n"
	       "On this node, hxctl needs no token. From elsewhere, copy\n"
	       "%s/tls/ca.crt and run:\n\n"
	       "    export HX_TOKEN='%s'\n"
	       "    hxctl --url https://NODE:8006 --ca ca.crt cluster "
	       "status\n\n"
	       "Add nodes with 'hxctl cluster token' here and 'hxctl cluster "
	       "join' there.\n",
	       hxctl_json_str(resp.data, "name", "?"), token, c->data_dir,
	       c->data_dir, token);
out_close_resp:
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_cluster_token(struct hxctl *c, const struct hxctl_args *a)
{
	const char *ttl = hxctl_args_get(a, "ttl");
	struct hxctl_resp resp;
	json_t *body = json_object();
	int64_t v;
	int code;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	if (ttl != NULL) {
		if (hxctl_parse_int(ttl, 1, INT32_MAX, &v) < 0) {
			hxctl_warn("--ttl: expected seconds, got '%s'", ttl);
			json_decref(body);
			return HXCTL_EXIT_USAGE;
		}
		(void)json_object_set_new(body, "ttl", json_integer(v));
	}
	code = cluster_call(c, "POST", "/cluster/tokens", body, 0, &resp);
	json_decref(body);
	if (code == HXCTL_EXIT_OK && !c->json) {
		const char *token = hxctl_json_str(resp.data, "token", NULL);

		if (token != NULL) {
			printf("%s\n", token);
		} else {
			hxctl_warn("the response carries no token");
			code = HXCTL_EXIT_ERROR;
		}
	}
	hxctl_resp_close(&resp);
	return code;
}

/* Reads a token from stdin for 'cluster join ADDRESS -'. */
static int read_token(char *buf, size_t len)
{
	if (fgets(buf, (int)len, stdin) == NULL)
		return -EINVAL;
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] != '\0' ? 0 : -EINVAL;
}

int hxctl_cmd_cluster_join(struct hxctl *c, const struct hxctl_args *a)
{
	const char *token = a->pos[1];
	struct hxctl_resp resp;
	char line[1024];
	json_t *body;
	int code;

	if (strcmp(token, "-") == 0) {
		if (read_token(line, sizeof(line)) < 0) {
			hxctl_warn("no token on standard input");
			return HXCTL_EXIT_USAGE;
		}
		token = line;
	}
	body = json_object();
	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	if (body_set_str(body, "address", a->pos[0]) < 0 ||
	    body_set_str(body, "token", token) < 0) {
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	code = cluster_call(c, "POST", "/cluster/join", body,
			    HXCTL_JOIN_TIMEOUT_MS, &resp);
	json_decref(body);
	if (code == HXCTL_EXIT_OK && !c->json)
		printf("Joined cluster '%s' through %s as '%s' (%s).\n",
		       hxctl_json_str(resp.data, "cluster", "?"), a->pos[0],
		       hxctl_json_str(resp.data, "name", "?"),
		       hxctl_json_str(resp.data, "role", "?"));
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_cluster_leave(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_resp resp;
	int code;

	code = cluster_call(c, "POST", "/cluster/leave", NULL, 0, &resp);
	if (code == HXCTL_EXIT_OK && !c->json)
		printf("This node left the cluster.\n");
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_cluster_remove(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_resp resp;
	json_t *body = json_object();
	int code;

	if (body == NULL)
		return HXCTL_EXIT_ERROR;
	if (body_set_str(body, "node", a->pos[0]) < 0) {
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	code = cluster_call(c, "POST", "/cluster/remove", body, 0, &resp);
	json_decref(body);
	if (code == HXCTL_EXIT_OK && !c->json)
		printf("Removed node '%s' from the cluster.\n", a->pos[0]);
	hxctl_resp_close(&resp);
	return code;
}

/* The status line above the member table. */
static void status_header(json_t *d)
{
	json_t *leader = json_object_get(d, "leader");
	const char *lname = hxctl_json_str(leader, "name", NULL);
	json_t *quorum = json_object_get(d, "quorum");
	int64_t voters = 0;
	int64_t online = 0;

	printf("cluster %s, leader ", hxctl_json_str(d, "name", "?"));
	if (lname != NULL)
		printf("%s (%s)", lname,
		       hxctl_json_str(leader, "address", "?"));
	else
		printf("none");
	printf(", quorum %s", json_is_true(quorum) ? "yes" : "NO");
	if (hxctl_json_int(d, "voters", &voters) &&
	    hxctl_json_int(d, "voters_online", &online))
		printf(", %lld of %lld voters online", (long long)online,
		       (long long)voters);
	printf("\n");
}

static bool is_leader(json_t *member, json_t *leader)
{
	int64_t mid;
	int64_t lid;
	const char *mname = hxctl_json_str(member, "name", NULL);
	const char *lname = hxctl_json_str(leader, "name", NULL);

	if (hxctl_json_int(member, "id", &mid) &&
	    hxctl_json_int(leader, "id", &lid))
		return mid == lid;
	return mname != NULL && lname != NULL && strcmp(mname, lname) == 0;
}

static int status_table(json_t *d)
{
	static const char *const hdr[] = {"  NAME", "ADDRESS", "ROLE", "STATE",
					  "LAST-SEEN"};
	struct hxctl_table *t = hxctl_table_new(hdr, 5);
	json_t *leader = json_object_get(d, "leader");
	json_t *members = json_object_get(d, "members");
	json_t *m;
	size_t i;

	if (t == NULL)
		return -ENOMEM;
	json_array_foreach (members, i, m) {
		char name[128], addr[128], role[32], state[32], seen[48];
		const char *cells[] = {name, addr, role, state, seen};
		int64_t age;

		snprintf(name, sizeof(name), "%s %s",
			 is_leader(m, leader) ? "*" : " ",
			 hxctl_json_str(m, "name", "?"));
		hxctl_fmt_cell(m, "address", addr, sizeof(addr));
		hxctl_fmt_cell(m, "role", role, sizeof(role));
		hxctl_fmt_cell(m, "state", state, sizeof(state));
		if (hxctl_json_int(m, "last_seen_ms", &age))
			hxctl_fmt_age(age, seen, sizeof(seen));
		else
			snprintf(seen, sizeof(seen), "-");
		if (hxctl_table_add(t, cells) < 0) {
			hxctl_table_free(t);
			return -ENOMEM;
		}
	}
	hxctl_table_print(t, stdout);
	hxctl_table_free(t);
	return 0;
}

int hxctl_cmd_cluster_status(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_resp resp;
	int code;

	code = cluster_call(c, "GET", "/cluster", NULL, 0, &resp);
	if (code != HXCTL_EXIT_OK || c->json)
		goto out_close_resp;
	if (!json_is_true(json_object_get(resp.data, "initialized"))) {
		printf("This node is not in a cluster. Create one with 'hxctl "
		       "cluster init',\nor join one with 'hxctl cluster "
		       "join'.\n");
		goto out_close_resp;
	}
	status_header(resp.data);
	if (status_table(resp.data) < 0) {
		hxctl_warn("out of memory");
		code = HXCTL_EXIT_ERROR;
	}
out_close_resp:
	hxctl_resp_close(&resp);
	return code;
}
