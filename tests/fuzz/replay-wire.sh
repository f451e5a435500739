#!/bin/sh
# Replays the wire fuzz corpus through the fuzz target (make check).
exec "${top_builddir:-.}/tests/fuzz/replay_wire" \
	"${top_srcdir:-.}/tests/fuzz/corpus/wire"
