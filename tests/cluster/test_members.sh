#!/bin/bash
# Membership changes: the leader leaves gracefully (leadership transfer,
# writes continue, its membership wiped); a dead node is removed (refused
# while online; its old certificate is no longer admitted and it does not
# come back); join tokens that are malformed, tampered with, expired or
# reused are refused and change nothing; a node that left can join again.
. "$(dirname "$0")/lib.sh"

net_create 6
cluster_form 4
wait_until 60 0.5 members_with online 4 1 || fail "not all online"
wait_until 60 0.5 voters_are 3 1 || fail "expected 3 voters"
wait_until 60 0.5 sh -c "curl -s --max-time 5 --unix-socket $(dir_of 1)/hxd.sock http://x/api/v1/cluster | jq -e '[.data.members[] | select(.role == \"standby\")] | length == 1'" ||
	fail "expected 1 standby"
ok "4 nodes: 3 voters, 1 standby"

# A token with the shortest TTL, checked once it has expired at the end.
out=$(hx 1 cluster token --ttl 59 2>&1) && fail "ttl 59 accepted"
echo "$out" | grep -q "'ttl'.*between 60 and 86400" || fail "unexpected: $out"
exp=$(api 1 POST /cluster/tokens '{"ttl":60}')
exp_tok=$(echo "$exp" | jq -r .data.token)
exp_at=$(echo "$exp" | jq -r .data.expires_at)
[ "${exp_tok:0:5}" = hxjt_ ] || fail "no token: $exp"
now=$(date +%s)
[ "$exp_at" -ge $((now + 55)) ] && [ "$exp_at" -le $((now + 61)) ] ||
	fail "expires_at $exp_at is not now+60 ($now)"

# put I V: one acknowledged write through node I's API.
put() {
	api "$1" PATCH /settings "{\"settings\":{\"tasks.keep\":$2}}" |
		jq -e ".data.settings[\"tasks.keep\"] == $2" >/dev/null
}

# exited PID: the process is gone or a zombie.
exited() {
	! kill -0 "$1" 2>/dev/null || grep -q ') Z ' "/proc/$1/stat"
}

