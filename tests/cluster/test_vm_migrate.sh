#!/bin/bash
# VM migration through hxd with a real libvirtd per node, migration streams
# in TLS with the cluster's certificates:
#  - bad requests are refused and change nothing;
#  - live migration n1 -> n2 of the test guest with a local qcow2 disk: the
#    heartbeat counter goes on with the same boot id, the disk comes along,
#    ownership moves, nothing is left on n1;
#  - cancel: the task ends "cancelled", the VM stays;
#  - the destination's libvirtd and QEMU killed -9 midway: the VM keeps
#    running on the source, the task says why;
#  - the source's hxd killed -9 midway: after its restart the lock goes and
#    the VM runs once, on the source; the destination's hxd killed -9
#    midway: the migration fails, the VM stays;
#  - offline migration of the stopped VM moves its disk (marker intact),
#    after a cancelled attempt that left nothing behind;
#  - the source's hxd killed (crash point) after libvirt's success and
#    before the ownership move: the restarted hxd moves ownership.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

# shellcheck disable=SC2034 # read by libvirt.sh
HX_LIBVIRT_MIGRATE_TLS=1
guest_paths
# n3 only votes: killing either VM node's hxd keeps a quorum
net_create 3
for i in 1 2; do
	libvirt_start "$i"
	ip netns exec "$(ns "$i")" ip link add br0 type bridge
	ip netns exec "$(ns "$i")" ip link set br0 up
	eval "HXD_ARGS_$i=\"--libvirt-uri $(libvirt_uri "$i") --accel tcg\""
done
cluster_form 3
wait_until 60 0.5 members_with online 3 1 || fail "not all online"
wait_until 60 0.5 sh -c "[ \$(curl -s --unix-socket $(dir_of 1)/hxd.sock http://x/api/v1/cluster | jq '[.data.members[] | select(.role == \"voter\")] | length') = 3 ]" ||
	fail "not 3 voters"

V=100
DISK=vm-$V-disk-0.qcow2
serial() { echo "$(dir_of "$1")/vms/$V/serial.log"; }
beats() { # I: "n boot" per heartbeat in node I's serial log
	grep -ao 'HXGUEST HEARTBEAT n=[0-9]* id=[^ ]* boot=[0-9a-f]*' \
		"$(serial "$1")" 2>/dev/null | sed 's/.*n=\([0-9]*\) .*boot=/\1 /'
}
last_n() { beats "$1" | tail -1 | cut -d' ' -f1; }
counting() { # I: the counter on node I grows with boot $BOOT
	local a b
	a=$(last_n "$1")
	[ -n "$a" ] || return 1
	sleep 1.2
	b=$(last_n "$1")
	[ -n "$b" ] && [ "$b" -gt "$a" ] && beats "$1" | tail -1 | grep -q " $BOOT$"
}
task_state() { api "$1" GET "/tasks/$2" | jq -r .data.state; }
task_msg() { api "$1" GET "/tasks/$2" | jq -r .data.message; }
task_ended() { case $(task_state "$1" "$2") in ok | error) ;; *) return 1 ;; esac; }
vm_get() { api "$1" GET "/vms/$V" | jq -r ".data$2"; }
# owned_by I N: VM on node nN, unlocked, nothing pending
owned_by() {
	[ "$(api "$1" GET "/vms/$V" | jq -r '.data | "\(.node) \(.lock) \(.target)"')" = "n$2 null null" ]
}
dom_absent() { [ -z "$(virsh_on "$1" list --all --name)" ]; }
dom_running() { [ "$(virsh_on "$1" domstate "hx-$V" 2>&1 | head -1)" = running ]; }
# refused I BODY STATUS: POST migrate answers STATUS and changes nothing
refused() {
	local out code
	out=$(curl -s --max-time 10 --unix-socket "$(dir_of "$1")/hxd.sock" \
		-w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
		-d "$2" "http://localhost/api/v1/vms/$V/migrate")
	code=$(echo "$out" | tail -1)
	[ "$code" = "$3" ] || fail "migrate $2: HTTP $code, want $3: $out"
	log "refused ($code): $2: $(echo "$out" | head -1 | jq -r .error.message)"
}
# progress_seen I TASK: the task reports progress past its start
progress_seen() { [ "$(api "$1" GET "/tasks/$2" | jq -r .data.progress)" -ge "${3:-11}" ]; }

