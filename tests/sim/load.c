/*
 * sim: loading a scenario directory in the Proxmox VE HA regression format
 * (see ../shared/pve-ha-scenarios/FORMAT.md).
 *
 * DESIGN: every input file maps onto the scheduler's own value types: the
 * hardware onto nodes with capacity, the resource config onto services,
 * rules_config (or legacy groups) onto rules, manager_status onto the
 * stored statuses a new leader would find. Errors name the file and the
 * entry; nothing is guessed.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "tests/sim/sim.h"

#define SECT_KEYS 16
#define SECT_VAL 2048

struct section {
	char type[32];
	char id[SCHED_NAME_MAX];
	unsigned n;
	char key[SECT_KEYS][32];
	char val[SECT_KEYS][SECT_VAL];
};

static int fail(const char *file, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(const char *file, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hx-sim: %s: ", file);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

static char *path_of(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Loads a JSON file; missing optional files give an empty object. */
static int load_json(const char *dir, const char *name, bool required,
		     json_t **ret)
{
	char *p = path_of(dir, name);
	json_error_t e;
	json_t *j;
	FILE *f;

	if (p == NULL)
		return -ENOMEM;
	f = fopen(p, "re");
	if (f == NULL) {
		int r = -errno;

		if (!required && r == -ENOENT) {
			free(p);
			*ret = json_object();
			return *ret ? 0 : -ENOMEM;
		}
		fprintf(stderr, "hx-sim: %s: %s\n", p, hx_strerror(r));
		free(p);
		return r;
	}
	j = json_loadf(f, 0, &e);
	fclose(f);
	if (j == NULL) {
		fail(p, "line %d: %s", e.line, e.text);
		free(p);
		return -EINVAL;
	}
	free(p);
	*ret = j;
	return 0;
}

/* An integer that may be written as a JSON number or string. */
static int json_num(json_t *v, long long def, long long *ret)
{
	char *end;

	if (v == NULL) {
		*ret = def;
		return 0;
	}
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		*ret = (long long)json_real_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	errno = 0;
	*ret = strtoll(json_string_value(v), &end, 10);
	if (errno != 0 || *end != '\0' || end == json_string_value(v))
		return -EINVAL;
	return 0;
}

uint32_t sim_node_find(const struct sim *s, const char *name)
{
	return scheduler_state_find_node(&s->st, name);
}

struct sim_res *sim_res_find(struct sim *s, const char *sid)
{
	uint32_t i;

	for (i = 0; i < s->n_res; i++)
		if (strcmp(s->res[i].sid, sid) == 0)
			return &s->res[i];
	return NULL;
}

/* ---- hardware_status ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int load_hardware(struct sim *s, const char *dir)
{
	const char *key, **names = NULL;
	json_t *hw, *v;
	size_t n = 0, k;
	int r;

	r = load_json(dir, "hardware_status", true, &hw);
	if (r < 0)
		return r;
	r = -EINVAL;
	if (!json_is_object(hw) || json_object_size(hw) == 0) {
		fail("hardware_status", "expected a non-empty object");
		goto out;
	}
	names = calloc(json_object_size(hw), sizeof(*names));
	s->nodes = calloc(json_object_size(hw), sizeof(*s->nodes));
	if (names == NULL || s->nodes == NULL) {
		r = -ENOMEM;
		goto out;
	}
	json_object_foreach(hw, key, v) names[n++] = key;
	qsort(names, n, sizeof(*names), cmp_str);
	for (k = 0; k < n; k++) {
		json_t *o = json_object_get(hw, names[k]);
		long long cpu, mem;
		uint32_t idx;

		if (json_num(json_object_get(o, "maxcpu"), 0, &cpu) < 0 ||
		    json_num(json_object_get(o, "maxmem"), 0, &mem) < 0 ||
		    cpu < 0 || mem < 0) {
			fail("hardware_status", "node '%s': bad maxcpu/maxmem",
			     names[k]);
			goto out;
		}
		if (scheduler_state_add_node(&s->st, names[k], (double)cpu,
					     (uint64_t)mem, &idx) < 0) {
			fail("hardware_status", "bad node name '%s'", names[k]);
			goto out;
		}
		snprintf(s->nodes[idx].name, sizeof(s->nodes[idx].name), "%s",
			 names[k]);
		s->nodes[idx].fence_agent =
			json_is_true(json_object_get(o, "fence_agent"));
		s->n_nodes++;
	}
	r = 0;
out:
	free(names);
	json_decref(hw);
	return r;
}

/* ---- datacenter.cfg, static_service_stats ---- */

