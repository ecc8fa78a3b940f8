# shellcheck shell=bash disable=SC2012
# A one-node Kubernetes cluster on this host, for scripts/cluster-e2e.sh:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kube-proxy (scripts/kube-build.sh), Debian's containerd, runc and CNI
# plugins (unpacked, never installed as services), CoreDNS from the Go module
# proxy. Sourced; bash only. Needs $SRC and $CACHE.
#
#   cluster_tools          unpack containerd/runc/CNI, build CoreDNS (cached)
#   cluster_up WORK TARS…  start everything, import the image tars; KUBECONFIG set
#   cluster_down           stop everything and put the host back
#
# Everything listens on 127.0.0.1, or on the cluster's own bridge address
# (CoreDNS). Ports and ranges differ from scripts/ci-kubernetes.sh's
# (etcd 23379, apiserver 26443, services 10.0.0.0/24) and from docker0's
# 172.17.0.0/16, so the two may run side by side:
CL_ETCD_PORT=${CL_ETCD_PORT:-24379}   # and +1 for peers
CL_API_PORT=${CL_API_PORT:-27443}
CL_CM_PORT=27257 CL_SCHED_PORT=27259
CL_KUBELET_PORT=27250 CL_KUBELET_HEALTHZ=27248
CL_PROXY_HEALTHZ=27256 CL_PROXY_METRICS=27249
CL_SERVICE_CIDR=10.233.0.0/24
CL_POD_CIDR=10.234.0.0/24 CL_POD_GW=10.234.0.1 CL_BRIDGE=mp3c0
CL_NODE=mp3c-node
# containerd's socket and state: /run, short enough for a unix socket path.
CL_RUN=/run/mp3converter-cluster
CL_SOCK=$CL_RUN/containerd.sock
CONTAINERD_DEBS=(containerd runc containernetworking-plugins)
COREDNS_VERSION=${COREDNS_VERSION:-v1.14.7}

cl_pids=() cl_names=() cl_host_saved='' CL_W=''
# sysctls that the bridge plugin, kubelet or kube-proxy may set: put back.
CL_SYSCTLS=(net.ipv4.ip_forward net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
  net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max
  net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait
  kernel.panic kernel.panic_on_oops vm.overcommit_memory)
declare -A cl_sysctl0=()

# cluster_tools: $CL_RT (containerd, runc, CNI plugins unpacked) and
# $CL_COREDNS, from the cache or made there.
# cached_deb DIR PKG: the path of PKG's .deb in DIR, or nothing.
cached_deb() { ls "$1/$2"_*.deb 2>/dev/null | sed -n 1p || true; }

cluster_tools() {
  local debs=$CACHE/debs d names=() p v
  mkdir -p "$debs"
  for p in "${CONTAINERD_DEBS[@]}"; do
    v=$(cached_deb "$debs" "$p")
    if [ -z "$v" ]; then
      # A new machine's package lists may be stale: then update and retry.
      # (On one, the first download printed nothing and wrote no file.)
      (cd "$debs" && apt-get download "$p") || true
      v=$(cached_deb "$debs" "$p")
    fi
    if [ -z "$v" ]; then
      apt-get -o DPkg::Lock::Timeout=600 update -qq || return 1
      (cd "$debs" && apt-get download "$p") || return 1
      v=$(cached_deb "$debs" "$p")
      [ -n "$v" ] || { echo "apt-get download $p wrote no .deb in $debs" >&2; return 1; }
    fi
    names+=("$(basename "$v" .deb)")
  done
  CL_RT=$CACHE/cluster-runtime/$(printf '%s\n' "${names[@]}" | sha256sum | cut -c1-12)
  if [ ! -x "$CL_RT/usr/bin/containerd" ]; then
    rm -rf "$CL_RT.new" && mkdir -p "$CL_RT.new"
    for d in "${names[@]}"; do dpkg -x "$debs/$d.deb" "$CL_RT.new"; done
    rm -rf "$CL_RT" && mv "$CL_RT.new" "$CL_RT"
  fi
  echo "runtime: ${names[*]} in $CL_RT"
  CL_COREDNS=$CACHE/coredns/$COREDNS_VERSION/bin/coredns
  if [ ! -x "$CL_COREDNS" ]; then
    local t0; t0=$(date +%s)
    rm -rf "$CACHE/coredns/$COREDNS_VERSION/bin.new"
    GOBIN=$CACHE/coredns/$COREDNS_VERSION/bin.new CGO_ENABLED=0 \
      go install -trimpath -ldflags '-s -w' "github.com/coredns/coredns@$COREDNS_VERSION" || return 1
    rm -rf "$CACHE/coredns/$COREDNS_VERSION/bin"
    mv "$CACHE/coredns/$COREDNS_VERSION/bin.new" "$CACHE/coredns/$COREDNS_VERSION/bin"
    echo "built CoreDNS $COREDNS_VERSION in $(($(date +%s) - t0)) s"
  fi
  "$CL_COREDNS" -version | sed -n 1p
}

