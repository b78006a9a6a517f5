"""Section 6: the tuning comparison (sequential without pruning, the official batched sweeper,
diffexp's asynchronous pruning sweeper). The measurement itself lives with the sweeper in
diffexp.tuning.bench_tuning; this section calls it and reports "not available" plainly when
that module is missing."""

from __future__ import annotations

import importlib
import inspect

from diffexp.bench.context import BenchContext

MODULE = "diffexp.tuning.bench_tuning"


def run(ctx: BenchContext) -> dict:
    try:
        module = importlib.import_module(MODULE)
    except ModuleNotFoundError as error:
        if error.name != MODULE:
            raise
        return {"available": False, "reason": f"{MODULE} does not exist yet", "figures": {}}
    function = getattr(module, "bench_tuning", None) or getattr(module, "run", None)
    if function is None:
        return {"available": False, "reason": f"{MODULE} has no bench_tuning()", "figures": {}}
    accepted = inspect.signature(function).parameters
    offered = {
        "size": str(ctx.size.tuning_size),
        "work_dir": ctx.work_dir / "tuning",
        "output_dir": ctx.work_dir / "tuning",
    }
    figures = function(**{k: v for k, v in offered.items() if k in accepted})
    return {"available": True, "figures": dict(figures)}
