"""The URLhaus operation."""

from tqops import Operation

from .actions import ACTIONS, test_connection
from .client import UrlhausClient

OPERATION = Operation.from_package(
    __name__,
    "urlhaus.yaml",
    UrlhausClient,
    ACTIONS,
    test_connection,
)

__all__ = ["OPERATION", "UrlhausClient"]
