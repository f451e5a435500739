#!/bin/bash
# Forming a 3-node cluster: init, tokens (bad, reused, expired-format),
# join, roles, liveness, a write through a follower forwarded to the leader.
. "$(dirname "$0")/lib.sh"

net_create 3
cluster_form 3
ok "3 nodes formed"

wait_until 60 0.5 members_with online 3 1 || fail "not all online"
wait_until 60 0.5 voters_are 3 2 || fail "expected 3 voters"
ok "3 voters online"

# Every node answers status with the same leader.
l1=$(leader_of 1); l2=$(leader_of 2); l3=$(leader_of 3)
[ -n "$l1" ] && [ "$l1" = "$l2" ] && [ "$l2" = "$l3" ] ||
	fail "leaders disagree: '$l1' '$l2' '$l3'"
ok "leader $l1 agreed by all"

# A token works once.
net_add_node 4
node_start 4
tok=$(hx 2 cluster token)
bad="hxjt_$(echo -n "1|$(ip_of 1):8007|$(printf '0%.0s' $(seq 64))|nope" | base64 -w0 | tr '+/' '-_' | tr -d =)"
out=$(hx 4 cluster join "$(ip_of 1)" "$bad" 2>&1) && fail "foreign token accepted"
echo "$out" | grep -q "not a member of the cluster" || fail "unexpected: $out"
out=$(hx 4 cluster join "$(ip_of 1)" "hxjt_garbage" 2>&1) && fail "garbage token accepted"
echo "$out" | grep -qi "malformed" || fail "unexpected: $out"
hx 4 cluster join "$(ip_of 3)" "$tok" >/dev/null || fail "valid token refused"
ok "n4 joined through a follower"
out=$(hx 4 cluster join "$(ip_of 1)" "$tok" 2>&1) && fail "second join accepted"
echo "$out" | grep -q "already in cluster" || fail "unexpected: $out"
ok "bad, foreign and reused tokens refused"

# Writes through a follower's API: node labels, compare-and-set.
d=$(api 3 GET /nodes/n1 | jq -r .data.digest)
api 3 PATCH /nodes/n1 "{\"labels\":{\"rack\":\"a\"},\"digest\":\"$d\"}" | jq -e '.data.labels.rack == "a"' >/dev/null || fail "label via follower"
api 2 PATCH /nodes/n1 "{\"labels\":{\"rack\":\"b\"},\"digest\":\"$d\"}" | jq -e '.error.code == "precondition_failed"' >/dev/null || fail "stale digest accepted"
api 1 GET /nodes/n1 | jq -e '.data.labels.rack == "a"' >/dev/null || fail "label not replicated"
ok "compare-and-set through followers"

# n4 is a standby: its dqlite does not know the leader, yet it forwards
# leader requests (through the leader its heartbeats found).
wait_until 60 0.5 sh -c "[ \"\$(curl -s --max-time 5 --unix-socket $(dir_of 1)/hxd.sock http://x/api/v1/cluster | jq -r '.data.members[] | select(.name == \"n4\") | .role')\" = standby ]" ||
	fail "n4 not a standby"
wait_until 30 0.5 sh -c "curl -s --max-time 5 --unix-socket $(dir_of 4)/hxd.sock http://x/api/v1/nodes | jq -e '[.data[] | select(.state == \"online\")] | length == 4' >/dev/null" ||
	fail "standby cannot forward: $(api 4 GET /nodes)"
hx 4 node list >/dev/null || fail "hxctl node list on the standby"
ok "a standby forwards leader requests"
exit 0
