/*
 * VM configuration: JSON in, a validated and normalized struct out, and
 * back. Every rejection names the field at fault and what was expected,
 * and nothing is half-applied: callers only ever see a complete config.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent/vm.h"
#include "lib/lib.h"
#include "net/net.h"
#include "statedb/statedb.h"

static const char *const buses[] = {"virtio-blk", "virtio-scsi", "sata",
				    "ide", NULL};
static const char *const formats[] = {"qcow2", "raw", NULL};
static const char *const caches[] = {"none", "writeback", "writethrough",
				     "directsync", "unsafe", NULL};
static const char *const nic_models[] = {"virtio", "e1000", "rtl8139", NULL};
static const char *const arches[] = {"x86_64", "aarch64", NULL};
static const char *const firmwares[] = {"bios", "uefi", NULL};
static const char *const restarts[] = {"on-crash", "never", NULL};

static bool one_of(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static void set_list(const char *const *set, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (; *set != NULL && off < len; set++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					off ? ", " : "", *set);
}

/* [a-z0-9-] plus the characters in @extra ("A" stands for A-Z), 1 to @max
 * long, not starting with '-'. */
static bool ident_ok(const char *s, size_t max, const char *extra)
{
	bool upper = strchr(extra, 'A') != NULL;
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      (upper && s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] != 'A' && strchr(extra, s[i]) != NULL)))
			return false;
	return true;
}

/* Absolute, no "..", no control characters or commas (QEMU option
 * syntax), shorter than @max. */
static bool path_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n < 2 || n >= max || s[0] != '/' || strstr(s, "/../") != NULL ||
	    (n >= 3 && strcmp(s + n - 3, "/..") == 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == ',' || s[i] == 0x7f)
			return false;
	return true;
}

/* ---- typed field readers: false (and @err set) when invalid ---- */

struct ctx {
	struct hx_err *err;
	int r;
	char where[64]; /* "disks[1]." prefix for messages */
};

static bool bad(struct ctx *x, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool bad(struct ctx *x, const char *field, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->r = hx_err_set(x->err, -EINVAL, "%s%s: %s", x->where, field, msg);
	return false;
}

/* Whether UTF-8 @s holds only characters an XML 1.0 document may carry
 * (every string may end up in the domain XML): no C0 control but tab,
 * newline and carriage return, no U+FFFE or U+FFFF. */
static bool xml_chars_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			return false;
		if (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
			return false;
	}
	return true;
}

static bool get_str(struct ctx *x, json_t *v, const char *field, char *buf,
		    size_t len)
{
	if (!json_is_string(v))
		return bad(x, field, "must be a string");
	if (json_string_length(v) >= len)
		return bad(x, field, "too long (at most %zu characters)",
			   len - 1);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad(x, field, "must not contain NUL characters");
	if (!xml_chars_ok(json_string_value(v)))
		return bad(x, field,
			   "must not contain control characters (but tab and "
			   "newline) or U+FFFE/U+FFFF");
	/* Whole buffer: configs are compared with memcmp. */
	memset(buf, 0, len);
	memcpy(buf, json_string_value(v), json_string_length(v));
	return true;
}

static bool get_enum(struct ctx *x, json_t *v, const char *field, char *buf,
		     size_t len, const char *const *set)
{
	char list[160];

	if (!get_str(x, v, field, buf, len))
		return false;
	if (one_of(buf, set))
		return true;
	set_list(set, list, sizeof(list));
	return bad(x, field, "unknown value '%s' (expected one of: %s)", buf,
		   list);
}

static bool get_int(struct ctx *x, json_t *v, const char *field,
		    int64_t min, int64_t max, int64_t *ret)
{
	if (!json_is_integer(v))
		return bad(x, field, "must be an integer");
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return bad(x, field, "%" PRId64 " is out of range (%" PRId64
			   " to %" PRId64 ")",
			   (int64_t)json_integer_value(v), min, max);
	*ret = json_integer_value(v);
	return true;
}

static bool get_bool(struct ctx *x, json_t *v, const char *field, bool *ret)
{
	if (!json_is_boolean(v))
		return bad(x, field, "must be true or false");
	*ret = json_is_true(v);
	return true;
}

static bool get_path(struct ctx *x, json_t *v, const char *field, char *buf,
		     size_t len)
{
	if (!get_str(x, v, field, buf, len))
		return false;
	if (!path_ok(buf, len))
		return bad(x, field,
			   "'%s' must be an absolute path without '..', "
			   "commas or control characters",
			   buf);
	return true;
}

