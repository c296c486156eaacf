#!/usr/bin/env bash
# Privacy-utility sweep on SLURM: dp.epsilon x filter.keep_ratio (3 x 2 = 6 jobs),
# then the report (report.md / report.csv / privacy_utility.png in the sweep dir).
#
#   bash launchers/sweep_epsilon_keep.sh                      # task=medical, eps 1,2,4, keep 0.125,0.25
#   bash launchers/sweep_epsilon_keep.sh task=financial hydra.launcher.partition=gpu
#   EPSILONS=1,8 KEEP_RATIOS=0.5 bash launchers/sweep_epsilon_keep.sh experiment=smoke
#
# Extra arguments go to run.py unchanged; a later `key=value` wins over the defaults
# here, so `dp.epsilon=8` replaces the epsilon list. Environment:
#   EPSILONS, KEEP_RATIOS, TASK   the swept values (defaults above)
#   SWEEP_DIR                     where the sweep lands (default outputs/sweeps/<task>/eps_keep_<time>)
#   LAUNCHER                      hydra/launcher choice (default slurm; sweep_local.sh sets local)
#   PYTHON                        interpreter (default .venv/bin/python)
set -u -o pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
LAUNCHER=${LAUNCHER:-slurm}
TASK=${TASK:-medical}
EPSILONS=${EPSILONS:-1,2,4}
KEEP_RATIOS=${KEEP_RATIOS:-0.125,0.25}
SWEEP_DIR=${SWEEP_DIR:-outputs/sweeps/$TASK/eps_keep_$(date +%Y-%m-%d_%H-%M-%S)}

if [ "$LAUNCHER" = slurm ] && ! command -v sbatch >/dev/null 2>&1; then
    echo "sbatch not found: start a local cluster with 'bash launchers/slurm_local.sh start'" \
         "(root) or use launchers/sweep_local.sh" >&2
    exit 3
fi

set -x
"$PY" run.py -m "hydra/launcher=$LAUNCHER" "task=$TASK" "dp.epsilon=$EPSILONS" \
    "filter.keep_ratio=$KEEP_RATIOS" "hydra.sweep.dir=$SWEEP_DIR" "$@"
rc=$?
# The report lists failed jobs too, so build it whatever the sweep's exit status.
"$PY" -m rewardds.report "$SWEEP_DIR" || true
{ set +x; } 2>/dev/null
echo "sweep: $SWEEP_DIR (exit $rc); report: $SWEEP_DIR/report.md" >&2
exit $rc
