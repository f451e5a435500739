/*
 * The Ceph RBD backend: volumes are RBD images in a Ceph pool, driven
 * through librbd/librados; QEMU opens them itself (rbd:POOL/IMAGE).
 *
 * DESIGN: a pool is {"type": "rbd", "options": {"pool": CEPH_POOL, "conf":
 * CEPH_CONF}}; the Ceph configuration file (monitors, keyring) must exist
 * at that path on every node that uses the pool. Volume operations are
 * rare: each connects, does its work and disconnects. Status reports and
 * fences use a client kept per configuration file (see struct kept).
 * Every connection is bounded (RBD_TIMEOUT_S for the
 * monitors and each OSD operation) instead of librados' 300 s default.
 *
 * Images are raw: a volume is NAME.raw, the image's name is the volume's
 * name. Snapshots are RBD snapshots; a linked clone is an RBD clone of the
 * base's protected snapshot RBD_BASE_SNAP, taken the first time the base is
 * cloned and hidden from the volume's snapshot list; a full clone is an
 * RBD copy.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#include "agent/storage.h"
#include "lib/lib.h"

#define RBD_TIMEOUT_S "10"
#define RBD_BASE_SNAP STORAGE_BASE_SNAP

struct rbd_conn {
	rados_t cluster;
	rados_ioctx_t io;
	char pool[128];
};

/* The pool's Ceph pool and configuration file from its options. */
static int rbd_opts(const struct statedb_pool *p, char *pool, size_t plen,
		    char *conf, size_t clen, struct hx_err *err)
{
	json_t *o = json_loads(p->options, 0, NULL);
	const char *cp = json_string_value(json_object_get(o, "pool"));
	const char *cf = json_string_value(json_object_get(o, "conf"));
	int r = 0;

	if (cf == NULL)
		cf = "/etc/ceph/ceph.conf";
	if (cp == NULL || cp[0] == '\0' || strlen(cp) >= plen ||
	    strspn(cp, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		       "0123456789_.-") != strlen(cp) ||
	    cp[0] == '.' || cp[0] == '-')
		r = hx_err_set(err, -EINVAL,
			       "options.pool: an RBD pool needs the Ceph pool's "
			       "name ([A-Za-z0-9_.-])");
	else if (cf[0] != '/' || strlen(cf) >= clen ||
		 strpbrk(cf, ":'\"<>&\\ ") != NULL || strstr(cf, "..") != NULL)
		r = hx_err_set(err, -EINVAL,
			       "options.conf: an absolute path without "
			       "colons, quotes or '..'");
	else {
		snprintf(pool, plen, "%s", cp);
		snprintf(conf, clen, "%s", cf);
	}
	json_decref(o);
	return r;
}

static int rbd_check(const struct statedb_pool *p, struct hx_err *err)
{
	char pool[128], conf[512];
	json_t *o = json_loads(p->options, 0, NULL);
	const char *k;
	json_t *v;
	int r = 0;

	json_object_foreach(o, k, v)
	{
		if (strcmp(k, "pool") != 0 && strcmp(k, "conf") != 0) {
			r = hx_err_set(err, -EINVAL,
				       "options: '%.40s' is not an RBD pool "
				       "option (pool, conf)",
				       k);
			break;
		}
	}
	json_decref(o);
	if (r < 0 ||
	    (r = rbd_opts(p, pool, sizeof(pool), conf, sizeof(conf), err)) < 0)
		return r;
	if (p->path[0] != '\0')
		return hx_err_set(err, -EINVAL,
				  "path: an RBD pool has none (options.pool "
				  "and options.conf say where it is)");
	if (statedb_pool_has_content(p, "iso"))
		return hx_err_set(err, -EINVAL,
				  "content: an RBD pool holds images only "
				  "(ISO images need a directory pool)");
	return 0;
}

