/*
 * Virtual machines: configuration rows, desired and observed state, locks
 * and the cluster-wide MAC registry.
 *
 * DESIGN: the digest covers what a user edits (configuration and pending
 * change, through `version`), not the state the executors report, so an
 * automation's read-modify-write is not spoiled by a VM changing state.
 * MACs live in their own table with the MAC as primary key: uniqueness is
 * enforced by the database even for concurrent creates through different
 * nodes, and checked first so the error can name the VM holding it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

#define VM_COLS                                                              \
	"vmid, name, node, cpus, memory_mb, tags, config, pending, desired, " \
	"state, state_node, state_ms, lock, created_ms, version, target, "    \
	"(SELECT h.request != 'ignored' FROM ha_resources h WHERE h.vmid = " \
	"vms.vmid), (SELECT h.uid FROM ha_resources h WHERE h.vmid = "       \
	"vms.vmid)"

void statedb_vm_clear(struct statedb_vm *vm)
{
	if (vm == NULL)
		return;
	free(vm->config);
	free(vm->pending);
	vm->config = NULL;
	vm->pending = NULL;
}

void statedb_vm_list_free(struct statedb_vm *vms, unsigned n)
{
	if (vms == NULL)
		return;
	for (unsigned i = 0; i < n; i++)
		statedb_vm_clear(&vms[i]);
	free(vms);
}

static int vm_from_row(const struct wire_rows *rows, unsigned r,
		       struct statedb_vm *vm)
{
	const struct wire_value *pending = &rows->values[r * rows->ncols + 7];
	char vmid[24], version[24];
	const char *parts[4];

	memset(vm, 0, sizeof(*vm));
	vm->vmid = db_row_int(rows, r, 0);
	db_row_copy(rows, r, 1, vm->name, sizeof(vm->name));
	db_row_copy(rows, r, 2, vm->node, sizeof(vm->node));
	vm->cpus = (int)db_row_int(rows, r, 3);
	vm->memory_mb = db_row_int(rows, r, 4);
	db_row_copy(rows, r, 5, vm->tags, sizeof(vm->tags));
	vm->config = strdup(db_row_text(rows, r, 6));
	if (pending->type == WIRE_TEXT)
		vm->pending = strdup(db_row_text(rows, r, 7));
	db_row_copy(rows, r, 8, vm->desired, sizeof(vm->desired));
	db_row_copy(rows, r, 9, vm->state, sizeof(vm->state));
	db_row_copy(rows, r, 10, vm->state_node, sizeof(vm->state_node));
	vm->state_ms = db_row_int(rows, r, 11);
	db_row_copy(rows, r, 12, vm->lock, sizeof(vm->lock));
	vm->created_ms = db_row_int(rows, r, 13);
	db_row_copy(rows, r, 15, vm->target, sizeof(vm->target));
	vm->ha = db_row_int(rows, r, 16) != 0;
	vm->ha_uid = db_row_int(rows, r, 17);
	if (vm->config == NULL ||
	    (pending->type == WIRE_TEXT && vm->pending == NULL)) {
		statedb_vm_clear(vm);
		return -ENOMEM;
	}
	snprintf(vmid, sizeof(vmid), "%" PRId64, vm->vmid);
	snprintf(version, sizeof(version), "%" PRId64, db_row_int(rows, r, 14));
	parts[0] = "vm";
	parts[1] = vmid;
	parts[2] = version;
	parts[3] = vm->node;
	db_digest(parts, 4, vm->digest);
	return 0;
}

/* Reads one VM by VMID inside a transaction or read. */
static int vm_read(struct db_tx *tx, int64_t vmid, struct statedb_vm *ret,
		   struct hx_err *err)
{
	struct wire_value p[] = {db_int(vmid)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " VM_COLS " FROM vms WHERE vmid = ?", p, 1,
		     &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOENT, "no VM %" PRId64, vmid);
	}
	r = vm_from_row(rows, 0, ret);
	wire_rows_free(rows);
	if (r < 0)
		return hx_err_set(err, r, "out of memory");
	return 0;
}

