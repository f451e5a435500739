/*
 * The directory backend: volumes are files in the pool's directory, qcow2
 * or raw images and ISO files, driven with qemu-img.
 *
 * DESIGN: qemu-img rather than libvirt's storage pools. libvirt would keep
 * a second copy of every pool definition in each node's libvirtd (to be
 * kept in step with statedb), has no btrfs pool type, and exposes neither
 * qcow2 internal snapshots nor backing-file clones on volumes; qemu-img
 * does all of it on a plain path and is what libvirt runs underneath
 * anyway. libvirt stays in charge of what running VMs hold open (online
 * resize, snapshots with RAM). A linked clone's backing file is stored by
 * name, relative to its own directory, so a pool mounted elsewhere on
 * another node still resolves it.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/storage.h"
#include "agent/vmexec.h"
#include "lib/lib.h"

const char *stor_format_of(const char *name)
{
	static const char *const fmts[] = {"qcow2", "raw", "iso"};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < HX_ARRAY_SIZE(fmts); i++)
		if (strcmp(dot + 1, fmts[i]) == 0 && dot != name)
			return fmts[i];
	return NULL;
}

int stor_run(const char *const argv[], int timeout_ms, const char *what,
	     struct hx_err *err)
{
	char out[1024];
	int r = vmexec_run(argv, timeout_ms, out, sizeof(out));

	if (r == -ETIMEDOUT)
		return hx_err_set(err, -ETIMEDOUT,
				  "%s: %s timed out after %d s", what, argv[0],
				  timeout_ms / 1000);
	if (r < 0)
		return hx_err_set(err, -EIO, "%s: %s", what,
				  out[0] != '\0' ? out : "failed");
	return 0;
}

int stor_qemu_info(const char *path, struct stor_vol *v, struct hx_err *err)
{
	const char *argv[] = {"qemu-img",      "info", "-U",
			      "--output=json", path,   NULL};
	char *out = malloc(65536);
	json_t *j, *snaps, *s;
	const char *b;
	size_t i, off = 0;
	int r;

	if (out == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	r = vmexec_run(argv, 30000, out, 65536);
	if (r < 0) {
		r = hx_err_set(err, -EIO, "qemu-img info: %.400s", out);
		free(out);
		return r;
	}
	j = json_loads(out, 0, NULL);
	free(out);
	if (j == NULL)
		return hx_err_set(err, -EIO, "qemu-img info: not JSON");
	v->size_bytes = json_integer_value(json_object_get(j, "virtual-size"));
	v->used_bytes = json_integer_value(json_object_get(j, "actual-size"));
	b = json_string_value(json_object_get(j, "backing-filename"));
	snprintf(v->backing, sizeof(v->backing), "%s",
		 b != NULL && strchr(b, '/') == NULL ? b : "");
	if (b != NULL && strchr(b, '/') != NULL) /* not ours: show it */
		snprintf(v->backing, sizeof(v->backing), "%s",
			 strrchr(b, '/') + 1);
	v->snapshots[0] = '\0';
	snaps = json_object_get(j, "snapshots");
	json_array_foreach(snaps, i, s)
	{
		const char *n = json_string_value(json_object_get(s, "name"));

		if (n != NULL && off + strlen(n) + 2 < sizeof(v->snapshots))
			off += (size_t)snprintf(
				v->snapshots + off, sizeof(v->snapshots) - off,
				"%s%s ", off == 0 ? " " : "", n);
	}
	json_decref(j);
	return 0;
}