static int load_datacenter(struct sim *s, const char *dir)
{
	const char *crs = NULL, *pol = NULL;
	json_t *dc;
	int r = load_json(dir, "datacenter.cfg", false, &dc);

	if (r < 0)
		return r;
	json_unpack(dc, "{s?{s?s}}", "crs", "ha", &crs);
	json_unpack(dc, "{s?{s?s}}", "ha", "shutdown_policy", &pol);
	r = 0;
	if (crs != NULL && strcmp(crs, "static") == 0)
		s->st.crs = SCHED_CRS_STATIC;
	else if (crs != NULL && strcmp(crs, "basic") != 0)
		r = fail("datacenter.cfg", "unknown crs.ha '%s'", crs);
	if (pol == NULL || strcmp(pol, "conditional") == 0)
		s->policy = SCHED_SHUTDOWN_CONDITIONAL;
	else if (strcmp(pol, "freeze") == 0)
		s->policy = SCHED_SHUTDOWN_FREEZE;
	else if (strcmp(pol, "failover") == 0)
		s->policy = SCHED_SHUTDOWN_FAILOVER;
	else if (strcmp(pol, "migrate") == 0)
		s->policy = SCHED_SHUTDOWN_MIGRATE;
	else
		r = fail("datacenter.cfg", "unknown shutdown_policy '%s'", pol);
	json_decref(dc);
	return r;
}

static int load_stats(struct sim *s, const char *dir)
{
	const char *sid;
	json_t *stats, *v;
	int r = load_json(dir, "static_service_stats", false, &stats);

	if (r < 0)
		return r;
	json_object_foreach(stats, sid, v)
	{
		uint32_t i = scheduler_state_find_service(&s->st, sid);
		long long cpu, mem;

		if (i == SCHED_NONE)
			continue; /* stats of a resource not configured */
		if (json_num(json_object_get(v, "maxcpu"), 0, &cpu) < 0 ||
		    json_num(json_object_get(v, "maxmem"), 0, &mem) < 0 ||
		    cpu < 0 || mem < 0) {
			json_decref(stats);
			return fail("static_service_stats", "'%s': bad values",
				    sid);
		}
		s->st.svcs[i].cpu = (double)cpu;
		s->st.svcs[i].mem = (uint64_t)mem;
	}
	json_decref(stats);
	return 0;
}

/* ---- service_config ---- */

static void parse_fa(struct sim_res *r)
{
	const char *d = r->sid + 3;
	unsigned digit[6] = {0, 0, 0, 0, 1, 0};
	unsigned k;

	for (k = 0; k < 6 && d[k] >= '0' && d[k] <= '9'; k++)
		digit[k] = (unsigned)(d[k] - '0');
	r->fa = true;
	r->fa_start = digit[1];
	r->fa_migrate = digit[2];
	r->fa_nostop = digit[3] != 0;
	r->fa_node = digit[5];
}

static int add_res(struct sim *s, const char *sid)
{
	struct sim_res *r;
	void *p;

	if (sim_res_find(s, sid) != NULL)
		return 0;
	p = realloc(s->res, (s->n_res + 1) * sizeof(*s->res));
	if (p == NULL)
		return -ENOMEM;
	s->res = p;
	r = &s->res[s->n_res];
	memset(r, 0, sizeof(*r));
	snprintf(r->sid, sizeof(r->sid), "%s", sid);
	r->running_on = SCHED_NONE;
	r->done_uid = calloc(s->n_nodes ? s->n_nodes : 1, sizeof(uint64_t));
	if (r->done_uid == NULL)
		return -ENOMEM;
	if (strncmp(sid, "fa:", 3) == 0)
		parse_fa(r);
	s->n_res++;
	return 0;
}

