#!/bin/bash
# The HA API and hxctl ha on one real hxd, with libvirt's test driver
# standing in for QEMU (tests/cluster/test_ha_failover.sh fails real
# guests over between nodes): resources with digests, bad input refused
# with nothing stored, rules checked against the state, the leader starts
# an HA VM and explains it, VM actions on it are refused, commands the
# rules forbid are refused with the reason, state changes go through HA.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/hx-ha-XXXXXX)
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
api() { # METHOD PATH [BODY] -> body
	curl -s --max-time 10 --unix-socket "$work/hxd.sock" -X "$1" \
		${3:+-d "$3"} "http://x/api/v1$2"
}
code() { # METHOD PATH [BODY] -> HTTP status
	curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
		--unix-socket "$work/hxd.sock" -X "$1" ${3:+-d "$3"} \
		"http://x/api/v1$2"
}
# jqt METHOD PATH BODY FILTER: the filter holds on the response.
# (jq 1.6 -e passes on empty input: an empty answer must fail.)
jqt() {
	local out
	out=$(api "$1" "$2" "$3")
	[ -n "$out" ] && echo "$out" | jq -e "$4" >/dev/null
}
# until_jq TRIES METHOD PATH FILTER: polls every 0.1 s.
until_jq() {
	local tries=$1
	shift
	for _ in $(seq "$tries"); do
		jqt "$1" "$2" "" "$3" && return 0
		sleep 0.1
	done
	api "$1" "$2"
	return 1
}
hxctl() { "$top_builddir/hxctl" --data-dir "$work" "$@"; }
for _ in $(seq 50); do [ -S "$work/hxd.sock" ] && break; sleep 0.1; done
hxctl cluster init --name hatest >/dev/null ||
	{ fail=1; echo "not ok - init"; exit 1; }
until_jq 100 GET /ha/status '.data.nodes[0].state == "online"' >/dev/null ||
	{ fail=1; echo "not ok - the node is not online for HA"; exit 1; }

vm() { # VMID NAME [DISKS]
	api POST /vms "{\"vmid\":$1,\"name\":\"$2\",\"memory_mb\":64,
		\"disks\":${3:-[]}}" | jq -r .data.task
}
t=$(vm 100 web)
check "VM 100 created" until_jq 100 GET /vms/100 '.data.lock == null'
t=$(vm 101 db)
check "VM 101 created" until_jq 100 GET /vms/101 '.data.lock == null'
t=$(vm 102 local '[{"size_mb":16}]')
check "VM 102 created" until_jq 100 GET /vms/102 '.data.lock == null'
: "$t"

# ---- resources: bad input changes nothing ----
check "unknown VM: 404" test "$(code POST /ha/resources '{"vmid":999}')" = 404
check "bad state: 400" test "$(code POST /ha/resources '{"vmid":100,"state":"up"}')" = 400
check "max_restart out of range: 400" \
	test "$(code POST /ha/resources '{"vmid":100,"max_restart":11}')" = 400
check "unknown field: 400" test "$(code POST /ha/resources '{"vmid":100,"x":1}')" = 400
check "a local disk: 400" test "$(code POST /ha/resources '{"vmid":102}')" = 400
check "nothing stored" jqt GET /ha/resources "" '.data == []'

# ---- the leader starts it and says why ----
check "hxctl ha add" hxctl ha add web --priority 5 --comment front
check "started and confirmed on solo" until_jq 100 GET /ha/resources/100 \
	'.data.status | .crm_state == "started" and .node == "solo" and .confirmed'
check "the VM runs" until_jq 100 GET /vms/100 '.data.state == "running"'
check "ha why" sh -c "'$top_builddir/hxctl' --data-dir '$work' ha why 100 |
	grep -q \"started on 'solo'\""
check "twice: 409" test "$(code POST /ha/resources '{"vmid":100}')" = 409
check "vm stop refused" sh -c "'$top_builddir/hxctl' --data-dir '$work' vm stop web 2>&1 |
	grep -q 'managed by HA'"
check "vm delete refused" test "$(code DELETE /vms/100)" = 409
check "vm migrate refused" test "$(code POST /vms/100/migrate '{"node":"solo"}')" = 409

# ---- digests ----
d=$(api GET /ha/resources/100 | jq -r .data.digest)
check "set with the digest" jqt PATCH /ha/resources/100 \
	"{\"max_relocate\":2,\"digest\":\"$d\"}" '.data.max_relocate == 2'
