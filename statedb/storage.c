/*
 * Storage records: pools defined cluster-wide, what each node observes of
 * them, and VM snapshot trees.
 *
 * DESIGN: a pool row is the definition (what an admin wrote); the status
 * rows are observations, one per (pool, node), written by each node's
 * storage executor and never part of the pool's digest, so an admin's
 * read-modify-write is not spoiled by usage figures moving. Volumes have no
 * rows: a pool's content is what its backend lists, as on Proxmox, so
 * nothing can disagree with the disk. Names are checked here, where the
 * rules live once for the API, the executor and the tests.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

#define POOL_COLS                                                              \
	"name, type, path, options, nodes, content, shared, created_ms, "      \
	"version"
#define STATUS_COLS                                                            \
	"pool, node, available, capacity_bytes, used_bytes, free_bytes, "      \
	"message, updated_ms"
#define SNAP_COLS                                                              \
	"vmid, name, parent, description, ram, current, config, created_ms"

static const char *const pool_types[] = {"dir", "btrfs", "nfs", "rbd", NULL};
static const char *const contents[] = {"images", "iso", "backup", "template",
				       NULL};

static bool in_set(const char *s, size_t n, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strlen(*set) == n && strncmp(s, *set, n) == 0)
			return true;
	return false;
}

/* ---- pool definitions ---- */

static bool path_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || s[0] != '/' || s[n - 1] == '/' ||
	    strstr(s, "//") != NULL || strstr(s, "/../") != NULL ||
	    strstr(s, "/./") != NULL ||
	    (n >= 3 && strcmp(s + n - 3, "/..") == 0) ||
	    (n >= 2 && strcmp(s + n - 2, "/.") == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ',' ||
		    s[i] == ':')
			return false;
	return true;
}

/* Normalizes a word list ("a, b" or " a b ") into " a b " in place after
 * checking each word; no duplicates. @set NULL: node names. */
