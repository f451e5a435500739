/*
 * hxctl vm list|show|status|nextid: reading VMs.
 *
 * DESIGN: 'vm show' prints the configuration one field per line. A running
 * VM may have pending changes (docs/api.md: applied at the next start);
 * each field is formatted from the configuration and, if the pending object
 * has it, from there too, and a field whose two texts differ is shown as
 * "current -> next (pending)". Comparing the formatted text rather than the
 * JSON keeps this right whether the server sends only the changed fields or
 * a whole configuration as "pending".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

#define VM_STATES                                                              \
	"stopped starting running paused shutting-down crashed unknown"

/* Formats member @key of @obj into @buf; same shape as hxctl_fmt_cell(). */
typedef void vm_fmt_fn(json_t *obj, const char *key, char *buf, size_t len);
/* Formats one item of a list (a disk, a NIC). */
typedef void vm_item_fn(json_t *item, char *buf, size_t len);

/* Appends printf output at the end of the string in @buf. */
static void append(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t off = strlen(buf);
	va_list ap;

	if (off + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
}

/* A string member; "-" when empty or absent. */
static void fmt_text(json_t *obj, const char *key, char *buf, size_t len)
{
	hxctl_fmt_cell(obj, key, buf, len);
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
}

/* A list of strings as "a,b,c"; "-" when empty or absent. */
static void fmt_strlist(json_t *obj, const char *key, char *buf, size_t len)
{
	json_t *list = json_object_get(obj, key);
	json_t *v;
	size_t i;

	buf[0] = '\0';
	json_array_foreach (list, i, v)
		append(buf, len, "%s%s", i > 0 ? "," : "",
		       json_is_string(v) ? json_string_value(v) : "?");
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
}

static void fmt_memory(json_t *obj, const char *key, char *buf, size_t len)
{
	int64_t mb;

	if (hxctl_json_int(obj, key, &mb))
		snprintf(buf, len, "%lld MiB", (long long)mb);
	else
		snprintf(buf, len, "-");
}

/* "2 (1 socket x 2 cores), qemu64". */
static void fmt_cpu(json_t *obj, const char *key, char *buf, size_t len)
{
	json_t *cpu = json_object_get(obj, key);
	int64_t sockets = 1;
	int64_t cores = 1;

	if (!json_is_object(cpu)) {
		snprintf(buf, len, "-");
		return;
	}
	(void)hxctl_json_int(cpu, "sockets", &sockets);
	(void)hxctl_json_int(cpu, "cores", &cores);
	snprintf(buf, len, "%lld (%lld socket%s x %lld core%s), %s",
		 (long long)(sockets * cores), (long long)sockets,
		 sockets == 1 ? "" : "s", (long long)cores,
		 cores == 1 ? "" : "s",
		 hxctl_json_str(cpu, "model", "default"));
}

static void fmt_cdrom(json_t *obj, const char *key, char *buf, size_t len)
{
	json_t *cdrom = json_object_get(obj, key);

	snprintf(buf, len, "%s",
		 json_is_object(cdrom) ? hxctl_json_str(cdrom, "iso", "?")
				       : "none");
}

/* "/boot/vmlinuz, initrd /boot/initrd.img, cmdline 'console=ttyS0'". */
static void fmt_kernel(json_t *obj, const char *key, char *buf, size_t len)
{
	json_t *k = json_object_get(obj, key);
	const char *initrd = hxctl_json_str(k, "initrd", NULL);
	const char *cmdline = hxctl_json_str(k, "cmdline", "");

	if (!json_is_object(k)) {
		snprintf(buf, len, "none");
		return;
	}
	snprintf(buf, len, "%s", hxctl_json_str(k, "path", "?"));
	if (initrd != NULL)
		append(buf, len, ", initrd %s", initrd);
	if (cmdline[0] != '\0')
		append(buf, len, ", cmdline '%s'", cmdline);
}

/* "local:vm-100-disk-0, virtio-blk, 1.0G, qcow2, cache=none". */
static void fmt_disk(json_t *d, char *buf, size_t len)
{
	char size[32];
	int64_t mb;

	snprintf(buf, len, "%s, %s", hxctl_json_str(d, "volume", "(new)"),
		 hxctl_json_str(d, "bus", "virtio-blk"));
	if (hxctl_json_int(d, "size_mb", &mb) && mb >= 0) {
		hxctl_fmt_mb((uint64_t)mb, size, sizeof(size));
		append(buf, len, ", %s", size);
	}
	append(buf, len, ", %s, cache=%s", hxctl_json_str(d, "format", "qcow2"),
	       hxctl_json_str(d, "cache", "none"));
}

/* "virtio on br0, 52:54:00:12:34:56, vlan 10". */
static void fmt_nic(json_t *n, char *buf, size_t len)
{
	int64_t vlan;

	snprintf(buf, len, "%s on %s, %s", hxctl_json_str(n, "model", "virtio"),
		 hxctl_json_str(n, "bridge", "?"),
		 hxctl_json_str(n, "mac", "(generated)"));
	if (hxctl_json_int(n, "vlan", &vlan))
		append(buf, len, ", vlan %lld", (long long)vlan);
}

/* Prints "label: current", or with a differing pending value, both. */
static bool print_field(const char *label, const char *cur, const char *next)
{
	if (next == NULL || strcmp(cur, next) == 0) {
		hxctl_kv_print(stdout, label, "%s", cur);
		return false;
	}
	hxctl_kv_print(stdout, label, "%s -> %s (pending)", cur, next);
	return true;
}

/* One field; returns whether it has a pending change. */
static bool show_field(const char *label, const char *key, vm_fmt_fn *fmt,
		       json_t *config, json_t *pending)
{
	char cur[1024];
	char next[1024];
	bool has_next = json_object_get(pending, key) != NULL;

	fmt(config, key, cur, sizeof(cur));
	if (has_next)
		fmt(pending, key, next, sizeof(next));
	return print_field(label, cur, has_next ? next : NULL);
}

/* A list as lines "disk0", "disk1"...; returns whether one is pending. */
static bool show_list(const char *prefix, const char *key, vm_item_fn *fmt,
		      json_t *config, json_t *pending)
{
	json_t *cur = json_object_get(config, key);
	json_t *next = json_object_get(pending, key);
	size_t ncur = json_array_size(cur);
	size_t nnext = json_is_array(next) ? json_array_size(next) : ncur;
	size_t n = ncur > nnext ? ncur : nnext;
	bool has_pending = false;

	if (n == 0)
		hxctl_kv_print(stdout, key, "none");
	for (size_t i = 0; i < n; i++) {
		char label[32];
		char a[512] = "-";
		char b[512] = "(removed)";

		snprintf(label, sizeof(label), "%s%zu", prefix, i);
		if (i < ncur)
			fmt(json_array_get(cur, i), a, sizeof(a));
		if (json_is_array(next) && i < nnext)
			fmt(json_array_get(next, i), b, sizeof(b));
		has_pending |=
			print_field(label, a, json_is_array(next) ? b : NULL);
	}
	return has_pending;
}

/* The state line: "running (desired running) on n1 since DATE (AGE)". */
static void show_state(json_t *vm, json_t *config)
{
	const char *node = hxctl_json_str(config, "node", "");
	const char *on = hxctl_json_str(vm, "state_node", node);
	char line[512];
	char when[48];
	char age[48];
	int64_t since;

	snprintf(line, sizeof(line), "%s (desired %s)",
		 hxctl_json_str(vm, "state", "?"),
		 hxctl_json_str(vm, "desired", "?"));
	if (on[0] != '\0' && strcmp(on, node) != 0)
		append(line, sizeof(line), " on %s", on);
	if (hxctl_json_int(vm, "state_since", &since)) {
		hxctl_fmt_time(since, when, sizeof(when));
		hxctl_fmt_age(hxctl_wall_ms() - since, age, sizeof(age));
		append(line, sizeof(line), " since %s (%s)", when, age);
	}
	hxctl_kv_print(stdout, "state", "%s", line);
}

static void vm_print(json_t *vm)
{
	static const struct {
		const char *label;
		const char *key;
		vm_fmt_fn *fmt;
	} fields[] = {
		{"arch", "arch", hxctl_fmt_cell},
		{"machine", "machine", hxctl_fmt_cell},
		{"firmware", "firmware", hxctl_fmt_cell},
		{"cpus", "cpu", fmt_cpu},
		{"memory", "memory_mb", fmt_memory},
	};
	static const struct {
		const char *label;
		const char *key;
		vm_fmt_fn *fmt;
	} more[] = {
		{"cdrom", "cdrom", fmt_cdrom},
		{"boot", "boot", fmt_strlist},
		{"kernel", "kernel", fmt_kernel},
		{"serial", "serial", hxctl_fmt_cell},
		{"vnc", "vnc", hxctl_fmt_cell},
		{"onboot", "onboot", hxctl_fmt_cell},
		{"restart", "restart", hxctl_fmt_cell},
		{"tags", "tags", fmt_strlist},
		{"description", "description", fmt_text},
	};
	json_t *config = hxctl_vm_config(vm);
	json_t *pending = json_object_get(vm, "pending");
	bool has_pending = false;
	char buf[1024];

	if (!json_is_object(pending))
		pending = NULL;
	hxctl_fmt_cell(config, "vmid", buf, sizeof(buf));
	hxctl_kv_print(stdout, "vmid", "%s", buf);
	has_pending |=
		show_field("name", "name", hxctl_fmt_cell, config, pending);
	hxctl_fmt_cell(config, "node", buf, sizeof(buf));
	hxctl_kv_print(stdout, "node", "%s", buf);
	show_state(vm, config);
	hxctl_fmt_cell(vm, "lock", buf, sizeof(buf));
	hxctl_kv_print(stdout, "lock", "%s", buf);
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(fields); i++)
		has_pending |= show_field(fields[i].label, fields[i].key,
					  fields[i].fmt, config, pending);
	has_pending |= show_list("disk", "disks", fmt_disk, config, pending);
	has_pending |= show_list("net", "nics", fmt_nic, config, pending);
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(more); i++)
		has_pending |= show_field(more[i].label, more[i].key,
					  more[i].fmt, config, pending);
	hxctl_fmt_cell(vm, "digest", buf, sizeof(buf));
	hxctl_kv_print(stdout, "digest", "%s", buf);
	if (has_pending)
		printf("\nChanges marked (pending) apply at the next start; "
		       "'hxctl vm set VM --revert'\ndrops them.\n");
}

