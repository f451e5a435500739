/* Unit tests for statedb/db.c's writer against a real dqlite node. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dqlite.h>

#include "lib/lib.h"
#include "statedb/statedb.h"
#include "tests/unit/statedb/dqfix.h"

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


struct fixture {
	struct statedb *db[2];
	struct dqfix dq;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (dqfix_setup(&f.dq, "db", 2, NULL) < 0)
		return -1;
	f.db[0] = f.dq.db[0];
	f.db[1] = f.dq.db[1];
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dqfix_teardown(&f->dq);
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
	unsigned before = __atomic_load_n(&dqfix_dials, __ATOMIC_SEQ_CST);
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
	assert_true(__atomic_load_n(&dqfix_dials, __ATOMIC_SEQ_CST) - before <=
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
