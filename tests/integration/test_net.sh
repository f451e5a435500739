#!/bin/bash
# Zones, vnets, subnets and IPAM through the API and hxctl on one real hxd
# (libvirt's test driver for the VMs, --no-net: nothing is applied to this
# host). Bad input gets a 400 with the field at fault and stores nothing.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/hx-net-XXXXXX)
port=$((20000 + RANDOM % 20000))
"$top_builddir/hxd" --data-dir "$work" --name solo --address 127.0.0.1 \
	--api-port "$port" --peer-port $((port + 1)) --no-net \
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
api() { # METHOD PATH [BODY] -> body
	curl -s --max-time 10 --unix-socket "$work/hxd.sock" -X "$1" \
		${3:+-d "$3"} "http://x/api/v1$2"
}
# jqt METHOD PATH BODY FILTER: the filter holds on the (non-empty) answer.
jqt() {
	local out
	out=$(api "$1" "$2" "$3")
	[ -n "$out" ] && echo "$out" | jq -e "$4" >/dev/null
}
# bad METHOD PATH BODY WORDS: a 400 whose message contains WORDS.
bad() {
	local out
	out=$(curl -s --max-time 10 -w '\n%{http_code}' --unix-socket \
		"$work/hxd.sock" -X "$1" -d "$3" "http://x/api/v1$2")
	[ "$(echo "$out" | tail -1)" = 400 ] &&
		echo "$out" | head -1 | jq -e --arg w "$4" \
			'.error.code == "bad_request" and (.error.message | contains($w))' >/dev/null
}
hx() { "$top_builddir/hxctl" --data-dir "$work" "$@"; }
for _ in $(seq 50); do [ -S "$work/hxd.sock" ] && break; sleep 0.1; done
hx cluster init --name nettest >/dev/null || { echo "not ok - init"; exit 1; }

check "zone created" jqt POST /network/zones '{"name":"ovl","type":"vxlan"}' '.data.mtu == 1450'
check "zone via hxctl" sh -c "'$top_builddir/hxctl' --data-dir $work net zone-create lan --type simple | grep -q 'type:.*simple'"
check "bad zone type" bad POST /network/zones '{"name":"z","type":"vlan"}' "unknown zone type"
check "bad zone name" bad POST /network/zones '{"name":"Z-1","type":"simple"}' "not a zone name"
check "zone: unknown field" bad POST /network/zones '{"name":"z","type":"simple","x":1}' "unknown field"
check "vnet created" jqt POST /network/vnets '{"name":"v1","zone":"ovl","vni":100}' '.data.bridge == "hxb-v1" and .data.vxlan == "hxv-v1"'
check "VNI 0 refused" bad POST /network/vnets '{"name":"v2","zone":"ovl","vni":0}' "out of range"
check "VNI 16777216 refused" bad POST /network/vnets '{"name":"v2","zone":"ovl","vni":16777216}' "out of range"
check "VNI as a string refused" bad POST /network/vnets '{"name":"v2","zone":"ovl","vni":"7"}' "vni"
check "unknown zone refused" bad POST /network/vnets '{"name":"v2","zone":"nope","vni":7}' "no zone 'nope'"
check "duplicate VNI is 409" jqt POST /network/vnets '{"name":"v2","zone":"ovl","vni":100}' '.error.code == "conflict"'
check "VNI 16777215 accepted" sh -c "'$top_builddir/hxctl' --data-dir $work net vnet-create v3 --zone ovl --vni 16777215 >/dev/null"
check "vnets listed" sh -c "[ \"\$('$top_builddir/hxctl' --data-dir $work --json net vnets | jq -c '[.[].name]')\" = '[\"v1\",\"v3\"]' ]"
check "subnet created" jqt POST /network/subnets '{"vnet":"v1","cidr":"10.40.0.0/24","gateway":"10.40.0.1","dns":["10.40.0.1"],"dhcp_start":"10.40.0.100","dhcp_end":"10.40.0.199"}' '.data.id == "10.40.0.0-24" and .data.family == 4'
check "invalid CIDR" bad POST /network/subnets '{"vnet":"v1","cidr":"10.41.0.0/33"}' "not a network in CIDR"
check "host bits set" bad POST /network/subnets '{"vnet":"v1","cidr":"10.41.0.1/24"}' "host bits zero"
check "overlapping subnet" jqt POST /network/subnets '{"vnet":"v3","cidr":"10.40.0.128/25"}' '.error.code == "conflict" and (.error.message | contains("overlaps subnet 10.40.0.0/24"))'
check "gateway outside" bad POST /network/subnets '{"vnet":"v3","cidr":"10.42.0.0/24","gateway":"10.43.0.1"}' "not inside"
check "subnet in unknown vnet" bad POST /network/subnets '{"vnet":"nope","cidr":"10.44.0.0/24"}' "no vnet 'nope'"
check "only the good subnet stored" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock http://x/api/v1/network/subnets | jq length)\" = 1 ]"
check "IPv6 subnet" sh -c "'$top_builddir/hxctl' --data-dir $work net subnet-create v1 fd00:40::/64 --gateway fd00:40::1 | grep -q 'family:.*6'"
check "auto allocation from the DHCP range" jqt POST /network/ipam '{"vnet":"v1","hostname":"a"}' '.data.ip == "10.40.0.100" and .data.kind == "auto"'
check "static allocation" jqt POST /network/ipam '{"vnet":"v1","ip":"10.40.0.5","mac":"52:54:00:aa:00:01"}' '.data.kind == "static"'
check "static twice is 409" jqt POST /network/ipam '{"vnet":"v1","ip":"10.40.0.5"}' '.error.code == "conflict"'
check "same MAC again: same address, 200" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $work/hxd.sock -X POST -d '{\"vnet\":\"v1\",\"mac\":\"52:54:00:aa:00:01\"}' http://x/api/v1/network/ipam)\" = 200 ]"
check "IPv6 allocation via hxctl" sh -c "'$top_builddir/hxctl' --data-dir $work net ip-allocate v1 --family 6 | grep -q 'ip:.*fd00:40::2'"
check "bad address refused" bad POST /network/ipam '{"vnet":"v1","ip":"10.40.0.300"}' "not an IP address"
check "address outside refused" bad POST /network/ipam '{"vnet":"v1","ip":"10.99.0.3"}' "not inside"

