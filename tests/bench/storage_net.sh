#!/bin/bash
# Network pool figures for docs/benchmarks.md: one hxd (libvirt's test
# driver: stopped VMs only) in a network namespace with an NFS server
# (nfs-ganesha) and a one-node Ceph cluster. Not a test: it prints medians
# over BENCH_STOR_RUNS runs (default 5). Needs root; use a build without
# sanitizers. Bounded.
#
#   clone:    POST /vms/T/clone to the end of its task, linked and full,
#             from a template whose 64 MiB disk is full of data (qcow2 on
#             NFS, raw on RBD);
#   snapshot: POST /vms/V/snapshots of a stopped VM to the end of its task;
#   floor:    a no-op task (stop a stopped VM), what any task costs;
#   copy:     the same 64 MiB copied by hand (qemu-img convert on NFS,
#             rbd cp on Ceph).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
RUNS=${BENCH_STOR_RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "bench storage_net: needs root"; exit 1; }
if grep -q '^HX_CFLAGS = .*-fsanitize' "$top_builddir/Makefile" 2>/dev/null; then
	echo "bench storage_net: build without --enable-sanitize"
	exit 1
fi
. "$top_srcdir/tests/lib/nfs.sh"
. "$top_srcdir/tests/lib/ceph.sh"
work=$(mktemp -d /tmp/hx-bench-stnet-XXXXXX)
net=$((100 + RANDOM % 100))
ns=hx-bstnet-$net-$$
ip=10.$net.7.1
pid=
cleanup() {
	[ -n "$pid" ] && { kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	nfs_stop "$work/nfs"
	ceph_stop "$work/ceph"
	ip netns del "$ns" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "bench storage_net: $*"; exit 1; }
ip netns add "$ns" || fail "netns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip addr add "$ip/32" dev lo
mkdir -p "$work/export" "$work/nfs"
t0=$(date +%s%N)
nfs_start "$ns" "$work/nfs" "$work/export" || fail "nfs"
t1=$(date +%s%N)
ceph_start "$ns" "$ip" "$work/ceph" || fail "ceph"
ceph_pool "$work/ceph" rbd || fail "ceph pool"
t2=$(date +%s%N)
conf=$(ceph_conf "$work/ceph")
ip netns exec "$ns" "$top_builddir/hxd" --data-dir "$work/data" --name solo \
	--address "$ip" --libvirt-uri test:///default >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 50); do [ -S "$work/data/hxd.sock" ] && break; sleep 0.1; done
"$top_builddir/hxctl" --data-dir "$work/data" cluster init --name b >/dev/null || fail "init"
api() {
	curl -s --max-time 60 --unix-socket "$work/data/hxd.sock" -X "$1" \
		${3:+-d "$3"} "http://x/api/v1$2"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
act() { # METHOD PATH [BODY]: a task, waited for
	local out t s
	out=$(api "$1" "$2" "${3:-}")
	t=$(echo "$out" | jq -r '.data.task // empty')
	[ -n "$t" ] || fail "$1 $2 refused: $out"
	for _ in $(seq 3000); do
		s=$(api GET "/tasks/$t" | jq -r .data.state)
		[ "$s" = ok ] && return 0
		[ "$s" = error ] && fail "$1 $2: $(api GET "/tasks/$t" | jq -c .data)"
		sleep 0.05
	done
	fail "$1 $2: task $t did not end"
}
timed() { local t; t=$(date +%s%N); act "$@"; ms "$t"; }

api POST /storage/pools "{\"name\":\"share\",\"type\":\"nfs\",\"path\":\"$work/export\",\"options\":{\"server\":\"$ip\"}}" >/dev/null
api POST /storage/pools "{\"name\":\"ceph\",\"type\":\"rbd\",\"options\":{\"pool\":\"rbd\",\"conf\":\"$conf\"}}" >/dev/null
act POST /vms '{"vmid":100,"name":"tn","disks":[{"pool":"share","size_mb":64}]}'
act POST /vms '{"vmid":101,"name":"tr","disks":[{"pool":"ceph","format":"raw","size_mb":64}]}'
ip netns exec "$ns" qemu-io -f qcow2 -c "write -P 0x5a 0 64M" \
	"nfs://$ip$work/export/vm-100-disk-0.qcow2" >/dev/null || fail "fill nfs"
ip netns exec "$ns" qemu-io -f raw -c "write -P 0x5a 0 64M" \
	"rbd:rbd/vm-101-disk-0.raw:conf=$conf" >/dev/null || fail "fill rbd"
act POST /vms '{"vmid":102,"name":"sn","disks":[{"pool":"share","size_mb":64}]}'
act POST /vms '{"vmid":103,"name":"sr","disks":[{"pool":"ceph","format":"raw","size_mb":64}]}'
act POST /vms/100/template
act POST /vms/101/template

declare -A f
id=200
for r in $(seq "$RUNS"); do
	f[floor]+="$(timed POST /vms/102/stop) "
	for t in 100 101; do
		f[linked$t]+="$(timed POST /vms/$t/clone "{\"name\":\"l$id\",\"vmid\":$id,\"linked\":true}") "
		act DELETE /vms/$id
		id=$((id + 1))
		f[full$t]+="$(timed POST /vms/$t/clone "{\"name\":\"f$id\",\"vmid\":$id,\"linked\":false}") "
		act DELETE /vms/$id
		id=$((id + 1))
	done
	f[snap102]+="$(timed POST /vms/102/snapshots "{\"name\":\"s$r\"}") "
	f[snap103]+="$(timed POST /vms/103/snapshots "{\"name\":\"s$r\"}") "
	t=$(date +%s%N)
	ip netns exec "$ns" qemu-img convert -f qcow2 -O qcow2 \
		"nfs://$ip$work/export/vm-100-disk-0.qcow2" \
		"nfs://$ip$work/export/copy$r.qcow2" || fail "convert"
	f[cpnfs]+="$(ms "$t") "
	t=$(date +%s%N)
	ip netns exec "$ns" rbd -c "$conf" cp rbd/vm-101-disk-0.raw "rbd/copy$r" \
		>/dev/null 2>&1 || fail "rbd cp"
	f[cprbd]+="$(ms "$t") "
done
m() { echo "${f[$1]}" | tr ' ' '\n' | grep . | median; }
echo "# servers: NFS up in $(((t1 - t0) / 1000000)) ms, Ceph in $(((t2 - t1) / 1000000)) ms"
echo "# medians of $RUNS runs, ms ($(date -u +%H:%M) UTC, load $(cut -d' ' -f1 /proc/loadavg))"
printf '%-52s %8s %8s\n' "figure" "NFS" "RBD"
printf '%-52s %8s %8s\n' "a task that does nothing (stop a stopped VM)" "$(m floor)" "$(m floor)"
printf '%-52s %8s %8s\n' "linked clone, template disk holding 64 MiB" "$(m linked100)" "$(m linked101)"
printf '%-52s %8s %8s\n' "full clone of it" "$(m full100)" "$(m full101)"
printf '%-52s %8s %8s\n' "copy by hand (qemu-img convert / rbd cp)" "$(m cpnfs)" "$(m cprbd)"
printf '%-52s %8s %8s\n' "snapshot of a stopped VM" "$(m snap102)" "$(m snap103)"