/* -EEXIST naming the VM that holds one of @macs (other than @self). */
static int macs_check(struct db_tx *tx, int64_t self,
		      const struct statedb_vm_spec *s, struct hx_err *err)
{
	for (unsigned i = 0; i < s->nmacs; i++) {
		struct wire_value p[] = {db_text(s->macs[i]), db_int(self)};
		struct wire_rows *rows;
		int r;

		for (unsigned j = 0; j < i; j++)
			if (strcmp(s->macs[i], s->macs[j]) == 0)
				return hx_err_set(err, -EEXIST,
						  "MAC %s is given twice",
						  s->macs[i]);
		r = db_query(tx,
			     "SELECT vmid FROM vm_macs WHERE mac = ? AND "
			     "vmid != ?",
			     p, 2, &rows, err);
		if (r < 0)
			return r;
		if (rows->nrows > 0) {
			r = hx_err_set(err, -EEXIST,
				       "MAC %s is already used by VM %" PRId64,
				       s->macs[i], db_row_int(rows, 0, 0));
			wire_rows_free(rows);
			return r;
		}
		wire_rows_free(rows);
	}
	return 0;
}

static int macs_write(struct db_tx *tx, int64_t vmid,
		      const struct statedb_vm_spec *s, struct hx_err *err)
{
	struct wire_value p[] = {db_int(vmid), db_null()};
	int r;

	r = db_exec(tx, "DELETE FROM vm_macs WHERE vmid = ?", p, 1, NULL, NULL,
		    err);
	for (unsigned i = 0; r == 0 && i < s->nmacs; i++) {
		p[1] = db_text(s->macs[i]);
		r = db_exec(tx, "INSERT INTO vm_macs (vmid, mac) VALUES (?, ?)",
			    p, 2, NULL, NULL, err);
	}
	return r;
}

static int name_check(struct db_tx *tx, int64_t self, const char *name,
		      struct hx_err *err)
{
	struct wire_value p[] = {db_text(name), db_int(self)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT vmid FROM vms WHERE name = ? AND vmid != ?",
		     p, 2, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows > 0)
		r = hx_err_set(err, -EEXIST,
			       "the name '%s' is already used by VM %" PRId64,
			       name, db_row_int(rows, 0, 0));
	wire_rows_free(rows);
	return r;
}

struct create_req {
	int64_t vmid;
	const char *node;
	const struct statedb_vm_spec *spec;
	const char *desired;
};

static int vm_create_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct create_req *q = data;
	const struct statedb_vm_spec *s = q->spec;
	struct wire_value p[] = {
		db_int(q->vmid),    db_text(s->name),
		db_text(q->node),   db_int(s->cpus),
		db_int(s->memory_mb), db_text(s->tags),
		db_text(s->config), s->pending ? db_text(s->pending) : db_null(),
		db_text(q->desired), db_int((int64_t)hx_wall_ms()),
	};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT name FROM nodes WHERE name = ?", &p[2], 1,
		     &rows, err);
	if (r < 0)
		return r;
	r = rows->nrows;
	wire_rows_free(rows);
	if (r == 0)
		return hx_err_set(err, -ENOENT, "no node named '%s'", q->node);
	r = db_query(tx, "SELECT name FROM vms WHERE vmid = ?", p, 1, &rows,
		     err);
	if (r < 0)
		return r;
	if (rows->nrows > 0) {
		r = hx_err_set(err, -EEXIST,
			       "VMID %" PRId64 " is already used by VM '%s'",
			       q->vmid, db_row_text(rows, 0, 0));
		wire_rows_free(rows);
		return r;
	}
	wire_rows_free(rows);
	if ((r = name_check(tx, q->vmid, s->name, err)) < 0 ||
	    (r = macs_check(tx, q->vmid, s, err)) < 0)
		return r;
	r = db_exec(tx,
		    "INSERT INTO vms (vmid, name, node, cpus, memory_mb, tags, "
		    "config, pending, desired, created_ms, state_ms, lock) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?10, 'create')",
		    p, HX_ARRAY_SIZE(p), NULL, NULL, err);
	if (r < 0 || (r = macs_write(tx, q->vmid, s, err)) < 0)
		return r;
	return db_ip_vm_sync(tx, q->vmid, s->name, s->nets, s->nnets, err);
}

