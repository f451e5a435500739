/*
 * The VM executor: this node's VMs, applied to its libvirtd.
 *
 * DESIGN: statedb holds what should be (a VM's node, configuration and
 * desired state); libvirt holds what is. A reconciler thread compares the
 * two every second, and at once when libvirt reports a lifecycle event:
 * it starts VMs that should run (after a crash, per the restart policy,
 * with backoff), powers off VMs that should not, reports each VM's
 * observed state back, and re-adopts running domains after hxd restarts
 * (nothing is restarted: a running domain is simply observed again).
 * User actions run as tasks on their own threads; a VM with an action in
 * flight is left alone by the reconciler. hxd dying at any instruction is
 * safe: QEMU processes belong to libvirtd, and the next reconcile picks up
 * from the replicated state. A VM locked "migrate" with no job here (hxd
 * died mid-migration) is settled by vmexec_migrate_recover(): the rule is
 * in vmmigrate.c. A domain of a VM that another node owns and reports
 * running is a second copy and is powered off.
 *
 * Threads: the reconciler, libvirt's event loop, and one per action. The
 * libvirt connection is shared (libvirt connections are thread-safe);
 * everything else here is guarded by x->lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/storage.h"
#include "agent/vm.h"
#include "agent/vmexec.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

extern char **environ;

#define RESTART_MAX 3		/* crash restarts ... */
#define RESTART_WINDOW_MS 60000 /* ... within this window, then give up */

/* ---- runtime records ---- */

void vmexec_wait(struct vmexec *x, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&x->cond, &x->lock, &ts);
}

/* Records are allocated one by one and never move, so a pointer taken
 * under the lock stays valid after it is released. */
struct vm_rt *vmexec_rt(struct vmexec *x, int64_t vmid)
{
	struct vm_rt *rt;

	for (unsigned i = 0; i < x->nrt; i++)
		if (x->rt[i]->vmid == vmid)
			return x->rt[i];
	if (x->nrt == x->cap) {
		unsigned cap = x->cap ? x->cap * 2 : 16;
		struct vm_rt **v = realloc(x->rt, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		x->rt = v;
		x->cap = cap;
	}
	rt = calloc(1, sizeof(*rt));
	if (rt == NULL)
		return NULL;
	rt->vmid = vmid;
	x->rt[x->nrt++] = rt;
	return rt;
}

/* ---- libvirt connection ---- */

static void silence(void *data, virErrorPtr e)
{
	(void)data;
	(void)e; /* errors are read where they happen */
}

const char *vmexec_virt_error(void)
{
	const char *m = virGetLastErrorMessage();

	return m != NULL ? m : "unknown libvirt error";
}

static int lifecycle_cb(virConnectPtr c, virDomainPtr d, int event,
			int detail, void *data)
{
	(void)c;
	(void)d;
	(void)event;
	(void)detail;
	vmexec_kick(data);
	return 0;
}

static void close_cb(virConnectPtr c, int reason, void *data)
{
	struct vmexec *x = data;

	(void)reason;
	pthread_mutex_lock(&x->lock);
	if (x->conn == c)
		x->conn_dead = true;
	pthread_mutex_unlock(&x->lock);
	vmexec_kick(x);
}

/* A referenced connection (release with virConnectClose), or NULL. */
virConnectPtr vmexec_conn(struct vmexec *x, struct hx_err *err)
{
	virConnectPtr c;

	pthread_mutex_lock(&x->lock);
	if (x->conn != NULL && (x->conn_dead || virConnectIsAlive(x->conn) != 1)) {
		virConnectDomainEventDeregisterAny(x->conn, x->cb_id);
		virConnectUnregisterCloseCallback(x->conn, close_cb);
		virConnectClose(x->conn);
		x->conn = NULL;
	}
	if (x->conn == NULL) {
		x->conn = virConnectOpen(x->cfg.uri);
		x->conn_dead = false;
		if (x->conn == NULL) {
			hx_err_set(err, -ECONNREFUSED,
				   "cannot connect to libvirt at '%s': %s",
				   x->cfg.uri, vmexec_virt_error());
			pthread_mutex_unlock(&x->lock);
			return NULL;
		}
		(void)virConnectSetKeepAlive(x->conn, 5, 3);
		x->cb_id = virConnectDomainEventRegisterAny(
			x->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
			VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), x, NULL);
		(void)virConnectRegisterCloseCallback(x->conn, close_cb, x, NULL);
		hx_log(LOG_INFO, "connected to libvirt at '%s'", x->cfg.uri);
	}
	c = x->conn;
	virConnectRef(c);
	pthread_mutex_unlock(&x->lock);
	return c;
}

