#!/usr/bin/env bash
# Installs tus-js-client (pinned) from the npm registry into a cache dir
# (MP3CONVERTER_CI_CACHE, as .ci/run's other tools) for the tests that
# check the tus endpoint with a client no one here wrote, and prints the
# node_modules dir to put in NODE_PATH.
set -euo pipefail
version=4.3.1
dir="${MP3CONVERTER_CI_CACHE:-$HOME/.cache/mp3converter-ci}/tus-js-client-$version"
if [ ! -f "$dir/node_modules/tus-js-client/package.json" ]; then
  command -v npm >/dev/null || { echo "npm is needed to install tus-js-client (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "tus-js-client@$version" >&2
fi
echo "$dir/node_modules"
