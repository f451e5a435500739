/*
 * bench_statedb: statedb write rate and latency against a running cluster,
 * for `make bench` (not a test).
 *
 * DESIGN: the program connects the way hxd does: statedb over the peer
 * channel, in mutual TLS, with a member's credentials (a copy of a node's
 * tls/ directory and its "trust" file, readable by root only). It runs no
 * dqlite node of its own; every statement goes to the leader through one
 * TLS hop, as it does from a follower's hxd. Each of N threads repeats the
 * same statedb call that PATCH /nodes/NAME makes, so the figures are a
 * baseline for the API's: the write alone (set_labels without digest), or
 * the API handler's full sequence (set_labels with the digest from the
 * previous read, then node_get for the new digest). Prints one key=value
 * line like bench_api.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

#define BENCH_MAX_THREADS 256
#define BENCH_MAX_PEERS 16

struct bench {
	const char *node;
	bool cas;
	double seconds;
	unsigned threads;
	struct statedb *db;
};

struct worker {
	struct bench *b;
	unsigned index;
	pthread_t thread;
	double *lat_ms;
	size_t n, cap;
	unsigned errors, conflicts;
	char last_error[512];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void *data, const char *address, int timeout_ms, int *ret_fd)
{
	return hxraft_peer_dial(data, address, HXRAFT_SVC_DQLITE, timeout_ms,
				ret_fd, NULL);
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

/* One PATCH-equivalent; @digest carries the compare-and-set digest. */
static int one_write(struct worker *w, uint64_t i, char digest[33],
		     struct hx_err *err)
{
	struct bench *b = w->b;
	struct statedb_node node;
	char labels[96];
	int r;

	snprintf(labels, sizeof(labels), "{\"bench\":\"s%u-%" PRIu64 "\"}",
		 w->index, i);
	r = statedb_node_set_labels(b->db, b->node, labels,
				    b->cas ? digest : NULL, err);
	if (r < 0 || !b->cas)
		return r;
	r = statedb_node_get(b->db, b->node, &node, err);
	if (r == 0)
		memcpy(digest, node.digest, 33);
	return r;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct bench *b = w->b;
	struct statedb_node node;
	char digest[33] = "";
	double end = now_s() + b->seconds;
	uint64_t i = 0;