static int words_norm(char *list, size_t len, const char *const *set,
		      const char *field, struct hx_err *err)
{
	char out[1024] = "", *save = NULL, *w;
	char *copy = strdup(list);
	size_t off = 0;
	int r = 0;

	if (copy == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	for (w = strtok_r(copy, " ,", &save); w != NULL;
	     w = strtok_r(NULL, " ,", &save)) {
		char probe[80];
		size_t n = strlen(w);

		if (set != NULL ? !in_set(w, n, set)
				: (n > 63 || !statedb_pool_name_ok(w))) {
			r = hx_err_set(err, -EINVAL, "%s: '%.63s' is not %s",
				       field, w,
				       set != NULL ? "one of images, iso, "
						     "backup, template"
						   : "a node name");
			break;
		}
		snprintf(probe, sizeof(probe), " %s ", w);
		if (strstr(out, probe) != NULL)
			continue;
		if (off + n + 2 >= sizeof(out) || off + n + 2 >= len) {
			r = hx_err_set(err, -EINVAL, "%s: too long", field);
			break;
		}
		off += (size_t)snprintf(out + off, sizeof(out) - off, "%s%s ",
					off == 0 ? " " : "", w);
	}
	free(copy);
	if (r == 0)
		snprintf(list, len, "%s", out);
	return r;
}

int statedb_pool_check(struct statedb_pool *p, struct hx_err *err)
{
	bool needs_path =
		strcmp(p->type, "dir") == 0 || strcmp(p->type, "btrfs") == 0;
	size_t n = strlen(p->options);

	if (strcmp(p->name, "local") == 0)
		return hx_err_set(err, -EINVAL,
				  "name: 'local' is reserved (it names each "
				  "node's images directory)");
	if (!statedb_pool_name_ok(p->name))
		return hx_err_set(err, -EINVAL,
				  "name: '%.40s': use [a-z0-9_-], 1-%d "
				  "characters, starting with a letter or digit",
				  p->name, STATEDB_POOL_NAME_MAX);
	if (!in_set(p->type, strlen(p->type), pool_types))
		return hx_err_set(err, -EINVAL,
				  "type: '%.8s' is not one of dir, btrfs, nfs, "
				  "rbd",
				  p->type);
	if (needs_path && !path_ok(p->path))
		return hx_err_set(err, -EINVAL,
				  "path: '%.200s' must be an absolute, "
				  "normalized path without '..', commas, "
				  "colons or control characters",
				  p->path);
	if (!needs_path && p->path[0] != '\0' && !path_ok(p->path))
		return hx_err_set(err, -EINVAL,
				  "path: '%.200s' is not a "
				  "normalized absolute path",
				  p->path);
	if (n < 2 || p->options[0] != '{' || p->options[n - 1] != '}')
		return hx_err_set(err, -EINVAL,
				  "options: must be a JSON object");
	if (words_norm(p->nodes, sizeof(p->nodes), NULL, "nodes", err) < 0 ||
	    words_norm(p->content, sizeof(p->content), contents, "content",
		       err) < 0)
		return err != NULL ? err->code : -EINVAL;
	if (p->content[0] == '\0')
		return hx_err_set(err, -EINVAL,
				  "content: at least one of images, iso, "
				  "backup, template");
	if (strcmp(p->type, "nfs") == 0 || strcmp(p->type, "rbd") == 0)
		p->shared = true;
	return 0;
}

bool statedb_pool_on_node(const struct statedb_pool *p, const char *node)
{
	char probe[80];

	if (p->nodes[0] == '\0')
		return true;
	snprintf(probe, sizeof(probe), " %s ", node);
	return strstr(p->nodes, probe) != NULL;
}

bool statedb_pool_has_content(const struct statedb_pool *p, const char *content)
{
	char probe[32];

	snprintf(probe, sizeof(probe), " %s ", content);
	return strstr(p->content, probe) != NULL;
}

static void pool_from_row(const struct wire_rows *rows, unsigned r,
			  struct statedb_pool *p)
{
	char version[24];
	const char *parts[3];

	memset(p, 0, sizeof(*p));
	db_row_copy(rows, r, 0, p->name, sizeof(p->name));
	db_row_copy(rows, r, 1, p->type, sizeof(p->type));
	db_row_copy(rows, r, 2, p->path, sizeof(p->path));
	db_row_copy(rows, r, 3, p->options, sizeof(p->options));
	db_row_copy(rows, r, 4, p->nodes, sizeof(p->nodes));
	db_row_copy(rows, r, 5, p->content, sizeof(p->content));
	p->shared = db_row_int(rows, r, 6) != 0;
	p->created_ms = db_row_int(rows, r, 7);
	snprintf(version, sizeof(version), "%" PRId64, db_row_int(rows, r, 8));
	parts[0] = "pool";
	parts[1] = p->name;
	parts[2] = version;
	db_digest(parts, 3, p->digest);
}

struct pool_req {
	struct statedb_pool *pool;
	const char *name;
	const char *if_digest;
	struct statedb_pool *list;
	unsigned n;
	const struct statedb_pool_status *st;
	struct statedb_pool_status *sts;
};

static int pool_read(struct db_tx *tx, const char *name,
		     struct statedb_pool *ret, struct hx_err *err)
{
	struct wire_value p[] = {db_text(name)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " POOL_COLS " FROM pools WHERE name = ?", p, 1,
		     &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOENT, "no storage pool '%.40s'",
				  name);
	}
	pool_from_row(rows, 0, ret);
	wire_rows_free(rows);
	return 0;
}

static int pool_create_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct pool_req *q = data;
	struct statedb_pool *s = q->pool, cur;
	struct wire_value p[] = {
		db_text(s->name),  db_text(s->type),
		db_text(s->path),  db_text(s->options),
		db_text(s->nodes), db_text(s->content),
		db_int(s->shared), db_int((int64_t)hx_wall_ms()),
	};
	int r;

	r = pool_read(tx, s->name, &cur, NULL);
	if (r == 0)
		return hx_err_set(err, -EEXIST,
				  "storage pool '%s' already exists", s->name);
	if (r != -ENOENT)
		return pool_read(tx, s->name, &cur, err);
	return db_exec(tx,
		       "INSERT INTO pools (name, type, path, options, nodes, "
		       "content, shared, created_ms) VALUES (?, ?, ?, ?, ?, ?, "
		       "?, ?)",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

int statedb_pool_create(struct statedb *db, struct statedb_pool *p,
			struct hx_err *err)
{
	struct pool_req q = {.pool = p};
	int r;

	if ((r = statedb_pool_check(p, err)) < 0)
		return r;
	return db_write(db, pool_create_fn, &q, err);
}

static int pool_get_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct pool_req *q = data;

	return pool_read(tx, q->name, q->pool, err);
}

int statedb_pool_get(struct statedb *db, const char *name,
		     struct statedb_pool *ret, struct hx_err *err)
{
	struct statedb_pool p;
	struct pool_req q = {.name = name, .pool = &p};
	int r = db_read(db, pool_get_fn, &q, err);

