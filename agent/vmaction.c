/*
 * VM actions: create, start, stop, shutdown, reboot, reset, suspend,
 * resume, delete. Each runs as a task on its own thread while the VM is
 * marked busy, so the reconciler leaves it alone.
 *
 * DESIGN: the desired state is written before the action acts (a start
 * first records "running", a stop "stopped"), so that if hxd dies midway
 * the reconciler finishes the job instead of undoing it. An action that
 * fails to start a VM puts the desired state back to "stopped" and the
 * task says why, rather than leaving the reconciler to retry forever.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static const char *const op_names[] = {
	[VMOP_CREATE] = "create",   [VMOP_START] = "start",
	[VMOP_STOP] = "stop",	    [VMOP_SHUTDOWN] = "shutdown",
	[VMOP_REBOOT] = "reboot",   [VMOP_RESET] = "reset",
	[VMOP_SUSPEND] = "suspend", [VMOP_RESUME] = "resume",
	[VMOP_DELETE] = "delete",
};

struct job {
	struct vmexec *x;
	struct vmexec_req req;
	int64_t task;
};

/* ---- task helpers: failures to record are logged, never fatal ---- */

void vmexec_task_log(struct vmexec *x, int64_t task, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (task > 0)
		(void)statedb_task_log(x->a->db, task, line, NULL);
}

void vmexec_task_progress(struct vmexec *x, int64_t task, int pct,
			  const char *msg)
{
	if (task > 0)
		(void)statedb_task_update(x->a->db, task, pct, msg, NULL);
}

/* ---- volumes ---- */

bool vmexec_is_local(const struct vm_disk *d)
{
	return strncmp(d->volume, "local:", 6) == 0;
}

static int volumes_ensure(struct vmexec *x, const struct vm_config *c,
			  int64_t task, struct hx_err *err)
{
	char vm_dir[1100], path[1100], size[32], out[512];
	struct vm_paths p;
	struct stat st;

	vmexec_paths(x, c->vmid, vm_dir, sizeof(vm_dir), &p);
	for (unsigned i = 0; i < c->ndisks; i++) {
		const struct vm_disk *d = &c->disks[i];

		if (d->volume[0] != '/' && !vmexec_is_local(d)) {
			int r = storage_volume_ensure(x->a, d->volume,
						      d->size_mb, err);
			if (r < 0)
				return hx_err_prefix(err, "disks[%u]", i);
			if (r > 0)
				vmexec_task_log(x, task,
						"created volume %s (%" PRId64
						" MiB)",
						d->volume, d->size_mb);
			continue;
		}
		if (vmxml_volume_path(&p, d, path, sizeof(path)) < 0)
			return hx_err_set(err, -ENAMETOOLONG,
					  "disks[%u]: path too long", i);
		if (stat(path, &st) == 0)
			continue;
		if (!vmexec_is_local(d))
			return hx_err_set(err, -ENOENT,
					  "disks[%u]: '%s' does not exist on "
					  "node '%s'",
					  i, path, x->a->cfg.name);
		snprintf(size, sizeof(size), "%" PRId64 "M", d->size_mb);
		const char *argv[] = {"qemu-img", "create", "-q", "-f",
				      d->format,  path,	    size,  NULL};
		if (vmexec_run(argv, 60000, out, sizeof(out)) < 0)
			return hx_err_set(err, -EIO,
					  "cannot create volume '%s': %s",
					  d->volume, out);
		vmexec_task_log(x, task, "created volume %s (%s, %" PRId64 " MiB)",
			 d->volume, d->format, d->size_mb);
	}
	return 0;
}

