"""Loopback fakes of the vendor APIs over real HTTPS, for the demo, tests and benchmarks.

They stand in for the vendors and share no code with the operations' clients.
"""

from ._server import RecordedRequest, SimulatorServer, TestCA, default_ca
from .tego import TEGO_DEMO_VALUES, TegoSimulator
from .tie import TIE_DEMO_VALUES, TieSimulator

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
