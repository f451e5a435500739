/*
 * hxd: the Horcrux node agent.
 *
 * DESIGN: one libuv loop owns the timers; blocking work (database, peer
 * I/O) runs on the libuv thread pool and reports back. The HTTP API runs
 * in libmicrohttpd's threads, the peer channel in its own, and dqlite in its
 * own; they meet only through statedb (thread-safe) and the small
 * mutex-guarded liveness table. hxd is crash-only: kill -9 at any instant
 * loses nothing that was acknowledged, and a restart rejoins by itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

#define TICK_MS 250
/* Every 5 s, hand free heap pages back to the kernel. A burst of requests
 * (a thread each) leaves the heap holding freed pages: 4 MB of an idle
 * leader's 25 MB RSS after make bench's load. A trim takes about 1 ms
 * after such a burst, microseconds otherwise; it runs on the pool. */
#define TRIM_TICKS 20

int agent_path(const struct agent *a, char *buf, size_t len, const char *name)
{
	if (snprintf(buf, len, "%s/%s", a->cfg.data_dir, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * One hxd per data dir: a second one would run a second dqlite node on the
 * same files and take over the control socket. DATA_DIR/hxd.pid holds the
 * pid under an flock that lasts as long as the process, however it ends,
 * so a stale file after kill -9 never blocks a restart. The descriptor is
 * deliberately never closed.
 */
static int data_dir_lock(const struct agent *a)
{
	char path[1100], pid[32], other[32] = "";
	ssize_t n;
	int fd, r;

	agent_path(a, path, sizeof(path), "hxd.pid");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		hx_log_errno(LOG_ERR, r, "cannot open '%s'", path);
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		n = pread(fd, other, sizeof(other) - 1, 0);
		other[n > 0 ? n : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		if (r == -EWOULDBLOCK)
			hx_log(LOG_ERR,
			       "another hxd (pid %s) is running on data dir "
			       "'%s'",
			       other[0] != '\0' ? other : "unknown",
			       a->cfg.data_dir);
		else
			hx_log_errno(LOG_ERR, r, "cannot lock '%s'", path);
		close(fd);
		return r;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 ||
	    pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid))
		hx_log(LOG_WARNING, "cannot write '%s', ignoring", path);
	return 0;
}

static void tick_work(uv_work_t *w)
{
	struct agent *a = w->data;
	bool running;

	pthread_mutex_lock(&a->lock);
	running = a->running;
	pthread_mutex_unlock(&a->lock);
	if (!running)
		return;
	agent_heartbeat(a);
	agent_leader_tick(a);
	if (a->tick_count % TRIM_TICKS == 0)
		(void)malloc_trim(0);
}

static void tick_done(uv_work_t *w, int status)
{
	struct agent *a = w->data;

	(void)status;
	a->tick_busy = false;
}

static void tick_cb(uv_timer_t *t)
{
	struct agent *a = t->data;

	if (a->tick_busy)
		return; /* the previous round is still blocked: skip */
	a->tick_busy = true;
	a->tick_count++;
	a->tick_work.data = a;
	if (uv_queue_work(a->loop, &a->tick_work, tick_work, tick_done) != 0)
		a->tick_busy = false;
}

static void wakeup_cb(uv_async_t *h)
{
	struct agent *a = h->data;

	if (a->stopping)
		uv_stop(a->loop);
}

void agent_request_exit(struct agent *a, int code)
{
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	a->exit_code = code;
	pthread_mutex_unlock(&a->lock);
	uv_async_send(&a->wakeup);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;

	hx_log(LOG_NOTICE, "signal %d: stopping", signum);
	a->stopping = true;
	uv_stop(a->loop);
}

int main(int argc, char **argv)
{
	static struct agent agent;
	struct agent *a = &agent;
	uv_signal_t sigterm, sigint;
	struct hx_err err = {0};
	char path[1100];
	int r;

	r = agent_config_parse(argc, argv, &a->cfg);
	if (r != 0)
		return r > 0 ? 0 : 2;
	if (a->cfg.check_only) {
		printf("configuration ok\n");
		return 0;
	}
	hx_log_init("hxd", a->cfg.verbose >= 2	 ? LOG_DEBUG
			   : a->cfg.verbose == 1 ? LOG_INFO
						 : LOG_NOTICE);
	/* dqlite's raft connections and our peer pumps write to sockets
	 * whose peer may be gone: without this the process dies. */
	signal(SIGPIPE, SIG_IGN);
	/* One malloc arena: glibc gives each busy thread (HTTP connections,
	 * peer pumps, the libuv pool) its own, and each kept its high-water
	 * mark: an idle hxd grew past 40 MB RSS after ten thousand writes,
	 * against about 20 MB so (make bench; no slower in it). */
	(void)mallopt(M_ARENA_MAX, 1);
	/* dqlite runs its connect calls on the shared libuv pool too. */
	setenv("UV_THREADPOOL_SIZE", "16", 0);
	if (mkdir(a->cfg.data_dir, 0700) < 0 && errno != EEXIST) {
		hx_log(LOG_ERR, "cannot create data dir '%s': %s",
		       a->cfg.data_dir, strerror(errno));
		return 1;
	}
	if (data_dir_lock(a) < 0)
		return 1;
	snprintf(a->self_peer, sizeof(a->self_peer),
		 strchr(a->cfg.address, ':') ? "[%s]:%u" : "%s:%u",
		 a->cfg.address, a->cfg.peer_port);
	pthread_mutex_init(&a->lock, NULL);
	a->hb_fd = -1;
	a->heartbeat_ms = 1000;
	a->unknown_after_ms = 3000;
	a->offline_after_ms = 10000;
	a->live = liveness_new();
	a->loop = uv_default_loop();
	uv_async_init(a->loop, &a->wakeup, wakeup_cb);
	a->wakeup.data = a;
	if (agent_identity_load(a, &err) < 0) {
		hx_log(LOG_ERR, "%s", err.msg);
		return 1;
	}
	if (a->ident.initialized && agent_cluster_start(a, &err) < 0) {
		hx_log(LOG_ERR, "cannot start cluster services: %s", err.msg);
		return 1;
	}
	if (agent_api_start(a, false, &err) < 0) {
		hx_log(LOG_ERR, "%s", err.msg);
		return 1;
	}
	if (a->ident.initialized && agent_api_start(a, true, &err) < 0) {
		hx_log(LOG_ERR, "%s", err.msg);
		return 1;
	}
	agent_path(a, path, sizeof(path), "hxd.sock");
	hx_log(LOG_NOTICE, "hxd node='%s' address=%s api=%u peer=%u socket=%s %s",
	       a->cfg.name, a->cfg.address, a->cfg.api_port, a->cfg.peer_port,
	       path,
	       a->ident.initialized ? "(member)"
				    : "(not in a cluster: init or join)");
	uv_timer_init(a->loop, &a->tick);
	a->tick.data = a;
	uv_timer_start(&a->tick, tick_cb, TICK_MS, TICK_MS);
	uv_signal_init(a->loop, &sigterm);
	uv_signal_init(a->loop, &sigint);
	sigterm.data = sigint.data = a;
	uv_signal_start(&sigterm, signal_cb, SIGTERM);
	uv_signal_start(&sigint, signal_cb, SIGINT);
	uv_run(a->loop, UV_RUN_DEFAULT);
	/* Crash-only: nothing to flush. Stop the API so no request sees a
	 * half-torn agent, then leave; dqlite's data is durable. */
	agent_api_stop(a);
	agent_ha_stop(a);
	hx_log(LOG_NOTICE, "stopped");
	fflush(stderr);
	_exit(a->exit_code);
}
