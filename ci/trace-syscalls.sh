#!/usr/bin/env bash
# Finds the syscalls a broker makes after its seccomp filter is loaded: runs BINARY under
# `strace -f` with --seccomp=log (nothing is killed), drives it through every operation
# (start, register, register over a stale socket, push-creds, get/info/ping, status, reload,
# every refusal: peer_unexpected, too_many_connections, payload_too_large, protocol_error and
# the audit budget behind them, out-of-descriptors accept-and-close; an empty-line flood
# (fair-share backlog), LoadCredential= requests on the credentials socket (served, refused,
# no unit address), SIGHUP reloads of [units] that remove and re-create that socket and one
# that is refused, SIGUSR1/SIGUSR2, clear-creds, unregister, audit rotation,
# sd_notify, SIGTERM drain),
# then prints each syscall seen after the `seccomp(...)` load, with a count, and marks the
# ones Sources/BrokerCore/Hardening/SyscallAllowlist.swift does not allow.
#
#   ci/trace-syscalls.sh .build/debug/remo-broker
#   ci/trace-syscalls.sh dist/remo-broker
#   TRACE_SOCKET_GID=65534 ci/trace-syscalls.sh dist/remo-broker --user nobody   # extra serve options
set -euo pipefail
binary=$(realpath "${1:?usage: trace-syscalls.sh PATH-TO-remo-broker [serve options]}")
shift
socket_gid=${TRACE_SOCKET_GID:-$(id -g)}
here=$(cd "$(dirname "$0")/.." && pwd)
command -v strace >/dev/null || { echo "strace is needed (apt-get install -y strace)" >&2; exit 1; }
root=$(mktemp -d /tmp/remo-trace-XXXXXX)
chmod 755 "$root"
# On any exit (a failed step included) the traced broker is stopped with its tracer.
trap '[ -n "${broker:-}" ] && kill $(ps -o pid= --ppid "$broker") "$broker" 2>/dev/null; [ -n "${KEEP_TRACE:-}" ] && cp "$root/trace" "$KEEP_TRACE"; rm -rf "$root"' EXIT
for p in alpha beta gamma delta; do
    mkdir -p "$root/$p/.remo"
    printf 'schema_version = 1\nproject = "%s"\n\n[secrets.gh]\n\n[secrets.aws]\n' "$p" > "$root/$p/.remo/manifest.toml"
done

units='[units."trace.service"]
secrets = ["gh", "aws"]
'
printf '%s' "$units" > "$root/config.toml"

# sd_notify receiver
python3 - "$root/notify.sock" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(30)
try:
    while True: s.recv(4096)
except Exception: pass
PY
notifier=$!
sleep 0.2

admin=(--socket-dir "$root/run")
NOTIFY_SOCKET="$root/notify.sock" strace -f -qq -o "$root/trace" "$binary" serve --socket-dir "$root/run" \
    --state-dir "$root/state" --audit-log-path "$root/log/audit.log" --seccomp log --idle-timeout-seconds 1 \
    --max-connections-per-project 2 --config "$root/config.toml" "$@" 2>"$root/stderr" &
broker=$!
for _ in $(seq 200); do "$binary" status "${admin[@]}" >/dev/null 2>&1 && break; sleep 0.05; done

"$binary" register alpha "$root/alpha" "${admin[@]}" >/dev/null
"$binary" register beta "$root/beta" --allowed-uid 4242 "${admin[@]}" >/dev/null
"$binary" register gamma "$root/gamma" --socket-gid "$socket_gid" "${admin[@]}" >/dev/null   # chown to own group
python3 - "$root/run/projects/delta" <<'PY'                                            # a stale socket left behind
import os, socket, sys
os.makedirs(sys.argv[1], mode=0o700, exist_ok=True)
socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(sys.argv[1] + "/sock")
PY
"$binary" register delta "$root/delta" "${admin[@]}" >/dev/null                      # unlinked, never probed
python3 -c 'import json; print(json.dumps({"big%d" % i: "v" * 60000 for i in range(15)}))' \
    | "$binary" push - "${admin[@]}" >/dev/null                                        # ~900 KB line
printf '{"gh":"trace-value-1","aws":{"k":"trace-value-2"}}' | "$binary" push - "${admin[@]}" >/dev/null
sock=$root/run/projects/alpha/sock
"$binary" ping --socket "$sock" >/dev/null
"$binary" info --socket "$sock" >/dev/null
"$binary" get gh --socket "$sock" >/dev/null
"$binary" get aws --socket "$sock" >/dev/null
"$binary" get nope --socket "$sock" >/dev/null 2>&1 || true
"$binary" get gh --socket "$root/run/projects/beta/sock" >/dev/null 2>&1 || true   # peer_unexpected
"$binary" status "${admin[@]}" >/dev/null
"$binary" reload alpha "${admin[@]}" >/dev/null
python3 - "$sock" "$root/run/admin.sock" <<'PY'
import socket, sys, time
def conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); return s
a = conn(sys.argv[1])
try:
    a.sendall(b'not json\n{"op":"get","name":"gh"}\n{"op":"ping"}\n' + b'x' * 70000 + b'\n')