static void *event_thread(void *data)
{
	struct vmexec *x = data;

	while (!x->stopping)
		if (virEventRunDefaultImpl() < 0)
			usleep(100000);
	return NULL;
}

static void tick_cb(int timer, void *data)
{
	(void)timer;
	(void)data; /* wakes the event loop so it sees x->stopping */
}

/* ---- observation ---- */

const char *vmexec_state_name(int state, int reason)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
		return "running";
	case VIR_DOMAIN_PAUSED:
	case VIR_DOMAIN_PMSUSPENDED:
		return "paused";
	case VIR_DOMAIN_SHUTDOWN:
		return "shutting-down";
	case VIR_DOMAIN_CRASHED:
		return "crashed";
	case VIR_DOMAIN_SHUTOFF:
		return reason == VIR_DOMAIN_SHUTOFF_CRASHED ||
				       reason == VIR_DOMAIN_SHUTOFF_FAILED
			       ? "crashed"
			       : "stopped";
	default:
		return "unknown";
	}
}

/* The domain of @vmid (release with virDomainFree), or NULL. */
virDomainPtr vmexec_domain(virConnectPtr c, int64_t vmid)
{
	char name[32];
	virErrorPtr e;
	virDomainPtr d;

	vmxml_domain_name(vmid, name, sizeof(name));
	d = virDomainLookupByName(c, name);
	if (d == NULL && (e = virGetLastError()) != NULL &&
	    e->code == VIR_ERR_NO_DOMAIN)
		virResetLastError();
	return d;
}

/* ---- small helpers used by actions ---- */

int vmexec_run(const char *const argv[], int timeout_ms, char *out,
	       size_t outlen)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2], status = 0, r;
	uint64_t deadline = hx_now_ms() + (uint64_t)timeout_ms;
	size_t got = 0;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
			 environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		snprintf(out, outlen, "cannot run %s: %s", argv[0],
			 strerror(r));
		return -r;
	}
	(void)fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	out[0] = '\0';
	for (;;) {
		char buf[512];
		ssize_t n = read(pipefd[0], buf, sizeof(buf));

		if (n > 0) {
			size_t k = (size_t)n;
			if (got + k >= outlen)
				k = outlen - got - 1;
			memcpy(out + got, buf, k);
			got += k;
			out[got] = '\0';
			continue;
		}
		if (n == 0)
			break;
		if (hx_now_ms() > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		usleep(20000);
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == ' '))
		out[--got] = '\0';
	if (hx_now_ms() > deadline && !WIFEXITED(status))
		return -ETIMEDOUT;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

void vmexec_paths(struct vmexec *x, int64_t vmid, char *vm_dir, size_t len,
		  struct vm_paths *p)
{
	snprintf(vm_dir, len, "%s/%" PRId64, x->cfg.vms_dir, vmid);
	p->images_dir = x->cfg.images_dir;
	p->vm_dir = vm_dir;
	p->kvm = x->kvm;
	p->uuid = NULL;
	p->resolve = storage_resolve;
	p->resolve_data = x->a;
}

/* ---- reconcile ---- */

static void report(struct vmexec *x, struct vm_rt *rt, int64_t vmid,
		   const char *state)
{
	struct hx_err err = {0};

	if (strcmp(rt->reported, state) == 0)
		return;
	if (statedb_vm_set_state(x->a->db, vmid, x->a->cfg.name, state, &err) <
	    0) {
		hx_log(LOG_DEBUG, "vm=%" PRId64 " cannot report state '%s': %s",
		       vmid, state, err.msg);
		return;
	}
	snprintf(rt->reported, sizeof(rt->reported), "%s", state);
}

