#!/bin/sh
# Replays the msg fuzz corpus through the fuzz target (make check).
exec "${top_builddir:-.}/tests/fuzz/replay_msg" \
	"${top_srcdir:-.}/tests/fuzz/corpus/msg"