static int rbd_connect_conf(const char *conf, rados_t *ret, struct hx_err *err)
{
	rados_t c;
	int r;

	if ((r = rados_create(&c, NULL)) < 0)
		return hx_err_set(err, r, "rbd: cannot create a client: %s",
				  strerror(-r));
	if ((r = rados_conf_read_file(c, conf)) < 0) {
		rados_shutdown(c);
		return hx_err_set(err, -EIO, "rbd: cannot read '%s': %s", conf,
				  strerror(-r));
	}
	(void)rados_conf_set(c, "client_mount_timeout", RBD_TIMEOUT_S);
	(void)rados_conf_set(c, "rados_mon_op_timeout", RBD_TIMEOUT_S);
	(void)rados_conf_set(c, "rados_osd_op_timeout", RBD_TIMEOUT_S);
	(void)rados_conf_set(c, "log_to_stderr", "false");
	(void)rados_conf_set(c, "err_to_stderr", "false");
	if ((r = rados_connect(c)) < 0) {
		rados_shutdown(c);
		return hx_err_set(err, -ETIMEDOUT,
				  "rbd: cannot reach the Ceph cluster of '%s': "
				  "%s",
				  conf, strerror(-r));
	}
	*ret = c;
	return 0;
}

/*
 * Kept clients, one per Ceph configuration file, for what must be quick:
 * the status reports every 10 s and, above all, the blocklist of a fence.
 * A new librados client here can take 10 s to connect while a client of
 * the cluster is hung (as on a frozen node: the temporary client that
 * fetches the monitors' configuration waits that long to shut down), so
 * the fence must not start by connecting. A client whose call fails is
 * dropped (shut down once nobody uses it) and made anew next time.
 */
struct kept {
	char conf[512];
	rados_t c;
	unsigned refs;
	bool bad;
};

#define KEPT_MAX 8
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kept *kept[KEPT_MAX];

