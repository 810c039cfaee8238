#!/usr/bin/env bash
# The files-only tour, for real: record the example stack's live files as a
# release, deploy new versions from a folder and from a tarball, roll back,
# and read the record lastgood kept (examples/ziggie/demo.sh, `make demo`,
# does the same with running services and health checks). It works on a scratch copy of
# examples/files in a temporary folder and removes it at the end; the
# checkout is left as it was.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LG=${LASTGOOD:-$here/../lastgood}
[ -x "$LG" ] || { echo "demo: no lastgood binary at '$LG' (run 'make')" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
host=$work/host
mkdir "$host"
cp -a "$here/files/." "$host/"
cp "$here/lastgood.yml" "$host/lastgood.yml"

. "$here/lib.sh"
show_file() { printf '%s$ cat %s%s\n' "$bold" "$1" "$plain"; cat "$host/$1"; }

say "the example stack lives in $host"
(cd "$host" && find . -path ./.lastgood -prune -o -type f -print | sort)
lastgood check

say "record what runs now as a release"
lastgood snapshot --label v1 --commit 4f2a9c1 --reason "baseline before v2"

say "build v2 in a folder laid out like the live files, and deploy it"
v2=$work/dist-v2
mkdir -p "$v2/bin" "$v2/etc" "$v2/web/static"
sed 's/v1/v2/' "$host/bin/api" >"$v2/bin/api"
chmod 0755 "$v2/bin/api"
sed 's/LOG_LEVEL=info/LOG_LEVEL=debug/' "$host/etc/api.env" >"$v2/etc/api.env"
sed 's/v1/v2/' "$host/web/index.html" >"$v2/web/index.html"
sed 's/v1/v2/' "$host/web/static/app.js" >"$v2/web/static/app.js"
cp "$host/web/static/style.css" "$v2/web/static/"
printf '<p>What changed in v2.</p>\n' >"$v2/web/changes.html"
# bin/gateway and etc/gateway.env are not in v2: they keep their live content;
# web/ is: it replaces the live web/ whole, so about.html goes away.
lastgood deploy --label v2 --commit 8d31e07 --reason "ship v2" "$v2"
show_file bin/api
ls "$host/web"

say "someone edits a live file by hand; lastgood records it before the next deploy"
echo 'TIMEOUT=30s' >>"$host/etc/gateway.env"

say "v3 arrives as a tarball"
v3=$work/dist-v3
cp -a "$v2" "$v3"
sed -i 's/v2/v3/' "$v3/bin/api" "$v3/web/index.html" "$v3/web/static/app.js"
tar -C "$v3" -czf "$work/v3.tar.gz" .
lastgood deploy --label v3 --commit c07fee1 --reason "ship v3" "$work/v3.tar.gz"
show_file bin/api

say "v3 is broken: see what a rollback to v2 would do, then do it (the hand edit stays in its own release)"
lastgood rollback --dry-run v2
lastgood rollback --reason "v3 serves a blank page" v2
show_file bin/api
if diff -r "$v2/web" "$host/web" >/dev/null; then
	echo "web/ is exactly v2 again"
else
	echo "demo: web/ does not match v2" >&2
	exit 1
fi

say "the releases, the operations, and the rollback's timeline"
lastgood releases
lastgood history
rollback_op=$("$LG" -C "$host" --json history --limit 1 | jq -r '.[0].id')
lastgood show "$rollback_op"
lastgood fsck
