/* tests/fuzz: the fake cluster behind the API fuzz target. */
#ifndef HX_TESTS_FUZZ_API_H
#define HX_TESTS_FUZZ_API_H

#include <stdbool.h>

struct agent;

#define HX_FUZZ_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* What the input steers (X-Fuzz header). */
struct fuzz_api_world {
	bool follower;	    /* this node is not the leader */
	bool uninit;	    /* this node is not in a cluster */
	bool fail;	    /* every statedb call fails (no quorum) */
	int forward_status; /* answer of forwarded requests (0: 200) */
};

/* Starts a fresh fake cluster: nodes n1 (this one) and n2, VMs 100 "web"
 * on n1 and 101 "db" on n2, a few tasks and events. */
void fuzz_api_reset(void);
struct fuzz_api_world *fuzz_api_world(void);
/* This node's agent (owned by the fakes). */
struct agent *fuzz_api_agent(void);

#endif /* HX_TESTS_FUZZ_API_H */
