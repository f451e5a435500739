/*
 * HA leases: renewal, self-fence and watchdog on every node; the grant
 * table on the leader.
 *
 * DESIGN: the safety argument is fencing/fencing.h's: a node measures its
 * lease from when it sent a granted renewal, the leader from when it
 * accepted it, each on its own monotonic clock. Three things must hold
 * here for it to carry over to real processes:
 *
 * - The check runs on its own thread every 100 ms, independent of the
 *   network (renewals have their own thread, whose dial and receive
 *   timeouts may block it) and of the database (a partitioned node cannot
 *   read it). It therefore acts on a local cache of the cluster's HA VMs
 *   that every grant refreshes, and on a count of those running here that
 *   a third thread takes from libvirt once a second.
 * - The watchdog is fed from that same thread and only while the lease is
 *   valid (or nothing HA runs here), so an agent that hangs anywhere stops
 *   feeding it and the host is reset watchdog_ms later.
 * - A restarted hxd must not forget a lease its predecessor held: the last
 *   grant (its send time on the monotonic clock, with the boot id, since
 *   that clock is per boot) and the cache are kept in DATA_DIR/ha-lease.
 *   The restored lease expires exactly when the old one did.
 *
 * The leader grants only while its local dqlite node says it is the raft
 * leader (raft steps down by itself when it loses contact with a quorum:
 * check-quorum), and not right after this process stalled, when raft's
 * answer is stale (fencing_stall; the fence thread ticks it). Nodes the
 * HA loop found in fence state get no lease until their fence is
 * acknowledged; before the term's first load none is known, and a
 * renewal then only moves that node's fence later.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/watchdog.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/msg.h"
#include "agent/vm.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

#define CHECK_MS 100	    /* lease check and watchdog period */
#define FEED_MS 250	    /* at most one watchdog write per this */
#define SCAN_MS 1000	    /* libvirt count of running HA VMs */
#define RETRY_MS 250	    /* renewal retry after a failure */
#define WD_OPEN_WAIT_MS 5000 /* a FIFO's reader may start late */
#define LEADER_CHECK_MS 100  /* grants reuse a leadership check this long */

/* Raft's election timeout (cluster.c sets latency_ms on the dqlite node). */
static uint64_t election_ms(const struct agent_ha *h)
{
	return 15 * (uint64_t)(h->a->cfg.latency_ms > 0 ? h->a->cfg.latency_ms
							  : 20);
}

/* ---- the HA VM cache ---- */

