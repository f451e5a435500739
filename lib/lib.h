/* lib: shared helpers under every module: logging, errors, clocks. */
#ifndef HX_LIB_LIB_H
#define HX_LIB_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

/*
 * Errors. Functions that can fail return 0 (or a count) on success and a
 * negative errno on failure. Project-specific failures use the codes below,
 * in a reserved range under -1000; hx_strerror() names every code.
 */
enum {
	HX_ENOTLEADER = -1001,	/* the node asked is not the raft leader */
	HX_ENOQUORUM = -1002,	/* no leader could be found in time */
	HX_EPROTO = -1003,	/* a peer sent something malformed */
	HX_ESQL = -1004,	/* the database refused a statement */
	HX_ECONFLICT = -1005,	/* a compare-and-set digest did not match */
	HX_ESCHEMA = -1006,	/* unknown or newer schema version */
	HX_ETOKEN = -1007,	/* join token bad, expired or used */
	HX_EOUTCOME = -1008,	/* a commit was sent but its result is unknown */
	HX_ENOTINIT = -1009,	/* this node is not part of a cluster yet */
	HX_EAUTH = -1010,	/* peer or client failed authentication */
	HX_EBUSY = -1011,	/* database is locked by another writer */
	HX_ENOSPACE = -1012,	/* a storage pool has not enough free space */
};

/* Returns a static description of @code (negative errno or HX_E*). */
const char *hx_strerror(int code);

/*
 * A user-facing error: a code plus a message that carries context, such as
 * "statedb: insert node 'n2': database is locked". Every function taking a
 * `struct hx_err *err` accepts NULL.
 */
struct hx_err {
	int code;
	char msg[512];
};

/* Sets @err to @code and the formatted message; returns @code. */
int hx_err_set(struct hx_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with the formatted context and ": ". */
int hx_err_prefix(struct hx_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Copies @src into @dst (either may be NULL); returns src's code. */
int hx_err_copy(struct hx_err *dst, const struct hx_err *src);

/*
 * Logging to stderr with journald priority prefixes ("<3>..."). Only agent/
 * logs above DEBUG; other modules return errors. Thread-safe.
 */
void hx_log_init(const char *ident, int max_level);
void hx_log_set_level(int max_level);
int hx_log_get_level(void);
void hx_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Like hx_log, appending ": <hx_strerror(code)>". */
void hx_log_errno(int level, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Clocks: monotonic milliseconds for timing, wall-clock for records. */
uint64_t hx_now_ms(void);
uint64_t hx_wall_ms(void);

/* Writes @len bytes or fails with -errno; retries on EINTR. */
int hx_write_all(int fd, const void *buf, size_t len);
/* Writes @len bytes at @off (pwrite) or fails with -errno. */
int hx_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Reads exactly @len bytes within @timeout_ms (-1: no limit). Returns 0,
 * -ETIMEDOUT, -ECONNRESET on EOF, or another -errno. */
int hx_read_full(int fd, void *buf, size_t len, int timeout_ms);

/* Copies bytes both ways between stream sockets @a and @b until both
 * directions reached end of file or either side failed; a half-close is
 * passed on (shutdown SHUT_WR). Blocks; closes neither fd. */
void hx_relay(int a, int b);

/* Reads a whole small file (at most @max bytes) into a NUL-terminated
 * malloc'ed buffer owned by the caller. */
int hx_file_read(const char *path, size_t max, char **ret_buf, size_t *ret_len);
/* Writes @len bytes to @path atomically (temp file, fsync, rename) with
 * mode @mode. */
int hx_file_write_atomic(const char *path, const void *buf, size_t len,
			 unsigned mode);

/* Test hook: if the environment variable HX_CRASH_AT equals @point, logs
 * it and kills the process with SIGKILL, as kill -9 would, so that tests
 * can crash hxd at an exact instruction. Otherwise does nothing. */
void hx_crash_point(const char *point);

/*
 * IP addresses, prefixes and MAC addresses (addr.c). An address is 16
 * bytes in network order, IPv4 in the first 4; @family is 4 or 6.
 * Parsers return 0 or -EINVAL and accept only canonical syntax families
 * (dotted quads, RFC 4291 text); formatters print the canonical form.
 */
#define HX_ADDR_STRLEN 46		    /* INET6_ADDRSTRLEN */
#define HX_PREFIX_STRLEN (HX_ADDR_STRLEN + 4) /* "addr/128" */
#define HX_OFFSET_MAX ((UINT64_C(1) << 62) - 1)

/*
 * A growable text buffer: start from {0}, append with hx_buf_put(); after
 * an allocation failure the buffer ignores further appends and `oom` is
 * set, so callers check once at the end. `s` is NUL-terminated once
 * anything was put.
 */
struct hx_buf {
	char *s;
	size_t len, cap;
	bool oom;
};

void hx_buf_put(struct hx_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The text (the caller frees it; "" if nothing was put), or NULL after an
 * allocation failure; the buffer is empty again either way. */
char *hx_buf_take(struct hx_buf *b);

struct hx_addr {
	int family;
	uint8_t b[16];
};

struct hx_prefix {
	struct hx_addr addr; /* the network address (host bits zero) */
	unsigned len;
};

int hx_addr_parse(const char *s, struct hx_addr *ret);
void hx_addr_format(const struct hx_addr *a, char *buf, size_t len);
bool hx_addr_equal(const struct hx_addr *a, const struct hx_addr *b);
/* "A/N", or a bare address as a host prefix. With @strict, host bits set
 * are -EINVAL ("10.0.0.1/24"); without, they are cleared. */
int hx_prefix_parse(const char *s, bool strict, struct hx_prefix *ret);
void hx_prefix_format(const struct hx_prefix *p, char *buf, size_t len);
bool hx_prefix_contains(const struct hx_prefix *p, const struct hx_addr *a);
bool hx_prefix_overlaps(const struct hx_prefix *a, const struct hx_prefix *b);
/* The offset of the last address of @p, at most HX_OFFSET_MAX. */
uint64_t hx_prefix_last_offset(const struct hx_prefix *p);
/* Offset of @a inside @p: -EINVAL if outside, -ERANGE if above
 * HX_OFFSET_MAX. */
int hx_prefix_offset(const struct hx_prefix *p, const struct hx_addr *a,
		     uint64_t *ret);
/* The address at offset @n of @p; -ERANGE past its end. */
int hx_prefix_nth(const struct hx_prefix *p, uint64_t n, struct hx_addr *ret);
/* "xx:xx:xx:xx:xx:xx" (either case) into 6 bytes. */
int hx_mac_parse(const char *s, uint8_t ret[6]);
void hx_mac_format(const uint8_t mac[6], char *buf, size_t len);
/* The EUI-64 link-local IPv6 address (fe80::/64) of @mac. */
void hx_mac_link_local(const uint8_t mac[6], struct hx_addr *ret);

#define HX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif /* HX_LIB_LIB_H */
