/* Events: every decision the system makes, with what, why and by whom. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

struct event_req {
	const struct statedb_event *event;
	int64_t since;
	unsigned limit;
	const char *subject;
	struct statedb_event *events;
	unsigned n;
};

static int event_add_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	const struct statedb_event *e = ((struct event_req *)data)->event;
	struct wire_value p[] = {
		db_int(e->time_ms > 0 ? e->time_ms : (int64_t)hx_wall_ms()),
		db_text(e->node),    db_text(e->kind), db_text(e->subject),
		db_text(e->message), db_text(e->actor)};

	return db_exec(tx,
		       "INSERT INTO events (time_ms, node, kind, subject, "
		       "message, actor) VALUES (?, ?, ?, ?, ?, ?)",
		       p, HX_ARRAY_SIZE(p), NULL, NULL, err);
}

int statedb_event_add(struct statedb *db, const struct statedb_event *e,
		      struct hx_err *err)
{
	struct event_req q = {.event = e};

	return db_write(db, event_add_fn, &q, err);
}

static int event_list_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct event_req *q = data;
	struct wire_value p[] = {
		db_int(q->since),
		q->subject != NULL ? db_text(q->subject) : db_null(),
		db_int(q->limit)};
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT id, time_ms, node, kind, subject, message, actor "
		     "FROM events WHERE id > ?1 AND (?2 IS NULL OR subject = "
		     "?2) ORDER BY id LIMIT ?3",
		     p, HX_ARRAY_SIZE(p), &rows, err);
	if (r < 0)
		return r;
	q->events = calloc(rows->nrows + 1, sizeof(*q->events));
	if (q->events == NULL) {
		wire_rows_free(rows);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < rows->nrows; i++) {
		struct statedb_event *e = &q->events[i];

		e->id = db_row_int(rows, i, 0);
		e->time_ms = db_row_int(rows, i, 1);
		db_row_copy(rows, i, 2, e->node, sizeof(e->node));
		db_row_copy(rows, i, 3, e->kind, sizeof(e->kind));
		db_row_copy(rows, i, 4, e->subject, sizeof(e->subject));
		db_row_copy(rows, i, 5, e->message, sizeof(e->message));
		db_row_copy(rows, i, 6, e->actor, sizeof(e->actor));
	}
	q->n = rows->nrows;
	wire_rows_free(rows);
	return 0;
}

int statedb_event_list(struct statedb *db, int64_t since, unsigned limit,
		       const char *subject, struct statedb_event **ret,
		       unsigned *ret_n, struct hx_err *err)
{
	struct event_req q = {.since = since, .limit = limit, .subject = subject};
	int r = db_read(db, event_list_fn, &q, err);

	if (r < 0)
		return r;
	*ret = q.events;
	*ret_n = q.n;
	return 0;
}
