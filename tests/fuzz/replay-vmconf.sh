#!/bin/sh
# Replays the vmconf fuzz corpus through the fuzz target (make check).
exec "${top_builddir:-.}/tests/fuzz/replay_vmconf" \
	"${top_srcdir:-.}/tests/fuzz/corpus/vmconf"
