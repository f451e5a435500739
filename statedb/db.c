/*
 * Connections to the leader, the writer queue, and SQL helpers.
 *
 * DESIGN: see statedb.h. The writer is the only code that opens write
 * transactions. A batch is retried on a new leader only while it is
 * certain nothing was committed: every failure before COMMIT, and a COMMIT
 * refused with "not leader". A COMMIT that times out or loses leadership
 * may or may not have been applied: its operations report HX_EOUTCOME
 * rather than risk applying twice.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/lib.h"
#include "statedb/db.h"

#define DB_NAME "horcrux"
#define DB_POOL 8
#define DB_BATCH 64
/* SQLITE_NOTFOUND, "no database opened": dqlite drops the database of
 * every connection when its node loses leadership; if the node leads
 * again, requests on them pass the leader check and fail so. (The code
 * also means "no statement with the given id", which statedb never sends:
 * it uses no prepared statements.) */
#define DB_CODE_NO_DB 12

struct db_conn {
	struct wire_conn *wire;
	uint32_t dbid;
	uint64_t leader; /* id of the node it was opened to */
	unsigned gen;	 /* db->gen when it was opened */
};

struct db_op {
	db_fn fn;
	void *data;
	int result;
	bool done;
	struct hx_err err;
	struct db_op *next;
};

struct statedb {
	struct statedb_config cfg;
	pthread_mutex_t lock; /* guards everything below */
	char **peers;
	unsigned npeers;
	/* read connections: at most DB_POOL open, idle or in use */
	struct db_conn *idle[DB_POOL];
	unsigned nidle;
	unsigned nopen;
	pthread_cond_t returned; /* a read connection came back or closed */
	/* the current leader as last seen, by opening a connection or by
	 * asking the local node: idle connections to another node are closed
	 * rather than reused, so that the first read after a failover does
	 * not wait out a hung former leader (the agent asks the local node
	 * every heartbeat) */
	uint64_t leader;
	/* writer */
	pthread_t writer;
	pthread_cond_t queued;
	pthread_cond_t finished;
	struct db_op *head, *tail;
	bool stopping;
	unsigned gen;	       /* statedb_reconnect() calls */
	struct db_conn *wconn; /* writer thread only */
};

/* ---- connections ---- */

static void conn_free(struct db_conn *c)
{
	if (c == NULL)
		return;
	wire_conn_free(c->wire);
	free(c);
}

static int conn_open(struct statedb *db, struct db_conn **ret,
		     struct hx_err *err)
{
	const char **addrs;
	struct db_conn *c;
	uint64_t leader;
	unsigned n;
	int r;

	pthread_mutex_lock(&db->lock);
	n = db->npeers;
	addrs = calloc(n + 1, sizeof(*addrs));
	if (addrs == NULL) {
		pthread_mutex_unlock(&db->lock);
		return hx_err_set(err, -ENOMEM, "statedb: out of memory");
	}
	for (unsigned i = 0; i < n; i++)
		addrs[i] = strdup(db->peers[i]);
	pthread_mutex_unlock(&db->lock);
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		r = hx_err_set(err, -ENOMEM, "statedb: out of memory");
		goto out;
	}
	r = wire_connect_leader((wire_dial_fn)db->cfg.dial, db->cfg.dial_data,
				addrs, n, db->cfg.io_timeout_ms,
				hx_now_ms() +
					(uint64_t)db->cfg.leader_timeout_ms,
				&c->wire, &leader, err);
	if (r < 0) {
		free(c); /* wire_connect_leader already said HX_ENOQUORUM */
		goto out;
	}
	r = wire_open(c->wire, DB_NAME, &c->dbid, err);
	if (r < 0) {
		conn_free(c);
		goto out;
	}
	c->leader = leader;
	pthread_mutex_lock(&db->lock);
	db->leader = leader;
	c->gen = db->gen;
	pthread_mutex_unlock(&db->lock);
	*ret = c;
out:
	for (unsigned i = 0; i < n; i++)
		free((void *)addrs[i]);
	free(addrs);
	return r;
}

/*
 * Takes an idle read connection, or opens one while fewer than DB_POOL are
 * open, or else waits until @deadline_ms for one to come back. A burst of
 * readers (64 concurrent API requests) thus queues for a few connections
 * instead of each opening one, a TLS handshake with the leader on a
 * follower, only to close it after one query.
 */
