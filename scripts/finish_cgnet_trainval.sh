#!/usr/bin/env bash
# Issue 34's shipping step, once the 7.5 h train+val CGNet run has stopped by its budget: ship the FINAL
# weights (nothing chosen on val or test), redo the QAT Q/DQ ONNX with the committed recipe, measure the
# test split once (FP32 and QAT INT8), record the figures, draw the training curve.
#
#   bash scripts/finish_cgnet_trainval.sh [CAMVID_DIR]      (default ../shared/datasets/camvid)
#
# Run it alone on the machine (the QAT epoch and the evals are CPU-heavy). It stops at the first error and
# refuses to start unless runs/cgnet_trainval_7h30/final.pt exists and its card says the budget stopped
# it. The zoo bench rows and the reports are re-run after it (docs/training.md).
set -euo pipefail
cd "$(dirname "$0")/.."
CAMVID="${1:-../shared/datasets/camvid}"
DATA="camvid:${CAMVID}"
RUN=runs/cgnet_trainval_7h30
KEEP=benchmarks/training/cgnet_trainval_7h30
OUT=/tmp/cgnet_trainval_ship
PY=.venv/bin/python
ES=.venv/bin/edgeseg

[ -f "$RUN/final.pt" ] || { echo "error: $RUN/final.pt not found: the run has not finished" >&2; exit 2; }
[ -d "$CAMVID" ] || { echo "error: CamVid not found at $CAMVID" >&2; exit 2; }
$PY - "$RUN/final.pt" <<'EOF'
import sys
from edgeseg.train.checkpoint import read_checkpoint
t = read_checkpoint(sys.argv[1])["card"]["training"]
if t.get("stopped_by") != "time budget" or t.get("budget_s") != 27000.0:
    sys.exit(f"error: {sys.argv[1]}: expected a run stopped by its 27000 s budget, found "
             f"stopped_by={t.get('stopped_by')!r} budget_s={t.get('budget_s')!r}")
print(f"final.pt: {t.get('epochs_done')} epochs, {t.get('iterations')} iterations, "
      f"budget {t.get('budget_spent_s')} s of {t.get('budget_s')} s")
EOF
mkdir -p "$OUT" benchmarks/build

# 1. the final weights, shipped (replaces the train-only CGNet: --force)
$PY scripts/ship_weights.py "$RUN/final.pt" --force \
    --route "CPU: --time 7h30m, --recipe auto (= cpu), 2-core x86-64 VMs over several working periods (--resume), CamVid train+val (the paper's protocol; val was trained on), final weights (nothing chosen on val or test)" \
    --note "issue 34; carried over sessions with the budget paused between them; the training log and curve are in benchmarks/training/cgnet_trainval_7h30/"

# 2. its QAT Q/DQ ONNX, the committed recipe (docs/quantization.md), and the checkpoint the benchmarks use
OMP_NUM_THREADS=1 $ES quantize edgeseg/weights/cgnet_camvid.pt --method qat --data "$DATA" \
    --calib-method mse --calib-num 100 --size 360x480 --epochs 1 --lr 1e-4 --val-data "$DATA" \
    --save-checkpoint benchmarks/build/cgnet_qat.pt -o edgeseg/weights/cgnet_camvid_qat_int8.onnx \
    --no-progress --force

# 3. the test split, once, for the weights as shipped
$ES eval edgeseg/weights/cgnet_camvid.pt --data "$DATA" --split test --threads 2 --no-progress \
    --json "$OUT/cgnet_fp32.json"
$ES eval edgeseg/weights/cgnet_camvid_qat_int8.onnx --data "$DATA" --split test --threads 2 \
    --no-progress --json "$OUT/cgnet_qat_int8_ort.json"
$PY scripts/record_test_figures.py "$OUT/cgnet_fp32.json" "$OUT/cgnet_qat_int8_ort.json"

# 4. the run's record: history, log, curve (last.pt goes: the run is finished)
cp "$RUN/history.json" "$RUN/class_weights.json" "$KEEP/"
$PY benchmarks/training_curve.py "$KEEP/history.json" --png "$KEEP/loss.png" --force \
    --title "CGNet, CamVid train+val, 7.5 h CPU budget (final)" \
    --val-label "val mIoU (val is in the training set)"
git rm -q --cached "$KEEP/last.pt" 2>/dev/null || true
rm -f "$KEEP/last.pt"
echo "done: now re-run the zoo rows (cd benchmarks && edgeseg bench zoo_cpu.yaml --rebuild), re-render the reports, update README and docs/training.md"
