#!/bin/bash
# Writes under concurrency and failure: concurrent writers through every
# node's API (sole writers of an object never fail; writers sharing an
# object get 412 on a stale digest, never 5xx, and no update is lost); a
# follower killed -9 while writers go on through the other nodes loses no
# acknowledged write, and once restarted it has caught up; a leader hung
# (SIGSTOP) and resumed serves again; with both followers hung no write is
# acknowledged, and once they resume every node serves again.
. "$(dirname "$0")/lib.sh"

net_create 3
cluster_form 3
wait_until 60 0.5 voters_are 3 1 || fail "expected 3 voters"
wait_until 60 0.5 members_with online 3 1 || fail "not all online"
ok "3 voters online"

# call I METHOD PATH [BODY]: like api, with the HTTP status appended as the
# last line.
call() {
	curl -s --max-time 20 --unix-socket "$(dir_of "$1")/hxd.sock" -X "$2" \
		-H 'Content-Type: application/json' ${4:+-d "$4"} \
		-w '\n%{http_code}' "http://localhost/api/v1$3"
}

# bump I OBJ KEY: one compare-and-set increment of label KEY of node OBJ
# through node I's API. Prints "200 VALUE" (the value written), or the
# failed step and status ("get503", "412", ...) and the body.
bump() {
	local out st body
	out=$(call "$1" GET "/nodes/$2")
	st=${out##*$'\n'}
	body=${out%$'\n'*}
	if [ "$st" != 200 ]; then
		echo "get$st $body"
		return
	fi
	body=$(echo "$body" | jq -r --arg k "$3" '.data as $n |
		(($n.labels[$k] // "0") | tonumber + 1 | tostring) as $v |
		"\($v) \({labels: ($n.labels + {($k): $v}), digest: $n.digest} | tojson)"')
	out=$(call "$1" PATCH "/nodes/$2" "${body#* }")
	st=${out##*$'\n'}
	if [ "$st" = 200 ]; then
		echo "200 ${body%% *}"
	else
		echo "$st ${out%$'\n'*}"
	fi
}

# writer I OBJ KEY N OUT: N acknowledged increments (retrying 412, at most
# 40 attempts per increment); every attempt's result goes to OUT. With N=0,
# writes until the file $HX_WORK/stop exists (at most 3000 attempts).
writer() {
	local i=$1 obj=$2 key=$3 n=$4 out=$5 acked=0 tries=0 res
	: >"$out"
	while [ $tries -lt 3000 ]; do
		if [ "$n" -gt 0 ]; then
			[ $acked -ge "$n" ] && break
			[ $tries -ge $((40 * n)) ] && break
		else
			[ -e "$HX_WORK/stop" ] && break
		fi
		tries=$((tries + 1))
		res=$(bump "$i" "$obj" "$key")
		echo "$res" >>"$out"
		[ "${res%% *}" = 200 ] && acked=$((acked + 1))
	done
}

# acks FILE: number of acknowledged writes so far.
acks() { grep -c '^200 ' "$1"; }

# summary FILE: "ok N, conflict N, other N" of a writer's results.
summary() {
	echo "ok $(acks "$1"), conflict $(grep -c '^412 ' "$1")," \
		"other $(grep -vc '^\(200\|412\) ' "$1")"
}

# label I OBJ KEY: label KEY of node OBJ, read through node I.
label() {
	api "$1" GET "/nodes/$2" | jq -er --arg k "$3" '.data.labels[$k]'
}

# ---- sole writers of distinct objects: every compare-and-set succeeds ----
t0=$(date +%s%N)
pids=""
for i in 1 2 3; do
	writer "$i" "n$i" solo 10 "$HX_WORK/solo-$i" &
	pids="$pids $!"
done
wait $pids
t1=$(date +%s%N)
for i in 1 2 3; do
	s=$(summary "$HX_WORK/solo-$i")
	log "writer via n$i on n$i: $s"
	grep -v '^200 ' "$HX_WORK/solo-$i" | head -3
	[ "$s" = "ok 10, conflict 0, other 0" ] || fail "sole writer via n$i: $s"
	[ "$(label 1 "n$i" solo)" = 10 ] || fail "n$i solo = $(label 1 "n$i" solo)"
done
ok "3 sole writers through 3 nodes: 30 writes, all acknowledged at once ($(((t1 - t0) / 1000000)) ms)"

# ---- writers sharing objects: 412 on a stale digest, no update lost ----
# Nine writers, three through each node; each object (node n1..n3 labels)
# has three writers, one through each node, each owning one key.
t0=$(date +%s%N)
pids=""
for i in 1 2 3; do
	for j in 1 2 3; do
		o=$(((i + j) % 3 + 1))
		writer "$i" "n$o" "w$i$j" 6 "$HX_WORK/shared-$i$j" &
		pids="$pids $!"
	done
done
wait $pids
t1=$(date +%s%N)
for i in 1 2 3; do
	for j in 1 2 3; do
		f="$HX_WORK/shared-$i$j"
		s=$(summary "$f")
		log "writer via n$i on n$(((i + j) % 3 + 1)) key w$i$j: $s"
		grep -v '^\(200\|412\) ' "$f" | head -3
		case "$s" in "ok 6, conflict "*", other 0") ;; *) fail "writer $i$j: $s" ;; esac
	done
done
for o in 1 2 3; do
	want=$(jq -cn --argjson o "$o" '[range(1;4) as $i | range(1;4) as $j |
		select(($i + $j) % 3 + 1 == $o) | {key: "w\($i)\($j)", value: "6"}] |
		from_entries + {solo: "10"}')
	got=$(api 2 GET "/nodes/n$o" | jq -c .data.labels)
	echo "$got" | jq -e --argjson w "$want" '. == $w' >/dev/null ||
		fail "n$o labels: $got, want $want"
done
conflicts=$(cat "$HX_WORK"/shared-* | grep -c '^412 ')
ok "9 writers sharing 3 objects: 54 increments, none lost, $conflicts conflicts (412), no other error ($(((t1 - t0) / 1000000)) ms)"

# ---- a follower killed -9 while writers go on through the others ----
leader=$(leader_of 1)
li=${leader#n}
[ -n "$li" ] || fail "no leader"
f=$(seq 1 3 | grep -v "^$li\$" | head -1)
o=$(seq 1 3 | grep -v "^$li\$" | tail -1)
rm -f "$HX_WORK/stop"
writer "$li" "n$li" seq 0 "$HX_WORK/seq-l" &
wl=$!
writer "$o" "n$o" seq 0 "$HX_WORK/seq-o" &
wo=$!
# enough N: both writers have N more acknowledged writes (bounded).
enough() {
	[ "$(acks "$HX_WORK/seq-l")" -ge "$1" ] && [ "$(acks "$HX_WORK/seq-o")" -ge "$1" ]
}
wait_until 150 0.2 enough 3 || fail "writers do not get going"
log "killing follower n$f"
node_kill "$f"
a_l=$(acks "$HX_WORK/seq-l")
a_o=$(acks "$HX_WORK/seq-o")
wait_until 100 0.2 sh -c "curl -s --max-time 5 --unix-socket $(dir_of "$li")/hxd.sock http://x/api/v1/nodes/n$f | jq -e '.data.state != \"online\"'" ||
	fail "n$f still online for the leader"
wait_until 150 0.2 enough $((a_l > a_o ? a_l + 5 : a_o + 5)) ||
	fail "writes stalled with n$f down: $(summary "$HX_WORK/seq-l"); $(summary "$HX_WORK/seq-o")"
ok "writes continue with n$f down ($(summary "$HX_WORK/seq-l"); $(summary "$HX_WORK/seq-o"))"
t_start=$(now_ms)
node_start "$f"
wait_until 100 0.2 heard_since "$li" "n$f" "$t_start" || fail "n$f not back online"
a_l=$(acks "$HX_WORK/seq-l")
a_o=$(acks "$HX_WORK/seq-o")
wait_until 150 0.2 enough $((a_l > a_o ? a_l + 3 : a_o + 3)) || fail "writes stalled after restart"
touch "$HX_WORK/stop"
wait $wl $wo
for w in l o; do
	file="$HX_WORK/seq-$w"
	s=$(summary "$file")
	log "writer seq-$w: $s"
	grep -v '^200 ' "$file" | head -3
	case "$s" in *", conflict 0, other 0") ;; *) fail "writer seq-$w: $s" ;; esac
	# Each acknowledged value is the one before plus one: no
	# acknowledged write was lost (the next read would have shown it).
	sed -n 's/^200 //p' "$file" | awk 'NR != $1 { print "ack " NR " wrote " $1; bad = 1 } END { exit bad }' ||
		fail "an acknowledged write of seq-$w was lost"
done
[ "$(label "$f" "n$li" seq)" = "$(acks "$HX_WORK/seq-l")" ] || fail "n$li seq"
[ "$(label "$f" "n$o" seq)" = "$(acks "$HX_WORK/seq-o")" ] || fail "n$o seq"
ok "$(acks "$HX_WORK/seq-l") + $(acks "$HX_WORK/seq-o") acknowledged writes, all there"

# n$f has caught up: with the other follower down, the leader can commit
# only with n$f's acknowledgement, which raft gives only with the whole log.
log "killing the other follower n$o"
node_kill "$o"
bump_ok() { [ "$(bump "$@" | cut -d' ' -f1)" = 200 ]; }
wait_until 100 0.2 bump_ok "$f" "n$f" catch ||
	fail "no write with n$o down: n$f did not catch up"
[ "$(label "$f" "n$li" seq)" = "$(acks "$HX_WORK/seq-l")" ] || fail "n$li seq after catch-up"
[ "$(label "$f" "n$o" seq)" = "$(acks "$HX_WORK/seq-o")" ] || fail "n$o seq after catch-up"
ok "restarted n$f caught up: writes commit with it as the second of two"
t_start=$(now_ms)
node_start "$o"
wait_until 100 0.2 heard_since "$li" "n$o" "$t_start" || fail "n$o not back online"
wait_until 100 0.2 members_with online 3 "$li" || fail "not all online"
ok "all 3 online"

# ---- a leader hung (SIGSTOP) and resumed serves reads and writes ----
# It comes back deposed: dqlite then drops the database of every
# connection made to it as leader, its own read pool's included.
leader=$(leader_of 1)
li=${leader#n}
o=$(seq 1 3 | grep -v "^$li\$" | head -1)
status() { call "$@" | tail -1; }
for k in 1 2 3; do
	[ "$(status "$li" GET /settings)" = 200 ] || fail "read on leader n$li"
done
pid=$(cat "$(dir_of "$li")/pid")
log "stopping leader n$li (SIGSTOP)"
kill -STOP "$pid"
put() { # node value: one acknowledged write
	api "$1" PATCH /settings "{\"settings\":{\"tasks.keep\":$2}}" |
		jq -e ".data.settings[\"tasks.keep\"] == $2" >/dev/null
}
wait_until 100 0.1 put "$o" 500 || { kill -CONT "$pid"; fail "no write with the leader hung"; }
new=$(leader_of "$o")
kill -CONT "$pid"
[ -n "$new" ] && [ "$new" != "$leader" ] || fail "no new leader ($new)"
ok "new leader $new while n$li hung; resumed"
wait_until 100 0.1 sh -c "[ \"\$(curl -s --max-time 5 --unix-socket $(dir_of "$li")/hxd.sock http://x/api/v1/cluster | jq -r .data.leader.name)\" = $new ]" ||
	fail "n$li does not follow $new"
for k in $(seq 1 10); do
	out=$(call "$li" GET /settings)
	[ "${out##*$'\n'}" = 200 ] || fail "read $k on the resumed n$li: $out"
done
put "$li" 501 || fail "write through the resumed n$li"
ok "resumed old leader n$li serves reads and writes"

# ---- both followers hang: a write through the leader is not acknowledged
# (it stays in the leader's log alone); one follower resumes: the leader's
# longer log makes it leader again, and the connections the follower had
# made to it lost their database then ("no database opened") ----
leader=$(leader_of 1)
li=${leader#n}
f1=$(seq 1 3 | grep -v "^$li\$" | head -1)
f2=$(seq 1 3 | grep -v "^$li\$" | tail -1)
for i in 1 2 3; do
	for k in 1 2 3; do
		[ "$(status "$i" GET /settings)" = 200 ] || fail "read on n$i"
	done
done
log "stopping both followers of $leader (SIGSTOP)"
kill -STOP "$(cat "$(dir_of "$f1")/pid")" "$(cat "$(dir_of "$f2")/pid")"
out=$(call "$li" PATCH /settings '{"settings":{"tasks.keep":700}}')
kill -CONT "$(cat "$(dir_of "$f1")/pid")"
[ "${out##*$'\n'}" = 503 ] || fail "write without quorum: $out"
ok "write without quorum refused: $(echo "${out%$'\n'*}" | jq -r .error.message | cut -c1-70)"
two_agree() {
	local a b
	a=$(leader_of "$li") b=$(leader_of "$f1")
	[ -n "$a" ] && [ "$a" = "$b" ]
}
wait_until 100 0.2 two_agree || fail "no leader with n$f1 resumed"
log "n$f1 resumed: leader $(leader_of "$f1") (was $leader)"
for k in 1 2 3 4 5; do
	out=$(call "$f1" GET /settings)
	[ "${out##*$'\n'}" = 200 ] || fail "read $k on n$f1: $out"
done
put "$f1" 601 || fail "write through n$f1"
kill -CONT "$(cat "$(dir_of "$f2")/pid")"
agreed() {
	local a b c
	a=$(leader_of 1) b=$(leader_of 2) c=$(leader_of 3)
	[ -n "$a" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ]
}
wait_until 100 0.2 agreed || fail "no agreed leader after n$f2 resumed"
for i in 1 2 3; do
	for k in 1 2 3; do
		out=$(call "$i" GET /settings)
		[ "${out##*$'\n'}" = 200 ] || fail "read $k on n$i: $out"
	done
	put "$i" $((600 + i)) || fail "write through n$i"
done
ok "every node serves reads and writes again"
exit 0
