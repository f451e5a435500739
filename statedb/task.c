/* Tasks (long-running operations) and their logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

#define TASK_COLS                                                         \
	"id, kind, node, subject, state, progress, message, actor, "      \
	"started_ms, ended_ms"

static void task_from_row(const struct wire_rows *rows, unsigned r,
			  struct statedb_task *t)
{
	memset(t, 0, sizeof(*t));
	t->id = db_row_int(rows, r, 0);
	db_row_copy(rows, r, 1, t->kind, sizeof(t->kind));
	db_row_copy(rows, r, 2, t->node, sizeof(t->node));
	db_row_copy(rows, r, 3, t->subject, sizeof(t->subject));
	db_row_copy(rows, r, 4, t->state, sizeof(t->state));
	t->progress = (int)db_row_int(rows, r, 5);
	db_row_copy(rows, r, 6, t->message, sizeof(t->message));
	db_row_copy(rows, r, 7, t->actor, sizeof(t->actor));
	t->started_ms = db_row_int(rows, r, 8);
	t->ended_ms = db_row_int(rows, r, 9);
}

struct task_req {
	const struct statedb_task *task;
	int64_t id;
	int progress;
	const char *message;
	const char *state;
	unsigned limit;
	struct statedb_task *tasks;
	unsigned n;
	struct statedb_task_line *lines;
	unsigned nlines;
};

static int task_create_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct task_req *q = data;
	const struct statedb_task *t = q->task;
	struct wire_value p[] = {db_text(t->kind),    db_text(t->node),
				 db_text(t->subject), db_text(t->message),
				 db_text(t->actor),   db_int((int64_t)hx_wall_ms())};
	uint64_t id;
	int r;

	r = db_exec(tx,
		    "INSERT INTO tasks (kind, node, subject, state, message, "
		    "actor, started_ms) VALUES (?, ?, ?, 'running', ?, ?, ?)",
		    p, HX_ARRAY_SIZE(p), &id, NULL, err);
	if (r < 0)
		return r;
	q->id = (int64_t)id;
	return 0;
}

int statedb_task_create(struct statedb *db, const struct statedb_task *t,
			int64_t *ret_id, struct hx_err *err)
{
	struct task_req q = {.task = t};
	int r = db_write(db, task_create_fn, &q, err);

	if (r == 0)
		*ret_id = q.id;
	return r;
}

static int task_update_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct task_req *q = data;
	struct wire_value p[] = {
		q->progress >= 0 ? db_int(q->progress) : db_null(),
		q->message != NULL ? db_text(q->message) : db_null(),
		q->state != NULL ? db_text(q->state) : db_null(),
		db_int(q->state != NULL ? (int64_t)hx_wall_ms() : 0),
		db_int(q->id)};
	uint64_t changes = 0;
	int r;

	r = db_exec(tx,
		    "UPDATE tasks SET progress = coalesce(?, progress), "
		    "message = coalesce(?, message), state = coalesce(?, "
		    "state), ended_ms = CASE WHEN ?4 > 0 THEN ?4 ELSE ended_ms "
		    "END WHERE id = ?5",
		    p, HX_ARRAY_SIZE(p), NULL, &changes, err);
	if (r == 0 && changes == 0)
		return hx_err_set(err, -ENOENT, "no task %lld",
				  (long long)q->id);
	return r;
}

int statedb_task_update(struct statedb *db, int64_t id, int progress,
			const char *message, struct hx_err *err)
{
	struct task_req q = {.id = id, .progress = progress, .message = message};

	return db_write(db, task_update_fn, &q, err);
}

int statedb_task_finish(struct statedb *db, int64_t id, bool ok,
			const char *message, struct hx_err *err)
{
	struct task_req q = {.id = id,
			     .progress = ok ? 100 : -1,
			     .message = message,
			     .state = ok ? "ok" : "error"};

	return db_write(db, task_update_fn, &q, err);
}

static int task_log_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct task_req *q = data;
	struct wire_value p[] = {db_int(q->id), db_int(q->id),
				 db_int((int64_t)hx_wall_ms()),
				 db_text(q->message)};

	return db_exec(tx,
		       "INSERT INTO task_log (task_id, seq, time_ms, line) "
		       "SELECT ?, coalesce(max(seq), 0) + 1, ?3, ?4 FROM "
		       "task_log WHERE task_id = ?2",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

int statedb_task_log(struct statedb *db, int64_t id, const char *line,
		     struct hx_err *err)
{
	struct task_req q = {.id = id, .message = line};

	return db_write(db, task_log_fn, &q, err);
}

static int task_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct task_req *q = data;
	struct wire_value p[] = {q->state != NULL ? db_text(q->state)
						  : db_null(),
				 db_int(q->limit)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT " TASK_COLS " FROM tasks WHERE ?1 IS NULL OR "
		     "state = ?1 ORDER BY id DESC LIMIT ?2",
		     p, 2, &rows, err);
	if (r < 0)
		return r;
	q->tasks = calloc(rows->nrows + 1, sizeof(*q->tasks));
	if (q->tasks == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < rows->nrows; i++)
		task_from_row(rows, i, &q->tasks[i]);
	q->n = rows->nrows;
	wire_rows_free(rows);
	return 0;
}

int statedb_task_list(struct statedb *db, const char *state, unsigned limit,
		      struct statedb_task **ret, unsigned *ret_n,
		      struct hx_err *err)
{
	struct task_req q = {.state = state, .limit = limit};
	int r = db_read(db, task_list_fn, &q, err);

	if (r < 0)
		return r;
	*ret = q.tasks;
	*ret_n = q.n;
	return 0;
}

static int task_get_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct task_req *q = data;
	struct wire_value p[] = {db_int(q->id)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT " TASK_COLS " FROM tasks WHERE id = ?", p, 1,
		     &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOENT, "no task %lld",
				  (long long)q->id);
	}
	q->tasks = calloc(1, sizeof(*q->tasks));
	if (q->tasks == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	task_from_row(rows, 0, q->tasks);
	wire_rows_free(rows);
	r = db_query(tx,
		     "SELECT time_ms, line FROM task_log WHERE task_id = ? "
		     "ORDER BY seq LIMIT 10000",
		     p, 1, &rows, err);
	if (r < 0) {
		free(q->tasks);
		return r;
	}
	q->lines = calloc(rows->nrows + 1, sizeof(*q->lines));
	if (q->lines == NULL) {
		free(q->tasks);
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < rows->nrows; i++) {
		q->lines[i].time_ms = db_row_int(rows, i, 0);
		db_row_copy(rows, i, 1, q->lines[i].line,
			    sizeof(q->lines[i].line));
	}
	q->nlines = rows->nrows;
	wire_rows_free(rows);
	return 0;
}

int statedb_task_get(struct statedb *db, int64_t id,
		     struct statedb_task *ret_task,
		     struct statedb_task_line **ret_lines, unsigned *ret_n,
		     struct hx_err *err)
{
	struct task_req q = {.id = id};
	int r = db_read(db, task_get_fn, &q, err);

	if (r < 0)
		return r;
	*ret_task = *q.tasks;
	free(q.tasks);
	if (ret_lines != NULL) {
		*ret_lines = q.lines;
		*ret_n = q.nlines;
	} else {
		free(q.lines);
	}
	return 0;
}

struct abandon_req {
	const char *node;
	const char *message;
	uint64_t changes;
};

static int task_abandon_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct abandon_req *q = data;
	struct wire_value p[] = {db_text(q->message),
				 db_int((int64_t)hx_wall_ms()),
				 db_text(q->node)};

	/* A migration whose VM still holds its lock is settled (and its
	 * task finished) by the migration recovery, which knows whether the
	 * guest moved. */
	return db_exec(tx,
		       "UPDATE tasks SET state = 'error', message = ?, "
		       "ended_ms = ? WHERE node = ? AND state = 'running' AND "
		       "NOT (kind = 'vm.migrate' AND EXISTS (SELECT 1 FROM vms "
		       "WHERE 'vm/' || vms.vmid = tasks.subject AND "
		       "vms.lock = 'migrate'))",
		       p, HX_ARRAY_SIZE(p), NULL, &q->changes, err);
}

int statedb_task_abandon(struct statedb *db, const char *node,
			 const char *message, unsigned *ret_n,
			 struct hx_err *err)
{
	struct abandon_req q = {node, message, 0};
	int r = db_write(db, task_abandon_fn, &q, err);

	if (r == 0 && ret_n != NULL)
		*ret_n = (unsigned)q.changes;
	return r;
}
