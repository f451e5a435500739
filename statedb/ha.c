/*
 * High availability: HA resources, rules, node states, and the two
 * operations of the leader's loop: load everything a scheduler step needs,
 * and commit a step's plan.
 *
 * DESIGN: the scheduler (scheduler/) is pure and indexes nodes and
 * services by position; the database names them. The loader builds a
 * struct sched_state from the rows (nodes by name, VMs as services
 * "vm:VMID", statuses translated from names to indices) and the applier
 * translates back, so nothing in the tables depends on an index. The last
 * explanation of a decision is stored twice: encoded, so that the next
 * load gives the scheduler exactly what it left (it records a waiting
 * reason only once), and as the text `hxctl ha why` prints. A plan is
 * committed in one transaction, together with what it implies for the VM
 * rows (node, desired state) and its events: recovery decisions exist only
 * once committed. Times stored are wall-clock milliseconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

#define HA_COLS                                                              \
	"vmid, request, max_restart, max_relocate, failback, priority, "     \
	"comment, version, created_ms, state, node, target, maint_node, uid, " \
	"uid_ms, confirmed, restarts, failed, why_text, state_ms"

#define RULE_COLS                                                          \
	"id, kind, disabled, strict, positive, resources, nodes, comment, " \
	"version"

static const char *const requests[] = {"started", "stopped", "disabled",
				       "ignored"};

void statedb_ha_config_defaults(struct statedb_ha_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->request, sizeof(c->request), "started");
	c->max_restart = 1;
	c->max_relocate = 1;
	c->failback = true;
}

static int request_parse(const char *s)
{
	for (size_t i = 0; i < HX_ARRAY_SIZE(requests); i++)
		if (strcmp(s, requests[i]) == 0)
			return (int)i; /* the order of enum sched_request */
	return -1;
}

int statedb_ha_config_check(const struct statedb_ha_config *c,
			    struct hx_err *err)
{
	if (request_parse(c->request) < 0)
		return hx_err_set(err, -EINVAL,
				  "state: must be started, stopped, disabled "
				  "or ignored, not '%s'",
				  c->request);
	if (c->max_restart < 0 || c->max_restart > 10)
		return hx_err_set(err, -EINVAL,
				  "max_restart: must be from 0 to 10");
	if (c->max_relocate < 0 || c->max_relocate > 10)
		return hx_err_set(err, -EINVAL,
				  "max_relocate: must be from 0 to 10");
	if (c->priority < -1000000 || c->priority > 1000000)
		return hx_err_set(err, -EINVAL,
				  "priority: must be from -1000000 to 1000000");
	return 0;
}

/* ---- resources ---- */

static void resource_from_row(const struct wire_rows *rows, unsigned r,
			      struct statedb_ha_resource *h)
{
	char vmid[24], version[24];
	const char *parts[3];

	memset(h, 0, sizeof(*h));
	h->vmid = db_row_int(rows, r, 0);
	db_row_copy(rows, r, 1, h->conf.request, sizeof(h->conf.request));
	h->conf.max_restart = (int)db_row_int(rows, r, 2);
	h->conf.max_relocate = (int)db_row_int(rows, r, 3);
	h->conf.failback = db_row_int(rows, r, 4) != 0;
	h->conf.priority = (int)db_row_int(rows, r, 5);
	db_row_copy(rows, r, 6, h->conf.comment, sizeof(h->conf.comment));
	h->created_ms = db_row_int(rows, r, 8);
	db_row_copy(rows, r, 9, h->state, sizeof(h->state));
	db_row_copy(rows, r, 10, h->node, sizeof(h->node));
	db_row_copy(rows, r, 11, h->target, sizeof(h->target));
	db_row_copy(rows, r, 12, h->maint_node, sizeof(h->maint_node));
	h->uid = db_row_int(rows, r, 13);
	h->uid_ms = db_row_int(rows, r, 14);
	h->confirmed = db_row_int(rows, r, 15) != 0;
	h->restarts = (int)db_row_int(rows, r, 16);
	db_row_copy(rows, r, 17, h->failed, sizeof(h->failed));
	db_row_copy(rows, r, 18, h->why, sizeof(h->why));
	h->state_ms = db_row_int(rows, r, 19);
	snprintf(vmid, sizeof(vmid), "%" PRId64, h->vmid);
	snprintf(version, sizeof(version), "%" PRId64, db_row_int(rows, r, 7));
	parts[0] = "ha";
	parts[1] = vmid;
	parts[2] = version;
	db_digest(parts, 3, h->digest);
}

