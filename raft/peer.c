/*
 * The peer channel: one TLS port per node carrying dqlite and agent traffic.
 *
 * DESIGN: dqlite wants plain file descriptors (its connect function returns
 * one; its listener is an abstract unix socket that admits only our own
 * process). So both ends of a peer connection terminate TLS in hxd and pump
 * plaintext to a local socket: on the dialing side a socketpair whose other
 * end goes to the caller, on the accepting side dqlite's abstract socket or
 * a socketpair handed to a service handler. One thread per connection,
 * blocking I/O with poll(): connections are few (a handful per node pair)
 * and the code stays obviously correct.
 *
 * Admission: after the handshake the server checks the client certificate
 * chains to the cluster CA and its fingerprint is in the trust set; the
 * client checks the same of the server. Only the JOIN service admits a
 * client without a certificate, and its handler demands a join token.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "lib/lib.h"
#include "raft/raft.h"
#include "raft/tls.h"

#define PEER_MAGIC "HXP1"
#define PEER_HELLO_LEN 8
#define PEER_MAX_FRAME (16u << 20)

enum { PEER_OK = 0, PEER_REFUSED = 1, PEER_UNAVAILABLE = 2 };

struct hxraft_peer {
	struct hxraft_peer_config cfg;
	char *self_address;
	char *bind_ip;
	int listen_fd;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* guards dqlite_bind, last_refresh_ms */
	char dqlite_bind[108];
	uint64_t last_refresh_ms;
};

/* ---- small socket helpers ---- */

static void peer_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Splits "IP:PORT" or "[IPv6]:PORT". */
static int peer_split(const char *address, char *host, size_t hostlen,
		      char *port, size_t portlen)
{
	const char *colon;
	size_t n;

	if (address[0] == '[') {
		const char *end = strchr(address, ']');
		if (end == NULL || end[1] != ':')
			return -EINVAL;
		n = (size_t)(end - address - 1);
		if (n >= hostlen)
			return -EINVAL;
		memcpy(host, address + 1, n);
		host[n] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(address, ':');
		if (colon == NULL)
			return -EINVAL;
		n = (size_t)(colon - address);
		if (n >= hostlen)
			return -EINVAL;
		memcpy(host, address, n);
		host[n] = '\0';
	}
	if (snprintf(port, portlen, "%s", colon + 1) >= (int)portlen ||
	    port[0] == '\0')
		return -EINVAL;
	return 0;
}

/* Connects a TCP socket to @address within @timeout_ms. */
static int peer_tcp_connect(const char *address, int timeout_ms, int *ret_fd)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	char host[64], port[8];
	struct pollfd pfd;
	int fd, r, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (peer_split(address, host, sizeof(host), port, sizeof(port)) < 0)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return r;
	}
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (r < 0 && errno != EINPROGRESS) {
		r = -errno;
		goto err_close;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	r = poll(&pfd, 1, timeout_ms);
	if (r == 0) {
		r = -ETIMEDOUT;
		goto err_close;
	}
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
		r = -errno;
		goto err_close;
	}
	if (soerr != 0) {
		r = -soerr;
		goto err_close;
	}
	/* Back to blocking: the pump thread polls explicitly. */
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	peer_nodelay(fd);
	*ret_fd = fd;
	return 0;

err_close:
	close(fd);
	return r;
}

