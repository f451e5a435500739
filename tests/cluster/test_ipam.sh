#!/bin/bash
# Concurrent IPAM allocations through the APIs of three nodes never hand
# out an address twice: 90 automatic requests race for a 60-address pool
# (exactly 60 succeed, 30 get "no free address"), and three requests for
# the same static address through three nodes give it to exactly one.
. "$(dirname "$0")/lib.sh"

net_create 3
cluster_form 3
wait_until 60 0.5 members_with online 3 1 || fail "not all online"

# api_code I METHOD PATH BODY: "STATUS BODY" on one line.
api_code() {
	curl -s --max-time 30 --unix-socket "$(dir_of "$1")/hxd.sock" \
		-X "$2" -H 'Content-Type: application/json' -d "$4" \
		-w ' %{http_code}' "http://localhost/api/v1$3"
}

hx 1 net zone-create lan --type simple >/dev/null || fail "zone"
hx 2 net vnet-create pool --zone lan >/dev/null || fail "vnet"
hx 3 net subnet-create pool 10.77.0.0/24 --gateway 10.77.0.1 \
	--dhcp-start 10.77.0.10 --dhcp-end 10.77.0.69 >/dev/null || fail "subnet"

out=$HX_WORK/alloc
mkdir -p "$out"
t0=$(date +%s%N)
pids=()
for i in 1 2 3; do
	for k in $(seq 1 30); do
		api_code "$i" POST /network/ipam \
			"{\"vnet\":\"pool\",\"hostname\":\"h$i-$k\"}" >"$out/$i-$k" &
		pids+=($!)
	done
done
wait "${pids[@]}" # not a bare wait: the hxds are background jobs too
t1=$(date +%s%N)
ok201=$(grep -l ' 201$' "$out"/* | wc -l)
full=$(grep -l 'no free address.* 409$' "$out"/* | wc -l)
log "90 concurrent requests through 3 nodes: $ok201 allocated, $full refused, $(((t1 - t0) / 1000000)) ms"
[ "$ok201" = 60 ] || { head -n 3 "$out"/*; fail "expected 60 allocations, got $ok201"; }
[ "$full" = 30 ] || fail "expected 30 'no free address', got $full"
dups=$(sed 's/ [0-9]*$//' "$out"/* | jq -r 'select(.data) | .data.ip' | sort | uniq -d)
[ -z "$dups" ] || fail "addresses handed out twice: $dups"
listed=$(api 2 GET '/network/ipam?vnet=pool' | jq '[.data[] | select(.kind == "auto")] | length')
[ "$listed" = 60 ] || fail "IPAM lists $listed automatic allocations"
range=$(api 3 GET '/network/ipam?vnet=pool' | jq -r '[.data[] | select(.kind == "auto") | .ip | split(".")[3] | tonumber] | "\(min)-\(max)"')
[ "$range" = 10-69 ] || fail "allocations outside the pool: $range"
ok "90 racing requests: 60 distinct addresses, 30 refused, none twice"

pids=()
for i in 1 2 3; do
	api_code "$i" POST /network/ipam \
		'{"vnet":"pool","ip":"10.77.0.200"}' >"$out/static-$i" &
	pids+=($!)
done
wait "${pids[@]}"
won=$(grep -l ' 201$' "$out"/static-* | wc -l)
lost=$(grep -l 'already allocated.* 409$' "$out"/static-* | wc -l)
[ "$won/$lost" = 1/2 ] || { cat "$out"/static-*; fail "static race: $won won, $lost lost"; }
ok "one static address raced through 3 nodes: exactly one got it"

# Bad input through a follower stores nothing anywhere.
before=$(api 1 GET /network/subnets | jq -c .data)
r=$(api_code 3 POST /network/subnets '{"vnet":"pool","cidr":"10.77.0.128/25"}')
[ "${r##* }" = 409 ] || fail "overlap accepted: $r"
r=$(api_code 2 POST /network/vnets '{"name":"big","zone":"lan","vni":16777216}')
[ "${r##* }" = 400 ] || fail "VNI out of range accepted: $r"
[ "$(api 1 GET /network/subnets | jq -c .data)" = "$before" ] || fail "subnets changed"
[ "$(api 3 GET /network/vnets | jq '.data | length')" = 1 ] || fail "vnets changed"
ok "bad input through followers refused, nothing stored"
exit 0
