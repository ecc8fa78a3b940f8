#!/usr/bin/env bash
# ensure-tools.sh CMD[:PACKAGE]...: installs, from the OS packages, the
# package of each command that is missing (PACKAGE defaults to CMD).
# make run needs ffmpeg; make test also espeak-ng (speech for the test
# media), chromium (the web page's tests) and node and npm (tus-js-client).
set -euo pipefail
missing=()
for arg in "$@"; do
  cmd=${arg%%:*} pkg=${arg#*:}
  command -v "$cmd" >/dev/null || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
# One package may serve several commands (ffmpeg and ffprobe).
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing from the OS packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" ||
    { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"; }
elif command -v dnf >/dev/null; then
  $sudo dnf install -y "${missing[@]}"
elif command -v apk >/dev/null; then
  $sudo apk add "${missing[@]}"
elif command -v brew >/dev/null; then
  brew install "${missing[@]}"
else
  echo "no known package manager; install ${missing[*]} yourself" >&2
  exit 1
fi
for arg in "$@"; do
  command -v "${arg%%:*}" >/dev/null || { echo "${arg%%:*} is still missing" >&2; exit 1; }
done
