#!/usr/bin/env bash
# Start a two-node SLURM cluster on this machine (root only): munged, slurmctld and two slurmd.
#   bash .ci/slurm/start.sh        # installs the packages if missing, then starts; idempotent
# Two `NodeName`s (node1, node2) share this host: each has its own slurmd port and is started
# with `slurmd -N <name>`, and each gets half of the CPUs and memory, so a sweep really spreads
# over two nodes and `srun -N2` runs on both. One partition, debug, holds both. No accounting
# database: `sacct` answers with an error, so diffexp reads job states from squeue/scontrol
# (diffexp/tuning/slurm_state.py). ProctrackType=linuxproc and TaskPlugin=none need no cgroups,
# so it runs in a container. A running cluster with another slurm.conf (e.g. the former
# single-node one) is restarted with this one. Stop it with `bash .ci/slurm/stop.sh`.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "start.sh: needs root to run munged/slurmctld/slurmd" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/install.sh"

host=$(hostname -s)
nodes=(node1 node2)
first_port=6831           # slurmd ports: 6831, 6832 (slurmctld keeps the default 6817)
cpus=$(( $(nproc) / ${#nodes[@]} )); (( cpus >= 1 )) || cpus=1
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 / ${#nodes[@]} ))
conf_dir=/etc/slurm
state_dir=/var/spool/slurmctld
mkdir -p "$conf_dir" "$state_dir" /var/log/slurm /run/munge /var/run/slurm
for node in "${nodes[@]}"; do mkdir -p "/var/spool/slurmd/$node"; done

node_lines=""
for i in "${!nodes[@]}"; do
  node_lines+="NodeName=${nodes[$i]} NodeHostname=$host NodeAddr=127.0.0.1 Port=$((first_port + i)) "
  node_lines+="CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN"$'\n'
done
node_list=$(IFS=,; echo "${nodes[*]}")

new_conf=$(cat <<CONF
# Written by .ci/slurm/start.sh: a two-node cluster on one machine for diffexp's tests.
ClusterName=diffexp
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$state_dir
SlurmdSpoolDir=/var/spool/slurmd/%n
SlurmctldPidFile=/var/run/slurm/slurmctld.pid
SlurmdPidFile=/var/run/slurm/slurmd-%n.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=300
KillWait=5
InactiveLimit=0
${node_lines}PartitionName=debug Nodes=$node_list Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
)

if [[ "$(cat "$conf_dir/slurm.conf" 2>/dev/null)" != "$new_conf" ]]; then
  # Another cluster layout is configured: stop what runs with it, start afresh (-c: forget
  # jobs and nodes of the old layout).
  bash "$here/stop.sh"
  pkill_wait=20
  while pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; do
    (( pkill_wait-- > 0 )) || { echo "start.sh: old slurm daemons did not stop" >&2; exit 1; }
    sleep 0.5
  done
  printf '%s\n' "$new_conf" > "$conf_dir/slurm.conf"
  clear_state=-c
else
  clear_state=
fi

if [[ ! -s /etc/munge/munge.key ]]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged --force
pgrep -x slurmctld >/dev/null || slurmctld $clear_state
for node in "${nodes[@]}"; do
  pid_file=/var/run/slurm/slurmd-$node.pid
  if [[ -s $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then continue; fi
  slurmd -N "$node"
done

for _ in $(seq 60); do
  states=$(sinfo -h -N -o '%N %T' 2>/dev/null || true)
  ready=$(grep -cE ' (idle|mixed|allocated)' <<<"$states" || true)
  if (( ready == ${#nodes[@]} )); then
    echo "SLURM up: nodes $node_list on $host, $cpus CPUs and ${mem_mb} MB each, partition debug"
    exit 0
  fi
  for node in $(awk '$2 ~ /^(down|drain)/ {print $1}' <<<"$states"); do
    scontrol update nodename="$node" state=resume || true
  done
  sleep 1
done
echo "start.sh: the SLURM nodes did not become idle; see /var/log/slurm/*.log" >&2
sinfo -N -l >&2 || true
exit 1
