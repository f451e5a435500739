/*
 * The distributed firewall's state: options per scope, rules, security
 * groups and IP sets.
 *
 * DESIGN: net/ checks the syntax of every field and normalizes it before
 * anything reaches this file; here each write checks, inside the
 * transaction that stores it, that what it names exists: the node or VM of
 * its scope, the security group it jumps to, the IP sets and vnets its
 * addresses refer to. A group or IP set that a rule refers to cannot be
 * deleted. Every write bumps meta.net_generation.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

static bool fw_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > STATEDB_FW_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* -EINVAL unless the object of @scope exists (group scopes only with
 * @allow_group). */
static int scope_check(struct db_tx *tx, const char *scope, bool allow_group,
		       struct hx_err *err)
{
	static const struct {
		const char *prefix;
		const char *sql;
		const char *what;
	} kinds[] = {
		{"node/", "SELECT count(*) FROM nodes WHERE name = ?", "node"},
		{"vm/", "SELECT count(*) FROM vms WHERE vmid = CAST(? AS INTEGER)",
		 "VM"},
		{"group/", "SELECT count(*) FROM net_fw_groups WHERE name = ?",
		 "security group"},
	};
	int64_t n;
	int r;

	if (strcmp(scope, "cluster") == 0)
		return 0;
	for (size_t i = 0; i < HX_ARRAY_SIZE(kinds); i++) {
		size_t k = strlen(kinds[i].prefix);
		const char *name = scope + k;

		if (strncmp(scope, kinds[i].prefix, k) != 0)
			continue;
		if (i == 2 && !allow_group)
			break;
		if (i == 1 && (name[0] == '\0' ||
			       strspn(name, "0123456789") != strlen(name) ||
			       strlen(name) > 12))
			break;
		if ((r = db_count(tx, kinds[i].sql, name, &n, err)) < 0)
			return r;
		if (n == 0)
			return hx_err_set(err, -EINVAL, "scope: no %s '%s'",
					  kinds[i].what, name);
		return 0;
	}
	return hx_err_set(err, -EINVAL,
			  "scope: '%s' is not cluster, node/NAME, vm/VMID%s",
			  scope, allow_group ? " or group/NAME" : "");
}

/* ---- options ---- */

#define OPT_COLS "scope, enabled, policy_in, policy_out, log"

static void options_from_row(const struct wire_rows *rows, unsigned r,
			     void *out)
{
	struct statedb_fw_options *o = out;

	db_row_copy(rows, r, 0, o->scope, sizeof(o->scope));
	o->enabled = db_row_int(rows, r, 1) != 0;
	db_row_copy(rows, r, 2, o->policy_in, sizeof(o->policy_in));
	db_row_copy(rows, r, 3, o->policy_out, sizeof(o->policy_out));
	o->log = db_row_int(rows, r, 4) != 0;
}

void statedb_fw_options_default(const char *scope,
				struct statedb_fw_options *ret)
{
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->scope, sizeof(ret->scope), "%s", scope);
	if (strcmp(scope, "cluster") == 0) {
		snprintf(ret->policy_in, sizeof(ret->policy_in), "accept");
		snprintf(ret->policy_out, sizeof(ret->policy_out), "accept");
	} else if (strncmp(scope, "node/", 5) == 0) {
		ret->enabled = true; /* policies "": the cluster's */
	} else {
		snprintf(ret->policy_in, sizeof(ret->policy_in), "drop");
		snprintf(ret->policy_out, sizeof(ret->policy_out), "accept");
	}
}

int statedb_fw_options_get(struct statedb *db, const char *scope,
			   struct statedb_fw_options *ret, struct hx_err *err)
{
	struct wire_value p[] = {db_text(scope)};
	struct statedb_fw_options *o;
	unsigned n;
	int r;

	r = db_list(db, "SELECT " OPT_COLS " FROM net_fw_options WHERE scope = ?",
		    p, 1, sizeof(*o), options_from_row, (void **)&o, &n, err);
	if (r < 0)
		return r;
	if (n > 0)
		*ret = o[0];
	else
		statedb_fw_options_default(scope, ret);
	free(o);
	return 0;
}

static bool policy_ok(const char *p, bool allow_inherit)
{
	return strcmp(p, "accept") == 0 || strcmp(p, "drop") == 0 ||
	       strcmp(p, "reject") == 0 || (allow_inherit && p[0] == '\0');
}