static int peer_unix_connect(const char *abstract, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(abstract);
	int fd;

	if (n < 2 || abstract[0] != '@' || n > sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path + 1, abstract + 1, n - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) <
	    0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* ---- TLS pump ---- */

struct pump {
	gnutls_session_t session;
	gnutls_certificate_credentials_t own_cred; /* NULL: borrowed */
	int tcp_fd;
	int plain_fd;
};

/* Writes all of @buf to the TLS session. */
static int pump_tls_write(gnutls_session_t s, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = gnutls_record_send(s, buf, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Moves bytes both ways until either side closes or fails. */
static void pump_run(struct pump *p)
{
	char buf[16384];

	for (;;) {
		struct pollfd pfd[2] = {{.fd = p->tcp_fd, .events = POLLIN},
					{.fd = p->plain_fd, .events = POLLIN}};
		ssize_t n;

		if (gnutls_record_check_pending(p->session) == 0 &&
		    poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (gnutls_record_check_pending(p->session) > 0 ||
		    (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = gnutls_record_recv(p->session, buf, sizeof(buf));
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				continue;
			if (n <= 0 || hx_write_all(p->plain_fd, buf, (size_t)n) < 0)
				return;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(p->plain_fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0 || pump_tls_write(p->session, buf, (size_t)n) < 0)
				return;
		}
	}
}

static void pump_close(struct pump *p)
{
	if (p->session != NULL) {
		(void)gnutls_bye(p->session, GNUTLS_SHUT_WR);
		gnutls_deinit(p->session);
	}
	if (p->own_cred != NULL)
		gnutls_certificate_free_credentials(p->own_cred);
	if (p->tcp_fd >= 0)
		close(p->tcp_fd);
	if (p->plain_fd >= 0)
		close(p->plain_fd);
	free(p);
}

static void *pump_thread(void *arg)
{
	struct pump *p = arg;

	pump_run(p);
	pump_close(p);
	return NULL;
}

static int pump_spawn(struct pump *p)
{
	pthread_attr_t attr;
	pthread_t t;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	r = pthread_create(&t, &attr, pump_thread, p);
	pthread_attr_destroy(&attr);
	return -r;
}

/* ---- handshake and verification ---- */

static int peer_handshake(gnutls_session_t s, int timeout_ms)
{
	int r;

	gnutls_handshake_set_timeout(s, (unsigned)timeout_ms);
	do {
		r = gnutls_handshake(s);
	} while (r < 0 && gnutls_error_is_fatal(r) == 0);
	return r;
}

/* Fingerprint of the peer's leaf certificate, after checking that its
 * chain verifies against our trust (the CA). */
static int peer_verified_fp(gnutls_session_t s, char fp[65])
{
	const gnutls_datum_t *certs;
	unsigned status = 0, n = 0;

	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n == 0)
		return -ENOENT;
	if (gnutls_certificate_verify_peers2(s, &status) < 0 || status != 0)
		return HX_EAUTH;
	return hxraft_tls_der_fingerprint(certs[0].data, certs[0].size, fp);
}

static bool peer_admits(struct hxraft_peer *peer, const char *fp)
{
	uint64_t now;
	bool refresh = false;

	if (hxraft_tls_trusts(peer->cfg.tls, fp))
		return true;
	if (peer->cfg.refresh == NULL)
		return false;
	/* A CA-signed stranger: maybe a node that just joined. Refresh the
	 * trust set, at most twice a second. */
	now = hx_now_ms();
	pthread_mutex_lock(&peer->lock);
	if (now - peer->last_refresh_ms >= 500) {
		peer->last_refresh_ms = now;
		refresh = true;
	}
	pthread_mutex_unlock(&peer->lock);
	if (refresh)
		peer->cfg.refresh(peer->cfg.data);
	return hxraft_tls_trusts(peer->cfg.tls, fp);
}

/* ---- server side ---- */

struct accepted {
	struct hxraft_peer *peer;
	int fd;
};

static int serve_reply(gnutls_session_t s, unsigned char status)
{
	return pump_tls_write(s, (const char *)&status, 1);
}

static int serve_read_hello(gnutls_session_t s, int fd, int timeout_ms,
			    int *ret_service)
{
	unsigned char hello[PEER_HELLO_LEN];
	size_t got = 0;

	while (got < sizeof(hello)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (gnutls_record_check_pending(s) == 0 &&
		    poll(&pfd, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = gnutls_record_recv(s, hello + got, sizeof(hello) - got);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			return -ECONNRESET;
		got += (size_t)n;
	}
	if (memcmp(hello, PEER_MAGIC, 4) != 0)
		return HX_EPROTO;
	*ret_service = hello[4];
	return 0;
}

/* Connects the pump's plain side to the local dqlite node. */
static int serve_dqlite(struct hxraft_peer *peer, struct pump *p)
{
	char bind[sizeof(peer->dqlite_bind)];

	pthread_mutex_lock(&peer->lock);
	memcpy(bind, peer->dqlite_bind, sizeof(bind));
	pthread_mutex_unlock(&peer->lock);
	if (bind[0] == '\0')
		return -EAGAIN;
	return peer_unix_connect(bind, &p->plain_fd);
}

static void serve_conn(struct hxraft_peer *peer, int fd)
{
	struct pump *p;
	char fp[65] = "";
	int service = 0, r;
	bool has_cert;

	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		close(fd);
		return;
	}
	p->tcp_fd = fd;
	p->plain_fd = -1;
	if (gnutls_init(&p->session, GNUTLS_SERVER) < 0) {
		p->session = NULL;
		goto out_close;
	}
	gnutls_set_default_priority(p->session);
	gnutls_credentials_set(p->session, GNUTLS_CRD_CERTIFICATE,
			       peer->cfg.tls->cred);
	gnutls_certificate_server_set_request(p->session, GNUTLS_CERT_REQUEST);
	gnutls_transport_set_int(p->session, fd);
	if (peer_handshake(p->session, peer->cfg.handshake_timeout_ms) < 0)
		goto out_close;
	r = peer_verified_fp(p->session, fp);
	has_cert = r == 0;
	if (r < 0 && r != -ENOENT)
		goto out_close; /* presented a certificate that fails */
	if (serve_read_hello(p->session, fd, peer->cfg.handshake_timeout_ms,
			     &service) < 0)
		goto out_close;
	if (service == HXRAFT_SVC_JOIN) {
		fp[0] = '\0';
	} else if (!has_cert || !peer_admits(peer, fp)) {
		hx_log(LOG_DEBUG, "peer: refusing service %d from '%s'",
		       service, has_cert ? fp : "(no certificate)");
		(void)serve_reply(p->session, PEER_REFUSED);
		goto out_close;
	}
	if (service == HXRAFT_SVC_DQLITE) {
		if (serve_dqlite(peer, p) < 0) {
			(void)serve_reply(p->session, PEER_UNAVAILABLE);
			goto out_close;
		}
		if (serve_reply(p->session, PEER_OK) < 0)
			goto out_close;
		pump_run(p);
		goto out_close;
	}
	if ((service != HXRAFT_SVC_MSG && service != HXRAFT_SVC_JOIN &&
	     service != HXRAFT_SVC_LIBVIRT) ||
	    peer->cfg.service == NULL) {
		(void)serve_reply(p->session, PEER_REFUSED);
		goto out_close;
	}
	if (serve_reply(p->session, PEER_OK) < 0)
		goto out_close;
	{
		int pair[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) <
		    0)
			goto out_close;
		p->plain_fd = pair[0];
		if (pump_spawn(p) != 0) {
			close(pair[1]);
			goto out_close;
		}
		peer->cfg.service(peer->cfg.data, service, pair[1], fp);
		return;
	}
out_close:
	pump_close(p);
}

static void *serve_thread(void *arg)
{
	struct accepted *a = arg;

	serve_conn(a->peer, a->fd);
	free(a);
	return NULL;
}

static void *accept_thread(void *arg)
{
	struct hxraft_peer *peer = arg;

	for (;;) {
		struct accepted *a;
		pthread_attr_t attr;
		pthread_t t;
		int fd;

		fd = accept4(peer->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE) {
				if (errno == EMFILE || errno == ENFILE)
					usleep(100 * 1000);
				continue;
			}
			return NULL; /* listener closed */
		}
		peer_nodelay(fd);
		a = malloc(sizeof(*a));
		if (a == NULL) {
			close(fd);
			continue;
		}
		a->peer = peer;
		a->fd = fd;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		if (pthread_create(&t, &attr, serve_thread, a) != 0) {
			close(fd);
			free(a);
		}
		pthread_attr_destroy(&attr);
	}
}

static int peer_listen(const char *ip, unsigned port, int *ret_fd)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV |
					     AI_PASSIVE};
	struct addrinfo *ai;
	char ports[8];
	int fd, one = 1, r;

	snprintf(ports, sizeof(ports), "%u", port);
	if (getaddrinfo(ip, ports, &hints, &ai) != 0)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return r;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		freeaddrinfo(ai);
		close(fd);
		return r;
	}
	freeaddrinfo(ai);
	*ret_fd = fd;
	return 0;
}

