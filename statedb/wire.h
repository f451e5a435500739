/* dqlite 1.x client wire protocol: codec and blocking connection (private to statedb). */
#ifndef HX_STATEDB_WIRE_H
#define HX_STATEDB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hx_err;

/*
 * DESIGN: dqlite 1.11 ships no C client, so this is ours. Two layers:
 *
 *  - a pure codec (wire_encode_* / wire_decode_*) over byte buffers, with no
 *    I/O, so that the libFuzzer target and the unit tests reach every decoder
 *    directly. Decoders validate every length and offset against the buffer
 *    and return HX_EPROTO on anything malformed; they never read out of
 *    bounds, never trust a count before checking it fits, and never allocate
 *    more than the buffer can justify.
 *
 *  - a blocking connection (struct wire_conn) that frames requests and reads
 *    responses with a deadline on every read: a silent peer costs at most
 *    the timeout, never a hang.
 *
 * Strings returned inside results are owned by the result and freed with it.
 */

/* Column/parameter value types, as on the wire. */
enum wire_type {
	WIRE_INTEGER = 1,
	WIRE_FLOAT = 2,
	WIRE_TEXT = 3,
	WIRE_BLOB = 4,
	WIRE_NULL = 5,
	WIRE_UNIXTIME = 9,
	WIRE_ISO8601 = 10,
	WIRE_BOOLEAN = 11,
};

/* A parameter or column value. text/blob point into memory owned by
 * whoever built the value (the caller for parameters, the rows object for
 * results). Text is NUL-terminated. */
struct wire_value {
	int type;
	int64_t i;	   /* INTEGER, UNIXTIME, BOOLEAN */
	double f;	   /* FLOAT */
	const char *s;	   /* TEXT, ISO8601 */
	const void *blob;  /* BLOB */
	size_t blob_len;
};

/* Result of a query: all batches concatenated. values[r * ncols + c]. */
struct wire_rows {
	unsigned ncols;
	unsigned nrows;
	char **names;		  /* ncols column names */
	struct wire_value *values; /* nrows * ncols values */
	/* private storage follows */
	void *priv;
};
void wire_rows_free(struct wire_rows *rows);

/* Raft roles as dqlite numbers them. */
enum wire_role { WIRE_VOTER = 0, WIRE_STANDBY = 1, WIRE_SPARE = 2 };

struct wire_server {
	uint64_t id;
	char *address;
	int role; /* enum wire_role */
};
void wire_servers_free(struct wire_server *servers, unsigned n);

/* A connection to one dqlite node. Opaque. */
struct wire_conn;

/*
 * Takes ownership of the connected stream socket @fd (closed by
 * wire_conn_free, also on failure), sends the protocol handshake and returns
 * the connection. Every later read waits at most @timeout_ms.
 */
int wire_conn_open(int fd, int timeout_ms, struct wire_conn **ret_conn,
		   struct hx_err *err);
void wire_conn_free(struct wire_conn *c);
/* The fd, for poll()-ing liveness only; do not read or write it. */
int wire_conn_fd(const struct wire_conn *c);
/* Whether the connection broke (I/O error, timeout or protocol error); a
 * broken connection must be freed, never reused. */
int wire_conn_is_broken(const struct wire_conn *c);

/* REQUEST_LEADER: who this node believes is leader. id 0 and address ""
 * when it does not know. *ret_address is malloc'ed, owned by the caller. */
int wire_leader(struct wire_conn *c, uint64_t *ret_id, char **ret_address,
		struct hx_err *err);
/* REQUEST_OPEN of database @name; returns its db id. */
int wire_open(struct wire_conn *c, const char *name, uint32_t *ret_db,
	      struct hx_err *err);
/* REQUEST_PREPARE: returns the statement id. */
int wire_prepare(struct wire_conn *c, uint32_t db, const char *sql,
		 uint32_t *ret_stmt, struct hx_err *err);
/* REQUEST_EXEC of a prepared statement with @n bound parameters. */
int wire_exec(struct wire_conn *c, uint32_t db, uint32_t stmt,
	      const struct wire_value *params, unsigned n,
	      uint64_t *ret_last_id, uint64_t *ret_changes, struct hx_err *err);
/* REQUEST_QUERY of a prepared statement; reads every batch of rows. */
int wire_query(struct wire_conn *c, uint32_t db, uint32_t stmt,
	       const struct wire_value *params, unsigned n,
	       struct wire_rows **ret_rows, struct hx_err *err);