static int kept_get(const char *conf, struct kept **ret, struct hx_err *err)
{
	struct kept *k = NULL, *fresh;
	rados_t c;
	int r;

	pthread_mutex_lock(&kept_lock);
	for (unsigned i = 0; i < KEPT_MAX && k == NULL; i++)
		if (kept[i] != NULL && !kept[i]->bad &&
		    strcmp(kept[i]->conf, conf) == 0)
			k = kept[i];
	if (k != NULL)
		k->refs++;
	pthread_mutex_unlock(&kept_lock);
	if (k != NULL) {
		*ret = k;
		return 0;
	}
	if ((r = rbd_connect_conf(conf, &c, err)) < 0)
		return r;
	if ((fresh = calloc(1, sizeof(*fresh))) == NULL) {
		rados_shutdown(c);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	snprintf(fresh->conf, sizeof(fresh->conf), "%s", conf);
	fresh->c = c;
	fresh->refs = 1;
	pthread_mutex_lock(&kept_lock);
	for (unsigned i = 0; i < KEPT_MAX; i++)
		if (kept[i] == NULL) {
			kept[i] = fresh;
			fresh->refs++; /* the table's */
			break;
		}
	pthread_mutex_unlock(&kept_lock);
	*ret = fresh;
	return 0;
}

/* Releases @k; @failed drops it from the table. */
static void kept_put(struct kept *k, bool failed)
{
	bool last;

	pthread_mutex_lock(&kept_lock);
	if (failed && !k->bad) {
		k->bad = true;
		for (unsigned i = 0; i < KEPT_MAX; i++)
			if (kept[i] == k) {
				kept[i] = NULL;
				k->refs--;
			}
	}
	last = --k->refs == 0;
	pthread_mutex_unlock(&kept_lock);
	if (last) {
		rados_shutdown(k->c);
		free(k);
	}
}

static int rbd_open_pool(const struct statedb_pool *p, struct rbd_conn *ret,
			 struct hx_err *err)
{
	char conf[512];
	int r;

	if ((r = rbd_opts(p, ret->pool, sizeof(ret->pool), conf, sizeof(conf),
			  err)) < 0 ||
	    (r = rbd_connect_conf(conf, &ret->cluster, err)) < 0)
		return r;
	if ((r = rados_ioctx_create(ret->cluster, ret->pool, &ret->io)) < 0) {
		rados_shutdown(ret->cluster);
		return hx_err_set(err, r == -ENOENT ? -EIO : r,
				  "rbd: no Ceph pool '%s': %s", ret->pool,
				  strerror(-r));
	}
	return 0;
}

static void rbd_close_pool(struct rbd_conn *c)
{
	rados_ioctx_destroy(c->io);
	rados_shutdown(c->cluster);
}

static bool raw_name(const char *name)
{
	const char *fmt = stor_format_of(name);

	return fmt != NULL && strcmp(fmt, "raw") == 0;
}

static int not_raw(const char *name, struct hx_err *err)
{
	return hx_err_set(err, -EINVAL,
			  "'%s': an RBD pool holds raw images (NAME.raw)",
			  name);
}

/* Whether this node's client @k is on the cluster's OSD blocklist (the
 * node was fenced): an entry for its exact address, or for every client
 * of its IP (ADDR:0/0, what a fence adds). The monitor answers with two
 * JSON arrays in a row (addresses, then ranges): the first is read. */
static bool blocklisted(struct kept *k)
{
	const char *cmd = "{\"prefix\": \"osd blocklist ls\", "
			  "\"format\": \"json\"}";
	char *out = NULL, *status = NULL, *mine = NULL;
	size_t outlen = 0, stlen = 0, i;
	json_t *list, *e;
	bool found = false;

	if (rados_getaddrs(k->c, &mine) < 0 || mine == NULL)
		return false;
	if (rados_mon_command(k->c, &cmd, 1, "", 0, &out, &outlen, &status,
			      &stlen) == 0 &&
	    (list = json_loadb(out, outlen, JSON_DISABLE_EOF_CHECK,
				  NULL)) != NULL) {
		json_array_foreach(list, i, e)
		{
			const char *a =
				json_string_value(json_object_get(e, "addr"));
			size_t n = a != NULL ? strcspn(a, ":") : 0;
			char ip[64];

			if (a == NULL || n == 0 || n >= sizeof(ip))
				continue;
			snprintf(ip, sizeof(ip), ":%.*s:", (int)n, a);
			if (strstr(mine, a) != NULL ||
			    (strcmp(a + n, ":0/0") == 0 &&
			     (strstr(mine, ip) != NULL ||
			      strncmp(mine, ip + 1, n + 1) == 0)))
				found = true;
		}
		json_decref(list);
	}
	rados_buffer_free(out);
	rados_buffer_free(status);
	rados_buffer_free(mine);
	return found;
}

static int rbd_status(const struct statedb_pool *p,
		      struct statedb_pool_status *st, struct hx_err *err)
{
	struct rados_cluster_stat_t cs;
	char pool[128], conf[512];
	struct kept *k;
	struct hx_err e = {0};
	rados_ioctx_t io;
	int r;

	(void)err;
	if (rbd_opts(p, pool, sizeof(pool), conf, sizeof(conf), &e) < 0 ||
	    kept_get(conf, &k, &e) < 0) {
		st->available = false;
		snprintf(st->message, sizeof(st->message), "%.200s", e.msg);
		return 0;
	}
	if ((r = rados_ioctx_create(k->c, pool, &io)) < 0) {
		st->available = false;
		snprintf(st->message, sizeof(st->message),
			 "rbd: no Ceph pool '%s': %s", pool, strerror(-r));
		kept_put(k, r != -ENOENT);
		return 0;
	}
	rados_ioctx_destroy(io);
	if ((r = rados_cluster_stat(k->c, &cs)) < 0) {
		st->available = false;
		snprintf(st->message, sizeof(st->message),
			 "rbd: cluster stat: %s", strerror(-r));
	} else if (blocklisted(k)) {
		st->available = false;
		snprintf(st->message, sizeof(st->message),
			 "rbd: this node is on the Ceph blocklist (fenced); "
			 "once it is sound: ceph osd blocklist rm ADDR:0/0");
	} else {
		st->available = true;
		st->message[0] = '\0';
		st->capacity_bytes = (int64_t)cs.kb * 1024;
		st->used_bytes = (int64_t)cs.kb_used * 1024;
		st->free_bytes = (int64_t)cs.kb_avail * 1024;
	}
	kept_put(k, r < 0);
	return 0;
}

/* Fills @ret from the open image @img called @name. */
static int image_info(rbd_image_t img, const char *name, struct stor_vol *ret,
		      struct hx_err *err)
{
	rbd_linked_image_spec_t parent;
	rbd_snap_spec_t psnap;
	rbd_snap_info_t snaps[64];
	uint64_t size;
	int max = 64, n, r;
	size_t off = 0;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	snprintf(ret->format, sizeof(ret->format), "raw");
	snprintf(ret->content, sizeof(ret->content), "images");
	if ((r = rbd_get_size(img, &size)) < 0)
		return hx_err_set(err, -EIO, "rbd: size of '%s': %s", name,
				  strerror(-r));
	ret->size_bytes = (int64_t)size;
	ret->used_bytes = (int64_t)size; /* thin; not worth a diff walk */
	if (rbd_get_parent(img, &parent, &psnap) == 0) {
		snprintf(ret->backing, sizeof(ret->backing), "%s",
			 parent.image_name);
		rbd_linked_image_spec_cleanup(&parent);
		rbd_snap_spec_cleanup(&psnap);
	}
	n = rbd_snap_list(img, snaps, &max);
	for (int i = 0; i < n; i++) {
		const char *s = snaps[i].name;

		if (strcmp(s, RBD_BASE_SNAP) != 0 &&
		    off + strlen(s) + 2 < sizeof(ret->snapshots))
			off += (size_t)snprintf(ret->snapshots + off,
						sizeof(ret->snapshots) - off,
						"%s%s ", off == 0 ? " " : "",
						s);
	}
	if (n > 0)
		rbd_snap_list_end(snaps);
	return 0;
}

static int vol_info(struct rbd_conn *c, const char *name, struct stor_vol *ret,
		    struct hx_err *err)
{
	rbd_image_t img;
	int r;

	if (!raw_name(name) ||
	    rbd_open_read_only(c->io, name, &img, NULL) < 0)
		return hx_err_set(err, -ENOENT, "no volume '%s'", name);
	r = image_info(img, name, ret, err);
	rbd_close(img);
	return r;
}

static int rbd_info(const struct statedb_pool *p, const char *name,
		    struct stor_vol *ret, struct hx_err *err)
{
	struct rbd_conn c;
	int r;

	if ((r = rbd_open_pool(p, &c, err)) < 0)
		return r;
	r = vol_info(&c, name, ret, err);
	rbd_close_pool(&c);
	return r;
}

static int rbd_vol_list(const struct statedb_pool *p, struct stor_vol **ret,
			unsigned *ret_n, struct hx_err *err)
{
	rbd_image_spec_t *specs = NULL;
	struct stor_vol *v = NULL;
	size_t max = 64, nspec;
	unsigned n = 0;
	struct rbd_conn c;
	int r;

	if ((r = rbd_open_pool(p, &c, err)) < 0)
		return r;
	for (int tries = 0; tries < 8; tries++) {
		free(specs);
		if ((specs = calloc(max, sizeof(*specs))) == NULL) {
			r = -ENOMEM;
			break;
		}
		nspec = max;
		if ((r = rbd_list2(c.io, specs, &nspec)) != -ERANGE)
			break;
		max = nspec;
	}
	if (r < 0) {
		free(specs);
		rbd_close_pool(&c);
		return hx_err_set(err, r == -ENOMEM ? r : -EIO,
				  "rbd: cannot list pool '%s': %s", c.pool,
				  strerror(-r));
	}
	if ((v = calloc(nspec + 1, sizeof(*v))) == NULL) {
		rbd_image_spec_list_cleanup(specs, nspec);
		free(specs);
		rbd_close_pool(&c);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < nspec; i++)
		if (statedb_volume_name_check(specs[i].name, NULL) == 0 &&
		    vol_info(&c, specs[i].name, &v[n], NULL) == 0)
			n++;
	rbd_image_spec_list_cleanup(specs, nspec);
	free(specs);
	rbd_close_pool(&c);
	*ret = v;
	*ret_n = n;
	return 0;
}

static int rbd_vol_create(const struct statedb_pool *p, const char *name,
			  int64_t size, struct hx_err *err)
{
	struct rbd_conn c;
	int order = 0, r;

	if (!raw_name(name))
		return not_raw(name, err);
	if ((r = rbd_open_pool(p, &c, err)) < 0)
		return r;
	r = rbd_create2(c.io, name, (uint64_t)size,
			RBD_FEATURE_LAYERING | RBD_FEATURE_EXCLUSIVE_LOCK,
			&order);
	if (r == -EEXIST)
		r = hx_err_set(err, -EEXIST, "volume '%s' already exists",
			       name);
	else if (r < 0)
		r = hx_err_set(err, -EIO, "rbd: create '%s': %s", name,
			       strerror(-r));
	rbd_close_pool(&c);
	return r;
}

/* Removes every snapshot of @img (unprotecting them); -EBUSY if a clone
 * still depends on one. */
static int drop_snaps(rbd_image_t img, const char *name, struct hx_err *err)
{
	rbd_snap_info_t snaps[64];
	int max = 64, n, r = 0;

	if ((n = rbd_snap_list(img, snaps, &max)) < 0)
		return hx_err_set(err, -EIO, "rbd: snapshots of '%s': %s",
				  name, strerror(-n));
	for (int i = 0; i < n && r == 0; i++) {
		int prot = 0;

		if (rbd_snap_is_protected(img, snaps[i].name, &prot) == 0 &&
		    prot && (r = rbd_snap_unprotect(img, snaps[i].name)) < 0)
			r = hx_err_set(err, r == -EBUSY ? -EBUSY : -EIO,
				       "rbd: '%s@%s' is the base of a linked "
				       "clone",
				       name, snaps[i].name);
		else if ((r = rbd_snap_remove(img, snaps[i].name)) < 0)
			r = hx_err_set(err, -EIO, "rbd: remove '%s@%s': %s",
				       name, snaps[i].name, strerror(-r));
	}
	if (n > 0)
		rbd_snap_list_end(snaps);
	return r;
}

static int rbd_vol_remove(const struct statedb_pool *p, const char *name,
			  struct hx_err *err)
{
	rbd_image_t img;
	struct rbd_conn c;
	int r;

	if (!raw_name(name))
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  name, p->name);
	if ((r = rbd_open_pool(p, &c, err)) < 0)
		return r;
	if (rbd_open(c.io, name, &img, NULL) < 0) {
		rbd_close_pool(&c);
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  name, p->name);
	}
	r = drop_snaps(img, name, err);
	rbd_close(img);
	if (r == 0 && (r = rbd_remove(c.io, name)) < 0)
		r = hx_err_set(err, r == -EBUSY ? -EBUSY : -EIO,
			       "rbd: remove '%s': %s", name, strerror(-r));
	rbd_close_pool(&c);
	return r;
}

