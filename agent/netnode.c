/*
 * One reconcile of the node's network: inputs from statedb, desired state
 * from net/, applied to this node's kernel.
 */
#include <errno.h>

#include "agent/net.h"
#include "lib/lib.h"

int netexec_reconcile(struct agent *a, struct hx_err *err)
{
	(void)a;
	(void)err;
	return 0;
}
