#!/bin/bash
# Installs what is needed, builds with -Werror and ASan+UBSan, and runs the
# whole test suite: lint, unit, integration, fuzz corpus replay, and (as
# root) the network-namespace cluster tests. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
tools/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
build=build/test
if ! { autoreconf -fi >/dev/null 2>&1 && mkdir -p "$build" &&
	(cd "$build" && ../../configure -q --enable-werror --enable-sanitize >/dev/null) &&
	make -C "$build" -j"$(nproc)" >"$build/build.log" 2>&1; }; then
	tail -40 "$build/build.log" 2>/dev/null
	echo "0 passed, 1 failed"
	exit 1
fi
make -C "$build" check -j"$(nproc)" || true
if [ "$(id -u)" = 0 ]; then
	make -C "$build" check-cluster || true
fi
pass=0 fail=0
# clang -Werror over every file plus cppcheck: seconds, counted as one test.
if make -C "$build" lint >"$build/lint.log" 2>&1; then
	pass=1
else
	fail=1
	cat "$build/lint.log"
fi
for log in "$build/test-suite.log" "$build/cluster-suite.log"; do
	[ -f "$log" ] || continue
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
	x=$(sed -n 's/^# XPASS: *//p' "$log" | head -1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0} + ${e:-0} + ${x:-0}))
	[ "${f:-0}${e:-0}" = 00 ] || cat "$log"
done
[ -f "$build/test-suite.log" ] || fail=$((fail + 1))
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