/* Parses "VMID VMID ..." into a malloc'ed array. */
static int vmids_parse(const char *text, int64_t **ret, unsigned *ret_n)
{
	unsigned n = 0, cap = 0;
	int64_t *v = NULL;
	const char *p = text;

	while (p != NULL && *p != '\0') {
		char *end;
		long long id = strtoll(p, &end, 10);

		if (end == p)
			break;
		if (n == cap) {
			int64_t *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));
			if (nv == NULL) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		v[n++] = id;
		p = end;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* "VMID VMID ..." of @v (malloc'ed), or NULL on OOM. */
static char *vmids_text(const int64_t *v, unsigned n)
{
	char *t = malloc((size_t)n * 21 + 1);
	size_t len = 0;

	if (t == NULL)
		return NULL;
	t[0] = '\0';
	for (unsigned i = 0; i < n; i++)
		len += (size_t)sprintf(t + len, "%s%" PRId64, i ? " " : "",
				       v[i]);
	return t;
}

/* ---- persistence of the lease across hxd restarts ---- */

static void lease_save(struct agent_ha *h, uint64_t sent_ms,
		       const char *vms)
{
	char path[1100], tmp[1110], *text;
	size_t len;
	int fd;

	if (asprintf(&text, "boot %s\nsent %" PRIu64 "\nvms %s\n", h->boot_id,
		     sent_ms, vms) < 0)
		return;
	agent_path(h->a, path, sizeof(path), "ha-lease");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	len = strlen(text);
	/* No fsync: after a host crash the lease is moot (the boot id
	 * changes), and an hxd crash leaves the page cache intact. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (hx_write_all(fd, text, len) == 0 && close(fd) == 0)
			(void)rename(tmp, path);
		else
			(void)unlink(tmp);
	}
	free(text);
}

static void lease_restore(struct agent_ha *h)
{
	char path[1100], *text = NULL, boot[64] = "", *vms;
	uint64_t sent = 0;

	agent_path(h->a, path, sizeof(path), "ha-lease");
	if (hx_file_read(path, 1 << 20, &text, NULL) < 0)
		return;
	vms = strstr(text, "\nvms ");
	if (sscanf(text, "boot %63s\nsent %" SCNu64, boot, &sent) == 2 &&
	    vms != NULL) {
		if (vmids_parse(vms + 5, &h->vmids, &h->n_vmids) < 0)
			h->n_vmids = 0;
		/* The monotonic clock counts from boot: a lease from before
		 * a reboot means nothing, and its VMs are gone anyway. */
		if (strcmp(boot, h->boot_id) == 0 && sent > 0) {
			fencing_lease_granted(&h->lease, sent);
			hx_log(LOG_NOTICE,
			       "ha: restored the lease of the previous hxd "
			       "(sent %" PRIu64 " ms, %s)",
			       sent,
			       fencing_lease_valid(&h->fc, &h->lease,
						   hx_now_ms())
				       ? "still valid"
				       : "expired");
		}
	}
	free(text);
}

/* ---- watchdog ---- */

static int wd_open(const char *path, const struct fencing_config *fc)
{
	uint64_t deadline = hx_now_ms() + WD_OPEN_WAIT_MS;
	struct stat st;
	int fd, r;

	for (;;) {
		/* Non-blocking: a FIFO (the test supervisor) has no reader
		 * yet, and a real device must not stall hxd. */
		fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0)
			break;
		r = -errno;
		if (r != -ENXIO || hx_now_ms() > deadline)
			return r;
		usleep(100000);
	}
	if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode)) {
		int timeout = (int)((fc->watchdog_ms + 999) / 1000);
		/* Drivers that cannot set a timeout answer ENOTTY/EINVAL:
		 * their own timeout then applies. */
		if (ioctl(fd, WDIOC_SETTIMEOUT, &timeout) < 0)
			hx_log(LOG_INFO,
			       "watchdog '%s': cannot set a %d s timeout "
			       "(%s), using the device's",
			       path, timeout, strerror(errno));
	}
	return fd;
}

static void wd_feed(struct agent_ha *h, uint64_t now, uint64_t *fed_ms)
{
	static uint64_t err_log_ms;

	if (h->wd_fd < 0 || now - *fed_ms < FEED_MS)
		return;
	if (write(h->wd_fd, "1", 1) < 0 && errno != EAGAIN) {
		if (now - err_log_ms > 10000) {
			hx_log(LOG_WARNING, "watchdog: write failed: %s",
			       strerror(errno));
			err_log_ms = now;
		}
		return;
	}
	*fed_ms = now;
}

/* ---- the fence thread ---- */

static unsigned vmids_copy(struct agent_ha *h, int64_t **ret)
{
	unsigned n = h->n_vmids;

	*ret = n ? malloc(n * sizeof(**ret)) : NULL;
	if (*ret == NULL)
		return 0;
	memcpy(*ret, h->vmids, n * sizeof(**ret));
	return n;
}

static void self_fence(struct agent_ha *h, const struct fencing_self_decision *d,
		       bool again)
{
	int64_t *vmids;
	unsigned n;
	int r;

	pthread_mutex_lock(&h->lock);
	n = vmids_copy(h, &vmids);
	pthread_mutex_unlock(&h->lock);
	if (!again)
		hx_log(LOG_NOTICE,
		       "ha: self-fence: lease lost (age %" PRIu64
		       " ms, expired at %" PRIu64
		       " ms): killing this node's HA VMs now and stopping "
		       "the watchdog",
		       d->lease_age_ms, d->expires_ms);
	r = vmexec_fence(h->a->vmx, vmids, n);
	if (r < 0)
		hx_log(LOG_ERR,
		       "ha: self-fence: cannot reach libvirt (%s): relying on "
		       "the watchdog",
		       hx_strerror(r));
	else if (r > 0 || !again)
		hx_log(LOG_NOTICE, "ha: self-fence: %d HA VM(s) powered off", r);
	free(vmids);
}

