/*
 * libFuzzer target: hxctl's parsers of what users type. The first input
 * byte picks what the rest is:
 *
 *  0. a command line, one argument per line: hxctl's global options,
 *     then 'vm create' (or 'vm set') options turned into the request
 *     body (hxctl_vm_body()), positional KEY=VALUE arguments and --remove
 *     options merged into labels as 'node label' does;
 *  1. a --disk spec, 2. a --nic spec, 3. a size ("512M", "2G");
 *  4. a --config FILE (hxctl_vm_config_load()), then completed against
 *     a VM as 'vm set' does;
 *  5. a value for a query string or path segment (hxctl_escape(),
 *     hxctl_query_add()) and for KEY=VALUE settings (hxctl_value_parse()).
 *
 * Checks beyond the sanitizers: bodies and specs are JSON objects, the
 * last value of an option is the one hxctl_args_get() returns, escaping
 * leaves only unreserved characters and %XX and decodes back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tools/hxctl.h"

#define FUZZ_MAX_ARGS 64
#define GLOBAL_SPEC "data-dir: url: token: ca: insecure version"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_hxctl: %s: %s\n", what, detail);
	abort();
}

/* Splits @text at newlines into @argv (each argument its own copy). */
static int split(char *text, char **argv)
{
	int argc = 0;

	for (char *s = text; s != NULL && argc < FUZZ_MAX_ARGS;) {
		char *nl = strchr(s, '\n');

		if (nl != NULL)
			*nl = '\0';
		if ((argv[argc++] = strdup(s)) == NULL)
			abort();
		s = nl != NULL ? nl + 1 : NULL;
	}
	argv[argc] = NULL;
	return argc;
}

static void check_last_value(const struct hxctl_args *a, const char *name)
{
	const char *v, *last = NULL;
	int iter = 0;

	while ((v = hxctl_args_next(a, name, &iter)) != NULL)
		last = v;
	if (last != hxctl_args_get(a, name))
		fail("hxctl_args_get() is not the last value of", name);
}

static void fuzz_command(char *text, bool is_create)
{
	char *argv[FUZZ_MAX_ARGS + 1], err[256];
	const char *remove[FUZZ_MAX_ARGS];
	struct hxctl_args g, a = {0};
	int argc = split(text, argv), nremove = 0, iter = 0;
	json_t *body, *labels;
	const char *v;

	if (hxctl_args_parse(GLOBAL_SPEC, argc, argv, true, &g, err,
			     sizeof(err)) == 0 &&
	    g.next <= argc &&
	    hxctl_args_parse(is_create ? HXCTL_VM_CREATE_SPEC
				       : HXCTL_VM_SET_SPEC " remove:",
			     argc - g.next, argv + g.next, false, &a, err,
			     sizeof(err)) == 0) {
		check_last_value(&g, "url");
		check_last_value(&a, "disk");
		check_last_value(&a, "name");
		body = json_object();
		if (hxctl_vm_body(&a, is_create, body, err, sizeof(err)) == 0 &&
		    !json_is_object(body))
			fail("a VM body is not an object", "");
		json_decref(body);
		while ((v = hxctl_args_next(&a, "remove", &iter)) != NULL)
			remove[nremove++] = v;
		labels = json_pack("{s:s}", "rack", "a1");
		(void)hxctl_labels_merge(labels, a.pos, a.npos, remove, nremove,
					 err, sizeof(err));
		json_decref(labels);
	}
	hxctl_args_close(&a);
	hxctl_args_close(&g);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
}

static void fuzz_spec(const char *text, int kind)
{
	char err[256];
	json_t *j = NULL;
	int64_t mb;
	int r;

	if (kind == 3) {
		if (hxctl_vm_size_parse(text, 1, INT64_C(1) << 40, &mb) == 0 &&
		    (mb < 1 || mb > INT64_C(1) << 40))
			fail("a size out of its range is accepted", text);
		return;
	}
	r = kind == 1 ? hxctl_vm_disk_parse(text, &j, err, sizeof(err))
		      : hxctl_vm_nic_parse(text, &j, err, sizeof(err));
	if (r == 0 && !json_is_object(j))
		fail("a spec is not an object", text);
	if (r == 0)
		json_decref(j);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno != EINTR)
			return -errno;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	return 0;
}

static void fuzz_config_file(const uint8_t *p, size_t n)
{
	static const char vm_text[] =
		"{\"vmid\":100,\"config\":{\"cpu\":{\"sockets\":1,\"cores\":2,"
		"\"model\":\"host\"},\"kernel\":null},\"pending\":{\"kernel\":"
		"{\"path\":\"/k\",\"initrd\":null,\"cmdline\":\"x\"}}}";
	char path[] = "/tmp/hx-fuzz-hxctl.XXXXXX", err[256];
	json_t *body = NULL, *vm;
	int fd = mkstemp(path);

	if (fd < 0 || write_all(fd, p, n) < 0)
		abort();
	close(fd);
	if (hxctl_vm_config_load(path, &body, err, sizeof(err)) == 0) {
		if (!json_is_object(body))
			fail("a config file is not an object", err);
		vm = json_loads(vm_text, 0, NULL);
		if (hxctl_vm_patch_is_partial(body))
			(void)hxctl_vm_patch_merge(body, vm, err, sizeof(err));
		json_decref(vm);
		json_decref(body);
	}
	(void)unlink(path);
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c - 'A' + 10;
}

static void fuzz_value(const char *s)
{
	char *esc = hxctl_escape(s), key[64], q[128] = "/vms";
	const char *val;
	size_t k = 0;
	json_t *j;

	if (esc == NULL)
		return;
	for (size_t i = 0; esc[i] != '\0'; i++, k++) {
		char c = esc[i];

		if (c == '%') {
			if (esc[i + 1] == '\0' || esc[i + 2] == '\0' ||
			    !strchr("0123456789ABCDEF", esc[i + 1]) ||
			    !strchr("0123456789ABCDEF", esc[i + 2]))
				fail("a bad escape", esc);
			c = (char)(unhex(esc[i + 1]) * 16 + unhex(esc[i + 2]));
			i += 2;
		} else if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
				   "QRSTUVWXYZ0123456789-._~",
				   c)) {
			fail("an unescaped reserved character", esc);
		}
		if (c != s[k])
			fail("escaping does not decode back", s);
	}
	if (s[k] != '\0')
		fail("escaping lost characters", s);
	free(esc);
	if (hxctl_query_add(q, sizeof(q), "name", s) == 0 &&
	    strlen(q) >= sizeof(q))
		fail("a query overflowed", q);
	j = hxctl_value_parse(s);
	json_decref(j);
	(void)hxctl_kv_split(s, key, sizeof(key), &val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	int mode;

	if (size == 0)
		return 0;
	mode = data[0] % 6;
	if (mode == 4) {
		fuzz_config_file(data + 1, size - 1);
		return 0;
	}
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (mode == 0)
		fuzz_command(text, data[0] % 12 < 6);
	else if (mode == 5)
		fuzz_value(text);
	else
		fuzz_spec(text, mode);
	free(text);
	return 0;
}
