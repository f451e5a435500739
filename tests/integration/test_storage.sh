#!/bin/bash
# Storage pools and volumes on one real hxd: a directory pool with real
# qcow2/raw files and a btrfs pool on a loop file, driven through the API
# (libvirt's test driver stands in for QEMU: no VM runs here). Bad input
# (path tricks, bad sizes, unknown pools, volumes in use) gets a 4xx and
# changes nothing on disk. Needs root (loop device, mount).
set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (loop mount)"; exit 77; }
command -v mkfs.btrfs >/dev/null || { echo "FAIL: mkfs.btrfs missing (btrfs-progs; tools/deps.sh)"; exit 1; }
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/hx-stor-XXXXXX)
port=$((20000 + RANDOM % 20000))
pid=
fail=0
cleanup() {
	[ -n "$pid" ] && { kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
	mountpoint -q "$work/tank" && { umount "$work/tank" || umount -l "$work/tank"; }
	if [ "$fail" = 0 ]; then rm -rf "$work"; else tail -30 "$work/log"; echo "kept $work"; fi
}
trap cleanup EXIT
mkdir -p "$work/fast" "$work/tank"
truncate -s 256M "$work/btrfs.img"
mkfs.btrfs -q "$work/btrfs.img" >/dev/null || { fail=1; echo "FAIL: mkfs.btrfs"; exit 1; }
mount -o loop "$work/btrfs.img" "$work/tank" || { fail=1; echo "FAIL: mount"; exit 1; }

"$top_builddir/hxd" --data-dir "$work/data" --name solo --address 127.0.0.1 \
	--api-port "$port" --peer-port $((port + 1)) \
	--libvirt-uri test:///default >"$work/log" 2>&1 &
pid=$!
n=0
check() { # description, command...
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fail=1; fi
}
api() { # METHOD PATH [BODY] -> body
	curl -s --max-time 20 --unix-socket "$work/data/hxd.sock" -X "$1" \
		${3:+-d "$3"} "http://x/api/v1$2"
}
code() { # METHOD PATH [BODY] -> HTTP status
	curl -s --max-time 20 -o /dev/null -w '%{http_code}' \
		--unix-socket "$work/data/hxd.sock" -X "$1" ${3:+-d "$3"} \
		"http://x/api/v1$2"
}
jqt() { # METHOD PATH BODY FILTER (an empty answer fails)
	local out
	out=$(api "$1" "$2" "$3")
	[ -n "$out" ] && echo "$out" | jq -e "$4" >/dev/null
}
# refused STATUS MESSAGE-REGEX METHOD PATH [BODY]: that status, a message
# matching the regex, and the pools' files unchanged.
refused() {
	local want=$1 re=$2 before after out c
	shift 2
	before=$(cd "$work" && find fast tank -printf '%p %s\n' | sort)
	out=$(curl -s --max-time 20 -w '\n%{http_code}' \
		--unix-socket "$work/data/hxd.sock" -X "$1" ${3:+-d "$3"} \
		"http://x/api/v1$2")
	c=$(echo "$out" | tail -1)
	after=$(cd "$work" && find fast tank -printf '%p %s\n' | sort)
	if [ "$c" != "$want" ] || ! echo "$out" | head -1 | jq -r .error.message | grep -Eq -- "$re"; then
		echo "# $1 $2: got $c: $(echo "$out" | head -1)"
		return 1
	fi
	[ "$before" = "$after" ] || { echo "# files changed: $before / $after"; return 1; }
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
	for _ in $(seq 200); do
		s=$(api GET "/tasks/$1" | jq -r .data.state)
		[ "$s" = ok ] && return 0
		[ "$s" = error ] && { api GET "/tasks/$1"; return 1; }
		sleep 0.1
	done
	return 1
}
wait_until 50 0.1 test -S "$work/data/hxd.sock"
"$top_builddir/hxctl" --data-dir "$work/data" cluster init --name stor >/dev/null ||
	{ fail=1; echo "not ok - init"; exit 1; }

# ---- pools ----
check "dir pool created" jqt POST /storage/pools \
	"{\"name\":\"fast\",\"type\":\"dir\",\"path\":\"$work/fast\",\"content\":[\"images\",\"iso\"]}" \
	'.data.name == "fast" and .data.type == "dir" and .data.content == ["images","iso"] and .data.shared == false'
check "btrfs pool created" jqt POST /storage/pools \
	"{\"name\":\"tank\",\"type\":\"btrfs\",\"path\":\"$work/tank\",\"nodes\":[\"solo\"]}" \
	'.data.nodes == ["solo"] and .data.content == ["images"]'
check "pool 'local' is reserved" refused 400 reserved POST /storage/pools \
	"{\"name\":\"local\",\"type\":\"dir\",\"path\":\"$work/fast\"}"
check "zfs pools do not exist" refused 400 "type" POST /storage/pools \
	"{\"name\":\"z\",\"type\":\"zfs\",\"path\":\"$work/fast\"}"
check "lvm pools do not exist" refused 400 "type" POST /storage/pools \
	"{\"name\":\"z\",\"type\":\"lvm\",\"path\":\"/dev/vg\"}"
check "pool path with .." refused 400 "path" POST /storage/pools \
	"{\"name\":\"z\",\"type\":\"dir\",\"path\":\"$work/fast/../tank\"}"
check "pool path relative" refused 400 "path" POST /storage/pools \
	'{"name":"z","type":"dir","path":"fast"}'
check "pool name with a slash" refused 400 "name" POST /storage/pools \
	'{"name":"a/b","type":"dir","path":"/srv"}'
check "unknown content" refused 400 "content" POST /storage/pools \
	'{"name":"z","type":"dir","path":"/srv","content":["movies"]}'
check "duplicate pool" refused 409 "exists" POST /storage/pools \
	"{\"name\":\"fast\",\"type\":\"dir\",\"path\":\"$work/fast\"}"
check "still two pools" jqt GET /storage/pools "" '(.data | length) == 2'
check "unknown pool is 404" refused 404 "no storage pool" GET /storage/pools/nope/volumes
# Each node reports what it sees of the pool.
avail() { jqt GET "/storage/pools/$1" "" '.data.status | map(select(.node == "solo" and .available and .capacity_bytes > 0)) | length == 1'; }
check "dir pool reported available" wait_until 100 0.1 avail fast
check "btrfs pool reported available" wait_until 100 0.1 avail tank
check "PATCH with a stale digest is 412" refused 412 "changed" PATCH /storage/pools/fast \
	'{"content":["images"],"digest":"0000"}'
d=$(api GET /storage/pools/fast | jq -r .data.digest)
check "PATCH content" jqt PATCH /storage/pools/fast "{\"content\":[\"images\",\"iso\",\"backup\"],\"digest\":\"$d\"}" \
	'.data.content == ["images","iso","backup"]'

# ---- volumes ----
check "qcow2 volume created (201)" test "$(code POST /storage/pools/fast/volumes '{"name":"a.qcow2","size_mb":16}')" = 201
check "it is a real 16 MiB qcow2" sh -c "qemu-img info '$work/fast/a.qcow2' | grep -q 'virtual size: 16 MiB' && qemu-img info '$work/fast/a.qcow2' | grep -q 'file format: qcow2'"
check "raw volume on btrfs is a subvolume" jqt POST /storage/pools/tank/volumes '{"name":"b.raw","size_mb":8}' \
	'.data.volid == "tank:b.raw" and .data.format == "raw" and .data.size_bytes == 8388608'
check "subvolume with disk.raw" sh -c "btrfs subvolume show '$work/tank/b.raw' >/dev/null && [ \$(stat -c %s '$work/tank/b.raw/disk.raw') = 8388608 ]"
check "path traversal in the name" refused 400 "volume name|must not" POST /storage/pools/fast/volumes \
	'{"name":"../../etc/x.qcow2","size_mb":1}'
check "slash in the name" refused 400 "character" POST /storage/pools/fast/volumes \
	'{"name":"a/b.qcow2","size_mb":1}'
check "hidden name" refused 400 "start with" POST /storage/pools/fast/volumes \
	'{"name":".x.qcow2","size_mb":1}'
check "NUL in the name" refused 400 "name|u0000" POST /storage/pools/fast/volumes \
	'{"name":"a\u0000b.qcow2","size_mb":1}'
check "unknown suffix" refused 400 "qcow2 or .raw" POST /storage/pools/fast/volumes \
	'{"name":"a.img","size_mb":1}'
check "negative size" refused 400 "size_mb" POST /storage/pools/fast/volumes \
	'{"name":"n.qcow2","size_mb":-1}'
check "huge size" refused 400 "size_mb" POST /storage/pools/fast/volumes \
	'{"name":"n.qcow2","size_mb":1000000000000}'
check "size as a string" refused 400 "size_mb" POST /storage/pools/fast/volumes \
	'{"name":"n.qcow2","size_mb":"1G"}'
check "unknown pool" refused 404 "no storage pool" POST /storage/pools/nope/volumes \
	'{"name":"n.qcow2","size_mb":1}'
check "existing volume" refused 409 "already exists" POST /storage/pools/fast/volumes \
	'{"name":"a.qcow2","size_mb":1}'
check "traversal in the URL" refused 404 "no such API path" GET "/storage/pools/fast/volumes/..%2F..%2Fetc%2Fpasswd"
check "listing shows both kinds" jqt GET /storage/pools/fast/volumes "" \
	'[.data[].name] == ["a.qcow2"] and .data[0].size_bytes == 16777216 and .data[0].used_by == []'

# ---- resize ----
check "grow offline" jqt POST /storage/pools/fast/volumes/a.qcow2/resize '{"size_mb":32}' \
	'.data.size_bytes == 33554432 and .data.online == false'
check "qemu-img sees 32 MiB" sh -c "qemu-img info '$work/fast/a.qcow2' | grep -q 'virtual size: 32 MiB'"
check "shrink refused" refused 400 "shrinking" POST /storage/pools/fast/volumes/a.qcow2/resize '{"size_mb":8}'
check "grow raw on btrfs" jqt POST /storage/pools/tank/volumes/b.raw/resize '{"size_mb":12}' \
	'.data.size_bytes == 12582912'

# ---- volumes and VMs ----
out=$(api POST /vms '{"vmid":100,"name":"user","disks":[{"volume":"fast:a.qcow2"},{"pool":"tank","format":"raw","size_mb":8}]}')
t=$(echo "$out" | jq -r '.data.task // empty')
check "VM with pool disks created" sh -c "[ -n '$t' ]"
[ -n "$t" ] && check "its create task ended ok" task_ok "$t"
check "new disk tank:vm-100-disk-1.raw is a subvolume" sh -c "btrfs subvolume show '$work/tank/vm-100-disk-1.raw' >/dev/null"
check "VM config names the volumes" jqt GET /vms/100 "" \
	'.data.config.disks[0].volume == "fast:a.qcow2" and .data.config.disks[0].format == "qcow2" and .data.config.disks[1].volume == "tank:vm-100-disk-1.raw"'
check "volume shows its user" jqt GET /storage/pools/fast/volumes/a.qcow2 "" \
	'.data.used_by == [{"vmid":100,"node":"solo","device":"disk","pending":false}]'
check "volume in use is not deleted" refused 409 "used by VM 100" DELETE /storage/pools/fast/volumes/a.qcow2
check "pool in use is not deleted" refused 409 "used by VM 100" DELETE /storage/pools/tank
check "VM on an unknown pool refused" refused 400 "no storage pool" POST /vms \
	'{"vmid":101,"name":"lost","disks":[{"pool":"nope","size_mb":8}]}'
check "VM with a traversal volume refused" refused 400 "volume" POST /vms \
	'{"vmid":101,"name":"lost","disks":[{"volume":"fast:../a.qcow2"}]}'
check "VM on a missing volume refused" sh -c "! curl -s --unix-socket '$work/data/hxd.sock' http://x/api/v1/vms/101 | grep -q '\"data\"'"
t=$(api DELETE /vms/100 | jq -r '.data.task // empty')
check "VM deleted" sh -c "[ -n '$t' ]"
[ -n "$t" ] && check "its delete task ended ok" task_ok "$t"
check "its own volume went with it" sh -c "[ ! -e '$work/tank/vm-100-disk-1.raw' ]"
check "the attached volume stayed" test -f "$work/fast/a.qcow2"
check "free volume deleted" test "$(code DELETE /storage/pools/fast/volumes/a.qcow2)" = 200
check "file gone" sh -c "[ ! -e '$work/fast/a.qcow2' ]"
check "btrfs volume deleted" test "$(code DELETE /storage/pools/tank/volumes/b.raw)" = 200
check "subvolume gone" sh -c "[ ! -e '$work/tank/b.raw' ]"
check "deleting it again is 404" refused 404 "no volume" DELETE /storage/pools/tank/volumes/b.raw
check "pool deleted" test "$(code DELETE /storage/pools/tank)" = 200
check "one pool left" jqt GET /storage/pools "" '[.data[].name] == ["fast"]'

# ---- snapshots, templates, clones of a stopped VM ----
# (the cluster test tests/cluster/test_storage.sh does it with a running
# guest and its RAM)
check "btrfs pool for snapshots" jqt POST /storage/pools \
	"{\"name\":\"snap\",\"type\":\"btrfs\",\"path\":\"$work/tank\"}" '.data.name == "snap"'
t=$(api POST /vms '{"vmid":200,"name":"base","disks":[{"pool":"fast","size_mb":4},{"pool":"snap","format":"raw","size_mb":4},{"size_mb":4}]}' | jq -r '.data.task // empty')
check "VM with qcow2, btrfs raw and local disks" sh -c "[ -n '$t' ]"
[ -n "$t" ] && check "created" task_ok "$t"
q1=$work/fast/vm-200-disk-0.qcow2
r1=$work/tank/vm-200-disk-1.raw/disk.raw
l1=$work/data/images/vm-200-disk-2.qcow2
# fill PATTERN: the first 64 KiB of every disk hold PATTERN.
fill() {
	qemu-io -f qcow2 -c "write -P $1 0 64k" "$q1" >/dev/null &&
		qemu-io -f raw -c "write -P $1 0 64k" "$r1" >/dev/null &&
		qemu-io -f qcow2 -c "write -P $1 0 64k" "$l1" >/dev/null
}
# holds PATTERN [FILES...]: the first 64 KiB of each hold PATTERN.
holds() {
	local p=$1 f fmt
	shift
	[ $# -gt 0 ] || set -- "$q1" "$r1" "$l1"
	for f in "$@"; do
		case $f in *.raw) fmt=raw ;; *) fmt=qcow2 ;; esac
		qemu-io -r -f $fmt -c "read -P $p 0 64k" "$f" | grep -q "read 65536" || return 1
	done
}
snap() { # NAME [DESCRIPTION]: take a snapshot through the API, wait for it
	local t
	t=$(api POST /vms/200/snapshots "{\"name\":\"$1\",\"description\":\"${2:-}\"}" | jq -r '.data.task // empty')
	[ -n "$t" ] && task_ok "$t"
}
check "data written" fill 0x11
check "snapshot s1 of a stopped VM" snap s1 "first"
check "each disk has it" sh -c "qemu-img snapshot -l '$q1' | grep -q ' s1 ' && qemu-img snapshot -l '$l1' | grep -q ' s1 ' && btrfs subvolume show '$work/tank/vm-200-disk-1.raw@s1' >/dev/null"
check "data changed" fill 0x22
check "snapshot s2" snap s2
check "tree: s1 <- s2, s2 current" jqt GET /vms/200/snapshots "" \
	'(.data | map({name, parent, current, ram})) == [{"name":"s1","parent":null,"current":false,"ram":false},{"name":"s2","parent":"s1","current":true,"ram":false}]'