static int pool_get(struct statedb *db, uint64_t deadline_ms,
		    struct db_conn **ret, struct hx_err *err)
{
	struct timespec ts = {.tv_sec = (time_t)(deadline_ms / 1000),
			      .tv_nsec = (long)(deadline_ms % 1000) * 1000000};
	int r;

	pthread_mutex_lock(&db->lock);
	while (db->nidle == 0 && db->nopen >= DB_POOL) {
		if (hx_now_ms() >= deadline_ms) {
			pthread_mutex_unlock(&db->lock);
			return hx_err_set(err, -ETIMEDOUT,
					  "statedb: all %d connections to the "
					  "leader stayed busy",
					  DB_POOL);
		}
		(void)pthread_cond_timedwait(&db->returned, &db->lock, &ts);
	}
	while (db->nidle > 0) {
		struct db_conn *c = db->idle[--db->nidle];

		if (c->leader == db->leader) {
			pthread_mutex_unlock(&db->lock);
			*ret = c;
			return 0;
		}
		conn_free(c); /* to a former leader */
		db->nopen--;
	}
	db->nopen++; /* below DB_POOL: the wait above or the frees made room */
	pthread_mutex_unlock(&db->lock);
	r = conn_open(db, ret, err);
	if (r < 0) {
		pthread_mutex_lock(&db->lock);
		db->nopen--;
		pthread_cond_signal(&db->returned);
		pthread_mutex_unlock(&db->lock);
	}
	return r;
}

static void pool_put(struct statedb *db, struct db_conn *c, bool broken)
{
	broken = broken || wire_conn_is_broken(c->wire);
	pthread_mutex_lock(&db->lock);
	broken = broken || c->gen != db->gen; /* from before a reconnect */
	if (broken)
		db->nopen--;
	else
		db->idle[db->nidle++] = c; /* nidle < nopen <= DB_POOL */
	pthread_cond_signal(&db->returned);
	pthread_mutex_unlock(&db->lock);
	if (broken)
		conn_free(c);
}

static void pool_flush(struct statedb *db)
{
	pthread_mutex_lock(&db->lock);
	while (db->nidle > 0) {
		conn_free(db->idle[--db->nidle]);
		db->nopen--;
	}
	pthread_cond_broadcast(&db->returned);
	pthread_mutex_unlock(&db->lock);
}

void statedb_reconnect(struct statedb *db)
{
	pthread_mutex_lock(&db->lock);
	db->gen++;
	pthread_mutex_unlock(&db->lock);
	pool_flush(db);
}

/* ---- statements ---- */

static void tx_note(struct db_tx *tx, int r)
{
	if (r == HX_ENOTLEADER || wire_conn_is_broken(tx->conn->wire) ||
	    (r < 0 && wire_last_code(tx->conn->wire) == DB_CODE_NO_DB))
		tx->broken = true;
}

int db_exec(struct db_tx *tx, const char *sql, const struct wire_value *p,
	    unsigned n, uint64_t *ret_last_id, uint64_t *ret_changes,
	    struct hx_err *err)
{
	uint64_t last = 0, changes = 0;
	int r;

	if (tx->broken)
		return hx_err_set(err, HX_ENOTLEADER, "statedb: connection lost");
	r = wire_exec_sql(tx->conn->wire, tx->conn->dbid, sql, p, n, &last,
			  &changes, err);
	tx_note(tx, r);
	if (r < 0)
		return r;
	if (ret_last_id != NULL)
		*ret_last_id = last;
	if (ret_changes != NULL)
		*ret_changes = changes;
	return 0;
}

int db_query(struct db_tx *tx, const char *sql, const struct wire_value *p,
	     unsigned n, struct wire_rows **ret_rows, struct hx_err *err)
{
	int r;

	if (tx->broken)
		return hx_err_set(err, HX_ENOTLEADER, "statedb: connection lost");
	r = wire_query_sql(tx->conn->wire, tx->conn->dbid, sql, p, n, ret_rows,
			   err);
	tx_note(tx, r);
	return r;
}

struct wire_conn *db_tx_wire(struct db_tx *tx)
{
	return tx->conn->wire;
}

uint64_t db_tx_leader(const struct db_tx *tx)
{
	return tx->conn->leader;
}

