#!/usr/bin/env bash
# build-ffmpeg.sh [OUT]: builds the image's own ffmpeg and ffprobe, minimal
# and static (scripts/ffmpeg-minimal.sh), on this machine, into OUT
# (default bin/): make ffmpeg. They start in about 2 ms where Debian's
# ffmpeg takes about 130 ms of CPU, which a 10 s job, a lane of a long one
# and a probe each pay; and they cannot open a URL whatever they are given.
#
# The source is Debian's ffmpeg source package, fetched by apt through a
# sources list of its own, made from this machine's deb entries, so that
# the machine's apt configuration is not changed; apt checks it against
# the signed Sources index. Build once (2 minutes on 2 cores), then cached
# by the source's version.
set -euo pipefail
out=${1:-bin}
cache=${MP3CONVERTER_CACHE:-$HOME/.cache/mp3converter}/ffmpeg
here=$(cd "$(dirname "$0")" && pwd)

"$here/ensure-tools.sh" gcc make nasm pkg-config dpkg-source:dpkg-dev xz:xz-utils
if ! dpkg -s libmp3lame-dev zlib1g-dev >/dev/null 2>&1; then
  echo "installing from the OS packages: libmp3lame-dev zlib1g-dev" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libmp3lame-dev zlib1g-dev
fi

apt=$cache/apt
rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/parts"
sed -n 's/^deb /deb-src /p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null >"$apt/sources.list" || true
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$apt/parts/$(basename "$f")"
done
opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
  -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o APT::Sandbox::User=root)
apt-get "${opts[@]}" -qq update
version=$(apt-get "${opts[@]}" source --print-uris -qq ffmpeg | awk '$2 ~ /^ffmpeg_.*[.]dsc$/ { v = $2; sub(/^ffmpeg_/, "", v); sub(/[.]dsc$/, "", v); print v; exit }')
[ -n "$version" ] || { echo "build-ffmpeg: no ffmpeg source package in the apt sources" >&2; exit 1; }
built=$cache/$version
if [ ! -x "$built/ffmpeg" ]; then
  work=$cache/work && rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && apt-get "${opts[@]}" -qq source ffmpeg >/dev/null)
  "$here/ffmpeg-minimal.sh" "$(ls -d "$work"/ffmpeg-*/)" "$built.tmp" >"$cache/build.log" 2>&1 ||
    { tail -20 "$cache/build.log" >&2; exit 1; }
  rm -rf "$built" && mv "$built.tmp" "$built" && rm -rf "$work"
fi
mkdir -p "$out"
cp "$built/ffmpeg" "$built/ffprobe" "$out/"
echo "$out/ffmpeg and $out/ffprobe: Debian's ffmpeg $version, minimal and static" >&2
