#!/bin/bash
# Runs every Proxmox VE HA regression scenario through hx-sim and compares
# the service lines and fenced_nodes of its FINAL block with expected.txt.
# Scenarios with a legacy-groups/ folder run a second time in that form.
# The directory is $HX_HA_SCENARIOS, default $top_srcdir/../shared/
# pve-ha-scenarios; a missing directory is a failure, not a skip.
# Usage: scenarios.sh [-v] [NAME...]   (-v: show the diff of failures)
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
dir=${HX_HA_SCENARIOS:-$top_srcdir/../shared/pve-ha-scenarios}
sim=$top_builddir/tests/sim/hx-sim
verbose=0
if [ "${1:-}" = -v ]; then verbose=1; shift; fi

if [ ! -d "$dir" ]; then
	echo "FAIL: scenario directory '$dir' not found" \
		"(set HX_HA_SCENARIOS to the pve-ha-scenarios folder)" >&2
	exit 1
fi
if [ ! -x "$sim" ]; then
	echo "FAIL: $sim not built" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The lines we compare: services and fenced_nodes.
pick() { grep -E '^(service |fenced_nodes=)' "$1"; }

pass=0 fail=0 failed=""
run_one() { # name label args...
	local name=$1 label=$2; shift 2
	local exp=$tmp/exp out=$tmp/out rc
	sed -n '/^FINAL/,$p' "$dir/$name/expected.txt" | sed 1d >"$exp.all"
	pick "$exp.all" >"$exp"
	"$sim" --final "$@" "$dir/$name" >"$out.all" 2>"$tmp/err"
	rc=$?
	pick "$out.all" >"$out" 2>/dev/null
	if [ $rc -eq 0 ] && [ -s "$exp" ] && cmp -s "$exp" "$out"; then
		pass=$((pass + 1))
		echo "PASS: $label"
	else
		fail=$((fail + 1))
		failed="$failed $label"
		echo "FAIL: $label (exit $rc)"
		if [ $verbose = 1 ] || [ $rc -ne 0 ]; then
			cat "$tmp/err"
			diff -u "$exp" "$out" | sed 's/^/    /'
		fi
	fi
}

# expected-log (our scenarios): checks on the event log of the default run,
# one per line: "has: RE", "never: RE", "before: RE1 :: RE2" (the first line
# matching RE1 comes before the first matching RE2). grep -E syntax.
check_log() { # name
	local name=$1 log=$tmp/log line a b la lb bad=0
	[ -f "$dir/$name/expected-log" ] || return 0
	"$sim" "$dir/$name" >"$log" 2>&1
	while IFS= read -r line; do
		case "$line" in
		has:*)
			grep -qE -- "${line#has: }" "$log" ||
				{ echo "    log lacks: ${line#has: }"; bad=1; } ;;
		never:*)
			! grep -qE -- "${line#never: }" "$log" ||
				{ echo "    log has: ${line#never: }"; bad=1; } ;;
		before:*)
			a=${line#before: }; b=${a#* :: }; a=${a% :: *}
			la=$(grep -nE -- "$a" "$log" | head -1 | cut -d: -f1)
			lb=$(grep -nE -- "$b" "$log" | head -1 | cut -d: -f1)
			if [ -z "$la" ] || [ -z "$lb" ] || [ "$la" -ge "$lb" ]; then
				echo "    not in order: '$a' (line ${la:-none})" \
					"before '$b' (line ${lb:-none})"
				bad=1
			fi ;;
		"" | \#*) ;;
		*) echo "    bad expected-log line: $line"; bad=1 ;;
		esac
	done <"$dir/$name/expected-log"
	if [ $bad = 0 ]; then
		pass=$((pass + 1)); echo "PASS: $name (log)"
	else
		fail=$((fail + 1)); failed="$failed $name(log)"
		echo "FAIL: $name (log)"
	fi
}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for d in "$dir"/test-*/; do names+=("$(basename "$d")"); done
fi
if [ ${#names[@]} -eq 0 ]; then
	echo "FAIL: no scenarios in '$dir'" >&2
	exit 1
fi
for name in "${names[@]}"; do
	run_one "$name" "$name"
	check_log "$name"
	# a second seed changes leader elections; outcomes must not change
	run_one "$name" "$name --seed 7" --seed 7
	if [ -d "$dir/$name/legacy-groups" ]; then
		run_one "$name" "$name --legacy" --legacy
	fi
done
echo "scenarios: $pass passed, $fail failed${failed:+:$failed}"
[ $fail -eq 0 ]