check "bad snapshot name" refused 400 "snapshot name" POST /vms/200/snapshots '{"name":"../x"}'
check "duplicate snapshot" refused 409 "already has" POST /vms/200/snapshots '{"name":"s1"}'
check "rollback to a missing snapshot" refused 404 "no snapshot" POST /vms/200/snapshots/nope/rollback
t=$(api POST /vms/200/snapshots/s1/rollback | jq -r '.data.task // empty')
check "rollback to s1" sh -c "[ -n '$t' ]"
[ -n "$t" ] && check "rollback ended" task_ok "$t"
check "every disk holds the data of s1 again" holds 0x11
check "s1 is current" jqt GET /vms/200/snapshots "" '.data | map(select(.current)) | map(.name) == ["s1"]'
check "snapshot s3 branches off s1" snap s3
check "s3's parent is s1" jqt GET /vms/200/snapshots "" '.data | map(select(.name == "s3")) | .[0].parent == "s1"'
t=$(api DELETE /vms/200/snapshots/s2 | jq -r '.data.task // empty')
check "delete s2" sh -c "[ -n '$t' ]"
[ -n "$t" ] && check "deleted" task_ok "$t"
check "s2 gone from disks and tree" sh -c "! qemu-img snapshot -l '$q1' | grep -q ' s2 ' && [ ! -e '$work/tank/vm-200-disk-1.raw@s2' ] && [ \"\$(curl -s --unix-socket '$work/data/hxd.sock' http://x/api/v1/vms/200/snapshots | jq -c '[.data[].name]')\" = '[\"s1\",\"s3\"]' ]"
check "linked clone of a non-template refused" refused 400 "template" POST /vms/200/clone '{"name":"c0","vmid":210,"linked":true}'
t=$(api POST /vms/200/template | jq -r '.data.task // empty')
check "made a template" sh -c "[ -n '$t' ]"
[ -n "$t" ] && check "template task ended" task_ok "$t"
check "config says template" jqt GET /vms/200 "" '.data.config.template == true'
check "no snapshots of a template" refused 409 "template" POST /vms/200/snapshots '{"name":"s4"}'
t=$(api POST /vms/200/start | jq -r '.data.task // empty')
check "a template does not start" sh -c "[ -n '$t' ] && for i in \$(seq 100); do s=\$(curl -s --unix-socket '$work/data/hxd.sock' http://x/api/v1/tasks/$t | jq -r .data.state); [ \$s = error ] && exit 0; [ \$s = ok ] && exit 1; sleep 0.1; done; exit 1"
out=$(api POST /vms/200/clone '{"name":"clone1","vmid":201}')
t=$(echo "$out" | jq -r '.data.task // empty')
check "linked clone (the default from a template)" sh -c "[ -n '$t' ] && [ \"\$(echo '$out' | jq .data.clone)\" = 201 ]"
[ -n "$t" ] && check "clone task ended" task_ok "$t"
check "clone's qcow2 disks are backed by the template's" sh -c "qemu-img info '$work/fast/vm-201-disk-0.qcow2' | grep -q 'backing file: vm-200-disk-0.qcow2' && qemu-img info '$work/data/images/vm-201-disk-2.qcow2' | grep -q 'backing file: vm-200-disk-2.qcow2'"
check "clone's btrfs disk is a snapshot subvolume" sh -c "btrfs subvolume show '$work/tank/vm-201-disk-1.raw' | grep -Eq 'Parent UUID:[[:space:]]+[0-9a-f]'"
check "clone sees the template's data" holds 0x11 "$work/fast/vm-201-disk-0.qcow2" "$work/tank/vm-201-disk-1.raw/disk.raw" "$work/data/images/vm-201-disk-2.qcow2"
check "clone has new MACs, no template flag" jqt GET /vms/201 "" '.data.config.template == null and .data.name == "clone1"'
check "clone with a taken name" refused 409 "exists" POST /vms/200/clone '{"name":"clone1","vmid":205}'
check "clone with a bad name" refused 400 "name" POST /vms/200/clone '{"name":"Bad Name"}'
t=$(api POST /vms/201/clone '{"name":"full1","vmid":202,"linked":false}' | jq -r '.data.task // empty')
check "full clone of the clone" sh -c "[ -n '$t' ]"
[ -n "$t" ] && check "full clone ended" task_ok "$t"
check "full clone is independent and has the data" sh -c "! qemu-img info '$work/fast/vm-202-disk-0.qcow2' | grep -q 'backing file' && ! qemu-img info '$work/data/images/vm-202-disk-2.qcow2' | grep -q 'backing file'"
check "full clone data" holds 0x11 "$work/fast/vm-202-disk-0.qcow2" "$work/tank/vm-202-disk-1.raw/disk.raw" "$work/data/images/vm-202-disk-2.qcow2"
check "a linked clone's base volume is not deleted" refused 409 "used by VM 200|base of linked clone" DELETE /storage/pools/fast/volumes/vm-200-disk-0.qcow2
for v in 202 201 200; do
	t=$(api DELETE "/vms/$v" | jq -r '.data.task // empty')
	check "delete VM $v" sh -c "[ -n '$t' ]"
	[ -n "$t" ] && task_ok "$t" >/dev/null
