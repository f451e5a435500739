#!/bin/bash
# Smoke test of the VM plumbing under hxd: a real libvirtd per node (own
# network + mount namespace), the test guest booted under TCG on node 1,
# live-migrated to node 2 peer-to-peer (source libvirtd -> destination over
# qemu+tcp), back to node 1 client-managed (virsh holds both unix sockets),
# heartbeats continuing with the same boot id, then ACPI shutdown.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

command -v libvirtd >/dev/null || fail "libvirtd missing (tools/deps.sh)"
command -v qemu-system-x86_64 >/dev/null || fail "qemu missing (tools/deps.sh)"

G=hxg1
now_ms() { date +%s%3N; }

# boot_of I: the boot id in guest G's READY line on node I.
boot_of() {
	grep -ao 'HXGUEST READY [^ ]* boot=[0-9a-f]*' "$(libvirt_serial "$1" $G)" \
		2>/dev/null | tail -1 | sed 's/.*boot=//'
}

# counting_on I ABOVE: node I's log shows heartbeats past ABOVE with boot
# id $BOOT (the same guest, never restarted).
counting_on() {
	local n
	n=$(guest_last_n "$1" $G)
	[ -n "$n" ] && [ "$n" -gt "$2" ] &&
		grep -aq "HEARTBEAT n=$n id=$G boot=$BOOT" "$(libvirt_serial "$1" $G)"
}

state_is() { [ "$(virsh_on "$1" domstate $G 2>&1 | head -1)" = "$2" ]; }
absent_on() { ! virsh_on "$1" dominfo $G >/dev/null 2>&1; }

# migrate FROM TO MODE: live-migrate G, check the counter goes on.
# MODE: tcp = peer-to-peer over qemu+tcp, unix = peer-to-peer over the
# destination's unix socket, managed = virsh drives both libvirtds.
migrate() {
	local from=$1 to=$2 mode=$3 before t0 ms
	local opts=(--live --persistent --undefinesource)
	before=$(guest_last_n "$from" $G)
	t0=$(now_ms)
	case $mode in
	tcp) virsh_on "$from" migrate "${opts[@]}" --p2p $G "$(libvirt_tcp_uri "$to")" ;;
	unix) virsh_on "$from" migrate "${opts[@]}" --p2p $G "$(libvirt_unix_uri "$to")" ;;
	managed) virsh_on "$from" migrate "${opts[@]}" $G "$(libvirt_uri "$to")" ;;
	esac || fail "$mode migration $from -> $to"
	ms=$(($(now_ms) - t0))
	log "migration $from -> $to ($mode): ${ms} ms; $(virsh_on "$to" domjobinfo \
		--completed $G 2>/dev/null | grep -i downtime | head -1 | tr -s ' ')"
	state_is "$to" running || fail "$G not running on node $to"
	absent_on "$from" || fail "$G still defined on node $from"
	wait_until 100 0.1 libvirt_no_qemu "$from" || fail "QEMU left on node $from"
	wait_until 300 0.1 counting_on "$to" "$before" ||
		fail "no heartbeat past $before with boot $BOOT on node $to"
	if grep -aq 'HXGUEST READY' "$(libvirt_serial "$to" $G)" &&
		[ "$(boot_of "$to")" != "$BOOT" ]; then
		fail "guest rebooted on node $to"
	fi
	ok "live migration $from -> $to ($mode), counter $before -> $(guest_last_n "$to" $G)"
}

net_create 2
t0=$(now_ms)
libvirt_start 1
libvirt_start 2 tcp
ok "libvirtd on 2 nodes ($(($(now_ms) - t0)) ms)"
guest_paths

guest_xml $G >"$HX_WORK/$G.xml"
t0=$(now_ms)
virsh_on 1 define "$HX_WORK/$G.xml" >/dev/null || fail "define"
log "define: $(($(now_ms) - t0)) ms"
t0=$(now_ms)
virsh_on 1 start $G >/dev/null || fail "start"
wait_until 600 0.1 grep -aq 'HXGUEST READY' "$(libvirt_serial 1 $G)" ||
	fail "no READY marker"
log "boot: $(($(now_ms) - t0)) ms from virsh start to READY"
BOOT=$(boot_of 1)
[ -n "$BOOT" ] || fail "no boot id"
wait_until 100 0.1 counting_on 1 1 || fail "no heartbeats on node 1"
ok "guest boots on node 1 (boot $BOOT)"

# libvirtd killed and restarted: QEMU is not its child, keeps running and
# is re-adopted (what hxd relies on after a libvirtd crash).
QEMU=$(libvirt_qemu_pids 1)
kill -9 "$(libvirt_pid 1)"
wait_until 50 0.1 sh -c "! virsh -q -c '$(libvirt_uri 1)' version" ||
	fail "libvirtd survived kill -9"
t0=$(now_ms)
libvirt_start 1
log "libvirtd restart: $(($(now_ms) - t0)) ms"
state_is 1 running || fail "$G not running after libvirtd restart"
[ "$(libvirt_qemu_pids 1)" = "$QEMU" ] || fail "QEMU pid changed"
wait_until 100 0.1 counting_on 1 "$(guest_last_n 1 $G)" ||
	fail "heartbeats stopped across the libvirtd restart"
ok "libvirtd kill -9 + restart re-adopts QEMU $QEMU"

migrate 1 2 tcp
migrate 2 1 unix
virsh_on 1 migrate-setmaxdowntime $G 50 || fail "setmaxdowntime"
migrate 1 2 managed

t0=$(now_ms)
virsh_on 2 shutdown $G >/dev/null || fail "shutdown"
wait_until 300 0.1 state_is 2 "shut off" || fail "$G did not power off"
log "acpi shutdown: $(($(now_ms) - t0)) ms"
grep -aq "HXGUEST POWEROFF id=$G boot=$BOOT" "$(libvirt_serial 2 $G)" ||
	fail "no POWEROFF line"
wait_until 100 0.1 libvirt_no_qemu 2 || fail "QEMU left on node 2"
ok "acpi shutdown on node 2"
virsh_on 2 undefine $G >/dev/null || fail "undefine"
exit 0
