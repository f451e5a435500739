/*
 * Disk and NIC specs of hxctl vm create|set: "KEY=VALUE,KEY=VALUE".
 *
 * DESIGN: the comma form is what Proxmox users type (qm set --scsi0
 * local:32,cache=none), so hxctl takes the same shape. Each kind of spec is
 * a table of keys with the JSON member each sets and its type; parsing
 * checks syntax only (known keys, each once, numbers in range, MAC format)
 * and leaves the meaning of values to the server. A value cannot contain a
 * comma: such a configuration goes through --config.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

enum spec_type {
	SPEC_STR,
	SPEC_SIZE, /* MiB, with an optional M, G or T suffix */
	SPEC_INT,
	SPEC_MAC,
};

/* One KEY of a "KEY=VALUE,..." spec and the JSON member it sets. */
struct spec_key {
	const char *name;
	const char *field;
	enum spec_type type;
	int64_t min;
	int64_t max;
};

static const struct spec_key disk_keys[] = {
	{"size", "size_mb", SPEC_SIZE, 1, 67108864},
	{"bus", "bus", SPEC_STR, 0, 0},
	{"format", "format", SPEC_STR, 0, 0},
	{"cache", "cache", SPEC_STR, 0, 0},
	{"volume", "volume", SPEC_STR, 0, 0},
	{"pool", "pool", SPEC_STR, 0, 0},
};

static const struct spec_key nic_keys[] = {
	{"bridge", "bridge", SPEC_STR, 0, 0},
	{"model", "model", SPEC_STR, 0, 0},
	{"mac", "mac", SPEC_MAC, 0, 0},
	{"vlan", "vlan", SPEC_INT, 1, 4094},
	{"vnet", "vnet", SPEC_STR, 0, 0},
	{"ip", "ip", SPEC_STR, 0, 0},
	{"ip6", "ip6", SPEC_STR, 0, 0},
};

static int spec_error(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int spec_error(char *errbuf, size_t errlen, const char *fmt, ...)
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

int hxctl_vm_size_parse(const char *s, int64_t min, int64_t max,
			int64_t *ret_mb)
{
	size_t n = strlen(s);
	int64_t mult = 1;
	int64_t v;
	char num[32];

	if (n > 0 && strchr("mMgGtT", s[n - 1]) != NULL) {
		mult = strchr("mM", s[n - 1]) != NULL	? 1
		       : strchr("gG", s[n - 1]) != NULL ? 1024
							: 1024 * 1024;
		n--;
	}
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	if (hxctl_parse_int(num, 0, INT64_MAX / mult, &v) < 0)
		return -EINVAL;
	v *= mult;
	if (v < min || v > max)
		return -ERANGE;
	*ret_mb = v;
	return 0;
}

static bool is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	       (ch >= 'A' && ch <= 'F');
}

/* "xx:xx:xx:xx:xx:xx" in hex digits of either case. */
static bool is_mac(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !is_hex(s[i]))
			return false;
	return true;
}

/* Converts the VALUE of @k into JSON in *ret; -EINVAL with a message. */
static int spec_value(const char *what, const struct spec_key *k,
		      const char *val, json_t **ret, char *errbuf,
		      size_t errlen)
{
	int64_t v;

	*ret = NULL;
	switch (k->type) {
	case SPEC_SIZE:
		if (hxctl_vm_size_parse(val, k->min, k->max, &v) < 0)
			return spec_error(
				errbuf, errlen,
				"%s: %s must be MiB from %lld to %lld "
				"(or with a G or T suffix), got '%s'",
				what, k->name, (long long)k->min,
				(long long)k->max, val);
		*ret = json_integer(v);
		break;
	case SPEC_INT:
		if (hxctl_parse_int(val, k->min, k->max, &v) < 0)
			return spec_error(errbuf, errlen,
					  "%s: %s must be an integer from %lld "
					  "to %lld, got '%s'",
					  what, k->name, (long long)k->min,
					  (long long)k->max, val);
		*ret = json_integer(v);
		break;
	case SPEC_MAC:
		if (!is_mac(val))
			return spec_error(errbuf, errlen,
					  "%s: mac must look like "
					  "52:54:00:12:34:56, got '%s'",
					  what, val);
		__attribute__((fallthrough));
	case SPEC_STR:
		*ret = json_string(val);
		if (*ret == NULL)
			return spec_error(errbuf, errlen,
					  "%s: %s is not valid UTF-8", what,
					  k->name);
		break;
	}
	return *ret != NULL ? 0 : -ENOMEM;
}

