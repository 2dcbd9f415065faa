#!/usr/bin/env bash
# Checks the Slurm recipe on this one machine: installs Debian's slurm-wlm and munge
# if needed, configures slurmctld + slurmd + munged on localhost, starts them, submits
# campaign.sbatch as an array of SHARDS tasks (default 4), waits, and merges the
# records with cargo-detsim. Its exit status is the merge's: 1 when a failure was
# found (the planted-bug crate's two), 0 when none, 2 on an error. Run as root, from
# anywhere; the daemons it started are stopped at the end (KEEP_SLURM=1 keeps them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
shards=${SHARDS:-4}
seeds=${SEEDS:-100}
results=${RESULTS:-$repo/target/detsim-slurm}

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge
fi

host=$(hostname -s)
started=()
stop_daemons() {
    [[ "${KEEP_SLURM:-0}" == 1 ]] && return
    local pids=()
    for pidfile in "${started[@]}"; do
        [[ -s "$pidfile" ]] && pids+=("$(cat "$pidfile")")
    done
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    # Wait for them to exit, so that a next run does not find a daemon shutting down.
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    done
}
trap stop_daemons EXIT

# munge: the key the package made (or a new one), and the daemon, as user munge.
if [[ ! -s /etc/munge/munge.key ]]; then mungekey --create --keyfile=/etc/munge/munge.key; fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    started+=(/run/munge/munged.pid)
fi
munge -n | unmunge >/dev/null

# Slurm: one node (this machine) in one partition; no cgroups, no accounting.
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
marker="# written by detsim's cli/examples/slurm/run.sh"
if [[ -e /etc/slurm/slurm.conf ]] && ! grep -qF "$marker" /etc/slurm/slurm.conf && [[ "${FORCE:-0}" != 1 ]]; then
    echo "run.sh: /etc/slurm/slurm.conf exists and is not this script's: FORCE=1 replaces it" >&2
    exit 2
fi
memory=$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
cat >/etc/slurm/slurm.conf <<CONF
$marker
ClusterName=detsim
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
NodeName=$host CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=detsim Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
if ! scontrol ping 2>/dev/null | grep -q UP; then
    /usr/sbin/slurmctld
    started+=(/run/slurmctld.pid)
fi
if [[ ! -s /run/slurmd.pid ]] || ! kill -0 "$(cat /run/slurmd.pid)" 2>/dev/null; then
    /usr/sbin/slurmd
    started+=(/run/slurmd.pid)
fi
for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [[ "$state" == idle* || "$state" == mixed* ]] && break
    [[ "$state" == down* || "$state" == drain* ]] && scontrol update nodename="$host" state=resume || true
    sleep 1
done
sinfo

# Build once, so that the shards only run the tests.
cd "$repo"
cargo test --no-run -q -p detsim-campaign-fixture
rm -rf "$results"
mkdir -p "$results/logs"

sbatch --wait --array="0-$((shards - 1))" \
    --output="$results/logs/shard-%a.log" \
    --export="ALL,DETSIM_RESULTS=$results,DETSIM_SEEDS=$seeds,REPO=$repo" \
    "$here/campaign.sbatch"
echo "array job done; merging $results"

set +e
cargo run -q -p cargo-detsim -- merge "$results" --junit "$results/junit.xml"
status=$?
set -e
echo "cargo-detsim merge exited with status $status"
exit "$status"
