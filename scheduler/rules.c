/*
 * scheduler: rules, by name, and their compiled form.
 *
 * DESIGN: users write rules with names (resource ids, node names); the step
 * needs indices and transitive closures. Compiling is O(rules + services)
 * and happens at the start of every step, so rules never go stale when
 * services or nodes come and go. Hard positive rules merge resources into
 * groups; a group inherits the node affinity rule of its members when they
 * agree on one, so that "together" and "on node X" do not fight (Proxmox
 * does the same). Hard negative rules become edges between groups.
 * Resources or nodes that rules name but the state lacks are skipped:
 * rules may name VMs that are not HA resources (yet).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/internal.h"

/* ---- the container ---- */

void scheduler_rules_init(struct sched_rules *rules)
{
	memset(rules, 0, sizeof(*rules));
}

static void rule_free(struct sched_rule *r)
{
	free((void *)r->sids);
	free((void *)r->nodes);
}

void scheduler_rules_close(struct sched_rules *rules)
{
	uint32_t i;

	if (rules == NULL)
		return;
	for (i = 0; i < rules->n_rules; i++)
		rule_free(&rules->rules[i]);
	free(rules->rules);
	memset(rules, 0, sizeof(*rules));
}

static bool rule_valid(const struct sched_rule *r)
{
	size_t idlen = strnlen(r->id, SCHED_NAME_MAX);
	uint32_t i;

	if (idlen == 0 || idlen == SCHED_NAME_MAX || r->n_sids == 0)
		return false;
	for (i = 0; i < r->n_sids; i++) {
		size_t n = strnlen(r->sids[i], SCHED_NAME_MAX);

		if (n == 0 || n == SCHED_NAME_MAX)
			return false;
	}
	for (i = 0; i < r->n_nodes; i++) {
		size_t n = strnlen(r->nodes[i].node, SCHED_NAME_MAX);

		if (n == 0 || n == SCHED_NAME_MAX)
			return false;
	}
	switch (r->kind) {
	case SCHED_RULE_NODE_AFFINITY:
		return r->n_nodes > 0;
	case SCHED_RULE_RESOURCE_AFFINITY:
	case SCHED_RULE_ORDER:
		return r->n_sids >= 2;
	}
	return false;
}

int scheduler_rules_add(struct sched_rules *rules, const struct sched_rule *rule)
{
	struct sched_rule copy = *rule;
	void *p;
	uint32_t i;

	if (!rule_valid(rule))
		return -EINVAL;
	for (i = 0; i < rules->n_rules; i++)
		if (strcmp(rules->rules[i].id, rule->id) == 0)
			return -EEXIST;
	if (rules->n_rules == rules->cap_rules) {
		uint32_t cap = rules->cap_rules ? rules->cap_rules * 2 : 8;

		p = realloc(rules->rules, cap * sizeof(*rules->rules));
		if (p == NULL)
			return -ENOMEM;
		rules->rules = p;
		rules->cap_rules = cap;
	}
	copy.sids = malloc(rule->n_sids * sizeof(*rule->sids));
	copy.nodes = NULL;
	if (rule->n_nodes > 0)
		copy.nodes = malloc(rule->n_nodes * sizeof(*rule->nodes));
	if (copy.sids == NULL || (rule->n_nodes > 0 && copy.nodes == NULL)) {
		rule_free(&copy);
		return -ENOMEM;
	}
	memcpy((void *)copy.sids, rule->sids, rule->n_sids * sizeof(*rule->sids));
	if (rule->n_nodes > 0)
		memcpy((void *)copy.nodes, rule->nodes,
		       rule->n_nodes * sizeof(*rule->nodes));
	rules->rules[rules->n_rules++] = copy;
	return 0;
}

/* ---- compiling ---- */

/* A growable list of (key, value) pairs packed into 64 bits. */
struct pairs {
	uint64_t *v;
	size_t n, cap;
};

