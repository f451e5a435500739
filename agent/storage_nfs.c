/*
 * The NFS backend: volumes are qcow2 or raw files on an NFS export that
 * QEMU opens itself through its userspace nfs:// driver (libnfs), so no
 * node mounts anything and the kernel needs no NFS client.
 *
 * DESIGN: a pool is {"type": "nfs", "path": EXPORT, "options":
 * {"server": HOST}}; a volume is nfs://HOST/EXPORT/NAME for qemu-img and
 * for QEMU (a libvirt network disk). qemu-img creates, inspects, resizes,
 * snapshots and copies volumes through that URL; what it cannot do
 * (list the export, delete a file, report free space) is done here with
 * libnfs' synchronous calls, each bounded by NFS_TIMEOUT_MS. Every node
 * sees the same files: the pool is shared, and a VM on it starts on any
 * node. A linked clone's backing file is its base's full URL, since QEMU
 * resolves a relative backing name under nfs:// wrongly.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nfsc/libnfs.h>

#include "agent/storage.h"
#include "lib/lib.h"

#define NFS_TIMEOUT_MS 10000

/* The pool's server from its options, checked: an IPv4 address or a host
 * name. */
static int np_server(const struct statedb_pool *p, char *buf, size_t len,
		      struct hx_err *err)
{
	json_t *o = json_loads(p->options, 0, NULL);
	const char *s = json_string_value(json_object_get(o, "server"));
	int r = 0;

	if (s == NULL || s[0] == '\0' || strlen(s) >= len ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789.-") != strlen(s) ||
	    s[0] == '-' || s[0] == '.')
		r = hx_err_set(err, -EINVAL,
			       "options.server: an NFS pool needs the "
			       "server's IPv4 address or host name");
	else
		snprintf(buf, len, "%s", s);
	json_decref(o);
	return r;
}

static int np_check(const struct statedb_pool *p, struct hx_err *err)
{
	static const char *const known[] = {"server", NULL};
	char server[256];
	json_t *o = json_loads(p->options, 0, NULL);
	const char *k;
	json_t *v;
	int r = 0;

	json_object_foreach(o, k, v)
	{
		bool ok = false;

		for (size_t i = 0; known[i] != NULL; i++)
			ok = ok || strcmp(k, known[i]) == 0;
		if (!ok) {
			r = hx_err_set(err, -EINVAL,
				       "options: '%.40s' is not an NFS pool "
				       "option (server)",
				       k);
			break;
		}
	}
	json_decref(o);
	if (r < 0 || (r = np_server(p, server, sizeof(server), err)) < 0)
		return r;
	if (p->path[0] == '\0')
		return hx_err_set(err, -EINVAL,
				  "path: an NFS pool needs the export's path "
				  "on the server");
	if (statedb_pool_has_content(p, "iso"))
		return hx_err_set(err, -EINVAL,
				  "content: an NFS pool holds images only "
				  "(ISO images need a directory pool)");
	return 0;
}

