#!/bin/bash
# HA failover with a real guest on 3 nodes, each with its own libvirtd and
# an emulated watchdog (tests/tools/hx-wdog-emu) that kills the node's
# cgroup when hxd stops feeding it:
#  0. a VM created without a node is placed away from the HA VM's node;
#     maintenance of the VM's node live-migrates it away (same boot) and,
#     once over, back; 'ha relocate' moves it (stop, start);
#  1. the node running an HA VM dies at once (cgroup.kill: hxd, libvirtd and
#     QEMU together): the VM runs on another node within the bound, never
#     two QEMUs at once; prints the time from the kill to the restart;
#  2. the node running it is cut off (its veth down): its hxd kills the VM
#     when its lease ends (self-fence), before the majority restarts it
#     elsewhere; its watchdog then resets it.
# The VM's disk sits on a path every node sees, so QEMU's image lock would
# also refuse a second copy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

WDOG="$top_builddir/tests/tools/hx-wdog-emu"
[ -x "$WDOG" ] || fail "build $WDOG first (make tests/tools/hx-wdog-emu)"
HX_CGROUPS=1
[ -w /sys/fs/cgroup/unified/cgroup.procs ] || {
	echo "SKIP: needs cgroup2 at /sys/fs/cgroup/unified"
	exit 77
}
WDOG_PIDS=""
trap 'rc=$?; for p in $WDOG_PIDS; do kill "$p" 2>/dev/null; done
	libvirt_stop_all; (exit $rc); cleanup' EXIT

# shellcheck disable=SC2034 # read by libvirt.sh
HX_LIBVIRT_MIGRATE_TLS=1
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
mkdir -p "$HX_WORK/shared"
for i in 1 2 3; do
	"$WDOG" --fifo "$(dir_of "$i")/wdog" --cgroup "$(node_cgroup "$i")" \
		--timeout-ms 2000 --max-s 900 >>"$(dir_of "$i")/wdog.log" 2>&1 &
	WDOG_PIDS="$WDOG_PIDS $!"
	libvirt_start "$i"
	eval "HXD_ARGS_$i=\"--libvirt-uri $(libvirt_uri "$i") --accel tcg \
--watchdog $(dir_of "$i")/wdog\""
done
cluster_form 3
wait_until 60 0.5 members_with online 3 1 || fail "not all online"
wait_until 60 0.5 eq 3 voters_count 1 || fail "expected 3 voters"

disk="$HX_WORK/shared/havm.qcow2"
qemu-img create -q -f qcow2 "$disk" 16M || fail "qemu-img"
cat >"$HX_WORK/havm.json" <<EOF
{"vmid":100,"name":"havm","node":"n1","memory_mb":128,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
           "cmdline":"console=ttyS0 quiet hx.id=havm"},
 "disks":[{"volume":"$disk","format":"qcow2"}]}
EOF