int statedb_vm_create(struct statedb *db, int64_t vmid, const char *node,
		      const struct statedb_vm_spec *spec, const char *desired,
		      struct hx_err *err)
{
	struct create_req q = {vmid, node, spec, desired};

	return db_write(db, vm_create_fn, &q, err);
}

struct list_req {
	const char *node;
	const char *key;
	struct statedb_vm *vms;
	unsigned n;
};

static int vm_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct list_req *q = data;
	struct wire_value p[1];
	struct wire_rows *rows;
	const char *sql;
	int r;

	if (q->key != NULL) {
		bool digits = q->key[0] != '\0' &&
			      strspn(q->key, "0123456789") == strlen(q->key) &&
			      strlen(q->key) < 19;
		p[0] = digits ? db_int(strtoll(q->key, NULL, 10))
			      : db_text(q->key);
		sql = digits ? "SELECT " VM_COLS " FROM vms WHERE vmid = ?"
			     : "SELECT " VM_COLS " FROM vms WHERE name = ?";
		r = db_query(tx, sql, p, 1, &rows, err);
	} else if (q->node != NULL) {
		p[0] = db_text(q->node);
		r = db_query(tx,
			     "SELECT " VM_COLS
			     " FROM vms WHERE node = ? ORDER BY vmid",
			     p, 1, &rows, err);
	} else {
		r = db_query(tx, "SELECT " VM_COLS " FROM vms ORDER BY vmid",
			     NULL, 0, &rows, err);
	}
	if (r < 0)
		return r;
	q->vms = calloc(rows->nrows + 1, sizeof(*q->vms));
	if (q->vms == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (q->n = 0; q->n < rows->nrows; q->n++) {
		if (vm_from_row(rows, q->n, &q->vms[q->n]) < 0) {
			statedb_vm_list_free(q->vms, q->n);
			q->vms = NULL;
			q->n = 0;
			wire_rows_free(rows);
			return hx_err_set(err, -ENOMEM, "out of memory");
		}
	}
	wire_rows_free(rows);
	return 0;
}

int statedb_vm_get(struct statedb *db, const char *key,
		   struct statedb_vm *ret_vm, struct hx_err *err)
{
	struct list_req q = {.key = key};
	int r = db_read(db, vm_list_fn, &q, err);

	if (r < 0)
		return r;
	if (q.n == 0) {
		free(q.vms);
		return hx_err_set(err, -ENOENT, "no VM '%s'", key);
	}
	*ret_vm = q.vms[0];
	free(q.vms);
	return 0;
}

int statedb_vm_list(struct statedb *db, const char *node,
		    struct statedb_vm **ret_vms, unsigned *ret_n,
		    struct hx_err *err)
{
	struct list_req q = {.node = node};
	int r = db_read(db, vm_list_fn, &q, err);

	if (r < 0)
		return r;
	*ret_vms = q.vms;
	*ret_n = q.n;
	return 0;
}

static int vm_nextid_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct wire_value p[] = {db_int(STATEDB_VMID_MIN)};
	struct wire_rows *rows;
	int64_t *ret = data;
	int r;

	/* The first VMID >= MIN whose successor is free, or MIN itself. */
	r = db_query(tx,
		     "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM vms WHERE "
		     "vmid = ?1) THEN ?1 ELSE (SELECT min(v.vmid) + 1 FROM vms "
		     "v WHERE v.vmid >= ?1 AND NOT EXISTS (SELECT 1 FROM vms w "
		     "WHERE w.vmid = v.vmid + 1)) END",
		     p, 1, &rows, err);
	if (r < 0)
		return r;
	*ret = rows->nrows > 0 ? db_row_int(rows, 0, 0) : STATEDB_VMID_MIN;
	wire_rows_free(rows);
	if (*ret > STATEDB_VMID_MAX)
		return hx_err_set(err, -ENOSPC, "no free VMID left");
	return 0;
}

