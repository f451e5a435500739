#!/bin/bash
# Two real hxd on loopback (127.0.0.1 and .2): a bad token is refused with
# exit status 6, a good one joins, and the join reports the cluster and the
# role the leader gave the new node.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/hx-join-XXXXXX)
port=$((20000 + RANDOM % 20000))
pids=()
fail=0
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; [ "$fail" = 0 ] && rm -rf "$work" || { tail -n 20 "$work"/*/log; echo "kept $work"; }' EXIT
# start NAME IP: hxd on IP (loopback) with data dir $work/NAME.
start() {
	mkdir -p "$work/$1"
	"$top_builddir/hxd" --data-dir "$work/$1" --name "$1" \
		--address "$2" --api-port "$port" --peer-port $((port + 1)) \
		>>"$work/$1/log" 2>&1 &
	pids+=($!)
}
hx() {
	local n=$1
	shift
	"$top_builddir/hxctl" --data-dir "$work/$n" "$@"
}
check() { # description, command...
	local d=$1
	shift
	if "$@"; then echo "ok - $d"; else echo "not ok - $d"; fail=1; fi
}
# wait_until TRIES INTERVAL CMD...: poll with a hard bound.
wait_until() {
	local tries=$1 interval=$2
	shift 2
	while [ "$tries" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		tries=$((tries - 1))
		sleep "$interval"
	done
	return 1
}

start a 127.0.0.1
start b 127.0.0.2
check "both nodes serve their sockets" \
	wait_until 100 0.1 sh -c "test -S $work/a/hxd.sock && test -S $work/b/hxd.sock"
check "init on a" sh -c "\"$top_builddir/hxctl\" --data-dir $work/a cluster init --name itj >/dev/null"
hx b cluster join "127.0.0.1:$((port + 1))" hxjt_bogus >/dev/null 2>&1
rc=$?
check "a malformed token is refused with exit status 6 (got $rc)" [ "$rc" = 6 ]
tok=$(hx a cluster token)
out=$(hx b cluster join "127.0.0.1:$((port + 1))" - <<<"$tok" 2>&1)
rc=$?
check "join succeeds (exit $rc: $out)" [ "$rc" = 0 ]
check "join names the cluster and the role" \
	[ "$out" = "Joined cluster 'itj' through 127.0.0.1:$((port + 1)) as 'b' (voter)." ]
status=$(hx b --json cluster status)
two_voters() {
	jq -e '[.members[] | select(.role == "voter")] | length == 2' \
		<<<"${status:-null}" >/dev/null
}
check "b sees two voters" two_voters
exit $fail
