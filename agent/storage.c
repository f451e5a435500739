/*
 * The storage executor of this node: reports what the node sees of every
 * pool it may use, resolves "POOL:NAME" volumes for the VM executor, and
 * runs volume operations with the checks users rely on.
 *
 * DESIGN: which VMs use a volume is read from the VM configurations (the
 * replicated truth), not from libvirt, so a stopped VM's disk is as
 * protected as a running one's, and a volume of a node-local pool counts
 * as used only by VMs on that node (another node's volume of the same
 * name is a different volume). Status reports are written only when
 * something moved (availability, or usage by 1% of the capacity) or every
 * five minutes, so idle pools cost the database nothing. A running VM's
 * volume is grown through libvirt (virDomainBlockResize): QEMU holds the
 * image open and must learn the new size itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libvirt/libvirt.h>

#include "agent/agent.h"
#include "agent/storage.h"
#include "agent/vm.h"
#include "agent/vmexec.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

#define STATUS_INTERVAL_MS 10000
#define STATUS_REFRESH_MS 300000
#define STATUS_MAX_POOLS 64

struct reported {
	char pool[STATEDB_POOL_NAME_MAX + 1];
	struct statedb_pool_status st;
	uint64_t at_ms;
};

struct storx {
	struct agent *a;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked, stopping;
	struct reported rep[STATUS_MAX_POOLS]; /* status thread only */
	unsigned nrep;
};

const struct stor_backend *stor_backend_of(const char *type)
{
	static const struct stor_backend *const all[] = {
		&stor_dir_backend, &stor_btrfs_backend, &stor_nfs_backend,
		&stor_rbd_backend};

	for (size_t i = 0; i < HX_ARRAY_SIZE(all); i++)
		if (strcmp(all[i]->type, type) == 0)
			return all[i];
	return NULL;
}

/* ---- status reports ---- */

static bool moved(const struct statedb_pool_status *a,
		  const struct statedb_pool_status *b)
{
	int64_t d = a->used_bytes - b->used_bytes;

	if (a->available != b->available || strcmp(a->message, b->message))
		return true;
	return (d < 0 ? -d : d) * 100 > (b->capacity_bytes ?: 1);
}

static void report_pool(struct storx *sx, const struct statedb_pool *p)
{
	const struct stor_backend *be = stor_backend_of(p->type);
	struct statedb_pool_status st = {0};
	struct hx_err err = {0};
	struct reported *r = NULL;
	uint64_t now = hx_now_ms();

	snprintf(st.pool, sizeof(st.pool), "%s", p->name);
	snprintf(st.node, sizeof(st.node), "%s", sx->a->cfg.name);
	if (be == NULL)
		snprintf(st.message, sizeof(st.message),
			 "no %s backend in this build of hxd", p->type);
	else if (be->status(p, &st, &err) < 0)
		snprintf(st.message, sizeof(st.message), "%.200s", err.msg);
	for (unsigned i = 0; i < sx->nrep && r == NULL; i++)
		if (strcmp(sx->rep[i].pool, p->name) == 0)
			r = &sx->rep[i];
	if (r != NULL && !moved(&st, &r->st) &&
	    now - r->at_ms < STATUS_REFRESH_MS)
		return;
	if (statedb_pool_status_set(sx->a->db, &st, &err) < 0) {
		hx_log(LOG_DEBUG, "pool '%s': cannot report status: %s",
		       p->name, err.msg);
		return;
	}
	if (r == NULL && sx->nrep < STATUS_MAX_POOLS)
		r = &sx->rep[sx->nrep++];
	if (r != NULL) {
		snprintf(r->pool, sizeof(r->pool), "%s", p->name);
		r->st = st;
		r->at_ms = now;
	}
	if (!st.available)
		hx_log(LOG_WARNING, "pool '%s' is not available here: %s",
		       p->name, st.message);
}

