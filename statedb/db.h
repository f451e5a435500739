/* statedb/db.h: connections, the writer queue and SQL helpers (private). */
#ifndef HX_STATEDB_DB_H
#define HX_STATEDB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "statedb/statedb.h"
#include "statedb/wire.h"

struct db_conn;

/* One operation's view of the connection. */
struct db_tx {
	struct statedb *db;
	struct db_conn *conn;
	bool broken; /* the connection failed or lost leadership */
};

/* Runs inside a transaction (writes) or on a leader connection (reads).
 * Must touch nothing but the database: the writer may run it again when
 * a batch is retried on a new leader. */
typedef int (*db_fn)(struct db_tx *tx, void *data, struct hx_err *err);

int db_write(struct statedb *db, db_fn fn, void *data, struct hx_err *err);
int db_read(struct statedb *db, db_fn fn, void *data, struct hx_err *err);

int db_exec(struct db_tx *tx, const char *sql, const struct wire_value *p,
	    unsigned n, uint64_t *ret_last_id, uint64_t *ret_changes,
	    struct hx_err *err);
int db_query(struct db_tx *tx, const char *sql, const struct wire_value *p,
	     unsigned n, struct wire_rows **ret_rows, struct hx_err *err);
/* The wire connection of @tx, for membership requests. */
struct wire_conn *db_tx_wire(struct db_tx *tx);
/* The id of the node (the leader when it connected) @tx runs on. */
uint64_t db_tx_leader(const struct db_tx *tx);

/* Value constructors for parameters. */
static inline struct wire_value db_int(int64_t i)
{
	return (struct wire_value){.type = WIRE_INTEGER, .i = i};
}
static inline struct wire_value db_text(const char *s)
{
	return (struct wire_value){.type = WIRE_TEXT, .s = s};
}
static inline struct wire_value db_null(void)
{
	return (struct wire_value){.type = WIRE_NULL};
}

/* Row accessors: NULL reads as 0 / "". */
int64_t db_row_int(const struct wire_rows *rows, unsigned r, unsigned c);
const char *db_row_text(const struct wire_rows *rows, unsigned r, unsigned c);
/* Copies a row's text into a fixed buffer, truncating safely. */
void db_row_copy(const struct wire_rows *rows, unsigned r, unsigned c,
		 char *dst, size_t len);
/* Hex digest (32 chars + NUL) of @n NUL-separated strings. */
void db_digest(const char *const *parts, unsigned n, char ret[33]);

/* Inserts every setting's default (setting.c). */
int db_settings_defaults(struct db_tx *tx, struct hx_err *err);

#endif /* HX_STATEDB_DB_H */
