#!/bin/bash
# Installs what is needed, builds, and starts a single-node Horcrux on this
# machine (data in /var/lib/horcrux, log in /var/log/hxd.log).
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
autoreconf -fi >/dev/null 2>&1
mkdir -p build/run
(cd build/run && ../../configure -q >/dev/null)
make -C build/run -j"$(nproc)" >/dev/null
make -C build/run install >/dev/null
addr=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
addr=${addr:-127.0.0.1}
dir=/var/lib/horcrux
if ! [ -S "$dir/hxd.sock" ] || ! hxctl --data-dir "$dir" cluster status >/dev/null 2>&1; then
	nohup hxd --data-dir "$dir" --name "$(hostname -s | tr 'A-Z_' 'a-z-')" \
		--address "$addr" >>/var/log/hxd.log 2>&1 &
	for _ in $(seq 50); do [ -S "$dir/hxd.sock" ] && break; sleep 0.1; done
fi
if hxctl --data-dir "$dir" --json cluster status | jq -e '.initialized == false' >/dev/null; then
	hxctl --data-dir "$dir" cluster init --name horcrux
fi
hxctl --data-dir "$dir" cluster status
cat <<MSG

Horcrux is running (hxd on $addr, API https://$addr:8006, log /var/log/hxd.log).
Try next:
  hxctl --data-dir $dir node list
  hxctl --data-dir $dir cluster token      # then on another node: hxctl cluster join $addr TOKEN
  hxctl --data-dir $dir events
  curl --cacert $dir/tls/ca.crt -H "Authorization: Bearer \$(cat $dir/admin.token)" https://$addr:8006/api/v1/cluster
MSG
