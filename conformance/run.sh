#!/usr/bin/env bash
# NLB conformance: builds NLB files with nlb_tools' own save_to_h5, trains hest briefly on them
# (a tiny standard run and a tiny hybrid run), writes NLB submissions with `deno task eval` and
# checks that nlb_tools' own evaluate gives the co-bps, vel R2, PSTH R2 and fp-bps hest wrote to
# metrics.json. See conformance/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: conformance/run.sh [--nlb-tools DIR] [--work DIR] [--seed S] [--steps N] [--tol T]

  --nlb-tools DIR  the nlb_tools checkout (the folder holding the nlb_tools package); default
                   $NLB_TOOLS, else ../shared/peers/nlb_tools next to the repository
  --work DIR       keep the files, runs and submissions in DIR (default: a temporary folder,
                   removed after a clean pass and kept after a failure)
  --seed S         seed of the synthetic data (default 0)
  --steps N        optimiser steps of the standard run (default 50; the hybrid run takes 6)
  --tol T          largest allowed |nlb_tools - hest| per metric (default 1e-6)
  -h, --help       this text

Environment: PYTHON (default: the first of python3, /usr/bin/python3 that has numpy, h5py,
scipy, sklearn and pandas), DENO (default: deno; must be 2.9.6, e.g. DENO="npx --yes deno@2.9.6").
Exit status: 0 all metrics equal, 1 a metric differs, 2 a missing tool or bad usage.
EOF
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
NLB_TOOLS_DIR="${NLB_TOOLS:-$ROOT/../shared/peers/nlb_tools}"
WORK=""
STEPS=50
SEED=0
HYBRID_STEPS=6
TOL=1e-6
DENO_VERSION=2.9.6
# no __pycache__ in this folder or in the (read-only) nlb_tools checkout
export PYTHONDONTWRITEBYTECODE=1

die() {
  echo "conformance: $*" >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --nlb-tools) NLB_TOOLS_DIR="${2:?--nlb-tools needs a folder}"; shift 2 ;;
    --work) WORK="${2:?--work needs a folder}"; shift 2 ;;
    --seed) SEED="${2:?--seed needs a number}"; shift 2 ;;
    --steps) STEPS="${2:?--steps needs a number}"; shift 2 ;;
    --tol) TOL="${2:?--tol needs a number}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# nlb_tools: the package folder with the two modules used
[[ -f "$NLB_TOOLS_DIR/nlb_tools/evaluation.py" && -f "$NLB_TOOLS_DIR/nlb_tools/make_tensors.py" ]] ||
  die "no nlb_tools checkout at $NLB_TOOLS_DIR (expected nlb_tools/evaluation.py and" \
    "nlb_tools/make_tensors.py in it); give its folder with --nlb-tools DIR or NLB_TOOLS=DIR"
NLB_TOOLS_DIR="$(cd "$NLB_TOOLS_DIR" && pwd)"

# Python with nlb_tools' dependencies (pynwb is not needed: see nlb_import.py)
py_missing() {
  "$1" - <<'EOF' 2>/dev/null
import importlib
missing = []
for m in ["numpy", "h5py", "scipy", "sklearn", "pandas"]:
    try:
        importlib.import_module(m)
    except ImportError:
        missing.append(m)
print(" ".join(missing))
EOF
}
if [[ -n "${PYTHON:-}" ]]; then
  candidates=("$PYTHON")
else
  candidates=(python3 /usr/bin/python3)
fi
PY=""
report=()
for c in "${candidates[@]}"; do
  if ! command -v "$c" >/dev/null 2>&1; then
    report+=("$c: not found")
    continue
  fi
  if ! m="$(py_missing "$c")"; then
    report+=("$c: does not run")
    continue
  fi
  if [[ -z "$m" ]]; then
    PY="$c"
    break
  fi
  report+=("$c: cannot import $m")