int hxctl_cmd_vm_show(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_resp resp;
	int code;

	code = hxctl_vm_get(c, a->pos[0], &resp);
	if (code == HXCTL_EXIT_OK && c->json)
		hxctl_json_print(resp.data);
	else if (code == HXCTL_EXIT_OK)
		vm_print(resp.data);
	hxctl_resp_close(&resp);
	return code;
}

/* Builds "/vms?node=..&state=..&tag=.." from the options. */
static int list_path(const struct hxctl_args *a, char *path, size_t len)
{
	static const char *const filters[] = {"node", "state", "tag", "name"};
	const char *state = hxctl_args_get(a, "state");
	char states[] = VM_STATES;
	bool is_known = state == NULL;

	for (char *save = NULL, *s = strtok_r(states, " ", &save);
	     s != NULL && !is_known; s = strtok_r(NULL, " ", &save))
		is_known = strcmp(s, state) == 0;
	if (!is_known) {
		hxctl_warn("--state: expected one of %s, got '%s'", VM_STATES,
			   state);
		return HXCTL_EXIT_USAGE;
	}
	snprintf(path, len, "/vms");
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(filters); i++) {
		int r = hxctl_query_add(path, len, filters[i],
					hxctl_args_get(a, filters[i]));

		if (r < 0) {
			hxctl_warn("%s", r == -ENOMEM ? "out of memory"
						      : "filters too long");
			return r == -ENOMEM ? HXCTL_EXIT_ERROR
					    : HXCTL_EXIT_USAGE;
		}
	}
	return HXCTL_EXIT_OK;
}