static int pairs_add(struct pairs *p, uint32_t key, uint32_t val)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		uint64_t *v = realloc(p->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (uint64_t)key << 32 | val;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts and deduplicates @p into CSR arrays over @n_keys keys. */
static int pairs_csr(struct pairs *p, uint32_t n_keys, uint32_t **ret_start,
		     uint32_t **ret_list)
{
	uint32_t *start = calloc((size_t)n_keys + 1, sizeof(*start));
	uint32_t *list = malloc((p->n ? p->n : 1) * sizeof(*list));
	size_t i, n = 0;

	if (start == NULL || list == NULL) {
		free(start);
		free(list);
		return -ENOMEM;
	}
	if (p->n > 0)
		qsort(p->v, p->n, sizeof(*p->v), cmp_u64);
	for (i = 0; i < p->n; i++) {
		if (i > 0 && p->v[i] == p->v[i - 1])
			continue;
		start[(p->v[i] >> 32) + 1]++;
		list[n++] = (uint32_t)p->v[i];
	}
	for (i = 0; i < n_keys; i++)
		start[i + 1] += start[i];
	*ret_start = start;
	*ret_list = list;
	return 0;
}

static uint32_t uf_find(uint32_t *parent, uint32_t x)
{
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

static bool rule_active(const struct sched_rule *r)
{
	return !r->disabled;
}

/* Resolves the sids of @r into @out (skipping unknown); returns count. */
static uint32_t resolve_sids(const struct sched_state *st,
			     const struct sched_rule *r, uint32_t *out)
{
	uint32_t i, n = 0;

	for (i = 0; i < r->n_sids; i++) {
		uint32_t s = scheduler_state_find_service(st, r->sids[i]);

		if (s != SCHED_NONE)
			out[n++] = s;
	}
	return n;
}

static int compile_na(struct sched_compiled *c, const struct sched_rules *rules,
		      const struct sched_state *st, uint32_t *tmp)
{
	uint32_t i, j;

	c->na = calloc(rules->n_rules ? rules->n_rules : 1, sizeof(*c->na));
	if (c->na == NULL)
		return -ENOMEM;
	for (i = 0; i < rules->n_rules; i++) {
		const struct sched_rule *r = &rules->rules[i];
		struct sched_na *na = &c->na[c->n_na];
		uint32_t k, n;

		if (!rule_active(r) || r->kind != SCHED_RULE_NODE_AFFINITY)
			continue;
		na->nodes = malloc(r->n_nodes * sizeof(*na->nodes));
		na->prio = malloc(r->n_nodes * sizeof(*na->prio));
		if (na->nodes == NULL || na->prio == NULL) {
			free(na->nodes);
			free(na->prio);
			return -ENOMEM;
		}
		na->strict = r->strict;
		na->rule = i;
		for (j = 0; j < r->n_nodes; j++) {
			uint32_t node = scheduler_state_find_node(st, r->nodes[j].node);

			if (node == SCHED_NONE)
				continue;
			na->nodes[na->n] = node;
			na->prio[na->n++] = r->nodes[j].priority;
		}
		n = resolve_sids(st, r, tmp);
		for (k = 0; k < n; k++)
			if (c->svc_na[tmp[k]] == SCHED_NONE)
				c->svc_na[tmp[k]] = c->n_na;
		c->n_na++;
		c->has_rules = true;
	}
	return 0;
}

/* Merges hard positive rules into groups and builds their member lists. */
static int compile_groups(struct sched_compiled *c,
			  const struct sched_rules *rules,
			  const struct sched_state *st, uint32_t *tmp)
{
	uint32_t *parent = malloc((c->n_svcs ? c->n_svcs : 1) * sizeof(*parent));
	struct pairs mem = {0};
	uint32_t i, k;
	int r = -ENOMEM;

	c->grp = malloc((c->n_svcs ? c->n_svcs : 1) * sizeof(*c->grp));
	if (parent == NULL || c->grp == NULL)
		goto out;
	for (i = 0; i < c->n_svcs; i++)
		parent[i] = i;
	for (i = 0; i < rules->n_rules; i++) {
		const struct sched_rule *ru = &rules->rules[i];
		uint32_t n;

		if (!rule_active(ru) || ru->kind != SCHED_RULE_RESOURCE_AFFINITY ||
		    !ru->strict || !ru->positive)
			continue;
		n = resolve_sids(st, ru, tmp);
		for (k = 1; k < n; k++) {
			uint32_t a = uf_find(parent, tmp[0]);
			uint32_t b = uf_find(parent, tmp[k]);

			if (a != b)
				parent[b] = a;
		}
		c->has_rules = true;
	}
	/* dense group ids in service order */
	for (i = 0; i < c->n_svcs; i++)
		c->grp[i] = SCHED_NONE;
	c->n_grp = 0;
	for (i = 0; i < c->n_svcs; i++) {
		uint32_t root = uf_find(parent, i);

		if (c->grp[root] == SCHED_NONE)
			c->grp[root] = c->n_grp++;
		c->grp[i] = c->grp[root];
	}
	for (i = 0; i < c->n_svcs; i++)
		if (pairs_add(&mem, c->grp[i], i) < 0)
			goto out;
	r = pairs_csr(&mem, c->n_grp, &c->grp_start, &c->grp_mem);
out:
	free(mem.v);
	free(parent);
	return r;
}

/* A group whose members name exactly one node affinity rule shares it. */
static void inherit_na(struct sched_compiled *c)
{
	uint32_t g, k;

	for (g = 0; g < c->n_grp; g++) {
		uint32_t b = c->grp_start[g], e = c->grp_start[g + 1];
		uint32_t na = SCHED_NONE;
		bool conflict = false;

		if (e - b < 2)
			continue;
		for (k = b; k < e; k++) {
			uint32_t x = c->svc_na[c->grp_mem[k]];

			if (x == SCHED_NONE)
				continue;
			if (na != SCHED_NONE && na != x)
				conflict = true;
			na = x;
		}
		if (na == SCHED_NONE || conflict)
			continue;
		for (k = b; k < e; k++)
			c->svc_na[c->grp_mem[k]] = na;
	}
}

static int compile_pairs(struct sched_compiled *c,
			 const struct sched_rules *rules,
			 const struct sched_state *st, uint32_t *tmp)
{
	struct pairs neg = {0}, spos = {0}, sneg = {0}, pred = {0};
	uint32_t i, j, k;
	int r = -ENOMEM;

	for (i = 0; i < rules->n_rules; i++) {
		const struct sched_rule *ru = &rules->rules[i];
		uint32_t n;

		if (!rule_active(ru) || ru->kind == SCHED_RULE_NODE_AFFINITY)
			continue;
		n = resolve_sids(st, ru, tmp);
		c->has_rules = c->has_rules || n > 1;
		if (ru->kind == SCHED_RULE_ORDER) {
			for (k = 1; k < n; k++)
				if (pairs_add(&pred, tmp[k], tmp[k - 1]) < 0)
					goto out;
			continue;
		}
		if (ru->strict && ru->positive)
			continue; /* groups */
		for (j = 0; j < n; j++)
			for (k = 0; k < n; k++) {
				uint32_t a = tmp[j], b = tmp[k];
				int q = 0;

				if (a == b)
					continue;
				if (ru->strict) {
					if (c->grp[a] != c->grp[b])
						q = pairs_add(&neg, c->grp[a],
							      c->grp[b]);
				} else if (ru->positive) {
					q = pairs_add(&spos, a, b);
				} else {
					q = pairs_add(&sneg, a, b);
				}
				if (q < 0)
					goto out;
			}
	}
	if (pairs_csr(&neg, c->n_grp, &c->neg_start, &c->neg) < 0 ||
	    pairs_csr(&spos, c->n_svcs, &c->spos_start, &c->spos) < 0 ||
	    pairs_csr(&sneg, c->n_svcs, &c->sneg_start, &c->sneg) < 0 ||
	    pairs_csr(&pred, c->n_svcs, &c->pred_start, &c->pred) < 0)
		goto out;
	r = 0;
out:
	free(neg.v);
	free(spos.v);
	free(sneg.v);
	free(pred.v);
	return r;
}

int sched_compile(struct sched_compiled *c, const struct sched_rules *rules,
		  const struct sched_state *st)
{
	static const struct sched_rules none;
	uint32_t *tmp = NULL;
	uint32_t i, most = 1;
	int r = -ENOMEM;

	memset(c, 0, sizeof(*c));
	if (rules == NULL)
		rules = &none;
	c->n_svcs = st->n_svcs;
	c->n_nodes = st->n_nodes;
	for (i = 0; i < rules->n_rules; i++)
		if (rules->rules[i].n_sids > most)
			most = rules->rules[i].n_sids;
	tmp = malloc(most * sizeof(*tmp));
	c->svc_na = malloc((c->n_svcs ? c->n_svcs : 1) * sizeof(*c->svc_na));
	if (tmp == NULL || c->svc_na == NULL)
		goto fail;
	for (i = 0; i < c->n_svcs; i++)
		c->svc_na[i] = SCHED_NONE;
	if (compile_na(c, rules, st, tmp) < 0 ||
	    compile_groups(c, rules, st, tmp) < 0)
		goto fail;
	inherit_na(c);
	if (compile_pairs(c, rules, st, tmp) < 0)
		goto fail;
	free(tmp);
	return 0;
fail:
	free(tmp);
	sched_compiled_close(c);
	return r;
}

void sched_compiled_close(struct sched_compiled *c)
{
	uint32_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_na; i++) {
		free(c->na[i].nodes);
		free(c->na[i].prio);
	}
	free(c->na);
	free(c->svc_na);
	free(c->grp);
	free(c->grp_start);
	free(c->grp_mem);
	free(c->neg_start);
	free(c->neg);
	free(c->spos_start);
	free(c->spos);
	free(c->sneg_start);
	free(c->sneg);
	free(c->pred_start);
	free(c->pred);
	memset(c, 0, sizeof(*c));
}

/* ---- checking (for the API) ---- */

struct out {
	char *buf;
	size_t len, used;
	int count;
};

static void say(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	o->count++;
	if (o->len == 0 || o->used >= o->len - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->used += (size_t)n;
	if (o->used > o->len - 1)
		o->used = o->len - 1;
}

static void check_names(const struct sched_rules *rules,
			const struct sched_state *st, struct out *o)
{
	uint32_t i, j;

	for (i = 0; i < rules->n_rules; i++) {
		const struct sched_rule *r = &rules->rules[i];

		for (j = 0; j < r->n_sids; j++)
			if (scheduler_state_find_service(st, r->sids[j]) ==
			    SCHED_NONE)
				say(o, "rule '%s': unknown resource '%s'\n",
				    r->id, r->sids[j]);
		for (j = 0; j < r->n_nodes; j++)
			if (scheduler_state_find_node(st, r->nodes[j].node) ==
			    SCHED_NONE)
				say(o, "rule '%s': unknown node '%s'\n", r->id,
				    r->nodes[j].node);
	}
}

static void check_na_twice(const struct sched_rules *rules,
			   const struct sched_state *st, struct out *o)
{
	uint32_t i, j, k, l;

	for (i = 0; i < rules->n_rules; i++) {
		const struct sched_rule *a = &rules->rules[i];

		if (!rule_active(a) || a->kind != SCHED_RULE_NODE_AFFINITY)
			continue;
		for (j = i + 1; j < rules->n_rules; j++) {
			const struct sched_rule *b = &rules->rules[j];

			if (!rule_active(b) || b->kind != SCHED_RULE_NODE_AFFINITY)
				continue;
			for (k = 0; k < a->n_sids; k++)
				for (l = 0; l < b->n_sids; l++)
					if (strcmp(a->sids[k], b->sids[l]) == 0)
						say(o,
						    "resource '%s' is in node "
						    "affinity rules '%s' and "
						    "'%s'; '%s' applies\n",
						    a->sids[k], a->id, b->id,
						    a->id);
		}
	}
	(void)st;
}

static void check_groups(const struct sched_rules *rules,
			 const struct sched_state *st,
			 const struct sched_compiled *c, struct out *o)
{
	uint32_t i, g, k;

	for (i = 0; i < rules->n_rules; i++) {
		const struct sched_rule *r = &rules->rules[i];

		if (!rule_active(r) || r->kind != SCHED_RULE_RESOURCE_AFFINITY ||
		    !r->strict || r->positive)
			continue;
		for (k = 0; k < r->n_sids; k++) {
			uint32_t j2, a = scheduler_state_find_service(st, r->sids[k]);

			for (j2 = k + 1; j2 < r->n_sids && a != SCHED_NONE; j2++) {
				uint32_t b = scheduler_state_find_service(
					st, r->sids[j2]);

				if (b != SCHED_NONE && c->grp[a] == c->grp[b])
					say(o,
					    "rule '%s': '%s' and '%s' must be "
					    "both together and apart; apart is "
					    "ignored\n",
					    r->id, r->sids[k], r->sids[j2]);
			}
		}
	}
	for (g = 0; g < c->n_grp; g++) {
		uint32_t b = c->grp_start[g], e = c->grp_start[g + 1];
		uint32_t na = SCHED_NONE;

		for (k = b; k < e; k++) {
			uint32_t s = c->grp_mem[k];
			uint32_t x = c->svc_na[s];

			if (x == SCHED_NONE)
				continue;
			if (na != SCHED_NONE && na != x) {
				say(o,
				    "resources together with '%s' follow "
				    "node affinity rules '%s' and '%s'\n",
				    st->svcs[s].sid,
				    rules->rules[c->na[na].rule].id,
				    rules->rules[c->na[x].rule].id);
				break;
			}
			na = x;
		}
	}
}

int scheduler_rules_check(const struct sched_rules *rules,
			  const struct sched_state *st, char *buf, size_t len)
{
	struct sched_compiled c;
	struct out o = {buf, len, 0, 0};

	if (len > 0)
		buf[0] = '\0';
	check_names(rules, st, &o);
	check_na_twice(rules, st, &o);
	if (sched_compile(&c, rules, st) < 0)
		return -ENOMEM;
	check_groups(rules, st, &c, &o);
	sched_compiled_close(&c);
	return o.count;
}