static bool mac_ok(const char *s)
{
	unsigned b[6];
	char tail;

	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0],
				      &b[1], &b[2], &b[3], &b[4], &b[5],
				      &tail) != 6)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':'
			       : strchr("0123456789abcdef", s[i]) == NULL)
			return false;
	return (b[0] & 1) == 0 &&
	       (b[0] | b[1] | b[2] | b[3] | b[4] | b[5]) != 0;
}

/* A random MAC in QEMU's 52:54:00 range. */
static void mac_generate(char buf[18])
{
	unsigned char r[3];

	randombytes_buf(r, sizeof(r));
	snprintf(buf, 18, "52:54:00:%02x:%02x:%02x", r[0], r[1], r[2]);
}

/* Rejects keys of @obj not in @allowed. */
static bool keys_check(struct ctx *x, json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		if (!one_of(key, allowed))
			return bad(x, key, "unknown field");
	}
	return true;
}

/* ---- parts ---- */

static bool parse_cpu(struct ctx *x, json_t *v, struct vm_config *c)
{
	static const char *const keys[] = {"sockets", "cores", "model", NULL};
	json_t *f;
	int64_t n;

	if (!json_is_object(v))
		return bad(x, "cpu", "must be an object");
	snprintf(x->where, sizeof(x->where), "cpu.");
	if (!keys_check(x, v, keys))
		return false;
	if ((f = json_object_get(v, "sockets")) != NULL) {
		if (!get_int(x, f, "sockets", 1, 64, &n))
			return false;
		c->sockets = (int)n;
	}
	if ((f = json_object_get(v, "cores")) != NULL) {
		if (!get_int(x, f, "cores", 1, 64, &n))
			return false;
		c->cores = (int)n;
	}
	if ((f = json_object_get(v, "model")) != NULL) {
		if (!get_str(x, f, "model", c->cpu_model, sizeof(c->cpu_model)))
			return false;
		if (!ident_ok(c->cpu_model, 63, "_.A"))
			return bad(x, "model",
				   "'%s' is not a CPU model name", c->cpu_model);
	}
	x->where[0] = '\0';
	if (c->sockets * c->cores > 512)
		return bad(x, "cpu", "sockets x cores must be at most 512");
	return true;
}

static bool parse_disk(struct ctx *x, json_t *v, unsigned i,
		       struct vm_config *c)
{
	static const char *const keys[] = {"bus",    "volume", "size_mb",
					   "format", "cache",  "pool", NULL};
	struct vm_disk *d = &c->disks[i];
	json_t *f;

