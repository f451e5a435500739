#!/bin/bash
# Installs what is needed, builds, installs and starts Horcrux on this
# machine, then prints what to try next. Safe to run again: a running node
# is kept (restarted only when its binary changed), an initialized one is
# never initialized again. See docs/install.md.
#
#   tools/setup.sh                       one node, a cluster of its own
#   tools/setup.sh --join IP TOKEN       one node, joining an existing cluster
#   tools/setup.sh --nodes 3             3 nodes in network namespaces
#   tools/setup.sh --stop [--purge]      stop what setup started
set -eu
cd "$(dirname "$0")/.."
src=$PWD

PREFIX=/usr/local
SBIN=$PREFIX/sbin
BIN=$PREFIX/bin
BUILD=$src/build/run
DEFAULTS=/etc/default/hxd     # HXD_OPTS, shared with hxd.service
DATA=/var/lib/horcrux         # one node: hxctl's default data dir
LOG=/var/log/hxd.log          # one node, without systemd
NETDIR=/var/lib/horcrux-netns # N nodes: NETDIR/nI is node I's data dir
NS=hxn                        # namespaces hxn1..hxnN and hxn-br
STOP_WAIT_S=30

usage() {
	cat <<'EOF'
usage: tools/setup.sh [OPTIONS]

Installs the Debian packages Horcrux needs, builds and installs it
(/usr/local), and starts it:

  (no option)          one node on this machine, in a new cluster
  --join IP TOKEN      one node on this machine, joining the cluster of the
                       member at IP (TOKEN from 'hxctl cluster token' there)
  --nodes N            N nodes (2-9) in network namespaces hxn1..hxnN on
                       a private bridge, 10.77.0.1..N, forming one cluster;
                       data and logs in /var/lib/horcrux-netns
  --stop               stop the nodes setup started (data is kept); delete
                       the namespaces
  --purge              with --stop: delete their data and logs too

  --address IP         one node: the address other nodes reach it at
                       (default: this machine's address on its default route)
  --name NAME          one node: its name (default: the host name)
  --subnet A.B.C       --nodes: the /24 to use (default 10.77.0)
  --no-build           do not install packages, build or install
  -h, --help           this help
EOF
}

say() { echo "setup: $*"; }
die() {
	echo "setup: error: $*" >&2
	exit 1
}

# wait_until TRIES INTERVAL CMD...: poll CMD with a hard bound.
wait_until() {
	local tries=$1 interval=$2
	shift 2
	while [ "$tries" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		tries=$((tries - 1))
		sleep "$interval"
	done
	return 1
}

# ---- build and install ----

build_install() {
	say "installing the packages Horcrux needs (tools/deps.sh)"
	tools/deps.sh
	[ -x configure ] || autoreconf -fi >/dev/null 2>&1 ||
		die "autoreconf failed"
	mkdir -p "$BUILD"
	if [ ! -f "$BUILD/Makefile" ]; then
		(cd "$BUILD" && "$src/configure" -q --prefix="$PREFIX" \
			--sysconfdir=/etc --localstatedir=/var >/dev/null) ||
			die "configure failed (see $BUILD/config.log)"
	fi
	say "building (log: $BUILD/build.log)"
	if ! make -C "$BUILD" -j"$(nproc)" >"$BUILD/build.log" 2>&1; then
		tail -n 30 "$BUILD/build.log" >&2
		die "build failed"
	fi
	say "installing hxd, hxctl, man pages and hxd.service under $PREFIX"
	make -C "$BUILD" install >>"$BUILD/build.log" 2>&1 ||
		die "make install failed (see $BUILD/build.log)"
}

# ---- one hxd, found through the lock it holds on DATA_DIR/hxd.pid ----

# hxd_pid DIR: prints the pid of the hxd running on DIR; fails if none.
hxd_pid() {
	local pid
	[ -f "$1/hxd.pid" ] || return 1
	flock -n "$1/hxd.pid" true 2>/dev/null && return 1
	pid=$(cat "$1/hxd.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = hxd ] ||
		return 1
	echo "$pid"
}

# is_stale PID: the hxd PID runs another binary than the installed one.
is_stale() {
	! cmp -s "/proc/$1/exe" "$SBIN/hxd"
}

# stop_pid PID WHAT: SIGTERM, wait; crash-only, so SIGKILL is safe after.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq $((STOP_WAIT_S * 10))); do
		[ -d "/proc/$pid" ] || { say "stopped $2 (pid $pid)"; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	say "$2 (pid $pid) did not stop in ${STOP_WAIT_S}s: killed it"
}

# answers DIR: hxd on DIR answers on its control socket.
answers() {
	"$BIN/hxctl" --data-dir "$1" --json cluster status >/dev/null 2>&1
}

# initialized DIR: the node on DIR is in a cluster. (jq -e succeeds on
# empty input, so the answer is captured and checked first.)
initialized() {
	local out
	out=$("$BIN/hxctl" --data-dir "$1" --json cluster status 2>/dev/null) &&
		[ -n "$out" ] && jq -e '.initialized == true' <<<"$out" >/dev/null
}

# await_start DIR PID LOG: wait until hxd answers, or explain why not.
await_start() {
	if ! wait_until 100 0.1 answers "$1"; then
		[ -n "$2" ] && [ -d "/proc/$2" ] && kill -TERM "$2" 2>/dev/null
		if [ "$3" = journal ]; then
			journalctl -u hxd.service -n 20 --no-pager >&2
		else
			tail -n 20 "$3" >&2
		fi
		die "hxd on $1 did not start (log: $3)"
	fi
}

# ---- one node on this machine ----

default_address() {
	local dev addr
	dev=$(ip -4 route show default 2>/dev/null |
		awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
	[ -n "$dev" ] && addr=$(ip -4 -o addr show dev "$dev" scope global |
		awk '{ split($4, a, "/"); print a[1]; exit }')
	[ -n "${addr:-}" ] || addr=$(ip -4 -o addr show scope global |
		awk '{ split($4, a, "/"); print a[1]; exit }')
	echo "${addr:-127.0.0.1}"
}

default_name() {
	local n
	n=$(hostname 2>/dev/null | cut -d. -f1 | tr 'A-Z_' 'a-z-' |
		tr -cd 'a-z0-9-' | sed 's/^-*//' | cut -c1-63)
	echo "${n:-node1}"
}

# The value of --data-dir in HXD_OPTS (hxd's default otherwise).
opts_data_dir() {
	local d
	d=$(sed -n 's/.*--data-dir[= ]\([^ ]*\).*/\1/p' <<<"$1")
	echo "${d:-$DATA}"
}

# Writes /etc/default/hxd unless it exists; reads it.
single_config() {
	if [ ! -f "$DEFAULTS" ]; then
		local addr=${opt_address:-$(default_address)}
		local name=${opt_name:-$(default_name)}
		"$SBIN/hxd" -n --data-dir "$DATA" --name "$name" \
			--address "$addr" >/dev/null ||
			die "bad --name or --address (see above)"
		[ "$addr" != 127.0.0.1 ] ||
			say "warning: no network address found; using 127.0.0.1 (no other machine can join)"
		mkdir -p "$(dirname "$DEFAULTS")"
		cat >"$DEFAULTS" <<EOF
# Options of hxd(8) on this node, read by hxd.service and tools/setup.sh.
# Do not change --address or --data-dir of a node that is in a cluster.
HXD_OPTS="--data-dir $DATA --name $name --address $addr"
EOF
		say "wrote $DEFAULTS"
	elif [ -n "$opt_address$opt_name" ]; then
		say "$DEFAULTS exists: ignoring --address/--name (edit it to change them)"
	fi
	# shellcheck disable=SC1090
	. "$DEFAULTS"
	HXD_OPTS=${HXD_OPTS:-}
	data=$(opts_data_dir "$HXD_OPTS")
}

has_systemd() { [ -d /run/systemd/system ]; }

# Checks that nothing but hxd listens on the ports hxd needs.
ports_free() {
	local api peer busy
	api=$(sed -n 's/.*--api-port[= ]\([0-9]*\).*/\1/p' <<<"$HXD_OPTS")
	peer=$(sed -n 's/.*--peer-port[= ]\([0-9]*\).*/\1/p' <<<"$HXD_OPTS")
	busy=$(ss -Hltnp "( sport = :${api:-8006} or sport = :${peer:-8007} )" 2>/dev/null)
	[ -z "$busy" ] || die "hxd's ports ${api:-8006}/${peer:-8007} are in use:
$busy
Set --api-port/--peer-port in $DEFAULTS."
}

single_start() {
	local pid
	if has_systemd; then
		systemctl daemon-reload
		systemctl enable hxd.service >/dev/null 2>&1
		pid=$(hxd_pid "$data") || true
		if [ -n "$pid" ] && is_stale "$pid"; then
			say "restarting hxd: its binary changed"
			systemctl restart hxd.service
		elif [ -z "$pid" ]; then
			ports_free
			say "starting hxd.service"
			systemctl start hxd.service
		fi
		await_start "$data" "" journal
		return
	fi
	pid=$(hxd_pid "$data") || true
	if [ -n "$pid" ] && is_stale "$pid"; then
		stop_pid "$pid" "hxd (old binary)"
		pid=
	fi
	if [ -n "$pid" ]; then
		say "hxd is already running (pid $pid)"
		return
	fi
	ports_free
	say "starting hxd (no systemd here: in the background, log $LOG)"
	# shellcheck disable=SC2086 # HXD_OPTS is a list of options
	setsid "$SBIN/hxd" $HXD_OPTS >>"$LOG" 2>&1 </dev/null &
	await_start "$data" $! "$LOG"
}

single_cluster() {
	if initialized "$data"; then
		[ -z "$opt_join" ] ||
			say "this node is already in a cluster: not joining"
		return
	fi
	if [ -n "$opt_join" ]; then
		say "joining the cluster of $opt_join"
		"$BIN/hxctl" --data-dir "$data" cluster join "$opt_join" - \
			<<<"$opt_token" || die "join failed"
	else
		say "creating cluster 'horcrux'"
		"$BIN/hxctl" --data-dir "$data" cluster init --name horcrux \
			>/dev/null || die "cluster init failed"
	fi
	# The leader marks a node online at its first heartbeat.
	wait_until 40 0.25 node_online "$data" ||
		say "warning: this node is not reported online yet"
}

# node_online DIR: the leader reports the node on DIR online.
node_online() {
	local out name
	name=$(sed -n 's/.*--name[= ]\([^ ]*\).*/\1/p' <<<"$HXD_OPTS")
	out=$("$BIN/hxctl" --data-dir "$1" --json cluster status) &&
		[ -n "$out" ] && jq -e --arg n "$name" \
		'.members[] | select(.name == $n) | .state == "online"' \
		<<<"$out" >/dev/null
}

single_report() {
	local addr dd=""
	addr=$(sed -n 's/.*--address[= ]\([^ ]*\).*/\1/p' <<<"$HXD_OPTS")
	[ "$data" = "$DATA" ] || dd=" --data-dir $data"
	echo
	"$BIN/hxctl" --data-dir "$data" cluster status
	cat <<EOF

Horcrux runs on this machine: data in $data, options in $DEFAULTS,
log $(has_systemd && echo "'journalctl -u hxd'" || echo "$LOG"). Try next:

  hxctl$dd node list
  hxctl$dd events
  hxctl$dd settings show
  man hxctl

The HTTPS API, with the admin token (only on the node that created the
cluster; keep it secret):

  curl --cacert $data/tls/ca.crt \\
    -H "Authorization: Bearer \$(cat $data/admin.token)" \\
    https://$addr:8006/api/v1/cluster

Add another machine: run 'hxctl$dd cluster token' here, then there:

  tools/setup.sh --join $addr TOKEN

A 3-node cluster in network namespaces on this machine: tools/setup.sh --nodes 3
EOF
}

single() {
	single_config
	single_start
	single_cluster
	single_report
}

# ---- N nodes in network namespaces ----

ns_of() { echo "$NS$1"; }
ip_of() { echo "$subnet.$1"; }
dir_of() { echo "$NETDIR/n$1"; }
ns_exists() { [ -e "/run/netns/$1" ]; }

# The bridge namespace, N node namespaces on it, and a veth from this
# machine into the bridge (address .254), so that hxctl --url and curl
# work from here. Nodes have no default route: they reach only each other.
net_up() {
	local i br=$NS-br
	if ! ip link show "$NS-host" >/dev/null 2>&1; then
		local used
		used=$(ip -4 route show to match "$subnet.1" 2>/dev/null |
			grep -v '^default' || true)
		[ -z "$used" ] || die "$subnet.0/24 is already routed here ($used): pick another with --subnet"
	fi
	if ! ns_exists "$br"; then
		ip netns add "$br"
		ip -n "$br" link add br0 type bridge
		ip -n "$br" link set br0 up
		ip -n "$br" link set lo up
	fi
	if ! ip link show "$NS-host" >/dev/null 2>&1; then
		ip link add "$NS-host" type veth peer name host netns "$br"
		ip -n "$br" link set host master br0 up
		ip addr add "$(ip_of 254)/24" dev "$NS-host"
		ip link set "$NS-host" up
	fi
	for i in $(seq 1 "$nodes"); do
		ns_exists "$(ns_of "$i")" && continue
		ip netns add "$(ns_of "$i")"
		ip link add "$(ns_of "$i")" type veth peer name eth0 \
			netns "$(ns_of "$i")"
		ip link set "$(ns_of "$i")" netns "$br"
		ip -n "$br" link set "$(ns_of "$i")" master br0 up
		ip -n "$(ns_of "$i")" addr add "$(ip_of "$i")/24" dev eth0
		ip -n "$(ns_of "$i")" link set eth0 up
		ip -n "$(ns_of "$i")" link set lo up
	done
}

node_up() {
	local i=$1 dir pid
	dir=$(dir_of "$i")
	mkdir -p "$dir"
	chmod 700 "$dir"
	pid=$(hxd_pid "$dir") || true
	if [ -n "$pid" ] && is_stale "$pid"; then
		stop_pid "$pid" "node n$i (old binary)"
		pid=
	fi
	[ -n "$pid" ] && return
	ip netns exec "$(ns_of "$i")" setsid "$SBIN/hxd" --data-dir "$dir" \
		--name "n$i" --address "$(ip_of "$i")" \
		>>"$dir/hxd.log" 2>&1 </dev/null &
	await_start "$dir" $! "$dir/hxd.log"
	say "started node n$i ($(ip_of "$i"), pid $(hxd_pid "$dir"))"
}

# The first initialized node that answers, for tokens.
any_member() {
	local i
	for i in $(seq 1 "$nodes"); do
		initialized "$(dir_of "$i")" && { echo "$i"; return 0; }
	done
	return 1
}

# Every node in the cluster is online, and min(N, 3) of them are voters.
cluster_ready() {
	local out want=$((nodes < 3 ? nodes : 3))
	out=$("$BIN/hxctl" --data-dir "$(dir_of "$1")" --json cluster status) &&
		[ -n "$out" ] && jq -e --argjson n "$nodes" --argjson v "$want" \
		'.quorum == true and ([.members[] | select(.state == "online")] | length) == $n and .voters >= $v' \
		<<<"$out" >/dev/null
}

netns_cluster() {
	local i m tok
	if ! m=$(any_member); then
		say "creating cluster 'demo' on n1"
		"$BIN/hxctl" --data-dir "$(dir_of 1)" cluster init --name demo \
			>/dev/null || die "cluster init on n1 failed"
		m=1
	fi
	for i in $(seq 1 "$nodes"); do
		initialized "$(dir_of "$i")" && continue
		say "joining n$i through n$m"
		tok=$("$BIN/hxctl" --data-dir "$(dir_of "$m")" cluster token \
			--ttl 300) || die "no join token from n$m"
		"$BIN/hxctl" --data-dir "$(dir_of "$i")" cluster join \
			"$(ip_of "$m")" - <<<"$tok" >/dev/null ||
			die "n$i could not join (log: $(dir_of "$i")/hxd.log)"
	done
	say "waiting until every node is online"
	wait_until 120 0.5 cluster_ready 1 ||
		die "the cluster did not settle in 60 s; see $NETDIR/n*/hxd.log"
}

netns_report() {
	local i leader d1 ca tokf
	d1=$(dir_of 1)
	ca=$d1/tls/ca.crt
	tokf=$(for i in $(seq 1 "$nodes"); do
		[ -f "$(dir_of "$i")/admin.token" ] && echo "$(dir_of "$i")/admin.token"
	done | head -1)
	leader=$("$BIN/hxctl" --data-dir "$d1" --json cluster status |
		jq -r '.leader.name // "n1"')
	echo
	"$BIN/hxctl" --data-dir "$d1" cluster status
	echo
	echo "$nodes nodes run in network namespaces $(ns_of 1)..$(ns_of "$nodes"); this"
	echo "machine reaches them from $(ip_of 254) (interface $NS-host):"
	echo
	printf '  %-5s %-13s %-9s %s\n' NODE ADDRESS NETNS "DATA DIR (log: hxd.log in it)"
	for i in $(seq 1 "$nodes"); do
		printf '  %-5s %-13s %-9s %s\n' "n$i" "$(ip_of "$i")" \
			"$(ns_of "$i")" "$(dir_of "$i")"
	done
	cat <<EOF

Try next (any node answers any request):

  hxctl --data-dir $(dir_of 2) node list
  hxctl --data-dir $(dir_of "$nodes") events --follow      # Ctrl-C to stop
  export HX_DATA_DIR=$(dir_of 2)                  # instead of --data-dir

The HTTPS API of any node, with the admin token:

  export HX_TOKEN=\$(cat $tokf)
  hxctl --url https://$(ip_of 2):8006 --ca $ca cluster status
  curl --cacert $ca -H "Authorization: Bearer \$HX_TOKEN" \\
    https://$(ip_of "$nodes"):8006/api/v1/nodes

Kill the leader and watch another node take over:

  kill -9 \$(cat $NETDIR/$leader/hxd.pid)
  hxctl --data-dir $(dir_of $((${leader#n} % nodes + 1))) cluster status
  tools/setup.sh --nodes $nodes        # restarts it; it catches up by itself

Stop it all: tools/setup.sh --stop (add --purge to delete the data too).
EOF
}

netns() {
	local i
	[ -x "$SBIN/hxd" ] || die "$SBIN/hxd is not installed: run without --no-build"
	net_up
	for i in $(seq 1 "$nodes"); do node_up "$i"; done
	netns_cluster
	netns_report
}

# ---- stop ----

stop_all() {
	local d pid n
	for d in "$NETDIR"/n*; do
		[ -d "$d" ] || continue
		pid=$(hxd_pid "$d") && stop_pid "$pid" "node $(basename "$d")"
	done
	for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $n =~ ^$NS([1-9]|-br)$ ]] || continue
		ip netns del "$n" && say "deleted namespace $n"
	done
	ip link del "$NS-host" 2>/dev/null || true
	if has_systemd && systemctl is-active -q hxd.service 2>/dev/null; then
		systemctl stop hxd.service && say "stopped hxd.service"
	fi
	if [ -f "$DEFAULTS" ]; then
		# shellcheck disable=SC1090
		. "$DEFAULTS"
		data=$(opts_data_dir "${HXD_OPTS:-}")
	else
		data=$DATA
	fi
	pid=$(hxd_pid "$data") && stop_pid "$pid" hxd
	if [ -n "$opt_purge" ]; then
		rm -rf "$NETDIR" "$data" "$LOG" "$DEFAULTS"
		say "deleted $NETDIR, $data, $LOG and $DEFAULTS"
	fi
	return 0
}

# ---- main ----

opt_address="" opt_name="" opt_join="" opt_token="" opt_purge=""
opt_stop="" build=1 nodes=1 subnet=10.77.0
while [ $# -gt 0 ]; do
	case $1 in
	--nodes) nodes=${2:?--nodes needs a number}; shift ;;
	--join)
		opt_join=${2:?--join needs IP TOKEN}
		opt_token=${3:?--join needs IP TOKEN}
		shift 2 ;;
	--address) opt_address=${2:?--address needs an IP}; shift ;;
	--name) opt_name=${2:?--name needs a name}; shift ;;
	--subnet) subnet=${2:?--subnet needs A.B.C}; shift ;;
	--stop) opt_stop=1 ;;
	--purge) opt_purge=1 ;;
	--no-build) build= ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
[[ $nodes =~ ^[1-9]$ ]] || die "--nodes: expected 1 to 9, got '$nodes'"
[[ $subnet =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ||
	die "--subnet: expected three numbers like 10.77.0, got '$subnet'"
[ -z "$opt_purge" ] || [ -n "$opt_stop" ] || die "--purge goes with --stop"
[ "$nodes" = 1 ] || [ -z "$opt_join$opt_address$opt_name" ] ||
	die "--join, --address and --name are for one node, not --nodes"
[ "$(id -u)" = 0 ] || die "run me as root (I install packages and start hxd)"

if [ -n "$opt_stop" ]; then
	stop_all
	exit 0
fi
[ -z "$build" ] || build_install
if [ "$nodes" = 1 ]; then
	single
else
	netns
fi