# The guest, with a local 16 MiB qcow2 disk its heartbeats are written to.
cfg=$(
	cat <<EOF
{"vmid":$V,"name":"mig","node":"n1","memory_mb":128,"start":true,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
           "cmdline":"console=ttyS0 quiet hx.id=mig"},
 "disks":[{"size_mb":16}],"nics":[{"bridge":"br0"}]}
EOF
)
task=$(api 1 POST /vms "$cfg" | jq -r .data.task)
[ "$task" != null ] || fail "create refused"
wait_until 300 0.2 task_ended 1 "$task" || fail "create did not end"
[ "$(task_state 1 "$task")" = ok ] || fail "create: $(task_msg 1 "$task")"
wait_until 300 0.2 grep -aq "HXGUEST READY" "$(serial 1)" || fail "no boot"
BOOT=$(grep -ao 'HXGUEST READY id=[^ ]* boot=[0-9a-f]*' "$(serial 1)" | tail -1 | sed 's/.*boot=//')
wait_until 30 0.5 counting 1 || fail "guest not counting"
ok "guest runs on n1 (boot $BOOT)"

# ---- bad requests: refused, nothing changed ----
refused 2 '{"node":"n9"}' 404
refused 2 '{"node":"n1"}' 400
refused 1 '{}' 400
refused 1 '{"node":"n2","speed":1}' 400
refused 1 '{"node":"n2","online":"yes"}' 400
refused 1 '{"node":"n2","online":false}' 409
refused 1 '{"node":"n2","max_downtime_ms":0}' 400
refused 1 '{"node":"n2","bandwidth_mbps":-1}' 400
refused 1 '{"node":"n3"}' 400 # n3 has no bridge br0
node_kill 3
refused 1 '{"node":"n3"}' 503 # n3 does not answer
node_start 3
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$(dir_of 1)/hxd.sock" \
	-X POST -H 'Content-Type: application/json' -d '{"source":"n1"}' \
	"http://localhost/api/v1/vms/$V/migrate/prepare")
[ "$code" = 404 ] || fail "internal prepare answered a user: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$(dir_of 1)/hxd.sock" \
	-X POST "http://localhost/api/v1/vms/$V/migrate/cancel")
[ "$code" = 409 ] || fail "cancel without a migration: $code"
owned_by 2 1 || fail "a refused request changed the VM: $(api 2 GET /vms/$V | jq -c .data)"
dom_absent 2 || fail "a refused request left a domain on n2"
[ ! -e "$(dir_of 2)/images/$DISK" ] || fail "a refused request created a disk on n2"
counting 1 || fail "guest disturbed by refused requests"
ok "bad requests refused, nothing changed"

# ---- live migration n1 -> n2 (asked through n2, forwarded to n1) ----
before=$(last_n 1)
t0=$(date +%s%3N)
out=$(api 2 POST /vms/$V/migrate '{"node":"n2","max_downtime_ms":100}')
task=$(echo "$out" | jq -r .data.task)
[ "$task" != null ] || fail "migrate refused: $out"
[ "$(vm_get 2 .lock)/$(vm_get 2 .target)" = migrate/n2 ] ||
	task_ended 1 "$task" || fail "not locked during the migration"
