/* A one-node dqlite cluster for unit tests (see dqfix.h). */
#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/lib.h"
#include "tests/unit/statedb/dqfix.h"

unsigned dqfix_dials;

int dqfix_dial(void *data, const char *address, int timeout_ms, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(address);
	int fd;

	(void)data;
	(void)timeout_ms;
	__atomic_add_fetch(&dqfix_dials, 1, __ATOMIC_SEQ_CST);
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

static void rm_dir(const char *dir)
{
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int dqfix_node_start(struct dqfix *f, const char *tag)
{
	static unsigned seq;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/hx-test-%s-XXXXXX", tag);
	if (mkdtemp(f->dir) == NULL)
		return -1;
	/* A new address per node: a test may start several in turn. */
	snprintf(f->address, sizeof(f->address), "@hx-test-%s-%d-%u", tag,
		 (int)getpid(), seq++);
	if (dqlite_node_create(1, f->address, f->dir, &f->node) != 0)
		goto err_remove_dir;
	if (dqlite_node_set_bind_address(f->node, f->address) != 0 ||
	    dqlite_node_start(f->node) != 0)
		goto err_destroy_node;
	return 0;

err_destroy_node:
	dqlite_node_destroy(f->node);
	f->node = NULL;
err_remove_dir:
	rm_dir(f->dir);
	return -1;
}

void dqfix_node_stop(struct dqfix *f)
{
	if (f->node == NULL)
		return;
	dqlite_node_stop(f->node);
	dqlite_node_destroy(f->node);
	f->node = NULL;
	rm_dir(f->dir);
}

int dqfix_setup(struct dqfix *f, const char *tag, unsigned ndb,
		const struct statedb_node *first)
{
	struct statedb_config cfg = {.dial = dqfix_dial};
	struct statedb_node n1 = {.id = 1, .cpus = 1};
	struct hx_err err = {0};

	if (ndb == 0 || ndb > DQFIX_DBS || dqfix_node_start(f, tag) < 0)
		return -1;
	cfg.self_address = f->address;
	for (unsigned i = 0; i < ndb; i++)
		if (statedb_open(&cfg, &f->db[i], &err) < 0)
			goto err;
	if (first == NULL) {
		snprintf(n1.name, sizeof(n1.name), "n1");
		snprintf(n1.address, sizeof(n1.address), "127.0.0.1");
		snprintf(n1.peer, sizeof(n1.peer), "127.0.0.1:8007");
		snprintf(n1.labels, sizeof(n1.labels), "{}");
		first = &n1;
	}
	if (statedb_migrate(f->db[0], NULL, &err) < 0 ||
	    statedb_cluster_create(f->db[0], "t", first, "hash", &err) < 0)
		goto err;
	return 0;

err:
	fprintf(stderr, "dqfix_setup: %s\n", err.msg);
	dqfix_teardown(f);
	return -1;
}

void dqfix_teardown(struct dqfix *f)
{
	for (unsigned i = 0; i < DQFIX_DBS; i++) {
		if (f->db[i] != NULL)
			statedb_close(f->db[i]);
		f->db[i] = NULL;
	}
	dqfix_node_stop(f);
}
