/*
 * The embedded dqlite node.
 *
 * DESIGN: the node binds a random abstract unix socket, which dqlite
 * restricts to connections from our own process; everything remote reaches
 * it through the peer channel. Raft addresses are peer addresses
 * ("IP:PORT"), and dqlite's connect function dials them through the peer
 * channel, so raft traffic is authenticated and encrypted like the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <dqlite.h>
#include <sodium.h>

#include "lib/lib.h"
#include "raft/raft.h"

/*
 * Raft keeps every log entry since the last snapshot, plus a trail of
 * older ones for followers that fall behind, in memory and on disk. Each
 * entry carries the WAL pages of one transaction (about 4 KiB for a small
 * write). With dqlite's defaults (a snapshot every 1024 entries, 8192
 * kept after it) an idle hxd grew from 12 MB to 50-80 MB RSS after ten
 * thousand writes. The state database is small, so a snapshot (a copy of
 * it) is cheap to take and to send to a follower that is more than the
 * trail behind: keep at most about 1024 entries.
 */
#define NODE_SNAPSHOT_THRESHOLD 512
#define NODE_SNAPSHOT_TRAILING 512

struct hxraft_node {
	dqlite_node *dqlite;
	struct hxraft_peer *peer;
	char bind[64];
};

/* Runs on a dqlite thread-pool thread: blocking is fine. */
static int node_connect(void *arg, const char *address, int *fd)
{
	struct hxraft_node *node = arg;

	return hxraft_peer_dial(node->peer, address, HXRAFT_SVC_DQLITE, 3000,
				fd, NULL) == 0
		       ? 0
		       : 1;
}

int hxraft_node_start(const struct hxraft_node_config *cfg,
		      struct hxraft_node **ret_node, struct hx_err *err)
{
	struct hxraft_node *node;
	unsigned char rnd[8];
	int r;

	if (mkdir(cfg->dir, 0700) < 0 && errno != EEXIST)
		return hx_err_set(err, -errno, "dqlite: mkdir '%s': %s",
				  cfg->dir, strerror(errno));
	node = calloc(1, sizeof(*node));
	if (node == NULL)
		return hx_err_set(err, -ENOMEM, "dqlite: out of memory");
	node->peer = cfg->peer;
	r = dqlite_node_create(cfg->id, cfg->address, cfg->dir, &node->dqlite);
	if (r != 0) {
		hx_err_set(err, -EIO, "dqlite: create node %llu: %s",
			   (unsigned long long)cfg->id,
			   node->dqlite != NULL
				   ? dqlite_node_errmsg(node->dqlite)
				   : "failed");
		goto err_destroy;
	}
	randombytes_buf(rnd, sizeof(rnd));
	snprintf(node->bind, sizeof(node->bind),
		 "@hx-dqlite-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (dqlite_node_set_bind_address(node->dqlite, node->bind) != 0 ||
	    dqlite_node_set_connect_func(node->dqlite, node_connect, node) !=
		    0 ||
	    dqlite_node_set_network_latency_ms(
		    node->dqlite, cfg->latency_ms > 0 ? cfg->latency_ms : 20) !=
		    0 ||
	    dqlite_node_set_snapshot_params(node->dqlite,
					    NODE_SNAPSHOT_THRESHOLD,
					    NODE_SNAPSHOT_TRAILING) != 0) {
		hx_err_set(err, -EINVAL, "dqlite: configure node: %s",
			   dqlite_node_errmsg(node->dqlite));
		goto err_destroy;
	}
	/* Publish the socket before raft starts dialing peers that will
	 * dial us back. */
	hxraft_peer_set_dqlite(node->peer, node->bind);
	if (dqlite_node_start(node->dqlite) != 0) {
		hx_err_set(err, -EIO, "dqlite: start node: %s",
			   dqlite_node_errmsg(node->dqlite));
		hxraft_peer_set_dqlite(node->peer, NULL);
		goto err_destroy;
	}
	*ret_node = node;
	return 0;

err_destroy:
	if (node->dqlite != NULL)
		dqlite_node_destroy(node->dqlite);
	free(node);
	return err != NULL ? err->code : -EIO;
}

void hxraft_node_stop(struct hxraft_node *node)
{
	if (node == NULL)
		return;
	hxraft_peer_set_dqlite(node->peer, NULL);
	(void)dqlite_node_stop(node->dqlite);
	dqlite_node_destroy(node->dqlite);
	free(node);
}

const char *hxraft_node_bind(const struct hxraft_node *node)
{
	return node->bind;
}

uint64_t hxraft_new_id(const char *address)
{
	uint64_t id;

	do {
		randombytes_buf(&id, sizeof(id));
		id &= 0x7fffffffffffffffULL; /* keep it positive in SQL */
	} while (id <= 1);
	(void)address;
	return id;
}
