/*
 * VM snapshots, templates and clones: what the storage backends do to a
 * VM's disks, with libvirt for what a running VM holds.
 *
 * DESIGN: the snapshot tree lives in statedb (it outlives domains and
 * nodes); the data lives where the disks are. How a snapshot is taken
 * depends on the disks and on whether the VM runs:
 *
 *   stopped VM, any snapshot-capable disks: each backend snapshots its
 *     volume (qemu-img snapshot, btrfs read-only subvolume snapshot);
 *   running VM, all disks qcow2: one libvirt internal snapshot (QEMU's
 *     savevm: disks and RAM in the qcow2 files, atomically);
 *   running VM, all disks btrfs raw: libvirt saves the RAM to a file and
 *     stops QEMU, the subvolumes are snapshotted while nothing writes,
 *     and the domain is restored from the file (a second or two of
 *     pause); the file (DATA_DIR/vms/VMID/snap-NAME.ram) is the RAM state.
 *
 * A rollback restores the snapshot's configuration too, and the VM ends
 * as it was when the snapshot was taken: running from the saved RAM, or
 * stopped for a disk-only snapshot. Every operation runs as a task that
 * owns the VM (vmexec_claim), so the reconciler neither restarts a VM a
 * rollback powered off nor stops one it restores. A template never runs:
 * its disks are the fixed base of linked clones (a qcow2 backing file, or
 * a btrfs subvolume snapshot, which does not even depend on its base).
 * "local:" disks are treated as volumes of a directory pool at the
 * node's images directory, so they get snapshots and clones too.
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

#include "agent/agent.h"
#include "agent/storage.h"
#include "agent/storage_vm.h"
#include "agent/vm.h"
#include "agent/vmexec.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

static const char *const op_kinds[] = {
	[SVM_SNAP_CREATE] = "vm.snapshot",
	[SVM_SNAP_ROLLBACK] = "vm.rollback",
	[SVM_SNAP_DELETE] = "vm.snapshot-delete",
	[SVM_TEMPLATE] = "vm.template",
	[SVM_CLONE] = "vm.clone",
	[SVM_MOVE] = "vm.move-disk",
};

/* ---- disks ---- */

int storage_disk_ref(struct agent *a, const struct vm_disk *d,
		     struct disk_ref *ret, struct hx_err *err)
{
	char pool[STATEDB_POOL_NAME_MAX + 1];
	int r;

	memset(ret, 0, sizeof(*ret));
	if (d->volume[0] == '/')
		return hx_err_set(err, -EINVAL,
				  "disk '%s' is a plain file: snapshots and "
				  "clones need a pool or local: volume",
				  d->volume);
	if (strncmp(d->volume, "local:", 6) == 0) {
		snprintf(ret->pool.name, sizeof(ret->pool.name), "local");
		snprintf(ret->pool.type, sizeof(ret->pool.type), "dir");
		if (strlen(a->vmx->cfg.images_dir) >= sizeof(ret->pool.path))
			return hx_err_set(err, -ENAMETOOLONG,
					  "images directory path too long");
		memcpy(ret->pool.path, a->vmx->cfg.images_dir,
		       strlen(a->vmx->cfg.images_dir) + 1);
		ret->be = &stor_dir_backend;
		if (snprintf(ret->name, sizeof(ret->name), "%s.%s",
			     d->volume + 6,
			     d->format) >= (int)sizeof(ret->name))
			return hx_err_set(err, -EINVAL, "'%s': name too long",
					  d->volume);
	} else if ((r = statedb_volid_parse(d->volume, pool, sizeof(pool),
					    ret->name, sizeof(ret->name),
					    err)) < 0 ||
		   (r = storage_pool_here(a, pool, &ret->pool, &ret->be, err)) <
			   0) {
		return r;
	}
	if (strcmp(d->format, "qcow2") == 0)
		ret->kind = DK_QCOW2;
	else if (strcmp(ret->pool.type, "btrfs") == 0)
		ret->kind = DK_BTRFS_RAW;
	else if (strcmp(ret->pool.type, "rbd") == 0)
		ret->kind = DK_RBD;
	return 0;
}

/* References of every disk of @c into @refs; the kinds they share in
 * *ret_all (DK_NONE if mixed). */
static int disk_refs(struct agent *a, const struct vm_config *c,
		     struct disk_ref *refs, enum disk_kind *ret_all,
		     struct hx_err *err)
{
	enum disk_kind all = DK_NONE;
	int r;

	for (unsigned i = 0; i < c->ndisks; i++) {
		if ((r = storage_disk_ref(a, &c->disks[i], &refs[i], err)) < 0)
			return hx_err_prefix(err, "disks[%u]", i);
		if (refs[i].kind == DK_NONE)
			return hx_err_set(
				err, -EINVAL,
				"disks[%u]: raw volume '%s' on a %s "
				"pool has no snapshots (use qcow2, a "
				"btrfs or an RBD pool)",
				i, c->disks[i].volume, refs[i].pool.type);
		all = i == 0 || all == refs[i].kind ? refs[i].kind : DK_NONE;
	}
	*ret_all = c->ndisks == 0 ? DK_QCOW2 : all;
	return 0;
}

