# shellcheck shell=bash
# The images the one-node cluster of scripts/cluster-e2e.sh runs, as tars
# that `ctr images import` loads: no registry. Sourced; bash only. Needs
# $SRC (the repository) and scripts/lib/docker.sh sourced.
#
#   cluster_images WORK    fills CLUSTER_IMAGE_TARS with one tar per image
#
# The project's image (the Dockerfile, unchanged) and the stand-ins of
# deploy/compose/standins are built with Debian's dockerd and `docker save`d
# into $CACHE/cluster-images, named by a hash of what goes into each: when
# every tar is there, dockerd is not started at all. dockerd runs only for
# the builds and the saves, and is stopped (the host put back) before this
# returns.
#
# The pause image (the sandbox every pod starts in) needs no Docker: a static
# Go program (scripts/cluster/pause) in an OCI layout written here.

CLUSTER_IMAGE=mp3converter/mp3converter:ci-cluster
# name:tag  build context (relative to $SRC)
CLUSTER_STANDINS=(
  "mp3converter-standin/mariadb:bookworm deploy/compose/standins/mariadb"
  "mp3converter-standin/rabbitmq:bookworm deploy/compose/standins/rabbitmq"
  "mp3converter-standin/mongo:ferretdb-v1.24.2 deploy/compose/standins/mongo"
  "mp3converter-standin/mailpit:v1.33.1 deploy/compose/standins/mailpit"
)
CLUSTER_PAUSE_IMAGE=mp3converter.local/pause:ci
CLUSTER_IMAGE_TARS=()

# hash_files FILE...: one hash of the files' names and contents.
hash_files() {
  (cd "$SRC" && for f in "$@"; do printf '%s\n' "$f"; sha256sum <"$f"; done) | sha256sum | cut -c1-16
}

# image_key CONTEXT: the hash of a build context as git sees it (tracked and
# untracked files, .gitignore and .dockerignore's directories left out), the
# host's Go (the golang image) and the Dockerfile.
image_key() {
  local ctx=$1 files
  if [ "$ctx" = . ]; then
    # What .dockerignore keeps: the Go sources, go.mod, go.sum, the web page.
    mapfile -t files < <(cd "$SRC" && git ls-files -co --exclude-standard -- . \
      ':!deploy' ':!docs' ':!scripts' ':!.ci' ':!*.md' ':!*_test.go' ':!**/testdata/**' \
      ':!Makefile' ':!compose*.yaml' ':!.dockerignore' ':!.gitignore' | sort)
    files+=(Dockerfile)
  else
    mapfile -t files < <(cd "$SRC" && git ls-files -co --exclude-standard -- "$ctx" | sort)
  fi
  { go env GOVERSION; hash_files "${files[@]}"; } | sha256sum | cut -c1-16
}

cluster_pause_image() { # OUT.tar: the pause image as an OCI layout tar
  local out=$1 w ld ls cd cs md ms
  w=$(mktemp -d)
  mkdir -p "$w/rootfs" "$w/blobs/sha256"
  (cd "$SRC/scripts/cluster/pause" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$w/rootfs/pause" .)
  tar -C "$w/rootfs" --numeric-owner --owner=0 --group=0 --mtime=@0 -cf "$w/layer.tar" .
  ld=$(sha256sum "$w/layer.tar" | cut -d' ' -f1); ls=$(stat -c %s "$w/layer.tar")
  mv "$w/layer.tar" "$w/blobs/sha256/$ld"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535","WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"scripts/lib/cluster-images.sh"}]}' \
    "$ld" >"$w/config.json"
  cd=$(sha256sum "$w/config.json" | cut -d' ' -f1); cs=$(stat -c %s "$w/config.json")
  mv "$w/config.json" "$w/blobs/sha256/$cd"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$cd" "$cs" "$ld" "$ls" >"$w/manifest.json"
  md=$(sha256sum "$w/manifest.json" | cut -d' ' -f1); ms=$(stat -c %s "$w/manifest.json")
  mv "$w/manifest.json" "$w/blobs/sha256/$md"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$md" "$ms" "$CLUSTER_PAUSE_IMAGE" "${CLUSTER_PAUSE_IMAGE##*:}" >"$w/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
  tar -C "$w" -cf "$out.new" oci-layout index.json blobs
  mv "$out.new" "$out"
  rm -rf "$w"
}

cluster_images() {
  local work=$1 dir=$CACHE/cluster-images todo=() entry name ctx tar key
  mkdir -p "$dir"
  key=$(hash_files scripts/cluster/pause/main.go scripts/lib/cluster-images.sh)
  tar=$dir/pause-$key.tar
  [ -f "$tar" ] || { cluster_pause_image "$tar"; echo "built $tar"; }
  CLUSTER_IMAGE_TARS=("$tar")
  for entry in "$CLUSTER_IMAGE ." "${CLUSTER_STANDINS[@]}"; do
    read -r name ctx <<<"$entry"
    key=$(image_key "$ctx")
    tar=$dir/$(basename "${name%%:*}")-$key.tar
    CLUSTER_IMAGE_TARS+=("$tar")
    [ -f "$tar" ] || todo+=("$name $ctx $tar")
  done
  if [ ${#todo[@]} = 0 ]; then
    echo "every image tar is cached in $dir: no Docker needed"
    return 0
  fi
  echo "to build: ${todo[*]}"
  docker_up "$work" || return 1
  docker_base_images "$work" || { docker_down; return 1; }
  local rc=0 t0
  for entry in "${todo[@]}"; do
    read -r name ctx tar <<<"$entry"
    t0=$(date +%s)
    if [ "$ctx" = . ]; then
      DOCKER_BUILDKIT=1 $D build --progress=plain --build-arg VERSION="$(git -C "$SRC" describe --always --dirty 2>/dev/null || echo dev)" \
        -t "$name" "$SRC" >"$work/build-$(basename "${name%%:*}").log" 2>&1 || rc=1
    else
      DOCKER_BUILDKIT=1 $D build --progress=plain -t "$name" "$SRC/$ctx" >"$work/build-$(basename "${name%%:*}").log" 2>&1 || rc=1
    fi
    if [ $rc != 0 ]; then
      tail -30 "$work/build-$(basename "${name%%:*}").log"
      echo "FAIL: docker build $name" >&2
      break
    fi
    # Older tars of the same image go: the key changed.
    rm -f "$dir/$(basename "${name%%:*}")"-*.tar
    if ! { $D save -o "$tar.new" "$name" && mv "$tar.new" "$tar"; }; then rc=1; break; fi
    echo "built and saved $name in $(($(date +%s) - t0)) s: $tar ($(($(stat -c %s "$tar") / 1000000)) MB)"
  done
  docker_down
  return $rc
}
