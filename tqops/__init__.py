"""tqops: a threatqsdk-compatible shim and runtime for threat-intelligence operations.

It knows no vendor: operations are found through the ``tqops.operations`` entry points.
"""

from .config import Config, Range, Secret, validate_config, validate_options
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
from .http import BearerAuth, HeaderAuth, HttpClient, HttpSettings
from .manifest import (
    ActionSpec,
    ConfigField,
    Manifest,
    MappingSpec,
    OptionField,
    find_packaged_file,
    load_manifest,
)
from .mapping import Mapper, MappingResult
from .model import Attribute, Indicator, IndicatorType, Source
from .operation import (
    Notice,
    Operation,
    Result,
    Selection,
    discover_operations,
    load_operation,
)
from .paths import FeedPath

__version__ = "1.0.0"

__all__ = [
    "ActionSpec",
    "ApiError",
    "Attribute",
    "AuthenticationError",
    "BearerAuth",
    "Config",
    "ConfigError",
    "ConfigField",
    "FeedPath",
    "HeaderAuth",
    "HttpClient",
    "HttpSettings",
    "Indicator",
    "IndicatorType",
    "InputError",
    "Manifest",
    "ManifestError",
    "Mapper",
    "MappingResult",
    "MappingSpec",
    "Notice",
    "Operation",
    "OperationError",
    "OptionField",
    "PathSyntaxError",
    "Range",
    "Result",
    "Secret",
    "Selection",
    "Source",
    "TransportError",
    "__version__",
    "discover_operations",
    "find_packaged_file",
    "load_manifest",
    "load_operation",
    "validate_config",
    "validate_options",
]
