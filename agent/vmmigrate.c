/*
 * VM migration: live (libvirt, peer-to-peer, memory and local disks copied
 * by QEMU in TLS) and offline (stopped VMs; local volumes streamed over the
 * peer channel), as a vm.migrate task on the source node.
 *
 * DESIGN: the replicated database says which node owns a VM, and only the
 * owner runs it. A migration therefore moves ownership (statedb_vm_move)
 * only after libvirt reported success; until then the VM is locked
 * "migrate" with the destination in vms.target, which blocks every other
 * action. On any failure the source keeps (or resumes) the VM, the
 * destination is told to remove what it prepared, and the lock goes.
 *
 * Nobody can trust a job that died with hxd, so the decision "who runs the
 * VM now" is one function, settle(), used both when a migration call
 * fails and by the reconciler for a VM that is locked "migrate" with no
 * job in flight here (hxd restarted mid-migration, on either side):
 *   1. libvirt still migrates the domain (a job is active): wait;
 *   2. the domain runs here (not paused): the migration did not complete:
 *      the destination removes any copy it has, the lock is released;
 *   3. otherwise ask the destination (its hxd, over the peer channel):
 *      - unreachable, or its incoming migration job still active: wait;
 *      - it has the domain active with no job (libvirt's Finish resumed
 *        it): the migration completed: ownership moves there, and a
 *        paused leftover here is destroyed;
 *      - it has none: a domain paused here by the migration is resumed,
 *        the destination cleans up, the lock is released (a VM that runs
 *        nowhere is then started again by the reconciler per its desired
 *        state).
 * Hence the lock never outlives an answer from the destination, and no
 * step resumes or keeps a copy while another may run: a VM runs on the
 * destination only after libvirt's Finish resumed it there, which happens
 * after the source paused it for good, and it is resumed here only when
 * the destination says it has no copy. The one case libvirt itself leaves
 * open (the Finish call's answer lost after the destination resumed: it
 * then resumes the source too) is closed by rule 2, which has the
 * destination destroy its copy, and by the reconciler of every node, which
 * powers off a copy of a VM that another node owns and reports running.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "agent/agent.h"
#include "agent/vm.h"
#include "agent/vmexec.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

#define POLL_MS 300

struct vm_migration {
	struct vmexec *x;
	struct vmexec_migrate_req req;
	int64_t task;
	volatile bool cancel;
	bool started; /* libvirt was asked to migrate */
	struct vmvolume_ctl vol; /* offline copy */
	uint64_t vol_total;
};

/* ---- talking to the destination's hxd ---- */

static int status_code(int status)
{
	switch (status) {
	case 400: return -EINVAL;
	case 404: return -ENOENT;
	case 409: return -EBUSY;
	case 412: return HX_ECONFLICT;
	case 503: return HX_ENOQUORUM;
	default: return -EIO;
	}
}

int vmexec_peer_call(struct agent *a, const char *node, const char *peer,
		     int64_t vmid, const char *op, json_t *body, json_t **ret,
		     struct hx_err *err)
{
	struct api_req req = {.method = "POST", .query = ""};
	struct agent_fwd_reply out = {0};
	char path[96], *text;
	json_t *j;
	int r;

	snprintf(path, sizeof(path), "/vms/%" PRId64 "/migrate/%s", vmid, op);
	req.path = path;
	snprintf(req.actor, sizeof(req.actor), "node/%s", a->cfg.name);
	text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	r = agent_forward(a, peer, &req, text != NULL ? text : "", &out, err);
	free(text);
	if (r < 0)
		return hx_err_prefix(err, "node '%s'", node);
	j = json_loads(out.body, 0, NULL);
	free(out.body);
	if (out.status >= 300) {
		const char *m = json_string_value(
			json_object_get(json_object_get(j, "error"), "message"));
		r = hx_err_set(err, status_code(out.status), "node '%s': %s",
			       node, m != NULL ? m : "failed");
		json_decref(j);
		return r;
	}
	if (ret != NULL)
		*ret = json_incref(json_object_get(j, "data"));
	json_decref(j);
	return 0;
}

static int dest_call(struct vmexec *x, const struct vmexec_migrate_req *q,
		     const char *op, json_t *body, json_t **ret,
		     struct hx_err *err)
{
	return vmexec_peer_call(x->a, q->target, q->target_peer, q->vmid, op,
				body, ret, err);
}

/* Target and its peer address of a VM locked "migrate". */
static int target_of(struct vmexec *x, const struct statedb_vm *vm,
		     struct vmexec_migrate_req *q, struct hx_err *err)
{
	struct statedb_node n;
	int r;

