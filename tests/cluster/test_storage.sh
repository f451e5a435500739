#!/bin/bash
# Storage with real guests: a directory pool (qcow2) and a btrfs pool (a
# loop file) on n1, driven through n2's API (forwarded). The test guest
# writes heartbeat records to its disk (tests/guest/README.md):
#  - a RAM snapshot of a running qcow2 VM, rolled back: the guest goes on
#    from the snapshot (same boot, counter back), and what it wrote after
#    the snapshot is gone from the disk;
#  - a disk snapshot of a stopped btrfs VM, rolled back after another
#    boot: only the first boot's records are on the disk;
#  - a RAM snapshot of a running btrfs VM keeps it running (same boot);
#  - templates and linked clones (qcow2 backing file, btrfs snapshot)
#    boot and write to their own volumes; the template's stay untouched;
#  - a running clone's disk grows online; a volume in use is not deleted;
#  - a running clone's disk moves online to another pool (block copy);
#  - an ISO is downloaded from a URL (a web server in n2's namespace) with
#    its checksum verified; failed downloads leave nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

command -v mkfs.btrfs >/dev/null || fail "mkfs.btrfs missing (btrfs-progs; tools/deps.sh)"
guest_paths
STOR=$(mktemp -d /tmp/hx-stor-cluster-XXXXXX)
# After libvirt (QEMU holds the images) and before lib.sh's cleanup.
WEB_PID=
# shellcheck disable=SC2154 # hx_libvirt_rc is set inside the trap
trap 'hx_libvirt_rc=$?; [ -n "$WEB_PID" ] && kill "$WEB_PID" 2>/dev/null; libvirt_stop_all; mountpoint -q "$STOR/tank" && { umount "$STOR/tank" || umount -l "$STOR/tank"; }; rm -rf "$STOR"; (exit $hx_libvirt_rc); cleanup' EXIT
mkdir -p "$STOR/fast" "$STOR/tank"
truncate -s 512M "$STOR/btrfs.img"
mkfs.btrfs -q "$STOR/btrfs.img" >/dev/null || fail "mkfs.btrfs"
# Mounted before libvirtd starts: its private mount namespace copies the
# host's mounts when it starts.
mount -o loop "$STOR/btrfs.img" "$STOR/tank" || fail "mount btrfs"

net_create 2
libvirt_start 1
ip netns exec "$(ns 1)" ip link add br0 type bridge
ip netns exec "$(ns 1)" ip link set br0 up
# shellcheck disable=SC2034 # read by node_start (lib.sh)
HXD_ARGS_1="--libvirt-uri $(libvirt_uri 1) --accel tcg"
# shellcheck disable=SC2034
HXD_ARGS_2="--libvirt-uri test:///default"
cluster_form 2
wait_until 60 0.5 members_with online 2 1 || fail "not all online"

serial() { echo "$(dir_of 1)/vms/$1/serial.log"; }
hb() { # VMID: "N BOOT" of the guest's last heartbeat line
	grep -ao 'HXGUEST HEARTBEAT n=[0-9]* id=[^ ]* boot=[0-9a-f]*' "$(serial "$1")" 2>/dev/null |
		tail -1 | sed 's/.*n=\([0-9]*\) .*boot=\(.*\)/\1 \2/'
}
last_n() { hb "$1" | cut -d' ' -f1; }
boot_of() { hb "$1" | cut -d' ' -f2; }
at_least() { # VMID N: the guest counted to N
	local n
	n=$(last_n "$1")
	[ -n "$n" ] && [ "$n" -ge "$2" ]
}
act() { # METHOD PATH [BODY] on n2: starts a task, waits for it to end ok
	local out t s
	out=$(api 2 "$1" "$2" "${3:-}")
	t=$(echo "$out" | jq -r '.data.task // empty')
	[ -n "$t" ] || fail "$1 $2 refused: $out"
	for _ in $(seq 500); do
		s=$(api 2 GET "/tasks/$t" | jq -r .data.state)
		[ "$s" = ok ] && return 0
		[ "$s" = error ] && fail "$1 $2: $(api 2 GET "/tasks/$t" | jq -c .data)"
		sleep 0.2
	done
	fail "$1 $2: task $t did not end"
}
cfg() { # NAME VMID DISK-JSON
	cat <<EOF
{"vmid":$2,"name":"$1","node":"n1","memory_mb":128,"start":true,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
           "cmdline":"console=ttyS0 quiet hx.id=$1"},
 "disks":[$3],"nics":[{"bridge":"br0"}]}
