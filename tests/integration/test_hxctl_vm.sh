#!/bin/bash
# hxctl vm ... against one real hxd, with libvirt's test driver standing in
# for QEMU: what the client adds to the API (exit codes, names for VMIDs,
# option syntax refused before sending, --wait, --config, completing a
# partial cpu/kernel change from the VM). test_vm.sh covers the API itself.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/hx-hxctl-vm-XXXXXX)
port=$((20000 + RANDOM % 20000))
"$top_builddir/hxd" --data-dir "$work" --name solo --address 127.0.0.1 \
	--api-port "$port" --peer-port $((port + 1)) \
	--libvirt-uri test:///default >"$work/log" 2>&1 &
pid=$!
fail=0
trap 'kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; [ "$fail" = 0 ] && rm -rf "$work" || { tail -30 "$work/log"; echo "kept $work"; }' EXIT
n=0
check() { # description, command...
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else echo "not ok $n - $d"; fail=1; fi
}
hx() { "$top_builddir/hxctl" --data-dir "$work" "$@"; }
# exits CODE PATTERN COMMAND...: hxctl exits CODE (a glob), and its output
# (stdout and stderr, lines joined by spaces) matches the extended regular
# expression PATTERN.
exits() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$(hx "$@" 2>&1)
	rc=$?
	out=${out//$'\n'/ }
	[[ $rc == $want ]] && echo "$out" | grep -qE -- "$pat" && return 0
	echo "# hxctl $*: exit $rc, wanted $want /$pat/: $out"
	return 1
}
# jqt FILTER COMMAND...: the filter holds on hxctl --json output.
jqt() {
	local f=$1
	shift
	hx --json "$@" | jq -e "$f" >/dev/null
}
vm_count() { hx --json vm list | jq length; }

for _ in $(seq 50); do [ -S "$work/hxd.sock" ] && break; sleep 0.1; done
hx cluster init --name vmtest >/dev/null ||
	{ fail=1; echo "not ok - init"; exit 1; }
# The executor connects to libvirt after init: wait until it answers.
for _ in $(seq 100); do hx vm nextid >/dev/null 2>&1 && break; sleep 0.1; done

check "nextid prints the VMID alone" exits 0 '^100 ?$' vm nextid

# Syntax errors: exit 2 before anything is sent.
check "unknown disk key refused locally" \
	exits 2 "unknown key 'speed'" vm create --name a --disk size=8,speed=1
check "memory below range refused locally" \
	exits 2 "^hxctl: --memory: expected MiB from 16" vm create --name a --memory 8
check "name required" exits 2 "needs a name" vm create --memory 64
check "VMID range" exits 2 "VMID must be from 100" vm start 99
check "nothing was created" test "$(vm_count)" = 0

# Meaning is the server's: exit 1 with its message, nothing created.
check "server rejects an unknown bus" \
	exits 1 "disks\[0\]\.bus" vm create --name a --disk size=8,bus=usb
check "still nothing created" test "$(vm_count)" = 0

check "create, start and wait" \
	exits 0 "vm 100: create: task [0-9]+.*task [0-9]+ ok" \
	vm create --name web1 --memory 64 --disk size=8 --tag web --start --wait
check "running after the create task" jqt '.state == "running"' vm show web1
check "a taken name is a conflict" exits 4 "web1" vm create --name web1
check "list filters by tag and state" \
	jqt 'length == 1 and .[0].vmid == 100' vm list --tag web --state running
check "list filter excludes" jqt 'length == 0' vm list --state stopped
check "unknown VM name is not found" exits 3 "ghost" vm start ghost

# A partial cpu change on a running VM: completed from the VM, pending.
check "set --cores" exits 0 "pending until the next start: cpu" \
	vm set web1 --cores 2
check "set --cpu keeps the pending cores" exits 0 "updated" \
	vm set web1 --cpu max
check "pending cpu merged" \
	jqt '.pending.cpu == {"sockets": 1, "cores": 2, "model": "max"} and
	     .config.cpu.cores == 1' vm show 100
check "show marks pending" exits 0 "cpus: .* -> 2 \(1 socket x 2 cores\), max \(pending\)" \
	vm show web1
check "a stale --digest is a conflict" exits 4 "digest" \
	vm set web1 --digest stale --memory 128
check "--revert drops pending" exits 0 "pending changes dropped" \
	vm set web1 --revert
check "nothing pending" jqt '.pending == null' vm show web1
check "--initrd needs a kernel" exits 2 "boots no kernel directly" \
	vm set web1 --initrd /boot/initrd.img

check "delete of a running VM fails" exits '[14]' "stop it first|running" \
	vm delete web1 --wait
check "stop and wait" exits 0 "task [0-9]+ ok" vm stop web1 --wait
check "status stopped" jqt '.state == "stopped"' vm status web1

# --config from standard input, options on top.
check "create from --config" sh -c "echo '{\"memory_mb\": 96, \"cpu\": {\"model\": \"max\"}}' |
	'$top_builddir/hxctl' --data-dir '$work' vm create --config - --name db1 --cores 2 --wait >/dev/null 2>&1"
check "config and options combined" \
	jqt '.config.memory_mb == 96 and .config.cpu == {"sockets": 1, "cores": 2, "model": "max"}' \
	vm show db1
out=$(hx --json vm create --name j1)
check "create --json prints vmid and task" \
	jq -e '.vmid == 102 and (.task | type) == "number"' <<<"$out" >/dev/null
check "task wait follows it" exits 0 "ok" task wait "$(jq .task <<<"$out")"

for vm in web1 db1 j1; do
	check "delete $vm" exits 0 "task [0-9]+ ok" vm delete "$vm" --wait
done
check "all gone" test "$(vm_count)" = 0
exit $fail