	memset(q, 0, sizeof(*q));
	q->vmid = vm->vmid;
	snprintf(q->target, sizeof(q->target), "%s", vm->target);
	if ((r = statedb_node_get(x->a->db, vm->target, &n, err)) < 0)
		return r;
	snprintf(q->target_peer, sizeof(q->target_peer), "%s", n.peer);
	return 0;
}

/* ---- settling who runs the VM ---- */

enum settled { SETTLE_WAIT, SETTLE_STAYED, SETTLE_MOVED };

static bool job_active(virDomainPtr d)
{
	virDomainJobInfo info;

	return virDomainGetJobInfo(d, &info) == 0 &&
	       info.type != VIR_DOMAIN_JOB_NONE;
}

/* The source's copy is history: remove it (domain, local volumes, files). */
static void drop_source(struct vmexec *x, virConnectPtr c, int64_t vmid,
			int64_t task)
{
	struct vm_config *conf = calloc(1, sizeof(*conf));
	struct statedb_vm vm;
	virDomainPtr d = vmexec_domain(c, vmid);

	if (d != NULL) {
		if (virDomainIsActive(d) == 1)
			(void)virDomainDestroy(d);
		(void)virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_NVRAM);
		virDomainFree(d);
	}
	if (conf != NULL && vmexec_load(x, vmid, &vm, conf, NULL) == 0) {
		statedb_vm_clear(&vm);
		vmexec_volumes_delete(x, conf, false, task);
	}
	free(conf);
	vmexec_vm_dir_delete(x, vmid);
	pthread_mutex_lock(&x->lock);
	struct vm_rt *rt = vmexec_rt(x, vmid);
	if (rt != NULL)
		rt->reported[0] = '\0';
	pthread_mutex_unlock(&x->lock);
}

static int move_owner(struct vmexec *x, const struct vmexec_migrate_req *q,
		      struct hx_err *err)
{
	struct statedb_vm vm;
	char key[24];
	int r = -EIO;

	snprintf(key, sizeof(key), "%" PRId64, q->vmid);
	for (int i = 0; i < 20; i++) {
		r = statedb_vm_move(x->a->db, q->vmid, x->a->cfg.name,
				    q->target, "migrate", err);
		if (r == 0)
			return 0;
		/* A commit whose outcome was lost may have happened. */
		if (statedb_vm_get(x->a->db, key, &vm, NULL) == 0) {
			bool moved = strcmp(vm.node, q->target) == 0;
			statedb_vm_clear(&vm);
			if (moved)
				return 0;
		}
		usleep(500000);
	}
	return r;
}

static void release(struct vmexec *x, const struct vmexec_migrate_req *q,
		    bool tell_dest)
{
	struct hx_err err = {0};

	if (tell_dest && dest_call(x, q, "abort", NULL, NULL, &err) < 0)
		hx_log(LOG_WARNING,
		       "vm=%" PRId64 " cannot clean up on node '%s': %s",
		       q->vmid, q->target, err.msg);
	for (int i = 0; i < 20; i++) {
		memset(&err, 0, sizeof(err));
		if (statedb_vm_lock(x->a->db, q->vmid, "", "migrate", &err) ==
			    0 ||
		    err.code == -EBUSY || err.code == -ENOENT)
			return;
		usleep(500000);
	}
	hx_log(LOG_WARNING, "vm=%" PRId64 " cannot release its lock: %s",
	       q->vmid, err.msg);
}