void vmexec_volumes_delete(struct vmexec *x, const struct vm_config *c,
			   bool pools, int64_t task)
{
	char vm_dir[1100], path[1100];
	struct vm_paths p;

	vmexec_paths(x, c->vmid, vm_dir, sizeof(vm_dir), &p);
	for (unsigned i = 0; i < c->ndisks; i++) {
		const char *v = c->disks[i].volume;

		if (v[0] != '/' && !vmexec_is_local(&c->disks[i])) {
			struct hx_err e = {0};
			int r;

			if (!pools)
				continue;
			r = storage_volume_release(x->a, v, c->vmid, &e);

			if (r > 0)
				vmexec_task_log(x, task, "deleted volume %s", v);
			else
				vmexec_task_log(x, task, "%s",
						e.msg[0] ? e.msg : "kept volume");
			continue;
		}
		if (!vmexec_is_local(&c->disks[i]) ||
		    vmxml_volume_path(&p, &c->disks[i], path, sizeof(path)) < 0)
			continue;
		if (storage_local_is_base(x->a, &c->disks[i])) {
			vmexec_task_log(x, task,
					"kept volume %s (base of a linked "
					"clone)",
					c->disks[i].volume);
			continue;
		}
		if (unlink(path) == 0)
			vmexec_task_log(x, task, "deleted volume %s",
				 c->disks[i].volume);
	}
}

void vmexec_vm_dir_delete(struct vmexec *x, int64_t vmid)
{
	char dir[1100], path[1400];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%" PRId64, x->cfg.vms_dir, vmid);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		(void)unlink(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

/* ---- start and stop ---- */

int vmexec_load(struct vmexec *x, int64_t vmid, struct statedb_vm *vm,
		struct vm_config *c, struct hx_err *err)
{
	char key[24];
	int r;

	snprintf(key, sizeof(key), "%" PRId64, vmid);
	if ((r = statedb_vm_get(x->a->db, key, vm, err)) < 0)
		return r;
	if ((r = vmconf_load(vm->config, c, err)) < 0) {
		statedb_vm_clear(vm);
		return r;
	}
	return 0;
}

/* Waits until the domain's state is @want (or it is gone and @want is
 * shut off); 0, or -ETIMEDOUT. */
static int wait_state(virDomainPtr d, int want, int timeout_ms,
		      struct vmexec *x, int64_t task, int pct0, int pct1)
{
	uint64_t start = hx_now_ms(), now;
	int state, reason, last_pct = -1;

	for (;;) {
		if (virDomainGetState(d, &state, &reason, 0) < 0)
			return want == VIR_DOMAIN_SHUTOFF ? 0 : -EIO;
		if (state == want)
			return 0;
		now = hx_now_ms();
		if (now - start >= (uint64_t)timeout_ms)
			return -ETIMEDOUT;
		int pct = pct0 + (int)((pct1 - pct0) * (int64_t)(now - start) /
				       timeout_ms);
		if (pct / 5 != last_pct / 5) {
			vmexec_task_progress(x, task, pct, NULL);
			last_pct = pct;
		}
		usleep(100000);
	}
}

int vmexec_do_start(struct vmexec *x, virConnectPtr c, int64_t vmid,
		    int64_t task, struct hx_err *err)
{
	char vm_dir[1100], uuid[VIR_UUID_STRING_BUFLEN], *xml = NULL;
	struct statedb_vm vm;
	struct vm_config *conf;
	struct vm_paths p;
	virDomainPtr d;
	int r, state, reason;

	conf = calloc(1, sizeof(*conf));
	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = vmexec_load(x, vmid, &vm, conf, err)) < 0)
		goto out;
	/* Fencing: an HA VM runs only where a valid lease guarantees that
	 * the node kills it before the leader restarts it elsewhere. */
	if (vm.ha && !agent_ha_lease_valid(x->a)) {
		statedb_vm_clear(&vm);
		r = hx_err_set(err, -EPERM,
			       "node '%s' holds no valid HA lease: HA VM %" PRId64
			       " is not started here",
			       x->a->cfg.name, vmid);
		goto out;
	}
	if (vm.pending != NULL) {
		statedb_vm_clear(&vm);
		if ((r = statedb_vm_apply_pending(x->a->db, vmid, err)) < 0 ||
		    (r = vmexec_load(x, vmid, &vm, conf, err)) < 0)
			goto out;
		vmexec_task_log(x, task, "applied pending configuration changes");
	}
	statedb_vm_clear(&vm);
	if (conf->template) {
		r = hx_err_set(err, -EBUSY,
			       "VM %" PRId64 " is a template: clone it, the "
			       "template itself never runs",
			       vmid);
		goto out;
	}
	vmexec_paths(x, vmid, vm_dir, sizeof(vm_dir), &p);
	if (mkdir(vm_dir, 0750) < 0 && errno != EEXIST) {
		r = hx_err_set(err, -errno, "cannot create '%s': %s", vm_dir,
			       strerror(errno));
		goto out;
	}
	d = vmexec_domain(c, vmid);
	if (d != NULL) {
		if (virDomainGetUUIDString(d, uuid) == 0)
			p.uuid = uuid;
		virDomainFree(d);
	}
	if ((r = volumes_ensure(x, conf, task, err)) < 0 ||
	    (r = vmxml_render(conf, &p, &xml, err)) < 0)
		goto out;
	vmexec_task_progress(x, task, 30, "defining the domain");
	d = virDomainDefineXML(c, xml);
	if (d == NULL) {
		r = hx_err_set(err, -EINVAL, "libvirt refused the domain: %s",
			       vmexec_virt_error());
		goto out;
	}
	if (virDomainGetState(d, &state, &reason, 0) == 0 &&
	    state != VIR_DOMAIN_SHUTOFF) {
		virDomainFree(d);
		r = 0; /* already running: nothing to do */
		goto out;
	}
	vmexec_task_progress(x, task, 50, "starting QEMU");
	if (virDomainCreate(d) < 0) {
		r = hx_err_set(err, -EIO, "QEMU did not start: %s",
			       vmexec_virt_error());
		virDomainFree(d);
		goto out;
	}
	virDomainFree(d);
	(void)statedb_vm_set_state(x->a->db, vmid, x->a->cfg.name, "running",
				   NULL);
	pthread_mutex_lock(&x->lock);
	struct vm_rt *rt = vmexec_rt(x, vmid);
	if (rt != NULL)
		snprintf(rt->reported, sizeof(rt->reported), "running");
	pthread_mutex_unlock(&x->lock);
	r = 0;
