"""The Tego operation: *Search Tego* on selected indicators."""

from tqops import Operation, find_packaged_file, load_manifest

from .actions import ACTIONS, test_connection
from .client import TegoClient

MANIFEST = load_manifest(find_packaged_file(__name__, "tego.yaml"))

OPERATION = Operation.define(
    MANIFEST,
    client_factory=TegoClient.from_config,
    actions=ACTIONS,
    test_connection=test_connection,
    package=__name__,
)

__all__ = ["MANIFEST", "OPERATION", "TegoClient"]
