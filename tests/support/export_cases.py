"""Results the export tests (tests/test_export_*.py) share, in the JSON contract of a run: a
malicious hit with look-alikes, a suspicious hash, nothing found, a skip and an error."""

from __future__ import annotations

from typing import Any, Optional

SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
HOSTILE = "<img src=x onerror=alert(1)>"


def result(
    kind: str,
    value: str,
    status: str = "ok",
    verdict: Optional[dict[str, Any]] = None,
    indicators: tuple[dict[str, Any], ...] = (),
    reason: Optional[str] = None,
) -> dict[str, Any]:
    """One result as ``tqops run --format json`` writes it."""
    return {
        "input": {"type": kind, "value": value},
        "status": status,
        "error": "vendor failed" if status == "error" else None,
        "reason": reason,
        "warnings": [],
        "verdict": verdict or {"level": "unknown", "score": None, "reasons": []},
        "indicators": list(indicators),
    }


def found(
    kind: str,
    value: str,
    match: str = "exact",
    published_at: Optional[str] = None,
    **attributes: str,
) -> dict[str, Any]:
    """A found indicator with ``attributes`` (name=value), each published when it is."""
    return {
        "value": value,
        "type": kind,
        "match": match,
        "published_at": published_at,
        "attributes": [
            {"name": name.replace("_", " "), "value": text, "published_at": published_at}
            for name, text in attributes.items()
        ],
        "sources": [],
    }


MALICIOUS = result(
    "FQDN",
    "c2.example",
    verdict={"level": "malicious", "score": 90, "reasons": ["severity 5/6", HOSTILE]},
    indicators=(
        found("FQDN", "c2.example", "exact", "2025-07-21T10:00:00Z", Severity="5"),
        found("FQDN", "c2.example.evil.test", "related", None, Severity="4"),
        found("IP Address", "203.0.113.7", "related"),
    ),
)
SUSPICIOUS = result(
    "SHA-256",
    SHA256,
    verdict={"level": "suspicious", "score": None, "reasons": ["seen in a sandbox"]},
)
NOTHING = result(
    "IP Address", "198.51.100.4", "no_results", {"level": "unknown", "score": None,
                                                 "reasons": ["nothing found"]}
)  # fmt: skip
SKIPPED = result("IP Address", "10.1.2.3", "skipped", reason="a private address")
FAILED = result("URL", "https://failed.example/x", "error")