/* Counts the HA VMs running here (libvirt), -1 if it cannot tell. */
static void scan(struct agent_ha *h)
{
	int64_t *vmids;
	unsigned n;
	int r;

	pthread_mutex_lock(&h->lock);
	n = vmids_copy(h, &vmids);
	pthread_mutex_unlock(&h->lock);
	r = n > 0 ? vmexec_count_active(h->a->vmx, vmids, n) : 0;
	free(vmids);
	pthread_mutex_lock(&h->lock);
	h->active = r;
	pthread_mutex_unlock(&h->lock);
}

/* Counts the running HA VMs once a second, on its own thread: libvirt may
 * be slow, and the lease check must never wait for it. */
static void *scan_thread(void *data)
{
	struct agent_ha *h = data;
	bool stop = false;

	while (!stop) {
		uint64_t t0 = hx_now_ms();

		scan(h);
		pthread_mutex_lock(&h->lock);
		h->scans++;
		while (!h->stopping && hx_now_ms() < t0 + SCAN_MS) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&h->cond, &h->lock, &ts);
		}
		stop = h->stopping;
		pthread_mutex_unlock(&h->lock);
	}
	return NULL;
}

static void *fence_thread(void *data)
{
	struct agent_ha *h = data;
	uint64_t fed_ms = 0, scans_seen = 0;

	for (;;) {
		struct fencing_self_decision d;
		uint64_t now = hx_now_ms();
		bool runs_ha, stop, scanned;

		pthread_mutex_lock(&h->lock);
		scanned = h->scans != scans_seen;
		scans_seen = h->scans;
		stop = h->stopping;
		/* unknown counts as running: it might */
		runs_ha = h->active != 0 && h->n_vmids > 0;
		/* Until libvirt was asked once (a restarted hxd whose restored
		 * lease ended), the decision waits for that answer rather than
		 * fencing, and resetting the host, on "unknown". */
		bool unsure = h->scans == 0 &&
			    !fencing_lease_valid(&h->fc, &h->lease, now);
		if (!unsure)
			fencing_lease_check(&h->fc, &h->lease, now, runs_ha,
					    &d);
		bool stalled = fencing_stall_tick(&h->stall, now,
						  election_ms(h));
		uint64_t stalled_ms = h->stall.stalled_ms;
		pthread_mutex_unlock(&h->lock);
		if (stalled)
			hx_log(LOG_NOTICE,
			       "ha: this process stalled for %" PRIu64
			       " ms: no lease grants before raft confirms "
			       "its leadership again",
			       stalled_ms);
		if (stop)
			break;
		if (unsure) {
			usleep(CHECK_MS * 1000);
			continue;
		}
		if (d.action == FENCING_SELF_FENCE)
			self_fence(h, &d, false);
		else if (d.action == FENCING_SELF_FENCED && runs_ha && scanned)
			self_fence(h, &d, true); /* keep everything down */
		if (d.action == FENCING_SELF_OK || d.action == FENCING_SELF_IDLE)
			wd_feed(h, hx_now_ms(), &fed_ms);
		usleep(CHECK_MS * 1000);
	}
	return NULL;
}

/* ---- the renew thread ---- */

static void renew_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* One renewal through the leader at @leader; the grant's VM list in
 * *ret_vms. */
