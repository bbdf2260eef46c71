"""Run generated cases one after another in this process (``python _gen_child.py CASES.json RESULTS.jsonl``).

Each case's id is written to RESULTS.jsonl *before* it runs and its result after, so when a native
library kills the process the parent knows which case did it and starts a new child after it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path


def _files(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")} if folder.is_dir() else set()


def main() -> int:
    cases = json.loads(Path(sys.argv[1]).read_text())
    start = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from edgeseg.cli import main as cli

    with open(sys.argv[2], "a", encoding="utf-8") as log:
        for i, case in enumerate(cases[start:], start):
            log.write(json.dumps({"start": i, "id": case["id"]}) + "\n")
            log.flush()
            case_dir = Path(case["dir"])
            before = _files(case_dir)
            out, err = io.StringIO(), io.StringIO()
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    rc = cli(case["argv"])
                except SystemExit as e:  # argparse
                    rc = e.code if isinstance(e.code, int) else 2
                except BaseException as e:  # noqa: BLE001 - a traceback the CLI let through
                    import traceback

                    rc = "exception"
                    err.write(
                        "Traceback (raised through main): " + "".join(traceback.format_exception(e))[-1500:]
                    )
            new = sorted(_files(case_dir) - before)
            log.write(
                json.dumps(
                    {
                        "done": i,
                        "id": case["id"],
                        "rc": rc,
                        "stderr": err.getvalue()[-3000:],
                        "new_files": new,
                        "seconds": round(time.perf_counter() - t0, 2),
                    }
                )
                + "\n"
            )
            log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
