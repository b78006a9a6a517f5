#!/usr/bin/env bash
# Stop the cluster started by start.sh (root only), by its pid files: every slurmd (one per
# node, slurmd-<node>.pid; slurmd.pid of the former single-node layout), slurmctld, munged.
set -uo pipefail
for pidfile in /var/run/slurm/slurmd-*.pid /var/run/slurm/slurmd.pid /var/run/slurm/slurmctld.pid \
  /run/munge/munged.pid; do
  [[ -s $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null
done
exit 0
