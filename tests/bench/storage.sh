#!/bin/bash
# Storage figures for docs/benchmarks.md: one node in a network namespace
# with its own libvirtd, the test guest, a directory pool and a btrfs pool
# on a loop file. Not a test: it prints what it measures (medians over
# BENCH_STOR_RUNS runs, default 5). Needs root; use a build without
# sanitizers. Bounded.
#
#   clone:    POST /vms/T/clone to the end of its task, linked and full,
#             from a template whose 64 MiB disk is full of data, against
#             a plain cp of the same file on the same disk;
#   floor:    a no-op task (POST /vms/V/stop of a stopped VM): what any
#             task costs through the API (statedb commits, polling);
#   snapshot: POST /vms/V/snapshots to the end of its task, for a stopped
#             VM (disks only) and a running one (with its 128 MiB RAM),
#             qcow2 and btrfs raw; the guest's pause for a btrfs RAM
#             snapshot, from the task log.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
export top_builddir
RUNS=${BENCH_STOR_RUNS:-5}

if grep -q '^HX_CFLAGS = .*-fsanitize' "$top_builddir/Makefile" 2>/dev/null; then
	echo "bench storage: build without --enable-sanitize"
	exit 1
fi
HX_TEST=benchsto
. "$top_srcdir/tests/cluster/lib.sh"
. "$top_srcdir/tests/lib/libvirt.sh"

guest_paths
STOR=$(mktemp -d /tmp/hx-bench-stor-XXXXXX)
# shellcheck disable=SC2154 # hx_libvirt_rc is set inside the trap
trap 'hx_libvirt_rc=$?; libvirt_stop_all; mountpoint -q "$STOR/tank" && { umount "$STOR/tank" || umount -l "$STOR/tank"; }; rm -rf "$STOR"; (exit $hx_libvirt_rc); cleanup' EXIT
mkdir -p "$STOR/fast" "$STOR/tank"
truncate -s 1G "$STOR/btrfs.img"
mkfs.btrfs -q "$STOR/btrfs.img" >/dev/null || fail "mkfs.btrfs"
mount -o loop "$STOR/btrfs.img" "$STOR/tank" || fail "mount"
net_create 1
libvirt_start 1
ip netns exec "$(ns 1)" ip link add br0 type bridge
ip netns exec "$(ns 1)" ip link set br0 up
# shellcheck disable=SC2034 # read by node_start (lib.sh)
HXD_ARGS_1="--libvirt-uri $(libvirt_uri 1) --accel tcg"
cluster_form 1

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
act() { # METHOD PATH [BODY]: a task, waited for; fails the run on error
	local out t s
	out=$(api 1 "$1" "$2" "${3:-}")
	t=$(echo "$out" | jq -r '.data.task // empty')
	[ -n "$t" ] || fail "$1 $2 refused: $out"
	for _ in $(seq 3000); do
		s=$(api 1 GET "/tasks/$t" | jq -r .data.state)
		[ "$s" = ok ] && { echo "$t"; return 0; }
		[ "$s" = error ] && fail "$1 $2: $(api 1 GET "/tasks/$t" | jq -c .data)"
		sleep 0.05
	done
	fail "$1 $2: task $t did not end"
}
cfg() { # NAME VMID DISK-JSON
	cat <<EOF
{"vmid":$2,"name":"$1","memory_mb":128,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
           "cmdline":"console=ttyS0 quiet hx.id=$1"},
 "disks":[$3],"nics":[{"bridge":"br0"}]}
EOF
}
api 1 POST /storage/pools "{\"name\":\"fast\",\"type\":\"dir\",\"path\":\"$STOR/fast\"}" >/dev/null
api 1 POST /storage/pools "{\"name\":\"tank\",\"type\":\"btrfs\",\"path\":\"$STOR/tank\"}" >/dev/null

# ---- clones ----
act POST /vms "$(cfg tq 100 '{"pool":"fast","size_mb":64}')" >/dev/null
act POST /vms "$(cfg tb 101 '{"pool":"tank","format":"raw","size_mb":64}')" >/dev/null
qemu-io -f qcow2 -c "write -P 0x5a 0 64M" "$STOR/fast/vm-100-disk-0.qcow2" >/dev/null
qemu-io -f raw -c "write -P 0x5a 0 64M" "$STOR/tank/vm-101-disk-0.raw/disk.raw" >/dev/null
sync
act POST /vms/100/template >/dev/null
act POST /vms/101/template >/dev/null
declare -A T
for kind in linked full; do
	for src in 100 101; do
		for i in $(seq "$RUNS"); do
			t0=$(date +%s%N)
			act POST "/vms/$src/clone" "{\"name\":\"c$i\",\"vmid\":300,\"linked\":$([ $kind = linked ] && echo true || echo false)}" >/dev/null
			T[$kind$src]+="$(ms "$t0") "
			act DELETE /vms/300 >/dev/null
		done
	done
