/* tools: private interface shared by the files of hxctl, the API client. */
#ifndef HX_TOOLS_HXCTL_H
#define HX_TOOLS_HXCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/*
 * Exit codes. hxctl maps HTTP statuses and transport failures to these in
 * exactly one place, hxctl_exit_from_status() and hxctl_call(); docs/hxctl.8
 * documents them and scripts rely on them.
 */
enum {
	HXCTL_EXIT_OK = 0,
	HXCTL_EXIT_ERROR = 1,	    /* anything else, incl. task failed */
	HXCTL_EXIT_USAGE = 2,	    /* bad command line */
	HXCTL_EXIT_NOTFOUND = 3,    /* 404 */
	HXCTL_EXIT_CONFLICT = 4,    /* 409, 412 */
	HXCTL_EXIT_UNAVAILABLE = 5, /* 503, cannot connect, timed out */
	HXCTL_EXIT_DENIED = 6,	    /* 401, 403, socket permission */
};

#define HXCTL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Default request timeouts, in milliseconds. */
#define HXCTL_CONNECT_TIMEOUT_MS 5000
#define HXCTL_REQUEST_TIMEOUT_MS 60000
#define HXCTL_JOIN_TIMEOUT_MS	 120000

/*
 * The client: global options plus the transport. Set up by main() with
 * hxctl_http_init() and torn down with hxctl_http_close(). Strings marked
 * borrowed point into argv or the environment.
 */
struct hxctl {
	const char *data_dir; /* borrowed */
	const char *url;      /* borrowed; NULL: the local unix socket */
	const char *token;    /* borrowed; NULL: no Authorization header */
	const char *ca;	   /* borrowed; NULL: DATA_DIR/tls/ca.crt or system */
	bool insecure;	   /* skip TLS verification */
	bool json;	   /* print JSON instead of tables */
	char *socket_path; /* owned: DATA_DIR/hxd.sock */
	char *default_ca;  /* owned: DATA_DIR/tls/ca.crt if readable */
	void *curl;	   /* owned: a CURL easy handle, reused */
};

/*
 * Parsed command-line arguments of one command. Options are given as a spec
 * string of space-separated names, a trailing ':' meaning the option takes a
 * value ("name: follow"). Every option may repeat; hxctl_args_get() returns
 * the last value, hxctl_args_next() walks all of them. --json and --help
 * (-h) are always accepted. "--" ends the options.
 */
struct hxctl_args {
	char **pos; /* positional arguments, borrowed from argv */
	int npos;
	const char **names; /* option names, borrowed from the spec copy */
	const char **vals;  /* their values ("" for flags), borrowed */
	int nopts;
	char *spec; /* owned copy of the spec */
	int next;   /* index in argv after parsing (stop_at_pos) */
	bool json;
	bool help;
};

/*
 * Parses argv[0..argc-1] against @spec. With @stop_at_pos, stops at the
 * first positional argument and leaves its index in ret->next (used for the
 * global options). Returns 0, -ENOMEM, or -EINVAL with a message for the
 * user in @errbuf. ret is always initialized: close it with
 * hxctl_args_close().
 */
int hxctl_args_parse(const char *spec, int argc, char **argv, bool stop_at_pos,
		     struct hxctl_args *ret, char *errbuf, size_t errlen);
void hxctl_args_close(struct hxctl_args *a);
/* Returns the last value of option @name, "" for a flag, NULL if absent. */
const char *hxctl_args_get(const struct hxctl_args *a, const char *name);
/* Iterates over every value of @name: start with *iter = 0; NULL at end. */
const char *hxctl_args_next(const struct hxctl_args *a, const char *name,
			    int *iter);

/* Parses a decimal integer in [min, max]. Returns 0 or -EINVAL/-ERANGE. */
int hxctl_parse_int(const char *s, int64_t min, int64_t max, int64_t *ret);
/*
 * Turns a command-line value into JSON: an integer if it looks like one,
 * true/false, null, else a string. Returns a new reference or NULL (OOM).
 */
json_t *hxctl_value_parse(const char *s);
/*
 * Splits "KEY=VALUE" without modifying @s: copies the key into @key (@keylen
 * bytes) and points *ret_val into @s. Returns 0, or -EINVAL if there is no
 * '=' or the key is empty or too long.
 */
int hxctl_kv_split(const char *s, char *key, size_t keylen,
		   const char **ret_val);