/* Runs @fn on image @name of pool @p opened for writing. */
static int with_image(const struct statedb_pool *p, const char *name,
		      int (*fn)(rbd_image_t img, const char *name,
				const void *arg, struct hx_err *err),
		      const void *arg, struct hx_err *err)
{
	rbd_image_t img;
	struct rbd_conn c;
	int r;

	if (!raw_name(name))
		return not_raw(name, err);
	if ((r = rbd_open_pool(p, &c, err)) < 0)
		return r;
	if (rbd_open(c.io, name, &img, NULL) < 0) {
		rbd_close_pool(&c);
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  name, p->name);
	}
	r = fn(img, name, arg, err);
	rbd_close(img);
	rbd_close_pool(&c);
	return r;
}

static int do_resize(rbd_image_t img, const char *name, const void *arg,
		     struct hx_err *err)
{
	int r = rbd_resize(img, *(const uint64_t *)arg);

	return r < 0 ? hx_err_set(err, -EIO, "rbd: resize '%s': %s", name,
				  strerror(-r))
		     : 0;
}

static int rbd_vol_resize(const struct statedb_pool *p, const char *name,
			  int64_t size, struct hx_err *err)
{
	uint64_t sz = (uint64_t)size;

	return with_image(p, name, do_resize, &sz, err);
}