out:
	free(xml);
	free(conf);
	return r;
}

static int act_start(struct vmexec *x, virConnectPtr c, struct job *j,
		     struct hx_err *err)
{
	int r;

	if ((r = statedb_vm_set_desired(x->a->db, j->req.vmid, "running", true,
					err)) < 0)
		return r;
	pthread_mutex_lock(&x->lock);
	struct vm_rt *rt = vmexec_rt(x, j->req.vmid);
	if (rt != NULL) { /* a user start resets the crash backoff */
		rt->restarts = 0;
		rt->gave_up = false;
		rt->next_restart_ms = 0;
	}
	pthread_mutex_unlock(&x->lock);
	r = vmexec_do_start(x, c, j->req.vmid, j->task, err);
	if (r < 0)
		(void)statedb_vm_set_desired(x->a->db, j->req.vmid, "stopped",
					     false, NULL);
	return r;
}

static int domain_or_fail(virConnectPtr c, int64_t vmid, virDomainPtr *ret,
			  struct hx_err *err)
{
	*ret = vmexec_domain(c, vmid);
	if (*ret == NULL)
		return hx_err_set(err, -EBUSY, "VM %" PRId64 " is not running",
				  vmid);
	return 0;
}

static int act_stop(struct vmexec *x, virConnectPtr c, struct job *j,
		    struct hx_err *err)
{
	virDomainPtr d;
	int r;

