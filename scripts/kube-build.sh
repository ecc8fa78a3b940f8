#!/usr/bin/env bash
# Builds the Kubernetes binaries every CI phase uses, once, at one release:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy and kubectl, from the Go module proxy alone. Prints the bin
# directory.
#
#   scripts/kube-build.sh          the release matching k8s.io/api in deploy/go.mod
#                                  (v0.X.Y is v1.X.Y)
#
# Cached in $MP3CONVERTER_CI_CACHE/kube/v1.X.Y/bin (default
# ~/.cache/mp3converter-ci); only the binaries missing there are built.
# v1.34 is the newest release whose kubelet runs on this kind of host
# (cgroup v1, containerd 1.6). Cold, the build takes about 25 minutes on 2
# cores; the Go build cache makes later builds of other releases cheaper.
#
# A scratch module requires k8s.io/kubernetes and points each of its staging
# modules (./staging/src/k8s.io/X in its go.mod) at the published k8s.io/X
# v0.MINOR.PATCH; etcd is the version Kubernetes itself requires.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${MP3CONVERTER_CI_CACHE:-$HOME/.cache/mp3converter-ci}
api=$(awk '$1 == "k8s.io/api" {print $2}' "$ROOT/deploy/go.mod")
[[ $api =~ ^v0\.([0-9]+)\.([0-9]+)$ ]] || { echo "deploy/go.mod: k8s.io/api $api: want v0.MINOR.PATCH" >&2; exit 1; }
MINOR=${BASH_REMATCH[1]}
K8S=v1.$MINOR.${BASH_REMATCH[2]}
BIN=$CACHE/kube/$K8S/bin
CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

missing=()
for b in etcd "${CMDS[@]}"; do [ -x "$BIN/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} = 0 ]; then
  echo "$BIN"
  exit 0
fi

src=$CACHE/kube/$K8S/src
mkdir -p "$src" "$BIN"
mod=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
etcd=$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$mod")
{
  printf 'module local/kbuild\n\ngo 1.26.0\n\nrequire (\n\tk8s.io/kubernetes %s\n\tgo.etcd.io/etcd/server/v3 %s\n)\n\nreplace (\n' "$K8S" "$etcd"
  sed -n "s#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 v0.$MINOR.${K8S##*.}#p" "$mod"
  printf ')\n'
} >"$src/go.mod"
{
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "go.etcd.io/etcd/server/v3"\n'
  for c in "${CMDS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
  printf ')\n'
} >"$src/tools.go"
v=k8s.io/component-base/version
(
  cd "$src"
  export GOFLAGS=-mod=mod
  go mod tidy >&2
  for b in "${missing[@]}"; do
    start=$(date +%s)
    if [ "$b" = etcd ]; then
      go build -trimpath -ldflags '-s -w' -o "$BIN/.$b.new" go.etcd.io/etcd/server/v3 >&2
    else
      go build -trimpath -o "$BIN/.$b.new" -ldflags "-s -w -X $v.gitVersion=$K8S -X $v.gitMajor=1 -X $v.gitMinor=$MINOR -X $v.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S" \
        "k8s.io/kubernetes/cmd/$b" >&2
    fi
    mv "$BIN/.$b.new" "$BIN/$b"
    echo "built $b in $(($(date +%s) - start)) s" >&2
  done
)
echo "$BIN"
