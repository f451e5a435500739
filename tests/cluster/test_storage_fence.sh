#!/bin/bash
# Network storage with real guests on 3 nodes; an NFS server (nfs-ganesha)
# and a one-node Ceph cluster run in a fourth namespace on the bridge:
#  - shared NFS pool: a VM boots on n1 from its nfs:// disk, is stopped,
#    moved to n2 without copying and boots there from the same disk (the
#    first boot's records are on it);
#  - Ceph fencing: an HA VM with its disk on RBD runs on n2; n2 hangs
#    (cgroup.freeze: hxd, libvirtd and QEMU). The leader blocklists n2's
#    address on the Ceph cluster and restarts the VM elsewhere without
#    waiting for the lease margin; from n2 nothing can write to the image
#    any more; when n2 thaws, its hxd kills its stale copy (self-fence),
#    whose writes never reached the disk, and the VM stays where it is.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"
. "$(dirname "$0")/../lib/nfs.sh"
. "$(dirname "$0")/../lib/ceph.sh"

for c in ganesha.nfsd rpcbind ceph-mon ceph-osd rbd; do
	command -v $c >/dev/null || fail "$c missing (tools/deps.sh)"
done
HX_CGROUPS=1
[ -w /sys/fs/cgroup/unified/cgroup.procs ] || {
	echo "SKIP: needs cgroup2 at /sys/fs/cgroup/unified"
	exit 77
}
guest_paths
SRV=$(ns srv)
SRV_IP=10.$HX_NET.0.9
EXPORT=$HX_WORK/export
# shellcheck disable=SC2154 # hx_rc is set inside the trap
trap 'hx_rc=$?; for i in 1 2 3; do cg=$(node_cgroup $i); [ -f $cg/cgroup.freeze ] && echo 0 >$cg/cgroup.freeze; done
	libvirt_stop_all; nfs_stop "$HX_WORK/nfs"; ceph_stop "$HX_WORK/ceph"
	ip netns del "$SRV" 2>/dev/null; (exit $hx_rc); cleanup' EXIT

net_create 3
# The storage servers' namespace, on the same bridge.
ip netns add "$SRV" || fail "netns"
ip link add "v$HX_NET-s" type veth peer name eth0 netns "$SRV"
ip link set "v$HX_NET-s" netns "$(ns br)"
ip netns exec "$(ns br)" ip link set "v$HX_NET-s" master br0 up
ip netns exec "$SRV" ip addr add "$SRV_IP/24" dev eth0
ip netns exec "$SRV" ip link set eth0 up
ip netns exec "$SRV" ip link set lo up
mkdir -p "$EXPORT"
t0=$(date +%s%N)
nfs_start "$SRV" "$HX_WORK/nfs" "$EXPORT" || fail "nfs-ganesha"
ceph_start "$SRV" "$SRV_IP" "$HX_WORK/ceph" || fail "ceph"
ceph_pool "$HX_WORK/ceph" rbd || fail "ceph pool"
CONF=$(ceph_conf "$HX_WORK/ceph")
log "NFS and Ceph up in $((($(date +%s%N) - t0) / 1000000)) ms"

for i in 1 2 3; do
	libvirt_start "$i"
	eval "HXD_ARGS_$i=\"--libvirt-uri $(libvirt_uri "$i") --accel tcg\""
done
cluster_form 3
wait_until 60 0.5 members_with online 3 1 || fail "not all online"
eq() { # WANT CMD...: CMD prints WANT
	local want=$1
	shift
	[ "$("$@")" = "$want" ]
}
wait_until 60 0.5 eq 3 voters_count 1 || fail "expected 3 voters"