static int rbd_path(const struct statedb_pool *p, const char *name, char *buf,
		    size_t len)
{
	char pool[128], conf[512];
	int n;

	if (rbd_opts(p, pool, sizeof(pool), conf, sizeof(conf), NULL) < 0)
		return -EINVAL;
	n = snprintf(buf, len, "rbd:%s/%s:conf=%s", pool, name, conf);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int do_snap(rbd_image_t img, const char *name, const void *arg,
		   struct hx_err *err)
{
	const char *const *op = arg; /* {"create"|"rollback"|"delete", snap} */
	int r;

	if (strcmp(op[1], RBD_BASE_SNAP) == 0)
		return hx_err_set(err, -EINVAL,
				  "snapshot name '%s' is reserved for linked "
				  "clones",
				  RBD_BASE_SNAP);
	if (strcmp(op[0], "create") == 0)
		r = rbd_snap_create(img, op[1]);
	else if (strcmp(op[0], "rollback") == 0)
		r = rbd_snap_rollback(img, op[1]);
	else
		r = rbd_snap_remove(img, op[1]);
	if (r == -ENOENT)
		return hx_err_set(err, -ENOENT, "no snapshot '%s@%s'", name,
				  op[1]);
	if (r == -EEXIST)
		return hx_err_set(err, -EEXIST, "snapshot '%s@%s' exists",
				  name, op[1]);
	return r < 0 ? hx_err_set(err, -EIO, "rbd: snapshot %s '%s@%s': %s",
				  op[0], name, op[1], strerror(-r))
		     : 0;
}

static int rbdvol_snap_create(const struct statedb_pool *p, const char *name,
			    const char *snap, struct hx_err *err)
{
	const char *op[] = {"create", snap};

	return with_image(p, name, do_snap, op, err);
}

static int rbdvol_snap_rollback(const struct statedb_pool *p, const char *name,
			      const char *snap, struct hx_err *err)
{
	const char *op[] = {"rollback", snap};

	return with_image(p, name, do_snap, op, err);
}

static int rbdvol_snap_delete(const struct statedb_pool *p, const char *name,
			    const char *snap, struct hx_err *err)
{
	const char *op[] = {"delete", snap};

	return with_image(p, name, do_snap, op, err);
}

/* The protected snapshot linked clones of @img are made from. */
static int base_snap(rbd_image_t img, const char *name, struct hx_err *err)
{
	int prot = 0, r = rbd_snap_create(img, RBD_BASE_SNAP);

	if (r < 0 && r != -EEXIST)
		return hx_err_set(err, -EIO, "rbd: snapshot '%s@%s': %s", name,
				  RBD_BASE_SNAP, strerror(-r));
	if (rbd_snap_is_protected(img, RBD_BASE_SNAP, &prot) == 0 && prot)
		return 0;
	if ((r = rbd_snap_protect(img, RBD_BASE_SNAP)) < 0 && r != -EBUSY)
		return hx_err_set(err, -EIO, "rbd: protect '%s@%s': %s", name,
				  RBD_BASE_SNAP, strerror(-r));
	return 0;
}

static int rbd_vol_clone(const struct statedb_pool *p, const char *src,
			 const char *dst, bool linked, struct hx_err *err)
{
	rbd_image_t img;
	struct rbd_conn c;
	int order = 0, r;

	if (!raw_name(src) || !raw_name(dst))
		return not_raw(raw_name(src) ? dst : src, err);
	if ((r = rbd_open_pool(p, &c, err)) < 0)
		return r;
	if (rbd_open(c.io, src, &img, NULL) < 0) {
		rbd_close_pool(&c);
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  src, p->name);
	}
	if (linked) {
		if ((r = base_snap(img, src, err)) == 0 &&
		    (r = rbd_clone(c.io, src, RBD_BASE_SNAP, c.io, dst,
				   RBD_FEATURE_LAYERING |
					   RBD_FEATURE_EXCLUSIVE_LOCK,
				   &order)) < 0)
			r = hx_err_set(err, r == -EEXIST ? -EEXIST : -EIO,
				       "rbd: clone '%s' from '%s': %s", dst,
				       src, strerror(-r));
	} else if ((r = rbd_copy(img, c.io, dst)) < 0) {
		r = hx_err_set(err, r == -EEXIST ? -EEXIST : -EIO,
			       "rbd: copy '%s' to '%s': %s", src, dst,
			       strerror(-r));
	}
	rbd_close(img);
	rbd_close_pool(&c);
	return r;
}

