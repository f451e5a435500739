/* agent/storage.h: the storage executor and its backends (private). */
#ifndef HX_AGENT_STORAGE_H
#define HX_AGENT_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "statedb/statedb.h"

struct hx_err;
struct agent;
struct vm_config;

/*
 * DESIGN: a pool's type picks a backend, a small table of functions that
 * drive the real thing (qemu-img, btrfs-progs) on this node. Backends know
 * nothing of VMs, tasks or HTTP: storage.c checks who uses a volume,
 * routes to libvirt for running VMs and runs the long operations as tasks;
 * storageapi.c maps it to the API. Volumes have no rows in statedb: a
 * pool's content is what its backend lists.
 *
 * Volume formats follow the name's suffix: NAME.qcow2, NAME.raw, NAME.iso.
 * Everything blocks: call from worker threads or API threads, never from
 * the agent loop.
 */

struct stor_vol {
	char name[STATEDB_VOLUME_NAME_MAX + 1];
	char format[8];				   /* qcow2, raw, iso */
	char content[12];			   /* images, iso */
	int64_t size_bytes;			   /* virtual size */
	int64_t used_bytes;			   /* allocated on the pool */
	char backing[STATEDB_VOLUME_NAME_MAX + 1]; /* linked clone base */
	char snapshots[512]; /* " a b ": backend snapshots of the volume */
};

struct stor_backend {
	const char *type;
	/* Checks a pool definition's type-specific parts (options, path,
	 * content) before it is stored; NULL: nothing to check. -EINVAL. */
	int (*check)(const struct statedb_pool *p, struct hx_err *err);
	/* Whether this node reaches the pool, and its figures. Fills @st
	 * (available false with a message when not usable); fails only
	 * for errors of its own. */
	int (*status)(const struct statedb_pool *p,
		      struct statedb_pool_status *st, struct hx_err *err);
	/* The pool's volumes; *ret malloc'ed. */
	int (*list)(const struct statedb_pool *p, struct stor_vol **ret,
		    unsigned *ret_n, struct hx_err *err);
	/* One volume; -ENOENT. */
	int (*info)(const struct statedb_pool *p, const char *name,
		    struct stor_vol *ret, struct hx_err *err);
	/* A new empty volume of @size bytes. -EEXIST, -EINVAL. */
	int (*create)(const struct statedb_pool *p, const char *name,
		      int64_t size, struct hx_err *err);
	/* Deletes a volume and its backend snapshots. -ENOENT. */
	int (*remove)(const struct statedb_pool *p, const char *name,
		      struct hx_err *err);
	/* Grows a volume nobody has open to @size bytes. */
	int (*resize)(const struct statedb_pool *p, const char *name,
		      int64_t size, struct hx_err *err);
	/* The file QEMU opens for the volume (it need not exist). */
	int (*path)(const struct statedb_pool *p, const char *name, char *buf,
		    size_t len);
	/* Snapshots of a volume nobody writes to. -ENOTSUP for formats
	 * the backend cannot snapshot. */
	int (*snap_create)(const struct statedb_pool *p, const char *name,
			   const char *snap, struct hx_err *err);
	int (*snap_rollback)(const struct statedb_pool *p, const char *name,
			     const char *snap, struct hx_err *err);
	int (*snap_delete)(const struct statedb_pool *p, const char *name,
			   const char *snap, struct hx_err *err);
	/* @dst as a copy of @src: linked (sharing blocks with @src, which
	 * must then stay: qcow2 backing file, btrfs snapshot) or full. */
	int (*clone)(const struct statedb_pool *p, const char *src,
		     const char *dst, bool linked, struct hx_err *err);
};

extern const struct stor_backend stor_dir_backend;
extern const struct stor_backend stor_btrfs_backend;
extern const struct stor_backend stor_nfs_backend;
extern const struct stor_backend stor_rbd_backend;

/* The RBD snapshot linked clones are made from; no VM snapshot may take
 * its name. */
#define STORAGE_BASE_SNAP "hx-base"

/* Adds every Ceph client at IPv4 address @addr to the OSD blocklist of the
 * cluster behind RBD pool @p (for a day), so that a fenced node can no
 * longer write to its images even if it comes back. Blocks up to ~10 s
 * per monitor call. */
int storage_rbd_blocklist(const struct statedb_pool *p, const char *addr,
			  struct hx_err *err);

/* HA leader, every step, for each node with its fencing verdict @dec:
 * once the lease of @node expired, blocklists its address on every RBD
 * pool it may use (in a thread of its own, once per lease). When that is
 * confirmed and every HA VM of the node has only RBD disks, marks @obs
 * fenced (fence_done, fence_by_agent): its VMs may restart before the
 * lease margin is over. storage_fence.c. */
struct fencing_decision;
struct sched_node_obs;
void storage_fence_observe(struct agent *a, const char *node,
			   const struct fencing_decision *dec,
			   struct sched_node_obs *obs);

