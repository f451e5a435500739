/*
 * hxctl vm ...: virtual machines (docs/api.md, "Virtual machines").
 *
 * DESIGN: reads (list, show, status, nextid) are one GET each. Actions
 * answer 202 with a task: hxctl prints the task and, with --wait, follows
 * it through hxctl_task_wait(), the code behind 'task wait'. The request
 * bodies of create and set come from hxctl-vmconf.c, which is pure and
 * unit-tested. A VM argument may be a name: hxctl resolves it to the VMID
 * with one GET, because only GET /vms/VMID is documented to take names.
 * 'vm set' sends only what the user gave, but the API replaces the nested
 * "cpu" and "kernel" objects whole, so a partial one is completed from the
 * VM read just before and sent with If-Match; a 412 then means the VM
 * changed in between, and the change is redone on a fresh read.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

/* How long --wait follows a task: migrations of big guests take long. */
#define VM_WAIT_S	  600
#define VM_WAIT_MIGRATE_S (6 * 3600)
/* Attempts of a read-merge-write 'vm set' before giving up. */
#define VM_SET_ATTEMPTS 3

json_t *hxctl_vm_config(json_t *vm)
{
	json_t *config = json_object_get(vm, "config");

	return json_is_object(config) ? config : vm;
}

int hxctl_vm_get(struct hxctl *c, const char *ref, struct hxctl_resp *ret)
{
	return hxctl_get_object(c, "/vms", ref, ret);
}

int hxctl_vm_ref(struct hxctl *c, const char *arg, int64_t *ret_vmid)
{
	struct hxctl_resp resp;
	int code;

	if (arg[0] >= '0' && arg[0] <= '9' &&
	    strspn(arg, "0123456789") == strlen(arg)) {
		if (hxctl_parse_int(arg, 100, 999999999, ret_vmid) == 0)
			return HXCTL_EXIT_OK;
		hxctl_warn("VMID must be from 100 to 999999999, got '%s'", arg);
		return HXCTL_EXIT_USAGE;
	}
	code = hxctl_vm_get(c, arg, &resp);
	if (code == HXCTL_EXIT_OK &&
	    !hxctl_json_int(hxctl_vm_config(resp.data), "vmid", ret_vmid)) {
		hxctl_warn("unexpected answer for VM '%s': no vmid", arg);
		code = HXCTL_EXIT_ERROR;
	}
	hxctl_resp_close(&resp);
	return code;
}

/* Checks an optional integer option in [min, max]; prints a usage error. */
static bool opt_int(const struct hxctl_args *a, const char *name, int64_t min,
		    int64_t max, int64_t *ret)
{
	const char *s = hxctl_args_get(a, name);

	if (s == NULL)
		return true;
	if (hxctl_parse_int(s, min, max, ret) == 0)
		return true;
	hxctl_warn("--%s: expected an integer from %lld to %lld, got '%s'",
		   name, (long long)min, (long long)max, s);
	return false;
}

/*
 * Sends @req, which answers 202 {"task": ID}; prints "vm VMID: WHAT: task
 * ID" (the data with --json), then with --wait follows the task for at
 * most @wait_s seconds. @vmid <= 0: take it from the answer.
 */
static int vm_async(struct hxctl *c, const struct hxctl_args *a,
		    const struct hxctl_req *req, int64_t vmid, const char *what,
		    int64_t wait_s)
{
	bool is_wait = hxctl_args_get(a, "wait") != NULL;
	struct hxctl_resp resp;
	int64_t task;
	int code;

	code = hxctl_call(c, req, &resp);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
		goto out_close_resp;
	}
	if (!hxctl_json_int(resp.data, "task", &task)) {
		hxctl_warn("unexpected answer to %s: no task ID", what);
		code = HXCTL_EXIT_ERROR;
		goto out_close_resp;
	}
	if (vmid <= 0 && !hxctl_json_int(resp.data, "vmid", &vmid))
		vmid = 0;
	if (c->json && !is_wait)
		hxctl_json_print(resp.data);
	else if (!c->json && json_is_string(json_object_get(resp.data, "node")))
		printf("vm %lld: %s: task %lld on node '%s'\n", (long long)vmid,
		       what, (long long)task,
		       hxctl_json_str(resp.data, "node", "?"));
	else if (!c->json)
		printf("vm %lld: %s: task %lld\n", (long long)vmid, what,
		       (long long)task);
	fflush(stdout);
	if (is_wait)
		code = hxctl_task_wait(c, task, wait_s);
