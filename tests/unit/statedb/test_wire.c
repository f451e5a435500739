/* Unit tests for statedb/wire.c: codec, fake peers, a real dqlite node. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dqlite.h>

#include "lib/lib.h"
#include "statedb/wire.h"
#include "tests/unit/statedb/dqfix.h"

/*
 * Three parts:
 *  1. the pure codec, against responses built by the small encoder below
 *     (written from dqlite's src/response.h and src/tuple.c, independently
 *     of wire.c), including every proper prefix of every valid body;
 *  2. wire_conn against fake peers over socketpairs: silent, closing,
 *     garbage, scripted replies (pre-written into the peer's end);
 *  3. a real dqlite node started in-process on an abstract socket.
 *
 * With HX_WIRE_WRITE_CORPUS=<dir> in the environment, the program instead
 * writes the seeds of tests/fuzz/corpus/wire/ into <dir> and exits.
 */

enum {
	RES_FAILURE = 0,
	RES_SERVER = 1,
	RES_SERVERS = 3,
	RES_DB = 4,
	RES_STMT = 5,
	RES_RESULT = 6,
	RES_ROWS = 7,
	RES_EMPTY = 8,
};

#define ROWS_PART 0xeeeeeeeeeeeeeeeeULL
#define ROWS_DONE 0xffffffffffffffffULL

/* ---- a test-side encoder ---- */

struct tb {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static void tb_bytes(struct tb *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void tb_u64(struct tb *b, uint64_t v)
{
	uint8_t w[8];

	for (int i = 0; i < 8; i++)
		w[i] = (uint8_t)(v >> (8 * i));
	tb_bytes(b, w, 8);
}

static void tb_u32(struct tb *b, uint32_t v)
{
	uint8_t w[4];

	for (int i = 0; i < 4; i++)
		w[i] = (uint8_t)(v >> (8 * i));
	tb_bytes(b, w, 4);
}

static void tb_zero(struct tb *b, size_t n)
{
	static const uint8_t zeros[8];

	while (n > 0) {
		size_t k = n < 8 ? n : 8;

		tb_bytes(b, zeros, k);
		n -= k;
	}
}

static void tb_text(struct tb *b, const char *s)
{
	size_t n = strlen(s) + 1;

	tb_bytes(b, s, n);
	tb_zero(b, (8 - n % 8) % 8);
}

static void tb_blob(struct tb *b, const void *data, size_t n)
{
	tb_u64(b, n);
	tb_bytes(b, data, n);
	tb_zero(b, (8 - n % 8) % 8);
}

/* A row header: 4-bit type codes, padded to a word. */
static void tb_row_header(struct tb *b, unsigned n, const uint8_t *types)
{
	uint8_t head[64] = {0};
	size_t len = ((n + 1) / 2 + 7) / 8 * 8;

	assert_true(len <= sizeof(head));
	for (unsigned i = 0; i < n; i++)
		head[i / 2] |= (uint8_t)(types[i] << (4 * (i % 2)));
	tb_bytes(b, head, len);
}

/* Appends a whole message (header + body) to @b. */
static void tb_msg(struct tb *b, uint8_t type, const struct tb *body)
{
	tb_u32(b, (uint32_t)(body->len / 8));
	tb_bytes(b, &type, 1);
	tb_zero(b, 3);
	tb_bytes(b, body->p, body->len);
}

static void tb_free(struct tb *b)
{
	free(b->p);
	*b = (struct tb){0};
}

static void body_failure(struct tb *b, uint64_t code, const char *msg)
{
	tb_u64(b, code);
	tb_text(b, msg);
}

static void body_server(struct tb *b, uint64_t id, const char *address)
{
	tb_u64(b, id);
	tb_text(b, address);
}

static void body_servers3(struct tb *b)
{
	tb_u64(b, 3);
	body_server(b, 1, "10.0.0.1:9001");
	tb_u64(b, WIRE_VOTER);
	body_server(b, 2, "10.0.0.2:9001");
	tb_u64(b, WIRE_STANDBY);
	body_server(b, 3, "@spare");
	tb_u64(b, WIRE_SPARE);
}

static void body_result(struct tb *b, uint64_t last_id, uint64_t changes)
{
	tb_u64(b, last_id);
	tb_u64(b, changes);
}

static const uint8_t all_types[] = {
	WIRE_INTEGER, WIRE_FLOAT,   WIRE_TEXT,	  WIRE_BLOB,
	WIRE_NULL,    WIRE_UNIXTIME, WIRE_ISO8601, WIRE_BOOLEAN,
};

/* Column count and names "c0".."c<n-1>". */
static void body_columns(struct tb *b, unsigned n)
{
	char name[16];

	tb_u64(b, n);
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "c%u", i);
		tb_text(b, name);
	}
}

/* One row with a value of every type; @k varies the values. */
static void body_row_all(struct tb *b, int64_t k)
{
	double f = 0.5 * (double)k;
	uint64_t bits;
	char text[32];

	tb_row_header(b, HX_ARRAY_SIZE(all_types), all_types);
	tb_u64(b, (uint64_t)k);
	memcpy(&bits, &f, sizeof(bits));
	tb_u64(b, bits);
	snprintf(text, sizeof(text), "text-%" PRId64, k);
	tb_text(b, text);
	tb_blob(b, "\0\1\2", 3);
	tb_u64(b, 0);
	tb_u64(b, 1700000000 + (uint64_t)k);
	tb_text(b, "2023-11-14T22:13:20Z");
	tb_u64(b, (uint64_t)(k & 1));
}

static void body_rows_all(struct tb *b, int64_t first, unsigned nrows,
			  uint64_t marker)
{
	body_columns(b, HX_ARRAY_SIZE(all_types));
	for (unsigned i = 0; i < nrows; i++)
		body_row_all(b, first + i);
	tb_u64(b, marker);
}

/* Rows of two columns (INTEGER id, TEXT s) with ids first..first+n-1. */
static void body_rows_int_text(struct tb *b, int64_t first, unsigned n,
			       uint64_t marker)
{
	static const uint8_t types[] = {WIRE_INTEGER, WIRE_TEXT};
	char s[32];

	tb_u64(b, 2);
	tb_text(b, "id");
	tb_text(b, "s");
	for (unsigned i = 0; i < n; i++) {
		tb_row_header(b, 2, types);
		tb_u64(b, (uint64_t)(first + i));
		snprintf(s, sizeof(s), "row-%" PRId64, first + i);
		tb_text(b, s);
	}
	tb_u64(b, marker);
}

/* What dqlite 1.11 sends when stepping fails mid-batch: columns, the
 * rows so far, then the failure. */
static void body_failure_after_rows(struct tb *b, unsigned nrows)
{
	static const uint8_t types[] = {WIRE_INTEGER, WIRE_TEXT};

	tb_u64(b, 2);
	tb_text(b, "id");
	tb_text(b, "s");
	for (unsigned i = 0; i < nrows; i++) {
		tb_row_header(b, 2, types);
		tb_u64(b, i);
		tb_text(b, "some text that is long");
	}
	body_failure(b, 1, "integer overflow");
}

/* ---- part 1: codec ---- */

/* Every proper prefix of a valid body must be rejected. */
typedef int (*decode_fn)(const uint8_t *body, size_t len);

static void assert_prefixes_fail(decode_fn decode, const struct tb *b)
{
	for (size_t n = 0; n < b->len; n++) {
		/* An exact-size copy, so ASan catches any overread. */
		uint8_t *copy = malloc(n > 0 ? n : 1);

		assert_non_null(copy);
		memcpy(copy, b->p, n);
		if (decode(copy, n) != HX_EPROTO)
			fail_msg("prefix of %zu/%zu bytes accepted", n, b->len);
		free(copy);
	}
	assert_int_equal(decode(b->p, b->len), 0);
}

static int decode_failure(const uint8_t *p, size_t n)
{
	uint64_t code;
	char *msg;
	int r = wire_decode_failure(p, n, &code, &msg);

	if (r == 0)
		free(msg);
	return r;
}

static int decode_server(const uint8_t *p, size_t n)
{
	uint64_t id;
	char *address;
	int r = wire_decode_server(p, n, &id, &address);

	if (r == 0)
		free(address);
	return r;
}

static int decode_servers(const uint8_t *p, size_t n)
{
	struct wire_server *servers;
	unsigned count;
	int r = wire_decode_servers(p, n, &servers, &count);

	if (r == 0)
		wire_servers_free(servers, count);
	return r;
}

static int decode_result(const uint8_t *p, size_t n)
{
	uint64_t a, b;

	return wire_decode_result(p, n, &a, &b);
}

static int decode_rows(const uint8_t *p, size_t n)
{
	struct wire_rows *rows = NULL;
	int more, r = wire_decode_rows(p, n, &rows, &more);

	if (r < 0)
		assert_null(rows);
	wire_rows_free(rows);
	return r;
}