/* ---- libvirt ---- */

/* Whether VM @vmid's domain runs here (running or paused). */
static int domain_active(struct agent *a, int64_t vmid, bool *ret,
			 struct hx_err *err)
{
	virConnectPtr c = vmexec_conn(a->vmx, err);
	virDomainPtr d;

	if (c == NULL)
		return err != NULL ? err->code : -ECONNREFUSED;
	d = vmexec_domain(c, vmid);
	*ret = d != NULL && virDomainIsActive(d) == 1;
	if (d != NULL)
		virDomainFree(d);
	virConnectClose(c);
	return 0;
}

static void ram_path(struct agent *a, int64_t vmid, const char *snap, char *buf,
		     size_t len)
{
	snprintf(buf, len, "%s/%" PRId64 "/snap-%s.ram", a->vmx->cfg.vms_dir,
		 vmid, snap);
}

/* ---- snapshot create ---- */

/* Snapshots every disk through its backend; undoes them on failure. */
static int disks_snapshot(const struct vm_config *c, struct disk_ref *refs,
			  const char *snap, struct hx_err *err)
{
	int r = 0;
	unsigned i;

	for (i = 0; i < c->ndisks && r == 0; i++)
		r = refs[i].be->snap_create(&refs[i].pool, refs[i].name, snap,
					    err);
	if (r < 0)
		for (unsigned k = 0; k + 1 < i; k++)
			(void)refs[k].be->snap_delete(&refs[k].pool,
						      refs[k].name, snap, NULL);
	return r;
}

static int snap_running_qcow2(struct storage_job *j, virDomainPtr d,
			      struct hx_err *err)
{
	char xml[400];
	virDomainSnapshotPtr s;

	/* The name is [A-Za-z0-9_-] (statedb_snapshot_name_check). */
	snprintf(xml, sizeof(xml),
		 "<domainsnapshot><name>%s</name></domainsnapshot>",
		 j->req.name);
	s = virDomainSnapshotCreateXML(d, xml, 0);
	if (s == NULL)
		return hx_err_set(err, -EIO, "libvirt snapshot: %s",
				  vmexec_virt_error());
	virDomainSnapshotFree(s);
	return 0;
}

static int snap_running_btrfs(struct storage_job *j, virConnectPtr c,
			      virDomainPtr d, const struct vm_config *conf,
			      struct disk_ref *refs, struct hx_err *err)
{
	char path[1200];
	uint64_t t0 = hx_now_ms();
	int r;

	ram_path(j->a, j->req.vmid, j->req.name, path, sizeof(path));
	(void)unlink(path);
	if (virDomainSaveFlags(d, path, NULL, 0) < 0)
		return hx_err_set(err, -EIO, "saving the RAM state: %s",
				  vmexec_virt_error());
	r = disks_snapshot(conf, refs, j->req.name, err);
	if (virDomainRestoreFlags(c, path, NULL, VIR_DOMAIN_SAVE_RUNNING) < 0) {
		hx_log(LOG_ERR, "vm=%" PRId64 " cannot resume from '%s': %s",
		       j->req.vmid, path, vmexec_virt_error());
		if (r == 0)
			r = hx_err_set(err, -EIO,
				       "snapshot taken, but the VM did not "
				       "resume: %s (it is stopped)",
				       vmexec_virt_error());
		(void)statedb_vm_set_desired(j->a->db, j->req.vmid, "stopped",
					     false, NULL);
	}
	if (r < 0)
		(void)unlink(path);
	else
		vmexec_task_log(j->a->vmx, j->task,
				"VM paused %" PRIu64 " ms for the snapshot",
				hx_now_ms() - t0);
	return r;
}

