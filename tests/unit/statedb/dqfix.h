/*
 * A one-node dqlite cluster for unit tests that need a real database:
 * the node listens on an abstract unix socket, its data lives in a fresh
 * directory under /tmp, and statedb handles dial it through dqfix_dial.
 */
#ifndef HX_TESTS_DQFIX_H
#define HX_TESTS_DQFIX_H

#include <dqlite.h>

#include "statedb/statedb.h"

#define DQFIX_DBS 2

struct dqfix {
	dqlite_node *node;
	char dir[64];
	char address[64];
	struct statedb *db[DQFIX_DBS];
};

/* Connections dqfix_dial opened so far, over every fixture. */
extern unsigned dqfix_dials;

/* A dqlite dial function for '@name' (abstract unix socket) addresses. */
int dqfix_dial(void *data, const char *address, int timeout_ms, int *ret_fd);

/* Starts the node only, in a directory and at an address named after
 * @tag; 0 or -1 (nothing left behind). */
int dqfix_node_start(struct dqfix *f, const char *tag);
void dqfix_node_stop(struct dqfix *f);

/* Starts the node, opens @ndb (1..DQFIX_DBS) statedb handles on it,
 * migrates the schema and creates cluster "t" with @first as its first
 * node (NULL: n1 at 127.0.0.1, one CPU). 0 or -1 with a message on
 * stderr. */
int dqfix_setup(struct dqfix *f, const char *tag, unsigned ndb,
		const struct statedb_node *first);
void dqfix_teardown(struct dqfix *f);

#endif
