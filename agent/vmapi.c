/*
 * API handlers for virtual machines.
 *
 * DESIGN: reads run on whichever node was asked (statedb reads are
 * linearizable through the leader). Everything that changes a VM runs on
 * the VM's node, so that node-local facts (its bridges, its files, its
 * libvirtd) are checked before anything is written: the node that
 * received the request forwards it there over the peer channel.
 */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/storage.h"
#include "agent/vm.h"
#include "lib/lib.h"
#include "statedb/statedb.h"

/* ---- JSON ---- */

static json_t *vm_summary_json(const struct statedb_vm *vm)
{
	json_t *tags = json_array();
	char buf[sizeof(vm->tags)], *save, *t;

	snprintf(buf, sizeof(buf), "%s", vm->tags);
	for (t = strtok_r(buf, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save))
		json_array_append_new(tags, json_string(t));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:I, s:o, s:o}",
			 "vmid", (json_int_t)vm->vmid, "name", vm->name, "node",
			 vm->node, "state", vm->state, "desired", vm->desired,
			 "cpus", vm->cpus, "memory_mb",
			 (json_int_t)vm->memory_mb, "tags", tags, "lock",
			 vm->lock[0] ? json_string(vm->lock) : json_null());
}

static json_t *vm_json(const struct statedb_vm *vm)
{
	json_t *config = json_loads(vm->config, 0, NULL);
	json_t *pending =
		vm->pending != NULL ? json_loads(vm->pending, 0, NULL) : NULL;

	return json_pack("{s:I, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:s, s:I, "
			 "s:o, s:o}",
			 "vmid", (json_int_t)vm->vmid, "name", vm->name, "node",
			 vm->node, "config",
			 config != NULL ? config : json_object(), "pending",
			 pending != NULL ? pending : json_null(), "digest",
			 vm->digest, "desired", vm->desired, "state", vm->state,
			 "state_node", vm->state_node, "state_since",
			 (json_int_t)vm->state_ms, "lock",
			 vm->lock[0] ? json_string(vm->lock) : json_null(),
			 "target",
			 vm->target[0] ? json_string(vm->target) : json_null());
}

/* ---- routing to the VM's node ---- */

/* Forwards @req to node @node unless it is this one. True if the request
 * was answered (forwarded or failed). */
static bool route_to(struct agent *a, const char *node, struct api_req *req,
		     struct api_resp *resp)
{
	struct statedb_node n;
	struct hx_err err = {0};

	if (strcmp(node, a->cfg.name) == 0)
		return false;
	if (req->forwarded) {
		api_error(resp, HX_ENOQUORUM,
			  "the VM's node changed while forwarding: retry");
		return true;
	}
	if (statedb_node_get(a->db, node, &n, &err) < 0) {
		api_error_from(resp, &err);
		return true;
	}
	api_forward(a, n.peer, req, resp);
	return true;
}

static bool executor_ready(struct agent *a, struct api_resp *resp)
{
	if (a->vmx != NULL)
		return true;
	api_error(resp, HX_ENOQUORUM,
		  "the VM executor of node '%s' is not running", a->cfg.name);
	return false;
}

/* A NIC's vnet must exist (its bridge follows on every node). */
static bool vnet_check(struct agent *a, const struct vm_config *c, unsigned i,
		       struct api_resp *resp)
{
	struct statedb_vnet v;
	struct hx_err err = {0};

	if (statedb_vnet_get(a->db, c->nics[i].vnet, &v, &err) == 0)
		return true;
	if (err.code == -ENOENT)
		api_error(resp, -EINVAL, "nics[%u].vnet: no vnet '%s'", i,
			  c->nics[i].vnet);
	else
		api_error_from(resp, &err);
	return false;
}

/* Node-local checks: bridges, and files given by absolute path. */
static bool local_check(struct agent *a, const struct vm_config *c,
			struct api_resp *resp)
{
	struct stat st;

