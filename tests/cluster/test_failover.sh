#!/bin/bash
# kill -9 of the leader: a new leader, writes resume; the old leader
# restarts and catches up; every node stopped and restarted keeps its data.
. "$(dirname "$0")/lib.sh"

net_create 3
cluster_form 3
wait_until 60 0.5 voters_are 3 1 || fail "expected 3 voters"
wait_until 60 0.5 members_with online 3 1 || fail "not all online"

set_hb() { # node value: one acknowledged write
	local d
	d=$(api "$1" GET /settings | jq -r .data.digest)
	api "$1" PATCH /settings "{\"settings\":{\"tasks.keep\":$2},\"digest\":\"$d\"}" |
		jq -e ".data.settings[\"tasks.keep\"] == $2" >/dev/null
}

leader=$(leader_of 1)
li=${leader#n}
others=$(seq 1 3 | grep -v "^$li\$")
a=$(echo "$others" | head -1)
set_hb "$a" 111 || fail "write before failover"
log "killing leader $leader"
t0=$(date +%s%N)
node_kill "$li"
wait_until 100 0.05 set_hb "$a" 222 || fail "no write after leader kill"
t1=$(date +%s%N)
ok "write acknowledged $(((t1 - t0) / 1000000)) ms after kill -9 of the leader"
new=$(leader_of "$a")
[ -n "$new" ] && [ "$new" != "$leader" ] || fail "no new leader ($new)"
ok "new leader $new"
wait_until 60 0.5 members_with offline 1 "$a" || fail "dead node not offline"
ok "killed node reported offline"

# The old leader comes back by itself and catches up.
node_start "$li"
wait_until 100 0.2 sh -c "curl -s --unix-socket $(dir_of "$li")/hxd.sock http://x/api/v1/settings | jq -e '.data.settings[\"tasks.keep\"] == 222'" ||
	fail "restarted node did not catch up"
wait_until 60 0.5 members_with online 3 "$a" || fail "restarted node not online"
ok "old leader restarted, caught up, online"

# Stop everything, start everything: all data intact.
for i in 1 2 3; do node_kill "$i"; done
for i in 1 2 3; do node_start "$i"; done
wait_until 150 0.2 sh -c "curl -s --unix-socket $(dir_of 2)/hxd.sock http://x/api/v1/settings | jq -e '.data.settings[\"tasks.keep\"] == 222'" ||
	fail "data lost after full restart"
api 3 GET /events | jq -e '[.data[] | select(.kind == "node.join")] | length == 2' >/dev/null ||
	fail "events lost"
ok "full restart: data intact"
exit 0