static int act_snapshot(struct storage_job *j, virConnectPtr c,
			struct hx_err *err)
{
	struct statedb_snapshot s = {.vmid = j->req.vmid};
	struct disk_ref refs[VM_MAX_DISKS];
	struct statedb_vm vm;
	struct vm_config *conf = calloc(1, sizeof(*conf));
	enum disk_kind all;
	virDomainPtr d = NULL;
	bool running;
	int r;

	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = vmexec_load(j->a->vmx, j->req.vmid, &vm, conf, err)) < 0)
		goto out_free;
	if ((r = disk_refs(j->a, conf, refs, &all, err)) < 0)
		goto out_clear;
	d = vmexec_domain(c, j->req.vmid);
	running = d != NULL && virDomainIsActive(d) == 1;
	if (!running) {
		vmexec_task_log(j->a->vmx, j->task,
				"VM is stopped: disk snapshots");
		r = disks_snapshot(conf, refs, j->req.name, err);
	} else if (all == DK_QCOW2) {
		vmexec_task_log(j->a->vmx, j->task,
				"VM runs: qcow2 internal snapshot with RAM");
		r = snap_running_qcow2(j, d, err);
	} else if (all == DK_BTRFS_RAW) {
		vmexec_task_log(j->a->vmx, j->task,
				"VM runs: RAM saved, btrfs snapshots, resumed");
		r = snap_running_btrfs(j, c, d, conf, refs, err);
	} else {
		r = hx_err_set(err, -EBUSY,
			       "a running VM's disks must all be qcow2 or all "
			       "btrfs raw to snapshot it with its RAM: stop "
			       "it first");
	}
	if (r < 0)
		goto out_clear;
	snprintf(s.name, sizeof(s.name), "%s", j->req.name);
	snprintf(s.description, sizeof(s.description), "%s",
		 j->req.description);
	s.ram = running;
	s.config = vm.config;
	if ((r = statedb_snapshot_add(j->a->db, &s, err)) < 0) {
		/* Best effort: the tree is the truth, drop what it lacks. */
		if (running && all == DK_QCOW2) {
			virDomainSnapshotPtr ls = virDomainSnapshotLookupByName(
				d, j->req.name, 0);
			if (ls != NULL) {
				(void)virDomainSnapshotDelete(ls, 0);
				virDomainSnapshotFree(ls);
			}
		} else {
			for (unsigned i = 0; i < conf->ndisks; i++)
				(void)refs[i].be->snap_delete(
					&refs[i].pool, refs[i].name,
					j->req.name, NULL);
		}
	}
out_clear:
	statedb_vm_clear(&vm);
out_free:
	if (d != NULL)
		virDomainFree(d);
	free(conf);
	return r;
}

/* ---- rollback ---- */

static int snap_find(struct agent *a, int64_t vmid, const char *name,
		     struct statedb_snapshot *ret, struct hx_err *err)
{
	struct statedb_snapshot *list = NULL;
	unsigned n = 0;
	int r;

	if ((r = statedb_snapshot_list(a->db, vmid, &list, &n, err)) < 0)
		return r;
	r = hx_err_set(err, -ENOENT, "VM %" PRId64 " has no snapshot '%s'",
		       vmid, name);
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(list[i].name, name) != 0)
			continue;
		*ret = list[i];
		list[i].config = NULL; /* moved to *ret */
		if (err != NULL)
			memset(err, 0, sizeof(*err));
		r = 0;
	}
	statedb_snapshot_list_free(list, n);
	return r;
}

/* The write-side view of configuration @c (no pending change). */
int storage_vm_spec(const struct vm_config *c, struct statedb_vm_spec *s,
		    char *tags, size_t tags_len, const char **macs,
		    char **ret_config)
{
	*ret_config = vmconf_dump(c);
	if (*ret_config == NULL)
		return -ENOMEM;
	vmconf_tags_text(c, tags, tags_len);
	for (unsigned i = 0; i < c->nnics; i++)
		macs[i] = c->nics[i].mac;
	*s = (struct statedb_vm_spec){
		.name = c->name,
		.cpus = c->sockets * c->cores,
		.memory_mb = c->memory_mb,
		.tags = tags,
		.config = *ret_config,
		.pending = NULL,
		.macs = macs,
		.nmacs = c->nnics,
	};
	return 0;
}

