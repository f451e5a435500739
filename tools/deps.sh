#!/bin/bash
# Installs every Debian 12 package Horcrux needs to build, run and test.
set -eu
pkgs=(build-essential autoconf automake libtool autoconf-archive pkg-config
	libdqlite-dev libraft-dev libuv1-dev libsqlite3-dev libmsgpack-dev
	libsodium-dev libmicrohttpd-dev libjansson-dev libgnutls28-dev
	libcurl4-gnutls-dev libcmocka-dev jq curl iproute2 procps clang
	libclang-rt-14-dev cppcheck wrk
	busybox-static cpio kmod qemu-system-x86 qemu-utils ovmf socat
	libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
	libvirt-dev libxml2-dev btrfs-progs libnl-3-dev libnl-route-3-dev
	libnftables-dev nftables dnsmasq-base frr
	libnfs-dev librbd-dev librados-dev qemu-block-extra
	nfs-ganesha nfs-ganesha-vfs rpcbind ceph-mon ceph-mgr ceph-osd
	ceph-common uuid-runtime)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
fi