static const struct spec_key *spec_key_find(const struct spec_key *keys,
					    size_t nkeys, const char *name)
{
	for (size_t i = 0; i < nkeys; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* "size, bus, ..." for the message about an unknown key. */
static void spec_key_list(const struct spec_key *keys, size_t nkeys, char *buf,
			  size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < nkeys && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s",
				 i > 0 ? ", " : "", keys[i].name);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* Parses one "KEY=VALUE" item of a spec into @obj. */
static int spec_item(const char *what, const struct spec_key *keys,
		     size_t nkeys, const char *item, json_t *obj, char *errbuf,
		     size_t errlen)
{
	const struct spec_key *k;
	const char *val;
	char name[32];
	char list[128];
	json_t *v;
	int r;

	if (hxctl_kv_split(item, name, sizeof(name), &val) < 0)
		return spec_error(errbuf, errlen,
				  "%s: expected KEY=VALUE, got '%s'", what,
				  item);
	k = spec_key_find(keys, nkeys, name);
	if (k == NULL) {
		spec_key_list(keys, nkeys, list, sizeof(list));
		return spec_error(errbuf, errlen,
				  "%s: unknown key '%s' (known: %s)", what,
				  name, list);
	}
	if (json_object_get(obj, k->field) != NULL)
		return spec_error(errbuf, errlen, "%s: %s given twice", what,
				  k->name);
	if (val[0] == '\0')
		return spec_error(errbuf, errlen, "%s: %s needs a value", what,
				  k->name);
	r = spec_value(what, k, val, &v, errbuf, errlen);
	if (r < 0)
		return r;
	return obj_set(obj, k->field, v);
}

/* Parses "KEY=VALUE[,KEY=VALUE...]" against @keys into a new object. */
static int spec_parse(const char *kind, const struct spec_key *keys,
		      size_t nkeys, const char *spec, json_t **ret,
		      char *errbuf, size_t errlen)
{
	json_t *obj = json_object();
	char *copy = strdup(spec);
	char what[160];
	char *save = NULL;
	int r = -ENOMEM;

	snprintf(what, sizeof(what), "%s '%s'", kind, spec);
	if (obj == NULL || copy == NULL)
		goto err_free;
	if (spec[0] == '\0' || spec[0] == ',' || strstr(spec, ",,") != NULL ||
	    spec[strlen(spec) - 1] == ',') {
		r = spec_error(errbuf, errlen, "%s: empty item", what);
		goto err_free;
	}
	for (char *it = strtok_r(copy, ",", &save); it != NULL;
	     it = strtok_r(NULL, ",", &save)) {
		r = spec_item(what, keys, nkeys, it, obj, errbuf, errlen);
		if (r < 0)
			goto err_free;
	}
	free(copy);
	*ret = obj;
	return 0;

err_free:
	free(copy);
	json_decref(obj);
	return r;
}

int hxctl_vm_disk_parse(const char *spec, json_t **ret, char *errbuf,
			size_t errlen)
{
	return spec_parse("disk", disk_keys, HXCTL_ARRAY_SIZE(disk_keys), spec,
			  ret, errbuf, errlen);
}

int hxctl_vm_nic_parse(const char *spec, json_t **ret, char *errbuf,
		       size_t errlen)
{
	json_t *nic;
	int r;

	r = spec_parse("nic", nic_keys, HXCTL_ARRAY_SIZE(nic_keys), spec, &nic,
		       errbuf, errlen);
	if (r < 0)
		return r;
	if ((json_object_get(nic, "bridge") == NULL) ==
	    (json_object_get(nic, "vnet") == NULL)) {
		json_decref(nic);
		return spec_error(errbuf, errlen,
				  "nic '%s': give bridge=BRIDGE or vnet=VNET",
				  spec);
	}
	*ret = nic;
	return 0;
}
