#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by start.sh (root only), by its pid files.
set -uo pipefail
for pidfile in /var/run/slurm/slurmd.pid /var/run/slurm/slurmctld.pid /run/munge/munged.pid; do
  [[ -s $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null
done
exit 0
