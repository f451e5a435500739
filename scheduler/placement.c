/*
 * scheduler: choosing a node for a service.
 *
 * DESIGN: one placement is a pipeline of filters followed by a score:
 *
 *   eligible (online, not in maintenance)
 *   -> strict node affinity -> tried nodes (relocation after failures)
 *   -> hard anti-affinity -> memory capacity (static mode)
 *   -> highest node-affinity priority class among what is left
 *   -> hard positive affinity: the nodes holding most group members
 *   -> score: soft rule violations, load, service count, node name.
 *
 * Priority classes are taken after the hard filters, so a preferred node
 * that is blocked by anti-affinity lets the next class win instead of
 * leaving the service without a node. "Stay" placements (is the current
 * node still right?) run every step for every started service, so they
 * take a fast path that touches only the nodes named by the service's
 * rules; the full scan runs only when a service has to move. Scratch
 * arrays are per node and stamped with an epoch, so nothing is cleared
 * between calls and the cost of a call is O(candidates + rule sizes).
 *
 * Footprints: a migrating member of a positive group pulls towards its
 * target (weight MOVING_W) while a stationary one counts 1, so a group
 * that starts moving converges on the target instead of pulling the mover
 * back. For anti-affinity, a moving member blocks both its source and
 * target for new placements but only its target for services that stay.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/internal.h"

#define MOVING_W 1000000ull
#define NEG_STAY 1u
#define NEG_CHOOSE 2u

bool sched_footprint(const struct sched_status *s, uint32_t *src,
		     uint32_t *tgt)
{
	*src = SCHED_NONE;
	*tgt = SCHED_NONE;
	switch (s->state) {
	case SCHED_SVC_REQUEST_START:
	case SCHED_SVC_STARTED:
	case SCHED_SVC_REQUEST_STOP:
	case SCHED_SVC_FREEZE:
	case SCHED_SVC_IGNORED:
		*src = s->node;
		return s->node != SCHED_NONE;
	case SCHED_SVC_MIGRATE:
	case SCHED_SVC_RELOCATE:
		*src = s->node;
		*tgt = s->target;
		return true;
	case SCHED_SVC_ERROR:
		*src = s->node; /* may still run: keep others away */
		return false;
	default:
		return false;
	}
}

/* ---- one placement ---- */

struct pctx {
	uint32_t svc;
	uint32_t cur;
	enum sched_pref pref;
	const struct sched_service *c;
	const struct sched_na *na;
	uint32_t self_src, self_tgt;
	bool self_counts;
	bool has_pos;
	uint32_t n_pos;
	bool has_soft;
	bool has_sneg;	      /* soft negative partners are placed */
	uint32_t soft_placed; /* soft positive partners placed anywhere */
	uint32_t n_neg;	      /* nodes in p->block[0..n_neg) */
	uint32_t epoch;
};

static void next_epoch(struct sched_placer *p)
{
	if (++p->epoch == 0) {
		size_t n = p->n_nodes * sizeof(uint32_t);

		memset(p->st_na, 0, n);
		memset(p->st_neg, 0, n);
		memset(p->st_pos, 0, n);
		memset(p->st_soft, 0, n);
		memset(p->st_try, 0, n);
		p->epoch = 1;
	}
}

static void mark_na(struct sched_placer *p, struct pctx *x)
{
	uint32_t k;

	for (k = 0; x->na != NULL && k < x->na->n; k++) {
		uint32_t n = x->na->nodes[k];

		p->st_na[n] = x->epoch;
		p->na_prio[n] = x->na->prio[k];
	}
}

static void neg_mark(struct sched_placer *p, struct pctx *x, uint32_t n,
		     uint8_t flags)
{
	if (n == SCHED_NONE || n >= p->n_nodes)
		return;
	if (p->st_neg[n] != x->epoch) {
		p->st_neg[n] = x->epoch;
		p->neg_flags[n] = 0;
		p->block[x->n_neg++] = n;
	}
	p->neg_flags[n] |= flags;
}

static void mark_neg(struct sched_placer *p, struct pctx *x)
{
	const struct sched_compiled *rc = p->rc;
	uint32_t g = rc->grp[x->svc], k, m;

	for (k = rc->neg_start[g]; k < rc->neg_start[g + 1]; k++) {
		uint32_t h = rc->neg[k];

		for (m = rc->grp_start[h]; m < rc->grp_start[h + 1]; m++) {
			uint32_t src, tgt;

			sched_footprint(&p->svc[rc->grp_mem[m]], &src, &tgt);
			if (tgt == SCHED_NONE) {
				neg_mark(p, x, src, NEG_STAY | NEG_CHOOSE);
			} else {
				neg_mark(p, x, src, NEG_CHOOSE);
				neg_mark(p, x, tgt, NEG_STAY | NEG_CHOOSE);
			}
		}
	}
}