static void test_header(void **state)
{
	struct wire_header h;
	struct tb b = {0};

	(void)state;
	tb_u32(&b, 3);
	tb_bytes(&b, "\x07\x01\x00\x00", 4);
	assert_int_equal(wire_decode_header(b.p, b.len, &h), 0);
	assert_int_equal(h.words, 3);
	assert_int_equal(h.type, RES_ROWS);
	assert_int_equal(h.schema, 1);
	assert_int_equal(wire_decode_header(b.p, 7, &h), HX_EPROTO);
	assert_int_equal(wire_decode_header(NULL, 0, &h), HX_EPROTO);

	/* 64 MiB is the largest body accepted. */
	b.len = 0;
	tb_u32(&b, (64u << 20) / 8);
	tb_zero(&b, 4);
	assert_int_equal(wire_decode_header(b.p, b.len, &h), 0);
	b.len = 0;
	tb_u32(&b, (64u << 20) / 8 + 1);
	tb_zero(&b, 4);
	assert_int_equal(wire_decode_header(b.p, b.len, &h), HX_EPROTO);
	b.len = 0;
	tb_u32(&b, UINT32_MAX);
	tb_zero(&b, 4);
	assert_int_equal(wire_decode_header(b.p, b.len, &h), HX_EPROTO);
	tb_free(&b);
}

static void test_failure(void **state)
{
	struct tb b = {0};
	uint64_t code;
	char *msg;

	(void)state;
	body_failure(&b, 1, "no such table: t");
	assert_int_equal(wire_decode_failure(b.p, b.len, &code, &msg), 0);
	assert_int_equal(code, 1);
	assert_string_equal(msg, "no such table: t");
	free(msg);
	assert_prefixes_fail(decode_failure, &b);

	/* A message of exactly 7 characters fills its word. */
	b.len = 0;
	body_failure(&b, 10250, "leader!");
	assert_int_equal(b.len, 16);
	assert_int_equal(decode_failure(b.p, b.len), 0);

	/* No NUL within the body. */
	b.len = 0;
	tb_u64(&b, 1);
	tb_bytes(&b, "abcdefgh", 8);
	assert_int_equal(decode_failure(b.p, b.len), HX_EPROTO);
	/* NUL present, but its padding runs past the end. */
	b.len = 0;
	tb_u64(&b, 1);
	tb_bytes(&b, "abc", 4);
	assert_int_equal(decode_failure(b.p, b.len), HX_EPROTO);
	/* Trailing word. */
	b.len = 0;
	body_failure(&b, 1, "x");
	tb_u64(&b, 0);
	assert_int_equal(decode_failure(b.p, b.len), HX_EPROTO);
	tb_free(&b);
}

static void test_failure_after_rows(void **state)
{
	struct tb b = {0};
	uint64_t code;
	char *msg;

	(void)state;
	for (unsigned nrows = 0; nrows < 4; nrows++) {
		b.len = 0;
		body_failure_after_rows(&b, nrows);
		assert_int_equal(
			wire_decode_failure(b.p, b.len, &code, &msg), 0);
		assert_int_equal(code, 1);
		assert_string_equal(msg, "integer overflow");
		free(msg);
	}
	/* Unlike the other bodies, some prefixes of this one are valid
	 * (column count and first name read as code and message): only
	 * check that no prefix is read out of bounds. */
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *copy = malloc(n > 0 ? n : 1);

		assert_non_null(copy);
		memcpy(copy, b.p, n);
		(void)decode_failure(copy, n);
		free(copy);
	}
	/* A bad row before the failure: not recoverable. */
	b.len = 0;
	tb_u64(&b, 1);
	tb_text(&b, "id");
	tb_u64(&b, 0x0c); /* type 12 */
	tb_u64(&b, 7);
	body_failure(&b, 1, "boom");
	assert_int_equal(decode_failure(b.p, b.len), HX_EPROTO);
	tb_free(&b);
}

static void test_server(void **state)
{
	struct tb b = {0};
	char *address;
	uint64_t id;

	(void)state;
	body_server(&b, 42, "10.1.2.3:9001");
	assert_int_equal(wire_decode_server(b.p, b.len, &id, &address), 0);
	assert_int_equal(id, 42);
	assert_string_equal(address, "10.1.2.3:9001");
	free(address);
	assert_prefixes_fail(decode_server, &b);

	/* "No leader known": id 0 and an empty address. */
	b.len = 0;
	body_server(&b, 0, "");
	assert_int_equal(wire_decode_server(b.p, b.len, &id, &address), 0);
	assert_int_equal(id, 0);
	assert_string_equal(address, "");
	free(address);

	b.len = 0;
	tb_u64(&b, 1);
	tb_bytes(&b, "12345678", 8);
	assert_int_equal(decode_server(b.p, b.len), HX_EPROTO);
	b.len = 0;
	body_server(&b, 1, "a");
	tb_u64(&b, 0);
	assert_int_equal(decode_server(b.p, b.len), HX_EPROTO);
	tb_free(&b);
}

