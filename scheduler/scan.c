/*
 * scheduler: the full scan for a service that may go to any node.
 *
 * DESIGN: most placements are unconstrained apart from a few excluded
 * nodes (anti-affinity partners, nodes already tried). Instead of running
 * every filter per node, the excluded nodes are masked in the
 * rank-ordered mirrors (placer.c), the service's own load is taken off
 * the nodes that already count it, and one tight loop reads dense arrays
 * in name order: the first node with the lowest key wins, so ties need no
 * comparison. The masks are then recomputed from the node-indexed
 * arrays, which are never touched, so repeated or overlapping masks are
 * harmless. Cost: O(nodes) with a few instructions per node.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include "scheduler/internal.h"

#define QUANTUM 4294967296.0 /* 2^32 */

void sched_static_key(double cpu, double mem, double invc, double invm,
		      uint64_t *q1, uint64_t *q2)
{
	double fc = cpu * invc, fm = mem * invm;
	double l1 = fc > fm ? fc : fm, l2 = fc + fm;

	*q1 = l1 < 1e9 ? (uint64_t)(l1 * QUANTUM + 0.5) : UINT64_MAX;
	*q2 = l2 < 1e9 ? (uint64_t)(l2 * QUANTUM + 0.5) : UINT64_MAX;
}

static void mask(struct sched_placer *p, const struct sched_scan *sc)
{
	uint32_t k;

	for (k = 0; k < sc->n_block; k++) {
		uint32_t r = p->rank[sc->block[k]];

		p->f_cnt[r] = UINT32_MAX;
		p->f_capm[r] = -INFINITY;
	}
	for (k = 0; k < 2; k++) {
		uint32_t n = sc->self[k];

		if (n == SCHED_NONE || n >= p->n_nodes)
			continue;
		if (p->f_cnt[p->rank[n]] != UINT32_MAX)
			p->f_cnt[p->rank[n]]--;
		p->f_cpu[p->rank[n]] -= sc->cpu;
		p->f_mem[p->rank[n]] -= sc->mem;
	}
}

static void unmask(struct sched_placer *p, const struct sched_scan *sc)
{
	uint32_t k;

	for (k = 0; k < sc->n_block; k++)
		sched_placer_mirror(p, sc->block[k]);
	for (k = 0; k < 2; k++)
		if (sc->self[k] != SCHED_NONE && sc->self[k] < p->n_nodes)
			sched_placer_mirror(p, sc->self[k]);
}

static uint32_t scan_basic(const struct sched_placer *p, uint64_t *ret_key)
{
	const uint32_t *cnt = p->f_cnt;
	uint32_t r, best = SCHED_NONE, key = UINT32_MAX;

	for (r = 0; r < p->n_nodes; r++)
		if (cnt[r] < key) {
			key = cnt[r];
			best = r;
		}
	*ret_key = key;
	return best;
}

/*
 * The quantised key is monotonic in the fraction, so a node whose larger
 * fraction is clearly above the best one so far (by more than rounding
 * could explain) cannot win: skip it with plain double arithmetic and
 * quantise only the few nodes near the best.
 */
static uint32_t scan_static(const struct sched_placer *p,
			    struct sched_scan *sc)
{
	const double *cpu = p->f_cpu, *mem = p->f_mem, *capm = p->f_capm;
	const double *invc = p->f_invc, *invm = p->f_invm;
	uint32_t r, best = SCHED_NONE, fail = 0;
	uint64_t b1 = UINT64_MAX, b2 = UINT64_MAX;
	double bound = INFINITY;

	for (r = 0; r < p->n_nodes; r++) {
		double m = mem[r] + sc->mem, fc, fm, l1;
		uint64_t q1, q2;

		if (m > capm[r]) {
			fail += capm[r] > -INFINITY;
			continue;
		}
		fc = (cpu[r] + sc->cpu) * invc[r];
		fm = m * invm[r];
		l1 = fc > fm ? fc : fm;
		if (l1 > bound)
			continue;
		sched_static_key(cpu[r] + sc->cpu, m, invc[r], invm[r], &q1,
				 &q2);
		if (best == SCHED_NONE || q1 < b1 || (q1 == b1 && q2 < b2)) {
			b1 = q1;
			b2 = q2;
			best = r;
			bound = b1 == UINT64_MAX
					? INFINITY
					: ((double)b1 + 1.0) / QUANTUM * (1 + 1e-12);
		}
	}
	sc->cap_fail = fail;
	sc->k1 = b1;
	sc->k2 = b2;
	return best;
}

uint32_t sched_scan_best(struct sched_placer *p, struct sched_scan *sc)
{
	uint32_t r;

	sc->cap_fail = 0;
	mask(p, sc);
	if (p->st->crs == SCHED_CRS_STATIC) {
		r = scan_static(p, sc);
	} else {
		r = scan_basic(p, &sc->k1);
		sc->k2 = 0;
		if (sc->k1 == UINT32_MAX)
			r = SCHED_NONE;
	}
	unmask(p, sc);
	return r == SCHED_NONE ? SCHED_NONE : p->by_rank[r];
}
