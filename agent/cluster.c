/*
 * Membership: identity, init, join tokens, join, leave, remove, roles.
 *
 * DESIGN: a node is either not in a cluster (it serves only its control
 * socket, for init and join) or a member with TLS credentials, a dqlite
 * node and a statedb handle. Joining is a single request on the peer
 * channel's JOIN service: the server checks the token and admits the node
 * in one database transaction (the token can be used once, even when two
 * nodes race), issues its certificate, and adds it to raft as a spare. The
 * leader's periodic role pass then promotes it. Roles: 3 voters (5 once the
 * cluster has 5 nodes), as many stand-bys, the rest spares; a voter that
 * has been offline past the offline threshold is replaced by an online
 * stand-by or spare, then demoted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <jansson.h>
#include <msgpack.h>
#include <sodium.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/net.h"
#include "agent/storage.h"
#include "agent/vm.h"
#include "agent/msg.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

#define JOIN_TIMEOUT_MS 10000

/* ---- identity ---- */

int agent_identity_load(struct agent *a, struct hx_err *err)
{
	char path[1100];
	json_error_t jerr;
	json_t *j, *peers, *v;
	size_t i;

	agent_path(a, path, sizeof(path), "node.json");
	if (access(path, F_OK) < 0)
		return 0;
	j = json_load_file(path, 0, &jerr);
	if (j == NULL)
		return hx_err_set(err, -EINVAL, "corrupt %s: %s", path,
				  jerr.text);
	a->ident.initialized = true;
	a->ident.id = (uint64_t)json_integer_value(json_object_get(j, "id"));
	snprintf(a->ident.cluster, sizeof(a->ident.cluster), "%s",
		 json_string_value(json_object_get(j, "cluster")) ?: "");
	peers = json_object_get(j, "peers");
	a->ident.npeers = 0;
	json_array_foreach(peers, i, v)
	{
		if (i >= HX_ARRAY_SIZE(a->ident.peers) || !json_is_string(v))
			break;
		snprintf(a->ident.peers[a->ident.npeers++],
			 sizeof(a->ident.peers[0]), "%s", json_string_value(v));
	}
	json_decref(j);
	if (a->ident.id == 0)
		return hx_err_set(err, -EINVAL, "%s has no node id", path);
	return 0;
}

int agent_identity_save(struct agent *a, struct hx_err *err)
{
	char path[1100], *text;
	json_t *j, *peers;
	int r;

	peers = json_array();
	for (unsigned i = 0; i < a->ident.npeers; i++)
		json_array_append_new(peers, json_string(a->ident.peers[i]));
	j = json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)a->ident.id,
		      "cluster", a->ident.cluster, "name", a->cfg.name, "peers",
		      peers);
	text = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (text == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	agent_path(a, path, sizeof(path), "node.json");
	r = hx_file_write_atomic(path, text, strlen(text), 0600);
	free(text);
	if (r < 0)
		return hx_err_set(err, r, "write %s: %s", path, hx_strerror(r));
	return 0;
}

/* ---- services ---- */

static int dial_dqlite(void *data, const char *address, int timeout_ms,
		       int *ret_fd)
{
	struct agent *a = data;

	return hxraft_peer_dial(a->peer, address, HXRAFT_SVC_DQLITE, timeout_ms,
				ret_fd, NULL);
}

static void refresh_cb(void *data)
{
	agent_trust_refresh(data);
}

/* Trusts the peers remembered in node.json until the database answers. */
static void trust_from_identity(struct agent *a)
{
	const char *addrs[HX_ARRAY_SIZE(a->ident.peers)];

	for (unsigned i = 0; i < a->ident.npeers; i++)
		addrs[i] = a->ident.peers[i];
	statedb_set_peers(a->db, addrs, a->ident.npeers);
}

static int vms_start(struct agent *a, struct hx_err *err)
{
	struct vmexec_config vc = {0};
	struct hx_err terr = {0};
	char images[1100], vms[1100];

	if (a->cfg.images_dir[0] != '\0')
		snprintf(images, sizeof(images), "%s", a->cfg.images_dir);
	else
		agent_path(a, images, sizeof(images), "images");
	agent_path(a, vms, sizeof(vms), "vms");
	vc.uri = a->cfg.libvirt_uri;
	vc.images_dir = images;
	vc.vms_dir = vms;
	vc.accel = a->cfg.accel;
	if (agent_qemu_tls_write(a, &terr) < 0)
		hx_log(LOG_WARNING, "qemu tls credentials: %s; live migration "
				    "will fail until this is fixed",
		       terr.msg);
	if (storage_start(a, &terr) < 0)
		hx_log(LOG_WARNING, "storage: %s; pool status will not be "
				    "reported",
		       terr.msg);
	return vmexec_start(a, &vc, &a->vmx, err);
}

