"""``build --backend executorch --int8 --max-drop``: how a lowered program is scored on the budget frames
(``quant.budget_check.BudgetFrames``); the build loop is ``quant.budget_check.extend_until_met``: the search
ranked on edgeseg's fake quant, a proxy for the XNNPACK quantizer's PT2E scheme, so the program itself is
checked and lowered again with more of the proxy's ranking float while it misses."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from edgeseg.quant.budget_check import BudgetFrames


def program_check(frames: BudgetFrames, buffer: bytes, *, out: Path, threads: int | None) -> dict[str, Any]:
    """``frames.result`` of the program in ``buffer``, staged in a temporary folder beside ``out``."""
    from edgeseg.backends.executorch.runner import ExecuTorchRunner

    with tempfile.TemporaryDirectory(prefix=".edgeseg-et-check-", dir=out.parent) as tmp:
        staged = Path(tmp) / out.name
        staged.write_bytes(buffer)
        with ExecuTorchRunner(staged, threads=threads) as runner:
            return frames.result(runner.infer)