wait_until 600 0.1 task_ended 1 "$task" || fail "migration did not end"
t1=$(date +%s%3N)
[ "$(task_state 1 "$task")" = ok ] || fail "migration failed: $(task_msg 1 "$task")"
log "$(task_msg 1 "$task"); API to task end $((t1 - t0)) ms"
owned_by 1 2 || fail "not owned by n2: $(api 1 GET /vms/$V | jq -c .data)"
dom_running 2 || fail "not running on n2"
dom_absent 1 || fail "domain left on n1: $(virsh_on 1 list --all)"
wait_until 100 0.1 libvirt_no_qemu 1 || fail "QEMU left on n1"
[ ! -e "$(dir_of 1)/images/$DISK" ] || fail "disk left on n1"
[ -e "$(dir_of 2)/images/$DISK" ] || fail "no disk on n2"
wait_until 30 0.5 counting 2 || fail "guest not counting on n2"
# every heartbeat on n2: same boot, counter increasing, past n1's last
first=$(beats 2 | head -1 | cut -d' ' -f1)
[ "$first" -ge "$before" ] || fail "counter went back: $before on n1, $first on n2"
beats 2 | awk -v b="$BOOT" 'BEGIN{p=0} $2 != b || $1 <= p {exit 1} {p=$1}' ||
	fail "counter reset or boot changed on n2: $(beats 2 | head -5)"
# the guest's disk records continue on the copied disk
sector0() { # I: the guest's latest disk record, on node I's copy
	rm -f "$HX_WORK/s0"
	qemu-img dd -U -f qcow2 -O raw if="$(dir_of "$1")/images/$DISK" \
		of="$HX_WORK/s0" bs=512 count=1 >/dev/null 2>&1 && cat "$HX_WORK/s0"
}
rec_n() { sector0 "$1" | grep -ao "boot=$BOOT n=[0-9]*" | sed 's/.*n=//'; }
rec_past() { local n; n=$(rec_n "$1"); [ -n "$n" ] && [ "$n" -gt "$2" ]; }
wait_until 20 0.5 rec_past 2 "$before" ||
	fail "the copied disk has no record of boot $BOOT past $before: $(sector0 2 | head -c 100)"
state_by() { [ "$(api 1 GET "/vms/$V" | jq -r '"\(.data.state)@\(.data.state_node)"')" = "$1" ]; }
wait_until 20 0.5 state_by running@n2 || fail "state not reported by n2"
ok "live migration n1 -> n2: counter $before -> $(last_n 2), same boot, disk copied"

# ---- cancel (bandwidth-limited so it lasts) ----
out=$(api 1 POST /vms/$V/migrate '{"node":"n1","bandwidth_mbps":2}')
task=$(echo "$out" | jq -r .data.task)
[ "$task" != null ] || fail "migrate refused: $out"
wait_until 100 0.1 progress_seen 2 "$task" || fail "no progress: $(api 2 GET "/tasks/$task" | jq -c .data)"
# locked meanwhile: a second migration and other actions are refused
refused 1 '{"node":"n1"}' 409
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$(dir_of 1)/hxd.sock" \
	-X POST "http://localhost/api/v1/vms/$V/stop")
[ "$code" = 409 ] || fail "stop during a migration: HTTP $code"
out=$(hx 1 --json vm cancel mig) || fail "hxctl vm cancel: $out"
[ "$(echo "$out" | jq -r .task)" = "$task" ] || fail "cancel: $out"
wait_until 200 0.1 task_ended 2 "$task" || fail "cancelled migration did not end"
[ "$(task_state 2 "$task")" = error ] || fail "cancelled task: $(task_state 2 "$task")"
task_msg 2 "$task" | grep -q '^cancelled' || fail "task says: $(task_msg 2 "$task")"
owned_by 1 2 || fail "cancel moved the VM"
wait_until 50 0.2 dom_absent 1 || fail "domain left on n1 after cancel"
[ ! -e "$(dir_of 1)/images/$DISK" ] || fail "disk left on n1 after cancel"
wait_until 30 0.5 counting 2 || fail "guest not counting after cancel"
ok "cancel: $(task_msg 2 "$task")"

# ---- the destination dies midway ----
# A stranger's certificate: signed by another CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj /CN=stranger -days 1 -keyout "$HX_WORK/s.key" \
	-out "$HX_WORK/s.crt" >/dev/null 2>&1 || fail "openssl"