	if (r == 0)
		*ret = p;
	return r;
}

static int pool_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct pool_req *q = data;
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " POOL_COLS " FROM pools ORDER BY name", NULL,
		     0, &rows, err);
	if (r < 0)
		return r;
	free(q->list);
	q->list = calloc(rows->nrows + 1, sizeof(*q->list));
	if (q->list == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (q->n = 0; q->n < rows->nrows; q->n++)
		pool_from_row(rows, q->n, &q->list[q->n]);
	wire_rows_free(rows);
	return 0;
}

int statedb_pool_list(struct statedb *db, struct statedb_pool **ret,
		      unsigned *ret_n, struct hx_err *err)
{
	struct pool_req q = {0};
	int r = db_read(db, pool_list_fn, &q, err);

	if (r < 0) {
		free(q.list);
		return r;
	}
	*ret = q.list;
	*ret_n = q.n;
	return 0;
}

static int pool_update_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct pool_req *q = data;
	struct statedb_pool *s = q->pool, cur;
	int r;

	if ((r = pool_read(tx, s->name, &cur, err)) < 0)
		return r;
	if (q->if_digest != NULL && strcmp(q->if_digest, cur.digest) != 0)
		return hx_err_set(err, HX_ECONFLICT,
				  "storage pool '%s' changed since it was read "
				  "(digest %s, now %s): re-read and retry",
				  s->name, q->if_digest, cur.digest);
	struct wire_value p[] = {db_text(s->nodes), db_text(s->content),
				 db_text(s->options), db_text(s->name)};
	return db_exec(tx,
		       "UPDATE pools SET nodes = ?, content = ?, options = ?, "
		       "version = version + 1 WHERE name = ?",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

int statedb_pool_update(struct statedb *db, struct statedb_pool *p,
			const char *if_digest, struct hx_err *err)
{
	struct pool_req q = {.pool = p, .if_digest = if_digest};
	int r;

	if ((r = statedb_pool_check(p, err)) < 0)
		return r;
	return db_write(db, pool_update_fn, &q, err);
}

static int pool_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct pool_req *q = data;
	struct wire_value p[] = {db_text(q->name)};
	uint64_t changes = 0;
	int r;

	r = db_exec(tx, "DELETE FROM pools WHERE name = ?", p, 1, NULL,
		    &changes, err);
	if (r < 0)
		return r;
	if (changes == 0)
		return hx_err_set(err, -ENOENT, "no storage pool '%.40s'",
				  q->name);
	return db_exec(tx, "DELETE FROM pool_status WHERE pool = ?", p, 1, NULL,
		       NULL, err);
}

int statedb_pool_delete(struct statedb *db, const char *name,
			struct hx_err *err)
{
	struct pool_req q = {.name = name};

	return db_write(db, pool_delete_fn, &q, err);
}

/* ---- per-node status ---- */

