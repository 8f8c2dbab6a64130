#!/usr/bin/env bash
# Release gate: the binary is fully static and within the size bound (SPEC §9: must ≤ 15 MiB).
set -euo pipefail
binary=${1:?usage: check-static-binary.sh PATH}
size=$(stat -c %s "$binary")
limit=$((15 * 1024 * 1024))
mib=$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')
printf 'release binary: %s, %d bytes (%s MiB) stripped; must <= 15 MiB, aim <= 7 MiB\n' \
    "$binary" "$size" "$mib"
ldd_out=$(ldd "$binary" 2>&1 || true)
if ! grep -qE 'not a dynamic executable|statically linked' <<<"$ldd_out"; then
    echo "FAIL: $binary is dynamically linked:" >&2
    echo "$ldd_out" >&2
    exit 1
fi
echo "ldd: $ldd_out"
"$binary" --version
if (( size > limit )); then
    echo "FAIL: stripped binary is $size bytes, over the 15 MiB bound" >&2
    exit 1
fi