done
if [[ -z "$PY" ]]; then
  printf '  %s\n' "${report[@]}" >&2
  die "no Python with nlb_tools' dependencies (numpy, h5py, scipy, sklearn, pandas); on" \
    "Debian: apt-get install python3-numpy python3-h5py python3-scipy python3-sklearn" \
    "python3-pandas, or set PYTHON to an interpreter that has them"
fi

# the pinned deno
read -r -a DENO_CMD <<<"${DENO:-deno}"
command -v "${DENO_CMD[0]}" >/dev/null 2>&1 ||
  die "${DENO_CMD[0]} not found; install deno $DENO_VERSION or set DENO=\"npx --yes deno@$DENO_VERSION\""
found="$("${DENO_CMD[@]}" --version 2>/dev/null | head -n 1 || true)"
[[ "$found" == "deno $DENO_VERSION "* || "$found" == "deno $DENO_VERSION" ]] ||
  die "expected deno $DENO_VERSION (the version the project pins), found '${found:-nothing}' from" \
    "'${DENO_CMD[*]}'; set DENO=\"npx --yes deno@$DENO_VERSION\""

if [[ -z "$WORK" ]]; then
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/hest-conformance.XXXXXX")"
  TEMP_WORK=1
else
  mkdir -p "$WORK"
  WORK="$(cd "$WORK" && pwd)"
  TEMP_WORK=0
fi
finish() {
  local rc=$?
  if [[ $rc -eq 0 && $TEMP_WORK -eq 1 ]]; then
    rm -rf "$WORK"
  elif [[ $rc -ne 0 ]]; then
    echo "conformance: failed (exit $rc); files, runs and submissions are in $WORK" >&2
  fi
}
trap finish EXIT

step() { echo; echo "== $*"; }
deno_task() { (cd "$ROOT" && "${DENO_CMD[@]}" task "$@"); }

echo "nlb_tools: $NLB_TOOLS_DIR"
echo "python:    $PY ($("$PY" --version 2>&1))"
echo "deno:      ${DENO_CMD[*]} ($found)"
echo "work:      $WORK"

step "NLB files written by nlb_tools' save_to_h5"
"$PY" "$HERE/make_nlb_files.py" "$NLB_TOOLS_DIR" "$WORK/data" --seed "$SEED"
D="$WORK/data"
DATA="$D/train_input.h5,$D/eval_input.h5,$D/target_data.h5"

step "train: preset tiny, $STEPS steps"
deno_task train --data "$DATA" --preset tiny --steps "$STEPS" --out "$WORK/standard" \
  --overwrite --quiet

step "train: preset hybrid (small model), $HYBRID_STEPS steps, both modes"
cat >"$WORK/hybrid.json" <<EOF
{
  "preset": "hybrid",
  "model": { "dModel": 16, "nLayers": 1, "nHeads": 2, "dFF": 32, "cpg": { "dims": 8 } },
  "train": { "steps": $HYBRID_STEPS, "batchSize": 16, "evalEvery": 3 }
}
EOF
deno_task train --config "$WORK/hybrid.json" --data "$DATA" --out "$WORK/hybrid" \
  --overwrite --quiet

# each eval rewrites the run's metrics.json (one row per mode): keep the one of each submission
submit() { # run mode label
  step "eval: $2-mode rates of $1 as an NLB submission"
  deno_task eval --run "$WORK/$1" --data "$DATA" --mode "$2" \
    --nlb-submission "$WORK/$3.h5"
  cp "$WORK/$1/metrics.json" "$WORK/$3.metrics.json"
}
submit standard standard standard
submit hybrid standard hybrid_standard
submit hybrid spiking hybrid_spiking

step "nlb_tools' evaluate against hest's metrics.json"
"$PY" "$HERE/check.py" "$NLB_TOOLS_DIR" "$D/target_data.h5" --tol "$TOL" \
  --case "standard" "$WORK/standard.h5" "$WORK/standard.metrics.json" standard \
  --case "hybrid/standard" "$WORK/hybrid_standard.h5" "$WORK/hybrid_standard.metrics.json" standard \
  --case "hybrid/spiking" "$WORK/hybrid_spiking.h5" "$WORK/hybrid_spiking.metrics.json" spiking
