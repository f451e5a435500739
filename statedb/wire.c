/*
 * dqlite 1.x client wire protocol: codec and blocking connection.
 *
 * DESIGN: every message is an 8-byte header (body length in 8-byte words,
 * type, schema, unused) and a body made of little-endian words: uint64,
 * uint32 pairs, NUL-terminated text padded to a word, and blobs (uint64
 * length, data padded to a word). The decoders walk the body with a cursor
 * that refuses to step past the end, and they insist that a response uses
 * its body exactly: trailing bytes are as suspicious as missing ones.
 *
 * A ROWS body is decoded twice: a first pass validates it and counts the
 * rows without allocating anything, a second pass fills the values. So the
 * memory we allocate is proportional to bytes we actually received (every
 * value costs at least one word on the wire), never to a count the peer
 * claims. Each batch body is copied into a chunk owned by the rows object,
 * and text/blob values point into that chunk.
 *
 * The connection is strictly request/response (the server never speaks
 * first), so there is no read-ahead: each response is read with one
 * deadline for its header and body. A FAILURE response leaves the stream in
 * sync and the connection usable; anything else that goes wrong (I/O,
 * timeout, malformed or unexpected message) leaves it in an unknown state,
 * so it is marked broken.
 *
 * Quirks of the dqlite 1.11 server that shape this code: a query that fails
 * while stepping sends the batch built so far with the failure appended
 * (see get_failure_after_rows); UNIXTIME parameters are refused (we send
 * them as INTEGER); parameters are counted in one byte (at most 255).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/lib.h"
#include "statedb/wire.h"

/* Protocol constants, as in dqlite's src/protocol.h. */
#define WIRE_PROTOCOL_VERSION 1
#define WIRE_ROWS_PART 0xeeeeeeeeeeeeeeeeULL
#define WIRE_ROWS_DONE 0xffffffffffffffffULL
#define WIRE_CLUSTER_FORMAT 1
/* dqlite 1.11 counts parameters in one byte (schema 0). */
#define WIRE_MAX_PARAMS 255

/* Limits we impose on the peer. */
#define WIRE_MAX_BODY ((size_t)64 << 20)    /* one response body */
#define WIRE_MAX_RESULT ((size_t)256 << 20) /* all batches of one query */
#define WIRE_KEEP_BUF ((size_t)1 << 20)	    /* larger buffers are dropped */

/* Leader discovery polls every 100 ms at most while an election is likely
 * under way (raft's election timeout is 15 x the latency hint, 450 ms by
 * default, randomized up to twice that): with the later 500 ms steps, a
 * failover took half a second longer whenever the election ended just
 * after a poll. Past that, it backs off to spare a cluster without quorum
 * a storm of TLS handshakes from every waiting request. */
#define WIRE_ELECTION_MS 2000

/* SQLite/dqlite failure codes with a meaning of their own. */
#define WIRE_CODE_BUSY 5
#define WIRE_CODE_NOTFOUND 12
#define WIRE_CODE_NOT_LEADER 10250
#define WIRE_CODE_LEADERSHIP_LOST 10506

enum wire_request {
	WIRE_REQ_LEADER = 0,
	WIRE_REQ_OPEN = 3,
	WIRE_REQ_PREPARE = 4,
	WIRE_REQ_EXEC = 5,
	WIRE_REQ_QUERY = 6,
	WIRE_REQ_FINALIZE = 7,
	WIRE_REQ_EXEC_SQL = 8,
	WIRE_REQ_QUERY_SQL = 9,
	WIRE_REQ_ADD = 12,
	WIRE_REQ_ASSIGN = 13,
	WIRE_REQ_REMOVE = 14,
	WIRE_REQ_CLUSTER = 16,
	WIRE_REQ_TRANSFER = 17,
};

enum wire_response {
	WIRE_RES_FAILURE = 0,
	WIRE_RES_SERVER = 1,
	WIRE_RES_SERVERS = 3,
	WIRE_RES_DB = 4,
	WIRE_RES_STMT = 5,
	WIRE_RES_RESULT = 6,
	WIRE_RES_ROWS = 7,
	WIRE_RES_EMPTY = 8,
};

/* ---- primitives ---- */

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* A read cursor that never steps past the end of its buffer. */
struct cursor {
	const uint8_t *p;
	size_t left;
};

static int get_u64(struct cursor *c, uint64_t *ret)
{
	if (c->left < 8)
		return HX_EPROTO;
	*ret = load_le64(c->p);
	c->p += 8;
	c->left -= 8;
	return 0;
}

static int get_u32(struct cursor *c, uint32_t *ret)
{
	if (c->left < 4)
		return HX_EPROTO;
	*ret = load_le32(c->p);
	c->p += 4;
	c->left -= 4;
	return 0;
}

/* Text: NUL-terminated and padded to a word; the NUL must lie inside. */
static int get_text(struct cursor *c, const char **ret)
{
	const uint8_t *nul;
	size_t n;

	if (c->left == 0)
		return HX_EPROTO;
	nul = memchr(c->p, 0, c->left);
	if (nul == NULL)
		return HX_EPROTO;
	n = pad8((size_t)(nul - c->p) + 1);
	if (n > c->left)
		return HX_EPROTO;
	*ret = (const char *)c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

static int get_blob(struct cursor *c, const void **ret, size_t *ret_len)
{
	uint64_t len;
	size_t n;

	if (get_u64(c, &len) < 0 || len > c->left)
		return HX_EPROTO;
	n = pad8((size_t)len);
	if (n > c->left)
		return HX_EPROTO;
	*ret = c->p;
	*ret_len = (size_t)len;
	c->p += n;
	c->left -= n;
	return 0;
}

static int get_end(const struct cursor *c)
{
	return c->left == 0 ? 0 : HX_EPROTO;
}

/* A growable write buffer; every put keeps the length a multiple of 8. */
struct wbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

static uint8_t *wbuf_grow(struct wbuf *b, size_t n)
{
	uint8_t *p;

	if (n > SIZE_MAX - b->len)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 256;

		while (cap < b->len + n)
			cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
		p = realloc(b->data, cap);
		if (p == NULL)
			return NULL;
		b->data = p;
		b->cap = cap;
	}
	p = b->data + b->len;
	b->len += n;
	return p;
}

