#!/usr/bin/env bash
# Installs ffmpeg (with ffprobe) from the OS packages when it is missing.
set -euo pipefail
if command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; then
  exit 0
fi
echo "ffmpeg is missing; installing it from the OS packages" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install ffmpeg" >&2; exit 1; }
  sudo=sudo
fi
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends ffmpeg || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends ffmpeg; }
elif command -v dnf >/dev/null; then
  $sudo dnf install -y ffmpeg
elif command -v apk >/dev/null; then
  $sudo apk add ffmpeg
elif command -v brew >/dev/null; then
  brew install ffmpeg
else
  echo "no known package manager; install ffmpeg yourself" >&2
  exit 1
fi
command -v ffprobe >/dev/null
