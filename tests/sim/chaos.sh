#!/bin/bash
# Safety under random faults: every scenario of $HX_HA_SCENARIOS (default
# $top_srcdir/../shared/pve-ha-scenarios) and of tests/sim/scenarios runs
# with 40 random fault batches (network and power cuts, reboots,
# shutdowns, hung agents) for seeds 1..$HX_CHAOS_SEEDS (default 4).
# hx-sim exits 3 when a resource started while running elsewhere, was
# recovered while its old node still ran it, or ran next to a resource it
# must stay apart from. The failing seed is printed; rerun it with
#   hx-sim --chaos 40 --seed N DIR
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
dir=${HX_HA_SCENARIOS:-$top_srcdir/../shared/pve-ha-scenarios}
sim=$top_builddir/tests/sim/hx-sim
seeds=${HX_CHAOS_SEEDS:-4}

if [ ! -d "$dir" ]; then
	echo "FAIL: scenario directory '$dir' not found" \
		"(set HX_HA_SCENARIOS to the pve-ha-scenarios folder)" >&2
	exit 1
fi
pass=0 fail=0
for d in "$dir"/test-*/ "$top_srcdir"/tests/sim/scenarios/test-*/; do
	for seed in $(seq 1 "$seeds"); do
		if "$sim" --final --chaos 40 --seed "$seed" "$d" >/dev/null \
			2>"${TMPDIR:-/tmp}/hx-chaos.$$"; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			echo "FAIL: $(basename "$d") seed $seed:" \
				"$(cat "${TMPDIR:-/tmp}/hx-chaos.$$")"
		fi
	done
done
rm -f "${TMPDIR:-/tmp}/hx-chaos.$$"
echo "chaos: $pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