int hxraft_peer_start(const struct hxraft_peer_config *cfg,
		      struct hxraft_peer **ret_peer, struct hx_err *err)
{
	struct hxraft_peer *peer;
	int r;

	peer = calloc(1, sizeof(*peer));
	if (peer == NULL)
		return hx_err_set(err, -ENOMEM, "peer: out of memory");
	peer->cfg = *cfg;
	peer->listen_fd = -1;
	pthread_mutex_init(&peer->lock, NULL);
	peer->self_address = strdup(cfg->self_address);
	peer->bind_ip = strdup(cfg->bind_ip);
	if (peer->self_address == NULL || peer->bind_ip == NULL) {
		r = hx_err_set(err, -ENOMEM, "peer: out of memory");
		goto err_free;
	}
	peer->cfg.self_address = peer->self_address;
	peer->cfg.bind_ip = peer->bind_ip;
	if (peer->cfg.handshake_timeout_ms <= 0)
		peer->cfg.handshake_timeout_ms = 5000;
	r = peer_listen(cfg->bind_ip, cfg->port, &peer->listen_fd);
	if (r < 0) {
		hx_err_set(err, r, "peer: listen on %s port %u: %s",
			   cfg->bind_ip, cfg->port, hx_strerror(r));
		goto err_free;
	}
	r = -pthread_create(&peer->thread, NULL, accept_thread, peer);
	if (r < 0) {
		hx_err_set(err, r, "peer: start thread: %s", hx_strerror(r));
		goto err_close;
	}
	peer->running = true;
	*ret_peer = peer;
	return 0;

err_close:
	close(peer->listen_fd);
err_free:
	free(peer->self_address);
	free(peer->bind_ip);
	pthread_mutex_destroy(&peer->lock);
	free(peer);
	return r;
}