/*
 * Applies KEY=VALUE strings in @set, then removes the keys in @remove (a
 * missing key is not an error), on the JSON object @labels. Returns 0, or
 * -EINVAL with @errbuf set for a malformed KEY=VALUE, a key both set and
 * removed, or a key or value that is not UTF-8.
 */
int hxctl_labels_merge(json_t *labels, char *const *set, int nset,
		       const char *const *remove, int nremove, char *errbuf,
		       size_t errlen);

/* Maps an HTTP status to an exit code (2xx: HXCTL_EXIT_OK). */
int hxctl_exit_from_status(long status);

/*
 * Formatting, all into caller buffers, never failing (truncates).
 * Durations: "850ms", "4.2s", "42s", "5m03s", "3h07m", "2d04h".
 */
void hxctl_fmt_duration(uint64_t ms, char *buf, size_t len);
/* An age in ms: "4.2s ago"; "-" for a negative age. */
void hxctl_fmt_age(int64_t ms, char *buf, size_t len);
/* Wall-clock milliseconds as ISO 8601 UTC: "2023-11-14T22:13:20Z". */
void hxctl_fmt_time(int64_t wall_ms, char *buf, size_t len);
/* Mebibytes, human-sized: "512M", "23.4G", "1.5T". */
void hxctl_fmt_mb(uint64_t mb, char *buf, size_t len);
/* A progress bar of @width cells for @pct (clamped to 0-100): "[###  ]". */
void hxctl_fmt_bar(int pct, int width, char *buf, size_t len);
/* Labels object as "k1=v1,k2=v2" sorted by key; "-" when empty. */
void hxctl_fmt_labels(json_t *labels, char *buf, size_t len);
/*
 * A JSON member as a table cell: strings as they are, numbers in decimal,
 * booleans as yes/no, missing or null as "-".
 */
void hxctl_fmt_cell(json_t *obj, const char *key, char *buf, size_t len);

/* Clocks: monotonic ms for bounds, wall-clock ms to age server times. */
uint64_t hxctl_now_ms(void);
int64_t hxctl_wall_ms(void);

/* Members of JSON objects, tolerant of missing and mistyped members. */
const char *hxctl_json_str(json_t *obj, const char *key, const char *def);
bool hxctl_json_int(json_t *obj, const char *key, int64_t *ret);
/*
 * Stores up to @max keys of object @obj in @keys, sorted; returns how many.
 * The keys are borrowed from @obj. Not an object: 0.
 */
size_t hxctl_json_keys(json_t *obj, const char **keys, size_t max);

/*
 * A table with aligned columns: cells are copied; columns are separated by
 * two spaces; the last column is not padded. Returns NULL on OOM.
 */
struct hxctl_table;
struct hxctl_table *hxctl_table_new(const char *const *headers, int ncols);
void hxctl_table_free(struct hxctl_table *t);
/* Adds a row of exactly ncols cells (NULL prints as "-"). 0 or -ENOMEM. */
int hxctl_table_add(struct hxctl_table *t, const char *const *cells);
/* Prints the header (unless the table has no header) and the rows. */
void hxctl_table_print(const struct hxctl_table *t, FILE *f);

