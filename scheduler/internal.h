/* scheduler: private declarations shared by the scheduler's files. */
#ifndef HX_SCHEDULER_INTERNAL_H
#define HX_SCHEDULER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "scheduler/scheduler.h"

/* ---- compiled rules (rules.c) ---- */

/* A node affinity rule resolved to node indices. */
struct sched_na {
	bool strict;
	uint32_t rule; /* index in sched_rules */
	uint32_t n;
	uint32_t *nodes;
	int32_t *prio;
};

/*
 * Rules resolved against one state. Hard positive rules are merged into
 * groups (union-find, transitive); hard negative rules become edges
 * between groups, so "A apart from B" also keeps A apart from everything
 * that must stay with B. Lists are CSR arrays: the entries of x are
 * list[start[x] .. start[x + 1]).
 */
struct sched_compiled {
	uint32_t n_svcs;
	uint32_t n_nodes;
	struct sched_na *na;
	uint32_t n_na;
	uint32_t *svc_na; /* per service: index into na or SCHED_NONE */
	uint32_t n_grp;
	uint32_t *grp;	     /* per service: group id */
	uint32_t *grp_start; /* per group: members */
	uint32_t *grp_mem;
	uint32_t *neg_start; /* per group: groups to stay apart from */
	uint32_t *neg;
	uint32_t *spos_start; /* per service: soft positive partners */
	uint32_t *spos;
	uint32_t *sneg_start; /* per service: soft negative partners */
	uint32_t *sneg;
	uint32_t *pred_start; /* per service: services ordered before it */
	uint32_t *pred;
	bool has_rules; /* any enabled rule resolved */
};

int sched_compile(struct sched_compiled *c, const struct sched_rules *rules,
		  const struct sched_state *st);
void sched_compiled_close(struct sched_compiled *c);

/* ---- placement (placement.c) ---- */

/*
 * Placement over a state's configuration, a status array (the footprints
 * of all services) and the set of eligible nodes. Load per node is kept
 * incrementally with sched_placer_account().
 */
struct sched_placer {
	const struct sched_state *st;
	const struct sched_compiled *rc;
	struct sched_status *svc; /* borrowed (step) or owned (public) */
	uint32_t n_nodes;
	bool *eligible;
	uint32_t *live; /* eligible nodes, ascending */
	uint32_t n_live;
	uint32_t considered; /* nodes not gone */
	uint32_t *rank;	     /* node name order, for ties */
	uint32_t *count;     /* services counted per node */
	double *cpu;	     /* demand placed per node */
	double *mem;
	/* the same in name-rank order, for the full scan (scan.c) */
	uint32_t *by_rank; /* rank -> node */
	uint32_t *f_cnt;   /* count, UINT32_MAX when not eligible */
	double *f_cpu, *f_mem;
	double *f_invc, *f_invm; /* 1 / capacity, 0 when unknown */
	double *f_capm;		 /* memory capacity: +inf unknown, -inf not
				  * eligible */
	/* scratch, valid for one call (stamped with epoch) */
	uint32_t epoch;
	uint32_t *st_na, *st_neg, *st_pos, *st_soft, *st_try;
	int32_t *na_prio;
	uint8_t *neg_flags;
	uint64_t *pos_w;
	uint32_t *soft_pen; /* soft negative partners on the node */
	uint32_t *soft_pw;  /* soft positive partners on the node */
	uint32_t *cand;
	uint32_t *pos_list; /* nodes with a positive weight */
	uint32_t *block;    /* nodes masked for one scan */
	/* ownership for the public API */
	struct sched_state *own_st;
	struct sched_compiled own_rc;
	bool owns;
};

int sched_placer_init(struct sched_placer *p, const struct sched_state *st,
		      const struct sched_compiled *rc,
		      struct sched_status *svc);
void sched_placer_close(struct sched_placer *p);
/* Recomputes eligible[] and live[] from @elig (n_nodes entries). */
void sched_placer_set_eligible(struct sched_placer *p, const bool *elig);
/* Adds (sign 1) or removes (sign -1) service @i's status @s from the load. */
void sched_placer_account(struct sched_placer *p, uint32_t i,
			  const struct sched_status *s, int sign);
/* Chooses a node; @cur overrides the current node (SCHED_NONE: status). */
uint32_t sched_place(struct sched_placer *p, uint32_t svc, enum sched_pref pref,
		     uint32_t cur, struct sched_explain *ex);
/* Returns -1 when service @svc may move to @node, else the sched_filter
 * that forbids it. */
int sched_place_check(struct sched_placer *p, uint32_t svc, uint32_t node);

/* Refreshes the rank-ordered mirror of node @n. */
void sched_placer_mirror(struct sched_placer *p, uint32_t n);

/*
 * Static-mode score of a node with @cpu and @mem in use (demand included)
 * and inverse capacities: *q1 the larger of the CPU and memory fractions,
 * *q2 their sum, both quantised to 2^-32 so that equal loads tie exactly
 * whatever the arithmetic path.
 */
void sched_static_key(double cpu, double mem, double invc, double invm,
		      uint64_t *q1, uint64_t *q2);

/* A full scan over all eligible nodes but @block (scan.c). */
struct sched_scan {
	const uint32_t *block; /* nodes to skip (may repeat) */
	uint32_t n_block;
	uint32_t self[2];    /* nodes already counting the service */
	double cpu, mem;     /* the service's demand */
	uint32_t cap_fail;   /* out: eligible nodes without room */
	uint64_t k1, k2;     /* out: key of the best node */
};
/* Returns the best node by (load, name) or SCHED_NONE. */
uint32_t sched_scan_best(struct sched_placer *p, struct sched_scan *sc);

/* Nodes a status occupies: *src where it is, *tgt where it goes. Returns
 * true when it counts as load. */
bool sched_footprint(const struct sched_status *s, uint32_t *src,
		     uint32_t *tgt);

/* ---- the step (step.c, service.c) ---- */

enum { SCHED_PENDING_NONE, SCHED_PENDING_MIGRATE, SCHED_PENDING_RELOCATE };

struct sched_work {
	const struct sched_state *st;
	const struct sched_input *in;
	uint64_t now;
	struct sched_plan *plan;
	struct sched_compiled rc;
	struct sched_placer pl;
	struct sched_status *svc;
	struct sched_node_status *node;
	uint8_t *svc_dirty;
	uint8_t *node_dirty;
	uint8_t *pending;     /* per service: SCHED_PENDING_* */
	uint32_t *pending_to; /* per service: command target */
	const struct sched_result **res; /* per service: last result */
	uint32_t *order;		 /* processing order */
	uint64_t next_uid;
	int err; /* first allocation failure */
};

bool sched_node_usable(const struct sched_work *w, uint32_t n);
void sched_emit(struct sched_work *w, enum sched_reason r, uint32_t svc,
		uint32_t node, uint32_t from_state, uint32_t to_state,
		uint32_t from_node, uint32_t to_node, uint64_t value);
/* Moves service @i to a new state/node/target with a fresh request id. */
void sched_svc_set(struct sched_work *w, uint32_t i, enum sched_svc_state to,
		   uint32_t node, uint32_t target, enum sched_reason why,
		   const struct sched_explain *ex);
/* Runs service @i's state machine once; true if its status changed. */
bool sched_svc_next(struct sched_work *w, uint32_t i);

#endif /* HX_SCHEDULER_INTERNAL_H */
