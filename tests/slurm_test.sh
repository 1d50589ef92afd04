#!/usr/bin/env bash
# ctest SlurmRoundTrip (issue 16): a real single-node Slurm on this machine.
#  1. starts munged (key, socket, pid, log in a temporary folder), slurmctld and slurmd (Debian's
#     packages: third_party/install-deps.sh) with a minimal slurm.conf in that folder: the node is
#     `hostname -s` with `nproc` CPUs and this machine's memory, state and spool in the folder,
#     ports picked at random;
#  2. submits a small Lasso sweep through `proxbench slurm` (an array of 4 tasks, %2) and waits,
#     with a timeout, for the array and the dependent report job to leave the queue;
#  3. checks one log per task, the report job's log and report, and that every run equals a local
#     `proxbench run` of the same experiment: trajectory.csv without its seconds column, and
#     summary.json without timings and context (host, start time);
#  4. resubmits: every run is finished, so only the report job is submitted.
# The daemons it started are stopped on every exit (trap). If they cannot start, the test FAILS
# saying why; it never skips. Needs root (slurmd runs jobs as their user).
set -euo pipefail
BUILD=$1
PB="$BUILD/proxbench"
fail() { echo "SlurmRoundTrip: FAIL: $*" >&2; exit 1; }
[ -x "$PB" ] || fail "no proxbench executable at $PB"
[ "$(id -u)" -eq 0 ] || fail "must run as root (slurmd starts the jobs as their owner); run ctest as root"
for p in munged mungekey slurmctld slurmd sbatch squeue scontrol; do
  command -v "$p" > /dev/null || fail "'$p' not found: install munge, slurmctld, slurmd, slurm-client (third_party/install-deps.sh)"
done

