/*
 * libFuzzer target: the HTTP API as the server sees a request, transport
 * aside: agent_api_http() (limits, authentication, JSON body, routing),
 * the real handlers (agent/handlers.c, agent/vmapi.c) and the VM
 * configuration code behind them, over a small in-memory cluster
 * (tests/fuzz/fuzz_api_fakes.c) instead of statedb, the executor and the
 * peer channel.
 *
 * An input is one or more requests separated by a line "%%", each written
 * like HTTP/1.1 without the version:
 *
 *   PATCH /api/v1/vms/web?x=1&y=%26
 *   If-Match: "d100-0"
 *   X-Fuzz: remote follower forward=409
 *
 *   {"memory_mb": 1024}
 *
 * A PUT of an ISO image goes through the streamed upload hooks
 * (agent_api_upload_begin() and on) with its body in two pieces instead.
 * The query is split and percent-decoded as libmicrohttpd does, then fed
 * through api_query_add(). X-Fuzz steers the fakes: "remote" (TCP client:
 * needs "Authorization: Bearer good-token"), "follower" (this node is not
 * the leader), "uninit" (not in a cluster), "forward=STATUS" (what a
 * forwarded request answers), "fail" (statedb calls fail). The requests of
 * one input share the fake cluster, which starts afresh for each input.
 *
 * Checks beyond the sanitizers: every answer is a JSON object with "data"
 * (2xx) or "error" {"code", "message"}, with a status in 200-599 and a
 * known error code, and api_query() finds every parameter with the value
 * that was sent.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/agent.h"
#include "fuzz_api.h"

#define FUZZ_MAX_REQUESTS 8
#define FUZZ_MAX_PARAMS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decoding in place, '+' as a space (as libmicrohttpd does for
 * query arguments). */
static void unescape(char *s, bool plus)
{
	char *w = s;

	for (char *r = s; *r != '\0'; r++) {
		if (*r == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
			*w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
			r += 2;
		} else {
			*w++ = plus && *r == '+' ? ' ' : *r;
		}
	}
	*w = '\0';
}

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_api: %s: %s\n", what, detail);
	abort();
}

static void check_answer(const struct api_http_resp *out)
{
	static const char *const codes[] = {
		"bad_request", "unauthorized", "forbidden", "not_found",
		"method_not_allowed", "conflict", "precondition_failed",
		"too_large", "unavailable", "internal"};
	json_t *j, *e;
	const char *code;
	bool known = false;

	if (out->body == NULL)
		return; /* out of memory */
	if (out->status < 200 || out->status > 599)
		fail("status out of range", out->body);
	j = json_loads(out->body, 0, NULL);
	if (!json_is_object(j))
		fail("answer is not a JSON object", out->body);
	if (out->status < 300) {
		if (json_object_get(j, "data") == NULL)
			fail("2xx answer without data", out->body);
	} else {
		e = json_object_get(j, "error");
		code = json_string_value(json_object_get(e, "code"));
		for (size_t i = 0; code != NULL && i < HX_FUZZ_NELEM(codes); i++)
			known = known || strcmp(code, codes[i]) == 0;
		if (!known ||
		    !json_is_string(json_object_get(e, "message")))
			fail("error answer without a known code and a message",
			     out->body);
	}
	json_decref(j);
}

/* Builds the query string from "k=v&k2" like the server, and checks that
 * api_query() gives each parameter back as it was sent. */
static const char *build_query(char *raw, char *q, size_t qlen)
{
	char *keys[FUZZ_MAX_PARAMS], *vals[FUZZ_MAX_PARAMS], *save, *p;
	struct api_req req = {0};
	unsigned n = 0;
	bool overflow = false;

	q[0] = '\0';
	for (p = strtok_r(raw, "&", &save); p != NULL && n < FUZZ_MAX_PARAMS;
	     p = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(p, '=');

		if (eq != NULL)
			*eq = '\0';
		unescape(p, true);
		if (eq != NULL)
			unescape(eq + 1, true);
		keys[n] = p;
		vals[n] = eq != NULL ? eq + 1 : NULL;
		if (api_query_add(q, qlen, keys[n], vals[n]) < 0)
			overflow = true;
		n++;
	}
	if (overflow)
		return NULL;
	req.query = q;
	for (unsigned i = 0; i < n; i++) {
		char got[1100];
		bool first = true;

		for (unsigned k = 0; k < i; k++)
			first = first && strcmp(keys[k], keys[i]) != 0;
		if (!first || keys[i][0] == '\0')
			continue;
		const char *want = vals[i] != NULL ? vals[i] : "";
		int r;

		if (api_query(&req, keys[i], got, sizeof(got)) != 1 ||
		    strcmp(got, want) != 0)
			fail("api_query() does not give back parameter",
			     keys[i]);
		/* too small a buffer: an error, never a truncated value */
		r = api_query(&req, keys[i], got, 8);
		if (r == 1 ? strcmp(got, want) != 0
			   : r != -EINVAL || strlen(want) < 8)
			fail("api_query() with a small buffer", keys[i]);
	}
	return q;
}

