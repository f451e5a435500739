#!/bin/bash
# HA failover figures: the time from a node's death to its HA VM's QEMU
# running on another node (guest boot excluded), over several runs, split
# into detection (kill -> the leader marks the node lost), fencing wait
# (-> fence acknowledged: lease + margin after its last renewal, or after
# the election of a new leader), and placement and start (-> QEMU runs).
#
#   cd build/rel && make tests/tools/hx-wdog-emu && \
#       top_builddir=$PWD bash ../../tests/bench/ha_failover.sh
#
# HX_BENCH_RUNS (default 10) kills; HX_BENCH_KILL=leader first moves the
# VM (ha migrate) to the raft leader, so that every run kills the leader.
# Each run kills, at once, the whole
# node that runs the VM (cgroup.kill: hxd, libvirtd, QEMU), waits for the
# VM elsewhere, then restarts the node and waits until HA has it online
# again. The node killed is sometimes the raft leader (a new leader waits
# a full lease + margin from its election). Needs root, like the cluster
# tests. Prints one line per run and min / median / p99 per phase.
# shellcheck disable=SC2034 # read by lib.sh
HX_TEST=bench-ha
. "$(dirname "$0")/../cluster/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

RUNS=${HX_BENCH_RUNS:-10}
# shellcheck disable=SC2034 # read by libvirt.sh (ha migrate needs it)
HX_LIBVIRT_MIGRATE_TLS=1
WDOG="$top_builddir/tests/tools/hx-wdog-emu"
[ -x "$WDOG" ] || fail "build $WDOG first (make tests/tools/hx-wdog-emu)"
HX_CGROUPS=1
WDOG_PIDS=""
trap 'rc=$?; for p in $WDOG_PIDS; do kill "$p" 2>/dev/null; done
	libvirt_stop_all; (exit $rc); cleanup' EXIT

# eq WANT CMD...: CMD prints WANT (evaluated anew on each try of
# wait_until, unlike a "$(...)" in its arguments)
eq() {
	local want=$1
	shift
	[ "$("$@")" = "$want" ]
}
nonempty() { [ -n "$("$@")" ]; }
guest_paths
net_create 3
for i in 1 2 3; do
	"$WDOG" --fifo "$(dir_of "$i")/wdog" --cgroup "$(node_cgroup "$i")" \
		--timeout-ms 2000 --max-s 3600 >>"$(dir_of "$i")/wdog.log" 2>&1 &
	WDOG_PIDS="$WDOG_PIDS $!"
	libvirt_start "$i"
	eval "HXD_ARGS_$i=\"--libvirt-uri $(libvirt_uri "$i") --accel tcg \
--watchdog $(dir_of "$i")/wdog\""
done
cluster_form 3
wait_until 60 0.5 members_with online 3 1 || fail "not all online"
wait_until 60 0.5 eq 3 voters_count 1 || fail "expected 3 voters"

api 1 POST /vms "{\"vmid\":100,\"name\":\"havm\",\"node\":\"n1\",\"memory_mb\":128,
	\"kernel\":{\"path\":\"$GUEST_KERNEL\",\"initrd\":\"$GUEST_INITRD\",
	\"cmdline\":\"console=ttyS0 quiet hx.id=havm\"}}" >/dev/null
vm_lock() { api 1 GET /vms/100 | jq -r .data.lock; }
wait_until 100 0.2 eq null vm_lock ||
	fail "create"
hx 1 ha add 100 >/dev/null || fail "ha add"

runs_on() {
	local i pid
	for i in 1 2 3; do
		for pid in $(libvirt_qemu_pids "$i"); do
			tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
				grep -q 'guest=hx-100,' && echo "$i"
		done
	done
}
alive() { # a node other than $1 that answers
	local i
	for i in 1 2 3; do
		[ "$i" != "$1" ] && api "$i" GET /cluster >/dev/null 2>&1 &&
			echo "$i" && return
	done
}
# event_ms I SINCE_MS TEXT: wall time of the first HA event after SINCE
# whose message contains TEXT, as node I reads the log
event_ms() {
	api "$1" GET "/events?limit=1000&since=$EV0" |
		jq -r --arg t "$3" --argjson s "$2" \
			'[.data[] | select(.actor == "ha" and .time >= $s and
			  (.message | contains($t))) | .time] | first // empty'
}
ha_node_state() { # I NODE: NODE's HA state as node I reports it
	api "$1" GET /ha/status | jq -r ".data.nodes[] | select(.name == \"$2\") | .state"
}
pct() { # P: the P-th percentile (nearest rank) of the numbers on stdin
	sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((p*NR+99)/100); if (i<1) i=1; print a[i]}'
}

