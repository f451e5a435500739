# HA cluster test helpers: N nodes, each with its own libvirtd and an
# emulated watchdog (tests/tools/hx-wdog-emu) that kills the node's cgroup
# (hxd, libvirtd and QEMU) when hxd stops feeding it; real test guests.
#
# Source it after tests/cluster/lib.sh and tests/lib/libvirt.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/../lib/libvirt.sh"
#   . "$(dirname "$0")/halib.sh"
#   ha_cluster 3
#
# VMs are libvirt domains hx-VMID; vm_nodes VMID lists the nodes whose
# libvirtd runs a live QEMU of it (a frozen QEMU counts: it still holds
# its disk), from the pid files of this test's libvirtds only.

WDOG="$top_builddir/tests/tools/hx-wdog-emu"
[ -x "$WDOG" ] || fail "build $WDOG first (make tests/tools/hx-wdog-emu)"
[ -w /sys/fs/cgroup/unified/cgroup.procs ] || {
	echo "SKIP: needs cgroup2 at /sys/fs/cgroup/unified"
	exit 77
}
# shellcheck disable=SC2034 # read by lib.sh and libvirt.sh
HX_CGROUPS=1
# shellcheck disable=SC2034 # read by libvirt.sh (live migration)
HX_LIBVIRT_MIGRATE_TLS=1
HA_NODES=0
trap 'rc=$?; ha_wdog_stop_all; libvirt_stop_all; (exit $rc); cleanup' EXIT

# ha_wdog_start I: node I's emulated watchdog, on FIFO DIR/wdog; its pid
# is in DIR/wdog.pid (the test may SIGSTOP it to stall the watchdog too).
ha_wdog_start() {
	"$WDOG" --fifo "$(dir_of "$1")/wdog" --cgroup "$(node_cgroup "$1")" \
		--timeout-ms 2000 --max-s 900 >>"$(dir_of "$1")/wdog.log" 2>&1 &
	echo $! >"$(dir_of "$1")/wdog.pid"
}

ha_wdog_stop_all() {
	local i p
	for i in $(seq 1 "$HA_NODES"); do
		p=$(cat "$(dir_of "$i")/wdog.pid" 2>/dev/null) || continue
		kill -CONT "$p" 2>/dev/null
		kill "$p" 2>/dev/null
	done
}

# ha_cluster N: N nodes with watchdog and libvirtd, formed, all voters
# or standbys online.
ha_cluster() {
	local n=$1 i
	HA_NODES=$n
	guest_paths
	net_create "$n"
	mkdir -p "$HX_WORK/shared"
	for i in $(seq 1 "$n"); do
		ha_wdog_start "$i"
		libvirt_start "$i"
		eval "HXD_ARGS_$i=\"--libvirt-uri $(libvirt_uri "$i") \
--accel tcg --watchdog $(dir_of "$i")/wdog\""
	done
	cluster_form "$n"
	wait_until 120 0.5 members_with online "$n" 1 || fail "not all online"
}

# eq WANT CMD...: CMD prints WANT (evaluated anew on each try of
# wait_until, unlike a "$(...)" in its arguments)
eq() {
	local want=$1
	shift
	[ "$("$@")" = "$want" ]
}
nonempty() { [ -n "$("$@")" ]; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# vm_json VMID NODE [DISK]: a test guest on NODE (n1...), 128 MiB, with
# DISK (a qcow2 path every node sees) as its first disk if given.
vm_json() {
	local disks=""
	[ -n "${3:-}" ] && disks=",\"disks\":[{\"volume\":\"$3\",\"format\":\"qcow2\"}]"
	cat <<EOF
{"vmid":$1,"name":"vm$1","node":"$2","memory_mb":128,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
           "cmdline":"console=ttyS0 quiet hx.id=vm$1"}$disks}
EOF
}

# vm_create I VMID NODE [DISK]: create it through node I and wait until
# the create task is over.
vm_create() {
	local out task
	out=$(api "$1" POST /vms "$(vm_json "$2" "$3" "${4:-}")")
	task=$(echo "$out" | jq -r '.data.task // empty')
	[ -n "$task" ] || fail "create of VM $2 refused: $out"
	wait_until 150 0.2 eq ok task_state "$1" "$task" ||
		fail "create task of VM $2 did not end"
}
task_state() { api "$1" GET "/tasks/$2" | jq -r .data.state; }

# vm_pids_on I VMID: pids of node I's live QEMUs of VM VMID.
vm_pids_on() {
	local pid
	for pid in $(libvirt_qemu_pids "$1"); do
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
			grep -q "guest=hx-$2," && echo "$pid"
	done
}
# vm_nodes VMID: the nodes (numbers) running a QEMU of VMID, one a line.
vm_nodes() {
	local i
	for i in $(seq 1 "$HA_NODES"); do
		[ -n "$(vm_pids_on "$i" "$1")" ] && echo "$i"
	done
}
vm_count() { vm_nodes "$1" | wc -l; }

# alive [SKIP...]: the first node not in SKIP whose API answers.
alive() {
	local i
	for i in $(seq 1 "$HA_NODES"); do
		case " $* " in *" $i "*) continue ;; esac
		api "$i" GET /cluster >/dev/null 2>&1 && echo "$i" && return 0
	done
	return 1
}

ha_field() { # I VMID JQ: a field of HA resource VMID as node I sees it
	api "$1" GET "/ha/resources/$2" | jq -r ".data$3"
}
ha_started_on() { # I VMID NODE: started and confirmed on NODE
	local j
	j=$(api "$1" GET "/ha/resources/$2") && [ -n "$j" ] &&
		echo "$j" | jq -e --arg n "$3" '.data.status |
			.crm_state == "started" and .node == $n and .confirmed' \
			>/dev/null
}
ha_node_state() { # I NODE: NODE's HA state as node I reports it
	api "$1" GET /ha/status |
		jq -r ".data.nodes[] | select(.name == \"$2\") | .state"
}

# serial_of I VMID: VM VMID's serial log on node I.
serial_of() { echo "$(dir_of "$1")/vms/$2/serial.log"; }
ready_on() { grep -aq "HXGUEST READY" "$(serial_of "$1" "$2")" 2>/dev/null; }
# boot_on I VMID: the boot id of the guest's last heartbeat on node I.
boot_on() {
	grep -ao 'HXGUEST HEARTBEAT n=[0-9]* id=[^ ]* boot=[0-9a-f]*' \
		"$(serial_of "$1" "$2")" 2>/dev/null | tail -1 | sed 's/.*boot=//'
}
# beats_on I VMID: heartbeat lines in the guest's serial log on node I.
beats_on() {
	local n
	n=$(grep -ac 'HXGUEST HEARTBEAT' "$(serial_of "$1" "$2")" 2>/dev/null)
	echo "${n:-0}"
}

# cg_freeze I 0|1: freeze or thaw node I's cgroup (hxd, libvirtd, QEMU).
cg_freeze() { echo "$2" >"$(node_cgroup "$1")/cgroup.freeze"; }
cg_frozen() { grep -q '^frozen 1' "$(node_cgroup "$1")/cgroup.events"; }