int agent_cluster_start(struct agent *a, struct hx_err *err)
{
	struct hxraft_peer_config pc = {0};
	struct hxraft_node_config nc = {0};
	struct statedb_config sc = {0};
	char dir[1100], fps_path[1100], *fps = NULL;
	int r;

	agent_path(a, dir, sizeof(dir), "tls");
	if ((r = hxraft_tls_load(dir, &a->tls, err)) < 0)
		return r;
	/* The last known trust set, so that a restarted node can reach the
	 * leader before it can read the member list. */
	agent_path(a, fps_path, sizeof(fps_path), "trust");
	if (hx_file_read(fps_path, 1 << 20, &fps, NULL) == 0) {
		const char *list[256];
		unsigned n = 0;
		for (char *save, *t = strtok_r(fps, "\n", &save);
		     t != NULL && n < HX_ARRAY_SIZE(list);
		     t = strtok_r(NULL, "\n", &save)) {
			char *sp = strchr(t, ' ');
			if (sp != NULL)
				*sp = '\0';
			list[n++] = t;
		}
		hxraft_tls_trust_set(a->tls, list, n);
		free(fps);
	}
	pc.bind_ip = a->cfg.bind;
	pc.port = a->cfg.peer_port;
	pc.self_address = a->self_peer;
	pc.tls = a->tls;
	pc.service = agent_peer_service;
	pc.refresh = refresh_cb;
	pc.data = a;
	if ((r = hxraft_peer_start(&pc, &a->peer, err)) < 0)
		return r;
	agent_path(a, dir, sizeof(dir), "dqlite");
	nc.id = a->ident.id;
	nc.address = a->self_peer;
	nc.dir = dir;
	nc.latency_ms = a->cfg.latency_ms;
	nc.peer = a->peer;
	if ((r = hxraft_node_start(&nc, &a->node, err)) < 0)
		return r;
	sc.dial = dial_dqlite;
	sc.dial_data = a;
	sc.self_address = a->self_peer;
	if ((r = statedb_open(&sc, &a->db, err)) < 0)
		return r;
	trust_from_identity(a);
	if ((r = vms_start(a, err)) < 0)
		return r;
	if (!a->cfg.no_net && (r = netexec_start(a, &a->netx, err)) < 0)
		return r;
	if ((r = agent_ha_start(a, err)) < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	a->running = true;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

char *agent_trust_text(struct agent *a)
{
	char *t;

	pthread_mutex_lock(&a->lock);
	t = a->trust_text != NULL ? strdup(a->trust_text) : NULL;
	pthread_mutex_unlock(&a->lock);
	return t;
}

void agent_trust_apply(struct agent *a, char *text)
{
	const char *fps[256], *peers[256];
	char *copy, *save, *line, path[1100];
	unsigned n = 0;

	pthread_mutex_lock(&a->lock);
	if (a->trust_text != NULL && strcmp(a->trust_text, text) == 0) {
		pthread_mutex_unlock(&a->lock);
		free(text);
		return;
	}
	free(a->trust_text);
	a->trust_text = text;
	copy = strdup(text);
	pthread_mutex_unlock(&a->lock);
	if (copy == NULL)
		return;
	for (line = strtok_r(copy, "\n", &save);
	     line != NULL && n < HX_ARRAY_SIZE(fps);
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (sp == NULL)
			continue;
		*sp = '\0';
		fps[n] = line;
		peers[n++] = sp + 1;
	}
	hxraft_tls_trust_set(a->tls, fps, n);
	statedb_set_peers(a->db, peers, n);
	pthread_mutex_lock(&a->lock);
	a->ident.npeers = 0;
	for (unsigned i = 0; i < n && i < HX_ARRAY_SIZE(a->ident.peers); i++)
		snprintf(a->ident.peers[a->ident.npeers++],
			 sizeof(a->ident.peers[0]), "%s", peers[i]);
	/* Not after a leave: that would bring back the membership it just
	 * wiped (a refresh runs when the node's own removal is seen). */
	if (!a->left) {
		(void)agent_identity_save(a, NULL);
		agent_path(a, path, sizeof(path), "trust");
		(void)hx_file_write_atomic(path, a->trust_text,
					   strlen(a->trust_text), 0600);
	}
	pthread_mutex_unlock(&a->lock);
	free(copy);
}

static void trust_from_nodes(struct agent *a, const struct statedb_node *nodes,
			     unsigned n)
{
	char *text = malloc((size_t)n * 150 + 1);
	size_t len = 0;

	if (text == NULL)
		return;
	text[0] = '\0';
	for (unsigned i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "%s %s\n", nodes[i].cert_fp,
				       nodes[i].peer);
	agent_trust_apply(a, text);
}

void agent_trust_refresh(struct agent *a)
{
	struct statedb_node *nodes;
	struct hx_err err = {0};
	unsigned n;

	if (statedb_node_list(a->db, &nodes, &n, &err) < 0) {
		hx_log(LOG_DEBUG, "trust refresh: %s", err.msg);
		return;
	}
	trust_from_nodes(a, nodes, n);
	free(nodes);
}

bool agent_is_leader_local(struct agent *a, char *leader, size_t len)
{
	char addr[80] = "";
	uint64_t id = 0;

	if (statedb_leader_of(a->db, a->self_peer, &id, addr, sizeof(addr),
			      NULL) < 0 || id == 0)
		addr[0] = '\0';
	if (leader != NULL)
		snprintf(leader, len, "%s", addr);
	return id != 0 && strcmp(addr, a->self_peer) == 0;
}

bool agent_is_leader(struct agent *a, char *leader, size_t len)
{
	char addr[80];
	bool is = agent_is_leader_local(a, addr, sizeof(addr));

	if (addr[0] == '\0') {
		/* Standbys and spares get no raft traffic, so their dqlite
		 * does not know the leader: use the one their heartbeats
		 * reach (found by asking the voters). */
		pthread_mutex_lock(&a->lock);
		snprintf(addr, sizeof(addr), "%s", a->hb_leader);
		pthread_mutex_unlock(&a->lock);
	}
	if (leader != NULL)
		snprintf(leader, len, "%s", addr);
	return is;
}

void agent_event(struct agent *a, const char *kind, const char *subject,
		 const char *actor, const char *fmt, ...)
{
	struct statedb_event e = {0};
	struct hx_err err = {0};
	va_list ap;

	snprintf(e.node, sizeof(e.node), "%s", a->cfg.name);
	snprintf(e.kind, sizeof(e.kind), "%s", kind);
	snprintf(e.subject, sizeof(e.subject), "%s", subject);
	snprintf(e.actor, sizeof(e.actor), "%s", actor);
	va_start(ap, fmt);
	vsnprintf(e.message, sizeof(e.message), fmt, ap);
	va_end(ap);
	hx_log(LOG_NOTICE, "event %s subject='%s': %s", kind, subject,
	       e.message);
	if (statedb_event_add(a->db, &e, &err) < 0)
		hx_log(LOG_WARNING, "cannot record event %s: %s, ignoring",
		       kind, err.msg);
}

/* ---- init ---- */

static void hash_hex(const char *secret, char ret[65])
{
	unsigned char md[32];

	crypto_generichash(md, sizeof(md), (const unsigned char *)secret,
			   strlen(secret), NULL, 0);
	sodium_bin2hex(ret, 65, md, sizeof(md));
}

static void random_b64(char *buf, size_t len, size_t nbytes)
{
	unsigned char raw[48];

	randombytes_buf(raw, nbytes);
	sodium_bin2base64(buf, len, raw, nbytes,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void node_facts(struct agent *a, struct statedb_node *n)
{
	struct utsname u;
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	snprintf(n->name, sizeof(n->name), "%s", a->cfg.name);
	snprintf(n->address, sizeof(n->address), "%s", a->cfg.address);
	snprintf(n->peer, sizeof(n->peer), "%s", a->self_peer);
	n->api_port = a->cfg.api_port;
	snprintf(n->arch, sizeof(n->arch), "%s",
		 uname(&u) == 0 ? u.machine : "unknown");
	n->cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	n->memory_mb = pages > 0 && psize > 0
			       ? (int64_t)pages * psize / (1024 * 1024)
			       : 0;
	snprintf(n->labels, sizeof(n->labels), "{}");
	n->joined_ms = (int64_t)hx_wall_ms();
}

int agent_cluster_init(struct agent *a, const char *name,
		       char *ret_admin_token, size_t len, struct hx_err *err)
{
	struct statedb_node first = {0};
	char dir[1100], token[80], hash[65];
	int r;

	if (a->ident.initialized)
		return hx_err_set(err, -EEXIST,
				  "this node is already in cluster '%s'",
				  a->ident.cluster);
	agent_path(a, dir, sizeof(dir), "tls");
	if ((r = hxraft_tls_init_cluster(dir, name, a->cfg.name,
					 a->cfg.address, err)) < 0)
		return r;
	a->ident.id = 1; /* dqlite bootstraps the node with id 1 */
	snprintf(a->ident.cluster, sizeof(a->ident.cluster), "%s", name);
	snprintf(a->ident.peers[0], sizeof(a->ident.peers[0]), "%s",
		 a->self_peer);
	a->ident.npeers = 1;
	if ((r = agent_cluster_start(a, err)) < 0)
		return r;
	if ((r = statedb_migrate(a->db, NULL, err)) < 0)
		return r;
	node_facts(a, &first);
	first.id = 1;
	snprintf(first.cert_fp, sizeof(first.cert_fp), "%s",
		 hxraft_tls_node_fingerprint(a->tls));
	snprintf(token, 6, "hxat_");
	random_b64(token + 5, sizeof(token) - 5, 32);
	hash_hex(token, hash);
	if ((r = statedb_cluster_create(a->db, name, &first, hash, err)) < 0)
		return r;
	agent_trust_refresh(a);
	a->ident.initialized = true;
	if ((r = agent_identity_save(a, err)) < 0)
		return r;
	agent_path(a, dir, sizeof(dir), "admin.token");
	(void)hx_file_write_atomic(dir, token, strlen(token), 0600);
	if ((r = agent_api_start(a, true, err)) < 0)
		return r;
	agent_event(a, "cluster.init", name, "root@local",
		    "cluster '%s' created by node '%s'", name, a->cfg.name);
	snprintf(ret_admin_token, len, "%s", token);
	return 0;
}

/* ---- tokens ---- */

int agent_cluster_token(struct agent *a, int64_t ttl_s, char *ret_token,
			size_t len, int64_t *ret_expires, struct hx_err *err)
{
	char secret[64], hash[65], plain[256], b64[400];
	int64_t expires = (int64_t)hx_wall_ms() + ttl_s * 1000;
	int r;

	random_b64(secret, sizeof(secret), 32);
	hash_hex(secret, hash);
	r = statedb_token_add(a->db, hash, expires, a->cfg.name, err);
	if (r < 0)
		return r;
	snprintf(plain, sizeof(plain), "1|%s|%s|%s", a->self_peer,
		 hxraft_tls_ca_fingerprint(a->tls), secret);
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)plain,
			  strlen(plain),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(ret_token, len, "hxjt_%s", b64);
	*ret_expires = expires / 1000;
	return 0;
}

struct join_token {
	char peer[80];
	char ca_fp[65];
	char secret[64];
};

static int token_parse(const char *token, struct join_token *t,
		       struct hx_err *err)
{
	char plain[256];
	size_t n = 0;
	char *save, *ver, *peer, *fp, *sec;

	if (strncmp(token, "hxjt_", 5) != 0 ||
	    sodium_base642bin((unsigned char *)plain, sizeof(plain) - 1,
			      token + 5, strlen(token + 5), NULL, &n, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return hx_err_set(err, HX_ETOKEN,
				  "join token is malformed (expected hxjt_...)");
	plain[n] = '\0';
	ver = strtok_r(plain, "|", &save);
	peer = strtok_r(NULL, "|", &save);
	fp = strtok_r(NULL, "|", &save);
	sec = strtok_r(NULL, "|", &save);
	if (ver == NULL || strcmp(ver, "1") != 0 || peer == NULL ||
	    fp == NULL || strlen(fp) != 64 || sec == NULL ||
	    strlen(peer) >= sizeof(t->peer) || strlen(sec) >= sizeof(t->secret))
		return hx_err_set(err, HX_ETOKEN, "join token is malformed");
	snprintf(t->peer, sizeof(t->peer), "%s", peer);
	snprintf(t->ca_fp, sizeof(t->ca_fp), "%s", fp);
	snprintf(t->secret, sizeof(t->secret), "%s", sec);
	return 0;
}

/* ---- join: server side (any member) ---- */

static void join_reply_error(int fd, int code, const char *message)
{
	struct msg_out m;

	msg_out_init(&m, 3);
	msg_put_str(&m, "t", "error");
	msg_put_int(&m, "code", code);
	msg_put_str(&m, "message", message);
	(void)hxraft_frame_send(fd, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
}

static int join_admit(struct agent *a, const struct msg_in *in,
		      struct statedb_node *node, char **ret_cert,
		      char **ret_key, struct hx_err *err)
{
	char secret[64], hash[65], dir[1100];
	int64_t schema;
	int r, version;

	const struct {
		const char *key;
		char *buf;
		size_t len;
	} fields[] = {
		{"secret", secret, sizeof(secret)},
		{"name", node->name, sizeof(node->name)},
		{"address", node->address, sizeof(node->address)},
		{"peer", node->peer, sizeof(node->peer)},
		{"arch", node->arch, sizeof(node->arch)},
	};
	for (size_t i = 0; i < HX_ARRAY_SIZE(fields); i++)
		if (msg_get_str(in, fields[i].key, fields[i].buf,
				fields[i].len) < 0)
			return hx_err_set(err, HX_EPROTO,
					  "malformed join request: bad '%s'",
					  fields[i].key);
	if (msg_get_int(in, "schema", &schema) < 0)
		return hx_err_set(err, HX_EPROTO,
				  "malformed join request: bad 'schema'");
	node->api_port = (unsigned)msg_int_or(in, "api_port", 8006);
	node->cpus = (int)msg_int_or(in, "cpus", 0);
	node->memory_mb = msg_int_or(in, "memory_mb", 0);
	if ((r = statedb_schema_version(a->db, &version, err)) < 0)
		return r;
	if (version > schema)
		return hx_err_set(err, HX_ESCHEMA,
				  "the cluster's schema version is %d but the "
				  "joining node knows only up to %" PRId64
				  ": upgrade hxd on it first",
				  version, schema);
	agent_path(a, dir, sizeof(dir), "tls");
	if ((r = hxraft_tls_issue(dir, node->name, node->address, ret_cert,
				  ret_key, err)) < 0)
		return r;
	hxraft_fingerprint_pem(*ret_cert, node->cert_fp);
	node->id = hxraft_new_id(node->peer);
	node->joined_ms = (int64_t)hx_wall_ms();
	snprintf(node->labels, sizeof(node->labels), "{}");
	hash_hex(secret, hash);
	r = statedb_node_admit(a->db, hash, (int64_t)hx_wall_ms(), node, err);
	if (r == 0)
		r = statedb_member_add(a->db, node->id, node->peer, err);
	if (r < 0) {
		free(*ret_cert);
		free(*ret_key);
		*ret_cert = *ret_key = NULL;
	}
	return r;
}

static void join_serve(struct agent *a, int fd)
{
	struct statedb_node node = {0}, *nodes = NULL;
	struct hx_err err = {0};
	char *cert = NULL, *key = NULL, *ca_key = NULL, path[1100];
	struct msg_in in;
	struct msg_out m;
	unsigned n = 0;
	void *buf;
	size_t len;
	int r;

	if (hxraft_frame_recv(fd, JOIN_TIMEOUT_MS, &buf, &len) < 0)
		return;
	r = msg_in_parse(&in, buf, len);
	if (r < 0) {
		join_reply_error(fd, HX_EPROTO, "malformed join request");
		return;
	}
	r = join_admit(a, &in, &node, &cert, &key, &err);
	msg_in_close(&in);
	if (r < 0) {
		hx_log(LOG_NOTICE, "join refused: %s", err.msg);
		join_reply_error(fd, r, err.msg);
		return;
	}
	agent_trust_refresh(a);
	agent_path(a, path, sizeof(path), "tls/ca.key");
	(void)hx_file_read(path, 65536, &ca_key, NULL);
	(void)statedb_node_list(a->db, &nodes, &n, NULL);
	msg_out_init(&m, 8);
	msg_put_str(&m, "t", "welcome");
	msg_put_int(&m, "id", (int64_t)node.id);
	msg_put_str(&m, "cluster", a->ident.cluster);
	msg_put_str(&m, "ca_cert", hxraft_tls_ca_pem(a->tls));
	msg_put_str(&m, "ca_key", ca_key != NULL ? ca_key : "");
	msg_put_str(&m, "cert", cert);
	msg_put_str(&m, "key", key);
	msg_put_key(&m, "members");
	msgpack_pack_array(&m.pk, n);
	for (unsigned i = 0; i < n; i++) {
		msgpack_pack_array(&m.pk, 2);
		msg_pack_str(&m, nodes[i].peer);
		msg_pack_str(&m, nodes[i].cert_fp);
	}
	(void)hxraft_frame_send(fd, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
	if (ca_key != NULL)
		sodium_memzero(ca_key, strlen(ca_key));
	free(ca_key);
	sodium_memzero(key, strlen(key));
	free(key);
	free(cert);
	free(nodes);
	agent_event(a, "node.join", node.name, "join-token",
		    "node '%s' (%s) joined as a spare; id %" PRIu64, node.name,
		    node.address, node.id);
}

void agent_peer_service(void *data, int service, int fd, const char *fp)
{
	struct agent *a = data;
	bool running;

	pthread_mutex_lock(&a->lock);
	running = a->running;
	pthread_mutex_unlock(&a->lock);
	if (running && service == HXRAFT_SVC_JOIN)
		join_serve(a, fd);
	else if (running && service == HXRAFT_SVC_MSG)
		agent_msg_serve(a, fd, fp);
	else if (running && service == HXRAFT_SVC_LIBVIRT)
		vmexec_libvirt_serve(a->vmx, fd, fp);
	close(fd);
}

/* ---- join: client side ---- */

static int join_save_credentials(struct agent *a, const struct msg_in *in,
				 struct hx_err *err)
{
	static const char *const files[][2] = {{"ca_cert", "ca.crt"},
					       {"ca_key", "ca.key"},
					       {"cert", "node.crt"},
					       {"key", "node.key"}};
	char dir[1100], path[1200], *pem;
	int r;

	agent_path(a, dir, sizeof(dir), "tls");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return hx_err_set(err, -errno, "mkdir %s: %s", dir,
				  strerror(errno));
	pem = malloc(65536);
	if (pem == NULL)
		return hx_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < HX_ARRAY_SIZE(files); i++) {
		if (msg_get_str(in, files[i][0], pem, 65536) < 0) {
			free(pem);
			return hx_err_set(err, HX_EPROTO,
					  "join reply without %s", files[i][0]);
		}
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][1]);
		r = hx_file_write_atomic(path, pem, strlen(pem), 0600);
		if (r < 0) {
			free(pem);
			return hx_err_set(err, r, "write %s: %s", path,
					  hx_strerror(r));
		}
	}
	sodium_memzero(pem, 65536);
	free(pem);
	return 0;
}

/* Trusts the members named in the welcome until the database answers. */
static int join_save_trust(struct agent *a, const struct msg_in *in,
			   struct hx_err *err)
{
	static char fps[256][65], peers[256][80], text[256 * 150 + 1];
	char path[1100];
	unsigned n = 0, np = 0;
	size_t len = 0;
	int r;

	msg_members(in, 1, fps[0], sizeof(fps[0]), 256, &n);
	msg_members(in, 0, peers[0], sizeof(peers[0]), 256, &np);
	for (unsigned i = 0; i < n && i < np; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"%s %s\n", fps[i], peers[i]);
	agent_path(a, path, sizeof(path), "trust");
	r = hx_file_write_atomic(path, text, len, 0600);
	if (r < 0)
		return hx_err_set(err, r, "write %s: %s", path, hx_strerror(r));
	return 0;
}

static int join_exchange(struct agent *a, const struct join_token *t,
			 const char *peer, struct msg_in *ret_in,
			 struct hx_err *err)
{
	struct statedb_node me = {0};
	struct msg_out m;
	void *buf;
	size_t len;
	int fd, r;

	r = hxraft_join_dial(peer, t->ca_fp, JOIN_TIMEOUT_MS, &fd, err);
	if (r < 0)
		return r;
	node_facts(a, &me);
	msg_out_init(&m, 9);
	msg_put_str(&m, "secret", t->secret);
	msg_put_str(&m, "name", me.name);
	msg_put_str(&m, "address", me.address);
	msg_put_str(&m, "peer", me.peer);
	msg_put_str(&m, "arch", me.arch);
	msg_put_int(&m, "api_port", me.api_port);
	msg_put_int(&m, "cpus", me.cpus);
	msg_put_int(&m, "memory_mb", me.memory_mb);
	msg_put_int(&m, "schema", STATEDB_SCHEMA_VERSION);
	r = hxraft_frame_send(fd, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
	if (r == 0)
		r = hxraft_frame_recv(fd, 30000, &buf, &len);
	close(fd);
	if (r < 0)
		return hx_err_set(err, r, "join: no answer from %s: %s", peer,
				  hx_strerror(r));
	r = msg_in_parse(ret_in, buf, len);
	if (r < 0)
		return hx_err_set(err, HX_EPROTO, "join: malformed answer");
	return 0;
}

/* Waits until the leader has given this node a role (bounded). */
static int join_wait_role(struct agent *a, struct hx_err *err)
{
	uint64_t deadline = hx_now_ms() + 60000;

	while (hx_now_ms() < deadline) {
		struct statedb_member *m = NULL;
		unsigned n = 0;

		if (statedb_members(a->db, &m, &n, NULL, NULL) == 0) {
			unsigned voters = 0, standbys = 0;
			int mine = -1;
			for (unsigned i = 0; i < n; i++) {
				if (m[i].id == a->ident.id)
					mine = m[i].role;
				voters += m[i].role == STATEDB_VOTER;
				standbys += m[i].role == STATEDB_STANDBY;
			}
			free(m);
			if (mine == STATEDB_VOTER || mine == STATEDB_STANDBY ||
			    (mine == STATEDB_SPARE && voters >= 5 &&
			     standbys >= 5))
				return 0;
		}
		usleep(200 * 1000);
	}
	return hx_err_set(err, -ETIMEDOUT,
			  "joined, but the leader did not assign this node a "
			  "database role within 60 s");
}

int agent_cluster_join(struct agent *a, const char *address,
		       const char *token, struct hx_err *err)
{
	struct join_token t;
	struct msg_in in;
	char peer[96], cluster[64];
	int64_t id;
	int r;

	if (a->ident.initialized)
		return hx_err_set(err, -EEXIST,
				  "this node is already in cluster '%s'",
				  a->ident.cluster);
	if ((r = token_parse(token, &t, err)) < 0)
		return r;
	/* ADDRESS is a member's IP, optionally with its peer port. */
	if (strchr(address, ':') != NULL && address[0] != '[' &&
	    strchr(address, ':') == strrchr(address, ':'))
		snprintf(peer, sizeof(peer), "%s", address);
	else if (address[0] == '[')
		snprintf(peer, sizeof(peer), "%s", address);
	else
		snprintf(peer, sizeof(peer),
			 strchr(address, ':') ? "[%s]:%u" : "%s:%u", address,
			 a->cfg.peer_port);
	if ((r = join_exchange(a, &t, peer, &in, err)) < 0)
		return r;
	if (msg_get_str(&in, "t", cluster, sizeof(cluster)) == 0 &&
	    strcmp(cluster, "error") == 0) {
		char message[512] = "join refused";
		int64_t code = HX_ETOKEN;
		msg_get_str(&in, "message", message, sizeof(message));
		msg_get_int(&in, "code", &code);
		msg_in_close(&in);
		return hx_err_set(err, (int)code, "%s", message);
	}
	if (msg_get_int(&in, "id", &id) < 0 ||
	    msg_get_str(&in, "cluster", cluster, sizeof(cluster)) < 0 ||
	    (r = join_save_credentials(a, &in, err)) < 0) {
		msg_in_close(&in);
		return err != NULL && err->code < 0
			       ? err->code
			       : hx_err_set(err, HX_EPROTO,
					    "join: malformed answer");
	}
	a->ident.id = (uint64_t)id;
	snprintf(a->ident.cluster, sizeof(a->ident.cluster), "%s", cluster);
	a->ident.npeers = 0;
	msg_members(&in, 0, a->ident.peers[0], sizeof(a->ident.peers[0]),
		    HX_ARRAY_SIZE(a->ident.peers), &a->ident.npeers);
	r = join_save_trust(a, &in, err);
	msg_in_close(&in);
	if (r < 0)
		return r;
	a->ident.initialized = true;
	if ((r = agent_identity_save(a, err)) < 0)
		return r;
	if ((r = agent_cluster_start(a, err)) < 0)
		return r;
	if ((r = agent_api_start(a, true, err)) < 0)
		return r;
	return join_wait_role(a, err);
}

/* ---- leave and remove ---- */

static int leave_transfer(struct agent *a, struct hx_err *err)
{
	struct statedb_member *m = NULL;
	uint64_t leader = 0, target = 0;
	unsigned n = 0;
	int r;

	if ((r = statedb_members(a->db, &m, &n, &leader, err)) < 0)
		return r;
	for (unsigned i = 0; i < n && target == 0; i++)
		if (m[i].role == STATEDB_VOTER && m[i].id != a->ident.id &&
		    liveness_state_of(liveness_age(a->live, m[i].id,
						   hx_now_ms()),
				      a->unknown_after_ms,
				      a->offline_after_ms) == LIVE_ONLINE)
			target = m[i].id;
	free(m);
	if (leader != a->ident.id)
		return 0;
	if (target == 0)
		return hx_err_set(err, -EBUSY,
				  "this node is the leader and no other voter "
				  "is online to take over");
	hx_log(LOG_NOTICE, "leave: transferring leadership to %" PRIu64,
	       target);
	if ((r = statedb_member_transfer(a->db, target, err)) < 0)
		return r;
	for (int i = 0; i < 50 && agent_is_leader(a, NULL, 0); i++)
		usleep(100 * 1000);
	return 0;
}

static void wipe_membership(struct agent *a)
{
	static const char *const files[] = {"node.json", "trust",
					    "admin.token"};
	char path[1100], to[1200];

	for (size_t i = 0; i < HX_ARRAY_SIZE(files); i++) {
		agent_path(a, path, sizeof(path), files[i]);
		(void)unlink(path);
	}
	/* Keep the old database and credentials aside, never reuse them. */
	agent_path(a, path, sizeof(path), "dqlite");
	snprintf(to, sizeof(to), "%s.left-%" PRIu64, path, hx_wall_ms());
	(void)rename(path, to);
	agent_path(a, path, sizeof(path), "tls");
	snprintf(to, sizeof(to), "%s.left-%" PRIu64, path, hx_wall_ms());
	(void)rename(path, to);
}

int agent_cluster_leave(struct agent *a, struct hx_err *err)
{
	int r;

	if (!a->ident.initialized)
		return hx_err_set(err, HX_ENOTINIT,
				  "this node is not in a cluster");
	if ((r = leave_transfer(a, err)) < 0)
		return r;
	agent_event(a, "node.leave", a->cfg.name, "root@local",
		    "node '%s' left the cluster", a->cfg.name);
	/* Raft membership first, the node row last: deleting the row takes
	 * this node's certificate out of the others' trust lists, after which
	 * they refuse its connections. */
	if ((r = statedb_member_remove(a->db, a->ident.id, err)) < 0)
		return r;
	if ((r = statedb_node_delete(a->db, a->cfg.name, err)) < 0 &&
	    r != -ENOENT)
		return r;
	hxraft_node_stop(a->node);
	pthread_mutex_lock(&a->lock);
	a->node = NULL;
	a->running = false;
	a->left = true; /* no more saves of node.json and trust */
	pthread_mutex_unlock(&a->lock);
	wipe_membership(a);
	return 0;
}

int agent_cluster_remove(struct agent *a, const char *name,
			 struct hx_err *err)
{
	struct statedb_node node;
	enum liveness_state st;
	int r;

	if (strcmp(name, a->cfg.name) == 0)
		return hx_err_set(err, -EBUSY,
				  "cannot remove this node from itself: run "
				  "'hxctl cluster leave' on it");
	if ((r = statedb_node_get(a->db, name, &node, err)) < 0)
		return r;
	st = liveness_state_of(liveness_age(a->live, node.id, hx_now_ms()),
			       a->unknown_after_ms, a->offline_after_ms);
	if (st == LIVE_ONLINE)
		return hx_err_set(err, -EBUSY,
				  "node '%s' is online: run 'hxctl cluster "
				  "leave' on it instead",
				  name);
	r = statedb_member_remove(a->db, node.id, err);
	if (r < 0 && r != HX_ESQL)
		return r;
	if ((r = statedb_node_delete(a->db, name, err)) < 0)
		return r;
	agent_trust_refresh(a);
	agent_event(a, "node.remove", name, "api",
		    "node '%s' removed; its certificate is no longer trusted",
		    name);
	return 0;
}

/* ---- the leader's duties ---- */

static void roles_reconcile(struct agent *a, const struct statedb_member *m,
			    unsigned n, uint64_t now)
{
	unsigned want = n >= 5 ? 5 : 3, voters = 0, standbys = 0;
	struct hx_err err = {0};

	for (unsigned i = 0; i < n; i++) {
		enum liveness_state st = liveness_state_of(
			liveness_age(a->live, m[i].id, now),
			a->unknown_after_ms, a->offline_after_ms);
		if (m[i].role == STATEDB_VOTER && st != LIVE_OFFLINE)
			voters++;
		if (m[i].role == STATEDB_STANDBY && st != LIVE_OFFLINE)
			standbys++;
	}
	for (unsigned i = 0; i < n; i++) {
		enum liveness_state st = liveness_state_of(
			liveness_age(a->live, m[i].id, now),
			a->unknown_after_ms, a->offline_after_ms);
		int to = -1;

		if (st != LIVE_ONLINE)
			continue;
		if (m[i].role != STATEDB_VOTER && voters < want) {
			to = STATEDB_VOTER;
			voters++;
			if (m[i].role == STATEDB_STANDBY)
				standbys--;
		} else if (m[i].role == STATEDB_SPARE && standbys < want) {
			to = STATEDB_STANDBY;
			standbys++;
		}
		if (to < 0)
			continue;
		if (statedb_member_assign(a->db, m[i].id, to, &err) < 0) {
			hx_log(LOG_WARNING, "roles: assign %" PRIu64 " %s: %s",
			       m[i].id, statedb_role_name(to), err.msg);
			return;
		}
		agent_event(a, "node.role", m[i].address, "leader",
			    "%s -> %s", statedb_role_name(m[i].role),
			    statedb_role_name(to));
		return; /* one change per pass: the next pass sees it */
	}
	/* A voter offline for good, and enough online voters without it:
	 * demote it so that quorum is counted among the living. */
	for (unsigned i = 0; i < n; i++) {
		enum liveness_state st = liveness_state_of(
			liveness_age(a->live, m[i].id, now),
			a->unknown_after_ms, a->offline_after_ms);
		if (m[i].role == STATEDB_VOTER && st == LIVE_OFFLINE &&
		    voters >= want) {
			if (statedb_member_assign(a->db, m[i].id, STATEDB_SPARE,
						  &err) == 0)
				agent_event(a, "node.role", m[i].address,
					    "leader",
					    "voter offline: demoted to spare");
			return;
		}
	}
}

static void liveness_events(struct agent *a, const struct statedb_node *nodes,
			    unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t age = liveness_age(a->live, nodes[i].id, now);
		enum liveness_state st = liveness_state_of(
			age, a->unknown_after_ms, a->offline_after_ms);
		bool known;
		enum liveness_state old =
			liveness_swap(a->live, nodes[i].id, st, &known);

		if (known && old != st)
			agent_event(a, "node.state", nodes[i].name, "leader",
				    "%s -> %s (last heartbeat %.1f s ago)",
				    liveness_state_name(old),
				    liveness_state_name(st), (double)age / 1000);
	}
}

static void settings_refresh(struct agent *a)
{
	struct statedb_settings s;

	if (statedb_settings_get(a->db, &s, NULL) < 0)
		return;
	for (unsigned i = 0; i < s.n; i++) {
		if (strcmp(s.keys[i], "liveness.heartbeat_ms") == 0)
			a->heartbeat_ms = s.values[i];
		else if (strcmp(s.keys[i], "liveness.unknown_after_ms") == 0)
			a->unknown_after_ms = s.values[i];
		else if (strcmp(s.keys[i], "liveness.offline_after_ms") == 0)
			a->offline_after_ms = s.values[i];
	}
}

void agent_leader_tick(struct agent *a)
{
	struct statedb_member *m = NULL;
	struct statedb_node *nodes = NULL;
	uint64_t now = hx_now_ms();
	unsigned n = 0, nn = 0;
	bool leader;

	if (a->tick_count % 20 == 1) {
		settings_refresh(a);
		agent_trust_refresh(a);
	}
	leader = agent_is_leader(a, NULL, 0);
	if (leader && !a->was_leader) {
		/* A new leader has no heartbeat history: everyone gets a
		 * full grace period before being called unknown. */
		liveness_reset(a->live, now);
		hx_log(LOG_NOTICE, "this node is now the leader");
		/* Nodes upgraded one by one: the first leader that knows a
		 * newer schema applies it (once, cluster-wide). */
		struct hx_err merr = {0};
		if (statedb_migrate(a->db, NULL, &merr) < 0)
			hx_log(LOG_WARNING, "schema migration: %s", merr.msg);
		agent_event(a, "cluster.leader", a->cfg.name, "raft",
			    "node '%s' became leader", a->cfg.name);
	} else if (!leader && a->was_leader) {
		hx_log(LOG_NOTICE, "this node is no longer the leader");
	}
	a->was_leader = leader;
	if (!leader)
		return;
	liveness_beat(a->live, a->ident.id, now);
	if (statedb_node_list(a->db, &nodes, &nn, NULL) == 0) {
		trust_from_nodes(a, nodes, nn);
		liveness_events(a, nodes, nn, now);
		free(nodes);
	}
	if (a->tick_count % 4 == 0 &&
	    statedb_members(a->db, &m, &n, NULL, NULL) == 0) {
		roles_reconcile(a, m, n, now);
		free(m);
	}
}
