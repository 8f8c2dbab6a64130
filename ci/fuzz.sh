#!/usr/bin/env bash
# Builds the libFuzzer binary (Sources/RemoFuzz, -sanitize=fuzzer,address, its own scratch
# path .build-fuzz so the normal build is untouched) and runs every target for SECONDS.
# Seeds: fuzz/corpus/<target> (committed) plus the conformance suites read in place
# ($REMO_CONFORMANCE_DIR or Tests/Fixtures/conformance). New inputs go to .build-fuzz/corpus,
# crashes to .build-fuzz/artifacts/<target>/; any crash fails the run. A crash input, once
# fixed, belongs in fuzz/corpus/<target>/ (FuzzCorpusTests replays it in every test run).
#   ci/fuzz.sh 60                     # every target, 60 s each
#   FUZZ_TARGETS="json wire" ci/fuzz.sh 300
set -euo pipefail
seconds=${1:-60}
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
targets=${FUZZ_TARGETS:-json toml wire manifest keyvalue registry config}
conformance=${REMO_CONFORMANCE_DIR:-$repo/Tests/Fixtures/conformance}
[ -d "$conformance/json-test-suite/test_parsing" ] && [ -d "$conformance/toml-test/tests" ] || {
    echo "fuzz: conformance suites not found in $conformance (set REMO_CONFORMANCE_DIR)" >&2; exit 1; }

# lld: gold crashes (internal error in format_file_lineno) linking the ASan+fuzzer objects.
start=$(date +%s)
fuzzer=.build-fuzz/release/RemoFuzz
mkdir -p .build-fuzz && rm -f "$fuzzer"  # a failed build must not leave an older fuzzer to run
if ! swift build --scratch-path .build-fuzz -c release --product RemoFuzz -Xswiftc -sanitize=fuzzer,address \
    -Xswiftc -DREMO_FUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld > .build-fuzz/build.log 2>&1; then
    grep -E 'error|warning:' .build-fuzz/build.log | sort -u | head -40 >&2
    echo "fuzz: build failed (full log: .build-fuzz/build.log)" >&2; exit 1
fi
[ -x "$fuzzer" ] || { echo "fuzz: build produced no $fuzzer" >&2; exit 1; }
echo "fuzz: built $fuzzer in $(( $(date +%s) - start )) s"

seeds() {  # extra seed directories of a target (read, never written)
    case $1 in
        json | wire | registry) echo "$conformance/json-test-suite/test_parsing" ;;
        toml | manifest) echo "$conformance/toml-test/tests/valid $conformance/toml-test/tests/invalid" ;;
    esac
}

failed=0
summary="target   seconds  executions  exec/s  new-units  result"
for target in $targets; do
    work=.build-fuzz/corpus/$target artifacts=.build-fuzz/artifacts/$target log=.build-fuzz/logs/$target.log
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    # shellcheck disable=SC2046
    if REMO_FUZZ_TARGET=$target "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=2048 -max_len=8192 -artifact_prefix="$artifacts/" \
        "$work" "fuzz/corpus/$target" $(seeds "$target") >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see $log; inputs in $artifacts/)"
        failed=1
    fi
    stat() { awk -v k="stat::$1:" '$1 == k { print $2 }' "$log" | tail -1; }
    summary+=$(printf '\n%-8s %7s  %10s  %6s  %9s  %s' "$target" "$seconds" "$(stat number_of_executed_units)" \
        "$(stat average_exec_per_sec)" "$(stat new_units_added)" "$result")
done
echo "$summary"
echo "fuzz: total $(( $(date +%s) - start )) s"
if [ "$failed" != 0 ]; then
    grep -h -A30 'ERROR: libFuzzer\|ERROR: AddressSanitizer\|Fatal error' .build-fuzz/logs/*.log | head -60 >&2 || true
    exit 1
fi
