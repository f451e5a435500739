/*
 * sim: the commands of a cmdlist (FORMAT.md, "cmdlist commands").
 *
 * DESIGN: hardware commands act on the simulated nodes at once; admin
 * commands either change the replicated configuration (requested state,
 * added or deleted resources, static stats) or queue a command for the
 * leader, as the API would. Commands this simulator does not model fail
 * loudly, so a scenario never passes by ignoring part of its script.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

#define MAX_ARGS 8

static int queue(struct sim *s, enum sched_cmd_kind kind, const char *sid,
		 const char *node)
{
	struct sim_cmd *c;

	if (s->n_cmds == s->cap_cmds) {
		size_t cap = s->cap_cmds ? s->cap_cmds * 2 : 8;
		void *p = realloc(s->cmds, cap * sizeof(*s->cmds));

		if (p == NULL)
			return -ENOMEM;
		s->cmds = p;
		s->cap_cmds = cap;
	}
	c = &s->cmds[s->n_cmds++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	snprintf(c->sid, sizeof(c->sid), "%s", sid ? sid : "");
	snprintf(c->node, sizeof(c->node), "%s", node);
	return 0;
}

static int node_cmd(struct sim *s, uint32_t n, const char *what,
		    const char *arg)
{
	struct sim_node *node = &s->nodes[n];
	bool on = arg != NULL && strcmp(arg, "on") == 0;

	if (strcmp(what, "power") == 0 && arg != NULL) {
		if (on && !node->power) {
			node->power = node->network = node->agent_up = true;
			sim_logf(s, node->name, "hardware: power on");
		} else if (!on && node->power) {
			sim_power_off(s, n, "power button");
		}
		return 0;
	}
	if (strcmp(what, "network") == 0 && arg != NULL) {
		node->network = on && node->power;
		sim_logf(s, node->name, "hardware: network %s", on ? "on" : "off");
		return 0;
	}
	if (strcmp(what, "hang") == 0 || strcmp(what, "resume") == 0) {
		/* our extension: the agent stops (SIGSTOP) or resumes */
		if (node->power) {
			node->hung = what[0] == 'h';
			sim_logf(s, node->name, "hardware: agent %s",
				 node->hung ? "hung" : "resumed");
		}
		return 0;
	}
	if (strcmp(what, "reboot") == 0 || strcmp(what, "shutdown") == 0) {
		bool reboot = what[0] == 'r';

		if (!node->agent_up) {
			sim_power_off(s, n, what);
			node->power_on_next = reboot;
			return 0;
		}
		node->shutdown = true;
		node->reboot = reboot;
		node->want = scheduler_shutdown_mode(s->policy, reboot);
		sim_logf(s, node->name, "agent: %s requested", what);
		return 0;
	}
	return -EINVAL;
}

static int crm_cmd(struct sim *s, char **a, int n)
{
	if (n != 3 || sim_node_find(s, a[1]) == SCHED_NONE)
		return -EINVAL;
	if (strcmp(a[2], "enable-node-maintenance") == 0)
		return queue(s, SCHED_CMD_MAINT_ENABLE, NULL, a[1]);
	if (strcmp(a[2], "disable-node-maintenance") == 0)
		return queue(s, SCHED_CMD_MAINT_DISABLE, NULL, a[1]);
	return -EINVAL;
}

static int set_request(struct sim *s, uint32_t i, const char *state)
{
	enum sched_request *req = &s->st.svcs[i].request;

	if (strcmp(state, "started") == 0 || strcmp(state, "enabled") == 0)
		*req = SCHED_REQ_STARTED;
	else if (strcmp(state, "stopped") == 0)
		*req = SCHED_REQ_STOPPED;
	else if (strcmp(state, "disabled") == 0)
		*req = SCHED_REQ_DISABLED;
	else if (strcmp(state, "ignored") == 0)
		*req = SCHED_REQ_IGNORED;
	else
		return -EINVAL;
	sim_logf(s, "admin", "%s: requested state %s", s->st.svcs[i].sid, state);
	return 0;
}

static int service_add(struct sim *s, char **a, int n)
{
	json_t *conf;
	int r, k;

	if (n < 4)
		return -EINVAL;
	conf = json_pack("{s:s,s:s}", "node", a[3], "state", "started");
	if (conf == NULL)
		return -ENOMEM;
	for (k = 4; k < n; k++) {
		if (strncmp(a[k], "state=", 6) == 0)
			json_object_set_new(conf, "state", json_string(a[k] + 6));
		else if (strcmp(a[k], "running=0") != 0 &&
			 strcmp(a[k], "running=1") != 0)
			json_object_set_new(conf, "state", json_string(a[k]));
	}
	r = sim_add_service(s, a[1], conf);
	json_decref(conf);
	if (r == 0)
		sim_logf(s, "admin", "%s: added on '%s'", a[1], a[3]);
	return r;
}

