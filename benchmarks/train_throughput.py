"""Training throughput (images/s) of candidate CPU recipes, measured through the real Trainer.

Each config runs a few optimizer steps on the given data, rounds interleaved (A B C A B C ...) so the
machine's drift hits every config alike; the first step of each run is a warm-up and is not timed.
Prints one line per config (median and best img/s over rounds) and, with --json, writes them.

    python benchmarks/train_throughput.py --data camvid:../shared/datasets/camvid --steps 6 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

#: name -> (threads, crop, model)
CONFIGS = {
    "cgnet-360-2t": (2, 360, "cgnet"),
    "cgnet-360-1t": (1, 360, "cgnet"),
    "cgnet-256-2t": (2, 256, "cgnet"),
    "cgnet-256-1t": (1, 256, "cgnet"),
}


def measure(*, data: str, threads: int, crop: int, model: str, steps: int, batch: int, out: str) -> float:
    """Images per second over ``steps`` timed steps (one untimed warm-up step first)."""
    from edgeseg.train.loop import TrainConfig, Trainer

    cfg = TrainConfig(
        model=model,
        data=data,
        out=out,
        epochs=1,
        batch=batch,
        crop=(crop, crop),
        val_every=0,
        threads=threads,
        max_steps_per_epoch=steps + 1,
    )
    t = Trainer(cfg, progress=False)
    stamps: list[float] = []
    step = t.opt.step

    def stamped(*a, **k):
        out = step(*a, **k)
        stamps.append(time.perf_counter())
        return out

    t.opt.step = stamped
    t.run()
    return steps * batch / (stamps[-1] - stamps[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    res: dict[str, list[float]] = {c: [] for c in args.configs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name in args.configs:
                threads, crop, model = CONFIGS[name]
                v = measure(
                    data=args.data,
                    threads=threads,
                    crop=crop,
                    model=model,
                    steps=args.steps,
                    batch=args.batch,
                    out=f"{tmp}/{name}",
                )
                res[name].append(v)
                print(f"round {r + 1} {name}: {v:.2f} img/s", flush=True)
    rows = {
        n: {"median_img_s": round(statistics.median(v), 2), "best_img_s": round(max(v), 2), "rounds": v}
        for n, v in res.items()
    }
    for n, row in rows.items():
        print(f"{n:<16} median {row['median_img_s']:6.2f} img/s  best {row['best_img_s']:6.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
