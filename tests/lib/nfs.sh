# Test helper: an NFSv3 server in userspace (nfs-ganesha with its VFS
# backend, plus rpcbind, which NFSv3 clients ask for the mount port), in a
# network namespace and a private mount namespace, since the kernel here
# has no NFS server.
#
#   nfs_start NETNS DIR EXPORT   exports directory EXPORT (bounded: ~20 s)
#   nfs_stop DIR                 kills both daemons (safe to repeat)
#
# DIR keeps the configuration, log and pid files. rpcbind's socket and
# lock live in a tmpfs over /run that only the two daemons see, so that
# several tests (and the host) each have their own.

nfs_start() {
	local netns=$1 d=$2 export=$3
	mkdir -p "$d/recovery"
	cat >"$d/ganesha.conf" <<EOF
NFS_CORE_PARAM {
	Protocols = 3;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Plugins_Dir = /usr/lib/x86_64-linux-gnu/ganesha;
}
NFSV4 { Graceless = true; RecoveryRoot = $d/recovery; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT {
	Export_Id = 1;
	Path = $export;
	Pseudo = $export;
	Access_Type = RW;
	Squash = No_Root_Squash;
	Protocols = 3;
	Transports = TCP;
	SecType = sys;
	FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
EOF
	cat >"$d/run.sh" <<EOF
mount -t tmpfs hx-nfs /run || exit 1
mkdir -p /run/rpcbind
rpcbind -f -w & echo \$! >"$d/rpcbind.pid"
for _ in \$(seq 50); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done
exec ganesha.nfsd -F -f "$d/ganesha.conf" -L "$d/ganesha.log" \
	-p "$d/ganesha.pid"
EOF
	ip netns exec "$netns" unshare -m --propagation private \
		bash "$d/run.sh" >>"$d/ganesha.log" 2>&1 &
	echo $! >"$d/launcher.pid"
	disown $! 2>/dev/null
	for _ in $(seq 200); do
		grep -q 'NFS SERVER INITIALIZED' "$d/ganesha.log" 2>/dev/null &&
			ip netns exec "$netns" rpcinfo -p 127.0.0.1 2>/dev/null |
			grep -q mountd && return 0
		sleep 0.1
	done
	echo "nfs: ganesha did not start; see $d/ganesha.log" >&2
	return 1
}

nfs_stop() {
	local d=$1 f
	for f in ganesha.pid rpcbind.pid launcher.pid; do
		[ -f "$d/$f" ] && kill -9 "$(cat "$d/$f")" 2>/dev/null
		rm -f "$d/$f"
	done
}