/* See the DESIGN comment. *@why says what was decided. */
static enum settled settle(struct vmexec *x, virConnectPtr c,
			   const struct vmexec_migrate_req *q, int64_t task,
			   char *why, size_t len)
{
	int state = VIR_DOMAIN_NOSTATE, reason = 0;
	bool active = false, dest_running;
	struct hx_err err = {0};
	virDomainPtr d = vmexec_domain(c, q->vmid);
	json_t *probe = NULL;
	const char *ds;

	if (d != NULL) {
		if (job_active(d)) {
			virDomainFree(d);
			snprintf(why, len, "libvirt is still migrating it");
			return SETTLE_WAIT;
		}
		if (virDomainGetState(d, &state, &reason, 0) == 0)
			active = state != VIR_DOMAIN_SHUTOFF;
	}
	if (active && state != VIR_DOMAIN_PAUSED) {
		virDomainFree(d);
		release(x, q, true);
		snprintf(why, len, "the VM keeps running on node '%s'",
			 x->a->cfg.name);
		return SETTLE_STAYED;
	}
	if (dest_call(x, q, "probe", NULL, &probe, &err) < 0) {
		if (d != NULL)
			virDomainFree(d);
		snprintf(why, len, "cannot ask node '%s': %.300s", q->target,
			 err.msg);
		return SETTLE_WAIT;
	}
	ds = json_string_value(json_object_get(probe, "state"));
	if (ds == NULL)
		ds = "absent";
	if (json_is_true(json_object_get(probe, "job"))) {
		json_decref(probe);
		if (d != NULL)
			virDomainFree(d);
		snprintf(why, len, "node '%s' is still receiving it", q->target);
		return SETTLE_WAIT;
	}
	dest_running = strcmp(ds, "active") == 0;
	json_decref(probe);
	if (dest_running) {
		if (d != NULL)
			virDomainFree(d);
		if (move_owner(x, q, &err) < 0) {
			snprintf(why, len,
				 "it runs on node '%s' but the move cannot be "
				 "recorded: %.300s",
				 q->target, err.msg);
			return SETTLE_WAIT;
		}
		drop_source(x, c, q->vmid, task);
		snprintf(why, len, "the VM runs on node '%s'", q->target);
		return SETTLE_MOVED;
	}
	bool resume = active && reason == VIR_DOMAIN_PAUSED_MIGRATION;
	if (resume && virDomainResume(d) < 0)
		hx_log(LOG_WARNING, "vm=%" PRId64 " cannot resume: %s", q->vmid,
		       vmexec_virt_error());
	if (d != NULL)
		virDomainFree(d);
	release(x, q, true);
	snprintf(why, len, "the VM stays on node '%s'%s", x->a->cfg.name,
		 resume ? " (resumed)" : "");
	return SETTLE_STAYED;
}

/* Finishes the tasks of a migration job that died with hxd. */
static void finish_orphans(struct vmexec *x, int64_t vmid, bool ok,
			   const char *msg)
{
	struct statedb_task *t = NULL;
	char subject[32];
	unsigned n = 0;

	snprintf(subject, sizeof(subject), "vm/%" PRId64, vmid);
	if (statedb_task_list(x->a->db, "running", 200, &t, &n, NULL) < 0)
		return;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(t[i].kind, "vm.migrate") == 0 &&
		    strcmp(t[i].subject, subject) == 0 &&
		    strcmp(t[i].node, x->a->cfg.name) == 0)
			(void)statedb_task_finish(x->a->db, t[i].id, ok, msg,
						  NULL);
	free(t);
}

bool vmexec_migrate_recover(struct vmexec *x, virConnectPtr c,
			    const struct statedb_vm *vm, struct vm_rt *rt)
{
	struct vmexec_migrate_req q;
	struct hx_err err = {0};
	char why[512], msg[640], subject[32];
	uint64_t now = hx_now_ms();
	enum settled s;

	if (now < rt->recover_ms)
		return false;
	rt->recover_ms = now + 2000;
	if (target_of(x, vm, &q, &err) < 0) {
		/* the destination left the cluster: nothing can run there */
		hx_log(LOG_WARNING, "vm=%" PRId64 " migration target '%s': %s",
		       vm->vmid, vm->target, err.msg);
		if (err.code != -ENOENT)
			return false;
		(void)statedb_vm_lock(x->a->db, vm->vmid, "", "migrate", NULL);
		finish_orphans(x, vm->vmid, false,
			       "the destination left the cluster");
		return false;
	}
	s = settle(x, c, &q, 0, why, sizeof(why));
	if (s == SETTLE_WAIT) {
		/* the reconciler serves every VM: do not ask too often */
		rt->recover_ms = hx_now_ms() + 10000;
		hx_log(LOG_INFO, "vm=%" PRId64 " migration to '%s' unresolved: "
				 "%s; retrying in 10 s",
		       vm->vmid, q.target, why);
		return false;
	}
	snprintf(msg, sizeof(msg), "hxd restarted during the migration: %s",
		 why);
	snprintf(subject, sizeof(subject), "vm/%" PRId64, vm->vmid);
	agent_event(x->a, s == SETTLE_MOVED ? "vm.action" : "vm.error",
		    subject, "executor", "%s", msg);
	finish_orphans(x, vm->vmid, s == SETTLE_MOVED, msg);
	vmexec_kick(x);
	return s == SETTLE_MOVED;
}

/* ---- live migration ---- */

struct migrate_call {
	virDomainPtr d;
	const char *dconnuri;
	virTypedParameterPtr params;
	int nparams;
	unsigned flags;
	int result;
	char error[512];
	volatile bool done;
};

static void *migrate_thread(void *data)
{
	struct migrate_call *m = data;

	m->result = virDomainMigrateToURI3(m->d, m->dconnuri, m->params,
					   (unsigned)m->nparams, m->flags);
	if (m->result < 0)
		snprintf(m->error, sizeof(m->error), "%s",
			 vmexec_virt_error());
	m->done = true;
	return NULL;
}