# cl_start NAME LOG CMD…: a server of ours, in its own session; stopped by
# cluster_down, newest first.
cl_start() {
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  cl_pids+=($!) cl_names+=("$name")
}

# cl_wait WHAT SECONDS CMD…: runs CMD every half second until it succeeds.
cl_wait() {
  local what=$1 n=$(($2 * 2))
  shift 2
  for _ in $(seq "$n"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "FAIL: $what: not up within $((n / 2)) s" >&2
  return 1
}

cl_port_free() {
  local port
  for port in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "FAIL: port $port is in use (another cluster-e2e? set CL_ETCD_PORT, CL_API_PORT)" >&2
      return 1
    fi
  done
}

# cl_save_host: what cluster_down puts back.
cl_save_host() {
  local s
  for s in "${CL_SYSCTLS[@]}"; do
    cl_sysctl0[$s]=$(sysctl -n "$s" 2>/dev/null || echo '')
  done
  cl_run_containerd0=''; [ -d /run/containerd ] && cl_run_containerd0=yes
  ls /run/containerd/s 2>/dev/null | sort >"$CL_W/shims.before" || true
  cl_run_netns0=''; [ -d /run/netns ] && cl_run_netns0=yes
  cl_varlog0=''; [ -d /var/log/containers ] && cl_varlog0=yes
  cl_varlib0=''; [ -d /var/lib/kubelet ] && cl_varlib0=yes
  cl_forward_policy0=$(iptables -S FORWARD | sed -n 's/^-P FORWARD //p')
  cl_iptables >"$CL_W/iptables.before"
  ls /run/netns 2>/dev/null | sort >"$CL_W/netns.before" || true
  cl_host_saved=yes
}

# cl_iptables: every table's rules, chains of its own and policies, without
# counters (iptables-nft also lists a table once something looked at it,
# empty: such a table is no rule).
cl_iptables() {
  local t
  for t in filter nat mangle raw; do
    iptables -t "$t" -S 2>/dev/null | sed "s/^/$t /"
  done
}

cl_certs() {
  local p=$CL_W/pki
  rm -rf "$p" && mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" -days 1 -subj /CN=mp3converter-cluster-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$p/apiserver.key" -out "$p/apiserver.csr" -subj /CN=kube-apiserver 2>/dev/null
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 1 -out "$p/apiserver.crt" \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1,IP:%s,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' "${CL_SERVICE_CIDR%.0/24}.1") 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  local admin node
  admin=$(openssl rand -hex 16) node=$(openssl rand -hex 16)
  printf '%s,cluster-admin,cluster-admin,system:masters\n%s,system:node:%s,system:node:%s,system:nodes\n' \
    "$admin" "$node" "$CL_NODE" "$CL_NODE" >"$p/tokens.csv"
  cl_kubeconfig "$admin" >"$CL_W/kubeconfig"
  cl_kubeconfig "$node" >"$CL_W/kubelet.kubeconfig"
}

cl_kubeconfig() { # TOKEN
  cat <<EOF
apiVersion: v1
kind: Config
clusters: [{name: ci, cluster: {server: "https://127.0.0.1:$CL_API_PORT", certificate-authority: "$CL_W/pki/ca.crt"}}]
users: [{name: u, user: {token: $1}}]
contexts: [{name: ci, context: {cluster: ci, user: u}}]
current-context: ci
EOF
}

cl_control_plane() {
  local p=$CL_W/pki etcd=http://127.0.0.1:$CL_ETCD_PORT peer=http://127.0.0.1:$((CL_ETCD_PORT + 1))
  rm -rf "$CL_W/etcd"
  # The address the kubernetes Service names (an endpoint may not be
  # loopback); the apiserver listens on 127.0.0.1 only, and no pod here
  # talks to it.
  local addr
  addr=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  addr=${addr:-$(hostname -I | awk '{print $1}')}
  cl_start etcd "$CL_W/logs/etcd.log" "$KBIN/etcd" --name ci --data-dir "$CL_W/etcd" \
    --listen-client-urls "$etcd" --advertise-client-urls "$etcd" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "ci=$peer" --unsafe-no-fsync
  cl_start kube-apiserver "$CL_W/logs/kube-apiserver.log" "$KBIN/kube-apiserver" --etcd-servers="$etcd" \
    --bind-address=127.0.0.1 --secure-port="$CL_API_PORT" --advertise-address="$addr" \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" --client-ca-file="$p/ca.crt" \
    --token-auth-file="$p/tokens.csv" --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --service-cluster-ip-range="$CL_SERVICE_CIDR" --cert-dir="$CL_W/certs" \
    --kubelet-preferred-address-types=InternalIP --allow-privileged=false
  cl_wait kube-apiserver 120 "$KBIN/kubectl" get --raw /readyz || return 1
  cl_start kube-controller-manager "$CL_W/logs/kube-controller-manager.log" "$KBIN/kube-controller-manager" \
    --kubeconfig="$CL_W/kubeconfig" --authentication-kubeconfig="$CL_W/kubeconfig" --authorization-kubeconfig="$CL_W/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$CL_CM_PORT" --leader-elect=false \
    --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" \
    --service-cluster-ip-range="$CL_SERVICE_CIDR" --use-service-account-credentials=false
  cl_start kube-scheduler "$CL_W/logs/kube-scheduler.log" "$KBIN/kube-scheduler" \
    --kubeconfig="$CL_W/kubeconfig" --authentication-kubeconfig="$CL_W/kubeconfig" --authorization-kubeconfig="$CL_W/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$CL_SCHED_PORT" --leader-elect=false
}

# cl_containerd: containerd with state of its own, the CNI bridge, and the
# images imported.
cl_containerd() {
  local c=$CL_W/containerd tar
  mkdir -p "$c" "$CL_W/cni/net.d" "$CL_RUN"
  cat >"$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$CL_RUN/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CL_SOCK"
[ttrpc]
  address = "$CL_RUN/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$CLUSTER_PAUSE_IMAGE"
  # root here lacks CAP_SYS_RESOURCE: without this runc fails writing
  # /proc/self/oom_score_adj.
  restrict_oom_score_adj = true
  disable_apparmor = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CL_RT/usr/lib/cni"
    conf_dir = "$CL_W/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$CL_RT/usr/sbin/runc"
        Root = "$CL_RUN/runc"
        SystemdCgroup = false
EOF
  # ipMasq false: no iptables rules of the plugin's; the host reaches the
  # pods on the bridge. hairpinMode: a pod reaches itself through a Service.
  cat >"$CL_W/cni/net.d/10-mp3c.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "mp3c", "plugins": [{
  "type": "bridge", "bridge": "$CL_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
  "ipam": {"type": "host-local", "dataDir": "$CL_W/cni/ipam",
           "ranges": [[{"subnet": "$CL_POD_CIDR", "gateway": "$CL_POD_GW"}]],
           "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOF
  # The bridge made now, so that CoreDNS can listen on its address before
  # the first pod; the bridge plugin takes it as it is.
  ip link add "$CL_BRIDGE" type bridge
  ip addr add "$CL_POD_GW/${CL_POD_CIDR#*/}" dev "$CL_BRIDGE"
  ip link set "$CL_BRIDGE" up
  # Pods' traffic is forwarded (the bridge plugin turns ip_forward on) even
  # where the FORWARD policy is DROP (as dockerd leaves it while it runs).
  iptables -I FORWARD -i "$CL_BRIDGE" -j ACCEPT -m comment --comment mp3converter-cluster
  iptables -I FORWARD -o "$CL_BRIDGE" -j ACCEPT -m comment --comment mp3converter-cluster
  iptables -I INPUT -i "$CL_BRIDGE" -p tcp --dport "$CL_KUBELET_PORT" -j DROP -m comment --comment mp3converter-cluster
  PATH=$CL_RT/usr/bin:$CL_RT/usr/sbin:$PATH cl_start containerd "$CL_W/logs/containerd.log" \
    "$CL_RT/usr/bin/containerd" --config "$c/config.toml"
  cl_wait containerd 60 "$CL_RT/usr/bin/ctr" -a "$CL_SOCK" version || return 1
  for tar in "$@"; do
    "$CL_RT/usr/bin/ctr" -a "$CL_SOCK" -n k8s.io images import "$tar" >/dev/null || return 1
  done
  "$CL_RT/usr/bin/ctr" -a "$CL_SOCK" -n k8s.io images ls -q | grep -v '^sha256:'
}

cl_node() {
  local k=$CL_W/kubelet
  mkdir -p "$k/root" "$k/pod-logs"
  : >"$CL_W/resolv.conf"
  cat >"$k/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# On the bridge's address: a node's address may not be loopback, and the
# apiserver reaches the kubelet (logs, exec) at the node's address. Pods
# may not connect to it (an INPUT rule, cl_containerd).
address: $CL_POD_GW
port: $CL_KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $CL_KUBELET_HEALTHZ
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$CL_SOCK
# cgroup v1 without systemd; no QOS cgroups or node allocatable enforcement
# (root here cannot manage every controller as kubelet wants).
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
localStorageCapacityIsolation: false
clusterDomain: cluster.local
clusterDNS: [$CL_POD_GW]
resolvConf: $CL_W/resolv.conf
podLogsDir: $k/pod-logs
serializeImagePulls: false
maxPods: 40
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
  cl_start kubelet "$CL_W/logs/kubelet.log" "$KBIN/kubelet" --config="$k/config.yaml" \
    --kubeconfig="$CL_W/kubelet.kubeconfig" --root-dir="$k/root" --cert-dir="$k/pki" \
    --hostname-override="$CL_NODE" --node-ip="$CL_POD_GW"
  cat >"$CL_W/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$CL_W/kubeconfig"}
mode: iptables
hostnameOverride: $CL_NODE
clusterCIDR: $CL_POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$CL_PROXY_HEALTHZ
metricsBindAddress: 127.0.0.1:$CL_PROXY_METRICS
# Leave the host's conntrack sysctls and route_localnet alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF
  cl_start kube-proxy "$CL_W/logs/kube-proxy.log" "$KBIN/kube-proxy" --config="$CL_W/kube-proxy.yaml"
  cat >"$CL_W/Corefile" <<EOF
cluster.local:53 in-addr.arpa:53 {
  bind $CL_POD_GW
  errors
  kubernetes cluster.local in-addr.arpa {
    kubeconfig $CL_W/kubeconfig ci
    pods insecure
  }
  cache 5
}
.:53 {
  bind $CL_POD_GW
  forward . /etc/resolv.conf
}
EOF
  cl_start coredns "$CL_W/logs/coredns.log" "$CL_COREDNS" -conf "$CL_W/Corefile"
  cl_wait "node $CL_NODE Ready" 120 "$KBIN/kubectl" wait --for=condition=Ready "node/$CL_NODE" --timeout=1s || return 1
}

cluster_up() {
  CL_W=$1
  shift
  mkdir -p "$CL_W/logs"
  export KUBECONFIG=$CL_W/kubeconfig
  cl_port_free "$CL_ETCD_PORT" $((CL_ETCD_PORT + 1)) "$CL_API_PORT" "$CL_CM_PORT" "$CL_SCHED_PORT" \
    "$CL_KUBELET_PORT" "$CL_KUBELET_HEALTHZ" "$CL_PROXY_HEALTHZ" "$CL_PROXY_METRICS" || return 1
  if ip link show "$CL_BRIDGE" >/dev/null 2>&1 || [ -e "$CL_SOCK" ]; then
    echo "FAIL: $CL_BRIDGE or $CL_SOCK exists: another cluster-e2e runs, or one was not cleaned up" >&2
    return 1
  fi
  cl_save_host
  cl_certs
  cl_control_plane || return 1
  cl_containerd "$@" || return 1
  cl_node || return 1
  "$KBIN/kubectl" get nodes -o wide
}

# cl_stop PID NAME: SIGTERM, SIGKILL after 20 s.
cl_stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 40); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.5; done
  echo "$2 did not stop; killing it" >&2
  kill -9 "$1" 2>/dev/null
}