	if ((r = statedb_vm_set_desired(x->a->db, j->req.vmid, "stopped", true,
					err)) < 0)
		return r;
	d = vmexec_domain(c, j->req.vmid);
	if (d == NULL || virDomainIsActive(d) != 1) {
		vmexec_task_log(x, j->task, "VM was not running");
	} else if (virDomainDestroy(d) < 0) {
		r = hx_err_set(err, -EIO, "cannot power off: %s",
			       vmexec_virt_error());
	}
	if (d != NULL)
		virDomainFree(d);
	if (r == 0)
		(void)statedb_vm_set_state(x->a->db, j->req.vmid,
					   x->a->cfg.name, "stopped", NULL);
	return r;
}

/* ACPI power button, then wait; 0 once off. */
static int shutdown_wait(struct vmexec *x, virConnectPtr c, struct job *j,
			 int pct1, struct hx_err *err)
{
	virDomainPtr d;
	int r;

	if ((r = domain_or_fail(c, j->req.vmid, &d, err)) < 0)
		return r;
	if (virDomainIsActive(d) != 1) {
		virDomainFree(d);
		return 0;
	}
	int state, reason;
	if (virDomainGetState(d, &state, &reason, 0) == 0 &&
	    state == VIR_DOMAIN_PAUSED) {
		/* A paused guest cannot see the power button. */
		vmexec_task_log(x, j->task, "resuming the paused guest first");
		(void)virDomainResume(d);
	}
	vmexec_task_progress(x, j->task, 5, "ACPI power button pressed");
	if (virDomainShutdownFlags(d, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) < 0) {
		r = hx_err_set(err, -EIO, "cannot send ACPI shutdown: %s",
			       vmexec_virt_error());
		virDomainFree(d);
		return r;
	}
	r = wait_state(d, VIR_DOMAIN_SHUTOFF, j->req.timeout_s * 1000, x,
		       j->task, 5, pct1);
	if (r == -ETIMEDOUT && j->req.force) {
		vmexec_task_log(x, j->task,
			 "the guest did not shut down within %d s: powering "
			 "it off",
			 j->req.timeout_s);
		if (virDomainDestroy(d) < 0 && virDomainIsActive(d) == 1)
			r = hx_err_set(err, -EIO, "cannot power off: %s",
				       vmexec_virt_error());
		else
			r = 0;
	} else if (r == -ETIMEDOUT) {
		hx_err_set(err, -ETIMEDOUT,
			   "the guest did not shut down within %d s (it keeps "
			   "running; use force or stop)",
			   j->req.timeout_s);
	}
	virDomainFree(d);
	return r;
}

static int act_shutdown(struct vmexec *x, virConnectPtr c, struct job *j,
			struct hx_err *err)
{
	int r = shutdown_wait(x, c, j, 95, err);

	if (r == 0) {
		(void)statedb_vm_set_desired(x->a->db, j->req.vmid, "stopped",
					     false, NULL);
		(void)statedb_vm_set_state(x->a->db, j->req.vmid,
					   x->a->cfg.name, "stopped", NULL);
	}
	return r;
}

static int act_reboot(struct vmexec *x, virConnectPtr c, struct job *j,
		      struct hx_err *err)
{
	int r = shutdown_wait(x, c, j, 60, err);

	if (r < 0)
		return r;
	vmexec_task_log(x, j->task, "guest is off; starting it again");
	return vmexec_do_start(x, c, j->req.vmid, j->task, err);
}

/* reset, suspend, resume: one libvirt call on an active domain. */
static int act_simple(struct vmexec *x, virConnectPtr c, struct job *j,
		      struct hx_err *err)
{
	virDomainPtr d;
	int r, state, reason;