/* Puts the snapshot's configuration back (keeping the VM's name). */
static int config_restore(struct storage_job *j,
			  const struct vm_config *snapconf,
			  const struct vm_config *cur, struct hx_err *err)
{
	struct vm_config *c = malloc(sizeof(*c));
	const char *macs[VM_MAX_NICS];
	struct statedb_vm_spec spec;
	char tags[1100], *text = NULL;
	int r;

	if (c == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	*c = *snapconf;
	memcpy(c->name, cur->name, sizeof(c->name));
	if (storage_vm_spec(c, &spec, tags, sizeof(tags), macs, &text) < 0) {
		free(c);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	r = statedb_vm_update(j->a->db, j->req.vmid, &spec, NULL, err);
	free(text);
	free(c);
	return r;
}

static int disks_rollback(struct storage_job *j, const struct vm_config *c,
			  struct disk_ref *refs, struct hx_err *err)
{
	int r;

	for (unsigned i = 0; i < c->ndisks; i++) {
		r = refs[i].be->snap_rollback(&refs[i].pool, refs[i].name,
					      j->req.name, err);
		if (r < 0)
			return hx_err_prefix(err, "disks[%u]", i);
		vmexec_task_log(j->a->vmx, j->task, "rolled back %s",
				c->disks[i].volume);
	}
	return 0;
}

static int act_rollback(struct storage_job *j, virConnectPtr c,
			struct hx_err *err)
{
	struct statedb_snapshot s = {0};
	struct disk_ref refs[VM_MAX_DISKS];
	struct statedb_vm vm;
	struct vm_config *conf = calloc(2, sizeof(*conf)), *cur = conf + 1;
	enum disk_kind all;
	virDomainPtr d = NULL;
	bool ends_running = false;
	char path[1200];
	int r;

	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = snap_find(j->a, j->req.vmid, j->req.name, &s, err)) < 0)
		goto out_free;
	if ((r = vmexec_load(j->a->vmx, j->req.vmid, &vm, cur, err)) < 0)
		goto out_free;
	statedb_vm_clear(&vm);
	if ((r = vmconf_load(s.config, conf, err)) < 0 ||
	    (r = disk_refs(j->a, conf, refs, &all, err)) < 0)
		goto out_free;
	d = vmexec_domain(c, j->req.vmid);
	if (s.ram && all == DK_QCOW2) {
		virDomainSnapshotPtr ls =
			d != NULL ? virDomainSnapshotLookupByName(d, s.name, 0)
				  : NULL;
		if (ls == NULL) {
			r = hx_err_set(
				err, -ENOENT,
				"libvirt on node '%s' does not know "
				"snapshot '%s' (taken on another node?): "
				"its RAM state cannot be restored here",
				j->a->cfg.name, s.name);
			goto out_free;
		}
		vmexec_task_log(j->a->vmx, j->task,
				"reverting disks and RAM (libvirt)");
		r = virDomainRevertToSnapshot(
			ls, VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING);
		if (r < 0) {
			/* Seen once on a loaded machine: the new QEMU that
			 * loads the snapshot fails to start. The domain is
			 * off now; a second revert starts it afresh. */
			vmexec_task_log(j->a->vmx, j->task,
					"revert failed (%s): trying once more",
					vmexec_virt_error());
			r = virDomainRevertToSnapshot(
				ls, VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING);
		}
		if (r < 0) /* before the next call resets the error */
			hx_err_set(err, -EIO, "libvirt revert: %s",
				   vmexec_virt_error());
		virDomainSnapshotFree(ls);
		if (r < 0) {
			r = -EIO;
			goto out_free;
		}
		ends_running = true;
	} else {
		ram_path(j->a, j->req.vmid, s.name, path, sizeof(path));
		if (s.ram && access(path, R_OK) < 0) {
			r = hx_err_set(
				err, -ENOENT,
				"the RAM state of snapshot '%s' is not on "
				"node '%s' ('%s')",
				s.name, j->a->cfg.name, path);
			goto out_free;
		}
		if (d != NULL && virDomainIsActive(d) == 1) {
			vmexec_task_log(j->a->vmx, j->task, "powering off");
			(void)statedb_vm_set_desired(j->a->db, j->req.vmid,
						     "stopped", false, NULL);
			if (virDomainDestroy(d) < 0) {
				r = hx_err_set(err, -EIO,
					       "cannot power off: %s",
					       vmexec_virt_error());
				goto out_free;
			}
		}
		if ((r = disks_rollback(j, conf, refs, err)) < 0)
			goto out_free;
		if (s.ram) {
			vmexec_task_log(j->a->vmx, j->task,
					"restoring the RAM state");
			if (virDomainRestoreFlags(c, path, NULL,
						  VIR_DOMAIN_SAVE_RUNNING) <
			    0) {
				r = hx_err_set(err, -EIO,
					       "disks rolled back, but the RAM "
					       "state did not load: %s",
					       vmexec_virt_error());
				goto out_free;
			}
			ends_running = true;
		}
	}
	if ((r = config_restore(j, conf, cur, err)) < 0 ||
	    (r = statedb_snapshot_set_current(j->a->db, j->req.vmid, s.name,
					      err)) < 0)
		goto out_free;
	(void)statedb_vm_set_desired(j->a->db, j->req.vmid,
				     ends_running ? "running" : "stopped",
				     false, NULL);
	(void)statedb_vm_set_state(j->a->db, j->req.vmid, j->a->cfg.name,
				   ends_running ? "running" : "stopped", NULL);
	vmexec_task_log(j->a->vmx, j->task, "VM is %s",
			ends_running ? "running from the snapshot's RAM"
				     : "stopped at the snapshot");
out_free:
	if (d != NULL)
		virDomainFree(d);
	free(s.config);
	free(conf);
	return r;
}

/* ---- delete ---- */