	snprintf(x->where, sizeof(x->where), "disks[%u]", i);
	if (!json_is_object(v))
		return bad(x, "", "must be an object");
	snprintf(x->where, sizeof(x->where), "disks[%u].", i);
	if (!keys_check(x, v, keys))
		return false;
	snprintf(d->bus, sizeof(d->bus), "virtio-blk");
	snprintf(d->format, sizeof(d->format), "qcow2");
	snprintf(d->cache, sizeof(d->cache), "none");
	if ((f = json_object_get(v, "bus")) != NULL &&
	    !get_enum(x, f, "bus", d->bus, sizeof(d->bus), buses))
		return false;
	if ((f = json_object_get(v, "format")) != NULL &&
	    !get_enum(x, f, "format", d->format, sizeof(d->format), formats))
		return false;
	if ((f = json_object_get(v, "cache")) != NULL &&
	    !get_enum(x, f, "cache", d->cache, sizeof(d->cache), caches))
		return false;
	if ((f = json_object_get(v, "size_mb")) != NULL &&
	    !get_int(x, f, "size_mb", 1, INT64_C(67108864), &d->size_mb))
		return false;
	if ((f = json_object_get(v, "pool")) != NULL) {
		char pool[STATEDB_POOL_NAME_MAX + 1], fmt[8];

		if (json_object_get(v, "volume") != NULL)
			return bad(x, "pool", "give either pool (a new volume "
					      "there) or volume, not both");
		if (!get_str(x, f, "pool", pool, sizeof(pool)))
			return false;
		memcpy(fmt, d->format, sizeof(fmt));
		snprintf(d->volume, sizeof(d->volume),
			 "%s:vm-%" PRId64 "-disk-%u.%s", pool, c->vmid, i,
			 fmt);
	}
	if ((f = json_object_get(v, "volume")) != NULL &&
	    !get_str(x, f, "volume", d->volume, sizeof(d->volume)))
		return false;
	if (d->volume[0] != '\0' && strncmp(d->volume, "local:", 6) != 0 &&
	    d->volume[0] != '/') {
		/* POOL:NAME, the format given by NAME's suffix */
		char pool[STATEDB_POOL_NAME_MAX + 1];
		char name[STATEDB_VOLUME_NAME_MAX + 1];
		struct hx_err e = {0};
		const char *dot;

		if (statedb_volid_parse(d->volume, pool, sizeof(pool), name,
					sizeof(name), &e) < 0)
			return bad(x, "volume", "%s", e.msg);
		dot = strrchr(name, '.');
		if (dot == NULL ||
		    (strcmp(dot, ".qcow2") != 0 && strcmp(dot, ".raw") != 0))
			return bad(x, "volume",
				   "'%s': a pool volume's name ends in .qcow2 "
				   "or .raw",
				   d->volume);
		if (json_object_get(v, "format") != NULL &&
		    strcmp(d->format, dot + 1) != 0)
			return bad(x, "format",
				   "'%s' does not match volume '%s'",
				   d->format, d->volume);
		snprintf(d->format, sizeof(d->format), "%s", dot + 1);
	} else if (d->volume[0] != '\0') {
		if (strncmp(d->volume, "local:", 6) == 0) {
			if (!ident_ok(d->volume + 6, 200, "_."))
				return bad(x, "volume",
					   "'%s': a local volume name is "
					   "[a-z0-9_.-], 1-200 characters, "
					   "not starting with '-'",
					   d->volume);
			if (strstr(d->volume, "..") != NULL)
				return bad(x, "volume",
					   "'%s' must not contain '..'",
					   d->volume);
		} else if (!path_ok(d->volume, sizeof(d->volume))) {
			return bad(x, "volume",
				   "'%s' is neither 'local:NAME', 'POOL:NAME' "
				   "nor an absolute path without '..', commas "
				   "or control characters",
				   d->volume);
		}
	} else {
		snprintf(d->volume, sizeof(d->volume),
			 "local:vm-%" PRId64 "-disk-%u", c->vmid, i);
	}
	if ((strncmp(d->volume, "local:", 6) == 0 ||
	     json_object_get(v, "pool") != NULL) &&
	    d->size_mb == 0)
		return bad(x, "size_mb",
			   "required for a volume hxd creates ('%s')",
			   d->volume);
	for (unsigned j = 0; j < i; j++)
		if (strcmp(c->disks[j].volume, d->volume) == 0)
			return bad(x, "volume", "'%s' is used by disks[%u] too",
				   d->volume, j);
	x->where[0] = '\0';
	return true;
}

/* "auto", "none" or an address of @family into @buf. */
static bool get_nic_ip(struct ctx *x, json_t *v, const char *field,
		       int family, char *buf, size_t len)
{
	struct hx_addr a;

	snprintf(buf, len, "auto");
	if (v == NULL)
		return true;
	if (!get_str(x, v, field, buf, len))
		return false;
	if (strcmp(buf, "auto") == 0 || strcmp(buf, "none") == 0)
		return true;
	if (hx_addr_parse(buf, &a) < 0 || a.family != family)
		return bad(x, field,
			   "'%s' is not an IPv%d address, 'auto' or 'none'",
			   buf, family);
	memset(buf, 0, len);
	hx_addr_format(&a, buf, len);
	return true;
}

/* A NIC is on a host bridge or on a vnet (whose bridge is derived). */
static bool parse_nic_net(struct ctx *x, json_t *v, struct vm_nic *n)
{
	json_t *b = json_object_get(v, "bridge"),
	       *vn = json_object_get(v, "vnet");

	if (b != NULL && vn != NULL)
		return bad(x, "vnet", "give a bridge or a vnet, not both");
	if (vn != NULL) {
		if (!get_str(x, vn, "vnet", n->vnet, sizeof(n->vnet)))
			return false;
		if (!ident_ok(n->vnet, 8, "") || n->vnet[0] < 'a' ||
		    strchr(n->vnet, '-') != NULL)
			return bad(x, "vnet", "'%s' is not a vnet name",
				   n->vnet);
		char name[NET_IFNAMSIZ] = {0};

		net_bridge_name(n->vnet, name);
		memcpy(n->bridge, name, sizeof(n->bridge));
		return get_nic_ip(x, json_object_get(v, "ip"), "ip", 4,
				  n->ip4, sizeof(n->ip4)) &&
		       get_nic_ip(x, json_object_get(v, "ip6"), "ip6", 6,
				  n->ip6, sizeof(n->ip6));
	}
	if (json_object_get(v, "ip") != NULL ||
	    json_object_get(v, "ip6") != NULL)
		return bad(x, "ip", "addresses come from IPAM: only NICs on a "
				    "vnet have them");
	if (b == NULL)
		return bad(x, "bridge", "required (or a vnet)");
	if (!get_str(x, b, "bridge", n->bridge, sizeof(n->bridge)))
		return false;
	if (!ident_ok(n->bridge, 15, "_.A"))
		return bad(x, "bridge", "'%s' is not an interface name",
			   n->bridge);
	return true;
}