/* One row of 'vm list'. */
static int list_row(struct hxctl_table *t, json_t *vm)
{
	char vmid[24], name[128], node[128], state[32], desired[32];
	char cpus[16], mem[32], tags[512], lock[32];
	const char *cells[] = {vmid, name, node, state, desired,
			       cpus, mem,  tags, lock};
	int64_t mb;

	hxctl_fmt_cell(vm, "vmid", vmid, sizeof(vmid));
	hxctl_fmt_cell(vm, "name", name, sizeof(name));
	hxctl_fmt_cell(vm, "node", node, sizeof(node));
	hxctl_fmt_cell(vm, "state", state, sizeof(state));
	hxctl_fmt_cell(vm, "desired", desired, sizeof(desired));
	hxctl_fmt_cell(vm, "cpus", cpus, sizeof(cpus));
	if (hxctl_json_int(vm, "memory_mb", &mb) && mb >= 0)
		hxctl_fmt_mb((uint64_t)mb, mem, sizeof(mem));
	else
		snprintf(mem, sizeof(mem), "-");
	fmt_strlist(vm, "tags", tags, sizeof(tags));
	hxctl_fmt_cell(vm, "lock", lock, sizeof(lock));
	return hxctl_table_add(t, cells);
}

int hxctl_cmd_vm_list(struct hxctl *c, const struct hxctl_args *a)
{
	static const char *const hdr[] = {"VMID",  "NAME",    "NODE",
					  "STATE", "DESIRED", "CPUS",
					  "MEM",   "TAGS",    "LOCK"};
	struct hxctl_req req = {.method = "GET"};
	struct hxctl_table *t = NULL;
	struct hxctl_resp resp = {0};
	char path[1024];
	json_t *vm;
	size_t i;
	int code;

	code = list_path(a, path, sizeof(path));
	if (code != HXCTL_EXIT_OK)
		return code;
	req.path = path;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
		goto out_close_resp;
	}
	if (c->json) {
		hxctl_json_print(resp.data);
		goto out_close_resp;
	}
	t = hxctl_table_new(hdr, 9);
	if (t == NULL)
		goto err_oom;
	json_array_foreach (resp.data, i, vm)
		if (list_row(t, vm) < 0)
			goto err_oom;
	hxctl_table_print(t, stdout);
	goto out_free_table;