static int act_snap_delete(struct storage_job *j, virConnectPtr c,
			   struct hx_err *err)
{
	struct statedb_snapshot s = {0};
	struct disk_ref refs[VM_MAX_DISKS];
	struct vm_config *conf = calloc(1, sizeof(*conf));
	enum disk_kind all;
	virDomainPtr d = NULL;
	char path[1200];
	bool running;
	int r;

	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = snap_find(j->a, j->req.vmid, j->req.name, &s, err)) < 0 ||
	    (r = vmconf_load(s.config, conf, err)) < 0 ||
	    (r = disk_refs(j->a, conf, refs, &all, err)) < 0)
		goto out;
	d = vmexec_domain(c, j->req.vmid);
	running = d != NULL && virDomainIsActive(d) == 1;
	virDomainSnapshotPtr ls =
		d != NULL ? virDomainSnapshotLookupByName(d, s.name, 0) : NULL;
	if (ls != NULL) {
		r = virDomainSnapshotDelete(ls, 0);
		if (r < 0)
			hx_err_set(err, -EIO, "libvirt: %s",
				   vmexec_virt_error());
		virDomainSnapshotFree(ls);
		if (r < 0) {
			r = -EIO;
			goto out;
		}
	} else {
		for (unsigned i = 0; i < conf->ndisks; i++) {
			if (running && refs[i].kind == DK_QCOW2) {
				r = hx_err_set(err, -EBUSY,
					       "qcow2 disk snapshot '%s' of a "
					       "running VM: stop the VM to "
					       "delete it",
					       s.name);
				goto out;
			}
			r = refs[i].be->snap_delete(&refs[i].pool, refs[i].name,
						    s.name, err);
			if (r < 0 && r != -ENOENT)
				goto out;
			r = 0;
		}
	}
	ram_path(j->a, j->req.vmid, s.name, path, sizeof(path));
	(void)unlink(path);
	r = statedb_snapshot_remove(j->a->db, j->req.vmid, s.name, err);
out:
	if (d != NULL)
		virDomainFree(d);
	free(s.config);
	free(conf);
	return r;
}

/* ---- templates and clones ---- */

static int act_template(struct storage_job *j, struct hx_err *err)
{
	struct statedb_vm vm;
	struct vm_config *conf = calloc(1, sizeof(*conf));
	const char *macs[VM_MAX_NICS];
	struct statedb_vm_spec spec;
	char tags[1100], *text = NULL;
	int r;

	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = vmexec_load(j->a->vmx, j->req.vmid, &vm, conf, err)) < 0)
		goto out;
	conf->template = true;
	if (storage_vm_spec(conf, &spec, tags, sizeof(tags), macs, &text) < 0)
		r = hx_err_set(err, -ENOMEM, "out of memory");
	else
		r = statedb_vm_update(j->a->db, j->req.vmid, &spec, vm.digest,
				      err);
	statedb_vm_clear(&vm);
	free(text);
out:
	free(conf);
	return r;
}

/* The clone's configuration: new VMID, name and MACs, template off, and
 * each disk a new volume vm-NEWID-disk-I in the source disk's pool. */
static int clone_config(const struct vm_config *src, const struct svm_req *q,
			int64_t newid, struct vm_config *ret,
			struct hx_err *err)
{
	json_t *j = vmconf_to_json(src), *disks, *d, *nics, *n;
	size_t i;
	int r;

	if (j == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	json_object_set_new(j, "vmid", json_integer(newid));
	json_object_set_new(j, "name", json_string(q->newname));
	json_object_del(j, "template");
	json_object_set_new(j, "onboot", json_false());
	nics = json_object_get(j, "nics");
	json_array_foreach(nics, i, n) json_object_del(n, "mac");
	disks = json_object_get(j, "disks");
	json_array_foreach(disks, i, d)
	{
		const struct vm_disk *sd = &src->disks[i];
		char vol[STATEDB_POOL_NAME_MAX + 64];

		const char *fmt = q->format[0] ? q->format : sd->format;

		if (q->pool[0] != '\0')
			snprintf(vol, sizeof(vol),
				 "%s:vm-%" PRId64 "-disk-%zu.%s", q->pool,
				 newid, i, fmt);
		else if (strncmp(sd->volume, "local:", 6) == 0)
			snprintf(vol, sizeof(vol),
				 "local:vm-%" PRId64 "-disk-%zu", newid, i);
		else
			snprintf(vol, sizeof(vol),
				 "%.*s:vm-%" PRId64 "-disk-%zu.%s",
				 (int)strcspn(sd->volume, ":"), sd->volume,
				 newid, i, fmt);
		json_object_set_new(d, "volume", json_string(vol));
		json_object_set_new(d, "format", json_string(fmt));
	}
	r = vmconf_parse(j, ret, err);
	json_decref(j);
	return r;
}

/* References of the disks of @c for a clone: a full clone copies any
 * pool volume; a linked one needs disks that can be a base (disk_refs). */
static int clone_refs(struct agent *a, const struct vm_config *c,
		      struct disk_ref *refs, bool linked, struct hx_err *err)
{
	enum disk_kind all;
	int r;

