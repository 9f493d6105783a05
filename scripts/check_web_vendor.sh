#!/usr/bin/env bash
# The live map's front-end files (api/web/vendor/) are committed so that a fresh clone
# builds without npm; this checks that they are byte for byte the files of the package
# versions locked in api/web/package-lock.json. `npm ci` installs exactly the lock (and
# verifies each tarball's integrity hash) into a temporary directory; nothing is written
# into the repository. Run by scripts/test.sh.
#
# To update Leaflet: change the version in api/web/package.json, run
# `npm install --package-lock-only --ignore-scripts` in api/web, copy the files listed
# below from an `npm ci` into api/web/vendor/, and run this script.
set -euo pipefail
cd "$(dirname "$0")/../api/web"

# vendored file → its file in the installed package
files=(
  "vendor/leaflet/leaflet.js:node_modules/leaflet/dist/leaflet.js"
  "vendor/leaflet/leaflet.css:node_modules/leaflet/dist/leaflet.css"
  "vendor/leaflet/LICENSE:node_modules/leaflet/LICENSE"
)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp package.json package-lock.json "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)

status=0
for pair in "${files[@]}"; do
  vendored="${pair%%:*}"
  installed="$tmp/${pair#*:}"
  if ! cmp -s "$vendored" "$installed"; then
    echo "api/web/$vendored differs from the locked package's ${pair#*:}"
    status=1
  fi
done
# Nothing vendored that the list does not name (a stale file would be served unchecked).
listed="$(for pair in "${files[@]}"; do echo "${pair%%:*}"; done | sort)"
present="$(find vendor -type f | sort)"
if [ "$listed" != "$present" ]; then
  echo "api/web/vendor/ holds files this script does not check:"
  comm -13 <(echo "$listed") <(echo "$present")
  status=1
fi
[ "$status" = 0 ] && echo "api/web/vendor/ matches api/web/package-lock.json"
exit "$status"