static bool parse_nic(struct ctx *x, json_t *v, unsigned i,
		      struct vm_config *c)
{
	static const char *const keys[] = {"model", "bridge", "mac", "vlan",
					   "vnet",  "ip",     "ip6", NULL};
	struct vm_nic *n = &c->nics[i];
	json_t *f;

	snprintf(x->where, sizeof(x->where), "nics[%u]", i);
	if (!json_is_object(v))
		return bad(x, "", "must be an object");
	snprintf(x->where, sizeof(x->where), "nics[%u].", i);
	if (!keys_check(x, v, keys))
		return false;
	snprintf(n->model, sizeof(n->model), "virtio");
	if ((f = json_object_get(v, "model")) != NULL &&
	    !get_enum(x, f, "model", n->model, sizeof(n->model), nic_models))
		return false;
	if (!parse_nic_net(x, v, n))
		return false;
	if ((f = json_object_get(v, "vlan")) != NULL && !json_is_null(f))
		return bad(x, "vlan",
			   "VLAN tags are not supported yet (this release "
			   "cannot test 802.1Q); use null");
	if ((f = json_object_get(v, "mac")) != NULL) {
		if (!get_str(x, f, "mac", n->mac, sizeof(n->mac)))
			return false;
		for (char *p = n->mac; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		if (!mac_ok(n->mac))
			return bad(x, "mac",
				   "'%s' is not a unicast MAC address "
				   "(xx:xx:xx:xx:xx:xx)",
				   json_string_value(f));
	} else {
		mac_generate(n->mac);
	}
	for (unsigned j = 0; j < i; j++)
		if (strcmp(c->nics[j].mac, n->mac) == 0)
			return bad(x, "mac", "%s is used by nics[%u] too",
				   n->mac, j);
	x->where[0] = '\0';
	return true;
}

static bool parse_array(struct ctx *x, json_t *v, const char *field,
			unsigned max)
{
	if (!json_is_array(v))
		return bad(x, field, "must be an array");
	if (json_array_size(v) > max)
		return bad(x, field, "at most %u entries", max);
	return true;
}

static bool parse_kernel(struct ctx *x, json_t *v, struct vm_config *c)
{
	static const char *const keys[] = {"path", "initrd", "cmdline", NULL};
	json_t *f;

	c->has_kernel = false;
	if (json_is_null(v))
		return true;
	if (!json_is_object(v))
		return bad(x, "kernel", "must be null or an object");
	snprintf(x->where, sizeof(x->where), "kernel.");
	if (!keys_check(x, v, keys))
		return false;
	if ((f = json_object_get(v, "path")) == NULL)
		return bad(x, "path", "required");
	if (!get_path(x, f, "path", c->kernel, sizeof(c->kernel)))
		return false;
	if ((f = json_object_get(v, "initrd")) != NULL && !json_is_null(f) &&
	    !get_path(x, f, "initrd", c->initrd, sizeof(c->initrd)))
		return false;
	if ((f = json_object_get(v, "cmdline")) != NULL) {
		if (!get_str(x, f, "cmdline", c->cmdline, sizeof(c->cmdline)))
			return false;
		for (const char *p = c->cmdline; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20)
				return bad(x, "cmdline",
					   "must not contain control "
					   "characters");
	}
	x->where[0] = '\0';
	c->has_kernel = true;
	return true;
}

static bool boot_ok(const struct vm_config *c, const char *s)
{
	char canon[16];
	unsigned n;

	if (strcmp(s, "cdrom") == 0)
		return c->cdrom[0] != '\0';
	if (sscanf(s, "disk%u", &n) == 1) {
		snprintf(canon, sizeof(canon), "disk%u", n);
		return n < c->ndisks && strcmp(canon, s) == 0;
	}
	if (sscanf(s, "net%u", &n) == 1) {
		snprintf(canon, sizeof(canon), "net%u", n);
		return n < c->nnics && strcmp(canon, s) == 0;
	}
	return false;
}

static bool parse_boot(struct ctx *x, json_t *v, struct vm_config *c)
{
	size_t i;
	json_t *e;

	if (!parse_array(x, v, "boot", VM_MAX_BOOT))
		return false;
	c->nboot = 0;
	json_array_foreach(v, i, e) {
		char item[8] = {0};

		if (!json_is_string(e) || json_string_length(e) >= sizeof(item))
			return bad(x, "boot",
				   "entries are 'diskN', 'netN' or 'cdrom'");
		snprintf(item, sizeof(item), "%s", json_string_value(e));
		if (!boot_ok(c, item))
			return bad(x, "boot",
				   "'%s' is not a disk, NIC or CD-ROM of this "
				   "VM",
				   item);
		for (unsigned j = 0; j < c->nboot; j++)
			if (strcmp(c->boot[j], item) == 0)
				return bad(x, "boot", "'%s' is listed twice",
					   item);
		memcpy(c->boot[c->nboot++], item, sizeof(item));
	}
	return true;
}

static void default_boot(struct vm_config *c)
{
	c->nboot = 0;
	for (unsigned i = 0; i < c->ndisks && i < VM_MAX_DISKS; i++)
		snprintf(c->boot[c->nboot++], sizeof(c->boot[0]), "disk%u",
			 i % 100);
	if (c->cdrom[0] != '\0')
		snprintf(c->boot[c->nboot++], sizeof(c->boot[0]), "cdrom");
	for (unsigned i = 0; i < c->nnics && i < VM_MAX_NICS; i++)
		snprintf(c->boot[c->nboot++], sizeof(c->boot[0]), "net%u",
			 i % 100);
}

static void defaults(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->arch, sizeof(c->arch), "x86_64");
	c->sockets = 1;
	c->cores = 1;
	c->memory_mb = 512;
	c->serial = true;
	snprintf(c->restart, sizeof(c->restart), "on-crash");
}