static void pos_add(struct sched_placer *p, struct pctx *x, uint32_t n,
		    uint64_t w)
{
	if (n == SCHED_NONE || n >= p->n_nodes)
		return;
	if (p->st_pos[n] != x->epoch) {
		p->st_pos[n] = x->epoch;
		p->pos_w[n] = 0;
		p->pos_list[x->n_pos++] = n;
	}
	p->pos_w[n] += w;
}

static void mark_pos(struct sched_placer *p, struct pctx *x)
{
	const struct sched_compiled *rc = p->rc;
	uint32_t g = rc->grp[x->svc], m;

	x->n_pos = 0;
	x->has_pos = rc->grp_start[g + 1] - rc->grp_start[g] > 1;
	for (m = rc->grp_start[g]; x->has_pos && m < rc->grp_start[g + 1];
	     m++) {
		uint32_t o = rc->grp_mem[m], src, tgt;

		if (o == x->svc)
			continue;
		sched_footprint(&p->svc[o], &src, &tgt);
		if (tgt != SCHED_NONE)
			pos_add(p, x, tgt, MOVING_W);
		else
			pos_add(p, x, src, 1);
	}
}

static void soft_at(struct sched_placer *p, struct pctx *x, uint32_t n,
		    bool positive)
{
	if (n == SCHED_NONE || n >= p->n_nodes)
		return;
	if (p->st_soft[n] != x->epoch) {
		p->st_soft[n] = x->epoch;
		p->soft_pen[n] = 0;
		p->soft_pw[n] = 0;
	}
	if (positive)
		p->soft_pw[n]++;
	else
		p->soft_pen[n]++;
}

static void mark_soft(struct sched_placer *p, struct pctx *x)
{
	const struct sched_compiled *rc = p->rc;
	uint32_t k, src, tgt;

	x->soft_placed = 0;
	x->has_sneg = false;
	for (k = rc->sneg_start[x->svc]; k < rc->sneg_start[x->svc + 1]; k++) {
		sched_footprint(&p->svc[rc->sneg[k]], &src, &tgt);
		soft_at(p, x, src, false);
		soft_at(p, x, tgt, false);
		x->has_sneg = x->has_sneg || src != SCHED_NONE ||
			      tgt != SCHED_NONE;
	}
	for (k = rc->spos_start[x->svc]; k < rc->spos_start[x->svc + 1]; k++) {
		sched_footprint(&p->svc[rc->spos[k]], &src, &tgt);
		if (tgt != SCHED_NONE)
			src = tgt;
		if (src == SCHED_NONE)
			continue;
		soft_at(p, x, src, true);
		x->soft_placed++;
	}
	x->has_soft = rc->sneg_start[x->svc] != rc->sneg_start[x->svc + 1] ||
		      x->soft_placed > 0;
}

static void mark_tried(struct sched_placer *p, struct pctx *x)
{
	const struct sched_status *s = &p->svc[x->svc];
	uint32_t k, n = s->n_failed < SCHED_FAILED_MAX ? s->n_failed
						       : SCHED_FAILED_MAX;

	for (k = 0; k < n; k++)
		if (s->failed[k] < p->n_nodes)
			p->st_try[s->failed[k]] = x->epoch;
}

static void setup(struct sched_placer *p, struct pctx *x, uint32_t svc,
		  enum sched_pref pref, uint32_t cur)
{
	const struct sched_compiled *rc = p->rc;

	memset(x, 0, sizeof(*x));
	next_epoch(p);
	x->epoch = p->epoch;
	x->svc = svc;
	x->pref = pref;
	x->c = &p->st->svcs[svc];
	x->cur = cur != SCHED_NONE ? cur : p->svc[svc].node;
	x->na = rc->svc_na[svc] != SCHED_NONE ? &rc->na[rc->svc_na[svc]] : NULL;
	x->self_counts = sched_footprint(&p->svc[svc], &x->self_src,
					 &x->self_tgt);
	mark_na(p, x);
	mark_neg(p, x);
	mark_pos(p, x);
	mark_soft(p, x);
	if (pref == SCHED_PREF_NEXT)
		mark_tried(p, x);
}

static bool self_on(const struct pctx *x, uint32_t n)
{
	return x->self_counts && (x->self_src == n || x->self_tgt == n);
}

