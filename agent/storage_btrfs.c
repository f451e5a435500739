/*
 * The btrfs backend: a raw volume NAME.raw is a subvolume PATH/NAME.raw
 * holding one file, disk.raw; qcow2 and ISO volumes are plain files, as in
 * a directory pool.
 *
 * DESIGN: one subvolume per raw volume makes a volume's snapshot a
 * read-only subvolume snapshot (PATH/NAME.raw@SNAP, instant and sharing
 * every block), a rollback a swap of subvolumes, a linked clone a writable
 * snapshot that does not depend on its base, and a full clone a reflink
 * copy (cp --reflink=always): nothing is copied on this filesystem. '@' is
 * not allowed in volume names, so snapshots never show up as volumes.
 * Raw files are sparse; the guest sees the full size.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "agent/storage.h"
#include "lib/lib.h"

#define BTRFS_MAGIC 0x9123683e
#define SUBVOL_INO 256 /* the root inode of every btrfs subvolume */

static bool is_raw(const char *name)
{
	const char *fmt = stor_format_of(name);

	return fmt != NULL && strcmp(fmt, "raw") == 0;
}

static int join(char *buf, size_t len, const char *a, const char *b,
		const char *c)
{
	int n = snprintf(buf, len, "%s/%s%s", a, b, c);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static bool is_subvol(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_ino == SUBVOL_INO;
}

static int btrfs_status(const struct statedb_pool *p,
			struct statedb_pool_status *st, struct hx_err *err)
{
	struct statfs fs;

	(void)err;
	stor_dir_statfs(p, st);
	if (!st->available)
		return 0;
	if (statfs(p->path, &fs) < 0 ||
	    (unsigned long)fs.f_type != BTRFS_MAGIC) {
		st->available = false;
		snprintf(st->message, sizeof(st->message),
			 "'%.200s' is not on a btrfs filesystem", p->path);
	}
	return 0;
}

/* Snapshot names of subvolume @name ("@SNAP" siblings) into @v. */
static void snap_names(const char *dir, const char *name, struct stor_vol *v)
{
	size_t n = strlen(name), off = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	v->snapshots[0] = '\0';
	while (d != NULL && (e = readdir(d)) != NULL) {
		const char *s = e->d_name + n + 1;

		if (strncmp(e->d_name, name, n) != 0 || e->d_name[n] != '@' ||
		    off + strlen(s) + 2 >= sizeof(v->snapshots))
			continue;
		off += (size_t)snprintf(v->snapshots + off,
					sizeof(v->snapshots) - off, "%s%s ",
					off == 0 ? " " : "", s);
	}
	if (d != NULL)
		closedir(d);
}

static int raw_info(const struct statedb_pool *p, const char *name,
		    struct stor_vol *ret, struct hx_err *err)
{
	char sub[1100], file[1200];
	struct stat st;

	memset(ret, 0, sizeof(*ret));
	if (join(sub, sizeof(sub), p->path, name, "") < 0 || !is_subvol(sub) ||
	    join(file, sizeof(file), sub, "disk.raw", "") < 0 ||
	    stat(file, &st) < 0)
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  name, p->name);
	snprintf(ret->name, sizeof(ret->name), "%s", name);
	snprintf(ret->format, sizeof(ret->format), "raw");
	snprintf(ret->content, sizeof(ret->content), "images");
	ret->size_bytes = st.st_size;
	ret->used_bytes = (int64_t)st.st_blocks * 512;
	snap_names(p->path, name, ret);
	return 0;
}

static int btrfs_info(const struct statedb_pool *p, const char *name,
		      struct stor_vol *ret, struct hx_err *err)
{
	if (is_raw(name))
		return raw_info(p, name, ret, err);
	return stor_dir_file_info(p->path, name, ret, err);
}

static int btrfs_list(const struct statedb_pool *p, struct stor_vol **ret,
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
		if (btrfs_info(p, e->d_name, &v[n], NULL) == 0)
			n++;
	}
	closedir(d);
	*ret = v;
	*ret_n = n;
	return 0;
}

static int subvol_create(const char *path, struct hx_err *err)
{
	const char *argv[] = {"btrfs", "-q", "subvolume", "create", path, NULL};

	return stor_run(argv, 60000, "btrfs subvolume create", err);
}