	(void)x;
	if ((r = domain_or_fail(c, j->req.vmid, &d, err)) < 0)
		return r;
	if (virDomainGetState(d, &state, &reason, 0) < 0 ||
	    state == VIR_DOMAIN_SHUTOFF) {
		virDomainFree(d);
		return hx_err_set(err, -EBUSY, "VM %" PRId64 " is not running",
				  j->req.vmid);
	}
	if (j->req.op == VMOP_RESET)
		r = virDomainReset(d, 0);
	else if (j->req.op == VMOP_SUSPEND)
		r = state == VIR_DOMAIN_PAUSED ? 0 : virDomainSuspend(d);
	else
		r = state != VIR_DOMAIN_PAUSED ? 0 : virDomainResume(d);
	if (r < 0)
		r = hx_err_set(err, -EIO, "%s failed: %s",
			       op_names[j->req.op], vmexec_virt_error());
	virDomainFree(d);
	return r;
}

static int act_create(struct vmexec *x, virConnectPtr c, struct job *j,
		      struct hx_err *err)
{
	struct statedb_vm vm;
	struct vm_config *conf = calloc(1, sizeof(*conf));
	int r;

	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = vmexec_load(x, j->req.vmid, &vm, conf, err)) < 0)
		goto out;
	statedb_vm_clear(&vm);
	vmexec_task_progress(x, j->task, 10, "creating volumes");
	if ((r = volumes_ensure(x, conf, j->task, err)) < 0) {
		/* Nothing of this VM may remain: the row goes too. */
		vmexec_volumes_delete(x, conf, true, j->task);
		(void)statedb_vm_delete(x->a->db, j->req.vmid, NULL);
		goto out;
	}
	if ((r = statedb_vm_lock(x->a->db, j->req.vmid, "", "create", err)) <
	    0)
		goto out;
	if (j->req.start) {
		vmexec_task_progress(x, j->task, 40, "starting");
		r = act_start(x, c, j, err);
	}
out:
	free(conf);
	return r;
}

static int act_delete(struct vmexec *x, virConnectPtr c, struct job *j,
		      struct hx_err *err)
{
	struct statedb_vm vm;
	struct vm_config *conf = calloc(1, sizeof(*conf));
	virDomainPtr d;
	int r;

	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = vmexec_load(x, j->req.vmid, &vm, conf, err)) < 0)
		goto out;
	statedb_vm_clear(&vm);
	d = vmexec_domain(c, j->req.vmid);
	if (d != NULL && virDomainIsActive(d) == 1) {
		virDomainFree(d);
		r = hx_err_set(err, -EBUSY,
			       "VM %" PRId64 " is running: stop it first",
			       j->req.vmid);
		goto out;
	}
	if ((r = statedb_vm_lock(x->a->db, j->req.vmid, "delete", NULL,
				 err)) < 0) {
		if (d != NULL)
			virDomainFree(d);
		goto out;
	}
	if (d != NULL) {
		(void)virDomainUndefineFlags(
			d, VIR_DOMAIN_UNDEFINE_NVRAM |
				   VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
		virDomainFree(d);
	}
	vmexec_task_progress(x, j->task, 30, "deleting volumes");
	vmexec_volumes_delete(x, conf, true, j->task);
	vmexec_vm_dir_delete(x, j->req.vmid);
	r = statedb_vm_delete(x->a->db, j->req.vmid, err);
out:
	free(conf);
	return r;
}