int64_t db_row_int(const struct wire_rows *rows, unsigned r, unsigned c)
{
	const struct wire_value *v = &rows->values[r * rows->ncols + c];

	if (v->type == WIRE_INTEGER || v->type == WIRE_BOOLEAN ||
	    v->type == WIRE_UNIXTIME)
		return v->i;
	if (v->type == WIRE_FLOAT)
		return (int64_t)v->f;
	return 0;
}

const char *db_row_text(const struct wire_rows *rows, unsigned r, unsigned c)
{
	const struct wire_value *v = &rows->values[r * rows->ncols + c];

	if ((v->type == WIRE_TEXT || v->type == WIRE_ISO8601) && v->s != NULL)
		return v->s;
	return "";
}

void db_row_copy(const struct wire_rows *rows, unsigned r, unsigned c,
		 char *dst, size_t len)
{
	snprintf(dst, len, "%s", db_row_text(rows, r, c));
}

void db_digest(const char *const *parts, unsigned n, char ret[33])
{
	crypto_generichash_state st;
	unsigned char md[16];

	crypto_generichash_init(&st, NULL, 0, sizeof(md));
	for (unsigned i = 0; i < n; i++)
		crypto_generichash_update(&st, (const unsigned char *)parts[i],
					  strlen(parts[i]) + 1);
	crypto_generichash_final(&st, md, sizeof(md));
	for (unsigned i = 0; i < sizeof(md); i++)
		snprintf(ret + 2 * i, 3, "%02x", md[i]);
}

/* ---- reads ---- */

int db_read(struct statedb *db, db_fn fn, void *data, struct hx_err *err)
{
	uint64_t deadline = hx_now_ms() + (uint64_t)db->cfg.leader_timeout_ms;
	int r;

	for (unsigned attempt = 0;; attempt++) {
		struct db_tx tx = {.db = db};

		r = pool_get(db, deadline, &tx.conn, err);
		if (r < 0)
			return r;
		r = fn(&tx, data, err);
		pool_put(db, tx.conn, tx.broken);
		if ((!tx.broken && r != HX_EBUSY) || hx_now_ms() >= deadline ||
		    attempt >= 5)
			return r;
		/* Leader moved, connection broke or a checkpoint was running:
		 * reads are safe to redo. */
		if (tx.broken)
			pool_flush(db);
		usleep(20000u << (attempt < 4 ? attempt : 4));
	}
}

/* ---- the writer ---- */

/*
 * Ends a transaction that lost the database lock to another writer (each
 * hxd has its own writer queue, so the other nodes' writers and this one
 * meet on the leader, where dqlite answers "database is locked" at once
 * instead of waiting). Nothing of it was committed.
 */
static int writer_busy(struct statedb *db, struct db_tx *tx, bool *ret_retry,
		       bool *ret_busy, struct hx_err *err)
{
	if (db_exec(tx, "ROLLBACK", NULL, 0, NULL, NULL, NULL) < 0) {
		conn_free(db->wconn);
		db->wconn = NULL;
	}
	*ret_retry = true;
	*ret_busy = true;
	return hx_err_set(err, HX_EBUSY, "statedb: database is locked by "
					 "another node's writer");
}

