/*
 * libFuzzer target: peer messages. The first input byte picks:
 *
 *  - MSG service: the rest is what a cluster member sends on a MSG
 *    connection (length-prefixed frames, raft/peer.c, of msgpack maps,
 *    agent/msg.c), served by the real agent_msg_serve() (agent/liveness.c:
 *    heartbeats, forwarded API requests, volume headers) until the stream
 *    ends; then each reply must be one frame holding a msgpack map with
 *    a string "t".
 *  - accessors: the rest is one msgpack message, read with every accessor
 *    the agent uses on join requests and replies, heartbeats and forwarded
 *    requests, with buffers of several sizes: a string read back must fit
 *    its buffer and hold no NUL.
 *
 * The API dispatcher, membership and the VM executor are fakes here: the
 * fake dispatcher echoes what it was given, so the reply path sees the
 * forwarded request's fields again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/ha.h"
#include "agent/msg.h"
#include "agent/vm.h"
#include "lib/lib.h"
#include "raft/raft.h"
#include "statedb/statedb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_msg: %s\n", what);
	abort();
}

/* ---- fakes for what agent_msg_serve() calls ---- */

static struct agent agent;

void agent_api_dispatch(struct agent *a, struct api_req *req,
			struct api_resp *resp)
{
	char x[64];
	int r = api_query(req, "x", x, sizeof(x));

	(void)a;
	if (!req->forwarded)
		fail("a request from the MSG service is not marked forwarded");
	if (strcmp(req->method, "DELETE") == 0) {
		resp->status = 404;
		resp->code = "not_found";
		snprintf(resp->error, sizeof(resp->error), "no '%s'",
			 req->path);
		return;
	}
	resp->status = 200;
	snprintf(resp->etag, sizeof(resp->etag), "%s",
		 req->if_match != NULL ? req->if_match : "");
	resp->data = json_pack("{s:s, s:s, s:s, s:o, s:s}", "method",
			       req->method, "path", req->path, "x",
			       r > 0 ? x : "", "body",
			       req->body != NULL ? json_incref(req->body)
						 : json_null(),
			       "actor", req->actor);
}

int api_query(const struct api_req *req, const char *key, char *buf,
	      size_t len)
{
	const char *p = strstr(req->query, key);

	(void)len;
	if (p == NULL)
		return 0;
	snprintf(buf, len, "%s", p);
	return 1;
}

bool agent_is_leader(struct agent *a, char *leader, size_t len)
{
	(void)a;
	if (leader != NULL && len > 0)
		leader[0] = '\0';
	return true;
}

bool agent_is_leader_local(struct agent *a, char *leader, size_t len)
{
	return agent_is_leader(a, leader, len);
}

char *agent_trust_text(struct agent *a)
{
	(void)a;
	return strdup("0123abcd 10.0.0.1:8007\n");
}

void agent_trust_apply(struct agent *a, char *text)
{
	(void)a;
	free(text);
}

int statedb_leader_of(struct statedb *db, const char *address,
		      uint64_t *ret_id, char *ret_address, size_t len,
		      struct hx_err *err)
{
	(void)db, (void)address, (void)ret_address, (void)len;
	*ret_id = 0;
	return hx_err_set(err, HX_ENOQUORUM, "fake");
}

/* The real one decodes the request like this, then asks the leader's
 * lease table (agent/halease.c), which is not in this fuzz world. */
void agent_ha_serve_lease(struct agent *a, int fd, const struct msg_in *in)
{
	char name[64], mode[16];

	(void)a, (void)fd;
	if (msg_get_str(in, "name", name, sizeof(name)) == 0)
		(void)msg_get_str(in, "mode", mode, sizeof(mode));
}

void vmexec_kick(struct vmexec *x)
{
	(void)x;
}

/* The real one decodes the header, then checks the VM in statedb. */
int vmexec_volume_receive(struct vmexec *x, int fd, const struct msg_in *hdr)
{
	char source[64], volume[512];
	int64_t vmid, size;

	(void)x, (void)fd;
	if (msg_get_int(hdr, "vmid", &vmid) < 0 ||
	    msg_get_int(hdr, "size", &size) < 0 ||
	    msg_get_str(hdr, "source", source, sizeof(source)) < 0 ||
	    msg_get_str(hdr, "volume", volume, sizeof(volume)) < 0)
		return -EINVAL;
	return 0;
}