int vmconf_parse(json_t *j, struct vm_config *ret, struct hx_err *err)
{
	static const char *const keys[] = {
		"vmid",	   "name",   "node",	"arch",	       "machine",
		"firmware", "cpu",    "memory_mb", "disks",	"cdrom",
		"nics",	   "boot",   "kernel",	"serial",      "vnc",
		"tags",	   "description", "onboot", "restart", "template",
		NULL};
	struct ctx x = {.err = err, .r = -EINVAL};
	struct vm_config *c;
	json_t *v, *e;
	size_t i;

	if (!json_is_object(j))
		return hx_err_set(err, -EINVAL,
				  "the VM configuration must be an object");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	defaults(c);
	if (!keys_check(&x, j, keys))
		goto fail;
	if ((v = json_object_get(j, "vmid")) == NULL) {
		(void)bad(&x, "vmid", "required");
		goto fail;
	}
	if (!get_int(&x, v, "vmid", STATEDB_VMID_MIN, STATEDB_VMID_MAX,
		     &c->vmid))
		goto fail;
	if ((v = json_object_get(j, "name")) == NULL) {
		(void)bad(&x, "name", "required");
		goto fail;
	}
	if (!get_str(&x, v, "name", c->name, sizeof(c->name)))
		goto fail;
	if (!ident_ok(c->name, 63, "")) {
		(void)bad(&x, "name",
			  "'%s': use [a-z0-9-], 1-63 characters, not "
			  "starting with '-'",
			  c->name);
		goto fail;
	}
	if (strspn(c->name, "0123456789") == strlen(c->name)) {
		(void)bad(&x, "name", "'%s' must not be all digits (it "
			  "would read as a VMID)", c->name);
		goto fail;
	}
	if ((v = json_object_get(j, "node")) != NULL &&
	    !get_str(&x, v, "node", c->node, sizeof(c->node)))
		goto fail;
	if ((v = json_object_get(j, "arch")) != NULL &&
	    !get_enum(&x, v, "arch", c->arch, sizeof(c->arch), arches))
		goto fail;
	bool arm = strcmp(c->arch, "aarch64") == 0;
	static const char *const x86_machines[] = {"pc", "q35", NULL};
	static const char *const arm_machines[] = {"virt", NULL};
	snprintf(c->machine, sizeof(c->machine), "%s", arm ? "virt" : "pc");
	snprintf(c->firmware, sizeof(c->firmware), "%s", arm ? "uefi" : "bios");
	snprintf(c->cpu_model, sizeof(c->cpu_model), "%s",
		 arm ? "max" : "qemu64");
	if ((v = json_object_get(j, "machine")) != NULL &&
	    !get_enum(&x, v, "machine", c->machine, sizeof(c->machine),
		      arm ? arm_machines : x86_machines))
		goto fail;
	if ((v = json_object_get(j, "firmware")) != NULL &&
	    !get_enum(&x, v, "firmware", c->firmware, sizeof(c->firmware),
		      firmwares))
		goto fail;
	if (arm && strcmp(c->firmware, "uefi") != 0) {
		(void)bad(&x, "firmware", "aarch64 VMs boot with 'uefi'");
		goto fail;
	}
	if ((v = json_object_get(j, "cpu")) != NULL && !parse_cpu(&x, v, c))
		goto fail;
	if ((v = json_object_get(j, "memory_mb")) != NULL &&
	    !get_int(&x, v, "memory_mb", 16, INT64_C(4194304), &c->memory_mb))
		goto fail;
	if ((v = json_object_get(j, "disks")) != NULL) {
		if (!parse_array(&x, v, "disks", VM_MAX_DISKS))
			goto fail;
		json_array_foreach(v, i, e) {
			if (!parse_disk(&x, e, (unsigned)i, c))
				goto fail;
			c->ndisks = (unsigned)i + 1;
		}
	}
	for (unsigned k = 0; k < c->ndisks; k++) {
		const char *bus = c->disks[k].bus;

		snprintf(x.where, sizeof(x.where), "disks[%u].", k);
		if (strcmp(bus, "ide") == 0 && strcmp(c->machine, "pc") != 0) {
			(void)bad(&x, "bus", "'ide' needs machine 'pc'");
			goto fail;
		}
		if (arm && strncmp(bus, "virtio", 6) != 0) {
			(void)bad(&x, "bus", "aarch64 VMs use virtio disks");
			goto fail;
		}
		x.where[0] = '\0';
	}
	if ((v = json_object_get(j, "cdrom")) != NULL && !json_is_null(v)) {
		json_t *iso;

		if (!json_is_object(v) || json_object_size(v) != 1 ||
		    (iso = json_object_get(v, "iso")) == NULL) {
			(void)bad(&x, "cdrom",
				  "must be null or {\"iso\": \"/path.iso\"}");
			goto fail;
		}
		if (json_is_string(iso) && json_string_value(iso)[0] != '/') {
			/* POOL:NAME.iso, an ISO volume of a pool */
			char pool[STATEDB_POOL_NAME_MAX + 1];
			char name[STATEDB_VOLUME_NAME_MAX + 1];
			struct hx_err verr = {0};
			size_t n;

			if (!get_str(&x, iso, "cdrom.iso", c->cdrom,
				     sizeof(c->cdrom)))
				goto fail;
			if (statedb_volid_parse(c->cdrom, pool, sizeof(pool),
						name, sizeof(name), &verr) < 0) {
				(void)bad(&x, "cdrom.iso", "%s", verr.msg);
				goto fail;
			}
			n = strlen(name);
			if (n < 5 || strcmp(name + n - 4, ".iso") != 0) {
				(void)bad(&x, "cdrom.iso",
					  "'%s': an ISO volume's name ends in "
					  ".iso",
					  c->cdrom);
				goto fail;
			}
		} else if (!get_path(&x, iso, "cdrom.iso", c->cdrom,
				     sizeof(c->cdrom))) {
			goto fail;
		}
	}
	if ((v = json_object_get(j, "nics")) != NULL) {
		if (!parse_array(&x, v, "nics", VM_MAX_NICS))
			goto fail;
		json_array_foreach(v, i, e) {
			if (!parse_nic(&x, e, (unsigned)i, c))
				goto fail;
			c->nnics = (unsigned)i + 1;
		}
	}
	if ((v = json_object_get(j, "boot")) != NULL) {
		if (!parse_boot(&x, v, c))
			goto fail;
	} else {
		default_boot(c);
	}
	if ((v = json_object_get(j, "kernel")) != NULL &&
	    !parse_kernel(&x, v, c))
		goto fail;
	if ((v = json_object_get(j, "serial")) != NULL &&
	    !get_bool(&x, v, "serial", &c->serial))
		goto fail;
	if ((v = json_object_get(j, "vnc")) != NULL &&
	    !get_bool(&x, v, "vnc", &c->vnc))
		goto fail;
	if ((v = json_object_get(j, "onboot")) != NULL &&
	    !get_bool(&x, v, "onboot", &c->onboot))
		goto fail;
	if ((v = json_object_get(j, "template")) != NULL &&
	    !get_bool(&x, v, "template", &c->template))
		goto fail;
	if ((v = json_object_get(j, "restart")) != NULL &&
	    !get_enum(&x, v, "restart", c->restart, sizeof(c->restart),
		      restarts))
		goto fail;
	if ((v = json_object_get(j, "description")) != NULL &&
	    !get_str(&x, v, "description", c->description,
		     sizeof(c->description)))
		goto fail;
	if ((v = json_object_get(j, "tags")) != NULL) {
		if (!parse_array(&x, v, "tags", VM_MAX_TAGS))
			goto fail;
		json_array_foreach(v, i, e) {
			char *t = c->tags[c->ntags];

			if (!get_str(&x, e, "tags", t, sizeof(c->tags[0])))
				goto fail;
			if (!ident_ok(t, 63, "_.")) {
				(void)bad(&x, "tags",
					  "'%s': use [a-z0-9_.-], 1-63 "
					  "characters",
					  t);
				goto fail;
			}
			bool dup = false;
			for (unsigned k = 0; k < c->ntags; k++)
				dup = dup || strcmp(c->tags[k], t) == 0;
			if (!dup)
				c->ntags++;
			else
				memset(t, 0, sizeof(c->tags[0]));
		}
	}
	*ret = *c;
	free(c);
	return 0;
fail:
	free(c);
	return x.r;
}

