/*
 * BGP EVPN with FRRouting: the commands a node's FRR needs, and vtysh.
 *
 * DESIGN: FRR keeps its own running configuration; hxd does not rewrite
 * it wholesale (a reload from a file can reset sessions), it reads it and
 * sends only the commands that bring it to the wanted state. Restating a
 * neighbor that exists changes nothing in FRR, so the commands for what
 * is wanted are always sent, and "no" commands only for what the running
 * configuration has but the cluster no longer wants. The diff is a pure
 * function of the running configuration's text; running vtysh is the only
 * I/O, bounded in time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/lib.h"
#include "net/net.h"

extern char **environ;

#define VTYSH_TIMEOUT_MS 15000

static bool wanted_peer(const struct net_evpn_input *in, const char *addr)
{
	for (unsigned i = 0; i < in->npeers; i++)
		if (strcmp(in->peers[i], addr) == 0)
			return true;
	return false;
}

int net_evpn_commands(const struct net_evpn_input *in, const char *running,
		      char **ret, struct hx_err *err)
{
	struct hx_buf b = {0};
	char *copy = strdup(running != NULL ? running : ""), *save, *line;
	int64_t cur_asn = 0;
	bool in_bgp = false;

	if (copy == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	hx_buf_put(&b, "%s", "");
	/* what the running configuration has that must go */
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char addr[64];
		long long asn;

		if (sscanf(line, "router bgp %lld", &asn) == 1 &&
		    strchr(line, ' ') != NULL &&
		    strstr(line, " vrf ") == NULL) {
			cur_asn = asn;
			in_bgp = true;
			if (asn != in->asn)
				hx_buf_put(&b, "no router bgp %lld\n", asn);
			continue;
		}
		if (line[0] != ' ' && line[0] != '\0')
			in_bgp = false;
		if (in_bgp && cur_asn == in->asn &&
		    sscanf(line, " neighbor %63s remote-as", addr) == 1 &&
		    strstr(line, "remote-as") != NULL &&
		    !wanted_peer(in, addr))
			hx_buf_put(&b,
				   "router bgp %" PRId64
				   "\nno neighbor %s\nexit\n",
				   in->asn, addr);
	}
	free(copy);
	/* what is wanted: restating it changes nothing that exists */
	hx_buf_put(&b, "router bgp %" PRId64 "\n", in->asn);
	if (strchr(in->self, ':') == NULL)
		hx_buf_put(&b, "bgp router-id %s\n", in->self);
	hx_buf_put(&b, "no bgp default ipv4-unicast\n");
	for (unsigned i = 0; i < in->npeers; i++)
		hx_buf_put(&b, "neighbor %s remote-as %" PRId64 "\n",
			   in->peers[i], in->asn);
	hx_buf_put(&b, "address-family l2vpn evpn\n");
	for (unsigned i = 0; i < in->npeers; i++)
		hx_buf_put(&b, "neighbor %s activate\n", in->peers[i]);
	hx_buf_put(&b, "advertise-all-vni\nexit-address-family\nexit\n");
	if (b.oom) {
		free(b.s);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	*ret = b.s;
	return 0;
}

/* Reads @fd until EOF or the deadline; the child is killed on timeout. */
static int read_bounded(int fd, pid_t pid, char **ret, struct hx_err *err)
{
	uint64_t deadline = hx_now_ms() + VTYSH_TIMEOUT_MS;
	struct hx_buf b = {0};
	char chunk[4096];

	hx_buf_put(&b, "%s", "");
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = hx_now_ms();
		ssize_t n;

		if (now >= deadline) {
			(void)kill(pid, SIGKILL);
			free(b.s);
			return hx_err_set(err, -ETIMEDOUT,
					  "vtysh did not answer in %d s",
					  VTYSH_TIMEOUT_MS / 1000);
		}
		if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			break;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len < (1u << 22))
			hx_buf_put(&b, "%.*s", (int)n, chunk);
	}
	if (b.oom) {
		free(b.s);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	*ret = b.s;
	return 0;
}

int net_evpn_vtysh(const char *vty_dir, const char *commands, char **ret_out,
		   struct hx_err *err)
{
	posix_spawn_file_actions_t fa;
	char **argv = NULL, *copy = NULL, *out = NULL, *save, *line;
	unsigned n = 0, max = 8;
	int pipefd[2], status = 0, r;
	pid_t pid;

	if (commands != NULL) {
		for (const char *p = commands; *p != '\0'; p++)
			max += *p == '\n' ? 2 : 0;
		copy = strdup(commands);
	}
	argv = calloc(max + 2, sizeof(*argv));
	if (argv == NULL || (commands != NULL && copy == NULL)) {
		r = hx_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	argv[n++] = "vtysh";
	argv[n++] = "--vty_socket";
	argv[n++] = (char *)vty_dir;
	argv[n++] = "-c";
	if (commands == NULL) {
		argv[n++] = "show running-config";
	} else {
		argv[n++] = "configure terminal";
		for (line = strtok_r(copy, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			argv[n++] = "-c";
			argv[n++] = line;
		}
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = hx_err_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	r = -posix_spawnp(&pid, "vtysh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r < 0) {
		close(pipefd[0]);
		r = hx_err_set(err, r, "cannot run vtysh: %s (install frr)",
			       strerror(-r));
		goto out;
	}
	r = read_bounded(pipefd[0], pid, &out, err);
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = hx_err_set(err, -EIO, "vtysh --vty_socket %s failed: %.300s",
			       vty_dir, out != NULL ? out : "");
	if (r == 0 && ret_out != NULL) {
		*ret_out = out;
		out = NULL;
	}
out:
	free(out);
	free(copy);
	free(argv);
	return r;
}
