#!/usr/bin/env bash
# The container checks of CI, on a Debian machine with no container
# registry: only Debian's package mirror and the Go module proxy.
#
#   scripts/ci-containers.sh [WORK]     WORK: scratch dir (default .ci/work/containers)
#
# Phases, each timed:
#   packages      docker.io, docker-compose, debootstrap, ffmpeg, curl (only those missing)
#   dockerd       Debian's dockerd with all its state in the cache dir, kept between runs
#                 (MP3CONVERTER_CI_CACHE, default ~/.cache/mp3converter-ci), its socket there
#   base-images   debian:bookworm-slim from debootstrap, golang:1.26-bookworm from the
#                 host's Go (only when missing from the cached engine, or the Go differs)
#   image         the Dockerfile, unchanged, with BuildKit: size and layers
#   image-legacy  the same with the legacy builder (DOCKER_BUILDKIT=0)
#   serve         `serve` from the image, read-only, no capabilities, non-root: the
#                 README's curl flow (the MP4 encoded by two parallel lanes), then its
#                 health check turns "healthy"
#   compose-v2    compose.yaml and compose.local.yaml loaded as `docker compose` v2 does
#   compose-images  the engines' stand-ins of compose.local.yaml
#   compose       the stack under docker-compose 1.29: a user made with `compose exec`,
#                 the curl flow through the gateway, the notice in Mailpit; then down -v
#   compose-s3    the same stack with the profile s3 (MinIO's stand-in) and its media
#                 in S3: the curl flow, and the MP3 an object of the bucket
#
# Any failure fails the run. On exit everything started is stopped, and what
# dockerd changed on the host (docker0, iptables chains and rules, the
# FORWARD policy, ip_forward, /run/containerd) is put back.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
W=${1:-$SRC/.ci/work/containers}
mkdir -p "$W"
W=$(cd "$W" && pwd)
# shellcheck source=scripts/lib/docker.sh
. "$SRC/scripts/lib/docker.sh"
IMAGE=mp3converter/mp3converter:ci
SERVE=mp3converter-ci-serve
SERVE_PORT=18180 GATEWAY_PORT=18190 RABBITMQ_UI_PORT=18672 MAILPIT_PORT=18025
VERSION=$(git describe --always --dirty 2>/dev/null || echo dev)
export COMPOSE_DOCKER_CLI_BUILD=0
DC=(docker-compose --env-file "$W/compose.env" -p mp3converter-ci -f "$SRC/compose.yaml" -f "$SRC/compose.local.yaml")

