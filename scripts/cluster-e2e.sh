#!/usr/bin/env bash
# The distributed system on real pods: a one-node Kubernetes cluster built on
# this host, deploy/overlays/ci-cluster applied to it, and the seed's flow
# through the gateway's Service, then a batch with the converter pod deleted
# in the middle. `make cluster-e2e`; run by .ci/run.
#
#   scripts/cluster-e2e.sh [WORK]     WORK: scratch dir (default .ci/work/cluster-e2e)
#
# Phases, each timed:
#   packages    iptables, conntrack, docker.io, debootstrap, ffmpeg, curl (only those missing)
#   kube-build  etcd and the Kubernetes v1.34 binaries (scripts/kube-build.sh, cached)
#   tools       Debian's containerd, runc and CNI plugins (apt-get download + dpkg -x,
#               never installed as services), CoreDNS from the Go module proxy (cached)
#   images      the project's image (the Dockerfile) and the stand-ins for MariaDB,
#               RabbitMQ, FerretDB and Mailpit as `docker save` tars, cached by a hash
#               of their inputs: dockerd runs only when one is missing
#               (scripts/lib/cluster-images.sh); the pause image from scripts/cluster/pause
#   cluster     etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd
#               (the images imported), kubelet, kube-proxy, CoreDNS (scripts/lib/cluster.sh)
#   deploy      hostPath PersistentVolumes for the StatefulSets' claims, the overlay
#               applied, every Deployment and StatefulSet ready (time printed)
#   flow        a user made with kubectl exec; login, upload, done, download and ffprobe
#               through the gateway's cluster IP (kube-proxy); the notice in Mailpit
#   batch       $BATCH uploads of 3-minute videos; while a job converts, the
#               converter's process killed with SIGKILL from the host (the kubelet
#               restarts it), then, while another converts, its pod deleted
#               (SIGTERM, SIGKILL after 1 s); every job done (attempts printed),
#               one mail and one MP3 of the right length per job
#   teardown    everything stopped, the host put back (also on failure): mounts,
#               the bridge, kube-proxy's iptables rules, sysctls, /run dirs
#
# Caches: ${MP3CONVERTER_CI_CACHE:-~/.cache/mp3converter-ci}.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
W=${1:-$SRC/.ci/work/cluster-e2e}
BATCH=${BATCH:-8}
mkdir -p "$W"
W=$(cd "$W" && pwd)
NS=mp3converter K=kubectl KBIN=
EMAIL=e2e@example.com
PASSWORD=cluster-e2e-password-123

fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/docker.sh
. "$SRC/scripts/lib/docker.sh"
# shellcheck source=scripts/lib/cluster-images.sh
. "$SRC/scripts/lib/cluster-images.sh"
# shellcheck source=scripts/lib/cluster.sh
. "$SRC/scripts/lib/cluster.sh"
# shellcheck source=scripts/lib/seedflow.sh
. "$SRC/scripts/lib/seedflow.sh"

