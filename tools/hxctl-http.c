/*
 * hxctl's transport: one JSON request/response over libcurl.
 *
 * DESIGN: commands see one call, hxctl_call(), that returns an exit code and
 * a parsed body, so the mapping from HTTP status and transport failures to
 * exit codes happens here and nowhere else. By default the request goes to
 * the local hxd over its unix socket (root, no token); with --url it goes
 * over HTTPS with a bearer token, verified against the cluster CA. One curl
 * handle is reused so that polling (task wait, events --follow) keeps its
 * connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "tools/hxctl.h"

/* The largest response body accepted: lists are bounded by the server. */
#define HTTP_MAX_BODY (16u << 20)

struct body_buf {
	char *p;
	size_t len;
	size_t cap;
};

int hxctl_exit_from_status(long status)
{
	if (status >= 200 && status < 300)
		return HXCTL_EXIT_OK;
	switch (status) {
	case 401:
	case 403:
		return HXCTL_EXIT_DENIED;
	case 404:
		return HXCTL_EXIT_NOTFOUND;
	case 409:
	case 412:
		return HXCTL_EXIT_CONFLICT;
	case 503:
		return HXCTL_EXIT_UNAVAILABLE;
	default:
		return HXCTL_EXIT_ERROR;
	}
}

char *hxctl_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1);
	char *o = out;

	if (out == NULL)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	     p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

int hxctl_query_add(char *buf, size_t len, const char *name, const char *value)
{
	size_t off = strlen(buf);
	char *esc;
	int n;

	if (value == NULL)
		return 0;
	esc = hxctl_escape(value);
	if (esc == NULL)
		return -ENOMEM;
	n = snprintf(buf + off, len - off, "%c%s=%s",
		     strchr(buf, '?') != NULL ? '&' : '?', name, esc);
	free(esc);
	return n < 0 || (size_t)n >= len - off ? -ENAMETOOLONG : 0;
}

int hxctl_http_init(struct hxctl *c)
{
	char *ca;

	if (asprintf(&c->socket_path, "%s/hxd.sock", c->data_dir) < 0) {
		c->socket_path = NULL;
		return -ENOMEM;
	}
	if (asprintf(&ca, "%s/tls/ca.crt", c->data_dir) < 0)
		return -ENOMEM;
	if (access(ca, R_OK) == 0)
		c->default_ca = ca;
	else
		free(ca);
	c->curl = curl_easy_init();
	if (c->curl == NULL)
		return -ENOMEM;
	return 0;
}

void hxctl_http_close(struct hxctl *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	free(c->default_ca);
	c->default_ca = NULL;
	free(c->socket_path);
	c->socket_path = NULL;
}

void hxctl_resp_close(struct hxctl_resp *r)
{
	if (r == NULL)
		return;
	json_decref(r->body);
	r->body = NULL;
	r->data = NULL;
}

int hxctl_fail(const struct hxctl_resp *r, int code)
{
	hxctl_warn("%s", r->msg);
	return code;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct body_buf *b = data;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > HTTP_MAX_BODY)
			return 0; /* curl fails with CURLE_WRITE_ERROR */
		p = realloc(b->p, cap);
		if (p == NULL)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *data)
{
	struct hxctl_resp *r = data;
	size_t len = size * nitems;
	size_t n;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		r->etag[0] = '\0'; /* a new response (after 100 Continue) */
	} else if (len > 5 && strncasecmp(buf, "etag:", 5) == 0) {
		buf += 5;
		len -= 5;
		while (len > 0 && (*buf == ' ' || *buf == '\t')) {
			buf++;
			len--;
		}
		for (n = len; n > 0 && strchr(" \t\r\n", buf[n - 1]); n--)
			;
		if (n < sizeof(r->etag)) {
			memcpy(r->etag, buf, n);
			r->etag[n] = '\0';
		}
		return size * nitems;
	}
	return len;
}

static const char *http_where(const struct hxctl *c)
{
	return c->url != NULL ? c->url : c->socket_path;
}