static int file_path(const char *dir, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int stor_dir_file_info(const char *dir, const char *name, struct stor_vol *ret,
		       struct hx_err *err)
{
	const char *fmt = stor_format_of(name);
	char path[1100];
	struct stat st;

	memset(ret, 0, sizeof(*ret));
	if (fmt == NULL || file_path(dir, name, path, sizeof(path)) < 0 ||
	    lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return hx_err_set(err, -ENOENT, "no volume '%s'", name);
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	snprintf(ret->format, sizeof(ret->format), "%s", fmt);
	snprintf(ret->content, sizeof(ret->content), "%s",
		 strcmp(fmt, "iso") == 0 ? "iso" : "images");
	ret->size_bytes = st.st_size;
	ret->used_bytes = (int64_t)st.st_blocks * 512;
	if (strcmp(fmt, "qcow2") == 0)
		return stor_qemu_info(path, ret, err);
	return 0;
}

int stor_dir_file_create(const char *dir, const char *name, int64_t size,
			 const char *backing, struct hx_err *err)
{
	const char *fmt = stor_format_of(name);
	char path[1100], sz[32];
	struct stat st;

	if (fmt == NULL || strcmp(fmt, "iso") == 0)
		return hx_err_set(err, -EINVAL,
				  "'%s': a new volume's name ends in .qcow2 or "
				  ".raw (ISO images are uploaded)",
				  name);
	if (file_path(dir, name, path, sizeof(path)) < 0)
		return hx_err_set(err, -EINVAL, "'%s': path too long", name);
	if (lstat(path, &st) == 0)
		return hx_err_set(err, -EEXIST, "volume '%s' already exists",
				  name);
	snprintf(sz, sizeof(sz), "%" PRId64, size);
	if (backing != NULL) {
		const char *argv[] = {"qemu-img", "create", "-q",    "-f",
				      "qcow2",	  "-b",	    backing, "-F",
				      "qcow2",	  path,	    NULL};
		return stor_run(argv, 60000, "qemu-img create", err);
	}
	const char *argv[] = {"qemu-img", "create", "-q", "-f",
			      fmt,	  path,	    sz,	  NULL};
	return stor_run(argv, 60000, "qemu-img create", err);
}

int stor_dir_statfs(const struct statedb_pool *p,
		    struct statedb_pool_status *st)
{
	struct statvfs vfs;
	struct stat s;

	if (stat(p->path, &s) < 0 || !S_ISDIR(s.st_mode)) {
		st->available = false;
		snprintf(st->message, sizeof(st->message),
			 "'%.200s' is not a directory on this node", p->path);
		return 0;
	}
	if (statvfs(p->path, &vfs) < 0) {
		st->available = false;
		snprintf(st->message, sizeof(st->message),
			 "statvfs '%.200s': %s", p->path, strerror(errno));
		return 0;
	}
	st->available = true;
	st->message[0] = '\0';
	st->capacity_bytes = (int64_t)(vfs.f_blocks * vfs.f_frsize);
	st->free_bytes = (int64_t)(vfs.f_bavail * vfs.f_frsize);
	st->used_bytes = (int64_t)((vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize);
	return 0;
}

/* ---- the vtable ---- */

static int dir_status(const struct statedb_pool *p,
		      struct statedb_pool_status *st, struct hx_err *err)
{
	(void)err;
	return stor_dir_statfs(p, st);
}

static int dir_list(const struct statedb_pool *p, struct stor_vol **ret,
		    unsigned *ret_n, struct hx_err *err)
{
	struct stor_vol *v = NULL;
	unsigned n = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	if ((d = opendir(p->path)) == NULL)
		return hx_err_set(err, -errno, "cannot open '%s': %s", p->path,
				  strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (statedb_volume_name_check(e->d_name, NULL) < 0 ||
		    stor_format_of(e->d_name) == NULL)
			continue;
		if (n == cap) {
			struct stor_vol *nv;

			cap = cap ? 2 * cap : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				free(v);
				closedir(d);
				return hx_err_set(err, -ENOMEM,
						  "out of memory");
			}
			v = nv;
		}
		if (stor_dir_file_info(p->path, e->d_name, &v[n], NULL) == 0)
			n++;
	}
	closedir(d);
	*ret = v;
	*ret_n = n;
	return 0;
}

static int dir_info(const struct statedb_pool *p, const char *name,
		    struct stor_vol *ret, struct hx_err *err)
{
	return stor_dir_file_info(p->path, name, ret, err);
}

static int dir_create(const struct statedb_pool *p, const char *name,
		      int64_t size, struct hx_err *err)
{
	return stor_dir_file_create(p->path, name, size, NULL, err);
}

static int dir_remove(const struct statedb_pool *p, const char *name,
		      struct hx_err *err)
{
	char path[1100];

	if (stor_format_of(name) == NULL ||
	    file_path(p->path, name, path, sizeof(path)) < 0 ||
	    unlink(path) < 0)
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  name, p->name);
	return 0;
}

static int dir_resize(const struct statedb_pool *p, const char *name,
		      int64_t size, struct hx_err *err)
{
	const char *fmt = stor_format_of(name);
	char path[1100], sz[32];

	if (fmt == NULL || strcmp(fmt, "iso") == 0 ||
	    file_path(p->path, name, path, sizeof(path)) < 0)
		return hx_err_set(err, -EINVAL, "'%s' cannot be resized", name);
	snprintf(sz, sizeof(sz), "%" PRId64, size);
	const char *argv[] = {"qemu-img", "resize", "-q", "-f",
			      fmt,	  path,	    sz,	  NULL};
	return stor_run(argv, 60000, "qemu-img resize", err);
}

static int dir_path(const struct statedb_pool *p, const char *name, char *buf,
		    size_t len)
{
	return file_path(p->path, name, buf, len);
}

/* qemu-img snapshot -c/-a/-d on a qcow2 volume. */
static int qcow2_snap(const struct statedb_pool *p, const char *name,
		      const char *op, const char *snap, struct hx_err *err)
{
	const char *fmt = stor_format_of(name);
	char path[1100];

	if (fmt == NULL || strcmp(fmt, "qcow2") != 0)
		return hx_err_set(
			err, -ENOTSUP,
			"'%s': a %s pool snapshots qcow2 volumes only", name,
			p->type);
	if (file_path(p->path, name, path, sizeof(path)) < 0)
		return hx_err_set(err, -EINVAL, "path too long");
	const char *argv[] = {"qemu-img", "snapshot", op, snap, path, NULL};
	return stor_run(argv, 120000, "qemu-img snapshot", err);
}

static int dir_snap_create(const struct statedb_pool *p, const char *name,
			   const char *snap, struct hx_err *err)
{
	return qcow2_snap(p, name, "-c", snap, err);
}

static int dir_snap_rollback(const struct statedb_pool *p, const char *name,
			     const char *snap, struct hx_err *err)
{
	return qcow2_snap(p, name, "-a", snap, err);
}

static int dir_snap_delete(const struct statedb_pool *p, const char *name,
			   const char *snap, struct hx_err *err)
{
	return qcow2_snap(p, name, "-d", snap, err);
}

static int dir_clone(const struct statedb_pool *p, const char *src,
		     const char *dst, bool linked, struct hx_err *err)
{
	const char *sfmt = stor_format_of(src), *dfmt = stor_format_of(dst);
	char spath[1100], dpath[1100];
	struct stat st;

	if (sfmt == NULL || dfmt == NULL || strcmp(sfmt, "iso") == 0 ||
	    strcmp(dfmt, "iso") == 0)
		return hx_err_set(err, -EINVAL,
				  "clone: volumes end in .qcow2 or .raw");
	if (file_path(p->path, src, spath, sizeof(spath)) < 0 ||
	    file_path(p->path, dst, dpath, sizeof(dpath)) < 0)
		return hx_err_set(err, -EINVAL, "path too long");
	if (lstat(spath, &st) < 0)
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  src, p->name);
	if (linked) {
		if (strcmp(sfmt, "qcow2") != 0 || strcmp(dfmt, "qcow2") != 0)
			return hx_err_set(err, -EINVAL,
					  "a linked clone in a %s pool is a "
					  "qcow2 volume on a qcow2 base",
					  p->type);
		return stor_dir_file_create(p->path, dst, 0, src, err);
	}
	if (lstat(dpath, &st) == 0)
		return hx_err_set(err, -EEXIST, "volume '%s' already exists",
				  dst);
	const char *argv[] = {"qemu-img", "convert", "-U",  "-f",  sfmt,
			      "-O",	  dfmt,	     spath, dpath, NULL};
	return stor_run(argv, 3600000, "qemu-img convert", err);
}

const struct stor_backend stor_dir_backend = {
	.type = "dir",
	.status = dir_status,
	.list = dir_list,
	.info = dir_info,
	.create = dir_create,
	.remove = dir_remove,
	.resize = dir_resize,
	.path = dir_path,
	.snap_create = dir_snap_create,
	.snap_rollback = dir_snap_rollback,
	.snap_delete = dir_snap_delete,
	.clone = dir_clone,
};