static int options_set_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const struct statedb_fw_options *o = data;
	bool node = strncmp(o->scope, "node/", 5) == 0;
	int r;

	if ((r = scope_check(tx, o->scope, false, err)) < 0)
		return r;
	if (!policy_ok(o->policy_in, node) || !policy_ok(o->policy_out, node))
		return hx_err_set(err, -EINVAL,
				  "policy_in, policy_out: accept, drop or "
				  "reject%s",
				  node ? " (or \"\" for the cluster's)" : "");
	struct wire_value p[] = {db_text(o->scope), db_int(o->enabled),
				 db_text(o->policy_in), db_text(o->policy_out),
				 db_int(o->log)};
	r = db_exec(tx,
		    "INSERT INTO net_fw_options (scope, enabled, policy_in, "
		    "policy_out, log) VALUES (?, ?, ?, ?, ?) ON CONFLICT "
		    "(scope) DO UPDATE SET enabled = excluded.enabled, "
		    "policy_in = excluded.policy_in, policy_out = "
		    "excluded.policy_out, log = excluded.log",
		    p, 5, NULL, NULL, err);
	return r < 0 ? r : db_net_bump(tx, err);
}

int statedb_fw_options_set(struct statedb *db,
			   const struct statedb_fw_options *o,
			   struct hx_err *err)
{
	return db_write(db, options_set_fn, (void *)o, err);
}

int statedb_fw_options_list(struct statedb *db,
			    struct statedb_fw_options **ret, unsigned *ret_n,
			    struct hx_err *err)
{
	return db_list(db,
		       "SELECT " OPT_COLS " FROM net_fw_options ORDER BY scope",
		       NULL, 0, sizeof(**ret), options_from_row, (void **)ret,
		       ret_n, err);
}

/* ---- rules ---- */

#define RULE_COLS                                                      \
	"id, scope, pos, enabled, direction, action, grp, macro, proto, " \
	"sport, dport, src, dst, log, comment"

static void rule_from_row(const struct wire_rows *rows, unsigned r, void *out)
{
	struct statedb_fw_rule *x = out;

	x->id = db_row_int(rows, r, 0);
	db_row_copy(rows, r, 1, x->scope, sizeof(x->scope));
	x->pos = db_row_int(rows, r, 2);
	x->enabled = db_row_int(rows, r, 3) != 0;
	db_row_copy(rows, r, 4, x->direction, sizeof(x->direction));
	db_row_copy(rows, r, 5, x->action, sizeof(x->action));
	db_row_copy(rows, r, 6, x->group, sizeof(x->group));
	db_row_copy(rows, r, 7, x->macro, sizeof(x->macro));
	db_row_copy(rows, r, 8, x->proto, sizeof(x->proto));
	db_row_copy(rows, r, 9, x->sport, sizeof(x->sport));
	db_row_copy(rows, r, 10, x->dport, sizeof(x->dport));
	db_row_copy(rows, r, 11, x->src, sizeof(x->src));
	db_row_copy(rows, r, 12, x->dst, sizeof(x->dst));
	x->log = db_row_int(rows, r, 13) != 0;
	db_row_copy(rows, r, 14, x->comment, sizeof(x->comment));
}

/* -EINVAL unless every "@ref" of the address list @list exists. */
static int refs_check(struct db_tx *tx, const char *field, const char *list,
		      struct hx_err *err)
{
	char buf[sizeof(((struct statedb_fw_rule *)0)->src)], *save, *t;
	int64_t n;
	int r;

	snprintf(buf, sizeof(buf), "%s", list);
	for (t = strtok_r(buf, ", ", &save); t != NULL;
	     t = strtok_r(NULL, ", ", &save)) {
		if (t[0] != '@' || strcmp(t, "@nodes") == 0)
			continue;
		if (strncmp(t, "@vnet:", 6) == 0) {
			r = db_count(tx,
				     "SELECT count(*) FROM net_vnets WHERE name "
				     "= ?",
				     t + 6, &n, err);
			if (r < 0)
				return r;
			if (n == 0)
				return hx_err_set(err, -EINVAL,
						  "%s: no vnet '%s'", field,
						  t + 6);
			continue;
		}
		r = db_count(tx, "SELECT count(*) FROM net_fw_ipsets WHERE name = ?",
			     t + 1, &n, err);
		if (r < 0)
			return r;
		if (n == 0)
			return hx_err_set(err, -EINVAL, "%s: no IP set '%s'",
					  field, t + 1);
	}
	return 0;
}

static int rule_refs_check(struct db_tx *tx, const struct statedb_fw_rule *x,
			   struct hx_err *err)
{
	int64_t n;
	int r;