	if (linked)
		return disk_refs(a, c, refs, &all, err);
	for (unsigned i = 0; i < c->ndisks; i++)
		if ((r = storage_disk_ref(a, &c->disks[i], &refs[i], err)) < 0)
			return hx_err_prefix(err, "disks[%u]", i);
	return 0;
}

/* The clone's disks against its target: a pool that holds images and
 * is usable here (the copy runs here) and, for another node, shared and
 * usable there too; a format the pool takes; linked clones stay in their
 * template's pools. */
static int clone_target_check(struct agent *a, const struct svm_req *q,
			      const struct vm_config *nc, struct hx_err *err)
{
	bool other = q->node[0] != '\0' && strcmp(q->node, a->cfg.name) != 0;
	struct statedb_node node;
	int r;

	if (q->linked && (q->pool[0] != '\0' || q->format[0] != '\0'))
		return hx_err_set(err, -EINVAL,
				  "a linked clone stays in its template's "
				  "pools and formats: drop pool and format, "
				  "or ask for a full clone (linked: false)");
	if (other && (r = statedb_node_get(a->db, q->node, &node, err)) < 0)
		return r;
	for (unsigned i = 0; i < nc->ndisks; i++) {
		struct disk_ref ref;

		if (strncmp(nc->disks[i].volume, "local:", 6) == 0) {
			if (other)
				return hx_err_set(
					err, -EINVAL,
					"disks[%u] is a local: volume: a "
					"clone for node '%s' needs its disks "
					"on a shared pool (give pool)",
					i, q->node);
			continue;
		}
		if ((r = storage_disk_ref(a, &nc->disks[i], &ref, err)) < 0)
			return hx_err_prefix(err, "disks[%u]", i);
		if (!statedb_pool_has_content(&ref.pool, "images"))
			return hx_err_set(err, -EINVAL,
					  "pool '%s' does not hold images",
					  ref.pool.name);
		if (strcmp(ref.pool.type, "rbd") == 0 &&
		    strcmp(nc->disks[i].format, "raw") != 0)
			return hx_err_set(err, -EINVAL,
					  "disks[%u]: an RBD pool holds raw "
					  "images (format: raw)",
					  i);
		if (other && (!ref.pool.shared ||
			      !statedb_pool_on_node(&ref.pool, q->node)))
			return hx_err_set(err, -EINVAL,
					  "disks[%u]: pool '%s' is %s: a clone "
					  "for node '%s' needs a shared pool "
					  "that node may use",
					  i, ref.pool.name,
					  ref.pool.shared ? "not for that node"
							  : "node-local",
					  q->node);
	}
	return 0;
}

/* A full copy of @src into @dst, a volume of another pool (any two
 * backends): @dst is created with @src's size, then qemu-img converts
 * into it, changing the format if they differ. */
static int copy_across(const struct disk_ref *src, const struct disk_ref *dst,
		       struct hx_err *err)
{
	char spath[1100], dpath[1100];
	const char *sfmt = stor_format_of(src->name);
	const char *dfmt = stor_format_of(dst->name);
	struct stor_vol v;
	int r;

	if (sfmt == NULL || dfmt == NULL)
		return hx_err_set(err, -EINVAL, "clone: bad volume names");
	if ((r = src->be->info(&src->pool, src->name, &v, err)) < 0)
		return r;
	if (src->be->path(&src->pool, src->name, spath, sizeof(spath)) < 0 ||
	    dst->be->path(&dst->pool, dst->name, dpath, sizeof(dpath)) < 0)
		return hx_err_set(err, -ENAMETOOLONG, "path too long");
	if ((r = dst->be->create(&dst->pool, dst->name, v.size_bytes, err)) <
	    0)
		return r;
	const char *argv[] = {"qemu-img", "convert", "-U", "-n", "-f", sfmt,
			      "-O",	  dfmt,	     spath, dpath, NULL};
	if ((r = stor_run(argv, 3600000, "qemu-img convert", err)) < 0)
		(void)dst->be->remove(&dst->pool, dst->name, NULL);
	return r;
}

static int act_clone(struct storage_job *j, struct hx_err *err)
{
	struct disk_ref src[VM_MAX_DISKS], dst[VM_MAX_DISKS];
	struct statedb_vm vm;
	struct vm_config *conf = calloc(2, sizeof(*conf)), *nc = conf + 1;
	const char *macs[VM_MAX_NICS];
	struct statedb_vm_spec spec;
	char tags[1100], *text = NULL;
	int64_t newid = j->req.newid;
	unsigned done = 0;
	int r;

	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = vmexec_load(j->a->vmx, j->req.vmid, &vm, conf, err)) < 0)
		goto out_free;
	statedb_vm_clear(&vm);
	if (j->req.linked && !conf->template) {
		r = hx_err_set(err, -EINVAL,
			       "a linked clone needs a template: convert VM "
			       "%" PRId64 " first (its disks become the "
			       "clones' fixed base)",
			       j->req.vmid);
		goto out_free;
	}
	if ((r = clone_refs(j->a, conf, src, j->req.linked, err)) < 0 ||
	    (r = clone_config(conf, &j->req, newid, nc, err)) < 0 ||
	    (r = clone_refs(j->a, nc, dst, j->req.linked, err)) < 0)
		goto out_free;
	snprintf(nc->node, sizeof(nc->node), "%s",
		 j->req.node[0] ? j->req.node : j->a->cfg.name);
	if (storage_vm_spec(nc, &spec, tags, sizeof(tags), macs, &text) < 0) {
		r = hx_err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	if ((r = statedb_vm_create(j->a->db, newid, nc->node, &spec,
				   "stopped", err)) < 0)
		goto out_free;
	for (done = 0; done < conf->ndisks; done++) {
		vmexec_task_progress(j->a->vmx, j->task,
				     10 + (int)(80 * done / conf->ndisks),
				     "cloning disks");
		if (strcmp(src[done].pool.name, dst[done].pool.name) != 0 ||
		    strcmp(stor_format_of(src[done].name) ?: "",
			   stor_format_of(dst[done].name) ?: "") != 0)
			r = copy_across(&src[done], &dst[done], err);
		else
			r = src[done].be->clone(&src[done].pool, src[done].name,
						dst[done].name, j->req.linked,
						err);
		if (r < 0) {
			hx_err_prefix(err, "disks[%u]", done);
			break;
		}
		vmexec_task_log(j->a->vmx, j->task, "%s clone %s of %s",
				j->req.linked ? "linked" : "full",
				nc->disks[done].volume,
				conf->disks[done].volume);
	}
	if (r < 0) {
		for (unsigned k = 0; k < done; k++)
			(void)dst[k].be->remove(&dst[k].pool, dst[k].name,
						NULL);
		(void)statedb_vm_delete(j->a->db, newid, NULL);
		goto out_free;
	}
	r = statedb_vm_lock(j->a->db, newid, "", "create", err);
	storage_kick(j->a);
out_free:
	free(text);
	free(conf);
	return r;
}