static uint64_t stat_ull(virTypedParameterPtr p, int n, const char *name)
{
	unsigned long long v = 0;

	(void)virTypedParamsGetULLong(p, n, name, &v);
	return v;
}

static void live_progress(struct vm_migration *m, virDomainPtr d, int *last)
{
	virTypedParameterPtr p = NULL;
	int n = 0, type, pct;
	char msg[160];

	if (virDomainGetJobStats(d, &type, &p, &n, 0) < 0 ||
	    type == VIR_DOMAIN_JOB_NONE) {
		virTypedParamsFree(p, n);
		return;
	}
	uint64_t done = stat_ull(p, n, VIR_DOMAIN_JOB_DATA_PROCESSED);
	uint64_t left = stat_ull(p, n, VIR_DOMAIN_JOB_DATA_REMAINING);
	uint64_t mem = stat_ull(p, n, VIR_DOMAIN_JOB_MEMORY_PROCESSED);
	uint64_t memt = stat_ull(p, n, VIR_DOMAIN_JOB_MEMORY_TOTAL);
	uint64_t disk = stat_ull(p, n, VIR_DOMAIN_JOB_DISK_PROCESSED);
	uint64_t diskt = stat_ull(p, n, VIR_DOMAIN_JOB_DISK_TOTAL);
	virTypedParamsFree(p, n);
	pct = done + left > 0 ? 10 + (int)(85 * done / (done + left)) : 10;
	if (pct == *last)
		return;
	*last = pct;
	snprintf(msg, sizeof(msg),
		 "memory %" PRIu64 "/%" PRIu64 " MiB, disks %" PRIu64
		 "/%" PRIu64 " MiB",
		 mem >> 20, memt >> 20, disk >> 20, diskt >> 20);
	vmexec_task_progress(m->x, m->task, pct, msg);
}

/* Local volumes (with their exact sizes) for the destination to create,
 * and their target devices for VIR_MIGRATE_PARAM_MIGRATE_DISKS. */
static int local_volumes(struct vmexec *x, virDomainPtr d,
			 const struct vm_config *conf, json_t *vols,
			 char devs[][8], unsigned *ndevs, struct hx_err *err)
{
	char vm_dir[1100], path[1100];
	struct vm_paths p;

	vmexec_paths(x, conf->vmid, vm_dir, sizeof(vm_dir), &p);
	*ndevs = 0;
	for (unsigned i = 0; i < conf->ndisks; i++) {
		const struct vm_disk *k = &conf->disks[i];
		virDomainBlockInfo bi;
		struct stat st;
		uint64_t size;

		if (!vmexec_is_local(k))
			continue;
		if (vmxml_volume_path(&p, k, path, sizeof(path)) < 0)
			return hx_err_set(err, -ENAMETOOLONG, "path too long");
		if (d != NULL && virDomainGetBlockInfo(d, path, &bi, 0) == 0)
			size = bi.capacity;
		else if (stat(path, &st) == 0)
			size = (uint64_t)st.st_size;
		else
			return hx_err_set(err, -ENOENT,
					  "volume %s is missing on node '%s'",
					  k->volume, x->a->cfg.name);
		json_array_append_new(vols, json_pack("{s:s, s:s, s:I}",
						      "volume", k->volume,
						      "format", k->format,
						      "size", (json_int_t)size));
		vmxml_disk_dev(conf, i, devs[*ndevs], sizeof(devs[0]));
		(*ndevs)++;
	}
	return 0;
}

static int live_params(struct vmexec *x, virDomainPtr d, json_t *prep,
		       const struct vmexec_migrate_req *q, char devs[][8],
		       unsigned ndevs, virTypedParameterPtr *params, int *n,
		       struct hx_err *err)
{
	const char *dvm = json_string_value(json_object_get(prep, "vm_dir"));
	const char *dimg =
		json_string_value(json_object_get(prep, "images_dir"));
	const char *addr = json_string_value(json_object_get(prep, "address"));
	char svm[1100], uri[128], *live = NULL, *pers = NULL, *l2, *p2;
	struct vm_paths p;
	int max = 0, r = -ENOMEM;