static int set_stats(struct sim *s, uint32_t i, char **a, int n)
{
	int k;

	for (k = 3; k + 1 < n; k += 2) {
		double v = strtod(a[k + 1], NULL);

		if (v < 0)
			return -EINVAL;
		if (strcmp(a[k], "maxcpu") == 0)
			s->st.svcs[i].cpu = v;
		else if (strcmp(a[k], "maxmem") == 0)
			s->st.svcs[i].mem = (uint64_t)v * 1024 * 1024;
		else
			return -EINVAL;
	}
	return 0;
}

static int service_cmd(struct sim *s, char **a, int n)
{
	uint32_t i;
	struct sim_res *r;

	if (n >= 3 && strcmp(a[2], "add") == 0)
		return service_add(s, a, n);
	i = n >= 3 ? scheduler_state_find_service(&s->st, a[1]) : SCHED_NONE;
	r = n >= 3 ? sim_res_find(s, a[1]) : NULL;
	if (i == SCHED_NONE || r == NULL)
		return -EINVAL;
	if (n == 3 && strcmp(a[2], "delete") == 0) {
		sim_logf(s, "admin", "%s: deleted", a[1]);
		return scheduler_state_remove_service(&s->st, i);
	}
	if (n == 3 && set_request(s, i, a[2]) == 0)
		return 0;
	if (n == 4 && (strcmp(a[2], "migrate") == 0 ||
		       strcmp(a[2], "relocate") == 0)) {
		sim_logf(s, "admin", "%s: %s to '%s'", a[1], a[2], a[3]);
		return queue(s,
			     a[2][0] == 'm' ? SCHED_CMD_MIGRATE
					    : SCHED_CMD_RELOCATE,
			     a[1], a[3]);
	}
	if (n == 4 && strcmp(a[2], "stop") == 0) {
		/* crm-command stop: request 'stopped' (timeout not modelled) */
		if (s->st.svcs[i].request != SCHED_REQ_STARTED) {
			sim_logf(s, "admin", "%s: already stopped, ignoring",
				 a[1]);
			return 0;
		}
		return set_request(s, i, "stopped");
	}
	if (strcmp(a[2], "lock") == 0 && n <= 4) {
		snprintf(r->lock, sizeof(r->lock), "%s", n == 4 ? a[3] : "backup");
		sim_logf(s, "admin", "%s: lock '%s'", a[1], r->lock);
		return 0;
	}
	if (strcmp(a[2], "unlock") == 0 && n <= 4) {
		r->lock[0] = '\0';
		return 0;
	}
	if (strcmp(a[2], "set-static-stats") == 0)
		return set_stats(s, i, a, n);
	return -EINVAL;
}

int sim_command(struct sim *s, const char *cmd)
{
	char buf[512], *a[MAX_ARGS], *save = NULL, *tok;
	int n = 0;
	uint32_t node;

	if (strlen(cmd) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, cmd);
	for (tok = strtok_r(buf, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (n == MAX_ARGS)
			return -EINVAL;
		a[n++] = tok;
	}
	if (n == 0)
		return -EINVAL;
	if (strcmp(a[0], "delay") == 0)
		return n == 2 ? 0 : -EINVAL;
	if (strcmp(a[0], "crm") == 0)
		return crm_cmd(s, a, n);
	if (strcmp(a[0], "service") == 0)
		return service_cmd(s, a, n);
	if (n < 2)
		return -EINVAL;
	node = sim_node_find(s, a[1]);
	if (node == SCHED_NONE)
		return -EINVAL;
	if (strcmp(a[0], "power") == 0 || strcmp(a[0], "network") == 0)
		return n == 3 ? node_cmd(s, node, a[0], a[2]) : -EINVAL;
	if (strcmp(a[0], "reboot") == 0 || strcmp(a[0], "shutdown") == 0 ||
	    strcmp(a[0], "hang") == 0 || strcmp(a[0], "resume") == 0)
		return n == 2 ? node_cmd(s, node, a[0], NULL) : -EINVAL;
	return -EINVAL; /* not modelled: fail loudly */
}
