"""``build --backend executorch --int8 --max-drop``: the budget checked on the built program itself
(``quant.budget_check``): the search ranked on edgeseg's fake quant, a proxy for the XNNPACK quantizer's
PT2E scheme; the lowered program is scored on the same frames and reference, and lowered again with more
of the proxy's ranking float while it misses (``extend_until_met``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

from edgeseg.quant.budget_check import MAX_REBUILDS, BudgetFrames, extend_until_met

__all__ = ["MAX_REBUILDS", "BudgetFrames", "lower_within_budget", "program_check"]


def program_check(frames: BudgetFrames, buffer: bytes, *, out: Path, threads: int | None) -> dict[str, Any]:
    """``frames.result`` of the program in ``buffer``, staged in a temporary folder beside ``out``."""
    from edgeseg.backends.executorch.runner import ExecuTorchRunner

    with tempfile.TemporaryDirectory(prefix=".edgeseg-et-check-", dir=out.parent) as tmp:
        staged = Path(tmp) / out.name
        staged.write_bytes(buffer)
        with ExecuTorchRunner(staged, threads=threads) as runner:
            return frames.result(runner.infer)


def lower_within_budget(
    lower_once: Callable[[list[str]], Any],
    *,
    float_layers: list[str],
    record: dict[str, Any],
    check: Callable[[bytes], dict[str, Any]],
    log: Callable[[str], None] = print,
) -> tuple[Any, list[str]]:
    """(the lowered program, its float layers): ``extend_until_met`` with ``lower_once`` and ``check`` (the
    program's bytes -> its budget result)."""
    return extend_until_met(
        lower_once,
        lambda lowered: check(lowered.buffer),
        float_layers=float_layers,
        record=record,
        what="the built program",
        log=log,
    )