static int writer_try(struct statedb *db, struct db_op *batch, unsigned n,
		      bool *ret_retry, bool *ret_busy, struct hx_err *err)
{
	struct db_tx tx = {.db = db};
	int r;

	*ret_retry = false;
	*ret_busy = false;
	pthread_mutex_lock(&db->lock);
	bool stale = db->wconn != NULL && db->wconn->gen != db->gen;
	pthread_mutex_unlock(&db->lock);
	if (stale) {
		conn_free(db->wconn);
		db->wconn = NULL;
	}
	if (db->wconn == NULL) {
		r = conn_open(db, &db->wconn, err);
		if (r < 0) {
			*ret_retry = true;
			return r;
		}
	}
	tx.conn = db->wconn;
	if ((r = db_exec(&tx, "BEGIN", NULL, 0, NULL, NULL, err)) < 0)
		goto fail;
	for (unsigned i = 0; i < n; i++) {
		struct db_op *op = &batch[i];

		memset(&op->err, 0, sizeof(op->err));
		r = db_exec(&tx, "SAVEPOINT hx_op", NULL, 0, NULL, NULL, err);
		if (r < 0)
			goto fail;
		op->result = op->fn(&tx, op->data, &op->err);
		if (tx.broken)
			goto retry;
		if (op->result == HX_EBUSY)
			return writer_busy(db, &tx, ret_retry, ret_busy, err);
		if (op->result < 0 &&
		    (r = db_exec(&tx, "ROLLBACK TO hx_op", NULL, 0, NULL, NULL,
				 err)) < 0)
			goto fail;
		r = db_exec(&tx, "RELEASE hx_op", NULL, 0, NULL, NULL, err);
		if (r < 0)
			goto fail;
	}
	r = db_exec(&tx, "COMMIT", NULL, 0, NULL, NULL, err);
	if (r == 0)
		return 0;
	if (r == HX_EBUSY) /* refused: the transaction is still open */
		return writer_busy(db, &tx, ret_retry, ret_busy, err);
	if (r == HX_ENOTLEADER && wire_last_refused(db->wconn->wire))
		goto retry; /* refused before anything was applied */
	conn_free(db->wconn);
	db->wconn = NULL;
	if (tx.broken) {
		/* not hx_err_set: the message quotes err's own */
		(void)hx_err_prefix(err, "statedb: commit outcome unknown");
		if (err != NULL)
			err->code = HX_EOUTCOME;
		return HX_EOUTCOME;
	}
	return r;

fail:
	if (r == HX_EBUSY && !tx.broken)
		return writer_busy(db, &tx, ret_retry, ret_busy, err);
retry:
	conn_free(db->wconn);
	db->wconn = NULL;
	*ret_retry = true;
	return err != NULL && err->code < 0 ? err->code : HX_ENOTLEADER;
}

/* Backoff before retrying a batch: after losing the lock, a few random
 * milliseconds (so that writers on different nodes do not collide again
 * in step); after losing the leader, longer, as wire_connect_leader does. */
static void writer_backoff(bool busy, unsigned attempt)
{
	unsigned k = attempt < 4 ? attempt : 4;

	if (busy)
		usleep((1000u + randombytes_uniform(4000)) << k);
	else
		usleep(20000u << k);
}

static void writer_run_batch(struct statedb *db, struct db_op **ops,
			     unsigned n)
{
	struct db_op batch[DB_BATCH];
	uint64_t deadline = hx_now_ms() + (uint64_t)db->cfg.leader_timeout_ms;
	struct hx_err err = {0};
	unsigned busy_attempts = 0, attempts = 0;
	bool retry, busy;
	int r;

	for (unsigned i = 0; i < n; i++)
		batch[i] = *ops[i];
	for (;;) {
		r = writer_try(db, batch, n, &retry, &busy, &err);
		if (!retry || hx_now_ms() >= deadline)
			break;
		writer_backoff(busy, busy ? busy_attempts++ : attempts++);
	}
	pthread_mutex_lock(&db->lock);
	for (unsigned i = 0; i < n; i++) {
		struct db_op *op = ops[i];

		if (r < 0) {
			op->result = r;
			op->err = err;
			if (r == HX_EOUTCOME && batch[i].result < 0) {
				/* failed operations were rolled back */
				op->result = batch[i].result;
				op->err = batch[i].err;
			}
		} else {
			op->result = batch[i].result;
			op->err = batch[i].err;
		}
		op->done = true;
	}
	pthread_cond_broadcast(&db->finished);
	pthread_mutex_unlock(&db->lock);
}

static void *writer_thread(void *arg)
{
	struct statedb *db = arg;
	struct db_op *ops[DB_BATCH];

	for (;;) {
		unsigned n = 0;

		pthread_mutex_lock(&db->lock);
		while (db->head == NULL && !db->stopping)
			pthread_cond_wait(&db->queued, &db->lock);
		if (db->head == NULL && db->stopping) {
			pthread_mutex_unlock(&db->lock);
			return NULL;
		}
		while (db->head != NULL && n < DB_BATCH) {
			ops[n++] = db->head;
			db->head = db->head->next;
		}
		if (db->head == NULL)
			db->tail = NULL;
		pthread_mutex_unlock(&db->lock);
		writer_run_batch(db, ops, n);
	}
}

