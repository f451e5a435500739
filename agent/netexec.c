/*
 * The node's network executor: bridges, VXLAN, taps and firewall from
 * statedb.
 *
 * DESIGN: one thread owns everything this node applies to its kernel. It
 * wakes every second (or when kicked after a local API write), asks
 * statedb for the network fingerprint and reconciles when it changed or
 * when the last reconcile failed; a full reconcile also runs every
 * NETEXEC_RESYNC_MS to repair drift (a bridge deleted by hand, a tap that
 * libvirt re-created). Each reconcile reads a consistent snapshot of the
 * inputs, renders the desired state with net/ (pure) and applies only
 * what differs. Crash-only: the kernel keeps the last applied state when
 * hxd dies, and a restarted hxd starts with a full reconcile.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/net.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

#define NETEXEC_POLL_MS 1000
#define NETEXEC_RESYNC_MS 30000

struct netexec {
	struct agent *a;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool kicked;
	bool stopping;
	struct netnode *node;
	/* thread only */
	char fingerprint[33];
	bool dirty;
	uint64_t last_full_ms;
	char last_error[512]; /* logged at most once a minute while it lasts */
	uint64_t last_error_ms;
};

#define NETEXEC_LOG_EVERY_MS 60000

/* One reconcile; returns 0 when everything was applied. A failure is
 * retried every second but logged when it changes, and once a minute. */
static int reconcile(struct netexec *x, bool force)
{
	struct hx_err err = {0};
	uint64_t now = hx_now_ms();
	int r;

	r = netnode_reconcile(x->node, x->a, force, &err);
	if (r < 0 && (strcmp(err.msg, x->last_error) != 0 ||
		      now - x->last_error_ms >= NETEXEC_LOG_EVERY_MS)) {
		hx_log(LOG_WARNING, "network: %s; retrying every second",
		       err.msg);
		snprintf(x->last_error, sizeof(x->last_error), "%s", err.msg);
		x->last_error_ms = now;
	} else if (r == 0 && x->last_error[0] != '\0') {
		hx_log(LOG_NOTICE, "network: reconciled again");
		x->last_error[0] = '\0';
	}
	return r;
}

static void *netexec_run(void *arg)
{
	struct netexec *x = arg;
	struct timespec ts;

	pthread_mutex_lock(&x->lock);
	while (!x->stopping) {
		char fp[33];
		struct hx_err err = {0};
		bool full;

		if (!x->kicked) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += NETEXEC_POLL_MS / 1000;
			(void)pthread_cond_timedwait(&x->wake, &x->lock, &ts);
		}
		if (x->stopping)
			break;
		x->kicked = false;
		pthread_mutex_unlock(&x->lock);
		if (statedb_net_fingerprint(x->a->db, fp, &err) < 0) {
			hx_log(LOG_DEBUG, "network: fingerprint: %s", err.msg);
			pthread_mutex_lock(&x->lock);
			continue;
		}
		full = hx_now_ms() - x->last_full_ms >= NETEXEC_RESYNC_MS;
		if (x->dirty || full || strcmp(fp, x->fingerprint) != 0) {
			if (full)
				x->last_full_ms = hx_now_ms();
			x->dirty = reconcile(x, full) < 0;
			memcpy(x->fingerprint, fp, sizeof(fp));
		}
		pthread_mutex_lock(&x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

int netexec_start(struct agent *a, struct netexec **ret, struct hx_err *err)
{
	struct netexec *x = calloc(1, sizeof(*x));
	pthread_condattr_t ca;
	int r;

	if (x == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	x->a = a;
	x->dirty = true;
	x->node = netnode_new();
	if (x->node == NULL) {
		free(x);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&x->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->wake, &ca);
	pthread_condattr_destroy(&ca);
	r = -pthread_create(&x->thread, NULL, netexec_run, x);
	if (r < 0) {
		pthread_cond_destroy(&x->wake);
		pthread_mutex_destroy(&x->lock);
		netnode_free(x->node);
		free(x);
		return hx_err_set(err, r, "network executor thread: %s",
				  hx_strerror(r));
	}
	*ret = x;
	return 0;
}

void netexec_stop(struct netexec *x)
{
	if (x == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	x->stopping = true;
	pthread_cond_signal(&x->wake);
	pthread_mutex_unlock(&x->lock);
	pthread_join(x->thread, NULL);
	pthread_cond_destroy(&x->wake);
	pthread_mutex_destroy(&x->lock);
	netnode_free(x->node);
	free(x);
}

void netexec_kick(struct agent *a)
{
	struct netexec *x = a->netx;

	if (x == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	x->kicked = true;
	pthread_cond_signal(&x->wake);
	pthread_mutex_unlock(&x->lock);
}