/* The backend for pool type @type, or NULL if this build has none. */
const struct stor_backend *stor_backend_of(const char *type);

/* "qcow2", "raw", "iso" from a volume name's suffix; NULL if none. */
const char *stor_format_of(const char *name);
/* Runs @argv (qemu-img, btrfs, ...) with a timeout; its output in @err
 * on failure. */
int stor_run(const char *const argv[], int timeout_ms, const char *what,
	     struct hx_err *err);
/* Runs "qemu-img info -U --output=json PATH" into @v (size, allocation,
 * backing file, internal snapshots). */
int stor_qemu_info(const char *path, struct stor_vol *v, struct hx_err *err);

/* Directory-backend helpers the btrfs backend reuses for plain files. */
int stor_dir_file_info(const char *dir, const char *name, struct stor_vol *ret,
		       struct hx_err *err);
int stor_dir_file_create(const char *dir, const char *name, int64_t size,
			 const char *backing, struct hx_err *err);
int stor_dir_statfs(const struct statedb_pool *p,
		    struct statedb_pool_status *st);

/* ---- the executor (storage.c) ---- */

/* Starts the thread that reports this node's view of every pool it may
 * use, every 10 s and at once when kicked. */
int storage_start(struct agent *a, struct hx_err *err);
void storage_stop(struct agent *a);
/* Reports pool status now (after a pool was created or changed). */
void storage_kick(struct agent *a);

/* Looks up pool @name and checks this node may use it and has a backend
 * for it. -ENOENT, -EINVAL. */
int storage_pool_here(struct agent *a, const char *name,
		      struct statedb_pool *ret,
		      const struct stor_backend **ret_be, struct hx_err *err);
/* The path of volume "POOL:NAME" on this node (for libvirt). With
 * @shared_only, node-local pools fail (-EXDEV): a volume there is not the
 * same on another node. */
int storage_volume_path(struct agent *a, const char *volid, bool shared_only,
			char *buf, size_t len, struct hx_err *err);

/* Whether volume "POOL:NAME" of a shared pool exists as this node sees
 * it (through its backend: files, nfs://, RBD). -EXDEV for a node-local
 * pool, -ENOENT. */
int storage_volume_reachable(struct agent *a, const char *volid,
			     struct hx_err *err);
/* struct vm_paths' resolver: @data is the agent; the volume's path on
 * this node, or a negative errno. */
int storage_resolve(void *data, const char *volume, char *buf, size_t len);
/* On deleting VM @vmid: removes pool volume @volid if hxd named it for
 * this VM (vm-VMID-...), no other VM uses it and no linked clone is based
 * on it. 1 if removed, 0 if kept (the reason in @err), or an error. */
int storage_volume_release(struct agent *a, const char *volid, int64_t vmid,
			   struct hx_err *err);
/* Creates pool volume @volid of @size_mb MiB for a VM disk, unless it
 * exists. 1 if created. */
int storage_volume_ensure(struct agent *a, const char *volid, int64_t size_mb,
			  struct hx_err *err);

/* Whether "local:" disk @d is the backing file of another image in the
 * node's images directory (a linked clone's base). */
struct vm_disk;
bool storage_local_is_base(struct agent *a, const struct vm_disk *d);

/* A VM that refers to a volume. */
struct storage_user {
	int64_t vmid;
	char node[64];
	char state[16];
	char name[STATEDB_VOLUME_NAME_MAX + 1]; /* the volume */
	int disk;     /* index in disks[], -1: the CD-ROM */
	bool pending; /* only in the pending configuration */
};
/* The VMs whose configuration (or pending change) refers to "POOL:NAME"
 * (@name NULL: to any volume of the pool). For a node-local pool only VMs
 * on @node count. At most @max in @ret; the count in *ret_n (may be more
 * than @max). */
int storage_users(struct agent *a, const struct statedb_pool *p,
		  const char *name, const char *node, struct storage_user *ret,
		  unsigned max, unsigned *ret_n, struct hx_err *err);

/* Volume operations on this node, with the checks users rely on: a
 * volume in use is not deleted (-EBUSY), a linked clone's base is not
 * deleted, sizes only grow; a volume a running VM of this node uses is
 * grown online through libvirt. */
int storage_volume_create(struct agent *a, const char *pool, const char *name,
			  int64_t size, struct stor_vol *ret,
			  struct hx_err *err);
int storage_volume_delete(struct agent *a, const char *pool, const char *name,
			  struct hx_err *err);
int storage_volume_resize(struct agent *a, const char *pool, const char *name,
			  int64_t size, bool *ret_online, struct hx_err *err);
/* Checks the pool volumes of @c from the VM's node: pool known, usable
 * here, holds images, available, volume name matches the format. */
int storage_vm_check(struct agent *a, const struct vm_config *c,
		     struct hx_err *err);

