/*
 * A small in-memory cluster behind the API fuzz target: just enough of
 * statedb, membership, the VM executor and forwarding for the handlers to
 * take their real paths, deterministically and without I/O. Writes obey
 * the rules the real statedb enforces that handlers rely on (unique VMIDs
 * and names, digests, locks); nothing here is under test.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/agent.h"
#include "agent/vm.h"
#include "fuzz_api.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

#define MAX_VMS 8

struct fake_vm {
	struct statedb_vm row; /* config and pending owned here */
	int64_t version;
};

static struct agent agent;
static struct fuzz_api_world world;
static struct fake_vm vms[MAX_VMS];
static unsigned nvms;
static int64_t settings[5], settings_version, labels_version;
static char labels[4096];
static char fake_executor;

static const char *const setting_keys[] = {
	"events.keep", "liveness.heartbeat_ms", "liveness.offline_after_ms",
	"liveness.unknown_after_ms", "tasks.keep"};
static const int64_t setting_range[][3] = {{10000, 100, 1000000},
					   {1000, 100, 60000},
					   {10000, 1000, 3600000},
					   {3000, 300, 600000},
					   {1000, 10, 100000}};

static char *xstrdup(const char *s)
{
	char *d = s != NULL ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		abort();
	return d;
}

static void vm_digest(struct fake_vm *v)
{
	snprintf(v->row.digest, sizeof(v->row.digest), "d%" PRId64 "-%" PRId64,
		 v->row.vmid, v->version);
}

static void vm_add(const char *json, const char *node, const char *state)
{
	struct fake_vm *v = &vms[nvms++];
	struct vm_config c;
	json_t *j = json_loads(json, 0, NULL);

	if (j == NULL || vmconf_parse(j, &c, NULL) < 0)
		abort();
	json_decref(j);
	memset(v, 0, sizeof(*v));
	v->row.vmid = c.vmid;
	snprintf(v->row.name, sizeof(v->row.name), "%s", c.name);
	snprintf(v->row.node, sizeof(v->row.node), "%s", node);
	v->row.cpus = c.sockets * c.cores;
	v->row.memory_mb = c.memory_mb;
	vmconf_tags_text(&c, v->row.tags, sizeof(v->row.tags));
	v->row.config = vmconf_dump(&c);
	snprintf(v->row.desired, sizeof(v->row.desired), "%s", state);
	snprintf(v->row.state, sizeof(v->row.state), "%s", state);
	snprintf(v->row.state_node, sizeof(v->row.state_node), "%s", node);
	vm_digest(v);
}

static void vm_drop(struct fake_vm *v)
{
	free(v->row.config);
	free(v->row.pending);
	*v = vms[--nvms];
}

void fuzz_api_reset(void)
{
	while (nvms > 0)
		vm_drop(&vms[0]);
	memset(&world, 0, sizeof(world));
	memset(&agent, 0, sizeof(agent));
	snprintf(agent.cfg.name, sizeof(agent.cfg.name), "n1");
	snprintf(agent.cfg.address, sizeof(agent.cfg.address), "10.0.0.1");
	snprintf(agent.cfg.data_dir, sizeof(agent.cfg.data_dir), "/nonexistent");
	snprintf(agent.ident.cluster, sizeof(agent.ident.cluster), "fuzz");
	agent.ident.id = 1;
	agent.unknown_after_ms = 3000;
	agent.offline_after_ms = 10000;
	agent.vmx = (struct vmexec *)(void *)&fake_executor;
	for (size_t i = 0; i < HX_FUZZ_NELEM(settings); i++)
		settings[i] = setting_range[i][0];
	settings_version = labels_version = 0;
	snprintf(labels, sizeof(labels), "{\"rack\":\"a1\"}");
	/* No NICs: their bridges must exist on the host (local_check). */
	vm_add("{\"vmid\":100,\"name\":\"web\",\"node\":\"n1\",\"tags\":[\"prod\"],"
	       "\"disks\":[{\"size_mb\":64}]}",
	       "n1", "running");
	vm_add("{\"vmid\":101,\"name\":\"db\",\"node\":\"n2\"}", "n2",
	       "stopped");
}

struct fuzz_api_world *fuzz_api_world(void)
{
	return &world;
}

struct agent *fuzz_api_agent(void)
{
	agent.ident.initialized = !world.uninit;
	return &agent;
}

static int unavailable(struct hx_err *err)
{
	return hx_err_set(err, HX_ENOQUORUM, "fake: no quorum");
}