static void test_servers(void **state)
{
	struct wire_server *servers;
	struct tb b = {0};
	unsigned n;

	(void)state;
	body_servers3(&b);
	assert_int_equal(wire_decode_servers(b.p, b.len, &servers, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(servers[0].id, 1);
	assert_string_equal(servers[0].address, "10.0.0.1:9001");
	assert_int_equal(servers[0].role, WIRE_VOTER);
	assert_int_equal(servers[1].role, WIRE_STANDBY);
	assert_string_equal(servers[2].address, "@spare");
	assert_int_equal(servers[2].role, WIRE_SPARE);
	wire_servers_free(servers, n);
	assert_prefixes_fail(decode_servers, &b);

	b.len = 0;
	tb_u64(&b, 0);
	assert_int_equal(wire_decode_servers(b.p, b.len, &servers, &n), 0);
	assert_int_equal(n, 0);
	wire_servers_free(servers, n);

	/* Counts that the body cannot hold are refused before allocating. */
	static const uint64_t huge[] = {2, 1ULL << 40, UINT64_MAX,
					(uint64_t)UINT32_MAX + 1};
	for (size_t i = 0; i < HX_ARRAY_SIZE(huge); i++) {
		b.len = 0;
		tb_u64(&b, huge[i]);
		body_server(&b, 1, "a");
		tb_u64(&b, 0);
		assert_int_equal(decode_servers(b.p, b.len), HX_EPROTO);
	}
	/* Unknown role. */
	b.len = 0;
	tb_u64(&b, 1);
	body_server(&b, 1, "a");
	tb_u64(&b, 3);
	assert_int_equal(decode_servers(b.p, b.len), HX_EPROTO);
	/* Trailing word. */
	b.len = 0;
	tb_u64(&b, 1);
	body_server(&b, 1, "a");
	tb_u64(&b, 0);
	tb_u64(&b, 0);
	assert_int_equal(decode_servers(b.p, b.len), HX_EPROTO);
	/* Address without NUL. */
	b.len = 0;
	tb_u64(&b, 1);
	tb_u64(&b, 1);
	tb_bytes(&b, "abcdefghabcdefgh", 16);
	assert_int_equal(decode_servers(b.p, b.len), HX_EPROTO);
	tb_free(&b);
}

static void test_result(void **state)
{
	struct tb b = {0};
	uint64_t last, changes;

	(void)state;
	body_result(&b, 7, UINT64_MAX);
	assert_int_equal(wire_decode_result(b.p, b.len, &last, &changes), 0);
	assert_int_equal(last, 7);
	assert_true(changes == UINT64_MAX);
	assert_prefixes_fail(decode_result, &b);
	tb_u64(&b, 0);
	assert_int_equal(decode_result(b.p, b.len), HX_EPROTO);
	tb_free(&b);
}

static void assert_row_all(const struct wire_rows *rows, unsigned r,
			   int64_t k)
{
	const struct wire_value *v = &rows->values[r * rows->ncols];
	char text[32];

	snprintf(text, sizeof(text), "text-%" PRId64, k);
	assert_int_equal(v[0].type, WIRE_INTEGER);
	assert_int_equal(v[0].i, k);
	assert_int_equal(v[1].type, WIRE_FLOAT);
	assert_true(v[1].f == 0.5 * (double)k);
	assert_int_equal(v[2].type, WIRE_TEXT);
	assert_string_equal(v[2].s, text);
	assert_int_equal(v[3].type, WIRE_BLOB);
	assert_int_equal(v[3].blob_len, 3);
	assert_memory_equal(v[3].blob, "\0\1\2", 3);
	assert_int_equal(v[4].type, WIRE_NULL);
	assert_int_equal(v[5].type, WIRE_UNIXTIME);
	assert_int_equal(v[5].i, 1700000000 + k);
	assert_int_equal(v[6].type, WIRE_ISO8601);
	assert_string_equal(v[6].s, "2023-11-14T22:13:20Z");
	assert_int_equal(v[7].type, WIRE_BOOLEAN);
	assert_int_equal(v[7].i, k & 1);
}

static void test_rows(void **state)
{
	struct wire_rows *rows = NULL;
	struct tb b = {0};
	int more;

	(void)state;
	body_rows_all(&b, 10, 2, ROWS_DONE);
	assert_int_equal(wire_decode_rows(b.p, b.len, &rows, &more), 0);
	assert_int_equal(more, 0);
	assert_int_equal(rows->ncols, 8);
	assert_int_equal(rows->nrows, 2);
	assert_string_equal(rows->names[0], "c0");
	assert_string_equal(rows->names[7], "c7");
	assert_row_all(rows, 0, 10);
	assert_row_all(rows, 1, 11);
	wire_rows_free(rows);
	assert_prefixes_fail(decode_rows, &b);

	/* No rows at all. */
	b.len = 0;
	body_rows_all(&b, 0, 0, ROWS_DONE);
	rows = NULL;
	assert_int_equal(wire_decode_rows(b.p, b.len, &rows, &more), 0);
	assert_int_equal(rows->nrows, 0);
	assert_int_equal(rows->ncols, 8);
	wire_rows_free(rows);
	tb_free(&b);
}

static void test_rows_batches(void **state)
{
	struct wire_rows *rows = NULL;
	struct tb b = {0};
	int more;

	(void)state;
	/* Enough batches that the value array moves a few times; the
	 * values of early batches must stay valid. */
	for (unsigned i = 0; i < 20; i++) {
		b.len = 0;
		body_rows_all(&b, 3 * i, 3, i < 19 ? ROWS_PART : ROWS_DONE);
		assert_int_equal(wire_decode_rows(b.p, b.len, &rows, &more),
				 0);
		assert_int_equal(more, i < 19);
	}
	assert_int_equal(rows->nrows, 60);
	for (unsigned r = 0; r < 60; r++)
		assert_row_all(rows, r, r);

	/* A batch with other columns is refused; rows are untouched. */
	b.len = 0;
	body_rows_int_text(&b, 0, 1, ROWS_DONE);
	assert_int_equal(wire_decode_rows(b.p, b.len, &rows, &more),
			 HX_EPROTO);
	b.len = 0;
	body_rows_all(&b, 0, 1, ROWS_DONE);
	b.p[8 + 1] = 'X'; /* first name "c0" -> "cX" */
	assert_int_equal(wire_decode_rows(b.p, b.len, &rows, &more),
			 HX_EPROTO);
	assert_int_equal(rows->nrows, 60);
	assert_row_all(rows, 59, 59);
	wire_rows_free(rows);
	tb_free(&b);
}

static void test_rows_wide(void **state)
{
	uint8_t types[17];
	struct wire_rows *rows = NULL;
	struct tb b = {0};
	int more;

	(void)state;
	/* 17 columns: the row header takes two words. */
	for (unsigned i = 0; i < 17; i++)
		types[i] = i % 2 ? WIRE_NULL : WIRE_INTEGER;
	body_columns(&b, 17);
	for (unsigned r = 0; r < 2; r++) {
		tb_row_header(&b, 17, types);
		for (unsigned i = 0; i < 17; i++)
			tb_u64(&b, i % 2 ? 0 : 100 * r + i);
	}
	tb_u64(&b, ROWS_DONE);
	assert_int_equal(wire_decode_rows(b.p, b.len, &rows, &more), 0);
	assert_int_equal(rows->nrows, 2);
	assert_int_equal(rows->values[17 + 16].type, WIRE_INTEGER);
	assert_int_equal(rows->values[17 + 16].i, 116);
	assert_int_equal(rows->values[17 + 15].type, WIRE_NULL);
	wire_rows_free(rows);
	assert_prefixes_fail(decode_rows, &b);
	tb_free(&b);
}

/* A one-column row body with the given header word and value word. */
static void body_one(struct tb *b, uint64_t header, uint64_t value)
{
	b->len = 0;
	tb_u64(b, 1);
	tb_text(b, "x");
	tb_u64(b, header);
	tb_u64(b, value);
	tb_u64(b, ROWS_DONE);
}

static void test_rows_malformed(void **state)
{
	static const uint64_t bad_types[] = {0, 6, 7, 8, 12, 13, 14, 15};
	struct tb b = {0};

	(void)state;
	assert_int_equal(decode_rows(NULL, 0), HX_EPROTO);
	body_one(&b, WIRE_INTEGER, 5);
	assert_int_equal(decode_rows(b.p, b.len), 0);
	for (size_t i = 0; i < HX_ARRAY_SIZE(bad_types); i++) {
		body_one(&b, bad_types[i], 5);
		assert_int_equal(decode_rows(b.p, b.len), HX_EPROTO);
	}
	/* A type in the padding slot of a one-column row. */
	body_one(&b, WIRE_INTEGER | WIRE_INTEGER << 4, 5);
	assert_int_equal(decode_rows(b.p, b.len), HX_EPROTO);
	body_one(&b, WIRE_INTEGER | 1ULL << 60, 5);
	assert_int_equal(decode_rows(b.p, b.len), HX_EPROTO);

	/* Column counts: none, or more than the body can hold. */
	static const uint64_t counts[] = {0, 3, 1ULL << 40, UINT64_MAX,
					  (uint64_t)UINT32_MAX + 1};
	for (size_t i = 0; i < HX_ARRAY_SIZE(counts); i++) {
		b.len = 0;
		tb_u64(&b, counts[i]);
		tb_text(&b, "x");
		tb_u64(&b, ROWS_DONE);
		assert_int_equal(decode_rows(b.p, b.len), HX_EPROTO);
	}
	/* No end marker, and data after it. */
	b.len = 0;
	tb_u64(&b, 1);
	tb_text(&b, "x");
	assert_int_equal(decode_rows(b.p, b.len), HX_EPROTO);
	tb_u64(&b, ROWS_DONE);
	tb_u64(&b, 0);
	assert_int_equal(decode_rows(b.p, b.len), HX_EPROTO);
	/* Blob lengths past the end, including ones that overflow when
	 * padded. */
	static const uint64_t blob_lens[] = {9, 1ULL << 40, UINT64_MAX,
					     UINT64_MAX - 6};
	for (size_t i = 0; i < HX_ARRAY_SIZE(blob_lens); i++) {
		body_one(&b, WIRE_BLOB, blob_lens[i]);
		assert_int_equal(decode_rows(b.p, b.len), HX_EPROTO);
	}
	/* Text without NUL up to the end. */
	b.len = 0;
	tb_u64(&b, 1);
	tb_text(&b, "x");
	tb_u64(&b, WIRE_TEXT);
	tb_bytes(&b, "abcdefghabcdefgh", 16);
	assert_int_equal(decode_rows(b.p, b.len), HX_EPROTO);
	/* Column name without NUL. */
	b.len = 0;
	tb_u64(&b, 1);
	tb_bytes(&b, "abcdefgh", 8);
	assert_int_equal(decode_rows(b.p, b.len), HX_EPROTO);
	tb_free(&b);
}

/* ---- part 2: fake peers ---- */

struct pair {
	int client; /* handed to wire_conn_open */
	int peer;   /* the fake server */
};

static void pair_open(struct pair *p)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv),
			 0);
	p->client = sv[0];
	p->peer = sv[1];
}

/* Pre-writes @len bytes of replies into the peer's end. */
static void pair_reply(struct pair *p, const void *data, size_t len)
{
	assert_int_equal(hx_write_all(p->peer, data, len), 0);
}

static struct wire_conn *conn_open(struct pair *p, int timeout_ms)
{
	struct wire_conn *c = NULL;
	struct hx_err err = {0};

	assert_int_equal(wire_conn_open(p->client, timeout_ms, &c, &err), 0);
	p->client = -1; /* owned by c */
	return c;
}

/* Reads everything the client sent so far (non-blocking). */
static size_t peer_drain(struct pair *p, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap) {
		ssize_t k = recv(p->peer, buf + n, cap - n, MSG_DONTWAIT);

		if (k <= 0)
			break;
		n += (size_t)k;
	}
	return n;
}

static void pair_close(struct pair *p)
{
	if (p->client >= 0)
		close(p->client);
	if (p->peer >= 0)
		close(p->peer);
	p->client = p->peer = -1;
}

static void test_conn_silent_peer(void **state)
{
	struct hx_err err = {0};
	struct pair p;
	struct wire_conn *c;
	uint64_t id, t0, elapsed;
	char *address;

	(void)state;
	pair_open(&p);
	c = conn_open(&p, 200);
	t0 = hx_now_ms();
	assert_int_equal(wire_leader(c, &id, &address, &err), -ETIMEDOUT);
	elapsed = hx_now_ms() - t0;
	assert_true(elapsed >= 199);
	assert_true(elapsed < 1200);
	assert_int_equal(err.code, -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "leader"));
	assert_true(wire_conn_is_broken(c));
	/* A broken connection refuses further use. */
	assert_int_equal(wire_leader(c, &id, &address, &err), -ENOTCONN);
	wire_conn_free(c);
	pair_close(&p);
}

