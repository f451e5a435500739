# Test helper: a one-node Ceph cluster (one mon, one mgr, one bluestore OSD
# on a sparse file) for RBD pools, without cephx, in a network namespace.
#
#   ceph_start NETNS IP DIR    starts it (bounded: fails after ~60 s)
#   ceph_conf DIR              the client configuration file hxd and QEMU use
#   ceph_cmd DIR ARGS...       runs `ceph ARGS` against it (10 s bound)
#   ceph_stop DIR              kills its daemons (and is safe to repeat)
#
# Everything lives in DIR (configuration, mon store, OSD block file, logs,
# sockets); the mon listens on IP:6789 (v1) and IP:3300 (v2) inside NETNS.
# Client timeouts are short, so that a test never waits 300 s for a mon.

ceph_conf() { echo "$1/ceph.conf"; }

ceph_cmd() {
	local d=$1
	shift
	ip netns exec "$(cat "$d/netns")" timeout 20 ceph -c "$(ceph_conf "$d")" \
		--connect-timeout 10 "$@"
}

ceph_start() {
	local netns=$1 ip=$2 d=$3 fsid uuid i
	mkdir -p "$d/mon/ceph-a" "$d/mgr/ceph-x" "$d/osd/ceph-0" "$d/run" \
		"$d/log"
	echo "$netns" >"$d/netns"
	fsid=$(uuidgen)
	cat >"$(ceph_conf "$d")" <<EOF
[global]
fsid = $fsid
mon host = $ip
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
run dir = $d/run
log file = $d/log/\$name.log
admin socket = $d/run/\$name.asok
pid file = $d/run/\$name.pid
mon data = $d/mon/ceph-\$id
mgr data = $d/mgr/ceph-\$id
osd data = $d/osd/ceph-\$id
ms bind ipv6 = false
client mount timeout = 10
rados mon op timeout = 10
rados osd op timeout = 10
[client]
# many clients at once (hxd, QEMU, rbd): no admin socket for them
admin socket =
[mgr]
mgr initial modules =
[osd]
osd objectstore = bluestore
bluestore block path = $d/osd/block
bluestore block create = true
bluestore block size = 4294967296
bluestore block db create = false
bluestore block wal create = false
bluestore cache autotune = false
bluestore cache size = 67108864
osd memory target = 536870912
osd max object name len = 256
osd max object namespace len = 64
EOF
	monmaptool --create --clobber --addv a "[v2:$ip:3300,v1:$ip:6789]" \
		--fsid "$fsid" \
		"$d/monmap" >/dev/null || return 1
	ceph-authtool --create-keyring "$d/mon.keyring" --gen-key -n mon. \
		--cap mon 'allow *' >/dev/null || return 1
	ceph-mon -c "$(ceph_conf "$d")" --mkfs -i a --monmap "$d/monmap" \
		--keyring "$d/mon.keyring" || return 1
	ip netns exec "$netns" ceph-mon -c "$(ceph_conf "$d")" -i a || return 1
	ip netns exec "$netns" ceph-mgr -c "$(ceph_conf "$d")" -i x || return 1
	ceph_wait "$d" 60 "mon stat" 'quorum 0 a' || return 1
	uuid=$(uuidgen)
	i=$(ceph_cmd "$d" osd new "$uuid") || return 1
	ip netns exec "$netns" ceph-osd -c "$(ceph_conf "$d")" -i "$i" --mkfs \
		--osd-uuid "$uuid" \
		>"$d/log/osd-mkfs.log" 2>&1 || return 1
	ip netns exec "$netns" ceph-osd -c "$(ceph_conf "$d")" -i "$i" \
		2>>"$d/log/osd-start.log" || return 1
	ceph_wait "$d" 120 "osd stat" '1 up'
}

# ceph_wait DIR TRIES "ARGS" PATTERN: polls `ceph ARGS` every 0.5 s until
# its output matches PATTERN.
ceph_wait() {
	local d=$1 tries=$2 args=$3 pat=$4
	for _ in $(seq "$tries"); do
		# shellcheck disable=SC2086
		ceph_cmd "$d" $args 2>/dev/null | grep -q "$pat" && return 0
		sleep 0.5
	done
	echo "ceph: '$args' never showed '$pat'" >&2
	return 1
}

# ceph_pool DIR NAME: an RBD pool (8 PGs, size 1), bounded.
ceph_pool() {
	ceph_cmd "$1" osd pool create "$2" 8 8 >/dev/null 2>&1 &&
		ceph_cmd "$1" osd pool set "$2" size 1 --yes-i-really-mean-it \
			>/dev/null 2>&1 &&
		ip netns exec "$(cat "$1/netns")" timeout 20 rbd \
			-c "$(ceph_conf "$1")" pool init "$2"
}

ceph_stop() {
	local d=$1 f
	for f in "$d"/run/*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	rm -f "$d"/run/*.pid
}
