"""The measuring function a ``--layer-cost`` choice needs, for the layers that may run benchmarks.

``quant`` and ``backends`` never run OpenVINO to measure a layer's cost: the command (``quantize``,
``build``) and ``Model.build`` resolve ``--layer-cost openvino`` here and pass the function down
(``MixedRequest(measure=...)``, a build's ``layer_cost_measure``).
"""

from __future__ import annotations

from typing import Any, Callable


def measure_for(layer_cost: str | None) -> Callable[..., dict[str, Any]] | None:
    """``edgeseg.bench.layer_cost_openvino.measure_layer_cost`` for ``layer_cost`` "openvino" (OpenVINO must
    be installed: else its one-line missing-package error, before any work); None for anything else
    (default "flops", a FILE.json, not given)."""
    if layer_cost != "openvino":
        return None
    from edgeseg.backends import BACKENDS

    BACKENDS["openvino"].require()  # the missing-package error before any work
    from edgeseg.bench.layer_cost_openvino import measure_layer_cost

    return measure_layer_cost
