#!/bin/bash
# One hxd per data dir: a second hxd on the same directory is refused with
# a message naming the first, and leaves the first one serving; after
# kill -9 of the first, a new one starts although hxd.pid is left behind.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/hx-lock-XXXXXX)
port=$((20000 + RANDOM % 20000))
hxd() { # in a background subshell: exec, so that $! is hxd
	exec "$top_builddir/hxd" --data-dir "$work" --name solo --address 127.0.0.1 \
		--api-port "$port" --peer-port $((port + 1)) "$@"
}
hxd >"$work/log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; [ "$fail" = 0 ] && rm -rf "$work" || { tail -30 "$work/log"; echo "kept $work"; }' EXIT
fail=0
check() { # description, command...
	local d=$1
	shift
	if "$@"; then echo "ok - $d"; else echo "not ok - $d"; fail=1; fi
}
# (jq -e succeeds on empty input: check that there was an answer.)
serving() {
	local out
	out=$(curl -s --max-time 5 --unix-socket "$work/hxd.sock" \
		http://x/api/v1/cluster) && [ -n "$out" ] &&
		jq -e '.data.initialized == false' <<<"$out" >/dev/null
}
# wait_until TRIES INTERVAL CMD...: poll with a hard bound.
wait_until() {
	local tries=$1 interval=$2
	shift 2
	while [ "$tries" -gt 0 ]; do
		"$@" && return 0
		tries=$((tries - 1))
		sleep "$interval"
	done
	return 1
}

check "first hxd serves" wait_until 100 0.1 serving
check "hxd.pid holds its pid" [ "$(cat "$work/hxd.pid")" = "$pid" ]
out=$(timeout 10 "$top_builddir/hxd" --data-dir "$work" --name solo \
	--address 127.0.0.1 --api-port $((port + 2)) \
	--peer-port $((port + 3)) 2>&1)
rc=$?
check "second hxd on the same data dir exits 1 (got $rc)" [ "$rc" = 1 ]
check "and says which hxd holds it" \
	grep -q "another hxd (pid $pid) is running on data dir '$work'" <<<"$out"
check "the first hxd still serves its socket" serving
check "and still owns hxd.pid" [ "$(cat "$work/hxd.pid")" = "$pid" ]
kill -9 "$pid"
wait "$pid" 2>/dev/null
hxd >>"$work/log" 2>&1 &
pid=$!
check "after kill -9 a new hxd starts despite the old hxd.pid" \
	wait_until 100 0.1 serving
check "and records its own pid" [ "$(cat "$work/hxd.pid")" = "$pid" ]
exit $fail
