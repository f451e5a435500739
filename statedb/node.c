/* Cluster record, nodes, join tokens and API tokens. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

#define NODE_COLS                                                         \
	"id, name, address, peer, api_port, arch, cpus, memory_mb, labels, " \
	"cert_fp, joined_ms, version"

static void node_from_row(const struct wire_rows *rows, unsigned r,
			  struct statedb_node *n)
{
	char version[24];
	const char *parts[3];

	memset(n, 0, sizeof(*n));
	n->id = (uint64_t)db_row_int(rows, r, 0);
	db_row_copy(rows, r, 1, n->name, sizeof(n->name));
	db_row_copy(rows, r, 2, n->address, sizeof(n->address));
	db_row_copy(rows, r, 3, n->peer, sizeof(n->peer));
	n->api_port = (unsigned)db_row_int(rows, r, 4);
	db_row_copy(rows, r, 5, n->arch, sizeof(n->arch));
	n->cpus = (int)db_row_int(rows, r, 6);
	n->memory_mb = db_row_int(rows, r, 7);
	db_row_copy(rows, r, 8, n->labels, sizeof(n->labels));
	db_row_copy(rows, r, 9, n->cert_fp, sizeof(n->cert_fp));
	n->joined_ms = db_row_int(rows, r, 10);
	snprintf(version, sizeof(version), "%" PRId64, db_row_int(rows, r, 11));
	parts[0] = "node";
	parts[1] = n->name;
	parts[2] = version;
	db_digest(parts, 3, n->digest);
}

static int node_insert(struct db_tx *tx, const struct statedb_node *n,
		       struct hx_err *err)
{
	struct wire_value p[] = {
		db_int((int64_t)n->id), db_text(n->name),   db_text(n->address),
		db_text(n->peer),	db_int(n->api_port), db_text(n->arch),
		db_int(n->cpus),	db_int(n->memory_mb),
		db_text(n->labels[0] != '\0' ? n->labels : "{}"),
		db_text(n->cert_fp),	db_int(n->joined_ms),
	};
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT name FROM nodes WHERE id = ? OR name = ? OR "
		     "address = ? OR peer = ?",
		     p, 4, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows > 0) {
		r = hx_err_set(err, -EEXIST,
			       "a node named '%s' or with address '%s' is "
			       "already a member ('%s')",
			       n->name, n->address, db_row_text(rows, 0, 0));
		wire_rows_free(rows);
		return r;
	}
	wire_rows_free(rows);
	return db_exec(tx,
		       "INSERT INTO nodes (id, name, address, peer, api_port, "
		       "arch, cpus, memory_mb, labels, cert_fp, joined_ms) "
		       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

struct create_req {
	const char *name;
	const struct statedb_node *first;
	const char *token_hash;
};

static int cluster_create_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct create_req *c = data;
	struct wire_rows *rows;
	struct wire_value p[3];
	int r;

	r = db_query(tx, "SELECT value FROM meta WHERE key = 'cluster_name'",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows > 0) {
		r = hx_err_set(err, -EEXIST, "cluster '%s' already exists",
			       db_row_text(rows, 0, 0));
		wire_rows_free(rows);
		return r;
	}
	wire_rows_free(rows);
	p[0] = db_text(c->name);
	if ((r = db_exec(tx,
			 "INSERT INTO meta (key, value) VALUES "
			 "('cluster_name', ?)",
			 p, 1, NULL, NULL, err)) < 0 ||
	    (r = db_settings_defaults(tx, err)) < 0 ||
	    (r = node_insert(tx, c->first, err)) < 0)
		return r;
	p[0] = db_text(c->token_hash);
	p[1] = db_text("admin");
	p[2] = db_int((int64_t)hx_wall_ms());
	return db_exec(tx,
		       "INSERT INTO api_tokens (hash, name, created_ms) VALUES "
		       "(?, ?, ?)",
		       p, 3, NULL, NULL, err);
}

int statedb_cluster_create(struct statedb *db, const char *name,
			   const struct statedb_node *first,
			   const char *admin_token_hash, struct hx_err *err)
{
	struct create_req c = {name, first, admin_token_hash};

	return db_write(db, cluster_create_fn, &c, err);
}

struct name_req {
	char *buf;
	size_t len;
};

static int cluster_name_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct name_req *q = data;
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT value FROM meta WHERE key = 'cluster_name'",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	snprintf(q->buf, q->len, "%s",
		 rows->nrows > 0 ? db_row_text(rows, 0, 0) : "");
	wire_rows_free(rows);
	return 0;
}

int statedb_cluster_name(struct statedb *db, char *buf, size_t len,
			 struct hx_err *err)
{
	struct name_req q = {buf, len};

	return db_read(db, cluster_name_fn, &q, err);
}

struct list_req {
	const char *name;
	struct statedb_node *nodes;
	unsigned n;
};

static int node_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct list_req *q = data;
	struct wire_value p[] = {db_text(q->name != NULL ? q->name : "")};
	struct wire_rows *rows;
	int r;

	if (q->name != NULL)
		r = db_query(tx, "SELECT " NODE_COLS " FROM nodes WHERE name = ?",
			     p, 1, &rows, err);
	else
		r = db_query(tx, "SELECT " NODE_COLS " FROM nodes ORDER BY name",
			     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	q->nodes = calloc(rows->nrows + 1, sizeof(*q->nodes));
	if (q->nodes == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < rows->nrows; i++)
		node_from_row(rows, i, &q->nodes[i]);
	q->n = rows->nrows;
	wire_rows_free(rows);
	return 0;
}

int statedb_node_list(struct statedb *db, struct statedb_node **ret_nodes,
		      unsigned *ret_n, struct hx_err *err)
{
	struct list_req q = {0};
	int r = db_read(db, node_list_fn, &q, err);

	if (r < 0)
		return r;
	*ret_nodes = q.nodes;
	*ret_n = q.n;
	return 0;
}

int statedb_node_get(struct statedb *db, const char *name,
		     struct statedb_node *ret_node, struct hx_err *err)
{
	struct list_req q = {.name = name};
	int r = db_read(db, node_list_fn, &q, err);

	if (r < 0)
		return r;
	if (q.n == 0) {
		free(q.nodes);
		return hx_err_set(err, -ENOENT, "no node named '%s'", name);
	}
	*ret_node = q.nodes[0];
	free(q.nodes);
	return 0;
}

struct labels_req {
	const char *name;
	const char *labels;
	const char *if_digest;
};

static int node_labels_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct labels_req *q = data;
	struct list_req l = {.name = q->name};
	struct wire_value p[] = {db_text(q->labels), db_text(q->name)};
	int r;

	if ((r = node_list_fn(tx, &l, err)) < 0)
		return r;
	if (l.n == 0) {
		free(l.nodes);
		return hx_err_set(err, -ENOENT, "no node named '%s'", q->name);
	}
	if (q->if_digest != NULL && strcmp(q->if_digest, l.nodes[0].digest)) {
		r = hx_err_set(err, HX_ECONFLICT,
			       "node '%s' changed since it was read "
			       "(digest %s, now %s): re-read and retry",
			       q->name, q->if_digest, l.nodes[0].digest);
		free(l.nodes);
		return r;
	}
	free(l.nodes);
	return db_exec(tx,
		       "UPDATE nodes SET labels = ?, version = version + 1 "
		       "WHERE name = ?",
		       p, 2, NULL, NULL, err);
}

int statedb_node_set_labels(struct statedb *db, const char *name,
			    const char *labels, const char *if_digest,
			    struct hx_err *err)
{
	struct labels_req q = {name, labels, if_digest};

	return db_write(db, node_labels_fn, &q, err);
}

static int node_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct wire_value p[] = {db_text(data)};
	uint64_t changes = 0;
	int r;

	r = db_exec(tx, "DELETE FROM nodes WHERE name = ?", p, 1, NULL,
		    &changes, err);
	if (r == 0 && changes == 0)
		return hx_err_set(err, -ENOENT, "no node named '%s'",
				  (const char *)data);
	return r;
}

int statedb_node_delete(struct statedb *db, const char *name,
			struct hx_err *err)
{
	return db_write(db, node_delete_fn, (void *)name, err);
}

struct token_req {
	const char *hash;
	int64_t ms;
	const char *issuer;
	const struct statedb_node *node;
	bool valid;
};

static int token_add_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct token_req *q = data;
	struct wire_value p[] = {db_text(q->hash), db_text(q->issuer),
				 db_int((int64_t)hx_wall_ms()), db_int(q->ms)};

	/* Forget tokens that expired a day ago. */
	struct wire_value old[] = {db_int((int64_t)hx_wall_ms() - 86400000)};
	int r = db_exec(tx, "DELETE FROM join_tokens WHERE expires_ms < ?", old,
			1, NULL, NULL, err);
	if (r < 0)
		return r;
	return db_exec(tx,
		       "INSERT INTO join_tokens (hash, issuer, created_ms, "
		       "expires_ms) VALUES (?, ?, ?, ?)",
		       p, 4, NULL, NULL, err);
}

