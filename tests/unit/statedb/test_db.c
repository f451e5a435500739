/* Unit tests for statedb/db.c's writer against a real dqlite node. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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
 * Each hxd has its own writer queue, so on the leader the writers of
 * different nodes meet, and dqlite answers the second one "database is
 * locked" at once. Two statedb handles on one node stand for two nodes.
 */

#define WRITERS_PER_DB 4
#define WRITES_PER_WRITER 40
#define READERS 32
#define READS_PER_READER 20
#define POOL_MAX 8 /* DB_POOL in statedb/db.c */

static unsigned dials; /* connections opened by every handle */

struct fixture {
	dqlite_node *node;
	char dir[64];
	char address[64];
	struct statedb *db[2];
};

static int dial_abstract(void *data, const char *address, int timeout_ms,
			 int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(address);
	int fd;

	(void)data;
	(void)timeout_ms;
	__atomic_add_fetch(&dials, 1, __ATOMIC_SEQ_CST);
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
	struct statedb_config cfg = {.dial = dial_abstract};
	struct statedb_node first = {.id = 1, .cpus = 1};
	struct hx_err err = {0};

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/hx-test-db-XXXXXX");
	if (mkdtemp(f.dir) == NULL)
		return -1;
	snprintf(f.address, sizeof(f.address), "@hx-test-db-%d",
		 (int)getpid());
	if (dqlite_node_create(1, f.address, f.dir, &f.node) != 0 ||
	    dqlite_node_set_bind_address(f.node, f.address) != 0 ||
	    dqlite_node_start(f.node) != 0)
		return -1;
	cfg.self_address = f.address;
	for (int i = 0; i < 2; i++)
		if (statedb_open(&cfg, &f.db[i], &err) < 0)
			return -1;
	snprintf(first.name, sizeof(first.name), "n1");
	snprintf(first.address, sizeof(first.address), "127.0.0.1");
	snprintf(first.peer, sizeof(first.peer), "127.0.0.1:8007");
	snprintf(first.labels, sizeof(first.labels), "{}");
	if (statedb_migrate(f.db[0], NULL, &err) < 0 ||
	    statedb_cluster_create(f.db[0], "t", &first, "hash", &err) < 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	statedb_close(f->db[0]);
	statedb_close(f->db[1]);
	dqlite_node_stop(f->node);
	dqlite_node_destroy(f->node);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

struct writer {
	struct statedb *db;
	int index;
	int failures;
	struct hx_err err;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	const char *keys[] = {"tasks.keep"};

	for (int i = 0; i < WRITES_PER_WRITER; i++) {
		int64_t v = 100 + w->index * WRITES_PER_WRITER + i;
		struct hx_err err = {0};

		if (statedb_settings_update(w->db, keys, &v, 1, NULL, &err) <
		    0) {
			w->failures++;
			w->err = err;
		}
	}
	return NULL;
}

/* Writers behind two handles at once: every write succeeds. */
static void test_writers_on_two_handles(void **state)
{
	struct fixture *f = *state;
	struct writer w[2 * WRITERS_PER_DB];
	pthread_t t[2 * WRITERS_PER_DB];
	struct statedb_settings s;
	struct hx_err err = {0};
	int failures = 0;

	for (int i = 0; i < 2 * WRITERS_PER_DB; i++) {
		w[i] = (struct writer){.db = f->db[i % 2], .index = i};
		assert_int_equal(pthread_create(&t[i], NULL, writer_run, &w[i]),
				 0);
	}
	for (int i = 0; i < 2 * WRITERS_PER_DB; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failures > 0)
			fprintf(stderr, "writer %d: %d failed, last: %s\n", i,
				w[i].failures, w[i].err.msg);
		failures += w[i].failures;
	}
	assert_int_equal(failures, 0);
	/* And the database still answers through both. */
	assert_int_equal(statedb_settings_get(f->db[0], &s, &err), 0);
	assert_int_equal(statedb_settings_get(f->db[1], &s, &err), 0);
}

static void *reader_run(void *arg)
{
	struct statedb *db = arg;
	struct statedb_settings s;
	long failures = 0;

	for (int i = 0; i < READS_PER_READER; i++)
		if (statedb_settings_get(db, &s, NULL) < 0)
			failures++;
	return (void *)failures;
}

/* A burst of readers on one handle shares a bounded set of connections
 * (each one, on a follower, a TLS handshake with the leader) instead of
 * opening one per reader and dropping it after one query. */
static void test_readers_share_pool(void **state)
{
	struct fixture *f = *state;
	pthread_t t[READERS];
	unsigned before = __atomic_load_n(&dials, __ATOMIC_SEQ_CST);
	long failures = 0;

	for (int i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader_run,
						f->db[1]),
				 0);
	for (int i = 0; i < READERS; i++) {
		void *r;

		pthread_join(t[i], &r);
		failures += (long)r;
	}
	assert_int_equal(failures, 0);
	/* One dial per connection: its leader discovery asks the node,
	 * which names itself. */
	assert_true(__atomic_load_n(&dials, __ATOMIC_SEQ_CST) - before <=
		    POOL_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writers_on_two_handles),
		cmocka_unit_test(test_readers_share_pool),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("statedb writer", tests, setup,
					   teardown) == 0
		       ? 0
		       : 1;
}