/* Prints "key:" padded to a column, then the formatted value. */
void hxctl_kv_print(FILE *f, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prints @v as indented JSON and a newline to stdout. */
void hxctl_json_print(json_t *v);
/* Prints "hxctl: <message>" to stderr. */
void hxctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Transport. hxctl_http_init() derives the socket and CA paths from
 * c->data_dir and creates the curl handle; returns 0 or -ENOMEM.
 * hxctl_http_close() accepts a half-initialized client.
 */
int hxctl_http_init(struct hxctl *c);
void hxctl_http_close(struct hxctl *c);

/* One API call. */
struct hxctl_req {
	const char *method;   /* "GET", "POST", "PATCH", "DELETE" */
	const char *path;     /* below /api/v1, already escaped: "/nodes/n1" */
	json_t *body;	      /* borrowed; NULL: "{}" for POST/PATCH, else
				 no body */
	const char *if_match; /* borrowed; NULL: none */
	long timeout_ms;      /* 0: HXCTL_REQUEST_TIMEOUT_MS */
	FILE *upload;	      /* borrowed; the body of a PUT, streamed */
	int64_t upload_size;  /* its size in bytes */
};

/* The outcome of one call; close it with hxctl_resp_close(). */
struct hxctl_resp {
	long status;	/* HTTP status, 0 if there was no response */
	json_t *body;	/* owned: the parsed body, or NULL */
	json_t *data;	/* borrowed from body: its "data" member, or NULL */
	char etag[256]; /* ETag header, verbatim; "" if none */
	char msg[512];	/* on failure, the message for the user */
};

/*
 * Performs @req. Returns HXCTL_EXIT_OK for a 2xx answer, otherwise the exit
 * code for the failure with ret->msg set (the server's error.message when it
 * sent one). ret is always initialized.
 */
int hxctl_call(struct hxctl *c, const struct hxctl_req *req,
	       struct hxctl_resp *ret);
/* GETs PREFIX/ESCAPED(@key) (e.g. "/vms", "web1") into @ret; prints a
 * failure. Returns the exit code. */
int hxctl_get_object(struct hxctl *c, const char *prefix, const char *key,
		     struct hxctl_resp *ret);
void hxctl_resp_close(struct hxctl_resp *r);
/* Prints r->msg as a warning and returns @code. */
int hxctl_fail(const struct hxctl_resp *r, int code);
/*
 * Escapes @s for use as one path segment or query value. Returns a string
 * the caller frees with free(), or NULL on OOM.
 */
char *hxctl_escape(const char *s);

/*
 * Appends "?name=value" or "&name=value", the value escaped, to the path in
 * @buf (@len bytes). A NULL @value appends nothing. Returns 0, -ENOMEM, or
 * -ENAMETOOLONG if it does not fit (@buf is then truncated: do not use it).
 */
int hxctl_query_add(char *buf, size_t len, const char *name, const char *value);

/*
 * Waits until task @id ends, polling every 200 ms for at most @timeout_s
 * seconds: a progress bar on stderr if it is a terminal, else a line on
 * stderr whenever progress or message change (nothing with --json). Once
 * the task has been seen, "unavailable" answers are retried. Prints the
 * outcome ("task ID ok", the final task with --json, or the task's message
 * as an error) and returns HXCTL_EXIT_OK if the task ended ok,
 * HXCTL_EXIT_ERROR if it failed or did not end in time, or the exit code of
 * a failed call.
 */
int hxctl_task_wait(struct hxctl *c, int64_t id, int64_t timeout_s);

/* Option specs of 'vm create' and 'vm set' (see struct hxctl_args). */
#define HXCTL_VM_CONF_SPEC                                                     \
	"name: memory: sockets: cores: cpu: arch: machine: firmware: disk: "   \
	"cdrom: nic: boot: kernel: initrd: cmdline: serial no-serial vnc "     \
	"no-vnc tag: no-tags description: onboot no-onboot restart: config:"
#define HXCTL_VM_CREATE_SPEC "vmid: node: " HXCTL_VM_CONF_SPEC " start wait"
#define HXCTL_VM_SET_SPEC    HXCTL_VM_CONF_SPEC " digest: revert"

/*
 * VM configuration from the command line (hxctl-vmconf.c). Errors are
 * -EINVAL with a message for the user in @errbuf, or -ENOMEM.
 *
 * hxctl_vm_size_parse() parses MiB, optionally with a suffix M, G or T
 * (powers of 1024), into [min, max]: 0, -EINVAL (syntax) or -ERANGE.
 */
int hxctl_vm_size_parse(const char *s, int64_t min, int64_t max,
			int64_t *ret_mb);
/*
 * Parse a disk spec "size=1024,bus=virtio-blk,format=qcow2,cache=none,
 * volume=local:NAME" (any subset, any order) or a NIC spec
 * "bridge=br0,model=virtio,mac=52:54:00:12:34:56,vlan=N" (bridge required)
 * into a new JSON object for disks[] or nics[], owned by the caller.
 */
int hxctl_vm_disk_parse(const char *spec, json_t **ret, char *errbuf,
			size_t errlen);
int hxctl_vm_nic_parse(const char *spec, json_t **ret, char *errbuf,
		       size_t errlen);
/*
 * Applies the configuration options of 'vm create' (@is_create: also
 * --vmid, --node, --start) or 'vm set' in @a to the JSON object @body,
 * which may hold a --config file already: options override its members,
 * and the cpu and kernel options override members of its "cpu" and
 * "kernel" objects. On error @body may be half-changed.
 */
int hxctl_vm_body(const struct hxctl_args *a, bool is_create, json_t *body,
		  char *errbuf, size_t errlen);
/*
 * True if the PATCH @body has a "cpu" or "kernel" object lacking members:
 * since PATCH replaces them whole, hxctl_vm_patch_merge() must complete
 * them from the VM first.
 */
bool hxctl_vm_patch_is_partial(json_t *body);
/*
 * Completes the "cpu" and "kernel" objects of @body with the members it
 * lacks from @vm, a VM object as GET /vms/VMID returns it (a pending value
 * wins over the configuration). -EINVAL if the kernel has no path then.
 */
int hxctl_vm_patch_merge(json_t *body, json_t *vm, char *errbuf, size_t errlen);
/*
 * Reads a JSON object from the file @path, or standard input for "-", of at
 * most 64 KiB. *ret is a new reference owned by the caller. Besides
 * -EINVAL (not a JSON object) returns -errno if the file cannot be opened,
 * -EIO on a read error, -EFBIG if it is too large; all with a message.
 */
int hxctl_vm_config_load(const char *path, json_t **ret, char *errbuf,
			 size_t errlen);

/* The "config" object inside VM object @vm, or @vm itself. Borrowed. */
json_t *hxctl_vm_config(json_t *vm);
/* GETs /vms/REF (a VMID or a name) into @ret; prints a failure. */
int hxctl_vm_get(struct hxctl *c, const char *ref, struct hxctl_resp *ret);
/*
 * Resolves a VM argument: all digits is a VMID (checked for its range),
 * anything else a name, looked up with hxctl_vm_get(). Prints errors;
 * returns the exit code.
 */
int hxctl_vm_ref(struct hxctl *c, const char *arg, int64_t *ret_vmid);

/*
 * Networking commands' shared helpers (hxctl-net.c). hxctl_net_list()
 * GETs @path (an array) and prints the @cols members as a table;
 * hxctl_net_send() sends @body (consumed; NULL only for DELETE) and prints
 * the answer's @keys (nothing if NULL); hxctl_net_delete() DELETEs
 * @prefix/KEY; hxctl_net_opt() copies option @opt into body[@field] (an
 * integer in [min, max] with @is_int). All return exit codes.
 */
struct hxctl_column {
	const char *header;
	const char *key;
};
int hxctl_net_list(struct hxctl *c, const char *path,
		   const struct hxctl_column *cols, int ncols);
int hxctl_net_send(struct hxctl *c, const char *method, const char *path,
		   json_t *body, const char *const *keys);
char *hxctl_net_path(const char *prefix, const char *key);
int hxctl_net_delete(struct hxctl *c, const char *prefix, const char *key);
int hxctl_net_opt(const struct hxctl_args *a, const char *opt,
		  const char *field, bool is_int, int64_t min, int64_t max,
		  json_t *body);

/* Command handlers, one per command (see the table in hxctl.c). */
typedef int hxctl_cmd_fn(struct hxctl *c, const struct hxctl_args *a);

hxctl_cmd_fn hxctl_cmd_cluster_init;
hxctl_cmd_fn hxctl_cmd_cluster_token;
hxctl_cmd_fn hxctl_cmd_cluster_join;
hxctl_cmd_fn hxctl_cmd_cluster_leave;
hxctl_cmd_fn hxctl_cmd_cluster_remove;
hxctl_cmd_fn hxctl_cmd_cluster_status;
hxctl_cmd_fn hxctl_cmd_node_list;
hxctl_cmd_fn hxctl_cmd_node_show;
hxctl_cmd_fn hxctl_cmd_node_label;
hxctl_cmd_fn hxctl_cmd_settings_show;
hxctl_cmd_fn hxctl_cmd_settings_set;
hxctl_cmd_fn hxctl_cmd_task_list;
hxctl_cmd_fn hxctl_cmd_task_show;
hxctl_cmd_fn hxctl_cmd_task_wait;
hxctl_cmd_fn hxctl_cmd_events;
hxctl_cmd_fn hxctl_cmd_vm_list;
hxctl_cmd_fn hxctl_cmd_vm_show;
hxctl_cmd_fn hxctl_cmd_vm_create;
hxctl_cmd_fn hxctl_cmd_vm_set;
hxctl_cmd_fn hxctl_cmd_vm_delete;
hxctl_cmd_fn hxctl_cmd_vm_start;
hxctl_cmd_fn hxctl_cmd_vm_stop;
hxctl_cmd_fn hxctl_cmd_vm_shutdown;
hxctl_cmd_fn hxctl_cmd_vm_reboot;
hxctl_cmd_fn hxctl_cmd_vm_reset;
hxctl_cmd_fn hxctl_cmd_vm_suspend;
hxctl_cmd_fn hxctl_cmd_vm_resume;
hxctl_cmd_fn hxctl_cmd_vm_migrate;
hxctl_cmd_fn hxctl_cmd_vm_cancel;
hxctl_cmd_fn hxctl_cmd_vm_status;
hxctl_cmd_fn hxctl_cmd_vm_nextid;
hxctl_cmd_fn hxctl_cmd_ha_status;
hxctl_cmd_fn hxctl_cmd_ha_list;
hxctl_cmd_fn hxctl_cmd_ha_show;
hxctl_cmd_fn hxctl_cmd_ha_add;
hxctl_cmd_fn hxctl_cmd_ha_set;
hxctl_cmd_fn hxctl_cmd_ha_remove;
hxctl_cmd_fn hxctl_cmd_ha_why;
hxctl_cmd_fn hxctl_cmd_ha_migrate;
hxctl_cmd_fn hxctl_cmd_ha_relocate;
hxctl_cmd_fn hxctl_cmd_ha_maintenance;
hxctl_cmd_fn hxctl_cmd_ha_rule;
hxctl_cmd_fn hxctl_cmd_storage_list;
hxctl_cmd_fn hxctl_cmd_storage_show;
hxctl_cmd_fn hxctl_cmd_storage_add;
hxctl_cmd_fn hxctl_cmd_storage_set;
hxctl_cmd_fn hxctl_cmd_storage_remove;
hxctl_cmd_fn hxctl_cmd_storage_content;
hxctl_cmd_fn hxctl_cmd_storage_volume;
hxctl_cmd_fn hxctl_cmd_storage_alloc;
hxctl_cmd_fn hxctl_cmd_storage_free;
hxctl_cmd_fn hxctl_cmd_storage_resize;
hxctl_cmd_fn hxctl_cmd_vm_snapshot;
hxctl_cmd_fn hxctl_cmd_vm_snapshots;
hxctl_cmd_fn hxctl_cmd_vm_rollback;
hxctl_cmd_fn hxctl_cmd_vm_delsnapshot;
hxctl_cmd_fn hxctl_cmd_vm_template;
hxctl_cmd_fn hxctl_cmd_vm_clone;
hxctl_cmd_fn hxctl_cmd_net_zones;
hxctl_cmd_fn hxctl_cmd_net_zone_create;
hxctl_cmd_fn hxctl_cmd_net_zone_delete;
hxctl_cmd_fn hxctl_cmd_net_vnets;
hxctl_cmd_fn hxctl_cmd_net_vnet_create;
hxctl_cmd_fn hxctl_cmd_net_vnet_delete;
hxctl_cmd_fn hxctl_cmd_net_subnets;
hxctl_cmd_fn hxctl_cmd_net_subnet_create;
hxctl_cmd_fn hxctl_cmd_net_subnet_delete;
hxctl_cmd_fn hxctl_cmd_net_ips;
hxctl_cmd_fn hxctl_cmd_net_ip_allocate;
hxctl_cmd_fn hxctl_cmd_net_ip_release;
hxctl_cmd_fn hxctl_cmd_net_fw_options;
hxctl_cmd_fn hxctl_cmd_net_fw_rules;
hxctl_cmd_fn hxctl_cmd_net_fw_rule_add;
hxctl_cmd_fn hxctl_cmd_net_fw_rule_set;
hxctl_cmd_fn hxctl_cmd_net_fw_rule_delete;
hxctl_cmd_fn hxctl_cmd_net_fw_groups;
hxctl_cmd_fn hxctl_cmd_net_fw_group_create;
hxctl_cmd_fn hxctl_cmd_net_fw_group_delete;
hxctl_cmd_fn hxctl_cmd_net_fw_ipsets;
hxctl_cmd_fn hxctl_cmd_net_fw_ipset_set;
hxctl_cmd_fn hxctl_cmd_net_fw_ipset_delete;
hxctl_cmd_fn hxctl_cmd_net_fw_ruleset;
hxctl_cmd_fn hxctl_cmd_net_fw_macros;
hxctl_cmd_fn hxctl_cmd_vm_move_disk;
hxctl_cmd_fn hxctl_cmd_storage_upload;
hxctl_cmd_fn hxctl_cmd_storage_download;

#endif /* HX_TOOLS_HXCTL_H */
