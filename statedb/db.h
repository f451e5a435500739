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

/* ---- networking (net.c, ipam.c, firewall.c) ---- */

/* Converts row @r of @rows into the item at @out. */
typedef void (*db_row_fn)(const struct wire_rows *rows, unsigned r, void *out);
/* Runs @sql (with @np <= 2 parameters) as a read and returns its rows as a
 * malloc'ed array of items of @size bytes filled by @from_row. */
int db_list(struct statedb *db, const char *sql, const struct wire_value *p,
	    unsigned np, size_t size, db_row_fn from_row, void **ret,
	    unsigned *ret_n, struct hx_err *err);
/* The integer in the first column of @sql's first row (0 if none); @arg
 * is its one text parameter, or NULL for none. */
int db_count(struct db_tx *tx, const char *sql, const char *arg,
	     int64_t *ret, struct hx_err *err);
/* Whether @s is a valid zone, vnet, group or IP set name. */
bool db_net_name_ok(const char *s);
/* Bumps meta.net_generation (every network write does). */
int db_net_bump(struct db_tx *tx, struct hx_err *err);
/* Reserves subnet @s's gateway in IPAM. */
int db_ip_reserve_gateway(struct db_tx *tx, const struct statedb_subnet *s,
			  struct hx_err *err);
/* Makes VM @vmid's allocations match @nets: allocates what is missing,
 * releases addresses of NICs that are gone or changed. */
int db_ip_vm_sync(struct db_tx *tx, int64_t vmid, const char *hostname,
		  const struct statedb_nic_net *nets, unsigned n,
		  struct hx_err *err);
/* Releases everything VM @vmid holds: addresses, firewall rules and
 * options. */
int db_net_vm_forget(struct db_tx *tx, int64_t vmid, struct hx_err *err);

#endif /* HX_STATEDB_DB_H */
