#!/usr/bin/env bash
# Installs the host packages that dcos-node's tests and benchmarks use. Idempotent: a
# package already present is left alone, and apt's lists are refreshed only when
# something is missing. Needs root; without it, prints what is missing and exits 1.
set -euo pipefail

# command -> Debian package
declare -A NEEDED=(
  [nats-server]=nats-server
  [chromium]=chromium
  [dockerd]=docker.io
  [busybox]=busybox-static
  [ip]=iproute2
  [iptables]=iptables
  [haproxy]=haproxy
  [dig]=bind9-dnsutils
  [dnsmasq]=dnsmasq-base
  [dnsperf]=dnsperf
  [unzip]=unzip # the agent's fetcher extracts .zip URIs with it
  [etcd]=etcd-server # the Raft benchmark's baseline (npm run bench -- raft starts its own members)
  # The Python example framework (examples/python-framework): protoc and the gRPC Python
  # plugin generate its stubs from proto/ (Debian 12's python3-grpc-tools bundles protoc
  # 3.6, which cannot read proto3 `optional`); python3-grpcio runs it (checked below).
  [protoc]=protobuf-compiler
  [grpc_python_plugin]=protobuf-compiler-grpc
)

# dockerd: started when it is not running (no systemd in our VMs/containers). It sets the
# iptables FORWARD policy to DROP; we put back the policy the host had, so forwarding that
# other tests (or the host) rely on keeps working. Docker's own bridge (docker0) has its
# ACCEPT rules in Docker's chains; dcos-node makes no bridges of its own.
start_dockerd() {
  command -v dockerd >/dev/null 2>&1 || return 0
  docker info >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "dockerd is installed but not running; start it as root (sudo bash deploy/setup-host.sh)" >&2
    return 1
  fi
  local policy
  policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')
  echo "Starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; return 1; }
  if [ -n "$policy" ]; then iptables -P FORWARD "$policy"; fi
}

# etcd-server's package enables its own etcd service on the default ports (2379/2380) and
# starts it where an init system runs. The Raft benchmark starts its own members on free
# ports; the packaged service is stopped and disabled so nothing listens on those ports.
stop_packaged_etcd() {
  [ -e /etc/init.d/etcd ] || [ -e /lib/systemd/system/etcd.service ] || return 0
  [ "$(id -u)" = 0 ] || return 0
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now etcd.service >/dev/null 2>&1 || true
  fi
  if [ -x /etc/init.d/etcd ]; then
    /etc/init.d/etcd stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 && update-rc.d etcd disable >/dev/null 2>&1 || true
  fi
}

missing=()
/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1 || missing+=(python3-grpcio)
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  stop_packaged_etcd
  start_dockerd
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "Missing host packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  echo "(or run 'sudo bash deploy/setup-host.sh')" >&2
  exit 1
fi

echo "Installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
stop_packaged_etcd
start_dockerd