int statedb_vm_nextid(struct statedb *db, int64_t *ret_vmid,
		      struct hx_err *err)
{
	int64_t id = 0;
	int r = db_read(db, vm_nextid_fn, &id, err);

	if (r == 0)
		*ret_vmid = id;
	return r;
}

struct update_req {
	int64_t vmid;
	const struct statedb_vm_spec *spec;
	const char *if_digest;
};

static int vm_update_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct update_req *q = data;
	const struct statedb_vm_spec *s = q->spec;
	struct statedb_vm cur;
	int r;

	if ((r = vm_read(tx, q->vmid, &cur, err)) < 0)
		return r;
	if (q->if_digest != NULL && strcmp(q->if_digest, cur.digest) != 0)
		r = hx_err_set(err, HX_ECONFLICT,
			       "VM %" PRId64 " changed since it was read "
			       "(digest %s, now %s): re-read and retry",
			       q->vmid, q->if_digest, cur.digest);
	else if (cur.lock[0] != '\0')
		r = hx_err_set(err, -EBUSY, "VM %" PRId64 " is locked (%s)",
			       q->vmid, cur.lock);
	statedb_vm_clear(&cur);
	if (r < 0)
		return r;
	if ((r = name_check(tx, q->vmid, s->name, err)) < 0 ||
	    (r = macs_check(tx, q->vmid, s, err)) < 0)
		return r;
	struct wire_value p[] = {
		db_text(s->name),	 db_int(s->cpus),
		db_int(s->memory_mb),	 db_text(s->tags),
		db_text(s->config),	 s->pending ? db_text(s->pending) : db_null(),
		db_int(q->vmid),
	};
	r = db_exec(tx,
		    "UPDATE vms SET name = ?, cpus = ?, memory_mb = ?, tags = ?, "
		    "config = ?, pending = ?, version = version + 1 "
		    "WHERE vmid = ?",
		    p, HX_ARRAY_SIZE(p), NULL, NULL, err);
	if (r < 0 || (r = macs_write(tx, q->vmid, s, err)) < 0)
		return r;
	return db_ip_vm_sync(tx, q->vmid, s->name, s->nets, s->nnets, err);
}

int statedb_vm_update(struct statedb *db, int64_t vmid,
		      const struct statedb_vm_spec *spec,
		      const char *if_digest, struct hx_err *err)
{
	struct update_req q = {vmid, spec, if_digest};

	return db_write(db, vm_update_fn, &q, err);
}

/* One UPDATE of a VM row; -ENOENT when no row matched @where. */
struct set_req {
	int64_t vmid;
	const char *sql;
	struct wire_value p[4];
	unsigned n;
	const char *why; /* message when nothing matched but the VM exists */
};

static int vm_set_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct set_req *q = data;
	struct statedb_vm cur;
	uint64_t changes = 0;
	int r;

	r = db_exec(tx, q->sql, q->p, q->n, NULL, &changes, err);
	if (r < 0 || changes > 0)
		return r;
	if ((r = vm_read(tx, q->vmid, &cur, err)) < 0)
		return r;
	if (q->why == NULL) {
		statedb_vm_clear(&cur);
		return 0;
	}
	r = hx_err_set(err, -EBUSY, "VM %" PRId64 " %s (lock '%s', on '%s')",
		       q->vmid, q->why, cur.lock, cur.node);
	statedb_vm_clear(&cur);
	return r;
}

int statedb_vm_set_desired(struct statedb *db, int64_t vmid,
			   const char *desired, bool if_unlocked,
			   struct hx_err *err)
{
	struct set_req q = {
		.vmid = vmid,
		.sql = if_unlocked ? "UPDATE vms SET desired = ? WHERE vmid = ? "
				     "AND lock = ''"
				   : "UPDATE vms SET desired = ? WHERE vmid = ?",
		.p = {db_text(desired), db_int(vmid)},
		.n = 2,
		.why = if_unlocked ? "is locked" : NULL,
	};

	return db_write(db, vm_set_fn, &q, err);
}

