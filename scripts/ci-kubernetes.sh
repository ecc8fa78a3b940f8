#!/usr/bin/env bash
# Applies deploy/base and every deploy/overlays/* to a real kube-apiserver,
# with nothing but the Go module proxy: no cluster, registry or container.
#
#   scripts/ci-kubernetes.sh [WORK]     WORK: scratch dir (default .ci/work/kubernetes)
#
# 1. build   the Kubernetes binaries of every phase, once, by
#            scripts/kube-build.sh: the release matching k8s.io/api in
#            deploy/go.mod (v0.X.Y is v1.X.Y), cached in
#            $MP3CONVERTER_CI_CACHE/kube/v1.X.Y/bin (default
#            ~/.cache/mp3converter-ci); skipped when they are there.
# 2. crds    the CRDs the overlays use, from the same proxy: KEDA's
#            ScaledObject and TriggerAuthentication, the Prometheus Operator's
#            ServiceMonitor ($KEDA_VERSION, $PROMETHEUS_OPERATOR_VERSION).
# 3. start   etcd and kube-apiserver on 127.0.0.1 only: self-signed
#            certificates, token auth, RBAC.
# 4. install the CRDs.
# 5. one phase per kustomization, each in namespaces of its own (a
#    kustomization of it with the namespace overridden; without
#    kube-controller-manager a deleted namespace is never emptied), which
#    enforce Pod Security "restricted": apply --dry-run=server
#    --validate=strict, as kubectl apply -k and as a server-side apply;
#    apply --server-side --validate=strict for real and print what it did;
#    apply again and check nothing changed (resourceVersion and generation
#    of every object, and kubectl diff). Any warning from kubectl or the API
#    server (a Pod Security violation, a deprecated API, a field it dropped)
#    fails the run.
#
# The minikube overlay's Secrets come from files that are not in the
# repository: its make-secrets.sh writes them in the copy, as a user would.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-$ROOT/.ci/work/kubernetes}
CACHE=${MP3CONVERTER_CI_CACHE:-$HOME/.cache/mp3converter-ci}
KEDA_VERSION=${KEDA_VERSION:-v2.21.0}
PROMETHEUS_OPERATOR_VERSION=${PROMETHEUS_OPERATOR_VERSION:-v0.85.0}
ETCD_PORT=${ETCD_PORT:-23379}
API_PORT=${API_PORT:-26443}

api=$(awk '$1 == "k8s.io/api" {print $2}' "$ROOT/deploy/go.mod")
[[ $api =~ ^v0\.([0-9]+)\.([0-9]+)$ ]] || { echo "deploy/go.mod: k8s.io/api $api: want v0.MINOR.PATCH" >&2; exit 1; }
MINOR=${BASH_REMATCH[1]}
K8S=v1.$MINOR.${BASH_REMATCH[2]}
BIN=$CACHE/kube/$K8S/bin
K=$BIN/kubectl

mkdir -p "$W"
W=$(cd "$W" && pwd)
export KUBECONFIG=$W/kubeconfig

phase_name='' phase_start=0 run_start=$(date +%s)
phase() {
  [ -z "$phase_name" ] || echo "phase $phase_name: $(($(date +%s) - phase_start)) s"
  phase_name=$1 phase_start=$(date +%s)
  [ -z "$1" ] || printf '\n== %s\n' "$1"
}

apiserver_pid='' etcd_pid=''
# stop PID NAME: SIGTERM, then SIGKILL after 30 s.
stop() {
  [ -n "$1" ] && kill "$1" 2>/dev/null || return 0
  for _ in $(seq 60); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.5; done
  echo "$2 did not stop; killing it" >&2
  kill -9 "$1" 2>/dev/null || true
}
cleanup() {
  rc=$?
  set +e
  if [ $rc -ne 0 ] && [ -f "$W/apiserver.log" ]; then
    echo "-- last lines of $W/apiserver.log" >&2
    tail -n 20 "$W/apiserver.log" >&2
  fi
  # kube-apiserver first: it hangs on SIGTERM once etcd is gone.
  stop "$apiserver_pid" kube-apiserver
  stop "$etcd_pid" etcd
  echo "total: $(($(date +%s) - run_start)) s, exit $rc"
}
trap cleanup EXIT