	if (b->cas && statedb_node_get(b->db, b->node, &node, NULL) == 0)
		memcpy(digest, node.digest, sizeof(digest));
	while (now_s() < end) {
		struct hx_err err = {0};
		double t0 = now_s();
		int r = one_write(w, i++, digest, &err);

		if (r == 0) {
			if (record(w, (now_s() - t0) * 1000) < 0)
				break;
		} else if (r == HX_ECONFLICT) {
			w->conflicts++;
			if (statedb_node_get(b->db, b->node, &node, NULL) == 0)
				memcpy(digest, node.digest, sizeof(digest));
		} else {
			w->errors++;
			snprintf(w->last_error, sizeof(w->last_error), "%s",
				 err.msg);
		}
	}
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

static int run(struct bench *b)
{
	struct worker *ws = calloc(b->threads, sizeof(*ws));
	unsigned errors = 0, conflicts = 0;
	const char *last = "";
	double t0, elapsed, *all;
	size_t n = 0, k = 0;

	if (ws == NULL)
		return -ENOMEM;
	t0 = now_s();
	for (unsigned i = 0; i < b->threads; i++) {
		ws[i].b = b;
		ws[i].index = i;
		if (pthread_create(&ws[i].thread, NULL, worker_run, &ws[i]) !=
		    0)
			return -EAGAIN;
	}
	for (unsigned i = 0; i < b->threads; i++) {
		pthread_join(ws[i].thread, NULL);
		n += ws[i].n;
		errors += ws[i].errors;
		conflicts += ws[i].conflicts;
		if (ws[i].last_error[0] != '\0')
			last = ws[i].last_error;
	}
	elapsed = now_s() - t0;
	all = malloc((n + 1) * sizeof(*all));
	if (all == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < b->threads; i++) {
		memcpy(all + k, ws[i].lat_ms, ws[i].n * sizeof(*all));
		k += ws[i].n;
		free(ws[i].lat_ms);
	}
	qsort(all, n, sizeof(*all), cmp_double);
	printf("ok=%zu errors=%u conflicts=%u seconds=%.2f rate=%.1f "
	       "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
	       n, errors, conflicts, elapsed, (double)n / elapsed,
	       pct(all, n, 50), pct(all, n, 99), n > 0 ? all[n - 1] : 0.0);
	if (errors > 0)
		fprintf(stderr, "bench_statedb: last error: %s\n", last);
	free(all);
	free(ws);
	return 0;
}

/* Reads "FINGERPRINT PEER-ADDRESS" lines (a node's trust file). */
static int load_trust(const char *path, struct hxraft_tls *tls, char **text,
		      const char **peers, unsigned *ret_n)
{
	const char *fps[BENCH_MAX_PEERS];
	unsigned n = 0;
	char *save, *line;
	int r;

	r = hx_file_read(path, 1 << 20, text, NULL);
	if (r < 0)
		return r;
	for (line = strtok_r(*text, "\n", &save);
	     line != NULL && n < BENCH_MAX_PEERS;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (sp == NULL)
			continue;
		*sp = '\0';
		fps[n] = line;
		peers[n++] = sp + 1;
	}
	if (n == 0)
		return -EINVAL;
	*ret_n = n;
	return hxraft_tls_trust_set(tls, fps, n);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_statedb --tls-dir DIR --trust FILE --node NAME "
		   "[--cas] [--threads N] [--seconds S]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"tls-dir", 1, NULL, 'D'}, {"trust", 1, NULL, 'T'},
		{"node", 1, NULL, 'N'},	   {"cas", 0, NULL, 'c'},
		{"threads", 1, NULL, 't'}, {"seconds", 1, NULL, 's'},
		{"help", 0, NULL, 'h'},	   {0},
	};
	struct hxraft_peer_config pc = {0};
	struct statedb_config sc = {0};
	struct bench b = {.threads = 1, .seconds = 5};
	const char *tls_dir = NULL, *trust = NULL, *peers[BENCH_MAX_PEERS];
	struct hxraft_peer *peer = NULL;
	struct hxraft_tls *tls = NULL;
	struct hx_err err = {0};
	char *trust_text = NULL;
	unsigned npeers = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'D':
			tls_dir = optarg;
			break;
		case 'T':
			trust = optarg;
			break;
		case 'N':
			b.node = optarg;
			break;
		case 'c':
			b.cas = true;
			break;
		case 't':
			b.threads = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			b.seconds = strtod(optarg, NULL);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (tls_dir == NULL || trust == NULL || b.node == NULL ||
	    b.threads < 1 || b.threads > BENCH_MAX_THREADS ||
	    !(b.seconds > 0 && b.seconds <= 600) || optind < argc) {
		usage(stderr);
		return 2;
	}
	hx_log_init("bench_statedb", LOG_WARNING);
	if (hxraft_tls_load(tls_dir, &tls, &err) < 0)
		goto fail;
	r = load_trust(trust, tls, &trust_text, peers, &npeers);
	if (r < 0) {
		hx_err_set(&err, r, "cannot read peers from %s: %s", trust,
			   hx_strerror(r));
		goto fail;
	}
	/* The listener is never dialed; the peer object is only a dialer. */
	pc.bind_ip = "127.0.0.1";
	pc.port = 0;
	pc.self_address = "127.0.0.1:0";
	pc.tls = tls;
	if (hxraft_peer_start(&pc, &peer, &err) < 0)
		goto fail;
	sc.dial = dial;
	sc.dial_data = peer;
	sc.self_address = peers[0];
	if (statedb_open(&sc, &b.db, &err) < 0)
		goto fail;
	statedb_set_peers(b.db, peers, npeers);
	r = run(&b);
	statedb_close(b.db);
	hxraft_peer_stop(peer);
	hxraft_tls_free(tls);
	free(trust_text);
	return r < 0 ? 1 : 0;

fail:
	fprintf(stderr, "bench_statedb: %s\n", err.msg);
	return 1;
}
