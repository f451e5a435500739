/* sim: hx-sim, a deterministic HA simulator over the real scheduler. */
#ifndef HX_TESTS_SIM_SIM_H
#define HX_TESTS_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "fencing/fencing.h"
#include "scheduler/scheduler.h"

#define SIM_TICK_MS 1000ull	  /* one agent and one leader iteration */
#define SIM_FIRST_BATCH_MS 20000ull
#define SIM_BATCH_MS 100000ull
#define SIM_TAIL_MS 600000ull	  /* run this long after the last batch */
#define SIM_ELECTION_MS 2000ull	  /* raft election after leader loss */
#define SIM_MAX_MS 100000000ull	  /* hard stop */
#define SIM_LOCK_MAX 32

/* Ground truth about one resource (a VM, CT or failing test resource). */
struct sim_res {
	char sid[SCHED_NAME_MAX];
	uint32_t running_on;	   /* node index or SCHED_NONE */
	char lock[SIM_LOCK_MAX];   /* guest config lock, "" = none */
	bool fa;		   /* fa: resource (see FORMAT.md) */
	unsigned fa_start, fa_migrate, fa_node; /* digits b, c, f */
	bool fa_nostop;		   /* digit d */
	unsigned start_fails, migrate_fails; /* failures so far */
	bool has_result;	   /* last result reported by an agent */
	uint64_t result_uid;
	int result_code;
	uint64_t *done_uid; /* per node: last request executed (agent memory) */
};

/* One node: hardware, its agent's memory and its persisted report. */
struct sim_node {
	char name[SCHED_NAME_MAX];
	bool power, network;
	bool agent_up;
	bool fence_agent;	   /* has an external fence device */
	struct fencing_lease lease;
	bool wd_armed;
	uint64_t wd_fed_ms;
	bool shutdown;		   /* shutdown or reboot requested */
	bool reboot;
	enum sched_agent_mode want; /* mode while shutting down */
	enum sched_agent_mode mode; /* reported, survives the agent */
	bool refused;		   /* last renewal was refused */
	bool power_on_next;	   /* reboot: power on at the next tick */
	bool fence_pending;	   /* fence agent about to power it off */
	bool hung;		   /* agent stopped (SIGSTOP), VMs go on */
};

/* An admin command waiting for a leader, by names. */
struct sim_cmd {
	enum sched_cmd_kind kind;
	char sid[SCHED_NAME_MAX];
	char node[SCHED_NAME_MAX];
};

struct sim {
	struct sched_state st; /* the replicated HA state and config */
	struct sched_rules rules;
	struct fencing_config fc;
	enum sched_shutdown_policy policy;
	struct sim_node *nodes;
	uint32_t n_nodes;
	struct sim_res *res; /* one per resource ever configured */
	uint32_t n_res;
	struct sim_cmd *cmds;
	size_t n_cmds, cap_cmds;
	/* leadership (raft in reality) */
	uint32_t leader;
	uint64_t elected_ms;
	uint64_t leader_lost_ms;
	uint32_t term;
	uint32_t last_master;
	struct fencing_peer *peers; /* the leader's records */
	/* time and script */
	uint64_t now_ms;
	json_t *cmdlist;
	size_t next_batch;
	uint64_t next_batch_ms;
	uint64_t last_batch_ms;
	/* outcome */
	bool *fenced;
	bool *wd_reset;
	/* options */
	uint64_t seed;
	uint64_t prng;
	FILE *log; /* NULL: quiet */
	unsigned violations; /* safety invariants broken */
	struct sched_plan plan;
};

/* load.c: reads a scenario directory (FORMAT.md). Returns 0 or -errno
 * with a message on stderr. @legacy reads legacy-groups/ instead of
 * rules_config and service_config. */
int sim_load(struct sim *s, const char *dir, bool legacy);
void sim_free(struct sim *s);
/* Adds a service from its JSON config (shared with 'service add'). */
int sim_add_service(struct sim *s, const char *sid, json_t *conf);
uint32_t sim_node_find(const struct sim *s, const char *name);
struct sim_res *sim_res_find(struct sim *s, const char *sid);

/* world.c: the clock, hardware, leader election and the leader step. */
int sim_run(struct sim *s);
void sim_logf(struct sim *s, const char *who, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sim_power_off(struct sim *s, uint32_t n, const char *why);
bool sim_connected(const struct sim *s, uint32_t a, uint32_t b);
/* cmd.c: one command of a cmdlist batch. Returns 0 or -EINVAL. */
int sim_command(struct sim *s, const char *cmd);

/* chaos.c: appends @batches random hardware batches to the cmdlist,
 * then one that brings every node back. */
int sim_chaos(struct sim *s, unsigned batches);
/* chaos.c: safety checks after every tick (anti-affinity of running
 * resources); counts violations. */
void sim_check(struct sim *s);
uint64_t sim_rand(struct sim *s);

/* agent.c: one iteration of node @n's agent. */
void sim_agent_iter(struct sim *s, uint32_t n);

/* main.c */
void sim_print_final(struct sim *s, FILE *out);

#endif /* HX_TESTS_SIM_SIM_H */
