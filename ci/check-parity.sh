#!/usr/bin/env bash
# Parity gate (make parity; make ci runs it): the shipped Embedded Swift binary must print,
# byte for byte, what the full-Swift build prints: every --help text, usage and error message,
# exit code, reply and audit line of a fixed script of commands. Volatile values (temp paths,
# timestamps, pids, uptime, latencies) are replaced by placeholders before comparing.
#
#   ci/check-parity.sh FULL_BINARY EMBEDDED_BINARY
set -euo pipefail
full=${1:?usage: check-parity.sh FULL_BINARY EMBEDDED_BINARY} embedded=${2:?usage: check-parity.sh FULL_BINARY EMBEDDED_BINARY}
work=$(mktemp -d /tmp/remo-parity-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; [ -n "${PARITY_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
# systemd's side of LoadCredential= (the tests' harness): the same client for both brokers.
probe=$(dirname "$full")/CredentialProbe
[ -x "$probe" ] || { echo "parity: $probe is missing (swift build --build-tests)" >&2; exit 1; }

# The values pushed are dummies, not test secrets: `get` prints them, as it must.
secrets='{"gh":"parity-dummy-gh","aws":{"aws_access_key_id":"parity-dummy-id","aws_secret_access_key":"parity-dummy-key"}}'

run() {  # label, binary, arguments...: records stdout, stderr and the exit status
    local label=$1 bin=$2 status=0
    shift 2
    printf '### %s\n' "$label"
    env -i PATH=/usr/bin:/bin HOME=/nonexistent LC_ALL=C "$bin" "$@" </dev/null >"$work/out" 2>"$work/err" || status=$?
    printf -- '--- stdout\n'; cat "$work/out"
    printf -- '--- stderr\n'; cat "$work/err"
    printf -- '--- exit %s\n' "$status"
}

script() {  # binary, name: the whole fixed script
    local bin=$1 root=$work/$2
    mkdir -p "$root/projects/proj/.remo" "$root/projects/bad/.remo"
    : >"$root/empty.toml"
    printf 'schema_version = 1\nproject = "proj"\n[secrets.gh]\n[secrets.aws]\nfetch_as = "file"\nfile_path = "~/.aws/credentials"\nfile_mode = "0600"\ntemplate = "id={{aws_access_key_id}}\\n"\n' \
        >"$root/projects/proj/.remo/manifest.toml"
    printf 'schema_version = 1\nproject = "bad"\n[secrets.a]\nbogus = 1\n' >"$root/projects/bad/.remo/manifest.toml"
    printf '[units."parity.service"]\nsecrets = ["gh", "aws", "unpushed"]\n' >"$root/units.toml"
    printf '[units."parity"]\nsecrets = []\n' >"$root/bad-units.toml"
    run "serve with a bad [units] table" "$bin" serve --config "$root/bad-units.toml" --socket-dir "$root/run-bad"

    # Texts and usage errors that need no broker.
    run "no arguments" "$bin"
    for args in "--version" "--help" "help" "bogus" "serve --help" "config-reference" "hardening-report" \
        "status --help" "register --help" "unregister --help" "reload --help" "clear --help" "push --help" \
        "ping --help" "info --help" "get --help" "exec --help" "sync --help" "watch --help" "audit --help" \
        "register" "get" "status --bogus" "push --format xml" "exec" "watch" "audit --since nonsense --audit-log /nonexistent" \
        "serve --config /nonexistent/config.toml" "serve --bogus-flag" "serve --max-connections 0" \
        "status --socket-dir /nonexistent" "ping --socket /nonexistent/sock" \
        "exec --retry-seconds 0 --socket /nonexistent/sock -- /bin/true" "exec --watch" "sync --bogus" \
        "exec --watch --signal NOPE -- /bin/true" "exec --watch --on-env-change maybe -- /bin/true" \
        "sync --once --retry-seconds 0 --socket /nonexistent/sock"; do
        # shellcheck disable=SC2086
        run "$args" "$bin" $args
    done

    # A session against a broker of the same binary.
    "$bin" serve --config "$root/units.toml" --socket-dir "$root/run" --state-dir "$root/state" \
        --audit-log-path "$root/log/audit.log" 2>"$root/broker.stderr" &
    local broker=$!
    pids+=("$broker")
    for _ in $(seq 200); do [ -S "$root/run/admin.sock" ] && break; sleep 0.05; done
    local admin=(--socket-dir "$root/run") project=(--socket "$root/run/projects/proj/sock")
    run "register" "$bin" register proj "$root/projects/proj" "${admin[@]}"
    run "register again" "$bin" register proj "$root/projects/proj" "${admin[@]}"
    run "register invalid manifest" "$bin" register bad "$root/projects/bad" "${admin[@]}"
    run "register missing path" "$bin" register ghost "$root/projects/ghost" "${admin[@]}"
    run "get before push" "$bin" get gh "${project[@]}"
    run "sync before push" "$bin" sync --once --retry-seconds 0 "${project[@]}"
    printf '%s' "$secrets" >"$root/set.json"
    run "push" "$bin" push "$root/set.json" "${admin[@]}"
    printf 'A=1\nnot a line\n' >"$root/bad.env"
    run "push bad env" "$bin" push "$root/bad.env" --format env "${admin[@]}"
    run "ping" "$bin" ping "${project[@]}"
    run "info" "$bin" info "${project[@]}"
    run "info json" "$bin" info --json "${project[@]}"
    run "get scalar" "$bin" get gh "${project[@]}"
    run "get bundle" "$bin" get aws "${project[@]}"
    run "get denied" "$bin" get other "${project[@]}"
    run "get json" "$bin" get gh --json "${project[@]}"
    # SPEC §12: what systemd's LoadCredential= would receive (byte counts), then SIGHUP reloads.
    for id in gh aws aws.aws_access_key_id aws.nope unpushed other; do
        run "LoadCredential $id" "$probe" "$root/run/credentials.sock" parity.service "$id"
    done
    run "LoadCredential without a unit address" "$probe" "$root/run/credentials.sock" --unbound gh
    run "status with units" "$bin" status "${admin[@]}"
    printf 'bogus = 1\n' >"$root/units.toml"
    kill -HUP "$broker"; sleep 0.3
    printf '[units."other.service"]\nsecrets = ["gh"]\n' >"$root/units.toml"
    kill -HUP "$broker"; sleep 0.3
    run "audit --unit" "$bin" audit --unit parity.service --json --audit-log "$root/log/audit.log"
    run "sync once (home not on tmpfs)" "$bin" sync --once --retry-seconds 0 "${project[@]}"
    run "exec --watch (home not on tmpfs)" "$bin" exec --watch --retry-seconds 0 "${project[@]}" -- /bin/true
    printf 'schema_version = 1\nproject = "proj"\n[secrets.gh]\n[secrets.npm]\n' >"$root/projects/proj/.remo/manifest.toml"
    run "status (manifest changed)" "$bin" status "${admin[@]}"
    run "reload dry run" "$bin" reload proj --dry-run "${admin[@]}"
    run "reload" "$bin" reload proj "${admin[@]}"
    run "reload unknown" "$bin" reload nope "${admin[@]}"
    run "status json" "$bin" status --json "${admin[@]}"
    run "clear" "$bin" clear "${admin[@]}"
    run "unregister" "$bin" unregister proj "${admin[@]}"
    run "unregister again" "$bin" unregister proj "${admin[@]}"
    kill -TERM "$broker"
    wait "$broker" || true
    printf '### broker stderr\n'; cat "$root/broker.stderr"
    printf '### audit log\n'; cat "$root/log/audit.log"
    printf '### audit command\n'; env -i PATH=/usr/bin:/bin "$bin" audit --audit-log "$root/log/audit.log" --json 2>&1 || true
    printf '### audit.head\n'; cat "$root/state/audit.head"
    # SPEC §11: the chain verdicts (PASS, then each way of failing) must read the same.
    local verify=(audit --verify --state-dir "$root/state")
    run "audit verify pass" "$bin" "${verify[@]}" --audit-log "$root/log/audit.log"
    sed -E '3s/"event":"[a-z.]+"/"event":"forged"/' "$root/log/audit.log" >"$root/edited.log"
    run "audit verify edited" "$bin" "${verify[@]}" --audit-log "$root/edited.log"
    sed '4d' "$root/log/audit.log" >"$root/removed.log"
    run "audit verify removed" "$bin" "${verify[@]}" --audit-log "$root/removed.log"
    sed '5{h;d};6G' "$root/log/audit.log" >"$root/reordered.log"
    run "audit verify reordered" "$bin" "${verify[@]}" --audit-log "$root/reordered.log"
    { cat "$root/log/audit.log"; echo '{"ts":"2026-01-01T00:00:00.000000Z","event":"fetch"}'; printf '{"seq":9'; } >"$root/foreign.log"
    run "audit verify foreign" "$bin" "${verify[@]}" --audit-log "$root/foreign.log"
    head -n -2 "$root/log/audit.log" >"$root/cut.log"
    run "audit verify truncated" "$bin" "${verify[@]}" --audit-log "$root/cut.log"
    { cat "$root/log/audit.log"; printf '{"seq":9'; } >"$root/torn.log"
    run "audit verify torn" "$bin" audit --verify --state-dir "$root/nonexistent" --audit-log "$root/torn.log"
    run "audit verify unreadable" "$bin" "${verify[@]}" --audit-log "$root/log/audit.log" "$root/missing.log.1" "$root/log/audit.log"
    printf '### registry\n'; cat "$root/state/registry.json"
}

normalize() {  # root: placeholders for what differs between two runs by design
    sed -E -e "s|$1|ROOT|g" \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z/TIMESTAMP/g' \
        -e 's/"(pid|peer_pid|latency_us|uptime_seconds)":[0-9]+/"\1":N/g' -e 's/[0-9a-f]{64}/HASH/g' \
        -e 's/"revision":"[0-9a-f]+-[0-9a-f]+"/"revision":"REV"/g' \
        -e 's/(up|pid|uid) [0-9]+/\1 N/g' -e 's/\(pid [0-9]+\)/(pid N)/g'
}

script "$full" full | normalize "$work/full" >"$work/full.txt"
script "$embedded" embedded | normalize "$work/embedded" >"$work/embedded.txt"
checks=$(grep -c '^### ' "$work/full.txt")
if ! diff -u "$work/full.txt" "$work/embedded.txt" >"$work/diff"; then
    echo "parity: FAIL: the Embedded binary's output differs from the full-Swift build's:" >&2
    head -80 "$work/diff" >&2
    exit 1
fi
grep -q 'parity-dummy-gh' "$work/full.txt" || { echo "parity: FAIL: the session did not run (no get output)" >&2; exit 1; }
echo "parity: ok ($checks outputs identical, $(wc -l <"$work/full.txt") lines; $full vs $embedded)"
