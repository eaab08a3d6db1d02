#!/usr/bin/env bash
# A local cluster for tests and trying things out: PostgreSQL and a single-node Slurm (slurmctld +
# slurmd + munge) on this machine, everything under one state directory, nothing in /etc touched.
#
#   scripts/dev-cluster.sh start    # start (idempotent); prints the environment to use
#   scripts/dev-cluster.sh status   # what runs; exit 0 only when PostgreSQL and Slurm both answer
#   scripts/dev-cluster.sh stop     # stop everything it started
#   scripts/dev-cluster.sh env      # the environment lines (source them: eval "$(... env)")
#
# State: $GK_DEV_CLUSTER_DIR (default /tmp/gk-dev-cluster). It writes $DIR/env with GK_TEST_PG_URI
# and SLURM_CONF, which the cluster tests read (tests/study/cluster_test.cpp). Ports: PostgreSQL
# $GK_DEV_PG_PORT (55432), slurmctld/slurmd $GK_DEV_SLURM_PORT and +1 (56817, 56818).
#
# Debian packages (installed by `make test` through CLUSTER_APT_PACKAGES): postgresql, slurmctld,
# slurmd, slurm-client, munge. The daemons run as their own unprivileged users when this script runs
# as root (postgres, munge, slurm; slurmd itself must be root to start jobs as their users); run by
# an ordinary user, everything runs as that user and jobs run as that user only.
# No systemd and no cgroups are needed: proctrack/linuxproc, task/none (docs/cluster.md).
set -euo pipefail