out_close_resp:
	hxctl_resp_close(&resp);
	return code;
}

/* POSTs /vms/VMID/ACTION with @body (may be NULL) as a task. */
static int vm_action(struct hxctl *c, const struct hxctl_args *a,
		     const char *action, json_t *body, int64_t wait_s)
{
	struct hxctl_req req = {.method = "POST", .body = body};
	char path[96];
	int64_t vmid;
	int code;

	code = hxctl_vm_ref(c, a->pos[0], &vmid);
	if (code != HXCTL_EXIT_OK)
		return code;
	snprintf(path, sizeof(path), "/vms/%lld/%s", (long long)vmid, action);
	req.path = path;
	return vm_async(c, a, &req, vmid, action, wait_s);
}

int hxctl_cmd_vm_start(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_action(c, a, "start", NULL, VM_WAIT_S);
}

int hxctl_cmd_vm_stop(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_action(c, a, "stop", NULL, VM_WAIT_S);
}

int hxctl_cmd_vm_reset(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_action(c, a, "reset", NULL, VM_WAIT_S);
}

int hxctl_cmd_vm_suspend(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_action(c, a, "suspend", NULL, VM_WAIT_S);
}

int hxctl_cmd_vm_resume(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_action(c, a, "resume", NULL, VM_WAIT_S);
}

/* shutdown and reboot: {"timeout": S[, "force": true]}. */
static int vm_shutdown(struct hxctl *c, const struct hxctl_args *a,
		       const char *action)
{
	int64_t timeout_s = 60;
	json_t *body = json_object();
	int code = HXCTL_EXIT_USAGE;

	if (body == NULL) {
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	if (!opt_int(a, "timeout", 1, 3600, &timeout_s))
		goto out_free_body;
	code = HXCTL_EXIT_ERROR;
	if ((hxctl_args_get(a, "timeout") != NULL &&
	     json_object_set_new(body, "timeout", json_integer(timeout_s)) <
		     0) ||
	    (hxctl_args_get(a, "force") != NULL &&
	     json_object_set_new(body, "force", json_true()) < 0)) {
		hxctl_warn("out of memory");
		goto out_free_body;
	}
	code = vm_action(c, a, action, body, VM_WAIT_S + timeout_s);
out_free_body:
	json_decref(body);
	return code;
}

int hxctl_cmd_vm_shutdown(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_shutdown(c, a, "shutdown");
}

int hxctl_cmd_vm_reboot(struct hxctl *c, const struct hxctl_args *a)
{
	return vm_shutdown(c, a, "reboot");
}

int hxctl_cmd_vm_migrate(struct hxctl *c, const struct hxctl_args *a)
{
	int64_t bw = -1;
	int64_t downtime = -1;
	json_t *body;
	int code;

	if (!opt_int(a, "bandwidth", 0, INT32_MAX, &bw) ||
	    !opt_int(a, "max-downtime", 1, INT32_MAX, &downtime))
		return HXCTL_EXIT_USAGE;
	/* Without --offline the node decides: live if the VM runs. */
	body = json_pack("{ss}", "node", a->pos[1]);
	if (body != NULL && hxctl_args_get(a, "offline") != NULL &&
	    json_object_set_new(body, "online", json_false()) < 0) {
		json_decref(body);
		body = NULL;
	}
	if (body == NULL) {
		hxctl_warn("NODE is not valid UTF-8, or out of memory");
		return HXCTL_EXIT_USAGE;
	}
	if ((bw >= 0 && json_object_set_new(body, "bandwidth_mbps",
					    json_integer(bw)) < 0) ||
	    (downtime >= 0 &&
	     json_object_set_new(body, "max_downtime_ms",
				 json_integer(downtime)) < 0)) {
		hxctl_warn("out of memory");
		json_decref(body);
		return HXCTL_EXIT_ERROR;
	}
	code = vm_action(c, a, "migrate", body, VM_WAIT_MIGRATE_S);
	json_decref(body);
	return code;
}

int hxctl_cmd_vm_cancel(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "POST"};
	struct hxctl_resp resp;
	char path[96];
	int64_t vmid;
	int64_t task;
	int code;

	code = hxctl_vm_ref(c, a->pos[0], &vmid);
	if (code != HXCTL_EXIT_OK)
		return code;
	snprintf(path, sizeof(path), "/vms/%lld/migrate/cancel",
		 (long long)vmid);
	req.path = path;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else if (hxctl_json_int(resp.data, "task", &task))
		printf("vm %lld: cancel migration: task %lld\n",
		       (long long)vmid, (long long)task);
	else
		printf("vm %lld: migration cancel requested\n",
		       (long long)vmid);
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_vm_delete(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "DELETE"};
	char path[64];
	int64_t vmid;
	int code;

	code = hxctl_vm_ref(c, a->pos[0], &vmid);
	if (code != HXCTL_EXIT_OK)
		return code;
	snprintf(path, sizeof(path), "/vms/%lld", (long long)vmid);
	req.path = path;
	return vm_async(c, a, &req, vmid, "delete", VM_WAIT_S);
}

