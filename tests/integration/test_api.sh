#!/bin/bash
# One real hxd on loopback: init over the control socket, HTTPS with the
# admin token, bad input refused with a clear error and no change.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/hx-int-XXXXXX)
port=$((20000 + RANDOM % 20000))
"$top_builddir/hxd" --data-dir "$work" --name solo --address 127.0.0.1 \
	--api-port "$port" --peer-port $((port + 1)) >"$work/log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null; rc=$?; [ "${fail:-0}" = 0 ] && rm -rf "$work" || { tail -30 "$work/log"; echo "kept $work"; }' EXIT
fail=0
check() { # description, command...
	local d=$1; shift
	if "$@"; then echo "ok - $d"; else echo "not ok - $d"; fail=1; fi
}
hx() { "$top_builddir/hxctl" --data-dir "$work" "$@"; }
sock() { curl -s --unix-socket "$work/hxd.sock" -X "$1" ${3:+-d "$3"} "http://x/api/v1$2"; }
for _ in $(seq 50); do [ -S "$work/hxd.sock" ] && break; sleep 0.1; done

check "uninitialized status" sh -c "hx() { \"$top_builddir/hxctl\" --data-dir $work \"\$@\"; }; hx --json cluster status | jq -e '.initialized == false' >/dev/null"
check "settings refused before init" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock http://x/api/v1/settings | jq -r .error.code)\" = conflict ]"
check "init with a bad name refused" sh -c "! \"$top_builddir/hxctl\" --data-dir $work cluster init --name 'Bad Name' 2>/dev/null"
check "init" sh -c "\"$top_builddir/hxctl\" --data-dir $work cluster init --name itest >/dev/null"
check "second init refused" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X POST -d '{}' http://x/api/v1/cluster/init | jq -r .error.code)\" = conflict ]"
tok=$(cat "$work/admin.token")
H="https://127.0.0.1:$port/api/v1"
C="curl -s --cacert $work/tls/ca.crt"
check "https without token is 401" sh -c "[ \"\$($C -o /dev/null -w '%{http_code}' $H/cluster)\" = 401 ]"
check "https with a wrong token is 401" sh -c "[ \"\$($C -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer hxat_nope' $H/cluster)\" = 401 ]"
check "https with the token" sh -c "$C -H 'Authorization: Bearer $tok' $H/cluster | jq -e '.data.quorum == true and .data.members[0].name == \"solo\"' >/dev/null"
check "init over https is forbidden" sh -c "[ \"\$($C -o /dev/null -w '%{http_code}' -X POST -d '{}' -H 'Authorization: Bearer $tok' $H/cluster/init)\" = 403 ]"
check "unknown path 404" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock http://x/api/v1/nope | jq -r .error.code)\" = not_found ]"
check "wrong method 405" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X DELETE http://x/api/v1/settings | jq -r .error.code)\" = method_not_allowed ]"
before=$(sock GET /settings | jq -c .data)
for body in '{"settings":' '[1]' '{"settings":{"liveness.heartbeat_ms":"fast"}}' \
	'{"settings":{"liveness.heartbeat_ms":5}}' '{"settings":{"nope":1}}' \
	'{"settings":{"tasks.keep":50},"extra":1}' '{"settings":{}}'; do
	check "bad settings body $body is 400" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X PATCH -d '$body' http://x/api/v1/settings | jq -r .error.code)\" = bad_request ]"
