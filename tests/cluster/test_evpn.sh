#!/bin/bash
# Two real guests on two nodes in one EVPN vnet ping each other. Each node
# runs FRR's zebra and bgpd in its network namespace; hxd builds the vnet's
# bridge and VXLAN device (no static forwarding entries) and configures
# BGP EVPN through vtysh; zebra then installs the other node as a VTEP
# from its type-3 route and the guests' MACs from type-2 routes. Restarting
# hxd re-applies the configuration without resetting the BGP session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/libvirt.sh"

for d in zebra bgpd; do
	[ -x "/usr/lib/frr/$d" ] || fail "FRR missing: /usr/lib/frr/$d (tools/deps.sh)"
done
frr_dir() { echo "$(dir_of "$1")/frr"; }
frr_stop_all() {
	local f pid
	for f in "$HX_WORK"/n*/frr/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f") && [ -n "$pid" ] && kill "$pid" 2>/dev/null
	done
}
trap 'hx_rc=$?; frr_stop_all; libvirt_stop_all; (exit $hx_rc); cleanup' EXIT
# frr_start I: zebra and bgpd in node I's namespace, their vty sockets
# and state in frr_dir I (the daemons drop to user frr).
frr_start() {
	local d
	d=$(frr_dir "$1")
	mkdir -p "$d"
	chown frr:frr "$d"
	ip netns exec "$(ns "$1")" /usr/lib/frr/zebra -d -u frr -g frr \
		-i "$d/zebra.pid" -z "$d/zserv.api" --vty_socket "$d" \
		-f /dev/null >"$d/zebra.out" 2>&1 || fail "zebra on n$1"
	wait_until 50 0.1 test -S "$d/zserv.api" || fail "zebra socket on n$1"
	ip netns exec "$(ns "$1")" /usr/lib/frr/bgpd -d -u frr -g frr \
		-i "$d/bgpd.pid" -z "$d/zserv.api" --vty_socket "$d" \
		-f /dev/null >"$d/bgpd.out" 2>&1 || fail "bgpd on n$1"
	wait_until 50 0.1 test -S "$d/bgpd.vty" || fail "bgpd vty on n$1"
}
vty() { local i=$1; shift; vtysh --vty_socket "$(frr_dir "$i")" -c "$*"; }

guest_paths
net_create 2
chmod 0711 "$HX_WORK" # the FRR daemons run as user frr
for i in 1 2; do
	frr_start "$i"
	libvirt_start "$i"
	eval "HXD_ARGS_$i=\"--libvirt-uri $(libvirt_uri "$i") --accel tcg --frr-vty $(frr_dir "$i")\""
done
cluster_form 2
wait_until 60 0.5 members_with online 2 1 || fail "not all online"
on() { local i=$1; shift; ip netns exec "$(ns "$i")" "$@"; }

hx 1 net zone-create fab --type evpn --asn 65010 >/dev/null || fail "zone"
r=$(api 1 POST /network/zones '{"name":"fab2","type":"evpn","asn":65011}')
echo "$r" | jq -e '.error.message | contains("AS 65010")' >/dev/null || fail "a second AS accepted: $r"
hx 2 net vnet-create e1 --zone fab --vni 7001 >/dev/null || fail "vnet"
hx 1 net subnet-create e1 10.67.0.0/24 >/dev/null || fail "subnet"
peer_up() { # I PEER: node I's BGP EVPN session to PEER is established
	local out
	out=$(vty "$1" "show bgp neighbor $(ip_of "$2") json" 2>/dev/null)
	[ -n "$out" ] && echo "$out" | jq -e '.[].bgpState == "Established"' >/dev/null
}
wait_until 150 0.2 peer_up 1 2 || fail "no EVPN session n1-n2: $(vty 1 'show bgp l2vpn evpn summary')"
vtep() { # I PEER: zebra installed PEER as a VTEP of VNI 7001 on node I
	on "$1" bridge fdb show dev hxv-e1 2>/dev/null | grep -q "^00:00:00:00:00:00 dst $(ip_of "$2") "
}
wait_until 150 0.2 vtep 1 2 || fail "n1 has no VTEP entry for n2: $(vty 1 'show evpn vni 7001')"
wait_until 150 0.2 vtep 2 1 || fail "n2 has no VTEP entry for n1"
on 1 ip -d link show hxv-e1 | grep -q "vxlan id 7001 local $(ip_of 1) .*nolearning" || fail "n1's hxv-e1"
ok "BGP EVPN session up; zebra installed each node as the other's VTEP (type-3 routes)"

serial() { echo "$(dir_of "$1")/vms/$2/serial.log"; }
cfg() { # VMID NODE IP PEER
	cat <<EOF2
{"vmid":$1,"name":"ev$1","node":"$2","memory_mb":128,"start":true,
 "kernel":{"path":"$GUEST_KERNEL","initrd":"$GUEST_INITRD",
   "cmdline":"console=ttyS0 quiet hx.id=ev$1 hx.ip=$3/24 hx.disk=none hx.run=\"ping -c 2 -w 150 $4\""},
 "nics":[{"vnet":"e1","ip":"$3","ip6":"none"}]}
EOF2
}
t0=$(date +%s)
for spec in "100 n1 10.67.0.11 10.67.0.12" "101 n2 10.67.0.12 10.67.0.11"; do
	set -- $spec
	out=$(api 1 POST /vms "$(cfg "$1" "$2" "$3" "$4")")
	echo "$out" | jq -e '.data.task' >/dev/null || fail "VM $1: $out"
done
ran() { grep -aq "HXGUEST RUN rc=" "$(serial "$1" "$2")" 2>/dev/null; }
wait_until 900 0.2 ran 1 100 || fail "guest on n1: ping did not end"
wait_until 900 0.2 ran 2 101 || fail "guest on n2: ping did not end"
for v in "1 100" "2 101"; do
	set -- $v
	grep -aq "HXGUEST RUN rc=0" "$(serial "$1" "$2")" ||
		fail "VM $2 could not ping: $(grep -a 'bytes from\|packets\|RUN' "$(serial "$1" "$2")" | tail -5)"
done
mac=$(api 1 GET /vms/101 | jq -r '.data.config.nics[0].mac')
vty 1 "show evpn mac vni 7001" | grep -q "$mac.*remote.*$(ip_of 2)" ||
	fail "n1 did not learn VM 101's MAC by EVPN: $(vty 1 'show evpn mac vni 7001')"
ok "guests on n1 and n2 pinged each other over EVPN in $(($(date +%s) - t0)) s; n1 knows VM 101's MAC as remote"

# hxd restarts and applies the EVPN configuration again: no reset.
established() { vty 1 "show bgp neighbor $(ip_of 2) json" | jq -r '.[].connectionsEstablished'; }
before=$(established)
applies() { grep -c "BGP EVPN configured" "$(dir_of 1)/hxd.log"; }
n_before=$(applies)
node_kill 1
node_start 1
more_applies() { [ "$(applies)" -gt "$n_before" ]; }
wait_until 100 0.2 more_applies || fail "no EVPN apply after restart"
sleep 1 # a reset would show within a second as a dropped, re-established session
[ "$(established)" = "$before" ] || fail "the BGP session was reset ($before -> $(established) connections)"
peer_up 1 2 || fail "session down after the restart"
ok "hxd restart re-applied the EVPN configuration without resetting the session ($before connection)"
exit 0