/* ---- VM snapshots, templates, clones (storage_vm.c) ---- */

enum svm_op {
	SVM_SNAP_CREATE,
	SVM_SNAP_ROLLBACK,
	SVM_SNAP_DELETE,
	SVM_TEMPLATE,
	SVM_CLONE,
	SVM_MOVE,
};

struct svm_req {
	enum svm_op op;
	int64_t vmid;
	char name[STATEDB_SNAPSHOT_NAME_MAX + 1]; /* snapshot */
	char description[256];
	int64_t newid;			      /* clone */
	char newname[64];		      /* clone */
	bool linked;			      /* clone */
	unsigned disk;			      /* move: index in disks[] */
	char pool[STATEDB_POOL_NAME_MAX + 1]; /* move, clone: target pool
					       * ("" keeps the disk's) */
	char format[8]; /* move, clone: target format ("" keeps it) */
	char node[64];	/* clone: the new VM's node ("": this one) */
	bool keep;	/* move: keep the source volume */
	int64_t mibs;	/* move: bandwidth limit, 0 none */
	char actor[96];
};

/* Checks @req against the VM as it is (4xx-style errors at once), then
 * runs it as a task that owns the VM. The VM must be on this node. */
int storage_vm_submit(struct agent *a, const struct svm_req *req,
		      int64_t *ret_task, struct hx_err *err);

/* ---- API handlers (storageapi.c), routed from api.c ---- */

struct api_req;
struct api_resp;
void h_pools_list(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_pool_create(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_pool_get(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_pool_patch(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_pool_delete(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_volumes_list(struct agent *a, struct api_req *req,
		    struct api_resp *resp);
void h_volume_create(struct agent *a, struct api_req *req,
		     struct api_resp *resp);
void h_volume_get(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_volume_delete(struct agent *a, struct api_req *req,
		     struct api_resp *resp);
void h_volume_resize(struct agent *a, struct api_req *req,
		     struct api_resp *resp);
void h_vm_snapshots_list(struct agent *a, struct api_req *req,
			 struct api_resp *resp);
void h_vm_snapshot_create(struct agent *a, struct api_req *req,
			  struct api_resp *resp);
void h_vm_snapshot_rollback(struct agent *a, struct api_req *req,
			    struct api_resp *resp);
void h_vm_snapshot_delete(struct agent *a, struct api_req *req,
			  struct api_resp *resp);
void h_vm_template(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_clone(struct agent *a, struct api_req *req, struct api_resp *resp);
void h_vm_disk_move(struct agent *a, struct api_req *req,
		    struct api_resp *resp);
void h_iso_download(struct agent *a, struct api_req *req,
		    struct api_resp *resp);

/* ISO images (storage_iso.c): written to a hidden temporary file in the
 * pool, hashed on the way, linked into place only if the SHA-256 (64 hex
 * digits) matches. @length < 0: unknown. Every failure leaves nothing. */
struct storage_upload;
struct storage_iso {
	struct statedb_pool pool;
	char name[STATEDB_VOLUME_NAME_MAX + 1];
	char sha256[65];
	uint64_t bytes, ms;
};
int storage_iso_open(struct agent *a, const char *pool, const char *name,
		     const char *sha256, int64_t length, const char *actor,
		     struct storage_upload **ret, struct hx_err *err);
int storage_iso_write(struct storage_upload *u, const void *buf, size_t len,
		      struct hx_err *err);
/* Checks the checksum and links the file into place; frees @u. */
int storage_iso_close(struct agent *a, struct storage_upload *u,
		      struct storage_iso *ret, struct hx_err *err);
void storage_iso_abort(struct storage_upload *u);
/* Downloads @url (http, https) into ISO @name of @pool as a task. */
int storage_iso_download(struct agent *a, const char *pool, const char *name,
			 const char *url, const char *sha256, const char *actor,
			 int64_t *ret_task, struct hx_err *err);

/* ISO uploads, streamed: api.c calls these for PUT
 * /storage/pools/POOL/iso/NAME?sha256=HEX instead of buffering the body.
 * The file is written under a hidden temporary name, hashed on the way,
 * and linked into place only if the SHA-256 matches; every failure sets
 * the error in @resp and leaves nothing behind. */
struct storage_upload;
void storage_upload_begin(struct agent *a, const char *pool, const char *name,
			  const char *sha256, const char *length,
			  const char *actor, struct storage_upload **ret,
			  struct api_resp *resp);
int storage_upload_write(struct storage_upload *u, const void *buf, size_t len,
			 struct api_resp *resp);
/* Finishes (and frees) @u: 201 with the volume, or the error. */
void storage_upload_end(struct agent *a, struct storage_upload *u,
			struct api_resp *resp);
void storage_upload_abort(struct storage_upload *u);

#endif /* HX_AGENT_STORAGE_H */