static void steer(const char *v, struct fuzz_api_world *w, bool *local)
{
	const char *f;

	*local = strstr(v, "remote") == NULL;
	w->follower = strstr(v, "follower") != NULL;
	w->uninit = strstr(v, "uninit") != NULL;
	w->fail = strstr(v, "fail") != NULL;
	if ((f = strstr(v, "forward=")) != NULL)
		w->forward_status = atoi(f + 8);
}

/* Runs @in as the HTTP server does: a streamed upload (its body in two
 * pieces) or a buffered request. */
static void run_http(const struct api_http_req *in, struct api_http_resp *out)
{
	struct api_upload *up;
	size_t half = in->body_len / 2;

	if (!agent_api_upload_begin(fuzz_api_agent(), in, &up)) {
		agent_api_http(fuzz_api_agent(), in, out);
		return;
	}
	if (half > 0)
		agent_api_upload_data(up, in->body, half);
	if (in->body_len > half)
		agent_api_upload_data(up, in->body + half, in->body_len - half);
	agent_api_upload_end(fuzz_api_agent(), up, out);
}

/* Runs one request written as described at the top; @text is modified. */
static void run_request(char *text, size_t len)
{
	char *line, *next, *url, *method, *query = NULL, q[1024];
	struct api_http_req in = {0};
	struct api_http_resp out = {0};
	bool local = true;
	char *body, *copy = NULL;

	body = memmem(text, len, "\n\n", 2);
	if (body != NULL) {
		*body = '\0';
		body += 2;
		in.body = body;
		in.body_len = len - (size_t)(body - text);
	}
	next = strchr(text, '\n');
	if (next != NULL)
		*next++ = '\0';
	method = text;
	url = strchr(text, ' ');
	if (url == NULL)
		return;
	*url++ = '\0';
	if ((query = strchr(url, '?')) != NULL)
		*query++ = '\0';
	unescape(url, false);
	for (line = next; line != NULL; line = next) {
		char *colon;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		colon += strspn(colon + 1, " ") + 1;
		if (strcasecmp(line, "If-Match") == 0)
			in.if_match = colon;
		else if (strcasecmp(line, "Authorization") == 0)
			in.authorization = colon;
		else if (strcasecmp(line, "Content-Length") == 0)
			in.content_length = colon;
		else if (strcasecmp(line, "X-Fuzz") == 0)
			steer(colon, fuzz_api_world(), &local);
	}
	in.method = method;
	in.url = url;
	in.local = local;
	in.query = query != NULL ? build_query(query, q, sizeof(q)) : "";
	/* Bodies of the other requests follow in the same buffer: copy this
	 * one so that ASan sees reads past its end. */
	if (in.body_len > 0) {
		if ((copy = malloc(in.body_len)) == NULL)
			return;
		memcpy(copy, in.body, in.body_len);
		in.body = copy;
	}
	run_http(&in, &out);
	free(copy);
	if (getenv("FUZZ_VERBOSE") != NULL)
		fprintf(stderr, "%s %s -> %d %s\n", method, url, out.status,
			out.body != NULL ? out.body : "(null)");
	check_answer(&out);
	free(out.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *p, *end;
	unsigned n = 0;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_api_reset();
	p = text;
	end = text + size;
	while (p < end && n++ < FUZZ_MAX_REQUESTS) {
		char *sep = memmem(p, (size_t)(end - p), "\n%%\n", 4);
		size_t len = sep != NULL ? (size_t)(sep - p) : (size_t)(end - p);

		p[len] = '\0';
		run_request(p, len);
		p += len + (sep != NULL ? 4 : 0);
	}
	free(text);
	return 0;
}