done
for i in $(seq "$RUNS"); do
	t0=$(date +%s%N)
	cp "$STOR/fast/vm-100-disk-0.qcow2" "$STOR/fast/copy.qcow2" && sync
	T[cp]+="$(ms "$t0") "
	rm -f "$STOR/fast/copy.qcow2"
done

# The floor: a task that does nothing (stopping a stopped VM).
for i in $(seq "$RUNS"); do
	t0=$(date +%s%N)
	act POST /vms/100/stop >/dev/null
	T[floor]+="$(ms "$t0") "
done

# ---- snapshots ----
act POST /vms "$(cfg sq 110 '{"pool":"fast","size_mb":64}')" >/dev/null
act POST /vms "$(cfg sb 111 '{"pool":"tank","format":"raw","size_mb":64}')" >/dev/null
snaps() { # VMID LABEL
	local t0 t i
	for i in $(seq "$RUNS"); do
		t0=$(date +%s%N)
		t=$(act POST "/vms/$1/snapshots" "{\"name\":\"s$i\"}")
		T[$2]+="$(ms "$t0") "
		p=$(api 1 GET "/tasks/$t" | jq -r '[.data.log[]?.line // empty] | map(select(test("paused"))) | .[0] // empty' | sed 's/[^0-9]*\([0-9]*\) ms.*/\1/')
		[ -n "$p" ] && T[$2pause]+="$p "
		act DELETE "/vms/$1/snapshots/s$i" >/dev/null
	done
}
snaps 110 offq
snaps 111 offb
act POST /vms/110/start >/dev/null
act POST /vms/111/start >/dev/null
up() { grep -aq "HXGUEST HEARTBEAT n=3 " "$(dir_of 1)/vms/$1/serial.log" 2>/dev/null; }
wait_until 600 0.2 up 110 || fail "guest 110 did not boot"
wait_until 600 0.2 up 111 || fail "guest 111 did not boot"
snaps 110 onq
snaps 111 onb

# ---- online disk move (libvirt block copy) of 256 MiB of data ----
act POST /vms "$(cfg mv 120 '{"pool":"fast","size_mb":256}')" >/dev/null
qemu-io -f qcow2 -c "write -P 0x6b 0 256M" "$STOR/fast/vm-120-disk-0.qcow2" >/dev/null
act POST /vms/120/start >/dev/null
wait_until 600 0.2 up 120 || fail "guest 120 did not boot"
for i in $(seq "$RUNS"); do
	if [ $((i % 2)) = 1 ]; then body='{"pool":"tank","format":"raw"}'; else body='{"pool":"fast","format":"qcow2"}'; fi
	t0=$(date +%s%N)
	act POST /vms/120/disks/0/move "$body" >/dev/null
	T[move]+="$(ms "$t0") "
done
act POST /vms/120/stop >/dev/null

load=$(cut -d' ' -f1-3 /proc/loadavg)
row() { printf '| %s | %s ms |\n' "$1" "$(echo "${T[$2]}" | tr ' ' '\n' | grep . | median)"; }
echo "# storage figures, $(date -u +'%Y-%m-%d %H:%M UTC'), $RUNS runs each, load average $load"
echo "| figure | median |"
echo "|---|---|"
row "a task that does nothing (stop a stopped VM), API to task end" floor
row "linked clone, qcow2 (64 MiB of data), API to task end" linked100
row "linked clone, btrfs raw (64 MiB of data)" linked101
row "full clone, qcow2 (qemu-img convert of 64 MiB)" full100
row "full clone, btrfs raw (reflink copy)" full101
row "plain cp + sync of the same 64 MiB qcow2 file" cp
row "snapshot, stopped VM, qcow2 (qemu-img)" offq
row "snapshot, stopped VM, btrfs raw (subvolume snapshot)" offb
row "snapshot with RAM, running 128 MiB VM, qcow2 (libvirt internal)" onq
row "snapshot with RAM, running 128 MiB VM, btrfs raw (save, snapshot, restore)" onb
row "  of which the guest was paused (btrfs)" onbpause
mv=$(echo "${T[move]}" | tr ' ' '\n' | grep . | median)
printf '| online move of a running VM disk holding 256 MiB, dir qcow2 <-> btrfs raw | %s ms (%s MiB/s) |\n' "$mv" "$(awk -v m="$mv" 'BEGIN { printf "%.0f", 256000 / m }')"
exit 0