static void sample_cpu(struct vm_rt *rt, virDomainPtr d, uint64_t now)
{
	virDomainInfo info;

	if (virDomainGetInfo(d, &info) < 0)
		return;
	if (rt->cpu_sample_ms != 0 && now > rt->cpu_sample_ms &&
	    info.cpuTime >= rt->cpu_ns)
		rt->cpu_percent = (double)(info.cpuTime - rt->cpu_ns) / 1e4 /
				  (double)(now - rt->cpu_sample_ms);
	rt->cpu_ns = info.cpuTime;
	rt->cpu_sample_ms = now;
}

/* A VM that should run is not running: restart it, per policy. */
static void recover(struct vmexec *x, virConnectPtr c,
		    const struct statedb_vm *vm, struct vm_rt *rt,
		    const char *why, bool crashed)
{
	struct vm_config conf;
	struct hx_err err = {0};
	char subject[32];
	uint64_t now = hx_now_ms();

	snprintf(subject, sizeof(subject), "vm/%" PRId64, vm->vmid);
	if (now < rt->next_restart_ms)
		return;
	if (vmconf_load(vm->config, &conf, &err) < 0) {
		report(x, rt, vm->vmid, "crashed");
		return;
	}
	if (crashed && !vm->ha && strcmp(conf.restart, "never") == 0) {
		agent_event(x->a, "vm.stop", subject, "executor",
			    "%s; restart policy is 'never': leaving it stopped",
			    why);
		(void)statedb_vm_set_desired(x->a->db, vm->vmid, "stopped",
					     false, NULL);
		report(x, rt, vm->vmid, "crashed");
		return;
	}
	if (now - rt->restart_window_ms > RESTART_WINDOW_MS) {
		rt->restart_window_ms = now;
		rt->restarts = 0;
	}
	if (rt->restarts >= RESTART_MAX) {
		if (!rt->gave_up)
			agent_event(x->a, "vm.error", subject, "executor",
				    "%s; %d restarts within %d s failed: "
				    "giving up until it is started again",
				    why, RESTART_MAX, RESTART_WINDOW_MS / 1000);
		rt->gave_up = true;
		report(x, rt, vm->vmid, "crashed");
		return;
	}
	rt->restarts++;
	rt->next_restart_ms = now + 1000u * (1u << rt->restarts);
	agent_event(x->a, "vm.start", subject, "executor",
		    "%s: starting it (attempt %u of %d)", why, rt->restarts,
		    RESTART_MAX);
	/* HA: "running" or "failed", each a fresh state change (after a
	 * failure "starting" first), so the leader sees the outcome of its
	 * request; the extra write is saved in the common case. */
	if (vm->ha && strcmp(vm->state, "failed") == 0)
		report(x, rt, vm->vmid, "starting");
	if (vmexec_do_start(x, c, vm->vmid, 0, &err) < 0) {
		hx_log(LOG_WARNING, "vm=%" PRId64 " restart failed: %s",
		       vm->vmid, err.msg);
		if (vm->ha)
			report(x, rt, vm->vmid, "failed");
	}
}

/* An HA VM that should run here: the HA leader's restart and relocation
 * policies decide, the executor runs each request (uid) with its own
 * backoff and reports the outcome; it never changes the desired state. */
static void reconcile_ha_start(struct vmexec *x, virConnectPtr c,
			       const struct statedb_vm *vm, struct vm_rt *rt,
			       bool crashed, const char *name)
{
	if (!agent_ha_lease_valid(x->a)) {
		if (hx_now_ms() - rt->lease_log_ms > 10000) {
			hx_log(LOG_INFO,
			       "vm=%" PRId64 " HA VM assigned here waits for "
			       "this node's lease",
			       vm->vmid);
			rt->lease_log_ms = hx_now_ms();
		}
		return;
	}
	if (rt->gave_up) {
		report(x, rt, vm->vmid, "failed");
		return;
	}
	recover(x, c, vm, rt,
		crashed ? "QEMU crashed" : "the HA manager runs it here",
		crashed);
	(void)name;
}

