# One real libvirtd per simulated node, for cluster tests.
#
# Source it after tests/cluster/lib.sh (it needs ns, ip_of, dir_of, log,
# fail, wait_until and the EXIT trap that lib.sh sets):
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/../lib/libvirt.sh"
#   net_create 2
#   libvirt_start 1; libvirt_start 2
#   virsh_on 1 list --all
#
# Each libvirtd runs in the node's network namespace AND its own private mount
# namespace (ip netns exec N unshare -m --propagation private), where
# /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt and
# /var/cache/libvirt are bind mounts of DIR/libvirt/{etc,run,lib,log,cache}
# (DIR = dir_of I). Its unix sockets live in DIR/libvirt/sock, a path that
# the private mounts do not cover, so anything on the host (virsh, hxd in the
# node's network namespace, the test itself) reaches it with libvirt_uri I:
#   qemu:///system?socket=DIR/libvirt/sock/libvirt-sock
# QEMU processes inherit both namespaces, so guests live "on" the node and
# their per-node files under /var/log/libvirt etc. land in DIR/libvirt.
# A path like /var/log/libvirt/qemu/NAME.serial in a domain XML therefore
# names a different file on every node, which makes a migrated domain's
# serial log per node without rewriting its XML.
#
# Peer-to-peer migration (the source libvirtd connects to the destination's)
# works over the destination's unix socket, libvirt_unix_uri I, because the
# socket path is visible from every namespace. `libvirt_start I tcp` also
# listens on qemu+tcp://IP/system (libvirt_tcp_uri I) with auth none, bound
# to the node's address inside the test's own namespaces only. QEMU
# migration streams go over TCP to migration_address/migration_host = the
# node's address (port 49152 and up), without authentication: test only.
#
# HX_LIBVIRT_MIGRATE_TLS=1 configures QEMU migration as hxd needs it:
# migration and NBD disk streams only in TLS (migrate_tls_force), with the
# x509 files hxd writes into DATA_DIR/qemu-tls (DATA_DIR = dir_of I), and
# the peer's certificate verified against the cluster CA.
#
# libvirt_stop I kills the node's QEMUs and libvirtd; the EXIT trap (wrapped
# here around lib.sh's cleanup) does it for every node started. Killing only
# libvirtd (kill -9 $(libvirt_pid I)) leaves the QEMUs running, and a new
# libvirt_start I re-adopts them, as on a real host.
#
# The test guest: guest_paths builds it (tests/guest/build.sh), guest_xml
# NAME writes a domain for it, libvirt_serial I NAME is its serial log on
# node I and guest_last_n I NAME its last heartbeat counter there.

HX_LIBVIRT_NODES=""
HX_LIBVIRT_VIRSH_TIMEOUT=${HX_LIBVIRT_VIRSH_TIMEOUT:-60}
# QEMU capabilities probed by one libvirtd, reused by the next: probing
# costs ~5 CPU-s per daemon start; libvirt re-probes if they are stale.
HX_LIBVIRT_CAPS=${HX_LIBVIRT_CAPS:-${HX_GUEST_DIR:-/var/cache/horcrux-guest}/libvirt-caps}
# Debugging: HX_LIBVIRT_LOG_LEVEL=1 HX_LIBVIRT_LOG_FILTERS="1:qemu 3:util"
# puts libvirt debug logs into DIR/libvirt/log/libvirtd.log.

# QEMU is daemonised by libvirt: orphaned, it is re-parented to PID 1, and
# this machine's PID 1 reaps only about once a second. libvirt waits for a
# QEMU it killed to vanish (migration confirm, destroy, shutdown), so every
# such step took 1-2 s longer than on a host with a real init. This reaper
# makes itself the child subreaper (prctl PR_SET_CHILD_SUBREAPER = 36,
# syscall 157 on x86_64), runs libvirtd, forwards SIGTERM to it and reaps
# every orphan at once until none is left: QEMUs outlive libvirtd as usual.
# shellcheck disable=SC2016,SC2089 # perl source, expanded by perl
HX_LIBVIRT_REAPER='
	syscall(157, 36, 1, 0, 0, 0) == 0 or die "prctl: $!";
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) { exec { $ARGV[0] } @ARGV or die "exec: $!"; }
	$SIG{TERM} = sub { kill "TERM", $pid };
	while (1) { last if waitpid(-1, 0) == -1 && $!{ECHILD}; }
