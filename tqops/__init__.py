"""tqops: a threatqsdk-compatible shim and runtime for threat-intelligence operations.

It knows no vendor: operations are found through the ``tqops.operations`` entry points.
"""

from .breaker import MAX_CONNECTION_FAILURES, CircuitBreaker
from .config import (
    MASK,
    Config,
    Options,
    Range,
    Secret,
    StoredConfig,
    validate_config,
    validate_options,
)
from .errors import (
    ApiError,
    AuthenticationError,
    ConfigError,
    InputError,
    ManifestError,
    OperationError,
    PathSyntaxError,
    TransportError,
)
from .fields import AuthSpec, ConfigField, OptionField
from .http import BearerAuth, HeaderAuth, HttpClient, HttpSettings
from .indicators import CheckedIndicator, check_indicator, checked_indicator
from .manifest import ActionSpec, Manifest, MappingSpec, find_packaged_file, load_manifest
from .mapping import Mapper, MappingResult
from .mapping.drift import describe_json
from .model import Attribute, Indicator, IndicatorType, Source
from .operation import ConfiguredOperation, Operation
from .paths import FeedPath
from .registry import Registry, discover_operations, load_operation
from .results import CancelToken, Notice, Progress, Result, Selection, Status
from .runner import Job
from .vendor import BasicAuth, VendorClient

__version__ = "1.0.0"

__all__ = [
    "MASK",
    "MAX_CONNECTION_FAILURES",
    "ActionSpec",
    "ApiError",
    "Attribute",
    "AuthSpec",
    "AuthenticationError",
    "BasicAuth",
    "BearerAuth",
    "CancelToken",
    "CheckedIndicator",
    "CircuitBreaker",
    "Config",
    "ConfigError",
    "ConfigField",
    "ConfiguredOperation",
    "FeedPath",
    "HeaderAuth",
    "HttpClient",
    "HttpSettings",
    "Indicator",
    "IndicatorType",
    "InputError",
    "Job",
    "Manifest",
    "ManifestError",
    "Mapper",
    "MappingResult",
    "MappingSpec",
    "Notice",
    "Operation",
    "OperationError",
    "OptionField",
    "Options",
    "PathSyntaxError",
    "Progress",
    "Range",
    "Registry",
    "Result",
    "Secret",
    "Selection",
    "Source",
    "Status",
    "StoredConfig",
    "TransportError",
    "VendorClient",
    "__version__",
    "check_indicator",
    "checked_indicator",
    "describe_json",
    "discover_operations",
    "find_packaged_file",
    "load_manifest",
    "load_operation",
    "validate_config",
    "validate_options",
]