static void report_all(struct storx *sx)
{
	struct statedb_pool *pools = NULL;
	unsigned n = 0;

	if (statedb_pool_list(sx->a->db, &pools, &n, NULL) < 0)
		return;
	/* Forget pools deleted meanwhile, so a new one of the same name is
	 * reported at once. */
	for (unsigned i = 0; i < sx->nrep;) {
		bool known = false;
		for (unsigned k = 0; k < n && !known; k++)
			known = strcmp(pools[k].name, sx->rep[i].pool) == 0;
		if (known)
			i++;
		else
			sx->rep[i] = sx->rep[--sx->nrep];
	}
	for (unsigned i = 0; i < n; i++)
		if (statedb_pool_on_node(&pools[i], sx->a->cfg.name))
			report_pool(sx, &pools[i]);
	free(pools);
}

static void wait_ms(struct storx *sx, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&sx->cond, &sx->lock, &ts);
}

static void *status_thread(void *data)
{
	struct storx *sx = data;

	pthread_mutex_lock(&sx->lock);
	while (!sx->stopping) {
		sx->kicked = false;
		pthread_mutex_unlock(&sx->lock);
		report_all(sx);
		pthread_mutex_lock(&sx->lock);
		if (!sx->kicked && !sx->stopping)
			wait_ms(sx, STATUS_INTERVAL_MS);
	}
	pthread_mutex_unlock(&sx->lock);
	return NULL;
}