static int np_url(const struct statedb_pool *p, const char *name, char *buf,
		   size_t len)
{
	char server[256];
	int n;

	if (np_server(p, server, sizeof(server), NULL) < 0)
		return -EINVAL;
	n = snprintf(buf, len, "nfs://%s%s/%s", server, p->path, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A libnfs context mounted on the pool's export; free with
 * nfs_destroy_context(). */
static int np_open(const struct statedb_pool *p, struct nfs_context **ret,
		    struct hx_err *err)
{
	struct nfs_context *nfs;
	char server[256];
	int r;

	if ((r = np_server(p, server, sizeof(server), err)) < 0)
		return r;
	if ((nfs = nfs_init_context()) == NULL)
		return hx_err_set(err, -ENOMEM, "nfs: out of memory");
	nfs_set_timeout(nfs, NFS_TIMEOUT_MS);
	if (nfs_mount(nfs, server, p->path) < 0) {
		r = hx_err_set(err, -ECONNREFUSED,
			       "nfs: cannot mount %s:%s: %s",
			       server, p->path, nfs_get_error(nfs));
		nfs_destroy_context(nfs);
		return r;
	}
	*ret = nfs;
	return 0;
}

static bool np_exists(struct nfs_context *nfs, const char *name)
{
	struct nfs_stat_64 st;
	char path[600];

	snprintf(path, sizeof(path), "/%s", name);
	return nfs_stat64(nfs, path, &st) == 0;
}

static int np_status(const struct statedb_pool *p,
		      struct statedb_pool_status *st, struct hx_err *err)
{
	struct nfs_statvfs_64 vfs;
	struct nfs_context *nfs;
	struct hx_err e = {0};

	(void)err;
	if (np_open(p, &nfs, &e) < 0) {
		st->available = false;
		snprintf(st->message, sizeof(st->message), "%.200s", e.msg);
		return 0;
	}
	if (nfs_statvfs64(nfs, "/", &vfs) < 0) {
		st->available = false;
		snprintf(st->message, sizeof(st->message), "nfs: statvfs: %.200s",
			 nfs_get_error(nfs));
	} else {
		st->available = true;
		st->message[0] = '\0';
		st->capacity_bytes = (int64_t)(vfs.f_blocks * vfs.f_frsize);
		st->free_bytes = (int64_t)(vfs.f_bavail * vfs.f_frsize);
		st->used_bytes =
			(int64_t)((vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize);
	}
	nfs_destroy_context(nfs);
	return 0;
}

static int np_vol_info(const struct statedb_pool *p, const char *name,
			struct stor_vol *ret, struct hx_err *err)
{
	const char *fmt = stor_format_of(name);
	char url[1100];

	memset(ret, 0, sizeof(*ret));
	if (fmt == NULL || strcmp(fmt, "iso") == 0 ||
	    np_url(p, name, url, sizeof(url)) < 0)
		return hx_err_set(err, -ENOENT, "no volume '%s'", name);
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	snprintf(ret->format, sizeof(ret->format), "%s", fmt);
	snprintf(ret->content, sizeof(ret->content), "images");
	return stor_qemu_info(url, ret, err);
}

static int np_info(const struct statedb_pool *p, const char *name,
		    struct stor_vol *ret, struct hx_err *err)
{
	struct nfs_context *nfs;
	bool exists;
	int r;

	if ((r = np_open(p, &nfs, err)) < 0)
		return r;
	exists = np_exists(nfs, name);
	nfs_destroy_context(nfs);
	if (!exists)
		return hx_err_set(err, -ENOENT, "no volume '%s'", name);
	return np_vol_info(p, name, ret, err);
}

static int np_list(const struct statedb_pool *p, struct stor_vol **ret,
		    unsigned *ret_n, struct hx_err *err)
{
	struct stor_vol *v = NULL;
	unsigned n = 0, cap = 0;
	struct nfs_context *nfs;
	struct nfsdirent *e;
	struct nfsdir *dir;
	int r;

	if ((r = np_open(p, &nfs, err)) < 0)
		return r;
	if (nfs_opendir(nfs, "/", &dir) < 0) {
		r = hx_err_set(err, -EIO, "nfs: cannot list %s: %s", p->path,
			       nfs_get_error(nfs));
		nfs_destroy_context(nfs);
		return r;
	}
	while ((e = nfs_readdir(nfs, dir)) != NULL) {
		const char *fmt = stor_format_of(e->name);

		if (statedb_volume_name_check(e->name, NULL) < 0 ||
		    fmt == NULL || strcmp(fmt, "iso") == 0)
			continue;
		if (n == cap) {
			struct stor_vol *nv;

			cap = cap ? 2 * cap : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				r = hx_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			v = nv;
		}
		if (np_vol_info(p, e->name, &v[n], NULL) == 0)
			n++;
	}
	nfs_closedir(nfs, dir);
	nfs_destroy_context(nfs);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int np_create_vol(const struct statedb_pool *p, const char *name,
			  int64_t size, const char *backing,
			  struct hx_err *err)
{
	const char *fmt = stor_format_of(name);
	char url[1100], burl[1100], sz[32];
	struct nfs_context *nfs;
	bool exists;
	int r;

	if (fmt == NULL || strcmp(fmt, "iso") == 0)
		return hx_err_set(err, -EINVAL,
				  "'%s': a volume of an NFS pool ends in "
				  ".qcow2 or .raw",
				  name);
	if (np_url(p, name, url, sizeof(url)) < 0 ||
	    (backing != NULL && np_url(p, backing, burl, sizeof(burl)) < 0))
		return hx_err_set(err, -EINVAL, "'%s': path too long", name);
	if ((r = np_open(p, &nfs, err)) < 0)
		return r;
	exists = np_exists(nfs, name);
	nfs_destroy_context(nfs);
	if (exists)
		return hx_err_set(err, -EEXIST, "volume '%s' already exists",
				  name);
	snprintf(sz, sizeof(sz), "%" PRId64, size);
	if (backing != NULL) {
		const char *argv[] = {"qemu-img", "create", "-q", "-f",
				      "qcow2",	  "-b",	    burl, "-F",
				      "qcow2",	  url,	    NULL};
		return stor_run(argv, 60000, "qemu-img create", err);
	}
	const char *argv[] = {"qemu-img", "create", "-q", "-f",
			      fmt,	  url,	    sz,	  NULL};
	return stor_run(argv, 60000, "qemu-img create", err);
}

static int np_create(const struct statedb_pool *p, const char *name,
		      int64_t size, struct hx_err *err)
{
	return np_create_vol(p, name, size, NULL, err);
}

static int np_remove(const struct statedb_pool *p, const char *name,
		      struct hx_err *err)
{
	struct nfs_context *nfs;
	char path[600];
	int r;

	if (stor_format_of(name) == NULL)
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  name, p->name);
	if ((r = np_open(p, &nfs, err)) < 0)
		return r;
	snprintf(path, sizeof(path), "/%s", name);
	if (nfs_unlink(nfs, path) < 0)
		r = hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s': %s",
			       name, p->name, nfs_get_error(nfs));
	nfs_destroy_context(nfs);
	return r;
}

static int np_resize(const struct statedb_pool *p, const char *name,
		      int64_t size, struct hx_err *err)
{
	const char *fmt = stor_format_of(name);
	char url[1100], sz[32];

	if (fmt == NULL || strcmp(fmt, "iso") == 0 ||
	    np_url(p, name, url, sizeof(url)) < 0)
		return hx_err_set(err, -EINVAL, "'%s' cannot be resized", name);
	snprintf(sz, sizeof(sz), "%" PRId64, size);
	const char *argv[] = {"qemu-img", "resize", "-q", "-f",
			      fmt,	  url,	    sz,	  NULL};
	return stor_run(argv, 60000, "qemu-img resize", err);
}

static int np_path(const struct statedb_pool *p, const char *name, char *buf,
		    size_t len)
{
	return np_url(p, name, buf, len);
}

static int np_snap(const struct statedb_pool *p, const char *name,
		    const char *op, const char *snap, struct hx_err *err)
{
	const char *fmt = stor_format_of(name);
	char url[1100];

	if (fmt == NULL || strcmp(fmt, "qcow2") != 0)
		return hx_err_set(err, -ENOTSUP,
				  "'%s': an NFS pool snapshots qcow2 volumes "
				  "only",
				  name);
	if (np_url(p, name, url, sizeof(url)) < 0)
		return hx_err_set(err, -EINVAL, "path too long");
	const char *argv[] = {"qemu-img", "snapshot", op, snap, url, NULL};
	return stor_run(argv, 120000, "qemu-img snapshot", err);
}

static int np_snap_create(const struct statedb_pool *p, const char *name,
			   const char *snap, struct hx_err *err)
{
	return np_snap(p, name, "-c", snap, err);
}

static int np_snap_rollback(const struct statedb_pool *p, const char *name,
			     const char *snap, struct hx_err *err)
{
	return np_snap(p, name, "-a", snap, err);
}

static int np_snap_delete(const struct statedb_pool *p, const char *name,
			   const char *snap, struct hx_err *err)
{
	return np_snap(p, name, "-d", snap, err);
}

static int np_clone(const struct statedb_pool *p, const char *src,
		     const char *dst, bool linked, struct hx_err *err)
{
	const char *sfmt = stor_format_of(src), *dfmt = stor_format_of(dst);
	char surl[1100], durl[1100];
	struct nfs_context *nfs;
	bool has_src, has_dst;
	int r;

	if (sfmt == NULL || dfmt == NULL || strcmp(sfmt, "iso") == 0 ||
	    strcmp(dfmt, "iso") == 0)
		return hx_err_set(err, -EINVAL,
				  "clone: volumes end in .qcow2 or .raw");
	if (linked && (strcmp(sfmt, "qcow2") != 0 || strcmp(dfmt, "qcow2")))
		return hx_err_set(err, -EINVAL,
				  "a linked clone in an NFS pool is a qcow2 "
				  "volume on a qcow2 base");
	if (np_url(p, src, surl, sizeof(surl)) < 0 ||
	    np_url(p, dst, durl, sizeof(durl)) < 0)
		return hx_err_set(err, -EINVAL, "path too long");
	if ((r = np_open(p, &nfs, err)) < 0)
		return r;
	has_src = np_exists(nfs, src);
	has_dst = np_exists(nfs, dst);
	nfs_destroy_context(nfs);
	if (!has_src)
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  src, p->name);
	if (has_dst)
		return hx_err_set(err, -EEXIST, "volume '%s' already exists",
				  dst);
	if (linked)
		return np_create_vol(p, dst, 0, src, err);
	const char *argv[] = {"qemu-img", "convert", "-U", "-f", sfmt, "-O",
			      dfmt,	  surl,	     durl, NULL};
	return stor_run(argv, 3600000, "qemu-img convert", err);
}

const struct stor_backend stor_nfs_backend = {
	.type = "nfs",
	.check = np_check,
	.status = np_status,
	.list = np_list,
	.info = np_info,
	.create = np_create,
	.remove = np_remove,
	.resize = np_resize,
	.path = np_path,
	.snap_create = np_snap_create,
	.snap_rollback = np_snap_rollback,
	.snap_delete = np_snap_delete,
	.clone = np_clone,
};
