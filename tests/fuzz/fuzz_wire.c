/* libFuzzer target: the dqlite wire decoders and the connection's reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/lib.h"
#include "statedb/wire.h"

/*
 * The first input byte picks what to feed with the rest:
 *
 *  - one of the pure decoders, on the rest as a body (or header);
 *  - a wire_conn over a socketpair whose peer has the rest pre-written as
 *    the server's replies (then EOF), for one request type or for a whole
 *    session of requests that continues while the connection holds.
 */
enum fuzz_mode {
	FUZZ_HEADER,
	FUZZ_FAILURE,
	FUZZ_SERVER,
	FUZZ_SERVERS,
	FUZZ_RESULT,
	FUZZ_ROWS,
	FUZZ_CONN_LEADER,
	FUZZ_CONN_OPEN,
	FUZZ_CONN_PREPARE,
	FUZZ_CONN_EXEC,
	FUZZ_CONN_QUERY,
	FUZZ_CONN_FINALIZE,
	FUZZ_CONN_CLUSTER,
	FUZZ_CONN_SESSION,
	FUZZ_NMODES
};

#define FUZZ_TIMEOUT_MS 50

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reading every byte that a result points to lets ASan check it. */
static volatile unsigned fuzz_sink;

static void touch(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		fuzz_sink += b[i];
}

static void touch_rows(const struct wire_rows *rows)
{
	for (unsigned i = 0; i < rows->ncols; i++)
		touch(rows->names[i], strlen(rows->names[i]) + 1);
	for (size_t i = 0; i < (size_t)rows->nrows * rows->ncols; i++) {
		const struct wire_value *v = &rows->values[i];

		if (v->type == WIRE_TEXT || v->type == WIRE_ISO8601)
			touch(v->s, strlen(v->s) + 1);
		else if (v->type == WIRE_BLOB)
			touch(v->blob, v->blob_len);
		else
			fuzz_sink += (unsigned)v->i;
	}
}

static void fuzz_decoders(int mode, const uint8_t *p, size_t n)
{
	struct wire_rows *rows = NULL;
	struct wire_server *servers;
	struct wire_header hdr;
	uint64_t a, b;
	unsigned count;
	char *s;
	int more;

	switch (mode) {
	case FUZZ_HEADER:
		if (wire_decode_header(p, n, &hdr) == 0)
			fuzz_sink += hdr.words + hdr.type;
		break;
	case FUZZ_FAILURE:
		if (wire_decode_failure(p, n, &a, &s) == 0) {
			touch(s, strlen(s) + 1);
			free(s);
		}
		break;
	case FUZZ_SERVER:
		if (wire_decode_server(p, n, &a, &s) == 0) {
			touch(s, strlen(s) + 1);
			free(s);
		}
		break;
	case FUZZ_SERVERS:
		if (wire_decode_servers(p, n, &servers, &count) == 0) {
			for (unsigned i = 0; i < count; i++)
				touch(servers[i].address,
				      strlen(servers[i].address) + 1);
			wire_servers_free(servers, count);
		}
		break;
	case FUZZ_RESULT:
		if (wire_decode_result(p, n, &a, &b) == 0)
			fuzz_sink += (unsigned)(a + b);
		break;
	default: /* FUZZ_ROWS: the body twice, as two batches */
		if (wire_decode_rows(p, n, &rows, &more) == 0 && more)
			(void)wire_decode_rows(p, n, &rows, &more);
		if (rows != NULL)
			touch_rows(rows);
		wire_rows_free(rows);
		break;
	}
}

/* One request of the kind @mode selects; returns its result. */
static int fuzz_request(struct wire_conn *c, int mode)
{
	static const struct wire_value params[] = {
		{.type = WIRE_INTEGER, .i = 1},
		{.type = WIRE_TEXT, .s = "x"},
	};
	struct wire_server *servers;
	struct wire_rows *rows;
	uint64_t id, changes;
	unsigned n;
	uint32_t u;
	char *s;
	int r;

	switch (mode) {
	case FUZZ_CONN_LEADER:
		r = wire_leader(c, &id, &s, NULL);
		if (r == 0) {
			touch(s, strlen(s) + 1);
			free(s);
		}
		return r;
	case FUZZ_CONN_OPEN:
		return wire_open(c, "db", &u, NULL);
	case FUZZ_CONN_PREPARE:
		return wire_prepare(c, 0, "SELECT 1", &u, NULL);
	case FUZZ_CONN_EXEC:
		return wire_exec_sql(c, 0, "INSERT", params, 2, &id, &changes,
				     NULL);
	case FUZZ_CONN_QUERY:
		r = wire_query_sql(c, 0, "SELECT", params, 2, &rows, NULL);
		if (r == 0) {
			touch_rows(rows);
			wire_rows_free(rows);
		}
		return r;
	case FUZZ_CONN_FINALIZE:
		return wire_finalize(c, 0, 1, NULL);
	default: /* FUZZ_CONN_CLUSTER */
		r = wire_cluster(c, &servers, &n, NULL);
		if (r == 0)
			wire_servers_free(servers, n);
		return r;
	}
}

static void fuzz_conn(int mode, const uint8_t *p, size_t n)
{
	struct wire_conn *c;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	/* Pre-write the replies (as much as the socket takes), then EOF. */
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	if (n > 0)
		(void)send(sv[1], p, n, MSG_NOSIGNAL);
	(void)shutdown(sv[1], SHUT_WR);
	if (wire_conn_open(sv[0], FUZZ_TIMEOUT_MS, &c, NULL) == 0) {
		if (mode != FUZZ_CONN_SESSION) {
			(void)fuzz_request(c, mode);
		} else {
			for (int m = FUZZ_CONN_LEADER; m < FUZZ_CONN_SESSION;
			     m++) {
				(void)fuzz_request(c, m);
				if (wire_conn_is_broken(c))
					break;
			}
		}
		fuzz_sink += (unsigned)wire_last_code(c);
		wire_conn_free(c);
	}
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int mode;

	if (size == 0)
		return 0;
	mode = data[0] % FUZZ_NMODES;
	if (mode < FUZZ_CONN_LEADER)
		fuzz_decoders(mode, data + 1, size - 1);
	else
		fuzz_conn(mode, data + 1, size - 1);
	return 0;
}
