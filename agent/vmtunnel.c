/*
 * Migration transport: libvirt RPC through the peer channel, and the x509
 * credentials QEMU uses for its own migration streams.
 *
 * DESIGN: libvirtd never listens on the network. A migration is driven
 * peer-to-peer by the source libvirtd, which connects to the destination's
 * libvirtd through a unix socket that the source hxd opens for that one
 * migration (DATA_DIR/run/migrate-VMID.sock, root only). Each connection to
 * it is carried over the peer channel (mutual TLS, cluster members only)
 * as a LIBVIRT service connection, which the destination hxd relays to its
 * local libvirtd socket. The bulk data (memory pages, and disk blocks over
 * NBD) flows QEMU to QEMU, directly, in TLS: libvirt's migrate_tls_* and
 * the VIR_MIGRATE_TLS flag, with certificates hxd derives from the cluster
 * CA and its node certificate (DATA_DIR/qemu-tls). With verify on, each
 * QEMU accepts only a peer whose certificate the cluster CA signed, and
 * the client checks the server's IP against its certificate. The RPC
 * relay copies bytes twice in hxd, which is fine: it carries only control
 * messages.
 */
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/vm.h"
#include "agent/vmexec.h"
#include "lib/lib.h"
#include "raft/raft.h"

/* ---- the local libvirtd socket ---- */

int vmtunnel_libvirt_socket(const char *uri, char *buf, size_t len)
{
	const char *q = strchr(uri, '?'), *s;
	size_t n;

	for (s = q; s != NULL; s = strchr(s + 1, '&'))
		if (strncmp(s + 1, "socket=", 7) == 0)
			break;
	if (s != NULL) {
		s += 8;
		n = strcspn(s, "&");
		if (n == 0 || n >= len || s[0] != '/')
			return -EINVAL;
		memcpy(buf, s, n);
		buf[n] = '\0';
		return 0;
	}
	if (strncmp(uri, "qemu:///system", 14) != 0)
		return -ENOTSUP;
	/* modular daemons first, then the monolithic libvirtd */
	snprintf(buf, len, "/run/libvirt/virtqemud-sock");
	if (access(buf, F_OK) != 0)
		snprintf(buf, len, "/run/libvirt/libvirt-sock");
	return 0;
}

static int unix_connect(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

void vmexec_libvirt_serve(struct vmexec *x, int fd, const char *fp)
{
	char path[256];
	int lfd, r;

	if (x == NULL)
		return; /* the caller closes @fd */
	r = vmtunnel_libvirt_socket(x->cfg.uri, path, sizeof(path));
	if (r == 0)
		r = unix_connect(path, &lfd);
	if (r < 0) {
		hx_log(LOG_WARNING,
		       "migration: cannot reach the local libvirtd for peer "
		       "%.12s: %s",
		       fp, hx_strerror(r));
		return;
	}
	hx_log(LOG_DEBUG, "migration: libvirt connection from peer %.12s", fp);
	hx_relay(fd, lfd);
	close(lfd);
}

/* ---- the source side: a unix socket relayed to the destination ---- */

struct vmtunnel {
	struct agent *a;
	char path[108];
	char peer[80];
	int listen_fd;
	pthread_t thread;
	volatile bool stopping;
};

struct relay {
	int a, b;
};

static void *relay_thread(void *data)
{
	struct relay *r = data;

	hx_relay(r->a, r->b);
	close(r->a);
	close(r->b);
	free(r);
	return NULL;
}

static void tunnel_conn(struct vmtunnel *t, int cfd)
{
	struct hx_err err = {0};
	pthread_attr_t attr;
	struct relay *r;
	pthread_t th;
	int pfd;

	if (hxraft_peer_dial(t->a->peer, t->peer, HXRAFT_SVC_LIBVIRT, 5000,
			     &pfd, &err) < 0) {
		hx_log(LOG_WARNING, "migration: cannot reach libvirt at %s: %s",
		       t->peer, err.msg);
		close(cfd);
		return;
	}
	r = malloc(sizeof(*r));
	if (r == NULL) {
		close(cfd);
		close(pfd);
		return;
	}
	r->a = cfd;
	r->b = pfd;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&th, &attr, relay_thread, r) != 0) {
		close(cfd);
		close(pfd);
		free(r);
	}
	pthread_attr_destroy(&attr);
}

static void *tunnel_thread(void *data)
{
	struct vmtunnel *t = data;

	while (!t->stopping) {
		struct pollfd p = {.fd = t->listen_fd, .events = POLLIN};
		int cfd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		cfd = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0)
			tunnel_conn(t, cfd);
	}
	return NULL;
}

int vmtunnel_start(struct agent *a, const char *path, const char *peer,
		   struct vmtunnel **ret, struct hx_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct vmtunnel *t;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return hx_err_set(err, -ENAMETOOLONG,
				  "migration socket path '%s' is too long",
				  path);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	t->a = a;
	snprintf(t->path, sizeof(t->path), "%s", path);
	snprintf(t->peer, sizeof(t->peer), "%s", peer);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	(void)unlink(path);
	t->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->listen_fd < 0) {
		r = -errno;
		goto err_free;
	}
	/* root only: whoever connects drives the destination's libvirtd */
	(void)fchmod(t->listen_fd, 0600);
	if (bind(t->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(t->listen_fd, 8) < 0) {
		r = -errno;
		goto err_close;
	}
	if ((r = -pthread_create(&t->thread, NULL, tunnel_thread, t)) < 0)
		goto err_unlink;
	*ret = t;
	return 0;

err_unlink:
	(void)unlink(path);
err_close:
	close(t->listen_fd);
err_free:
	free(t);
	return hx_err_set(err, r, "migration socket '%s': %s", path,
			  hx_strerror(r));
}

void vmtunnel_stop(struct vmtunnel *t)
{
	if (t == NULL)
		return;
	t->stopping = true;
	pthread_join(t->thread, NULL);
	close(t->listen_fd);
	(void)unlink(t->path);
	free(t);
}

/* ---- x509 credentials for QEMU ---- */

static int copy_file(const char *from, const char *to, unsigned mode)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = hx_file_read(from, 1 << 20, &buf, &len)) < 0)
		return r;
	r = hx_file_write_atomic(to, buf, len, mode);
	free(buf);
	return r;
}

int agent_qemu_tls_write(struct agent *a, struct hx_err *err)
{
	static const struct {
		const char *from, *to;
		unsigned mode;
	} files[] = {
		{"ca.crt", "ca-cert.pem", 0644},
		{"node.crt", "server-cert.pem", 0644},
		{"node.key", "server-key.pem", 0600},
		{"node.crt", "client-cert.pem", 0644},
		{"node.key", "client-key.pem", 0600},
	};
	char tls[1100], dir[1100], from[1200], to[1200];
	int r;

	agent_path(a, tls, sizeof(tls), "tls");
	agent_path(a, dir, sizeof(dir), "qemu-tls");
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return hx_err_set(err, -errno, "cannot create '%s': %s", dir,
				  strerror(errno));
	for (size_t i = 0; i < HX_ARRAY_SIZE(files); i++) {
		snprintf(from, sizeof(from), "%s/%s", tls, files[i].from);
		snprintf(to, sizeof(to), "%s/%s", dir, files[i].to);
		if ((r = copy_file(from, to, files[i].mode)) < 0)
			return hx_err_set(err, r, "cannot write '%s': %s", to,
					  hx_strerror(r));
	}
	return 0;
}