static void *job_thread(void *data)
{
	struct job *j = data;
	struct vmexec *x = j->x;
	struct hx_err err = {0};
	char subject[32];
	virConnectPtr c;
	int r = -ECONNREFUSED;

	snprintf(subject, sizeof(subject), "vm/%" PRId64, j->req.vmid);
	c = vmexec_conn(x, &err);
	if (c != NULL) {
		switch (j->req.op) {
		case VMOP_CREATE: r = act_create(x, c, j, &err); break;
		case VMOP_START: r = act_start(x, c, j, &err); break;
		case VMOP_STOP: r = act_stop(x, c, j, &err); break;
		case VMOP_SHUTDOWN: r = act_shutdown(x, c, j, &err); break;
		case VMOP_REBOOT: r = act_reboot(x, c, j, &err); break;
		case VMOP_DELETE: r = act_delete(x, c, j, &err); break;
		case VMOP_RESET:
		case VMOP_SUSPEND:
		case VMOP_RESUME: r = act_simple(x, c, j, &err); break;
		}
		virConnectClose(c);
	}
	if (r < 0)
		hx_log(LOG_WARNING, "vm=%" PRId64 " %s failed: %s", j->req.vmid,
		       op_names[j->req.op], err.msg);
	agent_event(x->a, r < 0 ? "vm.error" : "vm.action", subject,
		    j->req.actor, "%s %s%s%s", op_names[j->req.op],
		    r < 0 ? "failed" : "done", r < 0 ? ": " : "",
		    r < 0 ? err.msg : "");
	(void)statedb_task_finish(x->a->db, j->task, r == 0,
				  r < 0 ? err.msg : "done", NULL);
	pthread_mutex_lock(&x->lock);
	struct vm_rt *rt = vmexec_rt(x, j->req.vmid);
	if (rt != NULL)
		rt->busy = false;
	pthread_mutex_unlock(&x->lock);
	vmexec_kick(x);
	free(j);
	return NULL;
}

/* Refuses at once what the VM's current state does not allow, so the
 * caller gets a 409 rather than a task that fails. */
static int precheck(struct vmexec *x, const struct vmexec_req *req,
		    struct hx_err *err)
{
	bool needs_on = req->op == VMOP_RESET || req->op == VMOP_SUSPEND ||
			req->op == VMOP_RESUME;
	int state = VIR_DOMAIN_SHUTOFF, reason, r = 0;
	virConnectPtr c;
	virDomainPtr d;

	if (!needs_on && req->op != VMOP_DELETE)
		return 0;
	if ((c = vmexec_conn(x, err)) == NULL)
		return err != NULL ? err->code : -ECONNREFUSED;
	d = vmexec_domain(c, req->vmid);
	if (d != NULL && virDomainGetState(d, &state, &reason, 0) < 0)
		state = VIR_DOMAIN_NOSTATE;
	if (req->op == VMOP_DELETE && state != VIR_DOMAIN_SHUTOFF)
		r = hx_err_set(err, -EBUSY,
			       "VM %" PRId64 " is running: stop it first",
			       req->vmid);
	else if (needs_on && (d == NULL || state == VIR_DOMAIN_SHUTOFF))
		r = hx_err_set(err, -EBUSY, "VM %" PRId64 " is not running",
			       req->vmid);
	if (d != NULL)
		virDomainFree(d);
	virConnectClose(c);
	return r;
}

int vmexec_claim(struct vmexec *x, int64_t vmid, struct hx_err *err)
{
	uint64_t deadline = hx_now_ms() + 10000;
	struct vm_rt *rt;

	pthread_mutex_lock(&x->lock);
	/* Until the first pass has ended the tasks a previous hxd left
	 * running, a new task could be ended with them. */
	while (!x->ready && hx_now_ms() < deadline)
		vmexec_wait(x, 1000);
	if (!x->ready) {
		pthread_mutex_unlock(&x->lock);
		return hx_err_set(err, -EAGAIN,
				  "the VM executor of node '%s' is starting: "
				  "retry in a moment",
				  x->a->cfg.name);
	}
	while ((rt = vmexec_rt(x, vmid)) != NULL && rt->reconciling &&
	       hx_now_ms() < deadline)
		vmexec_wait(x, 100);
	if (rt == NULL || rt->busy || rt->reconciling) {
		pthread_mutex_unlock(&x->lock);
		return hx_err_set(err, -EBUSY,
				  "VM %" PRId64 " has an operation in progress "
				  "on node '%s': wait for it and retry",
				  vmid, x->a->cfg.name);
	}
	rt->busy = true;
	pthread_mutex_unlock(&x->lock);
	return 0;
}

