#!/usr/bin/env bash
# Leak gate (make leak-check; make ci runs it after `make test`). Two checks:
# 1. Every test secret value starts with the SecretMarker prefix (Sources/BrokerHarness/
#    SecretMarker.swift). After the suite, no output may contain it: the test log
#    (.build/test-logs), every audit log, broker/client stdout and stderr, state and log dir
#    the tests left (.build/test-keep: `make test` sets REMO_TEST_KEEP_DIR, TempDirectory
#    moves its directories there), the rest of the build tree, dist/ and untracked files.
#    Test *inputs* (secret files a test wrote on purpose) are not outputs and are not
#    scanned; neither are objects and binaries compiled from the test sources.
#    Nor may any contain Embedded Swift's "cannot print value" fallback: an interpolation of a
#    value the Embedded runtime cannot describe compiles silently and prints that instead.
# 2. No tracked file holds a secret-looking string (AWS key ids, GitHub tokens, private key
#    headers, Slack and Google API tokens). A line may opt out with `leak-check: allow (why)`.
# It first proves it can fail: both scans must find what it plants in a scratch directory.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# Assembled, so that this file itself never contains the marker.
marker="REMO_TEST""_MARKER_"
secret_patterns='AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,}|-----BEGIN ([A-Z]+ )*PRIVATE KEY( BLOCK)?-----|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}'
failures=0
fail() { echo "leak-check: FAIL: $*" >&2; failures=$((failures + 1)); }

# Files (NUL-separated on stdin) that contain the marker.
marker_hits() { xargs -0 -r grep -l --binary-files=text -F -- "$marker" 2>/dev/null || true; }
# Files (NUL-separated on stdin) with Embedded Swift's unprintable-value fallback text.
unprintable="cannot print value"
unprintable_hits() { xargs -0 -r grep -l --binary-files=text -F -- "$unprintable" 2>/dev/null || true; }
# Tracked-style files (NUL-separated on stdin): secret-looking lines without an opt-out.
secret_hits() { xargs -0 -r grep -nIE -- "$secret_patterns" 2>/dev/null | grep -v 'leak-check: allow' || true; }
# Broker and client outputs inside a kept test directory.
outputs_in() {
    find "$1" -type f \( -name 'audit.log*' -o -name '*.stderr' -o -name '*.stdout' -o -name 'registry.json*' \
        -o -path '*/state/*' -o -path '*/log/*' -o -path '*/run/*' \) -print0
}
# Compiled from the test sources, which hold marker literals on purpose.
compiled() { case $1 in *.o | *.swiftmodule | *.swiftdoc | *.swiftsourceinfo) return 0 ;; esac; [ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ] && [ "$(od -An -tu2 -j16 -N2 "$1" | tr -d ' ')" != 4 ]; }  # a core dump (ET_CORE) is always scanned

# --- the gate can fail ---------------------------------------------------------------
scratch=$(mktemp -d /tmp/remo-leakcheck-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/t/log" "$scratch/t/state"
printf '{"event":"fetch","value":"%sselfcheck"}\n' "$marker" > "$scratch/t/log/audit.log"
printf 'remo-broker: %s in embedded Swift\n' "$unprintable" > "$scratch/t/broker.stderr"
printf 'ok\n' > "$scratch/t/state/registry.json"
printf 'key = "%s%s"\n' "AKIA" "ABCDEFGHIJKLMNOP" > "$scratch/planted.txt"
[ "$(outputs_in "$scratch/t" | marker_hits)" = "$scratch/t/log/audit.log" ] || fail "self-check: the marker scan missed a planted marker"
[ -n "$(printf '%s\0' "$scratch/planted.txt" | secret_hits)" ] || fail "self-check: the secret scan missed a planted AWS key id"
[ "$(outputs_in "$scratch/t" | unprintable_hits)" = "$scratch/t/broker.stderr" ] || fail "self-check: the unprintable-value scan missed a planted line"
[ "$failures" = 0 ] || exit 1

# --- 1. marker in outputs ------------------------------------------------------------
logs=.build/test-logs keep=.build/test-keep
[ -s "$logs/swift-test.log" ] || fail "no test log in $logs: run \`make test\` first (it keeps the test outputs)"
[ -d "$keep" ] && [ -n "$(find "$keep" -path '*/log/audit.log' -print -quit)" ] \
    || fail "no kept test directories with audit logs in $keep: run \`make test\` first"
report() { while IFS= read -r hit; do [ -n "$hit" ] && fail "marker in $1: $hit"; done; }
report "a test output" < <({ find "$logs" -type f -print0; [ -d "$keep" ] && outputs_in "$keep"; } | marker_hits)
scanned=$(( $(find "$logs" -type f | wc -l) + $( [ -d "$keep" ] && outputs_in "$keep" | tr -cd '\0' | wc -c || echo 0) ))
skipped=0
while IFS= read -r hit; do
    [ -n "$hit" ] || continue
    if compiled "$hit"; then skipped=$((skipped + 1)); else fail "marker in the build tree: $hit"; fi
done < <(find .build -path .build/test-keep -prune -o -path .build/test-logs -prune -o -type f -print0 | marker_hits)
while IFS= read -r hit; do [ -n "$hit" ] && fail "Embedded Swift printed an unprintable value (\"$unprintable\") in $hit"; done \
    < <({ find "$logs" -type f -print0; [ -d "$keep" ] && outputs_in "$keep"; } | unprintable_hits)
report "dist/ or an untracked file" < <({ [ -d dist ] && find dist -type f -print0; git ls-files -z --others --exclude-standard; } | marker_hits)

# --- 2. secret-looking strings in the repository ---------------------------------------
while IFS= read -r hit; do [ -n "$hit" ] && fail "secret-looking string committed: ${hit:0:160}"; done < <(git ls-files -z | secret_hits)

if [ "$failures" != 0 ]; then echo "leak-check: $failures finding(s)" >&2; exit 1; fi
echo "leak-check: ok ($scanned test outputs, the build tree ($skipped compiled test artefacts skipped), dist/ and $(git ls-files | wc -l) tracked files; self-check passed)"