# VMs: NICs on a vnet get addresses in the VM's own transaction.
vm() { # VMID NICS
	echo "{\"vmid\":$1,\"name\":\"vm$1\",\"memory_mb\":128,\"nics\":$2}"
}
check "VM with a static and an auto NIC" jqt POST /vms "$(vm 100 '[{"vnet":"v1","ip":"10.40.0.50","mac":"52:54:00:00:01:00"},{"vnet":"v1","ip6":"none"}]')" '.data.task > 0'
check "its addresses" jqt GET '/network/ipam?vmid=100' '' '[.data[].ip] == ["10.40.0.50","10.40.0.101","fd00:40::3"]'
check "hostname is the VM name" jqt GET '/network/ipam?vmid=100' '' '[.data[].hostname] | unique == ["vm100"]'
check "VM on an unknown vnet refused" bad POST /vms "$(vm 101 '[{"vnet":"nope"}]')" "no vnet 'nope'"
check "VM taking a used address refused" jqt POST /vms "$(vm 101 '[{"vnet":"v1","ip":"10.40.0.5"}]')" '.error.code == "conflict" and (.error.message | contains("10.40.0.5"))'
check "no VM 101 left behind" jqt GET /vms/101 '' '.error.code == "not_found"'
check "a VM's address is not released by hand" jqt DELETE /network/ipam/10.40.0.50 '' '.error.code == "conflict"'
check "vnet in use is not deleted" jqt DELETE /network/vnets/v1 '' '.error.code == "conflict"'
task_ok() {
	local s
	for _ in $(seq 100); do
		s=$(api GET "/tasks/$1" | jq -r .data.state)
		[ "$s" = ok ] && return 0
		[ "$s" = error ] && return 1
		sleep 0.2
	done
	return 1
}
t=$(api DELETE /vms/100 | jq -r .data.task)
check "VM deleted" task_ok "$t"
check "its addresses released" jqt GET '/network/ipam?vmid=100' '' '.data == []'
check "release" sh -c "'$top_builddir/hxctl' --data-dir $work net ip-release 10.40.0.5 >/dev/null"
check "release twice is 404" jqt DELETE /network/ipam/10.40.0.5 '' '.error.code == "not_found"'
check "ips listed in order" sh -c "[ \"\$('$top_builddir/hxctl' --data-dir $work --json net ips --vnet v1 | jq -c '[.[].ip]')\" = '[\"10.40.0.1\",\"10.40.0.100\",\"fd00:40::1\",\"fd00:40::2\"]' ]"
check "subnet with allocations is not deleted" jqt DELETE /network/subnets/10.40.0.0-24 '' '.error.code == "conflict"'
api DELETE /network/ipam/10.40.0.100 >/dev/null
api DELETE /network/ipam/fd00:40::2 >/dev/null
check "subnets deleted" sh -c "'$top_builddir/hxctl' --data-dir $work net subnet-delete 10.40.0.0/24 && '$top_builddir/hxctl' --data-dir $work net subnet-delete fd00:40::/64"
check "vnet deleted" jqt DELETE /network/vnets/v1 '' '.data == {}'
check "zone with a vnet is not deleted" jqt DELETE /network/zones/ovl '' '.error.code == "conflict"'
check "wrong method is 405" jqt PATCH /network/zones/ovl '{}' '.error.code == "method_not_allowed"'
check "unknown path is 404" jqt GET /network/nope '' '.error.code == "not_found"'
check "events recorded" jqt GET '/events?subject=network' '' '[.data[].kind] | index("network.subnet") != null'
[ "$fail" = 0 ] && echo "all $n passed"
exit $fail