phase_name='' phase_start=0 run_start=$(date +%s) times=()
phase() { # NAME: ends the phase before, starts NAME
  if [ -n "$phase_name" ]; then
    local s=$(($(date +%s) - phase_start))
    echo "phase $phase_name: $s s"
    times+=("$(printf '%5d s  %s' "$s" "$phase_name")")
  fi
  phase_name=${1:-} phase_start=$(date +%s)
  [ -z "$phase_name" ] || printf '\n== %s  %s\n' "$(date +%T)" "$phase_name"
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT
  if [ "$rc" != 0 ] && [ -n "$CL_W" ] && [ -f "${KUBECONFIG:-}" ]; then
    echo "-- what the cluster had at the failure" >&2
    "$K" get nodes,pods,pvc -A -o wide 2>&1 | head -40 >&2
    "$K" -n "$NS" get events --sort-by=.lastTimestamp 2>&1 | tail -30 >&2
    for d in gateway auth converter notification mailpit; do
      echo "-- kubectl logs deploy/$d (last 15 lines)" >&2
      "$K" -n "$NS" logs "deploy/$d" --tail 15 2>&1 >&2
    done
    for s in mysql rabbitmq mongodb; do
      echo "-- kubectl logs sts/$s (last 15 lines)" >&2
      "$K" -n "$NS" logs "sts/$s" --tail 15 2>&1 >&2
    done
    for l in kubelet containerd kube-apiserver; do
      echo "-- $l.log: last errors" >&2
      grep -iE '^E|error' "$CL_W/logs/$l.log" 2>/dev/null | tail -8 >&2
    done
  fi
  phase teardown
  docker_down
  cluster_down
  phase ''
  echo; echo "cluster-e2e phase times (total $(($(date +%s) - run_start)) s, exit $rc):"
  printf '%s\n' "${times[@]}"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

phase packages
install_missing iptables:iptables conntrack:conntrack dockerd:docker.io debootstrap:debootstrap curl:curl \
  python3:python3 openssl:openssl ffmpeg:ffmpeg ffprobe:ffmpeg

phase kube-build
KBIN=$("$SRC/scripts/kube-build.sh")
K=$KBIN/kubectl
"$K" version --client | sed -n 1p

phase tools
cluster_tools

phase images
cluster_images "$W"
du -m "${CLUSTER_IMAGE_TARS[@]}" | awk '{printf "%6d MB  %s\n", $1, $2}'

phase cluster
rm -rf "$W/cluster"
cluster_up "$W/cluster" "${CLUSTER_IMAGE_TARS[@]}"

phase deploy
# The kustomizations without any Secrets of the working tree; the minikube
# overlay's Secrets as a user makes them, with Mailpit as the SMTP server.
rm -rf "$W/deploy" && mkdir -p "$W/deploy"
tar -C "$SRC/deploy" --exclude=secrets --exclude='*.env' -cf - base components overlays | tar -C "$W/deploy" -xf -
SMTP_URL=smtp://mailpit:1025 sh "$W/deploy/overlays/minikube/make-secrets.sh" "$W/deploy/overlays/minikube" >/dev/null
# No provisioner: a hostPath PersistentVolume per claim, bound to it by
# claimRef, owned by the uid the StatefulSets run as.
for claim in data-mysql-0:2Gi data-rabbitmq-0:1Gi data-mongodb-0:20Gi; do
  name=${claim%%:*} size=${claim#*:}
  mkdir -p "$W/cluster/pv/$name" && chown 999:999 "$W/cluster/pv/$name" && chmod 0750 "$W/cluster/pv/$name"
  printf 'apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: %s}\nspec:\n  capacity: {storage: %s}\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Retain\n  claimRef: {namespace: %s, name: %s}\n  hostPath: {path: %s, type: Directory}\n' \
    "$name" "$size" "$NS" "$name" "$W/cluster/pv/$name"
  echo ---
done >"$W/pvs.yaml"
"$K" apply -f "$W/pvs.yaml"
t0=$(date +%s)
"$K" apply --server-side -k "$W/deploy/overlays/ci-cluster" >"$W/apply.log" || { cat "$W/apply.log"; fail "kubectl apply"; }
wc -l <"$W/apply.log" | xargs echo "objects applied:"
for w in statefulset/mysql statefulset/rabbitmq statefulset/mongodb deployment/mailpit \
  deployment/auth deployment/gateway deployment/converter deployment/notification; do
  "$K" -n "$NS" rollout status "$w" --timeout=600s >/dev/null || fail "$w did not become ready"
  echo "$w ready after $(($(date +%s) - t0)) s"
done
echo "every Deployment and StatefulSet ready in $(($(date +%s) - t0)) s"
"$K" -n "$NS" get pods -o wide

phase flow
echo "$PASSWORD" | "$K" -n "$NS" exec -i deploy/auth -- mp3converter user add --email "$EMAIL" --password-stdin
gw=$("$K" -n "$NS" get service gateway -o jsonpath='{.spec.clusterIP}')
mp=$("$K" -n "$NS" get service mailpit -o jsonpath='{.spec.clusterIP}')
base=http://$gw:8080
echo "gateway: Service $base (kube-proxy), Mailpit API http://$mp:8025"
curl -fsS "$base/readyz" -w ' (readyz %{http_code})\n'
M=$W/media && mkdir -p "$M"
test_video "$M/test.mp4" 6
curlflow "$base" "$EMAIL" "$PASSWORD" "$M/test.mp4" "$W/out-flow"
mailpit_notice "http://$mp:8025" "$EMAIL"

phase batch
# Long audio (3 minutes, with small pictures), so that the converter is
# busy when it is killed.
test_video "$M/batch.mkv" 180 160x120
tok=$(login "$base" "$EMAIL" "$PASSWORD")
jobs=()
for i in $(seq "$BATCH"); do
  cp "$M/batch.mkv" "$M/batch-$i.mkv"
  up=$(curl -fsS -X POST -F "file=@$M/batch-$i.mkv" -H "Authorization: Bearer $tok" "$base/upload")
  jobs+=("$(json "$up" job_id)")
done
echo "uploaded $BATCH videos of 180 s: jobs ${jobs[*]}"

# states: how many jobs of the batch are in each state.
states() {
  local j
  for j in "${jobs[@]}"; do json "$(curl -fsS -H "Authorization: Bearer $tok" "$base/jobs/$j")" status; done | sort | uniq -c | xargs
}
# while_processing WHAT: waits until a job of the batch is being converted.
while_processing() {
  local st=''
  for _ in $(seq 240); do
    st=$(states)
    case " $st " in *" processing "*) break ;; esac
    sleep 0.3
  done
  echo "job states when $1: $st"
  case " $st " in *" processing "*) ;; *) echo "WARNING: no job was being converted when $1" ;; esac
}
converter_pod() { # the name of a ready converter pod other than $1
  "$K" -n "$NS" get pods -l app.kubernetes.io/name=converter \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    awk -v old="$1" '$1 != old && $2 == "True" {print $1}'
}

