"""The DCSO TIE operation: *Search DCSO TIE* on selected indicators."""

from tqops import Operation, find_packaged_file, load_manifest

from .actions import ACTIONS, test_connection
from .client import TieClient

MANIFEST = load_manifest(find_packaged_file(__name__, "dcso_tie.yaml"))

OPERATION = Operation.define(
    MANIFEST,
    client_factory=TieClient.from_config,
    actions=ACTIONS,
    test_connection=test_connection,
    package=__name__,
)

__all__ = ["MANIFEST", "OPERATION", "TieClient"]
