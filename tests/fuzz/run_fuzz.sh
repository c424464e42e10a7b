#!/bin/sh
# Runs each libFuzzer target for a set time on its corpus, as `make fuzz`
# does, and records what happened.
#
#   run_fuzz.sh BINDIR WORKDIR SECONDS TARGET...
#
# BINDIR/fuzz_TARGET is the libFuzzer build. New inputs go to
# WORKDIR/corpus/TARGET (the committed seeds in tests/fuzz/corpus/TARGET and
# the regressions are read, never written); crashing inputs to
# WORKDIR/crashes/TARGET/; the full log to WORKDIR/logs/TARGET.log. A line per
# target ("TARGET: N executions in S s, C crashes") goes to stdout and to
# WORKDIR/summary.txt. Exits 1 when any target found a crash, failed, or
# reported no executions (so that a broken fuzz build fails `make fuzz`).
bindir=$1
work=$2
seconds=$3
shift 3
mkdir -p "$work/logs"
: > "$work/summary.txt"
status=0
for t in "$@"; do
    rm -rf "$work/crashes/$t"
    mkdir -p "$work/corpus/$t" "$work/crashes/$t"
    dirs="$work/corpus/$t"
    for d in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do
        [ -d "$d" ] && dirs="$dirs $d"
    done
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    start=$(date +%s)
    "$bindir/fuzz_$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/crashes/$t/" $dict $dirs \
        > "$work/logs/$t.log" 2>&1
    rc=$?
    end=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/logs/$t.log" | tail -n 1)
    crashes=$(find "$work/crashes/$t" -type f | wc -l)
    line="$t: ${execs:-?} executions in $((end - start)) s, $crashes crashes (exit $rc)"
    echo "$line" | tee -a "$work/summary.txt"
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        status=1
        if grep -q "ERROR\|graft fuzz:\|runtime error" "$work/logs/$t.log"; then
            grep -m 1 -A 30 "ERROR\|graft fuzz:\|runtime error" "$work/logs/$t.log" | head -n 40
        else
            tail -n 5 "$work/logs/$t.log"
        fi
        find "$work/crashes/$t" -type f | sed 's/^/    crashing input: /'
    elif [ "${execs:-0}" -eq 0 ]; then
        # exit 0 without libFuzzer's statistics: not a libFuzzer build, or it
        # never fuzzed
        status=1
        echo "$t: FAILED: no executions reported (is $bindir/fuzz_$t a libFuzzer build?)"
        tail -n 5 "$work/logs/$t.log"
    fi
done
exit $status