/* A peer that never reads: sending a large request times out too. */
static void test_conn_deaf_peer(void **state)
{
	size_t size = (size_t)16 << 20;
	struct wire_value blob = {.type = WIRE_BLOB, .blob_len = size};
	struct hx_err err = {0};
	struct wire_conn *c;
	struct pair p;
	uint64_t t0, elapsed;
	void *data = calloc(1, size);

	(void)state;
	assert_non_null(data);
	blob.blob = data;
	pair_open(&p);
	c = conn_open(&p, 200);
	t0 = hx_now_ms();
	assert_int_equal(wire_exec_sql(c, 0, "INSERT", &blob, 1, NULL, NULL,
				       &err),
			 -ETIMEDOUT);
	elapsed = hx_now_ms() - t0;
	assert_true(elapsed >= 199);
	/* Bounded, not hung; generous because encoding 16 MiB under ASan on
	 * a loaded machine alone can take over a second. */
	assert_true(elapsed < 10000);
	assert_non_null(strstr(err.msg, "send request"));
	assert_true(wire_conn_is_broken(c));
	wire_conn_free(c);
	pair_close(&p);
	free(data);
}

static void test_conn_peer_closes(void **state)
{
	struct hx_err err = {0};
	struct wire_conn *c = NULL;
	struct pair p;
	uint64_t id;
	char *address;

	(void)state;
	/* Closed before the handshake: the fd is closed by the call. */
	pair_open(&p);
	close(p.peer);
	p.peer = -1;
	assert_int_equal(wire_conn_open(p.client, 100, &c, &err),
			 -ECONNRESET);
	p.client = -1;

	/* Closed after the handshake, before the request. */
	pair_open(&p);
	c = conn_open(&p, 1000);
	pair_close(&p);
	assert_int_equal(wire_leader(c, &id, &address, &err), -ECONNRESET);
	assert_true(wire_conn_is_broken(c));
	wire_conn_free(c);

	/* Takes the request, answers half a message, then closes. */
	pair_open(&p);
	c = conn_open(&p, 1000);
	pair_reply(&p, "\x02\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00", 12);
	shutdown(p.peer, SHUT_WR);
	assert_int_equal(wire_leader(c, &id, &address, &err), -ECONNRESET);
	assert_true(wire_conn_is_broken(c));
	wire_conn_free(c);
	pair_close(&p);
}