done
big=$(head -c 70000 /dev/zero | tr '\0' 'a')
check "oversized body is 413" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -o /dev/null -w '%{http_code}' -X PATCH --data-binary '{\"x\":\"$big\"}' http://x/api/v1/settings)\" = 413 ]"
check "nothing changed by bad input" sh -c "[ '$before' = \"\$(curl -s --unix-socket $work/hxd.sock http://x/api/v1/settings | jq -c .data)\" ]"
d=$(sock GET /settings | jq -r .data.digest)
check "compare-and-set succeeds" sh -c "curl -s --unix-socket $work/hxd.sock -X PATCH -d '{\"settings\":{\"tasks.keep\":50},\"digest\":\"$d\"}' http://x/api/v1/settings | jq -e '.data.settings[\"tasks.keep\"] == 50' >/dev/null"
check "stale digest is 412" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -o /dev/null -w '%{http_code}' -X PATCH -H 'If-Match: \"$d\"' -d '{\"settings\":{\"tasks.keep\":60}}' http://x/api/v1/settings)\" = 412 ]"
check "If-Match * writes whatever the digest" sh -c "curl -s --unix-socket $work/hxd.sock -X PATCH -H 'If-Match: *' -d '{\"settings\":{\"tasks.keep\":55}}' http://x/api/v1/settings | jq -e '.data.settings[\"tasks.keep\"] == 55' >/dev/null"
d=$(sock GET /settings | jq -r .data.digest)
check "weak If-Match tag compares as the digest" sh -c "curl -s --unix-socket $work/hxd.sock -X PATCH -H 'If-Match: W/\"$d\"' -d '{\"settings\":{\"tasks.keep\":56}}' http://x/api/v1/settings | jq -e '.data.settings[\"tasks.keep\"] == 56' >/dev/null"
check "stale weak If-Match is 412" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -o /dev/null -w '%{http_code}' -X PATCH -H 'If-Match: W/\"$d\"' -d '{\"settings\":{\"tasks.keep\":57}}' http://x/api/v1/settings)\" = 412 ]"
nd=$(sock GET /nodes/solo | jq -r .data.digest)
check "node labels compare-and-set succeeds" sh -c "curl -s --unix-socket $work/hxd.sock -X PATCH -d '{\"labels\":{\"rack\":\"a\"},\"digest\":\"$nd\"}' http://x/api/v1/nodes/solo | jq -e '.data.labels.rack == \"a\"' >/dev/null"
check "node labels stale digest is 412 and names both digests" sh -c "curl -s --unix-socket $work/hxd.sock -X PATCH -d '{\"labels\":{\"rack\":\"b\"},\"digest\":\"$nd\"}' http://x/api/v1/nodes/solo | jq -e '.error.code == \"precondition_failed\" and (.error.message | contains(\"$nd\") and contains(\"now \"))' >/dev/null"
check "node labels unchanged by the stale write" sh -c "curl -s --unix-socket $work/hxd.sock http://x/api/v1/nodes/solo | jq -e '.data.labels == {\"rack\": \"a\"}' >/dev/null"
check "node labels: bad key refused" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X PATCH -d '{\"labels\":{\"Bad Key\":\"x\"}}' http://x/api/v1/nodes/solo | jq -r .error.code)\" = bad_request ]"
check "unknown node is 404" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock http://x/api/v1/nodes/ghost | jq -r .error.code)\" = not_found ]"
check "token ttl out of range refused" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X POST -d '{\"ttl\":5}' http://x/api/v1/cluster/tokens | jq -r .error.code)\" = bad_request ]"
check "events recorded" sh -c "curl -s --unix-socket $work/hxd.sock http://x/api/v1/events | jq -e '[.data[].kind] | index(\"cluster.init\") != null' >/dev/null"
# Bad hxd flags: exit 2 with a message naming the flag, nothing started.
for args in "--address nope" "--address 127.0.0.1 --api-port 0" \
	"--address 127.0.0.1 --api-port 99999" "--address 127.0.0.1 --name Bad_Name" \
	"--address 127.0.0.1 --api-port 9000 --peer-port 9000" \
	"--address 127.0.0.1 --data-dir relative" "--address 127.0.0.1 --bogus" "--name x" \
	"--address 127.0.0.1 --accel fast" "--address 127.0.0.1 --images-dir relative/img"; do
	check "hxd $args refused" sh -c "out=\$(\"$top_builddir/hxd\" --data-dir $work/bad $args 2>&1); [ \$? -eq 2 ] && [ -n \"\$out\" ] && [ ! -e $work/bad ]"
done
check "hxd -n accepts a good configuration" sh -c "\"$top_builddir/hxd\" -n --data-dir $work/bad --address 127.0.0.1 | grep -q 'configuration ok'"
# Crash-only: kill -9 and restart loses nothing acknowledged.
kill -9 $pid; wait $pid 2>/dev/null
"$top_builddir/hxd" --data-dir "$work" --name solo --address 127.0.0.1 \
	--api-port "$port" --peer-port $((port + 1)) >>"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s --unix-socket "$work/hxd.sock" http://x/api/v1/settings 2>/dev/null | grep -q tasks.keep && break; sleep 0.1; done
check "acknowledged write survives kill -9" sh -c "curl -s --unix-socket $work/hxd.sock http://x/api/v1/settings | jq -e '.data.settings[\"tasks.keep\"] == 56' >/dev/null"
exit $fail
