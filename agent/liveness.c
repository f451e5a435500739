/*
 * Liveness: heartbeats to the leader, and the leader's view of every node.
 *
 * DESIGN: heartbeats cost no Raft write. Each node keeps one MSG
 * connection to the leader and sends a small msgpack frame every
 * heartbeat interval; the leader keeps the time it last heard from each
 * node in memory. Only state changes (online/unknown/offline) are written,
 * as events. A new leader starts with a grace period: it cannot know who
 * was alive before it was elected. The same MSG connection type carries
 * API requests forwarded to the leader.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/msg.h"
#include "agent/vm.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

#define LIVE_MAX 256

struct live_entry {
	uint64_t id;
	uint64_t last_ms;
	enum liveness_state reported;
	bool has_reported;
};

struct liveness {
	pthread_mutex_t lock;
	struct live_entry e[LIVE_MAX];
	unsigned n;
	uint64_t grace_ms; /* heard-from time assumed for unseen nodes */
};

struct liveness *liveness_new(void)
{
	struct liveness *l = calloc(1, sizeof(*l));

	if (l != NULL)
		pthread_mutex_init(&l->lock, NULL);
	return l;
}

void liveness_free(struct liveness *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static struct live_entry *live_find(struct liveness *l, uint64_t id,
				    bool create)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->e[i].id == id)
			return &l->e[i];
	if (!create || l->n == LIVE_MAX)
		return NULL;
	l->e[l->n] = (struct live_entry){.id = id, .last_ms = l->grace_ms};
	return &l->e[l->n++];
}

void liveness_beat(struct liveness *l, uint64_t id, uint64_t now_ms)
{
	struct live_entry *e;

	pthread_mutex_lock(&l->lock);
	e = live_find(l, id, true);
	if (e != NULL && now_ms > e->last_ms)
		e->last_ms = now_ms;
	pthread_mutex_unlock(&l->lock);
}

void liveness_reset(struct liveness *l, uint64_t now_ms)
{
	pthread_mutex_lock(&l->lock);
	l->n = 0;
	l->grace_ms = now_ms;
	pthread_mutex_unlock(&l->lock);
}

uint64_t liveness_age(struct liveness *l, uint64_t id, uint64_t now_ms)
{
	struct live_entry *e;
	uint64_t last;

	pthread_mutex_lock(&l->lock);
	e = live_find(l, id, false);
	last = e != NULL ? e->last_ms : l->grace_ms;
	pthread_mutex_unlock(&l->lock);
	if (last == 0)
		return UINT64_MAX;
	return now_ms > last ? now_ms - last : 0;
}

enum liveness_state liveness_state_of(uint64_t age_ms, int64_t unknown_after,
				      int64_t offline_after)
{
	if (age_ms < (uint64_t)unknown_after)
		return LIVE_ONLINE;
	if (age_ms < (uint64_t)offline_after)
		return LIVE_UNKNOWN;
	return LIVE_OFFLINE;
}

const char *liveness_state_name(enum liveness_state s)
{
	static const char *const names[] = {"online", "unknown", "offline"};

	return names[s];
}

enum liveness_state liveness_swap(struct liveness *l, uint64_t id,
				  enum liveness_state now, bool *ret_known)
{
	enum liveness_state old = now;
	struct live_entry *e;

	pthread_mutex_lock(&l->lock);
	e = live_find(l, id, true);
	*ret_known = e != NULL && e->has_reported;
	if (e != NULL) {
		old = e->has_reported ? e->reported : now;
		e->reported = now;
		e->has_reported = true;
	}
	pthread_mutex_unlock(&l->lock);
	return old;
}

/* ---- heartbeats (each node, on the tick worker) ---- */

static void hb_close(struct agent *a)
{
	if (a->hb_fd >= 0)
		close(a->hb_fd);
	a->hb_fd = -1;
	pthread_mutex_lock(&a->lock);
	a->hb_leader[0] = '\0';
	pthread_mutex_unlock(&a->lock);
}

/* A spare receives no raft traffic, so its own dqlite node does not know
 * the leader: ask the other members. */
static bool hb_ask_peers(struct agent *a, char *leader, size_t len)
{
	char peers[16][80];
	unsigned n;

	pthread_mutex_lock(&a->lock);
	n = a->ident.npeers;
	memcpy(peers, a->ident.peers, sizeof(peers));
	pthread_mutex_unlock(&a->lock);
	for (unsigned i = 0; i < n; i++) {
		uint64_t id = 0;

		if (strcmp(peers[i], a->self_peer) == 0)
			continue;
		if (statedb_leader_of(a->db, peers[i], &id, leader, len,
				      NULL) == 0 &&
		    id != 0 && leader[0] != '\0')
			return true;
	}
	leader[0] = '\0';
	return false;
}

