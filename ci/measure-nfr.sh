#!/usr/bin/env bash
# The SPEC §9 gates in one table: stripped size, start-up, idle RSS, warm get against the C
# echo baseline, push latency, throughput, soak and killtest. Fails (exit 1) when a *must*
# bound is crossed; the aims are printed beside each figure and only reported.
#
#   ci/measure-nfr.sh [--quick | --release] [--no-build] [--write-docs]
#     (default)    full latency samples, soak 60 s, killtest 20 rounds
#     --quick      the CI variant: short latency run, soak 60 s, killtest 20 rounds
#     --release    release gates: soak 1 h, killtest 100 rounds
#     --no-build   use dist/remo-broker, the built harnesses and .build/echo-baseline as they are
#     --write-docs also write the table, the machine and the date to docs/BENCHMARKS.md
set -euo pipefail
cd "$(dirname "$0")/.."

mode=default build=1 docs=0
for arg in "$@"; do
    case "$arg" in
        --quick) mode=quick ;;
        --release) mode=release ;;
        --no-build) build=0 ;;
        --write-docs) docs=1 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "measure-nfr.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

# A 60 s soak cannot tell malloc's ~2 MiB settling steps from a small leak (a 1 MiB bound
# failed a clean CI run with 1.25 MiB and no leak): 4 MiB catches gross leaks there; the 1 h
# release soak judges flatness at 1 MiB.
latency_args=() soak_args=(--duration 60s --warmup 40s --max-rss-growth 4 --hostile-tenant) kill_args=(--rounds 20)
case "$mode" in
    quick) latency_args=(--quick) ;;
    release) soak_args=(--duration 1h --max-rss-growth 1) kill_args=(--rounds 100) ;;
esac

if [ "$build" = 1 ]; then make --no-print-directory release bench-tools baseline; fi
broker=dist/remo-broker
tools="$(swift build -c release --static-swift-stdlib -Xswiftc -static-executable --show-bin-path)"
for f in "$broker" "$tools/LatencyBench" "$tools/Soak" "$tools/KillTest" .build/echo-baseline; do
    [ -x "$f" ] || { echo "measure-nfr.sh: $f missing (run without --no-build, or make release bench-tools baseline)" >&2; exit 2; }
done

started=$(date +%s)
rows=() notes=() failed=0
bytes=$(stat -c %s "$broker")
size=$(awk -v b="$bytes" 'BEGIN { printf "%.2f MiB", b / 1048576 }')
verdict=ok
[ "$bytes" -le $((2 * 1048576)) ] || verdict="aim missed"
[ "$bytes" -le $((5 * 1048576 / 2)) ] || { verdict=FAIL; failed=1; }
rows+=("| stripped static binary (Embedded Swift) | $size | ≤ 15 MiB (release gate ≤ 2.5 MiB) | ≤ 2 MiB | $verdict |")

run_tool() {  # name, args...: collects its Markdown rows and notes; a non-zero exit fails the run
    local name=$1 out rc=0
    shift
    echo "measure-nfr.sh: $name $*" >&2
    out=$("$tools/$name" --broker "$broker" --markdown "$@") || rc=$?
    while IFS= read -r line; do
        case "$line" in
            "|"*) rows+=("$line") ;;
            "- "*) notes+=("$line") ;;
        esac
    done <<< "$out"
    if [ "$rc" != 0 ]; then
        failed=1
        [ "$rc" = 1 ] || rows+=("| $name | exited with status $rc | - | - | FAIL |")
    fi
}
run_tool LatencyBench "${latency_args[@]}"
run_tool Soak "${soak_args[@]}"
run_tool KillTest "${kill_args[@]}"
elapsed=$(( $(date +%s) - started ))

table() {
    echo "| gate | measured | must (SPEC §9) | aim | verdict |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
}
table
printf '%s\n' "${notes[@]}"
echo "measure-nfr.sh: $mode run took ${elapsed}s; $([ $failed = 0 ] && echo 'every must holds' || echo 'a MUST IS CROSSED')"

if [ "$docs" = 1 ]; then
    {
        echo "# Benchmarks"
        echo
        echo "Table and notes written by \`bash ci/measure-nfr.sh $*\` (re-run it, do not edit them);"
        echo "the sections from \"Harnesses\" on are kept across runs."
        echo "The gates are SPEC §9's *must* bounds; the aims are the stricter targets the project set"
        echo "itself. \"aim missed\" is reported, not a failure. How each figure is measured: see"
        echo "[Harnesses](#harnesses) below."
        echo
        echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r)"
        echo "- toolchain: $(swift --version 2>/dev/null | head -1)"
        echo "- run: $mode, ${elapsed} s"
        echo
        table
        echo
        echo "## Notes"
        echo
        printf '%s\n' "${notes[@]}"
        echo
        sed -n '/^## Harnesses/,$p' docs/BENCHMARKS.md 2>/dev/null || true
    } > docs/BENCHMARKS.md.new
    mv docs/BENCHMARKS.md.new docs/BENCHMARKS.md
    echo "measure-nfr.sh: wrote docs/BENCHMARKS.md" >&2
fi
exit $failed