	if (strcmp(x->action, "group") == 0) {
		if (strncmp(x->scope, "group/", 6) == 0)
			return hx_err_set(err, -EINVAL,
					  "action: a security group cannot "
					  "refer to another group");
		r = db_count(tx, "SELECT count(*) FROM net_fw_groups WHERE name = ?",
			     x->group, &n, err);
		if (r < 0)
			return r;
		if (n == 0)
			return hx_err_set(err, -EINVAL,
					  "group: no security group '%s'",
					  x->group);
	}
	if ((r = refs_check(tx, "src", x->src, err)) < 0)
		return r;
	return refs_check(tx, "dst", x->dst, err);
}

/* Number of rules in @scope. */
static int scope_size(struct db_tx *tx, const char *scope, int64_t *ret,
		      struct hx_err *err)
{
	return db_count(tx, "SELECT count(*) FROM net_fw_rules WHERE scope = ?",
			scope, ret, err);
}

/* Moves the rules of @scope at positions >= @pos by @delta. */
static int shift(struct db_tx *tx, const char *scope, int64_t pos,
		 int delta, struct hx_err *err)
{
	struct wire_value p[] = {db_int(delta), db_text(scope), db_int(pos)};

	return db_exec(tx,
		       "UPDATE net_fw_rules SET pos = pos + ? WHERE scope = ? "
		       "AND pos >= ?",
		       p, 3, NULL, NULL, err);
}

static int rule_write(struct db_tx *tx, int64_t id,
		      const struct statedb_fw_rule *x, int64_t pos,
		      uint64_t *ret_id, struct hx_err *err)
{
	struct wire_value p[] = {
		db_text(x->scope),     db_int(pos),	     db_int(x->enabled),
		db_text(x->direction), db_text(x->action), db_text(x->group),
		db_text(x->macro),     db_text(x->proto),  db_text(x->sport),
		db_text(x->dport),     db_text(x->src),	     db_text(x->dst),
		db_int(x->log),	       db_text(x->comment), db_int(id),
	};

	if (id == 0)
		return db_exec(tx,
			       "INSERT INTO net_fw_rules (scope, pos, enabled, "
			       "direction, action, grp, macro, proto, sport, "
			       "dport, src, dst, log, comment) VALUES (?, ?, ?, "
			       "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       p, 14, ret_id, NULL, err);
	return db_exec(tx,
		       "UPDATE net_fw_rules SET scope = ?, pos = ?, enabled = ?, "
		       "direction = ?, action = ?, grp = ?, macro = ?, proto = "
		       "?, sport = ?, dport = ?, src = ?, dst = ?, log = ?, "
		       "comment = ? WHERE id = ?",
		       p, 15, NULL, NULL, err);
}

struct rule_req {
	int64_t id;
	const struct statedb_fw_rule *r;
	int64_t new_id;
};

static int rule_add_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct rule_req *q = data;
	const struct statedb_fw_rule *x = q->r;
	uint64_t id = 0;
	int64_t n, pos;
	int r;

	if ((r = scope_check(tx, x->scope, true, err)) < 0 ||
	    (r = rule_refs_check(tx, x, err)) < 0 ||
	    (r = scope_size(tx, x->scope, &n, err)) < 0)
		return r;
	pos = x->pos < 0 || x->pos > n ? n : x->pos;
	if ((r = shift(tx, x->scope, pos, 1, err)) < 0 ||
	    (r = rule_write(tx, 0, x, pos, &id, err)) < 0)
		return r;
	q->new_id = (int64_t)id;
	return db_net_bump(tx, err);
}

int statedb_fw_rule_add(struct statedb *db, const struct statedb_fw_rule *r,
			int64_t *ret_id, struct hx_err *err)
{
	struct rule_req q = {.r = r};
	int ret = db_write(db, rule_add_fn, &q, err);

	if (ret == 0 && ret_id != NULL)
		*ret_id = q.new_id;
	return ret;
}

/* Reads rule @id inside a transaction. */
static int rule_read(struct db_tx *tx, int64_t id, struct statedb_fw_rule *ret,
		     struct hx_err *err)
{
	struct wire_value p[] = {db_int(id)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " RULE_COLS " FROM net_fw_rules WHERE id = ?",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOENT, "no firewall rule %" PRId64,
				  id);
	}
	rule_from_row(rows, 0, ret);
	wire_rows_free(rows);
	return 0;
}

