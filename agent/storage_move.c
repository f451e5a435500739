/*
 * Moving a VM disk to another pool: online through a libvirt block copy
 * (QEMU mirrors the disk while the guest writes, then hxd pivots), or
 * offline through qemu-img convert. The target volume is created first,
 * so a block copy can reuse it (REUSE_EXT) whatever the backend; the
 * configuration is switched only after the copy, and the source goes
 * last, through the same checks as any volume delete.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "agent/agent.h"
#include "agent/storage.h"
#include "agent/storage_vm.h"
#include "agent/vm.h"
#include "agent/vmexec.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

/* The target of moving disk q->disk of @c: pool, backend, volume name
 * "vm-VMID-disk-I.FMT", format. */
struct move_target {
	struct statedb_pool pool;
	const struct stor_backend *be;
	char name[STATEDB_VOLUME_NAME_MAX + 1];
	char volid[STATEDB_POOL_NAME_MAX + STATEDB_VOLUME_NAME_MAX + 2];
	char format[8];
};

static int move_target(struct agent *a, const struct svm_req *q,
		       const struct vm_config *c, struct move_target *t,
		       struct hx_err *err)
{
	const struct vm_disk *d = &c->disks[q->disk];
	struct statedb_pool_status st = {0};
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = storage_pool_here(a, q->pool, &t->pool, &t->be, err)) < 0)
		return r;
	if (!statedb_pool_has_content(&t->pool, "images"))
		return hx_err_set(err, -EINVAL,
				  "storage pool '%s' does not hold images",
				  q->pool);
	if ((r = t->be->status(&t->pool, &st, err)) < 0)
		return r;
	if (!st.available)
		return hx_err_set(err, -EINVAL,
				  "storage pool '%s' is not available on node "
				  "'%s': %s",
				  q->pool, a->cfg.name, st.message);
	snprintf(t->format, sizeof(t->format), "%s",
		 q->format[0] ? q->format : d->format);
	if (strcmp(t->format, "qcow2") != 0 && strcmp(t->format, "raw") != 0)
		return hx_err_set(err, -EINVAL,
				  "format: qcow2 or raw, not '%s'", t->format);
	snprintf(t->name, sizeof(t->name), "vm-%" PRId64 "-disk-%u.%s", c->vmid,
		 q->disk, t->format);
	snprintf(t->volid, sizeof(t->volid), "%s:%s", t->pool.name, t->name);
	if (strcmp(t->volid, d->volume) == 0)
		return hx_err_set(err, -EINVAL, "disks[%u] is %s already",
				  q->disk, d->volume);
	return 0;
}

int storage_move_check(struct agent *a, const struct svm_req *q,
		       const struct statedb_vm *vm, const struct vm_config *c,
		       struct hx_err *err)
{
	struct statedb_snapshot *snaps = NULL;
	struct move_target t;
	struct disk_ref src;
	struct stor_vol v;
	unsigned n = 0;
	int r;

	if (q->disk >= c->ndisks)
		return hx_err_set(err, -ENOENT, "VM %" PRId64 " has no disk %u",
				  c->vmid, q->disk);
	if (c->template)
		return hx_err_set(err, -EBUSY,
				  "VM %" PRId64 " is a template: its disks are "
				  "the base of clones",
				  c->vmid);
	if (vm->pending != NULL)
		return hx_err_set(err, -EBUSY,
				  "VM %" PRId64 " has pending changes: start "
				  "it or revert them first",
				  c->vmid);
	if ((r = statedb_snapshot_list(a->db, c->vmid, &snaps, &n, err)) < 0)
		return r;
	statedb_snapshot_list_free(snaps, n);
	if (n > 0)
		return hx_err_set(err, -EBUSY,
				  "VM %" PRId64 " has snapshots, which a moved "
				  "disk would lose: delete them first",
				  c->vmid);
	if ((r = storage_disk_ref(a, &c->disks[q->disk], &src, err)) < 0 ||
	    (r = move_target(a, q, c, &t, err)) < 0)
		return r;
	if (t.be->info(&t.pool, t.name, &v, NULL) == 0)
		return hx_err_set(err, -EEXIST, "volume '%s' exists already",
				  t.volid);
	return 0;
}

