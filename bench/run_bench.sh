#!/bin/sh
# run_bench.sh - graft against PyTorch, workload by workload, interleaved.
#
#   sh bench/run_bench.sh BENCH_BUILD_DIR
#
# For every workload and thread count, runs graft's process (bench/models.c)
# and then PyTorch's (bench/torch_models.py), each in its own process so
# that the peak resident memory (VmHWM) is the workload's own. Then runs
# graft once more per workload at 1 thread with OPENBLAS_CORETYPE unset (in
# that command only), so OpenBLAS picks its kernel for this CPU, and prints
# the GEMM-efficiency table (bench/gemm_table.c).
#
# Settings (environment): BENCH_RUNS (timed runs, default 5), BENCH_WARMUP
# (untimed runs, default 1), BENCH_THREADS (default "1 2"), BENCH_WORKLOADS
# (default: all), BENCH_PYTHON (default /usr/bin/python3), BENCH_RAW (file
# that receives the raw result lines; default BENCH_BUILD_DIR/bench.txt).
set -u
dir=${1:?usage: run_bench.sh BENCH_BUILD_DIR}
here=$(dirname "$0")
runs=${BENCH_RUNS:-5}
warmup=${BENCH_WARMUP:-1}
threads=${BENCH_THREADS:-"1 2"}
workloads=${BENCH_WORKLOADS:-"lenet_train mnv2_train mnv2_infer16 mnv2_infer1 r18_train r18_infer16 r18_infer1 mnv2_frozen mnv2_cached"}
py=${BENCH_PYTHON:-/usr/bin/python3}
raw=${BENCH_RAW:-$dir/bench.txt}
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4

have_torch=0
if "$py" -c "import torch, torchvision" >/dev/null 2>&1; then
    have_torch=1
else
    echo "note: $py cannot import torch and torchvision: graft runs alone (no ratios)"
fi
preload=""
if [ -e "$tcmalloc" ]; then
    preload=$tcmalloc
elif [ $have_torch = 1 ]; then
    echo "note: $tcmalloc is missing (apt-get install libtcmalloc-minimal4): PyTorch runs with"
    echo "      glibc's allocator, which costs it up to 2x on MobileNetV2"
fi

# graft's processes get OPENBLAS_THREAD_TIMEOUT=4 unless it is set: OpenBLAS's
# idle worker threads then stop spinning soon after each product instead of
# competing with graft's own threads for the cores (see docs/PERFORMANCE.md).
# PyTorch's processes run OpenBLAS on one thread, where it changes nothing.
graft_timeout=${OPENBLAS_THREAD_TIMEOUT:-4}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores;" \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; graft with OPENBLAS_THREAD_TIMEOUT=$graft_timeout;" \
     "runs $runs after $warmup warm-up"
: > "$raw"
start=$(date +%s)
for w in $workloads; do
    for t in $threads; do
        OPENBLAS_NUM_THREADS=$t OPENBLAS_THREAD_TIMEOUT=$graft_timeout "$dir/models" "$w" \
            "$runs" "$warmup" >> "$raw" ||
            echo "graft $w threads=$t FAILED" >> "$raw"
        tail -n 1 "$raw"
        if [ $have_torch = 1 ]; then
            OPENBLAS_NUM_THREADS=1 LD_PRELOAD=$preload "$py" "$here/torch_models.py" "$w" "$t" \
                "$runs" "$warmup" >> "$raw" || echo "torch $w threads=$t FAILED" >> "$raw"
            tail -n 1 "$raw"
        fi
    done
done
for w in $workloads; do
    env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=1 OPENBLAS_THREAD_TIMEOUT=$graft_timeout \
        "$dir/models" "$w" "$runs" "$warmup" |
        sed 's/^graft /graft-auto /' >> "$raw" || echo "graft-auto $w threads=1 FAILED" >> "$raw"
    tail -n 1 "$raw"
done
echo "(workloads took $(( $(date +%s) - start )) s)"

# The table: one row per workload and thread count.
awk -v coretype="${OPENBLAS_CORETYPE:-unset}" '
function field(line, key,   i, n, parts, kv) {
    n = split(line, parts, " ")
    for (i = 3; i <= n; i++) { split(parts[i], kv, "="); if (kv[1] == key) return kv[2] }
    return ""
}
{
    key = $2 " " field($0, "threads")
    if ($0 ~ /FAILED/) { failed[$1 " " key] = 1; next }
    med[$1 " " key] = field($0, "median"); lo[$1 " " key] = field($0, "min")
    hi[$1 " " key] = field($0, "max"); mem[$1 " " key] = field($0, "hwm_kib")
    core[$1 " " key] = field($0, "core")
    if (!(key in seen) && $1 != "graft-auto") { seen[key] = 1; order[++n] = key }
}
END {
    printf "\nimages/s, median [min-max]; ratio = graft / PyTorch; peak RSS (VmHWM) in MiB\n"
    printf "%-13s %3s  %-26s %-26s %6s  %7s %7s %6s\n", "workload", "thr", "graft", "pytorch",
           "ratio", "graftMB", "torchMB", "mem"
    for (i = 1; i <= n; i++) {
        k = order[i]; split(k, p, " ")
        g = "graft " k; t = "torch " k
        gs = (g in med) ? sprintf("%.1f [%.1f-%.1f]", med[g], lo[g], hi[g]) : "FAILED"
        ts = (t in med) ? sprintf("%.1f [%.1f-%.1f]", med[t], lo[t], hi[t]) : "-"
        r = ((g in med) && (t in med) && med[t] > 0) ? sprintf("%.2f", med[g] / med[t]) : "-"
        gm = (g in mem) ? sprintf("%.0f", mem[g] / 1024) : "-"
        tm = (t in mem) ? sprintf("%.0f", mem[t] / 1024) : "-"
        mr = ((g in mem) && (t in mem) && mem[t] > 0) ? sprintf("%.2f", mem[g] / mem[t]) : "-"
        printf "%-13s %3s  %-26s %-26s %6s  %7s %7s %6s\n", p[1], p[2], gs, ts, r, gm, tm, mr
    }
    printf "\ngraft at 1 thread: OPENBLAS_CORETYPE=%s against unset (OpenBLAS chooses)\n", coretype
    printf "%-13s %-12s %10s %-12s %10s %12s\n", "workload", "kernel", "images/s", "kernel",
           "images/s", "ratio(torch)"
    for (i = 1; i <= n; i++) {
        k = order[i]; split(k, p, " ")
        if (p[2] != 1) continue
        g = "graft " k; a = "graft-auto " k; t = "torch " k
        if (!(g in med) || !(a in med)) continue
        r = ((t in med) && med[t] > 0) ? sprintf("%.2f", med[a] / med[t]) : "-"
        printf "%-13s %-12s %10.1f %-12s %10.1f %12s\n", p[1], core[g], med[g], core[a], med[a], r
    }
}' "$raw"

echo
OPENBLAS_NUM_THREADS=1 "$dir/gemm_table"
