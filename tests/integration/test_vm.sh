#!/bin/bash
# VM definitions and lifecycle through the API on one real hxd, with
# libvirt's test driver standing in for QEMU (the cluster tests boot real
# guests). Bad configurations are refused before anything is created.
set -u
top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
work=$(mktemp -d /tmp/hx-vm-XXXXXX)
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
# task_ok ID: the task ends ok within 20 s.
task_ok() {
	local s
	for _ in $(seq 200); do
		s=$(api GET "/tasks/$1" | jq -r .data.state)
		[ "$s" = ok ] && return 0
		[ "$s" = error ] && { api GET "/tasks/$1"; return 1; }
		sleep 0.1
	done
	return 1
}
# state_is VMID STATE: the reported state becomes STATE within 10 s.
state_is() {
	for _ in $(seq 100); do
		[ "$(api GET "/vms/$1" | jq -r .data.state)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
for _ in $(seq 50); do [ -S "$work/hxd.sock" ] && break; sleep 0.1; done
"$top_builddir/hxctl" --data-dir "$work" cluster init --name vmtest >/dev/null ||
	{ fail=1; echo "not ok - init"; exit 1; }

check "next free VMID is 100" jqt GET /vms/nextid "" '.data.vmid == 100'

# Bad configurations: 400 with the field named, nothing created.
bad() { # description body field-substring
	local out c
	out=$(api POST /vms "$2")
	c=$(echo "$out" | jq -r .error.code)
	if [ "$c" = bad_request ] && echo "$out" | jq -r .error.message | grep -q -- "$3"; then
		return 0
	fi
	echo "# $1: $out"
	return 1
}
check "unknown bus" bad bus '{"name":"a","disks":[{"size_mb":8,"bus":"usb"}]}' "disks\[0\].bus"
check "zero memory" bad mem '{"name":"a","memory_mb":0}' memory_mb
check "memory not a number" bad mem '{"name":"a","memory_mb":"lots"}' memory_mb
check "unknown field" bad field '{"name":"a","colour":"red"}' colour
check "bad name" bad name '{"name":"Web 1"}' name
check "all-digit name" bad name '{"name":"123"}' name
check "missing name" bad name '{"memory_mb":128}' name
check "VMID below 100" bad vmid '{"vmid":99,"name":"a"}' vmid
check "path traversal in a volume" bad vol '{"name":"a","disks":[{"size_mb":8,"volume":"local:../../etc/x"}]}' volume
check "relative volume path" bad vol '{"name":"a","disks":[{"volume":"etc/passwd"}]}' volume
check "missing absolute volume" bad vol '{"name":"a","disks":[{"volume":"/nonexistent/disk.qcow2"}]}' volume
check "local volume without size" bad size '{"name":"a","disks":[{}]}' size_mb
check "negative size" bad size '{"name":"a","disks":[{"size_mb":-5}]}' size_mb
check "huge size" bad size '{"name":"a","disks":[{"size_mb":99999999999}]}' size_mb
check "bad MAC" bad mac '{"name":"a","nics":[{"bridge":"br0","mac":"01:00:5e:00:00:01"}]}' mac
check "missing bridge" bad bridge '{"name":"a","nics":[{"bridge":"hxnobr0"}]}' "no bridge"
check "VLAN tag refused clearly" bad vlan '{"name":"a","nics":[{"bridge":"br0","vlan":10}]}' vlan
check "IDE on q35" bad ide '{"name":"a","machine":"q35","disks":[{"size_mb":8,"bus":"ide"}]}' ide
check "missing kernel" bad kernel '{"name":"a","kernel":{"path":"/nonexistent/vmlinuz"}}' kernel.path
check "boot from a missing disk" bad boot '{"name":"a","boot":["disk3"]}' boot
check "too many cores" bad cpu '{"name":"a","cpu":{"sockets":64,"cores":64}}' cpu
check "unknown node is 404" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X POST -d '{\"name\":\"a\",\"node\":\"ghost\"}' http://x/api/v1/vms | jq -r .error.code)\" = not_found ]"
check "malformed JSON is 400" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X POST -d '{\"name\":' http://x/api/v1/vms | jq -r .error.code)\" = bad_request ]"
check "nothing was created" jqt GET /vms "" '.data == []'
check "no task was started" jqt GET /tasks "" '.data == []'
check "no volume was written" sh -c "[ -z \"\$(ls -A $work/images 2>/dev/null)\" ]"

# Create.
mac=52:54:00:aa:bb:01
out=$(api POST /vms "{\"vmid\":100,\"name\":\"web1\",\"memory_mb\":128,\"tags\":[\"web\",\"prod\"],\"disks\":[{\"size_mb\":16}],\"nics\":[],\"description\":\"first\"}")
t=$(echo "$out" | jq -r .data.task)
check "create returns a task" [ "$(echo "$out" | jq -r .data.vmid)" = 100 ]
check "create task ends ok" task_ok "$t"
check "volume created as qcow2" sh -c "qemu-img info $work/images/vm-100-disk-0.qcow2 | grep -q 'file format: qcow2'"
check "VMID taken is 409" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X POST -d '{\"vmid\":100,\"name\":\"other\"}' http://x/api/v1/vms | jq -r .error.code)\" = conflict ]"
check "name taken is 409" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X POST -d '{\"name\":\"web1\"}' http://x/api/v1/vms | jq -r .error.code)\" = conflict ]"
out=$(api POST /vms "{\"name\":\"db1\",\"memory_mb\":256}")
check "VMID picked automatically" [ "$(echo "$out" | jq -r .data.vmid)" = 101 ]
task_ok "$(echo "$out" | jq -r .data.task)" >/dev/null
check "get by name" jqt GET /vms/web1 "" '.data.vmid == 100 and .data.config.memory_mb == 128 and .data.state == "stopped" and .data.lock == null'
etag=$(curl -s -D - -o /dev/null --unix-socket "$work/hxd.sock" http://x/api/v1/vms/100 | tr -d '\r' | sed -n 's/^ETag: "\(.*\)"/\1/p')
check "ETag is the digest" [ "$etag" = "$(api GET /vms/100 | jq -r .data.digest)" ]
check "list filtered by tag" jqt GET "/vms?tag=web" "" '[.data[].vmid] == [100]'
check "list filtered by node" jqt GET "/vms?node=solo" "" '[.data[].vmid] == [100,101]'
check "list filtered by state" jqt GET "/vms?state=running" "" '.data == []'

# Lifecycle.
t=$(api POST /vms/100/start | jq -r .data.task)
check "start task ends ok" task_ok "$t"
check "running and desired running" jqt GET /vms/100 "" '.data.state == "running" and .data.desired == "running"'
check "status from the node" jqt GET /vms/100/status "" '.data.state == "running" and .data.memory_mb == 128'
check "delete while running is 409" [ "$(code DELETE /vms/100)" = 409 ]
check "still there after refused delete" jqt GET /vms/100 "" '.data.state == "running"'

# Configuration changes: restart-needing ones wait in pending.
d=$(api GET /vms/100 | jq -r .data.digest)
check "memory change while running goes to pending" jqt PATCH /vms/100 "{\"memory_mb\":192,\"digest\":\"$d\"}" '.data.config.memory_mb == 128 and .data.pending.memory_mb == 192'
check "stale digest is 412" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $work/hxd.sock -X PATCH -d '{\"memory_mb\":64,\"digest\":\"$d\"}' http://x/api/v1/vms/100)\" = 412 ]"
check "description applies at once" jqt PATCH /vms/100 '{"description":"second"}' '.data.config.description == "second" and .data.pending.memory_mb == 192 and .data.pending.description == "second"'
check "bad change refused, nothing changed" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X PATCH -d '{\"memory_mb\":-1}' http://x/api/v1/vms/100 | jq -r .error.code)\" = bad_request ] && curl -s --unix-socket $work/hxd.sock http://x/api/v1/vms/100 | jq -e '.data.pending.memory_mb == 192' >/dev/null"
check "vmid cannot change" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X PATCH -d '{\"vmid\":105}' http://x/api/v1/vms/100 | jq -r .error.code)\" = bad_request ]"
t=$(api POST /vms/100/suspend | jq -r .data.task)
check "suspend" task_ok "$t"
check "reported paused" state_is 100 paused
t=$(api POST /vms/100/resume | jq -r .data.task)
check "resume" task_ok "$t"
check "reported running" state_is 100 running
t=$(api POST /vms/100/stop | jq -r .data.task)
check "stop task ends ok" task_ok "$t"
check "stopped and desired stopped" jqt GET /vms/100 "" '.data.state == "stopped" and .data.desired == "stopped"'
t=$(api POST /vms/100/start | jq -r .data.task)
check "start applies pending" task_ok "$t"
check "pending applied" jqt GET /vms/100 "" '.data.config.memory_mb == 192 and .data.pending == null'
check "suspend of a stopped VM is 409" [ "$(code POST /vms/101/suspend)" = 409 ]
check "quoted If-Match works" sh -c "d=\$(curl -s --unix-socket $work/hxd.sock http://x/api/v1/vms/101 | jq -r .data.digest); curl -s --unix-socket $work/hxd.sock -X PATCH -H \"If-Match: \\\"\$d\\\"\" -d '{\"description\":\"q\"}' http://x/api/v1/vms/101 | jq -e '.data.config.description == \"q\"' >/dev/null"
check "unknown action is 404" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $work/hxd.sock -X POST http://x/api/v1/vms/100/explode)\" = 404 ]"
check "unknown VM is 404" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $work/hxd.sock -X POST http://x/api/v1/vms/999/start)\" = 404 ]"
check "shutdown body checked" sh -c "[ \"\$(curl -s --unix-socket $work/hxd.sock -X POST -d '{\"timeout\":0}' http://x/api/v1/vms/100/shutdown | jq -r .error.code)\" = bad_request ]"

# A second MAC collision across VMs, and a NIC on a real bridge.
ip link add hxtbr$$ type bridge 2>/dev/null && bridge=hxtbr$$ || bridge=
if [ -n "$bridge" ]; then
	out=$(api POST /vms "{\"name\":\"n1\",\"nics\":[{\"bridge\":\"$bridge\",\"mac\":\"$mac\"}]}")
	check "NIC on a bridge accepted" task_ok "$(echo "$out" | jq -r .data.task)"
	check "duplicate MAC across VMs is 409" sh -c "curl -s --unix-socket $work/hxd.sock -X POST -d '{\"name\":\"n2\",\"nics\":[{\"bridge\":\"$bridge\",\"mac\":\"$mac\"}]}' http://x/api/v1/vms | jq -e '.error.code == \"conflict\" and (.error.message | test(\"MAC\"))' >/dev/null"
	ip link del "$bridge"
fi

# Delete.
t=$(api POST /vms/100/stop | jq -r .data.task)
task_ok "$t" >/dev/null
t=$(api DELETE /vms/100 | jq -r .data.task)
check "delete task ends ok" task_ok "$t"
check "deleted VM is 404" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --unix-socket $work/hxd.sock http://x/api/v1/vms/100)\" = 404 ]"
check "its volume is gone" [ ! -e "$work/images/vm-100-disk-0.qcow2" ]
check "events recorded" jqt GET "/events?subject=vm/100" "" '[.data[].kind] | index("vm.action") != null'

# Crash-only: kill -9 and restart keeps the VMs and re-adopts state.
kill -9 $pid
wait $pid 2>/dev/null
"$top_builddir/hxd" --data-dir "$work" --name solo --address 127.0.0.1 \
	--api-port "$port" --peer-port $((port + 1)) \
	--libvirt-uri test:///default >>"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do jqt GET /vms/101 "" .data && break; sleep 0.1; done
check "VMs survive kill -9 of hxd" jqt GET /vms/101 "" '.data.name == "db1"'

[ "$fail" = 0 ] && echo "all $n checks passed"
exit $fail