static void test_conn_garbage(void **state)
{
	static const char garbage[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	struct hx_err err = {0};
	struct wire_conn *c;
	struct tb b = {0}, body = {0};
	struct pair p;
	uint64_t id, last, changes;
	char *address;

	(void)state;
	/* Text as a header: a body of ~9 GB is refused unread. */
	pair_open(&p);
	c = conn_open(&p, 1000);
	pair_reply(&p, garbage, sizeof(garbage) - 1);
	assert_int_equal(wire_leader(c, &id, &address, &err), HX_EPROTO);
	assert_true(wire_conn_is_broken(c));
	wire_conn_free(c);
	pair_close(&p);

	/* A well-formed message of the wrong type. */
	pair_open(&p);
	c = conn_open(&p, 1000);
	body_result(&body, 1, 1);
	tb_msg(&b, RES_RESULT, &body);
	pair_reply(&p, b.p, b.len);
	assert_int_equal(wire_leader(c, &id, &address, &err), HX_EPROTO);
	assert_non_null(strstr(err.msg, "unexpected response type 6"));
	assert_true(wire_conn_is_broken(c));
	wire_conn_free(c);
	pair_close(&p);

	/* The right type with a malformed body. */
	pair_open(&p);
	c = conn_open(&p, 1000);
	b.len = body.len = 0;
	tb_u64(&body, 1);
	tb_msg(&b, RES_RESULT, &body);
	pair_reply(&p, b.p, b.len);
	assert_int_equal(wire_exec_sql(c, 0, "x", NULL, 0, &last, &changes,
				       &err),
			 HX_EPROTO);
	assert_true(wire_conn_is_broken(c));
	wire_conn_free(c);
	pair_close(&p);
	tb_free(&b);
	tb_free(&body);
}

static void reply_failure(struct pair *p, uint64_t code, const char *msg)
{
	struct tb b = {0}, body = {0};

	body_failure(&body, code, msg);
	tb_msg(&b, RES_FAILURE, &body);
	pair_reply(p, b.p, b.len);
	tb_free(&b);
	tb_free(&body);
}

static void test_conn_failures(void **state)
{
	static const struct {
		uint64_t code;
		int expect;
	} cases[] = {
		{10250, HX_ENOTLEADER}, {10506, HX_ENOTLEADER},
		{5, HX_EBUSY},		{517, HX_EBUSY},
		{1, HX_ESQL},		{0, HX_ESQL},
		{19, HX_ESQL},		{0x10005, HX_ESQL},
	};
	struct hx_err err = {0};
	struct tb b = {0}, body = {0};
	struct wire_conn *c;
	struct pair p;
	uint64_t last, changes;

	(void)state;
	pair_open(&p);
	c = conn_open(&p, 1000);
	for (size_t i = 0; i < HX_ARRAY_SIZE(cases); i++)
		reply_failure(&p, cases[i].code, "it\tfailed\n");
	body_result(&body, 3, 4);
	tb_msg(&b, RES_RESULT, &body);
	pair_reply(&p, b.p, b.len);
	for (size_t i = 0; i < HX_ARRAY_SIZE(cases); i++) {
		assert_int_equal(wire_exec_sql(c, 0, "x", NULL, 0, &last,
					       &changes, &err),
				 cases[i].expect);
		assert_int_equal(err.code, cases[i].expect);
		/* Control characters are not passed on. */
		assert_string_equal(err.msg, "it?failed?");
		assert_true(wire_last_code(c) == cases[i].code);
		assert_false(wire_conn_is_broken(c));
	}
	/* Still in sync: the next reply is read as such. */
	assert_int_equal(wire_exec_sql(c, 0, "x", NULL, 0, &last, &changes,
				       &err),
			 0);
	assert_int_equal(last, 3);
	assert_int_equal(changes, 4);
	assert_int_equal(wire_last_code(c), 0);
	wire_conn_free(c);
	pair_close(&p);
	tb_free(&b);
	tb_free(&body);
}

/*
 * dqlite 1.11 drops the database of every connection when its node loses
 * leadership and answers "no database opened" from then on, even once the
 * node leads again: that connection must be dropped and the request known
 * not to have run. Other failures with the same SQLite code are plain SQL
 * errors on a usable connection.
 */
static void test_conn_no_database(void **state)
{
	struct hx_err err = {0};
	struct wire_conn *c;
	struct pair p;
	uint64_t last, changes;

	(void)state;
	pair_open(&p);
	c = conn_open(&p, 1000);
	reply_failure(&p, 12, "no statement with the given id");
	reply_failure(&p, 10250, "not leader");
	reply_failure(&p, 12, "no database opened");
	assert_int_equal(wire_exec_sql(c, 0, "x", NULL, 0, &last, &changes,
				       &err),
			 HX_ESQL);
	assert_false(wire_last_refused(c));
	assert_false(wire_conn_is_broken(c));
	assert_int_equal(wire_exec_sql(c, 0, "x", NULL, 0, &last, &changes,
				       &err),
			 HX_ENOTLEADER);
	assert_true(wire_last_refused(c));
	assert_false(wire_conn_is_broken(c));
	assert_int_equal(wire_exec_sql(c, 0, "COMMIT", NULL, 0, &last,
				       &changes, &err),
			 HX_ENOTLEADER);
	assert_string_equal(err.msg, "no database opened");
	assert_true(wire_last_refused(c));
	assert_true(wire_conn_is_broken(c));
	assert_int_equal(wire_exec_sql(c, 0, "x", NULL, 0, &last, &changes,
				       &err),
			 -ENOTCONN);
	wire_conn_free(c);
	pair_close(&p);
}

static void test_conn_rows_stream(void **state)
{
	struct hx_err err = {0};
	struct tb b = {0}, body = {0};
	struct wire_rows *rows = NULL;
	struct wire_conn *c;
	struct pair p;

	(void)state;
	pair_open(&p);
	c = conn_open(&p, 1000);
	/* Three batches, then a query failing in its second batch, then a
	 * query whose first batch is a failure after rows. */
	for (unsigned i = 0; i < 3; i++) {
		body.len = 0;
		body_rows_int_text(&body, 100 * i, 100, i < 2 ? ROWS_PART :
								ROWS_DONE);
		tb_msg(&b, RES_ROWS, &body);
	}
	body.len = 0;
	body_rows_int_text(&body, 0, 5, ROWS_PART);
	tb_msg(&b, RES_ROWS, &body);
	body.len = 0;
	body_failure_after_rows(&body, 3);
	tb_msg(&b, RES_FAILURE, &body);
	body.len = 0;
	body_failure_after_rows(&body, 0);
	tb_msg(&b, RES_FAILURE, &body);
	pair_reply(&p, b.p, b.len);

	assert_int_equal(wire_query_sql(c, 0, "SELECT", NULL, 0, &rows, &err),
			 0);
	assert_int_equal(rows->nrows, 300);
	for (unsigned r = 0; r < 300; r++)
		assert_int_equal(rows->values[2 * r].i, r);
	assert_string_equal(rows->values[2 * 299 + 1].s, "row-299");
	wire_rows_free(rows);
	for (int i = 0; i < 2; i++) {
		rows = NULL;
		assert_int_equal(wire_query_sql(c, 0, "SELECT", NULL, 0, &rows,
						&err),
				 HX_ESQL);
		assert_null(rows);
		assert_string_equal(err.msg, "integer overflow");
		assert_int_equal(wire_last_code(c), 1);
		assert_false(wire_conn_is_broken(c));
	}
	wire_conn_free(c);
	pair_close(&p);
	tb_free(&b);
	tb_free(&body);
}

/* What the client sends, byte for byte, for a statement with params. */
static void test_conn_request_bytes(void **state)
{
	struct wire_value params[] = {
		{.type = WIRE_INTEGER, .i = -2},
		{.type = WIRE_FLOAT, .f = 1.5},
		{.type = WIRE_TEXT, .s = "hello, world"},
		{.type = WIRE_BLOB, .blob = "\xff\x01", .blob_len = 2},
		{.type = WIRE_NULL},
		{.type = WIRE_UNIXTIME, .i = 1700000000},
		{.type = WIRE_ISO8601, .s = "2023-11-14"},
		{.type = WIRE_BOOLEAN, .i = 7},
	};
	struct hx_err err = {0};
	struct tb b = {0}, body = {0}, want = {0};
	struct wire_conn *c;
	struct pair p;
	uint8_t got[1024];
	uint64_t last, changes, bits;
	size_t n;

	(void)state;
	pair_open(&p);
	c = conn_open(&p, 1000);
	body_result(&body, 1, 1);
	tb_msg(&b, RES_RESULT, &body);
	pair_reply(&p, b.p, b.len);
	assert_int_equal(wire_exec_sql(c, 9, "INSERT", params,
				       HX_ARRAY_SIZE(params), &last, &changes,
				       &err),
			 0);
	n = peer_drain(&p, got, sizeof(got));

	/* Handshake, then EXEC_SQL (type 8). */
	tb_u64(&want, 1);
	body.len = 0;
	tb_u64(&body, 9);
	tb_text(&body, "INSERT");
	/* 8 params: count byte + 8 type bytes -> two words. UNIXTIME goes
	 * out as INTEGER: dqlite 1.11 cannot decode it as a parameter. */
	tb_bytes(&body, "\x08\x01\x02\x03\x04\x05\x01\x0a\x0b", 9);
	tb_zero(&body, 7);
	tb_u64(&body, (uint64_t)-2);
	memcpy(&bits, &params[1].f, 8);
	tb_u64(&body, bits);
	tb_text(&body, "hello, world");
	tb_blob(&body, "\xff\x01", 2);
	tb_u64(&body, 0);
	tb_u64(&body, 1700000000);
	tb_text(&body, "2023-11-14");
	tb_u64(&body, 1);
	tb_u32(&want, (uint32_t)(body.len / 8));
	tb_bytes(&want, "\x08\x00\x00\x00", 4);
	tb_bytes(&want, body.p, body.len);
	assert_int_equal(n, want.len);
	assert_memory_equal(got, want.p, n);

	/* EXEC: db and statement as a uint32 pair; no params, no tuple. */
	b.len = 0;
	body.len = 0;
	body_result(&body, 1, 1);
	tb_msg(&b, RES_RESULT, &body);
	pair_reply(&p, b.p, b.len);
	assert_int_equal(wire_exec(c, 1, 2, NULL, 0, &last, &changes, &err),
			 0);
	n = peer_drain(&p, got, sizeof(got));
	assert_int_equal(n, 16);
	assert_memory_equal(got, "\x01\x00\x00\x00\x05\x00\x00\x00"
				 "\x01\x00\x00\x00\x02\x00\x00\x00",
			    16);
	wire_conn_free(c);
	pair_close(&p);
	tb_free(&b);
	tb_free(&body);
	tb_free(&want);
}

static void test_conn_bad_params(void **state)
{
	struct wire_value many[256];
	struct wire_value bad[] = {
		{.type = WIRE_TEXT, .s = NULL},
		{.type = WIRE_BLOB, .blob = NULL, .blob_len = 1},
		{.type = 6},
		{.type = 0},
	};
	struct hx_err err = {0};
	struct wire_conn *c;
	struct pair p;
	uint64_t last, changes;
	uint8_t got[64];
	uint32_t u;

	(void)state;
	pair_open(&p);
	c = conn_open(&p, 1000);
	for (size_t i = 0; i < HX_ARRAY_SIZE(many); i++)
		many[i] = (struct wire_value){.type = WIRE_NULL};
	assert_int_equal(wire_exec_sql(c, 0, "x", many, 256, &last, &changes,
				       &err),
			 -EINVAL);
	for (size_t i = 0; i < HX_ARRAY_SIZE(bad); i++)
		assert_int_equal(wire_exec_sql(c, 0, "x", &bad[i], 1, &last,
					       &changes, &err),
				 -EINVAL);
	assert_int_equal(wire_assign(c, 2, 3, &err), -EINVAL);
	assert_int_equal(wire_exec_sql(c, 0, NULL, NULL, 0, &last, &changes,
				       &err),
			 -EINVAL);
	assert_int_equal(wire_open(c, NULL, &u, &err), -EINVAL);
	assert_int_equal(wire_add(c, 2, NULL, &err), -EINVAL);
	/* Nothing but the handshake went out, and c is still good. */
	assert_int_equal(peer_drain(&p, got, sizeof(got)), 8);
	assert_false(wire_conn_is_broken(c));
	wire_conn_free(c);
	pair_close(&p);
}

/* A scripted network for wire_connect_leader. */
struct fake_node {
	const char *address;
	int dial_error;	      /* returned by dial when non-zero */
	uint64_t says_id;     /* its answer to LEADER */
	const char *says_address;
};

#define FAKE_MAX_DIALS 64

struct fake_net {
	const struct fake_node *nodes;
	unsigned n;
	int peers[FAKE_MAX_DIALS];
	unsigned dials;
	int last_fd[8]; /* client fd of the latest dial, per node */
};

static int fake_dial(void *data, const char *address, int timeout_ms,
		     int *ret_fd)
{
	struct fake_net *net = data;
	struct tb b = {0}, body = {0};
	struct pair p;

	assert_true(timeout_ms > 0);
	for (unsigned i = 0; i < net->n; i++) {
		const struct fake_node *node = &net->nodes[i];

		if (strcmp(node->address, address) != 0)
			continue;
		if (node->dial_error != 0)
			return node->dial_error;
		if (net->dials == FAKE_MAX_DIALS)
			return -EMFILE;
		pair_open(&p);
		body_server(&body, node->says_id, node->says_address);
		tb_msg(&b, RES_SERVER, &body);
		pair_reply(&p, b.p, b.len);
		tb_free(&b);
		tb_free(&body);
		net->peers[net->dials++] = p.peer;
		net->last_fd[i] = p.client;
		*ret_fd = p.client;
		return 0;
	}
	return -EHOSTUNREACH;
}

static void fake_net_close(struct fake_net *net)
{
	for (unsigned i = 0; i < net->dials; i++)
		close(net->peers[i]);
	net->dials = 0;
}

static void test_connect_leader_fake(void **state)
{
	static const struct fake_node nodes[] = {
		{"a", 0, 2, "b"}, /* a: "b is the leader" */
		{"b", 0, 2, "b"}, /* b: "I am" */
		{"c", 0, 2, "d"}, /* c: "d is" */
		{"d", 0, 4, "e"}, /* d: "e is" (so not d) */
		{"e", -ECONNREFUSED, 0, ""},
		{"f", 0, 0, ""}, /* f: "no idea" */
	};
	struct fake_net net = {.nodes = nodes, .n = HX_ARRAY_SIZE(nodes)};
	const char *via_a[] = {"e", "a"};
	const char *bad[] = {"c", "e", "f"};
	struct hx_err err = {0};
	struct wire_conn *c = NULL;
	uint64_t id = 0, t0, elapsed;

	(void)state;
	/* e refuses, a names b, b confirms: connected to b. */
	assert_int_equal(wire_connect_leader(fake_dial, &net, via_a, 2, 1000,
					     hx_now_ms() + 2000, &c, &id,
					     &err),
			 0);
	assert_int_equal(id, 2);
	assert_int_equal(wire_conn_fd(c), net.last_fd[1]);
	assert_int_equal(net.dials, 2);
	wire_conn_free(c);
	fake_net_close(&net);

	/* Nobody confirms: retries with backoff until the deadline. */
	t0 = hx_now_ms();
	assert_int_equal(wire_connect_leader(fake_dial, &net, bad, 3, 1000,
					     t0 + 300, &c, &id, &err),
			 HX_ENOQUORUM);
	elapsed = hx_now_ms() - t0;
	assert_true(elapsed >= 299);
	assert_true(elapsed < 1500);
	/* 20+40+80+160 ms of backoff fit in 300 ms: a handful of rounds,
	 * each dialing c, d (to confirm) and f. */
	assert_true(net.dials >= 2 * 3);
	assert_true(net.dials <= 6 * 3);
	assert_int_equal(err.code, HX_ENOQUORUM);
	/* The last error depends on where the deadline fell. */
	assert_non_null(strstr(err.msg, "no leader found among 3 nodes "
					"within 300 ms: node '"));
	fake_net_close(&net);

	/* While an election may be under way (the first 2 s), rounds are at
	 * most ~100 ms apart: 20+40+80 ms, then 100 ms steps make about 11
	 * rounds in 1 s, where steps growing to 500 ms made 6. */
	assert_int_equal(wire_connect_leader(fake_dial, &net, bad, 3, 1000,
					     hx_now_ms() + 1000, &c, &id,
					     &err),
			 HX_ENOQUORUM);
	assert_true(net.dials >= 8 * 3);
	fake_net_close(&net);

	/* A node naming another that names a third is not trusted. The
	 * last round's error is reported; on a loaded machine the deadline
	 * may cut that round short, which the message then says instead. */
	assert_int_equal(wire_connect_leader(fake_dial, &net, bad, 1, 1000,
					     hx_now_ms() + 300, &c, &id, &err),
			 HX_ENOQUORUM);
	if (strstr(err.msg, "node 'c' names leader 2 'd', which names 4 'e'") ==
		    NULL &&
	    strstr(err.msg, "timed out") == NULL &&
	    strstr(err.msg, "deadline") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	fake_net_close(&net);

	/* Only refusals. */
	assert_int_equal(wire_connect_leader(fake_dial, &net, &bad[1], 1, 1000,
					     hx_now_ms() + 50, &c, &id, &err),
			 HX_ENOQUORUM);
	assert_non_null(strstr(err.msg, "node 'e': dial: Connection refused"));
	assert_int_equal(wire_connect_leader(fake_dial, &net, bad, 0, 1000,
					     hx_now_ms() + 50, &c, &id, &err),
			 -EINVAL);
	fake_net_close(&net);
}

/* ---- part 3: a real dqlite node ---- */

static int node_setup(void **state)
{
	static struct dqfix f;

	if (dqfix_node_start(&f, "wire") < 0)
		return -1;
	*state = &f;
	return 0;
}

static int node_teardown(void **state)
{
	dqfix_node_stop(*state);
	return 0;
}

/* A connection to the node's leader (itself), with "db" open. */
static struct wire_conn *node_connect(struct dqfix *f,
				      uint32_t *ret_db)
{
	const char *addresses[] = {f->address};
	struct hx_err err = {0};
	struct wire_conn *c = NULL;
	uint64_t id;

	if (wire_connect_leader(dqfix_dial, NULL, addresses, 1, 5000,
				hx_now_ms() + 10000, &c, &id, &err) < 0)
		fail_msg("connect: %s", err.msg);
	if (ret_db != NULL && wire_open(c, "db", ret_db, &err) < 0)
		fail_msg("open: %s", err.msg);
	return c;
}

static void test_node_leader(void **state)
{
	struct dqfix *f = *state;
	char missing[80];
	const char *addresses[] = {missing, f->address};
	struct hx_err err = {0};
	struct wire_conn *c = NULL;
	uint64_t id = 0;
	char *address;

	/* The first address does not exist: asked in order, then found. */
	snprintf(missing, sizeof(missing), "%s-missing", f->address);
	assert_int_equal(wire_connect_leader(dqfix_dial, NULL, addresses, 2,
					     5000, hx_now_ms() + 10000, &c,
					     &id, &err),
			 0);
	assert_int_equal(id, 1);
	assert_int_equal(wire_leader(c, &id, &address, &err), 0);
	assert_int_equal(id, 1);
	assert_string_equal(address, f->address);
	free(address);
	wire_conn_free(c);
}

static void test_node_types(void **state)
{
	struct wire_value params[] = {
		{.type = WIRE_INTEGER, .i = INT64_MIN},
		{.type = WIRE_FLOAT, .f = -2.25},
		{.type = WIRE_TEXT, .s = "h\xc3\xa9llo"},
		{.type = WIRE_BLOB,
		 .blob = "\0\1\2\3\4\5\6\7\x08",
		 .blob_len = 9},
		{.type = WIRE_NULL},
		{.type = WIRE_UNIXTIME, .i = 1700000000},
		{.type = WIRE_ISO8601, .s = "2023-11-14 22:13:20"},
		{.type = WIRE_BOOLEAN, .i = 1},
	};
	static const int want_types[] = {
		WIRE_INTEGER, WIRE_FLOAT,    WIRE_TEXT,	   WIRE_BLOB,
		WIRE_NULL,    WIRE_UNIXTIME, WIRE_ISO8601, WIRE_BOOLEAN,
	};
	struct wire_value key = {.type = WIRE_INTEGER, .i = 1};
	struct wire_rows *rows = NULL;
	struct hx_err err = {0};
	uint64_t last, changes;
	uint32_t db, ins, sel;
	struct wire_conn *c = node_connect(*state, &db);
	const struct wire_value *v;

	assert_int_equal(wire_exec_sql(c, db,
				       "CREATE TABLE types (i INTEGER, "
				       "f REAL, s TEXT, b BLOB, n, "
				       "ts DATETIME, iso DATETIME, "
				       "flag BOOLEAN)",
				       NULL, 0, NULL, NULL, &err),
			 0);
	assert_int_equal(wire_prepare(c, db,
				      "INSERT INTO types VALUES "
				      "(?, ?, ?, ?, ?, ?, ?, ?)",
				      &ins, &err),
			 0);
	assert_int_equal(wire_exec(c, db, ins, params, HX_ARRAY_SIZE(params),
				   &last, &changes, &err),
			 0);
	assert_int_equal(last, 1);
	assert_int_equal(changes, 1);
	assert_int_equal(wire_finalize(c, db, ins, &err), 0);
	/* Finalized: the id is gone, the connection is fine. */
	assert_int_equal(wire_finalize(c, db, ins, &err), HX_ESQL);
	assert_false(wire_conn_is_broken(c));

	assert_int_equal(wire_prepare(c, db, "SELECT * FROM types WHERE ?",
				      &sel, &err),
			 0);
	assert_int_equal(wire_query(c, db, sel, &key, 1, &rows, &err), 0);
	assert_int_equal(rows->ncols, 8);
	assert_int_equal(rows->nrows, 1);
	assert_string_equal(rows->names[5], "ts");
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(rows->values[i].type, want_types[i]);
	v = rows->values;
	assert_true(v[0].i == INT64_MIN);
	assert_true(v[1].f == -2.25);
	assert_string_equal(v[2].s, "h\xc3\xa9llo");
	assert_int_equal(v[3].blob_len, 9);
	assert_memory_equal(v[3].blob, params[3].blob, 9);
	assert_int_equal(v[5].i, 1700000000);
	assert_string_equal(v[6].s, "2023-11-14 22:13:20");
	assert_int_equal(v[7].i, 1);
	wire_rows_free(rows);
	assert_int_equal(wire_finalize(c, db, sel, &err), 0);
	wire_conn_free(c);
}

/*
 * A tap between a wire_conn and the node: forwards both ways and counts
 * the messages the server sends, by type. It stops when either side
 * closes. Optionally records the server's byte stream.
 */
struct tap {
	int outer;  /* our end of the socketpair given to wire_conn */
	int server; /* connected to the node */
	pthread_t thread;
	unsigned messages[16];
	struct tb record; /* server -> client bytes, if recording */
	bool recording;
};

static void tap_count(struct tap *t, const uint8_t *p, size_t n,
		      uint8_t *head, size_t *have, uint64_t *skip)
{
	while (n > 0) {
		if (*skip > 0) {
			size_t k = *skip < n ? (size_t)*skip : n;

			*skip -= k;
			p += k;
			n -= k;
			continue;
		}
		head[(*have)++] = *p++;
		n--;
		if (*have == 8) {
			*skip = (uint64_t)(head[0] | head[1] << 8 |
					   head[2] << 16 |
					   (uint32_t)head[3] << 24) *
				8;
			t->messages[head[4] & 15]++;
			*have = 0;
		}
	}
}

static void *tap_run(void *arg)
{
	struct tap *t = arg;
	uint8_t buf[65536], head[8];
	size_t have = 0;
	uint64_t skip = 0;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = t->outer, .events = POLLIN},
					{.fd = t->server, .events = POLLIN}};
		ssize_t n;

		if (poll(pfd, 2, -1) < 0)
			break;
		if (pfd[0].revents) {
			n = read(t->outer, buf, sizeof(buf));
			if (n <= 0 ||
			    hx_write_all(t->server, buf, (size_t)n) < 0)
				break;
		}
		if (pfd[1].revents) {
			n = read(t->server, buf, sizeof(buf));
			if (n <= 0)
				break;
			tap_count(t, buf, (size_t)n, head, &have, &skip);
			if (t->recording)
				tb_bytes(&t->record, buf, (size_t)n);
			if (hx_write_all(t->outer, buf, (size_t)n) < 0)
				break;
		}
	}
	close(t->server);
	close(t->outer);
	return NULL;
}

