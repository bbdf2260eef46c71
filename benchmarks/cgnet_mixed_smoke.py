#!/usr/bin/env python
"""Smoke run of the mixed-precision search on the shipped CGNet: PTQ (mse + sequential bias correction on
CALIB (default 64) CamVid train frames), per-layer sensitivity (isolated) on FRAMES (default 16) val frames,
greedy fallback at MAX_DROP (0.3) / CLASS_DROP (1.0). Writes /tmp/w32/cgnet_sens_FRAMES.json and
/tmp/w32/cgnet_plan_FRAMES.json.
Usage: PYTHONPATH=. python benchmarks/cgnet_mixed_smoke.py FRAMES CALIB [MAX_DROP CLASS_DROP [reuse]]"""

import json
import os
import sys
import time

from edgeseg.train.checkpoint import load_checkpoint
from edgeseg.data.calib import CalibrationSet
from edgeseg.data.datasets import open_dataset
from edgeseg.quant.ptq import ptq
from edgeseg.quant.placement import prepare
from edgeseg.quant.bias_correction import bias_state
from edgeseg.quant.sensitivity import frame_batches, layer_sensitivity
from edgeseg.quant.fallback_search import Budget, search_fallback

os.makedirs("/tmp/w32", exist_ok=True)
frames = int(sys.argv[1]) if len(sys.argv) > 1 else 16
max_drop = float(sys.argv[3]) if len(sys.argv) > 3 else 0.3
class_drop = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
tag = f"{frames}" if len(sys.argv) <= 3 else f"{frames}_{max_drop:g}_{class_drop:g}"
spec = "camvid:/work/shared/datasets/camvid"
model, card, _ = load_checkpoint("edgeseg/weights/cgnet_camvid.pt")
t = time.perf_counter()
calib = CalibrationSet(
    spec,
    card,
    num=int(sys.argv[2]) if len(sys.argv) > 2 else 64,
    batch=8,
    size=tuple(card.input_size),
    seed=0,
)
q, placement, _, _ = ptq(model, calib, progress=False)
print(f"ptq {time.perf_counter() - t:.0f} s", flush=True)
biases = bias_state(prepare(model)[0])
val = open_dataset(spec, "val", size=tuple(card.input_size))
batches = frame_batches(val, card, frames=frames, batch=4)
saved = f"/tmp/w32/cgnet_sens_{frames}.json"
if len(sys.argv) > 5 and sys.argv[5] == "reuse":  # the sensitivity a previous run saved (same PTQ)
    sens = json.load(open(saved))
else:
    t = time.perf_counter()
    sens = layer_sensitivity(
        q,
        model,
        batches=batches,
        num_classes=card.num_classes,
        biases=biases,
        cache=f"/tmp/w32/cgnet_sens_{frames}.cache.json",
        progress=False,
        log=print,
    )
    print(
        f"sensitivity {len(sens['units'])} units on {frames} frames: {time.perf_counter() - t:.0f} s",
        flush=True,
    )
    json.dump(sens, open(f"/tmp/w32/cgnet_sens_{frames}.json", "w"))
t = time.perf_counter()
plan = search_fallback(
    q,
    model,
    batches=batches,
    num_classes=card.num_classes,
    sensitivity=sens,
    budget=Budget(max_drop=max_drop, class_drop=class_drop),
    biases=biases,
    log=print,
)
print(f"search {time.perf_counter() - t:.0f} s", flush=True)
d = plan.to_dict(class_names=card.class_names)
json.dump(d, open(f"/tmp/w32/cgnet_plan_{tag}.json", "w"), indent=1)
print(json.dumps({k: d[k] for k in ("float_layers", "budget_met", "int8", "mixed", "evaluations")}, indent=1))
