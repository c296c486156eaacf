#!/usr/bin/env bash
# A one-machine SLURM cluster from Debian packages, for tests and CI.
#
#   bash launchers/slurm_local.sh start    # install (root), configure, start; idempotent
#   bash launchers/slurm_local.sh status   # daemons + sinfo; exit 0 when the node is usable
#   bash launchers/slurm_local.sh stop     # stop slurmctld, slurmd and munged
#
# Exit codes: 0 ok; 1 the cluster did not come up (logs are printed);
#             2 usage; 3 not root and SLURM is not installed (nothing we can do).
#
# Environment overrides:
#   SLURM_LOCAL_TIMEOUT   seconds to wait for the node to become idle (default 60)
#   SLURM_LOCAL_MEM_MB    RealMemory of the node (default: ~90% of `free -m`, capped at 16000)
#   SLURM_LOCAL_CPUS      CPUs of the node (default: $(nproc))
#   SLURM_LOCAL_PARTITION partition name (default: debug; conf/hydra/launcher/slurm.yaml
#                         reads REWARDDS_SLURM_PARTITION, default debug)
set -u -o pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE_DIR=/var/lib/slurm/slurmctld
SPOOL_DIR=/var/lib/slurm/slurmd
LOG_DIR=/var/log/slurm
CTLD_LOG=$LOG_DIR/slurmctld.log
SLURMD_LOG=$LOG_DIR/slurmd.log
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_KEY=/etc/munge/munge.key
MUNGE_PID=/run/munge/munged.pid
MUNGE_LOG=/var/log/munge/munged.log
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
PARTITION=${SLURM_LOCAL_PARTITION:-debug}
NODE=$(hostname -s 2>/dev/null || hostname)

log() { echo "[slurm_local] $*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }

pid_alive() {  # pid_alive PIDFILE EXPECTED_NAME
    local pidfile=$1 name=$2 pid
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    # /proc rather than kill -0: a non-root caller may not signal root's daemons
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    stat_is_live "/proc/$pid/stat" "$name"
}

stat_is_live() {  # stat_is_live /proc/PID/stat NAME: that process is NAME (not a recycled pid) and
    # not a zombie (a killed daemon whose parent never reaps it, PID 1 of a container, stays one)
    case "$(cat "$1" 2>/dev/null)" in *"($2) "[!Z]*) return 0 ;; esac
    return 1
}

running_named() {  # running_named NAME: a live (not zombie) process called NAME exists
    local stat
    for stat in /proc/[0-9]*/stat; do stat_is_live "$stat" "$1" && return 0; done
    return 1
}

have_slurm() {
    command -v sinfo >/dev/null 2>&1 && command -v slurmctld >/dev/null 2>&1 \
        && command -v slurmd >/dev/null 2>&1 && command -v munged >/dev/null 2>&1
}

install_packages() {
    if have_slurm; then return 0; fi
    if ! is_root; then
        log "SLURM is not installed and we are not root: cannot install it."
        log "Ask an admin for: apt-get install -y slurmctld slurmd slurm-client munge"
        exit 3
    fi
    log "installing slurmctld slurmd slurm-client munge (apt-get) ..."
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get update -qq >/tmp/slurm_local_apt.log 2>&1 \
        || ! apt-get install -y -qq --no-install-recommends \
            slurmctld slurmd slurm-client munge >>/tmp/slurm_local_apt.log 2>&1; then
        tail -n 30 /tmp/slurm_local_apt.log >&2
        log "apt-get failed (log: /tmp/slurm_local_apt.log)"
        exit 1
    fi
    have_slurm || { log "packages installed but binaries missing"; exit 1; }
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if ! [ -s "$MUNGE_KEY" ]; then
        log "creating $MUNGE_KEY"
        mkdir -p /etc/munge
        (umask 077; dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none)
    fi
    local user=root
    id munge >/dev/null 2>&1 && user=munge
    mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    chown "$user:" /etc/munge "$MUNGE_KEY" /run/munge /var/lib/munge /var/log/munge
    chmod 700 /etc/munge; chmod 400 "$MUNGE_KEY"; chmod 755 /run/munge
    if munge_ok; then return 0; fi
    log "starting munged (as $user)"
    if [ "$user" = root ]; then
        munged --force
    else
        runuser -u munge -- munged --force
    fi
    for _ in $(seq 1 50); do munge_ok && return 0; sleep 0.1; done
    log "munged did not come up"; tail -n 20 "$MUNGE_LOG" >&2 2>/dev/null
    exit 1
}

node_mem_mb() {
    if [ -n "${SLURM_LOCAL_MEM_MB:-}" ]; then echo "$SLURM_LOCAL_MEM_MB"; return; fi
    local total
    total=$(free -m | awk '/^Mem:/ {print $2}')
    total=$(( total * 9 / 10 ))
    [ "$total" -gt 16000 ] && total=16000
    [ "$total" -lt 256 ] && total=256
    echo "$total"
}