# tls_refuses PORT [CERT KEY]: the TLS server on n1's PORT, reached from
# n2, presents n1's cluster certificate and refuses this client (an alert,
# or it hangs up at once, where it would wait for migration data).
tls_refuses() {
	local out
	out=$(ip netns exec "$(ns 2)" timeout 10 openssl s_client \
		-connect "$(ip_of 1):$1" -CAfile "$(dir_of 1)/qemu-tls/ca-cert.pem" \
		${2:+-cert "$2" -key "$3"} < <(sleep 3) 2>&1)
	echo "$out" | grep -q "Verify return code: 0 (ok)" &&
		echo "$out" | grep -q "CN = n1" &&
		echo "$out" | grep -qi "alert certificate required\|alert unknown ca\|alert bad certificate\|alert handshake failure\|unexpected eof while reading" &&
		return 0
	echo "$out" | tail -8
	return 1
}
out=$(api 2 POST /vms/$V/migrate '{"node":"n1","bandwidth_mbps":2}')
task=$(echo "$out" | jq -r .data.task)
[ "$task" != null ] || fail "migrate refused: $out"
wait_until 100 0.1 progress_seen 2 "$task" || fail "no progress"
ports=$(ip netns exec "$(ns 1)" ss -Hltn | awk '{print $4}' | sed -n 's/.*:\(49[0-9]*\)$/\1/p')
[ -n "$ports" ] || fail "no migration port open on n1"
# nbd_refuses PORT [CREDS_DIR]: the NBD server (disk copy) on n1's PORT
# refuses a client without TLS, or with the stranger's certificate.
nbd_refuses() {
	local out obj=() opt=""
	if [ -n "${2:-}" ]; then
		obj=(--object "tls-creds-x509,id=t0,endpoint=client,dir=$2")
		opt=",tls-creds=t0"
	fi
	out=$(ip netns exec "$(ns 2)" timeout 10 qemu-img info "${obj[@]}" \
		--image-opts "driver=nbd,host=$(ip_of 1),port=$1,export=drive-virtio-disk0$opt" 2>&1) &&
		{ echo "NBD export readable: $out"; return 1; }
	echo "$out" | grep -qi "tls\|certificate\|handshake" || { echo "$out"; return 1; }
}
mkdir -p "$HX_WORK/stranger"
cp "$(dir_of 1)/qemu-tls/ca-cert.pem" "$HX_WORK/stranger/ca-cert.pem"
cp "$HX_WORK/s.crt" "$HX_WORK/stranger/client-cert.pem"
cp "$HX_WORK/s.key" "$HX_WORK/stranger/client-key.pem"
for p in $ports; do
	if ip netns exec "$(ns 2)" timeout 5 openssl s_client \
		-connect "$(ip_of 1):$p" </dev/null 2>&1 | grep -q "wrong version number"; then
		nbd_refuses "$p" || fail "NBD port $p serves a client without TLS"
		nbd_refuses "$p" "$HX_WORK/stranger" ||
			fail "NBD port $p serves a certificate of another CA"
		continue
	fi
	tls_refuses "$p" || fail "port $p accepts a client without a certificate"
	tls_refuses "$p" "$HX_WORK/s.crt" "$HX_WORK/s.key" ||
		fail "port $p accepts a certificate of another CA"
done
ok "incoming migration ports ($(echo "$ports" | xargs)) are TLS with the cluster certificate and refuse strangers"
# shellcheck disable=SC2046 # one pid per word
kill -9 $(libvirt_pid 1) $(libvirt_qemu_pids 1)
wait_until 300 0.1 task_ended 2 "$task" || fail "migration to a dead node did not end"
[ "$(task_state 2 "$task")" = error ] || fail "task: $(task_state 2 "$task")"
log "task says: $(task_msg 2 "$task")"
task_msg 2 "$task" | grep -q "keeps running on node 'n2'" || fail "no reason given"
owned_by 1 2 || fail "VM moved to a dead node"
dom_running 2 || fail "VM not running on the source"
wait_until 30 0.5 counting 2 || fail "guest not counting after the failed migration"
libvirt_start 1
wait_until 50 0.2 dom_absent 1 || fail "domain left on n1: $(virsh_on 1 list --all)"
ok "destination killed midway: VM stays on n2"