/* Adopts the member list the leader sent with its ack. */
static void hb_ack(struct agent *a, void *buf, size_t len)
{
	struct msg_in in;
	char *trust;

	if (msg_in_parse(&in, buf, len) < 0)
		return;
	trust = malloc(256 * 150 + 1);
	if (trust != NULL && msg_get_str(&in, "trust", trust, 256 * 150 + 1) == 0 &&
	    trust[0] != '\0')
		agent_trust_apply(a, trust);
	else
		free(trust);
	msg_in_close(&in);
}

void agent_heartbeat(struct agent *a)
{
	static uint64_t last_ms;
	char leader[80];
	struct msg_out m;
	uint64_t now = hx_now_ms();
	void *buf;
	size_t len;
	int r;

	if (now - last_ms < (uint64_t)a->heartbeat_ms)
		return;
	last_ms = now;
	if (agent_is_leader_local(a, leader, sizeof(leader))) {
		hb_close(a);
		return; /* the leader beats for itself in its own tick */
	}
	if (leader[0] == '\0' && !hb_ask_peers(a, leader, sizeof(leader))) {
		hb_close(a);
		return;
	}
	if (a->hb_fd >= 0 && strcmp(leader, a->hb_leader) != 0)
		hb_close(a);
	if (a->hb_fd < 0) {
		struct hx_err err = {0};
		r = hxraft_peer_dial(a->peer, leader, HXRAFT_SVC_MSG, 2000,
				     &a->hb_fd, &err);
		if (r < 0) {
			hx_log(LOG_DEBUG, "heartbeat: %s", err.msg);
			a->hb_fd = -1;
			return;
		}
		pthread_mutex_lock(&a->lock);
		snprintf(a->hb_leader, sizeof(a->hb_leader), "%s", leader);
		pthread_mutex_unlock(&a->lock);
	}
	msg_out_init(&m, 3);
	msg_put_str(&m, "t", "hb");
	msg_put_int(&m, "id", (int64_t)a->ident.id);
	msg_put_str(&m, "name", a->cfg.name);
	r = hxraft_frame_send(a->hb_fd, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
	if (r == 0)
		r = hxraft_frame_recv(a->hb_fd, 2000, &buf, &len);
	if (r < 0) {
		hb_close(a);
		return;
	}
	hb_ack(a, buf, len);
}

/* ---- the MSG service (the leader's side) ---- */

/* @type: "api", or "moved" for a request refused unread because this node
 * is no longer the leader (the sender may send it again elsewhere). */
static void msg_reply_api(int fd, const char *type, int status,
			  const char *body, const char *etag)
{
	struct msg_out m;

	msg_out_init(&m, 4);
	msg_put_str(&m, "t", type);
	msg_put_int(&m, "status", status);
	msg_put_str(&m, "body", body);
	msg_put_str(&m, "etag", etag);
	(void)hxraft_frame_send(fd, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
}

static void msg_serve_api(struct agent *a, int fd, const struct msg_in *in)
{
	char method[16], path[1024], query[1024], if_match[80], *body;
	struct api_req req = {0};
	struct api_resp resp = {0};
	json_t *out;
	char *text;

	body = malloc(65537);
	if (body == NULL)
		return;
	if (msg_get_str(in, "method", method, sizeof(method)) < 0 ||
	    msg_get_str(in, "path", path, sizeof(path)) < 0 ||
	    msg_get_str(in, "query", query, sizeof(query)) < 0 ||
	    msg_get_str(in, "body", body, 65537) < 0) {
		free(body);
		msg_reply_api(fd, "api", 400,
			      "{\"error\":{\"code\":\"bad_request\","
			      "\"message\":\"malformed forwarded request\"}}",
			      "");
		return;
	}
	req.method = method;
	req.path = path;
	req.query = query;
	req.forwarded = true;
	/* Only cluster members reach this service (mutual TLS), so the
	 * actor and precondition they pass on are taken as given. */
	if (msg_get_str(in, "actor", req.actor, sizeof(req.actor)) < 0)
		snprintf(req.actor, sizeof(req.actor), "forwarded");
	if (msg_get_str(in, "if_match", if_match, sizeof(if_match)) == 0 &&
	    if_match[0] != '\0')
		req.if_match = if_match;
	if (body[0] != '\0')
		req.body = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	free(body);
	agent_api_dispatch(a, &req, &resp);
	json_decref(req.body);
	if (resp.status < 300)
		out = json_pack("{s:o}", "data",
				resp.data != NULL ? resp.data : json_null());
	else
		out = json_pack("{s:{s:s, s:s}}", "error", "code",
				resp.code != NULL ? resp.code : "internal",
				"message", resp.error);
	text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	msg_reply_api(fd, resp.moved ? "moved" : "api", resp.status,
		      text != NULL ? text : "{}", resp.etag);
	free(text);
}

void agent_msg_serve(struct agent *a, int fd, const char *fp)
{
	(void)fp;
	for (;;) {
		char type[8];
		struct msg_in in;
		void *buf;
		size_t len;
		int64_t id;
		int r;

		/* A quiet heartbeat connection is a dead one. */
		if (hxraft_frame_recv(fd, 60000, &buf, &len) < 0)
			return;
		r = msg_in_parse(&in, buf, len);
		if (r < 0 || msg_get_str(&in, "t", type, sizeof(type)) < 0) {
			if (r == 0)
				msg_in_close(&in);
			return;
		}
		if (strcmp(type, "hb") == 0 && msg_get_int(&in, "id", &id) == 0) {
			struct msg_out m;

			char *trust = agent_trust_text(a);

			liveness_beat(a->live, (uint64_t)id, hx_now_ms());
			/* The ack carries the member list, so that every node
			 * trusts a newcomer within a heartbeat, even if the
			 * leader dies right after admitting it. */
			msg_out_init(&m, 2);
			msg_put_str(&m, "t", "ack");
			msg_put_str(&m, "trust", trust != NULL ? trust : "");
			free(trust);
			r = hxraft_frame_send(fd, m.sbuf.data, m.sbuf.size);
			msg_out_close(&m);
		} else if (strcmp(type, "api") == 0) {
			msg_serve_api(a, fd, &in);
			r = 0;
		} else if (strcmp(type, "lease") == 0) {
			agent_ha_serve_lease(a, fd, &in);
			r = 0;
		} else if (strcmp(type, "kick") == 0) {
			vmexec_kick(a->vmx); /* the HA leader moved VMs here */
			r = 0;
		} else if (strcmp(type, "vol") == 0) {
			/* one volume per connection, then it ends */
			(void)vmexec_volume_receive(a->vmx, fd, &in);
			r = -ECONNABORTED;
		} else {
			r = -EINVAL;
		}
		msg_in_close(&in);
		if (r < 0)
			return;
	}
}

/* ---- forwarding (any node) ---- */

int agent_forward(struct agent *a, const char *peer,
		  const struct api_req *req, const char *body,
		  struct agent_fwd_reply *ret, struct hx_err *err)
{
	struct hx_err dial_err = {0};
	char target[80], type[8];
	struct msg_out m;
	struct msg_in in;
	int64_t status;
	void *buf;
	size_t len;
	int fd, r;

	if (peer != NULL) {
		snprintf(target, sizeof(target), "%s", peer);
	} else if (agent_is_leader(a, target, sizeof(target)) ||
		   target[0] == '\0') {
		return hx_err_set(err, -EAGAIN,
				  "no leader to forward the request to");
	}
	r = hxraft_peer_dial(a->peer, target, HXRAFT_SVC_MSG, 3000, &fd,
			     &dial_err);
	if (r < 0)
		return hx_err_set(err, -EAGAIN, "cannot forward to %s %s: %s",
				  peer != NULL ? "node" : "the leader", target,
				  dial_err.msg);
	msg_out_init(&m, 7);
	msg_put_str(&m, "t", "api");
	msg_put_str(&m, "method", req->method);
	msg_put_str(&m, "path", req->path);
	msg_put_str(&m, "query", req->query != NULL ? req->query : "");
	msg_put_str(&m, "body", body);
	msg_put_str(&m, "if_match", req->if_match != NULL ? req->if_match : "");
	msg_put_str(&m, "actor", req->actor);
	r = hxraft_frame_send(fd, m.sbuf.data, m.sbuf.size);
	msg_out_close(&m);
	if (r < 0) {
		/* the leader cannot run a frame it did not get whole */
		close(fd);
		return hx_err_set(err, -EAGAIN, "%s: %s", target,
				  hx_strerror(r));
	}
	r = hxraft_frame_recv(fd, 30000, &buf, &len);
	close(fd);
	if (r < 0)
		return hx_err_set(err, HX_ENOQUORUM, "%s %s: %s",
				  peer != NULL ? "node" : "leader", target,
				  hx_strerror(r));
	r = msg_in_parse(&in, buf, len);
	if (r < 0)
		return hx_err_set(err, HX_EPROTO, "%s sent a bad reply", target);
	ret->body = malloc(1 << 20);
	if (ret->body == NULL ||
	    msg_get_str(&in, "t", type, sizeof(type)) < 0 ||
	    msg_get_int(&in, "status", &status) < 0 ||
	    msg_get_str(&in, "body", ret->body, 1 << 20) < 0) {
		free(ret->body);
		ret->body = NULL;
		msg_in_close(&in);
		return hx_err_set(err, HX_EPROTO, "%s sent a bad reply", target);
	}
	if (msg_get_str(&in, "etag", ret->etag, sizeof(ret->etag)) < 0)
		ret->etag[0] = '\0';
	msg_in_close(&in);
	if (strcmp(type, "moved") == 0) {
		free(ret->body);
		ret->body = NULL;
		return hx_err_set(err, -EAGAIN,
				  "node %s was no longer the leader", target);
	}
	ret->status = (int)status;
	return 0;
}
