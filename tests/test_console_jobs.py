"""A job's page and the jobs list without a browser: results read as answers (each input's
verdict first, found indicators as exact and related matches, attributes summed up and grouped
per observation with their labels, scales and one date format, detail folded), skips apart from
errors, search and order within a job, labels instead of internal names, and the milestones the
live region announces."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tqops.server.app import create_app
from tqops.server.host import Host
from tqops.server.web.job_pages import PAGE_SIZE, dates_in, ended, milestone

PASSWORD = "a password long enough"


@pytest.fixture()
def client(tmp_path):
    host = Host(tmp_path / "data")
    host.users.add("ana", "analyst", PASSWORD)
    host.users.add("vic", "viewer", PASSWORD)
    with TestClient(create_app(host), base_url="http://127.0.0.1") as found:
        found.host = host  # type: ignore[attr-defined]
        log_in(found)
        yield found


def log_in(client: TestClient, name: str = "ana") -> None:
    page = client.get("/console/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"name": name, "password": PASSWORD, "csrf": token, "next": "/console/jobs"}
    assert client.post("/console/login", data=form, follow_redirects=False).status_code == 303


def stored_job(host: Host, results: list[dict[str, Any]], **run: Any) -> int:
    """A finished job of DCSO TIE's search (or ``run``'s) whose results are ``results``."""
    run = {"operation": "dcso_tie", "action": "search", "options": {}, **run}
    inputs = [(r["input"]["type"], r["input"]["value"], "GREEN", None) for r in results]
    job_id = host.store.create_job(run, inputs, "ana")
    for seq, result in enumerate(results):
        host.store.save_results(job_id, [seq], result["status"], json.dumps(result))
    host.store.set_job(job_id, status="done", done=len(results))
    return job_id


def a_result(value, status, verdict=None, indicators=(), reason=None, error=None):
    return {"input": {"type": "FQDN", "value": value}, "status": status, "error": error,
            "reason": reason, "warnings": [], "verdict": verdict,
            "indicators": list(indicators)}  # fmt: skip


def observed(severity: int, month: int, **more: str) -> list[dict[str, Any]]:
    """One TIE observation's attributes (published on its first_seen)."""
    when = f"2025-{month:02d}-01T10:00:00Z"
    named = {"Severity": str(severity), "killchain": "c2", "misp-uuid": f"uuid-{month}", **more}
    return [{"name": k, "value": v, "published_at": when} for k, v in named.items()]


def found(value: str, match: str, attributes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"value": value, "type": "FQDN", "match": match, "published_at": None,
            "attributes": attributes}  # fmt: skip


MALICIOUS = {"level": "malicious", "score": 90, "reasons": ["severity 5/6, confidence 90"]}
UNKNOWN = {"level": "unknown", "score": None, "reasons": ["nothing found"]}
SUSPICIOUS = {"level": "suspicious", "score": 40, "reasons": ["severity 2/6"]}
WHY_SKIPPED = "its TLP RED is above DCSO TIE's maximum, AMBER"


def rows_of(page: str) -> list[str]:
    """Each result's row of the page, in order."""
    body = page.split("<tbody>", 1)[1]
    return [row.split("</tr>\n      <tr class=")[0] for row in body.split('<tr class="result ')[1:]]


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def c2_job(client) -> int:
    attributes = [
        *observed(3, 2),
        *observed(5, 5, Gamma="0.61"),
        *observed(4, 3),
        {"name": "Hotness", "value": "3.5", "published_at": None},
        {"name": "First Seen", "value": "2025-02-01T10:00:00Z", "published_at": None},
    ]
    exact = found("c2.example", "exact", attributes)
    related = found("cdn.c2.example", "related", observed(2, 1))
    skipped = {**UNKNOWN, "reasons": [WHY_SKIPPED]}
    return stored_job(
        client.host,
        [
            a_result("quiet.example", "no_results", UNKNOWN),
            a_result("c2.example", "ok", MALICIOUS, [exact, related]),
            a_result("red.example", "skipped", skipped, reason=WHY_SKIPPED),
            a_result("down.example", "error", None, error="DCSO TIE answered 503"),
            a_result("grey.example", "ok", SUSPICIOUS, [found("grey.example", "exact", [])]),
        ],
    )