static json_t *disk_json(const struct vm_disk *d)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "bus", d->bus, "volume",
			      d->volume, "format", d->format, "cache",
			      d->cache);

	if (j != NULL && d->size_mb > 0)
		json_object_set_new(j, "size_mb", json_integer(d->size_mb));
	return j;
}

static json_t *nic_json(const struct vm_nic *n)
{
	if (n->vnet[0] != '\0')
		return json_pack("{s:s, s:s, s:s, s:s, s:s, s:n}", "model",
				 n->model, "vnet", n->vnet, "mac", n->mac, "ip",
				 n->ip4, "ip6", n->ip6, "vlan");
	return json_pack("{s:s, s:s, s:s, s:n}", "model", n->model, "bridge",
			 n->bridge, "mac", n->mac, "vlan");
}

json_t *vmconf_to_json(const struct vm_config *c)
{
	json_t *disks = json_array(), *nics = json_array(), *boot = json_array(),
	       *tags = json_array(), *j;

	for (unsigned i = 0; i < c->ndisks; i++)
		json_array_append_new(disks, disk_json(&c->disks[i]));
	for (unsigned i = 0; i < c->nnics; i++)
		json_array_append_new(nics, nic_json(&c->nics[i]));
	for (unsigned i = 0; i < c->nboot; i++)
		json_array_append_new(boot, json_string(c->boot[i]));
	for (unsigned i = 0; i < c->ntags; i++)
		json_array_append_new(tags, json_string(c->tags[i]));
	j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i, s:s}, s:I, "
		      "s:o, s:o, s:o, s:b, s:b, s:o, s:s, s:b, s:s}",
		      "vmid", (json_int_t)c->vmid, "name", c->name, "node",
		      c->node, "arch", c->arch, "machine", c->machine,
		      "firmware", c->firmware, "cpu", "sockets", c->sockets,
		      "cores", c->cores, "model", c->cpu_model, "memory_mb",
		      (json_int_t)c->memory_mb, "disks", disks, "nics", nics,
		      "boot", boot, "serial", c->serial, "vnc", c->vnc, "tags",
		      tags, "description", c->description, "onboot", c->onboot,
		      "restart", c->restart);
	if (j == NULL)
		return NULL;
	if (c->template) /* only then: older configurations stay as they were */
		json_object_set_new(j, "template", json_true());
	json_object_set_new(j, "cdrom",
			    c->cdrom[0] ? json_pack("{s:s}", "iso", c->cdrom)
					: json_null());
	if (c->has_kernel)
		json_object_set_new(
			j, "kernel",
			json_pack("{s:s, s:o, s:s}", "path", c->kernel,
				  "initrd",
				  c->initrd[0] ? json_string(c->initrd)
					       : json_null(),
				  "cmdline", c->cmdline));
	else
		json_object_set_new(j, "kernel", json_null());
	return j;
}

