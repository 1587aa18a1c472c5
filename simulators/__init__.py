"""Loopback fakes of the vendor APIs over real HTTPS, for the demo, tests and benchmarks.

They stand in for the vendors and share no code with the operations' clients. Their names are
imported when first used, so that ``python -m simulators`` can say what is missing (``trustme``
comes with the ``test`` extra) before anything needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "TEGO_DEMO_VALUES",
    "TIE_DEMO_VALUES",
    "RecordedRequest",
    "SimulatorServer",
    "TegoSimulator",
    "TestCA",
    "TieSimulator",
    "default_ca",
]

_WHERE = {
    "RecordedRequest": "._server",
    "SimulatorServer": "._server",
    "TestCA": "._server",
    "default_ca": "._server",
    "TEGO_DEMO_VALUES": ".tego",
    "TegoSimulator": ".tego",
    "TIE_DEMO_VALUES": ".tie",
    "TieSimulator": ".tie",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name], __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
