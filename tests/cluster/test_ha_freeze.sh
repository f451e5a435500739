#!/bin/bash
# A frozen node never runs an HA VM that was recovered elsewhere. 3 nodes,
# each with its own libvirtd and emulated watchdog; one HA guest whose
# qcow2 sits on a path every node sees, so QEMU's image lock (OFD locks)
# lets only one QEMU open it for writing, and the guest writes a record
# (boot id, counter, time) to it every second (tests/guest/README.md).
#  1. the node running the guest is frozen whole (cgroup.freeze: hxd,
#     libvirtd, QEMU): its watchdog, still ticking like hardware, resets
#     it before the leader recovers the guest elsewhere; the new copy
#     holds the write lock; thawing the node later brings nothing back;
#  2. the guest moves (live) to the raft leader, which is then frozen with
#     its watchdog (a host paused as a whole, e.g. by its own hypervisor)
#     and thawed once the new leader is fencing it: its raft node still
#     says it leads, yet its hxd must not renew its own lease on that; it
#     finds its lease over and kills its copy itself before the new
#     leader's fence wait ends and the guest starts elsewhere.
# Both times: never two QEMUs at any 0.1 s poll, the old copy's console
# shows no heartbeat once the new copy runs, and on the disk every record
# of the old boot is older than every record of the new one (no
# interleaving of writes).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/halib.sh"

ha_cluster 3
disk="$HX_WORK/shared/vm100.qcow2"
qemu-img create -q -f qcow2 "$disk" 16M || fail "qemu-img"
vm_create 1 100 n1 "$disk"
hx 1 ha add 100 >/dev/null || fail "ha add"
wait_until 300 0.3 ready_on 1 100 ||
	fail "guest did not boot on n1: $(tail -c 300 "$(serial_of 1 100)")"
wait_until 60 0.5 ha_started_on 2 100 n1 || fail "HA does not report it started"
ok "HA VM 100 runs on n1"

# locked: a plain open of the qcow2 (as a second QEMU would) is refused
# because a running QEMU holds its write lock; -U (force share) still reads.
locked() {
	local out
	out=$(qemu-img info "$disk" 2>&1) && return 1
	echo "$out" | grep -q 'lock' && qemu-img info -U "$disk" >/dev/null
}
# records: the guest's disk records, one "BOOT N T" a line (qemu-img dd -U
# reads under a running QEMU; sector 0 repeats the latest record).
records() {
	rm -f "$HX_WORK/rec.raw"
	qemu-img dd -U -f qcow2 -O raw bs=512 count=65 if="$disk" \
		of="$HX_WORK/rec.raw" >/dev/null 2>&1 || return 1
	tr '\0' '\n' <"$HX_WORK/rec.raw" | grep -a '^HXGUEST id=' |
		sed -n 's/.* boot=\([0-9a-f]*\) n=\([0-9]*\) t=\([0-9]*\).*/\1 \2 \3/p'
}
# no_interleave OLD NEW: on the disk, every record of boot OLD is no newer
# than every record of boot NEW, and both are there.
no_interleave() {
	local r old_max new_min
	r=$(records) || fail "cannot read the guest's disk"
	old_max=$(echo "$r" | awk -v b="$1" '$1 == b && $3 > m {m = $3} END {print m + 0}')
	new_min=$(echo "$r" | awk -v b="$2" '$1 == b && (m == "" || $3 < m) {m = $3} END {print m + 0}')
	[ "$old_max" -gt 0 ] || fail "no record of the old boot $1 left: $r"
	[ "$new_min" -gt 0 ] || fail "no record of the new boot $2: $r"
	[ "$old_max" -le "$new_min" ] ||
		fail "writes interleaved: boot $1 wrote at $old_max, after boot $2 began at $new_min"
	[ "$(echo "$r" | head -1 | cut -d' ' -f1)" = "$2" ] ||
		fail "the latest record is not from the new boot $2: $(echo "$r" | head -1)"
	log "disk: old boot $1 last wrote at $old_max, new boot $2 first at $new_min"
}
beats_ge() { [ "$(beats_on "$1" "$2")" -ge "$3" ]; }

# watch_move N OLD: polls every 0.1 s for at most N s until VM 100 runs
# on a node other than OLD; fails if two QEMUs ever run (a frozen one
# counts). Sets MOVED_TO, T_MOVED and T_GONE (ms after T0; T_GONE when
# OLD's QEMU vanished first).
watch_move() {
	local n=$1 old=$2 on
	T_GONE=""
	MOVED_TO=""
	for _ in $(seq $((n * 10))); do
		on=$(vm_nodes 100)
		[ "$(echo "$on" | grep -c .)" -le 1 ] ||
			fail "two QEMUs of VM 100 at once, on: $(echo "$on" | tr "\n" " ")"
		[ -z "$T_GONE" ] && [ "$on" != "$old" ] && T_GONE=$(ms_since "$T0")
		if [ -n "$on" ] && [ "$on" != "$old" ]; then
			MOVED_TO=$on
			T_MOVED=$(ms_since "$T0")
			return 0
		fi
		sleep 0.1
	done
	fail "VM 100 did not restart elsewhere within $n s (on: $(vm_nodes 100))"
}
# boot_beats I VMID BOOT: heartbeats of boot BOOT in node I's serial log
# (the log is appended to across boots).
boot_beats() {
	grep -ac "HXGUEST HEARTBEAT n=[0-9]* id=[^ ]* boot=$3" \
		"$(serial_of "$1" "$2")" 2>/dev/null
}
new_boot_on() { # I VMID "OLD...": the last boot on node I is none of OLD
	local b
	b=$(boot_on "$1" "$2")
	[ -n "$b" ] && ! echo " $3 " | grep -q " $b "
}
# settle OLD NEW BOOT_OLD: after the move, the new copy boots and writes;
# the old console stays silent; the new QEMU holds the lock; no
# interleaving on the disk.
settle() {
	local old=$1 new=$2 b_old=$3 beats b_new
	beats=$(beats_on "$old" 100)
	wait_until 600 0.1 new_boot_on "$new" 100 "$BOOTS" ||
		fail "guest did not boot on n$new"
	b_new=$(boot_on "$new" 100)
	BOOTS="$BOOTS $b_new"
	wait_until 100 0.2 eq_ge3 "$new" "$b_new" || fail "no heartbeats on n$new"
	[ "$(beats_on "$old" 100)" = "$beats" ] ||
		fail "the old copy on n$old wrote heartbeats after the new one started"
	locked || fail "the new copy does not hold the disk's write lock"
	no_interleave "$b_old" "$b_new"
	[ "$(vm_count 100)" = 1 ] || fail "$(vm_count 100) QEMUs of VM 100"
}
eq_ge3() { [ "$(boot_beats "$1" 100 "$2")" -ge 3 ]; }

