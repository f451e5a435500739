#!/bin/bash
# The distributed firewall with real traffic. One node (libvirt's test
# driver holds the VM definitions); each "VM NIC" is a veth whose node end
# is named like the VM's tap (hxtVMIDn0) on the vnet's bridge and whose
# other end sits in a network namespace of its own with the NIC's MAC and
# IPAM address. Checked: a VM policy blocks, a rule allows, deleting it
# blocks again; a security group applied to two VMs; a forged source
# address or MAC is dropped at the port; the ruleset survives hxd's
# death and is the same after its restart; bad rules are refused whole;
# the same for IPv6 (policy, rule, forged source, neighbour discovery).
. "$(dirname "$0")/lib.sh"

command -v socat >/dev/null || fail "socat missing (tools/deps.sh)"
HXD_ARGS_1="--libvirt-uri test:///default"
net_create 1
cluster_form 1
N=$(ns 1)
on() { ip netns exec "$N" "$@"; }

hx 1 net zone-create lan --type simple >/dev/null || fail "zone"
hx 1 net vnet-create v1 --zone lan >/dev/null || fail "vnet"
hx 1 net subnet-create v1 10.88.0.0/24 >/dev/null || fail "subnet"
# VMs a=100, b=101, c=102, d=103, MAC 52:54:00:88:00:0K, IP 10.88.0.1K
for k in 0 1 2 3; do
	body="{\"vmid\":10$k,\"name\":\"fw$k\",\"memory_mb\":128,\"nics\":[{\"vnet\":\"v1\",\"mac\":\"52:54:00:88:00:0$k\",\"ip\":\"10.88.0.1$k\",\"ip6\":\"none\"}]}"
	out=$(api 1 POST /vms "$body")
	echo "$out" | jq -e '.data.task' >/dev/null || fail "VM 10$k: $out"
done

# The bridge (the network executor makes it; this test does not depend on
# it) and one namespace per VM NIC.
wait_until 50 0.1 on ip link show hxb-v1 >/dev/null ||
	on ip link add hxb-v1 type bridge 2>/dev/null
on ip link set hxb-v1 up
vmns() { echo "hx-$HX_TEST-vm$1"; }
for k in 0 1 2 3; do
	v=$(vmns "$k")
	ip netns add "$v" || fail "netns"
	on ip link add "hxt10${k}n0" type veth peer name eth0 netns "$v"
	on ip link set "hxt10${k}n0" master hxb-v1 up
	ip netns exec "$v" ip link set eth0 address "52:54:00:88:00:0$k"
	ip netns exec "$v" ip addr add "10.88.0.1$k/24" dev eth0
	ip netns exec "$v" ip link set eth0 up
	ip netns exec "$v" ip link set lo up
done
cleanup_vms() {
	for k in 0 1 2 3 4 5; do ip netns del "$(vmns "$k")" 2>/dev/null; done
}
LISTENERS=()
trap 'rc=$?; [ ${#LISTENERS[@]} -gt 0 ] && kill "${LISTENERS[@]}" 2>/dev/null; cleanup_vms; (exit $rc); cleanup' EXIT
vm() { local k=$1; shift; ip netns exec "$(vmns "$k")" "$@"; }
pings() { vm "$1" busybox ping -c 1 -W 1 "10.88.0.1$2" >/dev/null 2>&1; }
# blocked A B: three pings in a row get no answer.
blocked() { ! pings "$1" "$2" && ! pings "$1" "$2" && ! pings "$1" "$2"; }
# Listeners, killed by pid at exit (ip netns exec execs socat).
listen_tcp() { # VM PORT
	vm "$1" socat "TCP4-LISTEN:$2,fork,reuseaddr" SYSTEM:"echo hxfwtest-ok" &
	LISTENERS+=($!)
}
tcp_ok() { # FROM TO PORT
	[ "$(vm "$1" socat -T 2 - "TCP4:10.88.0.1$2:$3,connect-timeout=2" </dev/null 2>/dev/null)" = hxfwtest-ok ]
}
UDPLOG=$HX_WORK/udp.log
vm 3 socat -u UDP4-RECV:5000 "OPEN:$UDPLOG,creat,append" &
LISTENERS+=($!)
# udp_from VM SRC TAG: a datagram from VM's netns with source SRC to d.
udp_from() { vm "$1" socat -u - "UDP4-SENDTO:10.88.0.13:5000,bind=$2" <<<"hxfwtest $3"; }
got_udp() { grep -qx "hxfwtest $1" "$UDPLOG" 2>/dev/null; }
vm 0 ip addr add 10.88.0.99/32 dev eth0
# a knows d's MAC: no ARP needed, so only the IP check can stop a forgery
vm 0 ip neigh replace 10.88.0.13 lladdr 52:54:00:88:00:03 dev eth0 nud permanent
for k in 1 2; do listen_tcp "$k" 8080; listen_tcp "$k" 8081; done

