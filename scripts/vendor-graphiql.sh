#!/usr/bin/env bash
# Rebuilds app/static/graphiql/ from the npm registry: the pinned GraphiQL and React
# packages, only the files the page loads, their licences, and VERSIONS.md with sha256
# hashes. Run it after changing a version below; the app serves these files itself, so
# GraphiQL works without internet access.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL_VERSION=3.8.3
REACT_VERSION=18.3.1
DEST=app/static/graphiql

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name@version  file-in-package  vendored-as
FILES=(
  "react@$REACT_VERSION umd/react.production.min.js react.production.min.js"
  "react-dom@$REACT_VERSION umd/react-dom.production.min.js react-dom.production.min.js"
  "graphiql@$GRAPHIQL_VERSION graphiql.min.js graphiql.min.js"
  "graphiql@$GRAPHIQL_VERSION graphiql.min.css graphiql.min.css"
)
PACKAGES=("react@$REACT_VERSION" "react-dom@$REACT_VERSION" "graphiql@$GRAPHIQL_VERSION")

for spec in "${PACKAGES[@]}"; do
  name="${spec%@*}"
  mkdir -p "$work/$name"
  (cd "$work" && npm pack --silent --json "$spec" >"$name.json")
  tarball="$(node -p "require('$work/$name.json')[0].filename")"
  tar -xzf "$work/$tarball" -C "$work/$name" --strip-components=1
done

rm -rf "$DEST"
mkdir -p "$DEST"
for row in "${FILES[@]}"; do
  read -r spec source target <<<"$row"
  cp "$work/${spec%@*}/$source" "$DEST/$target"
done
for spec in "${PACKAGES[@]}"; do
  name="${spec%@*}"
  cp "$work/$name/LICENSE" "$DEST/LICENSE.$name"
done

{
  echo "# Vendored GraphiQL"
  echo
  echo "Made by \`scripts/vendor-graphiql.sh\` from the npm registry; do not edit by hand."
  echo "The files are byte-identical to the ones in the packages' tarballs."
  echo
  echo "| package | version | licence | tarball integrity |"
  echo "|---|---|---|---|"
  for spec in "${PACKAGES[@]}"; do
    name="${spec%@*}"
    node -e '
      const [meta] = require(process.argv[1]);
      const pkg = require(process.argv[2]);
      console.log(`| ${pkg.name} | ${pkg.version} | ${pkg.license} (LICENSE.${pkg.name}) | ${meta.integrity} |`);
    ' "$work/$name.json" "$work/$name/package.json"
  done
  echo
  echo "| file | from | sha256 |"
  echo "|---|---|---|"
  for row in "${FILES[@]}"; do
    read -r spec source target <<<"$row"
    echo "| $target | $spec/$source | $(sha256sum "$DEST/$target" | cut -d' ' -f1) |"
  done
} >"$DEST/VERSIONS.md"

echo "vendored into $DEST:"
ls -l "$DEST"