static int parse_request(const char *state, enum sched_request *ret)
{
	if (state == NULL || strcmp(state, "disabled") == 0)
		*ret = SCHED_REQ_DISABLED; /* simulator default */
	else if (strcmp(state, "started") == 0 || strcmp(state, "enabled") == 0)
		*ret = SCHED_REQ_STARTED;
	else if (strcmp(state, "stopped") == 0)
		*ret = SCHED_REQ_STOPPED;
	else if (strcmp(state, "ignored") == 0)
		*ret = SCHED_REQ_IGNORED;
	else
		return -EINVAL;
	return 0;
}

int sim_add_service(struct sim *s, const char *sid, json_t *conf)
{
	struct sched_service c;
	const char *node = NULL, *state = NULL;
	long long mr, ml, fb, prio;
	uint32_t n;

	scheduler_service_defaults(&c);
	if (strlen(sid) >= sizeof(c.sid) || strlen(sid) < 4 || sid[2] != ':')
		return fail("service_config", "bad service id '%s'", sid);
	if (strncmp(sid, "ct:", 3) == 0)
		c.kind = SCHED_KIND_CT;
	else if (strncmp(sid, "vm:", 3) != 0 && strncmp(sid, "fa:", 3) != 0)
		return fail("service_config", "'%s': unknown type", sid);
	strcpy(c.sid, sid);
	if (json_unpack(conf, "{s?s,s?s}", "node", &node, "state", &state) < 0 ||
	    node == NULL)
		return fail("service_config", "'%s': needs a node", sid);
	n = sim_node_find(s, node);
	if (n == SCHED_NONE)
		return fail("service_config", "'%s': unknown node '%s'", sid,
			    node);
	if (parse_request(state, &c.request) < 0)
		return fail("service_config", "'%s': bad state '%s'", sid,
			    state);
	if (json_num(json_object_get(conf, "max_restart"), 1, &mr) < 0 ||
	    json_num(json_object_get(conf, "max_relocate"), 1, &ml) < 0 ||
	    json_num(json_object_get(conf, "failback"), 1, &fb) < 0 ||
	    json_num(json_object_get(conf, "priority"), 0, &prio) < 0 ||
	    mr < 0 || ml < 0 || mr > 1000 || ml > 1000 || prio < INT32_MIN ||
	    prio > INT32_MAX)
		return fail("service_config", "'%s': bad number", sid);
	c.max_restart = (uint32_t)mr;
	c.max_relocate = (uint32_t)ml;
	c.failback = fb != 0;
	c.priority = (int32_t)prio;
	if (scheduler_state_add_service(&s->st, &c, n, NULL) < 0)
		return fail("service_config", "'%s': cannot add", sid);
	return add_res(s, sid);
}

static int load_services(struct sim *s, const char *dir, json_t **ret_conf)
{
	const char *sid;
	json_t *conf, *v;
	int r = load_json(dir, "service_config", true, &conf);

	if (r < 0)
		return r;
	if (!json_is_object(conf)) {
		json_decref(conf);
		return fail("service_config", "expected an object");
	}
	json_object_foreach(conf, sid, v)
	{
		r = sim_add_service(s, sid, v);
		if (r < 0) {
			json_decref(conf);
			return r;
		}
	}
	*ret_conf = conf;
	return 0;
}

/* ---- section config: rules_config, groups ---- */

static char *trim(char *p)
{
	char *e;

	while (*p == ' ' || *p == '\t')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
			 e[-1] == '\n'))
		*--e = '\0';
	return p;
}

typedef int section_fn(struct sim *s, const struct section *sec, void *data);

