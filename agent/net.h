/* agent/net.h: the networking API and the node's network executor. */
#ifndef HX_AGENT_NET_H
#define HX_AGENT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "net/net.h"

struct hx_err;

/* ---- API helpers (netapi.c) ---- */

/* Reads body field @key into @buf; false (response set to a 400) if it
 * is missing while @required, not a string, or too long. */
bool netapi_str(struct api_req *req, struct api_resp *resp, const char *key,
		bool required, char *buf, size_t len);
/* Reads an optional integer field in [min, max] into *@ret (left alone
 * when absent); false (400) otherwise. */
bool netapi_int(struct api_req *req, struct api_resp *resp, const char *key,
		int64_t min, int64_t max, int64_t *ret);
/* Reads an optional boolean field. */
bool netapi_bool(struct api_req *req, struct api_resp *resp, const char *key,
		 bool *ret);

/* ---- executor (netexec.c) ---- */

/*
 * The node's network reconciler: a thread that renders this node's
 * bridges, VXLAN devices, tap ports and firewall from statedb whenever
 * statedb_net_fingerprint() changes (polled every second) or it is kicked,
 * and applies what differs. Idempotent: applying twice changes nothing.
 */
struct netexec;

int netexec_start(struct agent *a, struct netexec **ret, struct hx_err *err);
void netexec_stop(struct netexec *x);
/* Wakes this node's reconciler now (after a local API write). Thread-safe;
 * does nothing before the executor runs. */
void netexec_kick(struct agent *a);

/* One reconcile of this node's network (netnode.c): reads statedb,
 * renders, applies what differs. Executor thread only. */
int netexec_reconcile(struct agent *a, struct hx_err *err);

#endif /* HX_AGENT_NET_H */