render_conf() {
    local cpus=${SLURM_LOCAL_CPUS:-$(nproc)}
    cat <<EOF
# Written by launchers/slurm_local.sh: a one-machine cluster for tests and CI.
ClusterName=rewardds-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$CTLD_LOG
SlurmdLogFile=$SLURMD_LOG
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
MinJobAge=300
Waittime=0
MaxArraySize=10001
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$(node_mem_mb) State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() { sinfo -h -N -n "$NODE" -o '%t' 2>/dev/null | head -n 1 | tr -d '*~#$@ '; }

healthy() {  # daemons alive, controller answers, node usable
    pid_alive "$CTLD_PID" slurmctld && pid_alive "$SLURMD_PID" slurmd || return 1
    scontrol ping 2>/dev/null | grep -q 'UP' || return 1
    case "$(node_state)" in idle|mix|alloc|comp) return 0 ;; *) return 1 ;; esac
}

print_logs() {
    log "---- sinfo ----"; sinfo -N -l >&2 2>&1 || true
    log "---- scontrol show node ----"; scontrol show node "$NODE" >&2 2>&1 || true
    log "---- $CTLD_LOG (tail) ----"; tail -n 40 "$CTLD_LOG" >&2 2>/dev/null || true
    log "---- $SLURMD_LOG (tail) ----"; tail -n 40 "$SLURMD_LOG" >&2 2>/dev/null || true
}

kill_pidfile() {  # kill_pidfile PIDFILE NAME
    local pidfile=$1 name=$2 pid
    pid_alive "$pidfile" "$name" || { rm -f "$pidfile"; return 0; }
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "$name ($pid) ignores SIGTERM; SIGKILL"; kill -9 "$pid" 2>/dev/null; }
    rm -f "$pidfile"
    log "stopped $name ($pid)"
}

cmd_start() {
    install_packages
    if ! is_root; then
        # Installed but not root: we cannot write /etc/slurm or start daemons.
        if healthy; then log "cluster already up"; sinfo; exit 0; fi
        log "SLURM is installed but the cluster is not up, and only root can start it."
        exit 3
    fi
    start_munge
    mkdir -p "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
    local new changed=0
    new=$(render_conf)
    if ! [ -f "$CONF" ] || [ "$(cat "$CONF")" != "$new" ]; then
        printf '%s\n' "$new" >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
        changed=1
        log "wrote $CONF"
    fi
    if [ "$changed" = 0 ] && healthy; then
        log "cluster already up and healthy"
        sinfo
        exit 0
    fi
    if [ "$changed" = 1 ]; then
        # A new config needs fresh daemons.
        kill_pidfile "$SLURMD_PID" slurmd
        kill_pidfile "$CTLD_PID" slurmctld
    fi
    if ! pid_alive "$CTLD_PID" slurmctld; then
        if ! pid_alive "$SLURMD_PID" slurmd && ! running_named slurmstepd; then
            # Cold start: no daemon and no job step survived, so every job in the saved state
            # is dead. Recovered, a job saved as running keeps the node allocated (CI saw this
            # after a machine stopped mid-job); -c starts with an empty queue instead.
            log "starting slurmctld (cold start: the previous cluster's job records are cleared)"
            slurmctld -c || { print_logs; exit 1; }
        else
            log "starting slurmctld"
            slurmctld || { print_logs; exit 1; }
        fi
    fi
    if ! pid_alive "$SLURMD_PID" slurmd; then
        log "starting slurmd"
        slurmd || { print_logs; exit 1; }
    fi
    local t0=$SECONDS state=""
    while [ $(( SECONDS - t0 )) -lt "$TIMEOUT" ]; do
        state=$(node_state)
        case "$state" in
            idle) log "node $NODE idle after $(( SECONDS - t0 )) s"; sinfo; exit 0 ;;
            down|drain|drng|fail|inval)
                # e.g. "Node unexpectedly rebooted" after a restart: bring it back.
                scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    log "node $NODE not idle after ${TIMEOUT} s (state: ${state:-unknown})"
    print_logs
    exit 1
}

cmd_stop() {
    if ! is_root; then log "stop needs root"; exit 3; fi
    kill_pidfile "$SLURMD_PID" slurmd
    kill_pidfile "$CTLD_PID" slurmctld
    kill_pidfile "$MUNGE_PID" munged
    exit 0
}

cmd_status() {
    if ! command -v sinfo >/dev/null 2>&1; then log "SLURM not installed"; exit 3; fi
    local name pidfile
    for pair in "munged:$MUNGE_PID" "slurmctld:$CTLD_PID" "slurmd:$SLURMD_PID"; do
        name=${pair%%:*}; pidfile=${pair#*:}
        if pid_alive "$pidfile" "$name"; then echo "$name: running (pid $(cat "$pidfile"))"
        else echo "$name: not running"; fi
    done
    sinfo 2>&1 || true
    if healthy; then echo "status: up"; exit 0; fi
    echo "status: down"; exit 1
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) bash "$0" stop; exec bash "$0" start ;;
    *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