	for (unsigned i = 0; i < c->nnics; i++) {
		char path[64];

		if (c->nics[i].vnet[0] != '\0') {
			if (!vnet_check(a, c, i, resp))
				return false;
			continue;
		}
		snprintf(path, sizeof(path), "/sys/class/net/%s/bridge",
			 c->nics[i].bridge);
		if (stat(path, &st) < 0) {
			api_error(resp, -EINVAL,
				  "nics[%u].bridge: no bridge '%s' on node "
				  "'%s'",
				  i, c->nics[i].bridge, a->cfg.name);
			return false;
		}
	}
	for (unsigned i = 0; i < c->ndisks; i++) {
		const char *v = c->disks[i].volume;

		if (v[0] == '/' && stat(v, &st) < 0) {
			api_error(resp, -EINVAL,
				  "disks[%u].volume: '%s' does not exist on "
				  "node '%s'",
				  i, v, a->cfg.name);
			return false;
		}
	}
	struct hx_err serr = {0};
	if (storage_vm_check(a, c, &serr) < 0) {
		api_error_from(resp, &serr);
		return false;
	}
	const char *files[][2] = {{"cdrom.iso", c->cdrom[0] == '/' ? c->cdrom : ""},
				  {"kernel.path", c->has_kernel ? c->kernel : ""},
				  {"kernel.initrd", c->has_kernel ? c->initrd : ""}};
	for (size_t i = 0; i < HX_ARRAY_SIZE(files); i++) {
		if (files[i][1][0] != '\0' && stat(files[i][1], &st) < 0) {
			api_error(resp, -EINVAL,
				  "%s: '%s' does not exist on node '%s'",
				  files[i][0], files[i][1], a->cfg.name);
			return false;
		}
	}
	return true;
}

/* The write-side view of @c (and @pending, NULL for none). */
/* The vnet NICs of @c and @pending (not already in @nets) into @nets. */
static unsigned nets_of(const struct vm_config *c,
			const struct vm_config *pending,
			struct statedb_nic_net *nets)
{
	const struct vm_config *both[] = {c, pending};
	unsigned n = 0;

	for (unsigned k = 0; k < 2 && both[k] != NULL; k++)
		for (unsigned i = 0; i < both[k]->nnics; i++) {
			const struct vm_nic *nic = &both[k]->nics[i];
			bool dup = false;

			for (unsigned j = 0; j < n; j++)
				dup = dup || strcmp(nets[j].mac, nic->mac) == 0;
			if (dup || nic->vnet[0] == '\0')
				continue;
			nets[n++] = (struct statedb_nic_net){
				.mac = nic->mac, .vnet = nic->vnet,
				.ip4 = nic->ip4, .ip6 = nic->ip6};
		}
	return n;
}

static int spec_of(const struct vm_config *c, const struct vm_config *pending,
		   struct statedb_vm_spec *s, char *tags, size_t tags_len,
		   const char **macs, struct statedb_nic_net *nets,
		   char **ret_config, char **ret_pending)
{
	unsigned n = 0;

	*ret_config = vmconf_dump(c);
	*ret_pending = pending != NULL ? vmconf_dump(pending) : NULL;
	if (*ret_config == NULL || (pending != NULL && *ret_pending == NULL)) {
		free(*ret_config);
		free(*ret_pending);
		return -ENOMEM;
	}
	vmconf_tags_text(c, tags, tags_len);
	for (unsigned i = 0; i < c->nnics; i++)
		macs[n++] = c->nics[i].mac;
	for (unsigned i = 0; pending != NULL && i < pending->nnics; i++) {
		bool dup = false;
		for (unsigned k = 0; k < c->nnics; k++)
			dup = dup || strcmp(c->nics[k].mac,
					    pending->nics[i].mac) == 0;
		if (!dup)
			macs[n++] = pending->nics[i].mac;
	}
	*s = (struct statedb_vm_spec){
		.name = c->name,
		.cpus = c->sockets * c->cores,
		.memory_mb = c->memory_mb,
		.tags = tags,
		.config = *ret_config,
		.pending = *ret_pending,
		.macs = macs,
		.nmacs = n,
		.nets = nets,
		.nnets = nets_of(c, pending, nets),
	};
	return 0;
}

/* ---- handlers ---- */