static void reconcile_vm(struct vmexec *x, virConnectPtr c,
			 const struct statedb_vm *vm, struct vm_rt *rt,
			 bool host_booted)
{
	virDomainPtr d = vmexec_domain(c, vm->vmid);
	int state = VIR_DOMAIN_SHUTOFF, reason = VIR_DOMAIN_SHUTOFF_UNKNOWN;
	bool active, want = strcmp(vm->desired, "running") == 0;
	char subject[32];
	const char *name;

	snprintf(subject, sizeof(subject), "vm/%" PRId64, vm->vmid);
	if (d != NULL && virDomainGetState(d, &state, &reason, 0) < 0)
		state = VIR_DOMAIN_NOSTATE;
	active = d != NULL && state != VIR_DOMAIN_SHUTOFF &&
		 state != VIR_DOMAIN_NOSTATE;
	name = d != NULL ? vmexec_state_name(state, reason) : "stopped";
	if (active) {
		sample_cpu(rt, d, hx_now_ms());
		if (state == VIR_DOMAIN_RUNNING)
			rt->gave_up = false;
	}
	/* The cache of what was reported is only good while the row still
	 * says so: another node (a migration, an HA recovery) may have
	 * reported since. */
	if (strcmp(vm->state_node, x->a->cfg.name) != 0 ||
	    strcmp(vm->state, rt->reported) != 0)
		rt->reported[0] = '\0';
	if (vm->ha && rt->ha_uid != vm->ha_uid) {
		/* a new HA request: its own attempts */
		rt->ha_uid = vm->ha_uid;
		rt->restarts = 0;
		rt->gave_up = false;
		rt->next_restart_ms = 0;
	}
	if (strcmp(vm->lock, "migrate") == 0) {
		/* no job here owns it (busy VMs are skipped): hxd restarted */
		if (!vmexec_migrate_recover(x, c, vm, rt))
			report(x, rt, vm->vmid, name);
	} else if (vm->lock[0] != '\0') {
		/* create, delete: their task owns the VM */
		report(x, rt, vm->vmid, name);
	} else if (want && !active && vm->ha) {
		reconcile_ha_start(x, c, vm, rt,
				   d != NULL &&
					   (reason == VIR_DOMAIN_SHUTOFF_CRASHED ||
					    reason == VIR_DOMAIN_SHUTOFF_FAILED),
				   name);
	} else if (want && !active) {
		if (host_booted) {
			struct vm_config *conf = calloc(1, sizeof(*conf));
			bool onboot = conf != NULL &&
				      vmconf_load(vm->config, conf, NULL) == 0 &&
				      conf->onboot;
			free(conf);
			if (!onboot) {
				agent_event(x->a, "vm.stop", subject, "executor",
					    "the host rebooted and onboot is "
					    "off: leaving it stopped");
				(void)statedb_vm_set_desired(x->a->db, vm->vmid,
							     "stopped", false,
							     NULL);
				report(x, rt, vm->vmid, "stopped");
				goto out;
			}
			recover(x, c, vm, rt, "the host booted (onboot)", false);
		} else if (d != NULL && reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN) {
			agent_event(x->a, "vm.stop", subject, "executor",
				    "the guest powered itself off");
			(void)statedb_vm_set_desired(x->a->db, vm->vmid,
						     "stopped", false, NULL);
			report(x, rt, vm->vmid, "stopped");
		} else if (!rt->gave_up) {
			recover(x, c, vm, rt,
				d == NULL ? "its domain is missing"
				: reason == VIR_DOMAIN_SHUTOFF_CRASHED ||
						reason == VIR_DOMAIN_SHUTOFF_FAILED
					? "QEMU crashed"
					: "it stopped for an unknown reason",
				d != NULL);
		} else {
			report(x, rt, vm->vmid, "crashed");
		}
	} else if (!want && active) {
		agent_event(x->a, "vm.stop", subject, "executor",
			    "running but its desired state is stopped: "
			    "powering it off");
		if (virDomainDestroy(d) < 0)
			hx_log(LOG_WARNING, "vm=%" PRId64 " cannot stop: %s",
			       vm->vmid, vmexec_virt_error());
		report(x, rt, vm->vmid, "stopped");
	} else {
		report(x, rt, vm->vmid, name);
	}
out:
	if (d != NULL)
		virDomainFree(d);
}

