/*
 * Command-line parsing for hxctl: options, integers, KEY=VALUE pairs.
 *
 * DESIGN: getopt_long() keeps global state and permutes argv, which makes a
 * two-level command line (global options, command, command options) awkward
 * and hard to unit-test. Each command instead declares its options as a
 * short spec string in the command table ("state: limit:"), and this file
 * parses argv against it into a plain struct without touching argv. The same
 * parser handles the global options, stopping at the command word.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tools/hxctl.h"

static int args_error(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int args_error(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/*
 * Finds option @name (@len bytes, not NUL-terminated) in the spec. @copy is
 * the spec with separators replaced by NULs, so the returned name is a
 * proper string; *ret_has_value tells whether the option takes a value.
 */
static const char *spec_find(const char *spec, const char *copy,
			     const char *name, size_t len, bool *ret_has_value)
{
	size_t i = 0;

	while (spec[i] != '\0') {
		size_t n = strcspn(spec + i, " :");

		if (n > 0 && n == len && memcmp(spec + i, name, len) == 0) {
			*ret_has_value = spec[i + n] == ':';
			return copy + i;
		}
		i += n;
		i += strspn(spec + i, " :");
	}
	return NULL;
}

static int args_alloc(const char *spec, int argc, struct hxctl_args *a)
{
	size_t n = (size_t)argc + 1;

	a->spec = strdup(spec);
	a->pos = calloc(n, sizeof(*a->pos));
	a->names = calloc(n, sizeof(*a->names));
	a->vals = calloc(n, sizeof(*a->vals));
	if (a->spec == NULL || a->pos == NULL || a->names == NULL ||
	    a->vals == NULL)
		return -ENOMEM;
	for (char *p = a->spec; *p != '\0'; p++)
		if (*p == ' ' || *p == ':')
			*p = '\0';
	return 0;
}

/* Parses the long option at argv[*i], consuming its value if it has one. */
static int args_long(const char *spec, struct hxctl_args *a, int argc,
		     char **argv, int *i, char *errbuf, size_t errlen)
{
	const char *name = argv[*i] + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	const char *def;
	const char *val;
	bool has_value;

	def = spec_find(spec, a->spec, name, len, &has_value);
	if (def == NULL)
		return args_error(errbuf, errlen, "unknown option '--%.*s'",
				  (int)len, name);
	if (!has_value && eq != NULL)
		return args_error(errbuf, errlen,
				  "option '--%s' takes no value", def);
	if (!has_value)
		val = "";
	else if (eq != NULL)
		val = eq + 1;
	else if (*i + 1 < argc)
		val = argv[++*i];
	else
		return args_error(errbuf, errlen, "option '--%s' needs a value",
				  def);
	a->names[a->nopts] = def;
	a->vals[a->nopts] = val;
	a->nopts++;
	return 0;
}

int hxctl_args_parse(const char *spec, int argc, char **argv, bool stop_at_pos,
		     struct hxctl_args *ret, char *errbuf, size_t errlen)
{
	bool opts_done = false;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->next = argc;
	r = args_alloc(spec, argc, ret);
	if (r < 0)
		return r;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (opts_done || arg[0] != '-' || arg[1] == '\0') {
			if (stop_at_pos) {
				ret->next = i;
				return 0;
			}
			ret->pos[ret->npos++] = argv[i];
		} else if (strcmp(arg, "--") == 0) {
			opts_done = true;
			if (stop_at_pos) {
				ret->next = i + 1;
				return 0;
			}
		} else if (strcmp(arg, "-h") == 0 ||
			   strcmp(arg, "--help") == 0) {
			ret->help = true;
		} else if (strcmp(arg, "--json") == 0) {
			ret->json = true;
		} else if (arg[1] != '-') {
			return args_error(errbuf, errlen, "unknown option '%s'",
					  arg);
		} else {
			r = args_long(spec, ret, argc, argv, &i, errbuf,
				      errlen);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

void hxctl_args_close(struct hxctl_args *a)
{
	if (a == NULL)
		return;
	free(a->vals);
	free(a->names);
	free(a->pos);
	free(a->spec);
	memset(a, 0, sizeof(*a));
}

const char *hxctl_args_get(const struct hxctl_args *a, const char *name)
{
	for (int i = a->nopts - 1; i >= 0; i--)
		if (strcmp(a->names[i], name) == 0)
			return a->vals[i];
	return NULL;
}

const char *hxctl_args_next(const struct hxctl_args *a, const char *name,
			    int *iter)
{
	for (; *iter < a->nopts; (*iter)++)
		if (strcmp(a->names[*iter], name) == 0)
			return a->vals[(*iter)++];
	return NULL;
}

int hxctl_parse_int(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	long long v;
	char *end;

	if (s == NULL || (*s != '-' && (*s < '0' || *s > '9')))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

json_t *hxctl_value_parse(const char *s)
{
	int64_t v;

	if (hxctl_parse_int(s, INT64_MIN, INT64_MAX, &v) == 0)
		return json_integer(v);
	if (strcmp(s, "true") == 0)
		return json_true();
	if (strcmp(s, "false") == 0)
		return json_false();
	return json_string(s);
}

int hxctl_kv_split(const char *s, char *key, size_t keylen,
		   const char **ret_val)
{
	const char *eq = strchr(s, '=');
	size_t n;

	if (eq == NULL || eq == s)
		return -EINVAL;
	n = (size_t)(eq - s);
	if (n >= keylen)
		return -EINVAL;
	memcpy(key, s, n);
	key[n] = '\0';
	*ret_val = eq + 1;
	return 0;
}

int hxctl_labels_merge(json_t *labels, char *const *set, int nset,
		       const char *const *remove, int nremove, char *errbuf,
		       size_t errlen)
{
	char key[256];
	const char *val;
	json_t *v;

	for (int i = 0; i < nset; i++) {
		if (hxctl_kv_split(set[i], key, sizeof(key), &val) < 0)
			return args_error(errbuf, errlen,
					  "expected KEY=VALUE, got '%s'",
					  set[i]);
		for (int j = 0; j < nremove; j++)
			if (strcmp(remove[j], key) == 0)
				return args_error(
					errbuf, errlen,
					"label '%s' is both set and removed",
					key);
		v = json_string(val);
		if (v == NULL)
			return args_error(errbuf, errlen,
					  "label '%s': value is not UTF-8",
					  key);
		if (json_object_set_new(labels, key, v) < 0)
			return args_error(errbuf, errlen,
					  "invalid label key '%s'", key);
	}
	for (int j = 0; j < nremove; j++)
		(void)json_object_del(labels, remove[j]);
	return 0;
}
