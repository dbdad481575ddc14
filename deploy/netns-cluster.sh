#!/usr/bin/env bash
# A multi-host test cluster on one machine: N "hosts" as network namespaces on one bridge.
#
#   netns-cluster.sh up N            namespaces dcos-test-K-1..N, bridge dcos-test-brK, addresses
#   netns-cluster.sh down            kills what runs in the namespaces, removes them and the bridge
#   netns-cluster.sh partition A B   hosts A and B stop hearing each other (iptables DROP in both)
#   netns-cluster.sh heal [A B]      undoes one partition, or all of them
#   netns-cluster.sh link-down A     takes host A's link down (cut off from every host)
#   netns-cluster.sh link-up A       brings it back
#   netns-cluster.sh ip A            prints host A's address
#   netns-cluster.sh exec A CMD...   runs CMD in host A's namespace
#   netns-cluster.sh status          namespaces, addresses, partitions
#
# K is $DCOS_NETNS_CLUSTER (1-250, default 1), so several clusters (one per test file) can
# exist at once: cluster K uses 10.77.K.0/24, the bridge has 10.77.K.1 (so the host itself
# reaches every namespace), host i has 10.77.K.(10+i). Every command is idempotent.
# The bridge is allowed in the iptables FORWARD chain: dockerd sets the FORWARD policy to
# DROP, and with br_netfilter loaded that silently cuts traffic between the namespaces.
# Needs root, iproute2 and iptables (apt-get install -y iproute2 iptables).
set -euo pipefail

K=${DCOS_NETNS_CLUSTER:-1}
if ! [[ "$K" =~ ^[0-9]+$ ]] || [ "$K" -lt 1 ] || [ "$K" -gt 250 ]; then
  echo "DCOS_NETNS_CLUSTER must be a number from 1 to 250, not '$K'" >&2
  exit 2
fi
PREFIX="dcos-test-$K"
BRIDGE="dcos-test-br$K"
SUBNET="10.77.$K"

die() { echo "netns-cluster: $*" >&2; exit 1; }

need() {
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces, bridges and iptables)"
  command -v ip >/dev/null 2>&1 || die "'ip' is missing: apt-get install -y iproute2"
  command -v iptables >/dev/null 2>&1 || die "'iptables' is missing: apt-get install -y iptables"
}

ns_of() { echo "$PREFIX-$1"; }
veth_of() { echo "$PREFIX-$1"; } # host side; inside the namespace it is eth0
ip_of() { echo "$SUBNET.$((10 + $1))"; }

host_arg() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 200 ] || die "a host is a number from 1 to 200, not '${1:-}'"
  ip netns list | awk '{print $1}' | grep -qx "$(ns_of "$1")" || die "host $1 does not exist (namespace $(ns_of "$1")); run 'up' first"
}

# Our namespaces, by host number.
hosts() {
  ip netns list | awk '{print $1}' | sed -n "s/^$PREFIX-\([0-9]\+\)$/\1/p" | sort -n
}

forward_rule() { iptables "$1" FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; }

up() {
  local n=${1:-}
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "up needs a number of hosts from 1 to 200, not '$n'"
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  forward_rule -C || iptables -I FORWARD 1 -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
  local i ns veth
  for i in $(seq 1 "$n"); do
    ns=$(ns_of "$i")
    veth=$(veth_of "$i")
    ip netns list | awk '{print $1}' | grep -qx "$ns" || ip netns add "$ns"
    ip -n "$ns" link set lo up
    if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
      ip link del "$veth" >/dev/null 2>&1 || true # a half-made pair from an interrupted run
      ip link add "$veth" type veth peer name eth0 netns "$ns"
    fi
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    ip -n "$ns" addr replace "$(ip_of "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route replace default via "$SUBNET.1" dev eth0
  done
  status
}

down() {
  local i ns pids
  for i in $(hosts); do
    ns=$(ns_of "$i")
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill -9 $pids 2>/dev/null || true
    fi
    ip link del "$(veth_of "$i")" >/dev/null 2>&1 || true
    ip netns del "$ns"
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  while forward_rule -C; do forward_rule -D; done
  echo "cluster $K is down"
}

# iptables in host $1's namespace: $2 (-C/-I/-D) the DROP of what comes from host $3.
drop_rule() { ip netns exec "$(ns_of "$1")" iptables "$2" INPUT -s "$(ip_of "$3")" -j DROP 2>/dev/null; }

partition() {
  host_arg "${1:-}"
  host_arg "${2:-}"
  [ "$1" != "$2" ] || die "cannot partition host $1 from itself"
  drop_rule "$1" -C "$2" || drop_rule "$1" -I "$2" || die "iptables failed in $(ns_of "$1")"
  drop_rule "$2" -C "$1" || drop_rule "$2" -I "$1" || die "iptables failed in $(ns_of "$2")"
  echo "hosts $1 ($(ip_of "$1")) and $2 ($(ip_of "$2")) are partitioned"
}

heal_pair() {
  while drop_rule "$1" -C "$2"; do drop_rule "$1" -D "$2"; done
  while drop_rule "$2" -C "$1"; do drop_rule "$2" -D "$1"; done
}

heal() {
  if [ $# -ge 2 ]; then
    host_arg "$1"
    host_arg "$2"
    heal_pair "$1" "$2"
    echo "hosts $1 and $2 are healed"
    return
  fi
  local i
  for i in $(hosts); do ip netns exec "$(ns_of "$i")" iptables -F INPUT; done
  echo "every partition of cluster $K is healed"
}

link() {
  host_arg "${2:-}"
  ip -n "$(ns_of "$2")" link set eth0 "$1"
  if [ "$1" = up ]; then ip -n "$(ns_of "$2")" route replace default via "$SUBNET.1" dev eth0; fi
  echo "host $2's link is $1"
}

status() {
  local i ns drops
  echo "cluster $K: bridge $BRIDGE $SUBNET.1/24"
  for i in $(hosts); do
    ns=$(ns_of "$i")
    drops=$(ip netns exec "$ns" iptables -S INPUT 2>/dev/null | awk '$1 == "-A" && $NF == "DROP" { sub("/32", "", $4); printf " %s", $4 }')
    echo "host $i: $ns $(ip -n "$ns" -br addr show eth0 2>/dev/null | awk '{print $2, $3}')${drops:+ dropping from:$drops}"
  done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) need; up "$@" ;;
  down) need; down ;;
  partition) need; partition "$@" ;;
  heal) need; heal "$@" ;;
  link-down) need; link down "$@" ;;
  link-up) need; link up "$@" ;;
  ip) host_arg "${1:-}"; ip_of "$1" ;;
  exec) need; host_arg "${1:-}"; ns=$(ns_of "$1"); shift; exec ip netns exec "$ns" "$@" ;;
  status) need; status ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; [ -z "$cmd" ] || exit 2 ;;
esac