void hxraft_peer_stop(struct hxraft_peer *peer)
{
	if (peer == NULL)
		return;
	if (peer->running) {
		shutdown(peer->listen_fd, SHUT_RDWR);
		pthread_join(peer->thread, NULL);
	}
	if (peer->listen_fd >= 0)
		close(peer->listen_fd);
	/* Detached connection threads may still hold cfg pointers; the
	 * process is about to exit when this is called, so the peer object
	 * itself is deliberately kept. */
}

void hxraft_peer_set_dqlite(struct hxraft_peer *peer, const char *bind)
{
	pthread_mutex_lock(&peer->lock);
	snprintf(peer->dqlite_bind, sizeof(peer->dqlite_bind), "%s",
		 bind != NULL ? bind : "");
	pthread_mutex_unlock(&peer->lock);
}

/* ---- client side ---- */

static int dial_tls(gnutls_certificate_credentials_t cred, const char *address,
		    int service, int timeout_ms, struct pump **ret_pump,
		    struct hx_err *err)
{
	unsigned char hello[PEER_HELLO_LEN] = PEER_MAGIC;
	struct pump *p;
	int fd = -1, r;

	r = peer_tcp_connect(address, timeout_ms, &fd);
	if (r < 0)
		return hx_err_set(err, r, "peer: connect to %s: %s", address,
				  hx_strerror(r));
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		close(fd);
		return hx_err_set(err, -ENOMEM, "peer: out of memory");
	}
	p->tcp_fd = fd;
	p->plain_fd = -1;
	if (gnutls_init(&p->session, GNUTLS_CLIENT) < 0) {
		p->session = NULL;
		r = hx_err_set(err, -ENOMEM, "peer: tls init");
		goto err_close;
	}
	gnutls_set_default_priority(p->session);
	gnutls_credentials_set(p->session, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_transport_set_int(p->session, fd);
	r = peer_handshake(p->session, timeout_ms);
	if (r < 0) {
		/* A slow peer is unavailable, not an authentication failure. */
		int code = r == GNUTLS_E_TIMEDOUT ? -ETIMEDOUT : HX_EAUTH;

		r = hx_err_set(err, code, "peer: tls handshake with %s: %s",
			       address, gnutls_strerror(r));
		goto err_close;
	}
	hello[4] = (unsigned char)service;
	if (pump_tls_write(p->session, (const char *)hello, sizeof(hello)) <
	    0) {
		r = hx_err_set(err, -ECONNRESET, "peer: %s closed", address);
		goto err_close;
	}
	*ret_pump = p;
	return 0;

err_close:
	pump_close(p);
	return r;
}

/* Reads the server's one status byte, then hands the plain side to the
 * caller and the TLS side to a pump thread. */
static int dial_finish(struct pump *p, const char *address, int timeout_ms,
		       int *ret_fd, struct hx_err *err)
{
	struct pollfd pfd = {.fd = p->tcp_fd, .events = POLLIN};
	unsigned char status;
	int pair[2], r;
	ssize_t n;

	do {
		if (gnutls_record_check_pending(p->session) == 0 &&
		    poll(&pfd, 1, timeout_ms) <= 0) {
			r = hx_err_set(err, -ETIMEDOUT,
				       "peer: %s did not answer", address);
			goto err_close;
		}
		n = gnutls_record_recv(p->session, &status, 1);
	} while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
	if (n != 1) {
		r = hx_err_set(err, HX_EAUTH,
			       "peer: %s closed the connection (not trusted?)",
			       address);
		goto err_close;
	}
	if (status != PEER_OK) {
		r = status == PEER_REFUSED
			    ? hx_err_set(err, HX_EAUTH,
					 "peer: %s refused us (not a member)",
					 address)
			    : hx_err_set(err, -EAGAIN,
					 "peer: %s is not ready", address);
		goto err_close;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		r = hx_err_set(err, -errno, "peer: socketpair: %s",
			       strerror(errno));
		goto err_close;
	}
	p->plain_fd = pair[1];
	r = pump_spawn(p);
	if (r < 0) {
		close(pair[0]);
		hx_err_set(err, r, "peer: thread: %s", hx_strerror(r));
		goto err_close;
	}
	*ret_fd = pair[0];
	return 0;

err_close:
	pump_close(p);
	return r;
}

