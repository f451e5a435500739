#!/bin/bash
# Networking figures for docs/benchmarks.md (root, a build without
# sanitizers; not a test). Firewall: bench_fw renders and applies a
# 1,000-VM, 10,000-rule ruleset in a private network namespace, then a
# one-rule change. IPAM: a 3-node cluster in network namespaces;
# bench_ipam allocates through all three nodes' APIs at once.
# Knobs: BENCH_REPEAT runs per figure (5), BENCH_THREADS clients per node
# (8), BENCH_REQUESTS per client (50).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
export top_builddir
REPEAT=${BENCH_REPEAT:-5}
THREADS=${BENCH_THREADS:-8}
REQUESTS=${BENCH_REQUESTS:-50}
B="$top_builddir/tests/bench"
for p in "$B/bench_fw" "$B/bench_ipam" "$top_builddir/hxd"; do
	[ -x "$p" ] || { echo "bench: $p missing (make)"; exit 1; }
done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/bench_fw" --vms 1000 --rules 10 --runs "$REPEAT" || exit 1
"$B/bench_fw" --vms 100 --rules 10 --runs "$REPEAT" || exit 1

HX_TEST=benchnet
. "$top_srcdir/tests/cluster/lib.sh"
leader_idx() { local l; l=$(leader_of "$1") && [ -n "$l" ] && echo "${l#n}"; }
net_create 3
cluster_form 3
wait_until 60 0.5 members_with online 3 1 || fail "not all online"
hx 1 net zone-create lan --type simple >/dev/null || fail "zone"
rates=""
for r in $(seq 1 "$REPEAT"); do
	hx 1 net vnet-create "p$r" --zone lan >/dev/null || fail "vnet"
	hx 1 net subnet-create "p$r" "10.$((100 + r)).0.0/16" >/dev/null || fail "subnet"
	out=$("$B/bench_ipam" --vnet "p$r" --threads "$THREADS" \
		--requests "$REQUESTS" --sock "$(dir_of 1)/hxd.sock" \
		--sock "$(dir_of 2)/hxd.sock" --sock "$(dir_of 3)/hxd.sock") ||
		fail "bench_ipam: $out"
	echo "ipam run $r: $out"
	rates="$rates $(tr ' ' '\n' <<<"$out" | sed -n 's/^rate=//p')"
done
hx 1 net vnet-create solo --zone lan >/dev/null || fail "vnet"
hx 1 net subnet-create solo 10.99.0.0/16 >/dev/null || fail "subnet"
out=$("$B/bench_ipam" --vnet solo --threads "$THREADS" --requests "$REQUESTS" \
	--sock "$(dir_of "$(leader_idx 1)")/hxd.sock") || fail "bench_ipam: $out"
echo "ipam through the leader only: $out"
echo "ipam: median rate $(tr ' ' '\n' <<<"$rates" | grep . | sort -g |
	awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }') allocations/s over $REPEAT runs"
exit 0