static int http_set_target(struct hxctl *c, CURL *h, const char *path)
{
	const char *base = "http://localhost";
	size_t blen;
	char *url;
	int r;

	if (c->url != NULL) {
		base = c->url;
		(void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER,
				       c->insecure ? 0L : 1L);
		(void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST,
				       c->insecure ? 0L : 2L);
		if (!c->insecure && (c->ca != NULL || c->default_ca != NULL))
			(void)curl_easy_setopt(h, CURLOPT_CAINFO,
					       c->ca != NULL ? c->ca
							     : c->default_ca);
	} else {
		(void)curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH,
				       c->socket_path);
		(void)curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	}
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	if (asprintf(&url, "%s%.*s/api/v1%s",
		     strstr(base, "://") == NULL ? "https://" : "", (int)blen,
		     base, path) < 0)
		return -ENOMEM;
	r = curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK ? 0 : -ENOMEM;
	free(url);
	return r;
}

/* Appends @s to the list *l; false on OOM (the list stays valid). */
static bool slist_add(struct curl_slist **l, const char *s)
{
	struct curl_slist *t = curl_slist_append(*l, s);

	if (t == NULL)
		return false;
	*l = t;
	return true;
}

/* The request headers; NULL on OOM. Free with curl_slist_free_all(). */
static struct curl_slist *
http_headers(const struct hxctl *c, const struct hxctl_req *req, bool has_body)
{
	struct curl_slist *l = NULL;
	char line[2048];
	bool is_ok;

	is_ok = slist_add(&l, "Accept: application/json") &&
		slist_add(&l, "Expect:");
	if (is_ok && has_body)
		is_ok = slist_add(&l, "Content-Type: application/json");
	if (is_ok && c->url != NULL && c->token != NULL) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s",
			 c->token);
		is_ok = slist_add(&l, line);
	}
	if (is_ok && req->if_match != NULL) {
		snprintf(line, sizeof(line), "If-Match: %s", req->if_match);
		is_ok = slist_add(&l, line);
	}
	if (!is_ok) {
		curl_slist_free_all(l);
		return NULL;
	}
	return l;
}

static int http_unreachable(struct hxctl *c, CURL *h, CURLcode rc,
			    const char *errbuf, struct hxctl_resp *ret)
{
	const char *where = http_where(c);
	curl_off_t connect_us = 0;

	(void)curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
	if (c->url == NULL && rc == CURLE_COULDNT_CONNECT &&
	    access(c->socket_path, F_OK) == 0 &&
	    access(c->socket_path, W_OK) < 0 && errno == EACCES) {
		snprintf(ret->msg, sizeof(ret->msg),
			 "permission denied on %s: run as root, or use --url "
			 "with --token",
			 where);
		return HXCTL_EXIT_DENIED;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT && connect_us > 0)
		snprintf(ret->msg, sizeof(ret->msg),
			 "no answer from hxd at %s in time: %s", where, errbuf);
	else if (c->url == NULL)
		snprintf(ret->msg, sizeof(ret->msg),
			 "cannot reach hxd at %s: is hxd running?", where);
	else
		snprintf(ret->msg, sizeof(ret->msg),
			 "cannot reach hxd at %s: %s", where, errbuf);
	return HXCTL_EXIT_UNAVAILABLE;
}

static int http_transport_error(struct hxctl *c, CURL *h, CURLcode rc,
				char *errbuf, struct hxctl_resp *ret)
{
	if (errbuf[0] == '\0')
		snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_OPERATION_TIMEDOUT:
		return http_unreachable(c, h, rc, errbuf, ret);
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		snprintf(ret->msg, sizeof(ret->msg),
			 "hxd at %s closed the connection: %s", http_where(c),
			 errbuf);
		return HXCTL_EXIT_UNAVAILABLE;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
		snprintf(ret->msg, sizeof(ret->msg),
			 "TLS with %s failed: %s (check --ca, or use "
			 "--insecure)",
			 http_where(c), errbuf);
		return HXCTL_EXIT_ERROR;
	case CURLE_WRITE_ERROR:
		snprintf(ret->msg, sizeof(ret->msg),
			 "response from %s is too large", http_where(c));
		return HXCTL_EXIT_ERROR;
	default:
		snprintf(ret->msg, sizeof(ret->msg), "request to %s failed: %s",
			 http_where(c), errbuf);
		return HXCTL_EXIT_ERROR;
	}
}

