/*
 * scheduler: N+1 admission control.
 *
 * DESIGN: before HA is enabled for a VM, check that the cluster could still
 * restart every HA service after losing the node whose failure hurts most:
 * the online node carrying the most HA memory (ties: the larger node). The
 * displaced services are packed first-fit decreasing by memory onto the
 * free CPU and memory of the other online nodes; nodes without configured
 * capacity are skipped. This is a sufficient check, not an optimal packing:
 * it may refuse a cluster that a cleverer packing could still serve, never
 * the other way round.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/internal.h"

struct item {
	double cpu;
	uint64_t mem;
};

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->mem != y->mem)
		return x->mem > y->mem ? -1 : 1;
	return x->cpu > y->cpu ? -1 : x->cpu < y->cpu;
}

static bool is_online(const struct sched_state *st, const bool *online,
		      uint32_t n)
{
	return online ? online[n] : st->nodes[n].st.state == SCHED_NODE_ONLINE;
}

/* Node the new service would be counted on: its node, or most free mem. */
static uint32_t home_of(const struct sched_state *st, const bool *online,
			uint32_t svc, const double *mem)
{
	uint32_t n, best = SCHED_NONE;
	double best_free = 0;

	if (st->svcs[svc].st.node < st->n_nodes)
		return st->svcs[svc].st.node;
	for (n = 0; n < st->n_nodes; n++) {
		double f = (double)st->nodes[n].mem - mem[n];

		if (is_online(st, online, n) &&
		    (best == SCHED_NONE || f > best_free)) {
			best = n;
			best_free = f;
		}
	}
	return best;
}

static uint32_t worst_node(const struct sched_state *st, const bool *online,
			   const double *mem)
{
	uint32_t n, worst = SCHED_NONE;

	for (n = 0; n < st->n_nodes; n++) {
		if (!is_online(st, online, n))
			continue;
		if (worst == SCHED_NONE || mem[n] > mem[worst] ||
		    (mem[n] == mem[worst] &&
		     st->nodes[n].mem > st->nodes[worst].mem))
			worst = n;
	}
	return worst;
}

static bool pack(const struct sched_state *st, const bool *online,
		 uint32_t lost, struct item *it, size_t n_it, double *cpu,
		 double *mem)
{
	size_t k;
	uint32_t n;

	qsort(it, n_it, sizeof(*it), cmp_item);
	for (k = 0; k < n_it; k++) {
		for (n = 0; n < st->n_nodes; n++) {
			const struct sched_node *node = &st->nodes[n];

			if (n == lost || !is_online(st, online, n) ||
			    node->mem == 0)
				continue;
			if (mem[n] + (double)it[k].mem > (double)node->mem)
				continue;
			if (node->cpu > 0 && cpu[n] + it[k].cpu > node->cpu)
				continue;
			mem[n] += (double)it[k].mem;
			cpu[n] += it[k].cpu;
			break;
		}
		if (n == st->n_nodes)
			return false;
	}
	return true;
}

int scheduler_admission_check(const struct sched_state *st, uint32_t svc,
			      const bool *online, uint32_t *ret_node)
{
	size_t nn = st->n_nodes ? st->n_nodes : 1;
	double *cpu = calloc(nn, sizeof(*cpu)), *mem = calloc(nn, sizeof(*mem));
	struct item *it = malloc((st->n_svcs + 1) * sizeof(*it));
	uint32_t i, lost, home, src, tgt;
	size_t n_it = 0;
	int r = -ENOMEM;

	if (svc >= st->n_svcs) {
		r = -EINVAL;
		goto out;
	}
	if (cpu == NULL || mem == NULL || it == NULL)
		goto out;
	for (i = 0; i < st->n_svcs; i++) {
		const struct sched_service *c = &st->svcs[i];

		if (!sched_footprint(&c->st, &src, &tgt) || src >= st->n_nodes)
			continue;
		if (tgt < st->n_nodes)
			src = tgt; /* where it will be */
		cpu[src] += c->cpu;
		mem[src] += (double)c->mem;
	}
	home = SCHED_NONE;
	if (!sched_footprint(&st->svcs[svc].st, &src, &tgt)) {
		home = home_of(st, online, svc, mem);
		if (home != SCHED_NONE) {
			cpu[home] += st->svcs[svc].cpu;
			mem[home] += (double)st->svcs[svc].mem;
		}
	}
	lost = worst_node(st, online, mem);
	r = 0;
	if (lost == SCHED_NONE)
		goto out;
	for (i = 0; i < st->n_svcs; i++) {
		const struct sched_service *c = &st->svcs[i];
		uint32_t at = SCHED_NONE;

		if (sched_footprint(&c->st, &src, &tgt))
			at = tgt < st->n_nodes ? tgt : src;
		if (i == svc && home != SCHED_NONE)
			at = home;
		if (at != lost)
			continue;
		it[n_it].cpu = c->cpu;
		it[n_it++].mem = c->mem;
	}
	cpu[lost] = 0;
	mem[lost] = 0;
	if (!pack(st, online, lost, it, n_it, cpu, mem)) {
		r = -ENOSPC;
		if (ret_node != NULL)
			*ret_node = lost;
	}
out:
	free(it);
	free(mem);
	free(cpu);
	return r;
}