/* REQUEST_FINALIZE. */
int wire_finalize(struct wire_conn *c, uint32_t db, uint32_t stmt,
		  struct hx_err *err);
/* REQUEST_EXEC_SQL / REQUEST_QUERY_SQL: one-shot SQL with parameters. */
int wire_exec_sql(struct wire_conn *c, uint32_t db, const char *sql,
		  const struct wire_value *params, unsigned n,
		  uint64_t *ret_last_id, uint64_t *ret_changes,
		  struct hx_err *err);
int wire_query_sql(struct wire_conn *c, uint32_t db, const char *sql,
		   const struct wire_value *params, unsigned n,
		   struct wire_rows **ret_rows, struct hx_err *err);

/* Membership, sent to the leader. */
int wire_add(struct wire_conn *c, uint64_t id, const char *address,
	     struct hx_err *err);
int wire_assign(struct wire_conn *c, uint64_t id, int role,
		struct hx_err *err);
int wire_remove(struct wire_conn *c, uint64_t id, struct hx_err *err);
int wire_transfer(struct wire_conn *c, uint64_t id, struct hx_err *err);
/* REQUEST_CLUSTER (format 1, with roles). */
int wire_cluster(struct wire_conn *c, struct wire_server **ret_servers,
		 unsigned *ret_n, struct hx_err *err);

/*
 * Errors: a FAILURE response becomes HX_ESQL with the server's message in
 * @err, except: "not leader"/"leadership lost" codes (SQLITE_IOERR_NOT_LEADER
 * 10250, SQLITE_IOERR_LEADERSHIP_LOST 10506) become HX_ENOTLEADER, and
 * SQLITE_BUSY (5) and its extended codes become HX_EBUSY. The server's
 * numeric code is kept in wire_last_code(). Malformed responses are
 * HX_EPROTO; timeouts -ETIMEDOUT; a closed peer -ECONNRESET.
 */
uint64_t wire_last_code(const struct wire_conn *c);
/* Whether the last FAILURE proves the request was refused before it ran:
 * "not leader" (10250), or "no database opened", which dqlite 1.11 answers
 * on every connection whose database it dropped when it lost leadership
 * (even after it regains it). The latter also becomes HX_ENOTLEADER and
 * marks the connection broken: it can never serve its database again. */
bool wire_last_refused(const struct wire_conn *c);

/*
 * Leader discovery. @dial connects to a node address and returns a
 * connected fd. Asks the nodes in @addresses (in order, starting with
 * @addresses[0]) who the leader is; accepts a leader only when the leader
 * node itself, asked directly, names itself. Retries with exponential
 * backoff from 20 ms, capped at 100 ms for the first 2 s (the time an
 * election takes) and at 500 ms after, until @deadline_ms (hx_now_ms
 * clock).
 * On success *ret_conn is a handshaken connection to the leader and
 * *ret_leader_id its id.
 */
typedef int (*wire_dial_fn)(void *data, const char *address, int timeout_ms,
			    int *ret_fd);
int wire_connect_leader(wire_dial_fn dial, void *data,
			const char *const *addresses, unsigned n,
			int io_timeout_ms, uint64_t deadline_ms,
			struct wire_conn **ret_conn, uint64_t *ret_leader_id,
			struct hx_err *err);

/*
 * Pure codec, exposed for tests and fuzzing. A message is an 8-byte header
 * (uint32 LE body length in 8-byte words, uint8 type, uint8 schema,
 * uint16 unused) followed by the body.
 */
struct wire_header {
	uint32_t words;
	uint8_t type;
	uint8_t schema;
};
int wire_decode_header(const void *buf, size_t len, struct wire_header *ret);
/* Decode response bodies (without header). Allocations owned by caller. */
int wire_decode_failure(const void *body, size_t len, uint64_t *ret_code,
			char **ret_message);
int wire_decode_server(const void *body, size_t len, uint64_t *ret_id,
		       char **ret_address);
int wire_decode_servers(const void *body, size_t len,
			struct wire_server **ret_servers, unsigned *ret_n);
int wire_decode_result(const void *body, size_t len, uint64_t *ret_last_id,
		       uint64_t *ret_changes);
/* Decodes one ROWS batch and appends it to *rows (allocated on first call,
 * columns taken from the first batch; later batches must match). Sets
 * *ret_more to 1 when the batch ended with the "more rows" marker. */
int wire_decode_rows(const void *body, size_t len, struct wire_rows **rows,
		     int *ret_more);

#endif /* HX_STATEDB_WIRE_H */
