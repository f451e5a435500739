/*
 * Unit tests of the HTTP API without a socket (agent/api.c through
 * agent_api_http()), over the fake cluster of the api fuzz target
 * (tests/fuzz/fuzz_api_fakes.c). Each test pins a bug the fuzzer found.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/agent.h"
#include "lib/lib.h"
#include "tests/fuzz/fuzz_api.h"

/* Runs one local request; returns the status, the parsed answer in *ret. */
static int call(const char *method, const char *url, const char *query,
		const char *body, json_t **ret)
{
	struct api_http_req in = {
		.method = method,
		.url = url,
		.query = query,
		.body = body,
		.body_len = body != NULL ? strlen(body) : 0,
		.local = true,
	};
	struct api_http_resp out = {0};

	agent_api_http(fuzz_api_agent(), &in, &out);
	assert_non_null(out.body);
	*ret = json_loads(out.body, 0, NULL);
	assert_non_null(*ret);
	free(out.body);
	return out.status;
}

static int setup(void **state)
{
	(void)state;
	fuzz_api_reset();
	return 0;
}

/* A forwarded request whose answer has a status HTTP cannot carry (the
 * other node's reply is passed on) used to be sent as is: 100, -1... */
static void test_forward_status_out_of_range(void **state)
{
	static const int bad[] = {100, -1, 199, 600, 99999};
	json_t *j;

	(void)state;
	fuzz_api_world()->follower = true;
	for (size_t i = 0; i < HX_FUZZ_NELEM(bad); i++) {
		fuzz_api_world()->forward_status = bad[i];
		assert_int_equal(call("GET", "/api/v1/nodes/n1", "", NULL, &j),
				 500);
		assert_string_equal(json_string_value(json_object_get(
					    json_object_get(j, "error"), "code")),
				    "internal");
		json_decref(j);
	}
	fuzz_api_world()->forward_status = 404;
	assert_int_equal(call("GET", "/api/v1/nodes/n1", "", NULL, &j), 404);
	json_decref(j);
}

/* "?name=a%26state%3Dstopped" is one parameter whose value holds '&' and
 * '=': it used to come back from api_query() as name "a" plus a smuggled
 * "state=stopped". */