done
check "all their volumes and snapshots are gone" sh -c "! ls '$work/fast' '$work/tank' '$work/data/images' | grep -q vm-20"
check "snapshot pool removed" test "$(code DELETE /storage/pools/snap)" = 200

# ---- ISO upload (streamed, checksum verified) ----
mkdir -p "$work/isos"
check "ISO pool" jqt POST /storage/pools \
	"{\"name\":\"isos\",\"type\":\"dir\",\"path\":\"$work/isos\",\"content\":[\"iso\"]}" '.data.content == ["iso"]'
check "images-only pool" jqt POST /storage/pools \
	"{\"name\":\"imgs\",\"type\":\"dir\",\"path\":\"$work/fast\"}" '.data.content == ["images"]'
head -c 3000000 /dev/urandom >"$work/test.iso"
sum=$(sha256sum "$work/test.iso" | cut -d' ' -f1)
bad=$(echo "$sum" | tr '0-9a-f' '1-9a-f0')
# upload WANT-STATUS REGEX NAME QUERY [POOL]: PUT the test ISO; the
# status, a matching message, and no stray file in the ISO pool after.
upload() {
	local c
	c=$(curl -s --max-time 60 -o "$work/up.out" -w '%{http_code}' \
		--unix-socket "$work/data/hxd.sock" -T "$work/test.iso" \
		"http://x/api/v1/storage/pools/${5:-isos}/iso/$3$4")
	[ "$c" = "$1" ] && grep -Eq -- "$2" "$work/up.out" ||
		{ echo "# upload $3$4: $c $(cat "$work/up.out")"; return 1; }
}
check "wrong checksum refused, nothing kept" upload 400 "checksum mismatch" a.iso "?sha256=$bad"
check "no temporary file left" sh -c "[ -z \"\$(ls -A '$work/isos')\" ]"
check "checksum required" upload 400 "sha256" a.iso ""
check "malformed checksum" upload 400 "sha256" a.iso "?sha256=xyz"
check "name must end in .iso" upload 400 "\\.iso" a.img "?sha256=$sum"
check "no path tricks in the name" upload 400 "must not" "..a.iso" "?sha256=$sum"
check "pool without iso content" upload 400 "ISO" a.iso "?sha256=$sum" imgs
check "unknown pool" upload 404 "no storage pool" a.iso "?sha256=$sum" nope
check "still nothing in the pool" sh -c "[ -z \"\$(ls -A '$work/isos')\" ]"
check "unauthenticated HTTPS upload refused" sh -c "[ \"\$(curl -sk --max-time 20 -o /dev/null -w '%{http_code}' -T '$work/test.iso' 'https://127.0.0.1:$port/api/v1/storage/pools/isos/iso/x.iso?sha256=$sum')\" = 401 ] && [ -z \"\$(ls -A '$work/isos')\" ]"
check "upload with the right checksum (201)" upload 201 "\"sha256\":\"$sum\"" test.iso "?sha256=$sum"
check "the stored file is the upload" cmp -s "$work/test.iso" "$work/isos/test.iso"
check "listed as an ISO" jqt GET /storage/pools/isos/volumes "" \
	'[.data[] | {name, format, content, size_bytes}] == [{"name":"test.iso","format":"iso","content":"iso","size_bytes":3000000}]'