wait_until 100 0.2 beats_ge 1 100 5 || fail "no heartbeats on n1"
locked || fail "the running guest does not hold its disk's write lock"
boot1=$(boot_on 1 100)
BOOTS=$boot1

# ---- 1. frozen node, watchdog ticking ----
log "freezing n1 (hxd, libvirtd and QEMU)"
T0=$(date +%s%N)
cg_freeze 1 1
wait_until 50 0.1 cg_frozen 1 || fail "n1 did not freeze"
watch_move 60 1
[ -n "$T_GONE" ] && [ "$T_GONE" -lt "$T_MOVED" ] ||
	fail "VM 100 restarted on n$MOVED_TO ($T_MOVED ms) before n1's copy died (${T_GONE:-never})"
grep -q expired "$(dir_of 1)/wdog.log" || fail "n1's watchdog did not fire"
ok "n1 frozen: its watchdog killed it after $T_GONE ms, VM 100 restarted on n$MOVED_TO after $T_MOVED ms"
to=$MOVED_TO
settle 1 "$to" "$boot1"
wait_until 60 0.5 ha_started_on "$to" 100 "n$to" || fail "HA status after recovery"
beats=$(beats_on 1 100)
cg_freeze 1 0
for _ in $(seq 20); do
	[ "$(vm_nodes 100)" = "$to" ] || fail "after thawing n1, VM 100 runs on: $(vm_nodes 100)"
	sleep 0.1
done
[ "$(beats_on 1 100)" = "$beats" ] || fail "n1's old copy wrote after the thaw"
ok "n1 thawed: nothing of it was left to run"
libvirt_start 1
node_start 1
wait_until 120 0.5 eq online ha_node_state "$to" n1 || fail "n1 did not come back"
[ "$(vm_nodes 100)" = "$to" ] || fail "VM 100 moved after n1 came back: $(vm_nodes 100)"
ok "n1 is back; VM 100 runs once, on n$to"

# ---- 2. the leader frozen with its watchdog, thawed while being fenced ----
# (its raft node still says it leads right after the thaw: it must not
# renew its own lease on that)
boot2=$(boot_on "$to" 100)
y=$(leader_of "$to")
y=${y#n}
[ -n "$y" ] || fail "no leader"
if [ "$y" != "$to" ]; then
	hx "$to" ha migrate 100 "n$y" >/dev/null || fail "ha migrate to n$y"
	wait_until 240 0.5 ha_started_on "$to" 100 "n$y" || fail "VM 100 not on n$y"
	wait_until 100 0.2 eq "$y" vm_nodes 100 || fail "no QEMU on n$y"
	wait_until 100 0.2 eq "$boot2" boot_on "$y" 100 ||
		fail "not the same boot on n$y after the live migration"
fi
wpid=$(cat "$(dir_of "$y")/wdog.pid")
l=$(alive "$y")
log "freezing the leader n$y with its watchdog"
T0=$(date +%s%N)
kill -STOP "$wpid"
cg_freeze "$y" 1
wait_until 50 0.1 cg_frozen "$y" || fail "n$y did not freeze"
wait_until 200 0.1 eq fence ha_node_state "$l" "n$y" ||
	fail "the leader does not fence n$y"
t_fence=$(ms_since "$T0")
[ "$(vm_nodes 100)" = "$y" ] || fail "VM 100 moved while n$y was frozen"
cg_freeze "$y" 0
t_thaw=$(ms_since "$T0")
log "n$y fenced by the leader after $t_fence ms; thawed at $t_thaw ms"
watch_move 60 "$y"
kill -CONT "$wpid"
[ -n "$T_GONE" ] && [ "$T_GONE" -lt "$T_MOVED" ] ||
	fail "VM 100 restarted on n$MOVED_TO ($T_MOVED ms) before n$y killed its copy (${T_GONE:-never})"
grep -q "self-fence: lease lost" "$(dir_of "$y")/hxd.log" ||
	fail "n$y did not self-fence after the thaw"
ok "n$y thawed at $t_thaw ms killed its copy itself at $T_GONE ms; VM 100 restarted on n$MOVED_TO at $T_MOVED ms"
settle "$y" "$MOVED_TO" "$boot2"
wait_until 60 0.5 ha_started_on "$MOVED_TO" 100 "n$MOVED_TO" ||
	fail "HA status after the second recovery"
for _ in $(seq 20); do
	[ "$(vm_nodes 100)" = "$MOVED_TO" ] || fail "VM 100 runs on: $(vm_nodes 100)"
	sleep 0.1
done
ok "frozen nodes never ran a second copy of VM 100"
