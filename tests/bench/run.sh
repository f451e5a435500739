#!/bin/bash
# make bench: figures for a 3-node cluster in network namespaces on this
# machine (docs/benchmarks.md). Not a test: it prints what it measures and
# fails only when it cannot measure. Needs root and a build without
# sanitizers. Bounded: every wait has a limit; about 5 minutes in all.
#
# Knobs (environment): BENCH_SECONDS per load run (4), BENCH_REPEAT runs
# per figure, reported as the median (3), BENCH_FAILOVERS leader kills (7),
# BENCH_WRITERS concurrent writers (64), BENCH_IDLE_S idle time before the
# RSS reading (10), BENCH_ONLY a subset of the sections "rss write writers
# read failover" (all), BENCH_HXD_ARGS extra hxd flags, e.g. "--latency-ms
# 20" (none).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
export top_builddir
SECONDS_PER=${BENCH_SECONDS:-4}
REPEAT=${BENCH_REPEAT:-3}
FAILOVERS=${BENCH_FAILOVERS:-7}
WRITERS=${BENCH_WRITERS:-64}
IDLE_S=${BENCH_IDLE_S:-10}
ONLY=${BENCH_ONLY:-rss write writers read failover}
section() { [[ " $ONLY " == *" $1 "* ]]; }
B="$top_builddir/tests/bench"

if grep -q '^HX_CFLAGS = .*-fsanitize' "$top_builddir/Makefile" 2>/dev/null; then
	echo "bench: $top_builddir is built with --enable-sanitize, which"
	echo "bench: inflates memory and slows everything down. Build without it:"
	echo "bench:   mkdir -p build/bench && cd build/bench && ../../configure && make bench"
	exit 1
fi
for p in "$top_builddir/hxd" "$top_builddir/hxctl" "$B/bench_api" \
	"$B/bench_statedb" "$B/bench_baseline"; do
	[ -x "$p" ] || { echo "bench: $p is missing (run 'make bench')"; exit 1; }
done
for t in wrk jq curl; do
	command -v "$t" >/dev/null || { echo "bench: '$t' is missing (tools/deps.sh)"; exit 1; }
done

HX_TEST=bench
. "$top_srcdir/tests/cluster/lib.sh"
if [ -n "${BENCH_HXD_ARGS:-}" ]; then
	# lib.sh starts "$HXD": give it a wrapper that appends the flags.
	printf '#!/bin/sh\nexec %q "$@" %s\n' "$HXD" "$BENCH_HXD_ARGS" >"$HX_WORK/hxd"
	chmod +x "$HX_WORK/hxd"
	HXD="$HX_WORK/hxd"
fi

BASELINE_PID=
bench_cleanup() {
	local rc=$?
	if [ -n "$BASELINE_PID" ]; then
		kill "$BASELINE_PID" 2>/dev/null
		wait "$BASELINE_PID" 2>/dev/null
	fi
	(exit "$rc") # lib.sh's cleanup reads the exit status from $?
	cleanup
}
trap bench_cleanup EXIT

CLIENT_IP="10.$HX_NET.0.254" # the client host: the bridge namespace
RESULTS="$top_builddir/bench-results.txt"
: >"$RESULTS"

# in_client CMD...: run CMD in the client namespace, bounded in time.
in_client() { timeout 120 ip netns exec "$(ns br)" "$@"; }
# kv KEY LINE: the value of KEY=... in a key=value line.
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
# median: the median of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
report() { echo "$*" | tee -a "$RESULTS"; }
pid_of() { cat "$(dir_of "$1")/pid"; }
url_of() { echo "https://$(ip_of "$1"):8006"; }
leader_idx() { local l; l=$(leader_of "$1") && [ -n "$l" ] && echo "${l#n}"; }

# repeat_kv NAME CMD...: run CMD $REPEAT times; report the median of
# rate, p50_ms, p99_ms and the sum of errors over all runs.
repeat_kv() {
	local name=$1 out rates="" p50s="" p99s="" errs=0 ok=0 i
	shift
	for i in $(seq 1 "$REPEAT"); do
		out=$("$@") && [ -n "$(kv ok "$out")" ] ||
			{ echo "bench: '$name' failed: $out"; return 1; }
		log "$name run $i: $out"
		rates+="$(kv rate "$out") "
		p50s+="$(kv p50_ms "$out") "
		p99s+="$(kv p99_ms "$out") "
		errs=$((errs + $(kv errors "$out")))
		ok=$((ok + $(kv ok "$out")))
	done
	report "$(printf '%-44s %9s/s  p50 %7s ms  p99 %7s ms  ok %6s  errors %s' \
		"$name" "$(tr ' ' '\n' <<<"$rates" | grep . | median)" \
		"$(tr ' ' '\n' <<<"$p50s" | grep . | median)" \
		"$(tr ' ' '\n' <<<"$p99s" | grep . | median)" "$ok" "$errs")"
}