int storage_rbd_blocklist(const struct statedb_pool *p, const char *addr,
			  struct hx_err *err)
{
	char pool[128], conf[512], cmd[256];
	char *out = NULL, *status = NULL;
	size_t outlen = 0, stlen = 0;
	const char *cmds[1] = {cmd};
	uint64_t t0 = hx_now_ms(), t1;
	struct kept *k;
	int r;

	if (strspn(addr, "0123456789.") != strlen(addr) || addr[0] == '\0')
		return hx_err_set(err, -EINVAL, "'%s' is not an IPv4 address",
				  addr);
	if ((r = rbd_opts(p, pool, sizeof(pool), conf, sizeof(conf), err)) <
		    0 ||
	    (r = kept_get(conf, &k, err)) < 0)
		return r;
	/* port 0, nonce 0: every client from that address (Ceph's "osd
	 * blocklist add IP"), for a day; a recovered node is let back in
	 * by removing the entry. */
	snprintf(cmd, sizeof(cmd),
		 "{\"prefix\": \"osd blocklist\", \"blocklistop\": \"add\", "
		 "\"addr\": \"%s:0/0\", \"expire\": 86400.0}",
		 addr);
	t1 = hx_now_ms();
	r = rados_mon_command(k->c, cmds, 1, "", 0, &out, &outlen, &status,
			      &stlen);
	hx_log(LOG_INFO,
	       "rbd: blocklist %s on '%s': connected in %" PRIu64
	       " ms, answered in %" PRIu64 " ms",
	       addr, p->name, t1 - t0, hx_now_ms() - t1);
	if (r < 0)
		r = hx_err_set(err, -EIO, "rbd: blocklist %s: %.*s (%s)", addr,
			       (int)stlen, status != NULL ? status : "",
			       strerror(-r));
	rados_buffer_free(out);
	rados_buffer_free(status);
	kept_put(k, r < 0);
	return r;
}

const struct stor_backend stor_rbd_backend = {
	.type = "rbd",
	.check = rbd_check,
	.status = rbd_status,
	.list = rbd_vol_list,
	.info = rbd_info,
	.create = rbd_vol_create,
	.remove = rbd_vol_remove,
	.resize = rbd_vol_resize,
	.path = rbd_path,
	.snap_create = rbdvol_snap_create,
	.snap_rollback = rbdvol_snap_rollback,
	.snap_delete = rbdvol_snap_delete,
	.clone = rbd_vol_clone,
};
