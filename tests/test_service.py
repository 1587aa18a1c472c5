"""The service layer: long-lived configured operations, jobs that can be watched and
cancelled, a configuration that can be stored, and discovery that names a broken plugin."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest

from tests.support.vendors import TIE_TOKEN
from tqops import (
    MASK,
    CancelToken,
    ConfigError,
    ManifestError,
    Registry,
    Status,
    StoredConfig,
)
from tqops.service import Service


def raw_config(sim, **extra):
    return {
        "hostname": sim.hostname,
        "access_token": TIE_TOKEN,
        "ca_bundle": sim.ca_pem_path,
        **extra,
    }


SERVICE = Service()
INPUTS = [("FQDN", "www.microsoft.com"), ("IP Address", "203.0.113.7"), ("MD5", "0" * 32)]


def test_three_runs_on_one_configured_operation_share_one_connection_pool(sim):
    with SERVICE.configure("dcso_tie", raw_config(sim), pool_size=2) as configured:
        for _ in range(3):
            results = list(configured.run("search", {}, INPUTS, concurrency=2))
            assert [r.status for r in results] == [Status.OK, Status.OK, Status.NO_RESULTS]
    searches = [r for r in sim.requests if r.path.startswith("/api/v1/")]
    assert len(searches) == 9
    # at most one TLS handshake per pooled connection (2), never one per run or per call
    assert 1 <= sim.handshakes <= 2


def test_a_one_off_run_closes_its_pool_when_the_job_ends(sim):
    job = SERVICE.run("dcso_tie", "search", raw_config(sim), {}, INPUTS[:1])
    assert [r.status for r in job] == [Status.OK]
    assert job.closed and not job.cancelled  # ended by itself, its pool released


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_cancelled_bulk_run_stops_sending_within_one_request(sim, concurrency):
    inputs = [("FQDN", f"host{i}.example") for i in range(200)]
    with SERVICE.configure("dcso_tie", raw_config(sim), pool_size=concurrency) as configured:
        job = configured.run("search", {}, inputs, concurrency=concurrency, ordered=False)
        seen = []
        for result in job:
            seen.append(result)
            if len(seen) == 5:
                job.cancel()
                sent_at_cancel = len(sim.requests)
        assert job.cancelled
    # after the cancel, at most the calls already in flight complete (one per worker)
    assert len(sim.requests) <= sent_at_cancel + concurrency
    assert len(sim.requests) < 5 + 2 * concurrency + 1
    assert len(seen) <= len(sim.requests)


def test_a_cancel_token_given_by_the_caller_stops_the_run_and_progress_is_reported(sim):
    token = CancelToken()
    snapshots = []

    def on_progress(progress):
        snapshots.append(progress)
        if progress.done == 3:
            token.cancel()

    inputs = [("FQDN", f"h{i}.example") for i in range(50)]
    with SERVICE.configure("dcso_tie", raw_config(sim), pool_size=1) as configured:
        results = list(
            configured.run(
                "search", {}, inputs, concurrency=1, cancel=token, on_progress=on_progress
            )
        )
    assert len(results) == 3 and len(sim.requests) == 3
    assert [p.done for p in snapshots] == [1, 2, 3]
    assert snapshots[-1].total == 50 and snapshots[-1].failed == 0
    assert snapshots[-1].rate > 0 and snapshots[-1].remaining_seconds is not None


def test_a_cancel_between_pages_stops_the_paging(sim, monkeypatch):
    """An input whose pages are being read stops before its next page is asked for."""
    monkeypatch.setattr("dcso_tie_operation.client.PAGE_SIZE", 10)  # 120 IOCs: 12 pages
    token = CancelToken()
    original = sim.respond

    def respond(request):
        answer = original(request)
        token.cancel()  # cancelled while the first page is on its way back
        return answer

    sim.respond = respond
    try:
        with SERVICE.configure("dcso_tie", raw_config(sim), pool_size=1) as configured:
            results = list(configured.run("search", {}, [("FQDN", "evil-cdn.com")], cancel=token))
    finally:
        del sim.respond
    assert results == [] and len(sim.requests) == 1


def test_statuses_are_an_enum_that_writes_the_json_contract(sim):
    job = SERVICE.run("dcso_tie", "search", raw_config(sim), {}, [("FQDN", "bad value!")])
    (result,) = list(job)
    assert result.status is Status.ERROR
    assert result.to_dict()["status"] == "error"
    assert json.loads(json.dumps(result.to_dict()))["status"] == "error"


def test_stored_config_round_trips_through_json_without_a_resolved_secret(monkeypatch, sim):
    monkeypatch.setenv("TQOPS_TEST_TIE_TOKEN", TIE_TOKEN)
    entered = {"hostname": sim.hostname, "access_token": "env:TQOPS_TEST_TIE_TOKEN"}
    stored = SERVICE.check_config("dcso_tie", entered)
    text = json.dumps(stored.to_json())
    assert TIE_TOKEN not in text and "env:TQOPS_TEST_TIE_TOKEN" in text
    again = StoredConfig.from_json(SERVICE.operation("dcso_tie").manifest, json.loads(text))
    assert again == stored
    resolved = again.resolve()
    assert resolved["access_token"].reveal() == TIE_TOKEN
    assert resolved.by_role("host") == sim.hostname and resolved.by_role("verify_tls") is True


def test_stored_config_masks_secrets_and_takes_the_mask_back_as_unchanged():
    stored = SERVICE.check_config("dcso_tie", {"access_token": TIE_TOKEN, "timeout": "12"})
    shown = stored.masked()
    assert shown["access_token"] == MASK and shown["timeout"] == "12"
    assert TIE_TOKEN not in repr(stored) and TIE_TOKEN not in json.dumps(shown)
    kept = stored.updated({"access_token": MASK, "timeout": "20"})
    assert kept.resolve()["access_token"].reveal() == TIE_TOKEN
    assert kept.resolve()["timeout"] == 20.0
    changed = kept.updated({"access_token": "new-token-value"})
    assert changed.resolve()["access_token"].reveal() == "new-token-value"
    assert stored.secret_fields_set() == {"access_token": True}


def test_storing_a_config_checks_everything_but_reads_no_reference(monkeypatch):
    monkeypatch.delenv("TQOPS_NOT_SET_ANYWHERE", raising=False)
    stored = SERVICE.check_config("dcso_tie", {"access_token": "env:TQOPS_NOT_SET_ANYWHERE"})
    with pytest.raises(ConfigError, match=r"TQOPS_NOT_SET_ANYWHERE.*not set"):
        stored.resolve()
    with pytest.raises(ConfigError) as caught:
        SERVICE.check_config("dcso_tie", {"hostname": "https://x", "timeout": "0", "bogus": 1})
    text = str(caught.value)
    assert "$.config.hostname" in text and "$.config.timeout" in text and "'bogus'" in text


def _entry(name, load):
    return SimpleNamespace(name=name, value=f"{name}_pkg:OPERATION", load=load)


def test_one_broken_plugin_is_reported_by_name_without_hiding_the_others():
    good = SERVICE.operation("tego")

    def broken():
        raise ImportError("No module named 'missing_dependency'")

    registry = Registry([_entry("tego", lambda: good), _entry("shady", broken)])
    service = Service(registry)
    listed = {info.name: info for info in service.operations()}
    assert listed["tego"].error is None and listed["tego"].version == good.manifest.version
    assert "shady" in listed["shady"].error and "missing_dependency" in listed["shady"].error
    with pytest.raises(ManifestError, match="shady"):
        service.operation("shady")
    with pytest.raises(ConfigError, match="installed: tego"):
        service.operation("nothing")


def _counting_loader(operation):
    """An entry point's ``load`` returning ``operation``, and the list it marks each call in."""
    calls = []

    def load():
        calls.append(1)
        return operation

    return calls, load


def test_discovery_is_cached_until_refreshed():
    good = SERVICE.operation("tego")
    calls, load = _counting_loader(good)
    registry = Registry([_entry("tego", load)])
    for _ in range(3):
        assert registry.get("tego") is good
    assert len(calls) == 1
    registry.refresh()
    registry.get("tego")
    assert len(calls) == 2


def test_concurrent_first_lookups_load_each_plugin_once():
    good = SERVICE.operation("tego")
    calls, load = _counting_loader(good)
    registry = Registry([_entry("tego", load)])
    threads = [threading.Thread(target=registry.get, args=("tego",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