/*
 * The body of create or set: the --config object, if any, with the options
 * applied. Prints usage errors; returns the exit code.
 */
static int vm_body(const struct hxctl_args *a, bool is_create, json_t **ret)
{
	const char *file = hxctl_args_get(a, "config");
	char errbuf[512] = "out of memory";
	json_t *body = NULL;
	int r;

	if (file != NULL)
		r = hxctl_vm_config_load(file, &body, errbuf, sizeof(errbuf));
	else
		r = (body = json_object()) != NULL ? 0 : -ENOMEM;
	if (r == 0)
		r = hxctl_vm_body(a, is_create, body, errbuf, sizeof(errbuf));
	if (r < 0) {
		hxctl_warn("%s", errbuf);
		json_decref(body);
		return r == -ENOMEM ? HXCTL_EXIT_ERROR : HXCTL_EXIT_USAGE;
	}
	*ret = body;
	return HXCTL_EXIT_OK;
}

int hxctl_cmd_vm_create(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "POST", .path = "/vms"};
	json_t *body = NULL;
	int64_t vmid = 0;
	int code;

	code = vm_body(a, true, &body);
	if (code != HXCTL_EXIT_OK)
		return code;
	if (json_object_get(body, "name") == NULL) {
		hxctl_warn("a VM needs a name: give --name NAME");
		json_decref(body);
		return HXCTL_EXIT_USAGE;
	}
	(void)hxctl_json_int(body, "vmid", &vmid);
	req.body = body;
	code = vm_async(c, a, &req, vmid, "create", VM_WAIT_S);
	json_decref(body);
	return code;
}

