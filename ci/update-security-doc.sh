#!/usr/bin/env bash
# Kept for existing habits: ci/update-generated-docs.sh regenerates every generated table.
#   ci/update-security-doc.sh .build/debug/remo-broker
exec "$(dirname "$0")/update-generated-docs.sh" "$@"
