#!/bin/bash
# Two real guests on two nodes in one VXLAN vnet ping each other. The
# nodes' executors build the vnet's bridge and VXLAN device (head-end
# replication to the other node), libvirt puts each guest's tap on the
# bridge, IPAM gives the NICs their static addresses, and the guests take
# them from their kernel command line. A third guest gets its address from
# the vnet's DHCP (dnsmasq on its node, answering only with IPAM's
# address) and pings too. Then a vnet no longer wanted is removed from
# every node, with its DHCP servers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

# The DHCP servers are daemons: stop them (by their pid files) with the
# rest, before lib.sh deletes the namespaces.
dhcp_stop_all() {
	local f pid
	for f in "$HX_WORK"/n*/dhcp/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f") && [ -n "$pid" ] && kill "$pid" 2>/dev/null
	done
}
trap 'hx_rc=$?; dhcp_stop_all; libvirt_stop_all; (exit $hx_rc); cleanup' EXIT
guest_paths
net_create 2
for i in 1 2; do
	libvirt_start "$i"
	eval "HXD_ARGS_$i=\"--libvirt-uri $(libvirt_uri "$i") --accel tcg\""
done
cluster_form 2
wait_until 60 0.5 members_with online 2 1 || fail "not all online"
on() { local i=$1; shift; ip netns exec "$(ns "$i")" "$@"; }

hx 1 net zone-create ovl --type vxlan >/dev/null || fail "zone"
hx 2 net vnet-create v1 --zone ovl --vni 4242 >/dev/null || fail "vnet"
hx 1 net subnet-create v1 10.66.0.0/24 --gateway 10.66.0.1 \
	--dhcp-start 10.66.0.100 --dhcp-end 10.66.0.150 >/dev/null || fail "subnet"
# vxlan_ready I PEER: node I has the bridge and the VXLAN device (VNI,
# local address, on the bridge) and a flood entry towards PEER.
vxlan_ready() {
	on "$1" ip -d link show hxv-v1 2>/dev/null | grep -q "vxlan id 4242 local $(ip_of "$1") .*nolearning" &&
		on "$1" ip link show hxv-v1 | grep -q "master hxb-v1" &&
		on "$1" ip link show hxb-v1 | grep -q "mtu 1450" &&
		on "$1" bridge fdb show dev hxv-v1 | grep -q "^00:00:00:00:00:00 dst $(ip_of "$2") "
}
wait_until 50 0.2 vxlan_ready 1 2 || fail "n1's vnet devices"
wait_until 50 0.2 vxlan_ready 2 1 || fail "n2's vnet devices"
# the anycast gateway: the same address and MAC on every node's bridge
gw_mac() { on "$1" ip -4 addr show hxb-v1 | grep -q 'inet 10.66.0.1/24' &&
	on "$1" cat /sys/class/net/hxb-v1/address; }
wait_until 50 0.2 gw_mac 1 || fail "no gateway on n1's bridge"
wait_until 50 0.2 gw_mac 2 || fail "no gateway on n2's bridge"
[ "$(gw_mac 1)" = "$(gw_mac 2)" ] || fail "gateway MACs differ"
ok "both nodes built hxb-v1 and hxv-v1 (VNI 4242, head-end replication) with the anycast gateway"

serial() { echo "$(dir_of "$1")/vms/$2/serial.log"; }
cfg() { # VMID NODE IP PEER: IP "auto" takes it from DHCP
	local guest_ip="$3/24" nic_ip=$3
	[ "$3" = auto ] && guest_ip=dhcp
	cat <<EOF2
{"vmid":$1,"name":"vx$1","node":"$2","memory_mb":128,"start":true,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
   "cmdline":"console=ttyS0 quiet hx.id=vx$1 hx.ip=$guest_ip hx.disk=none hx.run=\"ip -4 addr show eth0; ping -c 2 -w 150 $4\""},
 "nics":[{"vnet":"v1","ip":"$nic_ip","ip6":"none"}]}
EOF2
}
t0=$(date +%s)
for spec in "100 n1 10.66.0.11 10.66.0.12" "101 n2 10.66.0.12 10.66.0.11" \
	"102 n2 auto 10.66.0.11"; do
	set -- $spec
	out=$(api 1 POST /vms "$(cfg "$1" "$2" "$3" "$4")")
	echo "$out" | jq -e '.data.task' >/dev/null || fail "VM $1: $out"
done
api 1 GET '/network/ipam?vnet=v1' | jq -e '[.data[] | select(.vmid != null) | .ip] == ["10.66.0.11","10.66.0.12","10.66.0.100"]' >/dev/null ||
	fail "IPAM: $(api 1 GET '/network/ipam?vnet=v1')"