static int put_u64(struct wbuf *b, uint64_t v)
{
	uint8_t *p = wbuf_grow(b, 8);

	if (p == NULL)
		return -ENOMEM;
	store_le64(p, v);
	return 0;
}

static int put_u32_pair(struct wbuf *b, uint32_t lo, uint32_t hi)
{
	return put_u64(b, (uint64_t)lo | (uint64_t)hi << 32);
}

static int put_bytes_padded(struct wbuf *b, const void *data, size_t len,
			    size_t padded)
{
	uint8_t *p = wbuf_grow(b, padded);

	if (p == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(p, data, len);
	memset(p + len, 0, padded - len);
	return 0;
}

static int put_text(struct wbuf *b, const char *s)
{
	size_t len = strlen(s);

	return put_bytes_padded(b, s, len, pad8(len + 1));
}

static int put_blob(struct wbuf *b, const void *data, size_t len)
{
	if (len > SIZE_MAX - 8 || put_u64(b, len) < 0)
		return -ENOMEM;
	return put_bytes_padded(b, data, len, pad8(len));
}

/* ---- parameters ---- */

static int check_params(const struct wire_value *params, unsigned n,
			struct hx_err *err)
{
	if (n > WIRE_MAX_PARAMS)
		return hx_err_set(err, -EINVAL,
				  "dqlite: %u parameters, at most %d allowed",
				  n, WIRE_MAX_PARAMS);
	for (unsigned i = 0; i < n; i++) {
		const struct wire_value *v = &params[i];
		bool ok;

		switch (v->type) {
		case WIRE_INTEGER:
		case WIRE_FLOAT:
		case WIRE_NULL:
		case WIRE_UNIXTIME:
		case WIRE_BOOLEAN:
			ok = true;
			break;
		case WIRE_TEXT:
		case WIRE_ISO8601:
			ok = v->s != NULL;
			break;
		case WIRE_BLOB:
			ok = v->blob != NULL || v->blob_len == 0;
			break;
		default:
			ok = false;
			break;
		}
		if (!ok)
			return hx_err_set(err, -EINVAL,
					  "dqlite: parameter %u: bad value "
					  "(type %d)",
					  i + 1, v->type);
	}
	return 0;
}

/*
 * dqlite 1.11's parameter decoder has no UNIXTIME case (its row encoder
 * does): sent as is, it fails the whole request with DQLITE_PARSE. The
 * server would bind it as an integer anyway, so send an integer.
 */
static uint8_t param_wire_type(int type)
{
	return (uint8_t)(type == WIRE_UNIXTIME ? WIRE_INTEGER : type);
}

static int put_value(struct wbuf *b, const struct wire_value *v)
{
	uint64_t bits;

	switch (v->type) {
	case WIRE_FLOAT:
		memcpy(&bits, &v->f, sizeof(bits));
		return put_u64(b, bits);
	case WIRE_TEXT:
	case WIRE_ISO8601:
		return put_text(b, v->s);
	case WIRE_BLOB:
		return put_blob(b, v->blob, v->blob_len);
	case WIRE_NULL:
		return put_u64(b, 0);
	case WIRE_BOOLEAN:
		return put_u64(b, v->i != 0);
	default: /* INTEGER, UNIXTIME */
		return put_u64(b, (uint64_t)v->i);
	}
}

/* A parameter tuple: count byte, one type byte each, padded to a word,
 * then the values. Nothing at all when there are no parameters. */
static int put_params(struct wbuf *b, const struct wire_value *params,
		      unsigned n)
{
	size_t head = pad8(1 + (size_t)n);
	uint8_t *p;
	int r;

	if (n == 0)
		return 0;
	p = wbuf_grow(b, head);
	if (p == NULL)
		return -ENOMEM;
	memset(p, 0, head);
	p[0] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++)
		p[1 + i] = param_wire_type(params[i].type);
	for (unsigned i = 0; i < n; i++) {
		r = put_value(b, &params[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- response decoders ---- */

int wire_decode_header(const void *buf, size_t len, struct wire_header *ret)
{
	const uint8_t *p = buf;
	uint32_t words;

	if (buf == NULL || len < 8)
		return HX_EPROTO;
	words = load_le32(p);
	if ((size_t)words > WIRE_MAX_BODY / 8)
		return HX_EPROTO;
	ret->words = words;
	ret->type = p[4];
	ret->schema = p[5];
	return 0;
}

/* A failure body proper: code and message, nothing after. */
static int get_failure(struct cursor c, uint64_t *ret_code, const char **ret)
{
	if (get_u64(&c, ret_code) < 0 || get_text(&c, ret) < 0 ||
	    get_end(&c) < 0)
		return HX_EPROTO;
	return 0;
}

static int get_row(struct cursor *c, unsigned ncols, struct wire_value *out);

/*
 * dqlite 1.11 reports an error hit while stepping a query (say, an integer
 * overflow in row 2000) by appending the failure to the batch it was
 * building: the body is column count, names, the rows of this batch so
 * far, then code and message. The stream is still in sync and the server
 * is ready for the next request, so we find the failure after the rows.
 * A code word always holds a zero byte (codes are < 2^56), so a text read
 * from any earlier row boundary stops at it and cannot end exactly at the
 * end of the body: only the true boundary decodes.
 */
static int get_failure_after_rows(struct cursor c, uint64_t *ret_code,
				  const char **ret)
{
	uint64_t ncols;
	const char *name;

	if (get_u64(&c, &ncols) < 0 || ncols == 0 || ncols > c.left / 8 ||
	    ncols > UINT_MAX)
		return HX_EPROTO;
	for (uint64_t i = 0; i < ncols; i++)
		if (get_text(&c, &name) < 0)
			return HX_EPROTO;
	/* Each row takes at least one word, so this ends. */
	while (get_failure(c, ret_code, ret) < 0)
		if (get_row(&c, (unsigned)ncols, NULL) < 0)
			return HX_EPROTO;
	return 0;
}

int wire_decode_failure(const void *body, size_t len, uint64_t *ret_code,
			char **ret_message)
{
	struct cursor c = {body, len};
	const char *msg;
	uint64_t code;
	char *copy;

	if (get_failure(c, &code, &msg) < 0 &&
	    get_failure_after_rows(c, &code, &msg) < 0)
		return HX_EPROTO;
	copy = strdup(msg);
	if (copy == NULL)
		return -ENOMEM;
	*ret_code = code;
	*ret_message = copy;
	return 0;
}

int wire_decode_server(const void *body, size_t len, uint64_t *ret_id,
		       char **ret_address)
{
	struct cursor c = {body, len};
	const char *address;
	uint64_t id;
	char *copy;

	if (get_u64(&c, &id) < 0 || get_text(&c, &address) < 0 ||
	    get_end(&c) < 0)
		return HX_EPROTO;
	copy = strdup(address);
	if (copy == NULL)
		return -ENOMEM;
	*ret_id = id;
	*ret_address = copy;
	return 0;
}

void wire_servers_free(struct wire_server *servers, unsigned n)
{
	if (servers == NULL)
		return;
	for (unsigned i = 0; i < n; i++)
		free(servers[i].address);
	free(servers);
}

int wire_decode_servers(const void *body, size_t len,
			struct wire_server **ret_servers, unsigned *ret_n)
{
	struct cursor c = {body, len};
	struct wire_server *servers;
	uint64_t n, role;
	const char *address;
	unsigned i;
	int r = HX_EPROTO;

	/* Each server takes at least three words: id, address, role. */
	if (get_u64(&c, &n) < 0 || n > c.left / 24)
		return HX_EPROTO;
	servers = calloc(n > 0 ? (size_t)n : 1, sizeof(*servers));
	if (servers == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (get_u64(&c, &servers[i].id) < 0 ||
		    get_text(&c, &address) < 0 || get_u64(&c, &role) < 0 ||
		    role > WIRE_SPARE)
			goto err_free_servers;
		servers[i].role = (int)role;
		servers[i].address = strdup(address);
		if (servers[i].address == NULL) {
			r = -ENOMEM;
			goto err_free_servers;
		}
	}
	if (get_end(&c) < 0)
		goto err_free_servers;
	*ret_servers = servers;
	*ret_n = (unsigned)n;
	return 0;

err_free_servers:
	wire_servers_free(servers, i);
	return r;
}

int wire_decode_result(const void *body, size_t len, uint64_t *ret_last_id,
		       uint64_t *ret_changes)
{
	struct cursor c = {body, len};
	uint64_t last_id, changes;

	if (get_u64(&c, &last_id) < 0 || get_u64(&c, &changes) < 0 ||
	    get_end(&c) < 0)
		return HX_EPROTO;
	*ret_last_id = last_id;
	*ret_changes = changes;
	return 0;
}

/* DB: uint32 id, uint32 padding. */
static int decode_db(const void *body, size_t len, uint32_t *ret_db)
{
	struct cursor c = {body, len};
	uint32_t id, pad;

	if (get_u32(&c, &id) < 0 || get_u32(&c, &pad) < 0 || get_end(&c) < 0)
		return HX_EPROTO;
	*ret_db = id;
	return 0;
}

/* STMT: uint32 db id, uint32 statement id, uint64 parameter count. */
static int decode_stmt(const void *body, size_t len, uint32_t *ret_stmt)
{
	struct cursor c = {body, len};
	uint32_t db, id;
	uint64_t params;

	if (get_u32(&c, &db) < 0 || get_u32(&c, &id) < 0 ||
	    get_u64(&c, &params) < 0 || get_end(&c) < 0)
		return HX_EPROTO;
	*ret_stmt = id;
	return 0;
}

/* ---- rows ---- */

/* One received batch body; values and names point into data. */
struct rows_chunk {
	struct rows_chunk *next;
	uint8_t data[];
};

struct rows_priv {
	struct rows_chunk *chunks;
	size_t total;	   /* body bytes received over all batches */
	size_t values_cap; /* allocated length of rows->values */
};

void wire_rows_free(struct wire_rows *rows)
{
	struct rows_priv *priv;

	if (rows == NULL)
		return;
	priv = rows->priv;
	if (priv != NULL) {
		while (priv->chunks != NULL) {
			struct rows_chunk *next = priv->chunks->next;

			free(priv->chunks);
			priv->chunks = next;
		}
		free(priv);
	}
	free(rows->values);
	free(rows->names);
	free(rows);
}

/* Decodes one value of @type; @out may be NULL (validation pass). */
static int get_value(struct cursor *c, int type, struct wire_value *out)
{
	struct wire_value v = {.type = type};
	uint64_t u = 0;
	int r;

	switch (type) {
	case WIRE_INTEGER:
	case WIRE_UNIXTIME:
	case WIRE_BOOLEAN:
	case WIRE_NULL:
		r = get_u64(c, &u);
		v.i = (int64_t)u;
		if (type == WIRE_NULL)
			v.i = 0;
		break;
	case WIRE_FLOAT:
		r = get_u64(c, &u);
		memcpy(&v.f, &u, sizeof(v.f));
		break;
	case WIRE_TEXT:
	case WIRE_ISO8601:
		r = get_text(c, &v.s);
		break;
	case WIRE_BLOB:
		r = get_blob(c, &v.blob, &v.blob_len);
		break;
	default:
		r = HX_EPROTO;
		break;
	}
	if (r == 0 && out != NULL)
		*out = v;
	return r;
}

/* One row: a header of 4-bit type codes padded to a word, then values.
 * Slots past the last column must be zero. */
static int get_row(struct cursor *c, unsigned ncols, struct wire_value *out)
{
	size_t head = pad8(((size_t)ncols + 1) / 2);
	const uint8_t *types = c->p;
	int r;

	if (head > c->left)
		return HX_EPROTO;
	for (size_t slot = ncols; slot < head * 2; slot++)
		if ((types[slot / 2] >> (4 * (slot % 2))) & 0x0f)
			return HX_EPROTO;
	c->p += head;
	c->left -= head;
	for (unsigned i = 0; i < ncols; i++) {
		int type = (types[i / 2] >> (4 * (i % 2))) & 0x0f;

		r = get_value(c, type, out != NULL ? &out[i] : NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Walks a ROWS body: column count, names, rows, end marker. Without @out
 * it only validates and counts; with @out it stores names and values. When
 * @rows already holds batches, the columns must be the same.
 */
static int parse_rows(const uint8_t *body, size_t len,
		      const struct wire_rows *rows, char **names,
		      struct wire_value *out, unsigned *ret_nrows,
		      int *ret_more)
{
	struct cursor c = {body, len};
	uint64_t ncols, marker;
	unsigned nrows = 0;
	const char *name;

	/* Every column name and every value take at least one word. */
	if (get_u64(&c, &ncols) < 0 || ncols == 0 || ncols > c.left / 8 ||
	    ncols > UINT_MAX)
		return HX_EPROTO;
	if (rows != NULL && rows->ncols != ncols)
		return HX_EPROTO;
	for (unsigned i = 0; i < ncols; i++) {
		if (get_text(&c, &name) < 0)
			return HX_EPROTO;
		if (rows != NULL && strcmp(rows->names[i], name) != 0)
			return HX_EPROTO;
		if (names != NULL)
			names[i] = (char *)name;
	}
	for (;;) {
		/* Type nibbles are at most 11, so a row header can never
		 * start with a marker word. */
		if (c.left < 8)
			return HX_EPROTO;
		marker = load_le64(c.p);
		if (marker == WIRE_ROWS_PART || marker == WIRE_ROWS_DONE)
			break;
		if (nrows == UINT_MAX)
			return HX_EPROTO;
		if (get_row(&c, (unsigned)ncols,
			    out != NULL ? out + (size_t)nrows * ncols : NULL) <
		    0)
			return HX_EPROTO;
		nrows++;
	}
	c.p += 8;
	c.left -= 8;
	if (get_end(&c) < 0)
		return HX_EPROTO;
	*ret_nrows = nrows;
	*ret_more = marker == WIRE_ROWS_PART;
	return 0;
}

static struct wire_rows *rows_new(void)
{
	struct wire_rows *rows = calloc(1, sizeof(*rows));

	if (rows == NULL)
		return NULL;
	rows->priv = calloc(1, sizeof(struct rows_priv));
	if (rows->priv == NULL) {
		free(rows);
		return NULL;
	}
	return rows;
}

/* Makes room for @nrows more rows in @rows' value array. */
static int rows_reserve(struct wire_rows *rows, unsigned ncols,
			unsigned nrows)
{
	struct rows_priv *priv = rows->priv;
	size_t need, cap;
	struct wire_value *values;

	if (nrows > UINT_MAX - rows->nrows)
		return HX_EPROTO;
	need = ((size_t)rows->nrows + nrows) * ncols;
	if (need <= priv->values_cap)
		return 0;
	cap = priv->values_cap * 2;
	if (cap < need)
		cap = need;
	if (cap > SIZE_MAX / sizeof(*values))
		return -ENOMEM;
	values = realloc(rows->values, cap * sizeof(*values));
	if (values == NULL)
		return -ENOMEM;
	rows->values = values;
	priv->values_cap = cap;
	return 0;
}

int wire_decode_rows(const void *body, size_t len, struct wire_rows **rows,
		     int *ret_more)
{
	struct wire_rows *old = *rows, *cur;
	struct rows_priv *priv;
	struct rows_chunk *chunk;
	unsigned ncols, nrows;
	char **names = NULL;
	int more, r;

	if (body == NULL || len == 0 || len > WIRE_MAX_BODY)
		return HX_EPROTO;
	r = parse_rows(body, len, old, NULL, NULL, &nrows, &more);
	if (r < 0)
		return r;
	if (old != NULL &&
	    len > WIRE_MAX_RESULT - ((struct rows_priv *)old->priv)->total)
		return HX_EPROTO;
	ncols = (unsigned)load_le64(body);

	cur = old != NULL ? old : rows_new();
	if (cur == NULL)
		return -ENOMEM;
	priv = cur->priv;
	chunk = malloc(sizeof(*chunk) + len);
	if (chunk == NULL) {
		r = -ENOMEM;
		goto err_free_rows;
	}
	memcpy(chunk->data, body, len);
	if (old == NULL) {
		names = calloc(ncols, sizeof(*names));
		if (names == NULL) {
			r = -ENOMEM;
			goto err_free_chunk;
		}
	}
	r = rows_reserve(cur, ncols, nrows);
	if (r < 0)
		goto err_free_names;

	/* Cannot fail: the same bytes passed the validation above. */
	r = parse_rows(chunk->data, len, old, names,
		       nrows > 0 ? cur->values + (size_t)cur->nrows * ncols :
				   NULL,
		       &nrows, &more);
	assert(r == 0);
	if (old == NULL) {
		cur->ncols = ncols;
		cur->names = names;
	}
	chunk->next = priv->chunks;
	priv->chunks = chunk;
	priv->total += len;
	cur->nrows += nrows;
	*rows = cur;
	*ret_more = more;
	return 0;

err_free_names:
	free(names);
err_free_chunk:
	free(chunk);
err_free_rows:
	if (old == NULL)
		wire_rows_free(cur);
	return r;
}

/* ---- connection ---- */

struct wire_conn {
	int fd;
	int timeout_ms;
	bool broken;
	bool refused; /* the last FAILURE says the request did not run */
	uint64_t last_code;
	struct wbuf out; /* request being built */
	uint8_t *in;	 /* last response body */
	size_t in_cap;
};

int wire_conn_fd(const struct wire_conn *c)
{
	return c->fd;
}

int wire_conn_is_broken(const struct wire_conn *c)
{
	return c->broken;
}

uint64_t wire_last_code(const struct wire_conn *c)
{
	return c->last_code;
}

bool wire_last_refused(const struct wire_conn *c)
{
	return c->refused;
}

void wire_conn_free(struct wire_conn *c)
{
	if (c == NULL)
		return;
	free(c->in);
	free(c->out.data);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* Milliseconds left until @deadline, for hx_read_full (-1: no limit). */
static int time_left(const struct wire_conn *c, uint64_t deadline)
{
	uint64_t now;

	if (c->timeout_ms < 0)
		return -1;
	now = hx_now_ms();
	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Sends @len bytes without SIGPIPE, waiting at most the timeout. */
static int send_all(struct wire_conn *c, const uint8_t *p, size_t len)
{
	uint64_t deadline =
		hx_now_ms() + (uint64_t)(c->timeout_ms > 0 ? c->timeout_ms : 0);

	while (len > 0) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
		ssize_t n;
		int r;

		r = poll(&pfd, 1, time_left(c, deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Marks @c broken and reports an I/O or protocol failure of @what. */
static int conn_fail(struct wire_conn *c, int r, const char *what,
		     const char *step, struct hx_err *err)
{
	c->broken = true;
	return hx_err_set(err, r, "dqlite %s: %s: %s", what, step,
			  hx_strerror(r));
}

/* Starts a request: resets the buffer and reserves the header. Returns
 * -ENOTCONN (with @err set) on a broken connection, or -ENOMEM. */
static int req_start(struct wire_conn *c, const char *what,
		     struct hx_err *err)
{
	if (c->broken)
		return hx_err_set(err, -ENOTCONN,
				  "dqlite %s: connection is broken", what);
	c->last_code = 0;
	c->refused = false;
	c->out.len = 0;
	return put_u64(&c->out, 0);
}

/* Reports a request that could not be built; the connection is intact. */
static int req_failed(int r, const char *what, struct hx_err *err)
{
	if (r == -ENOTCONN)
		return r; /* reported by req_start */
	return hx_err_set(err, r, "dqlite %s: build request: %s", what,
			  hx_strerror(r));
}

static int req_send(struct wire_conn *c, uint8_t type, const char *what,
		    struct hx_err *err)
{
	size_t words = (c->out.len - 8) / 8;
	uint8_t *h = c->out.data;
	int r;

	if (words > UINT32_MAX)
		return hx_err_set(err, -EMSGSIZE,
				  "dqlite %s: request too large", what);
	store_le64(h, words);
	h[4] = type;
	r = send_all(c, c->out.data, c->out.len);
	if (c->out.cap > WIRE_KEEP_BUF) {
		free(c->out.data);
		c->out = (struct wbuf){0};
	}
	if (r < 0)
		return conn_fail(c, r, what, "send request", err);
	return 0;
}

/* Reads one whole message within one timeout. */
static int read_message(struct wire_conn *c, struct wire_header *hdr,
			size_t *ret_len, const char *what, struct hx_err *err)
{
	uint64_t deadline =
		hx_now_ms() + (uint64_t)(c->timeout_ms > 0 ? c->timeout_ms : 0);
	uint8_t head[8];
	size_t len, want;
	int r;

	r = hx_read_full(c->fd, head, sizeof(head), time_left(c, deadline));
	if (r < 0)
		return conn_fail(c, r, what, "read response", err);
	if (wire_decode_header(head, sizeof(head), hdr) < 0)
		return conn_fail(c, HX_EPROTO, what, "response too large", err);
	len = (size_t)hdr->words * 8;
	want = len > 4096 ? len : 4096;
	if (len > c->in_cap ||
	    (c->in_cap > WIRE_KEEP_BUF && want < c->in_cap)) {
		/* Grow for a large body; shrink back after one. */
		uint8_t *in = malloc(want);

		if (in == NULL)
			return conn_fail(c, -ENOMEM, what, "read response",
					 err);
		free(c->in);
		c->in = in;
		c->in_cap = want;
	}
	r = hx_read_full(c->fd, c->in, len, time_left(c, deadline));
	if (r < 0)
		return conn_fail(c, r, what, "read response", err);
	*ret_len = len;
	return 0;
}

/* A response that does not decode: the connection is broken. */
static int malformed(struct wire_conn *c, int r, const char *what,
		     struct hx_err *err)
{
	if (r == -ENOMEM)
		return conn_fail(c, r, what, "decode response", err);
	return conn_fail(c, HX_EPROTO, what, "malformed response", err);
}

static int map_failure(uint64_t code)
{
	if (code == WIRE_CODE_NOT_LEADER || code == WIRE_CODE_LEADERSHIP_LOST)
		return HX_ENOTLEADER;
	if (code <= 0xffff && (code & 0xff) == WIRE_CODE_BUSY)
		return HX_EBUSY;
	return HX_ESQL;
}

/* Reports a FAILURE body; the connection stays usable. */
static int conn_failure(struct wire_conn *c, size_t len, const char *what,
			struct hx_err *err)
{
	char *msg;
	uint64_t code;
	int r;

	r = wire_decode_failure(c->in, len, &code, &msg);
	if (r < 0)
		return malformed(c, r, what, err);
	for (char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	c->last_code = code;
	c->refused = code == WIRE_CODE_NOT_LEADER;
	r = map_failure(code);
	if (code == WIRE_CODE_NOTFOUND &&
	    strcmp(msg, "no database opened") == 0) {
		/* The server dropped this connection's database when it lost
		 * leadership after our OPEN (even if it leads again now):
		 * every later request would fail the same way. */
		c->broken = true;
		c->refused = true;
		r = HX_ENOTLEADER;
	}
	r = hx_err_set(err, r, "%s", msg);
	free(msg);
	return r;
}

/*
 * Reads the next response, expected to be of type @expect. On success the
 * body is in c->in, its length in *ret_len.
 */
static int recv_response(struct wire_conn *c, uint8_t expect, size_t *ret_len,
			 const char *what, struct hx_err *err)
{
	struct wire_header hdr = {0};
	size_t len = 0;
	int r;

	r = read_message(c, &hdr, &len, what, err);
	if (r < 0)
		return r;
	if (hdr.type == WIRE_RES_FAILURE)
		return conn_failure(c, len, what, err);
	if (hdr.type != expect) {
		c->broken = true;
		return hx_err_set(err, HX_EPROTO,
				  "dqlite %s: unexpected response type %u",
				  what, hdr.type);
	}
	*ret_len = len;
	return 0;
}

/*
 * Finishes the request built since req_start(), @r being the result of
 * building it: sends it and reads a response of type @expect into c->in.
 */
static int req_finish(struct wire_conn *c, int r, uint8_t type,
		      uint8_t expect, size_t *ret_len, const char *what,
		      struct hx_err *err)
{
	if (r < 0)
		return req_failed(r, what, err);
	r = req_send(c, type, what, err);
	if (r < 0)
		return r;
	return recv_response(c, expect, ret_len, what, err);
}

/* Like req_finish() for requests answered by EMPTY (one unused word). */
static int empty_finish(struct wire_conn *c, int r, uint8_t type,
			const char *what, struct hx_err *err)
{
	size_t len = 0;

	r = req_finish(c, r, type, WIRE_RES_EMPTY, &len, what, err);
	if (r == 0 && len != 8)
		r = malformed(c, HX_EPROTO, what, err);
	return r;
}

static int null_arg(const char *what, const char *name, struct hx_err *err)
{
	return hx_err_set(err, -EINVAL, "dqlite %s: no %s given", what, name);
}

int wire_conn_open(int fd, int timeout_ms, struct wire_conn **ret_conn,
		   struct hx_err *err)
{
	struct wire_conn *c;
	uint8_t version[8];
	int r;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return hx_err_set(err, -ENOMEM, "dqlite: out of memory");
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	store_le64(version, WIRE_PROTOCOL_VERSION);
	r = send_all(c, version, sizeof(version));
	if (r < 0) {
		hx_err_set(err, r, "dqlite: handshake: %s", hx_strerror(r));
		wire_conn_free(c);
		return r;
	}
	*ret_conn = c;
	return 0;
}

int wire_leader(struct wire_conn *c, uint64_t *ret_id, char **ret_address,
		struct hx_err *err)
{
	const char *what = "leader";
	uint64_t id;
	char *address;
	size_t len = 0;
	int r;

	r = req_start(c, what, err);
	if (r == 0)
		r = put_u64(&c->out, 0);
	r = req_finish(c, r, WIRE_REQ_LEADER, WIRE_RES_SERVER, &len, what, err);
	if (r < 0)
		return r;
	r = wire_decode_server(c->in, len, &id, &address);
	if (r < 0)
		return malformed(c, r, what, err);
	*ret_id = id;
	*ret_address = address;
	return 0;
}

int wire_open(struct wire_conn *c, const char *name, uint32_t *ret_db,
	      struct hx_err *err)
{
	const char *what = "open";
	size_t len = 0;
	uint32_t db;
	int r;

	if (name == NULL)
		return null_arg(what, "name", err);
	r = req_start(c, what, err);
	if (r == 0)
		r = put_text(&c->out, name);
	if (r == 0)
		r = put_u64(&c->out, 0); /* flags: unused by the server */
	if (r == 0)
		r = put_text(&c->out, ""); /* vfs: unused by the server */
	r = req_finish(c, r, WIRE_REQ_OPEN, WIRE_RES_DB, &len, what, err);
	if (r < 0)
		return r;
	if (decode_db(c->in, len, &db) < 0)
		return malformed(c, HX_EPROTO, what, err);
	*ret_db = db;
	return 0;
}

int wire_prepare(struct wire_conn *c, uint32_t db, const char *sql,
		 uint32_t *ret_stmt, struct hx_err *err)
{
	const char *what = "prepare";
	uint32_t stmt;
	size_t len = 0;
	int r;

	if (sql == NULL)
		return null_arg(what, "sql", err);
	r = req_start(c, what, err);
	if (r == 0)
		r = put_u64(&c->out, db);
	if (r == 0)
		r = put_text(&c->out, sql);
	r = req_finish(c, r, WIRE_REQ_PREPARE, WIRE_RES_STMT, &len, what, err);
	if (r < 0)
		return r;
	if (decode_stmt(c->in, len, &stmt) < 0)
		return malformed(c, HX_EPROTO, what, err);
	*ret_stmt = stmt;
	return 0;
}

/*
 * Starts a statement request: @db and @stmt as a uint32 pair (EXEC,
 * QUERY: @sql is NULL), or @db as a uint64 then @sql (EXEC_SQL,
 * QUERY_SQL), then the parameters. Returns the build result, for
 * req_finish().
 */
static int stmt_start(struct wire_conn *c, uint32_t db, uint32_t stmt,
		      const char *sql, const struct wire_value *params,
		      unsigned n, const char *what, struct hx_err *err)
{
	int r = req_start(c, what, err);

	if (r == 0 && sql == NULL)
		r = put_u32_pair(&c->out, db, stmt);
	if (r == 0 && sql != NULL)
		r = put_u64(&c->out, db);
	if (r == 0 && sql != NULL)
		r = put_text(&c->out, sql);
	if (r == 0)
		r = put_params(&c->out, params, n);
	return r;
}

static int exec_finish(struct wire_conn *c, int r, uint8_t type,
		       const char *what, uint64_t *ret_last_id,
		       uint64_t *ret_changes, struct hx_err *err)
{
	uint64_t last_id, changes;
	size_t len = 0;

	r = req_finish(c, r, type, WIRE_RES_RESULT, &len, what, err);
	if (r < 0)
		return r;
	r = wire_decode_result(c->in, len, &last_id, &changes);
	if (r < 0)
		return malformed(c, r, what, err);
	if (ret_last_id != NULL)
		*ret_last_id = last_id;
	if (ret_changes != NULL)
		*ret_changes = changes;
	return 0;
}

/* Sends the request and reads every batch of rows. */
static int query_finish(struct wire_conn *c, int r, uint8_t type,
			const char *what, struct wire_rows **ret_rows,
			struct hx_err *err)
{
	struct wire_rows *rows = NULL;
	int more = 1;
	size_t len = 0;

	r = req_finish(c, r, type, WIRE_RES_ROWS, &len, what, err);
	while (r == 0) {
		r = wire_decode_rows(c->in, len, &rows, &more);
		if (r < 0)
			r = malformed(c, r, what, err);
		else if (!more)
			break;
		else
			r = recv_response(c, WIRE_RES_ROWS, &len, what, err);
	}
	if (r < 0) {
		wire_rows_free(rows);
		return r;
	}
	*ret_rows = rows;
	return 0;
}

int wire_exec(struct wire_conn *c, uint32_t db, uint32_t stmt,
	      const struct wire_value *params, unsigned n,
	      uint64_t *ret_last_id, uint64_t *ret_changes, struct hx_err *err)
{
	int r = check_params(params, n, err);

	if (r < 0)
		return r;
	r = stmt_start(c, db, stmt, NULL, params, n, "exec", err);
	return exec_finish(c, r, WIRE_REQ_EXEC, "exec", ret_last_id,
			   ret_changes, err);
}

int wire_query(struct wire_conn *c, uint32_t db, uint32_t stmt,
	       const struct wire_value *params, unsigned n,
	       struct wire_rows **ret_rows, struct hx_err *err)
{
	int r = check_params(params, n, err);

	if (r < 0)
		return r;
	r = stmt_start(c, db, stmt, NULL, params, n, "query", err);
	return query_finish(c, r, WIRE_REQ_QUERY, "query", ret_rows, err);
}

int wire_finalize(struct wire_conn *c, uint32_t db, uint32_t stmt,
		  struct hx_err *err)
{
	int r = req_start(c, "finalize", err);

	if (r == 0)
		r = put_u32_pair(&c->out, db, stmt);
	return empty_finish(c, r, WIRE_REQ_FINALIZE, "finalize", err);
}

int wire_exec_sql(struct wire_conn *c, uint32_t db, const char *sql,
		  const struct wire_value *params, unsigned n,
		  uint64_t *ret_last_id, uint64_t *ret_changes,
		  struct hx_err *err)
{
	int r = check_params(params, n, err);

	if (r < 0)
		return r;
	if (sql == NULL)
		return null_arg("exec_sql", "sql", err);
	r = stmt_start(c, db, 0, sql, params, n, "exec_sql", err);
	return exec_finish(c, r, WIRE_REQ_EXEC_SQL, "exec_sql", ret_last_id,
			   ret_changes, err);
}

int wire_query_sql(struct wire_conn *c, uint32_t db, const char *sql,
		   const struct wire_value *params, unsigned n,
		   struct wire_rows **ret_rows, struct hx_err *err)
{
	int r = check_params(params, n, err);

	if (r < 0)
		return r;
	if (sql == NULL)
		return null_arg("query_sql", "sql", err);
	r = stmt_start(c, db, 0, sql, params, n, "query_sql", err);
	return query_finish(c, r, WIRE_REQ_QUERY_SQL, "query_sql", ret_rows,
			    err);
}

int wire_add(struct wire_conn *c, uint64_t id, const char *address,
	     struct hx_err *err)
{
	int r;

	if (address == NULL)
		return null_arg("add", "address", err);
	r = req_start(c, "add", err);
	if (r == 0)
		r = put_u64(&c->out, id);
	if (r == 0)
		r = put_text(&c->out, address);
	return empty_finish(c, r, WIRE_REQ_ADD, "add", err);
}

int wire_assign(struct wire_conn *c, uint64_t id, int role,
		struct hx_err *err)
{
	int r;

	if (role < WIRE_VOTER || role > WIRE_SPARE)
		return hx_err_set(err, -EINVAL, "dqlite assign: bad role %d",
				  role);
	r = req_start(c, "assign", err);
	if (r == 0)
		r = put_u64(&c->out, id);
	if (r == 0)
		r = put_u64(&c->out, (uint64_t)role);
	return empty_finish(c, r, WIRE_REQ_ASSIGN, "assign", err);
}

int wire_remove(struct wire_conn *c, uint64_t id, struct hx_err *err)
{
	int r = req_start(c, "remove", err);

	if (r == 0)
		r = put_u64(&c->out, id);
	return empty_finish(c, r, WIRE_REQ_REMOVE, "remove", err);
}

int wire_transfer(struct wire_conn *c, uint64_t id, struct hx_err *err)
{
	int r = req_start(c, "transfer", err);

	if (r == 0)
		r = put_u64(&c->out, id);
	return empty_finish(c, r, WIRE_REQ_TRANSFER, "transfer", err);
}

int wire_cluster(struct wire_conn *c, struct wire_server **ret_servers,
		 unsigned *ret_n, struct hx_err *err)
{
	const char *what = "cluster";
	struct wire_server *servers;
	unsigned n;
	size_t len = 0;
	int r;

	r = req_start(c, what, err);
	if (r == 0)
		r = put_u64(&c->out, WIRE_CLUSTER_FORMAT);
	r = req_finish(c, r, WIRE_REQ_CLUSTER, WIRE_RES_SERVERS, &len, what,
		       err);
	if (r < 0)
		return r;
	r = wire_decode_servers(c->in, len, &servers, &n);
	if (r < 0)
		return malformed(c, r, what, err);
	*ret_servers = servers;
	*ret_n = n;
	return 0;
}

/* ---- leader discovery ---- */

struct discovery {
	wire_dial_fn dial;
	void *data;
	int io_timeout_ms;
	uint64_t deadline_ms;
	struct hx_err last; /* why the latest attempt failed */
};

/* The I/O timeout for one step: io_timeout_ms, but not past the deadline
 * (and at least 1 ms, so that the first round always gets a try). */
static int step_timeout(const struct discovery *d)
{
	uint64_t now = hx_now_ms(), left;

	left = d->deadline_ms > now ? d->deadline_ms - now : 1;
	if (d->io_timeout_ms >= 0 && (uint64_t)d->io_timeout_ms < left)
		return d->io_timeout_ms;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Dials @address and asks it who the leader is. */
static int ask_node(struct discovery *d, const char *address,
		    struct wire_conn **ret_conn, uint64_t *ret_id,
		    char **ret_leader)
{
	int timeout = step_timeout(d);
	struct wire_conn *c = NULL;
	int fd = -1, r;

	r = d->dial(d->data, address, timeout, &fd);
	if (r >= 0 && fd < 0)
		r = -EBADF;
	if (r < 0)
		return hx_err_set(&d->last, r, "node '%s': dial: %s", address,
				  hx_strerror(r));
	r = wire_conn_open(fd, timeout, &c, &d->last);
	if (r < 0)
		goto err;
	r = wire_leader(c, ret_id, ret_leader, &d->last);
	if (r < 0)
		goto err_free_conn;
	*ret_conn = c;
	return 0;

err_free_conn:
	wire_conn_free(c);
err:
	hx_err_prefix(&d->last, "node '%s'", address);
	return r;
}

/*
 * One attempt through @address: if it names itself, it is the leader; if
 * it names another node, that node must confirm, asked directly.
 */
static int try_node(struct discovery *d, const char *address,
		    struct wire_conn **ret_conn, uint64_t *ret_id)
{
	struct wire_conn *c = NULL, *lc = NULL;
	char *leader = NULL, *confirm = NULL;
	uint64_t id, id2;
	int r;

	r = ask_node(d, address, &c, &id, &leader);
	if (r < 0)
		return r;
	if (id == 0 || leader[0] == '\0') {
		r = hx_err_set(&d->last, HX_ENOQUORUM,
			       "node '%s' knows no leader", address);
		goto out;
	}
	if (strcmp(leader, address) == 0) {
		lc = c;
		c = NULL;
		goto accept;
	}
	r = ask_node(d, leader, &lc, &id2, &confirm);
	if (r < 0)
		goto out;
	if (id2 != id || strcmp(confirm, leader) != 0) {
		r = hx_err_set(&d->last, HX_ENOTLEADER,
			       "node '%s' names leader %" PRIu64
			       " '%s', which names %" PRIu64 " '%s'",
			       address, id, leader, id2, confirm);
		goto out;
	}
accept:
	lc->timeout_ms = d->io_timeout_ms;
	*ret_conn = lc;
	*ret_id = id;
	lc = NULL;
	r = 0;
out:
	wire_conn_free(lc);
	wire_conn_free(c);
	free(confirm);
	free(leader);
	return r;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int wire_connect_leader(wire_dial_fn dial, void *data,
			const char *const *addresses, unsigned n,
			int io_timeout_ms, uint64_t deadline_ms,
			struct wire_conn **ret_conn, uint64_t *ret_leader_id,
			struct hx_err *err)
{
	struct discovery d = {
		.dial = dial,
		.data = data,
		.io_timeout_ms = io_timeout_ms,
		.deadline_ms = deadline_ms,
	};
	uint64_t start = hx_now_ms(), backoff = 20, cap, now;

	if (n == 0)
		return hx_err_set(err, -EINVAL, "dqlite: no node to ask");
	hx_err_set(&d.last, HX_ENOQUORUM, "no attempt made");
	for (;;) {
		for (unsigned i = 0; i < n; i++) {
			if (try_node(&d, addresses[i], ret_conn,
				     ret_leader_id) == 0)
				return 0;
			if (hx_now_ms() >= deadline_ms)
				break;
		}
		now = hx_now_ms();
		if (now >= deadline_ms)
			break;
		sleep_ms(backoff < deadline_ms - now ? backoff :
						       deadline_ms - now);
		cap = now - start < WIRE_ELECTION_MS ? 100 : 500;
		backoff = backoff * 2 > cap ? cap : backoff * 2;
	}
	return hx_err_set(err, HX_ENOQUORUM,
			  "no leader found among %u nodes within %" PRIu64
			  " ms: %s",
			  n, deadline_ms > start ? deadline_ms - start : 0,
			  d.last.msg);
}
