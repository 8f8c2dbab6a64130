#!/usr/bin/env bash
# Installs the .deb into a temp root with `dpkg -x` and checks it: the exact file list with
# modes and owners, the control fields and conffiles, maintainer scripts that parse and enable
# or start nothing, the packaged unit (systemd-analyze verify), the man page (man --warnings)
# and the packaged binary itself.
#   ci/check-deb.sh dist/remo-broker_0.1.0_amd64.deb
set -euo pipefail
deb=${1:?usage: check-deb.sh PATH-TO-.deb}
for tool in dpkg-deb systemd-analyze man; do
    command -v "$tool" >/dev/null || { echo "check-deb: $tool is not installed (make deps-packaging)" >&2; exit 1; }
done
root=$(mktemp -d /tmp/remo-debx-XXXXXX)
trap 'rm -rf "$root"' EXIT
failures=0
fail() { echo "check-deb: FAIL: $*" >&2; failures=$((failures + 1)); }

dpkg -x "$deb" "$root/fs"
dpkg-deb -e "$deb" "$root/control"

expected='drwxr-xr-x root root etc/remo-broker
-rw-r--r-- root root etc/remo-broker/config.toml
-rw-r--r-- root root lib/systemd/system/remo-broker.service
-rwxr-xr-x root root usr/bin/remo-broker
-rw-r--r-- root root usr/share/doc/remo-broker/README.md
-rw-r--r-- root root usr/share/doc/remo-broker/changelog.gz
-rw-r--r-- root root usr/share/doc/remo-broker/client-tools.md
-rw-r--r-- root root usr/share/doc/remo-broker/copyright
-rw-r--r-- root root usr/share/doc/remo-broker/devcontainer.md
-rw-r--r-- root root usr/share/doc/remo-broker/manifest.md
-rw-r--r-- root root usr/share/doc/remo-broker/operations.md
-rw-r--r-- root root usr/share/doc/remo-broker/security.md
-rw-r--r-- root root usr/share/doc/remo-broker/wire-protocol.md
-rw-r--r-- root root usr/share/lintian/overrides/remo-broker
-rw-r--r-- root root usr/share/man/man1/remo-broker.1.gz'
# Files plus the package's own directory; the shared parents (usr, usr/share, ...) are dpkg's.
actual=$(cd "$root/fs" && find . -mindepth 1 \( -type f -o -path ./etc/remo-broker \) -printf '%M %u %g %P\n' | sort -k4)
if [ "$actual" != "$expected" ]; then
    fail "file list or modes differ:"; diff <(echo "$expected") <(echo "$actual") >&2 || true
fi
other=$(cd "$root/fs" && find . -mindepth 1 ! -type f ! -type d -printf '%P\n')
[ -z "$other" ] || fail "unexpected non-regular files: $other"
bad_dirs=$(cd "$root/fs" && find . -type d ! -perm 755 -printf '%P\n')
[ -z "$bad_dirs" ] || fail "directories not 0755: $bad_dirs"

# Control data.
[ "$(cat "$root/control/conffiles")" = /etc/remo-broker/config.toml ] || fail "conffiles: $(cat "$root/control/conffiles")"
for field in Package:remo-broker Architecture:amd64 Depends:adduser; do
    grep -qx "${field%%:*}: ${field#*:}" "$root/control/control" || fail "control lacks ${field%%:*}: ${field#*:}"
done
(cd "$root/fs" && md5sum --quiet -c "$root/control/md5sums") || fail "md5sums do not match"
for script in postinst prerm postrm; do
    [ "$(stat -c %a "$root/control/$script")" = 755 ] || fail "$script is not 0755"
    sh -n "$root/control/$script" || fail "$script does not parse"
    # Enabling or starting the service is the operator's decision.
    if grep -v '^[[:space:]]*#' "$root/control/$script" | grep -Eq 'systemctl[^#]*(enable|start)|deb-systemd-helper[^#]*enable|deb-systemd-invoke[^#]*(start|restart)'; then
        fail "$script enables or starts something"
    fi
done
grep -q 'adduser --system' "$root/control/postinst" || fail "postinst does not create the system user"

# The packaged pieces work.
"$root/fs/usr/bin/remo-broker" --version >/dev/null || fail "packaged binary does not run"
sed "s#/usr/bin/remo-broker#$root/fs/usr/bin/remo-broker#" "$root/fs/lib/systemd/system/remo-broker.service" > "$root/remo-broker.service"
verify=$(systemd-analyze verify --man=no "$root/remo-broker.service" 2>&1) || true
[ -z "$verify" ] || fail "systemd-analyze verify: $verify"
warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' man --warnings -E UTF-8 -l -Tutf8 -Z "$root/fs/usr/share/man/man1/remo-broker.1.gz" 2>&1 >/dev/null) || true
[ -z "$warnings" ] || fail "man page warnings: $warnings"

[ "$failures" = 0 ] || { echo "check-deb: $failures failure(s)" >&2; exit 1; }
echo "check-deb: $deb ok ($(stat -c %s "$deb") bytes; $(echo "$expected" | wc -l) entries as expected)"
