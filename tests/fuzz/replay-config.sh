#!/bin/sh
# Replays the config fuzz corpus through the fuzz target (make check).
exec "${top_builddir:-.}/tests/fuzz/replay_config" \
	"${top_srcdir:-.}/tests/fuzz/corpus/config"