/* ---- MSG service ---- */

/* Reads and checks the server's replies until it closed. */
static void drain(int fd)
{
	for (;;) {
		struct msg_in in;
		char t[16];
		void *buf;
		size_t len;

		if (hxraft_frame_recv(fd, 1000, &buf, &len) < 0)
			break;
		if (msg_in_parse(&in, buf, len) < 0)
			fail("a reply is not a msgpack map");
		if (msg_get_str(&in, "t", t, sizeof(t)) < 0)
			fail("a reply has no type");
		msg_in_close(&in);
	}
}

static void fuzz_serve(const uint8_t *p, size_t n)
{
	int sv[2];

	/* The input is written ahead and the replies read afterwards: both
	 * must fit the socket buffers (about 200 KiB each way). A frame
	 * costs at least 5 bytes and its reply at most about 200 more than
	 * the frame itself. */
	if (n > 8192)
		n = 8192;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (n > 0 && send(sv[1], p, n, MSG_NOSIGNAL | MSG_DONTWAIT) !=
			     (ssize_t)n)
		abort();
	(void)shutdown(sv[1], SHUT_WR);
	agent_msg_serve(&agent, sv[0], "fingerprint");
	close(sv[0]);
	drain(sv[1]);
	close(sv[1]);
}

/* ---- accessors ---- */

static void check_str(const struct msg_in *in, const char *key, size_t len)
{
	char *buf = malloc(len);

	if (buf == NULL)
		return;
	if (msg_get_str(in, key, buf, len) == 0 &&
	    strnlen(buf, len) >= len)
		fail("a string read back does not fit its buffer");
	free(buf);
}

static void fuzz_accessors(const uint8_t *p, size_t n)
{
	static const char *const keys[] = {
		"t",	     "secret", "name",	  "address", "peer",
		"arch",	     "id",     "cluster", "ca_cert", "ca_key",
		"cert",	     "key",    "message", "code",    "trust",
		"method",    "path",   "query",	  "body",    "if_match",
		"actor",     "status", "etag",	  "vmid",    "size",
		"source",    "volume", "schema",  "api_port", "cpus",
		"memory_mb", "error"};
	static const size_t sizes[] = {1, 2, 8, 16, 64, 65, 80, 256, 4096};
	char members[8][80];
	struct msg_in in;
	unsigned got;
	void *buf = malloc(n > 0 ? n : 1);
	int64_t v;

	if (buf == NULL)
		return;
	memcpy(buf, p, n);
	if (msg_in_parse(&in, buf, n) < 0)
		return; /* buf freed */
	for (size_t i = 0; i < HX_ARRAY_SIZE(keys); i++) {
		for (size_t k = 0; k < HX_ARRAY_SIZE(sizes); k++)
			check_str(&in, keys[i], sizes[k]);
		(void)msg_get_int(&in, keys[i], &v);
		(void)msg_int_or(&in, keys[i], -1);
	}
	/* What msgpack writes itself is always taken back. */
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;
		struct msg_in again;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_object(&pk, *in.root);
		if (msg_in_parse(&again, sb.data, sb.size) < 0)
			fail("msgpack's own encoding of a message is refused");
		sb.data = NULL; /* owned by again, freed below */
		msg_in_close(&again);
		msgpack_sbuffer_destroy(&sb);
	}
	for (unsigned col = 0; col < 2; col++) {
		msg_members(&in, col, members[0], sizeof(members[0]),
			    HX_ARRAY_SIZE(members), &got);
		if (got > HX_ARRAY_SIZE(members))
			fail("msg_members() counted past its room");
	}
	msg_in_close(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (agent.cfg.name[0] == '\0') {
		snprintf(agent.cfg.name, sizeof(agent.cfg.name), "n1");
		agent.live = liveness_new();
		agent.hb_fd = -1;
	}
	if (data[0] % 2 == 0)
		fuzz_serve(data + 1, size - 1);
	else
		fuzz_accessors(data + 1, size - 1);
	return 0;
}
