/*
 * bench_fw: firewall figures for docs/benchmarks.md (not a test).
 *
 * Renders the ruleset of a node with VMS VMs (one NIC each, firewall on,
 * RULES rules each through a security group and their own rules) and
 * applies it in a private network namespace (root): the full atomic swap
 * of the tables, then a one-rule change on top of it (render + apply of
 * the whole ruleset again, which is how hxd applies every change).
 * Prints medians over --runs runs.
 *
 * usage: bench_fw [--vms N] [--rules N] [--runs N]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/lib.h"
#include "net/net.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* statedb's order: scope (byte order), then position */
static int cmp_rule(const void *a, const void *b)
{
	const struct statedb_fw_rule *x = a, *y = b;
	int c = strcmp(x->scope, y->scope);

	return c != 0 ? c : (x->id > y->id) - (x->id < y->id);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void rule(struct statedb_fw_rule *r, int64_t id, const char *scope,
		 const char *dir, const char *action, const char *proto,
		 const char *dport, const char *src)
{
	struct hx_err err = {0};

	memset(r, 0, sizeof(*r));
	r->id = id;
	r->enabled = true;
	snprintf(r->scope, sizeof(r->scope), "%s", scope);
	snprintf(r->direction, sizeof(r->direction), "%s", dir);
	snprintf(r->action, sizeof(r->action), "%s", action);
	if (strcmp(action, "group") == 0) /* proto names the group */
		snprintf(r->group, sizeof(r->group), "%s", proto);
	else
		snprintf(r->proto, sizeof(r->proto), "%s", proto);
	snprintf(r->dport, sizeof(r->dport), "%s", dport);
	snprintf(r->src, sizeof(r->src), "%s", src);
	if (net_fw_rule_check(r, &err) < 0) {
		fprintf(stderr, "bench_fw: rule %" PRId64 ": %s\n", id,
			err.msg);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"vms", 1, NULL, 'v'},
					     {"rules", 1, NULL, 'r'},
					     {"runs", 1, NULL, 'n'},
					     {NULL, 0, NULL, 0}};
	unsigned vms = 1000, per_vm = 10, runs = 5, nrules = 0;
	struct net_fw_input in = {.node = "n1"};
	struct statedb_fw_rule *rules;
	struct net_fw_vm *v;
	struct net_fw_nic *nics;
	struct statedb_ip *ips;
	const char *nodes[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3"};
	struct hx_err err = {0};
	double *t_render, *t_apply, *t_change;
	size_t bytes = 0;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'v')
			vms = (unsigned)atoi(optarg);
		else if (c == 'r')
			per_vm = (unsigned)atoi(optarg);
		else if (c == 'n')
			runs = (unsigned)atoi(optarg);
		else
			return 2;
	}
	if (vms == 0 || vms > 60000 || per_vm < 2 || runs == 0) {
		fprintf(stderr, "bench_fw: bad arguments\n");
		return 2;
	}
	rules = calloc((size_t)vms * per_vm + 8, sizeof(*rules));
	v = calloc(vms, sizeof(*v));
	nics = calloc(vms, sizeof(*nics));
	ips = calloc(vms, sizeof(*ips));
	t_render = calloc(runs, sizeof(double));
	t_apply = calloc(runs, sizeof(double));
	t_change = calloc(runs, sizeof(double));
	if (!rules || !v || !nics || !ips || !t_render || !t_apply || !t_change)
		return 1;
	/* a security group of two rules, used by every VM */
	rule(&rules[nrules++], 1, "group/web", "in", "accept", "tcp", "80,443",
	     "");
	rule(&rules[nrules++], 2, "group/web", "in", "accept", "tcp", "8080",
	     "@vnet:v1");
	for (unsigned i = 0; i < vms; i++) {
		char scope[32];
		int64_t vmid = 100 + i;

		snprintf(scope, sizeof(scope), "vm/%" PRId64, vmid);
		/* the group counts as two of the VM's rules */
		rule(&rules[nrules], (int64_t)nrules + 1, scope, "", "group",
		     "web", "", "");
		nrules++;
		for (unsigned k = 3; k <= per_vm; k++) {
			char port[16], src[32];

			snprintf(port, sizeof(port), "%u", 1000 + k);
			snprintf(src, sizeof(src), "10.%u.%u.0/24", k, i % 250);
			rule(&rules[nrules], (int64_t)nrules + 1, scope,
			     k % 3 ? "in" : "out", k % 2 ? "accept" : "drop",
			     k % 4 ? "tcp" : "udp", port, src);
			nrules++;
		}
		v[i].vmid = vmid;
		statedb_fw_options_default(scope, &v[i].opts);
		v[i].opts.enabled = true;
		nics[i].vmid = vmid;
		snprintf(nics[i].mac, sizeof(nics[i].mac),
			 "52:54:00:%02x:%02x:%02x", (i >> 16) & 0xff,
			 (i >> 8) & 0xff, i & 0xff);
		nics[i].filter4 = true;
		snprintf(nics[i].ips, sizeof(nics[i].ips), "10.1.%u.%u",
			 (i + 2) / 250, (i + 2) % 250 + 1);
		snprintf(ips[i].ip, sizeof(ips[i].ip), "%s", nics[i].ips);
		snprintf(ips[i].vnet, sizeof(ips[i].vnet), "v1");
		snprintf(ips[i].kind, sizeof(ips[i].kind), "auto");
		ips[i].vmid = vmid;
	}
	/* sorted by scope, as statedb lists them */
	qsort(rules, nrules, sizeof(*rules), cmp_rule);
	statedb_fw_options_default("cluster", &in.cluster);
	in.cluster.enabled = true;
	in.host = in.cluster;
	in.rules = rules;
	in.nrules = nrules;
	in.ips = ips;
	in.nips = vms;
	in.node_addrs = nodes;
	in.nnode_addrs = 3;
	in.vms = v;
	in.nvms = vms;
	in.nics = nics;
	in.nnics = vms;
	if (unshare(CLONE_NEWNET) < 0) {
		perror("bench_fw: unshare (needs root)");
		return 1;
	}
	for (unsigned run = 0; run < runs; run++) {
		char *text = NULL;
		double t0;

		t0 = now_ms();
		if (net_fw_render(&in, &text, &err) < 0)
			goto fail;
		t_render[run] = now_ms() - t0;
		bytes = strlen(text);
		t0 = now_ms();
		if (net_nft_apply(text, true, &err) < 0)
			goto fail;
		t_apply[run] = now_ms() - t0;
		free(text);
		/* one rule changes: render and apply everything again */
		snprintf(rules[nrules / 2].dport, sizeof(rules[0].dport), "%u",
			 2000 + run);
		t0 = now_ms();
		if (net_fw_render(&in, &text, &err) < 0 ||
		    net_nft_apply(text, true, &err) < 0)
			goto fail;
		t_change[run] = now_ms() - t0;
		free(text);
	}
	printf("vms=%u rules=%u script_bytes=%zu runs=%u render_ms=%.1f "
	       "apply_ms=%.1f change_ms=%.1f\n",
	       vms, vms * per_vm, bytes, runs, median(t_render, runs),
	       median(t_apply, runs), median(t_change, runs));
	return 0;
fail:
	fprintf(stderr, "bench_fw: %s\n", err.msg);
	return 1;
}