char *vmconf_dump(const struct vm_config *c)
{
	json_t *j = vmconf_to_json(c);
	char *s;

	if (j == NULL)
		return NULL;
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

int vmconf_load(const char *text, struct vm_config *ret, struct hx_err *err)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	int r;

	if (j == NULL)
		return hx_err_set(err, HX_EPROTO,
				  "stored VM configuration is not JSON: %s",
				  je.text);
	r = vmconf_parse(j, ret, err);
	json_decref(j);
	return r;
}

/* Whether volumes @a and @b differ at most in a ".FORMAT" suffix. */
static bool same_stem(const char *a, const char *b)
{
	size_t na = strcspn(a, "."), nb = strcspn(b, ".");

	if (strncmp(a, "local:", 6) == 0 || strncmp(b, "local:", 6) == 0)
		return strcmp(a, b) == 0;
	return na == nb && strncmp(a, b, na) == 0;
}

/* Names new disks without a volume "local:vm-VMID-disk-N" with an N that
 * neither the current disks nor the other new ones use, so a new disk
 * never lands on a detached disk's file. */
static int name_new_disks(const struct vm_config *cur, json_t *disks,
			  struct hx_err *err)
{
	size_t i;
	json_t *d;
	unsigned n = 0;

	if (!json_is_array(disks))
		return 0;
	json_array_foreach(disks, i, d) {
		char vol[128];
		bool used;

		json_t *pool = json_object_get(d, "pool");
		json_t *fmt = json_object_get(d, "format");

		if (!json_is_object(d) || json_object_get(d, "volume") != NULL)
			continue;
		if (pool != NULL && !json_is_string(pool))
			continue; /* vmconf_parse says why */
		do {
			if (pool != NULL)
				snprintf(vol, sizeof(vol),
					 "%.40s:vm-%" PRId64 "-disk-%u.%.8s",
					 json_string_value(pool), cur->vmid,
					 n++,
					 json_is_string(fmt)
						 ? json_string_value(fmt)
						 : "qcow2");
			else
				snprintf(vol, sizeof(vol),
					 "local:vm-%" PRId64 "-disk-%u",
					 cur->vmid, n++);
			used = false;
			for (unsigned k = 0; k < cur->ndisks; k++)
				used = used || same_stem(cur->disks[k].volume, vol);
			for (size_t k = 0; k < json_array_size(disks); k++) {
				json_t *o = json_object_get(
					json_array_get(disks, k), "volume");
				used = used || (json_is_string(o) &&
						same_stem(json_string_value(o), vol));
			}
		} while (used && n < 4 * VM_MAX_DISKS);
		json_object_del(d, "pool");
		if (json_object_set_new(d, "volume", json_string(vol)) < 0)
			return hx_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

int vmconf_patch(const struct vm_config *cur, json_t *patch,
		 struct vm_config *ret, struct hx_err *err)
{
	const char *key;
	json_t *j, *v;
	int r;

	if (!json_is_object(patch))
		return hx_err_set(err, -EINVAL, "the change must be an object");
	j = vmconf_to_json(cur);
	if (j == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	json_object_foreach(patch, key, v) {
		if (strcmp(key, "vmid") == 0 &&
		    !(json_is_integer(v) && json_integer_value(v) == cur->vmid)) {
			json_decref(j);
			return hx_err_set(err, -EINVAL,
					  "vmid: cannot change (clone the VM "
					  "instead)");
		}
		if (strcmp(key, "node") == 0 &&
		    !(json_is_string(v) &&
		      strcmp(json_string_value(v), cur->node) == 0)) {
			json_decref(j);
			return hx_err_set(err, -EINVAL,
					  "node: cannot change here (use "
					  "migrate)");
		}
		json_object_set_new(j, key, json_deep_copy(v));
	}
	if ((r = name_new_disks(cur, json_object_get(j, "disks"), err)) < 0) {
		json_decref(j);
		return r;
	}
	r = vmconf_parse(j, ret, err);
	json_decref(j);
	return r;
}

/* Configurations come only from vmconf_parse, which zero-fills every
 * buffer, so memcmp compares values, not leftovers. */
bool vmconf_needs_restart(const struct vm_config *a, const struct vm_config *b)
{
	struct vm_config x = *a, y = *b;

	/* Fields that apply without a restart. */
	memcpy(x.name, y.name, sizeof(x.name));
	memcpy(x.tags, y.tags, sizeof(x.tags));
	x.ntags = y.ntags;
	memcpy(x.description, y.description, sizeof(x.description));
	x.onboot = y.onboot;
	memcpy(x.restart, y.restart, sizeof(x.restart));
	return memcmp(&x, &y, sizeof(x)) != 0;
}

void vmconf_tags_text(const struct vm_config *c, char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, " ");

	for (unsigned i = 0; i < c->ntags && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s ", c->tags[i]);
}