void vmexec_unclaim(struct vmexec *x, int64_t vmid)
{
	struct vm_rt *rt;

	pthread_mutex_lock(&x->lock);
	if ((rt = vmexec_rt(x, vmid)) != NULL)
		rt->busy = false;
	pthread_mutex_unlock(&x->lock);
	vmexec_kick(x);
}

int vmexec_submit(struct vmexec *x, const struct vmexec_req *req,
		  int64_t *ret_task, struct hx_err *err)
{
	struct statedb_task t = {0};
	pthread_t th;
	struct job *j;
	int r;

	if ((r = precheck(x, req, err)) < 0)
		return r;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	j->x = x;
	j->req = *req;
	if (j->req.timeout_s <= 0)
		j->req.timeout_s = 60;
	if ((r = vmexec_claim(x, req->vmid, err)) < 0) {
		free(j);
		return r;
	}

	snprintf(t.kind, sizeof(t.kind), "vm.%s", op_names[req->op]);
	snprintf(t.node, sizeof(t.node), "%s", x->a->cfg.name);
	snprintf(t.subject, sizeof(t.subject), "vm/%" PRId64, req->vmid);
	snprintf(t.actor, sizeof(t.actor), "%s", req->actor);
	if ((r = statedb_task_create(x->a->db, &t, &j->task, err)) < 0)
		goto fail;
	if ((r = pthread_create(&th, NULL, job_thread, j)) != 0) {
		(void)statedb_task_finish(x->a->db, j->task, false,
					  "cannot start a thread", NULL);
		r = hx_err_set(err, -r, "cannot start a thread");
		goto fail;
	}
	pthread_detach(th);
	*ret_task = j->task;
	return 0;
fail:
	vmexec_unclaim(x, req->vmid);
	free(j);
	return r;
}

/* ---- /proc figures of the VM's QEMU ---- */

void vmexec_proc_info(int64_t vmid, struct vmexec_status *ret)
{
	char needle[48], path[300], *buf = NULL, *p;
	long ticks = sysconf(_SC_CLK_TCK);
	struct dirent *e;
	DIR *d;

	/* libvirt names QEMU "-name guest=hx-VMID,..." */
	snprintf(needle, sizeof(needle), "guest=hx-%" PRId64 ",", vmid);
	if ((d = opendir("/proc")) == NULL)
		return;
	while ((e = readdir(d)) != NULL && ret->pid == 0) {
		size_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if (hx_file_read(path, 1 << 16, &buf, &n) < 0)
			continue;
		for (size_t i = 0; i + 1 < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		if (strstr(buf, needle) != NULL)
			ret->pid = atoi(e->d_name);
		free(buf);
		buf = NULL;
	}
	closedir(d);
	if (ret->pid == 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", ret->pid);
	if (hx_file_read(path, 1 << 16, &buf, NULL) == 0) {
		if ((p = strstr(buf, "VmRSS:")) != NULL)
			ret->rss_mb = strtoll(p + 6, NULL, 10) / 1024;
		free(buf);
		buf = NULL;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", ret->pid);
	if (hx_file_read(path, 1 << 16, &buf, NULL) == 0 &&
	    (p = strrchr(buf, ')')) != NULL) {
		unsigned long long start = 0;
		double up = 0;
		char *upt = NULL;
		/* field 22 (starttime), counting from the state after ')' */
		for (int f = 3; f < 22 && p != NULL; f++)
			p = strchr(p + 1, ' ');
		if (p != NULL)
			start = strtoull(p + 1, NULL, 10);
		if (hx_file_read("/proc/uptime", 64, &upt, NULL) == 0) {
			up = strtod(upt, NULL);
			free(upt);
		}
		if (start > 0 && ticks > 0)
			ret->uptime_s = (int64_t)(up - (double)start /
							   (double)ticks);
	}
	free(buf);
}
