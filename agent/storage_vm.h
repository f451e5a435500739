/* agent/storage_vm.h: shared by the VM storage operations (private). */
#ifndef HX_AGENT_STORAGE_VM_H
#define HX_AGENT_STORAGE_VM_H

#include <stdbool.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "agent/storage.h"

struct agent;
struct hx_err;
struct statedb_vm;
struct statedb_vm_spec;
struct vm_config;
struct vm_disk;

/* What a disk can do: qcow2 (internal snapshots, backing files), raw on
 * btrfs (subvolume snapshots), an RBD image (RBD snapshots and clones;
 * snapshots of a stopped VM only), neither. */
enum disk_kind { DK_NONE, DK_QCOW2, DK_BTRFS_RAW, DK_RBD };

/* A VM disk as a volume: its pool, backend and name in the pool. */
struct disk_ref {
	struct statedb_pool pool;
	const struct stor_backend *be;
	char name[STATEDB_VOLUME_NAME_MAX + 1];
	enum disk_kind kind;
};

/* One operation running as a task that owns the VM (storage_vm.c). */
struct storage_job {
	struct agent *a;
	struct svm_req req;
	int64_t task;
};

/* Disk @d as a volume of a pool and its backend ("local:" disks are a
 * directory pool at the node's images directory); -EINVAL for a disk
 * given by absolute path. */
int storage_disk_ref(struct agent *a, const struct vm_disk *d,
		     struct disk_ref *ret, struct hx_err *err);
/* The write-side view of configuration @c (no pending change); the
 * configuration text in *ret_config (free() it). -ENOMEM. */
int storage_vm_spec(const struct vm_config *c, struct statedb_vm_spec *s,
		    char *tags, size_t tags_len, const char **macs,
		    char **ret_config);

/* Disk moves (storage_move.c): the checks run before the task starts,
 * and the task. */
int storage_move_check(struct agent *a, const struct svm_req *q,
		       const struct statedb_vm *vm, const struct vm_config *c,
		       struct hx_err *err);
int storage_move_run(struct storage_job *j, virConnectPtr c,
		     struct hx_err *err);

#endif /* HX_AGENT_STORAGE_VM_H */
