/*
 * sim: the simulated world: a virtual clock, node hardware (power, network,
 * watchdog), quorum and leader election, and the leader's step, which runs
 * the real fencing verdicts and the real scheduler.
 *
 * DESIGN: time advances in ticks of SIM_TICK_MS. In each tick the script
 * may apply a batch of commands, watchdogs fire, leadership is settled,
 * the leader runs one scheduler step, then every node's agent runs one
 * iteration in name order. The network is one segment: the nodes with
 * power and network form the only partition that can hold quorum (more
 * than half of all nodes); a node without network is alone. Leader
 * election picks among the partition's running agents after
 * SIM_ELECTION_MS, preferring nodes not being fenced, the first by name or,
 * with a seed, a pseudo-random one: so a run is a pure function of the
 * directory and the seed.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "tests/sim/sim.h"

void sim_logf(struct sim *s, const char *who, const char *fmt, ...)
{
	va_list ap;

	if (s->log == NULL)
		return;
	fprintf(s->log, "%6" PRIu64 ".%03" PRIu64 " %-8s ", s->now_ms / 1000,
		s->now_ms % 1000, who);
	va_start(ap, fmt);
	vfprintf(s->log, fmt, ap);
	va_end(ap);
	fputc('\n', s->log);
}

static bool member(const struct sim *s, uint32_t n)
{
	return s->nodes[n].power && s->nodes[n].network;
}

static bool quorate(const struct sim *s)
{
	uint32_t n, k = 0;

	for (n = 0; n < s->n_nodes; n++)
		k += member(s, n);
	return k > s->n_nodes / 2;
}

bool sim_connected(const struct sim *s, uint32_t a, uint32_t b)
{
	return member(s, a) && member(s, b) && quorate(s);
}

void sim_power_off(struct sim *s, uint32_t n, const char *why)
{
	struct sim_node *node = &s->nodes[n];
	uint32_t i;

	node->power = false;
	node->network = false;
	node->agent_up = false;
	memset(&node->lease, 0, sizeof(node->lease));
	node->wd_armed = false;
	node->shutdown = false;
	node->fence_pending = false;
	node->refused = false;
	node->hung = false;
	for (i = 0; i < s->n_res; i++) {
		if (s->res[i].running_on == n)
			s->res[i].running_on = SCHED_NONE;
		s->res[i].done_uid[n] = 0;
	}
	sim_logf(s, node->name, "hardware: power off (%s)", why);
}

static void watchdogs(struct sim *s)
{
	uint32_t n;

	for (n = 0; n < s->n_nodes; n++) {
		struct sim_node *node = &s->nodes[n];

		if (node->power && node->power_on_next) {
			node->power_on_next = false;
		} else if (!node->power && node->power_on_next) {
			node->power_on_next = false;
			node->power = node->network = node->agent_up = true;
			sim_logf(s, node->name, "hardware: power on (reboot)");
		}
		if (node->power && node->fence_pending) {
			sim_power_off(s, n, "fence agent");
			fencing_peer_confirm(&s->peers[n], s->now_ms);
			continue;
		}
		if (!node->power || !node->wd_armed ||
		    s->now_ms < node->wd_fed_ms + s->fc.watchdog_ms)
			continue;
		sim_power_off(s, n, "watchdog reset");
		s->wd_reset[n] = true;
		s->fenced[n] = true;
	}
}

uint64_t sim_rand(struct sim *s)
{
	/* splitmix64: small, seedable, identical everywhere */
	uint64_t z = (s->prng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void elect(struct sim *s)
{
	uint32_t n, cand[2][64], nc[2] = {0, 0}, pick;
	int pool;

	for (n = 0; n < s->n_nodes && n < 64; n++) {
		bool fencing = s->st.nodes[n].st.state == SCHED_NODE_FENCE;

		if (member(s, n) && s->nodes[n].agent_up && !s->nodes[n].hung)
			cand[fencing][nc[fencing]++] = n;
	}
	pool = nc[0] > 0 ? 0 : 1;
	if (nc[pool] == 0)
		return;
	pick = s->seed == 0 ? 0 : (uint32_t)(sim_rand(s) % nc[pool]);
	s->leader = cand[pool][pick];
	s->elected_ms = s->now_ms;
	s->term++;
	s->last_master = s->leader;
	memset(s->peers, 0, s->n_nodes * sizeof(*s->peers));
	sim_logf(s, s->nodes[s->leader].name, "leader: elected (term %u)",
		 s->term);
}

static void leadership(struct sim *s)
{
	uint32_t l = s->leader;

	if (l != SCHED_NONE &&
	    (!member(s, l) || !quorate(s) || !s->nodes[l].agent_up ||
	     s->nodes[l].hung)) {
		sim_logf(s, s->nodes[l].name, "leader: lost (term %u)", s->term);
		s->leader = SCHED_NONE;
		s->leader_lost_ms = s->now_ms;
	}
	if (s->leader == SCHED_NONE && quorate(s) &&
	    s->now_ms >= s->leader_lost_ms + SIM_ELECTION_MS)
		elect(s);
}

/* ---- the leader's step ---- */

static const char *const removable_locks[] = {
	"backup",   "mounted",	       "migrate",    "clone",	  "rollback",
	"snapshot", "snapshot-delete", "suspending", "suspended",
};

static void recovered(struct sim *s, const struct sched_event *ev)
{
	struct sim_res *r = sim_res_find(s, s->st.svcs[ev->svc].sid);
	size_t k;

	if (r == NULL)
		return;
	if (r->running_on != SCHED_NONE && r->running_on == ev->from_node) {
		sim_logf(s, "CHECK", "VIOLATION: %s recovered while running on "
				     "'%s'",
			 r->sid, s->nodes[ev->from_node].name);
		s->violations++;
	}
	for (k = 0; r->lock[0] && k < HX_ARRAY_SIZE(removable_locks); k++)
		if (strcmp(r->lock, removable_locks[k]) == 0) {
			sim_logf(s, "leader", "removed leftover lock '%s' of %s",
				 r->lock, r->sid);
			r->lock[0] = '\0';
		}
}

static void log_events(struct sim *s, const struct fencing_decision *dec)
{
	char buf[512], ev_buf[256];
	size_t k;

	for (k = 0; k < s->plan.n_events; k++) {
		const struct sched_event *ev = &s->plan.events[k];
		bool ack = ev->svc == SCHED_NONE && ev->node != SCHED_NONE &&
			   (ev->reason == SCHED_R_FENCE_LEASE ||
			    ev->reason == SCHED_R_FENCE_AGENT ||
			    ev->reason == SCHED_R_FENCE_NO_SERVICES);

		scheduler_event_format(&s->st, ev, buf, sizeof(buf));
		sim_logf(s, "leader", "%s", buf);
		if (ack) {
			fencing_decision_format(&dec[ev->node], ev_buf,
						sizeof(ev_buf));
			sim_logf(s, "leader", "fence evidence for '%s': %s",
				 s->nodes[ev->node].name, ev_buf);
			s->fenced[ev->node] = true;
		}
		if (ev->svc == SCHED_NONE && ev->node != SCHED_NONE &&
		    ev->reason == SCHED_R_FENCE_NEEDED &&
		    s->nodes[ev->node].fence_agent && s->nodes[ev->node].power)
			s->nodes[ev->node].fence_pending = true;
		if (ev->svc != SCHED_NONE && ev->reason == SCHED_R_RECOVERED)
			recovered(s, ev);
	}
}

static size_t take_cmds(struct sim *s, struct sched_cmd *out)
{
	size_t k, n = 0;

	for (k = 0; k < s->n_cmds; k++) {
		const struct sim_cmd *c = &s->cmds[k];
		struct sched_cmd *o = &out[n];

		o->kind = c->kind;
		o->node = sim_node_find(s, c->node);
		o->svc = c->sid[0] ? scheduler_state_find_service(&s->st, c->sid)
				   : SCHED_NONE;
		if (o->node == SCHED_NONE ||
		    (c->sid[0] && o->svc == SCHED_NONE)) {
			sim_logf(s, "leader", "ignoring command for '%s' '%s'",
				 c->sid, c->node);
			continue;
		}
		n++;
	}
	s->n_cmds = 0;
	return n;
}

static int leader_step(struct sim *s)
{
	uint32_t n, i, nn = s->st.n_nodes, ns = s->st.n_svcs;
	struct sched_node_obs *obs = calloc(nn ? nn : 1, sizeof(*obs));
	struct fencing_decision *dec = calloc(nn ? nn : 1, sizeof(*dec));
	struct sched_result *res = calloc(ns ? ns : 1, sizeof(*res));
	struct sched_cmd *cmds = calloc(s->n_cmds ? s->n_cmds : 1, sizeof(*cmds));
	struct sched_input in = {0};
	int r = -ENOMEM;

	if (!obs || !dec || !res || !cmds)
		goto out;
	for (n = 0; n < nn; n++) {
		fencing_peer_check(&s->fc, &s->peers[n], s->elected_ms,
				   s->now_ms, &dec[n]);
		obs[n].online = dec[n].verdict == FENCING_ALIVE;
		obs[n].renewed = s->peers[n].renewed;
		obs[n].expired = dec[n].verdict != FENCING_ALIVE;
		obs[n].fence_done = dec[n].verdict == FENCING_SAFE ||
				    dec[n].verdict == FENCING_CONFIRMED;
		obs[n].fence_by_agent = dec[n].verdict == FENCING_CONFIRMED;
		obs[n].lease_age_ms = dec[n].lease_age_ms;
		obs[n].mode = s->nodes[n].mode;
	}
	for (i = 0; i < ns; i++) {
		struct sim_res *sr = sim_res_find(s, s->st.svcs[i].sid);

		if (sr == NULL || !sr->has_result)
			continue;
		res[in.n_results].svc = i;
		res[in.n_results].uid = sr->result_uid;
		res[in.n_results++].code = sr->result_code;
	}
	in.nodes = obs;
	in.results = res;
	in.cmds = cmds;
	in.n_cmds = take_cmds(s, cmds);
	r = scheduler_step(&s->st, &s->rules, &in, s->now_ms, &s->plan);
	if (r < 0)
		goto out;
	log_events(s, dec);
	r = scheduler_plan_apply(&s->st, &s->plan);
out:
	free(cmds);
	free(res);
	free(dec);
	free(obs);
	return r;
}

/* ---- the script ---- */

static uint64_t delay_of(const char *cmd)
{
	unsigned long long sec;

	if (sscanf(cmd, "delay %llu", &sec) != 1)
		return 0;
	return sec;
}

static int batch(struct sim *s)
{
	json_t *b = json_array_get(s->cmdlist, s->next_batch++), *c;
	uint64_t next = s->now_ms + SIM_BATCH_MS;
	size_t k;

	if (!json_is_array(b)) {
		fprintf(stderr, "hx-sim: cmdlist: batch %zu is not a list\n",
			s->next_batch - 1);
		return -EINVAL;
	}
	json_array_foreach(b, k, c)
	{
		const char *cmd = json_string_value(c);
		uint64_t d;

		if (cmd == NULL || sim_command(s, cmd) < 0) {
			fprintf(stderr, "hx-sim: cmdlist: bad command '%s'\n",
				cmd ? cmd : "(not a string)");
			return -EINVAL;
		}
		d = delay_of(cmd);
		if (d > 20)
			next = s->now_ms + ((d + 19) / 20) * 20000 + 80000;
	}
	s->last_batch_ms = s->now_ms;
	s->next_batch_ms = next;
	return 0;
}

int sim_run(struct sim *s)
{
	uint32_t n;
	int r;

	s->leader = SCHED_NONE;
	s->last_master = SCHED_NONE;
	s->next_batch_ms = SIM_FIRST_BATCH_MS;
	s->peers = calloc(s->n_nodes, sizeof(*s->peers));
	s->fenced = calloc(s->n_nodes, sizeof(*s->fenced));
	s->wd_reset = calloc(s->n_nodes, sizeof(*s->wd_reset));
	if (!s->peers || !s->fenced || !s->wd_reset)
		return -ENOMEM;
	for (s->now_ms = 0; s->now_ms < SIM_MAX_MS; s->now_ms += SIM_TICK_MS) {
		bool more = s->next_batch < json_array_size(s->cmdlist);

		if (!more && s->now_ms >= s->last_batch_ms + SIM_TAIL_MS)
			return 0;
		if (more && s->now_ms >= s->next_batch_ms) {
			r = batch(s);
			if (r < 0)
				return r;
		}
		watchdogs(s);
		leadership(s);
		if (s->leader != SCHED_NONE) {
			r = leader_step(s);
			if (r < 0) {
				fprintf(stderr, "hx-sim: scheduler step: %s\n",
					strerror(-r));
				return r;
			}
		}
		for (n = 0; n < s->n_nodes; n++)
			if (s->nodes[n].power && s->nodes[n].agent_up &&
			    !s->nodes[n].hung)
				sim_agent_iter(s, n);
		sim_check(s);
	}
	fprintf(stderr, "hx-sim: simulation did not end\n");
	return -ETIMEDOUT;
}