/* Returns -1 when node @n passes the hard filters, else the filter. */
static int node_filter(struct sched_placer *p, const struct pctx *x,
		       uint32_t n, bool as_cur)
{
	const struct sched_node *node = &p->st->nodes[n];

	if (!p->eligible[n])
		return SCHED_F_OFFLINE;
	if (x->na != NULL && x->na->strict && p->st_na[n] != x->epoch)
		return SCHED_F_NODE_AFFINITY;
	if (x->pref == SCHED_PREF_NEXT && p->st_try[n] == x->epoch)
		return SCHED_F_TRIED;
	if (p->st_neg[n] == x->epoch &&
	    (p->neg_flags[n] & (as_cur ? NEG_STAY : NEG_CHOOSE)))
		return SCHED_F_ANTI_AFFINITY;
	if (p->st->crs == SCHED_CRS_STATIC && node->mem > 0 && !self_on(x, n) &&
	    p->mem[n] + (double)x->c->mem > (double)node->mem)
		return SCHED_F_CAPACITY;
	return -1;
}

static int32_t prio_of(struct sched_placer *p, const struct pctx *x,
		       uint32_t n)
{
	if (x->na == NULL)
		return 0;
	return p->st_na[n] == x->epoch ? p->na_prio[n] : INT32_MIN;
}

static uint64_t pos_of(struct sched_placer *p, const struct pctx *x,
		       uint32_t n)
{
	return p->st_pos[n] == x->epoch ? p->pos_w[n] : 0;
}

/* Highest priority among nodes that pass the filters; cheap: rule nodes
 * only, plus one check whether any other node passes. */
static int32_t max_prio(struct sched_placer *p, const struct pctx *x)
{
	int32_t best = INT32_MIN;
	uint32_t k;
	bool any = false;

	if (x->na == NULL)
		return 0;
	for (k = 0; k < x->na->n; k++) {
		uint32_t n = x->na->nodes[k];

		if (node_filter(p, x, n, n == x->cur) < 0 &&
		    (!any || x->na->prio[k] > best)) {
			best = x->na->prio[k];
			any = true;
		}
	}
	return best;
}

/* Largest positive weight among nodes passing filters (and, if @prio is
 * not INT32_MIN... any priority when @any_prio). */
static uint64_t max_pos(struct sched_placer *p, const struct pctx *x,
			int32_t prio, bool any_prio)
{
	uint64_t best = 0;
	uint32_t k;

	for (k = 0; k < x->n_pos; k++) {
		uint32_t n = p->pos_list[k];

		if (node_filter(p, x, n, n == x->cur) >= 0)
			continue;
		if (!any_prio && prio_of(p, x, n) != prio)
			continue;
		if (p->pos_w[n] > best)
			best = p->pos_w[n];
	}
	return best;
}

/* May the service stay on its current node? Returns -1 if so, else the
 * filter that rejects it. */
static int stay_check(struct sched_placer *p, const struct pctx *x)
{
	uint32_t cur = x->cur;
	int f;

	if (cur == SCHED_NONE || cur >= p->n_nodes)
		return SCHED_F_OFFLINE;
	f = node_filter(p, x, cur, true);
	if (f >= 0)
		return f;
	if (!x->c->failback) {
		uint64_t w = max_pos(p, x, 0, true);

		if (w == 0 || pos_of(p, x, cur) == w)
			return -1;
	}
	if (prio_of(p, x, cur) != max_prio(p, x))
		return SCHED_F_PRIORITY;
	if (x->has_pos) {
		uint64_t w = max_pos(p, x, prio_of(p, x, cur), false);

		if (w > 0 && pos_of(p, x, cur) != w)
			return SCHED_F_AFFINITY;
	}
	return -1;
}

struct key {
	uint32_t soft;
	uint64_t l1, l2;
	uint32_t count;
	uint32_t rank;
};

static void node_key(struct sched_placer *p, const struct pctx *x, uint32_t n,
		     struct key *k)
{
	const struct sched_node *node = &p->st->nodes[n];
	bool self = self_on(x, n);

	k->soft = 0;
	if (x->has_soft && p->st_soft[n] == x->epoch)
		k->soft = p->soft_pen[n] + (x->soft_placed - p->soft_pw[n]);
	else if (x->has_soft)
		k->soft = x->soft_placed;
	k->count = p->count[n] + (self ? 0 : 1);
	k->rank = p->rank[n];
	k->l1 = k->l2 = 0;
	if (p->st->crs == SCHED_CRS_STATIC) {
		/* by resources only: equal resources tie on the name */
		k->count = 0;
		sched_static_key(p->cpu[n] + (self ? 0 : x->c->cpu),
				 p->mem[n] + (self ? 0 : (double)x->c->mem),
				 node->cpu > 0 ? 1.0 / node->cpu : 0,
				 node->mem > 0 ? 1.0 / (double)node->mem : 0,
				 &k->l1, &k->l2);
	}
}

