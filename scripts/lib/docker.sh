# shellcheck shell=bash
# Debian's dockerd for CI, with its state kept between runs, and putting back
# what it changes on the host. Sourced by scripts/ci-containers.sh and
# scripts/cluster-e2e.sh; bash only.
#
#   docker_up LOGDIR       start dockerd (fails if one runs already: its
#                          cleanup could not tell its changes from ours)
#   docker_base_images DIR debian:bookworm-slim (debootstrap) and the
#                          Dockerfile's golang image (the host's Go), when missing
#   docker_down            stop it; docker0, iptables chains and rules, the
#                          FORWARD policy, ip_forward and /run/containerd put back
#   install_missing CMD:PKG...
#                          apt-get install each PKG whose CMD is not on PATH
#
# State in $MP3CONVERTER_CI_CACHE/docker (default ~/.cache/mp3converter-ci),
# its socket there; $D is Debian's client (another one earlier in PATH may
# want buildx). Needs $SRC, the repository.

CACHE=${MP3CONVERTER_CI_CACHE:-$HOME/.cache/mp3converter-ci}
DK=$CACHE/docker
D=/usr/bin/docker
export DOCKER_HOST=unix://$DK/docker.sock
dockerd_pid='' ip_forward0='' forward_policy0='' run_containerd0=''

install_missing() {
  local missing=() pair
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}"); done
  [ "${#missing[@]}" -gt 0 ] || return 0
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends --no-upgrade "${missing[@]}" >/dev/null
}

docker_up() {
  local log=$1/dockerd.log
  if pgrep -x dockerd >/dev/null; then
    echo "FAIL: a dockerd is running already: stop it first (the cleanup undoes docker0 and its iptables rules)" >&2
    return 1
  fi
  ip_forward0=$(sysctl -n net.ipv4.ip_forward)
  forward_policy0=$(iptables -S FORWARD | sed -n 's/^-P FORWARD //p')
  run_containerd0=""; [ -d /run/containerd ] && run_containerd0=yes
  mkdir -p "$DK/data" "$DK/exec"
  setsid dockerd -H "$DOCKER_HOST" --data-root "$DK/data" --exec-root "$DK/exec" \
    --pidfile "$DK/dockerd.pid" >"$log" 2>&1 </dev/null &
  dockerd_pid=$!
  for _ in $(seq 60); do $D info >/dev/null 2>&1 && break; sleep 1; done
  $D info --format 'docker {{.ServerVersion}}, {{.Driver}}, cgroup v{{.CgroupVersion}}, state in {{.DockerRootDir}}' \
    || { tail -20 "$log"; echo "FAIL: dockerd did not start" >&2; return 1; }
}

docker_down() {
  [ -n "$dockerd_pid" ] || return 0
  local -
  set +e # each step whatever the one before did; options back on return
  kill "$dockerd_pid" 2>/dev/null
  for _ in $(seq 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
  kill -9 "$dockerd_pid" 2>/dev/null
  dockerd_pid=''
  grep " $DK/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount 2>/dev/null
  # dockerd leaves its bridge and its iptables chains and rules behind.
  ip link delete docker0 2>/dev/null
  iptables -t nat -D POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE 2>/dev/null
  iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null
  iptables -t nat -D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null
  iptables -t nat -F DOCKER 2>/dev/null; iptables -t nat -X DOCKER 2>/dev/null
  while iptables -D FORWARD -j DOCKER-USER 2>/dev/null; do :; done
  while iptables -D FORWARD -j DOCKER-ISOLATION-STAGE-1 2>/dev/null; do :; done
  while iptables -D FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null; do :; done
  while iptables -D FORWARD -o docker0 -j DOCKER 2>/dev/null; do :; done
  while iptables -D FORWARD -i docker0 ! -o docker0 -j ACCEPT 2>/dev/null; do :; done
  while iptables -D FORWARD -i docker0 -o docker0 -j ACCEPT 2>/dev/null; do :; done
  for c in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do
    iptables -F "$c" 2>/dev/null; iptables -X "$c" 2>/dev/null
  done
  iptables -P FORWARD "${forward_policy0:-ACCEPT}"
  [ -z "$ip_forward0" ] || sysctl -qw net.ipv4.ip_forward="$ip_forward0"
  # dockerd's containerd puts its shim sockets in /run/containerd/s.
  [ -n "$run_containerd0" ] || rmdir /run/containerd/s /run/containerd 2>/dev/null
  return 0
}

docker_base_images() {
  local w=$1
  if ! $D image inspect debian:bookworm-slim >/dev/null 2>&1; then
    # The mirrors this machine's apt uses.
    local sources=/etc/apt/sources.list.d/debian.sources
    MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' "$sources" 2>/dev/null || true)}
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    SECURITY=${SECURITY:-$(awk '/^URIs:/{u=$2} /^Suites:.*-security/{print u; exit}' "$sources" 2>/dev/null || true)}
    SECURITY=${SECURITY:-${MIRROR}-security}
    rm -rf "$w/rootfs"
    debootstrap --variant=minbase bookworm "$w/rootfs" "$MIRROR" >"$w/debootstrap.log" 2>&1 \
      || { tail -20 "$w/debootstrap.log"; echo "FAIL: debootstrap" >&2; return 1; }
    rm -f "$w/rootfs/etc/apt/sources.list"
    cat >"$w/rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$w/rootfs/var/cache/apt/archives/"*.deb "$w/rootfs/var/lib/apt/lists/"*
    tar -C "$w/rootfs" -c . | $D import --change 'CMD ["bash"]' - debian:bookworm-slim >/dev/null
    rm -rf "$w/rootfs"
    echo "debian:bookworm-slim made with debootstrap from $MIRROR"
  fi
  # The Dockerfile's Go image: the host's Go on that Debian, with git and gcc
  # as in the official image, and the host's extra CA certificates (here a
  # TLS-intercepting egress proxy stands between the builds and the Go proxy).
  local from_go gov ctx
  from_go=$(sed -n 's/^FROM \(golang:[^ ]*\).*/\1/p' "$SRC/Dockerfile" | head -1)
  gov=$(go env GOVERSION)
  if [ "$($D image inspect -f '{{index .Config.Labels "org.mp3converter.ci.go"}}' "$from_go" 2>/dev/null || true)" != "$gov" ]; then
    ctx=$w/golang-ctx
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp -a "$(go env GOROOT)" "$ctx/go"
    cp /usr/local/share/ca-certificates/*.crt "$ctx/" 2>/dev/null || true
    cat >"$ctx/Dockerfile" <<EOF
FROM debian:bookworm-slim
RUN apt-get update \\
    && apt-get install -y --no-install-recommends ca-certificates git gcc libc6-dev make pkg-config \\
    && rm -rf /var/lib/apt/lists/*
COPY . /ctx/
RUN cp /ctx/*.crt /usr/local/share/ca-certificates/ 2>/dev/null; update-ca-certificates \\
    && mv /ctx/go /usr/local/go && rm -rf /ctx && mkdir -p /go/src /go/bin && chmod -R 1777 /go
ENV GOLANG_VERSION=${gov#go} GOTOOLCHAIN=local GOPATH=/go \\
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.mp3converter.ci.go=$gov
WORKDIR /go
EOF
    DOCKER_BUILDKIT=1 $D build -q -t "$from_go" "$ctx" >/dev/null
    rm -rf "$ctx"
    echo "$from_go made from the host's $gov"
  fi
}