/* Returns a connection to the node through a new tap. */
static struct wire_conn *tap_start(struct tap *t, struct dqfix *f)
{
	struct hx_err err = {0};
	struct wire_conn *c = NULL;
	int sv[2];

	assert_int_equal(dqfix_dial(NULL, f->address, 1000, &t->server), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv),
			 0);
	t->outer = sv[1];
	assert_int_equal(pthread_create(&t->thread, NULL, tap_run, t), 0);
	assert_int_equal(wire_conn_open(sv[0], 5000, &c, &err), 0);
	return c;
}

/* Frees @c (closing our side) and waits for the tap to finish. */
static void tap_stop(struct tap *t, struct wire_conn *c)
{
	wire_conn_free(c);
	pthread_join(t->thread, NULL);
}

#define BIG_ROWS 5000

static void test_node_batches(void **state)
{
	struct tap t = {0};
	struct wire_rows *rows = NULL;
	struct hx_err err = {0};
	uint64_t last, changes;
	uint32_t db;
	struct wire_conn *c = tap_start(&t, *state);
	char want[32];

	assert_int_equal(wire_open(c, "db", &db, &err), 0);
	assert_int_equal(wire_exec_sql(c, db,
				       "CREATE TABLE big (id INTEGER "
				       "PRIMARY KEY, s TEXT)",
				       NULL, 0, NULL, NULL, &err),
			 0);
	assert_int_equal(wire_exec_sql(c, db,
				       "WITH RECURSIVE n(x) AS (SELECT 1 "
				       "UNION ALL SELECT x + 1 FROM n "
				       "WHERE x < 5000) INSERT INTO big "
				       "SELECT x, 'row-' || x FROM n",
				       NULL, 0, &last, &changes, &err),
			 0);
	assert_int_equal(changes, BIG_ROWS);
	assert_int_equal(last, BIG_ROWS);

	t.messages[RES_ROWS] = 0;
	assert_int_equal(wire_query_sql(c, db, "SELECT id, s FROM big "
					       "ORDER BY id",
					 NULL, 0, &rows, &err),
			 0);
	assert_int_equal(rows->nrows, BIG_ROWS);
	for (unsigned r = 0; r < BIG_ROWS; r++) {
		snprintf(want, sizeof(want), "row-%u", r + 1);
		assert_int_equal(rows->values[2 * r].i, r + 1);
		assert_string_equal(rows->values[2 * r + 1].s, want);
	}
	wire_rows_free(rows);
	/* dqlite cuts a batch once it passes a memory page. */
	assert_true(t.messages[RES_ROWS] > 1);
	print_message("%u rows arrived in %u batches\n", BIG_ROWS,
		      t.messages[RES_ROWS]);
	tap_stop(&t, c);
}

