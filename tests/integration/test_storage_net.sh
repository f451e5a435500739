#!/bin/bash
# Network storage pools on one real hxd: an NFS pool on a userspace NFS
# server (nfs-ganesha, tests/lib/nfs.sh) and an RBD pool on a one-node
# Ceph cluster (tests/lib/ceph.sh), all in a network namespace of the
# test's own (hxd runs there too; libvirt's test driver stands in for
# QEMU). Volumes, resize, snapshots, templates and linked clones on both,
# the Ceph blocklist used by fencing, and every refusal, each checked to
# change nothing on the servers. Needs root (namespaces).
set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespace)"; exit 77; }
for c in ganesha.nfsd rpcbind ceph-mon ceph-osd rbd qemu-img; do
	command -v $c >/dev/null || { echo "FAIL: $c missing (tools/deps.sh)"; exit 1; }
done
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
. "$srcdir/tests/lib/nfs.sh"
. "$srcdir/tests/lib/ceph.sh"
work=$(mktemp -d /tmp/hx-stnet-XXXXXX)
net=$((100 + RANDOM % 100))
ns=hx-stnet-$net-$$
ip=10.$net.7.1
pid=
fail=0
cleanup() {
	[ -n "$pid" ] && { kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	nfs_stop "$work/nfs"
	ceph_stop "$work/ceph"
	ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	if [ "$fail" = 0 ]; then rm -rf "$work"; else tail -30 "$work/log"; echo "kept $work"; fi
}
trap cleanup EXIT
n=0
check() { # description, command...
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fail=1; fi
}
need() { check "$@" || exit 1; }
in_ns() { ip netns exec "$ns" "$@"; }
api() { # METHOD PATH [BODY] -> body
	curl -s --max-time 40 --unix-socket "$work/data/hxd.sock" -X "$1" \
		${3:+-d "$3"} "http://x/api/v1$2"
}
jqt() { # METHOD PATH BODY FILTER (an empty answer fails)
	local out
	out=$(api "$1" "$2" "$3")
	[ -n "$out" ] && echo "$out" | jq -e "$4" >/dev/null
}
rbd_ls() { in_ns timeout 20 rbd -c "$(ceph_conf "$work/ceph")" "$@"; }
# What the servers hold: the export's files and the RBD images with their
# snapshots and sizes.
state() {
	(cd "$work/export" && find . -printf '%p %s\n' | sort)
	for i in $(rbd_ls ls rbd 2>/dev/null); do
		rbd_ls info "rbd/$i" | grep size
		rbd_ls snap ls "rbd/$i"
	done
}
# refused STATUS MESSAGE-REGEX METHOD PATH [BODY]: that status, a message
# matching the regex, and nothing changed on the servers.
refused() {
	local want=$1 re=$2 before after out c
	shift 2
	before=$(state)
	out=$(curl -s --max-time 40 -w '\n%{http_code}' \
		--unix-socket "$work/data/hxd.sock" -X "$1" ${3:+-d "$3"} \
		"http://x/api/v1$2")
	c=$(echo "$out" | tail -1)
	after=$(state)
	if [ "$c" != "$want" ] || ! echo "$out" | head -1 | jq -r .error.message | grep -Eq -- "$re"; then
		echo "# $1 $2: got $c: $(echo "$out" | head -1)"
		return 1
	fi
	[ "$before" = "$after" ] || { echo "# changed: $before / $after"; return 1; }
}
wait_until() { # TRIES INTERVAL CMD...
	local tries=$1 interval=$2
	shift 2
	while [ "$tries" -gt 0 ]; do
		"$@" && return 0
		tries=$((tries - 1))
		sleep "$interval"
	done
	return 1
}
task_ok() {
	local s
	for _ in $(seq 600); do
		s=$(api GET "/tasks/$1" | jq -r .data.state)
		[ "$s" = ok ] && return 0
		[ "$s" = error ] && { api GET "/tasks/$1"; return 1; }
		sleep 0.1
	done
	return 1
}
run_task() { # METHOD PATH BODY: starts a task and waits for it
	local t
	t=$(api "$1" "$2" "${3:-}" | jq -r '.data.task // empty')
	[ -n "$t" ] && task_ok "$t"
}

# ---- servers ----
ip netns add "$ns" || { echo "FAIL: netns"; exit 1; }
in_ns ip link set lo up
in_ns ip addr add "$ip/32" dev lo
mkdir -p "$work/export" "$work/nfs"
t0=$(date +%s%N)
need "NFS server (nfs-ganesha) up" nfs_start "$ns" "$work/nfs" "$work/export"
t1=$(date +%s%N)
need "Ceph cluster (mon, mgr, bluestore OSD) up" ceph_start "$ns" "$ip" "$work/ceph"
need "Ceph pool 'rbd'" ceph_pool "$work/ceph" rbd
t2=$(date +%s%N)
echo "# nfs up in $(((t1 - t0) / 1000000)) ms, ceph in $(((t2 - t1) / 1000000)) ms"
conf=$(ceph_conf "$work/ceph")

# Not through in_ns: $! must be hxd itself (ip netns exec execs it), not
# a subshell whose death would leave hxd running.
ip netns exec "$ns" "$top_builddir/hxd" --data-dir "$work/data" --name solo \
	--address "$ip" --libvirt-uri test:///default >"$work/log" 2>&1 &
pid=$!
wait_until 50 0.1 test -S "$work/data/hxd.sock"
"$top_builddir/hxctl" --data-dir "$work/data" cluster init --name stnet >/dev/null ||
	{ fail=1; echo "not ok - init"; exit 1; }

# ---- NFS ----
nfsopt="{\"server\":\"$ip\"}"
check "NFS pool refused without a server" refused 400 "server" POST /storage/pools \
	"{\"name\":\"share\",\"type\":\"nfs\",\"path\":\"$work/export\"}"
check "NFS pool refused with a bad server" refused 400 "server" POST /storage/pools \
	"{\"name\":\"share\",\"type\":\"nfs\",\"path\":\"$work/export\",\"options\":{\"server\":\"a;b\"}}"
check "NFS pool refused without an export path" refused 400 "export" POST /storage/pools \
	"{\"name\":\"share\",\"type\":\"nfs\",\"options\":$nfsopt}"
check "NFS pool refused with an unknown option" refused 400 "not an NFS pool option" POST /storage/pools \
	"{\"name\":\"share\",\"type\":\"nfs\",\"path\":\"$work/export\",\"options\":{\"server\":\"$ip\",\"vers\":4}}"
check "NFS pool refused for ISO images" refused 400 "images only" POST /storage/pools \
	"{\"name\":\"share\",\"type\":\"nfs\",\"path\":\"$work/export\",\"options\":$nfsopt,\"content\":[\"images\",\"iso\"]}"
check "NFS pool created, shared" jqt POST /storage/pools \
	"{\"name\":\"share\",\"type\":\"nfs\",\"path\":\"$work/export\",\"options\":$nfsopt}" \
	'.data.type == "nfs" and .data.shared == true'
avail() { jqt GET "/storage/pools/$1" "" '.data.status | map(select(.node == "solo" and .available and .capacity_bytes > 0)) | length == 1'; }
check "NFS pool available, with its capacity" wait_until 100 0.2 avail share
check "qcow2 volume on NFS" jqt POST /storage/pools/share/volumes '{"name":"a.qcow2","size_mb":16}' \
	'.data.volid == "share:a.qcow2" and .data.size_bytes == 16777216'
check "it is a qcow2 file in the export" sh -c "qemu-img info '$work/export/a.qcow2' | grep -q 'file format: qcow2'"
check "raw volume on NFS" jqt POST /storage/pools/share/volumes '{"name":"b.raw","size_mb":8}' \
	'.data.format == "raw" and .data.size_bytes == 8388608'
check "listed" jqt GET /storage/pools/share/volumes "" '[.data[].name] | sort == ["a.qcow2","b.raw"]'
check "ISO name refused" refused 400 "qcow2 or .raw" POST /storage/pools/share/volumes '{"name":"c.iso","size_mb":1}'
check "path traversal refused" refused 400 "volume name|must not" POST /storage/pools/share/volumes \
	'{"name":"../x.qcow2","size_mb":1}'
check "existing volume refused" refused 409 "exists" POST /storage/pools/share/volumes '{"name":"a.qcow2","size_mb":1}'
check "resize to 32 MiB" jqt POST /storage/pools/share/volumes/a.qcow2/resize '{"size_mb":32}' '.data.size_bytes == 33554432'
check "shrink refused" refused 400 "shrink|grow" POST /storage/pools/share/volumes/a.qcow2/resize '{"size_mb":8}'
check "delete b.raw" jqt DELETE /storage/pools/share/volumes/b.raw "" '.data != null'
check "gone from the export" test ! -e "$work/export/b.raw"
check "unreachable server: pool unavailable, says why" jqt POST /storage/pools \
	"{\"name\":\"away\",\"type\":\"nfs\",\"path\":\"/x\",\"options\":{\"server\":\"10.$net.7.99\"}}" '.data.name == "away"'
away() { jqt GET /storage/pools/away "" '.data.status | map(select(.available == false and (.message | test("nfs")))) | length == 1'; }
check "... reported within the NFS timeout" wait_until 150 0.2 away
check "volume on an unreachable server: 503, nothing made" refused 503 "cannot mount" \
	POST /storage/pools/away/volumes '{"name":"x.qcow2","size_mb":1}'

# A VM on the NFS pool: its disk is a network disk, snapshots are qcow2's.
check "VM with a new NFS disk" run_task POST /vms '{"vmid":300,"name":"nfsvm","disks":[{"pool":"share","size_mb":8}]}'
check "its disk in the export" test -f "$work/export/vm-300-disk-0.qcow2"
check "volume in use not deleted" refused 409 "used by VM 300" DELETE /storage/pools/share/volumes/vm-300-disk-0.qcow2
check "snapshot s1" run_task POST /vms/300/snapshots '{"name":"s1"}'
check "the qcow2 on NFS has it" sh -c "qemu-img snapshot -l '$work/export/vm-300-disk-0.qcow2' | grep -q ' s1 '"
check "rollback to s1" run_task POST /vms/300/snapshots/s1/rollback
check "data written on the NFS disk" sh -c "qemu-io -f qcow2 -c 'write -P 0x33 0 64k' '$work/export/vm-300-disk-0.qcow2' | grep -q wrote"
check "made a template" run_task POST /vms/300/template
check "linked clone" run_task POST /vms/300/clone '{"name":"nfsclone","vmid":301}'
check "its qcow2 is backed by the template's, by URL" sh -c "qemu-img info '$work/export/vm-301-disk-0.qcow2' | grep -q 'backing file: nfs://$ip$work/export/vm-300-disk-0.qcow2'"
check "clone listed with its base" jqt GET /storage/pools/share/volumes "" \
	'.data | map(select(.name == "vm-301-disk-0.qcow2")) | .[0].backing == "vm-300-disk-0.qcow2"'
check "base of a linked clone not deleted" refused 409 "clone|used" DELETE /storage/pools/share/volumes/vm-300-disk-0.qcow2
# ---- clones to another pool or node ----
check "RBD pool for clones" jqt POST /storage/pools \
	"{\"name\":\"ceph\",\"type\":\"rbd\",\"options\":{\"pool\":\"rbd\",\"conf\":\"$conf\"}}" '.data.type == "rbd"'
check "linked clone to another pool refused" refused 400 "linked clone stays" POST /vms/300/clone \
	'{"name":"x1","vmid":310,"pool":"ceph","linked":true}'
check "qcow2 clone into RBD refused" refused 400 "raw images" POST /vms/300/clone \
	'{"name":"x1","vmid":310,"pool":"ceph","format":"qcow2"}'
check "clone to an unknown pool refused" refused 404 "no storage pool" POST /vms/300/clone \
	'{"name":"x1","vmid":310,"pool":"nope"}'
check "clone to an unknown node refused" refused 404 "nope" POST /vms/300/clone \
	'{"name":"x1","vmid":310,"node":"nope"}'
check "bad format refused" refused 400 "format" POST /vms/300/clone \
	'{"name":"x1","vmid":310,"format":"vmdk"}'
check "no VM 310 left by the refusals" sh -c "[ \"\$(curl -s --unix-socket '$work/data/hxd.sock' http://x/api/v1/vms/310 | jq -r .error.code)\" = not_found ]"
check "full clone of the NFS template into the RBD pool" run_task POST /vms/300/clone \
	'{"name":"torbd","vmid":310,"pool":"ceph","format":"raw"}'
check "its disk is an RBD image" jqt GET /vms/310 "" '.data.config.disks[0].volume == "ceph:vm-310-disk-0.raw" and .data.config.disks[0].format == "raw"'
check "holding the template's data" sh -c "ip netns exec '$ns' qemu-io -f raw -c 'read -P 0x33 0 64k' 'rbd:rbd/vm-310-disk-0.raw:conf=$conf' | grep -q 'read 65536'"
check "offline move of the RBD clone's disk to NFS qcow2" run_task POST /vms/310/disks/0/move '{"pool":"share","format":"qcow2"}'
check "it now names the NFS volume, the RBD image is gone" sh -c "[ \"\$(curl -s --unix-socket '$work/data/hxd.sock' http://x/api/v1/vms/310 | jq -r '.data.config.disks[0].volume')\" = share:vm-310-disk-0.qcow2 ] && ! ip netns exec '$ns' rbd -c '$conf' ls rbd | grep -q vm-310"
check "with the data" sh -c "qemu-io -f qcow2 -c 'read -P 0x33 0 64k' '$work/export/vm-310-disk-0.qcow2' | grep -q 'read 65536'"
check "and back into RBD" run_task POST /vms/310/disks/0/move '{"pool":"ceph","format":"raw"}'
check "with the data" sh -c "ip netns exec '$ns' qemu-io -f raw -c 'read -P 0x33 0 64k' 'rbd:rbd/vm-310-disk-0.raw:conf=$conf' | grep -q 'read 65536'"
check "clone to this node, named explicitly" run_task POST /vms/300/clone '{"name":"here","vmid":311,"node":"solo"}'
for v in 310 311 301; do check "delete VM $v" run_task DELETE /vms/$v; done
check "delete the template" run_task DELETE /vms/300
check "their volumes are gone" sh -c "! ls '$work/export' | grep -q vm-30"

# ---- Ceph RBD ----
rbdopt="{\"pool\":\"rbd\",\"conf\":\"$conf\"}"
check "RBD pool refused without a Ceph pool" refused 400 "options.pool" POST /storage/pools \
	"{\"name\":\"ceph2\",\"type\":\"rbd\",\"options\":{\"conf\":\"$conf\"}}"
check "RBD pool refused with a relative conf" refused 400 "options.conf" POST /storage/pools \
	'{"name":"ceph2","type":"rbd","options":{"pool":"rbd","conf":"ceph.conf"}}'
check "RBD pool refused with a path" refused 400 "path" POST /storage/pools \
	"{\"name\":\"ceph2\",\"type\":\"rbd\",\"path\":\"/srv\",\"options\":$rbdopt}"
check "RBD pool refused with an unknown option" refused 400 "not an RBD pool option" POST /storage/pools \
	"{\"name\":\"ceph2\",\"type\":\"rbd\",\"options\":{\"pool\":\"rbd\",\"conf\":\"$conf\",\"id\":\"x\"}}"
check "RBD pool refused for ISO images" refused 400 "images only" POST /storage/pools \
	"{\"name\":\"ceph2\",\"type\":\"rbd\",\"options\":$rbdopt,\"content\":[\"iso\"]}"
check "RBD pool as created, shared" jqt GET /storage/pools/ceph "" '.data.type == "rbd" and .data.shared == true'
check "RBD pool available, with its capacity" wait_until 100 0.2 avail ceph
check "RBD volume" jqt POST /storage/pools/ceph/volumes '{"name":"r.raw","size_mb":16}' \
	'.data.volid == "ceph:r.raw" and .data.format == "raw" and .data.size_bytes == 16777216'
check "it is an RBD image of 16 MiB" sh -c "rbd_ls() { ip netns exec '$ns' rbd -c '$conf' \"\$@\"; }; rbd_ls info rbd/r.raw | grep -q 'size 16 MiB'"
check "qcow2 on RBD refused" refused 400 "raw images" POST /storage/pools/ceph/volumes '{"name":"q.qcow2","size_mb":1}'
check "existing image refused" refused 409 "exists" POST /storage/pools/ceph/volumes '{"name":"r.raw","size_mb":1}'
check "huge size refused" refused 400 "size" POST /storage/pools/ceph/volumes '{"name":"h.raw","size_mb":999999999999}'
check "resize to 32 MiB" jqt POST /storage/pools/ceph/volumes/r.raw/resize '{"size_mb":32}' '.data.size_bytes == 33554432'
check "shrink refused" refused 400 "shrink|grow" POST /storage/pools/ceph/volumes/r.raw/resize '{"size_mb":8}'
check "listed" jqt GET /storage/pools/ceph/volumes "" '[.data[].name] == ["r.raw"]'
check "delete r.raw" jqt DELETE /storage/pools/ceph/volumes/r.raw "" '.data != null'
check "gone from Ceph" sh -c "[ -z \"\$(ip netns exec '$ns' rbd -c '$conf' ls rbd)\" ]"

check "VM with an RBD disk" run_task POST /vms '{"vmid":400,"name":"rbdvm","disks":[{"pool":"ceph","format":"raw","size_mb":8}]}'
check "its image exists" sh -c "ip netns exec '$ns' rbd -c '$conf' ls rbd | grep -qx vm-400-disk-0.raw"
# qemu-io writes through librbd: data before and after a snapshot
rio() { in_ns qemu-io -f raw -c "$1" "rbd:rbd/$2:conf=$conf"; }
check "data written" sh -c "ip netns exec '$ns' qemu-io -f raw -c 'write -P 0x11 0 64k' 'rbd:rbd/vm-400-disk-0.raw:conf=$conf' | grep -q 'wrote 65536'"
check "snapshot s1 (RBD snapshot)" run_task POST /vms/400/snapshots '{"name":"s1"}'
check "rbd snap ls shows it" sh -c "ip netns exec '$ns' rbd -c '$conf' snap ls rbd/vm-400-disk-0.raw | grep -q ' s1 '"
rio "write -P 0x22 0 64k" vm-400-disk-0.raw >/dev/null
check "rollback to s1" run_task POST /vms/400/snapshots/s1/rollback
check "the data before the snapshot is back" sh -c "ip netns exec '$ns' qemu-io -f raw -c 'read -P 0x11 0 64k' 'rbd:rbd/vm-400-disk-0.raw:conf=$conf' | grep -q 'read 65536'"
check "reserved snapshot name refused" refused 400 "reserved|snapshot name" POST /vms/400/snapshots '{"name":"hx-base"}'
check "delete s1" run_task DELETE /vms/400/snapshots/s1
check "made a template" run_task POST /vms/400/template
check "linked clone (RBD clone)" run_task POST /vms/400/clone '{"name":"rbdclone","vmid":401}'
check "its parent is the template's protected snapshot" sh -c "ip netns exec '$ns' rbd -c '$conf' info rbd/vm-401-disk-0.raw | grep -q 'parent: rbd/vm-400-disk-0.raw@hx-base'"
check "clone sees the template's data" sh -c "ip netns exec '$ns' qemu-io -f raw -c 'read -P 0x11 0 64k' 'rbd:rbd/vm-401-disk-0.raw:conf=$conf' | grep -q 'read 65536'"
check "clone listed with its base" jqt GET /storage/pools/ceph/volumes "" \
	'.data | map(select(.name == "vm-401-disk-0.raw")) | .[0].backing == "vm-400-disk-0.raw"'
check "base of a linked clone not deleted" refused 409 "clone|used" DELETE /storage/pools/ceph/volumes/vm-400-disk-0.raw
check "full clone (RBD copy)" run_task POST /vms/400/clone '{"name":"rbdfull","vmid":402,"linked":false}'
check "a copy without a parent" sh -c "! ip netns exec '$ns' rbd -c '$conf' info rbd/vm-402-disk-0.raw | grep -q parent"
for v in 401 402 400; do check "delete VM $v" run_task DELETE /vms/$v; done
check "no images left" sh -c "[ -z \"\$(ip netns exec '$ns' rbd -c '$conf' ls rbd)\" ]"

exit $fail
