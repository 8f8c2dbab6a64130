#!/usr/bin/env bash
# Builds dist/remo-broker_<version>_amd64.deb with dpkg-deb from the static release binary:
# the binary, the systemd unit, the config (a conffile), the man page, the docs and the
# maintainer scripts of packaging/deb/. Then runs lintian on it; any error fails.
#   packaging/deb/build-deb.sh dist/remo-broker dist
set -euo pipefail
binary=${1:?usage: build-deb.sh PATH-TO-STATIC-remo-broker OUTPUT-DIR}
out=${2:?usage: build-deb.sh PATH-TO-STATIC-remo-broker OUTPUT-DIR}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
version=$("$binary" --version | awk '{print $2; exit}')
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "cannot read the version from $binary --version" >&2; exit 1; }
deb="$out/remo-broker_${version}_amd64.deb"

root=$(mktemp -d /tmp/remo-deb-XXXXXX)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
doc=$root/usr/share/doc/remo-broker
install -d -m 755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/remo-broker" \
    "$root/usr/share/man/man1" "$doc" "$root/usr/share/lintian/overrides"
# .comment (compiler versions) is of no use in a stripped binary (lintian: binary-has-unneeded-section).
strip --remove-section=.comment -o "$root/usr/bin/remo-broker" "$binary"
chmod 755 "$root/usr/bin/remo-broker"
install -m 644 "$repo/packaging/systemd/remo-broker.service" "$root/lib/systemd/system/"
install -m 644 "$repo/packaging/config.toml" "$root/etc/remo-broker/config.toml"
gzip -9n < "$here/remo-broker.1" > "$root/usr/share/man/man1/remo-broker.1.gz"
install -m 644 "$here/copyright" "$doc/copyright"
for f in README.md docs/operations.md docs/security.md docs/wire-protocol.md docs/manifest.md docs/client-tools.md docs/devcontainer.md; do
    install -m 644 "$repo/$f" "$doc/"
done
# A native package's changelog (lintian requires one); the version comes from the binary.
{
    printf 'remo-broker (%s) unstable; urgency=medium\n\n  * Release %s.\n\n' "$version" "$version"
    printf ' -- remo-broker maintainers <maintainers@remo-broker.invalid>  %s\n' "$(date -u -R -d @"${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n > "$doc/changelog.gz"
chmod 644 "$doc/changelog.gz" "$root/usr/share/man/man1/remo-broker.1.gz"
install -m 644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/remo-broker"
for script in postinst prerm postrm; do install -m 755 "$here/$script" "$root/DEBIAN/$script"; done
echo /etc/remo-broker/config.toml > "$root/DEBIAN/conffiles"
(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
installed=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$installed/" "$here/control" > "$root/DEBIAN/control"

mkdir -p "$out"
rm -f "$out"/remo-broker_*_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "built $deb ($(stat -c %s "$deb") bytes)"

command -v lintian >/dev/null || { echo "lintian is not installed (make deps-packaging)" >&2; exit 1; }
report=$(lintian --tag-display-limit 0 "$deb" 2>&1 || true)
echo "lintian: ${report:-clean}"
if grep -q '^E: ' <<<"$report"; then echo "lintian reports errors" >&2; exit 1; fi