void h_vms_list(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	char node[64] = "", state[16] = "", tag[70] = "", name[64] = "";
	struct statedb_vm *vms = NULL;
	struct hx_err err = {0};
	unsigned n = 0;

	const struct {
		const char *key;
		char *buf;
		size_t len;
	} filters[] = {{"node", node, sizeof(node)},
		       {"state", state, sizeof(state)},
		       {"tag", tag, sizeof(tag)},
		       {"name", name, sizeof(name)}};

	for (size_t i = 0; i < HX_ARRAY_SIZE(filters); i++) {
		/* a filter too long for any value would match nothing */
		if (api_query(req, filters[i].key, filters[i].buf,
			      filters[i].len) < 0) {
			api_error(resp, -EINVAL,
				  "query parameter '%s' is too long",
				  filters[i].key);
			return;
		}
	}
	if (statedb_vm_list(a->db, node[0] ? node : NULL, &vms, &n, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_array();
	for (unsigned i = 0; i < n; i++) {
		char t[72];

		snprintf(t, sizeof(t), " %s ", tag);
		if ((state[0] && strcmp(vms[i].state, state) != 0) ||
		    (tag[0] && strstr(vms[i].tags, t) == NULL) ||
		    (name[0] && strcmp(vms[i].name, name) != 0))
			continue;
		json_array_append_new(resp->data, vm_summary_json(&vms[i]));
	}
	statedb_vm_list_free(vms, n);
}

void h_vm_nextid(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct hx_err err = {0};
	int64_t id;

	(void)req;
	if (statedb_vm_nextid(a->db, &id, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_pack("{s:I}", "vmid", (json_int_t)id);
}

void h_vm_get(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct statedb_vm vm;
	struct hx_err err = {0};

	if (statedb_vm_get(a->db, req->arg[0], &vm, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = vm_json(&vm);
	snprintf(resp->etag, sizeof(resp->etag), "%s", vm.digest);
	statedb_vm_clear(&vm);
}

static void create_here(struct agent *a, struct api_req *req,
			struct api_resp *resp, json_t *body, bool start,
			bool auto_id)
{
	struct vm_config *c = calloc(1, sizeof(*c));
	struct vmexec_req x = {.op = VMOP_CREATE, .start = start};
	const char *macs[VM_MAX_NICS];
	struct statedb_nic_net nets[VM_MAX_NICS];
	struct statedb_vm_spec spec;
	struct hx_err err = {0};
	char tags[1100], *config = NULL, *pending = NULL;
	int64_t task;
	int r = -EEXIST;

	if (c == NULL) {
		api_error(resp, -ENOMEM, "out of memory");
		return;
	}
	for (int attempt = 0; r == -EEXIST && attempt < 5; attempt++) {
		if (auto_id && attempt > 0) {
			int64_t id;
			if (statedb_vm_nextid(a->db, &id, &err) < 0)
				break;
			json_object_set_new(body, "vmid", json_integer(id));
		}
		if (vmconf_parse(body, c, &err) < 0 ||
		    !local_check(a, c, resp))
			goto out_checked;
		free(config);
		free(pending);
		if (spec_of(c, NULL, &spec, tags, sizeof(tags), macs, nets,
			    &config, &pending) < 0) {
			hx_err_set(&err, -ENOMEM, "out of memory");
			break;
		}
		memset(&err, 0, sizeof(err));
		r = statedb_vm_create(a->db, c->vmid, c->node, &spec,
				      "stopped", &err);
		/* Only a VMID we picked ourselves is worth another try. */
		if (r == -EEXIST && (!auto_id || strstr(err.msg, "VMID") == NULL))
			break;
	}
	if (r < 0 || err.code < 0) {
		api_error_from(resp, &err);
		goto out;
	}
	x.vmid = c->vmid;
	snprintf(x.actor, sizeof(x.actor), "%s", req->actor);
	if (vmexec_submit(a->vmx, &x, &task, &err) < 0) {
		(void)statedb_vm_delete(a->db, c->vmid, NULL);
		api_error_from(resp, &err);
		goto out;
	}
	resp->status = 202;
	resp->data = json_pack("{s:I, s:I, s:s}", "vmid", (json_int_t)c->vmid,
			       "task", (json_int_t)task, "node", c->node);
	goto out;
out_checked:
	if (err.code < 0)
		api_error_from(resp, &err);
out:
	free(config);
	free(pending);
	free(c);
}

/*
 * No node given: the placement engine HA uses chooses one (online nodes,
 * rules, configured CPU and memory against capacity and load). Falls back
 * to this node when it cannot tell (no node online for HA yet, or the
 * configuration is invalid: the create then says why).
 */
static void place(struct agent *a, json_t *body)
{
	struct vm_config *c = calloc(1, sizeof(*c));
	json_t *copy = json_deep_copy(body);
	char node[64], why[1024];
	json_t *id = json_object_get(body, "vmid");
	struct hx_err err = {0};

	snprintf(node, sizeof(node), "%s", a->cfg.name);
	if (c != NULL && copy != NULL &&
	    json_object_set_new(copy, "node", json_string(node)) == 0 &&
	    vmconf_parse(copy, c, NULL) == 0 &&
	    agent_ha_place(a, json_is_integer(id) ? json_integer_value(id) : 0,
			   (double)(c->sockets * c->cores),
			   (uint64_t)c->memory_mb << 20, node, sizeof(node),
			   why, sizeof(why), &err) == 0) {
		char *line = strstr(why, "placement: ");
		line = line != NULL ? line + 11 : why;
		line[strcspn(line, "\n")] = '\0';
		hx_log(LOG_NOTICE, "placement: new VM '%s' on node '%s': %s",
		       c->name, node, line);
	} else if (err.code < 0) {
		hx_log(LOG_INFO, "placement: %s; creating on node '%s'",
		       err.msg, node);
	}
	json_object_set_new(body, "node", json_string(node));
	json_decref(copy);
	free(c);
}

void h_vm_create(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct hx_err err = {0};
	json_t *body, *v;
	bool start = false, auto_id;
	int64_t id;

	if (req->body == NULL || !json_is_object(req->body)) {
		api_error(resp, -EINVAL, "a JSON object body is required");
		return;
	}
	body = json_deep_copy(req->body);
	if ((v = json_object_get(body, "start")) != NULL) {
		if (!json_is_boolean(v)) {
			api_error(resp, -EINVAL, "start: must be true or false");
			json_decref(body);
			return;
		}
		start = json_is_true(v);
		json_object_del(body, "start");
	}
	if ((v = json_object_get(body, "node")) == NULL) {
		place(a, body);
	} else if (!json_is_string(v)) {
		api_error(resp, -EINVAL, "node: must be a string");
		json_decref(body);
		return;
	}
	const char *node = json_string_value(json_object_get(body, "node"));
	if (strcmp(node, a->cfg.name) != 0) {
		json_t *orig = req->body;
		struct statedb_node n;

		if (statedb_node_get(a->db, node, &n, &err) < 0) {
			api_error_from(resp, &err);
		} else if (req->forwarded) {
			api_error(resp, HX_ENOQUORUM,
				  "forwarded to the wrong node: retry");
		} else {
			if (start)
				json_object_set_new(body, "start", json_true());
			req->body = body;
			api_forward(a, n.peer, req, resp);
			req->body = orig;
		}
		json_decref(body);
		return;
	}
	if (!executor_ready(a, resp)) {
		json_decref(body);
		return;
	}
	auto_id = json_object_get(body, "vmid") == NULL;
	if (auto_id) {
		if (statedb_vm_nextid(a->db, &id, &err) < 0) {
			api_error_from(resp, &err);
			json_decref(body);
			return;
		}
		json_object_set_new(body, "vmid", json_integer(id));
	}
	create_here(a, req, resp, body, start, auto_id);
	json_decref(body);
}

/* Loads the VM of req->arg[0]; false (response set) on failure. */
static bool vm_load(struct agent *a, struct api_req *req,
		    struct api_resp *resp, struct statedb_vm *vm)
{
	struct hx_err err = {0};

	if (statedb_vm_get(a->db, req->arg[0], vm, &err) < 0) {
		api_error_from(resp, &err);
		return false;
	}
	return true;
}

void h_vm_patch(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct vm_config *cur = NULL, *next = NULL;
	const char *macs[2 * VM_MAX_NICS], *digest;
	struct statedb_nic_net nets[2 * VM_MAX_NICS];
	char digest_buf[80];
	struct statedb_vm_spec spec;
	struct statedb_vm vm;
	struct hx_err err = {0};
	char tags[1100], *config = NULL, *pending = NULL, key[24];
	json_t *change = NULL, *v;
	bool revert = false, running;

	if (req->body == NULL || !json_is_object(req->body)) {
		api_error(resp, -EINVAL, "a JSON object body is required");
		return;
	}
	if (!vm_load(a, req, resp, &vm))
		return;
	if (route_to(a, vm.node, req, resp))
		goto out;
	change = json_deep_copy(req->body);
	if ((v = json_object_get(change, "digest")) != NULL &&
	    !json_is_string(v)) {
		api_error(resp, -EINVAL, "digest: must be a string");
		goto out;
	}
	/* A copy: the body's field is deleted below. */
	digest = api_if_match(req, digest_buf, sizeof(digest_buf));
	if ((v = json_object_get(change, "revert")) != NULL) {
		if (!json_is_boolean(v)) {
			api_error(resp, -EINVAL, "revert: must be true or false");
			goto out;
		}
		revert = json_is_true(v);
	}
	cur = calloc(1, sizeof(*cur));
	next = calloc(1, sizeof(*next));
	if (cur == NULL || next == NULL) {
		api_error(resp, -ENOMEM, "out of memory");
		goto out;
	}
	if (vmconf_load(vm.config, cur, &err) < 0 ||
	    (vm.pending != NULL && !revert &&
	     vmconf_load(vm.pending, next, &err) < 0)) {
		api_error_from(resp, &err);
		goto out;
	}
	if (vm.pending == NULL || revert)
		*next = *cur;
	json_object_del(change, "digest");
	json_object_del(change, "revert");
	/* Changes build on what is pending, so two edits add up. */
	struct vm_config base = *next;
	if (vmconf_patch(&base, change, next, &err) < 0) {
		api_error_from(resp, &err);
		goto out;
	}
	if (!local_check(a, next, resp))
		goto out;
	running = strcmp(vm.state, "stopped") != 0 &&
		  strcmp(vm.state, "crashed") != 0;
	if (running && vmconf_needs_restart(cur, next)) {
		/* Apply the hot fields now, keep the rest pending. */
		memcpy(cur->name, next->name, sizeof(cur->name));
		memcpy(cur->tags, next->tags, sizeof(cur->tags));
		cur->ntags = next->ntags;
		memcpy(cur->description, next->description,
		       sizeof(cur->description));
		cur->onboot = next->onboot;
		memcpy(cur->restart, next->restart, sizeof(cur->restart));
		if (spec_of(cur, next, &spec, tags, sizeof(tags), macs, nets,
			    &config, &pending) < 0) {
			api_error(resp, -ENOMEM, "out of memory");
			goto out;
		}
	} else if (spec_of(next, NULL, &spec, tags, sizeof(tags), macs, nets,
			   &config, &pending) < 0) {
		api_error(resp, -ENOMEM, "out of memory");
		goto out;
	}
	if (statedb_vm_update(a->db, vm.vmid, &spec, digest, &err) < 0) {
		api_error_from(resp, &err);
		goto out;
	}
	statedb_vm_clear(&vm);
	snprintf(key, sizeof(key), "%" PRId64, base.vmid);
	if (statedb_vm_get(a->db, key, &vm, &err) < 0) {
		memset(&vm, 0, sizeof(vm));
		api_error_from(resp, &err);
		goto out;
	}
	resp->data = vm_json(&vm);
	snprintf(resp->etag, sizeof(resp->etag), "%s", vm.digest);
out:
	json_decref(change);
	free(config);
	free(pending);
	free(cur);
	free(next);
	statedb_vm_clear(&vm);
}

static bool body_int(struct api_req *req, struct api_resp *resp,
		     const char *key, int64_t min, int64_t max, int64_t *ret)
{
	json_t *v = req->body ? json_object_get(req->body, key) : NULL;

	if (v == NULL)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		api_error(resp, -EINVAL,
			  "%s: must be an integer from %" PRId64 " to %" PRId64,
			  key, min, max);
		return false;
	}
	*ret = json_integer_value(v);
	return true;
}

static void submit(struct agent *a, struct api_req *req,
		   struct api_resp *resp, struct vmexec_req *x)
{
	struct statedb_vm vm;
	struct hx_err err = {0};
	int64_t task;

	if (!vm_load(a, req, resp, &vm))
		return;
	if (vm.ha && (x->op == VMOP_START || x->op == VMOP_STOP ||
		      x->op == VMOP_SHUTDOWN || x->op == VMOP_DELETE)) {
		/* HA decides where and whether it runs. */
		api_error(resp, -EBUSY,
			  "VM %" PRId64 " is managed by HA: use 'hxctl ha set "
			  "%" PRId64 " --state started|stopped' (or 'hxctl ha "
			  "remove %" PRId64 "' first)",
			  vm.vmid, vm.vmid, vm.vmid);
		statedb_vm_clear(&vm);
		return;
	}
	if (route_to(a, vm.node, req, resp)) {
		statedb_vm_clear(&vm);
		return;
	}
	x->vmid = vm.vmid;
	statedb_vm_clear(&vm);
	if (!executor_ready(a, resp))
		return;
	snprintf(x->actor, sizeof(x->actor), "%s", req->actor);
	if (vmexec_submit(a->vmx, x, &task, &err) < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->status = 202;
	resp->data = json_pack("{s:I, s:I}", "vmid", (json_int_t)x->vmid,
			       "task", (json_int_t)task);
}

void h_vm_delete(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct vmexec_req x = {.op = VMOP_DELETE};
	static const char *const allowed[] = {NULL};

	if (!api_body_check(req, resp, allowed, false))
		return;
	submit(a, req, resp, &x);
}

/* Whether the VM runs here (running or paused), per libvirt. */
static int running_here(struct agent *a, int64_t vmid, bool *ret,
			struct hx_err *err)
{
	struct vmexec_status st;
	int r;

	if ((r = vmexec_status(a->vmx, vmid, &st, err)) < 0)
		return r;
	*ret = strcmp(st.state, "running") == 0 ||
	       strcmp(st.state, "paused") == 0;
	return 0;
}

/* An HA VM moves only when the HA leader asks for exactly this move:
 * "ha_uid" names its current request, a migration to @target. */
static bool ha_migration_requested(struct agent *a, struct api_req *req,
				   const struct statedb_vm *vm,
				   const char *target, struct api_resp *resp)
{
	json_t *uid = json_object_get(req->body, "ha_uid");
	struct statedb_ha_resource h;

	if (uid != NULL && json_is_integer(uid) &&
	    json_integer_value(uid) == vm->ha_uid &&
	    statedb_ha_resource_get(a->db, vm->vmid, &h, NULL) == 0 &&
	    strcmp(h.state, "migrate") == 0 && strcmp(h.target, target) == 0)
		return true;
	api_error(resp, -EBUSY,
		  "VM %" PRId64 " is managed by HA: use 'hxctl ha migrate "
		  "%" PRId64 " %s'",
		  vm->vmid, vm->vmid, target);
	return false;
}

/* POST /vms/VMID/migrate on the VM's node: validates everything, asks the
 * destination whether it can take the VM, then starts the task. */
static void vm_migrate(struct agent *a, struct api_req *req,
		       struct api_resp *resp)
{
	static const char *const allowed[] = {"node", "online",
					      "bandwidth_mbps",
					      "max_downtime_ms", "ha_uid", NULL};
	struct vmexec_migrate_req q = {.max_downtime_ms = 100};
	json_t *v, *check = NULL;
	struct statedb_node n;
	struct statedb_vm vm;
	struct hx_err err = {0};
	bool running;
	int64_t task;

	if (!api_body_check(req, resp, allowed, true))
		return;
	v = json_object_get(req->body, "node");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= sizeof(q.target)) {
		api_error(resp, -EINVAL, "node: the destination node's name "
					 "is required");
		return;
	}
	snprintf(q.target, sizeof(q.target), "%s", json_string_value(v));
	v = json_object_get(req->body, "online");
	if (v != NULL && !json_is_boolean(v)) {
		api_error(resp, -EINVAL, "online: must be true or false");
		return;
	}
	if (!body_int(req, resp, "bandwidth_mbps", 0, 1000000,
		      &q.bandwidth_mibs) ||
	    !body_int(req, resp, "max_downtime_ms", 1, 600000,
		      &q.max_downtime_ms))
		return;
	if (!vm_load(a, req, resp, &vm))
		return;
	if (vm.ha && !ha_migration_requested(a, req, &vm, q.target, resp))
		goto out;
	if (route_to(a, vm.node, req, resp) || !executor_ready(a, resp))
		goto out;
	q.vmid = vm.vmid;
	if (strcmp(q.target, vm.node) == 0) {
		api_error(resp, -EINVAL, "VM %" PRId64 " is already on node '%s'",
			  vm.vmid, vm.node);
		goto out;
	}
	if (statedb_node_get(a->db, q.target, &n, &err) < 0) {
		api_error_from(resp, &err);
		goto out;
	}
	snprintf(q.target_peer, sizeof(q.target_peer), "%s", n.peer);
	if (vm.lock[0] != '\0') {
		api_error(resp, -EBUSY, "VM %" PRId64 " is locked (%s)",
			  vm.vmid, vm.lock);
		goto out;
	}
	if (running_here(a, vm.vmid, &running, &err) < 0) {
		api_error_from(resp, &err);
		goto out;
	}
	q.online = v != NULL ? json_is_true(v) : running;
	if (q.online && !running) {
		api_error(resp, -EBUSY,
			  "VM %" PRId64 " is not running: migrate it offline "
			  "(\"online\": false)",
			  vm.vmid);
		goto out;
	}
	if (!q.online && running) {
		api_error(resp, -EBUSY,
			  "VM %" PRId64 " is running: stop it first, or "
			  "migrate it live",
			  vm.vmid);
		goto out;
	}
	/* Can the destination take it (bridges, shared files, volumes)? */
	check = json_pack("{s:s, s:b, s:b}", "source", a->cfg.name, "check", 1,
			  "offline", !q.online);
	if (vmexec_peer_call(a, q.target, q.target_peer, vm.vmid, "prepare",
			     check, NULL, &err) < 0) {
		api_error_from(resp, &err);
		goto out;
	}
	snprintf(q.actor, sizeof(q.actor), "%s", req->actor);
	if (vmexec_migrate_submit(a->vmx, &q, &task, &err) < 0) {
		api_error_from(resp, &err);
		goto out;
	}
	resp->status = 202;
	resp->data = json_pack("{s:I, s:I}", "vmid", (json_int_t)vm.vmid,
			       "task", (json_int_t)task);
out:
	json_decref(check);
	statedb_vm_clear(&vm);
}

/* POST /vms/VMID/migrate/OP: "cancel" for users; "prepare", "probe" and
 * "abort" only from other nodes (the source of a migration). */
void h_vm_migrate_op(struct agent *a, struct api_req *req,
		     struct api_resp *resp)
{
	const char *op = req->arg[1];
	struct statedb_vm vm;
	struct hx_err err = {0};
	json_t *data = NULL;
	char *end;
	int64_t vmid, task;
	int r;

	if (strcmp(op, "cancel") == 0) {
		static const char *const none[] = {NULL};
		if (!api_body_check(req, resp, none, false) ||
		    !vm_load(a, req, resp, &vm))
			return;
		if (!route_to(a, vm.node, req, resp) &&
		    executor_ready(a, resp)) {
			if (vmexec_migrate_cancel(a->vmx, vm.vmid, &task,
						  &err) < 0) {
				api_error_from(resp, &err);
			} else {
				resp->status = 202;
				resp->data = json_pack("{s:I, s:I}", "vmid",
						       (json_int_t)vm.vmid,
						       "task",
						       (json_int_t)task);
			}
		}
		statedb_vm_clear(&vm);
		return;
	}
	if (!req->forwarded || (strcmp(op, "prepare") != 0 &&
				strcmp(op, "probe") != 0 &&
				strcmp(op, "abort") != 0)) {
		api_error(resp, -ENOENT, "no such API path: %s", req->path);
		return;
	}
	if (!executor_ready(a, resp))
		return;
	vmid = strtoll(req->arg[0], &end, 10);
	if (*end != '\0' || vmid < STATEDB_VMID_MIN) {
		api_error(resp, -EINVAL, "bad VMID '%s'", req->arg[0]);
		return;
	}
	if (strcmp(op, "prepare") == 0 && !json_is_object(req->body))
		r = hx_err_set(&err, -EINVAL, "a JSON object body is required");
	else if (strcmp(op, "prepare") == 0)
		r = vmexec_migrate_prepare(a->vmx, vmid, req->body, &data,
					   &err);
	else if (strcmp(op, "probe") == 0)
		r = vmexec_migrate_probe(a->vmx, vmid, &data, &err);
	else
		r = vmexec_migrate_abort(a->vmx, vmid, &err);
	if (r < 0) {
		api_error_from(resp, &err);
		return;
	}
	resp->data = data != NULL ? data : json_object();
}

void h_vm_action(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	static const struct {
		const char *name;
		enum vmexec_op op;
		const char *const allowed[3];
	} acts[] = {
		{"start", VMOP_START, {NULL}},
		{"stop", VMOP_STOP, {NULL}},
		{"shutdown", VMOP_SHUTDOWN, {"timeout", "force", NULL}},
		{"reboot", VMOP_REBOOT, {"timeout", NULL}},
		{"reset", VMOP_RESET, {NULL}},
		{"suspend", VMOP_SUSPEND, {NULL}},
		{"resume", VMOP_RESUME, {NULL}},
	};
	struct vmexec_req x = {0};
	int64_t timeout = 60;

	if (strcmp(req->arg[1], "migrate") == 0) {
		vm_migrate(a, req, resp);
		return;
	}

	for (size_t i = 0; i < HX_ARRAY_SIZE(acts); i++) {
		if (strcmp(acts[i].name, req->arg[1]) != 0)
			continue;
		if (!api_body_check(req, resp, acts[i].allowed, false) ||
		    !body_int(req, resp, "timeout", 1, 3600, &timeout))
			return;
		x.op = acts[i].op;
		x.timeout_s = (int)timeout;
		json_t *f = req->body ? json_object_get(req->body, "force")
				      : NULL;
		if (f != NULL && !json_is_boolean(f)) {
			api_error(resp, -EINVAL, "force: must be true or false");
			return;
		}
		x.force = f != NULL && json_is_true(f);
		submit(a, req, resp, &x);
		return;
	}
	api_error(resp, -ENOENT,
		  "no VM action '%s' (start, stop, shutdown, reboot, reset, "
		  "suspend, resume, migrate)",
		  req->arg[1]);
}

void h_vm_status(struct agent *a, struct api_req *req, struct api_resp *resp)
{
	struct vmexec_status st;
	struct statedb_vm vm;
	struct hx_err err = {0};

	if (!vm_load(a, req, resp, &vm))
		return;
	if (route_to(a, vm.node, req, resp) || !executor_ready(a, resp)) {
		statedb_vm_clear(&vm);
		return;
	}
	if (vmexec_status(a->vmx, vm.vmid, &st, &err) < 0) {
		statedb_vm_clear(&vm);
		api_error_from(resp, &err);
		return;
	}
	resp->data = json_pack(
		"{s:I, s:s, s:s, s:o, s:I, s:f, s:I, s:o, s:o}", "vmid",
		(json_int_t)vm.vmid, "node", vm.node, "state", st.state,
		"uptime_s",
		st.uptime_s >= 0 ? json_integer(st.uptime_s) : json_null(),
		"cpu_time_ms", (json_int_t)st.cpu_time_ms, "cpu_percent",
		st.cpu_percent, "memory_mb", (json_int_t)st.memory_mb,
		"memory_rss_mb",
		st.rss_mb >= 0 ? json_integer(st.rss_mb) : json_null(), "pid",
		st.pid > 0 ? json_integer(st.pid) : json_null());
	statedb_vm_clear(&vm);
}