serial() { echo "$(dir_of "$1")/vms/$2/serial.log"; }
ready_on() { grep -aq "HXGUEST READY" "$(serial "$1" "$2")" 2>/dev/null; }
boot_on() { # I VMID: boot id of the guest's last line on node I
	grep -ao 'HXGUEST [A-Z]* .*boot=[0-9a-f]*' "$(serial "$1" "$2")" \
		2>/dev/null | tail -1 | sed 's/.*boot=\([0-9a-f]*\).*/\1/'
}
act() { # I METHOD PATH [BODY]: a task through node I, waited for
	local out t s
	out=$(api "$1" "$2" "$3" "${4:-}")
	t=$(echo "$out" | jq -r '.data.task // empty')
	[ -n "$t" ] || fail "$2 $3 refused: $out"
	for _ in $(seq 600); do
		s=$(api "$1" GET "/tasks/$t" | jq -r .data.state)
		[ "$s" = ok ] && return 0
		[ "$s" = error ] && fail "$2 $3: $(api "$1" GET "/tasks/$t" | jq -c .data)"
		sleep 0.2
	done
	fail "$2 $3: task $t did not end"
}
cfg() { # NAME VMID NODE DISK-JSON
	cat <<EOF
{"vmid":$2,"name":"$1","node":"$3","memory_mb":128,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
           "cmdline":"console=ttyS0 quiet hx.id=$1"},
 "disks":[$4]}
EOF
}
# max_n FILE-OR-URL FMT BOOT: the highest record number of BOOT on it
max_n() {
	ip netns exec "$SRV" qemu-img dd -U -f "$2" -O raw bs=512 count=65 \
		if="$1" of="$HX_WORK/dd.raw" >/dev/null 2>&1 || return 1
	tr -c '[:print:]' '\n' <"$HX_WORK/dd.raw" | grep -a "boot=$3 " |
		sed 's/.* n=\([0-9]*\).*/\1/' | sort -n | tail -1
}

api 1 POST /storage/pools "{\"name\":\"share\",\"type\":\"nfs\",\"path\":\"$EXPORT\",\"options\":{\"server\":\"$SRV_IP\"}}" |
	jq -e '.data.shared == true' >/dev/null || fail "NFS pool"
api 1 POST /storage/pools "{\"name\":\"ceph\",\"type\":\"rbd\",\"options\":{\"pool\":\"rbd\",\"conf\":\"$CONF\"}}" |
	jq -e '.data.shared == true' >/dev/null || fail "RBD pool"
avail_all() { # POOL: available on all three nodes
	[ "$(api 1 GET "/storage/pools/$1" | jq '[.data.status[] | select(.available)] | length')" = 3 ]
}
wait_until 100 0.3 avail_all share || fail "NFS pool not available everywhere: $(api 1 GET /storage/pools/share | jq -c .data.status)"
wait_until 100 0.3 avail_all ceph || fail "RBD pool not available everywhere: $(api 1 GET /storage/pools/ceph | jq -c .data.status)"
ok "NFS and RBD pools available on n1, n2, n3"

# ---- shared NFS pool: any node starts the VM ----
act 2 POST /vms "$(cfg nfsvm 100 n1 '{"pool":"share","size_mb":16}')"
act 2 POST /vms/100/start
wait_until 300 0.3 ready_on 1 100 || fail "guest did not boot on n1 from NFS: $(tail -c 300 "$(serial 1 100)" 2>/dev/null)"
virsh -c "$(libvirt_uri 1)" dumpxml hx-100 | grep -q "protocol='nfs'" ||
	fail "the disk is not an nfs network disk"
b1=$(boot_on 1 100)
disk100=nfs://$SRV_IP$EXPORT/vm-100-disk-0.qcow2
has_n() { # DISK FMT BOOT MIN: records of BOOT up to at least MIN
	local n
	n=$(max_n "$1" "$2" "$3")
	[ -n "$n" ] && [ "$n" -ge "$4" ]
}
# ten records, so that the next boot's first ones (sectors 1, 2, ...)
# leave some of them
wait_until 200 0.2 has_n "$disk100" qcow2 "$b1" 10 ||
	fail "no records of boot $b1 on the NFS volume"
