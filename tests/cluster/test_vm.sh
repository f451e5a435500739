#!/bin/bash
# Real QEMU guests through hxd and a real libvirtd per node: create and
# start through another node's API, the guest boots and counts; hxd killed
# -9 and restarted re-adopts the running guest without restarting it; QEMU
# killed -9 is restarted per policy; ACPI shutdown through the API; a guest
# that powers itself off stays off; delete removes the domain and disks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

guest_paths
net_create 2
for i in 1 2; do
	libvirt_start "$i"
	ip netns exec "$(ns "$i")" ip link add br0 type bridge
	ip netns exec "$(ns "$i")" ip link set br0 up
	eval "HXD_ARGS_$i=\"--libvirt-uri $(libvirt_uri "$i") --accel tcg\""
done
cluster_form 2
wait_until 60 0.5 members_with online 2 1 || fail "not all online"

serial() { echo "$(dir_of "$1")/vms/$2/serial.log"; }
# last_n I VMID: the guest's last heartbeat counter on node I.
last_n() {
	grep -ao 'HXGUEST HEARTBEAT n=[0-9]*' "$(serial "$1" "$2")" 2>/dev/null |
		tail -1 | sed 's/.*n=//'
}
# boot_of I VMID: the boot id of the guest's last READY line.
boot_of() {
	grep -ao 'HXGUEST READY id=[^ ]* boot=[0-9a-f]*' "$(serial "$1" "$2")" \
		2>/dev/null | tail -1 | sed 's/.*boot=//'
}
counting() { # I VMID: the counter grows
	local a b
	a=$(last_n "$1" "$2")
	[ -n "$a" ] || return 1
	sleep 1.2
	b=$(last_n "$1" "$2")
	[ -n "$b" ] && [ "$b" -gt "$a" ]
}
task_done() { # I TASK: the task ended ok
	local s
	s=$(api "$1" GET "/tasks/$2" | jq -r .data.state)
	[ "$s" = ok ] && return 0
	[ "$s" = error ] && { api "$1" GET "/tasks/$2" | jq -c .data; exit 1; }
	return 1
}
# act I METHOD PATH [BODY]: an API call that must start a task; its id.
act() {
	local out t
	out=$(api "$1" "$2" "$3" "${4:-}")
	t=$(echo "$out" | jq -r '.data.task // empty')
	[ -n "$t" ] || fail "$2 $3 on n$1 refused: $out"
	echo "$t"
}
vm_field() { # I VMID JQ
	api "$1" GET "/vms/$2" | jq -r ".data$3"
}

cfg() { # NAME NODE VMID [CMDLINE_EXTRA]
	cat <<EOF
{"vmid":$3,"name":"$1","node":"$2","memory_mb":128,"start":true,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
           "cmdline":"console=ttyS0 quiet hx.id=$1 ${4:-}"},
 "disks":[{"size_mb":16}],"nics":[{"bridge":"br0"}]}
EOF
}

# Created on n1 through n2's API (forwarded), started with it.
t0=$(date +%s%N)
out=$(api 2 POST /vms "$(cfg web n1 100)")
task=$(echo "$out" | jq -r .data.task)
[ "$task" != null ] || fail "create refused: $out"
wait_until 300 0.2 task_done 1 "$task" || fail "create+start task did not end"
wait_until 300 0.2 grep -aq "HXGUEST READY" "$(serial 1 100)" ||
	fail "guest did not boot: $(tail -c 600 "$(serial 1 100)")"
t1=$(date +%s%N)
ok "guest booted on n1, $(((t1 - t0) / 1000000)) ms from the API call to its marker"
# A second guest that ignores the ACPI power button (used below).
task=$(api 1 POST /vms "$(cfg stubborn n1 102 'hx.run=\"killall acpid\"')" | jq -r .data.task)
[ "$task" != null ] || fail "stubborn VM refused"
wait_until 30 0.5 counting 1 100 || fail "guest not counting"
[ "$(vm_field 2 100 .state)" = running ] || fail "n2 does not see it running"
api 2 GET /vms/100/status | jq -e '.data.state == "running" and .data.pid > 0 and .data.memory_rss_mb > 0' >/dev/null ||
	fail "status through n2: $(api 2 GET /vms/100/status)"
qemu-img info -U "$(dir_of 1)/images/vm-100-disk-0.qcow2" | grep -q "virtual size: 16 MiB" ||
	fail "disk not created"
ok "running, status forwarded, disk created"

# hxd killed -9 in the middle of a task and restarted: the guest keeps
# running (same boot), the interrupted task ends in error.
boot=$(boot_of 1 100)
wait_until 300 0.2 grep -aq "HXGUEST RUN" "$(serial 1 102)" ||
	fail "stubborn guest did not boot: $(tail -c 300 "$(serial 1 102)")"
