#!/bin/bash
# The test guest alone under plain QEMU (TCG), in a namespace of its own:
# READY marker, heartbeats, disk records, hx.run, DHCP + httpd on QEMU's
# user network, and ACPI power-off through QMP system_powerdown. When this
# fails the guest is broken; when only test_libvirt fails, libvirt is.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

command -v qemu-system-x86_64 >/dev/null || fail "qemu missing (tools/deps.sh)"
command -v socat >/dev/null || fail "socat missing (tools/deps.sh)"

now_ms() { date +%s%3N; }
W=$HX_WORK/qemu
LOG=$W/serial.log
mkdir -p "$W"

net_create 1
guest_paths
truncate -s 1M "$W/disk.raw"

t0=$(now_ms)
ip netns exec "$(ns 1)" timeout 300 qemu-system-x86_64 -accel tcg -m 128 \
	-kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRD" \
	-append 'console=ttyS0 quiet hx.id=q1 hx.ip=dhcp hx.run="echo RUN-OK $((6*7))"' \
	-drive file="$W/disk.raw",format=raw,if=virtio,cache=none \
	-nic user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:8080-:80 \
	-qmp unix:"$W/qmp.sock",server=on,wait=off -serial file:"$LOG" \
	-display none -monitor none -no-reboot >"$W/qemu.out" 2>&1 &
QPID=$!

wait_until 600 0.1 grep -aq 'HXGUEST READY id=q1' "$LOG" || fail "no READY"
log "boot: $(($(now_ms) - t0)) ms to READY"
BOOT=$(grep -ao 'READY id=q1 boot=[0-9a-f]*' "$LOG" | sed 's/.*boot=//')
grep -aq "READY id=q1 boot=$BOOT disk=/dev/vda" "$LOG" || fail "no disk seen"
ok "guest boots (boot $BOOT)"

wait_until 100 0.1 grep -aq "HEARTBEAT n=3 id=q1 boot=$BOOT" "$LOG" ||
	fail "no heartbeat 3"
grep -aq 'RUN-OK 42' "$LOG" || fail "hx.run output missing"
grep -aq 'HXGUEST RUN rc=0' "$LOG" || fail "hx.run rc missing"
ok "heartbeats and hx.run"

# Sector 0 has the latest record; the ring has record 3 in sector 4.
rec() { dd if="$W/disk.raw" bs=512 skip="$1" count=1 2>/dev/null | tr -d '\0'; }
ring3() { rec 4 | grep -q "^HXGUEST id=q1 boot=$BOOT n=3 t=[0-9]"; }
wait_until 50 0.1 ring3 || fail "no ring record 3: $(rec 4)"
rec 0 | grep -q "^HXGUEST id=q1 boot=$BOOT n=[0-9]* t=[0-9]*" ||
	fail "bad latest record: $(rec 0)"
ok "disk records"

hb() {
	ip netns exec "$(ns 1)" curl -s --max-time 3 http://127.0.0.1:8080/hb
}
hb_ok() { hb | grep -q "id=q1 boot=$BOOT"; }
wait_until 50 0.2 hb_ok || fail "httpd /hb over DHCP network"
ok "dhcp network + httpd: $(hb)"

qmp() {
	{
		echo '{"execute":"qmp_capabilities"}'
		sleep 0.2
		echo "{\"execute\":\"$1\"}"
		sleep 0.2
	} | timeout 5 socat - UNIX-CONNECT:"$W/qmp.sock"
}
t0=$(now_ms)
qmp system_powerdown | grep POWERDOWN >/dev/null || fail "system_powerdown"
pid_dead() { ! pid_alive "$1"; }
wait_until 300 0.1 pid_dead "$QPID" ||
	fail "guest did not power off"
wait "$QPID"
rc=$?
[ $rc = 0 ] || fail "qemu exit status $rc"
grep -aq "HXGUEST POWEROFF id=q1 boot=$BOOT n=" "$LOG" || fail "no POWEROFF"
log "acpi power-off: $(($(now_ms) - t0)) ms"
ok "acpi power-off"
exit 0