static int status_set_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct pool_req *q = data;
	const struct statedb_pool_status *s = q->st;
	struct statedb_pool cur;
	struct wire_value p[] = {
		db_text(s->pool),      db_text(s->node),
		db_int(s->available),  db_int(s->capacity_bytes),
		db_int(s->used_bytes), db_int(s->free_bytes),
		db_text(s->message),   db_int((int64_t)hx_wall_ms()),
	};
	int r;

	if ((r = pool_read(tx, s->pool, &cur, err)) < 0)
		return r;
	return db_exec(tx,
		       "INSERT INTO pool_status (" STATUS_COLS
		       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (pool, "
		       "node) DO UPDATE SET available = excluded.available, "
		       "capacity_bytes = excluded.capacity_bytes, used_bytes = "
		       "excluded.used_bytes, free_bytes = excluded.free_bytes, "
		       "message = excluded.message, updated_ms = "
		       "excluded.updated_ms",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

int statedb_pool_status_set(struct statedb *db,
			    const struct statedb_pool_status *st,
			    struct hx_err *err)
{
	struct pool_req q = {.st = st};

	return db_write(db, status_set_fn, &q, err);
}

static int status_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct pool_req *q = data;
	struct wire_value p[] = {db_text(q->name != NULL ? q->name : "")};
	struct wire_rows *rows;
	int r;

	if (q->name != NULL)
		r = db_query(tx,
			     "SELECT " STATUS_COLS " FROM pool_status WHERE "
			     "pool = ? ORDER BY pool, node",
			     p, 1, &rows, err);
	else
		r = db_query(tx,
			     "SELECT " STATUS_COLS
			     " FROM pool_status ORDER BY pool, node",
			     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	free(q->sts);
	q->sts = calloc(rows->nrows + 1, sizeof(*q->sts));
	if (q->sts == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (q->n = 0; q->n < rows->nrows; q->n++) {
		struct statedb_pool_status *s = &q->sts[q->n];

		db_row_copy(rows, q->n, 0, s->pool, sizeof(s->pool));
		db_row_copy(rows, q->n, 1, s->node, sizeof(s->node));
		s->available = db_row_int(rows, q->n, 2) != 0;
		s->capacity_bytes = db_row_int(rows, q->n, 3);
		s->used_bytes = db_row_int(rows, q->n, 4);
		s->free_bytes = db_row_int(rows, q->n, 5);
		db_row_copy(rows, q->n, 6, s->message, sizeof(s->message));
		s->updated_ms = db_row_int(rows, q->n, 7);
	}
	wire_rows_free(rows);
	return 0;
}

int statedb_pool_status_list(struct statedb *db, const char *pool,
			     struct statedb_pool_status **ret, unsigned *ret_n,
			     struct hx_err *err)
{
	struct pool_req q = {.name = pool};
	int r = db_read(db, status_list_fn, &q, err);

	if (r < 0) {
		free(q.sts);
		return r;
	}
	*ret = q.sts;
	*ret_n = q.n;
	return 0;
}

/* ---- VM snapshots ---- */

void statedb_snapshot_list_free(struct statedb_snapshot *s, unsigned n)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < n; i++)
		free(s[i].config);
	free(s);
}

struct snap_req {
	const struct statedb_snapshot *snap;
	int64_t vmid;
	const char *name;
	struct statedb_snapshot *list;
	unsigned n;
};

/* The parent of @name (copied into @parent); -ENOENT if no such
 * snapshot. */
static int snap_parent(struct db_tx *tx, int64_t vmid, const char *name,
		       char *parent, size_t len, struct hx_err *err)
{
	struct wire_value p[] = {db_int(vmid), db_text(name)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT parent FROM vm_snapshots WHERE vmid = ? AND "
		     "name = ?",
		     p, 2, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOENT,
				  "VM %" PRId64 " has no snapshot '%.40s'",
				  vmid, name);
	}
	db_row_copy(rows, 0, 0, parent, len);
	wire_rows_free(rows);
	return 0;
}

static int snap_add_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct snap_req *q = data;
	const struct statedb_snapshot *s = q->snap;
	struct wire_value p[] = {db_int(s->vmid)};
	char parent[STATEDB_SNAPSHOT_NAME_MAX + 1] = "", dummy[48];
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT vmid FROM vms WHERE vmid = ?", p, 1, &rows,
		     err);
	if (r < 0)
		return r;
	r = (int)rows->nrows;
	wire_rows_free(rows);
	if (r == 0)
		return hx_err_set(err, -ENOENT, "no VM %" PRId64, s->vmid);
	r = snap_parent(tx, s->vmid, s->name, dummy, sizeof(dummy), NULL);
	if (r == 0)
		return hx_err_set(err, -EEXIST,
				  "VM %" PRId64 " already has a snapshot '%s'",
				  s->vmid, s->name);
	r = db_query(tx,
		     "SELECT name FROM vm_snapshots WHERE vmid = ? AND "
		     "current = 1",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows > 0)
		db_row_copy(rows, 0, 0, parent, sizeof(parent));
	wire_rows_free(rows);
	r = db_exec(tx, "UPDATE vm_snapshots SET current = 0 WHERE vmid = ?", p,
		    1, NULL, NULL, err);
	if (r < 0)
		return r;
	struct wire_value v[] = {
		db_int(s->vmid),
		db_text(s->name),
		db_text(parent),
		db_text(s->description),
		db_int(s->ram),
		db_text(s->config != NULL ? s->config : "{}"),
		db_int((int64_t)hx_wall_ms()),
	};
	return db_exec(tx,
		       "INSERT INTO vm_snapshots (vmid, name, parent, "
		       "description, ram, current, config, created_ms) VALUES "
		       "(?, ?, ?, ?, ?, 1, ?, ?)",
		       v, HX_ARRAY_SIZE(v), NULL, NULL, err);
}

int statedb_snapshot_add(struct statedb *db, const struct statedb_snapshot *s,
			 struct hx_err *err)
{
	struct snap_req q = {.snap = s};
	int r;