# This guest ignores ACPI: its shutdown waits, and hxd dies meanwhile.
task=$(act 1 POST /vms/102/shutdown '{"timeout":300}')
sleep 1
[ "$(api 1 GET "/tasks/$task" | jq -r .data.state)" = running ] ||
	fail "shutdown not running: $(api 1 GET "/tasks/$task")"
node_kill 1
node_start 1
# Until n1 is back, the two-voter cluster has no quorum.
wait_until 100 0.2 sh -c "curl -s --max-time 5 --unix-socket $(dir_of 1)/hxd.sock http://x/api/v1/vms/102 | grep -q '\"data\"'" ||
	fail "n1 does not answer after its restart"
wait_until 100 0.2 sh -c "curl -s --max-time 5 --unix-socket $(dir_of 1)/hxd.sock http://x/api/v1/tasks/$task | jq -e '.data.state == \"error\" and (.data.message | test(\"interrupted\"))' >/dev/null" ||
	fail "interrupted task not ended: $(api 1 GET "/tasks/$task")"
task=$(act 1 POST /vms/102/stop)
wait_until 100 0.1 task_done 1 "$task" || fail "stop stubborn guest"
wait_until 60 0.5 sh -c "[ \"\$(curl -s --max-time 5 --unix-socket $(dir_of 1)/hxd.sock http://x/api/v1/vms/100/status | jq -r .data.state)\" = running ]" ||
	fail "not re-adopted"
wait_until 20 0.5 counting 1 100 || fail "not counting after hxd restart"
[ "$(boot_of 1 100)" = "$boot" ] || fail "guest was restarted by the new hxd"
ok "hxd restart re-adopted the running guest (boot $boot); interrupted task ended"

# QEMU killed: restarted per the default on-crash policy.
# (A status request can time out on a loaded machine: retry, and make sure
# the kill hit something, or the wait below would time out for nothing.)
pid=""
for k in $(seq 1 50); do
	pid=$(api 1 GET /vms/100/status | jq -r '.data.pid // empty' 2>/dev/null)
	[ -n "$pid" ] && break
	sleep 0.2
done
[ -n "$pid" ] && kill -9 "$pid" || fail "cannot kill QEMU of vm 100 (pid '$pid')"
wait_until 300 0.2 sh -c "[ \"\$(grep -ao 'HXGUEST READY id=[^ ]* boot=[0-9a-f]*' $(serial 1 100) | tail -1 | sed 's/.*boot=//')\" != $boot ]" ||
	fail "crashed guest not restarted"
wait_until 30 0.5 counting 1 100 || fail "restarted guest not counting"
api 1 GET "/events?subject=vm/100" | jq -e '[.data[].message] | map(test("crashed")) | any' >/dev/null ||
	fail "no event says it crashed"
ok "QEMU killed -9 was restarted"

# ACPI shutdown through the API.
task=$(act 2 POST /vms/100/shutdown '{"timeout":60}')
wait_until 350 0.2 task_done 2 "$task" || fail "shutdown did not end"
grep -aq "HXGUEST POWEROFF" "$(serial 1 100)" || fail "no ACPI power-off in the guest"
[ "$(vm_field 1 100 .state)/$(vm_field 1 100 .desired)" = stopped/stopped ] ||
	fail "not stopped: $(api 1 GET /vms/100 | jq -c '.data | {state, desired}')"
sleep 3
[ "$(vm_field 1 100 .state)" = stopped ] || fail "shut-down guest came back"
ok "ACPI shutdown"

# A guest that powers itself off stays off (desired becomes stopped).
out=$(api 1 POST /vms "$(cfg quitter n2 101 'hx.run=\"sleep 2; poweroff -f\"')")
task=$(echo "$out" | jq -r .data.task)
wait_until 300 0.2 task_done 1 "$task" || fail "second VM did not start"
wait_until 300 0.2 grep -aq "HXGUEST READY" "$(serial 2 101)" || fail "n2 guest did not boot"
wait_until 150 0.2 sh -c "[ \"\$(curl -s --unix-socket $(dir_of 2)/hxd.sock http://x/api/v1/vms/101 | jq -r '.data.state + \"/\" + .data.desired')\" = stopped/stopped ]" ||
	fail "guest power-off not honoured: $(api 2 GET /vms/101 | jq -c '.data | {state, desired}')"
ok "guest-initiated power-off left it stopped"

# Delete: domain and disks gone.
for v in 100 101 102; do
	task=$(act 1 DELETE "/vms/$v")
	wait_until 100 0.2 task_done 1 "$task" || fail "delete $v"
done
[ -z "$(virsh_on 1 list --all --name)" ] || fail "domain left on n1"
[ -z "$(virsh_on 2 list --all --name)" ] || fail "domain left on n2"
[ ! -e "$(dir_of 1)/images/vm-100-disk-0.qcow2" ] || fail "disk left"
ok "deleted"
exit 0