struct res_req {
	int64_t vmid;
	const struct statedb_ha_config *conf;
	const char *if_digest;
	struct statedb_ha_resource *list;
	unsigned n;
};

static int resource_read(struct db_tx *tx, int64_t vmid,
			 struct statedb_ha_resource *ret, struct hx_err *err)
{
	struct wire_value p[] = {db_int(vmid)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " HA_COLS " FROM ha_resources WHERE vmid = ?",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOENT,
				  "VM %" PRId64 " is not an HA resource", vmid);
	}
	resource_from_row(rows, 0, ret);
	wire_rows_free(rows);
	return 0;
}

static int resource_add_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct res_req *q = data;
	const struct statedb_ha_config *c = q->conf;
	struct wire_value p[] = {
		db_int(q->vmid),	    db_text(c->request),
		db_int(c->max_restart),	    db_int(c->max_relocate),
		db_int(c->failback ? 1 : 0), db_int(c->priority),
		db_text(c->comment),	    db_int((int64_t)hx_wall_ms()),
	};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT vmid FROM vms WHERE vmid = ?", p, 1, &rows,
		     err);
	if (r < 0)
		return r;
	r = rows->nrows;
	wire_rows_free(rows);
	if (r == 0)
		return hx_err_set(err, -ENOENT, "no VM %" PRId64, q->vmid);
	r = db_query(tx, "SELECT vmid FROM ha_resources WHERE vmid = ?", p, 1,
		     &rows, err);
	if (r < 0)
		return r;
	r = rows->nrows;
	wire_rows_free(rows);
	if (r > 0)
		return hx_err_set(err, -EEXIST,
				  "VM %" PRId64 " is already an HA resource",
				  q->vmid);
	return db_exec(tx,
		       "INSERT INTO ha_resources (vmid, request, max_restart, "
		       "max_relocate, failback, priority, comment, created_ms) "
		       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

int statedb_ha_resource_add(struct statedb *db, int64_t vmid,
			    const struct statedb_ha_config *c,
			    struct hx_err *err)
{
	struct res_req q = {.vmid = vmid, .conf = c};
	int r;

	if ((r = statedb_ha_config_check(c, err)) < 0)
		return r;
	return db_write(db, resource_add_fn, &q, err);
}

static int resource_get_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct res_req *q = data;

	return resource_read(tx, q->vmid, q->list, err);
}

int statedb_ha_resource_get(struct statedb *db, int64_t vmid,
			    struct statedb_ha_resource *ret,
			    struct hx_err *err)
{
	struct statedb_ha_resource h;
	struct res_req q = {.vmid = vmid, .list = &h};
	int r = db_read(db, resource_get_fn, &q, err);

	if (r == 0)
		*ret = h;
	return r;
}

static int resource_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct res_req *q = data;
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " HA_COLS " FROM ha_resources ORDER BY vmid",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	free(q->list);
	q->list = calloc(rows->nrows + 1, sizeof(*q->list));
	if (q->list == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (q->n = 0; q->n < rows->nrows; q->n++)
		resource_from_row(rows, q->n, &q->list[q->n]);
	wire_rows_free(rows);
	return 0;
}

int statedb_ha_resource_list(struct statedb *db,
			     struct statedb_ha_resource **ret, unsigned *ret_n,
			     struct hx_err *err)
{
	struct res_req q = {0};
	int r = db_read(db, resource_list_fn, &q, err);

	if (r < 0) {
		free(q.list);
		return r;
	}
	*ret = q.list;
	*ret_n = q.n;
	return 0;
}

static int digest_check(const char *what, const char *if_digest,
			const char *cur, struct hx_err *err)
{
	if (if_digest == NULL || strcmp(if_digest, cur) == 0)
		return 0;
	return hx_err_set(err, HX_ECONFLICT,
			  "%s changed since it was read (digest %s, now %s): "
			  "re-read and retry",
			  what, if_digest, cur);
}

static int resource_update_fn(struct db_tx *tx, void *data,
			      struct hx_err *err)
{
	struct res_req *q = data;
	const struct statedb_ha_config *c = q->conf;
	struct statedb_ha_resource cur;
	char what[48];
	int r;

