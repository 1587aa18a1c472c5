"""What the native REST API takes and answers: the contract its OpenAPI document publishes.

The answers are the host's views as they are (routes answer with ``exclude_unset``, so a key a
view leaves out stays out); each model forbids keys it does not name, so a view that grows a
key fails the tests here instead of losing it silently. No model carries a secret: the
configuration view shows a secret as the mask, and :class:`ConfigView` masks one that would
come through in clear.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tqops.config.values import MASK

__all__ = [
    "ActionView",
    "AddedIndicators",
    "AuditLog",
    "BrokenOperation",
    "ConfigValues",
    "ConfigView",
    "ConnectionReportView",
    "ErrorBody",
    "ImportIn",
    "Imported",
    "IndicatorDetail",
    "IndicatorIn",
    "IndicatorPage",
    "Indicators",
    "InstallView",
    "JobIn",
    "JobList",
    "JobResults",
    "JobView",
    "OperationList",
    "OperationView",
    "Removed",
    "Settings",
    "UserView",
]

log = logging.getLogger("tqops.server.api")

#: a configuration value as entered: text, a number, a checkbox, or unset
ConfigValue = Union[str, int, float, bool, None]
_REFERENCE_PREFIXES = ("env:", "file:")


class View(BaseModel):
    """An answer of the host: every key named, no other taken."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(View):
    """Every error of the native API: one line saying what was wrong."""

    error: str


# -- requests --------------------------------------------------------------------------------


class ConfigValues(BaseModel):
    values: dict[str, ConfigValue] = Field(
        description="field -> value; '********' leaves a secret unchanged, null unsets"
    )


class Settings(BaseModel):
    enabled: Optional[bool] = None
    max_tlp: Optional[str] = Field(None, description="CLEAR, GREEN, AMBER, AMBER+STRICT, RED")
    cache_ttl: Optional[int] = Field(None, description="seconds; 0 turns the cache off")
    misp_allowed: Optional[bool] = Field(
        None, description="MISP's enrichment modules may use the stored configuration"
    )
    daily_quota: Optional[int] = Field(
        None, description="vendor look-ups a UTC day, for all workers together; 0: none"
    )


class IndicatorIn(BaseModel):
    type: str
    value: str
    tlp: Optional[str] = None


class Indicators(BaseModel):
    indicators: list[IndicatorIn]


class JobIn(BaseModel):
    operation: str
    action: str
    indicator_ids: Optional[list[int]] = None
    inputs: Optional[list[IndicatorIn]] = None
    options: dict[str, Union[str, int, float, bool]] = Field(default_factory=dict)


class ImportIn(BaseModel):
    seqs: Optional[list[int]] = Field(None, description="result numbers; all when absent")


# -- operations ------------------------------------------------------------------------------


class FieldView(BaseModel):
    """A configuration field or action option as its manifest declares it (what a form
    draws: ``label``, ``type``, ``required``, ``secret``, ``choices``, ``when``, ...); keys the
    manifest leaves empty are left out, and the others keep the manifest's order."""

    model_config = ConfigDict(extra="allow")

    name: str


class ActionView(View):
    name: str
    label: str
    description: Optional[str] = None
    indicator_types: list[str]
    options: list[FieldView]


class OperationView(View):
    name: str
    label: str
    version: str
    vendor: Optional[str] = None
    source: str = Field(description="'uploaded' or 'installed with tqops'")
    installed_at: Optional[str] = None
    enabled: bool
    max_tlp: str
    cache_ttl: int
    misp_allowed: bool
    daily_quota: int = Field(description="vendor look-ups a UTC day (0: no quota)")
    quota_used_today: int = Field(description="look-ups the current UTC day used")
    configured: bool = Field(description="the stored configuration is complete and valid")
    actions: list[ActionView]
    config: list[FieldView]


class BrokenOperation(View):
    """An installed operation that failed to load."""

    name: str
    error: str


class OperationList(View):
    operations: list[Union[OperationView, BrokenOperation]]


class ConfigView(View):
    """An operation's stored configuration for display: a secret given by value shows as
    ``'********'``, one given by reference (``env:NAME``, ``file:PATH``) as written."""

    values: dict[str, ConfigValue]
    secrets_set: dict[str, bool] = Field(description="whether each secret field has a value")

    @model_validator(mode="after")
    def _secrets_masked(self) -> ConfigView:
        for name in self.secrets_set:
            value = self.values.get(name)
            if value is None or value == MASK or str(value).startswith(_REFERENCE_PREFIXES):
                continue
            log.error("the configuration view of field %s was not masked; masked here", name)
            self.values[name] = MASK
        return self


class StepView(View):
    name: str
    status: str = Field(description="ok, failed, skipped or not used")
    detail: str
    hint: str