serial() { echo "$(dir_of "$1")/vms/100/serial.log"; }
ready_on() { grep -aq "HXGUEST READY" "$(serial "$1")" 2>/dev/null; }
# qemu_count: QEMUs of VM 100 on this test's nodes (other tests on the
# machine may run a VM 100 too: only our libvirtds' pid files count)
qemu_count() {
	local i pid n=0
	for i in 1 2 3; do
		for pid in $(libvirt_qemu_pids "$i"); do
			tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
				grep -q 'guest=hx-100,' && n=$((n + 1))
		done
	done
	echo "$n"
}
# runs_on: the node whose libvirtd runs a QEMU (empty if none)
runs_on() {
	local i
	for i in 1 2 3; do
		[ -n "$(libvirt_qemu_pids "$i")" ] && echo "$i"
	done
}
ha_field() { # I JQ: a field of resource 100 as node I sees it
	api "$1" GET /ha/resources/100 | jq -r ".data$2"
}
ha_started_on() { # I NODE: started and confirmed on NODE
	[ "$(ha_field "$1" .status.crm_state)" = started ] &&
		[ "$(ha_field "$1" .status.node)" = "$2" ] &&
		[ "$(ha_field "$1" .status.confirmed)" = true ]
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

out=$(api 1 POST /vms "$(cat "$HX_WORK/havm.json")")
task=$(echo "$out" | jq -r '.data.task // empty')
[ -n "$task" ] || fail "create refused: $out"
task_state() { api 1 GET "/tasks/$1" | jq -r .data.state; }
wait_until 100 0.2 eq ok task_state "$task" ||
	fail "create task did not end"
# HA starts it where it is, on n1.
hx 1 ha add 100 >/dev/null || fail "ha add"
out=$(api 2 POST /vms/100/stop)
echo "$out" | grep -q "managed by HA" || fail "stop of an HA VM not refused: $out"
wait_until 200 0.3 ready_on 1 ||
	fail "guest did not boot on n1: $(tail -c 300 "$(serial 1)" 2>/dev/null)"
wait_until 60 0.5 ha_started_on 2 n1 || fail "HA does not report it started"
[ "$(qemu_count)" = 1 ] || fail "expected one QEMU, found $(qemu_count)"
why=$(hx 3 ha why 100)
echo "$why" | grep -q "started on 'n1'" || fail "ha why: $why"
ok "HA VM 100 runs on n1; ha why: $(echo "$why" | head -1)"
# A VM created without a node goes where the load is lowest: not n1.
out=$(api 3 POST /vms '{"vmid":101,"name":"placed","memory_mb":128}')
pn=$(echo "$out" | jq -r '.data.node // empty')
{ [ -n "$pn" ] && [ "$pn" != n1 ]; } ||
	fail "placement put VM 101 on '$pn', next to the HA VM: $out"
ok "VM 101 created without a node: placed on $pn"

# ---- 0. maintenance: away and back, live ----
boot_on() { # I: the boot id of the guest's last heartbeat on node I
	grep -ao 'HXGUEST HEARTBEAT n=[0-9]* id=[^ ]* boot=[0-9a-f]*' \
		"$(serial "$1")" 2>/dev/null | tail -1 | sed 's/.*boot=//'
}
ha_started_off() { # I NODE: started and confirmed, not on NODE
	local n
	n=$(ha_field "$1" .status.node)
	[ "$(ha_field "$1" .status.crm_state)" = started ] &&
		[ "$n" != "$2" ] && [ "$n" != null ] &&
		[ "$(ha_field "$1" .status.confirmed)" = true ]
}
wait_until 100 0.2 nonempty boot_on 1 || fail "no heartbeat on n1"
boot=$(boot_on 1)
hx 2 ha maintenance n1 on >/dev/null || fail "maintenance on"
wait_until 240 0.5 ha_started_off 2 n1 || fail "VM 100 did not leave n1"
m=$(ha_field 2 .status.node)
m=${m#n}
[ "$(ha_field 2 .status.maint_node)" = n1 ] || fail "maint_node not n1"
wait_until 60 0.5 eq "$boot" boot_on "$m" ||
	fail "guest on n$m is not the same boot (live migration)"
[ "$(qemu_count)" = 1 ] || fail "$(qemu_count) QEMUs after evacuation"
out=$(hx 3 ha status)
echo "$out" | grep -q "maintenance" || fail "ha status: $out"
ok "maintenance of n1: VM 100 moved live to n$m"
hx 3 ha maintenance n1 off >/dev/null || fail "maintenance off"
wait_until 240 0.5 ha_started_on 2 n1 || fail "VM 100 did not come back"
wait_until 60 0.5 eq "$boot" boot_on 1 || fail "not the same boot"
[ "$(qemu_count)" = 1 ] || fail "$(qemu_count) QEMUs after the return"
ok "maintenance over: VM 100 is back on n1, same boot"

# ---- relocate (stop, move, start) and migrate through HA ----
out=$(api 2 POST /ha/resources/100/relocate '{"node":"n1"}')
echo "$out" | grep -q rejected || fail "relocation to where it is: $out"
hx 2 ha relocate 100 n3 >/dev/null || fail "ha relocate"
wait_until 240 0.5 ha_started_on 2 n3 || fail "VM 100 was not relocated to n3"
{ [ "$(runs_on)" = 3 ] && [ "$(qemu_count)" = 1 ]; } ||
	fail "after relocation: QEMU on '$(runs_on)', $(qemu_count) in all"
ok "relocated to n3 (stopped on n1, started on n3) through HA"

# watch N NODE_GONE: polls every 0.1 s for at most N seconds until the VM
# runs on another node; fails if two QEMUs ever run. Sets MOVED_TO and
# T_MOVED (ms after T0) and, if the old node's QEMU vanished first,
# T_GONE.
watch_move() {
	local n=$1 old=$2 c on
	T_GONE=""
	MOVED_TO=""
	for _ in $(seq $((n * 10))); do
		c=$(qemu_count)
		[ "$c" -le 1 ] || fail "$c QEMUs of VM 100 run at once"
		on=$(runs_on)
		[ -z "$T_GONE" ] && [ "$on" != "$old" ] && T_GONE=$(ms_since "$T0")
		if [ -n "$on" ] && [ "$on" != "$old" ]; then
			MOVED_TO=$on
			T_MOVED=$(ms_since "$T0")
			return 0
		fi
		sleep 0.1
	done
	fail "VM 100 did not restart elsewhere within $n s (QEMUs: $(qemu_count))"
}

# ---- 1. the node dies ----
x=$(runs_on)
log "killing node n$x (hxd, libvirtd and QEMU at once)"
T0=$(date +%s%N)
cgroup_kill "$x"
watch_move 60 "$x"
t_qemu=$T_MOVED
to=$MOVED_TO
wait_until 600 0.1 ready_on "$to" || fail "guest did not boot on n$to"
t_ready=$(ms_since "$T0")
ok "node killed: VM 100 restarted on n$to after $t_qemu ms (QEMU started), guest ready after $t_ready ms"
[ "$t_qemu" -lt 20000 ] || fail "failover took $t_qemu ms"
wait_until 60 0.5 ha_started_on "$to" "n$to" || fail "HA status after failover"
api "$to" GET "/events?subject=vm/100&limit=1000" | jq -r '.data[].message' |
	grep -q "recovered from fenced node" || fail "no recovery event"

# n$x comes back: it must not start a second copy; the VM stays.
libvirt_start "$x"
node_start "$x"
wait_until 120 0.5 members_with online 3 "$to" || fail "n$x did not come back"
ha_node_state() { # I NODE: NODE's HA state as node I reports it
	api "$1" GET /ha/status | jq -r ".data.nodes[] | select(.name == \"$2\") | .state"
}
wait_until 120 0.5 eq online ha_node_state "$to" "n$x" ||
	fail "n$x not online for HA: $(api "$to" GET /ha/status | jq -c .data.nodes)"
for _ in $(seq 20); do
	[ "$(qemu_count)" = 1 ] || fail "$(qemu_count) QEMUs after n$x came back"
	sleep 0.1
done
[ "$(runs_on)" = "$to" ] || fail "VM 100 moved after n$x came back"
ok "n$x is back; VM 100 still runs once, on n$to"
wait_until 60 0.5 eq 3 voters_count "$to" || fail "voters after rejoin"

# ---- 2. the node is cut off ----
y=$to
z=$(seq 1 3 | grep -v "^$y\$" | head -1)
log "cutting node n$y off the network"
T0=$(date +%s%N)
ip netns exec "$(ns br)" ip link set "v$HX_NET-$y" down
watch_move 60 "$y"
[ -n "$T_GONE" ] || fail "no moment without a copy: VM moved before n$y killed it"
[ "$T_GONE" -lt "$T_MOVED" ] || fail "restarted ($T_MOVED ms) before n$y self-fenced ($T_GONE ms)"
[ "$T_GONE" -lt 8000 ] || fail "n$y self-fenced only after $T_GONE ms"
grep -q "self-fence: lease lost" "$(dir_of "$y")/hxd.log" ||
	fail "n$y did not log its self-fence"
ok "partition: n$y killed VM 100 after $T_GONE ms (self-fence), n$MOVED_TO started it after $T_MOVED ms"
wait_until 600 0.1 ready_on "$MOVED_TO" || fail "guest did not boot on n$MOVED_TO"
wait_until 60 0.2 grep -q "expired" "$(dir_of "$y")/wdog.log" ||
	fail "the watchdog of n$y did not fire"
ok "the watchdog reset n$y after it stopped feeding it"
for _ in $(seq 20); do
	[ "$(qemu_count)" = 1 ] || fail "$(qemu_count) QEMUs after the partition"
	sleep 0.1
done
hx "$z" ha why 100 | head -3
ok "HA failover: kill ${t_qemu} ms, partition self-fence ${T_GONE} ms, restart ${T_MOVED} ms"