EOF
}
# records FILE FMT: the 65 record sectors of a disk as text lines.
records() {
	if [ "$2" = qcow2 ]; then
		qemu-img dd -U -f qcow2 -O raw bs=512 count=65 if="$1" of="$STOR/dd.raw" >/dev/null 2>&1 || return 1
		tr -c '[:print:]' '\n' <"$STOR/dd.raw" | grep -a '^HXGUEST'
	else
		dd if="$1" bs=512 count=65 2>/dev/null | tr -c '[:print:]' '\n' | grep -a '^HXGUEST'
	fi
}

api 2 POST /storage/pools "{\"name\":\"fast\",\"type\":\"dir\",\"path\":\"$STOR/fast\",\"nodes\":[\"n1\"]}" |
	jq -e '.data.name == "fast"' >/dev/null || fail "dir pool"
api 2 POST /storage/pools "{\"name\":\"tank\",\"type\":\"btrfs\",\"path\":\"$STOR/tank\",\"nodes\":[\"n1\"]}" |
	jq -e '.data.name == "tank"' >/dev/null || fail "btrfs pool"
avail() { api 2 GET "/storage/pools/$1" | jq -e '.data.status | map(select(.node == "n1" and .available)) | length == 1' >/dev/null; }
wait_until 100 0.2 avail fast || fail "fast not reported available by n1"
wait_until 100 0.2 avail tank || fail "tank not reported available by n1"
[ "$(api 2 GET /storage/pools/fast | jq '.data.status | length')" = 1 ] ||
	fail "n2 reports a pool that is not for it"
ok "pools defined through n2, reported by n1 only"

# ---- ISO download from a URL (a web server in n2's namespace) ----
mkdir -p "$STOR/isos" "$STOR/web"
head -c 2000000 /dev/urandom >"$STOR/web/test.iso"
sum=$(sha256sum "$STOR/web/test.iso" | cut -d' ' -f1)
ip netns exec "$(ns 2)" python3 -m http.server 8080 --bind "$(ip_of 2)" \
	--directory "$STOR/web" >/dev/null 2>&1 &
WEB_PID=$!
wait_until 50 0.2 ip netns exec "$(ns 1)" curl -sf -o /dev/null "http://$(ip_of 2):8080/test.iso" ||
	fail "web server in n2's namespace"
api 2 POST /storage/pools "{\"name\":\"isos\",\"type\":\"dir\",\"path\":\"$STOR/isos\",\"nodes\":[\"n1\"],\"content\":[\"iso\"]}" |
	jq -e '.data.name == "isos"' >/dev/null || fail "iso pool"
task_fails() { # METHOD PATH BODY REGEX: a task that ends in error
	local out t s
	out=$(api 2 "$1" "$2" "$3")
	t=$(echo "$out" | jq -r '.data.task // empty')
	[ -n "$t" ] || fail "$2 refused: $out"
	for _ in $(seq 300); do
		s=$(api 2 GET "/tasks/$t" | jq -r .data.state)
		[ "$s" = error ] && { api 2 GET "/tasks/$t" | jq -r .data.message | grep -Eq "$4" && return 0; fail "$2: $(api 2 GET "/tasks/$t" | jq -c .data)"; }
		[ "$s" = ok ] && fail "$2 succeeded"
		sleep 0.2
	done
	fail "$2: task $t did not end"
}
task_fails POST "/storage/pools/isos/iso?node=n1" \
	"{\"name\":\"bad.iso\",\"url\":\"http://$(ip_of 2):8080/test.iso\",\"sha256\":\"$(echo "$sum" | tr '0-9a-f' '1-9a-f0')\"}" "checksum mismatch"