def test_each_row_starts_with_its_verdict_and_reads_as_an_answer(client):
    job_id = c2_job(client)
    page = client.get(f"/console/jobs/{job_id}").text
    quiet, c2, red, down, grey = rows_of(page)
    headers = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', page.split("<thead>")[1])
    assert [text(h) for h in headers][:4] == ["Verdict", "#", "Input", "What was found"]
    # the verdict first, coloured by itself; the reasons one click away (a disclosure)
    assert c2.index("verdict-malicious") < c2.index("c2.example")
    why = re.search(r'<details class="why".*?</details>', c2, re.S).group(0)  # type: ignore[union-attr]
    assert text(why) == "Why c2.example is malicious severity 5/6, confidence 90"
    # the outcome in words, a skip never as an error
    assert "outcome-skipped" in red and "Skipped: its TLP RED is above" in text(red)
    assert "result-error" not in red and "outcome-error" not in red
    assert "outcome-error" in down and "DCSO TIE answered 503" in text(down)
    assert "Nothing found" in text(quiet) and "verdict-unknown" in quiet
    assert "verdict-suspicious" in grey
    tabs = text(page.split('aria-label="Results by status">')[1].split("</nav>")[0])
    assert tabs == "All (5) Found (2) Nothing found (1) Skipped (1) Errors (1)"


def test_found_indicators_are_exact_then_related_summed_up_and_grouped_newest_first(client):
    page = client.get(f"/console/jobs/{c2_job(client)}").text
    c2 = rows_of(page)[1]
    counted = re.search(r'<summary data-keep="found-1-summary">(.*?)</summary>', c2)
    assert counted and text(counted.group(1)) == "1 exact match, 1 related; 15 attributes"
    exact, related = c2.split('<h3 class="found-group">')[1:]
    assert text(exact).startswith("Exact match FQDN c2.example")
    assert text(related).startswith("Related, not judged FQDN cdn.c2.example")
    # the summary: labels, the scale (Severity out of 6), a repeated number's range
    summary = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", exact.split("</dl>")[0]))
    assert summary["Severity"] == "3-5, max 5/6 (3 observations)"
    assert summary["Kill Chain"] == "c2 (3)"
    assert summary["Hotness"] == "3.5"  # no scale known: none invented
    assert summary["First Seen"] == "2025-02-01 10:00 UTC"  # one date format
    assert "killchain" not in text(exact) and "misp-uuid" not in text(exact)
    assert "Gamma" not in summary and "MISP Event UUID" not in summary  # detail
    # the observations, newest first, each attribute on its scale; detail folded apart
    captions = [text(c) for c in re.findall(r"<caption>(.*?)</caption>", exact)]
    assert captions == [
        "Observation of 2025-05-01 10:00 UTC",
        "Observation of 2025-03-01 10:00 UTC",
        "Observation of 2025-02-01 10:00 UTC",
        "Observation without a date",
    ]
    newest = exact.split("<caption>")[1]
    assert '<th scope="row">Severity</th><td class="value">5/6</td>' in newest
    detail = re.search(r'<details class="detail">(.*?)</details>', newest, re.S).group(1)  # type: ignore[union-attr]
    assert text(detail) == "2 detail attributes MISP Event UUID uuid-5 Gamma 0.61"
    assert "T10:00:00Z" not in text(page)  # no raw ISO date anywhere


def test_an_uninstalled_operations_results_still_read_grouped_under_their_names(client):
    job_id = stored_job(
        client.host,
        [a_result("c2.example", "ok", MALICIOUS, [found("c2.example", "exact", observed(5, 5))])],
        operation="gone",
        action="lookup",
    )
    page = client.get(f"/console/jobs/{job_id}").text
    assert f"<h1>Job {job_id}: gone: lookup</h1>" in page
    row = rows_of(page)[0]
    assert '<th scope="row">Severity</th><td class="value">5</td>' in row  # no scale invented
    assert "Observation of 2025-05-01 10:00 UTC" in text(row)