# crds: copies the CRD files of the given module@version and paths to
# $W/crds.
crds() {
  local dir
  dir=$(go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  shift
  for f in "$@"; do cp "$dir/$f" "$W/crds/"; done
}

# start: etcd and kube-apiserver on 127.0.0.1, and a kubeconfig for them.
start() {
  local p=$W/pki
  for port in "$ETCD_PORT" $((ETCD_PORT + 1)) "$API_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port is in use (set ETCD_PORT, API_PORT)" >&2
      return 1
    fi
  done
  rm -rf "$p" "$W/etcd" && mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" -days 1 -subj /CN=mp3converter-ci-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$p/apiserver.key" -out "$p/apiserver.csr" -subj /CN=kube-apiserver 2>/dev/null
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 1 -out "$p/apiserver.crt" \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n') 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  local token
  token=$(openssl rand -hex 16)
  echo "$token,ci-admin,ci-admin,system:masters" >"$p/tokens.csv"
  cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: ci, cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$p/ca.crt"}}]
users: [{name: ci-admin, user: {token: $token}}]
contexts: [{name: ci, context: {cluster: ci, user: ci-admin}}]
current-context: ci
EOF
  local etcd=http://127.0.0.1:$ETCD_PORT peer=http://127.0.0.1:$((ETCD_PORT + 1))
  setsid "$BIN/etcd" --name ci --data-dir "$W/etcd" \
    --listen-client-urls "$etcd" --advertise-client-urls "$etcd" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "ci=$peer" >"$W/etcd.log" 2>&1 </dev/null &
  etcd_pid=$!
  # The address the apiserver advertises for the kubernetes Service; it
  # listens on 127.0.0.1 only.
  local addr
  addr=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  addr=${addr:-$(hostname -I | awk '{print $1}')}
  setsid "$BIN/kube-apiserver" --etcd-servers="$etcd" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" --advertise-address="$addr" \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" --client-ca-file="$p/ca.crt" \
    --token-auth-file="$p/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --cert-dir="$W/certs" >"$W/apiserver.log" 2>&1 </dev/null &
  apiserver_pid=$!
  for _ in $(seq 240); do
    "$K" get --raw /readyz >/dev/null 2>&1 && "$K" get namespace default >/dev/null 2>&1 && break
    kill -0 "$apiserver_pid" 2>/dev/null || { echo "kube-apiserver exited" >&2; return 1; }
    sleep 0.5
  done
  "$K" version
}

# kc LOG ARGS...: kubectl ARGS, its stderr kept in LOG and shown; fails on
# a warning there.
kc() {
  local log=$1 rc=0
  shift
  "$K" "$@" 2>"$log" || rc=$?
  cat "$log" >&2
  if grep -qi warning "$log"; then
    echo "FAIL: kubectl $*: warned (above)" >&2
    return 1
  fi
  return $rc
}

# objects DIR: kind, name, resourceVersion and generation of every object
# DIR renders, as the API server has them.
objects() {
  "$K" get -k "$1" --no-headers \
    -o custom-columns=KIND:.kind,NAMESPACE:.metadata.namespace,NAME:.metadata.name,RV:.metadata.resourceVersion,GEN:.metadata.generation | sort
}

# namespace NAME MODE: creates the namespace NAME, enforcing Pod Security
# "restricted", with a client-side or a server-side apply (MODE), as the
# applies that follow in it will be: kubectl warns when it finds the other
# kind's bookkeeping.
namespace() {
  local flags=()
  [ "$2" = client ] || flags=(--server-side)
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/warn: restricted\n    pod-security.kubernetes.io/audit: restricted\n' "$1" |
    kc "$log/namespace-$2" apply "${flags[@]}" -f -
}

# wrap NAMESPACE TARGET: a kustomization of deploy/TARGET with everything
# moved to NAMESPACE; prints its directory.
wrap() {
  local dir=$W/deploy/ci/$1
  mkdir -p "$dir"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources:\n  - ../../%s\n' "$1" "$2" >"$dir/kustomization.yaml"
  echo "$dir"
}

# check NAME TARGET: the checks of phase 5 for deploy/TARGET. The dry run of
# a client-side apply (what kubectl apply -k does) runs in the namespace
# mp3c-NAME-csa, the server-side applies in mp3c-NAME.
check() {
  local target=$2 ns=mp3c-$1 log=$W/logs/$1 dir csa
  mkdir -p "$log"
  csa=$(wrap "$ns-csa" "$target")
  namespace "$ns-csa" client
  kc "$log/dry-run" apply --dry-run=server --validate=strict -k "$csa" >"$log/dry-run.out"

  dir=$(wrap "$ns" "$target")
  namespace "$ns" server
  kc "$log/dry-run-ssa" apply --server-side --dry-run=server --validate=strict -k "$dir" >"$log/dry-run-ssa.out"
  echo "-- kubectl apply --server-side --validate=strict -k deploy/$target (namespace $ns)"
  kc "$log/apply" apply --server-side --validate=strict -k "$dir"
  objects "$dir" >"$log/before"
  kc "$log/reapply" apply --server-side --validate=strict -k "$dir" >"$log/reapply.out"
  objects "$dir" >"$log/after"
  if ! diff -u "$log/before" "$log/after"; then
    echo "FAIL: deploy/$target: applying it again changed the objects above" >&2
    return 1
  fi
  local rc=0
  kc "$log/diff" diff --server-side -k "$dir" || rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL: deploy/$target: kubectl diff --server-side exited $rc after an apply" >&2
    return 1
  fi
  echo "-- deploy/$target: $(wc -l <"$log/after") objects, unchanged by a second apply"
}

phase build
"$ROOT/scripts/kube-build.sh"

phase crds
rm -rf "$W/crds" && mkdir -p "$W/crds"
crds "github.com/kedacore/keda/v2@$KEDA_VERSION" \
  config/crd/bases/keda.sh_scaledobjects.yaml config/crd/bases/keda.sh_triggerauthentications.yaml
crds "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
  example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
ls "$W/crds"

# The kustomizations, without any Secrets from the working tree.
rm -rf "$W/deploy" "$W/logs" && mkdir -p "$W/deploy"
dirs=(base components overlays)
[ ! -d "$ROOT/deploy/grafana" ] || dirs+=(grafana)
tar -C "$ROOT/deploy" --exclude=secrets --exclude='*.env' -cf - "${dirs[@]}" | tar -C "$W/deploy" -xf -
for s in "$W"/deploy/overlays/*/make-secrets.sh; do sh "$s" "$(dirname "$s")" >/dev/null; done

phase start
start

phase install-crds
"$K" apply --server-side -f "$W/crds"
"$K" wait --for=condition=Established --timeout=60s -f "$W/crds"

phase base
check base base
for o in "$W"/deploy/overlays/*/; do
  o=$(basename "$o")
  phase "overlay $o"
  check "$o" "overlays/$o"
done
phase ''
overlays=("$W"/deploy/overlays/*/)
echo "OK: deploy/base and ${#overlays[@]} overlays applied to kube-apiserver $K8S without a warning, and re-applied without a change"