int db_write(struct statedb *db, db_fn fn, void *data, struct hx_err *err)
{
	struct db_op op = {.fn = fn, .data = data};

	pthread_mutex_lock(&db->lock);
	if (db->stopping) {
		pthread_mutex_unlock(&db->lock);
		return hx_err_set(err, -ECANCELED, "statedb: shutting down");
	}
	if (db->tail != NULL)
		db->tail->next = &op;
	else
		db->head = &op;
	db->tail = &op;
	pthread_cond_signal(&db->queued);
	while (!op.done)
		pthread_cond_wait(&db->finished, &db->lock);
	pthread_mutex_unlock(&db->lock);
	if (op.result < 0)
		hx_err_copy(err, &op.err);
	return op.result;
}

/* ---- lifecycle ---- */

int statedb_set_peers(struct statedb *db, const char *const *addresses,
		      unsigned n)
{
	char **copy = calloc(n + 1, sizeof(*copy));
	unsigned k = 0;

	if (copy == NULL)
		return -ENOMEM;
	/* self first: asking the local node is cheapest */
	copy[k++] = strdup(db->cfg.self_address);
	for (unsigned i = 0; i < n; i++)
		if (strcmp(addresses[i], db->cfg.self_address) != 0)
			copy[k++] = strdup(addresses[i]);
	for (unsigned i = 0; i < k; i++)
		if (copy[i] == NULL) {
			for (unsigned j = 0; j < k; j++)
				free(copy[j]);
			free(copy);
			return -ENOMEM;
		}
	pthread_mutex_lock(&db->lock);
	for (unsigned i = 0; i < db->npeers; i++)
		free(db->peers[i]);
	free(db->peers);
	db->peers = copy;
	db->npeers = k;
	pthread_mutex_unlock(&db->lock);
	return 0;
}

int statedb_open(const struct statedb_config *cfg, struct statedb **ret_db,
		 struct hx_err *err)
{
	pthread_condattr_t ca;
	struct statedb *db;
	int r;

	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return hx_err_set(err, -ENOMEM, "statedb: out of memory");
	db->cfg = *cfg;
	db->cfg.self_address = strdup(cfg->self_address);
	if (db->cfg.io_timeout_ms <= 0)
		db->cfg.io_timeout_ms = 5000;
	if (db->cfg.leader_timeout_ms <= 0)
		db->cfg.leader_timeout_ms = 10000;
	pthread_mutex_init(&db->lock, NULL);
	pthread_cond_init(&db->queued, NULL);
	pthread_cond_init(&db->finished, NULL);
	/* pool_get waits with deadlines on hx_now_ms()'s monotonic clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&db->returned, &ca);
	pthread_condattr_destroy(&ca);
	if (db->cfg.self_address == NULL ||
	    statedb_set_peers(db, NULL, 0) < 0) {
		r = hx_err_set(err, -ENOMEM, "statedb: out of memory");
		goto err_free;
	}
	r = -pthread_create(&db->writer, NULL, writer_thread, db);
	if (r < 0) {
		hx_err_set(err, r, "statedb: writer thread: %s", hx_strerror(r));
		goto err_free;
	}
	*ret_db = db;
	return 0;

err_free:
	for (unsigned i = 0; i < db->npeers; i++)
		free(db->peers[i]);
	free(db->peers);
	free((void *)db->cfg.self_address);
	free(db);
	return r;
}

void statedb_close(struct statedb *db)
{
	if (db == NULL)
		return;
	pthread_mutex_lock(&db->lock);
	db->stopping = true;
	pthread_cond_signal(&db->queued);
	pthread_mutex_unlock(&db->lock);
	pthread_join(db->writer, NULL);
	conn_free(db->wconn);
	pool_flush(db);
	for (unsigned i = 0; i < db->npeers; i++)
		free(db->peers[i]);
	free(db->peers);
	free((void *)db->cfg.self_address);
	pthread_cond_destroy(&db->queued);
	pthread_cond_destroy(&db->finished);
	pthread_cond_destroy(&db->returned);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

/* ---- membership ---- */

struct member_req {
	int kind;
	uint64_t id;
	const char *address;
	int role;
	struct statedb_member *members;
	unsigned n;
	uint64_t leader;
};

enum { MEMBER_LIST, MEMBER_ADD, MEMBER_ASSIGN, MEMBER_REMOVE, MEMBER_XFER };

static int member_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct member_req *m = data;
	struct wire_conn *w = db_tx_wire(tx);
	struct wire_server *servers = NULL;
	char *addr = NULL;
	unsigned n = 0;
	int r;

