#!/usr/bin/env bash
# Starts versitygw v1.8.0 (an S3-compatible server, posix backend) on
# 127.0.0.1:7070 for the s3 package, building it first if needed.
# Idempotent: starts nothing if something already listens there.
#
#   scripts/start-s3.sh [workdir]    (default: .ci/work in the repo)
#
# Binary: $MP3CONVERTER_CI_CACHE/versitygw/v1.8.0/bin/versitygw (default
# ~/.cache/mp3converter-ci), kept across runs: the cold build takes about
# 500 s on 2 cores. Data: <workdir>/versitygw/data, log:
# <workdir>/versitygw/versitygw.log. The tests start servers of their own
# from the binary (testsupport.S3); export MP3CONVERTER_TEST_VERSITYGW to
# point them at another one.
#
# The server's credentials are test-only, the same as testsupport's:
#   AWS_ACCESS_KEY_ID=mp3converter AWS_SECRET_ACCESS_KEY=mp3converter-secret
# and a store URL is s3://BUCKET?endpoint=http://127.0.0.1:7070.
set -euo pipefail

version=v1.8.0
host=127.0.0.1
port=7070
access_key=mp3converter
secret_key=mp3converter-secret

root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$root/.ci/work}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
cache="${MP3CONVERTER_CI_CACHE:-$HOME/.cache/mp3converter-ci}"
bindir="$cache/versitygw/$version/bin"
bin="$bindir/versitygw"
dir="$work/versitygw"
data="$dir/data"
logfile="$dir/versitygw.log"

listening() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }

if [ ! -x "$bin" ]; then
  echo "building versitygw $version into $bin (about 500 s cold)" >&2
  start=$(date +%s)
  mkdir -p "$bindir"
  GOBIN="$bindir" GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$version"
  echo "built versitygw in $(($(date +%s) - start)) s" >&2
fi

# The binary is built even when a server already listens: tests start
# versitygw servers of their own from it.
if listening; then
  echo "something already listens on $host:$port; not starting versitygw" >&2
  exit 0
fi

mkdir -p "$data"
echo "starting versitygw on $host:$port, data in $data, log in $logfile" >&2
nohup "$bin" \
  --port "$host:$port" \
  --access "$access_key" \
  --secret "$secret_key" \
  --quiet \
  posix "$data" \
  >"$logfile" 2>&1 </dev/null &
pid=$!

for _ in $(seq 1 120); do
  if listening; then
    echo "versitygw is up (pid $pid)" >&2
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    break
  fi
  sleep 0.5
done

echo "versitygw did not come up on $host:$port; last lines of $logfile:" >&2
tail -n 40 "$logfile" >&2 || true
exit 1
