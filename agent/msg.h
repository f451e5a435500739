/* agent/msg.h: msgpack maps for peer messages (private to agent). */
#ifndef HX_AGENT_MSG_H
#define HX_AGENT_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* Builds one map with exactly @nkeys entries. */
struct msg_out {
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
};
void msg_out_init(struct msg_out *m, unsigned nkeys);
void msg_out_close(struct msg_out *m);
void msg_put_key(struct msg_out *m, const char *key);
void msg_pack_str(struct msg_out *m, const char *s);
void msg_put_str(struct msg_out *m, const char *key, const char *value);
void msg_put_int(struct msg_out *m, const char *key, int64_t value);

/* A parsed message whose root is a map. */
struct msg_in {
	msgpack_unpacked u;
	const msgpack_object *root;
	void *buf; /* strings point into it: owned, freed by msg_in_close */
};
/* HX_EPROTO unless @buf is exactly one msgpack map. Takes ownership of
 * the malloc'ed @buf in every case (it is freed on failure). */
int msg_in_parse(struct msg_in *in, void *buf, size_t len);
void msg_in_close(struct msg_in *in);
/* -ENOENT if absent, -EINVAL if not a string or longer than @len - 1. */
int msg_get_str(const struct msg_in *in, const char *key, char *buf,
		size_t len);
int msg_get_int(const struct msg_in *in, const char *key, int64_t *ret);
int64_t msg_int_or(const struct msg_in *in, const char *key, int64_t def);
/* Reads column @col of "members": [[peer, fp], ...] into @out, an array
 * of @max strings of @width bytes each. */
void msg_members(const struct msg_in *in, unsigned col, char *out,
		 size_t width, unsigned max, unsigned *ret_n);

#endif /* HX_AGENT_MSG_H */