static int parse_sections(struct sim *s, const char *file, char *text,
			  section_fn *fn, void *data)
{
	struct section *sec = calloc(1, sizeof(*sec));
	bool open = false;
	char *line, *save = NULL;
	int r = 0, lineno = 0;

	if (sec == NULL)
		return -ENOMEM;
	for (line = strtok_r(text, "\n", &save); line != NULL && r == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		bool indented = line[0] == ' ' || line[0] == '\t';
		char *t = trim(line), *sp;

		lineno++;
		if (*t == '\0' || *t == '#')
			continue;
		if (!indented) {
			char *colon = strchr(t, ':');

			if (open)
				r = fn(s, sec, data);
			memset(sec, 0, sizeof(*sec));
			if (colon == NULL || colon - t >= (long)sizeof(sec->type) ||
			    strlen(trim(colon + 1)) >= sizeof(sec->id)) {
				r = fail(file, "line %d: bad section header",
					 lineno);
				break;
			}
			*colon = '\0';
			strcpy(sec->type, t);
			strcpy(sec->id, trim(colon + 1));
			open = true;
			continue;
		}
		sp = strpbrk(t, " \t");
		if (!open || sp == NULL || sec->n == SECT_KEYS ||
		    sp - t >= (long)sizeof(sec->key[0]) ||
		    strlen(trim(sp + 1)) >= SECT_VAL) {
			r = fail(file, "line %d: bad property", lineno);
			break;
		}
		*sp = '\0';
		strcpy(sec->key[sec->n], t);
		strcpy(sec->val[sec->n++], trim(sp + 1));
	}
	if (r == 0 && open)
		r = fn(s, sec, data);
	free(sec);
	return r;
}

static const char *prop(const struct section *sec, const char *key)
{
	unsigned k;

	for (k = 0; k < sec->n; k++)
		if (strcmp(sec->key[k], key) == 0)
			return sec->val[k];
	return NULL;
}

static bool prop_bool(const struct section *sec, const char *key, bool def)
{
	const char *v = prop(sec, key);

	return v == NULL ? def : strcmp(v, "0") != 0;
}

/* Splits "a,b:2,c" into names and priorities. Returns the count or -1. */
static int split_list(const char *list, char (*names)[SCHED_NAME_MAX],
		      struct sched_node_prio *prio, int max)
{
	char buf[SECT_VAL], *tok, *save = NULL;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char *colon, *name = trim(tok);

		if (n == max || *name == '\0')
			return -1;
		colon = prio ? strchr(name, ':') : NULL;
		if (colon != NULL)
			*colon = '\0';
		if (strlen(name) >= SCHED_NAME_MAX)
			return -1;
		if (prio != NULL) {
			strcpy(prio[n].node, name);
			prio[n].priority = colon ? atoi(colon + 1) : 0;
		} else {
			strcpy(names[n], name);
		}
		n++;
	}
	return n;
}

#define LIST_MAX 256

static int rule_section(struct sim *s, const struct section *sec, void *data)
{
	static char sids[LIST_MAX][SCHED_NAME_MAX];
	static struct sched_node_prio nodes[LIST_MAX];
	struct sched_rule r;
	const char *res = prop(sec, "resources"), *aff;
	int n;

	(void)data;
	memset(&r, 0, sizeof(r));
	if (strlen(sec->id) >= sizeof(r.id) || res == NULL)
		return fail("rules_config", "rule '%s': needs resources",
			    sec->id);
	strcpy(r.id, sec->id);
	n = split_list(res, sids, NULL, LIST_MAX);
	if (n < 1)
		return fail("rules_config", "rule '%s': bad resources", sec->id);
	r.sids = (const char(*)[SCHED_NAME_MAX])sids;
	r.n_sids = (uint32_t)n;
	r.disabled = prop_bool(sec, "disable", false);
	if (strcmp(sec->type, "node-affinity") == 0) {
		r.kind = SCHED_RULE_NODE_AFFINITY;
		r.strict = prop_bool(sec, "strict", false);
		n = prop(sec, "nodes") ? split_list(prop(sec, "nodes"), NULL,
						    nodes, LIST_MAX)
				       : -1;
		if (n < 1)
			return fail("rules_config", "rule '%s': bad nodes",
				    sec->id);
		r.nodes = nodes;
		r.n_nodes = (uint32_t)n;
	} else if (strcmp(sec->type, "resource-affinity") == 0) {
		r.kind = SCHED_RULE_RESOURCE_AFFINITY;
		r.strict = prop_bool(sec, "strict", true);
		aff = prop(sec, "affinity");
		if (aff == NULL || (strcmp(aff, "positive") != 0 &&
				    strcmp(aff, "negative") != 0))
			return fail("rules_config", "rule '%s': bad affinity",
				    sec->id);
		r.positive = strcmp(aff, "positive") == 0;
	} else if (strcmp(sec->type, "order") == 0) {
		r.kind = SCHED_RULE_ORDER;
	} else {
		return fail("rules_config", "unknown rule type '%s'", sec->type);
	}
	if (scheduler_rules_add(&s->rules, &r) < 0)
		return fail("rules_config", "rule '%s' rejected", sec->id);
	return 0;
}