static void test_query_keeps_escaped_separators(void **state)
{
	struct api_req req = {0};
	char q[1024] = "", buf[64];

	(void)state;
	assert_int_equal(api_query_add(q, sizeof(q), "name", "a&state=stopped"),
			 0);
	assert_int_equal(api_query_add(q, sizeof(q), "k%26=", "100%"), 0);
	assert_int_equal(api_query_add(q, sizeof(q), "flag", NULL), 0);
	req.query = q;
	assert_int_equal(api_query(&req, "name", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "a&state=stopped");
	assert_int_equal(api_query(&req, "state", buf, sizeof(buf)), 0);
	assert_int_equal(api_query(&req, "k%26=", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "100%");
	assert_int_equal(api_query(&req, "flag", buf, sizeof(buf)), 1);
	assert_string_equal(buf, "");
	assert_int_equal(api_query(&req, "k", buf, sizeof(buf)), 0);
}

/* A value longer than the caller's buffer used to be cut silently: a
 * 64-character name filter matched the VM named by its first 63. */
static void test_query_value_too_long(void **state)
{
	char name[64], filter[66], q[1024] = "", body[200];
	struct api_req req = {0};
	json_t *j;

	(void)state;
	memset(name, 'a', 63);
	name[63] = '\0';
	snprintf(body, sizeof(body), "{\"vmid\":500,\"name\":\"%s\"}", name);
	assert_int_equal(call("POST", "/api/v1/vms", "", body, &j), 202);
	json_decref(j);
	snprintf(filter, sizeof(filter), "%sb", name);
	assert_int_equal(api_query_add(q, sizeof(q), "name", filter), 0);
	req.query = q;
	assert_int_equal(api_query(&req, "name", name, sizeof(name)), -EINVAL);
	assert_int_equal(call("GET", "/api/v1/vms", q, NULL, &j), 400);
	json_decref(j);
	/* the exact name still filters */
	q[0] = '\0';
	memset(name, 'a', 63);
	assert_int_equal(api_query_add(q, sizeof(q), "name", name), 0);
	assert_int_equal(call("GET", "/api/v1/vms", q, NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
	json_decref(j);
}

/* A query string that does not fit used to be cut at 1 KiB, possibly in
 * the middle of a value ("limit=1000" read as "limit=10"). */
static void test_query_string_too_long(void **state)
{
	char q[32] = "";
	json_t *j;

	(void)state;
	assert_int_equal(api_query_add(q, sizeof(q), "a", "0123456789"), 0);
	assert_int_equal(
		api_query_add(q, sizeof(q), "limit", "10000000000000000000"),
		-E2BIG);
	assert_string_equal(q, "a=0123456789"); /* no half pair */
	/* fits unescaped, not escaped */
	assert_int_equal(api_query_add(q, sizeof(q), "b", "&&&&&&"), -E2BIG);
	assert_string_equal(q, "a=0123456789");
	assert_int_equal(call("GET", "/api/v1/tasks", NULL, NULL, &j), 414);
	json_decref(j);
}

/* Merging the storage branch put -ENOSPC under two statuses (409 for
 * "no node fits" or "no free address", 507 for a full pool): a full pool
 * has its own code now. */
static void test_no_space_statuses(void **state)
{
	struct api_resp resp = {0};
	struct hx_err err = {0};

	(void)state;
	hx_err_set(&err, -ENOSPC, "no free VMID left");
	api_error_from(&resp, &err);
	assert_int_equal(resp.status, 409);
	assert_string_equal(resp.code, "conflict");
	hx_err_set(&err, HX_ENOSPACE, "pool 'p' has 1 bytes free, not 2");
	api_error_from(&resp, &err);
	assert_int_equal(resp.status, 507);
	assert_string_equal(resp.code, "insufficient_storage");
}

/* Runs a streamed upload through the hooks; the body in one piece. */
static int upload(const char *url, const char *query, const char *auth,
		  bool local, json_t **ret)
{
	struct api_http_req in = {
		.method = "PUT",
		.url = url,
		.query = query,
		.authorization = auth,
		.local = local,
	};
	struct api_http_resp out = {0};
	struct api_upload *up;

	if (!agent_api_upload_begin(fuzz_api_agent(), &in, &up))
		return 0;
	agent_api_upload_data(up, "ISO", 3);
	agent_api_upload_end(fuzz_api_agent(), up, &out);
	assert_non_null(out.body);
	*ret = json_loads(out.body, 0, NULL);
	assert_non_null(*ret);
	free(out.body);
	return out.status;
}

/* Only a PUT of /storage/pools/POOL/iso/NAME streams; it is refused
 * without a token, with a query that did not fit and outside a cluster
 * before storage sees it (storage refuses every upload in this world:
 * 501). */
static void test_upload_hooks(void **state)
{
	const char *iso = "/api/v1/storage/pools/isos/iso/x.iso";
	json_t *j = NULL;

	(void)state;
	assert_int_equal(upload("/api/v1/storage/pools/isos/iso", "", NULL,
				true, &j),
			 0);
	assert_int_equal(upload("/api/v1/vms/100", "", NULL, true, &j), 0);
	assert_int_equal(upload(iso, "sha256=00", NULL, false, &j), 401);
	json_decref(j);
	assert_int_equal(upload(iso, "sha256=00", "Bearer wrong", false, &j),
			 401);
	json_decref(j);
	assert_int_equal(upload(iso, NULL, NULL, true, &j), 414);
	json_decref(j);
	assert_int_equal(upload(iso, "sha256=00", "Bearer good-token", false,
				&j),
			 501);
	json_decref(j);
	fuzz_api_world()->uninit = true;
	assert_int_equal(upload(iso, "sha256=00", NULL, true, &j), 409);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_forward_status_out_of_range, setup),
		cmocka_unit_test_setup(test_query_keeps_escaped_separators,
				       setup),
		cmocka_unit_test_setup(test_query_value_too_long, setup),
		cmocka_unit_test_setup(test_query_string_too_long, setup),
		cmocka_unit_test_setup(test_no_space_statuses, setup),
		cmocka_unit_test_setup(test_upload_hooks, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
