/*
 * VM configuration on the command line: the JSON body of 'vm create' and
 * 'vm set' built from the options (disk and NIC specs: hxctl-vmspec.c).
 *
 * DESIGN: this file is pure (no I/O but reading a --config file) so that
 * every request body hxctl can send is unit-tested without a server. It
 * checks what is plain syntax (numbers and their ranges, known keys, MAC
 * format, absolute paths, contradicting options) and leaves the meaning of
 * values (which buses exist, whether a bridge is there) to the server,
 * which validates the whole configuration anyway. Options are applied on
 * top of the object read with --config, member by member for the nested
 * "cpu" and "kernel" objects, so a file can hold a template.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

/* The API's body limit (docs/api.md): a larger --config is refused. */
#define VM_CONFIG_MAX (64 * 1024)

enum opt_type {
	OPT_STR,
	OPT_SIZE, /* MiB, with an optional M, G or T suffix */
	OPT_INT,
};

static int vm_error(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int vm_error(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Sets @key of @obj to @v, which it takes; -ENOMEM if @v is NULL. */
static int obj_set(json_t *obj, const char *key, json_t *v)
{
	return v != NULL && json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

/*
 * Option values: one table row per option that maps to one member.
 * Enumerations listed here are the option's documented syntax; the rest of
 * the meaning is checked by the server.
 */
struct vm_opt {
	const char *opt;
	const char *field;
	enum opt_type type;
	int64_t min;
	int64_t max;
	const char *choices; /* space-separated, for OPT_STR; may be NULL */
	bool is_create_only;
};

static const struct vm_opt vm_opts[] = {
	{"vmid", "vmid", OPT_INT, 100, 999999999, NULL, true},
	{"node", "node", OPT_STR, 0, 0, NULL, true},
	{"name", "name", OPT_STR, 0, 0, NULL, false},
	{"memory", "memory_mb", OPT_SIZE, 16, 4194304, NULL, false},
	{"arch", "arch", OPT_STR, 0, 0, NULL, false},
	{"machine", "machine", OPT_STR, 0, 0, NULL, false},
	{"firmware", "firmware", OPT_STR, 0, 0, "bios uefi", false},
	{"description", "description", OPT_STR, 0, 0, NULL, false},
	{"restart", "restart", OPT_STR, 0, 0, "on-crash never", false},
};

/* Options of the "cpu" object. */
static const struct vm_opt cpu_opts[] = {
	{"sockets", "sockets", OPT_INT, 1, 64, NULL, false},
	{"cores", "cores", OPT_INT, 1, 64, NULL, false},
	{"cpu", "model", OPT_STR, 0, 0, NULL, false},
};

/* Flag pairs: --X sets X to true, --no-X to false. */
static const char *const vm_flags[] = {"serial", "vnc", "onboot"};

static bool is_choice(const char *choices, const char *val)
{
	size_t n = strlen(val);

	for (const char *p = choices; *p != '\0';) {
		size_t w = strcspn(p, " ");

		if (w == n && n > 0 && strncmp(p, val, n) == 0)
			return true;
		p += w;
		p += strspn(p, " ");
	}
	return false;
}

/* Converts the value of option @o into JSON in *ret. */
static int opt_value(const struct vm_opt *o, const char *val, json_t **ret,
		     char *errbuf, size_t errlen)
{
	int64_t v;

	*ret = NULL;
	if (o->type == OPT_SIZE) {
		if (hxctl_vm_size_parse(val, o->min, o->max, &v) < 0)
			return vm_error(errbuf, errlen,
					"--%s: expected MiB from %lld to %lld "
					"(or with a G suffix), got '%s'",
					o->opt, (long long)o->min,
					(long long)o->max, val);
		*ret = json_integer(v);
	} else if (o->type == OPT_INT) {
		if (hxctl_parse_int(val, o->min, o->max, &v) < 0)
			return vm_error(errbuf, errlen,
					"--%s: expected an integer from %lld "
					"to %lld, got '%s'",
					o->opt, (long long)o->min,
					(long long)o->max, val);
		*ret = json_integer(v);
	} else {
		if (o->choices != NULL && !is_choice(o->choices, val))
			return vm_error(errbuf, errlen,
					"--%s: expected one of %s, got '%s'",
					o->opt, o->choices, val);
		*ret = json_string(val);
		if (*ret == NULL)
			return vm_error(errbuf, errlen, "--%s: not valid UTF-8",
					o->opt);
	}
	return *ret != NULL ? 0 : -ENOMEM;
}

/* Applies the options of @opts that were given to @obj. */
static int body_opts(const struct hxctl_args *a, bool is_create,
		     const struct vm_opt *opts, size_t nopts, json_t *obj,
		     char *errbuf, size_t errlen)
{
	for (size_t i = 0; i < nopts; i++) {
		const char *val = hxctl_args_get(a, opts[i].opt);
		json_t *v;
		int r;

		if (val == NULL || (opts[i].is_create_only && !is_create))
			continue;
		r = opt_value(&opts[i], val, &v, errbuf, errlen);
		if (r == 0)
			r = obj_set(obj, opts[i].field, v);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Returns member @key of @body if it is an object, else a new one in it. */
static json_t *body_child(json_t *body, const char *key)
{
	json_t *child = json_object_get(body, key);

	if (json_is_object(child))
		return child;
	child = json_object();
	if (obj_set(body, key, child) < 0)
		return NULL;
	return child;
}

static int body_cpu(const struct hxctl_args *a, json_t *body, char *errbuf,
		    size_t errlen)
{
	json_t *cpu;
	bool is_given = false;

	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(cpu_opts); i++)
		is_given =
			is_given || hxctl_args_get(a, cpu_opts[i].opt) != NULL;
	if (!is_given)
		return 0;
	cpu = body_child(body, "cpu");
	if (cpu == NULL)
		return -ENOMEM;
	return body_opts(a, false, cpu_opts, HXCTL_ARRAY_SIZE(cpu_opts), cpu,
			 errbuf, errlen);
}

static int body_flags(const struct hxctl_args *a, json_t *body, char *errbuf,
		      size_t errlen)
{
	for (size_t i = 0; i < HXCTL_ARRAY_SIZE(vm_flags); i++) {
		char no[32];
		bool is_on = hxctl_args_get(a, vm_flags[i]) != NULL;
		bool is_off;

		snprintf(no, sizeof(no), "no-%s", vm_flags[i]);
		is_off = hxctl_args_get(a, no) != NULL;
		if (is_on && is_off)
			return vm_error(errbuf, errlen,
					"--%s and --%s contradict each other",
					vm_flags[i], no);
		if ((is_on || is_off) &&
		    obj_set(body, vm_flags[i], json_boolean(is_on)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* An absolute path option, or "none" (JSON null) if @can_be_none. */
static int path_value(const char *opt, const char *val, bool can_be_none,
		      json_t **ret, char *errbuf, size_t errlen)
{
	*ret = NULL;
	if (can_be_none && strcmp(val, "none") == 0) {
		*ret = json_null();
		return 0;
	}
	if (val[0] != '/')
		return vm_error(errbuf, errlen,
				"--%s: expected an absolute path%s, got '%s'",
				opt, can_be_none ? " or none" : "", val);
	*ret = json_string(val);
	if (*ret == NULL)
		return vm_error(errbuf, errlen, "--%s: not valid UTF-8", opt);
	return 0;
}

/* --disk and --nic: a list replaced as a whole; "none" empties it. */
static int body_list(const struct hxctl_args *a, const char *opt,
		     const char *field,
		     int (*parse)(const char *, json_t **, char *, size_t),
		     json_t *body, char *errbuf, size_t errlen)
{
	json_t *list = json_array();
	const char *val;
	json_t *item;
	int iter = 0;
	int n = 0;
	bool is_none = false;
	int r;

	if (list == NULL)
		return -ENOMEM;
	while ((val = hxctl_args_next(a, opt, &iter)) != NULL) {
		n++;
		if (strcmp(val, "none") == 0) {
			is_none = true;
			continue;
		}
		r = parse(val, &item, errbuf, errlen);
		if (r == 0 && json_array_append_new(list, item) < 0)
			r = -ENOMEM;
		if (r < 0)
			goto err_free_list;
	}
	if (is_none && n > 1) {
		r = vm_error(errbuf, errlen,
			     "--%s none cannot be combined with other --%s "
			     "options",
			     opt, opt);
		goto err_free_list;
	}
	if (n == 0) {
		json_decref(list);
		return 0;
	}
	return obj_set(body, field, list);

err_free_list:
	json_decref(list);
	return r;
}

/* --tag (repeated) and --no-tags. */
static int body_tags(const struct hxctl_args *a, json_t *body, char *errbuf,
		     size_t errlen)
{
	bool is_clear = hxctl_args_get(a, "no-tags") != NULL;
	json_t *tags = json_array();
	const char *val;
	int iter = 0;
	int r = -ENOMEM;

	if (tags == NULL)
		return -ENOMEM;
	while ((val = hxctl_args_next(a, "tag", &iter)) != NULL) {
		json_t *v = json_string(val);

		if (v == NULL) {
			r = vm_error(errbuf, errlen, "--tag: not valid UTF-8");
			goto err_free_tags;
		}
		if (json_array_append_new(tags, v) < 0)
			goto err_free_tags;
	}
	if (is_clear && json_array_size(tags) > 0) {
		r = vm_error(errbuf, errlen,
			     "--tag and --no-tags contradict each other");
		goto err_free_tags;
	}
	if (!is_clear && json_array_size(tags) == 0) {
		json_decref(tags);
		return 0;
	}
	return obj_set(body, "tags", tags);

err_free_tags:
	json_decref(tags);
	return r;
}

/* --boot LIST: comma-separated, no empty items. */
static int body_boot(const struct hxctl_args *a, json_t *body, char *errbuf,
		     size_t errlen)
{
	const char *val = hxctl_args_get(a, "boot");
	json_t *boot;

	if (val == NULL)
		return 0;
	boot = json_array();
	if (boot == NULL)
		return -ENOMEM;
	for (const char *p = val;; p++) {
		size_t n = strcspn(p, ",");
		json_t *v;

		if (n == 0) {
			json_decref(boot);
			return vm_error(errbuf, errlen,
					"--boot: expected a list like "
					"disk0,net0,cdrom, got '%s'",
					val);
		}
		v = json_stringn(p, n);
		if (v == NULL || json_array_append_new(boot, v) < 0) {
			json_decref(boot);
			return v == NULL ? vm_error(errbuf, errlen,
						    "--boot: not valid UTF-8")
					 : -ENOMEM;
		}
		p += n;
		if (*p == '\0')
			break;
	}
	return obj_set(body, "boot", boot);
}

static int body_cdrom(const struct hxctl_args *a, json_t *body, char *errbuf,
		      size_t errlen)
{
	const char *val = hxctl_args_get(a, "cdrom");
	json_t *iso;
	int r;

	if (val == NULL)
		return 0;
	r = path_value("cdrom", val, true, &iso, errbuf, errlen);
	if (r < 0)
		return r;
	if (json_is_null(iso))
		return obj_set(body, "cdrom", iso);
	return obj_set(body, "cdrom", json_pack("{so}", "iso", iso));
}

/*
 * --kernel PATH|none, --initrd PATH|none, --cmdline STR. For create, the
 * kernel object is completed (initrd null, cmdline ""); for set, a kernel
 * object without a path is completed from the VM by
 * hxctl_vm_patch_merge().
 */
static int body_kernel(const struct hxctl_args *a, bool is_create, json_t *body,
		       char *errbuf, size_t errlen)
{
	const char *path = hxctl_args_get(a, "kernel");
	const char *initrd = hxctl_args_get(a, "initrd");
	const char *cmdline = hxctl_args_get(a, "cmdline");
	json_t *kernel;
	json_t *v;
	int r;

	if (path != NULL && strcmp(path, "none") == 0) {
		if (initrd != NULL || cmdline != NULL)
			return vm_error(errbuf, errlen,
					"--kernel none cannot be combined with "
					"--initrd or --cmdline");
		return obj_set(body, "kernel", json_null());
	}
	if (path == NULL && initrd == NULL && cmdline == NULL)
		return 0;
	kernel = body_child(body, "kernel");
	if (kernel == NULL)
		return -ENOMEM;
	if (path != NULL) {
		r = path_value("kernel", path, false, &v, errbuf, errlen);
		if (r < 0 || (r = obj_set(kernel, "path", v)) < 0)
			return r;
	}
	if (initrd != NULL) {
		r = path_value("initrd", initrd, true, &v, errbuf, errlen);
		if (r < 0 || (r = obj_set(kernel, "initrd", v)) < 0)
			return r;
	}
	if (cmdline != NULL) {
		v = json_string(cmdline);
		if (v == NULL)
			return vm_error(errbuf, errlen,
					"--cmdline: not valid UTF-8");
		if (obj_set(kernel, "cmdline", v) < 0)
			return -ENOMEM;
	}
	if (!is_create)
		return 0;
	if (json_object_get(kernel, "path") == NULL)
		return vm_error(errbuf, errlen,
				"--initrd and --cmdline need --kernel PATH");
	if (json_object_get(kernel, "initrd") == NULL &&
	    obj_set(kernel, "initrd", json_null()) < 0)
		return -ENOMEM;
	if (json_object_get(kernel, "cmdline") == NULL &&
	    obj_set(kernel, "cmdline", json_string("")) < 0)
		return -ENOMEM;
	return 0;
}

int hxctl_vm_body(const struct hxctl_args *a, bool is_create, json_t *body,
		  char *errbuf, size_t errlen)
{
	int r;

	r = body_opts(a, is_create, vm_opts, HXCTL_ARRAY_SIZE(vm_opts), body,
		      errbuf, errlen);
	if (r == 0)
		r = body_cpu(a, body, errbuf, errlen);
	if (r == 0)
		r = body_flags(a, body, errbuf, errlen);
	if (r == 0)
		r = body_list(a, "disk", "disks", hxctl_vm_disk_parse, body,
			      errbuf, errlen);
	if (r == 0)
		r = body_list(a, "nic", "nics", hxctl_vm_nic_parse, body,
			      errbuf, errlen);
	if (r == 0)
		r = body_tags(a, body, errbuf, errlen);
	if (r == 0)
		r = body_boot(a, body, errbuf, errlen);
	if (r == 0)
		r = body_cdrom(a, body, errbuf, errlen);
	if (r == 0)
		r = body_kernel(a, is_create, body, errbuf, errlen);
	if (r == 0 && is_create && hxctl_args_get(a, "start") != NULL)
		r = obj_set(body, "start", json_true());
	if (r == -ENOMEM)
		(void)vm_error(errbuf, errlen, "out of memory");
	return r;
}

bool hxctl_vm_patch_is_partial(json_t *body)
{
	json_t *cpu = json_object_get(body, "cpu");
	json_t *kernel = json_object_get(body, "kernel");

	if (json_is_object(cpu) && (json_object_get(cpu, "sockets") == NULL ||
				    json_object_get(cpu, "cores") == NULL ||
				    json_object_get(cpu, "model") == NULL))
		return true;
	return json_is_object(kernel) &&
	       (json_object_get(kernel, "path") == NULL ||
		json_object_get(kernel, "initrd") == NULL ||
		json_object_get(kernel, "cmdline") == NULL);
}

/* The VM's next value of @key: its pending change if any, else config. */
static json_t *vm_next(json_t *vm, const char *key)
{
	json_t *config = json_object_get(vm, "config");
	json_t *pending = json_object_get(vm, "pending");
	json_t *v =
		json_is_object(pending) ? json_object_get(pending, key) : NULL;

	if (v != NULL)
		return v;
	return json_object_get(json_is_object(config) ? config : vm, key);
}

/* Completes body[key] with the members it lacks from the VM's value. */
static int patch_fill(json_t *body, json_t *vm, const char *key)
{
	json_t *given = json_object_get(body, key);
	json_t *next = vm_next(vm, key);
	json_t *merged;

	if (!json_is_object(given) || !json_is_object(next))
		return 0;
	merged = json_deep_copy(next);
	if (merged == NULL || json_object_update(merged, given) < 0) {
		json_decref(merged);
		return -ENOMEM;
	}
	return obj_set(body, key, merged);
}

int hxctl_vm_patch_merge(json_t *body, json_t *vm, char *errbuf, size_t errlen)
{
	json_t *kernel;

	if (patch_fill(body, vm, "cpu") < 0 ||
	    patch_fill(body, vm, "kernel") < 0) {
		(void)vm_error(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	kernel = json_object_get(body, "kernel");
	if (!json_is_object(kernel))
		return 0;
	if (json_object_get(kernel, "path") == NULL)
		return vm_error(errbuf, errlen,
				"the VM boots no kernel directly: "
				"--initrd and --cmdline need --kernel PATH");
	if ((json_object_get(kernel, "initrd") == NULL &&
	     obj_set(kernel, "initrd", json_null()) < 0) ||
	    (json_object_get(kernel, "cmdline") == NULL &&
	     obj_set(kernel, "cmdline", json_string("")) < 0))
		return -ENOMEM;
	return 0;
}

/*
 * Reads at most VM_CONFIG_MAX bytes of @f into @buf (VM_CONFIG_MAX + 1
 * bytes) and NUL-terminates them; the length goes to *ret_len.
 */
static int read_bounded(FILE *f, char *buf, size_t *ret_len)
{
	size_t n = fread(buf, 1, VM_CONFIG_MAX + 1, f);

	if (ferror(f))
		return -EIO;
	if (n > VM_CONFIG_MAX)
		return -EFBIG;
	buf[n] = '\0';
	*ret_len = n;
	return 0;
}

int hxctl_vm_config_load(const char *path, json_t **ret, char *errbuf,
			 size_t errlen)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "standard input" : path;
	FILE *f = is_stdin ? stdin : fopen(path, "re");
	char *buf = malloc(VM_CONFIG_MAX + 1);
	json_error_t jerr;
	json_t *v = NULL;
	size_t len = 0;
	int r = -ENOMEM;

	if (f == NULL) {
		r = -errno;
		(void)vm_error(errbuf, errlen, "--config: cannot open %s: %s",
			       name, strerror(-r));
		goto out_free_buf;
	}
	if (buf == NULL)
		goto out_close_file;
	r = read_bounded(f, buf, &len);
	if (r < 0) {
		(void)vm_error(errbuf, errlen, "--config: %s: %s", name,
			       r == -EFBIG ? "larger than the API's 64 KiB "
					     "body limit"
					   : "read error");
		goto out_close_file;
	}
	r = -EINVAL;
	if (strspn(buf, " \t\r\n") == len) {
		(void)vm_error(errbuf, errlen, "--config: %s is empty", name);
		goto out_close_file;
	}
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
		       &jerr);
	if (v == NULL)
		(void)vm_error(errbuf, errlen, "--config: %s:%d:%d: %s", name,
			       jerr.line, jerr.column, jerr.text);
	else if (!json_is_object(v))
		(void)vm_error(errbuf, errlen,
			       "--config: %s: expected a JSON object", name);
	else
		r = 0;
out_close_file:
	if (f != NULL && !is_stdin)
		fclose(f);
out_free_buf:
	free(buf);
	if (r < 0) {
		json_decref(v);
		return r;
	}
	*ret = v;
	return 0;
}