	if ((r = resource_read(tx, q->vmid, &cur, err)) < 0)
		return r;
	snprintf(what, sizeof(what), "HA resource %" PRId64, q->vmid);
	if ((r = digest_check(what, q->if_digest, cur.digest, err)) < 0)
		return r;
	struct wire_value p[] = {
		db_text(c->request),	    db_int(c->max_restart),
		db_int(c->max_relocate),    db_int(c->failback ? 1 : 0),
		db_int(c->priority),	    db_text(c->comment),
		db_int(q->vmid),
	};
	return db_exec(tx,
		       "UPDATE ha_resources SET request = ?, max_restart = ?, "
		       "max_relocate = ?, failback = ?, priority = ?, "
		       "comment = ?, version = version + 1 WHERE vmid = ?",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

int statedb_ha_resource_update(struct statedb *db, int64_t vmid,
			       const struct statedb_ha_config *c,
			       const char *if_digest, struct hx_err *err)
{
	struct res_req q = {.vmid = vmid, .conf = c, .if_digest = if_digest};
	int r;

	if ((r = statedb_ha_config_check(c, err)) < 0)
		return r;
	return db_write(db, resource_update_fn, &q, err);
}

static int resource_delete_fn(struct db_tx *tx, void *data,
			      struct hx_err *err)
{
	struct res_req *q = data;
	struct statedb_ha_resource cur;
	struct wire_value p[] = {db_int(q->vmid)};
	char what[48];
	int r;

	if ((r = resource_read(tx, q->vmid, &cur, err)) < 0)
		return r;
	snprintf(what, sizeof(what), "HA resource %" PRId64, q->vmid);
	if ((r = digest_check(what, q->if_digest, cur.digest, err)) < 0)
		return r;
	return db_exec(tx, "DELETE FROM ha_resources WHERE vmid = ?", p, 1,
		       NULL, NULL, err);
}

int statedb_ha_resource_delete(struct statedb *db, int64_t vmid,
			       const char *if_digest, struct hx_err *err)
{
	struct res_req q = {.vmid = vmid, .if_digest = if_digest};

	return db_write(db, resource_delete_fn, &q, err);
}

/* ---- rules ---- */

static const char *const rule_kinds[] = {
	[SCHED_RULE_NODE_AFFINITY] = "node-affinity",
	[SCHED_RULE_RESOURCE_AFFINITY] = "resource-affinity",
	[SCHED_RULE_ORDER] = "order",
};

static void rule_from_row(const struct wire_rows *rows, unsigned r,
			  struct statedb_ha_rule *h)
{
	char version[24];
	const char *parts[3];

	memset(h, 0, sizeof(*h));
	db_row_copy(rows, r, 0, h->id, sizeof(h->id));
	db_row_copy(rows, r, 1, h->kind, sizeof(h->kind));
	h->disabled = db_row_int(rows, r, 2) != 0;
	h->strict = db_row_int(rows, r, 3) != 0;
	h->positive = db_row_int(rows, r, 4) != 0;
	db_row_copy(rows, r, 5, h->resources, sizeof(h->resources));
	db_row_copy(rows, r, 6, h->nodes, sizeof(h->nodes));
	db_row_copy(rows, r, 7, h->comment, sizeof(h->comment));
	snprintf(version, sizeof(version), "%" PRId64, db_row_int(rows, r, 8));
	parts[0] = "rule";
	parts[1] = h->id;
	parts[2] = version;
	db_digest(parts, 3, h->digest);
}

int statedb_ha_rule_to_sched(const struct statedb_ha_rule *r,
			     struct sched_rule *ret,
			     char (*sids)[SCHED_NAME_MAX],
			     struct sched_node_prio *nodes, unsigned max)
{
	char buf[sizeof(r->nodes)], *save, *t;
	unsigned n = 0;
	int kind = -1;

	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < HX_ARRAY_SIZE(rule_kinds); i++)
		if (strcmp(r->kind, rule_kinds[i]) == 0)
			kind = (int)i;
	if (kind < 0 || strlen(r->id) >= SCHED_NAME_MAX)
		return -EINVAL;
	snprintf(ret->id, sizeof(ret->id), "%s", r->id);
	ret->kind = (enum sched_rule_kind)kind;
	ret->disabled = r->disabled;
	ret->strict = r->strict;
	ret->positive = r->positive;
	snprintf(buf, sizeof(buf), "%s", r->resources);
	for (t = strtok_r(buf, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save)) {
		char *end;
		long long v = strtoll(t, &end, 10);
		if (*end != '\0' || v < STATEDB_VMID_MIN || n == max)
			return -EINVAL;
		snprintf(sids[n++], SCHED_NAME_MAX, "vm:%lld", v);
	}
	ret->sids = (const char(*)[SCHED_NAME_MAX])sids;
	ret->n_sids = n;
	n = 0;
	snprintf(buf, sizeof(buf), "%s", r->nodes);
	for (t = strtok_r(buf, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save)) {
		char *colon = strchr(t, ':'), *end;
		if (n == max)
			return -EINVAL;
		nodes[n].priority = 0;
		if (colon != NULL) {
			*colon = '\0';
			long v = strtol(colon + 1, &end, 10);
			if (*end != '\0' || colon[1] == '\0' || v < -1000000 ||
			    v > 1000000)
				return -EINVAL;
			nodes[n].priority = (int32_t)v;
		}
		if (t[0] == '\0' || strlen(t) >= SCHED_NAME_MAX)
			return -EINVAL;
		snprintf(nodes[n].node, sizeof(nodes[n].node), "%s", t);
		n++;
	}
	ret->nodes = nodes;
	ret->n_nodes = n;
	return 0;
}

struct rule_req {
	const struct statedb_ha_rule *rule;
	const char *id;
	const char *if_digest;
	struct statedb_ha_rule *list;
	unsigned n;
};

static int rule_read(struct db_tx *tx, const char *id,
		     struct statedb_ha_rule *ret, struct hx_err *err)
{
	struct wire_value p[] = {db_text(id)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " RULE_COLS " FROM ha_rules WHERE id = ?", p,
		     1, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOENT, "no HA rule '%s'", id);
	}
	rule_from_row(rows, 0, ret);
	wire_rows_free(rows);
	return 0;
}