# ---- the source's hxd dies midway ----
out=$(api 2 POST /vms/$V/migrate '{"node":"n1","bandwidth_mbps":2}')
task=$(echo "$out" | jq -r .data.task)
wait_until 100 0.1 progress_seen 2 "$task" || fail "no progress"
node_kill 2
wait_until 100 0.1 sh -c "! virsh -q -c '$(libvirt_uri 2)' domjobinfo hx-$V | grep -q Unbounded" ||
	fail "libvirt still migrating without hxd"
node_start 2
wait_until 200 0.2 owned_by 1 2 || fail "lock not released after the restart: $(api 1 GET /vms/$V | jq -c .data)"
wait_until 50 0.2 task_ended 1 "$task" || fail "orphan task not finished"
log "task says: $(task_msg 1 "$task")"
dom_running 2 || fail "not running on n2"
wait_until 50 0.2 dom_absent 1 || fail "a copy on n1: $(virsh_on 1 list --all)"
wait_until 30 0.5 counting 2 || fail "guest not counting"
ok "source hxd killed midway: lock released, VM runs once on n2"

# ---- the destination's hxd dies midway ----
out=$(api 2 POST /vms/$V/migrate '{"node":"n1","bandwidth_mbps":2}')
task=$(echo "$out" | jq -r .data.task)
wait_until 100 0.1 progress_seen 2 "$task" || fail "no progress"
node_kill 1
wait_until 300 0.1 task_ended 2 "$task" || fail "migration did not end"
[ "$(task_state 2 "$task")" = error ] || fail "task: $(task_state 2 "$task")"
log "task says: $(task_msg 2 "$task")"
node_start 1
wait_until 100 0.2 owned_by 1 2 || fail "not back to normal: $(api 1 GET /vms/$V | jq -c .data)"
dom_running 2 || fail "not running on n2"
wait_until 50 0.2 dom_absent 1 || fail "a copy on n1: $(virsh_on 1 list --all)"
wait_until 30 0.5 counting 2 || fail "guest not counting"
ok "destination hxd killed midway: VM stays on n2, nothing runs on n1"

# ---- offline migration of the stopped VM, local disk moves ----
task=$(api 1 POST /vms/$V/stop | jq -r .data.task)
wait_until 100 0.2 task_ended 1 "$task" || fail "stop"
qemu-io -f qcow2 -c "write -P 0x33 0 16M" -c "write -P 0x5a 8M 64k" \
	"$(dir_of 2)/images/$DISK" >/dev/null || fail "cannot write the marker"
raw_sum() { # I: checksum of the disk's content on node I
	rm -f "$HX_WORK/raw"
	qemu-img convert -f qcow2 -O raw "$(dir_of "$1")/images/$DISK" "$HX_WORK/raw" &&
		md5sum <"$HX_WORK/raw"
}
sum=$(raw_sum 2)
refused 1 '{"node":"n1","online":true}' 409
# cancel an offline copy (1 MiB/s: the 16 MiB take long enough)
out=$(api 1 POST /vms/$V/migrate '{"node":"n1","bandwidth_mbps":1}')
task=$(echo "$out" | jq -r .data.task)
[ "$task" != null ] || fail "offline migrate refused: $out"
wait_until 100 0.1 progress_seen 2 "$task" 6 || fail "no offline progress"
out=$(api 2 POST /vms/$V/migrate/cancel)
[ "$(echo "$out" | jq -r .data.task)" = "$task" ] || fail "cancel: $out"
wait_until 200 0.1 task_ended 2 "$task" || fail "cancelled copy did not end"
task_msg 2 "$task" | grep -q '^cancelled' || fail "task says: $(task_msg 2 "$task")"
owned_by 1 2 || fail "cancelled offline migration moved the VM"
wait_until 50 0.1 sh -c "! ls $(dir_of 1)/images/$DISK* 2>/dev/null" ||
	fail "partial copy left on n1: $(ls "$(dir_of 1)/images")"
