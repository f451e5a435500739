#!/bin/bash
# Five nodes, five voters: kill -9 of the leader, then of the next leader
# (3 of 5 voters left, still a quorum): a leader is elected each time and
# writes resume; both restart, catch up and come back online.
. "$(dirname "$0")/lib.sh"

net_create 5
cluster_form 5
wait_until 120 0.5 voters_are 5 1 || fail "expected 5 voters"
wait_until 60 0.5 members_with online 5 1 || fail "not all online"
hx 2 --json cluster status | jq -e '.quorum == true and .voters == 5 and
	.voters_online == 5 and ([.members[].role] | unique == ["voter"])' \
	>/dev/null || fail "status: $(hx 2 --json cluster status)"
ok "5 voters online"

put() { # node value: one acknowledged write through node's API
	api "$1" PATCH /settings "{\"settings\":{\"tasks.keep\":$2}}" |
		jq -e ".data.settings[\"tasks.keep\"] == $2" >/dev/null
}
alive="1 2 3 4 5"
# failover VALUE: kill -9 the leader, wait for a write through a survivor;
# sets $gone to the killed node.
failover() {
	local leader a t0 t1 new
	leader=$(leader_of "${alive%% *}")
	gone=${leader#n}
	[ -n "$gone" ] || fail "no leader"
	alive=$(echo "$alive" | tr ' ' '\n' | grep -v "^$gone\$" | tr '\n' ' ')
	alive=${alive% }
	a=${alive%% *}
	log "killing leader $leader"
	t0=$(date +%s%N)
	node_kill "$gone"
	wait_until 200 0.05 put "$a" "$1" || fail "no write after killing $leader"
	t1=$(date +%s%N)
	new=$(leader_of "$a")
	[ -n "$new" ] && [ "$new" != "$leader" ] || fail "no new leader ($new)"
	ok "leader $leader killed: $new leads, write acknowledged after $(((t1 - t0) / 1000000)) ms"
}

put 1 101 || fail "first write"
failover 102
first=$gone
failover 103
second=$gone
for i in $alive; do
	put "$i" $((200 + i)) || fail "write through n$i with 3 of 5"
done
api "${alive%% *}" GET /cluster | jq -e '.data.quorum == true and .data.voters == 5' \
	>/dev/null || fail "status with 3 of 5"
ok "3 of 5 voters: writes through each of them"
for i in $first $second; do
	wait_until 60 0.5 sh -c "curl -s --max-time 5 --unix-socket $(dir_of "${alive%% *}")/hxd.sock http://x/api/v1/nodes/n$i | jq -e '.data.state == \"offline\"'" ||
		fail "n$i not offline"
done
ok "n$first and n$second reported offline"

# Both come back.
t_start=$(now_ms)
node_start "$first"
node_start "$second"
for i in $first $second; do
	wait_until 150 0.2 heard_since "${alive%% *}" "n$i" "$t_start" ||
		fail "n$i not back online"
done
wait_until 60 0.5 members_with online 5 "$first" || fail "not all online"
ok "n$first and n$second restarted and online"

# They have caught up: with two of the others down, the quorum of 3 needs
# both of them, and raft counts a node only once it holds the whole log.
down=$(echo "$alive" | tr ' ' '\n' | head -2 | tr '\n' ' ')
keep=$(echo "$alive" | tr ' ' '\n' | tail -1)
for i in $down; do node_kill "$i"; done
log "killed $down; up: n$first n$second n$keep"
wait_until 200 0.05 put "$first" 300 || fail "no write with n$first, n$second, n$keep"
for i in $first $second $keep; do
	api "$i" GET /settings | jq -e '.data.settings["tasks.keep"] == 300' >/dev/null ||
		fail "n$i: $(api "$i" GET /settings)"
done
ok "writes commit with n$first and n$second as 2 of the 3 voters up"
t_start=$(now_ms)
for i in $down; do node_start "$i"; done
for i in $down; do
	wait_until 150 0.2 heard_since "$first" "n$i" "$t_start" || fail "n$i not back"
done
wait_until 60 0.5 members_with online 5 "$first" || fail "not all online at the end"
[ "$(voters_count "$first")" = 5 ] || fail "voters: $(voters_count "$first")"
for i in 1 2 3 4 5; do
	put "$i" $((400 + i)) || fail "write through n$i at the end"
done
ok "all 5 online, 5 voters, writes through each"
exit 0
