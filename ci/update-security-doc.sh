#!/usr/bin/env bash
# Regenerates the syscall table in docs/security.md from the Swift allowlist
# (Sources/BrokerCore/Hardening/SyscallAllowlist.swift), the single source of truth:
# everything between the syscall-table markers is replaced by `remo-broker hardening-report`.
#   ci/update-security-doc.sh .build/debug/remo-broker
set -euo pipefail
binary=${1:?usage: update-security-doc.sh PATH-TO-remo-broker}
doc="$(cd "$(dirname "$0")/.." && pwd)/docs/security.md"
"$binary" hardening-report > "$doc.table"
python3 - "$doc" "$doc.table" <<'PY'
import sys
doc, table = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
text = open(doc).read()
begin = text.index("<!-- syscall-table:begin")
begin = text.index("\n", begin) + 1
end = text.index("<!-- syscall-table:end -->")
open(doc, "w").write(text[:begin] + table + "\n" + text[end:])
PY
rm -f "$doc.table"
echo "updated $doc"