/* ---- agent ---- */

int agent_path(const struct agent *a, char *buf, size_t len, const char *name)
{
	return snprintf(buf, len, "%s/%s", a->cfg.data_dir, name) >= (int)len
		       ? -ENAMETOOLONG
		       : 0;
}

bool agent_is_leader(struct agent *a, char *leader, size_t len)
{
	(void)a;
	if (leader != NULL && len > 0)
		snprintf(leader, len, "%s", world.follower ? "10.0.0.2:8007" : "");
	return !world.follower;
}

int agent_forward(struct agent *a, const char *peer,
		  const struct api_req *req, const char *body,
		  struct agent_fwd_reply *ret, struct hx_err *err)
{
	int status = world.forward_status != 0 ? world.forward_status : 200;

	(void)a, (void)peer, (void)body;
	if (world.fail)
		return unavailable(err);
	memset(ret, 0, sizeof(*ret));
	ret->status = status;
	if (status < 300)
		ret->body = xstrdup("{\"data\":{\"forwarded\":true}}");
	else
		ret->body = xstrdup("{\"error\":{\"code\":\"conflict\","
				    "\"message\":\"from the other node\"}}");
	snprintf(ret->etag, sizeof(ret->etag), "%s",
		 strcmp(req->method, "GET") == 0 ? "fwd-etag" : "");
	return 0;
}

void agent_event(struct agent *a, const char *kind, const char *subject,
		 const char *actor, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	(void)a, (void)kind, (void)subject, (void)actor;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
}

int agent_cluster_init(struct agent *a, const char *name,
		       char *ret_admin_token, size_t len, struct hx_err *err)
{
	if (a->ident.initialized)
		return hx_err_set(err, -EEXIST, "already in cluster '%s'",
				  a->ident.cluster);
	snprintf(ret_admin_token, len, "hx-admin-%s", name);
	return 0;
}

int agent_cluster_token(struct agent *a, int64_t ttl_s, char *ret_token,
			size_t len, int64_t *ret_expires, struct hx_err *err)
{
	(void)a;
	if (world.fail)
		return unavailable(err);
	snprintf(ret_token, len, "hx1-fake-%" PRId64, ttl_s);
	*ret_expires = 1000 * ttl_s;
	return 0;
}

int agent_cluster_join(struct agent *a, const char *address,
		       const char *token, struct hx_err *err)
{
	(void)address;
	if (a->ident.initialized)
		return hx_err_set(err, -EEXIST, "already in a cluster");
	return hx_err_set(err, HX_ETOKEN, "fake: token '%s' refused", token);
}

int agent_cluster_leave(struct agent *a, struct hx_err *err)
{
	(void)a;
	return world.fail ? unavailable(err) : 0;
}

int agent_cluster_remove(struct agent *a, const char *name,
			 struct hx_err *err)
{
	(void)a;
	if (strcmp(name, "n2") != 0)
		return hx_err_set(err, -ENOENT, "no node '%s'", name);
	return 0;
}

/* ---- liveness ---- */

uint64_t liveness_age(struct liveness *l, uint64_t id, uint64_t now_ms)
{
	(void)l, (void)now_ms;
	return id == 1 ? 100 : UINT64_MAX;
}

enum liveness_state liveness_state_of(uint64_t age_ms, int64_t unknown_after,
				      int64_t offline_after)
{
	if (age_ms < (uint64_t)unknown_after)
		return LIVE_ONLINE;
	return age_ms < (uint64_t)offline_after ? LIVE_UNKNOWN : LIVE_OFFLINE;
}

const char *liveness_state_name(enum liveness_state s)
{
	static const char *const names[] = {"online", "unknown", "offline"};

	return names[s];
}

/* ---- raft ---- */

const char *hxraft_tls_node_cert_pem(const struct hxraft_tls *tls)
{
	(void)tls;
	return "";
}

const char *hxraft_tls_node_key_pem(const struct hxraft_tls *tls)
{
	(void)tls;
	return "";
}

/* ---- statedb: nodes, members, tokens, settings ---- */

static void node_fill(struct statedb_node *n, unsigned i)
{
	memset(n, 0, sizeof(*n));
	n->id = i + 1;
	snprintf(n->name, sizeof(n->name), "n%u", i + 1);
	snprintf(n->address, sizeof(n->address), "10.0.0.%u", i + 1);
	snprintf(n->peer, sizeof(n->peer), "10.0.0.%u:8007", i + 1);
	n->api_port = 8006;
	snprintf(n->arch, sizeof(n->arch), "x86_64");
	n->cpus = 2;
	n->memory_mb = 4096;
	snprintf(n->labels, sizeof(n->labels), "%s", i == 0 ? labels : "{}");
	snprintf(n->digest, sizeof(n->digest), "n%u-%" PRId64, i + 1,
		 i == 0 ? labels_version : 0);
}

