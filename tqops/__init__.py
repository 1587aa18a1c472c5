"""tqops: a threatqsdk-compatible shim and runtime for threat-intelligence operations.

It knows no vendor: operations are found through the ``tqops.operations`` entry points.
"""

from tqops.config.values import (
    MASK,
    Config,
    Options,
    Range,
    Secret,
    StoredConfig,
    validate_config,
    validate_options,
)
from tqops.errors import (
    ApiError,
    AuthenticationError,
    ConfigError,
    InputError,
    ManifestError,
    OperationError,
    PathSyntaxError,
    PolicySkip,
    TransportError,
)
from tqops.http import BearerAuth, HeaderAuth, HttpClient, HttpSettings
from tqops.manifest.document import (
    ActionSpec,
    Manifest,
    MappingSpec,
    find_packaged_file,
    load_manifest,
)
from tqops.manifest.feedpath import FeedPath
from tqops.manifest.fields import AuthSpec, ConfigField, OptionField
from tqops.mapping import Mapper, MappingResult
from tqops.mapping.drift import describe_json
from tqops.model import Attribute, Indicator, IndicatorType, Source
from tqops.operations.operation import ConfiguredOperation, Operation
from tqops.operations.registry import Registry, discover_operations, load_operation
from tqops.operations.vendor import BasicAuth, VendorClient
from tqops.running.breaker import MAX_CONNECTION_FAILURES, CircuitBreaker
from tqops.running.inputs import CheckedIndicator, check_indicator, checked_indicator
from tqops.running.results import CancelToken, Notice, Progress, Result, Selection, Status
from tqops.running.runner import Job

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
    "PolicySkip",
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