/* A running domain here of a VM that another node owns and reports
 * running, not migrating here: a second copy (e.g. a migration whose
 * clean-up could not reach this node). Powers it off; true if it did. */
static bool second_copy(struct vmexec *x, virDomainPtr d, int64_t vmid)
{
	struct statedb_vm vm;
	char key[24], subject[32];
	bool other;

	snprintf(key, sizeof(key), "%" PRId64, vmid);
	if (statedb_vm_get(x->a->db, key, &vm, NULL) < 0)
		return false;
	other = strcmp(vm.node, x->a->cfg.name) != 0 &&
		strcmp(vm.state, "running") == 0 &&
		strcmp(vm.state_node, vm.node) == 0 &&
		!(strcmp(vm.lock, "migrate") == 0 &&
		  strcmp(vm.target, x->a->cfg.name) == 0);
	if (other) {
		snprintf(subject, sizeof(subject), "vm/%" PRId64, vmid);
		agent_event(x->a, "vm.stop", subject, "executor",
			    "a second copy ran on node '%s' while node '%s' "
			    "runs it: powered off",
			    x->a->cfg.name, vm.node);
		(void)virDomainDestroy(d);
	}
	statedb_vm_clear(&vm);
	return other;
}

/* Domains named like ours that this node does not own. */
static void reconcile_strays(struct vmexec *x, virConnectPtr c,
			     const struct statedb_vm *vms, unsigned n)
{
	virDomainPtr *doms = NULL;
	int nd = virConnectListAllDomains(c, &doms, 0);

	for (int i = 0; i < nd; i++) {
		const char *name = virDomainGetName(doms[i]);
		char *end;
		int64_t vmid;
		bool mine = false;

		if (name != NULL && strncmp(name, "hx-", 3) == 0) {
			vmid = strtoll(name + 3, &end, 10);
			for (unsigned k = 0; k < n && *end == '\0'; k++)
				mine = mine || vms[k].vmid == vmid;
			pthread_mutex_lock(&x->lock);
			struct vm_rt *rt = vmexec_rt(x, vmid);
			bool busy = rt == NULL || rt->busy;
			pthread_mutex_unlock(&x->lock);
			if (*end == '\0' && !mine && !busy &&
			    virDomainIsActive(doms[i]) == 0) {
				/* left behind by a migration or a delete */
				(void)virDomainUndefineFlags(
					doms[i],
					VIR_DOMAIN_UNDEFINE_NVRAM |
						VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
			} else if (*end == '\0' && !mine && !busy &&
				   second_copy(x, doms[i], vmid)) {
				/* powered off */
			} else if (*end == '\0' && !mine && !busy) {
				if (hx_now_ms() - x->stray_log_ms > 60000) {
					hx_log(LOG_WARNING,
					       "domain '%s' runs here but VM %" PRId64
					       " is not assigned to this node; "
					       "leaving it alone",
					       name, vmid);
					x->stray_log_ms = hx_now_ms();
				}
			}
		}
		virDomainFree(doms[i]);
	}
	free(doms);
}

/* Whether the host booted since hxd last looked (boot_id changed). */
static bool host_booted(struct vmexec *x)
{
	char path[1100], *now = NULL, *seen = NULL;
	bool booted;

	if (hx_file_read("/proc/sys/kernel/random/boot_id", 64, &now, NULL) <
	    0)
		return false;
	snprintf(path, sizeof(path), "%s/boot_id", x->cfg.vms_dir);
	booted = hx_file_read(path, 64, &seen, NULL) == 0 &&
		 strcmp(seen, now) != 0;
	(void)hx_file_write_atomic(path, now, strlen(now), 0644);
	free(now);
	free(seen);
	return booted;
}

static void reconcile(struct vmexec *x)
{
	struct statedb_vm *vms = NULL;
	struct hx_err err = {0};
	virConnectPtr c;
	unsigned n = 0;

	if (!x->booted_checked) {
		unsigned ended = 0;

		/* Tasks a previous hxd of this node left running died with it:
		 * no thread of ours runs them now. */
		if (statedb_task_abandon(x->a->db, x->a->cfg.name,
					 "interrupted: hxd restarted", &ended,
					 &err) < 0) {
			return;
		}
		if (ended > 0)
			hx_log(LOG_NOTICE, "ended %u task(s) interrupted by the "
			       "restart of hxd", ended);
		x->host_booted = host_booted(x);
		x->booted_checked = true;
		pthread_mutex_lock(&x->lock);
		x->ready = true;
		pthread_cond_broadcast(&x->cond);
		pthread_mutex_unlock(&x->lock);
	}
	c = vmexec_conn(x, &err);
	if (c == NULL) {
		if (hx_now_ms() - x->conn_log_ms > 30000) {
			hx_log(LOG_WARNING, "%s; retrying", err.msg);
			x->conn_log_ms = hx_now_ms();
		}
		return;
	}
	if (statedb_vm_list(x->a->db, x->a->cfg.name, &vms, &n, &err) < 0) {
		virConnectClose(c);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct vm_rt *rt;

		pthread_mutex_lock(&x->lock);
		rt = vmexec_rt(x, vms[i].vmid);
		bool skip = rt == NULL || rt->busy;
		if (!skip)
			rt->reconciling = true; /* actions wait for this */
		pthread_mutex_unlock(&x->lock);
		if (skip)
			continue;
		reconcile_vm(x, c, &vms[i], rt, x->host_booted);
		pthread_mutex_lock(&x->lock);
		rt = vmexec_rt(x, vms[i].vmid);
		rt->reconciling = false;
		pthread_cond_broadcast(&x->cond);
		pthread_mutex_unlock(&x->lock);
	}
	x->host_booted = false;
	reconcile_strays(x, c, vms, n);
	statedb_vm_list_free(vms, n);
	virConnectClose(c);
}

static void *reconcile_thread(void *data)
{
	struct vmexec *x = data;

	pthread_mutex_lock(&x->lock);
	while (!x->stopping) {
		if (!x->kicked)
			vmexec_wait(x, 1000);
		x->kicked = false;
		if (x->stopping)
			break;
		pthread_mutex_unlock(&x->lock);
		reconcile(x);
		pthread_mutex_lock(&x->lock);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

void vmexec_kick(struct vmexec *x)
{
	if (x == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	x->kicked = true;
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
}

/* ---- lifecycle ---- */

static bool kvm_usable(const char *accel)
{
	if (strcmp(accel, "tcg") == 0)
		return false;
	if (strcmp(accel, "kvm") == 0)
		return true;
	return access("/dev/kvm", R_OK | W_OK) == 0;
}

int vmexec_start(struct agent *a, const struct vmexec_config *cfg,
		 struct vmexec **ret, struct hx_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct vmexec *x;
	int r;

	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	x->a = a;
	snprintf(x->cfg.uri, sizeof(x->cfg.uri), "%s", cfg->uri);
	snprintf(x->cfg.images_dir, sizeof(x->cfg.images_dir), "%s",
		 cfg->images_dir);
	snprintf(x->cfg.vms_dir, sizeof(x->cfg.vms_dir), "%s", cfg->vms_dir);
	x->kvm = kvm_usable(cfg->accel);
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	(void)mkdir(x->cfg.vms_dir, 0750);
	(void)mkdir(x->cfg.images_dir, 0750);
	pthread_once(&once, (void (*)(void))virEventRegisterDefaultImpl);
	virSetErrorFunc(NULL, silence);
	(void)virEventAddTimeout(1000, tick_cb, NULL, NULL);
	if ((r = pthread_create(&x->events, NULL, event_thread, x)) != 0) {
		free(x);
		return hx_err_set(err, -r, "cannot start the libvirt event thread");
	}
	pthread_detach(x->events);
	if ((r = pthread_create(&x->reconciler, NULL, reconcile_thread, x)) !=
	    0) {
		x->stopping = true;
		return hx_err_set(err, -r, "cannot start the VM reconciler");
	}
	hx_log(LOG_INFO, "vm executor: libvirt '%s', %s, images in '%s'",
	       x->cfg.uri, x->kvm ? "kvm" : "tcg (no usable kvm)",
	       x->cfg.images_dir);
	*ret = x;
	return 0;
}

void vmexec_stop(struct vmexec *x)
{
	if (x == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	x->stopping = true;
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
	pthread_join(x->reconciler, NULL);
	/* Action threads and the event thread die with the process. */
}

int vmexec_status(struct vmexec *x, int64_t vmid, struct vmexec_status *ret,
		  struct hx_err *err)
{
	virConnectPtr c = vmexec_conn(x, err);
	virDomainInfo info;
	virDomainPtr d;
	int state, reason;

	if (c == NULL)
		return err != NULL ? err->code : -ECONNREFUSED;
	d = vmexec_domain(c, vmid);
	if (d == NULL) {
		virConnectClose(c);
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->state, sizeof(ret->state), "stopped");
		ret->uptime_s = -1;
		ret->rss_mb = -1;
		return 0;
	}
	memset(ret, 0, sizeof(*ret));
	ret->uptime_s = -1;
	ret->rss_mb = -1;
	if (virDomainGetState(d, &state, &reason, 0) == 0)
		snprintf(ret->state, sizeof(ret->state), "%s",
			 vmexec_state_name(state, reason));
	if (virDomainGetInfo(d, &info) == 0) {
		ret->cpu_time_ms = (int64_t)(info.cpuTime / 1000000);
		ret->memory_mb = (int64_t)(info.maxMem / 1024);
	}
	pthread_mutex_lock(&x->lock);
	struct vm_rt *rt = vmexec_rt(x, vmid);
	if (rt != NULL)
		ret->cpu_percent = rt->cpu_percent;
	pthread_mutex_unlock(&x->lock);
	if (virDomainIsActive(d) == 1)
		vmexec_proc_info(vmid, ret);
	virDomainFree(d);
	virConnectClose(c);
	return 0;
}

/* ---- HA: self-fence ---- */

/* Calls @fn on every active domain here named for a VMID in @vmids. */
static int ha_domains(struct vmexec *x, const int64_t *vmids, unsigned n,
		      bool destroy)
{
	virDomainPtr *doms = NULL;
	virConnectPtr c;
	int nd, count = 0;

	if (x == NULL)
		return -ECONNREFUSED;
	if ((c = vmexec_conn(x, NULL)) == NULL)
		return -ECONNREFUSED;
	nd = virConnectListAllDomains(c, &doms,
				      VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (nd < 0) {
		virConnectClose(c);
		return -EIO;
	}
	for (int i = 0; i < nd; i++) {
		const char *name = virDomainGetName(doms[i]);
		char *end;
		int64_t vmid;
		bool ha = false;

		if (name != NULL && strncmp(name, "hx-", 3) == 0) {
			vmid = strtoll(name + 3, &end, 10);
			for (unsigned k = 0; k < n && *end == '\0' && !ha; k++)
				ha = vmids[k] == vmid;
		}
		if (ha && destroy && virDomainDestroy(doms[i]) < 0)
			hx_log(LOG_ERR, "ha: self-fence: cannot power off '%s': %s",
			       name, vmexec_virt_error());
		else if (ha)
			count++;
		virDomainFree(doms[i]);
	}
	free(doms);
	virConnectClose(c);
	if (destroy)
		vmexec_kick(x);
	return count;
}

int vmexec_fence(struct vmexec *x, const int64_t *vmids, unsigned n)
{
	return ha_domains(x, vmids, n, true);
}

int vmexec_count_active(struct vmexec *x, const int64_t *vmids, unsigned n)
{
	return ha_domains(x, vmids, n, false);
}