	if (dvm == NULL || dimg == NULL || addr == NULL)
		return hx_err_set(err, HX_EPROTO,
				  "node '%s' answered without its paths",
				  q->target);
	vmexec_paths(x, q->vmid, svm, sizeof(svm), &p);
	live = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_MIGRATABLE |
					      VIR_DOMAIN_XML_SECURE);
	pers = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_MIGRATABLE |
					      VIR_DOMAIN_XML_SECURE |
					      VIR_DOMAIN_XML_INACTIVE);
	if (live == NULL || pers == NULL) {
		free(live);
		free(pers);
		return hx_err_set(err, -EIO, "cannot read the domain: %s",
				  vmexec_virt_error());
	}
	const char *from[] = {svm, p.images_dir};
	const char *to[] = {dvm, dimg};
	l2 = vmxml_rewrite_paths(live, from, to, 2);
	p2 = vmxml_rewrite_paths(pers, from, to, 2);
	free(live);
	free(pers);
	snprintf(uri, sizeof(uri), strchr(addr, ':') ? "tcp://[%s]" : "tcp://%s",
		 addr);
	if (l2 == NULL || p2 == NULL ||
	    virTypedParamsAddString(params, n, &max, VIR_MIGRATE_PARAM_URI,
				    uri) < 0 ||
	    virTypedParamsAddString(params, n, &max,
				    VIR_MIGRATE_PARAM_LISTEN_ADDRESS, addr) <
		    0 ||
	    virTypedParamsAddString(params, n, &max, VIR_MIGRATE_PARAM_DEST_XML,
				    l2) < 0 ||
	    virTypedParamsAddString(params, n, &max,
				    VIR_MIGRATE_PARAM_PERSIST_XML, p2) < 0)
		goto out;
	if (q->bandwidth_mibs > 0 &&
	    virTypedParamsAddULLong(params, n, &max,
				    VIR_MIGRATE_PARAM_BANDWIDTH,
				    (unsigned long long)q->bandwidth_mibs) < 0)
		goto out;
	for (unsigned i = 0; i < ndevs; i++)
		if (virTypedParamsAddString(params, n, &max,
					    VIR_MIGRATE_PARAM_MIGRATE_DISKS,
					    devs[i]) < 0)
			goto out;
	r = 0;
out:
	free(l2);
	free(p2);
	if (r < 0)
		hx_err_set(err, r, "out of memory");
	return r;
}

/* Runs libvirt's migration and follows it; 0 once it succeeded. */
static int live_run(struct vm_migration *m, virDomainPtr d,
		    virTypedParameterPtr params, int n, bool disks,
		    bool shared, struct hx_err *err)
{
	struct vmexec *x = m->x;
	struct migrate_call call = {.d = d, .params = params, .nparams = n};
	char sock[1200], dconnuri[1300], dir[1100];
	struct vmtunnel *tun = NULL;
	bool aborted = false;
	int last = -1, r;
	pthread_t th;

	agent_path(x->a, dir, sizeof(dir), "run");
	(void)mkdir(dir, 0700);
	snprintf(sock, sizeof(sock), "%s/migrate-%" PRId64 ".sock", dir,
		 m->req.vmid);
	if ((r = vmtunnel_start(x->a, sock, m->req.target_peer, &tun, err)) <
	    0)
		return r;
	snprintf(dconnuri, sizeof(dconnuri),
		 "qemu+unix:///system?socket=%s", sock);
	call.dconnuri = dconnuri;
	call.flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER |
		     VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_TLS |
		     VIR_MIGRATE_ABORT_ON_ERROR;
	if (disks)
		call.flags |= VIR_MIGRATE_NON_SHARED_DISK;
	/* Volumes given by absolute path are the same file on every node
	 * (shared storage: the destination checked they exist), with the
	 * host cache off; libvirt cannot tell every shared file system from
	 * a local one and would refuse. */
	if (shared)
		call.flags |= VIR_MIGRATE_UNSAFE;
	if (virDomainMigrateSetMaxDowntime(d, (unsigned long long)
					   m->req.max_downtime_ms, 0) < 0)
		vmexec_task_log(x, m->task, "cannot set the maximum downtime: %s",
				vmexec_virt_error());
	vmexec_task_progress(x, m->task, 10, "migrating");
	m->started = true;
	if ((r = pthread_create(&th, NULL, migrate_thread, &call)) != 0) {
		vmtunnel_stop(tun);
		return hx_err_set(err, -r, "cannot start a thread");
	}
	while (!call.done) {
		usleep(POLL_MS * 1000);
		if (m->cancel && !aborted) {
			aborted = true;
			vmexec_task_log(x, m->task, "cancel requested");
			if (virDomainAbortJob(d) < 0)
				hx_log(LOG_WARNING,
				       "vm=%" PRId64 " abort job: %s",
				       m->req.vmid, vmexec_virt_error());
		}
		if (!call.done)
			live_progress(m, d, &last);
	}
	pthread_join(th, NULL);
	vmtunnel_stop(tun);
	if (call.result == 0)
		return 0;
	if (m->cancel)
		return hx_err_set(err, -ECANCELED, "cancelled");
	return hx_err_set(err, -EIO, "libvirt: %s", call.error);
}

