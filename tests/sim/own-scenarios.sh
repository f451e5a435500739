#!/bin/bash
# Our own scenarios (tests/sim/scenarios, same format as the Proxmox ones)
# through tests/sim/scenarios.sh: fence agents, hung agents, ordering,
# soft rules, priorities, losing the leader together with another node.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
HX_HA_SCENARIOS=$top_srcdir/tests/sim/scenarios \
	exec "$top_srcdir/tests/sim/scenarios.sh" "$@"