log() { printf '\n== %s  %s\n' "$(date +%T)" "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/seedflow.sh
. "$SRC/scripts/lib/seedflow.sh"
phase_name='' phase_start=0 times=()
phase() { # NAME: ends the phase before, starts NAME
  if [ -n "$phase_name" ]; then
    local s=$(($(date +%s) - phase_start))
    echo "phase $phase_name: $s s"
    times+=("$phase_name $s")
  fi
  phase_name=${1:-} phase_start=$(date +%s)
  [ -z "$phase_name" ] || log "$phase_name"
}

# --- on exit: stop what was started; docker_down puts the host back ------------
compose_up=''
cleanup() {
  local rc=$?
  set +e
  trap - EXIT
  log "cleanup (exit $rc)"
  if [ -n "$compose_up" ]; then
    [ "$rc" = 0 ] || "${DC[@]}" logs --no-color --tail 40 2>&1 | tail -200
    "${DC[@]}" down -v --remove-orphans >/dev/null 2>&1
  fi
  if [ -n "$dockerd_pid" ]; then
    [ "$rc" = 0 ] || $D logs --tail 40 "$SERVE" 2>&1
    $D rm -f "$SERVE" >/dev/null 2>&1
    $D volume rm -f mp3converter-ci-data >/dev/null 2>&1
    docker_down
  fi
  if [ "${#times[@]}" -gt 0 ]; then
    echo; echo "phase times (s):"; printf '  %s\n' "${times[@]}"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- phases ---------------------------------------------------------------------
phase packages
install_missing dockerd:docker.io docker-compose:docker-compose debootstrap:debootstrap iptables:iptables \
  curl:curl python3:python3 ffmpeg:ffmpeg ffprobe:ffmpeg
[ -x "$D" ] || fail "$D is missing (Debian's docker.io client)"
docker-compose version --short

phase dockerd
docker_up "$W"

phase base-images
docker_base_images "$W"
$D images --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}' debian
$D images --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' golang

build_args=(--build-arg "VERSION=$VERSION" --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || true)"
  --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")

phase image
DOCKER_BUILDKIT=1 $D build --progress=plain "${build_args[@]}" -t "$IMAGE" "$SRC" >"$W/image-build.log" 2>&1 \
  || { tail -40 "$W/image-build.log"; fail "docker build (BuildKit)"; }
size=$($D image inspect -f '{{.Size}}' "$IMAGE")
echo "image $IMAGE: $((size / 1000000)) MB ($size bytes), version $VERSION"
$D history --no-trunc --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" |
  awk -F'\t' 'BEGIN{printf "%-8s  %s\n", "SIZE", "LAYER"} {c=$2; sub(/ # buildkit$/, "", c); if (length(c) > 100) c=substr(c, 1, 97) "..."; printf "%-8s  %s\n", $1, c}'
[ "$size" -le 120000000 ] || fail "the image is over 120 MB"
$D run --rm --network none "$IMAGE" version
$D run --rm --network none --entrypoint /usr/local/bin/ffmpeg "$IMAGE" -hide_banner -version | head -1
protocols=$($D run --rm --network none --entrypoint /usr/local/bin/ffmpeg "$IMAGE" -hide_banner -protocols | awk 'NR>1 && !/put:/{print $1}' | sort -u | tr '\n' ' ')
echo "ffmpeg protocols: $protocols"
[ "$protocols" = "file pipe " ] || fail "ffmpeg has protocols beyond file and pipe: $protocols"
if out=$($D run --rm --network none --entrypoint /usr/local/bin/ffprobe "$IMAGE" -v error -i http://127.0.0.1/x.mp4 2>&1); then
  fail "ffprobe opened an http URL"
fi
echo "ffprobe -i http://...: $out"
grep -q 'Protocol not found' <<<"$out" || fail "want 'Protocol not found'"
for input in '-i concat:/etc/passwd|/etc/group' '-f hls -i /etc/passwd' '-f lavfi -i sine'; do
  read -ra words <<<"$input"
  if out=$($D run --rm --network none --entrypoint /usr/local/bin/ffmpeg "$IMAGE" -v error "${words[@]}" -f null - 2>&1); then
    fail "ffmpeg read $input"
  fi
  echo "ffmpeg $input: $out"
done

phase image-legacy
DOCKER_BUILDKIT=0 $D build "${build_args[@]}" -t "$IMAGE-legacy" "$SRC" >"$W/image-build-legacy.log" 2>&1 \
  || { tail -40 "$W/image-build-legacy.log"; fail "docker build (legacy builder)"; }
echo "image $IMAGE-legacy: $(($($D image inspect -f '{{.Size}}' "$IMAGE-legacy") / 1000000)) MB"
$D run --rm --network none "$IMAGE-legacy" version

phase serve
# A test video of the host's ffmpeg: moving pictures (H.264) and stereo
# tones with pink noise (AAC in MP4; Opus in Matroska for compose).
M=$W/media; mkdir -p "$M"
test_video "$M/test.mp4"
test_video "$M/test.mkv"
admin_pw=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
$D volume rm -f mp3converter-ci-data >/dev/null
$D run -d --name "$SERVE" -p "127.0.0.1:$SERVE_PORT:8080" -v mp3converter-ci-data:/data \
  --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
  --health-interval 2s --health-start-period 60s -e MP3CONVERTER_PARALLEL_ABOVE=3s \
  -e MP3CONVERTER_ADMIN_EMAIL=admin@localhost -e MP3CONVERTER_ADMIN_PASSWORD="$admin_pw" "$IMAGE" >/dev/null
for _ in $(seq 60); do curl -fsS "http://127.0.0.1:$SERVE_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
echo "runs as: $($D top "$SERVE" -eo pid,uid,gid,args | awk 'NR==2{print "uid " $2 ", gid " $3 ": " $4, $5}'); read-only: $($D inspect -f '{{.HostConfig.ReadonlyRootfs}}, cap_drop {{.HostConfig.CapDrop}}, security_opt {{.HostConfig.SecurityOpt}}' "$SERVE")"
[ "$($D top "$SERVE" -eo pid,uid | awk 'NR==2{print $2}')" = 10001 ] || fail "serve does not run as uid 10001"
curlflow "http://127.0.0.1:$SERVE_PORT" admin@localhost "$admin_pw" "$M/test.mp4" "$W/out-serve"
# --parallel-above 3s: the 6 s MP4 went through two lanes that seek in it,
# with the image's own ffmpeg (adelay, -ss, the Xing frame of each lane).
$D logs "$SERVE" 2>&1 | grep -o 'EncodedInParallel.*segments=2' \
  || fail "serve did not encode the MP4 in two parallel segments"
health=''
for _ in $(seq 60); do
  health=$($D inspect -f '{{.State.Health.Status}}' "$SERVE")
  [ "$health" = healthy ] && break; sleep 1
done
echo "health: $health, last check: $($D inspect -f '{{json .State.Health.Log}}' "$SERVE" | python3 -c 'import json,sys; l=json.load(sys.stdin)[-1]; print("exit %d, %s" % (l["ExitCode"], l["Output"].strip()))')"
[ "$health" = healthy ] || fail "serve's health is $health"
$D rm -f "$SERVE" >/dev/null; $D volume rm mp3converter-ci-data >/dev/null

phase compose-v2
# docker compose v2 reads compose files with compose-go: load both files
# with it (schema, interpolation, merging), as v2 would.
CG=$W/composecheck; mkdir -p "$CG"
cat >"$CG/go.mod" <<'EOF'
module composecheck

go 1.26.0
EOF
cat >"$CG/main.go" <<'EOF'
// Command composecheck loads compose files as docker compose v2 does.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	opts, err := cli.NewProjectOptions(os.Args[2:], cli.WithEnvFiles(os.Args[1]), cli.WithDotEnv, cli.WithName("check"))
	if err == nil {
		var p interface{ ServiceNames() []string }
		if p, err = opts.LoadProject(context.Background()); err == nil {
			fmt.Println("compose v2 loads", len(p.ServiceNames()), "services:", p.ServiceNames())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "compose v2:", err)
		os.Exit(1)
	}
}
EOF
cat >"$W/compose.env" <<EOF
JWT_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
MARIADB_PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
MARIADB_ROOT_PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
RABBITMQ_PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
MP3CONVERTER_ADMIN_EMAIL=admin@example.com
MP3CONVERTER_ADMIN_PASSWORD=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
MP3CONVERTER_VERSION=ci
MP3CONVERTER_PORT=$GATEWAY_PORT
RABBITMQ_UI_PORT=$RABBITMQ_UI_PORT
MAILPIT_UI_PORT=$MAILPIT_PORT
MP3CONVERTER_PUBLIC_URL=http://localhost:$GATEWAY_PORT
EOF
(cd "$CG" && GOFLAGS=-mod=mod go get github.com/compose-spec/compose-go/v2@v2.16.2 >/dev/null 2>&1 &&
 GOFLAGS=-mod=mod go build -o composecheck .) || fail "building the compose v2 check"
(cd "$SRC" && "$CG/composecheck" "$W/compose.env" compose.yaml && "$CG/composecheck" "$W/compose.env" compose.yaml compose.local.yaml)
echo 'X=1' >"$W/empty.env"
if (cd "$SRC" && "$CG/composecheck" "$W/empty.env" compose.yaml 2>"$W/missing.txt"); then
  fail "compose.yaml loads without its required values"
fi
echo "without .env: $(grep -o 'required variable [A-Z_]* is missing a value: [^"]*' "$W/missing.txt" | sort -u | head -3 | tr '\n' ';')"
"${DC[@]}" config -q