int hxraft_peer_dial(struct hxraft_peer *peer, const char *address,
		     int service, int timeout_ms, int *ret_fd,
		     struct hx_err *err)
{
	struct pump *p;
	char fp[65];
	int r;

	if (service == HXRAFT_SVC_DQLITE &&
	    strcmp(address, peer->self_address) == 0) {
		char bind[sizeof(peer->dqlite_bind)];

		pthread_mutex_lock(&peer->lock);
		memcpy(bind, peer->dqlite_bind, sizeof(bind));
		pthread_mutex_unlock(&peer->lock);
		if (bind[0] == '\0')
			return hx_err_set(err, -EAGAIN,
					  "peer: local dqlite not started");
		r = peer_unix_connect(bind, ret_fd);
		if (r < 0)
			return hx_err_set(err, r, "peer: local dqlite: %s",
					  hx_strerror(r));
		return 0;
	}
	r = dial_tls(peer->cfg.tls->cred, address, service, timeout_ms, &p,
		     err);
	if (r < 0)
		return r;
	if (peer_verified_fp(p->session, fp) < 0 || !peer_admits(peer, fp)) {
		pump_close(p);
		return hx_err_set(err, HX_EAUTH,
				  "peer: %s presented a certificate that is "
				  "not a member's",
				  address);
	}
	return dial_finish(p, address, timeout_ms, ret_fd, err);
}

/* Whether the server's chain is [leaf, CA] with the CA named by @ca_fp
 * and the leaf signed by it. */
static bool join_server_ok(gnutls_session_t s, const char *ca_fp)
{
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t leaf, ca;
	unsigned n = 0, verify = 1;
	char fp[65];

	certs = gnutls_certificate_get_peers(s, &n);
	if (certs == NULL || n < 2 ||
	    hxraft_tls_der_fingerprint(certs[1].data, certs[1].size, fp) < 0 ||
	    strcmp(fp, ca_fp) != 0)
		return false;
	gnutls_x509_crt_init(&leaf);
	gnutls_x509_crt_init(&ca);
	if (gnutls_x509_crt_import(leaf, &certs[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_import(ca, &certs[1], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_verify(leaf, &ca, 1, 0, &verify) < 0)
		verify = 1;
	gnutls_x509_crt_deinit(leaf);
	gnutls_x509_crt_deinit(ca);
	return verify == 0;
}

int hxraft_join_dial(const char *address, const char *ca_fp, int timeout_ms,
		     int *ret_fd, struct hx_err *err)
{
	gnutls_certificate_credentials_t cred;
	struct pump *p;
	int r;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return hx_err_set(err, -ENOMEM, "join: out of memory");
	r = dial_tls(cred, address, HXRAFT_SVC_JOIN, timeout_ms, &p, err);
	if (r < 0) {
		gnutls_certificate_free_credentials(cred);
		return r;
	}
	p->own_cred = cred; /* the session uses it until the pump ends */
	if (!join_server_ok(p->session, ca_fp)) {
		pump_close(p);
		return hx_err_set(err, HX_EAUTH,
				  "join: %s is not a member of the cluster "
				  "this token was issued for",
				  address);
	}
	return dial_finish(p, address, timeout_ms, ret_fd, err);
}

/* ---- frames ---- */

int hxraft_frame_send(int fd, const void *buf, size_t len)
{
	unsigned char hdr[4];
	int r;

	if (len > PEER_MAX_FRAME)
		return -EMSGSIZE;
	hdr[0] = (unsigned char)(len >> 24);
	hdr[1] = (unsigned char)(len >> 16);
	hdr[2] = (unsigned char)(len >> 8);
	hdr[3] = (unsigned char)len;
	if ((r = hx_write_all(fd, hdr, sizeof(hdr))) < 0)
		return r;
	return hx_write_all(fd, buf, len);
}

int hxraft_frame_recv(int fd, int timeout_ms, void **ret_buf,
		      size_t *ret_len)
{
	unsigned char hdr[4];
	size_t len;
	void *buf;
	int r;

	if ((r = hx_read_full(fd, hdr, sizeof(hdr), timeout_ms)) < 0)
		return r;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
	      (size_t)hdr[2] << 8 | hdr[3];
	if (len > PEER_MAX_FRAME)
		return HX_EPROTO;
	buf = malloc(len + 1);
	if (buf == NULL)
		return -ENOMEM;
	if ((r = hx_read_full(fd, buf, len, timeout_ms)) < 0) {
		free(buf);
		return r;
	}
	((char *)buf)[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}
