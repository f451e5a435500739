/*
 * This node's DHCP servers: one dnsmasq per vnet with DHCP subnets.
 *
 * DESIGN: net/ renders each server's configuration; this file keeps the
 * processes in line with it. A server is (re)started when its
 * configuration changed or it is not running, and stopped (its files
 * removed) when its vnet no longer needs one. dnsmasq daemonizes itself,
 * so it is not hxd's child and outlives an hxd crash (DHCP keeps working
 * while hxd restarts); hxd finds its servers again by their pid files,
 * checking /proc/PID/cmdline before it signals anything. Files live in
 * DATA_DIR/dhcp.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/net.h"
#include "agent/vm.h"
#include "lib/lib.h"

extern char **environ;

/* The running dnsmasq of @vnet (its pid file, confirmed by its command
 * line naming our configuration), or 0. */
static pid_t server_pid(const char *dir, const char *vnet)
{
	char path[1200], *text = NULL, want[1200];
	size_t len = 0;
	long pid = 0;
	bool ours = false;

	snprintf(path, sizeof(path), "%s/%s.pid", dir, vnet);
	if (hx_file_read(path, 64, &text, NULL) < 0)
		return 0;
	pid = strtol(text, NULL, 10);
	free(text);
	if (pid <= 1)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	snprintf(want, sizeof(want), "--conf-file=%s/%s.conf", dir, vnet);
	if (hx_file_read(path, 4096, &text, &len) < 0)
		return 0;
	for (size_t off = 0; off < len; off += strlen(text + off) + 1)
		ours = ours || strcmp(text + off, want) == 0;
	free(text);
	return ours ? (pid_t)pid : 0;
}

static void server_stop(pid_t pid)
{
	char path[64];

	if (pid <= 0 || kill(pid, SIGTERM) < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	for (int i = 0; i < 30 && access(path, F_OK) == 0; i++)
		usleep(100000);
	if (access(path, F_OK) == 0)
		(void)kill(pid, SIGKILL);
}

/* Runs dnsmasq on @conf; it daemonizes once its configuration is good. */
static int server_start(const char *dir, const char *vnet,
			struct hx_err *err)
{
	char arg[1200], log[1200], *out = NULL;
	char *argv[] = {"dnsmasq", arg, NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status = 0, r, fd;

	snprintf(arg, sizeof(arg), "--conf-file=%s/%s.conf", dir, vnet);
	snprintf(log, sizeof(log), "%s/%s.log", dir, vnet);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return hx_err_set(err, -errno, "dhcp: %s: %s", log,
				  strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	r = -posix_spawnp(&pid, "dnsmasq", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	if (r < 0)
		return hx_err_set(err, r, "dhcp: cannot run dnsmasq: %s "
					  "(tools/deps.sh installs it)",
				  strerror(-r));
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	(void)hx_file_read(log, 400, &out, NULL);
	r = hx_err_set(err, -EIO, "dhcp: dnsmasq for vnet '%s' failed: %s",
		       vnet, out != NULL ? out : "no message");
	free(out);
	return r;
}

/* Makes vnet @vnet's server run with configuration @text. */
static int server_ensure(const char *dir, const char *vnet, const char *text,
			 struct hx_err *err)
{
	char path[1200], *cur = NULL;
	pid_t pid = server_pid(dir, vnet);
	bool same;
	int r;

	snprintf(path, sizeof(path), "%s/%s.conf", dir, vnet);
	same = hx_file_read(path, 1 << 20, &cur, NULL) == 0 &&
	       strcmp(cur, text) == 0;
	free(cur);
	if (same && pid > 0)
		return 0;
	server_stop(pid);
	if ((r = hx_file_write_atomic(path, text, strlen(text), 0600)) < 0)
		return hx_err_set(err, r, "dhcp: %s: %s", path, strerror(-r));
	if ((r = server_start(dir, vnet, err)) < 0)
		return r;
	hx_log(LOG_INFO, "network: DHCP server of vnet '%s' %s", vnet,
	       pid > 0 ? "restarted" : "started");
	return 0;
}

/* Stops the servers of vnets not in @wanted and removes their files. */
static void servers_sweep(const char *dir, char (*wanted)[16], unsigned n)
{
	static const char *const exts[] = {"conf", "pid", "leases", "log"};
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		char vnet[256], *dot;
		bool keep = false;

		snprintf(vnet, sizeof(vnet), "%s", e->d_name);
		if ((dot = strrchr(vnet, '.')) == NULL ||
		    strcmp(dot, ".conf") != 0)
			continue;
		*dot = '\0';
		for (unsigned i = 0; i < n; i++)
			keep = keep || strcmp(wanted[i], vnet) == 0;
		if (keep)
			continue;
		server_stop(server_pid(dir, vnet));
		for (size_t k = 0; k < HX_ARRAY_SIZE(exts); k++) {
			char path[1500];

			snprintf(path, sizeof(path), "%s/%s.%s", dir, vnet,
				 exts[k]);
			(void)unlink(path);
		}
		hx_log(LOG_INFO, "network: DHCP server of vnet '%s' stopped",
		       vnet);
	}
	if (d != NULL)
		closedir(d);
}

/* The DHCP hosts of vnet @v on this node: its VMs' NICs on @v with an
 * IPv4 address in one of @v's DHCP subnets. */
static unsigned hosts_of(const struct netnode_snapshot *s, const char *v,
			 struct net_dhcp_host *hosts, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->nvms; i++)
		for (unsigned k = 0; k < s->confs[i].nnics; k++) {
			const struct vm_nic *nic = &s->confs[i].nics[k];

			if (strcmp(nic->vnet, v) != 0)
				continue;
			for (unsigned j = 0; j < s->nips && n < max; j++) {
				const struct statedb_ip *ip = &s->ips[j];

				if (ip->family != 4 || strcmp(ip->mac, nic->mac))
					continue;
				hosts[n++] = (struct net_dhcp_host){
					nic->mac, ip->ip, s->vms[i].name};
			}
		}
	return n;
}

int netdhcp_reconcile(struct agent *a, const struct netnode_snapshot *s,
		      struct hx_err *err)
{
	char dir[1100], (*wanted)[16] = calloc(s->nvnets + 1, sizeof(*wanted));
	struct net_dhcp_host *hosts =
		calloc(s->nvms * VM_MAX_NICS + 1, sizeof(*hosts));
	unsigned nwanted = 0;
	int r = 0;

	if (wanted == NULL || hosts == NULL) {
		r = hx_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	agent_path(a, dir, sizeof(dir), "dhcp");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = hx_err_set(err, -errno, "dhcp: %s: %s", dir,
			       strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < s->nvnets && r == 0; i++) {
		const struct statedb_vnet *v = &s->vnets[i];
		bool dhcp = false;
		char *text = NULL;
		unsigned nh;

		for (unsigned k = 0; k < s->nsubnets; k++)
			dhcp = dhcp || (strcmp(s->subnets[k].vnet, v->name) == 0 &&
					net_dhcp_subnet(&s->subnets[k]));
		if (!dhcp)
			continue;
		memcpy(wanted[nwanted++], v->name, sizeof(wanted[0]));
		nh = hosts_of(s, v->name, hosts, s->nvms * VM_MAX_NICS);
		r = net_dhcp_render(v->name, dir, v->mtu, s->subnets,
				    s->nsubnets, hosts, nh, &text, err);
		if (r == 0)
			r = server_ensure(dir, v->name, text, err);
		free(text);
	}
	servers_sweep(dir, wanted, nwanted);
out:
	free(wanted);
	free(hosts);
	return r;
}
