# Cluster test harness: N hxd nodes in network namespaces on one bridge.
#
# Each node is namespace hx-<test>-<n> with a veth into the bridge namespace
# hx-<test>-br, address 10.<net>.0.<n>/24, its own data dir and log. No
# default route: tests can only reach addresses inside these namespaces.
# A trap kills the agents and deletes the namespaces; logs are kept on
# failure. Skips (exit 77) when not root.

set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }

HX_TEST=${HX_TEST:-$(basename "$0" .sh)}
HX_TEST=${HX_TEST//_/-}
HX_TEST=${HX_TEST:0:8}
HX_NET=${HX_NET:-$((100 + RANDOM % 100))}
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
HXD="$top_builddir/hxd"
HXCTL="$top_builddir/hxctl"
HX_WORK=$(mktemp -d /tmp/hx-cluster-XXXXXX)
HX_FAILED=0
HX_NODES=0

ns() { echo "hx-$HX_TEST-$HX_NET-$1"; }
ip_of() { echo "10.$HX_NET.0.$1"; }
dir_of() { echo "$HX_WORK/n$1"; }

log() { echo "# $(date +%T.%N | cut -c1-12) $*"; }

fail() {
	echo "FAIL: $*"
	HX_FAILED=1
	exit 1
}

cleanup() {
	local rc=$?
	for i in $(seq 1 "$HX_NODES"); do
		node_kill "$i" 2>/dev/null
		# Whatever the node started and nobody stopped (its DHCP
		# servers, for one) dies with it, not after the test.
		ip netns pids "$(ns "$i")" 2>/dev/null | xargs -r kill -9 2>/dev/null
		cgroup_remove "$i"
		ip netns del "$(ns "$i")" 2>/dev/null
	done
	ip netns del "$(ns br)" 2>/dev/null
	if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
		for f in "$HX_WORK"/n*/hxd.log; do
			[ -f "$f" ] || continue
			echo "----- $f (last 40 lines)"
			tail -n 40 "$f"
		done
		echo "logs kept in $HX_WORK"
	else
		rm -rf "$HX_WORK"
	fi
	exit $rc
}
trap cleanup EXIT

# net_create N: the bridge namespace and N node namespaces.
net_create() {
	local i
	ip netns add "$(ns br)" || fail "cannot create namespaces"
	ip netns exec "$(ns br)" ip link add br0 type bridge
	ip netns exec "$(ns br)" ip link set br0 up
	for i in $(seq 1 "$1"); do net_add_node "$i"; done
}

# net_add_node I: namespace, veth into the bridge, address, data dir.
net_add_node() {
	local i=$1
	[ "$i" -gt "$HX_NODES" ] && HX_NODES=$i
	ip netns add "$(ns "$i")" || fail "cannot create namespace $i"
	ip link add "v$HX_NET-$i" type veth peer name eth0 netns "$(ns "$i")"
	ip link set "v$HX_NET-$i" netns "$(ns br)"
	ip netns exec "$(ns br)" ip link set "v$HX_NET-$i" master br0 up
	ip netns exec "$(ns "$i")" ip addr add "$(ip_of "$i")/24" dev eth0
	ip netns exec "$(ns "$i")" ip link set eth0 up
	ip netns exec "$(ns "$i")" ip link set lo up
	mkdir -p "$(dir_of "$i")"
}

# Optional per-node cgroups (HX_CGROUPS=1): hxd and the node's libvirtd
# (with its QEMUs) run in cgroup node_cgroup I, so that a test can kill
# or freeze a whole node at once (cgroup.kill, cgroup.freeze), and an
# emulated watchdog (tests/tools/hx-wdog-emu) can reset it. A process is
# moved into the cgroup before `ip netns exec`, which hides /sys/fs/cgroup.
node_cgroup() { echo "/sys/fs/cgroup/unified/hx-$HX_TEST-$HX_NET-$1"; }

# cg_exec I CMD...: exec CMD in node I's cgroup (or as is without
# HX_CGROUPS). Replaces the calling shell: use it in a background job.
cg_exec() {
	local i=$1 cg
	shift
	if [ -n "${HX_CGROUPS:-}" ]; then
		cg=$(node_cgroup "$i")
		mkdir -p "$cg" || fail "cannot create cgroup $cg"
		echo $BASHPID >"$cg/cgroup.procs" || fail "cannot enter $cg"
	fi
	exec "$@"
}

# cgroup_kill I: kill every process of node I at once, like a power cut.
cgroup_kill() {
	local cg
	cg=$(node_cgroup "$1")
	[ -d "$cg" ] && echo 1 >"$cg/cgroup.kill"
}

# cgroup_remove I: kill what is left in node I's cgroup and remove it.
cgroup_remove() {
	local cg
	cg=$(node_cgroup "$1")
	[ -d "$cg" ] || return 0
	echo 1 >"$cg/cgroup.kill" 2>/dev/null
	for _ in $(seq 50); do
		[ -z "$(cat "$cg/cgroup.procs" 2>/dev/null)" ] && break
		sleep 0.1
	done
	rmdir "$cg" 2>/dev/null
}

# node_start I: start hxd on node I (in the background).
# Extra hxd flags for node I come from HXD_ARGS_I (word-split).
node_start() {
	local i=$1 extra
	eval "extra=\${HXD_ARGS_$i:-}"
	rm -f "$(dir_of "$i")/hxd.sock" # left behind by kill -9
	# shellcheck disable=SC2086
	cg_exec "$i" ip netns exec "$(ns "$i")" "$HXD" \
		--data-dir "$(dir_of "$i")" --name "n$i" \
		--address "$(ip_of "$i")" -v $extra \
		>>"$(dir_of "$i")/hxd.log" 2>&1 &
	echo $! >"$(dir_of "$i")/pid"
	wait_until 50 0.1 test -S "$(dir_of "$i")/hxd.sock"
}

node_kill() {
	local i=$1 pid
	pid=$(cat "$(dir_of "$i")/pid" 2>/dev/null) || return 0
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$(dir_of "$i")/pid"
}

node_stop() {
	local i=$1 pid
	pid=$(cat "$(dir_of "$i")/pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$(dir_of "$i")/pid"
}

# hx I ARGS...: hxctl against node I's control socket.
hx() {
	local i=$1
	shift
	"$HXCTL" --data-dir "$(dir_of "$i")" "$@"
}

# api I METHOD PATH [BODY]: raw API call on node I's socket; prints body.
api() {
	local i=$1 m=$2 p=$3 b=${4:-}
	if [ -n "$b" ]; then
		curl -s --max-time 5 --unix-socket "$(dir_of "$i")/hxd.sock" \
			-X "$m" -H 'Content-Type: application/json' -d "$b" \
			"http://localhost/api/v1$p"
	else
		curl -s --max-time 5 --unix-socket "$(dir_of "$i")/hxd.sock" \
			-X "$m" "http://localhost/api/v1$p"
	fi
}

# wait_until TRIES INTERVAL CMD...: poll with a hard bound; print the
# last output on timeout.
wait_until() {
	local tries=$1 interval=$2 out
	shift 2
	while [ "$tries" -gt 0 ]; do
		if out=$("$@" 2>&1); then
			return 0
		fi
		tries=$((tries - 1))
		sleep "$interval"
	done
	echo "timed out waiting for: $*"
	echo "last output: $out"
	return 1
}

# leader_of I: the leader's name as node I's status reports it.
leader_of() {
	api "$1" GET /cluster | jq -r '.data.leader.name // empty'
}

# cluster_form N: init on node 1, join nodes 2..N.
cluster_form() {
	local n=$1 i tok
	for i in $(seq 1 "$n"); do node_start "$i"; done
	hx 1 cluster init --name "t$HX_NET" >/dev/null || fail "init"
	for i in $(seq 2 "$n"); do
		tok=$(hx 1 cluster token) || fail "token"
		hx "$i" cluster join "$(ip_of 1)" "$tok" >/dev/null ||
			fail "join n$i"
	done
}

# members_with STATE COUNT I: node I reports COUNT members in STATE.
members_with() {
	local got
	got=$(api "$3" GET /cluster | jq "[.data.members[] | select(.state == \"$1\")] | length")
	[ "$got" = "$2" ]
}

# voters I: number of voters node I reports.
voters_count() {
	api "$1" GET /cluster | jq '[.data.members[] | select(.role == "voter")] | length'
}

ok() { log "ok: $*"; }

# members_count I: number of members node I reports.
members_count() {
	api "$1" GET /cluster | jq '.data.members | length'
}

# peer_admits FROM TLSDIR TO: dial node TO's peer port from node FROM's
# namespace with the certificate in TLSDIR and ask for the MSG service;
# prints the peer channel's answer: ok, refused or closed.
peer_admits() {
	ip netns exec "$(ns "$1")" timeout 10 /usr/bin/python3 - "$2" "$(ip_of "$3")" <<'PY'
import socket, ssl, sys
d, ip = sys.argv[1], sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_verify_locations(d + "/ca.crt")
ctx.load_cert_chain(d + "/node.crt", d + "/node.key")
with socket.create_connection((ip, 8007), timeout=5) as s:
    with ctx.wrap_socket(s) as t:
        t.sendall(b"HXP1\x02\x00\x00\x00")
        try:
            b = t.recv(1)
        except (ssl.SSLError, OSError):
            b = b""
print({b"\x00": "ok", b"\x01": "refused"}.get(b, "closed"))
PY
}

# jq 1.6 exits 0 for 'jq -e' on empty input, so a check piped from a node
# that crashed or timed out would pass. Shadow jq on PATH (so that 'sh -c'
# checks in wait_until get it too) with a wrapper that fails then.
HX_JQ=$(command -v jq)
mkdir -p "$HX_WORK/bin"
cat >"$HX_WORK/bin/jq" <<JQ
#!/bin/bash
e=0 n=0
for a in "\$@"; do
	case \$a in
	--exit-status) e=1 ;;
	--null-input) n=1 ;;
	--*) ;;
	-*e*) e=1 ;;&
	-*n*) n=1 ;;
	esac
