/*
 * scheduler: the placement engine's storage: per-node load kept
 * incrementally, the eligible node set, node name ranks, and the public
 * placer API over a snapshot of a state.
 *
 * DESIGN: every per-node quantity is kept twice: indexed by node for the
 * filters and rules, and mirrored in name-rank order for scan.c, whose
 * full scan then reads a few dense arrays front to back and breaks ties by
 * order alone. The mirrors encode eligibility (count UINT32_MAX, memory
 * capacity -inf) so the scan needs no other lookups.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/internal.h"

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
	uint32_t i;

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
	p->block = calloc(3 * n, sizeof(*p->block));
	p->by_rank = calloc(n, sizeof(*p->by_rank));
	p->f_cnt = calloc(n, sizeof(*p->f_cnt));
	p->f_cpu = calloc(n, sizeof(*p->f_cpu));
	p->f_mem = calloc(n, sizeof(*p->f_mem));
	p->f_invc = calloc(n, sizeof(*p->f_invc));
	p->f_invm = calloc(n, sizeof(*p->f_invm));
	p->f_capm = calloc(n, sizeof(*p->f_capm));
	if (!p->eligible || !p->live || !p->rank || !p->count || !p->cpu ||
	    !p->mem || !p->st_na || !p->st_neg || !p->st_pos || !p->st_soft ||
	    !p->st_try || !p->na_prio || !p->neg_flags || !p->pos_w ||
	    !p->soft_pen || !p->soft_pw || !p->cand || !p->pos_list ||
	    !p->block || !p->by_rank || !p->f_cnt || !p->f_cpu || !p->f_mem ||
	    !p->f_invc || !p->f_invm || !p->f_capm) {
		sched_placer_close(p);
		return -ENOMEM;
	}
	for (i = 0; i < st->n_nodes; i++)
		p->by_rank[i] = i;
	qsort_r(p->by_rank, st->n_nodes, sizeof(*p->by_rank), cmp_rank,
		(void *)st);
	for (i = 0; i < st->n_nodes; i++) {
		const struct sched_node *node = &st->nodes[p->by_rank[i]];

		p->rank[p->by_rank[i]] = i;
		p->f_invc[i] = node->cpu > 0 ? 1.0 / node->cpu : 0;
		p->f_invm[i] = node->mem > 0 ? 1.0 / (double)node->mem : 0;
	}
	for (i = 0; i < st->n_svcs; i++)
		sched_placer_account(p, i, &svc[i], 1);
	for (i = 0; i < st->n_nodes; i++)
		sched_placer_mirror(p, i);
	return 0;
}

void sched_placer_mirror(struct sched_placer *p, uint32_t n)
{
	const struct sched_node *node = &p->st->nodes[n];
	uint32_t r = p->rank[n];

	p->f_cnt[r] = p->eligible[n] ? p->count[n] : UINT32_MAX;
	p->f_cpu[r] = p->cpu[n];
	p->f_mem[r] = p->mem[n];
	if (!p->eligible[n])
		p->f_capm[r] = -INFINITY;
	else if (p->st->crs == SCHED_CRS_STATIC && node->mem > 0)
		p->f_capm[r] = (double)node->mem;
	else
		p->f_capm[r] = INFINITY;
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
	free(p->block);
	free(p->by_rank);
	free(p->f_cnt);
	free(p->f_cpu);
	free(p->f_mem);
	free(p->f_invc);
	free(p->f_invm);
	free(p->f_capm);
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
		sched_placer_mirror(p, i);
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
		if (p->f_cnt != NULL)
			sched_placer_mirror(p, at[k]);
	}
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