wait_until 200 0.3 nonempty runs_on || fail "VM 100 does not run"
: >"$HX_WORK/runs"
ha_on() { # NODE: HA has VM 100 started and confirmed on NODE
	api "$(alive 0)" GET /ha/resources/100 |
		jq -e --arg n "$1" '.data.status | .crm_state == "started" and
			.node == $n and .confirmed' >/dev/null
}
for run in $(seq "$RUNS"); do
	leader=$(leader_of "$(alive 0)")
	if [ "${HX_BENCH_KILL:-}" = leader ] && [ "n$(runs_on)" != "$leader" ]; then
		hx "$(alive 0)" ha migrate 100 "$leader" >/dev/null ||
			fail "ha migrate to $leader"
		wait_until 240 0.5 ha_on "$leader" || fail "VM 100 not on $leader"
		wait_until 100 0.2 eq "${leader#n}" runs_on || fail "no QEMU on $leader"
	fi
	v=$(runs_on)
	EV0=$(api "$(alive 0)" GET "/events?limit=1000" | jq '[.data[].id] | max // 0')
	t0=$(($(date +%s%N) / 1000000))
	cgroup_kill "$v"
	moved=""
	for _ in $(seq 600); do
		on=$(runs_on)
		if [ -n "$on" ] && [ "$on" != "$v" ]; then
			moved=$on
			break
		fi
		sleep 0.05
	done
	t3=$(($(date +%s%N) / 1000000))
	[ -n "$moved" ] || fail "run $run: VM 100 did not move"
	o=$(alive "$v")
	t1=$(event_ms "$o" "$t0" "n$v': online -> unknown")
	[ -n "$t1" ] || t1=$(event_ms "$o" "$t0" "n$v': unknown -> fence")
	t2=$(event_ms "$o" "$t0" "fence -> recovery")
	{ [ -n "$t1" ] && [ -n "$t2" ]; } || fail "run $run: events missing"
	was=$([ "$leader" = "n$v" ] && echo leader || echo follower)
	echo "$((t1 - t0)) $((t2 - t1)) $((t3 - t2)) $((t3 - t0)) $was" >>"$HX_WORK/runs"
	log "run $run: killed n$v ($was): lost after $((t1 - t0)) ms, fenced after $((t2 - t0)) ms, QEMU on n$moved after $((t3 - t0)) ms"
	libvirt_start "$v"
	node_start "$v"
	wait_until 240 0.5 eq online ha_node_state "$moved" "n$v" ||
		fail "n$v did not come back"
	wait_until 120 0.5 members_with online 3 "$moved" || fail "n$v not online"
done

echo "# HA failover, $RUNS runs, $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg)"
for col in 1:detection 2:fencing-wait 3:placement+start 4:total; do
	c=${col%%:*}
	name=${col#*:}
	vals=$(cut -d' ' -f"$c" "$HX_WORK/runs")
	printf '%-16s min %5s  median %5s  p99 %5s ms\n' "$name" \
		"$(echo "$vals" | pct 0)" "$(echo "$vals" | pct 50)" \
		"$(echo "$vals" | pct 99)"
done
for kind in follower leader; do
	vals=$(awk -v k="$kind" '$5 == k {print $4}' "$HX_WORK/runs")
	[ -n "$vals" ] || continue
	printf 'total, %-8s    min %5s  median %5s  p99 %5s ms (%s runs)\n' \
		"$kind" "$(echo "$vals" | pct 0)" "$(echo "$vals" | pct 50)" \
		"$(echo "$vals" | pct 99)" "$(echo "$vals" | wc -l)"
done