class ConnectionReportView(View):
    operation: str
    ok: bool
    steps: list[StepView]


# -- integrations ----------------------------------------------------------------------------


class Change(View):
    what: str
    needs_action: bool
    #: the change in words, naming fields, actions and options by their manifest's labels
    text: str = ""


class UpgradeReport(View):
    from_: str = Field(alias="from")
    to: str
    changes: list[Change]
    needs_action: int


class InstallView(View):
    installed: bool
    operation: str
    version: str
    upgrade: Optional[UpgradeReport] = None
    confirm: Optional[str] = Field(None, description="how to install it (when not installed)")


class Removed(View):
    removed: str
    version: str


# -- indicators ------------------------------------------------------------------------------


class IndicatorRow(View):
    id: int
    type: str
    value: str
    tlp: str
    note: Optional[str] = None
    source: Optional[str] = None
    created_at: str


class IndicatorPage(View):
    total: int
    offset: int
    limit: int
    indicators: list[IndicatorRow]


class StoredAttribute(View):
    name: str
    value: str
    published_at: Optional[str] = None
    source: Optional[str] = None


class IndicatorDetail(IndicatorRow):
    attributes: list[StoredAttribute]


class AddedIndicator(View):
    """One indicator given: its ``id`` once stored, or its one-line ``error``."""

    index: int
    error: Optional[str] = None
    id: Optional[int] = None
    type: Optional[str] = None
    value: Optional[str] = None
    created: Optional[bool] = Field(None, description="false: the value was stored already")
    note: Optional[str] = None


class AddedIndicators(View):
    indicators: list[AddedIndicator]


# -- jobs ------------------------------------------------------------------------------------


class JobView(View):
    """A job: one action run over indicators, with its progress."""

    id: int
    operation: str
    action: str
    options: dict[str, Any] = Field(description="the options as given")
    status: str = Field(description="queued, running, done, cancelled, failed or interrupted")
    total: int = Field(description="inputs in the job")
    done: int = Field(description="inputs with a result")
    failed: int = Field(description="inputs whose result is an error")
    skipped: int = Field(
        description="inputs whose result is skipped: policy kept them from the vendor"
    )
    created_by: str
    created_at: str = Field(description="ISO 8601 UTC, as every time here")
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    error: Optional[str] = Field(None, description="why the whole job failed, in one line")
    rate: Optional[float] = Field(None, description="inputs per second")
    seconds_left: Optional[float] = Field(None, description="estimated, while running")


class JobList(View):
    jobs: list[JobView]


class ResultInput(View):
    type: str
    value: str


class FoundAttribute(View):
    name: str
    value: str
    published_at: Optional[str] = None


class SourceTlp(View):
    name: str


class FoundSource(View):
    name: str
    tlp: Optional[SourceTlp] = None


class SummaryLine(View):
    """One attribute name of a found indicator, summed up."""

    name: str
    label: str = Field(description="how the manifest's reading calls it (default: the name)")
    text: str = Field(description="its value(s): `5/6`, `1-6, max 6/6 (5 observations)`")


class FoundIndicator(View):
    value: str
    type: str
    match: Optional[str] = Field(
        None,
        description='"exact" (the searched value) or "related" (another value the vendor '
        "returned for it); absent on results stored before matches were told",
    )
    published_at: Optional[str] = None
    summary: Optional[list[SummaryLine]] = Field(
        None,
        description="one line per attribute name, detail left out; absent on results stored "
        "before summaries were given",
    )
    attributes: list[FoundAttribute]
    sources: list[FoundSource]


class VerdictView(View):
    """How bad the input is, how sure the vendor is, and why (the manifest's rules)."""

    level: str = Field(description="malicious, suspicious, benign or unknown")
    score: Optional[int] = Field(None, description="0-100; null when the evidence has none")
    reasons: list[str] = Field(description="one line each, naming the evidence")


class ResultView(View):
    """One input's result: the JSON contract of ``tqops run --format json``."""

    input: ResultInput
    status: str = Field(description="ok, no_results, skipped or error")
    error: Optional[str] = None
    reason: Optional[str] = Field(None, description="why a skipped input was not sent")
    warnings: list[str]
    verdict: Optional[VerdictView] = Field(
        None, description="absent on results stored before verdicts were given"
    )
    indicators: list[FoundIndicator]


class JobResults(View):
    operation: str
    action: str
    total: int
    offset: int
    limit: int
    results: list[ResultView]


class Imported(View):
    added: int = Field(description="indicators new to the store")


# -- users and audit -------------------------------------------------------------------------


class UserView(View):
    name: str
    role: str = Field(description="viewer, analyst or admin")


class AuditEntry(View):
    at: str
    user: str
    action: str
    target: str
    detail: Optional[str] = None


class AuditLog(View):
    audit: list[AuditEntry]