static int renew_remote(struct agent_ha *h, const char *leader, int *fd,
			char *cur, char **ret_vms, char *why, size_t len)
{
	struct agent *a = h->a;
	struct msg_out m;
	struct msg_in in;
	int64_t ok = 0;
	void *buf;
	size_t n;
	int r;

	if (*fd >= 0 && strcmp(cur, leader) != 0)
		renew_close(fd);
	if (*fd < 0) {
		r = hxraft_peer_dial(a->peer, leader, HXRAFT_SVC_MSG,
				     (int)h->fc.renew_ms, fd, NULL);
		if (r < 0) {
			snprintf(why, len, "cannot reach the leader %s: %s",
				 leader, hx_strerror(r));
			*fd = -1;
			return r;
		}
		snprintf(cur, 80, "%s", leader);
	}
	msg_out_init(&m, 4);
	msg_put_str(&m, "t", "lease");
	msg_put_str(&m, "name", a->cfg.name);
	msg_put_int(&m, "id", (int64_t)a->ident.id);
	msg_put_str(&m, "mode", "active");
	r = hxraft_frame_send(*fd, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
	if (r == 0)
		/* A late grant is still good (it counts from when it was
		 * asked), so wait up to half a lease for it. */
		r = hxraft_frame_recv(*fd, (int)(h->fc.lease_ms / 2), &buf, &n);
	if (r < 0) {
		renew_close(fd);
		snprintf(why, len, "leader %s: %s", leader, hx_strerror(r));
		return r;
	}
	if ((r = msg_in_parse(&in, buf, n)) < 0) {
		renew_close(fd);
		snprintf(why, len, "leader %s sent a bad reply", leader);
		return r;
	}
	(void)msg_get_int(&in, "ok", &ok);
	if (!ok) {
		if (msg_get_str(&in, "why", why, len) < 0)
			snprintf(why, len, "refused");
		msg_in_close(&in);
		return -EPERM;
	}
	*ret_vms = malloc(1 << 20);
	if (*ret_vms == NULL) {
		msg_in_close(&in);
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	r = msg_get_str(&in, "vms", *ret_vms, 1 << 20);
	msg_in_close(&in);
	if (r == -ENOENT) { /* the leader does not know the list yet */
		free(*ret_vms);
		*ret_vms = NULL;
	} else if (r < 0) {
		free(*ret_vms);
		*ret_vms = NULL;
		snprintf(why, len, "leader %s sent a bad reply", leader);
		return HX_EPROTO;
	}
	return 0;
}

/* Records a grant; @vms NULL keeps the cache (the leader had no list). */
static void granted(struct agent_ha *h, uint64_t sent, const char *vms)
{
	int64_t *ids = NULL;
	unsigned n = 0;
	bool was_valid;
	char *text = NULL;

	if (vms != NULL && vmids_parse(vms, &ids, &n) < 0)
		return;
	pthread_mutex_lock(&h->lock);
	was_valid = fencing_lease_valid(&h->fc, &h->lease, sent);
	if (h->lease.self_fenced)
		hx_log(LOG_NOTICE, "ha: lease granted again after a self-fence");
	fencing_lease_granted(&h->lease, sent);
	if (vms != NULL) {
		free(h->vmids);
		h->vmids = ids;
		h->n_vmids = n;
	}
	n = h->n_vmids;
	h->fence_logged = false;
	if (vms == NULL)
		text = vmids_text(h->vmids, h->n_vmids);
	pthread_mutex_unlock(&h->lock);
	if (!was_valid)
		hx_log(LOG_NOTICE, "ha: lease granted (%u HA VM(s) in the "
				   "cluster)",
		       n);
	lease_save(h, sent, vms != NULL ? vms : text != NULL ? text : "");
	free(text);
}

static void *renew_thread(void *data)
{
	struct agent_ha *h = data;
	struct agent *a = h->a;
	char cur[80] = "", why[256], last_why[256] = "", known[80] = "";
	int fd = -1;

	for (;;) {
		uint64_t t0 = hx_now_ms(), wait;
		char leader[80], *vms = NULL;
		bool stop;
		int r;

		why[0] = '\0';
		bool self = agent_is_leader(a, leader, sizeof(leader));
		if (leader[0] != '\0' && strcmp(leader, known) != 0) {
			/* A new leader: statedb's connections may still wait
			 * on the old one (cut off, they would only time out). */
			if (known[0] != '\0')
				statedb_reconnect(a->db);
			snprintf(known, sizeof(known), "%s", leader);
		}
		if (self) {
			renew_close(&fd);
			r = agent_ha_grant(a, a->cfg.name, "active", &vms, why,
					   sizeof(why));
		} else if (leader[0] == '\0') {
			renew_close(&fd);
			snprintf(why, sizeof(why), "no leader known");
			r = HX_ENOQUORUM;
		} else {
			r = renew_remote(h, leader, &fd, cur, &vms, why,
					 sizeof(why));
		}
		if (r == 0) {
			granted(h, t0, vms);
			last_why[0] = '\0';
		} else if (strcmp(why, last_why) != 0) {
			hx_log(LOG_INFO, "ha: lease not renewed: %s; retrying",
			       why);
			snprintf(last_why, sizeof(last_why), "%s", why);
		}
		free(vms);
		wait = r == 0 ? h->fc.renew_ms : RETRY_MS;
		pthread_mutex_lock(&h->lock);
		while (!h->stopping && hx_now_ms() < t0 + wait) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&h->cond, &h->lock, &ts);
		}
		stop = h->stopping;
		pthread_mutex_unlock(&h->lock);
		if (stop)
			break;
	}
	renew_close(&fd);
	return NULL;
}