/* Prints which changes a PATCH left pending, from the returned VM. */
static void set_print(struct hxctl *c, int64_t vmid, json_t *vm, bool is_revert)
{
	json_t *pending = json_object_get(vm, "pending");
	json_t *config = hxctl_vm_config(vm);
	const char *keys[64];
	char list[512] = "";
	size_t off = 0;
	size_t n;

	if (c->json) {
		hxctl_json_print(vm);
		return;
	}
	n = hxctl_json_keys(pending, keys, HXCTL_ARRAY_SIZE(keys));
	for (size_t i = 0; i < n && off < sizeof(list); i++) {
		int w;

		if (json_equal(json_object_get(pending, keys[i]),
			       json_object_get(config, keys[i])))
			continue;
		w = snprintf(list + off, sizeof(list) - off, "%s%s",
			     off > 0 ? ", " : "", keys[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	printf("vm %lld: %s\n", (long long)vmid,
	       is_revert ? "pending changes dropped" : "updated");
	if (list[0] != '\0')
		printf("vm %lld: pending until the next start: %s\n",
		       (long long)vmid, list);
}

/*
 * One PATCH of VM @vmid with @body, If-Match --digest if given. A partial
 * body is completed from a fresh read first and, without --digest, sent
 * with If-Match the digest read. A 412 on such an implicit If-Match
 * returns HXCTL_EXIT_CONFLICT with *ret_stale set, nothing printed. The
 * digest goes as the API documents it: the bare value of "digest" (the
 * ETag header is the same value in quotes).
 */
static int set_once(struct hxctl *c, const struct hxctl_args *a, int64_t vmid,
		    json_t *body, bool *ret_stale)
{
	struct hxctl_req req = {
		.method = "PATCH",
		.if_match = hxctl_args_get(a, "digest"),
	};
	struct hxctl_resp vm = {0};
	struct hxctl_resp resp = {0};
	json_t *send = json_deep_copy(body);
	bool is_implicit = false;
	char errbuf[256];
	char path[64];
	char ref[24];
	int code = HXCTL_EXIT_ERROR;
	int r;

	*ret_stale = false;
	snprintf(ref, sizeof(ref), "%lld", (long long)vmid);
	snprintf(path, sizeof(path), "/vms/%s", ref);
	if (send == NULL) {
		hxctl_warn("out of memory");
		return HXCTL_EXIT_ERROR;
	}
	if (hxctl_vm_patch_is_partial(body)) {
		code = hxctl_vm_get(c, ref, &vm);
		if (code != HXCTL_EXIT_OK)
			goto out_free_send;
		r = hxctl_vm_patch_merge(send, vm.data, errbuf, sizeof(errbuf));
		if (r < 0) {
			hxctl_warn("%s", errbuf);
			code = r == -ENOMEM ? HXCTL_EXIT_ERROR
					    : HXCTL_EXIT_USAGE;
			goto out_free_send;
		}
		if (req.if_match == NULL &&
		    json_object_get(send, "digest") == NULL) {
			req.if_match = hxctl_json_str(vm.data, "digest", NULL);
			is_implicit = req.if_match != NULL;
		}
	}
	req.path = path;
	req.body = send;
	code = hxctl_call(c, &req, &resp);
	if (code == HXCTL_EXIT_OK)
		set_print(c, vmid, resp.data,
			  hxctl_args_get(a, "revert") != NULL);
	else if (resp.status == 412 && is_implicit)
		*ret_stale = true;
	else
		hxctl_fail(&resp, code);
out_free_send:
	hxctl_resp_close(&resp);
	hxctl_resp_close(&vm);
	json_decref(send);
	return code;
}

/* The PATCH body: changes, or {"revert": true}. */
static int set_body(const struct hxctl_args *a, json_t **ret)
{
	bool is_revert = hxctl_args_get(a, "revert") != NULL;
	json_t *body = NULL;
	int code;

	code = vm_body(a, false, &body);
	if (code != HXCTL_EXIT_OK)
		return code;
	code = HXCTL_EXIT_USAGE;
	if (is_revert && json_object_size(body) > 0)
		hxctl_warn("--revert drops the pending changes; it cannot be "
			   "combined with new ones");
	else if (!is_revert && json_object_size(body) == 0)
		hxctl_warn("nothing to change: give an option such as "
			   "--memory, or --revert");
	else
		code = HXCTL_EXIT_OK;
	if (code == HXCTL_EXIT_OK && is_revert &&
	    json_object_set_new(body, "revert", json_true()) < 0) {
		hxctl_warn("out of memory");
		code = HXCTL_EXIT_ERROR;
	}
	if (code != HXCTL_EXIT_OK) {
		json_decref(body);
		return code;
	}
	*ret = body;
	return HXCTL_EXIT_OK;
}

int hxctl_cmd_vm_set(struct hxctl *c, const struct hxctl_args *a)
{
	json_t *body = NULL;
	bool is_stale = false;
	int64_t vmid;
	int code;

	code = set_body(a, &body);
	if (code != HXCTL_EXIT_OK)
		return code;
	code = hxctl_vm_ref(c, a->pos[0], &vmid);
	for (int i = 0; code == HXCTL_EXIT_OK && i < VM_SET_ATTEMPTS; i++) {
		code = set_once(c, a, vmid, body, &is_stale);
		if (!is_stale)
			goto out_free_body;
		if (i + 1 < VM_SET_ATTEMPTS) {
			hxctl_warn("vm %lld changed while updating it; "
				   "retrying",
				   (long long)vmid);
			code = HXCTL_EXIT_OK;
		}
	}
	if (is_stale)
		hxctl_warn("vm %lld kept changing while updating it (412 "
			   "precondition failed); nothing changed, try again",
			   (long long)vmid);
out_free_body:
	json_decref(body);
	return code;
}
