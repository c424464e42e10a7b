#!/bin/sh
# Replays every fuzz target's seed corpus and crash regressions through its
# plain build (tests/fuzz/replay.c), as `make test` does.
#
#   replay_all.sh BINDIR TARGET...
#
# BINDIR holds one program per target, named after it. Each target reads
# tests/fuzz/corpus/TARGET/ and tests/fuzz/regressions/TARGET/ (either may be
# missing, not both). Prints each target's summary, then the total as
# "N passed, N failed"; exits 1 when anything failed.
bindir=$1
shift
passed=0
failed=0
for t in "$@"; do
    dirs=""
    for d in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do
        [ -d "$d" ] && dirs="$dirs $d"
    done
    if [ -z "$dirs" ]; then
        echo "fuzz replay $t: no corpus or regression folder"
        failed=$((failed + 1))
        continue
    fi
    out=$("$bindir/$t" -q $dirs 2>&1)
    printf '%s\n' "$out" | sed "s/^/fuzz replay /"
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ] || [ -z "$f" ]; then
        echo "fuzz replay $t: no summary line (the replay program itself failed)"
        failed=$((failed + 1))
        continue
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
