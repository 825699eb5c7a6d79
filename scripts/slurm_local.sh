#!/usr/bin/env bash
# A throwaway one-node Slurm cluster on this machine, for tests and for trying `deno task sweep
# --slurm` without a real cluster. Everything (config, munge key and socket, state, logs, pid
# files) lives in one folder, the daemons listen on their own ports, and the system's
# /etc/slurm and /etc/munge are neither read nor changed, so it can run next to a real install.
#
#   scripts/slurm_local.sh start DIR   # write DIR/slurm.conf, start munged, slurmctld, slurmd
#   scripts/slurm_local.sh env DIR     # print the `export` lines that point Slurm's commands at it
#   scripts/slurm_local.sh stop DIR    # stop the three daemons started in DIR (by their pid files)
#
# After `start`, use Slurm's commands with SLURM_CONF=DIR/slurm.conf (see `env`). Needs Debian's
# slurmctld, slurmd, slurm-client and munge packages (or slurm-wlm + munge). Any user can run it:
# all three daemons run as the calling user (SlurmUser = SlurmdUser = that user), so jobs run as
# that user too, which is all a test or a laptop needs.
set -euo pipefail

usage() {
  echo "usage: $0 start|env|stop DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

need() {
  local missing=()
  for b in munged slurmctld slurmd sbatch squeue scontrol; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || missing+=("$b")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "error: ${missing[*]} not found; install Slurm and munge:" \
      "apt-get install -y slurmctld slurmd slurm-client munge (or slurm-wlm munge)" >&2
    exit 3
  fi
}

# a free TCP port: the kernel picks one for a socket bound to port 0
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
    2>/dev/null || echo $((20000 + RANDOM % 20000))
}

stop_pid() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

case "$cmd" in
start)
  need
  PATH="$PATH:/usr/sbin"
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chmod 700 "$dir/munge"
  user=$(id -un)
  node=$(hostname -s)
  cpus=$(nproc)
  # leave the node some memory of its own; Slurm refuses --mem above RealMemory
  mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  ctld_port=$(free_port)
  d_port=$(free_port)
  while [ "$d_port" = "$ctld_port" ]; do d_port=$(free_port); done
  # munge: a private key and socket, so the system munged (if any) is not involved
  if [ ! -f "$dir/munge/munge.key" ]; then
    head -c 1024 /dev/urandom >"$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
  fi
  munged --force --socket="$dir/munge/munge.sock" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed"
  cat >"$dir/slurm.conf" <<EOF
# one-node cluster written by scripts/slurm_local.sh
ClusterName=hestlocal
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# containers often lack cgroup control: track processes by parent pid, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# keep finished jobs visible to scontrol for a while (there is no accounting database)
MinJobAge=600
MaxArraySize=10001
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  # -i: start afresh, ignoring jobs a previous cluster in this folder left in its state files
  slurmctld -i -f "$dir/slurm.conf"
  slurmd -f "$dir/slurm.conf"
  # wait until the node takes jobs
  for _ in $(seq 150); do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)
    case "$state" in idle* | mix* | alloc*) break ;; esac
    sleep 0.2
  done
  case "$state" in
  idle* | mix* | alloc*) ;;
  *)
    echo "error: the local Slurm node did not come up (state \"$state\"); logs in $dir/log" >&2
    tail -n 20 "$dir"/log/*.log >&2 || true
    exit 1
    ;;
  esac
  echo "export SLURM_CONF=$dir/slurm.conf"
  ;;
env)
  echo "export SLURM_CONF=$dir/slurm.conf"
  ;;
stop)
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munge/munged.pid"
  ;;
*) usage ;;
esac