phase compose-images
"${DC[@]}" build mariadb rabbitmq mongodb mailpit >"$W/compose-build.log" 2>&1 \
  || { tail -40 "$W/compose-build.log"; fail "building the stand-ins"; }
$D images --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' 'mp3converter-standin/*'

phase compose
compose_up=yes
"${DC[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
"${DC[@]}" up -d
base=http://127.0.0.1:$GATEWAY_PORT
for _ in $(seq 120); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 1; done
"${DC[@]}" ps
echo 'compose-user-password-123' | "${DC[@]}" exec -T auth mp3converter user add --email ann@example.com --password-stdin
# shellcheck disable=SC1091
. "$W/compose.env"
curl -fsS -o /dev/null -X POST -u "$MP3CONVERTER_ADMIN_EMAIL:$MP3CONVERTER_ADMIN_PASSWORD" "$base/login" \
  -w "the admin of .env logs in: %{http_code}\n"
curlflow "$base" ann@example.com compose-user-password-123 "$M/test.mkv" "$W/out-compose"
mailpit_notice "http://127.0.0.1:$MAILPIT_PORT" ann@example.com
for s in auth converter gateway notification; do
  echo "$s: $($D inspect -f '{{.State.Health.Status}}' "$("${DC[@]}" ps -q "$s")")"
done
"${DC[@]}" down -v --remove-orphans
compose_up=''

phase compose-s3
# The same stack with its media in S3: the profile s3's MinIO (its
# stand-in, versitygw), the roles' storage URL and keys set in .env.
s3_key=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
printf 'MP3CONVERTER_STORAGE_URL=%s\nS3_ACCESS_KEY=mp3converter\nS3_SECRET_KEY=%s\n' \
  's3://mp3converter?endpoint=http://minio:9000' "$s3_key" >>"$W/compose.env"
DC+=(--profile s3)
"${DC[@]}" build minio >>"$W/compose-build.log" 2>&1 || { tail -40 "$W/compose-build.log"; fail "building the MinIO stand-in"; }
compose_up=yes
"${DC[@]}" up -d
for _ in $(seq 180); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "$base/readyz" >/dev/null || { "${DC[@]}" ps; fail "the gateway on S3 is not ready"; }
echo 'compose-user-password-123' | "${DC[@]}" exec -T auth mp3converter user add --email bob@example.com --password-stdin
curlflow "$base" bob@example.com compose-user-password-123 "$M/test.mkv" "$W/out-compose-s3"
objects=$("${DC[@]}" exec -T minio sh -c 'ls /data/mp3converter/mp3s' | wc -l)
echo "7. objects in the bucket's mp3s/: $objects"
[ "$objects" -ge 1 ] || fail "no MP3 in the bucket"
"${DC[@]}" down -v --remove-orphans
compose_up=''

phase
echo "all container checks passed"