check "uploading it again: conflict" upload 409 "exists" test.iso "?sha256=$sum"
hx() { "$top_builddir/hxctl" --data-dir "$work/data" "$@"; }
hx_exit() { # WANT CMD...: hxctl exits WANT
	local want=$1 got
	shift
	hx "$@" >/dev/null 2>&1
	got=$?
	[ "$got" = "$want" ] || { echo "# hxctl $*: exit $got, want $want"; return 1; }
}
check "hxctl storage upload, wrong checksum (exit 1)" hx_exit 1 storage upload isos "$work/test.iso" --name copy.iso --sha256 "$bad"
check "hxctl storage upload, no checksum (usage, 2)" hx_exit 2 storage upload isos "$work/test.iso"
check "hxctl storage upload" hx_exit 0 storage upload isos "$work/test.iso" --name copy.iso --sha256 "$sum"
check "hxctl's upload is the file" cmp -s "$work/test.iso" "$work/isos/copy.iso"
check "hxctl storage free of the copy" hx_exit 0 storage free isos:copy.iso
t=$(api POST /vms '{"vmid":400,"name":"installer","cdrom":{"iso":"isos:test.iso"}}' | jq -r '.data.task // empty')
check "VM with the ISO as CD-ROM" sh -c "[ -n '$t' ]"
[ -n "$t" ] && check "created" task_ok "$t"
check "ISO in use is not deleted" refused 409 "used by VM 400 \(its CD-ROM" DELETE /storage/pools/isos/volumes/test.iso
check "CD-ROM of a missing ISO refused" refused 400 "no ISO" POST /vms '{"vmid":401,"name":"x","cdrom":{"iso":"isos:nope.iso"}}'
check "CD-ROM from an images-only pool refused" refused 400 "ISO" POST /vms '{"vmid":401,"name":"x","cdrom":{"iso":"imgs:a.iso"}}'
check "CD-ROM volume not .iso refused" refused 400 "ends in .iso" POST /vms '{"vmid":401,"name":"x","cdrom":{"iso":"isos:a.qcow2"}}'
t=$(api DELETE /vms/400 | jq -r '.data.task // empty')
[ -n "$t" ] && task_ok "$t" >/dev/null
check "ISO deleted once free" test "$(code DELETE /storage/pools/isos/volumes/test.iso)" = 200
check "ISO pools removed" sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$work/data/hxd.sock' -X DELETE http://x/api/v1/storage/pools/isos) = 200 ] && [ \$(curl -s -o /dev/null -w '%{http_code}' --unix-socket '$work/data/hxd.sock' -X DELETE http://x/api/v1/storage/pools/imgs) = 200 ]"

