#!/usr/bin/env bash
# Installs what weft's build, tests, demo and benchmarks need on Debian 12 (as root):
# clang/llvm/libbpf-dev to compile the BPF programs, iproute2/ethtool/iputils for the
# namespaces, iperf3/sockperf/tcpdump/tshark for tests and benchmarks, and the npm
# packages (Bun included, pinned in package.json). Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages; weft's tests build network namespaces)" >&2
  exit 1
fi

APT_PACKAGES=(clang llvm libbpf-dev bpftool iproute2 ethtool iputils-ping iperf3 sockperf tcpdump tshark util-linux procps git ca-certificates)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer for it
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
