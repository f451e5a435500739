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

/* ---- setup ---- */

static int cmp_rank(const void *a, const void *b, void *data)
{
	const struct sched_state *st = data;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return strcmp(st->nodes[x].name, st->nodes[y].name);
}

int sched_placer_init(struct sched_placer *p, const struct sched_state *st,
		      const struct sched_compiled *rc, struct sched_status *svc)
{
	size_t n = st->n_nodes ? st->n_nodes : 1;
	uint32_t i, *order;

	memset(p, 0, sizeof(*p));
	p->st = st;
	p->rc = rc;
	p->svc = svc;
	p->n_nodes = st->n_nodes;
	p->eligible = calloc(n, sizeof(*p->eligible));
	p->live = calloc(n, sizeof(*p->live));
	p->rank = calloc(n, sizeof(*p->rank));
	p->count = calloc(n, sizeof(*p->count));
	p->cpu = calloc(n, sizeof(*p->cpu));
	p->mem = calloc(n, sizeof(*p->mem));
	p->st_na = calloc(n, sizeof(uint32_t));
	p->st_neg = calloc(n, sizeof(uint32_t));
	p->st_pos = calloc(n, sizeof(uint32_t));
	p->st_soft = calloc(n, sizeof(uint32_t));
	p->st_try = calloc(n, sizeof(uint32_t));
	p->na_prio = calloc(n, sizeof(*p->na_prio));
	p->neg_flags = calloc(n, sizeof(*p->neg_flags));
	p->pos_w = calloc(n, sizeof(*p->pos_w));
	p->soft_pen = calloc(n, sizeof(*p->soft_pen));
	p->soft_pw = calloc(n, sizeof(*p->soft_pw));
	p->cand = calloc(n, sizeof(*p->cand));
	p->pos_list = calloc(n, sizeof(*p->pos_list));
	order = calloc(n, sizeof(*order));
	if (!p->eligible || !p->live || !p->rank || !p->count || !p->cpu ||
	    !p->mem || !p->st_na || !p->st_neg || !p->st_pos || !p->st_soft ||
	    !p->st_try || !p->na_prio || !p->neg_flags || !p->pos_w ||
	    !p->soft_pen || !p->soft_pw || !p->cand || !p->pos_list || !order) {
		free(order);
		sched_placer_close(p);
		return -ENOMEM;
	}
	for (i = 0; i < st->n_nodes; i++)
		order[i] = i;
	qsort_r(order, st->n_nodes, sizeof(*order), cmp_rank, (void *)st);
	for (i = 0; i < st->n_nodes; i++)
		p->rank[order[i]] = i;
	free(order);
	for (i = 0; i < st->n_svcs; i++)
		sched_placer_account(p, i, &svc[i], 1);
	return 0;
}

void sched_placer_close(struct sched_placer *p)
{
	if (p == NULL)
		return;
	free(p->eligible);
	free(p->live);
	free(p->rank);
	free(p->count);
	free(p->cpu);
	free(p->mem);
	free(p->st_na);
	free(p->st_neg);
	free(p->st_pos);
	free(p->st_soft);
	free(p->st_try);
	free(p->na_prio);
	free(p->neg_flags);
	free(p->pos_w);
	free(p->soft_pen);
	free(p->soft_pw);
	free(p->cand);
	free(p->pos_list);
	if (p->owns) {
		free(p->svc);
		sched_compiled_close(&p->own_rc);
		scheduler_state_close(p->own_st);
		free(p->own_st);
	}
	memset(p, 0, sizeof(*p));
}

void sched_placer_set_eligible(struct sched_placer *p, const bool *elig)
{
	uint32_t i;

	p->n_live = 0;
	p->considered = 0;
	for (i = 0; i < p->n_nodes; i++) {
		p->eligible[i] = elig[i];
		if (elig[i])
			p->live[p->n_live++] = i;
		if (p->st->nodes[i].st.state != SCHED_NODE_GONE)
			p->considered++;
	}
}