	switch (m->kind) {
	case MEMBER_ADD:
		r = wire_add(w, m->id, m->address, err);
		break;
	case MEMBER_ASSIGN:
		r = wire_assign(w, m->id, m->role, err);
		break;
	case MEMBER_REMOVE:
		r = wire_remove(w, m->id, err);
		break;
	case MEMBER_XFER:
		r = wire_transfer(w, m->id, err);
		break;
	default:
		r = wire_cluster(w, &servers, &n, err);
		if (r < 0)
			break;
		r = wire_leader(w, &m->leader, &addr, err);
		free(addr);
		if (r < 0) {
			wire_servers_free(servers, n);
			break;
		}
		m->members = calloc(n + 1, sizeof(*m->members));
		if (m->members == NULL) {
			wire_servers_free(servers, n);
			return hx_err_set(err, -ENOMEM, "out of memory");
		}
		for (unsigned i = 0; i < n; i++) {
			m->members[i].id = servers[i].id;
			snprintf(m->members[i].address,
				 sizeof(m->members[i].address), "%s",
				 servers[i].address);
			m->members[i].role = servers[i].role;
		}
		m->n = n;
		wire_servers_free(servers, n);
		break;
	}
	tx_note(tx, r);
	return r;
}

int statedb_members(struct statedb *db, struct statedb_member **ret,
		    unsigned *ret_n, uint64_t *ret_leader_id,
		    struct hx_err *err)
{
	struct member_req m = {.kind = MEMBER_LIST};
	int r = db_read(db, member_fn, &m, err);

	if (r < 0)
		return r;
	*ret = m.members;
	*ret_n = m.n;
	if (ret_leader_id != NULL)
		*ret_leader_id = m.leader;
	return 0;
}

int statedb_member_add(struct statedb *db, uint64_t id, const char *address,
		       struct hx_err *err)
{
	struct member_req m = {.kind = MEMBER_ADD, .id = id, .address = address};
	return db_read(db, member_fn, &m, err);
}

int statedb_member_assign(struct statedb *db, uint64_t id, int role,
			  struct hx_err *err)
{
	struct member_req m = {.kind = MEMBER_ASSIGN, .id = id, .role = role};
	return db_read(db, member_fn, &m, err);
}

int statedb_member_remove(struct statedb *db, uint64_t id,
			  struct hx_err *err)
{
	struct member_req m = {.kind = MEMBER_REMOVE, .id = id};
	return db_read(db, member_fn, &m, err);
}

int statedb_member_transfer(struct statedb *db, uint64_t id,
			    struct hx_err *err)
{
	struct member_req m = {.kind = MEMBER_XFER, .id = id};
	int r = db_read(db, member_fn, &m, err);

	if (r == 0)
		pool_flush(db); /* the leader moved */
	return r;
}

int statedb_leader_of(struct statedb *db, const char *address,
		      uint64_t *ret_id, char *ret_address, size_t len,
		      struct hx_err *err)
{
	struct wire_conn *w;
	char *addr = NULL;
	int fd, r;

	r = db->cfg.dial(db->cfg.dial_data, address, db->cfg.io_timeout_ms,
			 &fd);
	if (r < 0)
		return hx_err_set(err, r, "statedb: dial %s: %s", address,
				  hx_strerror(r));
	r = wire_conn_open(fd, db->cfg.io_timeout_ms, &w, err);
	if (r < 0)
		return r;
	r = wire_leader(w, ret_id, &addr, err);
	if (r == 0)
		snprintf(ret_address, len, "%s", addr);
	if (r == 0 && *ret_id != 0 && strcmp(address, db->cfg.self_address) == 0) {
		pthread_mutex_lock(&db->lock);
		db->leader = *ret_id;
		pthread_mutex_unlock(&db->lock);
	}
	free(addr);
	wire_conn_free(w);
	return r;
}

const char *statedb_role_name(int role)
{
	switch (role) {
	case STATEDB_VOTER:
		return "voter";
	case STATEDB_STANDBY:
		return "standby";
	case STATEDB_SPARE:
		return "spare";
	default:
		return "unknown";
	}
}