err_oom:
	hxctl_warn("out of memory");
	code = HXCTL_EXIT_ERROR;
out_free_table:
	hxctl_table_free(t);
out_close_resp:
	hxctl_resp_close(&resp);
	return code;
}

static void status_print(json_t *s)
{
	char buf[128];
	char took[48];
	int64_t v;
	int64_t rss;

	hxctl_fmt_cell(s, "state", buf, sizeof(buf));
	hxctl_kv_print(stdout, "state", "%s", buf);
	if (hxctl_json_int(s, "uptime_s", &v) && v >= 0)
		hxctl_fmt_duration((uint64_t)v * 1000, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "-");
	hxctl_kv_print(stdout, "uptime", "%s", buf);
	hxctl_fmt_cell(s, "cpu_percent", buf, sizeof(buf));
	if (hxctl_json_int(s, "cpu_time_ms", &v) && v >= 0) {
		hxctl_fmt_duration((uint64_t)v, took, sizeof(took));
		hxctl_kv_print(stdout, "cpu", "%s%% (%s of CPU time)", buf,
			       took);
	} else {
		hxctl_kv_print(stdout, "cpu", "%s%%", buf);
	}
	if (!hxctl_json_int(s, "memory_mb", &v))
		hxctl_kv_print(stdout, "memory", "-");
	else if (hxctl_json_int(s, "memory_rss_mb", &rss))
		hxctl_kv_print(stdout, "memory", "%lld MiB (RSS %lld MiB)",
			       (long long)v, (long long)rss);
	else
		hxctl_kv_print(stdout, "memory", "%lld MiB", (long long)v);
	hxctl_fmt_cell(s, "pid", buf, sizeof(buf));
	hxctl_kv_print(stdout, "pid", "%s", buf);
}

int hxctl_cmd_vm_status(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET"};
	struct hxctl_resp resp;
	char path[64];
	int64_t vmid;
	int code;

	code = hxctl_vm_ref(c, a->pos[0], &vmid);
	if (code != HXCTL_EXIT_OK)
		return code;
	snprintf(path, sizeof(path), "/vms/%lld/status", (long long)vmid);
	req.path = path;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else
		status_print(resp.data);
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_vm_nextid(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET", .path = "/vms/nextid"};
	struct hxctl_resp resp;
	int64_t vmid;
	int code;

	(void)a;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
	} else if (c->json) {
		hxctl_json_print(resp.data);
	} else if (hxctl_json_int(resp.data, "vmid", &vmid)) {
		printf("%lld\n", (long long)vmid);
	} else {
		hxctl_warn("unexpected answer: no vmid");
		code = HXCTL_EXIT_ERROR;
	}
	hxctl_resp_close(&resp);
	return code;
}
