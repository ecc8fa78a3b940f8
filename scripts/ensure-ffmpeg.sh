#!/usr/bin/env bash
# Installs ffmpeg (with ffprobe), and espeak-ng, whose speech the tests
# make media of, from the OS packages when they are missing.
set -euo pipefail
if command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null && command -v espeak-ng >/dev/null; then
  exit 0
fi
echo "ffmpeg or espeak-ng is missing; installing them from the OS packages" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install ffmpeg" >&2; exit 1; }
  sudo=sudo
fi
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends ffmpeg espeak-ng || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends ffmpeg espeak-ng; }
elif command -v dnf >/dev/null; then
  $sudo dnf install -y ffmpeg espeak-ng
elif command -v apk >/dev/null; then
  $sudo apk add ffmpeg espeak-ng
elif command -v brew >/dev/null; then
  brew install ffmpeg espeak-ng
else
  echo "no known package manager; install ffmpeg yourself" >&2
  exit 1
fi
command -v ffprobe >/dev/null && command -v espeak-ng >/dev/null