/* ---- jobs ---- */

static void *job_thread(void *data)
{
	struct storage_job *j = data;
	struct agent *a = j->a;
	struct hx_err err = {0};
	char subject[32];
	virConnectPtr c;
	int r = -ECONNREFUSED;

	snprintf(subject, sizeof(subject), "vm/%" PRId64, j->req.vmid);
	c = vmexec_conn(a->vmx, &err);
	if (c != NULL) {
		switch (j->req.op) {
		case SVM_SNAP_CREATE:
			r = act_snapshot(j, c, &err);
			break;
		case SVM_SNAP_ROLLBACK:
			r = act_rollback(j, c, &err);
			break;
		case SVM_SNAP_DELETE:
			r = act_snap_delete(j, c, &err);
			break;
		case SVM_TEMPLATE:
			r = act_template(j, &err);
			break;
		case SVM_CLONE:
			r = act_clone(j, &err);
			break;
		case SVM_MOVE:
			r = storage_move_run(j, c, &err);
			break;
		}
		virConnectClose(c);
	}
	if (r < 0)
		hx_log(LOG_WARNING, "vm=%" PRId64 " %s failed: %s", j->req.vmid,
		       op_kinds[j->req.op], err.msg);
	agent_event(a, r < 0 ? "vm.error" : "vm.storage", subject, j->req.actor,
		    "%s%s%s %s%s%s", op_kinds[j->req.op] + 3,
		    j->req.name[0] ? " " : "", j->req.name,
		    r < 0 ? "failed" : "done", r < 0 ? ": " : "",
		    r < 0 ? err.msg : "");
	(void)statedb_task_finish(a->db, j->task, r == 0,
				  r < 0 ? err.msg : "done", NULL);
	vmexec_unclaim(a->vmx, j->req.vmid);
	free(j);
	return NULL;
}

/* Refuses at once what cannot work, so the caller gets a 4xx rather than
 * a task that fails. */
static int precheck(struct agent *a, const struct svm_req *q,
		    struct hx_err *err)
{
	struct statedb_snapshot s = {0};
	struct statedb_vm vm;
	struct vm_config *conf = calloc(1, sizeof(*conf));
	struct disk_ref refs[VM_MAX_DISKS];
	enum disk_kind all;
	bool running = false;
	int r;