static void test_node_sql_error(void **state)
{
	struct wire_rows *rows = NULL;
	struct hx_err err = {0};
	uint64_t last, changes;
	uint32_t db, stmt;
	struct wire_conn *c = node_connect(*state, &db);

	assert_int_equal(wire_exec_sql(c, db, "INSERT INTO nosuch VALUES (1)",
				       NULL, 0, &last, &changes, &err),
			 HX_ESQL);
	assert_string_equal(err.msg, "no such table: nosuch");
	assert_int_equal(wire_last_code(c), 1);
	assert_false(wire_conn_is_broken(c));
	assert_int_equal(wire_prepare(c, db, "SELEC 1", &stmt, &err),
			 HX_ESQL);
	assert_non_null(strstr(err.msg, "syntax error"));
	/* A second open on one connection is refused as SQLITE_BUSY. */
	assert_int_equal(wire_open(c, "db", &db, &err), HX_EBUSY);

	/* An error while stepping, after several batches of rows. */
	assert_int_equal(wire_query_sql(c, db,
					"WITH RECURSIVE n(x) AS (SELECT 1 "
					"UNION ALL SELECT x + 1 FROM n "
					"WHERE x < 3000) SELECT x, CASE WHEN "
					"x > 2000 THEN abs(-9223372036854775807"
					" - 1) ELSE 'row' END FROM n",
					NULL, 0, &rows, &err),
			 HX_ESQL);
	assert_null(rows);
	assert_string_equal(err.msg, "integer overflow");
	assert_false(wire_conn_is_broken(c));

	assert_int_equal(wire_query_sql(c, db, "SELECT 40 + 2", NULL, 0, &rows,
					&err),
			 0);
	assert_int_equal(rows->nrows, 1);
	assert_int_equal(rows->values[0].i, 42);
	wire_rows_free(rows);
	wire_conn_free(c);
}

/*
 * How dqlite 1.11.1 runs several statements in one EXEC_SQL. These pin
 * down behaviour statedb must know about; if an upgrade changes it, this
 * test says so.
 */
static void test_node_multi_statement(void **state)
{
	struct wire_value one = {.type = WIRE_INTEGER, .i = 1};
	struct wire_rows *rows = NULL;
	struct hx_err err = {0};
	uint64_t last, changes;
	uint32_t db;
	struct wire_conn *c = node_connect(*state, &db);

	assert_int_equal(wire_exec_sql(c, db, "CREATE TABLE m (x INTEGER)",
				       NULL, 0, NULL, NULL, &err),
			 0);
	/* All statements run; the result is the last one's. */
	assert_int_equal(wire_exec_sql(c, db,
				       "INSERT INTO m VALUES (1), (2); "
				       "INSERT INTO m VALUES (3)",
				       NULL, 0, &last, &changes, &err),
			 0);
	assert_int_equal(last, 3);
	assert_int_equal(changes, 1);
	/* Text after the last statement zeroes the result. */
	assert_int_equal(wire_exec_sql(c, db, "INSERT INTO m VALUES (4); ",
				       NULL, 0, &last, &changes, &err),
			 0);
	assert_int_equal(last, 0);
	assert_int_equal(changes, 0);
	/* Parameters bind to the first statement only, and must all fit. */
	assert_int_equal(wire_exec_sql(c, db,
				       "INSERT INTO m VALUES (?); "
				       "INSERT INTO m VALUES (?)",
				       &one, 1, &last, &changes, &err),
			 0);
	/* Not atomic: the first statement stays when the second fails. */
	assert_int_equal(wire_exec_sql(c, db,
				       "INSERT INTO m VALUES (10); "
				       "INSERT INTO nosuch VALUES (1)",
				       NULL, 0, &last, &changes, &err),
			 HX_ESQL);
	assert_int_equal(wire_query_sql(c, db,
					"SELECT count(*), sum(x), "
					"count(x) FROM m",
					NULL, 0, &rows, &err),
			 0);
	/* 1 2 3 4 1 NULL 10 */
	assert_int_equal(rows->values[0].i, 7);
	assert_int_equal(rows->values[1].i, 21);
	assert_int_equal(rows->values[2].i, 6);
	wire_rows_free(rows);
	wire_conn_free(c);
}