def test_search_and_order_within_a_job_keep_each_other_and_the_status(client):
    job_id = c2_job(client)
    base = f"/console/jobs/{job_id}"

    def inputs(query: str) -> list[str]:
        rows = rows_of(client.get(f"{base}?{query}").text)
        return [re.search(r'<span class="value">(.*?)</span>', r).group(1) for r in rows]  # type: ignore[union-attr]

    assert inputs("") == ["quiet.example", "c2.example", "red.example", "down.example",
                          "grey.example"]  # fmt: skip
    assert inputs("sort=verdict") == ["c2.example", "grey.example", "quiet.example",
                                      "red.example", "down.example"]  # fmt: skip
    assert inputs("sort=value") == sorted(inputs(""))
    assert inputs("q=uuid-3") == ["c2.example"]  # an attribute's value
    assert inputs("q=CDN.C2") == ["c2.example"]  # a related indicator, any case
    assert inputs("q=503") == ["down.example"]  # an error
    assert inputs("q=example&status=ok&sort=value") == ["c2.example", "grey.example"]
    assert inputs("q=nowhere") == []
    page = client.get(f"{base}?q=example&status=ok&sort=verdict").text
    assert text(re.search(r"<caption>(.*?)</caption>", page).group(1)) == (  # type: ignore[union-attr]
        "2 results: found with “example”, most alarming first"
    )
    # the tabs keep the search and the order, and the form keeps the tab
    assert f'href="{base}?status=skipped&amp;q=example&amp;sort=verdict"' in page
    assert '<input type="hidden" name="status" value="ok">' in page
    assert inputs("sort=nonsense") == inputs("")  # an unknown order is input order


def test_a_search_pages_its_hits(client):
    many = [a_result(f"n{n:03d}.example", "no_results", UNKNOWN) for n in range(PAGE_SIZE + 5)]
    job_id = stored_job(client.host, many)
    page = client.get(f"/console/jobs/{job_id}?q=n0&sort=value&offset={PAGE_SIZE}").text
    assert len(rows_of(page)) == 5
    assert "?q=n0&amp;sort=value&amp;offset=0" in page  # Previous keeps the search


def test_pages_use_labels_and_grammar_not_internal_names(client):
    options = {"wildcard_prefix": False, "wildcard_suffix": True, "confidence": "50-"}
    job_id = stored_job(client.host, [a_result("one.example", "no_results", UNKNOWN)],
                        options=options)  # fmt: skip
    page = client.get(f"/console/jobs/{job_id}").text
    assert f"<title>Job {job_id}: Search DCSO TIE · tqops</title>" in page
    lead = re.search(r'<p class="lead">(.*?)</p>', page, re.S).group(1)  # type: ignore[union-attr]
    lead = html.unescape(re.sub(r"<[^>]+>", "", lead))
    assert lead.endswith(
        "on 1 input; options: Wildcard Prefix: off, Wildcard Suffix: on, Confidence: 50-."
    )
    assert "wildcard_prefix" not in page and "dcso_tie" not in text(page)
    assert "1 result" in text(page) and "1 results" not in text(page)
    listing = client.get("/console/jobs").text
    row = text(listing.split("<tbody>")[1].split("</tr>")[0])
    assert row.startswith(f"Job {job_id} Search DCSO TIE Wildcard Prefix: off")
    assert "dcso_tie" not in text(listing)


def test_a_viewer_reads_the_results_without_choosing_them(client):
    job_id = c2_job(client)
    client.cookies.clear()
    log_in(client, "vic")
    page = client.get(f"/console/jobs/{job_id}").text
    assert len(rows_of(page)) == 5
    assert 'name="seq"' not in page and "Add selected to platform" not in page
    assert 'colspan="4"' not in page  # there are rows: no "no results" line


def job(done: int, total: int = 8, status: str = "running", **more: int) -> dict[str, Any]:
    return {"id": 7, "done": done, "total": total, "status": status, "skipped": 0, "failed": 0,
            **more}  # fmt: skip


def test_the_live_region_says_the_start_each_quarter_and_the_end_only():
    said, reached = [], -1
    for state in [job(0, status="queued"), job(0), job(0), job(1), job(2), job(3), job(3),
                  job(6), job(7), job(8)]:  # fmt: skip
        words, reached = milestone(state, reached)
        if words:
            said.append(words)
    assert said == [
        "Job 7 started, on 8 inputs.",
        "Job 7: 25 % done, 2 of 8.",
        "Job 7: 75 % done, 6 of 8.",  # half was passed between two looks: not said late
    ]
    assert milestone(job(1, total=1), -1)[0] == "Job 7 started, on 1 input."
    assert ended(job(8, status="done", skipped=2)) == "Job 7 ended: done, 8 of 8 done, 2 skipped."


def test_dates_in_text_are_written_one_way():
    assert dates_in("2024-01-02T03:04:05Z to 2024-02-03T04:05:06.123+02:00 (2 observations)") == (
        "2024-01-02 03:04 UTC to 2024-02-03 02:05 UTC (2 observations)"
    )
    assert dates_in("AS20240101, 2024-13-45T99:00") == "AS20240101, 2024-13-45T99:00"
