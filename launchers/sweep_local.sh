#!/usr/bin/env bash
# Same sweep as sweep_epsilon_keep.sh, as local processes (hydra/launcher=local):
# no SLURM needed. Caution: the local launcher starts ALL jobs at once; on a small
# machine narrow the sweep (EPSILONS=4 KEEP_RATIOS=0.125,0.25) or use experiment=smoke.
#
#   bash launchers/sweep_local.sh experiment=smoke
exec env LAUNCHER=local bash "$(dirname "$0")/sweep_epsilon_keep.sh" "$@"
