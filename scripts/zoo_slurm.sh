#!/usr/bin/env bash
# A population of models on a cluster's job array (SLURM): every task trains, then scans, its share
# of the population into one shared folder; the task that finishes scanning last writes
# population.json and population.html. No coordinator: shares are whole groups of one architecture
# and seed, and every run and scan resumes after a kill (resubmit the array to finish it).
#
#   sbatch --array=0-9 scripts/zoo_slurm.sh fmnist-default /shared/zoo/fmnist
#
#SBATCH --job-name=advtrojan-zoo
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
set -euo pipefail
SPEC="${1:?usage: sbatch --array=0-N scripts/zoo_slurm.sh SPEC DIR}"
DIR="${2:?usage: sbatch --array=0-N scripts/zoo_slurm.sh SPEC DIR}"
SHARD="${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}"
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
advtrojan zoo train "$SPEC" --out "$DIR" --shard "$SHARD" --no-progress
advtrojan zoo scan "$DIR" --shard "$SHARD" --no-progress
