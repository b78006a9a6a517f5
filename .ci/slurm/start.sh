#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (root only): munged, slurmctld, slurmd.
#   bash .ci/slurm/start.sh        # installs the packages if missing, then starts; idempotent
# The node advertises its real CPU count and memory; no accounting database (sacct warnings
# are expected). ProctrackType=linuxproc and TaskPlugin=none need no cgroups, so it runs in a
# container. Stop it with `bash .ci/slurm/stop.sh`.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "start.sh: needs root to run munged/slurmctld/slurmd" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/install.sh"

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
conf_dir=/etc/slurm
state_dir=/var/spool/slurmctld
mkdir -p "$conf_dir" "$state_dir" /var/spool/slurmd /var/log/slurm /run/munge /var/run/slurm

cat > "$conf_dir/slurm.conf" <<CONF
# Written by .ci/slurm/start.sh: a single-node cluster for diffexp's integration test.
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
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/var/run/slurm/slurmctld.pid
SlurmdPidFile=/var/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=300
KillWait=5
InactiveLimit=0
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF

if [[ ! -s /etc/munge/munge.key ]]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged --force
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

for _ in $(seq 60); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
  if [[ $state == idle* || $state == mixed* || $state == allocated* ]]; then
    echo "SLURM up: node $host, $cpus CPUs, ${mem_mb} MB, partition debug ($state)"
    exit 0
  fi
  [[ $state == down* || $state == drain* ]] && scontrol update nodename="$host" state=resume || true
  sleep 1
done
echo "start.sh: the SLURM node did not become idle; see /var/log/slurm/*.log" >&2
sinfo -N -l >&2 || true
exit 1
