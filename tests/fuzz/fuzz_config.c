/*
 * libFuzzer target: hxd's configuration. The first input byte picks:
 *
 *  - command line: the rest, one argument per line, through
 *    agent_config_parse() (agent/config.c). An accepted configuration
 *    must hold what config_check() promises; then a fixed good command
 *    line must still parse to the same result (the parser must not keep
 *    state from one call to the next).
 *  - identity file: the rest as DATA_DIR/node.json, through
 *    agent_identity_load() (agent/cluster.c), which hxd reads at start.
 *
 * What the parser prints (usage, errors) goes to /dev/null.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "agent/agent.h"
#include "lib/lib.h"

#define FUZZ_MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_config: %s\n", what);
	abort();
}

/* What agent/main.c provides to the agent library. */
int agent_path(const struct agent *a, char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", a->cfg.data_dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void agent_request_exit(struct agent *a, int code)
{
	a->exit_code = code;
}

/* Runs the parser with its output silenced. */
static int parse_quietly(int argc, char **argv, struct agent_config *cfg)
{
	int out = dup(1), err = dup(2), null = open("/dev/null", O_WRONLY);
	int r;

	fflush(stdout);
	fflush(stderr);
	(void)dup2(null, 1);
	(void)dup2(null, 2);
	r = agent_config_parse(argc, argv, cfg);
	fflush(stdout);
	fflush(stderr);
	(void)dup2(out, 1);
	(void)dup2(err, 2);
	close(out);
	close(err);
	close(null);
	return r;
}

static void check_config(const struct agent_config *c)
{
	unsigned char ip[16];

	if (strnlen(c->name, sizeof(c->name)) == sizeof(c->name) ||
	    strnlen(c->address, sizeof(c->address)) == sizeof(c->address) ||
	    strnlen(c->data_dir, sizeof(c->data_dir)) == sizeof(c->data_dir))
		fail("a string option is not terminated");
	if (c->name[0] == '\0' || c->name[0] == '-' ||
	    strspn(c->name, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
		    strlen(c->name))
		fail("an accepted name breaks the rules");
	if (inet_pton(AF_INET, c->address, ip) != 1 &&
	    inet_pton(AF_INET6, c->address, ip) != 1)
		fail("an accepted address is not an IP");
	if (c->api_port < 1 || c->api_port > 65535 || c->peer_port < 1 ||
	    c->peer_port > 65535 || c->api_port == c->peer_port)
		fail("accepted ports out of range or equal");
	if (c->data_dir[0] != '/' ||
	    (c->images_dir[0] != '\0' && c->images_dir[0] != '/'))
		fail("an accepted directory is relative");
	if (strcmp(c->accel, "auto") && strcmp(c->accel, "kvm") &&
	    strcmp(c->accel, "tcg"))
		fail("an accepted accel is unknown");
}

static void fuzz_argv(const uint8_t *p, size_t n)
{
	static char good0[] = "hxd", good1[] = "--address=10.0.0.1",
		    good2[] = "-N", good3[] = "n1", good4[] = "-vv";
	char *good[] = {good0, good1, good2, good3, good4, NULL};
	static struct agent_config ref;
	static bool have_ref;
	char *text = malloc(n + 1), *argv[FUZZ_MAX_ARGS + 2];
	struct agent_config cfg, again;
	int argc = 0, r;

	if (text == NULL)
		return;
	/* the reference, before anything could leave state behind */
	if (!have_ref && parse_quietly(5, good, &ref) != 0)
		fail("the good command line is refused");
	have_ref = true;
	memcpy(text, p, n);
	text[n] = '\0';
	argv[argc++] = (char *)"hxd";
	for (char *s = text; s != NULL && argc <= FUZZ_MAX_ARGS;) {
		char *nl = strchr(s, '\n');

		if (nl != NULL)
			*nl = '\0';
		argv[argc++] = s;
		s = nl != NULL ? nl + 1 : NULL;
	}
	argv[argc] = NULL;
	/* Each argument in its own allocation, as the kernel lays out argv
	 * contiguously but ASan then sees reads past one into the next. */
	for (int i = 1; i < argc; i++)
		if ((argv[i] = strdup(argv[i])) == NULL)
			abort();
	free(text);
	r = parse_quietly(argc, argv, &cfg);
	if (r == 0)
		check_config(&cfg);
	/* Checked with the fuzzed arguments still allocated: ASan does not
	 * see libc's getopt read freed memory, and scribbles over it. */
	if (parse_quietly(5, good, &again) != 0 ||
	    memcmp(&again, &ref, sizeof(ref)) != 0)
		fail("a good command line parses differently after another");
	for (int i = 1; i < argc; i++)
		free(argv[i]);
}

static char dir[64];

static void remove_dir(void)
{
	(void)rmdir(dir);
}

static void fuzz_identity(const uint8_t *p, size_t n)
{
	static struct agent a;
	char path[128];
	int fd;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/hx-fuzz-config.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(remove_dir);
	}
	snprintf(path, sizeof(path), "%s/node.json", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || hx_write_all(fd, p, n) < 0)
		abort();
	close(fd);
	memset(&a, 0, sizeof(a));
	snprintf(a.cfg.data_dir, sizeof(a.cfg.data_dir), "%s", dir);
	if (agent_identity_load(&a, NULL) == 0 && a.ident.initialized) {
		if (a.ident.id == 0 ||
		    a.ident.npeers > HX_ARRAY_SIZE(a.ident.peers))
			fail("an accepted identity has no id or too many peers");
		for (unsigned i = 0; i < a.ident.npeers; i++)
			if (strnlen(a.ident.peers[i], sizeof(a.ident.peers[i])) ==
			    sizeof(a.ident.peers[i]))
				fail("a peer address is not terminated");
	}
	(void)unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_argv(data + 1, size - 1);
	else
		fuzz_identity(data + 1, size - 1);
	return 0;
}