static int subvol_delete(const char *path, struct hx_err *err)
{
	const char *argv[] = {"btrfs", "-q", "subvolume", "delete", path, NULL};

	return stor_run(argv, 60000, "btrfs subvolume delete", err);
}

static int subvol_snapshot(const char *from, const char *to, bool ro,
			   struct hx_err *err)
{
	const char *argv[] = {
		"btrfs",	  "-q",		  "subvolume",	  "snapshot",
		ro ? "-r" : from, ro ? from : to, ro ? to : NULL, NULL};

	return stor_run(argv, 60000, "btrfs subvolume snapshot", err);
}

/* A sparse file of @size bytes. */
static int sparse_file(const char *path, int64_t size, struct hx_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return hx_err_set(err, -errno, "cannot create '%s': %s", path,
				  strerror(errno));
	if (ftruncate(fd, size) < 0) {
		int r = -errno;
		close(fd);
		return hx_err_set(err, r, "cannot size '%s': %s", path,
				  strerror(-r));
	}
	close(fd);
	return 0;
}

static int btrfs_create(const struct statedb_pool *p, const char *name,
			int64_t size, struct hx_err *err)
{
	char sub[1100], file[1200];
	struct stat st;
	int r;

	if (!is_raw(name))
		return stor_dir_file_create(p->path, name, size, NULL, err);
	if (join(sub, sizeof(sub), p->path, name, "") < 0 ||
	    join(file, sizeof(file), sub, "disk.raw", "") < 0)
		return hx_err_set(err, -EINVAL, "'%s': path too long", name);
	if (lstat(sub, &st) == 0)
		return hx_err_set(err, -EEXIST, "volume '%s' already exists",
				  name);
	if ((r = subvol_create(sub, err)) < 0)
		return r;
	if ((r = sparse_file(file, size, err)) < 0)
		(void)subvol_delete(sub, NULL);
	return r;
}

static int btrfs_remove(const struct statedb_pool *p, const char *name,
			struct hx_err *err)
{
	char sub[1100], snap[1200];
	struct stor_vol v;
	int r;

	if (!is_raw(name)) {
		if (join(sub, sizeof(sub), p->path, name, "") < 0 ||
		    stor_format_of(name) == NULL || unlink(sub) < 0)
			return hx_err_set(err, -ENOENT,
					  "no volume '%s' in pool '%s'", name,
					  p->name);
		return 0;
	}
	if ((r = raw_info(p, name, &v, err)) < 0)
		return r;
	char *save = NULL, *s;
	for (s = strtok_r(v.snapshots, " ", &save); s != NULL;
	     s = strtok_r(NULL, " ", &save)) {
		if (join(snap, sizeof(snap), p->path, name, "@") == 0 &&
		    strlen(snap) + strlen(s) < sizeof(snap)) {
			strcat(snap, s);
			if ((r = subvol_delete(snap, err)) < 0)
				return r;
		}
	}
	(void)join(sub, sizeof(sub), p->path, name, "");
	return subvol_delete(sub, err);
}

static int btrfs_resize(const struct statedb_pool *p, const char *name,
			int64_t size, struct hx_err *err)
{
	char file[1200];

	if (!is_raw(name))
		return stor_dir_backend.resize(p, name, size, err);
	if (join(file, sizeof(file), p->path, name, "/disk.raw") < 0 ||
	    truncate(file, size) < 0)
		return hx_err_set(err, -errno, "cannot resize '%s': %s", name,
				  strerror(errno));
	return 0;
}

static int btrfs_path(const struct statedb_pool *p, const char *name, char *buf,
		      size_t len)
{
	return join(buf, len, p->path, name, is_raw(name) ? "/disk.raw" : "");
}

static int snap_paths(const struct statedb_pool *p, const char *name,
		      const char *snap, char *sub, char *ssub, size_t len)
{
	if (join(sub, len, p->path, name, "") < 0 ||
	    join(ssub, len, p->path, name, "@") < 0 ||
	    strlen(ssub) + strlen(snap) >= len)
		return -ENAMETOOLONG;
	strcat(ssub, snap);
	return 0;
}

