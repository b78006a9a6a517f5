#!/usr/bin/env bash
# Install a single-node SLURM cluster's packages from Debian (root only).
#   bash .ci/slurm/install.sh
set -euo pipefail
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq slurm-wlm munge