# ---- hxctl storage ----
hx() { "$top_builddir/hxctl" --data-dir "$work/data" "$@"; }
exit_code() { # WANT CMD...: the command exits WANT
	local want=$1 got
	shift
	"$@" >/dev/null 2>&1
	got=$?
	[ "$got" = "$want" ] || { echo "# $*: exit $got, want $want"; return 1; }
}
check "hxctl storage add" exit_code 0 hx storage add tank2 --type btrfs --path "$work/tank" --content images,iso
check "hxctl storage add refuses zfs (usage of the API: exit 1)" exit_code 1 hx storage add z --type zfs --path /z
check "hxctl storage list shows it" sh -c "'$top_builddir/hxctl' --data-dir '$work/data' storage list | grep -q '^tank2 *btrfs'"
check "hxctl storage alloc" exit_code 0 hx storage alloc tank2:c.raw --size 4
check "hxctl storage alloc twice: conflict (4)" exit_code 4 hx storage alloc tank2:c.raw --size 4
check "hxctl storage alloc bad size: usage (2)" exit_code 2 hx storage alloc tank2:d.raw --size -4
check "hxctl storage resize" exit_code 0 hx storage resize tank2:c.raw --size 1G
check "hxctl storage content --json" sh -c "'$top_builddir/hxctl' --data-dir '$work/data' --json storage content tank2 | jq -e '.[0].volid == \"tank2:c.raw\" and .[0].size_bytes == 1073741824' >/dev/null"
check "hxctl storage volume of an unknown pool: not found (3)" exit_code 3 hx storage volume nope:c.raw
check "hxctl storage free" exit_code 0 hx storage free tank2:c.raw
check "hxctl storage remove" exit_code 0 hx storage remove tank2
t=$(api POST /vms '{"vmid":300,"name":"hxs","disks":[{"size_mb":4}]}' | jq -r '.data.task // empty')
[ -n "$t" ] && task_ok "$t" >/dev/null
check "hxctl vm snapshot --wait" exit_code 0 hx vm snapshot hxs first --description "one" --wait
check "hxctl vm snapshot, bad name (400: exit 1)" exit_code 1 hx vm snapshot hxs ../x
check "hxctl vm snapshot, same name (409: exit 4)" exit_code 4 hx vm snapshot hxs first
check "hxctl vm snapshots shows the tree" sh -c "'$top_builddir/hxctl' --data-dir '$work/data' vm snapshots hxs | grep -q '^first (current) .* one'"
check "hxctl vm rollback --wait" exit_code 0 hx vm rollback hxs first --wait
check "hxctl vm delsnapshot --wait" exit_code 0 hx vm delsnapshot hxs first --wait
check "hxctl vm template --wait" exit_code 0 hx vm template hxs --wait
check "hxctl vm clone --wait" exit_code 0 hx vm clone hxs hxs-clone --vmid 301 --wait
check "the clone is linked" sh -c "qemu-img info '$work/data/images/vm-301-disk-0.qcow2' | grep -q 'backing file: vm-300-disk-0.qcow2'"
check "hxctl vm clone --full --linked: usage (2)" exit_code 2 hx vm clone hxs x --full --linked
# Offline disk move: local qcow2 -> btrfs raw -> dir qcow2, data intact.
check "btrfs pool for moves" jqt POST /storage/pools \
	"{\"name\":\"mv\",\"type\":\"btrfs\",\"path\":\"$work/tank\"}" '.data.name == "mv"'
