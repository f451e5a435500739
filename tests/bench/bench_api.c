/*
 * bench_api: API load generator for `make bench` (not a test).
 *
 * DESIGN: N threads, each with one libcurl handle (so one kept-alive
 * connection), send requests back to back for a fixed time and record each
 * request's latency. The workload is a node label PATCH (a compare-and-set
 * write when --digest is given: every thread echoes the digest of the
 * previous response, and re-reads after a 412) or a plain GET. The result
 * is one line of key=value pairs that tests/bench/run.sh parses.
 *
 * --kill PID is the failover probe: it sends SIGKILL to PID, then repeats
 * one write until it is acknowledged and prints the time since the kill.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#define BENCH_MAX_THREADS 256

struct bench_opts {
	const char *unix_path;
	const char *url;
	const char *cacert;
	char token[256];
	const char *path;
	bool write;
	bool digest;
	unsigned threads;
	double seconds;
	unsigned max_requests;
	int kill_pid;
	long timeout_ms;
};

struct body {
	char *p;
	size_t len;
};

struct worker {
	const struct bench_opts *o;
	unsigned index;
	pthread_t thread;
	double *lat_ms;
	size_t n, cap;
	unsigned errors;
	unsigned conflicts;
	unsigned status_errors[6]; /* by first digit; [0]: transport */
	char last_error[300];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t body_cb(char *ptr, size_t size, size_t n, void *data)
{
	struct body *b = data;
	size_t len = size * n;
	char *p;

	if (b->len + len > (4u << 20))
		return 0;
	p = realloc(b->p, b->len + len + 1);
	if (p == NULL)
		return 0;
	memcpy(p + b->len, ptr, len);
	b->p = p;
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

static CURL *client_new(const struct bench_opts *o, struct curl_slist **hdrs)
{
	CURL *c = curl_easy_init();
	char auth[300];

	if (c == NULL)
		return NULL;
	*hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (o->unix_path != NULL) {
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, o->unix_path);
	} else {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 o->token);
		*hdrs = curl_slist_append(*hdrs, auth);
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
		/* Only the cluster CA: libcurl would otherwise also parse the
		 * whole system CA directory on every new connection. */
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	return c;
}

/* One request; returns the HTTP status (0: transport failure) and leaves
 * the body in @b. */