static int rule_add_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct rule_req *q = data;
	const struct statedb_ha_rule *h = q->rule;
	struct wire_value p[] = {
		db_text(h->id),		    db_text(h->kind),
		db_int(h->disabled ? 1 : 0), db_int(h->strict ? 1 : 0),
		db_int(h->positive ? 1 : 0), db_text(h->resources),
		db_text(h->nodes),	    db_text(h->comment),
		db_int((int64_t)hx_wall_ms()),
	};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT id FROM ha_rules WHERE id = ?", p, 1, &rows,
		     err);
	if (r < 0)
		return r;
	r = rows->nrows;
	wire_rows_free(rows);
	if (r > 0)
		return hx_err_set(err, -EEXIST, "an HA rule '%s' exists",
				  h->id);
	return db_exec(tx,
		       "INSERT INTO ha_rules (id, kind, disabled, strict, "
		       "positive, resources, nodes, comment, created_ms) "
		       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

/* The stored form must parse; the API checks the meaning. */
static int rule_check(const struct statedb_ha_rule *h, struct hx_err *err)
{
	char(*sids)[SCHED_NAME_MAX] = calloc(256, sizeof(*sids));
	struct sched_node_prio *nodes = calloc(256, sizeof(*nodes));
	struct sched_rule sr;
	int r = -ENOMEM;

	if (sids != NULL && nodes != NULL)
		r = statedb_ha_rule_to_sched(h, &sr, sids, nodes, 256);
	free(sids);
	free(nodes);
	if (r == -ENOMEM)
		return hx_err_set(err, r, "out of memory");
	if (r < 0)
		return hx_err_set(err, -EINVAL,
				  "rule '%s': malformed kind, resources or "
				  "nodes",
				  h->id);
	return 0;
}

int statedb_ha_rule_add(struct statedb *db, const struct statedb_ha_rule *r,
			struct hx_err *err)
{
	struct rule_req q = {.rule = r};
	int rc;

	if ((rc = rule_check(r, err)) < 0)
		return rc;
	return db_write(db, rule_add_fn, &q, err);
}

static int rule_get_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct rule_req *q = data;

	return rule_read(tx, q->id, q->list, err);
}

int statedb_ha_rule_get(struct statedb *db, const char *id,
			struct statedb_ha_rule *ret, struct hx_err *err)
{
	struct rule_req q = {.id = id, .list = ret};

	return db_read(db, rule_get_fn, &q, err);
}

