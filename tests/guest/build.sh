#!/bin/bash
# Builds the tiny test guest from Debian packages, without internet beyond
# Debian's apt repositories: the cloud kernel (linux-image-*-cloud-amd64,
# extracted with dpkg -x) and a busybox-static initramfs whose /init is
# tests/guest/init.
#
# Usage: build.sh [DIR]     (DIR defaults to $HX_GUEST_DIR, then
#                            /var/cache/horcrux-guest)
# Prints two lines: the kernel path and the initrd path (DIR/vmlinuz,
# DIR/initrd.img). Cached: rebuilds only when the kernel package version,
# this script, init or busybox change. Concurrent runs serialise on a lock.
# Without apt lists or network it reuses a previous build.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${HX_GUEST_DIR:-/var/cache/horcrux-guest}}
meta=linux-image-cloud-amd64
busybox=/bin/busybox
# Loaded by /init in this order, with their dependencies: virtio PCI
# devices (disk, net, console, SCSI disks), ACPI power button + evdev for
# acpid, IDE/ATA CD-ROM with iso9660 (config ISOs), softdog.
modules=(virtio_pci virtio_blk virtio_net virtio_console virtio_scsi sd_mod
	ata_piix sr_mod isofs button evdev softdog)

say() { echo "guest: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

done_paths() {
	echo "$dir/vmlinuz"
	echo "$dir/initrd.img"
}

mkdir -p "$dir" || die "cannot create '$dir'"
exec 9>"$dir/.lock"
flock -w 600 9 || die "'$dir' stays locked by another build"

[ -x "$busybox" ] || die "$busybox missing: install busybox-static"
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is not static: install busybox-static"
fi
for t in dpkg depmod modprobe cpio gzip apt-get apt-cache; do
	command -v "$t" >/dev/null || die "'$t' missing (tools/deps.sh)"
done

# The versioned kernel package the meta package points at, and its version
# (apt-cache costs ~1 CPU-s: remembered until the apt lists change).
lists=$(stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null |
	sha256sum | cut -d' ' -f1)
pkg= ver=
if [ -f "$dir/resolved" ]; then
	read -r k p v <"$dir/resolved" || true
	[ "$k" = "$lists" ] && pkg=$p ver=$v
fi
if [ -z "$ver" ]; then
	pkg=$(apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ ]*-cloud-amd64\)$/\1/p' |
		head -1) || pkg=
	[ -n "$pkg" ] && { ver=$(apt-cache show --no-all-versions "$pkg" \
		2>/dev/null | sed -n 's/^Version: //p' | head -1) || ver=; }
	[ -n "$ver" ] && echo "$lists $pkg $ver" >"$dir/resolved"
fi
if [ -z "$pkg" ] || [ -z "$ver" ]; then
	if [ -f "$dir/vmlinuz" ] && [ -f "$dir/initrd.img" ]; then
		say "cannot resolve $meta (no apt lists?); reusing the cached guest"
		done_paths
		exit 0
	fi
	die "cannot resolve $meta: run apt-get update"
fi

stamp=$( {
	echo "$pkg $ver ${modules[*]}"
	sha256sum "$here/build.sh" "$here/init" "$busybox" | cut -d' ' -f1
} | sha256sum | cut -d' ' -f1)
if [ -f "$dir/vmlinuz" ] && [ -f "$dir/initrd.img" ] &&
	[ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
	done_paths
	exit 0
fi

deb="$dir/debs/${pkg}_${ver//:/%3a}_amd64.deb"
if [ ! -f "$deb" ]; then
	say "downloading $pkg $ver"
	rm -rf "$dir/debs.tmp"
	mkdir -p "$dir/debs.tmp" "$dir/debs"
	(cd "$dir/debs.tmp" &&
		apt-get -q -o APT::Sandbox::User=root download "$pkg=$ver" \
			>/dev/null) || die "apt-get download $pkg=$ver failed"
	set -- "$dir/debs.tmp"/*.deb
	[ -f "$1" ] || die "apt-get download left no .deb"
	rm -f "$dir/debs"/*.deb
	mv "$1" "$deb"
	rmdir "$dir/debs.tmp"
fi

say "building from $pkg $ver"
work="$dir/build.$$"
rm -rf "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/k" "$work/root"
dpkg -x "$deb" "$work/k"
kver=${pkg#linux-image-}
[ -d "$work/k/lib/modules/$kver" ] || die "no modules for '$kver' in $deb"
[ -f "$work/k/boot/vmlinuz-$kver" ] || die "no vmlinuz-$kver in $deb"
depmod -b "$work/k" "$kver"

# Dependency-ordered module list, relative to /lib/modules in the guest.
moddir="$work/k/lib/modules/$kver"
r="$work/root"
mkdir -p "$r/etc" "$r/lib/modules"
modprobe -d "$work/k" -S "$kver" -a --show-depends "${modules[@]}" |
	awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$work/mods"
[ -s "$work/mods" ] || die "module resolution found nothing"
: >"$r/etc/hx-modules"
while read -r m; do
	rel=${m#"$moddir"/}
	mkdir -p "$r/lib/modules/$(dirname "$rel")"
	cp "$m" "$r/lib/modules/$rel"
	echo "$rel" >>"$r/etc/hx-modules"
done <"$work/mods"

# busybox and its applet links.
mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/proc" "$r/sys" \
	"$r/dev" "$r/run" "$r/tmp" "$r/var"
cp "$busybox" "$r/bin/busybox"
"$busybox" --list-full | while read -r a; do
	[ "$a" = bin/busybox ] || ln -sf /bin/busybox "$r/$a"
done
install -m 0755 "$here/init" "$r/init"
cat >"$r/etc/udhcpc.script" <<'EOF'
#!/bin/sh
case "$1" in
deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	[ -n "$router" ] && ip route replace default via "${router%% *}" ;;
esac
exit 0
EOF
chmod 0755 "$r/etc/udhcpc.script"
# The kernel opens /dev/console before /init mounts devtmpfs.
if [ "$(id -u)" = 0 ]; then
	mknod -m 0600 "$r/dev/console" c 5 1
fi

# Reproducible: fixed mtimes, sorted names, no gzip timestamp.
find "$r" -exec touch -h -d @0 {} +
(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
	gzip -9n >"$work/initrd.img"
cp "$work/k/boot/vmlinuz-$kver" "$work/vmlinuz"
mv -f "$work/vmlinuz" "$dir/vmlinuz"
mv -f "$work/initrd.img" "$dir/initrd.img"
echo "$kver" >"$dir/kernel-version"
echo "$stamp" >"$dir/stamp"
say "built $(du -h "$dir/initrd.img" | cut -f1) initrd for $kver"
done_paths
