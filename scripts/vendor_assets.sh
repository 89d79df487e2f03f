#!/usr/bin/env bash
# Fetch the browser assets the web map needs into lomsong/app/static/vendor/, from the npm
# registry with npm's own client (`npm pack` checks the tarball against the registry's
# integrity hash).  Only what the page uses is kept: Leaflet's minified JS, its CSS and the
# images that CSS names.  Folium's other CDN defaults (jQuery, Bootstrap, Font Awesome,
# awesome-markers) are not needed: the map uses CircleMarkers, popups, GeoJSON, image overlays
# and the layer control, all plain Leaflet.  Re-run after changing LEAFLET_VERSION and update
# LICENSES.md (and the version pinned in lomsong/geodata/webmap.py).
set -euo pipefail

LEAFLET_VERSION="${LEAFLET_VERSION:-1.9.4}"
# sha256 of leaflet-1.9.4.tgz as fetched on 2025-11-26 (npm integrity
# sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==).
LEAFLET_SHA256="84c65a256e50657896f54c33bd857b6849ebe94c817803be818bf32a3dde0b77"

repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="$repo/lomsong/app/static/vendor/leaflet"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "leaflet@${LEAFLET_VERSION}" >/dev/null
tgz="leaflet-${LEAFLET_VERSION}.tgz"
if [[ "$LEAFLET_VERSION" == "1.9.4" ]]; then
  echo "${LEAFLET_SHA256}  ${tgz}" | sha256sum -c -
fi
tar xzf "$tgz"

rm -rf "$dest"
mkdir -p "$dest/images"
cp package/dist/leaflet.js package/dist/leaflet.css package/LICENSE "$dest/"
cp package/dist/images/*.png "$dest/images/"
echo "Leaflet ${LEAFLET_VERSION} -> ${dest}"
(cd "$dest" && find . -type f | sort | xargs sha256sum)