static int rule_update_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct rule_req *q = data;
	struct statedb_fw_rule cur, x = *q->r;
	int64_t n, pos;
	int r;

	if ((r = rule_read(tx, q->id, &cur, err)) < 0)
		return r;
	memcpy(x.scope, cur.scope, sizeof(x.scope));
	if ((r = rule_refs_check(tx, &x, err)) < 0)
		return r;
	pos = cur.pos;
	if (x.pos >= 0 && x.pos != cur.pos) {
		/* take it out, then insert it at its new place */
		if ((r = shift(tx, cur.scope, cur.pos + 1, -1, err)) < 0 ||
		    (r = scope_size(tx, cur.scope, &n, err)) < 0)
			return r;
		pos = x.pos > n - 1 ? n - 1 : x.pos;
		if ((r = shift(tx, cur.scope, pos, 1, err)) < 0)
			return r;
	}
	if ((r = rule_write(tx, q->id, &x, pos, NULL, err)) < 0)
		return r;
	return db_net_bump(tx, err);
}

int statedb_fw_rule_update(struct statedb *db, int64_t id,
			   const struct statedb_fw_rule *r, struct hx_err *err)
{
	struct rule_req q = {.id = id, .r = r};

	return db_write(db, rule_update_fn, &q, err);
}

static int rule_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct rule_req *q = data;
	struct statedb_fw_rule cur;
	struct wire_value p[] = {db_int(q->id)};
	int r;

	if ((r = rule_read(tx, q->id, &cur, err)) < 0)
		return r;
	r = db_exec(tx, "DELETE FROM net_fw_rules WHERE id = ?", p, 1, NULL,
		    NULL, err);
	if (r < 0 || (r = shift(tx, cur.scope, cur.pos + 1, -1, err)) < 0)
		return r;
	return db_net_bump(tx, err);
}

int statedb_fw_rule_delete(struct statedb *db, int64_t id,
			   struct hx_err *err)
{
	struct rule_req q = {.id = id};

	return db_write(db, rule_delete_fn, &q, err);
}

static int rule_get_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct rule_req *q = data;

	return rule_read(tx, q->id, (struct statedb_fw_rule *)q->r, err);
}

int statedb_fw_rule_get(struct statedb *db, int64_t id,
			struct statedb_fw_rule *ret, struct hx_err *err)
{
	struct rule_req q = {.id = id, .r = ret};

	return db_read(db, rule_get_fn, &q, err);
}

int statedb_fw_rule_list(struct statedb *db, const char *scope,
			 struct statedb_fw_rule **ret, unsigned *ret_n,
			 struct hx_err *err)
{
	struct wire_value p[] = {db_text(scope != NULL ? scope : "")};

	return db_list(db,
		       "SELECT " RULE_COLS " FROM net_fw_rules WHERE ?1 = '' OR "
		       "scope = ?1 ORDER BY scope, pos, id",
		       p, 1, sizeof(**ret), rule_from_row, (void **)ret, ret_n,
		       err);
}

/* ---- security groups ---- */

static void group_from_row(const struct wire_rows *rows, unsigned r,
			   void *out)
{
	struct statedb_fw_group *g = out;

	db_row_copy(rows, r, 0, g->name, sizeof(g->name));
	db_row_copy(rows, r, 1, g->comment, sizeof(g->comment));
}

static int group_create_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const struct statedb_fw_group *g = data;
	int64_t n;
	int r;

	if (!fw_name_ok(g->name))
		return hx_err_set(err, -EINVAL,
				  "name: '%s' is not a group name (1-%d of "
				  "a-z, 0-9 and '-', starting with a letter)",
				  g->name, STATEDB_FW_NAME_MAX);
	r = db_count(tx, "SELECT count(*) FROM net_fw_groups WHERE name = ?",
		     g->name, &n, err);
	if (r < 0)
		return r;
	if (n > 0)
		return hx_err_set(err, -EEXIST,
				  "security group '%s' already exists",
				  g->name);
	struct wire_value p[] = {db_text(g->name), db_text(g->comment)};
	r = db_exec(tx, "INSERT INTO net_fw_groups (name, comment) VALUES (?, ?)",
		    p, 2, NULL, NULL, err);
	return r < 0 ? r : db_net_bump(tx, err);
}

int statedb_fw_group_create(struct statedb *db,
			    const struct statedb_fw_group *g,
			    struct hx_err *err)
{
	return db_write(db, group_create_fn, (void *)g, err);
}

