#!/bin/bash
# Live migration figures for the 128 MiB test guest: total time and guest
# downtime, medians over several round trips between two nodes (netns, a
# libvirtd each, TCG, migration in TLS as hxd runs it).
#
#   cd build/rel && top_builddir=$PWD bash ../../tests/bench/vm_migrate.sh
#
# HX_BENCH_RUNS (default 6) migrations per case. Cases: the guest without
# disks (memory only, as with shared storage), the same with
# max_downtime_ms 50, and with a 16 MiB local qcow2 disk copied along.
# Needs root, like the cluster tests. Prints one line per case.
# shellcheck disable=SC2034 # read by lib.sh
HX_TEST=bench-mig
. "$(dirname "$0")/../cluster/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

RUNS=${HX_BENCH_RUNS:-6}
# shellcheck disable=SC2034 # read by libvirt.sh
HX_LIBVIRT_MIGRATE_TLS=1
guest_paths
net_create 2
for i in 1 2; do
	libvirt_start "$i"
	eval "HXD_ARGS_$i=\"--libvirt-uri $(libvirt_uri "$i") --accel tcg\""
done
cluster_form 2
wait_until 60 0.5 members_with online 2 1 || fail "not all online"

task_state() { api "$1" GET "/tasks/$2" | jq -r .data.state; }
task_ended() { [ "$(task_state "$1" "$2")" != running ]; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# bench VMID DISKS EXTRA: RUNS live migrations back and forth.
bench() {
	local v=$1 disks=$2 extra=$3 from=1 to=2 i out task msg t0 t1
	out=$(api 1 POST /vms "{\"vmid\":$v,\"name\":\"b$v\",\"node\":\"n1\",\"memory_mb\":128,
		\"start\":true,\"disks\":$disks,
		\"kernel\":{\"path\":\"$GUEST_KERNEL\",\"initrd\":\"$GUEST_INITRD\",
		\"cmdline\":\"console=ttyS0 quiet hx.id=b$v\"}}")
	task=$(echo "$out" | jq -r .data.task)
	wait_until 300 0.2 task_ended 1 "$task" || fail "create: $out"
	wait_until 300 0.2 grep -aq "HXGUEST HEARTBEAT n=3 " \
		"$(dir_of 1)/vms/$v/serial.log" || fail "guest $v did not boot"
	: >"$HX_WORK/r$v"
	for i in $(seq "$RUNS"); do
		t0=$(date +%s%3N)
		task=$(api "$from" POST "/vms/$v/migrate" "{\"node\":\"n$to\"$extra}" | jq -r .data.task)
		wait_until 600 0.05 task_ended "$from" "$task" || fail "migration $i"
		t1=$(date +%s%3N)
		msg=$(api "$from" GET "/tasks/$task" | jq -r .data.message)
		[ "$(task_state "$from" "$task")" = ok ] || fail "migration $i: $msg"
		# "... in T ms (libvirt L ms, downtime D ms, ..."
		echo "$((t1 - t0)) $(echo "$msg" | sed -n 's/.* in \([0-9]*\) ms (libvirt \([0-9]*\) ms, downtime \([0-9]*\) ms.*/\1 \2 \3/p')" >>"$HX_WORK/r$v"
		log "run $i n$from -> n$to: $msg"
		sleep 2 # let the guest settle (idle guest, as measured)
		from=$((3 - from))
		to=$((3 - to))
	done
	# one guest at a time: the next case runs on an otherwise idle host
	task=$(api "$from" POST "/vms/$v/stop" | jq -r .data.task)
	wait_until 300 0.2 task_ended "$from" "$task" || fail "stop $v"
}

report() { # VMID LABEL
	local f=$HX_WORK/r$1
	printf '%s: API call to task end %s ms, task %s ms, libvirt %s ms, downtime %s ms (medians of %s; downtimes: %s)\n' \
		"$2" "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" \
		"$(cut -d' ' -f3 "$f" | median)" "$(cut -d' ' -f4 "$f" | median)" "$RUNS" \
		"$(cut -d' ' -f4 "$f" | tr '\n' ' ' | sed 's/ $//')"
}

bench 100 '[]' ''
bench 101 '[]' ',"max_downtime_ms":50'
bench 102 '[{"size_mb":16}]' ''
echo "== VM migration, 128 MiB test guest, TCG, TLS, $(date +%F)"
report 100 "memory only (shared storage), max_downtime_ms 100"
report 101 "memory only (shared storage), max_downtime_ms 50"
report 102 "with a 16 MiB local qcow2 disk, max_downtime_ms 100"
exit 0
