#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh Debian 12 machine (idempotent, quick when
# everything is already there). Run as root, or with sudo available.
set -euo pipefail

APT_PACKAGES=(
  libclang-dev      # bindgen, for RocksDB's bindings
  libssl-dev pkg-config   # OpenSSL, for s3d's MD5 of streamed bodies
  python3-pip
  redis-tools       # redis-cli, redis-benchmark (cache tests and benchmarks)
  redis-server      # the cache benchmark's peer
  memcached libmemcached-tools
  fonts-dejavu-core # the benchmark report's charts
  rclone curl       # S3 clients in s3d's tests
  qemu-utils libnbd-bin python3-libnbd nbdkit fio fuse3   # NBD clients in ebsd's tests
)
PIP_PACKAGES=(boto3 botocore awscli redis pymemcache requests)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

pip_missing=()
for p in "${PIP_PACKAGES[@]}"; do
  python3 -m pip show -q "$p" >/dev/null 2>&1 || pip_missing+=("$p")
done
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "setup: pip installing ${pip_missing[*]}"
  python3 -m pip install -q "${pip_missing[@]}"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