# settled: 3 voters, all online, seen by every node, one leader.
settled() {
	local i l=""
	for i in 1 2 3; do
		[ "$(voters_count "$i")" = 3 ] || return 1
		members_with online 3 "$i" || return 1
		[ -z "$l" ] && l=$(leader_of "$i")
		[ -n "$l" ] && [ "$(leader_of "$i")" = "$l" ] || return 1
	done
}

rss() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$(pid_of "$1")/status"; }
rss_report() { # WHEN: VmRSS of every node
	local i role
	for i in 1 2 3; do
		role=follower
		[ "$i" = "$(leader_idx 1)" ] && role=leader
		report "$(printf '%s n%s (%-8s)  VmRSS %6s kB  RssAnon %6s kB  RssFile %6s kB  threads %s' \
			"$1" "$i" "$role" "$(rss "$i" VmRSS)" "$(rss "$i" RssAnon)" \
			"$(rss "$i" RssFile)" "$(rss "$i" Threads)")"
	done
}

# ---- 5. idle RSS ----
bench_rss() {
	log "idle for $IDLE_S s before reading RSS"
	sleep "$IDLE_S" # deliberate: the figure is the RSS of an idle cluster
	rss_report "idle, fresh cluster:"
}

# ---- 2. single-client writes: API (unix socket, HTTPS) and statedb ----
api_write() { # NODE TRANSPORT THREADS [extra]
	local i=$1 t=$2 n=$3
	shift 3
	if [ "$t" = unix ]; then
		timeout 120 "$B/bench_api" --unix "$(dir_of "$i")/hxd.sock" \
			--path "/nodes/n$i" --write --threads "$n" --seconds "$SECONDS_PER" "$@"
	else
		in_client "$B/bench_api" --url "$(url_of "$i")" --cacert "$CA" \
			--token-file "$TOKEN" --path "/nodes/n$i" --write \
			--threads "$n" --seconds "$SECONDS_PER" "$@"
	fi
}
sdb_write() { # NODE THREADS [--cas]
	local i=$1 n=$2
	shift 2
	in_client "$B/bench_statedb" --tls-dir "$(dir_of 1)/tls" \
		--trust "$(dir_of 1)/trust" --node "n$i" --threads "$n" \
		--seconds "$SECONDS_PER" "$@"
}
bench_write() {
	report "# single client, PATCH /nodes/NAME labels with digest (compare-and-set)"
	repeat_kv "API unix socket, leader n$L" api_write "$L" unix 1 --digest || exit 1
	repeat_kv "API unix socket, follower n$F" api_write "$F" unix 1 --digest || exit 1
	repeat_kv "API HTTPS+token, leader n$L" api_write "$L" https 1 --digest || exit 1
	repeat_kv "API HTTPS+token, follower n$F" api_write "$F" https 1 --digest || exit 1
	report "# single client, statedb directly (peer channel TLS to the leader)"
	repeat_kv "statedb set_labels+get (CAS, as the API)" sdb_write "$F" 1 --cas || exit 1
	repeat_kv "statedb set_labels (write only)" sdb_write "$F" 1 || exit 1
}

# ---- 3. concurrent writers ----
spread() { # WRITERS over the 3 nodes' APIs at once, each its own node
	local i n out pids=() files=() tot_ok=0 tot_err=0 rate=0 p50s="" p99s=""
	for i in 1 2 3; do
		n=$((WRITERS / 3 + (i <= WRITERS % 3 ? 1 : 0)))
		files[i]=$(mktemp "$HX_WORK/spread.XXXXXX")
		api_write "$i" https "$n" >"${files[i]}" 2>&1 &
		pids[i]=$!
	done
	for i in 1 2 3; do
		wait "${pids[i]}" || { cat "${files[i]}"; return 1; }
		out=$(head -1 "${files[i]}")
		log "  n$i: $out" >&2
		tot_ok=$((tot_ok + $(kv ok "$out")))
		tot_err=$((tot_err + $(kv errors "$out")))
		rate=$(awk -v a="$rate" -v b="$(kv rate "$out")" 'BEGIN { printf "%.1f", a + b }')
		p50s+="$(kv p50_ms "$out") "
		p99s+="$(kv p99_ms "$out") "
		[ "$(wc -l <"${files[i]}")" -gt 1 ] && sed 1d "${files[i]}" >&2
	done
	# p50/p99: the worst of the three nodes'
	echo "ok=$tot_ok errors=$tot_err rate=$rate p50_ms=$(tr ' ' '\n' <<<"$p50s" | grep . | sort -g | tail -1) p99_ms=$(tr ' ' '\n' <<<"$p99s" | grep . | sort -g | tail -1)"
}
bench_writers() {
	report "# $WRITERS concurrent writers, PATCH /nodes/NAME labels without digest"
	repeat_kv "API HTTPS, $WRITERS writers on follower n$F" api_write "$F" https "$WRITERS" || exit 1
	repeat_kv "API HTTPS, $WRITERS writers over 3 nodes" spread || exit 1
	repeat_kv "statedb, $WRITERS writer threads" sdb_write "$F" "$WRITERS" || exit 1
}

