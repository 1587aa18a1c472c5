"""The DCSO TIE operation: *Search DCSO TIE* on selected indicators."""

from tqops import Operation

from .actions import ACTIONS, test_connection
from .client import TieClient

OPERATION = Operation.from_package(__name__, "dcso_tie.yaml", TieClient, ACTIONS, test_connection)
MANIFEST = OPERATION.manifest

__all__ = ["MANIFEST", "OPERATION", "TieClient"]