static void live_report(struct vm_migration *m, virDomainPtr d,
			uint64_t start_ms, char *msg, size_t len)
{
	virTypedParameterPtr p = NULL;
	int n = 0, type;
	uint64_t total = hx_now_ms() - start_ms;

	if (virDomainGetJobStats(d, &type, &p, &n,
				 VIR_DOMAIN_JOB_STATS_COMPLETED) == 0) {
		snprintf(msg, len,
			 "migrated live to node '%s' in %" PRIu64
			 " ms (libvirt %" PRIu64 " ms, downtime %" PRIu64
			 " ms, %" PRIu64 " MiB memory, %" PRIu64
			 " MiB disks)",
			 m->req.target, total,
			 stat_ull(p, n, VIR_DOMAIN_JOB_TIME_ELAPSED),
			 stat_ull(p, n, VIR_DOMAIN_JOB_DOWNTIME),
			 stat_ull(p, n, VIR_DOMAIN_JOB_MEMORY_PROCESSED) >> 20,
			 stat_ull(p, n, VIR_DOMAIN_JOB_DISK_PROCESSED) >> 20);
		virTypedParamsFree(p, n);
	} else {
		snprintf(msg, len, "migrated live to node '%s' in %" PRIu64 " ms",
			 m->req.target, total);
	}
}

static int migrate_live(struct vm_migration *m, virConnectPtr c, char *msg,
			size_t len, struct hx_err *err)
{
	struct vmexec *x = m->x;
	struct vm_config *conf = calloc(1, sizeof(*conf));
	virTypedParameterPtr params = NULL;
	json_t *vols = json_array(), *body = NULL, *prep = NULL;
	char devs[VM_MAX_DISKS][8];
	uint64_t start = hx_now_ms();
	struct statedb_vm vm;
	unsigned ndevs = 0;
	virDomainPtr d = NULL;
	int n = 0, r;

	if (conf == NULL || vols == NULL) {
		r = hx_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = vmexec_load(x, m->req.vmid, &vm, conf, err)) < 0)
		goto out;
	statedb_vm_clear(&vm);
	d = vmexec_domain(c, m->req.vmid);
	if (d == NULL || virDomainIsActive(d) != 1) {
		r = hx_err_set(err, -EBUSY, "VM %" PRId64 " is not running",
			       m->req.vmid);
		goto out;
	}
	if ((r = local_volumes(x, d, conf, vols, devs, &ndevs, err)) < 0)
		goto out;
	vmexec_task_progress(x, m->task, 2, "preparing the destination");
	body = json_pack("{s:s, s:b, s:O}", "source", x->a->cfg.name,
			 "offline", 0, "volumes", vols);
	if ((r = dest_call(x, &m->req, "prepare", body, &prep, err)) < 0)
		goto out;
	if (ndevs > 0)
		vmexec_task_log(x, m->task, "copying %u local disk(s) along",
				ndevs);
	if ((r = live_params(x, d, prep, &m->req, devs, ndevs, &params, &n,
			     err)) < 0)
		goto out;
	bool shared = true;
	for (unsigned i = 0; i < conf->ndisks; i++)
		if (!vmexec_is_local(&conf->disks[i]) &&
		    strcmp(conf->disks[i].cache, "none") != 0)
			shared = false;
	r = live_run(m, d, params, n, ndevs > 0, shared && ndevs < conf->ndisks,
		     err);
	if (r == 0)
		live_report(m, d, start, msg, len);
out:
	virTypedParamsFree(params, n);
	if (d != NULL)
		virDomainFree(d);
	json_decref(vols);
	json_decref(body);
	json_decref(prep);
	free(conf);
	return r;
}

/* ---- offline migration ---- */

static void offline_tick(void *arg)
{
	struct vm_migration *m = arg;
	char msg[96];

	if (m->vol_total == 0)
		return;
	snprintf(msg, sizeof(msg), "volumes %" PRIu64 "/%" PRIu64 " MiB",
		 m->vol.done >> 20, m->vol_total >> 20);
	uint64_t pct = 5 + 90 * m->vol.done / m->vol_total;

	vmexec_task_progress(m->x, m->task, pct > 95 ? 95 : (int)pct, msg);
}

