"""The Tego operation: *Search Tego* on selected indicators."""

from tqops import Operation

from .actions import ACTIONS, test_connection
from .client import TegoClient

OPERATION = Operation.from_package(__name__, "tego.yaml", TegoClient, ACTIONS, test_connection)
MANIFEST = OPERATION.manifest

__all__ = ["MANIFEST", "OPERATION", "TegoClient"]