/* ---- the leader's grant table ---- */

static struct ha_peer *peer_find(struct agent_ha *h, const char *name,
				 bool create)
{
	for (unsigned i = 0; i < h->n_peers; i++)
		if (strcmp(h->peers[i].name, name) == 0)
			return &h->peers[i];
	if (!create)
		return NULL;
	if (h->n_peers == h->cap_peers) {
		unsigned cap = h->cap_peers ? h->cap_peers * 2 : 16;
		struct ha_peer *p = realloc(h->peers, cap * sizeof(*p));
		if (p == NULL)
			return NULL;
		h->peers = p;
		h->cap_peers = cap;
	}
	memset(&h->peers[h->n_peers], 0, sizeof(h->peers[0]));
	snprintf(h->peers[h->n_peers].name, sizeof(h->peers[0].name), "%s",
		 name);
	return &h->peers[h->n_peers++];
}

static enum sched_agent_mode mode_parse(const char *s)
{
	if (strcmp(s, "freeze") == 0)
		return SCHED_AGENT_FREEZE;
	if (strcmp(s, "stop") == 0)
		return SCHED_AGENT_STOP;
	if (strcmp(s, "maintenance") == 0)
		return SCHED_AGENT_MAINTENANCE;
	return SCHED_AGENT_ACTIVE;
}

static bool name_listed(const char *list, const char *name)
{
	char needle[72];

	if (list == NULL)
		return false;
	snprintf(needle, sizeof(needle), " %s ", name);
	return strstr(list, needle) != NULL;
}

/* Whether the local raft node leads, asked at most every LEADER_CHECK_MS
 * (each grant would otherwise open a connection to dqlite); the answer
 * may be that old, far below the election timeout a successor needs. */
static bool leader_now(struct agent_ha *h)
{
	uint64_t now = hx_now_ms();
	bool is;

	pthread_mutex_lock(&h->lock);
	if (now - h->leader_ms < LEADER_CHECK_MS &&
	    h->leader_ms >= h->stall.hold_until_ms) {
		is = h->is_leader;
		pthread_mutex_unlock(&h->lock);
		return is;
	}
	pthread_mutex_unlock(&h->lock);
	is = agent_is_leader_local(h->a, NULL, 0);
	pthread_mutex_lock(&h->lock);
	h->is_leader = is;
	h->leader_ms = hx_now_ms();
	pthread_mutex_unlock(&h->lock);
	return is;
}