check "stale digest: 412" test "$(code PATCH /ha/resources/100 \
	"{\"max_relocate\":3,\"digest\":\"$d\"}")" = 412
check "unchanged" jqt GET /ha/resources/100 "" '.data.max_relocate == 2 and .data.priority == 5'

# ---- state through HA ----
check "hxctl ha set --state stopped" hxctl ha set 100 --state stopped
check "stopped by HA" until_jq 100 GET /ha/resources/100 '.data.status.crm_state == "stopped"'
check "the VM is off" until_jq 100 GET /vms/100 '.data.state == "stopped" and .data.desired == "stopped"'
check "started again" hxctl ha set web --state started
check "running again" until_jq 100 GET /vms/100 '.data.state == "running"'

# ---- rules ----
check "rule: unknown VM: 400" test "$(code POST /ha/rules \
	'{"id":"r1","type":"resource-affinity","resources":[100,999],"affinity":"negative"}')" = 400
check "rule: unknown node: 400" test "$(code POST /ha/rules \
	'{"id":"r1","type":"node-affinity","resources":[100],"nodes":["nowhere"]}')" = 400
check "rule: one resource for affinity: 400" test "$(code POST /ha/rules \
	'{"id":"r1","type":"resource-affinity","resources":[100]}')" = 400
check "rule: bad id: 400" test "$(code POST /ha/rules \
	'{"id":"a b","type":"order","resources":[100,101]}')" = 400
check "rule: nodes on an order rule: 400" test "$(code POST /ha/rules \
	'{"id":"r1","type":"order","resources":[100,101],"nodes":["solo"]}')" = 400
check "no rule stored" jqt GET /ha/rules "" '.data == []'
check "hxctl ha rule add (apart)" hxctl ha rule add apart \
	--type resource-affinity --resources web,db --affinity negative
out=$(api POST /ha/rules '{"id":"together","type":"resource-affinity","resources":[100,101],"affinity":"positive"}')
check "contradicting rule: 400 naming it" sh -c "echo '$out' |
	jq -e '.error.code == \"bad_request\" and (.error.message | contains(\"together and apart\"))' >/dev/null"
check "only 'apart' stored" jqt GET /ha/rules "" '[.data[].id] == ["apart"]'
check "node affinity with priorities" jqt POST /ha/rules \
	'{"id":"pin","type":"node-affinity","resources":[100],"nodes":[{"node":"solo","priority":2}],"strict":false}' \
	'.data.nodes == [{"node":"solo","priority":2}] and .data.strict == false'
d=$(api GET /ha/rules/pin | jq -r .data.digest)
check "rule set with digest" jqt PATCH /ha/rules/pin "{\"disabled\":true,\"digest\":\"$d\"}" '.data.disabled'
check "rule stale digest: 412" test "$(code PATCH /ha/rules/pin "{\"comment\":\"x\",\"digest\":\"$d\"}")" = 412
check "hxctl ha rule list" sh -c "'$top_builddir/hxctl' --data-dir '$work' ha rule list | grep -q pin"
check "hxctl ha rule delete" hxctl ha rule delete pin

# ---- commands ----
check "migrate to an unknown node: 404" test "$(code POST /ha/resources/100/migrate '{"node":"nowhere"}')" = 404
out=$(api POST /ha/resources/100/migrate '{"node":"solo"}')
check "migrate where it is: 409 with the reason" sh -c "echo '$out' |
	jq -e '.error.code == \"conflict\" and (.error.message | contains(\"rejected\"))' >/dev/null"
check "maintenance on" hxctl ha maintenance solo on
check "no other node: it stays, and says why" until_jq 100 GET /ha/resources/100/why \
	'.data.text | contains("no node satisfies")'
check "status shows maintenance" jqt GET /ha/status "" '.data.nodes[0].maintenance'
check "maintenance off" hxctl ha maintenance solo off
check "online again" until_jq 100 GET /ha/status '.data.nodes[0].state == "online"'

# ---- events and removal ----
check "decisions are events" jqt GET "/events?subject=vm/100&limit=1000" "" \
	'[.data[] | select(.actor == "ha")] | length > 2'
check "hxctl ha remove" hxctl ha remove web
check "VM 100 keeps running" jqt GET /vms/100 "" '.data.state == "running"'
check "vm stop allowed again" test "$(code POST /vms/100/stop)" = 202
check "settings have ha keys" jqt GET /settings "" \
	'.data.settings["ha.crs"] == 1 and .data.settings["ha.admission"] == 0'
echo "1..$n"
exit $fail