int storage_start(struct agent *a, struct hx_err *err)
{
	struct storx *sx = calloc(1, sizeof(*sx));
	int r;

	if (sx == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	sx->a = a;
	pthread_mutex_init(&sx->lock, NULL);
	pthread_cond_init(&sx->cond, NULL);
	if ((r = pthread_create(&sx->thread, NULL, status_thread, sx)) != 0) {
		free(sx);
		return hx_err_set(err, -r, "cannot start the storage thread");
	}
	a->stx = sx;
	return 0;
}

void storage_stop(struct agent *a)
{
	struct storx *sx = a->stx;

	if (sx == NULL)
		return;
	pthread_mutex_lock(&sx->lock);
	sx->stopping = true;
	pthread_cond_signal(&sx->cond);
	pthread_mutex_unlock(&sx->lock);
	pthread_join(sx->thread, NULL);
	a->stx = NULL;
	free(sx);
}

void storage_kick(struct agent *a)
{
	struct storx *sx = a->stx;

	if (sx == NULL)
		return;
	pthread_mutex_lock(&sx->lock);
	sx->kicked = true;
	pthread_cond_signal(&sx->cond);
	pthread_mutex_unlock(&sx->lock);
}

/* ---- lookups ---- */

int storage_pool_here(struct agent *a, const char *name,
		      struct statedb_pool *ret,
		      const struct stor_backend **ret_be, struct hx_err *err)
{
	const struct stor_backend *be;
	int r;

	if ((r = statedb_pool_get(a->db, name, ret, err)) < 0)
		return r;
	if (!statedb_pool_on_node(ret, a->cfg.name))
		return hx_err_set(err, -EINVAL,
				  "storage pool '%s' is not for node '%s' "
				  "(nodes:%s)",
				  name, a->cfg.name, ret->nodes);
	if ((be = stor_backend_of(ret->type)) == NULL)
		return hx_err_set(err, -EINVAL,
				  "storage pool '%s': this hxd has no %s "
				  "backend",
				  name, ret->type);
	*ret_be = be;
	return 0;
}

int storage_volume_path(struct agent *a, const char *volid, bool shared_only,
			char *buf, size_t len, struct hx_err *err)
{
	char pool[STATEDB_POOL_NAME_MAX + 1], name[STATEDB_VOLUME_NAME_MAX + 1];
	const struct stor_backend *be;
	struct statedb_pool p;
	int r;

	if ((r = statedb_volid_parse(volid, pool, sizeof(pool), name,
				     sizeof(name), err)) < 0 ||
	    (r = storage_pool_here(a, pool, &p, &be, err)) < 0)
		return r;
	if (shared_only && !p.shared)
		return hx_err_set(err, -EXDEV,
				  "'%s' is on node-local pool '%s'", volid,
				  pool);
	if (be->path(&p, name, buf, len) < 0)
		return hx_err_set(err, -ENAMETOOLONG, "'%s': path too long",
				  volid);
	return 0;
}

int storage_volume_reachable(struct agent *a, const char *volid,
			     struct hx_err *err)
{
	char pool[STATEDB_POOL_NAME_MAX + 1], name[STATEDB_VOLUME_NAME_MAX + 1];
	const struct stor_backend *be;
	struct statedb_pool p;
	struct stor_vol v;
	int r;

	if ((r = statedb_volid_parse(volid, pool, sizeof(pool), name,
				     sizeof(name), err)) < 0 ||
	    (r = storage_pool_here(a, pool, &p, &be, err)) < 0)
		return r;
	if (!p.shared)
		return hx_err_set(err, -EXDEV,
				  "'%s' is on node-local pool '%s'", volid,
				  pool);
	return be->info(&p, name, &v, err);
}

int storage_resolve(void *data, const char *volume, char *buf, size_t len)
{
	struct hx_err err = {0};

	return storage_volume_path(data, volume, false, buf, len, &err);
}

/* ---- who uses a volume ---- */

static bool refers(const char *volume, const char *pool, const char *name)
{
	size_t n = strlen(pool);

	if (strncmp(volume, pool, n) != 0 || volume[n] != ':')
		return false;
	return name == NULL || strcmp(volume + n + 1, name) == 0;
}

static void users_of(const struct vm_config *c, const struct statedb_vm *vm,
		     const char *pool, const char *name, bool pending,
		     struct storage_user *ret, unsigned max, unsigned *n)
{
	for (int i = -1; i < (int)c->ndisks; i++) {
		const char *v = i < 0 ? c->cdrom : c->disks[i].volume;

		if (!refers(v, pool, name))
			continue;
		if (*n < max) {
			struct storage_user *u = &ret[*n];
			u->vmid = vm->vmid;
			snprintf(u->name, sizeof(u->name), "%s",
				 v + strlen(pool) + 1);
			snprintf(u->node, sizeof(u->node), "%s", vm->node);
			snprintf(u->state, sizeof(u->state), "%s", vm->state);
			u->disk = i;
			u->pending = pending;
		}
		(*n)++;
	}
}

int storage_users(struct agent *a, const struct statedb_pool *p,
		  const char *name, const char *node, struct storage_user *ret,
		  unsigned max, unsigned *ret_n, struct hx_err *err)
{
	struct statedb_vm *vms = NULL;
	struct vm_config *c = calloc(1, sizeof(*c));
	unsigned nvms = 0, n = 0;
	int r;

	if (c == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	r = statedb_vm_list(a->db, p->shared || node == NULL ? NULL : node,
			    &vms, &nvms, err);
	for (unsigned i = 0; r == 0 && i < nvms; i++) {
		unsigned before = n;

		if (vmconf_load(vms[i].config, c, NULL) == 0)
			users_of(c, &vms[i], p->name, name, false, ret, max,
				 &n);
		if (n == before && vms[i].pending != NULL &&
		    vmconf_load(vms[i].pending, c, NULL) == 0)
			users_of(c, &vms[i], p->name, name, true, ret, max, &n);
	}
	statedb_vm_list_free(vms, nvms);
	free(c);
	if (r == 0)
		*ret_n = n;
	return r;
}

/* ---- volume operations ---- */

#define SIZE_MAX_BYTES (INT64_C(64) << 40) /* 64 TiB */

static int size_check(int64_t size, struct hx_err *err)
{
	if (size <= 0 || size > SIZE_MAX_BYTES || size % 512 != 0)
		return hx_err_set(err, -EINVAL,
				  "size: %" PRId64 " bytes is not a multiple "
				  "of 512 between 512 and 64 TiB",
				  size);
	return 0;
}

int storage_volume_create(struct agent *a, const char *pool, const char *name,
			  int64_t size, struct stor_vol *ret,
			  struct hx_err *err)
{
	const struct stor_backend *be;
	struct statedb_pool p;
	int r;

	if ((r = statedb_volume_name_check(name, err)) < 0 ||
	    (r = size_check(size, err)) < 0 ||
	    (r = storage_pool_here(a, pool, &p, &be, err)) < 0)
		return r;
	if (!statedb_pool_has_content(&p, "images"))
		return hx_err_set(err, -EINVAL,
				  "storage pool '%s' does not hold images "
				  "(content:%s)",
				  pool, p.content);
	if ((r = be->create(&p, name, size, err)) < 0)
		return r;
	storage_kick(a);
	return ret != NULL ? be->info(&p, name, ret, err) : 0;
}

/* -EBUSY naming the first user of pool:name, if any. */
static int in_use(struct agent *a, const struct statedb_pool *p,
		  const char *name, struct hx_err *err)
{
	struct storage_user u;
	unsigned n = 0;
	int r;

	if ((r = storage_users(a, p, name, a->cfg.name, &u, 1, &n, err)) < 0)
		return r;
	if (n == 0)
		return 0;
	return hx_err_set(err, -EBUSY,
			  "volume '%s:%s' is used by VM %" PRId64 " (%s%s on "
			  "node '%s')%s",
			  p->name, name, u.vmid,
			  u.disk < 0 ? "its CD-ROM" : "a disk",
			  u.pending ? ", pending" : "", u.node,
			  n > 1 ? " and others" : "");
}

int storage_volume_delete(struct agent *a, const char *pool, const char *name,
			  struct hx_err *err)
{
	const struct stor_backend *be;
	struct statedb_pool p;
	struct stor_vol *vols = NULL, v;
	unsigned n = 0;
	int r;

	if ((r = statedb_volume_name_check(name, err)) < 0 ||
	    (r = storage_pool_here(a, pool, &p, &be, err)) < 0 ||
	    (r = be->info(&p, name, &v, err)) < 0 ||
	    (r = in_use(a, &p, name, err)) < 0)
		return r;
	if ((r = be->list(&p, &vols, &n, err)) < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(vols[i].backing, name) != 0)
			continue;
		r = hx_err_set(err, -EBUSY,
			       "volume '%s:%s' is the base of linked clone "
			       "'%s'",
			       pool, name, vols[i].name);
		free(vols);
		return r;
	}
	free(vols);
	if ((r = be->remove(&p, name, err)) == 0)
		storage_kick(a);
	return r;
}

/* Grows disk @disk of running VM @vmid through libvirt. */
static int resize_online(struct agent *a, int64_t vmid, int disk, int64_t size,
			 struct hx_err *err)
{
	struct statedb_vm vm;
	struct vm_config *c;
	virConnectPtr conn;
	virDomainPtr d;
	char dev[8];
	int r;

	if (a->vmx == NULL)
		return hx_err_set(err, HX_ENOQUORUM,
				  "the VM executor is not running");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if ((r = vmexec_load(a->vmx, vmid, &vm, c, err)) < 0) {
		free(c);
		return r;
	}
	statedb_vm_clear(&vm);
	vmxml_disk_dev(c, (unsigned)disk, dev, sizeof(dev));
	free(c);
	if ((conn = vmexec_conn(a->vmx, err)) == NULL)
		return err != NULL ? err->code : -ECONNREFUSED;
	d = vmexec_domain(conn, vmid);
	if (d == NULL || virDomainIsActive(d) != 1)
		r = hx_err_set(err, -EAGAIN,
			       "VM %" PRId64 " stopped meanwhile: retry", vmid);
	else if (virDomainBlockResize(d, dev, (unsigned long long)size,
				      VIR_DOMAIN_BLOCK_RESIZE_BYTES) < 0)
		r = hx_err_set(err, -EIO, "online resize of %s: %s", dev,
			       vmexec_virt_error());
	else
		r = 0;
	if (d != NULL)
		virDomainFree(d);
	virConnectClose(conn);
	return r;
}

int storage_volume_resize(struct agent *a, const char *pool, const char *name,
			  int64_t size, bool *ret_online, struct hx_err *err)
{
	const struct stor_backend *be;
	struct statedb_pool p;
	struct storage_user u[8];
	struct stor_vol v;
	unsigned n = 0;
	int r;

	if ((r = statedb_volume_name_check(name, err)) < 0 ||
	    (r = size_check(size, err)) < 0 ||
	    (r = storage_pool_here(a, pool, &p, &be, err)) < 0 ||
	    (r = be->info(&p, name, &v, err)) < 0)
		return r;
	if (strcmp(v.format, "iso") == 0)
		return hx_err_set(err, -EINVAL, "ISO images are not resized");
	if (size < v.size_bytes)
		return hx_err_set(err, -EINVAL,
				  "volume '%s:%s' is %" PRId64 " bytes: "
				  "shrinking is not supported",
				  pool, name, v.size_bytes);
	if (size == v.size_bytes)
		return 0;
	if ((r = storage_users(a, &p, name, a->cfg.name, u, 8, &n, err)) < 0)
		return r;
	for (unsigned i = 0; i < n && i < 8; i++) {
		if (u[i].pending || u[i].disk < 0 ||
		    strcmp(u[i].state, "stopped") == 0 ||
		    strcmp(u[i].state, "crashed") == 0)
			continue;
		if (strcmp(u[i].node, a->cfg.name) != 0)
			return hx_err_set(err, -EBUSY,
					  "VM %" PRId64 " uses '%s:%s' on node "
					  "'%s': resize it there",
					  u[i].vmid, pool, name, u[i].node);
		if (ret_online != NULL)
			*ret_online = true;
		return resize_online(a, u[i].vmid, u[i].disk, size, err);
	}
	if (ret_online != NULL)
		*ret_online = false;
	return be->resize(&p, name, size, err);
}

/* A "POOL:NAME.iso" CD-ROM: the pool holds ISOs here, the file exists. */
static int cdrom_check(struct agent *a, const char *volid, struct hx_err *err)
{
	char pool[STATEDB_POOL_NAME_MAX + 1], name[STATEDB_VOLUME_NAME_MAX + 1];
	const struct stor_backend *be;
	struct statedb_pool p;
	struct stor_vol v;
	int r;

	if ((r = statedb_volid_parse(volid, pool, sizeof(pool), name,
				     sizeof(name), err)) < 0 ||
	    (r = storage_pool_here(a, pool, &p, &be, err)) < 0) {
		hx_err_prefix(err, "cdrom.iso");
		return err != NULL ? (err->code = -EINVAL) : -EINVAL;
	}
	if (!statedb_pool_has_content(&p, "iso"))
		return hx_err_set(err, -EINVAL,
				  "cdrom.iso: pool '%s' does not hold ISO "
				  "images",
				  pool);
	if (be->info(&p, name, &v, NULL) < 0)
		return hx_err_set(err, -EINVAL,
				  "cdrom.iso: no ISO '%s' on node '%s'", volid,
				  a->cfg.name);
	return 0;
}

int storage_vm_check(struct agent *a, const struct vm_config *c,
		     struct hx_err *err)
{
	int r;

	if (c->cdrom[0] != '\0' && c->cdrom[0] != '/' &&
	    (r = cdrom_check(a, c->cdrom, err)) < 0)
		return r;
	for (unsigned i = 0; i < c->ndisks; i++) {
		const char *v = c->disks[i].volume;
		char pool[STATEDB_POOL_NAME_MAX + 1];
		char name[STATEDB_VOLUME_NAME_MAX + 1];
		struct statedb_pool_status st = {0};
		const struct stor_backend *be;
		struct statedb_pool p;

		if (v[0] == '/' || vmexec_is_local(&c->disks[i]))
			continue;
		if ((r = statedb_volid_parse(v, pool, sizeof(pool), name,
					     sizeof(name), err)) < 0 ||
		    (r = storage_pool_here(a, pool, &p, &be, err)) < 0) {
			hx_err_prefix(err, "disks[%u].volume", i);
			return err != NULL ? (err->code = -EINVAL) : -EINVAL;
		}
		if (!statedb_pool_has_content(&p, "images"))
			return hx_err_set(err, -EINVAL,
					  "disks[%u].volume: pool '%s' does "
					  "not hold images",
					  i, pool);
		if ((r = be->status(&p, &st, err)) < 0)
			return r;
		if (!st.available)
			return hx_err_set(err, -EINVAL,
					  "disks[%u].volume: pool '%s' is not "
					  "available on node '%s': %s",
					  i, pool, a->cfg.name, st.message);
	}
	return 0;
}

int storage_volume_ensure(struct agent *a, const char *volid, int64_t size_mb,
			  struct hx_err *err)
{
	char pool[STATEDB_POOL_NAME_MAX + 1], name[STATEDB_VOLUME_NAME_MAX + 1];
	const struct stor_backend *be;
	struct statedb_pool p;
	struct stor_vol v;
	int r;

	if ((r = statedb_volid_parse(volid, pool, sizeof(pool), name,
				     sizeof(name), err)) < 0 ||
	    (r = storage_pool_here(a, pool, &p, &be, err)) < 0)
		return r;
	if (be->info(&p, name, &v, NULL) == 0)
		return 0;
	if (size_mb <= 0)
		return hx_err_set(err, -ENOENT,
				  "volume '%s' does not exist (give size_mb "
				  "to create it)",
				  volid);
	if ((r = storage_volume_create(a, pool, name, size_mb << 20, NULL,
				       err)) < 0)
		return r;
	return 1;
}

int storage_volume_release(struct agent *a, const char *volid, int64_t vmid,
			   struct hx_err *err)
{
	char pool[STATEDB_POOL_NAME_MAX + 1], name[STATEDB_VOLUME_NAME_MAX + 1];
	char prefix[40];
	const struct stor_backend *be;
	struct statedb_pool p;
	struct storage_user u[4];
	struct stor_vol *vols = NULL;
	unsigned n = 0;
	int r;

	if ((r = statedb_volid_parse(volid, pool, sizeof(pool), name,
				     sizeof(name), err)) < 0 ||
	    (r = storage_pool_here(a, pool, &p, &be, err)) < 0)
		return r;
	snprintf(prefix, sizeof(prefix), "vm-%" PRId64 "-", vmid);
	if (strncmp(name, prefix, strlen(prefix)) != 0) {
		hx_err_set(err, 0,
			   "kept volume %s (not created for VM %" PRId64 ")",
			   volid, vmid);
		return 0;
	}
	if ((r = storage_users(a, &p, name, a->cfg.name, u, 4, &n, err)) < 0)
		return r;
	for (unsigned i = 0; i < n && i < 4; i++)
		if (u[i].vmid != vmid) {
			hx_err_set(err, 0,
				   "kept volume %s (VM %" PRId64 " uses it)",
				   volid, u[i].vmid);
			return 0;
		}
	if ((r = be->list(&p, &vols, &n, err)) < 0)
		return r;
	for (unsigned i = 0; i < n; i++)
		if (strcmp(vols[i].backing, name) == 0) {
			hx_err_set(err, 0,
				   "kept volume %s (base of linked "
				   "clone %s)",
				   volid, vols[i].name);
			free(vols);
			return 0;
		}
	free(vols);
	if ((r = be->remove(&p, name, err)) < 0)
		return r == -ENOENT ? 0 : r;
	storage_kick(a);
	return 1;
}

bool storage_local_is_base(struct agent *a, const struct vm_disk *d)
{
	struct statedb_pool p = {.name = "local", .type = "dir"};
	struct stor_vol *vols = NULL;
	char name[STATEDB_VOLUME_NAME_MAX + 1];
	unsigned n = 0;
	bool base = false;

	if (a->vmx == NULL ||
	    strlen(a->vmx->cfg.images_dir) >= sizeof(p.path) ||
	    snprintf(name, sizeof(name), "%s.%s", d->volume + 6, d->format) >=
		    (int)sizeof(name))
		return false;
	memcpy(p.path, a->vmx->cfg.images_dir,
	       strlen(a->vmx->cfg.images_dir) + 1);
	if (stor_dir_backend.list(&p, &vols, &n, NULL) < 0)
		return false;
	for (unsigned i = 0; i < n && !base; i++)
		base = strcmp(vols[i].backing, name) == 0;
	free(vols);
	return base;
}