static int btrfs_snap_create(const struct statedb_pool *p, const char *name,
			     const char *snap, struct hx_err *err)
{
	char sub[1100], ssub[1100];

	if (!is_raw(name))
		return stor_dir_backend.snap_create(p, name, snap, err);
	if (snap_paths(p, name, snap, sub, ssub, sizeof(sub)) < 0)
		return hx_err_set(err, -EINVAL, "path too long");
	if (!is_subvol(sub))
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  name, p->name);
	if (is_subvol(ssub))
		return hx_err_set(err, -EEXIST,
				  "volume '%s' already has a snapshot '%s'",
				  name, snap);
	return subvol_snapshot(sub, ssub, true, err);
}

static int btrfs_snap_rollback(const struct statedb_pool *p, const char *name,
			       const char *snap, struct hx_err *err)
{
	char sub[1100], ssub[1100], old[1200];
	int r;

	if (!is_raw(name))
		return stor_dir_backend.snap_rollback(p, name, snap, err);
	if (snap_paths(p, name, snap, sub, ssub, sizeof(sub)) < 0)
		return hx_err_set(err, -EINVAL, "path too long");
	if (!is_subvol(ssub))
		return hx_err_set(err, -ENOENT,
				  "volume '%s' has no snapshot '%s'", name,
				  snap);
	/* Keep the current state until the new one is in place. */
	snprintf(old, sizeof(old), "%s/.rollback-%s", p->path, name);
	if (is_subvol(old))
		(void)subvol_delete(old, NULL);
	if (rename(sub, old) < 0)
		return hx_err_set(err, -errno, "cannot move '%s' aside: %s",
				  sub, strerror(errno));
	if ((r = subvol_snapshot(ssub, sub, false, err)) < 0) {
		(void)rename(old, sub);
		return r;
	}
	return subvol_delete(old, err);
}

static int btrfs_snap_delete(const struct statedb_pool *p, const char *name,
			     const char *snap, struct hx_err *err)
{
	char sub[1100], ssub[1100];

	if (!is_raw(name))
		return stor_dir_backend.snap_delete(p, name, snap, err);
	if (snap_paths(p, name, snap, sub, ssub, sizeof(sub)) < 0)
		return hx_err_set(err, -EINVAL, "path too long");
	if (!is_subvol(ssub))
		return hx_err_set(err, -ENOENT,
				  "volume '%s' has no snapshot '%s'", name,
				  snap);
	return subvol_delete(ssub, err);
}

static int btrfs_clone(const struct statedb_pool *p, const char *src,
		       const char *dst, bool linked, struct hx_err *err)
{
	char ssub[1100], dsub[1100], sfile[1200], dfile[1200];
	struct stat st;
	int r;

	if (!is_raw(src) || !is_raw(dst))
		return stor_dir_backend.clone(p, src, dst, linked, err);
	if (join(ssub, sizeof(ssub), p->path, src, "") < 0 ||
	    join(dsub, sizeof(dsub), p->path, dst, "") < 0)
		return hx_err_set(err, -EINVAL, "path too long");
	if (!is_subvol(ssub))
		return hx_err_set(err, -ENOENT, "no volume '%s' in pool '%s'",
				  src, p->name);
	if (lstat(dsub, &st) == 0)
		return hx_err_set(err, -EEXIST, "volume '%s' already exists",
				  dst);
	if (linked)
		return subvol_snapshot(ssub, dsub, false, err);
	if ((r = subvol_create(dsub, err)) < 0)
		return r;
	(void)join(sfile, sizeof(sfile), ssub, "disk.raw", "");
	(void)join(dfile, sizeof(dfile), dsub, "disk.raw", "");
	const char *argv[] = {"cp", "--reflink=always", sfile, dfile, NULL};
	if ((r = stor_run(argv, 3600000, "reflink copy", err)) < 0)
		(void)subvol_delete(dsub, NULL);
	return r;
}

const struct stor_backend stor_btrfs_backend = {
	.type = "btrfs",
	.status = btrfs_status,
	.list = btrfs_list,
	.info = btrfs_info,
	.create = btrfs_create,
	.remove = btrfs_remove,
	.resize = btrfs_resize,
	.path = btrfs_path,
	.snap_create = btrfs_snap_create,
	.snap_rollback = btrfs_snap_rollback,
	.snap_delete = btrfs_snap_delete,
	.clone = btrfs_clone,
};