void sched_placer_account(struct sched_placer *p, uint32_t i,
			  const struct sched_status *s, int sign)
{
	const struct sched_service *c = &p->st->svcs[i];
	uint32_t src, tgt, at[2];
	int k;

	if (!sched_footprint(s, &src, &tgt))
		return;
	at[0] = src;
	at[1] = tgt;
	for (k = 0; k < 2; k++) {
		if (at[k] == SCHED_NONE || at[k] >= p->n_nodes)
			continue;
		p->count[at[k]] += (uint32_t)sign;
		p->cpu[at[k]] += sign * c->cpu;
		p->mem[at[k]] += sign * (double)c->mem;
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
	uint32_t soft_placed; /* soft positive partners placed anywhere */
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

static void neg_mark(struct sched_placer *p, uint32_t n, uint8_t flags,
		     uint32_t epoch)
{
	if (n == SCHED_NONE || n >= p->n_nodes)
		return;
	if (p->st_neg[n] != epoch) {
		p->st_neg[n] = epoch;
		p->neg_flags[n] = 0;
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
				neg_mark(p, src, NEG_STAY | NEG_CHOOSE, x->epoch);
			} else {
				neg_mark(p, src, NEG_CHOOSE, x->epoch);
				neg_mark(p, tgt, NEG_STAY | NEG_CHOOSE, x->epoch);
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
	for (k = rc->sneg_start[x->svc]; k < rc->sneg_start[x->svc + 1]; k++) {
		sched_footprint(&p->svc[rc->sneg[k]], &src, &tgt);
		soft_at(p, x, src, false);
		soft_at(p, x, tgt, false);
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
	double l1, l2;
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
		double cpu = p->cpu[n] + (self ? 0 : x->c->cpu);
		double mem = p->mem[n] + (self ? 0 : (double)x->c->mem);
		double fc = node->cpu > 0 ? cpu / node->cpu : 0;
		double fm = node->mem > 0 ? mem / (double)node->mem : 0;

		k->l1 = fc > fm ? fc : fm;
		k->l2 = fc + fm;
	}
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

static uint32_t collect(struct sched_placer *p, const struct pctx *x,
			struct sched_explain *ex)
{
	uint32_t k, n_cand = 0, total;
	const uint32_t *list;

	if (x->na != NULL && x->na->strict) {
		list = x->na->nodes;
		total = x->na->n;
		ex->filtered[SCHED_F_NODE_AFFINITY] = p->considered > total
							      ? p->considered - total
							      : 0;
	} else {
		list = p->live;
		total = p->n_live;
		ex->filtered[SCHED_F_OFFLINE] = p->considered - p->n_live;
	}
	for (k = 0; k < total; k++) {
		uint32_t n = list[k];
		int f = node_filter(p, x, n, false);

		if (f >= 0) {
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

uint32_t sched_place(struct sched_placer *p, uint32_t svc, enum sched_pref pref,
		     uint32_t cur, struct sched_explain *ex)
{
	struct pctx x;
	struct key best, k;
	uint32_t i, n_cand, chosen = SCHED_NONE;

	setup(p, &x, svc, pref, cur);
	memset(ex, 0, sizeof(*ex));
	ex->reason = SCHED_R_PLACED;
	ex->from = x.cur;
	ex->chosen = SCHED_NONE;
	ex->considered = p->considered;
	ex->rejected = SCHED_F__COUNT;
	if (pref == SCHED_PREF_STAY) {
		int f = stay_check(p, &x);

		if (f >= 0)
			ex->rejected = (uint32_t)f;
	}
	if (pref == SCHED_PREF_STAY && ex->rejected == SCHED_F__COUNT) {
		node_key(p, &x, x.cur, &k);
		ex->chosen = x.cur;
		ex->remaining = 1;
		ex->soft_violations = k.soft;
		ex->load = p->st->crs == SCHED_CRS_STATIC ? k.l1 : k.count - 1;
		return x.cur;
	}
	n_cand = collect(p, &x, ex);
	n_cand = keep_top_prio(p, &x, n_cand, ex);
	n_cand = keep_top_pos(p, &x, n_cand, ex);
	ex->remaining = n_cand;
	for (i = 0; i < n_cand; i++) {
		node_key(p, &x, p->cand[i], &k);
		if (chosen == SCHED_NONE || key_less(&k, &best)) {
			best = k;
			chosen = p->cand[i];
		}
	}
	if (chosen != SCHED_NONE) {
		ex->chosen = chosen;
		ex->soft_violations = best.soft;
		ex->load = p->st->crs == SCHED_CRS_STATIC ? best.l1
							   : best.count - 1;
	}
	return chosen;
}

int sched_place_check(struct sched_placer *p, uint32_t svc, uint32_t node)
{
	struct pctx x;

	if (node >= p->n_nodes)
		return SCHED_F_OFFLINE;
	setup(p, &x, svc, SCHED_PREF_BEST, SCHED_NONE);
	return node_filter(p, &x, node, false);
}

/* ---- public API ---- */

int scheduler_placer_new(const struct sched_state *st,
			 const struct sched_rules *rules, const bool *online,
			 struct sched_placer **ret)
{
	struct sched_placer *p = calloc(1, sizeof(*p));
	struct sched_state *copy = calloc(1, sizeof(*copy));
	struct sched_status *svc = NULL;
	struct sched_compiled rc;
	bool *elig = NULL;
	uint32_t i;

	if (p == NULL || copy == NULL)
		goto nomem;
	scheduler_state_init(copy);
	if (scheduler_state_copy(copy, st) < 0)
		goto nomem_copy;
	svc = malloc((st->n_svcs ? st->n_svcs : 1) * sizeof(*svc));
	elig = malloc((st->n_nodes ? st->n_nodes : 1) * sizeof(*elig));
	if (svc == NULL || elig == NULL)
		goto nomem_copy;
	for (i = 0; i < st->n_svcs; i++)
		svc[i] = st->svcs[i].st;
	if (sched_compile(&rc, rules, copy) < 0)
		goto nomem_copy;
	if (sched_placer_init(p, copy, NULL, svc) < 0) {
		sched_compiled_close(&rc);
		goto nomem_copy;
	}
	p->own_rc = rc; /* init does not read the rules */
	p->rc = &p->own_rc;
	p->owns = true;
	p->own_st = copy;
	for (i = 0; i < st->n_nodes; i++)
		elig[i] = online ? online[i]
				 : st->nodes[i].st.state == SCHED_NODE_ONLINE;
	sched_placer_set_eligible(p, elig);
	free(elig);
	*ret = p;
	return 0;
nomem_copy:
	scheduler_state_close(copy);
nomem:
	free(elig);
	free(svc);
	free(copy);
	free(p);
	return -ENOMEM;
}

void scheduler_placer_free(struct sched_placer *p)
{
	if (p == NULL)
		return;
	sched_placer_close(p);
	free(p);
}

int scheduler_placer_place(struct sched_placer *p, uint32_t svc,
			   enum sched_pref pref, uint32_t *ret_node,
			   struct sched_explain *ret_why)
{
	struct sched_explain ex;

	if (svc >= p->st->n_svcs)
		return -EINVAL;
	*ret_node = sched_place(p, svc, pref, SCHED_NONE, &ex);
	if (ret_why != NULL)
		*ret_why = ex;
	return 0;
}

int scheduler_placer_commit(struct sched_placer *p, uint32_t svc,
			    uint32_t node)
{
	struct sched_status *s;

	if (svc >= p->st->n_svcs || (node != SCHED_NONE && node >= p->n_nodes))
		return -EINVAL;
	s = &p->svc[svc];
	sched_placer_account(p, svc, s, -1);
	s->state = SCHED_SVC_STARTED;
	s->node = node;
	s->target = SCHED_NONE;
	sched_placer_account(p, svc, s, 1);
	return 0;
}
