#!/usr/bin/env python3
"""Where the release binary's bytes are: `nm --size-sort -S` of the unstripped Embedded build,
each symbol attributed to the archive that defines it (glibc, libseccomp, libcap, the Embedded
Unicode tables) or, for Swift symbols, to the module in its mangled name.

    python3 ci/size-breakdown.py [.build-embedded/release/remo-broker]
"""
import collections, re, subprocess, sys

binary = sys.argv[1] if len(sys.argv) > 1 else ".build-embedded/release/remo-broker"
archives = {
    "glibc (static)": "/usr/lib/x86_64-linux-gnu/libc.a",
    "libm": "/usr/lib/x86_64-linux-gnu/libm.a",
    "libseccomp": "/usr/lib/x86_64-linux-gnu/libseccomp.a",
    "libcap": "/usr/lib/x86_64-linux-gnu/libcap.a",
}
toolchain = subprocess.run(["sh", "-c", "dirname $(readlink -f $(command -v swift))"], capture_output=True, text=True).stdout.strip()
archives["Swift Unicode tables"] = toolchain + "/../lib/swift/embedded/x86_64-unknown-linux-gnu/libswiftUnicodeDataTables.a"

owner = {}
for name, path in archives.items():
    out = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            owner.setdefault(parts[2], name)

totals = collections.Counter()
counts = collections.Counter()
out = subprocess.run(["nm", "--size-sort", "-S", binary], capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    parts = line.split()
    if len(parts) < 4:
        continue
    size, symbol = int(parts[1], 16), parts[3]
    if symbol in owner:
        group = owner[symbol]
    elif symbol.startswith(("$e", "$s")):
        match = re.match(r"\$[es](\d+)(\w+)", symbol)
        module = match.group(2)[: int(match.group(1))] if match else ""
        if module in ("BrokerCore", "BrokerClient", "remo_broker"):
            group = "Swift: " + module
        else:
            group = "Swift: stdlib specialisations and runtime"
    elif symbol.startswith(("swift_", "_swift")):
        group = "Swift: stdlib specialisations and runtime"
    elif symbol.startswith("remo_"):
        group = "CSeccomp shim"
    else:
        group = "other (glibc internals without a public name)"
    totals[group] += size
    counts[group] += 1

total = sum(totals.values())
print(f"| part | bytes (symbol sizes) | symbols | share |")
print(f"|---|---:|---:|---:|")
for group, size in totals.most_common():
    print(f"| {group} | {size:,} | {counts[group]:,} | {100 * size / total:.1f}% |")
print(f"| total | {total:,} | {sum(counts.values()):,} | 100% |")
