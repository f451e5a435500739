#!/bin/bash
# make bench-vm: VM figures on one node in a network namespace with its own
# libvirtd and the test guest (docs/benchmarks.md). Not a test: it prints
# what it measures. Needs root and a build without sanitizers. Bounded.
#
#   start: API call (POST /vms/ID/start) until the guest's READY marker on
#          its serial console, median of BENCH_VM_STARTS runs (5);
#   cost:  hxd's RSS and CPU time over BENCH_VM_IDLE_S seconds (30) with no
#          VM, then with BENCH_VM_COUNT (4) running guests: the difference
#          per VM is what hxd adds for each running VM.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
export top_builddir
STARTS=${BENCH_VM_STARTS:-5}
IDLE_S=${BENCH_VM_IDLE_S:-30}
COUNT=${BENCH_VM_COUNT:-4}

if grep -q '^HX_CFLAGS = .*-fsanitize' "$top_builddir/Makefile" 2>/dev/null; then
	echo "bench-vm: build without --enable-sanitize (see make bench)"
	exit 1
fi
HX_TEST=benchvm
. "$top_srcdir/tests/cluster/lib.sh"
. "$top_srcdir/tests/lib/libvirt.sh"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
serial() { echo "$(dir_of 1)/vms/$1/serial.log"; }
task_done() {
	[ "$(api 1 GET "/tasks/$1" | jq -r .data.state)" = ok ]
}
# hxd_usage: "RSS_KB CPU_TICKS" of node 1's hxd.
hxd_usage() {
	local pid
	pid=$(cat "$(dir_of 1)/pid")
	echo "$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status") $(awk '{ print $14 + $15 }' "/proc/$pid/stat")"
}

guest_paths
net_create 1
libvirt_start 1
ip netns exec "$(ns 1)" ip link add br0 type bridge
ip netns exec "$(ns 1)" ip link set br0 up
HXD_ARGS_1="--libvirt-uri $(libvirt_uri 1) --accel tcg"
cluster_form 1

cfg() { # VMID
	cat <<EOF
{"vmid":$1,"name":"b$1","memory_mb":128,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
           "cmdline":"console=ttyS0 quiet hx.id=b$1"},
 "disks":[{"size_mb":16}],"nics":[{"bridge":"br0"}]}
EOF
}
for v in $(seq 200 $((200 + COUNT - 1))); do
	t=$(api 1 POST /vms "$(cfg "$v")" | jq -r .data.task)
	wait_until 100 0.2 task_done "$t" || fail "create $v"
done

# VM start latency.
lat=""
for i in $(seq "$STARTS"); do
	rm -f "$(serial 200)"
	t0=$(date +%s%N)
	t=$(api 1 POST /vms/200/start | jq -r .data.task)
	wait_until 600 0.05 grep -aq "HXGUEST READY" "$(serial 200)" ||
		fail "guest did not boot"
	t1=$(date +%s%N)
	wait_until 100 0.1 task_done "$t" || fail "start task"
	ms=$(((t1 - t0) / 1000000))
	log "start run $i: $ms ms"
	lat+="$ms"$'\n'
	t=$(api 1 POST /vms/200/stop | jq -r .data.task)
	wait_until 100 0.1 task_done "$t" || fail "stop task"
done
echo "vm start, API call to guest marker (ms): median $(echo -n "$lat" | median)" \
	"min $(echo -n "$lat" | sort -g | head -1) max $(echo -n "$lat" | sort -g | tail -1)" \
	"over $STARTS runs"

# hxd's cost per running VM.
sleep 2
read -r rss0 cpu0 <<<"$(hxd_usage)"
sleep "$IDLE_S"
read -r rss1 cpu1 <<<"$(hxd_usage)"
idle_cpu=$((cpu1 - cpu0))
for v in $(seq 200 $((200 + COUNT - 1))); do
	t=$(api 1 POST "/vms/$v/start" | jq -r .data.task)
	wait_until 300 0.2 task_done "$t" || fail "start $v"
	wait_until 600 0.2 grep -aq "HXGUEST READY" "$(serial "$v")" || fail "boot $v"
done
sleep 5
read -r rss2 cpu2 <<<"$(hxd_usage)"
sleep "$IDLE_S"
read -r rss3 cpu3 <<<"$(hxd_usage)"
busy_cpu=$((cpu3 - cpu2))
tck=$(getconf CLK_TCK)
awk -v r0="$rss1" -v r1="$rss3" -v c0="$idle_cpu" -v c1="$busy_cpu" \
	-v n="$COUNT" -v s="$IDLE_S" -v t="$tck" 'BEGIN {
	printf "hxd idle: RSS %.1f MB, CPU %.2f%% of a core\n", r0 / 1024, 100 * c0 / t / s
	printf "hxd with %d running VMs: RSS %.1f MB, CPU %.2f%% of a core\n", n, r1 / 1024, 100 * c1 / t / s
	printf "hxd added per running VM: RSS %+.2f MB, CPU %+.3f%% of a core\n", (r1 - r0) / 1024 / n, 100 * (c1 - c0) / t / s / n
}'
exit 0