/* Mirrors the running disk @dev into @path, pivots to it. */
static int move_online(struct storage_job *j, virDomainPtr d, const char *dev,
		       const char *path, const char *format, struct hx_err *err)
{
	virTypedParameter par[1];
	virDomainBlockJobInfo info;
	char *xml, last[64] = "";
	uint64_t deadline = hx_now_ms() + 6 * 3600 * 1000ULL;
	int npar = 0, r;

	if ((xml = vmxml_disk_xml(path, format)) == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if (j->req.mibs > 0) {
		memset(par, 0, sizeof(par));
		snprintf(par[0].field, sizeof(par[0].field), "%s",
			 VIR_DOMAIN_BLOCK_COPY_BANDWIDTH);
		par[0].type = VIR_TYPED_PARAM_ULLONG;
		par[0].value.ul = (unsigned long long)j->req.mibs << 20;
		npar = 1;
	}
	r = virDomainBlockCopy(d, dev, xml, par, npar,
			       VIR_DOMAIN_BLOCK_COPY_REUSE_EXT |
				       VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB);
	free(xml);
	if (r < 0)
		return hx_err_set(err, -EIO, "block copy: %s",
				  vmexec_virt_error());
	for (;;) {
		r = virDomainGetBlockJobInfo(d, dev, &info, 0);
		if (r < 0) {
			r = hx_err_set(err, -EIO, "block copy: %s",
				       vmexec_virt_error());
			break;
		}
		if (r == 0) {
			r = hx_err_set(err, -EIO,
				       "the block copy ended by "
				       "itself");
			break;
		}
		if (info.end > 0) {
			int pct = (int)(10 + 85 * (double)info.cur / info.end);
			char msg[64];

			snprintf(msg, sizeof(msg), "copied %llu/%llu MiB",
				 info.cur >> 20, info.end >> 20);
			if (strcmp(msg, last) != 0) {
				vmexec_task_progress(j->a->vmx, j->task, pct,
						     msg);
				snprintf(last, sizeof(last), "%s", msg);
			}
		}
		/* Ready once everything is copied; the pivot is refused
		 * until QEMU says so, then switches at once. */
		if (info.end > 0 && info.cur == info.end &&
		    virDomainBlockJobAbort(
			    d, dev, VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT) == 0) {
			r = 0;
			break;
		}
		if (hx_now_ms() > deadline) {
			r = hx_err_set(err, -ETIMEDOUT,
				       "the block copy did not finish in 6 h");
			break;
		}
		usleep(200000);
	}
	if (r < 0)
		(void)virDomainBlockJobAbort(d, dev, 0);
	return r;
}

static int move_offline(const struct disk_ref *src, const char *spath,
			const char *dpath, const char *format,
			struct hx_err *err)
{
	const char *sfmt = stor_format_of(src->name);
	const char *argv[] = {"qemu-img", "convert", "-n",  "-f",  sfmt,
			      "-O",	  format,    spath, dpath, NULL};

	return stor_run(argv, 6 * 3600 * 1000, "qemu-img convert", err);
}

int storage_move_run(struct storage_job *j, virConnectPtr c, struct hx_err *err)
{
	struct statedb_vm vm;
	struct vm_config *conf = calloc(1, sizeof(*conf));
	struct move_target t;
	struct disk_ref src;
	struct stor_vol v;
	struct vm_disk sd;
	char spath[1100], dpath[1100], dev[8], old[512];
	const char *macs[VM_MAX_NICS];
	struct statedb_vm_spec spec;
	char tags[1100], *text = NULL;
	virDomainPtr d = NULL;
	bool running;
	int r;

	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = vmexec_load(j->a->vmx, j->req.vmid, &vm, conf, err)) < 0)
		goto out_free;
	if ((r = storage_move_check(j->a, &j->req, &vm, conf, err)) < 0 ||
	    (r = storage_disk_ref(j->a, &conf->disks[j->req.disk], &src, err)) <
		    0 ||
	    (r = move_target(j->a, &j->req, conf, &t, err)) < 0 ||
	    (r = src.be->info(&src.pool, src.name, &v, err)) < 0)
		goto out_vm;
	if (src.be->path(&src.pool, src.name, spath, sizeof(spath)) < 0 ||
	    t.be->path(&t.pool, t.name, dpath, sizeof(dpath)) < 0) {
		r = hx_err_set(err, -ENAMETOOLONG, "path too long");
		goto out_vm;
	}
	vmexec_task_progress(j->a->vmx, j->task, 5, "creating the target");
	if ((r = t.be->create(&t.pool, t.name, v.size_bytes, err)) < 0)
		goto out_vm;
	d = vmexec_domain(c, j->req.vmid);
	running = d != NULL && virDomainIsActive(d) == 1;
	vmxml_disk_dev(conf, j->req.disk, dev, sizeof(dev));
	vmexec_task_log(j->a->vmx, j->task, "moving %s (%s) to %s, %s",
			conf->disks[j->req.disk].volume, dev, t.volid,
			running ? "online (block copy)" : "offline");
	if (running)
		r = move_online(j, d, dev, dpath, t.format, err);
	else
		r = move_offline(&src, spath, dpath, t.format, err);
	if (r < 0) {
		(void)t.be->remove(&t.pool, t.name, NULL);
		goto out_vm;
	}
	sd = conf->disks[j->req.disk];
	snprintf(old, sizeof(old), "%s", sd.volume);
	snprintf(conf->disks[j->req.disk].volume,
		 sizeof(conf->disks[j->req.disk].volume), "%s", t.volid);
	snprintf(conf->disks[j->req.disk].format,
		 sizeof(conf->disks[j->req.disk].format), "%s", t.format);
	if (storage_vm_spec(conf, &spec, tags, sizeof(tags), macs, &text) < 0)
		r = hx_err_set(err, -ENOMEM, "out of memory");
	else
		r = statedb_vm_update(j->a->db, j->req.vmid, &spec, NULL, err);
	if (r < 0) {
		/* The VM may run on the copy already: keep both volumes and
		 * say so, rather than delete what it uses. */
		hx_err_prefix(err,
			      "disk copied to %s but the configuration "
			      "still names %s",
			      t.volid, old);
		goto out_vm;
	}
	vmexec_task_progress(j->a->vmx, j->task, 97, "moved");
	if (j->req.keep) {
		vmexec_task_log(j->a->vmx, j->task, "kept the source %s", old);
	} else if (strncmp(old, "local:", 6) != 0) {
		/* The configuration no longer names it: the usual checks
		 * (other VMs, linked clones based on it) decide. */
		struct hx_err e = {0};

		if (storage_volume_delete(j->a, src.pool.name, src.name, &e) ==
		    0)
			vmexec_task_log(j->a->vmx, j->task,
					"deleted the source %s", old);
		else
			vmexec_task_log(j->a->vmx, j->task,
					"kept the source %s: %s", old, e.msg);
	} else if (storage_local_is_base(j->a, &sd)) {
		vmexec_task_log(j->a->vmx, j->task,
				"kept the source %s (base of a linked clone)",
				old);
	} else if (src.be->remove(&src.pool, src.name, NULL) == 0) {
		vmexec_task_log(j->a->vmx, j->task, "deleted the source %s",
				old);
	}
	storage_kick(j->a);
out_vm:
	statedb_vm_clear(&vm);
out_free:
	if (d != NULL)
		virDomainFree(d);
	free(text);
	free(conf);
	return r;
}