static int rule_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct rule_req *q = data;
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " RULE_COLS " FROM ha_rules ORDER BY id",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	free(q->list);
	q->list = calloc(rows->nrows + 1, sizeof(*q->list));
	if (q->list == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (q->n = 0; q->n < rows->nrows; q->n++)
		rule_from_row(rows, q->n, &q->list[q->n]);
	wire_rows_free(rows);
	return 0;
}

int statedb_ha_rule_list(struct statedb *db, struct statedb_ha_rule **ret,
			 unsigned *ret_n, struct hx_err *err)
{
	struct rule_req q = {0};
	int r = db_read(db, rule_list_fn, &q, err);

	if (r < 0) {
		free(q.list);
		return r;
	}
	*ret = q.list;
	*ret_n = q.n;
	return 0;
}

static int rule_update_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct rule_req *q = data;
	const struct statedb_ha_rule *h = q->rule;
	struct statedb_ha_rule *cur = calloc(1, sizeof(*cur));
	char what[96];
	int r;

	if (cur == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	r = rule_read(tx, h->id, cur, err);
	snprintf(what, sizeof(what), "HA rule '%s'", h->id);
	if (r == 0)
		r = digest_check(what, q->if_digest, cur->digest, err);
	free(cur);
	if (r < 0)
		return r;
	struct wire_value p[] = {
		db_text(h->kind),	    db_int(h->disabled ? 1 : 0),
		db_int(h->strict ? 1 : 0), db_int(h->positive ? 1 : 0),
		db_text(h->resources),	    db_text(h->nodes),
		db_text(h->comment),	    db_text(h->id),
	};
	return db_exec(tx,
		       "UPDATE ha_rules SET kind = ?, disabled = ?, strict = ?, "
		       "positive = ?, resources = ?, nodes = ?, comment = ?, "
		       "version = version + 1 WHERE id = ?",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

int statedb_ha_rule_update(struct statedb *db, const struct statedb_ha_rule *r,
			   const char *if_digest, struct hx_err *err)
{
	struct rule_req q = {.rule = r, .if_digest = if_digest};
	int rc;

	if ((rc = rule_check(r, err)) < 0)
		return rc;
	return db_write(db, rule_update_fn, &q, err);
}

static int rule_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct rule_req *q = data;
	struct statedb_ha_rule *cur = calloc(1, sizeof(*cur));
	struct wire_value p[] = {db_text(q->id)};
	char what[96];
	int r;

	if (cur == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	r = rule_read(tx, q->id, cur, err);
	snprintf(what, sizeof(what), "HA rule '%s'", q->id);
	if (r == 0)
		r = digest_check(what, q->if_digest, cur->digest, err);
	free(cur);
	if (r < 0)
		return r;
	return db_exec(tx, "DELETE FROM ha_rules WHERE id = ?", p, 1, NULL,
		       NULL, err);
}

int statedb_ha_rule_delete(struct statedb *db, const char *id,
			   const char *if_digest, struct hx_err *err)
{
	struct rule_req q = {.id = id, .if_digest = if_digest};

	return db_write(db, rule_delete_fn, &q, err);
}

/* ---- node states ---- */

struct node_req {
	struct statedb_ha_node *list;
	unsigned n;
};

static int node_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct node_req *q = data;
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT name, state, since_ms, maintenance FROM ha_nodes "
		     "ORDER BY name",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	free(q->list);
	q->list = calloc(rows->nrows + 1, sizeof(*q->list));
	if (q->list == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (q->n = 0; q->n < rows->nrows; q->n++) {
		struct statedb_ha_node *h = &q->list[q->n];

		db_row_copy(rows, q->n, 0, h->name, sizeof(h->name));
		db_row_copy(rows, q->n, 1, h->state, sizeof(h->state));
		h->since_ms = db_row_int(rows, q->n, 2);
		h->maintenance = db_row_int(rows, q->n, 3) != 0;
	}
	wire_rows_free(rows);
	return 0;
}

int statedb_ha_node_list(struct statedb *db, struct statedb_ha_node **ret,
			 unsigned *ret_n, struct hx_err *err)
{
	struct node_req q = {0};
	int r = db_read(db, node_list_fn, &q, err);

	if (r < 0) {
		free(q.list);
		return r;
	}
	*ret = q.list;
	*ret_n = q.n;
	return 0;
}