act 2 POST /vms/100/stop
act 2 POST /vms/100/migrate '{"node":"n2"}'
act 2 POST /vms/100/start
wait_until 300 0.3 ready_on 2 100 || fail "guest did not boot on n2 from NFS"
b2=$(boot_on 2 100)
[ "$b1" != "$b2" ] || fail "same boot id on n2: $b2"
wait_until 100 0.2 has_n "$disk100" qcow2 "$b2" 1 ||
	fail "no records of boot $b2 on the NFS volume"
has_n "$disk100" qcow2 "$b1" 10 || fail "the first boot's records are gone"
ok "NFS VM booted on n1, then on n2 from the same nfs:// disk (boots $b1, $b2)"
act 2 POST /vms/100/stop

# ---- clones to another node (shared pools) and pool ----
act 2 POST /vms/100/template
act 1 POST /vms/100/clone '{"name":"nfsn3","vmid":101,"node":"n3"}'
[ "$(api 1 GET /vms/101 | jq -r .data.node)" = n3 ] || fail "clone 101 is not on n3"
act 1 POST /vms/100/clone '{"name":"rbdn3","vmid":102,"node":"n3","pool":"ceph","format":"raw"}'
[ "$(api 1 GET /vms/102 | jq -r '.data.node + " " + .data.config.disks[0].volume')" = "n3 ceph:vm-102-disk-0.raw" ] ||
	fail "clone 102: $(api 1 GET /vms/102 | jq -c '.data | {node, config}')"
has_n "rbd:rbd/vm-102-disk-0.raw:conf=$CONF" raw "$b2" 1 ||
	fail "the RBD clone lacks the template's records"
act 3 POST /vms/102/start
wait_until 300 0.3 ready_on 3 102 || fail "the RBD clone did not boot on n3"
ok "template on NFS cloned linked to n3 and in full into RBD for n3, where it boots"
b102=$(boot_on 3 102)
act 3 POST /vms/102/disks/0/move '{"pool":"share","format":"qcow2"}'
virsh -c "$(libvirt_uri 3)" dumpxml hx-102 | grep -q "protocol='nfs'" ||
	fail "VM 102 does not run on the NFS volume after the move"
n_before=$(max_n "nfs://$SRV_IP$EXPORT/vm-102-disk-0.qcow2" qcow2 "$b102")
wait_until 100 0.2 has_n "nfs://$SRV_IP$EXPORT/vm-102-disk-0.qcow2" qcow2 "$b102" $((${n_before:-0} + 3)) ||
	fail "the guest's writes do not land on the NFS volume"
[ "$(boot_on 3 102)" = "$b102" ] || fail "VM 102 restarted during the move"
ok "running VM 102 moved online from RBD to NFS (same boot $b102, writes land there)"
act 3 POST /vms/102/stop
for v in 102 101 100; do act 1 DELETE /vms/$v; done

# ---- Ceph fencing ----
act 1 POST /vms "$(cfg rbdvm 200 n2 '{"pool":"ceph","format":"raw","size_mb":16}')"
hx 1 ha add 200 >/dev/null || fail "ha add"
wait_until 300 0.3 ready_on 2 200 || fail "guest did not boot on n2 from RBD: $(tail -c 300 "$(serial 2 200)" 2>/dev/null)"
virsh -c "$(libvirt_uri 2)" dumpxml hx-200 | grep -q "protocol='rbd'" ||
	fail "the disk is not an rbd network disk"
old=$(boot_on 2 200)
img=rbd:rbd/vm-200-disk-0.raw:conf=$CONF
wait_until 100 0.2 has_n "$img" raw "$old" 1 ||
	fail "no records of boot $old on the RBD image"
ok "HA VM 200 runs on n2 from RBD (boot $old)"