/* Sets ret->msg for an HTTP error from the body's error.message. */
static void http_error_message(struct hxctl_resp *ret, const char *where,
			       const char *raw)
{
	json_t *err = json_is_object(ret->body)
			      ? json_object_get(ret->body, "error")
			      : NULL;
	const char *msg = hxctl_json_str(err, "message", NULL);
	const char *code = hxctl_json_str(err, "code", NULL);

	if (msg != NULL && msg[0] != '\0')
		snprintf(ret->msg, sizeof(ret->msg), "%s", msg);
	else if (code != NULL)
		snprintf(ret->msg, sizeof(ret->msg), "%s (HTTP %ld)", code,
			 ret->status);
	else /* not an error from hxd: a proxy, another server? */
		snprintf(ret->msg, sizeof(ret->msg),
			 "unexpected answer from %s: HTTP %ld%s%.*s", where,
			 ret->status, raw[0] != '\0' ? ": " : "",
			 (int)strcspn(raw, "\r\n"), raw);
}

static int http_parse(struct hxctl *c, struct body_buf *b,
		      struct hxctl_resp *ret)
{
	const char *raw = b->p != NULL ? b->p : "";
	json_error_t jerr;

	if (b->len > 0)
		ret->body = json_loadb(b->p, b->len, 0, &jerr);
	if (ret->status < 200 || ret->status >= 300) {
		http_error_message(ret, http_where(c), raw);
		return hxctl_exit_from_status(ret->status);
	}
	if (b->len > 0 && ret->body == NULL) {
		snprintf(ret->msg, sizeof(ret->msg), "invalid JSON from %s: %s",
			 http_where(c), jerr.text);
		return HXCTL_EXIT_ERROR;
	}
	if (json_is_object(ret->body))
		ret->data = json_object_get(ret->body, "data");
	return HXCTL_EXIT_OK;
}

static int http_set_body(CURL *h, const struct hxctl_req *req, char **ret)
{
	bool has_body = req->body != NULL || strcmp(req->method, "POST") == 0 ||
			strcmp(req->method, "PATCH") == 0;

	*ret = NULL;
	if (req->upload != NULL) {
		(void)curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		(void)curl_easy_setopt(h, CURLOPT_READDATA, req->upload);
		(void)curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				       (curl_off_t)req->upload_size);
		return 0;
	}
	if (!has_body) {
		if (strcmp(req->method, "GET") != 0)
			(void)curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST,
					       req->method);
		return 0;
	}
	*ret = req->body != NULL ? json_dumps(req->body, JSON_COMPACT)
				 : strdup("{}");
	if (*ret == NULL)
		return -ENOMEM;
	(void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, *ret);
	if (strcmp(req->method, "POST") != 0)
		(void)curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	return 0;
}

int hxctl_call(struct hxctl *c, const struct hxctl_req *req,
	       struct hxctl_resp *ret)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct body_buf b = {0};
	CURL *h = c->curl;
	char *payload = NULL;
	CURLcode rc;
	int code = HXCTL_EXIT_ERROR;

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->msg, sizeof(ret->msg), "out of memory");
	curl_easy_reset(h);
	if (http_set_target(c, h, req->path) < 0 ||
	    http_set_body(h, req, &payload) < 0)
		goto err_free_payload;
	hdrs = http_headers(c, req, payload != NULL);
	if (hdrs == NULL)
		goto err_free_payload;
	(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	(void)curl_easy_setopt(h, CURLOPT_USERAGENT, "hxctl/" PACKAGE_VERSION);
	(void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	(void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			       (long)HXCTL_CONNECT_TIMEOUT_MS);
	(void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
			       req->timeout_ms > 0
				       ? req->timeout_ms
				       : (long)HXCTL_REQUEST_TIMEOUT_MS);
	(void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	(void)curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	(void)curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	(void)curl_easy_setopt(h, CURLOPT_HEADERDATA, ret);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		code = http_transport_error(c, h, rc, errbuf, ret);
	} else {
		(void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE,
					&ret->status);
		code = http_parse(c, &b, ret);
	}
	if (code == HXCTL_EXIT_OK)
		ret->msg[0] = '\0';
	/* The handle keeps pointers to these until the next reset. */
	(void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	(void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	free(b.p);
err_free_payload:
	free(payload);
	return code;
}

int hxctl_get_object(struct hxctl *c, const char *prefix, const char *key,
		     struct hxctl_resp *ret)
{
	struct hxctl_req req = {.method = "GET"};
	char *esc = hxctl_escape(key);
	char *path = NULL;
	int code;

	memset(ret, 0, sizeof(*ret));
	if (esc == NULL || asprintf(&path, "%s/%s", prefix, esc) < 0) {
		free(esc);
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	req.path = path;
	code = hxctl_call(c, &req, ret);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(ret, code);
	free(path);
	free(esc);
	return code;
}