/* Legacy groups: each becomes a node affinity rule over its members. */
static int group_section(struct sim *s, const struct section *sec, void *data)
{
	static char sids[LIST_MAX][SCHED_NAME_MAX];
	static struct sched_node_prio nodes[LIST_MAX];
	json_t *conf = data, *v;
	struct sched_rule r;
	const char *sid, *g;
	int n;

	if (strcmp(sec->type, "group") != 0)
		return fail("groups", "unknown section '%s'", sec->type);
	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", sec->id);
	r.kind = SCHED_RULE_NODE_AFFINITY;
	r.strict = prop_bool(sec, "restricted", false);
	n = prop(sec, "nodes") ? split_list(prop(sec, "nodes"), NULL, nodes,
					    LIST_MAX)
			       : -1;
	if (n < 1)
		return fail("groups", "group '%s': bad nodes", sec->id);
	r.nodes = nodes;
	r.n_nodes = (uint32_t)n;
	json_object_foreach(conf, sid, v)
	{
		uint32_t i;

		g = json_string_value(json_object_get(v, "group"));
		if (g == NULL || strcmp(g, sec->id) != 0 || r.n_sids == LIST_MAX)
			continue;
		snprintf(sids[r.n_sids++], SCHED_NAME_MAX, "%s", sid);
		i = scheduler_state_find_service(&s->st, sid);
		if (i != SCHED_NONE && prop_bool(sec, "nofailback", false))
			s->st.svcs[i].failback = false;
	}
	r.sids = (const char(*)[SCHED_NAME_MAX])sids;
	if (r.n_sids == 0)
		return 0;
	if (scheduler_rules_add(&s->rules, &r) < 0)
		return fail("groups", "group '%s' rejected", sec->id);
	return 0;
}

static int load_sections(struct sim *s, const char *dir, const char *name,
			 section_fn *fn, void *data)
{
	char *p = path_of(dir, name), *text = NULL;
	size_t len;
	int r;

	if (p == NULL)
		return -ENOMEM;
	r = hx_file_read(p, 1 << 20, &text, &len);
	if (r == -ENOENT) {
		free(p);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "hx-sim: %s: %s\n", p, hx_strerror(r));
		free(p);
		return r;
	}
	r = parse_sections(s, name, text, fn, data);
	free(text);
	free(p);
	return r;
}

/* ---- manager_status ---- */

static int parse_svc_state(const char *v, enum sched_svc_state *ret)
{
	enum sched_svc_state k;

	if (v != NULL && strcmp(v, "queued") == 0) {
		*ret = SCHED_SVC_REQUEST_START;
		return 0;
	}
	for (k = 0; v != NULL && k < SCHED_SVC__COUNT; k++)
		if (strcmp(scheduler_svc_state_str(k), v) == 0) {
			*ret = k;
			return 0;
		}
	return -EINVAL;
}

