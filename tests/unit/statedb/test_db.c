/* Unit tests for statedb/db.c: how reads and the writer meet dqlite's
 * transient failures, through a proxy in front of a real dqlite node. */
#include <errno.h>
#include <ftw.h>
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
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <dqlite.h>

#include "lib/lib.h"
#include "statedb/statedb.h"

/*
 * A dqlite node runs in-process on an abstract socket. statedb reaches it
 * through proxy_dial: each connection gets a thread that copies requests
 * as they are and responses message by message, and can replace the next
 * response of a given type with a FAILURE. That stands in for what a
 * cluster produces only by chance: "no database opened" on a connection
 * made to a node that lost and regained leadership, "database is locked"
 * while another node's writer holds the lock.
 */

enum { RES_FAILURE = 0, RES_RESULT = 6, RES_ROWS = 7 };

#define MAX_PROXIES 64

struct fixture {
	dqlite_node *node;
	char dir[64];
	char address[64];
	struct statedb *db;
	pthread_mutex_t lock; /* guards everything below */
	pthread_t threads[MAX_PROXIES];
	unsigned nthreads;
	int inject_type;  /* replace the next response of this type... */
	unsigned inject_n; /* ...this many times */
	uint64_t inject_code;
	const char *inject_msg;
	unsigned injected;
};

struct proxy {
	struct fixture *f;
	int client; /* our end of the socketpair given to statedb */
	int server; /* the connection to the node */
};

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes a FAILURE response (code, message) to @fd. */
static int send_failure(int fd, uint64_t code, const char *msg)
{
	uint8_t buf[256] = {0};
	size_t text = strlen(msg) + 1, body = 8 + (text + 7) / 8 * 8;

	assert_true(8 + body <= sizeof(buf));
	put_le(buf, body / 8, 4);
	buf[4] = RES_FAILURE;
	put_le(buf + 8, code, 8);
	memcpy(buf + 16, msg, text - 1);
	return write_all(fd, buf, 8 + body);
}

/* Forwards the complete responses at the start of @buf; returns the
 * number of bytes consumed, or -1 if the client is gone. */
static ssize_t forward_responses(struct proxy *p, const uint8_t *buf,
				 size_t len)
{
	struct fixture *f = p->f;
	size_t used = 0;

	while (len - used >= 8) {
		const uint8_t *m = buf + used;
		size_t size = 8 + 8 * (size_t)(m[0] | m[1] << 8 | m[2] << 16 |
					       (uint32_t)m[3] << 24);
		bool replace;
		int r;

		if (len - used < size)
			break;
		pthread_mutex_lock(&f->lock);
		replace = f->inject_n > 0 && m[4] == f->inject_type;
		if (replace) {
			f->inject_n--;
			f->injected++;
		}
		pthread_mutex_unlock(&f->lock);
		r = replace ? send_failure(p->client, f->inject_code,
					   f->inject_msg)
			    : write_all(p->client, m, size);
		if (r < 0)
			return -1;
		used += size;
	}
	return (ssize_t)used;
}

static void *proxy_run(void *arg)
{
	struct proxy *p = arg;
	size_t cap = 1 << 20, len = 0;
	uint8_t *buf = malloc(cap), chunk[65536];

	while (buf != NULL) {
		struct pollfd pfd[2] = {{.fd = p->client, .events = POLLIN},
					{.fd = p->server, .events = POLLIN}};
		ssize_t n, used;

		if (poll(pfd, 2, 30000) <= 0)
			break;
		if (pfd[0].revents != 0) {
			n = read(p->client, chunk, sizeof(chunk));
			if (n <= 0 || write_all(p->server, chunk, (size_t)n) < 0)
				break;
		}
		if (pfd[1].revents != 0) {
			n = read(p->server, buf + len, cap - len);
			if (n <= 0)
				break;
			len += (size_t)n;
			used = forward_responses(p, buf, len);
			if (used < 0)
				break;
			memmove(buf, buf + used, len - (size_t)used);
			len -= (size_t)used;
			if (len == cap)
				break; /* a response larger than 1 MiB */
		}
	}
	free(buf);
	close(p->client);
	close(p->server);
	free(p);
	return NULL;
}