static int group_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const char *name = data;
	struct wire_value p[] = {db_text(name)};
	struct wire_rows *rows;
	uint64_t changes = 0;
	int r;

	r = db_query(tx,
		     "SELECT scope FROM net_fw_rules WHERE action = 'group' AND "
		     "grp = ? ORDER BY scope LIMIT 1",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows > 0) {
		r = hx_err_set(err, -EBUSY,
			       "security group '%s' is used by a rule of %s",
			       name, db_row_text(rows, 0, 0));
		wire_rows_free(rows);
		return r;
	}
	wire_rows_free(rows);
	r = db_exec(tx, "DELETE FROM net_fw_groups WHERE name = ?", p, 1, NULL,
		    &changes, err);
	if (r < 0)
		return r;
	if (changes == 0)
		return hx_err_set(err, -ENOENT, "no security group '%s'", name);
	r = db_exec(tx, "DELETE FROM net_fw_rules WHERE scope = 'group/' || ?",
		    p, 1, NULL, NULL, err);
	return r < 0 ? r : db_net_bump(tx, err);
}

int statedb_fw_group_delete(struct statedb *db, const char *name,
			    struct hx_err *err)
{
	return db_write(db, group_delete_fn, (void *)name, err);
}

int statedb_fw_group_list(struct statedb *db, struct statedb_fw_group **ret,
			  unsigned *ret_n, struct hx_err *err)
{
	return db_list(db,
		       "SELECT name, comment FROM net_fw_groups ORDER BY name",
		       NULL, 0, sizeof(**ret), group_from_row, (void **)ret,
		       ret_n, err);
}

/* ---- IP sets ---- */

static void ipset_from_row(const struct wire_rows *rows, unsigned r,
			   void *out)
{
	struct statedb_fw_ipset *s = out;

	db_row_copy(rows, r, 0, s->name, sizeof(s->name));
	db_row_copy(rows, r, 1, s->entries, sizeof(s->entries));
	db_row_copy(rows, r, 2, s->comment, sizeof(s->comment));
}

static int ipset_put_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const struct statedb_fw_ipset *s = data;
	int r;

	if (!fw_name_ok(s->name) || strcmp(s->name, "nodes") == 0)
		return hx_err_set(err, -EINVAL,
				  "name: '%s' is not an IP set name (1-%d of "
				  "a-z, 0-9 and '-', starting with a letter; "
				  "not 'nodes')",
				  s->name, STATEDB_FW_NAME_MAX);
	struct wire_value p[] = {db_text(s->name), db_text(s->entries),
				 db_text(s->comment)};
	r = db_exec(tx,
		    "INSERT INTO net_fw_ipsets (name, entries, comment) VALUES "
		    "(?, ?, ?) ON CONFLICT (name) DO UPDATE SET entries = "
		    "excluded.entries, comment = excluded.comment",
		    p, 3, NULL, NULL, err);
	return r < 0 ? r : db_net_bump(tx, err);
}

int statedb_fw_ipset_put(struct statedb *db, const struct statedb_fw_ipset *s,
			 struct hx_err *err)
{
	return db_write(db, ipset_put_fn, (void *)s, err);
}

static int ipset_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const char *name = data;
	char needle[40];
	struct wire_value q[] = {db_text(needle)}, p[] = {db_text(name)};
	struct wire_rows *rows;
	uint64_t changes = 0;
	int r;

	/* Address lists are stored comma-separated without spaces. */
	snprintf(needle, sizeof(needle), ",@%s,", name);
	r = db_query(tx,
		     "SELECT id, scope FROM net_fw_rules WHERE instr(',' || src "
		     "|| ',', ?1) > 0 OR instr(',' || dst || ',', ?1) > 0 ORDER "
		     "BY id LIMIT 1",
		     q, 1, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows > 0) {
		r = hx_err_set(err, -EBUSY,
			       "IP set '%s' is used by rule %" PRId64 " of %s",
			       name, db_row_int(rows, 0, 0),
			       db_row_text(rows, 0, 1));
		wire_rows_free(rows);
		return r;
	}
	wire_rows_free(rows);
	r = db_exec(tx, "DELETE FROM net_fw_ipsets WHERE name = ?", p, 1, NULL,
		    &changes, err);
	if (r < 0)
		return r;
	if (changes == 0)
		return hx_err_set(err, -ENOENT, "no IP set '%s'", name);
	return db_net_bump(tx, err);
}

int statedb_fw_ipset_delete(struct statedb *db, const char *name,
			    struct hx_err *err)
{
	return db_write(db, ipset_delete_fn, (void *)name, err);
}

int statedb_fw_ipset_list(struct statedb *db, struct statedb_fw_ipset **ret,
			  unsigned *ret_n, struct hx_err *err)
{
	return db_list(db,
		       "SELECT name, entries, comment FROM net_fw_ipsets ORDER "
		       "BY name",
		       NULL, 0, sizeof(**ret), ipset_from_row, (void **)ret,
		       ret_n, err);
}