done
[ \$e = 1 ] && [ \$n = 0 ] || exec "$HX_JQ" "\$@"
in=\$(cat)
if [ -z "\${in//[[:space:]]/}" ]; then
	echo "jq: no input (did the node answer?)" >&2
	exit 4
fi
printf '%s\n' "\$in" | "$HX_JQ" "\$@"
JQ
chmod +x "$HX_WORK/bin/jq"
PATH="$HX_WORK/bin:$PATH"

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%3N; }

# heard_since I NAME T: the leader (asked through node I) reports NAME
# online with a heartbeat received after wall-clock time T (now_ms).
heard_since() {
	local t0 j
	t0=$(now_ms)
	j=$(api "$1" GET "/nodes/$2") || return 1
	echo "$j" | jq -e --argjson t "$3" --argjson now "$t0" \
		'.data.state == "online" and .data.last_seen_ms != null and
		 $now - .data.last_seen_ms > $t' >/dev/null
}

# voters_are N I: node I reports N voters (for wait_until, which must be
# given a command to run again, not an expansion done once).
voters_are() {
	[ "$(voters_count "$2")" = "$1" ]
}

# peer_refuses FROM TLSDIR TO: node TO refuses the certificate in TLSDIR.
peer_refuses() {
	[ "$(peer_admits "$1" "$2" "$3")" = refused ]
}