wait_until 30 0.2 pings 0 1 || fail "no traffic without a firewall"
wait_until 20 0.2 tcp_ok 0 1 8081 || fail "no TCP without a firewall"
udp_from 0 10.88.0.99 forged-before
wait_until 20 0.1 got_udp forged-before || fail "baseline: forged datagram did not pass without a firewall"
ok "without a firewall everything passes, forged sources too"

# ruleset_has WORD: the node's applied ruleset contains WORD
ruleset_has() { on nft list ruleset 2>/dev/null | grep -q -- "$1"; }
ruleset_lacks() { ! ruleset_has "$1"; }
opts() { api 1 PUT /network/firewall/options "$1" | jq -e .data >/dev/null; }
opts '{"scope":"cluster","enabled":true}' || fail "cluster options"
opts '{"scope":"vm/101","enabled":true,"policy_in":"drop"}' || fail "VM options"
wait_until 50 0.2 ruleset_has "hxt101n0-in" || fail "ruleset not applied"
blocked 0 1 || fail "VM b's drop policy lets pings in"
pings 2 0 || fail "a (firewall off) does not answer c"
ok "VM policy drop blocks real traffic; a VM without firewall still answers"

rule=$(api 1 POST /network/firewall/rules '{"scope":"vm/101","direction":"in","action":"accept","macro":"ping","src":"@vnet:v1","log":true}')
rid=$(echo "$rule" | jq -r '.data.id // empty')
[ -n "$rid" ] || fail "rule refused: $rule"
wait_until 50 0.2 pings 0 1 || fail "the accept rule does not let pings in"
ok "a rule allows it (rule $rid)"

# A security group applied to two VMs.
hx 1 net fw-group-create web >/dev/null || fail "group"
hx 1 net fw-rule-add group/web --direction in --action accept --proto tcp --dport 8080 >/dev/null || fail "group rule"
for v in 101 102; do
	hx 1 net fw-rule-add "vm/$v" --action group --group web >/dev/null || fail "group on $v"
done
opts '{"scope":"vm/102","enabled":true,"policy_in":"drop"}' || fail "VM 102 options"
wait_until 50 0.2 ruleset_has "hxt102n0-in" || fail "VM 102 not in the ruleset"
wait_until 50 0.2 tcp_ok 0 1 8080 || fail "group does not open 8080 on b"
wait_until 50 0.2 tcp_ok 0 2 8080 || fail "group does not open 8080 on c"
! tcp_ok 0 1 8081 || fail "8081 open on b"
! tcp_ok 0 2 8081 || fail "8081 open on c"
ok "security group 'web' opens tcp 8080 on b and c, 8081 stays closed"

api 1 DELETE "/network/firewall/rules/$rid" | jq -e .data >/dev/null || fail "rule delete"
wait_until 50 0.2 blocked 0 1 || fail "deleting the rule does not block again"
ok "deleting the rule blocks pings again"

# Anti-spoofing at a's port: its IPAM address passes, a forged one not.
udp_from 0 10.88.0.10 real
wait_until 20 0.1 got_udp real || fail "a's own address is dropped"
udp_from 0 10.88.0.99 forged
sleep 1 # a negative check needs a moment: nothing may arrive
! got_udp forged || fail "forged source address passed"
vm 0 ip link set eth0 address 52:54:00:88:00:77
! pings 0 3 && ! pings 0 3 || fail "forged MAC passed"
vm 0 ip link set eth0 address 52:54:00:88:00:00
ok "forged source address and forged MAC are dropped"

