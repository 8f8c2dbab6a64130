#!/usr/bin/env bash
# `make run`: a broker on the built-in defaults, in a temp dir, with a demo project and demo
# (not secret) values, running in the foreground until Ctrl-C.
set -euo pipefail
binary=${1:?usage: run-demo.sh PATH-TO-remo-broker}
root=$(mktemp -d /tmp/remo-demo-XXXXXX)
chmod 755 "$root"
mkdir -p "$root/demo/.remo"
cat > "$root/demo/.remo/manifest.toml" <<'TOML'
schema_version = 1
project = "demo"

[secrets.gh]
env_var = "GH_TOKEN"

[secrets.aws]
fetch_as = "file"
file_path = "~/.aws/credentials"
file_mode = "0600"
template = """
[default]
aws_access_key_id={{aws_access_key_id}}
aws_secret_access_key={{aws_secret_access_key}}
"""
TOML

serve=("$binary" serve --socket-dir "$root/run" --state-dir "$root/state" --audit-log-path "$root/audit.log")
"${serve[@]}" &
broker=$!
cleanup() { kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; rm -rf "$root"; }
trap cleanup EXIT
trap 'exit 0' INT TERM

admin=(--socket-dir "$root/run")
for _ in $(seq 100); do "$binary" status "${admin[@]}" >/dev/null 2>&1 && break; sleep 0.05; done
"$binary" register demo "$root/demo" "${admin[@]}"
printf '{"gh":"demo-gh-token","aws":{"aws_access_key_id":"DEMOKEY","aws_secret_access_key":"demo-secret"}}' \
    | "$binary" push - "${admin[@]}"

cat <<TEXT

remo-broker is running (pid $broker) in $root
  export REMO_BROKER_SOCKET_DIR=$root/run REMO_BROKER_SOCKET=$root/run/projects/demo/sock
  $binary status                 # admin socket: broker, projects, hardening, audit
  $binary info                   # project socket: the demo manifest's bindings
  $binary get gh                 # prints demo-gh-token
  $binary get aws                # a bundle, printed as JSON
  $binary get other              # denied: not in the manifest
  tail -f $root/audit.log        # every decision, never a value
Ctrl-C stops it and removes $root.
TEXT
wait "$broker"