'
# shellcheck disable=SC2090
export HX_LIBVIRT_REAPER

libvirt_dir() { echo "$(dir_of "$1")/libvirt"; }
libvirt_sock() { echo "$(libvirt_dir "$1")/sock/libvirt-sock"; }
libvirt_uri() { echo "qemu:///system?socket=$(libvirt_sock "$1")"; }
libvirt_unix_uri() { echo "qemu+unix:///system?socket=$(libvirt_sock "$1")"; }
libvirt_tcp_uri() { echo "qemu+tcp://$(ip_of "$1")/system"; }
libvirt_pid() { cat "$(libvirt_dir "$1")/libvirtd.pid" 2>/dev/null; }

# virsh_on I ARGS...: virsh against node I's libvirtd, bounded in time.
virsh_on() {
	local i=$1
	shift
	timeout "$HX_LIBVIRT_VIRSH_TIMEOUT" virsh -q -c "$(libvirt_uri "$i")" "$@"
}

# libvirt_write_config I [tcp]: the node's private /etc/libvirt.
libvirt_write_config() {
	local i=$1 tcp=${2:-} d ip
	d=$(libvirt_dir "$i")
	ip=$(ip_of "$i")
	mkdir -p "$d"/etc/qemu "$d"/run "$d"/lib "$d"/log/qemu "$d"/cache "$d"/sock
	chmod 0700 "$d/sock"
	cat >"$d/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$d/sock"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
listen_tcp = $([ "$tcp" = tcp ] && echo 1 || echo 0)
listen_addr = "$ip"
auth_tcp = "none"
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
log_outputs = "${HX_LIBVIRT_LOG_LEVEL:-3}:file:$d/log/libvirtd.log"
log_filters = "${HX_LIBVIRT_LOG_FILTERS:-}"
keepalive_interval = 5
keepalive_count = 5
EOF
	cat >"$d/etc/qemu.conf" <<EOF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "file"
lock_manager = "nop"
migration_address = "$ip"
migration_host = "$ip"
EOF
	if [ -n "${HX_LIBVIRT_MIGRATE_TLS:-}" ]; then
		# libvirtd refuses to start without the directory; hxd fills it
		mkdir -p "$(dir_of "$i")/qemu-tls"
		cat >>"$d/etc/qemu.conf" <<EOF
migrate_tls_x509_cert_dir = "$(dir_of "$i")/qemu-tls"
migrate_tls_x509_verify = 1
migrate_tls_force = 1
EOF
	fi
}

# libvirt_start I [tcp]: start node I's libvirtd and wait until it answers.
libvirt_start() {
	local i=$1 d
	d=$(libvirt_dir "$i")
	libvirt_write_config "$i" "${2:-}"
	rm -f "$d/sock/libvirt-sock"
	mkdir -p "$d/cache/qemu/capabilities"
	cp "$HX_LIBVIRT_CAPS"/*.xml "$d/cache/qemu/capabilities/" 2>/dev/null
	# Bind mounts happen in the new mount namespace only. libvirtd runs
	# under a reaper (see HX_LIBVIRT_REAPER).
	rm -f "$d/libvirtd.pid"
	local listen=()
	[ "${2:-}" = tcp ] && listen=(--listen)
	cg_exec "$i" ip netns exec "$(ns "$i")" unshare -m --propagation private sh -ec '
		d=$1
		mount --bind "$d/etc" /etc/libvirt
		mkdir -p /run/libvirt
		mount --bind "$d/run" /run/libvirt
		mount --bind "$d/lib" /var/lib/libvirt
		mount --bind "$d/log" /var/log/libvirt
		mount --bind "$d/cache" /var/cache/libvirt
		shift
		exec perl -e "$HX_LIBVIRT_REAPER" libvirtd "$@" \
			--pid-file "$d/libvirtd.pid" --config "$d/etc/libvirtd.conf"
	' libvirtd "$d" "${listen[@]}" >>"$d/libvirtd.out" 2>&1 &
	disown $!
	case " $HX_LIBVIRT_NODES " in
	*" $i "*) ;;
	*) HX_LIBVIRT_NODES="$HX_LIBVIRT_NODES $i" ;;
	esac
	if ! wait_until 100 0.1 virsh -q -c "$(libvirt_uri "$i")" version; then
		tail -n 20 "$d/libvirtd.out" "$d/log/libvirtd.log" 2>/dev/null
		fail "libvirtd on node $i does not answer"
	fi
	libvirt_caps_save "$i"
}

# libvirt_caps_save I: keep node I's probed capabilities for the next start.
libvirt_caps_save() {
	local f t
	mkdir -p "$HX_LIBVIRT_CAPS" 2>/dev/null || return 0
	for f in "$(libvirt_dir "$1")"/cache/qemu/capabilities/*.xml; do
		[ -f "$f" ] || continue
		t="$HX_LIBVIRT_CAPS/${f##*/}"
		cmp -s "$f" "$t" && continue
		cp "$f" "$t.$$" && mv -f "$t.$$" "$t"
	done
}

