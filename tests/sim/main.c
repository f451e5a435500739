/*
 * hx-sim: runs a Proxmox VE HA regression scenario directory through the
 * real scheduler and fencing code on a virtual clock.
 *
 *   hx-sim [--final] [--seed N] [--legacy] [--why SID] [--chaos N] DIR
 *
 * Without --final it prints the event log; with --final only the FINAL
 * block of FORMAT.md. --chaos N appends N random fault batches (network
 * and power cuts, reboots, shutdowns, hung agents; seeded by --seed) and a
 * final one that brings every node back. Exit status: 0 done, 1 bad input or failure,
 * 3 a safety invariant was violated (a resource started while running
 * elsewhere, or recovered while its node still ran it).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

static void print_set(struct sim *s, FILE *out, const char *label,
		      const bool *set)
{
	uint32_t n;
	const char *sep = "";

	fprintf(out, "%s=", label);
	for (n = 0; n < s->n_nodes; n++) {
		if (!set[n])
			continue;
		fprintf(out, "%s%s", sep, s->nodes[n].name);
		sep = ",";
	}
	fprintf(out, "%s\n", *sep ? "" : "none");
}

void sim_print_final(struct sim *s, FILE *out)
{
	uint32_t i, n;

	for (i = 0; i < s->st.n_svcs; i++) {
		const struct sched_service *c = &s->st.svcs[i];
		const struct sim_res *r = sim_res_find(s, c->sid);
		uint32_t on = r ? r->running_on : SCHED_NONE;

		fprintf(out, "service %s crm_state=%s node=%s running_on=%s\n",
			c->sid, scheduler_svc_state_str(c->st.state),
			c->st.node < s->n_nodes ? s->nodes[c->st.node].name
						: "-",
			on < s->n_nodes ? s->nodes[on].name : "-");
	}
	for (n = 0; n < s->n_nodes; n++)
		fprintf(out, "node %s power=%s network=%s ha_state=%s\n",
			s->nodes[n].name, s->nodes[n].power ? "on" : "off",
			s->nodes[n].network ? "on" : "off",
			scheduler_node_state_str(s->st.nodes[n].st.state));
	print_set(s, out, "fenced_nodes", s->fenced);
	print_set(s, out, "watchdog_resets", s->wd_reset);
	fprintf(out, "last_master=%s\n",
		s->last_master < s->n_nodes ? s->nodes[s->last_master].name
					    : "none");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: hx-sim [--final] [--seed N] [--legacy] [--why SID] "
		   "[--chaos N] DIR\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"final", no_argument, NULL, 'f'},
		{"seed", required_argument, NULL, 's'},
		{"legacy", no_argument, NULL, 'l'},
		{"why", required_argument, NULL, 'w'},
		{"chaos", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sim s;
	const char *why = NULL;
	bool final = false, legacy = false;
	unsigned long chaos = 0;
	char *end;
	int c, r;

	memset(&s, 0, sizeof(s));
	scheduler_state_init(&s.st);
	scheduler_rules_init(&s.rules);
	scheduler_plan_init(&s.plan);
	fencing_config_default(&s.fc);
	while ((c = getopt_long(argc, argv, "fs:lw:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			final = true;
			break;
		case 's':
			errno = 0;
			s.seed = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0') {
				fprintf(stderr, "hx-sim: bad seed '%s'\n", optarg);
				return 1;
			}
			break;
		case 'l':
			legacy = true;
			break;
		case 'w':
			why = optarg;
			break;
		case 'c':
			errno = 0;
			chaos = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || chaos > 10000) {
				fprintf(stderr, "hx-sim: bad chaos '%s'\n",
					optarg);
				return 1;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	s.log = final ? NULL : stdout;
	r = sim_load(&s, argv[optind], legacy);
	s.prng = s.seed;
	if (r == 0 && chaos > 0)
		r = sim_chaos(&s, (unsigned)chaos);
	if (r == 0)
		r = sim_run(&s);
	if (r == 0 && final)
		sim_print_final(&s, stdout);
	if (r == 0 && why != NULL) {
		uint32_t i = scheduler_state_find_service(&s.st, why);
		char buf[1024];

		if (i == SCHED_NONE) {
			fprintf(stderr, "hx-sim: no service '%s'\n", why);
			r = -ENOENT;
		} else {
			scheduler_explain_format(&s.st, i, buf, sizeof(buf));
			fputs(buf, stdout);
		}
	}
	if (r == 0 && s.violations > 0)
		fprintf(stderr, "hx-sim: %u safety violation(s)\n",
			s.violations);
	c = r < 0 ? 1 : s.violations > 0 ? 3 : 0;
	sim_free(&s);
	return c;
}