	if ((r = statedb_snapshot_name_check(s->name, err)) < 0)
		return r;
	return db_write(db, snap_add_fn, &q, err);
}

static int snap_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct snap_req *q = data;
	struct wire_value p[] = {db_int(q->vmid)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT " SNAP_COLS " FROM vm_snapshots WHERE vmid = ? "
		     "ORDER BY created_ms, name",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	statedb_snapshot_list_free(q->list, q->n);
	q->n = 0;
	q->list = calloc(rows->nrows + 1, sizeof(*q->list));
	if (q->list == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < rows->nrows; i++) {
		struct statedb_snapshot *s = &q->list[i];

		s->vmid = db_row_int(rows, i, 0);
		db_row_copy(rows, i, 1, s->name, sizeof(s->name));
		db_row_copy(rows, i, 2, s->parent, sizeof(s->parent));
		db_row_copy(rows, i, 3, s->description, sizeof(s->description));
		s->ram = db_row_int(rows, i, 4) != 0;
		s->current = db_row_int(rows, i, 5) != 0;
		s->config = strdup(db_row_text(rows, i, 6));
		s->created_ms = db_row_int(rows, i, 7);
		q->n = i + 1;
		if (s->config == NULL) {
			wire_rows_free(rows);
			return hx_err_set(err, -ENOMEM, "out of memory");
		}
	}
	wire_rows_free(rows);
	return 0;
}

int statedb_snapshot_list(struct statedb *db, int64_t vmid,
			  struct statedb_snapshot **ret, unsigned *ret_n,
			  struct hx_err *err)
{
	struct snap_req q = {.vmid = vmid};
	int r = db_read(db, snap_list_fn, &q, err);

	if (r < 0) {
		statedb_snapshot_list_free(q.list, q.n);
		return r;
	}
	*ret = q.list;
	*ret_n = q.n;
	return 0;
}

static int snap_current_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct snap_req *q = data;
	struct wire_value p[] = {db_int(q->vmid), db_text(q->name)};
	char parent[STATEDB_SNAPSHOT_NAME_MAX + 1];
	int r;

	if ((r = snap_parent(tx, q->vmid, q->name, parent, sizeof(parent),
			     err)) < 0)
		return r;
	return db_exec(tx,
		       "UPDATE vm_snapshots SET current = (name = ?2) WHERE "
		       "vmid = ?1",
		       p, 2, NULL, NULL, err);
}

int statedb_snapshot_set_current(struct statedb *db, int64_t vmid,
				 const char *name, struct hx_err *err)
{
	struct snap_req q = {.vmid = vmid, .name = name};

	return db_write(db, snap_current_fn, &q, err);
}

static int snap_remove_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct snap_req *q = data;
	char parent[STATEDB_SNAPSHOT_NAME_MAX + 1];
	struct wire_value p[] = {db_int(q->vmid), db_text(q->name),
				 db_text("")};
	struct wire_rows *rows;
	bool was_current;
	int r;

	if ((r = snap_parent(tx, q->vmid, q->name, parent, sizeof(parent),
			     err)) < 0)
		return r;
	p[2] = db_text(parent);
	r = db_query(tx,
		     "SELECT current FROM vm_snapshots WHERE vmid = ? AND "
		     "name = ?",
		     p, 2, &rows, err);
	if (r < 0)
		return r;
	was_current = rows->nrows > 0 && db_row_int(rows, 0, 0) != 0;
	wire_rows_free(rows);
	r = db_exec(tx,
		    "UPDATE vm_snapshots SET parent = ?3 WHERE vmid = ?1 AND "
		    "parent = ?2",
		    p, 3, NULL, NULL, err);
	if (r == 0)
		r = db_exec(tx,
			    "DELETE FROM vm_snapshots WHERE vmid = ? AND "
			    "name = ?",
			    p, 2, NULL, NULL, err);
	if (r == 0 && was_current && parent[0] != '\0')
		r = db_exec(tx,
			    "UPDATE vm_snapshots SET current = 1 WHERE vmid = "
			    "?1 AND name = ?3",
			    p, 3, NULL, NULL, err);
	return r;
}

int statedb_snapshot_remove(struct statedb *db, int64_t vmid, const char *name,
			    struct hx_err *err)
{
	struct snap_req q = {.vmid = vmid, .name = name};

	return db_write(db, snap_remove_fn, &q, err);
}
