/* msgpack maps for peer messages: small, strict accessors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/msg.h"
#include "lib/lib.h"

void msg_out_init(struct msg_out *m, unsigned nkeys)
{
	msgpack_sbuffer_init(&m->sbuf);
	msgpack_packer_init(&m->pk, &m->sbuf, msgpack_sbuffer_write);
	msgpack_pack_map(&m->pk, nkeys);
}

void msg_out_close(struct msg_out *m)
{
	msgpack_sbuffer_destroy(&m->sbuf);
}

void msg_pack_str(struct msg_out *m, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(&m->pk, n);
	msgpack_pack_str_body(&m->pk, s, n);
}

void msg_put_key(struct msg_out *m, const char *key)
{
	msg_pack_str(m, key);
}

void msg_put_str(struct msg_out *m, const char *key, const char *value)
{
	msg_pack_str(m, key);
	msg_pack_str(m, value);
}

void msg_put_int(struct msg_out *m, const char *key, int64_t value)
{
	msg_pack_str(m, key);
	msgpack_pack_int64(&m->pk, value);
}

static uint64_t be(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Checks that every length in the msgpack data @p (@len bytes) fits what
 * is left of it, before msgpack-c sees it: msgpack-c allocates room for a
 * container's declared element count up front, so five bytes declaring an
 * array of 2^32 elements cost gigabytes (and the JOIN service parses
 * frames from clients that have not authenticated yet). Every pending
 * element needs at least one byte. Returns false if something cannot fit.
 */
static bool msg_sizes_ok(const unsigned char *p, size_t len)
{
	size_t off = 0, pending = 1;

	while (pending > 0) {
		uint64_t n = 0, skip = 0, elems = 0;
		unsigned char b;

		if (off >= len)
			return false;
		b = p[off++];
		pending--;
		if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3)) {
			/* fixint, nil, bool (0xc1 is refused by msgpack) */
		} else if (b <= 0x8f) {
			elems = 2 * (uint64_t)(b & 0x0f);
		} else if (b <= 0x9f) {
			elems = b & 0x0f;
		} else if (b <= 0xbf) {
			skip = b & 0x1f;
		} else {
			/* sizes of the length fields, from 0xc4 */
			static const unsigned char lens[] = {
				1, 2, 4, 1, 2, 4,	/* bin8-32, ext8-32 */
				0, 0,			/* float32, float64 */
				0, 0, 0, 0, 0, 0, 0, 0, /* uint8-64, int8-64 */
				0, 0, 0, 0, 0,		/* fixext1-16 */
				1, 2, 4,		/* str8-32 */
				2, 4, 2, 4};		/* array16/32, map16/32 */
			static const unsigned char fixed[] = {
				0, 0, 0, 0, 0, 0, 4, 8, 1, 2, 4, 8, 1, 2,
				4, 8, 2, 3, 5, 9, 17, 0, 0, 0, 0, 0, 0, 0};
			unsigned k = (unsigned)(b - 0xc4);

			if (len - off < lens[k])
				return false;
			n = be(p + off, lens[k]);
			off += lens[k];
			skip = fixed[k];
			if (b <= 0xc6 || (b >= 0xd9 && b <= 0xdb))
				skip += n; /* bin, str */
			else if (b <= 0xc9)
				skip += n + 1; /* ext: type byte, data */
			else if (b == 0xdc || b == 0xdd)
				elems = n;
			else if (b == 0xde || b == 0xdf)
				elems = 2 * n;
		}
		if (skip > len - off || pending + elems > len - off - skip)
			return false;
		off += skip;
		pending += elems;
	}
	return true;
}

int msg_in_parse(struct msg_in *in, void *buf, size_t len)
{
	size_t off = 0;

	in->buf = buf;
	msgpack_unpacked_init(&in->u);
	if (!msg_sizes_ok(buf, len) ||
	    msgpack_unpack_next(&in->u, buf, len, &off) !=
		    MSGPACK_UNPACK_SUCCESS ||
	    off != len || in->u.data.type != MSGPACK_OBJECT_MAP) {
		msgpack_unpacked_destroy(&in->u);
		free(in->buf);
		return HX_EPROTO;
	}
	in->root = &in->u.data;
	return 0;
}

void msg_in_close(struct msg_in *in)
{
	msgpack_unpacked_destroy(&in->u);
	free(in->buf);
}

static const msgpack_object *msg_get(const struct msg_in *in, const char *key)
{
	const msgpack_object_map *map = &in->root->via.map;
	size_t n = strlen(key);

	for (uint32_t i = 0; i < map->size; i++) {
		const msgpack_object *k = &map->ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		    memcmp(k->via.str.ptr, key, n) == 0)
			return &map->ptr[i].val;
	}
	return NULL;
}

static int msg_copy_str(const msgpack_object *o, char *buf, size_t len)
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= len ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return -EINVAL;
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 0;
}

int msg_get_str(const struct msg_in *in, const char *key, char *buf,
		size_t len)
{
	const msgpack_object *o = msg_get(in, key);

	if (o == NULL)
		return -ENOENT;
	return msg_copy_str(o, buf, len);
}

int msg_get_int(const struct msg_in *in, const char *key, int64_t *ret)
{
	const msgpack_object *o = msg_get(in, key);

	if (o == NULL)
		return -ENOENT;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= INT64_MAX)
		*ret = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*ret = o->via.i64;
	else
		return -EINVAL;
	return 0;
}

int64_t msg_int_or(const struct msg_in *in, const char *key, int64_t def)
{
	int64_t v;

	return msg_get_int(in, key, &v) == 0 ? v : def;
}

void msg_members(const struct msg_in *in, unsigned col, char *out,
		 size_t width, unsigned max, unsigned *ret_n)
{
	const msgpack_object *o = msg_get(in, "members");
	unsigned n = 0;

	*ret_n = 0;
	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY)
		return;
	for (uint32_t i = 0; i < o->via.array.size && n < max; i++) {
		const msgpack_object *e = &o->via.array.ptr[i];
		if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 2 &&
		    msg_copy_str(&e->via.array.ptr[col], out + n * width,
				 width) == 0)
			n++;
	}
	*ret_n = n;
}
