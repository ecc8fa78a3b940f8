#!/bin/sh
# ffmpeg-minimal.sh SRC OUT: configures and builds, in SRC (Debian's ffmpeg
# source package, unpacked), the ffmpeg and ffprobe that the image ships,
# checks them, and copies them to OUT. The Dockerfile's ffmpeg stage runs
# it, and so does scripts/build-ffmpeg.sh for make ffmpeg: one list of what
# goes in.
#
# Only the file and pipe protocols and the upload formats' demuxers exist
# in them: no option or file can make them open a URL, a playlist or
# another file's name. Decoders for the audio people upload; parsers so
# that MPEG-TS probes quickly without video decoders; raw PCM in and WAV
# out for the parallel encoder; the filters ffmpeg inserts (aformat,
# aresample, anull, atrim), those the options use (loudnorm), and the
# silence the parallel encoder's lanes start with (adelay, checked below).
# LAME and zlib are linked from Debian's static libraries; the binaries
# are fully static, so they start in about 2 ms (Debian's ffmpeg, linked
# to 215 libraries, takes about 130 ms of CPU to start).
set -eu
src=$1 out=$2
cd "$src"
./configure --prefix=/usr/local \
  --disable-everything --disable-autodetect --disable-network --disable-iconv \
  --disable-doc --disable-debug --disable-ffplay \
  --disable-avdevice --disable-postproc --disable-swscale \
  --enable-static --disable-shared --extra-ldflags=-static --pkg-config-flags=--static \
  --enable-libmp3lame --enable-zlib \
  --enable-protocol=file,pipe \
  --enable-demuxer=mov,matroska,avi,flv,mpegts,ogg,wav,mp3,aac,flac,asf,pcm_s16le,pcm_f32le \
  --enable-decoder=aac,aac_fixed,aac_latm,mp1,mp1float,mp2,mp2float,mp3,mp3float,opus,vorbis,flac,alac \
  --enable-decoder=ac3,eac3,dca,truehd,mlp,wmav1,wmav2,wmapro,adpcm_ima_wav,adpcm_ms,amrnb,amrwb \
  --enable-decoder=pcm_s8,pcm_u8,pcm_s16le,pcm_s16be,pcm_s24le,pcm_s24be,pcm_s32le,pcm_s32be \
  --enable-decoder=pcm_f32le,pcm_f32be,pcm_f64le,pcm_f64be,pcm_alaw,pcm_mulaw \
  --enable-parser=aac,aac_latm,mpegaudio,opus,vorbis,flac,ac3,dca,mlp \
  --enable-parser=h264,hevc,mpeg4video,mpegvideo,vp8,vp9,av1 \
  --enable-bsf=null \
  --enable-encoder=libmp3lame,pcm_s16le,pcm_f32le \
  --enable-muxer=mp3,wav,pcm_s16le,pcm_f32le,null \
  --enable-filter=abuffer,abuffersink,aformat,aresample,anull,atrim,asetpts,loudnorm,volume,pan,adelay
make -j"$(nproc)"
smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
./ffmpeg -nostdin -v error -f f32le -ar 44100 -ac 2 -t 1 -i /dev/zero -af adelay=delays=1152S:all=1 -c:a libmp3lame -f mp3 "$smoke/smoke.mp3"
./ffprobe -v error -show_format "$smoke/smoke.mp3" | grep -q format_name=mp3
if ./ffmpeg -v error -i http://127.0.0.1/x -f null - 2>&1; then
  echo "this ffmpeg opened a URL" >&2
  exit 1
fi
mkdir -p "$out"
cp ffmpeg ffprobe "$out/"