[ "$(raw_sum 2)" = "$sum" ] || fail "source disk changed by the cancelled copy"
ok "offline copy cancelled: $(task_msg 2 "$task")"
hx 1 vm migrate mig n1 --offline --wait >"$HX_WORK/hx.out" 2>&1 ||
	fail "hxctl vm migrate --offline: $(cat "$HX_WORK/hx.out")"
task=$(sed -n 's/.*migrate: task \([0-9]*\).*/\1/p' "$HX_WORK/hx.out" | head -1)
[ -n "$task" ] || fail "hxctl printed no task: $(cat "$HX_WORK/hx.out")"
[ "$(task_state 1 "$task")" = ok ] || fail "offline: $(task_msg 1 "$task")"
log "$(task_msg 1 "$task")"
owned_by 2 1 || fail "offline: not owned by n1"
[ ! -e "$(dir_of 2)/images/$DISK" ] || fail "offline: disk left on n2"
qemu-io -f qcow2 -c "read -P 0x5a 8M 64k" "$(dir_of 1)/images/$DISK" | grep -q "read 65536/65536" ||
	fail "marker lost"
[ "$(raw_sum 1)" = "$sum" ] ||
	fail "disk content differs after the copy"
dom_absent 2 || fail "domain left on n2"
ok "offline migration n2 -> n1: disk moved, content identical"

task=$(api 2 POST /vms/$V/start | jq -r .data.task)
wait_until 300 0.2 task_ended 1 "$task" || fail "start on n1"
[ "$(task_state 1 "$task")" = ok ] || fail "start on n1: $(task_msg 1 "$task")"
wait_until 300 0.2 grep -aq "HXGUEST READY" "$(serial 1)" ||
	fail "no boot on n1 after the offline move"
ok "starts on n1 after the offline move"

# ---- the source's hxd dies after libvirt finished, before the move ----
BOOT=$(grep -ao 'HXGUEST READY id=[^ ]* boot=[0-9a-f]*' "$(serial 1)" | tail -1 | sed 's/.*boot=//')
wait_until 30 0.5 counting 1 || fail "guest not counting on n1"
node_kill 1
export HX_CRASH_AT=migrate-before-move
node_start 1
unset HX_CRASH_AT
wait_until 100 0.2 sh -c "curl -sf --unix-socket $(dir_of 1)/hxd.sock http://x/api/v1/vms/$V >/dev/null" ||
	fail "n1 not serving"
out=$(api 2 POST /vms/$V/migrate '{"node":"n2"}')
task=$(echo "$out" | jq -r .data.task)
[ "$task" != null ] || fail "migrate refused: $out"
pid=$(cat "$(dir_of 1)/pid")
wait_until 600 0.1 sh -c "! kill -0 $pid 2>/dev/null" || fail "hxd did not crash"
node_kill 1 # reap it
grep -q "crash point 'migrate-before-move'" "$(dir_of 1)/hxd.log" || fail "crashed elsewhere"
[ "$(vm_get 2 .node)/$(vm_get 2 .lock)/$(vm_get 2 .target)" = n1/migrate/n2 ] ||
	fail "not mid-migration: $(api 2 GET /vms/$V | jq -c .data)"
dom_running 2 || fail "not running on n2"
sleep 3 # n2 must leave the copy it received alone while the lock says so
dom_running 2 || fail "n2 stopped the migrated guest"
wait_until 30 0.5 counting 2 || fail "migrated guest not counting on n2"
node_start 1
wait_until 200 0.2 owned_by 2 2 || fail "ownership not recovered: $(api 2 GET /vms/$V | jq -c .data)"
wait_until 50 0.2 task_ended 2 "$task" || fail "orphan task not finished"
[ "$(task_state 2 "$task")" = ok ] || fail "task: $(task_msg 2 "$task")"
log "task says: $(task_msg 2 "$task")"
wait_until 50 0.2 dom_absent 1 || fail "domain left on n1: $(virsh_on 1 list --all)"
[ ! -e "$(dir_of 1)/images/$DISK" ] || fail "disk left on n1"
wait_until 30 0.5 counting 2 || fail "guest not counting on n2"
ok "source hxd killed between libvirt's success and the move: ownership recovered, one copy"
exit 0