T=$(mktemp -d /tmp/proxbench-slurm.XXXXXX)
chmod 755 "$T"
export SLURM_CONF="$T/slurm.conf"
# The processes this test started: every one carries SLURM_CONF=$T/slurm.conf in its environment
# (munged, slurmctld, slurmd, slurmstepd and the jobs' processes; $T is unique), this shell excepted.
ours() {
  local e p
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}
    p=${p%/environ}
    [ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] && continue
    { tr '\0' '\n' < "$e"; } 2> /dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF" && echo "$p"
  done
  return 0
}
cleanup() {
  local rc=$? left
  trap - EXIT INT TERM
  if [ -f "$T/slurmctld.pid" ]; then
    squeue -h -o %i 2> /dev/null | xargs -r scancel 2> /dev/null || true
    for _ in $(seq 20); do [ -z "$(squeue -h -o %i 2> /dev/null)" ] && break; sleep 0.5; done
    scontrol shutdown > /dev/null 2>&1 || true
    for _ in $(seq 20); do [ -z "$(ours)" ] || [ "$(ours)" = "$(cat "$T/munge/munged.pid" 2> /dev/null)" ] && break; sleep 0.5; done
  fi
  left=$(ours)
  [ -n "$left" ] && kill $left 2> /dev/null
  for _ in $(seq 25); do [ -z "$(ours)" ] && break; sleep 0.2; done
  left=$(ours)
  if [ -n "$left" ]; then
    echo "SlurmRoundTrip: killing leftover processes $left" >&2
    kill -9 $left 2> /dev/null || true
  fi
  if [ $rc -ne 0 ]; then
    for l in slurmctld.log slurmd.log munge/munged.log; do
      [ -f "$T/$l" ] && { echo "---- tail $l"; tail -n 15 "$T/$l"; } >&2
    done
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT INT TERM

# ---- munge
mkdir -p "$T/munge" "$T/state" "$T/spool"
chmod 700 "$T/munge"
mungekey -c -k "$T/munge/munge.key" || fail "mungekey could not create a key in $T/munge"
munged -f --key-file="$T/munge/munge.key" --socket="$T/munge/munge.sock" --pid-file="$T/munge/munged.pid" \
  --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed" ||
  fail "munged did not start (see $T/munge/munged.log below)"
munge -S "$T/munge/munge.sock" -n | unmunge -S "$T/munge/munge.sock" > /dev/null ||
  fail "munge round trip through $T/munge/munge.sock failed"

# ---- slurm.conf
H=$(hostname -s)
MEM=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
PORT=$((20000 + RANDOM % 20000))
cat > "$SLURM_CONF" << EOF
ClusterName=proxbenchtest
SlurmctldHost=$H
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$H CPUs=$(nproc) RealMemory=$MEM State=UNKNOWN
PartitionName=test Nodes=$H Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not start (slurmctld.log below)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start (slurmd.log below)"
ok=0
for _ in $(seq 60); do
  if sinfo -h -o %t 2> /dev/null | grep -qx idle; then ok=1; break; fi
  sleep 0.5
done
[ $ok -eq 1 ] || fail "node $H is not idle after 30 s: $(sinfo 2>&1 | tr '\n' ' ')"

# ---- the sweep through Slurm and the same experiment locally
cat > "$T/sweep.yaml" << YAML
name: slurm-lasso
problem: {name: lasso, n: 80, p: 20, k: 3, batch_size: 20}
regularizer: {name: l1}
lambda: [0.02, 0.1]
optimizers:
  - {name: proxgen, label: ProxGen-Adam, options: {lr: 0.02}}
  - {name: prox_sgd, label: Prox-SGD, options: {lr: 0.05}}
seeds: 1
budget: {epochs: 5}
YAML
export OMP_NUM_THREADS=1  # both sides single-threaded: same arithmetic, run for run
"$PB" slurm "$T/sweep.yaml" --out "$T/slurm-out" --parallelism 2 > "$T/submit.txt" 2>&1 ||
  { cat "$T/submit.txt"; fail "proxbench slurm failed"; }
cat "$T/submit.txt"
SWEEP=$(sed -n 's/^submitted sweep: job \([0-9]*\).*/\1/p' "$T/submit.txt")
REPORT=$(sed -n 's/^submitted report: job \([0-9]*\).*/\1/p' "$T/submit.txt")
[ -n "$SWEEP" ] && [ -n "$REPORT" ] || fail "no job ids in the output of proxbench slurm"
grep -q "^#SBATCH --array=0-3%2$" "$T/slurm-out/slurm-lasso/slurm/sweep.sbatch" || fail "array line of sweep.sbatch"
"$PB" run "$T/sweep.yaml" --out "$T/local-out" --quiet || fail "local proxbench run failed"

ok=0
for _ in $(seq 240); do  # 120 s
  if [ -z "$(squeue -h -o %i 2> /dev/null)" ]; then ok=1; break; fi
  sleep 0.5
done
[ $ok -eq 1 ] || fail "jobs still queued after 120 s: $(squeue 2>&1 | tr '\n' ' ')"

D="$T/slurm-out/slurm-lasso"
for i in 0 1 2 3; do
  [ -s "$D/slurm/task-$i.log" ] || fail "no log of array task $i"
  grep -q "== proxbench task $i of 4" "$D/slurm/task-$i.log" || fail "task $i log: $(cat "$D/slurm/task-$i.log")"
done
grep -q "report: " "$D/slurm/report.log" || fail "the report job did not run: $(cat "$D/slurm/report.log" 2>&1)"
[ -f "$D/report/index.html" ] || fail "the report job wrote no $D/report/index.html"

strip_summary() {  # summary.json without the timings and context blocks (nlohmann dump(2) layout)
  awk '/^  "(timings|context)": \{/ {skip = 1} !skip {print} skip && /^  \},?$/ {skip = 0}' "$1"
}
n=0
for L in "$T"/local-out/slurm-lasso/*/; do
  id=$(basename "$L")
  S="$D/$id"
  [ -f "$S/summary.json" ] || fail "run $id: no summary.json in the Slurm results"
  grep -q '"status": "completed"' "$S/summary.json" || fail "run $id did not complete under Slurm"
  diff <(strip_summary "$L/summary.json") <(strip_summary "$S/summary.json") > "$T/diff.txt" ||
    { cat "$T/diff.txt"; fail "run $id: summary.json differs from the local run"; }
  diff <(cut -d, -f1,2,4- "$L/trajectory.csv") <(cut -d, -f1,2,4- "$S/trajectory.csv") > "$T/diff.txt" ||
    { cat "$T/diff.txt"; fail "run $id: trajectory.csv differs from the local run"; }
  n=$((n + 1))
done
[ $n -eq 4 ] || fail "expected 4 runs in the local results, found $n"

# ---- resubmission: everything finished, only the report job goes out
"$PB" slurm "$T/sweep.yaml" --out "$T/slurm-out" --parallelism 2 > "$T/submit2.txt" 2>&1 ||
  { cat "$T/submit2.txt"; fail "second proxbench slurm failed"; }
grep -q "every run is finished: no sweep job" "$T/submit2.txt" || fail "resubmission: $(cat "$T/submit2.txt")"
for _ in $(seq 120); do [ -z "$(squeue -h -o %i 2> /dev/null)" ] && break; sleep 0.5; done
[ "$(grep -c "^== proxbench report" "$D/slurm/report.log")" -eq 2 ] || fail "the second report job did not run"
echo "SlurmRoundTrip: OK: 4 runs through a job array (jobs $SWEEP, report $REPORT) equal the local run"