task_fails POST "/storage/pools/isos/iso?node=n1" \
	"{\"name\":\"gone.iso\",\"url\":\"http://$(ip_of 2):8080/nope.iso\",\"sha256\":\"$sum\"}" "404"
c=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$(dir_of 2)/hxd.sock" -X POST \
	-d "{\"name\":\"x.iso\",\"url\":\"file:///etc/passwd\",\"sha256\":\"$sum\"}" \
	"http://x/api/v1/storage/pools/isos/iso?node=n1")
[ "$c" = 400 ] || fail "a file:// URL answered $c"
[ -z "$(find "$STOR/isos" -mindepth 1)" ] || fail "failed downloads left files: $(find "$STOR/isos" -mindepth 1)"
hx 2 storage download isos "http://$(ip_of 2):8080/test.iso" --name net.iso \
	--node n1 --sha256 "$sum" --wait >/dev/null || fail "hxctl storage download"
cmp -s "$STOR/web/test.iso" "$STOR/isos/net.iso" || fail "downloaded ISO differs"
kill "$WEB_PID" 2>/dev/null
WEB_PID=
ok "ISO downloaded by n1 from a URL, checksum verified; bad checksum, 404 and file:// leave nothing"

# ---- RAM snapshot of a running qcow2 VM ----
act POST /vms "$(cfg web 100 '{"pool":"fast","size_mb":16}')"
wait_until 300 0.2 at_least 100 3 || fail "guest 100 not counting: $(tail -c 400 "$(serial 100)")"
boot=$(boot_of 100)
q=$STOR/fast/vm-100-disk-0.qcow2
records "$q" qcow2 | grep -q "boot=$boot" || fail "no records on the qcow2 volume"
t0=$(date +%s%N)
act POST /vms/100/snapshots '{"name":"hot","description":"running"}'
t1=$(date +%s%N)
nsnap=$(last_n 100)
api 2 GET /vms/100/snapshots | jq -e '.data == [(.data[0] | select(.name == "hot" and .ram and .current))]' >/dev/null ||
	fail "snapshot tree: $(api 2 GET /vms/100/snapshots)"
ok "RAM snapshot of a running qcow2 VM in $(((t1 - t0) / 1000000)) ms (at n=$nsnap)"
wait_until 300 0.2 at_least 100 $((nsnap + 15)) || fail "guest stopped counting after the snapshot"
nafter=$(last_n 100)
records "$q" qcow2 | grep -q "n=$nafter " || fail "record $nafter not on disk"
lines=$(wc -l <"$(serial 100)")
act POST /vms/100/snapshots/hot/rollback
# What the guest wrote after the snapshot is gone (it counts again from
# the snapshot, so it rewrites record $nafter only ~15 s from now).
records "$q" qcow2 | grep -q "n=$nafter " && fail "record $nafter survived the rollback"
# went_back VMID LINES BOOT N: after line LINES of the serial log, boot
# BOOT (and no other) counts again from at most N.
went_back() {
	local after
	after=$(tail -n +"$(($2 + 1))" "$(serial "$1")" | grep -ao 'HXGUEST HEARTBEAT n=[0-9]* id=[^ ]* boot=[0-9a-f]*')
	[ -n "$after" ] && ! echo "$after" | grep -vq "boot=$3" &&
		[ "$(echo "$after" | sed 's/.*n=\([0-9]*\) .*/\1/' | sort -n | head -1)" -le "$4" ]
}
back() { went_back 100 "$lines" "$boot" $((nsnap + 2)); }
wait_until 150 0.2 back || fail "guest did not resume from the snapshot: $(tail -n +"$((lines + 1))" "$(serial 100)" | head -3)"
[ "$(api 2 GET /vms/100 | jq -r '.data.state + "/" + .data.desired')" = running/running ] ||
	fail "not running after a RAM rollback: $(api 2 GET /vms/100 | jq -c '.data | {state, desired}')"
ok "rollback: same boot $boot counts again from n<=$((nsnap + 2)) (was $nafter); later records gone"

