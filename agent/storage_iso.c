/*
 * ISO images into pools: streamed uploads (api.c hands the body over) and
 * downloads from a URL, run as tasks.
 *
 * DESIGN: both write to a hidden temporary file in the pool (".upload-*",
 * never listed: volume names do not start with a dot), hash every byte on
 * the way, and link the file into place only once its SHA-256 matches the
 * one the user gave: a truncated transfer, a wrong checksum, a client that
 * goes away or a download that fails leave nothing in the pool. link()
 * rather than rename() so an ISO that appeared meanwhile is never
 * replaced. Downloads take http and https only, follow at most 5
 * redirects (http and https only), and give up when the server stalls.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "agent/agent.h"
#include "agent/storage.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

#define ISO_MAX_BYTES (INT64_C(16) << 30) /* 16 GiB */

struct storage_upload {
	struct statedb_pool pool;
	char name[STATEDB_VOLUME_NAME_MAX + 1];
	char tmp[1100], final[1100];
	char actor[96];
	int fd;
	unsigned char want[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	uint64_t written, max;
	uint64_t t0_ms;
};

static int hex_decode(const char *s, unsigned char *out, size_t n)
{
	if (s == NULL || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (strchr("0123456789abcdefABCDEF", s[2 * i]) == NULL ||
		    strchr("0123456789abcdefABCDEF", s[2 * i + 1]) == NULL ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (unsigned char)v;
	}
	return 0;
}

int storage_iso_open(struct agent *a, const char *pool, const char *name,
		     const char *sha256, int64_t length, const char *actor,
		     struct storage_upload **ret, struct hx_err *err)
{
	const struct stor_backend *be;
	struct storage_upload *u;
	struct statvfs vfs;
	size_t n = strlen(name);
	int r;

	if ((r = statedb_volume_name_check(name, err)) < 0)
		return r;
	if (n < 5 || strcmp(name + n - 4, ".iso") != 0)
		return hx_err_set(err, -EINVAL,
				  "'%s': an ISO's name ends in .iso", name);
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	u->fd = -1;
	if (hex_decode(sha256, u->want, sizeof(u->want)) < 0) {
		r = hx_err_set(err, -EINVAL,
			       "sha256: 64 hex digits are required: the ISO is "
			       "kept only if it matches");
		goto fail;
	}
	if ((r = storage_pool_here(a, pool, &u->pool, &be, err)) < 0)
		goto fail;
	if (!statedb_pool_has_content(&u->pool, "iso")) {
		r = hx_err_set(err, -EINVAL,
			       "storage pool '%s' does not hold ISO images "
			       "(content:%s)",
			       pool, u->pool.content);
		goto fail;
	}
	u->max = ISO_MAX_BYTES;
	if (length > (int64_t)u->max) {
		r = hx_err_set(err, -EFBIG,
			       "%" PRId64 " bytes: ISO images are at most "
			       "%" PRId64 " bytes",
			       length, ISO_MAX_BYTES);
		goto fail;
	}
	if (length > 0 && statvfs(u->pool.path, &vfs) == 0 &&
	    (uint64_t)length > (uint64_t)vfs.f_bavail * vfs.f_frsize) {
		r = hx_err_set(err, HX_ENOSPACE,
			       "pool '%s' has %llu bytes free, not %" PRId64,
			       pool,
			       (unsigned long long)vfs.f_bavail * vfs.f_frsize,
			       length);
		goto fail;
	}
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->actor, sizeof(u->actor), "%s", actor);
	if (be->path(&u->pool, name, u->final, sizeof(u->final)) < 0 ||
	    snprintf(u->tmp, sizeof(u->tmp), "%s/.upload-%s.XXXXXX",
		     u->pool.path, name) >= (int)sizeof(u->tmp)) {
		r = hx_err_set(err, -EINVAL, "path too long");
		goto fail;
	}
	if (access(u->final, F_OK) == 0) {
		r = hx_err_set(err, -EEXIST, "volume '%s:%s' already exists",
			       pool, name);
		goto fail;
	}
	if ((u->fd = mkostemp(u->tmp, O_CLOEXEC)) < 0) {
		r = hx_err_set(err, -errno, "cannot create a file in '%s': %s",
			       u->pool.path, strerror(errno));
		goto fail;
	}
	crypto_hash_sha256_init(&u->st);
	u->t0_ms = hx_now_ms();
	*ret = u;
	return 0;
fail:
	free(u);
	return r;
}

void storage_iso_abort(struct storage_upload *u)
{
	if (u == NULL)
		return;
	if (u->fd >= 0) {
		close(u->fd);
		(void)unlink(u->tmp);
	}
	free(u);
}

int storage_iso_write(struct storage_upload *u, const void *buf, size_t len,
		      struct hx_err *err)
{
	int r;