int statedb_token_add(struct statedb *db, const char *hash,
		      int64_t expires_ms, const char *issuer,
		      struct hx_err *err)
{
	struct token_req q = {.hash = hash, .ms = expires_ms, .issuer = issuer};

	return db_write(db, token_add_fn, &q, err);
}

static int node_admit_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct token_req *q = data;
	struct wire_value p[] = {db_text(q->hash)};
	struct wire_rows *rows;
	int64_t expires, used;
	int r;

	r = db_query(tx,
		     "SELECT expires_ms, used_ms IS NOT NULL FROM join_tokens "
		     "WHERE hash = ?",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, HX_ETOKEN,
				  "join token is not valid for this cluster");
	}
	expires = db_row_int(rows, 0, 0);
	used = db_row_int(rows, 0, 1);
	wire_rows_free(rows);
	if (used)
		return hx_err_set(err, HX_ETOKEN,
				  "join token was already used");
	if (expires <= q->ms)
		return hx_err_set(err, HX_ETOKEN, "join token has expired");
	if ((r = node_insert(tx, q->node, err)) < 0)
		return r;
	{
		struct wire_value u[] = {db_int(q->ms), db_text(q->node->name),
					 db_text(q->hash)};
		return db_exec(tx,
			       "UPDATE join_tokens SET used_ms = ?, used_by = ? "
			       "WHERE hash = ?",
			       u, 3, NULL, NULL, err);
	}
}

int statedb_node_admit(struct statedb *db, const char *hash, int64_t now_ms,
		       const struct statedb_node *node, struct hx_err *err)
{
	struct token_req q = {.hash = hash, .ms = now_ms, .node = node};

	return db_write(db, node_admit_fn, &q, err);
}

static int apitoken_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct token_req *q = data;
	struct wire_value p[] = {db_text(q->hash)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT 1 FROM api_tokens WHERE hash = ?", p, 1, &rows,
		     err);
	if (r < 0)
		return r;
	q->valid = rows->nrows > 0;
	wire_rows_free(rows);
	return 0;
}

int statedb_apitoken_check(struct statedb *db, const char *hash,
			   bool *ret_valid, struct hx_err *err)
{
	struct token_req q = {.hash = hash};
	int r = db_read(db, apitoken_fn, &q, err);

	if (r == 0)
		*ret_valid = q.valid;
	return r;
}
