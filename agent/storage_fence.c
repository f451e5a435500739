/*
 * Fencing through storage: on the HA leader, a node whose lease expired is
 * cut off from every Ceph cluster behind the RBD pools it may use (its
 * address goes on the OSD blocklist), so that whatever still runs there
 * can no longer write to an RBD image, even if the node comes back.
 *
 * DESIGN: the lease protocol alone restarts a dead node's HA VMs only at
 * lease + margin after its last renewal, the margin covering a hung agent
 * that has not killed its VMs yet. A confirmed blocklist makes that wait
 * pointless for a VM whose disks are all RBD images: a copy left running
 * there cannot touch them any more. So once the blocklist is confirmed on
 * every RBD pool of the node and every HA VM of the node has only RBD
 * disks, the node counts as fenced (as if a fence agent had confirmed it)
 * and its VMs restart at once; otherwise the lease rule applies unchanged
 * (the blocklist still protects the RBD disks). The monitor calls block
 * (up to ~10 s each), so they run in a thread of their own per node; the
 * HA step only reads the outcome (storage_fence_observe()). The blocklist
 * entry expires after a day; a node brought back removes it with `ceph
 * osd blocklist rm ADDR:0/0` (see docs/storage.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/storage.h"
#include "agent/vm.h"
#include "fencing/fencing.h"
#include "lib/lib.h"
#include "scheduler/scheduler.h"
#include "statedb/statedb.h"

#define FENCES_MAX 64

enum fence_state { FENCE_RUNNING, FENCE_DONE, FENCE_FAILED };

struct fence {
	char node[64];
	uint64_t since_ms; /* the lease (renewal or election) it fences */
	enum fence_state state;
	bool rbd_only;	/* every HA VM of the node has only RBD disks */
	unsigned pools; /* RBD pools blocklisted */
	uint64_t done_ms;
	bool logged;
	char addr[64];
	char msg[256];
};

static pthread_mutex_t fence_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fence fences[FENCES_MAX];
static unsigned nfences;

struct fence_job {
	struct agent *a;
	char node[64];
	uint64_t since_ms;
};

/* Whether every disk of VM config @text is a volume of an RBD pool in
 * @pools (and there is at least one disk). */
static bool vm_rbd_only(const char *text, const struct statedb_pool *pools,
			unsigned npools)
{
	struct vm_config *c = calloc(1, sizeof(*c));
	bool all = c != NULL && vmconf_load(text, c, NULL) == 0 &&
		   c->ndisks > 0;

	for (unsigned i = 0; all && i < c->ndisks; i++) {
		const char *v = c->disks[i].volume;
		bool rbd = false;

		for (unsigned k = 0; k < npools && !rbd; k++) {
			size_t n = strlen(pools[k].name);
			rbd = strcmp(pools[k].type, "rbd") == 0 &&
			      strncmp(v, pools[k].name, n) == 0 && v[n] == ':';
		}
		all = rbd;
	}
	free(c);
	return all;
}

/* Blocklists @j->node on every RBD pool it may use; fills @f. */
static int fence_run(struct fence_job *j, struct fence *f, struct hx_err *err)
{
	struct statedb_pool *pools = NULL;
	struct statedb_vm *vms = NULL;
	struct statedb_node node;
	unsigned npools = 0, nvms = 0;
	bool rbd_only = true;
	int r;

	if ((r = statedb_node_get(j->a->db, j->node, &node, err)) < 0 ||
	    (r = statedb_pool_list(j->a->db, &pools, &npools, err)) < 0)
		return r;
	if ((r = statedb_vm_list(j->a->db, j->node, &vms, &nvms, err)) < 0)
		goto out;
	snprintf(f->addr, sizeof(f->addr), "%s", node.address);
	for (unsigned i = 0; i < nvms; i++)
		if (vms[i].ha && !vm_rbd_only(vms[i].config, pools, npools))
			rbd_only = false;
	f->pools = 0;
	for (unsigned k = 0; k < npools; k++) {
		if (strcmp(pools[k].type, "rbd") != 0 ||
		    !statedb_pool_on_node(&pools[k], j->node))
			continue;
		if ((r = storage_rbd_blocklist(&pools[k], node.address, err)) <
		    0) {
			hx_err_prefix(err, "pool '%s'", pools[k].name);
			goto out;
		}
		f->pools++;
	}
	f->rbd_only = rbd_only && nvms > 0;
	r = 0;
out:
	statedb_vm_list_free(vms, nvms);
	free(pools);
	return r;
}

