#!/usr/bin/env bash
# Installs what weft's build, tests, demo and benchmarks need on Debian 12 (as root):
# clang/llvm/libbpf-dev to compile the BPF programs, iproute2/ethtool/iputils for the
# namespaces, iperf3/sockperf/tcpdump/tshark for tests and benchmarks, the real daemons the
# tests start in their own namespaces (docker.io + busybox-static for an image without a
# registry, etcd-server, dnsmasq-base), and the npm packages (Bun included, pinned in
# package.json). Safe to run again: it skips what is there.
# Debian starts dockerd, containerd and etcd when it installs them; the tests never use a
# system daemon, so they are installed with starting denied and left disabled.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages; weft's tests build network namespaces)" >&2
  exit 1
fi

APT_PACKAGES=(clang llvm libbpf-dev bpftool iproute2 nftables ethtool iputils-ping iperf3 sockperf tcpdump tshark util-linux procps git ca-certificates curl
  docker.io busybox-static etcd-server dnsmasq-base)
# packages whose install would start a system daemon, and the units that would start it
declare -A DAEMON_UNITS=([docker.io]="docker.socket docker.service" [containerd]="containerd.service" [etcd-server]="etcd.service")
DAEMONS=(dockerd containerd etcd dnsmasq)
POLICY_RC=/usr/sbin/policy-rc.d

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
daemon_pids() { for d in "${DAEMONS[@]}"; do pgrep -x "$d" || true; done | sort; }

missing=()
for p in "${APT_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer for it
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  # which daemon packages this run adds (containerd comes in as docker.io's dependency)
  new_daemon_pkgs=()
  for p in "${!DAEMON_UNITS[@]}"; do installed "$p" || new_daemon_pkgs+=("$p"); done
  running_before=$(daemon_pids)
  # invoke-rc.d and deb-systemd-invoke ask policy-rc.d; 101 = "action forbidden", so the
  # packages' postinst scripts do not start their daemons. Whatever policy-rc.d was there
  # before is put back afterwards, also when the install fails.
  policy_backup=""
  if [ -e "$POLICY_RC" ]; then policy_backup=$(mktemp); cp -p "$POLICY_RC" "$policy_backup"; fi
  restore_policy() {
    if [ -n "$policy_backup" ]; then mv "$policy_backup" "$POLICY_RC"; else rm -f "$POLICY_RC"; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\n# written by weft scripts/setup.sh for the length of one apt-get install\nexit 101\n' >"$POLICY_RC"
  chmod 755 "$POLICY_RC"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
  # no boot-time start either, for the daemons this run installed (never for ones already there)
  if command -v systemctl >/dev/null; then
    for p in "${new_daemon_pkgs[@]}"; do
      for unit in ${DAEMON_UNITS[$p]}; do
        systemctl disable --quiet "$unit" 2>/dev/null || echo "setup: note: could not disable $unit (from $p); disable it yourself if it should not start at boot" >&2
      done
    done
  fi
  started=$(comm -13 <(echo "$running_before") <(daemon_pids))
  if [ -n "$started" ]; then
    echo "setup: warning: the install started these processes (left running; stop them if unwanted):" >&2
    ps -o pid=,args= -p "$(echo $started | tr ' ' ,)" >&2 || true
  fi
fi

if ! command -v npm >/dev/null; then
  echo "setup: npm not found; install Node.js (apt-get install nodejs npm) and run again" >&2
  exit 1
fi
if [ ! -x node_modules/.bin/bun ] || ! node_modules/.bin/bun --version >/dev/null 2>&1; then
  echo "setup: installing npm packages (Bun is a pinned devDependency)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  # npm may skip bun's postinstall; it only swaps in the platform binary, which we check here
  node_modules/.bin/bun --version >/dev/null 2>&1 || node node_modules/bun/install.js
fi

# bpffs is where weft pins maps and links
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
echo "setup: ok (bun $(node_modules/.bin/bun --version), clang $(clang --version | head -1 | grep -o '[0-9]*\.[0-9.]*' | head -1))"
