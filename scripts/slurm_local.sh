#!/usr/bin/env bash
# A real single-node Slurm on this machine, for the cluster tests and for trying
# `latentscape render --executor slurm` without a cluster (Debian/Ubuntu, as root).
#
#   scripts/slurm_local.sh install   apt-get install slurm-wlm munge (if missing)
#   scripts/slurm_local.sh start     munge key, slurm.conf, munged, slurmctld, slurmd; waits for "idle"
#   scripts/slurm_local.sh stop      stops the daemons this script started
#   scripts/slurm_local.sh status    sinfo
#
# State (pid files, logs, spool) lives in $LATENTSCAPE_SLURM_DIR (default /tmp/latentscape-slurm).
# /etc/slurm/slurm.conf is written only if absent or written by this script before.
set -euo pipefail
DIR=${LATENTSCAPE_SLURM_DIR:-/tmp/latentscape-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by latentscape scripts/slurm_local.sh"
die() { echo "slurm_local: $*" >&2; exit 1; }

install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
  command -v apt-get >/dev/null || die "no apt-get: install slurm-wlm and munge with your package manager"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null || die "apt-get install slurm-wlm munge failed"
}

write_conf() {
  local host cpus mem
  host=$(hostname -s); cpus=$(nproc); mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then die "$CONF exists and was not written by this script; not touching it"; fi
  mkdir -p /etc/slurm "$DIR/state" "$DIR/spool"
  cat > "$CONF" <<CONF
$MARK
ClusterName=latentscape
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MaxArraySize=100000
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  install
  if sinfo -h -o %T 2>/dev/null | grep -q idle; then echo "slurm_local: already running"; return 0; fi
  write_conf
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge; dd if=/dev/urandom bs=1024 count=1 of=/etc/munge/munge.key status=none
  fi
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge; chown munge:munge /run/munge /var/log/munge /var/lib/munge
  pgrep -x munged >/dev/null || { su -s /bin/sh munge -c "munged --pid-file=/run/munge/munged.pid" && touch "$DIR/munged.ours"; }
  slurmctld; slurmd
  for _ in $(seq 120); do
    state=$(sinfo -h -o %T 2>/dev/null | head -1 || true)
    [ "$state" = idle ] && { echo "slurm_local: node $(hostname -s) idle (partition debug, $(nproc) CPUs)"; return 0; }
    sleep 0.5
  done
  die "the node did not become idle in 60 s (sinfo: ${state:-nothing}); logs in $DIR"
}

stop() {
  for d in slurmd slurmctld; do
    [ -s "$DIR/$d.pid" ] && kill "$(cat "$DIR/$d.pid")" 2>/dev/null || true
  done
  if [ -e "$DIR/munged.ours" ]; then
    [ -s /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    rm -f "$DIR/munged.ours"
  fi
  for _ in $(seq 40); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 0.25; done
  rm -rf "$DIR/state" "$DIR/spool"
  echo "slurm_local: stopped"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
