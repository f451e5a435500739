/* raft: the node's embedded dqlite/raft member and its authenticated peer channel. */
#ifndef HX_RAFT_RAFT_H
#define HX_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hx_err;

/*
 * Credentials (tls.c).
 *
 * A cluster has one CA (ECDSA P-256), created at `cluster init`. Every node
 * has a certificate signed by it, with CN = node name and the node's IP as
 * subjectAltName. A peer is accepted when its certificate chains to the CA
 * AND its SHA-256 fingerprint is in the trust set (the cluster's member
 * list): removing a node from the set revokes it, fail-closed.
 *
 * Files in a node's TLS directory: ca.crt, ca.key, node.crt, node.key (keys
 * mode 0600).
 */
struct hxraft_tls;

/* Creates the CA and this node's certificate in @dir. */
int hxraft_tls_init_cluster(const char *dir, const char *cluster,
			    const char *node, const char *ip,
			    struct hx_err *err);
/* Issues a certificate for @node/@ip signed by the CA in @dir. Returned
 * PEM strings are owned by the caller (free()). */
int hxraft_tls_issue(const char *dir, const char *node, const char *ip,
		     char **ret_cert_pem, char **ret_key_pem,
		     struct hx_err *err);
/* Loads credentials from @dir. */
int hxraft_tls_load(const char *dir, struct hxraft_tls **ret_tls,
		    struct hx_err *err);
void hxraft_tls_free(struct hxraft_tls *tls);
/* SHA-256 fingerprint (64 hex chars + NUL) of a PEM certificate. */
int hxraft_fingerprint_pem(const char *pem, char ret_hex[65]);
/* This node's and the CA's fingerprints. */
const char *hxraft_tls_node_fingerprint(const struct hxraft_tls *tls);
const char *hxraft_tls_ca_fingerprint(const struct hxraft_tls *tls);
/* The CA certificate in PEM, owned by @tls. */
const char *hxraft_tls_ca_pem(const struct hxraft_tls *tls);
/* Node certificate chain and key in PEM (for the HTTPS API), owned by @tls. */
const char *hxraft_tls_node_cert_pem(const struct hxraft_tls *tls);
const char *hxraft_tls_node_key_pem(const struct hxraft_tls *tls);

/* Replaces the trust set with @n fingerprints (hex). Thread-safe. */
int hxraft_tls_trust_set(struct hxraft_tls *tls, const char *const *fps,
			 unsigned n);
bool hxraft_tls_trusts(struct hxraft_tls *tls, const char *fp);

/*
 * Peer channel (peer.c).
 *
 * Every byte between nodes goes through one TCP port per node (the peer
 * port), in mutually authenticated TLS. After the handshake the client
 * names a service; the server answers with one status byte. Both sides
 * then see a plain stream socket: a thread per connection pumps bytes
 * between it and the TLS session. dqlite, bound to a process-local abstract
 * socket, is never reachable from the network except through this.
 */
enum hxraft_service {
	HXRAFT_SVC_DQLITE = 1, /* raft traffic and SQL clients */
	HXRAFT_SVC_MSG = 2,    /* agent messages (msgpack frames) */
	HXRAFT_SVC_JOIN = 3,   /* join request: token-authenticated only */
	HXRAFT_SVC_LIBVIRT = 4, /* the node's libvirtd (VM migration) */
};

/* Handler for MSG, JOIN and LIBVIRT connections: runs on the connection's own
 * thread and owns @fd (must close it). @peer_fp is the client's certificate
 * fingerprint ("" for JOIN clients without a certificate). */
typedef void (*hxraft_service_fn)(void *data, int service, int fd,
				  const char *peer_fp);
/* Called when a CA-signed peer is not in the trust set, to refresh the set
 * (for example from the database) before the connection is refused. */
typedef void (*hxraft_refresh_fn)(void *data);

struct hxraft_peer;

struct hxraft_peer_config {
	const char *bind_ip;	/* listen address */
	unsigned port;		/* peer port */
	const char *self_address; /* "IP:PORT" as other nodes dial it */
	struct hxraft_tls *tls; /* borrowed; must outlive the peer */
	hxraft_service_fn service;
	hxraft_refresh_fn refresh;
	void *data;
	int handshake_timeout_ms;
};

/* Binds and starts accepting on a background thread. */
int hxraft_peer_start(const struct hxraft_peer_config *cfg,
		      struct hxraft_peer **ret_peer, struct hx_err *err);
/* Stops accepting. Established connections end with their peers. */
void hxraft_peer_stop(struct hxraft_peer *peer);
/* Sets the abstract socket ("@name") of the local dqlite node. */
void hxraft_peer_set_dqlite(struct hxraft_peer *peer, const char *bind);

/*
 * Connects to @service on the node at @address ("IP:PORT") and returns a
 * plain connected stream socket in *ret_fd (owned by the caller). The
 * local dqlite node is reached directly, without TLS. Thread-safe; blocks
 * at most about @timeout_ms.
 */
int hxraft_peer_dial(struct hxraft_peer *peer, const char *address,
		     int service, int timeout_ms, int *ret_fd,
		     struct hx_err *err);

/*
 * Dials JOIN on @address without a client certificate and checks that the
 * server's chain ends in a CA whose fingerprint is @ca_fp. Returns a plain
 * socket. Used by a node that is not in a cluster yet.
 */
int hxraft_join_dial(const char *address, const char *ca_fp, int timeout_ms,
		     int *ret_fd, struct hx_err *err);

/* Message framing on a plain peer socket: 4-byte big-endian length, then
 * @len bytes (at most 16 MiB). */
int hxraft_frame_send(int fd, const void *buf, size_t len);
/* Reads one frame into a malloc'ed buffer owned by the caller. */
int hxraft_frame_recv(int fd, int timeout_ms, void **ret_buf,
		      size_t *ret_len);

/*
 * The embedded dqlite node (node.c).
 */
struct hxraft_node;

struct hxraft_node_config {
	uint64_t id;		/* 1 for the node that creates the cluster */
	const char *address;	/* this node's peer address, "IP:PORT" */
	const char *dir;	/* dqlite data directory */
	unsigned latency_ms;	/* one-way network latency hint */
	struct hxraft_peer *peer; /* borrowed; used to dial other nodes */
};

int hxraft_node_start(const struct hxraft_node_config *cfg,
		      struct hxraft_node **ret_node, struct hx_err *err);
/* Stops and frees the node (NULL allowed). */
void hxraft_node_stop(struct hxraft_node *node);
/* The abstract socket the node listens on ("@..."), owned by the node. */
const char *hxraft_node_bind(const struct hxraft_node *node);

/* A unique dqlite node id for a new member (never 1). */
uint64_t hxraft_new_id(const char *address);

#endif /* HX_RAFT_RAFT_H */