static int dial_abstract(const char *address, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(address);
	int fd;

	if (address[0] != '@' || n > sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path + 1, address + 1, n - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) <
	    0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int proxy_dial(void *data, const char *address, int timeout_ms,
		      int *ret_fd)
{
	struct fixture *f = data;
	struct proxy *p;
	int pair[2], server, r;

	(void)timeout_ms;
	if ((r = dial_abstract(address, &server)) < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (p == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		free(p);
		close(server);
		return -ENOMEM;
	}
	p->f = f;
	p->client = pair[1];
	p->server = server;
	pthread_mutex_lock(&f->lock);
	r = f->nthreads < MAX_PROXIES
		    ? -pthread_create(&f->threads[f->nthreads], NULL,
				      proxy_run, p)
		    : -EMFILE;
	if (r == 0)
		f->nthreads++;
	pthread_mutex_unlock(&f->lock);
	if (r < 0) {
		close(pair[0]);
		close(pair[1]);
		close(server);
		free(p);
		return r;
	}
	*ret_fd = pair[0];
	return 0;
}

/* Replaces the next @n responses of @type with FAILURE @code. */
static void inject(struct fixture *f, int type, unsigned n, uint64_t code,
		   const char *msg)
{
	pthread_mutex_lock(&f->lock);
	f->inject_type = type;
	f->inject_n = n;
	f->inject_code = code;
	f->inject_msg = msg;
	f->injected = 0;
	pthread_mutex_unlock(&f->lock);
}

static unsigned injected(struct fixture *f)
{
	unsigned n;

	pthread_mutex_lock(&f->lock);
	n = f->injected;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static unsigned dials(struct fixture *f)
{
	unsigned n;

	pthread_mutex_lock(&f->lock);
	n = f->nthreads;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	static struct fixture f;
	struct statedb_config cfg = {0};
	struct hx_err err = {0};

	memset(&f, 0, sizeof(f));
	pthread_mutex_init(&f.lock, NULL);
	snprintf(f.dir, sizeof(f.dir), "/tmp/hx-test-db-XXXXXX");
	if (mkdtemp(f.dir) == NULL)
		return -1;
	snprintf(f.address, sizeof(f.address), "@hx-test-db-%d",
		 (int)getpid());
	if (dqlite_node_create(1, f.address, f.dir, &f.node) != 0 ||
	    dqlite_node_set_bind_address(f.node, f.address) != 0 ||
	    dqlite_node_start(f.node) != 0)
		return -1;
	cfg.dial = proxy_dial;
	cfg.dial_data = &f;
	cfg.self_address = f.address;
	cfg.leader_timeout_ms = 2000; /* how long a batch retries */
	if (statedb_open(&cfg, &f.db, &err) < 0 ||
	    statedb_migrate(f.db, NULL, &err) < 0) {
		print_error("statedb: %s\n", err.msg);
		return -1;
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	statedb_close(f->db); /* closes its ends: the proxies end */
	for (unsigned i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	dqlite_node_stop(f->node);
	dqlite_node_destroy(f->node);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	pthread_mutex_destroy(&f->lock);
	return 0;
}

static int64_t setting(struct fixture *f, const char *key)
{
	struct statedb_settings s;
	struct hx_err err = {0};

	if (statedb_settings_get(f->db, &s, &err) < 0)
		fail_msg("settings: %s", err.msg);
	for (unsigned i = 0; i < s.n; i++)
		if (strcmp(s.keys[i], key) == 0)
			return s.values[i];
	fail_msg("no setting '%s'", key);
	return -1;
}

/* A node that lost leadership and won it back answers the connections
 * opened before with "no database opened": the read is redone on a new
 * connection, and the dead one does not go back to the pool. */
static void test_read_no_database(void **state)
{
	struct fixture *f = *state;
	unsigned before;

	(void)setting(f, "tasks.keep"); /* a pooled connection */
	before = dials(f);
	inject(f, RES_ROWS, 1, 12, "no database opened");
	assert_int_equal(setting(f, "tasks.keep"), 1000);
	assert_int_equal(injected(f), 1);
	assert_int_equal(dials(f), before + 1);
	/* the new connection is the pooled one now */
	assert_int_equal(setting(f, "tasks.keep"), 1000);
	assert_int_equal(dials(f), before + 1);
}

/* Another writer holds the lock: the batch is rolled back and run again,
 * once; nothing is applied twice. */
static void test_write_locked(void **state)
{
	struct fixture *f = *state;
	const char *keys[] = {"tasks.keep"};
	int64_t values[] = {77};
	struct hx_err err = {0};

	(void)setting(f, "tasks.keep");
	inject(f, RES_ROWS, 1, 5, "database is locked");
	assert_int_equal(statedb_settings_update(f->db, keys, values, 1, NULL,
						 &err),
			 0);
	assert_int_equal(injected(f), 1);
	assert_int_equal(setting(f, "tasks.keep"), 77);
}

/* Still locked at the leader timeout: HX_EBUSY, nothing applied. */
static void test_write_locked_for_good(void **state)
{
	struct fixture *f = *state;
	const char *keys[] = {"tasks.keep"};
	int64_t values[] = {88};
	struct hx_err err = {0};
	uint64_t t0 = hx_now_ms();

	inject(f, RES_ROWS, 1000, 5, "database is locked");
	assert_int_equal(statedb_settings_update(f->db, keys, values, 1, NULL,
						 &err),
			 HX_EBUSY);
	assert_true(hx_now_ms() - t0 >= 1900);
	assert_non_null(strstr(err.msg, "database is locked"));
	inject(f, RES_ROWS, 0, 0, "");
	assert_int_equal(setting(f, "tasks.keep"), 77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_no_database),
		cmocka_unit_test(test_write_locked),
		cmocka_unit_test(test_write_locked_for_good),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("statedb db", tests, setup,
					   teardown);
}