static int migrate_offline(struct vm_migration *m, virConnectPtr c,
			   char *msg, size_t len, struct hx_err *err)
{
	struct vmexec *x = m->x;
	struct vm_config *conf = calloc(1, sizeof(*conf));
	json_t *vols = json_array(), *body = NULL;
	char devs[VM_MAX_DISKS][8], vm_dir[1100], path[1100];
	uint64_t total = 0, start = hx_now_ms();
	struct statedb_vm vm;
	struct vm_paths p;
	unsigned ndevs = 0;
	virDomainPtr d;
	int r;

	if (conf == NULL || vols == NULL) {
		r = hx_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((r = vmexec_load(x, m->req.vmid, &vm, conf, err)) < 0)
		goto out;
	statedb_vm_clear(&vm);
	d = vmexec_domain(c, m->req.vmid);
	if (d != NULL) {
		bool on = virDomainIsActive(d) == 1;
		virDomainFree(d);
		if (on) {
			r = hx_err_set(err, -EBUSY,
				       "VM %" PRId64 " is running: stop it "
				       "first, or migrate it live",
				       m->req.vmid);
			goto out;
		}
	}
	if ((r = local_volumes(x, NULL, conf, vols, devs, &ndevs, err)) < 0)
		goto out;
	body = json_pack("{s:s, s:b, s:O}", "source", x->a->cfg.name,
			 "offline", 1, "volumes", vols);
	vmexec_task_progress(x, m->task, 2, "preparing the destination");
	if ((r = dest_call(x, &m->req, "prepare", body, NULL, err)) < 0)
		goto out;
	/* what is allocated, not the virtual size: only that is sent */
	vmexec_paths(x, m->req.vmid, vm_dir, sizeof(vm_dir), &p);
	for (unsigned i = 0; i < conf->ndisks; i++) {
		struct stat st;
		if (vmexec_is_local(&conf->disks[i]) &&
		    vmxml_volume_path(&p, &conf->disks[i], path,
				      sizeof(path)) == 0 &&
		    stat(path, &st) == 0)
			total += (uint64_t)st.st_blocks * 512;
	}
	m->vol_total = total;
	m->vol.mibs = m->req.bandwidth_mibs;
	m->vol.cancel = &m->cancel;
	m->vol.tick = offline_tick;
	m->vol.arg = m;
	for (unsigned i = 0; i < conf->ndisks; i++) {
		if (!vmexec_is_local(&conf->disks[i]))
			continue;
		(void)vmxml_volume_path(&p, &conf->disks[i], path,
					sizeof(path));
		vmexec_task_log(x, m->task, "copying volume %s",
				conf->disks[i].volume);
		if ((r = vmvolume_send(x, m->req.target_peer, m->req.vmid,
				       &conf->disks[i], path, &m->vol, err)) <
		    0)
			goto out;
		offline_tick(m);
	}
	snprintf(msg, len,
		 "moved offline to node '%s' in %" PRIu64 " ms (%u volume(s), "
		 "%" PRIu64 " KiB copied)",
		 m->req.target, hx_now_ms() - start, ndevs,
		 m->vol.done >> 10);
out:
	json_decref(vols);
	json_decref(body);
	free(conf);
	return r;
}

/* ---- the job ---- */

/* After a failed migration call: who runs the VM now? Settles it within
 * about 20 s; past that the reconciler takes over (SETTLE_WAIT). */
static enum settled after_failure(struct vm_migration *m, virConnectPtr c,
				  char *why, size_t len)
{
	enum settled s = SETTLE_WAIT;

	if (c == NULL || !m->started) {
		/* no domain can exist there: only files to remove */
		release(m->x, &m->req, true);
		snprintf(why, len, "the VM stays on node '%s'",
			 m->x->a->cfg.name);
		return SETTLE_STAYED;
	}
	for (int i = 0; i < 20 && s == SETTLE_WAIT; i++) {
		if (i > 0)
			usleep(1000000);
		s = settle(m->x, c, &m->req, m->task, why, len);
	}
	return s;
}

static void *migration_thread(void *data)
{
	struct vm_migration *m = data;
	struct vmexec *x = m->x;
	struct hx_err err = {0};
	char msg[512] = "", why[512] = "", subject[32];
	enum settled s = SETTLE_STAYED;
	virConnectPtr c;
	int r = -ECONNREFUSED;

	snprintf(subject, sizeof(subject), "vm/%" PRId64, m->req.vmid);
	c = vmexec_conn(x, &err);
	if (c != NULL)
		r = m->req.online ? migrate_live(m, c, msg, sizeof(msg), &err)
				  : migrate_offline(m, c, msg, sizeof(msg),
						    &err);
	if (r == 0) { /* done; libvirt cannot undo it: record it */
		hx_crash_point("migrate-before-move");
		r = move_owner(x, &m->req, &err);
	}
	if (r == 0) {
		s = SETTLE_MOVED;
		drop_source(x, c, m->req.vmid, m->task);
	} else {
		s = after_failure(m, c, why, sizeof(why));
		if (s == SETTLE_MOVED)
			snprintf(msg, sizeof(msg),
				 "migrated to node '%s' (%.300s)",
				 m->req.target, why);
	}
	if (c != NULL)
		virConnectClose(c);
	if (s == SETTLE_STAYED && m->cancel && err.code == -ECANCELED)
		snprintf(msg, sizeof(msg), "cancelled; %.400s", why);
	else if (s != SETTLE_MOVED)
		snprintf(msg, sizeof(msg),
			 "migration to node '%s' failed: %.250s; %.150s",
			 m->req.target, err.msg, why);
	hx_log(s == SETTLE_MOVED ? LOG_INFO : LOG_WARNING, "vm=%" PRId64 " %s",
	       m->req.vmid, msg);
	if (s == SETTLE_WAIT) {
		/* the reconciler finishes the task once it knows the outcome */
		vmexec_task_log(x, m->task, "%s; hxd keeps checking", msg);
	} else {
		agent_event(x->a, s == SETTLE_MOVED ? "vm.action" : "vm.error",
			    subject, m->req.actor, "%s", msg);
		(void)statedb_task_finish(x->a->db, m->task, s == SETTLE_MOVED,
					  msg, NULL);
	}
	pthread_mutex_lock(&x->lock);
	struct vm_rt *rt = vmexec_rt(x, m->req.vmid);
	if (rt != NULL) {
		rt->mig = NULL;
		rt->busy = false;
	}
	pthread_mutex_unlock(&x->lock);
	vmexec_kick(x);
	free(m);
	return NULL;
}

int vmexec_migrate_submit(struct vmexec *x,
			  const struct vmexec_migrate_req *req,
			  int64_t *ret_task, struct hx_err *err)
{
	struct statedb_task t = {0};
	struct vm_migration *m;
	pthread_t th;
	int r;

	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	m->x = x;
	m->req = *req;
	/* busy first: the reconciler must never see the lock without it */
	if ((r = vmexec_claim(x, req->vmid, err)) < 0) {
		free(m);
		return r;
	}
	if ((r = statedb_vm_lock_migrate(x->a->db, req->vmid, x->a->cfg.name,
					 req->target, err)) < 0)
		goto err_unclaim;
	snprintf(t.kind, sizeof(t.kind), "vm.migrate");
	snprintf(t.node, sizeof(t.node), "%s", x->a->cfg.name);
	snprintf(t.subject, sizeof(t.subject), "vm/%" PRId64, req->vmid);
	snprintf(t.actor, sizeof(t.actor), "%s", req->actor);
	if ((r = statedb_task_create(x->a->db, &t, &m->task, err)) < 0)
		goto err_unlock;
	vmexec_task_log(x, m->task, "%s migration to node '%s'",
			req->online ? "live" : "offline", req->target);
	pthread_mutex_lock(&x->lock);
	vmexec_rt(x, req->vmid)->mig = m; /* claimed: the record exists */
	pthread_mutex_unlock(&x->lock);
	if ((r = pthread_create(&th, NULL, migration_thread, m)) != 0) {
		pthread_mutex_lock(&x->lock);
		vmexec_rt(x, req->vmid)->mig = NULL;
		pthread_mutex_unlock(&x->lock);
		(void)statedb_task_finish(x->a->db, m->task, false,
					  "cannot start a thread", NULL);
		r = hx_err_set(err, -r, "cannot start a thread");
		goto err_unlock;
	}
	pthread_detach(th);
	*ret_task = m->task;
	return 0;

err_unlock:
	(void)statedb_vm_lock(x->a->db, req->vmid, "", "migrate", NULL);
err_unclaim:
	vmexec_unclaim(x, req->vmid);
	free(m);
	return r;
}

int vmexec_migrate_cancel(struct vmexec *x, int64_t vmid, int64_t *ret_task,
			  struct hx_err *err)
{
	struct vm_rt *rt;
	int r = 0;

	pthread_mutex_lock(&x->lock);
	rt = vmexec_rt(x, vmid);
	if (rt == NULL || rt->mig == NULL) {
		r = hx_err_set(err, -EBUSY,
			       "VM %" PRId64 " has no migration in progress "
			       "on node '%s'",
			       vmid, x->a->cfg.name);
	} else {
		rt->mig->cancel = true;
		*ret_task = rt->mig->task;
	}
	pthread_mutex_unlock(&x->lock);
	return r;
}