static double key_load(const struct sched_placer *p, const struct key *k)
{
	if (p->st->crs == SCHED_CRS_STATIC)
		return (double)k->l1 / 4294967296.0;
	return k->count - 1;
}

static bool key_less(const struct key *a, const struct key *b)
{
	if (a->soft != b->soft)
		return a->soft < b->soft;
	if (a->l1 != b->l1)
		return a->l1 < b->l1;
	if (a->l2 != b->l2)
		return a->l2 < b->l2;
	if (a->count != b->count)
		return a->count < b->count;
	return a->rank < b->rank;
}

/* Filters the nodes of @list into p->cand; counts the rejections. */
static uint32_t collect(struct sched_placer *p, const struct pctx *x,
			const uint32_t *list, uint32_t total,
			struct sched_explain *ex)
{
	uint32_t k, n_cand = 0;

	for (k = 0; k < total; k++) {
		uint32_t n = list[k];
		int f = node_filter(p, x, n, false);

		if (f >= 0) {
			if (f != SCHED_F_OFFLINE)
				ex->filtered[f]++;
			continue;
		}
		p->cand[n_cand++] = n;
	}
	return n_cand;
}

static uint32_t keep_top_prio(struct sched_placer *p, const struct pctx *x,
			      uint32_t n_cand, struct sched_explain *ex)
{
	int32_t top = INT32_MIN;
	uint32_t k, out = 0;

	if (x->na == NULL)
		return n_cand;
	for (k = 0; k < n_cand; k++) {
		int32_t pr = prio_of(p, x, p->cand[k]);

		if (k == 0 || pr > top)
			top = pr;
	}
	for (k = 0; k < n_cand; k++)
		if (prio_of(p, x, p->cand[k]) == top)
			p->cand[out++] = p->cand[k];
	ex->filtered[SCHED_F_PRIORITY] += n_cand - out;
	return out;
}

static uint32_t keep_top_pos(struct sched_placer *p, const struct pctx *x,
			     uint32_t n_cand, struct sched_explain *ex)
{
	uint64_t top = 0;
	uint32_t k, out = 0;

	if (!x->has_pos)
		return n_cand;
	for (k = 0; k < n_cand; k++)
		if (pos_of(p, x, p->cand[k]) > top)
			top = pos_of(p, x, p->cand[k]);
	if (top == 0)
		return n_cand;
	for (k = 0; k < n_cand; k++)
		if (pos_of(p, x, p->cand[k]) == top)
			p->cand[out++] = p->cand[k];
	ex->filtered[SCHED_F_AFFINITY] += n_cand - out;
	return out;
}

/* Best of the candidates in p->cand after the class and group filters. */
static uint32_t pick(struct sched_placer *p, const struct pctx *x,
		     uint32_t n_cand, struct sched_explain *ex)
{
	struct key best, k;
	uint32_t i, chosen = SCHED_NONE;

	n_cand = keep_top_prio(p, x, n_cand, ex);
	n_cand = keep_top_pos(p, x, n_cand, ex);
	ex->remaining = n_cand;
	for (i = 0; i < n_cand; i++) {
		node_key(p, x, p->cand[i], &k);
		if (chosen == SCHED_NONE || key_less(&k, &best)) {
			best = k;
			chosen = p->cand[i];
		}
	}
	if (chosen != SCHED_NONE) {
		ex->chosen = chosen;
		ex->soft_violations = best.soft;
		ex->load = key_load(p, &best);
	}
	return chosen;
}

/* Live nodes outside @list, counted as filtered by @f. */
static void outside(struct sched_placer *p, const uint32_t *list,
		    uint32_t total, enum sched_filter f,
		    struct sched_explain *ex)
{
	uint32_t k, live = 0;

	for (k = 0; k < total; k++)
		live += p->eligible[list[k]];
	ex->filtered[f] += p->n_live - live;
}

/*
 * Any eligible node may do: mask the nodes the hard filters (and soft
 * anti-affinity) exclude and scan. Returns SCHED_NONE with *ret_retry set
 * when only the soft rules left no node, for the generic path.
 */
static uint32_t full_scan(struct sched_placer *p, const struct pctx *x,
			  struct sched_explain *ex, bool *ret_retry)
{
	const struct sched_status *s = &p->svc[x->svc];
	struct sched_scan sc = {.block = p->block};
	uint32_t k, n = x->n_neg, chosen, blocked = 0;

