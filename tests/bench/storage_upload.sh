#!/bin/bash
# ISO upload throughput for docs/benchmarks.md: one hxd on loopback, a
# directory pool in a temporary directory, a BENCH_ISO_MB MiB file (256)
# of random data on the same disk. Medians of BENCH_ISO_RUNS runs (5):
#   cp:     cp + sync of the file into the pool's directory (the baseline);
#   cpsum:  cp + sha256sum + sync, what a careful admin does by hand;
#   unix:   PUT through the control socket (curl), checksum verified;
#   https:  the same through HTTPS with a token (TLS on loopback);
#   hxctl:  hxctl storage upload (the unix socket).
# Not a test: prints figures. Use a build without sanitizers. Bounded.
set -u
top_builddir=${top_builddir:-$PWD}
MB=${BENCH_ISO_MB:-256}
RUNS=${BENCH_ISO_RUNS:-5}
if grep -q '^HX_CFLAGS = .*-fsanitize' "$top_builddir/Makefile" 2>/dev/null; then
	echo "bench upload: build without --enable-sanitize"
	exit 1
fi
work=$(mktemp -d /tmp/hx-bench-iso-XXXXXX)
port=$((20000 + RANDOM % 20000))
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/pool"
"$top_builddir/hxd" --data-dir "$work/data" --name solo --address 127.0.0.1 \
	--api-port "$port" --peer-port $((port + 1)) \
	--libvirt-uri test:///default >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$work/data/hxd.sock" ] && break; sleep 0.1; done
"$top_builddir/hxctl" --data-dir "$work/data" cluster init --name bench >/dev/null || exit 1
token=$(cat "$work/data/admin.token")
curl -s --unix-socket "$work/data/hxd.sock" -X POST -d \
	"{\"name\":\"isos\",\"type\":\"dir\",\"path\":\"$work/pool\",\"content\":[\"iso\"]}" \
	http://x/api/v1/storage/pools >/dev/null
head -c $((MB << 20)) /dev/urandom >"$work/src.iso"
sum=$(sha256sum "$work/src.iso" | cut -d' ' -f1)
sync

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
free_iso() {
	curl -s -o /dev/null --unix-socket "$work/data/hxd.sock" -X DELETE \
		http://x/api/v1/storage/pools/isos/volumes/b.iso
	rm -f "$work/pool/b.iso"
	sync
}
declare -A T
for _ in $(seq "$RUNS"); do
	t0=$(date +%s%N)
	cp "$work/src.iso" "$work/pool/b.iso" && sync
	T[cp]+="$(ms "$t0") "
	free_iso
	t0=$(date +%s%N)
	cp "$work/src.iso" "$work/pool/b.iso" && sha256sum "$work/pool/b.iso" >/dev/null && sync
	T[cpsum]+="$(ms "$t0") "
	free_iso
	t0=$(date +%s%N)
	c=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$work/data/hxd.sock" \
		-T "$work/src.iso" "http://x/api/v1/storage/pools/isos/iso/b.iso?sha256=$sum")
	[ "$c" = 201 ] || { echo "upload failed: $c"; exit 1; }
	T[unix]+="$(ms "$t0") "
	free_iso
	t0=$(date +%s%N)
	c=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
		-T "$work/src.iso" "https://127.0.0.1:$port/api/v1/storage/pools/isos/iso/b.iso?sha256=$sum")
	[ "$c" = 201 ] || { echo "https upload failed: $c"; exit 1; }
	T[https]+="$(ms "$t0") "
	free_iso
	t0=$(date +%s%N)
	"$top_builddir/hxctl" --data-dir "$work/data" storage upload isos "$work/src.iso" \
		--name b.iso --sha256 "$sum" >/dev/null || { echo "hxctl upload failed"; exit 1; }
	T[hxctl]+="$(ms "$t0") "
	free_iso
done
cpm=$(echo "${T[cp]}" | tr ' ' '\n' | grep . | median)
echo "# ISO upload, $MB MiB, $(date -u +'%Y-%m-%d %H:%M UTC'), $RUNS runs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| how | median | MiB/s | vs cp |"
echo "|---|---|---|---|"
for k in cp cpsum unix https hxctl; do
	m=$(echo "${T[$k]}" | tr ' ' '\n' | grep . | median)
	awk -v k="$k" -v m="$m" -v mb="$MB" -v c="$cpm" \
		'BEGIN { printf "| %s | %d ms | %.0f | %.2f |\n", k, m, mb * 1000 / m, m / c }'
done
