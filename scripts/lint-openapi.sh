#!/usr/bin/env bash
# Lints docs/openapi.yaml with Redocly's recommended rules: any error fails,
# warnings are printed. Redocly CLI comes from the npm registry, pinned, and
# is kept in a cache dir (MP3CONVERTER_CI_CACHE, as .ci/run's other tools).
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.77.0
dir="${MP3CONVERTER_CI_CACHE:-$HOME/.cache/mp3converter-ci}/redocly-$version"
redocly="$dir/node_modules/.bin/redocly"
if [ ! -x "$redocly" ]; then
  command -v npm >/dev/null || { echo "npm is needed to install @redocly/cli (apt-get install npm)" >&2; exit 1; }
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "@redocly/cli@$version"
fi
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
"$redocly" lint --extends=recommended --format=stylish docs/openapi.yaml
