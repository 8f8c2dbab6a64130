#!/usr/bin/env bash
# Regenerates the generated tables in the docs from their single sources of truth:
#   docs/security.md   syscall table   ← `remo-broker hardening-report`  (SyscallAllowlist.swift)
#   docs/operations.md config keys     ← `remo-broker config-reference` (Config/ConfigKeys.swift)
# Everything between a table's begin and end markers is replaced; tests fail until this is run.
#   ci/update-generated-docs.sh .build/debug/remo-broker
set -euo pipefail
binary=${1:?usage: update-generated-docs.sh PATH-TO-remo-broker}
docs="$(cd "$(dirname "$0")/.." && pwd)/docs"

splice() {  # splice DOC MARKER-NAME COMMAND
    local doc=$1 name=$2 table
    table=$(mktemp)
    "$binary" "$3" > "$table"
    awk -v begin="<!-- $name:begin" -v end="<!-- $name:end -->" -v table="$table" '
        index($0, begin) == 1 { print; while ((getline line < table) > 0) print line; skipping = 1; next }
        index($0, end) == 1 { skipping = 0 }
        !skipping { print }' "$doc" > "$doc.new"
    rm -f "$table"
    grep -q "<!-- $name:begin" "$doc.new" || { echo "$doc has no $name markers" >&2; rm -f "$doc.new"; exit 1; }
    mv "$doc.new" "$doc"
    echo "updated $doc ($name)"
}
splice "$docs/security.md" syscall-table hardening-report
splice "$docs/operations.md" config-reference config-reference