# 1. A crash: the converter's process killed (SIGKILL) from the host, mid-
# conversion; the kubelet restarts the container in the same pod.
victim=$(converter_pod '')
cid=$("$K" -n "$NS" get pod "$victim" -o jsonpath='{.status.containerStatuses[0].containerID}')
pid=$("$CL_RT/usr/bin/ctr" -a "$CL_SOCK" -n k8s.io tasks ls | awk -v id="${cid#containerd://}" '$1 == id {print $2}')
# It restarted already while MySQL and RabbitMQ were starting: count on.
restarts=$("$K" -n "$NS" get pod "$victim" -o jsonpath='{.status.containerStatuses[0].restartCount}')
while_processing "the converter is killed"
kill -9 "$pid"
t0=$(date +%s)
echo "killed the converter's process (pid $pid in pod $victim) with SIGKILL"
for _ in $(seq 600); do
  [ "$("$K" -n "$NS" get pod "$victim" -o jsonpath='{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].ready}')" = "$((restarts + 1)) true" ] && break
  sleep 0.5
done
echo "its container restarted and ready $(($(date +%s) - t0)) s after"

# 2. A deletion: the pod deleted (SIGTERM, SIGKILL after 1 s) mid-batch;
# the Deployment makes a new one.
while_processing "the pod is deleted"
t0=$(date +%s)
"$K" -n "$NS" delete pod "$victim" --grace-period=1 --wait=false
echo "deleted pod $victim (SIGTERM, SIGKILL after 1 s)"
new=''
for _ in $(seq 600); do
  new=$(converter_pod "$victim")
  [ -z "$new" ] || break
  sleep 0.5
done
[ -n "$new" ] || fail "no new converter pod became ready"
echo "a new converter pod, $new, ready $(($(date +%s) - t0)) s after"
done_n=0
attempts=()
for j in "${jobs[@]}"; do
  out=$(wait_job "$base" "$tok" "$j" 600) || fail "job $j: $out"
  done_n=$((done_n + 1))
  attempts+=("$(json "$out" attempts)")
done
echo "jobs done: $done_n of $BATCH, $(($(date +%s) - t0)) s after the deletion; attempts per job: ${attempts[*]}"
# One mail per job (its Message-ID names the job) and the same MP3 in it as
# the job's; no job converted twice into two MP3s.
sleep 5
curl -fsS "http://$mp:8025/api/v1/messages?limit=500" >"$W/mails.json"
python3 - "$W/mails.json" "$EMAIL" "${jobs[@]}" <<'EOF' || fail "mails per job (above)"
import json, re, sys
msgs = json.load(open(sys.argv[1]))["messages"]
email, jobs = sys.argv[2], sys.argv[3:]
per = {}
for m in msgs:
    if any(t["Address"] == email for t in m["To"]):
        per.setdefault(m["MessageID"], []).append(re.findall(r"file_id: (\S+)", m["Snippet"]))
bad = 0
for j in jobs:
    got = per.get("mp3-%s@mp3converter" % j, [])
    fids = {f for l in got for f in l}
    if len(got) != 1 or len(fids) > 1:
        bad += 1
        print("job %s: %d mails, MP3s %s" % (j, len(got), sorted(fids)))
dups = sum(max(0, len(per.get("mp3-%s@mp3converter" % j, [])) - 1) for j in jobs)
print("mails: %d for %d jobs; jobs with exactly one mail: %d; duplicated: %d" % (
    sum(len(per.get("mp3-%s@mp3converter" % j, [])) for j in jobs), len(jobs), len(jobs) - bad, dups))
sys.exit(1 if bad else 0)
EOF
# Every job's MP3 downloads, and is distinct from the others' (one MP3 each).
fids=()
for j in "${jobs[@]}"; do
  fid=$(json "$(curl -fsS -H "Authorization: Bearer $tok" "$base/jobs/$j")" mp3_fid)
  curl -fsS -o "$W/batch-$j.mp3" -H "Authorization: Bearer $tok" "$base/download?fid=$fid"
  fids+=("$fid")
done
for j in "${jobs[@]}"; do check_mp3 "$W/batch-$j.mp3" "$M/batch.mkv" >/dev/null; done
check_mp3 "$W/batch-${jobs[0]}.mp3" "$M/batch.mkv"
[ "$(printf '%s\n' "${fids[@]}" | sort -u | wc -l)" = "$BATCH" ] || fail "two jobs share an MP3"
echo "MP3s: $BATCH downloads of the right length, $BATCH distinct files"
echo "after a converter crash and a pod deletion mid-batch: $done_n jobs done of $BATCH, 0 lost, 0 duplicated"