# ---- the leader leaves ----
leader=$(leader_of 1)
li=${leader#n}
[ -n "$li" ] || fail "no leader"
rest=$(seq 1 4 | grep -v "^$li\$" | tr '\n' ' ')
a=${rest%% *}
put "$a" 101 || fail "write before leave"
pid=$(cat "$(dir_of "$li")/pid")
log "leader $leader leaves"
t0=$(date +%s%N)
out=$(hx "$li" cluster leave 2>&1) || fail "leave of the leader: $out"
wait_until 100 0.1 put "$a" 102 || fail "no write after the leader left"
t1=$(date +%s%N)
ok "write acknowledged $(((t1 - t0) / 1000000)) ms after 'cluster leave' was sent"
[ $(((t1 - t0) / 1000000)) -lt 10000 ] || fail "writes stalled too long"
wait_until 100 0.1 exited "$pid" || fail "hxd did not stop after leave"
wait "$pid"
rc=$?
rm -f "$(dir_of "$li")/pid"
[ $rc = 0 ] || fail "hxd exited with $rc after leave"

# Leadership was handed over (transfer), not lost to an election.
to=$(sed -n 's/.*leave: transferring leadership to \([0-9]*\).*/\1/p' "$(dir_of "$li")/hxd.log")
[ -n "$to" ] || fail "the leader did not transfer leadership"
for i in $rest; do
	wait_until 50 0.1 sh -c "curl -s --max-time 5 --unix-socket $(dir_of "$i")/hxd.sock http://x/api/v1/cluster | jq -e '.data.leader.id == $to'" ||
		fail "n$i does not see the transfer target $to as leader"
done
new=$(leader_of "$a")
ok "leadership transferred to $new (id $to)"

# The node is gone from the cluster; the stand-by took its vote.
for i in $rest; do
	hx "$i" --json cluster status |
		jq -e --arg n "$leader" '(.members | length == 3) and
			([.members[].name] | index($n) == null)' >/dev/null ||
		fail "n$i still lists $leader"
done
wait_until 60 0.5 voters_are 3 "$a" || fail "stand-by not promoted"
wait_until 60 0.5 members_with online 3 "$a" || fail "not all online after leave"
api "$a" GET /events | jq -e --arg n "$leader" \
	'[.data[] | select(.kind == "node.leave" and .subject == $n)] | length == 1' \
	>/dev/null || fail "no node.leave event"
ok "$leader gone from status; 3 voters online"

# Its membership was wiped, its database and credentials set aside.
d=$(dir_of "$li")
for f in node.json trust admin.token dqlite tls; do
	[ -e "$d/$f" ] && fail "$d/$f still exists after leave"
done
ls -d "$d"/dqlite.left-* "$d"/tls.left-* >/dev/null 2>&1 ||
	fail "old database and credentials not kept aside"
ok "left node's data dir wiped (dqlite, tls renamed *.left-*)"

# ---- a dead node is removed ----
ldr=$(leader_of "$a")
ldr=${ldr#n}
vic=$(echo "$rest" | tr ' ' '\n' | grep -v "^$ldr\$" | grep . | head -1)
b=$(echo "$rest" | tr ' ' '\n' | grep -v "^$ldr\$" | grep . | tail -1)
[ -n "$vic" ] && [ -n "$b" ] && [ "$vic" != "$b" ] || fail "cannot pick nodes"
out=$(hx "$b" cluster remove "n$vic" 2>&1)
rc=$?
[ $rc = 4 ] || fail "remove of an online node: exit $rc: $out"
echo "$out" | grep -q "is online" || fail "unexpected: $out"
out=$(hx "$ldr" cluster remove "n$ldr" 2>&1) && fail "removed itself"
echo "$out" | grep -q "cluster leave" || fail "unexpected: $out"
out=$(hx "$b" cluster remove nobody 2>&1)
rc=$?
[ $rc = 3 ] || fail "remove of an unknown node: exit $rc: $out"
[ "$(members_count "$b")" = 3 ] || fail "refused removals changed members"
ok "remove refused for an online node, the leader itself, an unknown node"

[ "$(peer_admits "$vic" "$(dir_of "$vic")/tls" "$b")" = ok ] ||
	fail "n$vic not admitted while a member"
log "killing n$vic"
node_kill "$vic"
wait_until 60 0.5 members_with offline 1 "$b" || fail "n$vic not offline"
out=$(hx "$b" cluster remove "n$vic" 2>&1) || fail "remove n$vic: $out"
for i in "$ldr" "$b"; do
	api "$i" GET /cluster | jq -e --arg n "n$vic" '(.data.members | length == 2) and
		([.data.members[].name] | index($n) == null)' >/dev/null ||
		fail "n$i still lists n$vic"
done
put "$b" 103 || fail "write after remove"
api "$b" GET /events | jq -e --arg n "n$vic" \
	'[.data[] | select(.kind == "node.remove" and .subject == $n)] | length == 1' \
	>/dev/null || fail "no node.remove event"
ok "offline n$vic removed"

# Its certificate is no longer admitted by the peer channel, while a
# member's is.
for i in "$ldr" "$b"; do
	wait_until 20 0.25 peer_refuses "$vic" "$(dir_of "$vic")/tls" "$i" ||
		fail "n$i still admits n$vic's certificate"
done
[ "$(peer_admits "$b" "$(dir_of "$b")/tls" "$ldr")" = ok ] ||
	fail "a member's certificate refused"
ok "n$vic's certificate refused by the remaining members"

# Restarted with its old credentials, it stays out: it cannot reach a
# leader, and the cluster neither lists it nor changes leader.
node_start "$vic"
wait_until 10 0.2 sh -c "curl -s --max-time 30 --unix-socket $(dir_of "$vic")/hxd.sock -X PATCH -d '{\"settings\":{\"tasks.keep\":104}}' http://x/api/v1/settings | jq -e '.error.code == \"unavailable\"'" ||
	fail "removed node's write was not refused"
# (without a leader, its status takes the statedb leader timeout, 10 s)
st=$(curl -s --max-time 30 --unix-socket "$(dir_of "$vic")/hxd.sock" http://x/api/v1/cluster)
echo "$st" | jq -e '.data.quorum == false and .data.leader == null' >/dev/null ||
	fail "removed node claims a quorum: $st"
# Watch for a few seconds (the removed node's raft election timeout is
# well below that) that nothing changes while writes go on.
k=0
t_end=$(($(date +%s) + 6))
while [ "$(date +%s)" -lt "$t_end" ] && [ $k -lt 1000 ]; do
	k=$((k + 1))
	api "$ldr" GET /cluster | jq -e --arg l "n$ldr" \
		'(.data.members | length == 2) and .data.leader.name == $l' \
		>/dev/null || fail "cluster changed with the removed node back ($k)"
	put "$b" $((1000 + k)) || fail "write with the removed node back ($k)"
done
api "$b" GET /settings | jq -e ".data.settings[\"tasks.keep\"] == $((1000 + k))" \
	>/dev/null || fail "removed node's write applied"
node_kill "$vic"
ok "removed node restarted with old credentials stays out"

# ---- join tokens ----
node_start 5
node_start 6
expect_refused() { # node token pattern
	local out rc
	out=$(hx "$1" cluster join "$(ip_of "$b")" "$2" 2>&1)
	rc=$?
	[ $rc = 6 ] || fail "join with a bad token: exit $rc: $out"
	echo "$out" | grep -qi "$3" || fail "expected '$3': $out"
	[ "$(members_count "$b")" = "$n_members" ] || fail "members changed"
	[ -e "$(dir_of "$1")/node.json" ] && fail "n$1 saved a membership"
	api "$1" GET /cluster | jq -e '.data.initialized == false' >/dev/null ||
		fail "n$1 initialized after a refused join"
	return 0
}
n_members=2
expect_refused 6 "hxjt_garbage" "malformed"
expect_refused 6 "not-a-token" "malformed"
# A well-formed token of this cluster with a secret it never issued.
tok=$(hx "$b" cluster token) || fail "token"
b64=$(echo -n "${tok#hxjt_}" | tr -- '-_' '+/')
while [ $((${#b64} % 4)) != 0 ]; do b64="$b64="; done
plain=$(echo -n "$b64" | base64 -d)
forged="1|$(echo "$plain" | cut -d'|' -f2-3)|$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d =)"
forged="hxjt_$(echo -n "$forged" | base64 -w0 | tr '+/' '-_' | tr -d =)"
expect_refused 6 "$forged" "not valid for this cluster"
ok "malformed and forged tokens refused"

hx 5 cluster join "$(ip_of "$b")" "$tok" >/dev/null || fail "valid token refused"
n_members=3
expect_refused 6 "$tok" "already used"
ok "n5 joined; its token refused when reused by n6"

wait_until 90 1 sh -c "[ \$(date +%s) -gt $exp_at ]" || fail "clock"
expect_refused 6 "$exp_tok" "expired"
ok "expired token refused"

# The node that left is a fresh node: it can join again.
node_start "$li"
api "$li" GET /cluster | jq -e '.data.initialized == false' >/dev/null ||
	fail "left node still initialized"
tok=$(hx 5 cluster token) || fail "token"
hx "$li" cluster join "$(ip_of 5)" "$tok" >/dev/null || fail "rejoin of $leader"
wait_until 60 0.5 members_with online 4 "$b" || fail "not all online at the end"
wait_until 60 0.5 voters_are 3 "$b" || fail "expected 3 voters at the end"
ok "$leader joined again; 4 members online"
exit 0
