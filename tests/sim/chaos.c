/*
 * sim: random faults and the safety checks run after every tick.
 *
 * DESIGN: chaos appends batches to the scenario's own script, so it runs
 * over every scenario's nodes, resources and rules: network cuts, power
 * cuts, reboots, clean shutdowns and hung agents (the agent stops, its
 * VMs go on: only the watchdog can stop them). Safety must hold no matter
 * what: a resource never starts while it runs elsewhere, is never
 * recovered while its old node still runs it (agent.c, world.c), and two
 * resources of a hard negative rule never run on one node (here).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "scheduler/internal.h"
#include "tests/sim/sim.h"

static const char *const faults[][2] = {
	{"network", " off"}, {"network", " on"}, {"power", " off"},
	{"power", " on"},    {"reboot", ""},	 {"shutdown", ""},
	{"hang", ""},	     {"resume", ""},
};

int sim_chaos(struct sim *s, unsigned batches)
{
	json_t *b;
	char cmd[128];
	unsigned k, j, n;

	for (k = 0; k < batches; k++) {
		b = json_array();
		if (b == NULL)
			return -ENOMEM;
		for (j = 0; j < 1 + sim_rand(s) % 2; j++) {
			const char *const *f =
				faults[sim_rand(s) % HX_ARRAY_SIZE(faults)];

			n = (unsigned)(sim_rand(s) % s->n_nodes);
			snprintf(cmd, sizeof(cmd), "%s %s%s", f[0],
				 s->nodes[n].name, f[1]);
			json_array_append_new(b, json_string(cmd));
		}
		json_array_append_new(s->cmdlist, b);
	}
	b = json_array();
	for (n = 0; b != NULL && n < s->n_nodes; n++) {
		snprintf(cmd, sizeof(cmd), "resume %s", s->nodes[n].name);
		json_array_append_new(b, json_string(cmd));
		snprintf(cmd, sizeof(cmd), "power %s on", s->nodes[n].name);
		json_array_append_new(b, json_string(cmd));
		snprintf(cmd, sizeof(cmd), "network %s on", s->nodes[n].name);
		json_array_append_new(b, json_string(cmd));
	}
	if (b == NULL)
		return -ENOMEM;
	json_array_append_new(s->cmdlist, b);
	return 0;
}

static uint32_t running_on(struct sim *s, uint32_t svc)
{
	struct sim_res *r = sim_res_find(s, s->st.svcs[svc].sid);

	return r ? r->running_on : SCHED_NONE;
}

void sim_check(struct sim *s)
{
	struct sched_compiled c;
	uint32_t i, k, m;

	if (s->rules.n_rules == 0 || sched_compile(&c, &s->rules, &s->st) < 0)
		return;
	for (i = 0; i < s->st.n_svcs; i++) {
		uint32_t on = running_on(s, i), g = c.grp[i];

		if (on == SCHED_NONE)
			continue;
		for (k = c.neg_start[g]; k < c.neg_start[g + 1]; k++) {
			uint32_t h = c.neg[k];

			for (m = c.grp_start[h]; m < c.grp_start[h + 1]; m++) {
				uint32_t o = c.grp_mem[m];

				if (o <= i || running_on(s, o) != on)
					continue;
				sim_logf(s, "CHECK",
					 "VIOLATION: %s and %s (apart) both "
					 "run on '%s'",
					 s->st.svcs[i].sid, s->st.svcs[o].sid,
					 s->nodes[on].name);
				s->violations++;
			}
		}
	}
	sched_compiled_close(&c);
}