int agent_ha_grant(struct agent *a, const char *name, const char *mode,
		   char **ret_vms, char *why, size_t len)
{
	struct agent_ha *h = a->ha;
	struct ha_peer *p;
	int r;

	if (h == NULL || !leader_now(h)) {
		snprintf(why, len, "node '%s' is not the leader", a->cfg.name);
		return HX_ENOTLEADER;
	}
	pthread_mutex_lock(&h->lock);
	uint64_t now = hx_now_ms();
	if (!fencing_stall_may_grant(&h->stall, now, h->leader_ms,
				     election_ms(h))) {
		pthread_mutex_unlock(&h->lock);
		snprintf(why, len,
			 "node '%s' stalled: no grants until raft confirms "
			 "its leadership",
			 a->cfg.name);
		return HX_ENOTLEADER;
	}
	/* Until the term's first load, the nodes in fence state are not
	 * known: they get a lease too. That only delays their fence (the
	 * lease counts from this renewal); refusing everyone instead would
	 * make every node lose its lease whenever a new leader is slow to
	 * read the state. */
	p = peer_find(h, name, true);
	if (p == NULL) {
		pthread_mutex_unlock(&h->lock);
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	r = fencing_peer_renew(&p->fp, now, name_listed(h->fence_names, name));
	if (r < 0) {
		pthread_mutex_unlock(&h->lock);
		snprintf(why, len,
			 "node '%s' is being fenced: no lease until the fence "
			 "is acknowledged",
			 name);
		return -EPERM;
	}
	p->mode = mode_parse(mode);
	/* No list before the first load: an empty one would make the node
	 * forget which of its VMs it must fence. */
	*ret_vms = h->ready ? strdup(h->vms_text != NULL ? h->vms_text : "")
			    : NULL;
	r = h->ready && *ret_vms == NULL ? -ENOMEM : 0;
	pthread_mutex_unlock(&h->lock);
	return r;
}

void agent_ha_serve_lease(struct agent *a, int fd, const struct msg_in *in)
{
	char name[64], mode[16] = "active", why[256] = "";
	char *vms = NULL;
	struct msg_out m;
	int r;

	if (msg_get_str(in, "name", name, sizeof(name)) < 0) {
		snprintf(why, sizeof(why), "malformed lease request");
		r = -EINVAL;
	} else {
		(void)msg_get_str(in, "mode", mode, sizeof(mode));
		r = agent_ha_grant(a, name, mode, &vms, why, sizeof(why));
	}
	msg_out_init(&m, r < 0 || vms != NULL ? 3 : 2);
	msg_put_str(&m, "t", "lease");
	msg_put_int(&m, "ok", r == 0);
	if (r == 0 && vms != NULL)
		msg_put_str(&m, "vms", vms);
	else if (r < 0)
		msg_put_str(&m, "why", why);
	(void)hxraft_frame_send(fd, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
	free(vms);
}

void ha_leader_reset(struct agent *a, uint64_t elected_ms)
{
	struct agent_ha *h = a->ha;

	pthread_mutex_lock(&h->lock);
	h->n_peers = 0; /* a new term starts without renewal records */
	h->elected_ms = elected_ms;
	h->ready = false;
	h->leader_ms = 0;
	pthread_mutex_unlock(&h->lock);
}

void ha_leader_lost(struct agent *a)
{
	struct agent_ha *h = a->ha;

	pthread_mutex_lock(&h->lock);
	h->ready = false;
	h->n_peers = 0;
	h->leader_ms = 0;
	pthread_mutex_unlock(&h->lock);
}

void ha_leader_update(struct agent *a, const struct sched_state *st,
		      const struct statedb_ha_snapshot *snap)
{
	struct agent_ha *h = a->ha;
	size_t cap = 2 + (size_t)st->n_nodes * SCHED_NAME_MAX;
	char *fence = malloc(cap), *vms = malloc(16 + (size_t)st->n_svcs * 12);
	size_t len = 0, vlen = 0;

	if (fence == NULL || vms == NULL) {
		free(fence);
		free(vms);
		return;
	}
	fence[len++] = ' ';
	fence[len] = '\0';
	for (uint32_t n = 0; n < st->n_nodes; n++)
		if (st->nodes[n].st.state == SCHED_NODE_FENCE)
			len += (size_t)sprintf(fence + len, "%s ",
					       st->nodes[n].name);
	vms[0] = '\0';
	for (uint32_t i = 0; i < st->n_svcs; i++)
		if (snap->vms[i].ha)
			vlen += (size_t)sprintf(vms + vlen, "%s%" PRId64,
						vlen ? " " : "",
						snap->vms[i].vmid);
	pthread_mutex_lock(&h->lock);
	free(h->fence_names);
	free(h->vms_text);
	h->fence_names = fence;
	h->vms_text = vms;
	h->ready = true;
	pthread_mutex_unlock(&h->lock);
}

void ha_leader_observe(struct agent *a, const char *name, uint64_t now_ms,
		       struct sched_node_obs *ret,
		       struct fencing_decision *ret_dec)
{
	struct agent_ha *h = a->ha;
	struct fencing_peer none = {0};
	struct ha_peer *p;

	pthread_mutex_lock(&h->lock);
	p = peer_find(h, name, false);
	fencing_peer_check(&h->fc, p != NULL ? &p->fp : &none, h->elected_ms,
			   now_ms, ret_dec);
	memset(ret, 0, sizeof(*ret));
	ret->online = ret_dec->verdict == FENCING_ALIVE;
	ret->renewed = p != NULL && p->fp.renewed;
	ret->expired = ret_dec->verdict != FENCING_ALIVE;
	ret->fence_done = ret_dec->verdict == FENCING_SAFE ||
			  ret_dec->verdict == FENCING_CONFIRMED;
	ret->fence_by_agent = ret_dec->verdict == FENCING_CONFIRMED;
	ret->lease_age_ms = ret_dec->lease_age_ms;
	ret->mode = p != NULL ? p->mode : SCHED_AGENT_NONE;
	pthread_mutex_unlock(&h->lock);
}

uint64_t ha_leader_lease_age(struct agent *a, const char *name)
{
	struct agent_ha *h = a->ha;
	struct ha_peer *p;
	uint64_t age = UINT64_MAX, now = hx_now_ms();

	if (h == NULL)
		return age;
	pthread_mutex_lock(&h->lock);
	p = peer_find(h, name, false);
	if (p != NULL && p->fp.renewed)
		age = now > p->fp.renew_ms ? now - p->fp.renew_ms : 0;
	pthread_mutex_unlock(&h->lock);
	return age;
}

/* ---- lifecycle ---- */

bool agent_ha_lease_valid(struct agent *a)
{
	struct agent_ha *h = a->ha;
	bool valid;

	if (h == NULL)
		return false;
	pthread_mutex_lock(&h->lock);
	valid = fencing_lease_valid(&h->fc, &h->lease, hx_now_ms());
	pthread_mutex_unlock(&h->lock);
	return valid;
}

const struct fencing_config *agent_ha_fencing(struct agent *a)
{
	return &a->ha->fc;
}

int agent_ha_start(struct agent *a, struct hx_err *err)
{
	struct agent_ha *h;
	char *boot = NULL;
	int r;

	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	h->a = a;
	h->wd_fd = -1;
	h->active = -1;
	fencing_config_default(&h->fc);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (hx_file_read("/proc/sys/kernel/random/boot_id", 64, &boot, NULL) ==
	    0) {
		boot[strcspn(boot, "\n")] = '\0';
		snprintf(h->boot_id, sizeof(h->boot_id), "%s", boot);
		free(boot);
	}
	lease_restore(h);
	if (a->cfg.watchdog[0] != '\0') {
		h->wd_fd = wd_open(a->cfg.watchdog, &h->fc);
		if (h->wd_fd < 0)
			return hx_err_set(err, h->wd_fd,
					  "cannot open the watchdog '%s': %s",
					  a->cfg.watchdog,
					  hx_strerror(h->wd_fd));
		hx_log(LOG_NOTICE,
		       "ha: watchdog '%s' armed (fed while the lease is "
		       "valid or no HA VM runs here)",
		       a->cfg.watchdog);
	} else {
		hx_log(LOG_INFO, "ha: no watchdog (--watchdog): a hung hxd "
				 "cannot self-fence its HA VMs");
	}
	(void)fencing_stall_tick(&h->stall, hx_now_ms(), election_ms(h));
	a->ha = h;
	if ((r = pthread_create(&h->scan_th, NULL, scan_thread, h)) != 0 ||
	    (r = pthread_create(&h->fence_th, NULL, fence_thread, h)) != 0 ||
	    (r = pthread_create(&h->renew_th, NULL, renew_thread, h)) != 0)
		return hx_err_set(err, -r, "cannot start the HA lease threads");
	h->threads = true;
	ha_loop_start(a);
	return 0;
}

void agent_ha_stop(struct agent *a)
{
	struct agent_ha *h = a->ha;
	struct fencing_self_decision d = {0};

	if (h == NULL)
		return;
	ha_loop_stop(a);
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	/* Only the fence thread must be gone before the magic close (it
	 * feeds the watchdog); the others may be blocked on the network or
	 * libvirt and end with the process. */
	if (h->threads) {
		pthread_detach(h->renew_th);
		pthread_detach(h->scan_th);
		pthread_join(h->fence_th, NULL);
	}
	/* Nobody renews any more: what runs here would outlive its lease
	 * while the leader restarts it elsewhere. */
	scan(h);
	pthread_mutex_lock(&h->lock);
	fencing_lease_release(&h->lease);
	bool runs = h->active != 0 && h->n_vmids > 0;
	pthread_mutex_unlock(&h->lock);
	if (runs) {
		hx_log(LOG_NOTICE, "ha: stopping: powering off this node's HA "
				   "VMs (the leader restarts them)");
		self_fence(h, &d, true);
	}
	if (h->wd_fd >= 0) {
		/* magic close: a clean stop disarms the watchdog */
		if (write(h->wd_fd, "V", 1) < 0)
			hx_log(LOG_WARNING, "watchdog: cannot disarm: %s",
			       strerror(errno));
		close(h->wd_fd);
		h->wd_fd = -1;
	}
}