static void *fence_thread(void *data)
{
	struct fence_job *j = data;
	struct fence f = {0};
	struct hx_err err = {0};
	uint64_t t0 = hx_now_ms();
	int r = fence_run(j, &f, &err);

	hx_log(LOG_INFO, "ha: storage fence of node '%s' took %" PRIu64 " ms",
	       j->node, hx_now_ms() - t0);

	pthread_mutex_lock(&fence_lock);
	for (unsigned i = 0; i < nfences; i++) {
		struct fence *g = &fences[i];

		if (strcmp(g->node, j->node) != 0 || g->since_ms != j->since_ms)
			continue;
		g->state = r < 0 ? FENCE_FAILED : FENCE_DONE;
		g->rbd_only = f.rbd_only;
		g->pools = f.pools;
		g->done_ms = hx_now_ms();
		snprintf(g->addr, sizeof(g->addr), "%s", f.addr);
		snprintf(g->msg, sizeof(g->msg), "%.250s", err.msg);
	}
	pthread_mutex_unlock(&fence_lock);
	if (r < 0)
		hx_log(LOG_WARNING,
		       "ha: storage fence of node '%s' failed: %s; its VMs "
		       "wait for the lease",
		       j->node, err.msg);
	free(j);
	return NULL;
}

/* The entry of @node, created for lease @since_ms (a new lease expiry
 * replaces an older entry). NULL if the table is full. Locked. */
static struct fence *fence_entry(const char *node, uint64_t since_ms,
				 bool *ret_new)
{
	struct fence *f = NULL;

	*ret_new = false;
	for (unsigned i = 0; i < nfences && f == NULL; i++)
		if (strcmp(fences[i].node, node) == 0)
			f = &fences[i];
	if (f != NULL && f->since_ms == since_ms)
		return f;
	if (f == NULL && nfences == FENCES_MAX)
		return NULL;
	if (f == NULL)
		f = &fences[nfences++];
	if (f->state == FENCE_RUNNING && f->node[0] != '\0')
		return f; /* the older one is still busy: next step */
	*f = (struct fence){.since_ms = since_ms, .state = FENCE_RUNNING};
	snprintf(f->node, sizeof(f->node), "%s", node);
	*ret_new = true;
	return f;
}

void storage_fence_observe(struct agent *a, const char *node,
			   const struct fencing_decision *dec,
			   struct sched_node_obs *obs)
{
	struct fence_job *j;
	struct fence *f;
	pthread_t th;
	bool fresh;

	if (dec->verdict != FENCING_EXPIRED && dec->verdict != FENCING_SAFE)
		return;
	pthread_mutex_lock(&fence_lock);
	f = fence_entry(node, dec->since_ms, &fresh);
	if (f == NULL) {
		pthread_mutex_unlock(&fence_lock);
		return;
	}
	if (fresh) {
		if ((j = calloc(1, sizeof(*j))) != NULL) {
			j->a = a;
			j->since_ms = dec->since_ms;
			snprintf(j->node, sizeof(j->node), "%s", node);
		}
		if (j == NULL ||
		    pthread_create(&th, NULL, fence_thread, j) != 0) {
			free(j);
			f->state = FENCE_FAILED;
		} else {
			pthread_detach(th);
		}
	}
	if (f->state == FENCE_DONE && f->pools > 0 && !f->logged) {
		f->logged = true;
		hx_log(LOG_NOTICE,
		       "ha: node '%s' fenced through storage: Ceph clients at "
		       "%s blocklisted on %u RBD pool(s) at lease age %" PRIu64
		       " ms%s",
		       node, f->addr, f->pools,
		       f->done_ms > dec->since_ms ? f->done_ms - dec->since_ms
						  : 0,
		       f->rbd_only ? "; its HA VMs (all on RBD) may restart "
				     "now"
				   : "; its HA VMs have other disks: they wait "
				     "for the lease");
	}
	if (f->state == FENCE_DONE && f->pools > 0 && f->rbd_only &&
	    dec->verdict == FENCING_EXPIRED) {
		obs->fence_done = true;
		obs->fence_by_agent = true;
	}
	pthread_mutex_unlock(&fence_lock);
}