except OSError:
    pass                                                # closed after payload_too_large
time.sleep(0.3)
flood = conn(sys.argv[1]); flood.setblocking(False)      # empty lines: the fair-share backlog
for _ in range(8):
    try: flood.send(b'\n' * (1 << 20))
    except BlockingIOError: time.sleep(0.05)
junk = conn(sys.argv[1]); junk.sendall(b'nope\n' * 50); time.sleep(1.2)   # request.invalid budget, audit.suppressed
flood.close(); junk.close()
extra = [conn(sys.argv[1]) for _ in range(3)]           # over max_connections_per_project
time.sleep(0.3)
b = conn(sys.argv[2]); b.sendall(b'{"op":"push-creds","secrets":[]}\n'); b.recv(4096)
idle = conn(sys.argv[1]); time.sleep(2.5)              # idle timeout closes it
PY
broker_pid=$(ps -o pid= --ppid "$broker" | tr -d ' ')
load_credentials() {  # systemd's side of LoadCredential=: bind \0<random>/unit/<unit>/<id>, read to EOF
    python3 - "$root/run/credentials.sock" "$@" <<'PY'
import os, socket, sys
for request in sys.argv[2:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if request != "-":
        s.bind(b"\0" + os.urandom(8).hex().encode() + b"/unit/" + request.encode())
    s.connect(sys.argv[1]); s.shutdown(socket.SHUT_WR)
    while s.recv(65536): pass
    s.close()
PY
}
load_credentials trace.service/gh trace.service/aws trace.service/aws.k trace.service/nope other.service/gh -
printf '' > "$root/config.toml"; kill -HUP "$broker_pid"; sleep 0.3          # last unit gone: socket removed
printf '%s' "$units" > "$root/config.toml"; kill -HUP "$broker_pid"; sleep 0.3  # bound again
printf 'bogus = 1\n' > "$root/config.toml"; kill -HUP "$broker_pid"; sleep 0.3  # refused, tables kept
load_credentials trace.service/gh
for sig in USR1 USR2; do kill -"$sig" "$broker_pid"; done   # logged, never fatal
held=$(python3 - "$sock" "$broker_pid" <<'PY'
import socket, subprocess, sys, time                    # out of descriptors: accept-and-close
subprocess.run(["prlimit", "--pid", sys.argv[2], "--nofile=12:"], check=False)
socks = []
for _ in range(6):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(2); s.connect(sys.argv[1]); socks.append(s)
def refused(s):
    try: return s.recv(4096).startswith(b'{"ok":false')
    except OSError: return False
print(sum(1 for s in socks if refused(s)))
PY
)
prlimit --pid "$broker_pid" --nofile=1024:
mv "$root/log/audit.log" "$root/log/audit.log.1"       # rotation: the next event recreates it
"$binary" get gh --socket "$sock" >/dev/null
sleep 0.3
chmod 000 "$root/log"; mv "$root/log/audit.log" "$root/log/audit.log.2" 2>/dev/null || true
"$binary" get gh --socket "$sock" >/dev/null 2>&1 || true   # audit outage (root ignores the mode)
sleep 0.7; chmod 700 "$root/log"
"$binary" clear "${admin[@]}" >/dev/null
"$binary" unregister beta "${admin[@]}" >/dev/null
python3 - "$sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
s.sendall(b'{"op":"ping"}\n'); time.sleep(0.5)         # in flight when SIGTERM arrives
PY
sleep 0.3
kill -TERM "$broker_pid"                               # the broker, not strace
wait "$broker" || true
kill "$notifier" 2>/dev/null || true

grep -q "out of file descriptors" "$root/stderr" || echo "note: the out-of-descriptors path was not reached ($held refused)" >&2
python3 - "$root/trace" "$here/Sources/BrokerCore/Hardening/SyscallAllowlist.swift" <<'PY'
import re, sys, collections
lines = open(sys.argv[1]).read().splitlines()
allowed = set(re.findall(r'(?:allow|fail)\("([a-z0-9_]+)"', open(sys.argv[2]).read()))
start = next((i for i, l in enumerate(lines) if re.match(r'\d+ +seccomp\(SECCOMP_SET_MODE_FILTER, .*\{len=', l)), None)
if start is None: sys.exit("no seccomp() load in the trace")
counts = collections.Counter()
for l in lines[start + 1:]:
    m = re.match(r'\d+ +(?:<\.\.\. )?([a-z0-9_]+)[( ]', l)
    if m and not l.split(None, 1)[1].startswith('+++') and not l.split(None, 1)[1].startswith('---'):
        counts[m.group(1)] += 1
for name, n in sorted(counts.items()):
    print(f"{'  ' if name in allowed else '!!'} {name:20} {n}")
missing = [n for n in counts if n not in allowed]
print(f"{len(counts)} syscalls after the filter; not in the allowlist: {', '.join(sorted(missing)) or 'none'}")
PY