int statedb_vm_set_state(struct statedb *db, int64_t vmid, const char *node,
			 const char *state, struct hx_err *err)
{
	struct set_req q = {
		.vmid = vmid,
		.sql = "UPDATE vms SET state = ?1, state_node = ?2, state_ms = ?3 "
		       "WHERE vmid = ?4 AND (state != ?1 OR state_node != ?2)",
		.p = {db_text(state), db_text(node),
		      db_int((int64_t)hx_wall_ms()), db_int(vmid)},
		.n = 4,
	};

	return db_write(db, vm_set_fn, &q, err);
}

int statedb_vm_lock(struct statedb *db, int64_t vmid, const char *lock,
		    const char *held, struct hx_err *err)
{
	struct set_req q = {.vmid = vmid, .n = 2};

	if (lock[0] != '\0') {
		q.sql = "UPDATE vms SET lock = ? WHERE vmid = ? AND lock = ''";
		q.p[0] = db_text(lock);
		q.p[1] = db_int(vmid);
		q.why = "is locked";
	} else {
		q.sql = "UPDATE vms SET lock = '', target = '' WHERE vmid = ? "
			"AND lock = ?";
		q.p[0] = db_int(vmid);
		q.p[1] = db_text(held != NULL ? held : "");
		q.why = "does not hold the expected lock";
	}
	return db_write(db, vm_set_fn, &q, err);
}

int statedb_vm_lock_migrate(struct statedb *db, int64_t vmid,
			    const char *from, const char *to,
			    struct hx_err *err)
{
	struct set_req q = {
		.vmid = vmid,
		.sql = "UPDATE vms SET lock = 'migrate', target = ? WHERE "
		       "vmid = ? AND node = ? AND lock = ''",
		.p = {db_text(to), db_int(vmid), db_text(from)},
		.n = 3,
		.why = "is locked or on another node",
	};

	return db_write(db, vm_set_fn, &q, err);
}

int statedb_vm_apply_pending(struct statedb *db, int64_t vmid,
			     struct hx_err *err)
{
	struct set_req q = {
		.vmid = vmid,
		.sql = "UPDATE vms SET config = pending, pending = NULL, "
		       "version = version + 1 WHERE vmid = ? AND pending IS NOT "
		       "NULL",
		.p = {db_int(vmid)},
		.n = 1,
	};

	return db_write(db, vm_set_fn, &q, err);
}

int statedb_vm_move(struct statedb *db, int64_t vmid, const char *from,
		    const char *to, const char *held, struct hx_err *err)
{
	struct set_req q = {
		.vmid = vmid,
		.sql = "UPDATE vms SET node = ?, lock = '', target = '', "
		       "version = version + 1 WHERE vmid = ? AND node = ? AND "
		       "lock = ?",
		.p = {db_text(to), db_int(vmid), db_text(from), db_text(held)},
		.n = 4,
		.why = "moved or lost its lock meanwhile",
	};

	return db_write(db, vm_set_fn, &q, err);
}

static int vm_delete_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	int64_t *vmid = data;
	struct wire_value p[] = {db_int(*vmid)};
	uint64_t changes = 0;
	int r;

	r = db_exec(tx, "DELETE FROM vms WHERE vmid = ?", p, 1, NULL, &changes,
		    err);
	if (r < 0)
		return r;
	if (changes == 0)
		return hx_err_set(err, -ENOENT, "no VM %" PRId64, *vmid);
	r = db_exec(tx, "DELETE FROM vm_macs WHERE vmid = ?", p, 1, NULL, NULL,
		    err);
	if (r < 0)
		return r;
	r = db_exec(tx, "DELETE FROM ha_resources WHERE vmid = ?", p, 1, NULL,
		    NULL, err);
	if (r < 0)
		return r;
	r = db_exec(tx, "DELETE FROM vm_snapshots WHERE vmid = ?", p, 1, NULL,
		    NULL, err);
	return r < 0 ? r : db_net_vm_forget(tx, *vmid, err);
}

int statedb_vm_delete(struct statedb *db, int64_t vmid, struct hx_err *err)
{
	return db_write(db, vm_delete_fn, &vmid, err);
}