# cl_stop_named NAME: stops the server of ours called NAME.
cl_stop_named() {
  local i
  for i in "${!cl_names[@]}"; do
    [ "${cl_names[i]}" = "$1" ] || continue
    cl_stop "${cl_pids[i]}" "$1"
    unset 'cl_pids[i]' 'cl_names[i]'
  done
}

cluster_down() {
  [ -n "$CL_W" ] || return 0
  local -
  set +e # each step whatever the one before did; options back on return
  local ctr=(ctr -a "$CL_SOCK" -n k8s.io) i p
  [ -n "${CL_RT:-}" ] && ctr=("$CL_RT/usr/bin/ctr" -a "$CL_SOCK" -n k8s.io)
  # The pods first, through the kubelet (which tears their network down):
  # no controller makes new ones meanwhile.
  cl_stop_named kube-controller-manager
  cl_stop_named kube-scheduler
  if [ -e "$CL_SOCK" ] && "$KBIN/kubectl" get --raw /readyz >/dev/null 2>&1; then
    "$KBIN/kubectl" delete pods --all -A --grace-period=0 --force --wait=false >/dev/null 2>&1
    for _ in $(seq 60); do
      [ -z "$("${ctr[@]}" tasks ls -q 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  cl_stop_named kubelet
  # What is left: kill the tasks, remove the containers.
  if [ -e "$CL_SOCK" ]; then
    for i in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s SIGKILL "$i" >/dev/null 2>&1; done
    sleep 1
    for i in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks rm -f "$i" >/dev/null 2>&1; done
    for i in $("${ctr[@]}" containers ls -q 2>/dev/null); do "${ctr[@]}" containers rm "$i" >/dev/null 2>&1; done
  fi
  # kube-proxy's rules: its own cleanup, then any KUBE- chain left.
  cl_stop_named kube-proxy
  [ -z "$cl_host_saved" ] || "$KBIN/kube-proxy" --cleanup >"$CL_W/logs/kube-proxy-cleanup.log" 2>&1
  # Every other server of ours, newest first: kube-apiserver before etcd (it
  # hangs on SIGTERM once etcd is gone).
  local order=("${!cl_pids[@]}")
  for ((i = ${#order[@]} - 1; i >= 0; i--)); do
    cl_stop "${cl_pids[${order[i]}]}" "${cl_names[${order[i]}]}"
  done
  cl_pids=() cl_names=()
  # containerd's shims outlive it: those of our socket, by their pid.
  for p in $(pgrep -f "containerd-shim-runc-v2 -namespace k8s.io -address $CL_SOCK" 2>/dev/null); do
    kill -9 "$p" 2>/dev/null
  done
  [ -n "$cl_host_saved" ] || return 0
  cl_restore_host
}

cl_restore_host() {
  local m n t c s
  # Mounts: the kubelet's volumes, containerd's rootfs and shm, netns.
  for _ in 1 2 3; do
    grep -E " ($CL_W|$CL_RUN)/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  done
  ls /run/netns 2>/dev/null | sort | comm -13 "$CL_W/netns.before" - | while read -r n; do
    umount "/run/netns/$n" 2>/dev/null; rm -f "/run/netns/$n"
  done
  ip link delete "$CL_BRIDGE" 2>/dev/null
  # veths whose peer was in a pod and is gone go with it; any left on the bridge:
  for n in $(ip -o link show master "$CL_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link delete "$n" 2>/dev/null
  done
  for t in filter nat mangle raw; do
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do
      iptables -t "$t" -S | grep -- "-j $c\( \|$\)" | grep '^-A' | sed 's/^-A/-D/' | while read -r rule; do
        # shellcheck disable=SC2086
        iptables -t "$t" $rule 2>/dev/null
      done
    done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do iptables -t "$t" -F "$c" 2>/dev/null; done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do iptables -t "$t" -X "$c" 2>/dev/null; done
  done
  for t in filter nat mangle; do
    for c in $(ip6tables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do
      ip6tables -t "$t" -S | grep -- "-j $c\( \|$\)" | grep '^-A' | sed 's/^-A/-D/' | while read -r rule; do
        # shellcheck disable=SC2086
        ip6tables -t "$t" $rule 2>/dev/null
      done
    done
    for c in $(ip6tables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do ip6tables -t "$t" -F "$c" 2>/dev/null; done
    for c in $(ip6tables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do ip6tables -t "$t" -X "$c" 2>/dev/null; done
  done
  while iptables -D FORWARD -i "$CL_BRIDGE" -j ACCEPT -m comment --comment mp3converter-cluster 2>/dev/null; do :; done
  while iptables -D FORWARD -o "$CL_BRIDGE" -j ACCEPT -m comment --comment mp3converter-cluster 2>/dev/null; do :; done
  while iptables -D INPUT -i "$CL_BRIDGE" -p tcp --dport "$CL_KUBELET_PORT" -j DROP -m comment --comment mp3converter-cluster 2>/dev/null; do :; done
  iptables -P FORWARD "${cl_forward_policy0:-ACCEPT}"
  for s in "${!cl_sysctl0[@]}"; do
    [ -z "${cl_sysctl0[$s]}" ] || [ "$(sysctl -n "$s" 2>/dev/null)" = "${cl_sysctl0[$s]}" ] ||
      { sysctl -qw "$s=${cl_sysctl0[$s]}" && echo "put back $s=${cl_sysctl0[$s]}"; }
  done
  rm -rf "$CL_RUN"
  # The kubelet's links to the containers' logs (/var/log/containers, fixed).
  find /var/log/containers -maxdepth 1 -type l -lname "$CL_W/*" -delete 2>/dev/null
  [ -n "$cl_varlog0" ] || rmdir /var/log/containers 2>/dev/null
  # The device plugins' socket directory is fixed too.
  [ -n "$cl_varlib0" ] || rm -rf /var/lib/kubelet
  # Our shims' sockets (containerd 1.6 keeps them in /run/containerd/s
  # whatever its state dir); the directories if they were not there.
  ls /run/containerd/s 2>/dev/null | sort | comm -13 "$CL_W/shims.before" - | while read -r n; do
    rm -f "/run/containerd/s/$n"
  done
  [ -n "$cl_run_containerd0" ] || rmdir /run/containerd/s /run/containerd 2>/dev/null
  [ -n "$cl_run_netns0" ] || rmdir /run/netns 2>/dev/null
  m=$(cl_iptables | diff "$CL_W/iptables.before" - | grep '^[<>]')
  if [ -n "$m" ]; then
    echo "iptables differs from before the cluster:" >&2
    echo "$m" >&2
  else
    echo "host put back: iptables rules, chains and policies as before, $CL_BRIDGE gone, sysctls as before"
  fi
  # The unpacked images and the pods' volumes (about 1.5 GB); the logs stay.
  grep -q " $CL_W/" /proc/mounts || rm -rf "$CL_W/containerd/root" "$CL_W/kubelet/root"
  cl_host_saved=''
}
