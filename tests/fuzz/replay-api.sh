#!/bin/sh
# Replays the api fuzz corpus through the fuzz target (make check).
exec "${top_builddir:-.}/tests/fuzz/replay_api" \
	"${top_srcdir:-.}/tests/fuzz/corpus/api"
