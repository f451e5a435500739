/*
 * bench_ipam: IPAM allocations per second through the API, for
 * docs/benchmarks.md (not a test).
 *
 * THREADS threads per node socket (--sock, repeatable: the nodes' control
 * sockets), each with one kept-alive libcurl handle, POST
 * /api/v1/network/ipam {"vnet": V} back to back, REQUESTS times each. It
 * checks that no address came back twice and prints one key=value line:
 * allocations, wall time, allocations per second, latency p50/p99.
 *
 * usage: bench_ipam --vnet V --sock PATH [--sock PATH]... [--threads N]
 *        [--requests N]
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#define MAX_SOCKS 8
#define MAX_THREADS 256

struct worker {
	const char *sock;
	const char *vnet;
	unsigned requests;
	unsigned index;
	double *lat;
	char (*ips)[48];
	unsigned ok, failed;
	char last_error[256];
	pthread_t thread;
};

struct body {
	char buf[4096];
	size_t len;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t k = size * n;

	if (b->len + k < sizeof(b->buf)) {
		memcpy(b->buf + b->len, p, k);
		b->len += k;
		b->buf[b->len] = '\0';
	}
	return k;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	CURL *h = curl_easy_init();
	struct curl_slist *hdr =
		curl_slist_append(NULL, "Content-Type: application/json");
	char payload[128];

	snprintf(payload, sizeof(payload), "{\"vnet\":\"%s\"}", w->vnet);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, w->sock);
	curl_easy_setopt(h, CURLOPT_URL, "http://localhost/api/v1/network/ipam");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	for (unsigned i = 0; i < w->requests; i++) {
		struct body b = {.len = 0};
		long status = 0;
		double t0 = now_ms();
		json_t *j;

		curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
		if (curl_easy_perform(h) != CURLE_OK)
			status = 0;
		else
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		w->lat[i] = now_ms() - t0;
		j = json_loads(b.buf, 0, NULL);
		if (status == 201 && j != NULL) {
			snprintf(w->ips[w->ok++], 48, "%s",
				 json_string_value(json_object_get(
					 json_object_get(j, "data"), "ip")) ?: "");
		} else {
			w->failed++;
			snprintf(w->last_error, sizeof(w->last_error),
				 "%ld %.200s", status, b.buf);
		}
		json_decref(j);
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_s(const void *a, const void *b)
{
	return strcmp(a, b);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"vnet", 1, NULL, 'v'},
					     {"sock", 1, NULL, 's'},
					     {"threads", 1, NULL, 't'},
					     {"requests", 1, NULL, 'r'},
					     {NULL, 0, NULL, 0}};
	const char *socks[MAX_SOCKS], *vnet = NULL;
	unsigned nsocks = 0, threads = 8, requests = 50, nw = 0, ok = 0,
		 failed = 0, dups = 0;
	static struct worker w[MAX_THREADS];
	double *lat, t0, wall;
	char (*ips)[48];
	size_t nlat = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'v')
			vnet = optarg;
		else if (c == 's' && nsocks < MAX_SOCKS)
			socks[nsocks++] = optarg;
		else if (c == 't')
			threads = (unsigned)atoi(optarg);
		else if (c == 'r')
			requests = (unsigned)atoi(optarg);
		else
			return 2;
	}
	if (vnet == NULL || nsocks == 0 || threads == 0 ||
	    threads * nsocks > MAX_THREADS || requests == 0) {
		fprintf(stderr, "usage: bench_ipam --vnet V --sock PATH... "
				"[--threads N] [--requests N]\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	lat = calloc((size_t)threads * nsocks * requests, sizeof(*lat));
	ips = calloc((size_t)threads * nsocks * requests, sizeof(*ips));
	if (lat == NULL || ips == NULL)
		return 1;
	t0 = now_ms();
	for (unsigned s = 0; s < nsocks; s++)
		for (unsigned t = 0; t < threads; t++, nw++) {
			w[nw] = (struct worker){
				.sock = socks[s], .vnet = vnet,
				.requests = requests, .index = nw,
				.lat = lat + (size_t)nw * requests,
				.ips = ips + (size_t)nw * requests};
			pthread_create(&w[nw].thread, NULL, worker_run, &w[nw]);
		}
	for (unsigned i = 0; i < nw; i++)
		pthread_join(w[i].thread, NULL);
	wall = now_ms() - t0;
	/* compact the addresses, then look for one handed out twice */
	for (unsigned i = 0; i < nw; i++) {
		for (unsigned k = 0; k < w[i].ok; k++)
			memmove(ips[ok + k], w[i].ips[k], 48);
		ok += w[i].ok;
		failed += w[i].failed;
		if (w[i].failed > 0)
			fprintf(stderr, "bench_ipam: worker %u: %u failed, "
					"last: %s\n",
				i, w[i].failed, w[i].last_error);
	}
	qsort(ips, ok, 48, cmp_s);
	for (unsigned i = 1; i < ok; i++)
		dups += strcmp(ips[i - 1], ips[i]) == 0;
	nlat = (size_t)nw * requests;
	qsort(lat, nlat, sizeof(*lat), cmp_d);
	printf("allocations=%u failed=%u duplicates=%u clients=%u wall_ms=%.0f "
	       "rate=%.1f p50_ms=%.1f p99_ms=%.1f\n",
	       ok, failed, dups, nw, wall, ok / (wall / 1000), lat[nlat / 2],
	       lat[nlat * 99 / 100]);
	curl_global_cleanup();
	return failed > 0 || dups > 0;
}
