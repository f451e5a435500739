#!/bin/sh
# Replays the hxctl fuzz corpus through the fuzz target (make check).
exec "${top_builddir:-.}/tests/fuzz/replay_hxctl" \
	"${top_srcdir:-.}/tests/fuzz/corpus/hxctl"