qemu-io -f qcow2 -c "write -P 0x33 0 64k" "$work/data/images/vm-301-disk-0.qcow2" >/dev/null
moved() { # BODY: move disk 0 of VM 301, wait for the task
	local t
	t=$(api POST /vms/301/disks/0/move "$1" | jq -r '.data.task // empty')
	[ -n "$t" ] && task_ok "$t"
}
check "move a linked clone's local disk to btrfs raw" moved '{"pool":"mv","format":"raw"}'
check "config names the new volume" jqt GET /vms/301 "" '.data.config.disks[0].volume == "mv:vm-301-disk-0.raw" and .data.config.disks[0].format == "raw"'
check "data moved along (flattened)" holds 0x33 "$work/tank/vm-301-disk-0.raw/disk.raw"
check "source deleted" sh -c "[ ! -e '$work/data/images/vm-301-disk-0.qcow2' ]"
check "the template's base stayed" test -f "$work/data/images/vm-300-disk-0.qcow2"
check "move to the same place refused" refused 400 "already" POST /vms/301/disks/0/move '{"pool":"mv","format":"raw"}'
check "move to an unknown pool refused" refused 404 "no storage pool" POST /vms/301/disks/0/move '{"pool":"nope"}'
check "move of a missing disk refused" refused 404 "no disk" POST /vms/301/disks/3/move '{"pool":"fast"}'
check "move with a bad format refused" refused 400 "format" POST /vms/301/disks/0/move '{"pool":"fast","format":"vmdk"}'
check "move a template's disk refused" refused 409 "template" POST /vms/300/disks/0/move '{"pool":"fast"}'
check "move back to a dir pool as qcow2, keeping the source" moved '{"pool":"fast","format":"qcow2","keep_source":true}'
check "data there" holds 0x33 "$work/fast/vm-301-disk-0.qcow2"
check "source kept" test -f "$work/tank/vm-301-disk-0.raw/disk.raw"
check "kept source freed" test "$(code DELETE /storage/pools/mv/volumes/vm-301-disk-0.raw)" = 200
check "hxctl vm move-disk --wait" exit_code 0 hx vm move-disk hxs-clone 0 mv --format raw --wait
check "hxctl vm move-disk of a missing disk: not found (3)" exit_code 3 hx vm move-disk hxs-clone 9 fast
check "hxctl vm move-disk, bad index: usage (2)" exit_code 2 hx vm move-disk hxs-clone x fast
for v in 301 300; do
	t=$(api DELETE "/vms/$v" | jq -r '.data.task // empty')
	[ -n "$t" ] && task_ok "$t" >/dev/null
done
check "VMs and volumes gone" sh -c "! ls '$work/data/images' '$work/fast' '$work/tank' | grep -q vm-30"
check "move pool removed" test "$(code DELETE /storage/pools/mv)" = 200
[ "$fail" = 0 ]