# ---- 4. reads with wrk ----
wrk_run() { # URL: one wrk run, as key=value
	local out rps p50 p99 errs
	out=$(in_client wrk -t2 -c8 -d"${SECONDS_PER}s" --latency \
		-H "Authorization: Bearer $(cat "$TOKEN")" "$1") || return 1
	rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	errs=$(awk '/Non-2xx/ { s += $NF } /Socket errors/ { gsub(",", ""); s += $4 + $6 + $8 + $10 } END { print s + 0 }' <<<"$out")
	echo "ok=$(awk '/requests in/ { print $1 }' <<<"$out") errors=$errs rate=$rps p50_ms=$(to_ms "$p50") p99_ms=$(to_ms "$p99")"
}
to_ms() { # wrk's "1.23ms" / "456.00us" / "1.20s" in ms
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
bench_read() {
	ip netns exec "$(ns "$L")" "$B/bench_baseline" "$(ip_of "$L")" 9443 \
		"$(dir_of "$L")/tls" >"$HX_WORK/baseline.log" 2>&1 &
	BASELINE_PID=$!
	wait_until 50 0.1 grep -q listening "$HX_WORK/baseline.log" || fail "baseline server"
	report "# reads: wrk -t2 -c8 over HTTPS with the bearer token"
	repeat_kv "wrk baseline (MHD+TLS, fixed JSON) on n$L" wrk_run "https://$(ip_of "$L"):9443/api/v1/nodes" || exit 1
	repeat_kv "wrk GET /nodes on leader n$L" wrk_run "$(url_of "$L")/api/v1/nodes" || exit 1
	repeat_kv "wrk GET /nodes on follower n$F (forwarded)" wrk_run "$(url_of "$F")/api/v1/nodes" || exit 1
	repeat_kv "wrk GET /settings on leader n$L" wrk_run "$(url_of "$L")/api/v1/settings" || exit 1
	repeat_kv "wrk GET /settings on follower n$F" wrk_run "$(url_of "$F")/api/v1/settings" || exit 1
	kill "$BASELINE_PID" 2>/dev/null
	wait "$BASELINE_PID" 2>/dev/null
	BASELINE_PID=
}

# ---- 1. failover: kill -9 of the leader to the next acknowledged write ----
bench_failover() {
	local run l s pid out ms times="" sorted
	report "# failover: kill -9 of the leader, then PATCH /nodes/NAME through a survivor's HTTPS API until acknowledged"
	for run in $(seq 1 "$FAILOVERS"); do
		wait_until 120 0.5 settled || fail "cluster not settled before failover run $run"
		l=$(leader_idx 1)
		s=$(seq 1 3 | grep -v "^$l\$" | head -1)
		pid=$(pid_of "$l")
		out=$(in_client "$B/bench_api" --url "$(url_of "$s")" --cacert "$CA" \
			--token-file "$TOKEN" --path "/nodes/n$s" --write --seconds 30 \
			--kill "$pid") || fail "failover run $run: $out"
		wait "$pid" 2>/dev/null
		rm -f "$(dir_of "$l")/pid"
		ms=$(kv failover_ms "$out")
		log "failover run $run: killed leader n$l, write through n$s acknowledged after $ms ms (new leader $(leader_of "$s"))"
		times+="$ms "
		node_start "$l"
	done
	sorted=$(tr ' ' '\n' <<<"$times" | grep . | sort -n)
	report "$(printf 'failover to next acknowledged write (%s runs): min %s ms  median %s ms  max %s ms  (all: %s)' \
		"$FAILOVERS" "$(head -1 <<<"$sorted")" "$(median <<<"$sorted")" \
		"$(tail -1 <<<"$sorted")" "$(echo $sorted)")"
	wait_until 120 0.5 settled || fail "cluster not settled after the failovers"
}

T0=$(date +%s)
log "bench: build $top_builddir, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), hxd flags: ${BENCH_HXD_ARGS:-none}"
net_create 3
ip netns exec "$(ns br)" ip addr add "$CLIENT_IP/24" dev br0
ip netns exec "$(ns br)" ip link set lo up
cluster_form 3
wait_until 120 0.5 settled || fail "the cluster did not settle"
TOKEN="$(dir_of 1)/admin.token"
CA="$(dir_of 1)/tls/ca.crt"
L=$(leader_idx 1)
F=$(seq 1 3 | grep -v "^$L\$" | head -1)
log "cluster formed: leader n$L, follower n$F"
report "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -m) $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), extra hxd flags: ${BENCH_HXD_ARGS:-none}"
# leader_changes: elections won so far, in every node's log
leader_changes() { cat "$HX_WORK"/n*/hxd.log | grep -c "this node is now the leader"; }
section rss && bench_rss
elections=$(leader_changes)
section write && bench_write
section writers && bench_writers
section read && bench_read
if section write || section writers || section read; then
	log "idle for $IDLE_S s before reading RSS"
	sleep "$IDLE_S"
	rss_report "idle, after the load:"
	report "leader changes during the load: $(($(leader_changes) - elections)) (expected 0)"
fi
section failover && bench_failover
report "# bench took $(($(date +%s) - T0)) s"

echo
echo "==== bench results (also in $RESULTS)"
cat "$RESULTS"
exit 0