# ---- btrfs: disk snapshot of a stopped VM, RAM snapshot of a running one ----
act POST /vms "$(cfg db 101 '{"pool":"tank","format":"raw","size_mb":16}')"
r=$STOR/tank/vm-101-disk-0.raw/disk.raw
wait_until 300 0.2 at_least 101 3 || fail "guest 101 not counting"
b1=$(boot_of 101)
act POST /vms/101/snapshots '{"name":"live"}'
nlive=$(last_n 101)
wait_until 50 0.2 at_least 101 $(($(last_n 101) + 2)) || fail "guest 101 stopped after its RAM snapshot"
[ "$(boot_of 101)" = "$b1" ] || fail "the btrfs RAM snapshot restarted the guest"
btrfs subvolume show "$STOR/tank/vm-101-disk-0.raw@live" >/dev/null || fail "no btrfs snapshot"
ok "RAM snapshot of a running btrfs VM: same boot $b1 keeps counting"
act POST /vms/101/stop
act POST /vms/101/snapshots '{"name":"cold"}'
records "$r" raw | grep -q "boot=$b1" || fail "no records of boot $b1"
act POST /vms/101/start
wait_until 300 0.2 sh -c "[ \"\$(grep -ao 'HXGUEST READY id=[^ ]* boot=[0-9a-f]*' '$(serial 101)' | tail -1 | sed 's/.*boot=//')\" != $b1 ]" ||
	fail "second boot of 101"
b2=$(grep -ao 'HXGUEST READY id=[^ ]* boot=[0-9a-f]*' "$(serial 101)" | tail -1 | sed 's/.*boot=//')
wait_until 100 0.2 sh -c "dd if='$r' bs=512 count=1 2>/dev/null | grep -aq 'boot=$b2'" || fail "boot $b2 wrote nothing"
act POST /vms/101/snapshots/cold/rollback
[ "$(api 2 GET /vms/101 | jq -r '.data.state + "/" + .data.desired')" = stopped/stopped ] ||
	fail "a disk-only rollback should leave the VM stopped"
records "$r" raw | grep -q "boot=$b2" && fail "boot $b2's records survived the rollback"
records "$r" raw | grep -q "boot=$b1" || fail "boot $b1's records are gone"
api 2 GET /vms/101/snapshots | jq -e '[.data[] | {name, parent, current, ram}] == [{"name":"live","parent":null,"current":false,"ram":true},{"name":"cold","parent":"live","current":true,"ram":false}]' >/dev/null ||
	fail "tree: $(api 2 GET /vms/101/snapshots)"
ok "btrfs disk rollback: boot $b1's records back, boot $b2's gone"
lines=$(wc -l <"$(serial 101)")
act POST /vms/101/snapshots/live/rollback
back101() { went_back 101 "$lines" "$b1" $((nlive + 2)); }
wait_until 150 0.2 back101 || fail "btrfs RAM rollback did not resume boot $b1: $(tail -n +"$((lines + 1))" "$(serial 101)" | head -3)"
[ "$(api 2 GET /vms/101 | jq -r .data.state)" = running ] || fail "101 not running after its RAM rollback"
act POST /vms/101/stop
ok "btrfs RAM rollback: boot $b1 resumed at n<=$((nlive + 2)) from the saved RAM"