# pid_alive PID: running (a zombie counts as dead).
pid_alive() {
	local st
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]
}

# libvirt_qemu_pids I: pids of node I's QEMU processes (from libvirt's
# pid files; QEMU is not a child of libvirtd).
libvirt_qemu_pids() {
	local f pid
	for f in "$(libvirt_dir "$1")"/run/qemu/*.pid; do
		[ -f "$f" ] || continue
		[ "${f##*/}" = driver.pid ] && continue
		pid=$(cat "$f" 2>/dev/null)
		[ -n "$pid" ] && pid_alive "$pid" && echo "$pid"
	done
}

# libvirt_no_qemu I: node I runs no QEMU.
libvirt_no_qemu() { [ -z "$(libvirt_qemu_pids "$1")" ]; }

# libvirt_stop I: kill node I's QEMUs and libvirtd (bounded).
libvirt_stop() {
	local i=$1 pid qpids
	qpids=$(libvirt_qemu_pids "$i")
	pid=$(libvirt_pid "$i")
	# shellcheck disable=SC2086 # one pid per word
	[ -n "$qpids" ] && kill -9 $qpids 2>/dev/null
	if [ -n "$pid" ] && pid_alive "$pid"; then
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do
			pid_alive "$pid" || break
			sleep 0.1
		done
		pid_alive "$pid" && kill -9 "$pid" 2>/dev/null
	fi
	for pid in $qpids; do
		for _ in $(seq 50); do
			pid_alive "$pid" || break
			sleep 0.1
		done
	done
	rm -f "$(libvirt_dir "$i")/libvirtd.pid"
}

libvirt_stop_all() {
	local i
	for i in $HX_LIBVIRT_NODES; do libvirt_stop "$i"; done
	HX_LIBVIRT_NODES=""
}

# Stop the libvirtds before lib.sh's cleanup deletes the namespaces; keep
# the exit status that cleanup reports.
trap 'hx_libvirt_rc=$?; libvirt_stop_all; (exit $hx_libvirt_rc); cleanup' EXIT

# guest_paths: build (or reuse) the test guest; sets GUEST_KERNEL and
# GUEST_INITRD.
guest_paths() {
	local out
	out=$("$(dirname "${BASH_SOURCE[0]}")/../guest/build.sh") ||
		fail "cannot build the test guest"
	GUEST_KERNEL=$(echo "$out" | sed -n 1p)
	GUEST_INITRD=$(echo "$out" | sed -n 2p)
}

# guest_xml NAME [CMDLINE_EXTRA]: domain XML of the test guest: TCG,
# 128 MiB, direct kernel boot, serial console to the node-local file
# /var/log/libvirt/qemu/NAME.serial (libvirt_serial I NAME on the host).
guest_xml() {
	local name=$1 extra=${2:-}
	cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$GUEST_KERNEL</kernel>
    <initrd>$GUEST_INITRD</initrd>
    <cmdline>console=ttyS0 quiet hx.id=$name $extra</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$name.serial' append='on'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# libvirt_serial I NAME: host path of guest NAME's serial log on node I.
libvirt_serial() { echo "$(libvirt_dir "$1")/log/qemu/$2.serial"; }

# guest_last_n I NAME: the last heartbeat counter in NAME's log on node I.
guest_last_n() {
	grep -ao 'HXGUEST HEARTBEAT n=[0-9]*' "$(libvirt_serial "$1" "$2")" \
		2>/dev/null | tail -1 | sed 's/.*n=//'
}