	*ret_retry = false;
	for (k = 0; k < x->n_neg; k++)
		if (p->eligible[p->block[k]])
			ex->filtered[SCHED_F_ANTI_AFFINITY]++;
	for (k = 0; x->pref == SCHED_PREF_NEXT && k < s->n_failed &&
		    k < SCHED_FAILED_MAX;
	     k++) {
		uint32_t f = s->failed[k];

		if (f >= p->n_nodes || p->st_try[f] != x->epoch)
			continue;
		p->st_try[f] = 0; /* count each once */
		if (p->eligible[f] && p->st_neg[f] != x->epoch) {
			ex->filtered[SCHED_F_TRIED]++;
			p->block[n++] = f;
		}
	}
	for (k = 0; x->has_sneg && k < p->n_nodes; k++)
		if (p->st_soft[k] == x->epoch && p->soft_pen[k] > 0)
			p->block[n++] = k, blocked++;
	sc.n_block = n;
	sc.self[0] = x->self_counts ? x->self_src : SCHED_NONE;
	sc.self[1] = x->self_counts ? x->self_tgt : SCHED_NONE;
	sc.cpu = x->c->cpu;
	sc.mem = (double)x->c->mem;
	chosen = sched_scan_best(p, &sc);
	ex->filtered[SCHED_F_CAPACITY] = sc.cap_fail;
	if (chosen == SCHED_NONE) {
		*ret_retry = blocked > 0;
		return SCHED_NONE;
	}
	ex->remaining = p->n_live - ex->filtered[SCHED_F_ANTI_AFFINITY] -
			ex->filtered[SCHED_F_TRIED] - sc.cap_fail;
	ex->chosen = chosen;
	ex->load = p->st->crs == SCHED_CRS_STATIC
			   ? (double)sc.k1 / 4294967296.0
			   : (double)sc.k1;
	return chosen;
}

uint32_t sched_place(struct sched_placer *p, uint32_t svc, enum sched_pref pref,
		     uint32_t cur, struct sched_explain *ex)
{
	struct pctx x;
	struct key k;
	uint32_t n_cand, chosen;
	bool retry;
	int f;

	setup(p, &x, svc, pref, cur);
	memset(ex, 0, sizeof(*ex));
	ex->reason = SCHED_R_PLACED;
	ex->from = x.cur;
	ex->chosen = SCHED_NONE;
	ex->considered = p->considered;
	ex->rejected = SCHED_F__COUNT;
	ex->filtered[SCHED_F_OFFLINE] = p->considered - p->n_live;
	if (pref == SCHED_PREF_STAY) {
		f = stay_check(p, &x);
		if (f < 0) {
			node_key(p, &x, x.cur, &k);
			ex->chosen = x.cur;
			ex->remaining = 1;
			ex->soft_violations = k.soft;
			ex->load = key_load(p, &k);
			memset(ex->filtered, 0, sizeof(ex->filtered));
			return x.cur;
		}
		ex->rejected = (uint32_t)f;
	}
	if (x.na != NULL && (x.na->strict || max_prio(p, &x) != INT32_MIN)) {
		/* only the rule's nodes are candidates */
		outside(p, x.na->nodes, x.na->n,
			x.na->strict ? SCHED_F_NODE_AFFINITY : SCHED_F_PRIORITY,
			ex);
		n_cand = collect(p, &x, x.na->nodes, x.na->n, ex);
		return pick(p, &x, n_cand, ex);
	}
	if (x.has_pos && max_pos(p, &x, 0, true) > 0) {
		/* only nodes holding members of its group */
		outside(p, p->pos_list, x.n_pos, SCHED_F_AFFINITY, ex);
		n_cand = collect(p, &x, p->pos_list, x.n_pos, ex);
		return pick(p, &x, n_cand, ex);
	}
	if (x.soft_placed == 0) {
		chosen = full_scan(p, &x, ex, &retry);
		if (chosen != SCHED_NONE || !retry)
			return chosen;
		memset(ex->filtered, 0, sizeof(ex->filtered));
		ex->filtered[SCHED_F_OFFLINE] = p->considered - p->n_live;
		setup(p, &x, svc, pref, cur); /* full_scan used the stamps */
	}
	n_cand = collect(p, &x, p->live, p->n_live, ex);
	return pick(p, &x, n_cand, ex);
}

int sched_place_check(struct sched_placer *p, uint32_t svc, uint32_t node)
{
	struct pctx x;

	if (node >= p->n_nodes)
		return SCHED_F_OFFLINE;
	setup(p, &x, svc, SCHED_PREF_BEST, SCHED_NONE);
	return node_filter(p, &x, node, false);
}