# ---- templates and linked clones boot ----
act POST /vms/100/stop
act POST /vms/100/template
act POST /vms/101/template
sum100=$(md5sum <"$q")
t0=$(date +%s%N)
act POST /vms/100/clone '{"name":"web-clone","vmid":110}'
t1=$(date +%s%N)
act POST /vms/101/clone '{"name":"db-clone","vmid":111}'
t2=$(date +%s%N)
qemu-img info "$STOR/fast/vm-110-disk-0.qcow2" | grep -q "backing file: vm-100-disk-0.qcow2" || fail "qcow2 clone has no backing file"
ok "linked clones: qcow2 in $(((t1 - t0) / 1000000)) ms, btrfs in $(((t2 - t1) / 1000000)) ms (API to task end)"
act POST /vms/110/start
act POST /vms/111/start
wait_until 300 0.2 at_least 110 3 || fail "qcow2 linked clone did not boot: $(tail -c 400 "$(serial 110)")"
wait_until 300 0.2 at_least 111 3 || fail "btrfs linked clone did not boot: $(tail -c 400 "$(serial 111)")"
# (a clone's kernel command line, so its hx.id, is its template's: tell
# them apart by boot id)
c110=$(boot_of 110)
c111=$(boot_of 111)
records "$STOR/fast/vm-110-disk-0.qcow2" qcow2 | grep -q "boot=$c110" || fail "clone 110 wrote nothing to its volume"
records "$STOR/tank/vm-111-disk-0.raw/disk.raw" raw | grep -q "boot=$c111" || fail "clone 111 wrote nothing to its volume"
[ "$(md5sum <"$q")" = "$sum100" ] || fail "the template's volume changed"
records "$r" raw | grep -q "boot=$c111" && fail "clone 111 wrote to the template's volume"
ok "linked clones boot and write to their own volumes"

# ---- online resize, volumes in use ----
out=$(api 2 POST "/storage/pools/fast/volumes/vm-110-disk-0.qcow2/resize?node=n1" '{"size_mb":64}')
echo "$out" | jq -e '.data.online == true and .data.size_bytes == 67108864' >/dev/null || fail "online resize: $out"
virsh_on 1 domblkinfo hx-110 vda | grep -q "Capacity: *67108864" || fail "QEMU does not see 64 MiB: $(virsh_on 1 domblkinfo hx-110 vda)"
c=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$(dir_of 2)/hxd.sock" -X DELETE \
	"http://x/api/v1/storage/pools/fast/volumes/vm-110-disk-0.qcow2?node=n1")
[ "$c" = 409 ] || fail "deleting a running VM's volume answered $c"
c=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$(dir_of 2)/hxd.sock" -X DELETE \
	"http://x/api/v1/storage/pools/fast/volumes/vm-100-disk-0.qcow2?node=n1")
[ "$c" = 409 ] || fail "deleting a template's volume answered $c"
[ -f "$STOR/fast/vm-110-disk-0.qcow2" ] && [ -f "$q" ] || fail "a volume went"
ok "running clone's disk grown online to 64 MiB; volumes in use kept (409)"

# ---- online disk move (libvirt block copy) ----
n0=$(last_n 110)
t0=$(date +%s%N)
act POST /vms/110/disks/0/move '{"pool":"tank","format":"raw"}'
t1=$(date +%s%N)
api 2 GET /vms/110 | jq -e '.data.config.disks[0] | .volume == "tank:vm-110-disk-0.raw" and .format == "raw"' >/dev/null ||
	fail "config after the move: $(api 2 GET /vms/110 | jq -c .data.config.disks)"
wait_until 100 0.2 at_least 110 $((n0 + 4)) || fail "guest 110 stopped during the move"
[ "$(boot_of 110)" = "$c110" ] || fail "the move restarted guest 110"
newer() { # the guest writes its latest record to the new volume
	records "$STOR/tank/vm-110-disk-0.raw/disk.raw" raw | head -1 | grep -q "boot=$c110 n=$(last_n 110) "
}
wait_until 50 0.2 newer || fail "guest 110 does not write to the new volume: $(records "$STOR/tank/vm-110-disk-0.raw/disk.raw" raw | head -1)"
[ ! -e "$STOR/fast/vm-110-disk-0.qcow2" ] || fail "the moved disk's source is still there"
[ -f "$q" ] || fail "the template's base went"
ok "running guest's disk moved online to btrfs raw in $(((t1 - t0) / 1000000)) ms (same boot, writes land there)"

for v in 110 111; do act POST "/vms/$v/stop"; act DELETE "/vms/$v"; done
for v in 100 101; do act DELETE "/vms/$v"; done
rm -f "$STOR/isos/net.iso"
left=$(find "$STOR/fast" "$STOR/tank" -mindepth 1 -maxdepth 1)
[ -z "$left" ] || fail "volumes left: $left"
ok "deleted: no volume or snapshot left"
exit 0
