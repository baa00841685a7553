#!/usr/bin/env bash
# The learned-motion demo's whole recipe in one command: codec -> teacher -> ODE init -> Self-Forcing DMD -> the
# evals with their no-learning rows. Every stage resumes from its checkpoint, so running the script again continues
# the run (a longer teacher: raise TEACHER_MIN and run it again). On a GPU every stage uses CUDA by itself.
#
#   bash recipes/learned_ladder.sh                                  # runs/learn64, evals in runs/learn64/eval
#   RUN=runs/l128 CONFIG=demo-learn128 TEACHER_MIN=30 bash recipes/learned_ladder.sh
#
#   TEACHER_ARGS="--batch 32 --set cache_clips=8192 --set cache_workers=16" bash recipes/learned_ladder.sh
#                                                 # a GPU machine: more clips a step, rendered on its spare cores
#
# Without the package installed (a machine with torch and the [train] extra's packages):
#   PYTHONPATH=$PWD bash recipes/learned_ladder.sh
set -euo pipefail
RUN=${RUN:-runs/learn64}
CONFIG=${CONFIG:-demo-learn64}
TEACHER_MIN=${TEACHER_MIN:-6}   # minutes this call trains each stage (a second call resumes and trains as long again)
ODE_MIN=${ODE_MIN:-1.5}
DMD_MIN=${DMD_MIN:-1.5}
T=${THREADS:+--threads $THREADS}  # THREADS: CPU threads (unset: all cores)
EVAL=${EVAL:-$RUN/eval}
PY=${PYTHON:-python3}
M="$PY -m motionstream_core.train.cli"

# the codec is fitted once (the teacher's latent cache is encoded with it)
[ -f "$RUN/autoencoder/autoencoder.safetensors" ] || $M autoencoder --out "$RUN" --config "$CONFIG" --preset refine $T
# shellcheck disable=SC2086  # the *_ARGS are option lists, split on purpose
$M teacher --out "$RUN" --preset learn --minutes "$TEACHER_MIN" $T ${TEACHER_ARGS:-}
$M ode --out "$RUN" --preset learn --minutes "$ODE_MIN" $T ${ODE_ARGS:-}
$M dmd --out "$RUN" --preset learn --minutes "$DMD_MIN" $T ${DMD_ARGS:-}

STUDENT=$RUN/dmd/student_ema.safetensors
mkdir -p "$EVAL"
$M eval --objects --out "$RUN" --student "$STUDENT" --no-teacher --frames 33 --scenes 12 $T \
    --json "$EVAL/objects.json" --sheets "$EVAL/objects"
$M eval --objects --out "$RUN" --student "$STUDENT" --no-teacher --frames 33 --scenes 12 $T \
    --hide-from 0.5 --json "$EVAL/objects_hidden.json"
$M eval --photos builtin --out "$RUN" --student "$STUDENT" --no-teacher --frames 33 $T \
    --json "$EVAL/photos.json" --sheets "$EVAL/photos"
$M eval --out "$RUN" --student "$STUDENT" --no-teacher --clips 16 $T --json "$EVAL/synthetic.json"