	if (u->written + len > u->max)
		return hx_err_set(err, -EFBIG,
				  "ISO images are at most %" PRId64 " bytes",
				  ISO_MAX_BYTES);
	if ((r = hx_write_all(u->fd, buf, len)) < 0)
		return hx_err_set(err, r == -ENOSPC ? HX_ENOSPACE : -EIO,
				  "writing the ISO: %s", strerror(-r));
	crypto_hash_sha256_update(&u->st, buf, len);
	u->written += len;
	return 0;
}

int storage_iso_close(struct agent *a, struct storage_upload *u,
		      struct storage_iso *ret, struct hx_err *err)
{
	unsigned char got[crypto_hash_sha256_BYTES];
	char subj[48];
	int r = 0;

	crypto_hash_sha256_final(&u->st, got);
	sodium_bin2hex(ret->sha256, sizeof(ret->sha256), got, sizeof(got));
	ret->pool = u->pool;
	snprintf(ret->name, sizeof(ret->name), "%s", u->name);
	ret->bytes = u->written;
	ret->ms = hx_now_ms() - u->t0_ms;
	if (sodium_memcmp(got, u->want, sizeof(got)) != 0)
		r = hx_err_set(err, -EINVAL,
			       "checksum mismatch: the %" PRIu64 " bytes "
			       "received have sha256 %s; nothing was kept",
			       u->written, ret->sha256);
	else if (fsync(u->fd) < 0 || link(u->tmp, u->final) < 0)
		r = hx_err_set(err, errno == EEXIST ? -EEXIST : -EIO,
			       "cannot store '%s': %s", u->name,
			       strerror(errno));
	if (r == 0) {
		snprintf(subj, sizeof(subj), "storage/%s", u->pool.name);
		agent_event(a, "storage.volume", subj, u->actor,
			    "ISO '%s:%s' stored (%" PRIu64 " bytes in %" PRIu64
			    " ms, sha256 %s)",
			    u->pool.name, u->name, u->written, ret->ms,
			    ret->sha256);
		storage_kick(a);
	}
	storage_iso_abort(u);
	return r;
}

/* ---- downloads ---- */

struct download {
	struct agent *a;
	struct storage_upload *u;
	char url[2048];
	int64_t task;
	struct hx_err err; /* of the write callback */
	int last_pct;
	uint64_t last_ms;
};

static size_t on_data(char *p, size_t size, size_t n, void *data)
{
	struct download *d = data;

	if (storage_iso_write(d->u, p, size * n, &d->err) < 0)
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	return size * n;
}

static int on_progress(void *data, curl_off_t total, curl_off_t now,
		       curl_off_t ut, curl_off_t un)
{
	struct download *d = data;
	uint64_t t = hx_now_ms();
	int pct;
	char msg[96];

	(void)ut;
	(void)un;
	if (total <= 0 || t - d->last_ms < 1000)
		return 0;
	pct = (int)(95 * (double)now / (double)total);
	if (pct == d->last_pct)
		return 0;
	snprintf(msg, sizeof(msg), "%lld of %lld MiB", (long long)(now >> 20),
		 (long long)(total >> 20));
	(void)statedb_task_update(d->a->db, d->task, pct, msg, NULL);
	d->last_pct = pct;
	d->last_ms = t;
	return 0;
}

static int fetch(struct download *d, struct hx_err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	CURLcode rc;
	long status = 0;

	if (h == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	(void)curl_easy_setopt(h, CURLOPT_URL, d->url);
	(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	(void)curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	(void)curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	(void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A stalled server: under 1 KiB/s for a minute ends it. */
	(void)curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	(void)curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	(void)curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
			       (curl_off_t)ISO_MAX_BYTES);
	(void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, d);
	(void)curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	(void)curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	(void)curl_easy_setopt(h, CURLOPT_XFERINFODATA, d);
	(void)curl_easy_setopt(h, CURLOPT_USERAGENT, "hxd/" PACKAGE_VERSION);
	rc = curl_easy_perform(h);
	(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (rc == CURLE_WRITE_ERROR && d->err.code < 0)
		return hx_err_copy(err, &d->err);
	if (rc == CURLE_FILESIZE_EXCEEDED)
		return hx_err_set(err, -EFBIG,
				  "ISO images are at most %" PRId64 " bytes",
				  ISO_MAX_BYTES);
	if (rc != CURLE_OK)
		return hx_err_set(err, -EIO, "download: %s (HTTP %ld)",
				  errbuf[0] ? errbuf : curl_easy_strerror(rc),
				  status);
	return 0;
}

static void *download_thread(void *data)
{
	struct download *d = data;
	struct storage_iso iso;
	struct hx_err err = {0};
	int r;

	r = fetch(d, &err);
	if (r < 0)
		storage_iso_abort(d->u);
	else
		r = storage_iso_close(d->a, d->u, &iso, &err);
	if (r < 0)
		hx_log(LOG_WARNING, "download of '%.200s' failed: %s", d->url,
		       err.msg);
	(void)statedb_task_finish(d->a->db, d->task, r == 0,
				  r < 0 ? err.msg : "done", NULL);
	free(d);
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	(void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

int storage_iso_download(struct agent *a, const char *pool, const char *name,
			 const char *url, const char *sha256, const char *actor,
			 int64_t *ret_task, struct hx_err *err)
{
	struct statedb_task t = {0};
	struct download *d;
	pthread_t th;
	int r;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return hx_err_set(err, -EINVAL,
				  "url: http:// or https:// only");
	for (const char *p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return hx_err_set(
				err, -EINVAL,
				"url: no spaces or control characters");
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	if (strlen(url) >= sizeof(d->url)) {
		free(d);
		return hx_err_set(err, -EINVAL, "url: too long");
	}
	pthread_once(&curl_once, curl_init);
	d->a = a;
	d->last_pct = -1;
	snprintf(d->url, sizeof(d->url), "%s", url);
	if ((r = storage_iso_open(a, pool, name, sha256, -1, actor, &d->u,
				  err)) < 0) {
		free(d);
		return r;
	}
	snprintf(t.kind, sizeof(t.kind), "storage.download");
	snprintf(t.node, sizeof(t.node), "%s", a->cfg.name);
	snprintf(t.subject, sizeof(t.subject), "storage/%s", pool);
	snprintf(t.actor, sizeof(t.actor), "%s", actor);
	if ((r = statedb_task_create(a->db, &t, &d->task, err)) < 0)
		goto fail;
	(void)statedb_task_log(a->db, d->task, url, NULL);
	if ((r = pthread_create(&th, NULL, download_thread, d)) != 0) {
		(void)statedb_task_finish(a->db, d->task, false,
					  "cannot start a thread", NULL);
		r = hx_err_set(err, -r, "cannot start a thread");
		goto fail;
	}
	pthread_detach(th);
	*ret_task = d->task;
	return 0;
fail:
	storage_iso_abort(d->u);
	free(d);
	return r;
}