DIR=${GK_DEV_CLUSTER_DIR:-/tmp/gk-dev-cluster}
PG_PORT=${GK_DEV_PG_PORT:-55432}
SLURM_PORT=${GK_DEV_SLURM_PORT:-56817}
PG_BIN=${GK_DEV_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
ME=$(id -un)

if [ "$(id -u)" = 0 ]; then
  PG_USER=postgres MUNGE_USER=munge SLURM_USER=slurm
else
  PG_USER=$ME MUNGE_USER=$ME SLURM_USER=$ME
fi

as_user() {  # as_user USER cmd...
  local u=$1; shift
  if [ "$u" = "$ME" ]; then "$@"; else runuser -u "$u" -- "$@"; fi
}

say() { echo "dev-cluster: $*" >&2; }

pg_uri() { echo "postgresql://$PG_USER@127.0.0.1:$PG_PORT/greenknobs"; }

write_env() {
  cat >"$DIR/env" <<EOF
GK_TEST_PG_URI=$(pg_uri)
SLURM_CONF=$DIR/slurm/slurm.conf
EOF
  chmod 644 "$DIR/env"
}

pg_running() { as_user "$PG_USER" "$PG_BIN/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; }

start_pg() {
  [ -x "$PG_BIN/initdb" ] || { say "PostgreSQL server binaries not found (apt-get install postgresql)"; return 1; }
  mkdir -p "$DIR/pg" "$DIR/pgsock" "$DIR/pglog"
  chown "$PG_USER" "$DIR/pg" "$DIR/pgsock" "$DIR/pglog"
  chmod 700 "$DIR/pg"
  if [ ! -f "$DIR/pg/PG_VERSION" ]; then
    # trust on 127.0.0.1 and the socket: a throwaway server for tests, never reachable from outside.
    as_user "$PG_USER" "$PG_BIN/initdb" -D "$DIR/pg" -U "$PG_USER" --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$DIR/pglog/initdb.log" 2>&1 || { say "initdb failed: $(tail -3 "$DIR/pglog/initdb.log")"; return 1; }
  fi
  if ! pg_running; then
    as_user "$PG_USER" "$PG_BIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pglog/pg.log" -w -t 30 \
      -o "-p $PG_PORT -k $DIR/pgsock -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null ||
      { say "PostgreSQL did not start: $(tail -3 "$DIR/pglog/pg.log")"; return 1; }
  fi
  if ! as_user "$PG_USER" psql -h "$DIR/pgsock" -p "$PG_PORT" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'greenknobs'" | grep -q 1; then
    as_user "$PG_USER" createdb -h "$DIR/pgsock" -p "$PG_PORT" greenknobs
  fi
  say "PostgreSQL on 127.0.0.1:$PG_PORT ($(pg_uri))"
}

munge_running() { [ -f "$DIR/munge/munged.pid" ] && kill -0 "$(cat "$DIR/munge/munged.pid")" 2>/dev/null; }

start_munge() {
  mkdir -p "$DIR/munge"
  chown "$MUNGE_USER" "$DIR/munge"
  chmod 700 "$DIR/munge"
  if [ ! -f "$DIR/munge/munge.key" ]; then
    as_user "$MUNGE_USER" mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null
  fi
  if ! munge_running; then
    as_user "$MUNGE_USER" munged --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
      --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
      --seed-file="$DIR/munge/munged.seed" --force
  fi
  # Clients (sbatch, slurmd) reach the socket through its directory.
  chmod 755 "$DIR/munge"
}

slurm_conf() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
  cat <<EOF
# Written by scripts/dev-cluster.sh: a single-node Slurm for tests.
ClusterName=gkdev
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$SLURM_PORT
SlurmdPort=$((SLURM_PORT + 1))
SlurmUser=$SLURM_USER
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/slurm/ctld
SlurmdSpoolDir=$DIR/slurm/d
SlurmctldPidFile=$DIR/slurm/slurmctld.pid
SlurmdPidFile=$DIR/slurm/slurmd.pid
SlurmctldLogFile=$DIR/slurm/slurmctld.log
SlurmdLogFile=$DIR/slurm/slurmd.log
# No systemd, no cgroup hierarchy of our own: track job processes through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Finished jobs stay known to scontrol for 10 minutes (there is no accounting database).
MinJobAge=600
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

daemon_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_slurm() {
  mkdir -p "$DIR/slurm/ctld" "$DIR/slurm/d"
  chown "$SLURM_USER" "$DIR/slurm" "$DIR/slurm/ctld"
  slurm_conf >"$DIR/slurm/slurm.conf"
  chmod 644 "$DIR/slurm/slurm.conf"
  export SLURM_CONF=$DIR/slurm/slurm.conf
  if ! daemon_running "$DIR/slurm/slurmctld.pid"; then
    as_user "$SLURM_USER" slurmctld -f "$SLURM_CONF" -i
  fi
  if ! daemon_running "$DIR/slurm/slurmd.pid"; then
    # -b: report the node up at once; the conf given explicitly (no configless fetch).
    slurmd -f "$SLURM_CONF" -b
  fi
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      say "Slurm up: node $(hostname -s), $(nproc) CPUs, partition debug (SLURM_CONF=$SLURM_CONF)"
      return 0
    fi
    # A node left down by an earlier, stopped cluster comes back on request.
    [ "$i" = 10 ] && scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    sleep 0.5
  done
  say "Slurm did not come up: $(sinfo -h -o '%t %E' 2>&1 | head -1); logs in $DIR/slurm/"
  return 1
}

stop_all() {
  export SLURM_CONF=$DIR/slurm/slurm.conf
  local f
  # Jobs first (this cluster's only), so that no job step outlives its slurmd.
  if daemon_running "$DIR/slurm/slurmctld.pid"; then
    scancel --full --quiet -u "$ME" 2>/dev/null || true
    for _ in $(seq 1 40); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.25; done
  fi
  for f in "$DIR/slurm/slurmd.pid" "$DIR/slurm/slurmctld.pid" "$DIR/munge/munged.pid"; do
    if daemon_running "$f"; then
      kill "$(cat "$f")" 2>/dev/null || true
      for _ in $(seq 1 40); do daemon_running "$f" || break; sleep 0.25; done
    fi
  done
  if [ -f "$DIR/pg/PG_VERSION" ] && pg_running; then
    as_user "$PG_USER" "$PG_BIN/pg_ctl" -D "$DIR/pg" -m fast -w stop >/dev/null || true
  fi
  say "stopped (state kept in $DIR; rm -rf it to start afresh)"
}

status() {
  local ok=0
  if [ -f "$DIR/pg/PG_VERSION" ] && pg_running; then say "PostgreSQL: running ($(pg_uri))"; else say "PostgreSQL: stopped"; ok=1; fi
  if munge_running; then say "munged: running"; else say "munged: stopped"; ok=1; fi
  if [ -f "$DIR/slurm/slurm.conf" ] && SLURM_CONF=$DIR/slurm/slurm.conf sinfo -h >/dev/null 2>&1; then
    say "Slurm: $(SLURM_CONF=$DIR/slurm/slurm.conf sinfo -h -o '%P %D node(s) %t' | head -1)"
  else
    say "Slurm: stopped"; ok=1
  fi
  return $ok
}

case "${1:-}" in
  start)
    mkdir -p "$DIR"
    chmod 755 "$DIR"
    start_pg
    start_munge
    start_slurm
    write_env
    cat "$DIR/env"
    ;;
  stop) stop_all ;;
  status) status ;;
  env) cat "$DIR/env" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