static long request(CURL *c, const struct bench_opts *o, const char *method,
		    const char *body, struct body *b, char *errbuf)
{
	char url[512];
	long status = 0;

	free(b->p);
	b->p = NULL;
	b->len = 0;
	snprintf(url, sizeof(url), "%s/api/v1%s",
		 o->unix_path != NULL ? "http://localhost" : o->url, o->path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	} else {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	errbuf[0] = '\0';
	if (curl_easy_perform(c) != CURLE_OK)
		return 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* The digest in a node's JSON ({"data":{..., "digest": "..."}}). */
static void digest_of(const struct body *b, char *digest, size_t len)
{
	json_t *j = b->p != NULL ? json_loads(b->p, 0, NULL) : NULL;
	const char *d =
		json_string_value(json_object_get(json_object_get(j, "data"),
						  "digest"));

	snprintf(digest, len, "%s", d != NULL ? d : "");
	json_decref(j);
}

static void write_body(const struct worker *w, uint64_t i, const char *digest,
		       char *out, size_t len)
{
	if (digest != NULL && digest[0] != '\0')
		snprintf(out, len,
			 "{\"labels\":{\"bench\":\"t%u-%" PRIu64 "\"},"
			 "\"digest\":\"%s\"}",
			 w->index, i, digest);
	else
		snprintf(out, len,
			 "{\"labels\":{\"bench\":\"t%u-%" PRIu64 "\"}}",
			 w->index, i);
}

static int record(struct worker *w, double ms)
{
	if (w->n == w->cap) {
		size_t cap = w->cap > 0 ? w->cap * 2 : 4096;
		double *p = realloc(w->lat_ms, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		w->lat_ms = p;
		w->cap = cap;
	}
	w->lat_ms[w->n++] = ms;
	return 0;
}

static void note_error(struct worker *w, long status, const struct body *b,
		       const char *errbuf)
{
	w->errors++;
	w->status_errors[status >= 100 && status < 600 ? status / 100 : 0]++;
	if (status == 0)
		snprintf(w->last_error, sizeof(w->last_error), "transport: %.200s",
			 errbuf);
	else
		snprintf(w->last_error, sizeof(w->last_error), "%ld %.200s",
			 status, b->p != NULL ? b->p : "");
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	const struct bench_opts *o = w->o;
	char errbuf[CURL_ERROR_SIZE], body[512], digest[80] = "";
	struct curl_slist *hdrs = NULL;
	struct body b = {0};
	double end = now_s() + o->seconds;
	uint64_t i = 0;
	CURL *c;

	c = client_new(o, &hdrs);
	if (c == NULL) {
		w->errors++;
		return NULL;
	}
	if (o->digest && request(c, o, "GET", NULL, &b, errbuf) == 200)
		digest_of(&b, digest, sizeof(digest));
	while (now_s() < end && (o->max_requests == 0 || i < o->max_requests)) {
		double t0 = now_s();
		long st;

		if (o->write) {
			write_body(w, i, o->digest ? digest : NULL, body,
				   sizeof(body));
			st = request(c, o, "PATCH", body, &b, errbuf);
		} else {
			st = request(c, o, "GET", NULL, &b, errbuf);
		}
		i++;
		if (st >= 200 && st < 300) {
			if (record(w, (now_s() - t0) * 1000) < 0)
				break;
			if (o->digest)
				digest_of(&b, digest, sizeof(digest));
		} else if (st == 412 && o->digest) {
			/* Another writer won: re-read, as a client would. */
			w->conflicts++;
			if (request(c, o, "GET", NULL, &b, errbuf) == 200)
				digest_of(&b, digest, sizeof(digest));
		} else {
			note_error(w, st, &b, errbuf);
		}
	}
	free(b.p);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static int run_load(const struct bench_opts *o)
{
	struct worker *ws = calloc(o->threads, sizeof(*ws));
	unsigned errors = 0, conflicts = 0, by[6] = {0};
	const char *last = "";
	double t0, elapsed, *all;
	size_t n = 0, k = 0;

	if (ws == NULL)
		return 1;
	t0 = now_s();
	for (unsigned i = 0; i < o->threads; i++) {
		ws[i].o = o;
		ws[i].index = i;
		if (pthread_create(&ws[i].thread, NULL, worker_run, &ws[i]) !=
		    0) {
			fprintf(stderr, "bench_api: cannot start thread %u\n",
				i);
			return 1;
		}
	}
	for (unsigned i = 0; i < o->threads; i++) {
		pthread_join(ws[i].thread, NULL);
		n += ws[i].n;
		errors += ws[i].errors;
		conflicts += ws[i].conflicts;
		for (unsigned s = 0; s < 6; s++)
			by[s] += ws[i].status_errors[s];
		if (ws[i].last_error[0] != '\0')
			last = ws[i].last_error;
	}
	elapsed = now_s() - t0;
	all = malloc((n + 1) * sizeof(*all));
	if (all == NULL)
		return 1;
	for (unsigned i = 0; i < o->threads; i++) {
		memcpy(all + k, ws[i].lat_ms, ws[i].n * sizeof(*all));
		k += ws[i].n;
	}
	qsort(all, n, sizeof(*all), cmp_double);
	printf("ok=%zu errors=%u conflicts=%u transport=%u http4xx=%u "
	       "http5xx=%u seconds=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f "
	       "max_ms=%.2f\n",
	       n, errors, conflicts, by[0], by[4], by[5], elapsed,
	       (double)n / elapsed, pct(all, n, 50), pct(all, n, 99),
	       n > 0 ? all[n - 1] : 0.0);
	if (errors > 0)
		fprintf(stderr, "bench_api: last error: %s\n", last);
	for (unsigned i = 0; i < o->threads; i++)
		free(ws[i].lat_ms);
	free(ws);
	free(all);
	return 0;
}

/* Failover probe: kill -9 @pid, then one write until acknowledged. */
static int run_failover(const struct bench_opts *o)
{
	char errbuf[CURL_ERROR_SIZE], body[256], last[256] = "";
	struct worker w = {.o = o, .index = 0};
	struct curl_slist *hdrs = NULL;
	struct body b = {0};
	unsigned attempts = 0;
	double t0, deadline;
	int rc = 1;
	CURL *c;

	c = client_new(o, &hdrs);
	if (c == NULL)
		return 1;
	t0 = now_s();
	deadline = t0 + o->seconds;
	if (kill(o->kill_pid, SIGKILL) < 0) {
		fprintf(stderr, "bench_api: kill %d: %s\n", o->kill_pid,
			strerror(errno));
		goto out;
	}
	while (now_s() < deadline) {
		long st;

		write_body(&w, attempts, NULL, body, sizeof(body));
		st = request(c, o, "PATCH", body, &b, errbuf);
		attempts++;
		if (st >= 200 && st < 300) {
			printf("failover_ms=%.0f attempts=%u\n",
			       (now_s() - t0) * 1000, attempts);
			rc = 0;
			goto out;
		}
		snprintf(last, sizeof(last), "%ld %.200s", st,
			 st == 0 ? errbuf : b.p != NULL ? b.p : "");
		usleep(10000); /* a failed request is not a busy loop */
	}
	fprintf(stderr, "bench_api: no write acknowledged within %.0f s (%u "
			"attempts, last: %s)\n",
		o->seconds, attempts, last);
out:
	free(b.p);
	curl_easy_cleanup(c);
	curl_slist_free_all(hdrs);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_api (--unix SOCKET | --url https://IP:PORT "
		"--cacert CA --token-file FILE)\n"
		"                 --path /nodes/NAME [--write [--digest]] "
		"[--threads N]\n"
		"                 [--seconds S] [--requests N] [--timeout-ms MS] "
		"[--kill PID]\n");
}

static int read_token(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return n > 0 ? 0 : -EINVAL;
}

static int parse(int argc, char **argv, struct bench_opts *o)
{
	static const struct option longopts[] = {
		{"unix", 1, NULL, 'u'},	   {"url", 1, NULL, 'U'},
		{"cacert", 1, NULL, 'c'},  {"token-file", 1, NULL, 'T'},
		{"path", 1, NULL, 'p'},	   {"write", 0, NULL, 'w'},
		{"digest", 0, NULL, 'd'},  {"threads", 1, NULL, 't'},
		{"seconds", 1, NULL, 's'}, {"requests", 1, NULL, 'n'},
		{"kill", 1, NULL, 'k'},	   {"timeout-ms", 1, NULL, 'o'},
		{"help", 0, NULL, 'h'},	   {0},
	};
	int c;

	*o = (struct bench_opts){.threads = 1, .seconds = 5,
				 .timeout_ms = 10000};
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o->unix_path = optarg;
			break;
		case 'U':
			o->url = optarg;
			break;
		case 'c':
			o->cacert = optarg;
			break;
		case 'T':
			if (read_token(optarg, o->token, sizeof(o->token)) <
			    0) {
				fprintf(stderr, "bench_api: cannot read a token "
						"from %s\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'p':
			o->path = optarg;
			break;
		case 'w':
			o->write = true;
			break;
		case 'd':
			o->digest = true;
			break;
		case 't':
			o->threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o->seconds = strtod(optarg, NULL);
			break;
		case 'n':
			o->max_requests = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			o->kill_pid = atoi(optarg);
			break;
		case 'o':
			o->timeout_ms = strtol(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if ((o->unix_path == NULL) == (o->url == NULL) || o->path == NULL ||
	    (o->url != NULL && (o->cacert == NULL || o->token[0] == '\0')) ||
	    o->threads < 1 || o->threads > BENCH_MAX_THREADS ||
	    !(o->seconds > 0 && o->seconds <= 600) || o->timeout_ms < 1 ||
	    o->kill_pid < 0 || optind < argc) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int rc;

	if (parse(argc, argv, &o) < 0)
		return 2;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = o.kill_pid > 0 ? run_failover(&o) : run_load(&o);
	curl_global_cleanup();
	return rc;
}