static int load_manager_nodes(struct sim *s, json_t *ms)
{
	const char *name;
	json_t *v;

	json_object_foreach(json_object_get(ms, "node_status"), name, v)
	{
		uint32_t n = sim_node_find(s, name);
		const char *st = json_string_value(v);
		enum sched_node_state k;

		if (n == SCHED_NONE || st == NULL)
			return fail("manager_status", "bad node '%s'", name);
		for (k = 0; k < SCHED_NODE__COUNT; k++)
			if (strcmp(scheduler_node_state_str(k), st) == 0)
				break;
		if (k == SCHED_NODE__COUNT)
			return fail("manager_status", "node '%s': state '%s'",
				    name, st);
		s->st.nodes[n].st.state = k;
	}
	json_object_foreach(json_object_get(ms, "node_request"), name, v)
	{
		uint32_t n = sim_node_find(s, name);

		if (n != SCHED_NONE &&
		    json_is_true(json_object_get(v, "maintenance")))
			s->st.nodes[n].st.maintenance = true;
	}
	return 0;
}

static int load_manager(struct sim *s, const char *dir)
{
	const char *sid;
	json_t *ms, *v;
	int r = load_json(dir, "manager_status", false, &ms);

	if (r < 0)
		return r;
	r = load_manager_nodes(s, ms);
	json_object_foreach(json_object_get(ms, "service_status"), sid, v)
	{
		uint32_t i = scheduler_state_find_service(&s->st, sid);
		const char *node = NULL, *state = NULL, *target = NULL;
		struct sched_status *st;

		if (r < 0 || i == SCHED_NONE)
			continue; /* status of a removed resource */
		st = &s->st.svcs[i].st;
		json_unpack(v, "{s?s,s?s,s?s}", "node", &node, "state", &state,
			    "target", &target);
		if (node == NULL || sim_node_find(s, node) == SCHED_NONE ||
		    parse_svc_state(state, &st->state) < 0) {
			r = fail("manager_status", "bad status of '%s'", sid);
			break;
		}
		st->node = sim_node_find(s, node);
		st->target = target ? sim_node_find(s, target) : SCHED_NONE;
		if ((st->state == SCHED_SVC_MIGRATE ||
		     st->state == SCHED_SVC_RELOCATE) &&
		    st->target == SCHED_NONE) {
			r = fail("manager_status", "'%s': no target", sid);
			break;
		}
		st->why.reason = SCHED_R_NONE;
	}
	json_decref(ms);
	return r;
}

/* ---- the whole directory ---- */

int sim_load(struct sim *s, const char *dir, bool legacy)
{
	char *sdir = legacy ? path_of(dir, "legacy-groups") : NULL;
	json_t *conf = NULL;
	int r;

	if (legacy && sdir == NULL)
		return -ENOMEM;
	r = load_hardware(s, dir);
	if (r == 0)
		r = load_datacenter(s, dir);
	if (r == 0)
		r = load_services(s, legacy ? sdir : dir, &conf);
	if (r == 0)
		r = load_stats(s, dir);
	if (r == 0 && legacy)
		r = load_sections(s, sdir, "groups", group_section, conf);
	else if (r == 0)
		r = load_sections(s, dir, "rules_config", rule_section, NULL);
	if (r == 0)
		r = load_manager(s, dir);
	if (r == 0)
		r = load_json(dir, "cmdlist", true, &s->cmdlist);
	if (r == 0 && !json_is_array(s->cmdlist))
		r = fail("cmdlist", "expected a list of batches");
	json_decref(conf);
	free(sdir);
	return r;
}

void sim_free(struct sim *s)
{
	uint32_t i;

	for (i = 0; i < s->n_res; i++)
		free(s->res[i].done_uid);
	free(s->res);
	free(s->nodes);
	free(s->cmds);
	free(s->peers);
	free(s->fenced);
	free(s->wd_reset);
	json_decref(s->cmdlist);
	scheduler_plan_close(&s->plan);
	scheduler_rules_close(&s->rules);
	scheduler_state_close(&s->st);
}