wait_until 600 0.2 grep -aq "HXGUEST READY" "$(serial 1 100)" || fail "guest on n1 did not boot"
wait_until 600 0.2 grep -aq "HXGUEST READY" "$(serial 2 101)" || fail "guest on n2 did not boot"
on 1 ip link show hxt100n0 | grep -q "master hxb-v1" || fail "n1's tap is not on the vnet bridge"
on 2 ip link show hxt101n0 | grep -q "master hxb-v1" || fail "n2's tap is not on the vnet bridge"
ran() { grep -aq "HXGUEST RUN rc=" "$(serial "$1" "$2")"; }
wait_until 900 0.2 ran 1 100 || fail "guest on n1: ping did not end"
wait_until 900 0.2 ran 2 101 || fail "guest on n2: ping did not end"
for v in "1 100" "2 101"; do
	set -- $v
	grep -aq "HXGUEST RUN rc=0" "$(serial "$1" "$2")" ||
		fail "VM $2 could not ping: $(grep -a 'bytes from\|packets\|RUN' "$(serial "$1" "$2")" | tail -5)"
done
tx=$(on 1 cat /sys/class/net/hxv-v1/statistics/tx_packets)
rx=$(on 1 cat /sys/class/net/hxv-v1/statistics/rx_packets)
[ "$tx" -gt 0 ] && [ "$rx" -gt 0 ] || fail "nothing crossed hxv-v1 on n1 (tx $tx rx $rx)"
ok "guests on n1 and n2 pinged each other over VXLAN in $(($(date +%s) - t0)) s (n1's hxv-v1: tx $tx, rx $rx packets)"

wait_until 600 0.2 ran 2 102 || fail "DHCP guest: ping did not end"
grep -aq "DHCP FAILED" "$(serial 2 102)" && fail "DHCP guest got no lease"
grep -aq "inet 10.66.0.100/24" "$(serial 2 102)" ||
	fail "DHCP guest did not get its IPAM address: $(grep -a 'inet ' "$(serial 2 102)")"
grep -aq "HXGUEST RUN rc=0" "$(serial 2 102)" ||
	fail "DHCP guest could not ping: $(grep -a 'bytes from\|packets\|RUN' "$(serial 2 102)" | tail -5)"
grep -q "dhcp-host=.*,10.66.0.100,vx102" "$(dir_of 2)/dhcp/v1.conf" || fail "n2's DHCP does not list VM 102"
! grep -q "10.66.0.100" "$(dir_of 1)/dhcp/v1.conf" || fail "n1's DHCP lists a VM of n2"
ok "a guest got its IPAM address (10.66.0.100) from its node's DHCP server and pinged across"

# A second vnet comes and goes on every node.
hx 1 net vnet-create v2 --zone ovl --vni 4343 >/dev/null || fail "vnet v2"
has() { on "$1" ip link show "$2" >/dev/null 2>&1; }
gone() { ! has "$1" "$2"; }
wait_until 50 0.2 has 2 hxv-v2 || fail "v2 not built on n2"
hx 2 net vnet-delete v2 >/dev/null || fail "vnet v2 delete"
wait_until 50 0.2 gone 1 hxv-v2 || fail "hxv-v2 left on n1"
wait_until 50 0.2 gone 2 hxb-v2 || fail "hxb-v2 left on n2"
ok "a vnet no longer wanted is removed from every node"

# task I METHOD PATH: starts a task through node I and waits until it is ok.
task() {
	local t
	t=$(api "$1" "$2" "$3" | jq -r '.data.task // empty')
	[ -n "$t" ] || fail "$2 $3 refused"
	wait_until 300 0.2 sh -c "[ \"\$(curl -s --unix-socket $(dir_of "$1")/hxd.sock http://x/api/v1/tasks/$t | jq -r .data.state)\" = ok ]" ||
		fail "$2 $3 did not end ok"
}
for v in 100 101 102; do
	task 1 POST "/vms/$v/stop"
	task 1 DELETE "/vms/$v"
done
api 1 GET '/network/ipam?vnet=v1' | jq -e '[.data[] | select(.vmid != null)] == []' >/dev/null ||
	fail "addresses of deleted VMs left"
ok "deleting the VMs released their addresses"

hx 1 net subnet-delete 10.66.0.0/24 >/dev/null || fail "subnet delete"
no_dhcp() { [ ! -e "$(dir_of "$1")/dhcp/v1.conf" ] && ! on "$1" ip -4 addr show hxb-v1 | grep -q inet; }
wait_until 50 0.2 no_dhcp 1 || fail "n1 kept its DHCP server or gateway"
wait_until 50 0.2 no_dhcp 2 || fail "n2 kept its DHCP server or gateway"
ok "without DHCP subnets the servers and gateways go"
exit 0
