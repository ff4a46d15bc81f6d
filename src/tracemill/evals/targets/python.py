"""The python target: ``module:function`` called with the example inputs (sync or async).

The function receives the inputs dict (plus the spec's ``params`` as keyword arguments) and returns
the output, a ``(output, trajectory)`` pair, or a :class:`TargetOutput`. Sync functions run in a
worker thread so they do not block the other calls.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from tracemill.datasets.example import Example
from tracemill.evals.spec import PythonTarget
from tracemill.evals.targets.base import TargetOutput


def to_target_output(value: Any) -> TargetOutput:
    if isinstance(value, TargetOutput):
        return value
    if isinstance(value, tuple) and len(value) == 2 and (value[1] is None or isinstance(value[1], list)):
        return TargetOutput(output=value[0], trajectory=value[1])
    return TargetOutput(output=value)


class PythonFunctionTarget:
    kind = "python"
    cacheable = True
    uses_traces = False

    def __init__(self, spec: PythonTarget) -> None:
        from tracemill.evals.evaluators import import_ref

        self.spec = spec
        self.fn = import_ref(spec.function)
        self.is_async = inspect.iscoroutinefunction(self.fn)

    async def __call__(self, example: Example) -> TargetOutput:
        if self.is_async:
            value = await self.fn(example.inputs, **self.spec.params)
        else:
            value = await asyncio.to_thread(self.fn, example.inputs, **self.spec.params)
        return to_target_output(value)

    async def aclose(self) -> None:
        return None
