#!/bin/sh
# NDT's own code on one cell of `deno task real`'s protocol. Run from the project root:
#   results/real_ndt/driver/run_cell.sh CELL.json WORKDIR HEADS [NDT config overrides ...]
# CELL.json is a hest run config whose "data" names the recording and the loader options (the
# cell's window, draw and split). HEADS must divide the neuron count (NDT's width is the neuron
# count with EMBED_DIM 0). BUDGET (seconds, default 1000) caps the training time. Needs Debian's
# python3-torch python3-numpy python3-h5py python3-scipy python3-sklearn python3-yaml, NDT's source
# and nlb_tools (NDT_SRC, NDT_BENCH; by default the copies in ../shared).
set -e
CELL=$1; W=$2; H=$3; shift 3
D=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$W/data"
npx --yes deno@2.9.6 run -A --config deno.json "$D/export_cell.ts" "$CELL" "$W/data"
/usr/bin/python3 "$D/make_h5.py" "$W/data"
OPENBLAS_CORETYPE= OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$D/train_ndt_real.py" --config "$D/ndt_cell.yaml" \
  --budget-s "${BUDGET:-1000}" --every-s 150 --threads 1 --data "$W/data" --out "$W/run" \
  SEED 100 MODEL.NUM_HEADS "$H" TRAIN.NUM_UPDATES 1000 TRAIN.LR.WARMUP 100 \
  TRAIN.MASK_SPAN_RAMP_START 160 TRAIN.MASK_SPAN_RAMP_END 240 \
  DATA.DATAPATH "$W/data/" CHECKPOINT_DIR "$W/run/ck/" LOG_DIR "$W/run/logs/" TENSORBOARD_DIR "$W/run/tb/" "$@"