	if (conf == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = vmexec_load(a->vmx, q->vmid, &vm, conf, err)) < 0)
		goto out;
	if (vm.lock[0] != '\0') {
		r = hx_err_set(err, -EBUSY, "VM %" PRId64 " is locked (%s)",
			       q->vmid, vm.lock);
		goto out_clear;
	}
	if ((r = domain_active(a, q->vmid, &running, err)) < 0)
		goto out_clear;
	switch (q->op) {
	case SVM_SNAP_CREATE:
		if ((r = statedb_snapshot_name_check(q->name, err)) < 0)
			break;
		if (strcmp(q->name, STORAGE_BASE_SNAP) == 0) {
			r = hx_err_set(err, -EINVAL,
				       "snapshot name '%s' is reserved for the "
				       "base of linked clones",
				       q->name);
			break;
		}
		if (conf->template) {
			r = hx_err_set(err, -EBUSY,
				       "VM %" PRId64
				       " is a template: its disks "
				       "are the base of clones",
				       q->vmid);
			break;
		}
		if (snap_find(a, q->vmid, q->name, &s, NULL) == 0) {
			r = hx_err_set(err, -EEXIST,
				       "VM %" PRId64
				       " already has a snapshot '%s'",
				       q->vmid, q->name);
			break;
		}
		if ((r = disk_refs(a, conf, refs, &all, err)) < 0)
			break;
		if (running && (all == DK_NONE || all == DK_RBD))
			r = hx_err_set(err, -EBUSY,
				       "a running VM's disks must all be qcow2 "
				       "or all btrfs raw (RBD: stop it first)");
		break;
	case SVM_SNAP_ROLLBACK:
	case SVM_SNAP_DELETE:
		if ((r = statedb_snapshot_name_check(q->name, err)) < 0 ||
		    (r = snap_find(a, q->vmid, q->name, &s, err)) < 0)
			break;
		if (conf->template)
			r = hx_err_set(err, -EBUSY,
				       "VM %" PRId64
				       " is a template: its disks "
				       "are the base of clones",
				       q->vmid);
		break;
	case SVM_TEMPLATE:
		if (conf->template)
			r = hx_err_set(err, -EEXIST,
				       "VM %" PRId64 " is a template already",
				       q->vmid);
		else if (running || strcmp(vm.desired, "running") == 0)
			r = hx_err_set(err, -EBUSY,
				       "VM %" PRId64 " runs: stop it first",
				       q->vmid);
		else
			r = disk_refs(a, conf, refs, &all, err);
		break;
	case SVM_MOVE:
		r = storage_move_check(a, q, &vm, conf, err);
		break;
	case SVM_CLONE: {
		struct vm_config *nc = malloc(sizeof(*nc));
		struct statedb_vm other;
		char key[24];

		snprintf(key, sizeof(key), "%" PRId64, q->newid);
		if (nc == NULL) {
			r = hx_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		r = clone_config(conf, q, q->newid, nc, err);
		if (r == 0)
			r = clone_target_check(a, q, nc, err);
		free(nc);
		if (r < 0)
			break;
		if (statedb_vm_get(a->db, q->newname, &other, NULL) == 0 ||
		    statedb_vm_get(a->db, key, &other, NULL) == 0) {
			r = hx_err_set(err, -EEXIST,
				       "VM %" PRId64 " '%s' exists: pick "
				       "another VMID or name",
				       other.vmid, other.name);
			statedb_vm_clear(&other);
			break;
		}
	}
		if (running && !conf->template)
			r = hx_err_set(err, -EBUSY,
				       "VM %" PRId64 " runs: stop it (or make "
				       "it a template) to clone it",
				       q->vmid);
		else if (q->linked && !conf->template)
			r = hx_err_set(err, -EINVAL,
				       "a linked clone needs a template: "
				       "convert VM %" PRId64 " first",
				       q->vmid);
		else
			r = clone_refs(a, conf, refs, q->linked, err);
		break;
	}
	free(s.config);
out_clear:
	statedb_vm_clear(&vm);
out:
	free(conf);
	return r;
}

int storage_vm_submit(struct agent *a, const struct svm_req *req,
		      int64_t *ret_task, struct hx_err *err)
{
	struct statedb_task t = {0};
	pthread_t th;
	struct storage_job *j;
	int r;

	if (a->vmx == NULL)
		return hx_err_set(err, HX_ENOQUORUM,
				  "the VM executor of node '%s' is not running",
				  a->cfg.name);
	if ((r = precheck(a, req, err)) < 0)
		return r;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	j->a = a;
	j->req = *req;
	if ((r = vmexec_claim(a->vmx, req->vmid, err)) < 0) {
		free(j);
		return r;
	}
	snprintf(t.kind, sizeof(t.kind), "%s", op_kinds[req->op]);
	snprintf(t.node, sizeof(t.node), "%s", a->cfg.name);
	snprintf(t.subject, sizeof(t.subject), "vm/%" PRId64, req->vmid);
	snprintf(t.actor, sizeof(t.actor), "%s", req->actor);
	if ((r = statedb_task_create(a->db, &t, &j->task, err)) < 0)
		goto fail;
	if ((r = pthread_create(&th, NULL, job_thread, j)) != 0) {
		(void)statedb_task_finish(a->db, j->task, false,
					  "cannot start a thread", NULL);
		r = hx_err_set(err, -r, "cannot start a thread");
		goto fail;
	}
	pthread_detach(th);
	*ret_task = j->task;
	return 0;
fail:
	vmexec_unclaim(a->vmx, req->vmid);
	free(j);
	return r;
}