int statedb_node_list(struct statedb *db, struct statedb_node **ret_nodes,
		      unsigned *ret_n, struct hx_err *err)
{
	struct statedb_node *n;

	(void)db;
	if (world.fail)
		return unavailable(err);
	n = calloc(2, sizeof(*n));
	if (n == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	node_fill(&n[0], 0);
	node_fill(&n[1], 1);
	*ret_nodes = n;
	*ret_n = 2;
	return 0;
}

int statedb_node_get(struct statedb *db, const char *name,
		     struct statedb_node *ret_node, struct hx_err *err)
{
	(void)db;
	if (world.fail)
		return unavailable(err);
	if (strcmp(name, "n1") != 0 && strcmp(name, "n2") != 0)
		return hx_err_set(err, -ENOENT, "no node '%s'", name);
	node_fill(ret_node, name[1] == '1' ? 0 : 1);
	return 0;
}

int statedb_node_set_labels(struct statedb *db, const char *name,
			    const char *text, const char *if_digest,
			    struct hx_err *err)
{
	struct statedb_node n;
	int r;

	if ((r = statedb_node_get(db, name, &n, err)) < 0)
		return r;
	if (if_digest != NULL && strcmp(if_digest, n.digest) != 0)
		return hx_err_set(err, HX_ECONFLICT, "node changed");
	if (strlen(text) >= sizeof(labels))
		return hx_err_set(err, -EINVAL, "labels too long");
	if (name[1] == '1') {
		snprintf(labels, sizeof(labels), "%s", text);
		labels_version++;
	}
	return 0;
}

int statedb_members(struct statedb *db, struct statedb_member **ret,
		    unsigned *ret_n, uint64_t *ret_leader_id,
		    struct hx_err *err)
{
	struct statedb_member *m;

	(void)db;
	if (world.fail)
		return unavailable(err);
	m = calloc(2, sizeof(*m));
	if (m == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < 2; i++) {
		m[i].id = i + 1;
		snprintf(m[i].address, sizeof(m[i].address), "10.0.0.%u:8007",
			 i + 1);
		m[i].role = i == 0 ? STATEDB_VOTER : STATEDB_SPARE;
	}
	*ret = m;
	*ret_n = 2;
	if (ret_leader_id != NULL)
		*ret_leader_id = world.follower ? 2 : 1;
	return 0;
}

const char *statedb_role_name(int role)
{
	return role == STATEDB_VOTER     ? "voter"
	       : role == STATEDB_STANDBY ? "standby"
	       : role == STATEDB_SPARE   ? "spare"
					 : "unknown";
}

int statedb_apitoken_check(struct statedb *db, const char *hash,
			   bool *ret_valid, struct hx_err *err)
{
	static const char good[] = "good-token";
	unsigned char md[32];
	char hex[65];

	(void)db;
	if (world.fail)
		return unavailable(err);
	crypto_generichash(md, sizeof(md), (const unsigned char *)good,
			   strlen(good), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	*ret_valid = strcmp(hash, hex) == 0;
	return 0;
}

int statedb_settings_get(struct statedb *db, struct statedb_settings *ret,
			 struct hx_err *err)
{
	(void)db;
	if (world.fail)
		return unavailable(err);
	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < HX_FUZZ_NELEM(settings); i++) {
		ret->keys[i] = setting_keys[i];
		ret->values[i] = settings[i];
	}
	ret->n = HX_FUZZ_NELEM(settings);
	snprintf(ret->digest, sizeof(ret->digest), "s-%" PRId64,
		 settings_version);
	return 0;
}

int statedb_settings_update(struct statedb *db, const char *const *keys,
			    const int64_t *values, unsigned n,
			    const char *if_digest, struct hx_err *err)
{
	int64_t next[HX_FUZZ_NELEM(settings)];
	char digest[33];

	(void)db;
	if (world.fail)
		return unavailable(err);
	memcpy(next, settings, sizeof(next));
	for (unsigned i = 0; i < n; i++) {
		size_t k = 0;

		while (k < HX_FUZZ_NELEM(settings) &&
		       strcmp(setting_keys[k], keys[i]) != 0)
			k++;
		if (k == HX_FUZZ_NELEM(settings))
			return hx_err_set(err, -EINVAL, "unknown setting '%s'",
					  keys[i]);
		if (values[i] < setting_range[k][1] ||
		    values[i] > setting_range[k][2])
			return hx_err_set(err, -EINVAL, "'%s' out of range",
					  keys[i]);
		next[k] = values[i];
	}
	snprintf(digest, sizeof(digest), "s-%" PRId64, settings_version);
	if (if_digest != NULL && strcmp(if_digest, digest) != 0)
		return hx_err_set(err, HX_ECONFLICT, "settings changed");
	memcpy(settings, next, sizeof(next));
	settings_version++;
	return 0;
}

/* ---- statedb: tasks and events ---- */

static void task_fill(struct statedb_task *t, int64_t id)
{
	memset(t, 0, sizeof(*t));
	t->id = id;
	snprintf(t->kind, sizeof(t->kind), "vm.start");
	snprintf(t->node, sizeof(t->node), "n1");
	snprintf(t->subject, sizeof(t->subject), "vm 100");
	snprintf(t->state, sizeof(t->state), "%s", id == 1 ? "ok" : "running");
	t->progress = id == 1 ? 100 : 40;
	snprintf(t->message, sizeof(t->message), "quote \" and \\ and \x01");
	snprintf(t->actor, sizeof(t->actor), "root@local");
	t->started_ms = 1000 * id;
	t->ended_ms = id == 1 ? 2000 : 0;
}

int statedb_task_list(struct statedb *db, const char *state, unsigned limit,
		      struct statedb_task **ret, unsigned *ret_n,
		      struct hx_err *err)
{
	struct statedb_task *t;
	unsigned n = 0;

	(void)db;
	if (world.fail)
		return unavailable(err);
	t = calloc(2, sizeof(*t));
	if (t == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	for (int64_t id = 1; id <= 2 && n < limit; id++) {
		task_fill(&t[n], id);
		if (state == NULL || strcmp(state, t[n].state) == 0)
			n++;
	}
	*ret = t;
	*ret_n = n;
	return 0;
}

int statedb_task_get(struct statedb *db, int64_t id,
		     struct statedb_task *ret_task,
		     struct statedb_task_line **ret_lines, unsigned *ret_n,
		     struct hx_err *err)
{
	struct statedb_task_line *l;

	(void)db;
	if (world.fail)
		return unavailable(err);
	if (id != 1 && id != 2)
		return hx_err_set(err, -ENOENT, "no task %" PRId64, id);
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	l->time_ms = 1500;
	snprintf(l->line, sizeof(l->line), "starting");
	task_fill(ret_task, id);
	*ret_lines = l;
	*ret_n = 1;
	return 0;
}

int statedb_event_list(struct statedb *db, int64_t since, unsigned limit,
		       const char *subject, struct statedb_event **ret,
		       unsigned *ret_n, struct hx_err *err)
{
	struct statedb_event *e;
	unsigned n = 0;

	(void)db;
	if (world.fail)
		return unavailable(err);
	e = calloc(3, sizeof(*e));
	if (e == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	for (int64_t id = since + 1; id <= 3 && n < limit; id++) {
		struct statedb_event *x = &e[n];

		x->id = id;
		x->time_ms = 1000 * id;
		snprintf(x->node, sizeof(x->node), "n1");
		snprintf(x->kind, sizeof(x->kind), "vm.create");
		snprintf(x->subject, sizeof(x->subject), "vm %" PRId64,
			 99 + id);
		snprintf(x->message, sizeof(x->message), "event %" PRId64, id);
		snprintf(x->actor, sizeof(x->actor), "token");
		if (subject == NULL || strcmp(subject, x->subject) == 0)
			n++;
	}
	*ret = e;
	*ret_n = n;
	return 0;
}

/* ---- statedb: VMs ---- */

static struct fake_vm *vm_find(const char *key)
{
	char *end;
	long long id = strtoll(key, &end, 10);
	bool by_id = key[0] != '\0' && *end == '\0';

	for (unsigned i = 0; i < nvms; i++)
		if (by_id ? vms[i].row.vmid == id
			  : strcmp(vms[i].row.name, key) == 0)
			return &vms[i];
	return NULL;
}

static void vm_copy(struct statedb_vm *dst, const struct fake_vm *v)
{
	*dst = v->row;
	dst->config = xstrdup(v->row.config);
	dst->pending = xstrdup(v->row.pending);
}

void statedb_vm_clear(struct statedb_vm *vm)
{
	if (vm == NULL)
		return;
	free(vm->config);
	free(vm->pending);
	vm->config = vm->pending = NULL;
}

void statedb_vm_list_free(struct statedb_vm *v, unsigned n)
{
	for (unsigned i = 0; v != NULL && i < n; i++)
		statedb_vm_clear(&v[i]);
	free(v);
}

int statedb_vm_get(struct statedb *db, const char *key,
		   struct statedb_vm *ret_vm, struct hx_err *err)
{
	struct fake_vm *v;

	(void)db;
	if (world.fail)
		return unavailable(err);
	if ((v = vm_find(key)) == NULL)
		return hx_err_set(err, -ENOENT, "no VM '%s'", key);
	vm_copy(ret_vm, v);
	return 0;
}

int statedb_vm_list(struct statedb *db, const char *node,
		    struct statedb_vm **ret_vms, unsigned *ret_n,
		    struct hx_err *err)
{
	struct statedb_vm *out;
	unsigned n = 0;

	(void)db;
	if (world.fail)
		return unavailable(err);
	out = calloc(MAX_VMS, sizeof(*out));
	if (out == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < nvms; i++)
		if (node == NULL || strcmp(node, vms[i].row.node) == 0)
			vm_copy(&out[n++], &vms[i]);
	*ret_vms = out;
	*ret_n = n;
	return 0;
}

int statedb_vm_nextid(struct statedb *db, int64_t *ret_vmid,
		      struct hx_err *err)
{
	int64_t id = STATEDB_VMID_MIN;
	char key[24];

	(void)db;
	if (world.fail)
		return unavailable(err);
	for (;;) {
		snprintf(key, sizeof(key), "%" PRId64, id);
		if (vm_find(key) == NULL)
			break;
		id++;
	}
	*ret_vmid = id;
	return 0;
}

static void spec_apply(struct fake_vm *v, const struct statedb_vm_spec *s)
{
	snprintf(v->row.name, sizeof(v->row.name), "%s", s->name);
	v->row.cpus = s->cpus;
	v->row.memory_mb = s->memory_mb;
	snprintf(v->row.tags, sizeof(v->row.tags), "%s", s->tags);
	free(v->row.config);
	free(v->row.pending);
	v->row.config = xstrdup(s->config);
	v->row.pending = xstrdup(s->pending);
	v->version++;
	vm_digest(v);
}

static int spec_check(const struct fake_vm *self,
		      const struct statedb_vm_spec *s, struct hx_err *err)
{
	if (strlen(s->name) >= sizeof(self->row.name) ||
	    strlen(s->tags) >= sizeof(self->row.tags))
		return hx_err_set(err, -EINVAL, "fake: field too long");
	for (unsigned i = 0; i < nvms; i++)
		if (&vms[i] != self && strcmp(vms[i].row.name, s->name) == 0)
			return hx_err_set(err, -EEXIST, "name '%s' is taken",
					  s->name);
	return 0;
}

int statedb_vm_create(struct statedb *db, int64_t vmid, const char *node,
		      const struct statedb_vm_spec *spec, const char *desired,
		      struct hx_err *err)
{
	struct fake_vm *v;
	char key[24];
	int r;

	(void)db;
	if (world.fail)
		return unavailable(err);
	snprintf(key, sizeof(key), "%" PRId64, vmid);
	if (vm_find(key) != NULL)
		return hx_err_set(err, -EEXIST, "VMID %" PRId64 " is taken",
				  vmid);
	if (strcmp(node, "n1") != 0 && strcmp(node, "n2") != 0)
		return hx_err_set(err, -ENOENT, "no node '%s'", node);
	if ((r = spec_check(NULL, spec, err)) < 0)
		return r;
	if (nvms == MAX_VMS)
		return hx_err_set(err, -ENOSPC, "fake: full");
	v = &vms[nvms++];
	memset(v, 0, sizeof(*v));
	v->row.vmid = vmid;
	snprintf(v->row.node, sizeof(v->row.node), "%s", node);
	snprintf(v->row.desired, sizeof(v->row.desired), "%s", desired);
	snprintf(v->row.state, sizeof(v->row.state), "stopped");
	snprintf(v->row.lock, sizeof(v->row.lock), "create");
	spec_apply(v, spec);
	return 0;
}

int statedb_vm_update(struct statedb *db, int64_t vmid,
		      const struct statedb_vm_spec *spec,
		      const char *if_digest, struct hx_err *err)
{
	struct fake_vm *v;
	char key[24];
	int r;

	(void)db;
	if (world.fail)
		return unavailable(err);
	snprintf(key, sizeof(key), "%" PRId64, vmid);
	if ((v = vm_find(key)) == NULL)
		return hx_err_set(err, -ENOENT, "no VM %" PRId64, vmid);
	if (if_digest != NULL && strcmp(if_digest, v->row.digest) != 0)
		return hx_err_set(err, HX_ECONFLICT, "VM %" PRId64 " changed",
				  vmid);
	if (v->row.lock[0] != '\0')
		return hx_err_set(err, -EBUSY, "VM %" PRId64 " is locked",
				  vmid);
	if ((r = spec_check(v, spec, err)) < 0)
		return r;
	spec_apply(v, spec);
	return 0;
}

int statedb_vm_delete(struct statedb *db, int64_t vmid, struct hx_err *err)
{
	struct fake_vm *v;
	char key[24];

	(void)db;
	snprintf(key, sizeof(key), "%" PRId64, vmid);
	if ((v = vm_find(key)) == NULL)
		return hx_err_set(err, -ENOENT, "no VM %" PRId64, vmid);
	vm_drop(v);
	return 0;
}

/* ---- the VM executor ---- */

int vmexec_submit(struct vmexec *x, const struct vmexec_req *req,
		  int64_t *ret_task, struct hx_err *err)
{
	char key[24];
	struct fake_vm *v;

	(void)x;
	if (req->op == VMOP_REBOOT && req->timeout_s > 3000)
		return hx_err_set(err, -EBUSY, "fake: busy");
	/* The executor is done at once: a new VM is unlocked. */
	snprintf(key, sizeof(key), "%" PRId64, req->vmid);
	if (req->op == VMOP_CREATE && (v = vm_find(key)) != NULL)
		v->row.lock[0] = '\0';
	*ret_task = 10 + req->op;
	return 0;
}

int vmexec_status(struct vmexec *x, int64_t vmid, struct vmexec_status *ret,
		  struct hx_err *err)
{
	(void)x;
	if (vmid != 100)
		return hx_err_set(err, -ENOENT, "VM %" PRId64 " not here",
				  vmid);
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->state, sizeof(ret->state), "running");
	ret->uptime_s = 5;
	ret->cpu_time_ms = 1200;
	ret->cpu_percent = 1.5;
	ret->memory_mb = 512;
	ret->rss_mb = -1;
	ret->pid = 4242;
	return 0;
}

int vmexec_migrate_submit(struct vmexec *x,
			  const struct vmexec_migrate_req *req,
			  int64_t *ret_task, struct hx_err *err)
{
	(void)x, (void)err;
	*ret_task = 30 + req->online;
	return 0;
}

int vmexec_migrate_cancel(struct vmexec *x, int64_t vmid, int64_t *ret_task,
			  struct hx_err *err)
{
	(void)x;
	if (vmid != 100)
		return hx_err_set(err, -EBUSY, "no migration of %" PRId64,
				  vmid);
	*ret_task = 40;
	return 0;
}

int vmexec_peer_call(struct agent *a, const char *node, const char *peer,
		     int64_t vmid, const char *op, json_t *body, json_t **ret,
		     struct hx_err *err)
{
	(void)a, (void)peer, (void)vmid, (void)op, (void)body;
	if (world.fail)
		return unavailable(err);
	if (strcmp(node, "n2") != 0)
		return hx_err_set(err, -ENOENT, "no node '%s'", node);
	if (ret != NULL)
		*ret = json_object();
	return 0;
}

int vmexec_migrate_prepare(struct vmexec *x, int64_t vmid, json_t *body,
			   json_t **ret, struct hx_err *err)
{
	json_t *s = json_object_get(body, "source");

	(void)x, (void)vmid;
	if (!json_is_string(s))
		return hx_err_set(err, -EINVAL, "source: required");
	*ret = json_pack("{s:s, s:s}", "images_dir", "/var/lib/images",
			 "address", "10.0.0.1");
	return 0;
}

int vmexec_migrate_abort(struct vmexec *x, int64_t vmid, struct hx_err *err)
{
	(void)x, (void)vmid, (void)err;
	return 0;
}

int vmexec_migrate_probe(struct vmexec *x, int64_t vmid, json_t **ret,
			 struct hx_err *err)
{
	(void)x, (void)err;
	*ret = json_pack("{s:s, s:b}", "state",
			 vmid == 100 ? "running" : "absent", "job", 0);
	return 0;
}