static void test_node_cluster(void **state)
{
	struct dqfix *f = *state;
	struct wire_server *servers;
	struct hx_err err = {0};
	struct wire_conn *c = node_connect(f, NULL);
	char other[80];
	unsigned n;

	snprintf(other, sizeof(other), "%s-2", f->address);
	assert_int_equal(wire_cluster(c, &servers, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(servers[0].id, 1);
	assert_string_equal(servers[0].address, f->address);
	assert_int_equal(servers[0].role, WIRE_VOTER);
	wire_servers_free(servers, n);

	/* Node 2 never runs; as a spare or standby it needs no quorum. */
	assert_int_equal(wire_add(c, 2, other, &err), 0);
	assert_int_equal(wire_add(c, 2, other, &err), HX_ESQL);
	assert_int_equal(wire_assign(c, 2, WIRE_STANDBY, &err), 0);
	assert_int_equal(wire_cluster(c, &servers, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(servers[1].id, 2);
	assert_string_equal(servers[1].address, other);
	assert_int_equal(servers[1].role, WIRE_STANDBY);
	wire_servers_free(servers, n);
	assert_int_equal(wire_transfer(c, 2, &err), HX_ESQL);
	assert_false(wire_conn_is_broken(c));
	assert_int_equal(wire_remove(c, 2, &err), 0);
	assert_int_equal(wire_remove(c, 2, &err), HX_ESQL);
	assert_int_equal(wire_cluster(c, &servers, &n, &err), 0);
	assert_int_equal(n, 1);
	wire_servers_free(servers, n);
	wire_conn_free(c);
}

/* ---- corpus seeds for tests/fuzz/fuzz_wire.c ---- */

/* The modes of fuzz_wire.c's first byte. */
enum {
	SEED_HEADER,
	SEED_FAILURE,
	SEED_SERVER,
	SEED_SERVERS,
	SEED_RESULT,
	SEED_ROWS,
	SEED_CONN_LEADER,
	SEED_CONN_OPEN,
	SEED_CONN_PREPARE,
	SEED_CONN_EXEC,
	SEED_CONN_QUERY,
	SEED_CONN_FINALIZE,
	SEED_CONN_CLUSTER,
	SEED_CONN_SESSION,
};

static int write_seed(const char *dir, const char *name, uint8_t mode,
		      const struct tb *b)
{
	char path[512];
	struct tb file = {0};
	int r;

	tb_bytes(&file, &mode, 1);
	tb_bytes(&file, b->p, b->len);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = hx_file_write_atomic(path, file.p, file.len, 0644);
	tb_free(&file);
	if (r < 0)
		fprintf(stderr, "%s: %s\n", path, hx_strerror(r));
	return r;
}

/* Appends a message of @type whose body @fill builds. */
static void seed_msg(struct tb *b, uint8_t type, void (*fill)(struct tb *))
{
	struct tb body = {0};

	fill(&body);
	tb_msg(b, type, &body);
	tb_free(&body);
}

static void fill_server(struct tb *b)
{
	body_server(b, 1, "@hx-node-1");
}

static void fill_db(struct tb *b)
{
	tb_u32(b, 0);
	tb_u32(b, 0);
}

static void fill_stmt(struct tb *b)
{
	tb_u32(b, 0);
	tb_u32(b, 1);
	tb_u64(b, 2);
}

static void fill_result(struct tb *b)
{
	body_result(b, 5, 1);
}

static void fill_rows_part(struct tb *b)
{
	body_rows_all(b, 0, 2, ROWS_PART);
}

static void fill_rows_done(struct tb *b)
{
	body_rows_all(b, 2, 1, ROWS_DONE);
}

static void fill_empty(struct tb *b)
{
	tb_u64(b, 0);
}

static void fill_not_leader(struct tb *b)
{
	body_failure(b, 10250, "not leader");
}

static void fill_failure_after_rows(struct tb *b)
{
	body_failure_after_rows(b, 2);
}

static int write_synthetic_seeds(const char *dir)
{
	struct tb b = {0};
	int r = 0;

#define SEED(name, mode, ...)                                    \
	do {                                                     \
		b.len = 0;                                       \
		__VA_ARGS__;                                     \
		if (write_seed(dir, name, mode, &b) < 0)         \
			r = -1;                                  \
	} while (0)

	SEED("header-rows", SEED_HEADER, seed_msg(&b, RES_ROWS, fill_result));
	SEED("header-huge", SEED_HEADER, tb_u64(&b, 0x00000007ffffffffULL));
	SEED("failure", SEED_FAILURE,
	     body_failure(&b, 1, "no such table: t"));
	SEED("failure-after-rows", SEED_FAILURE,
	     body_failure_after_rows(&b, 3));
	SEED("failure-no-nul", SEED_FAILURE, tb_u64(&b, 1);
	     tb_bytes(&b, "abcdefgh", 8));
	SEED("server", SEED_SERVER, fill_server(&b));
	SEED("server-unknown", SEED_SERVER, body_server(&b, 0, ""));
	SEED("servers", SEED_SERVERS, body_servers3(&b));
	SEED("servers-huge-count", SEED_SERVERS, tb_u64(&b, 1ULL << 40);
	     body_server(&b, 1, "a"); tb_u64(&b, 0));
	SEED("result", SEED_RESULT, fill_result(&b));
	SEED("rows-all-types", SEED_ROWS, body_rows_all(&b, 7, 3, ROWS_DONE));
	SEED("rows-part", SEED_ROWS, body_rows_int_text(&b, 1, 4, ROWS_PART));
	SEED("rows-bad-type", SEED_ROWS, body_one(&b, 12, 5));
	SEED("rows-huge-blob", SEED_ROWS, body_one(&b, WIRE_BLOB, UINT64_MAX));
	SEED("rows-truncated", SEED_ROWS, body_rows_all(&b, 1, 2, ROWS_DONE);
	     b.len -= 12);
	SEED("conn-leader", SEED_CONN_LEADER,
	     seed_msg(&b, RES_SERVER, fill_server));
	SEED("conn-leader-wrong-type", SEED_CONN_LEADER,
	     seed_msg(&b, RES_ROWS, fill_rows_done));
	SEED("conn-open", SEED_CONN_OPEN, seed_msg(&b, RES_DB, fill_db));
	SEED("conn-prepare", SEED_CONN_PREPARE,
	     seed_msg(&b, RES_STMT, fill_stmt));
	SEED("conn-exec", SEED_CONN_EXEC,
	     seed_msg(&b, RES_RESULT, fill_result));
	SEED("conn-exec-not-leader", SEED_CONN_EXEC,
	     seed_msg(&b, RES_FAILURE, fill_not_leader));
	SEED("conn-query", SEED_CONN_QUERY,
	     seed_msg(&b, RES_ROWS, fill_rows_part);
	     seed_msg(&b, RES_ROWS, fill_rows_done));
	SEED("conn-query-failure-after-rows", SEED_CONN_QUERY,
	     seed_msg(&b, RES_ROWS, fill_rows_part);
	     seed_msg(&b, RES_FAILURE, fill_failure_after_rows));
	SEED("conn-finalize", SEED_CONN_FINALIZE,
	     seed_msg(&b, RES_EMPTY, fill_empty));
	SEED("conn-cluster", SEED_CONN_CLUSTER,
	     seed_msg(&b, RES_SERVERS, body_servers3));
	SEED("conn-session", SEED_CONN_SESSION,
	     seed_msg(&b, RES_SERVER, fill_server);
	     seed_msg(&b, RES_DB, fill_db); seed_msg(&b, RES_STMT, fill_stmt);
	     seed_msg(&b, RES_RESULT, fill_result);
	     seed_msg(&b, RES_ROWS, fill_rows_done);
	     seed_msg(&b, RES_EMPTY, fill_empty);
	     seed_msg(&b, RES_SERVERS, body_servers3));
	SEED("conn-garbage", SEED_CONN_SESSION,
	     tb_bytes(&b, "HTTP/1.1 400 Bad Request\r\n\r\n", 28));
#undef SEED
	tb_free(&b);
	return r;
}

/* A session with the real node through a recording tap, in the order
 * of fuzz_wire.c's session mode: the server's own bytes as a seed. */
static int write_recorded_seed(const char *dir)
{
	struct dqfix f;
	struct tap t = {.recording = true};
	struct wire_server *servers;
	struct wire_rows *rows;
	struct wire_conn *c;
	uint64_t id;
	uint32_t db, stmt;
	unsigned n;
	char *address;
	int r = 0;

	if (dqfix_node_start(&f, "wire") < 0)
		return -1;
	/* Until the node has elected itself. */
	c = node_connect(&f, NULL);
	wire_conn_free(c);
	c = tap_start(&t, &f);
	if (wire_leader(c, &id, &address, NULL) == 0)
		free(address);
	if (wire_open(c, "db", &db, NULL) < 0 ||
	    wire_prepare(c, db, "SELECT 1", &stmt, NULL) < 0 ||
	    wire_exec_sql(c, db, "CREATE TABLE t (x INTEGER, y TEXT)", NULL, 0,
			  NULL, NULL, NULL) < 0 ||
	    wire_query_sql(c, db,
			   "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL "
			   "SELECT x + 1 FROM n WHERE x < 300) "
			   "SELECT x, 'v' || x, x * 0.5, NULL FROM n",
			   NULL, 0, &rows, NULL) < 0 ||
	    wire_finalize(c, db, stmt, NULL) < 0 ||
	    wire_cluster(c, &servers, &n, NULL) < 0)
		r = -1;
	if (r == 0) {
		wire_rows_free(rows);
		wire_servers_free(servers, n);
	}
	tap_stop(&t, c);
	dqfix_node_stop(&f);
	if (r == 0)
		r = write_seed(dir, "conn-session-recorded", SEED_CONN_SESSION,
			       &t.record);
	tb_free(&t.record);
	return r;
}

int main(void)
{
	const char *corpus = getenv("HX_WIRE_WRITE_CORPUS");
	const struct CMUnitTest codec[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_failure),
		cmocka_unit_test(test_failure_after_rows),
		cmocka_unit_test(test_server),
		cmocka_unit_test(test_servers),
		cmocka_unit_test(test_result),
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_rows_batches),
		cmocka_unit_test(test_rows_wide),
		cmocka_unit_test(test_rows_malformed),
	};
	const struct CMUnitTest peers[] = {
		cmocka_unit_test(test_conn_silent_peer),
		cmocka_unit_test(test_conn_deaf_peer),
		cmocka_unit_test(test_conn_peer_closes),
		cmocka_unit_test(test_conn_garbage),
		cmocka_unit_test(test_conn_failures),
		cmocka_unit_test(test_conn_no_database),
		cmocka_unit_test(test_conn_rows_stream),
		cmocka_unit_test(test_conn_request_bytes),
		cmocka_unit_test(test_conn_bad_params),
		cmocka_unit_test(test_connect_leader_fake),
	};
	const struct CMUnitTest node[] = {
		cmocka_unit_test(test_node_leader),
		cmocka_unit_test(test_node_types),
		cmocka_unit_test(test_node_batches),
		cmocka_unit_test(test_node_sql_error),
		cmocka_unit_test(test_node_multi_statement),
		cmocka_unit_test(test_node_cluster),
	};
	int failed = 0;

	/* A peer that closes must not kill the test (nor the node). */
	signal(SIGPIPE, SIG_IGN);
	if (corpus != NULL) {
		if (write_synthetic_seeds(corpus) < 0 ||
		    write_recorded_seed(corpus) < 0)
			return 1;
		return 0;
	}
	failed += cmocka_run_group_tests_name("wire codec", codec, NULL, NULL);
	failed += cmocka_run_group_tests_name("wire fake peers", peers, NULL,
					      NULL);
	failed += cmocka_run_group_tests_name("wire dqlite node", node,
					      node_setup, node_teardown);
	return failed == 0 ? 0 : 1;
}