# Bad rules: 400 and nothing stored, nothing applied.
before=$(api 1 GET /network/firewall/rules | jq -c .data)
bad() { # BODY WORDS
	local out
	out=$(curl -s -w '\n%{http_code}' --unix-socket "$(dir_of 1)/hxd.sock" -X POST -d "$1" http://x/api/v1/network/firewall/rules)
	[ "$(echo "$out" | tail -1)" = 400 ] &&
		echo "$out" | head -1 | jq -e --arg w "$2" '.error.message | contains($w)' >/dev/null ||
		fail "not refused: $1: $out"
}
bad '{"scope":"vm/101","action":"group","group":"nope"}' "no security group 'nope'"
bad '{"scope":"vm/101","direction":"in","action":"accept","src":"@nope"}' "no IP set 'nope'"
bad '{"scope":"vm/101","direction":"in","action":"accept","proto":"tcp","dport":"70000"}' "dport"
bad '{"scope":"vm/999","direction":"in","action":"accept"}' "no VM '999'"
bad '{"scope":"cluster","direction":"in","action":"maybe"}' "action"
[ "$(api 1 GET /network/firewall/rules | jq -c .data)" = "$before" ] || fail "bad rules changed the rules"
ok "bad rules refused (400), nothing stored"

# IPv6: VMs e=104 and f=105 hold addresses of an IPv6 subnet of v1 too.
# Neighbour discovery passes the anti-spoofing (EUI-64 link-local from the
# MAC, which the namespaces use); a VM policy blocks ICMPv6 echo, the ping
# macro allows it; a forged IPv6 source is dropped at the port.
hx 1 net subnet-create v1 fd88::/64 >/dev/null || fail "IPv6 subnet"
for k in 4 5; do
	body="{\"vmid\":10$k,\"name\":\"fw$k\",\"memory_mb\":128,\"nics\":[{\"vnet\":\"v1\",\"mac\":\"52:54:00:88:00:0$k\",\"ip\":\"10.88.0.1$k\",\"ip6\":\"fd88::1$k\"}]}"
	out=$(api 1 POST /vms "$body")
	echo "$out" | jq -e '.data.task' >/dev/null || fail "VM 10$k: $out"
	v=$(vmns "$k")
	ip netns add "$v" || fail "netns"
	on ip link add "hxt10${k}n0" type veth peer name eth0 netns "$v"
	on ip link set "hxt10${k}n0" master hxb-v1 up
	vm "$k" ip link set eth0 address "52:54:00:88:00:0$k"
	vm "$k" ip addr add "10.88.0.1$k/24" dev eth0
	vm "$k" ip -6 addr add "fd88::1$k/64" dev eth0 nodad
	vm "$k" ip link set eth0 up
done
pings6() { vm "$1" busybox ping -6 -c 1 -W 1 ${3:+-I "$3"} "fd88::1$2" >/dev/null 2>&1; }
blocked6() { ! pings6 "$@" && ! pings6 "$@" && ! pings6 "$@"; }
wait_until 50 0.2 ruleset_has 'fd88::14' || fail "IPv6 anti-spoofing of VM 104 not applied"
wait_until 50 0.2 pings6 4 5 || fail "no IPv6 traffic between VMs without their firewalls"
ok "IPv6 between two VMs through the anti-spoofing (neighbour discovery passes)"
opts '{"scope":"vm/105","enabled":true,"policy_in":"drop"}' || fail "VM 105 options"
wait_until 50 0.2 blocked6 4 5 || fail "VM 105's drop policy lets ICMPv6 echo in"
rule=$(api 1 POST /network/firewall/rules '{"scope":"vm/105","direction":"in","action":"accept","macro":"ping"}')
echo "$rule" | jq -e '.data.id' >/dev/null || fail "IPv6 ping rule refused: $rule"
wait_until 50 0.2 pings6 4 5 || fail "the ping macro does not let ICMPv6 echo in"
vm 4 ip -6 addr add fd88::99/128 dev eth0 nodad
pings6 4 5 fd88::14 || fail "VM 104's own IPv6 address is dropped"
blocked6 4 5 fd88::99 || fail "a forged IPv6 source passed"
ok "IPv6: a VM policy blocks, the ping macro allows, a forged source is dropped"

# hxd dies: the kernel keeps the ruleset; a restart re-applies the same.
on nft list ruleset >"$HX_WORK/before.nft"
node_kill 1
blocked 0 1 || fail "pings pass while hxd is dead"
node_start 1
wait_until 100 0.2 sh -c "curl -s --unix-socket $(dir_of 1)/hxd.sock http://x/api/v1/network/firewall/ruleset | grep -q hxt101n0" ||
	fail "hxd does not answer after restart"
wait_until 50 0.2 grep -q "firewall ruleset applied" "$(dir_of 1)/hxd.log" || fail "no apply after restart"
on nft list ruleset >"$HX_WORK/after.nft"
diff -u "$HX_WORK/before.nft" "$HX_WORK/after.nft" || fail "ruleset changed across the restart"
blocked 0 1 || fail "pings pass after the restart"
tcp_ok 0 1 8080 || fail "8080 closed after the restart"
ok "ruleset survived hxd's death and is the same after its restart"

opts '{"scope":"cluster","enabled":false}' || fail "disable"
wait_until 50 0.2 ruleset_lacks "horcrux" || fail "tables left after disabling"
wait_until 20 0.2 pings 0 1 || fail "traffic blocked after disabling"
ok "disabling the firewall removes its tables"
exit 0