qemu_of() { # I: QEMU pids of VM 200 on node I
	local pid
	for pid in $(libvirt_qemu_pids "$1"); do
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
			grep -q 'guest=hx-200,' && echo "$pid"
	done
}
leader=$(leader_of 1)
[ "$leader" = n2 ] && fail "n2 leads: the test needs another leader"
li=${leader#n}
log "freezing node n2 (hxd, libvirtd, QEMU)"
T0=$(date +%s%N)
echo 1 >"$(node_cgroup 2)/cgroup.freeze"
moved=""
for _ in $(seq 600); do
	for i in 1 3; do [ -n "$(qemu_of "$i")" ] && moved=$i; done
	[ -n "$moved" ] && break
	sleep 0.1
done
[ -n "$moved" ] || fail "VM 200 did not restart elsewhere within 60 s"
t_moved=$((($(date +%s%N) - T0) / 1000000))
line=$(grep -a "fenced through storage" "$(dir_of "$li")/hxd.log" | tail -1)
[ -n "$line" ] || fail "the leader n$li did not fence n2 through storage"
age=$(echo "$line" | sed -n 's/.* at lease age \([0-9]*\) ms.*/\1/p')
{ [ -n "$age" ] && [ "$age" -lt 7000 ]; } ||
	fail "storage fence at lease age '$age' ms, not before lease + margin (7000): $line"
echo "$line" | grep -q "may restart now" || fail "VM 200 not released by the storage fence: $line"
ceph_cmd "$HX_WORK/ceph" osd blocklist ls 2>/dev/null | grep -q "^$(ip_of 2):0/0" ||
	fail "n2 is not on the blocklist: $(ceph_cmd "$HX_WORK/ceph" osd blocklist ls 2>&1)"
ok "n2 frozen: blocklisted at lease age $age ms; VM 200 QEMU on n$moved after $t_moved ms"
# Nothing from n2's address writes to the image any more.
if ip netns exec "$(ns 2)" timeout 60 qemu-io -f raw -c "write -P 0x66 0 4k" "$img" 2>&1 | grep -q "wrote 4096"; then
	fail "a client on n2 still writes to the RBD image"
fi
ok "a client on n2 cannot write to the image"
wait_until 300 0.3 ready_on "$moved" 200 || fail "guest did not boot on n$moved"
new=$(boot_on "$moved" 200)
before=$(max_n "$img" raw "$old")

log "thawing n2"
echo 0 >"$(node_cgroup 2)/cgroup.freeze"
no_qemu_of() { [ -z "$(qemu_of "$1")" ]; }
wait_until 100 0.2 no_qemu_of 2 ||
	fail "n2 still runs its copy of VM 200 after thawing"
grep -q "self-fence" "$(dir_of 2)/hxd.log" || fail "n2 did not self-fence"
# Give a stale writer time to show up in the ring (one record a second).
wait_until 60 0.2 has_n "$img" raw "$new" 5 ||
	fail "the new guest does not write to the image"
after=$(max_n "$img" raw "$old")
[ "${after:-0}" -le "${before:-0}" ] ||
	fail "the stale copy on n2 wrote to the image after the fence ($before -> $after)"
[ -n "$(qemu_of "$moved")" ] || fail "VM 200 left n$moved"
pool_on() { # POOL NODE: "available message" as NODE reported it
	api 1 GET "/storage/pools/$1" |
		jq -r ".data.status[] | select(.node == \"$2\") | \"\(.available) \(.message)\""
}
fenced_n2() { pool_on ceph n2 | grep -q '^false .*blocklist'; }
wait_until 150 0.2 fenced_n2 || fail "n2 does not report itself fenced from Ceph: $(pool_on ceph n2)"
pool_on ceph "n$moved" | grep -q '^true' || fail "n$moved: $(pool_on ceph "n$moved")"
ok "n2 reports the RBD pool unavailable: $(pool_on ceph n2 | cut -c 1-60)..."
ok "n2 thawed: its copy was killed, nothing it wrote reached the image; VM 200 stays on n$moved (boot $new)"
ok "storage fence: restart after $t_moved ms (lease + margin would be >= 6000 ms after the freeze)"
