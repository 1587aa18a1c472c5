"""`tqops upgrade-check`: what an upgrade changes for an admin, from manifests or wheels."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from tqops.cli import main

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"


def write_variant(tmp_path: Path, name: str, change) -> Path:
    raw = yaml.safe_load((MANIFESTS / "dcso_tie.yaml").read_text())
    change(raw)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def check(old: Path, new: Path) -> tuple[int, str]:
    out = io.StringIO()
    return main(["upgrade-check", str(old), str(new)], out=out), out.getvalue()


def test_unchanged_manifest_needs_nothing(tmp_path):
    same = write_variant(tmp_path, "same.yaml", lambda raw: None)
    code, out = check(MANIFESTS / "dcso_tie.yaml", same)
    assert code == 0 and "nothing to act on" in out


def test_removed_field_and_changed_default_need_action(tmp_path):
    def change(raw):
        raw["version"] = "9.0.0"
        raw["config"] = [f for f in raw["config"] if f["name"] != "ca_bundle"]
        next(f for f in raw["config"] if f["name"] == "timeout")["default"] = 60

    new = write_variant(tmp_path, "new.yaml", change)
    code, out = check(MANIFESTS / "dcso_tie.yaml", new)
    assert code == 1
    assert "ACTION config field 'ca_bundle' removed" in out
    assert "ACTION config field 'timeout' default changed: 30 -> 60" in out
    current = yaml.safe_load((MANIFESTS / "dcso_tie.yaml").read_text())["version"]
    assert f"info   version {current} -> 9.0.0" in out
    assert "2 change(s) need an admin's action" in out


def test_optional_additions_are_informational_but_a_required_field_is_not(tmp_path):
    def optional(raw):
        raw["version"] = "9.0.0"
        raw["config"].append(
            {"name": "page_size", "label": "Page Size", "type": "number", "default": 500}
        )
        raw["actions"][0]["options"].append({"name": "exact", "label": "Exact", "type": "checkbox"})

    code, out = check(MANIFESTS / "dcso_tie.yaml", write_variant(tmp_path, "a.yaml", optional))
    assert code == 0 and "config field 'page_size' added (optional)" in out

    def required(raw):
        raw["version"] = "9.0.0"
        raw["config"].append(
            {"name": "tenant", "label": "Tenant", "type": "text", "required": True}
        )

    code, out = check(MANIFESTS / "dcso_tie.yaml", write_variant(tmp_path, "b.yaml", required))
    assert code == 1 and "ACTION config field 'tenant' added (required, no default" in out


def test_a_changed_max_length_needs_action(tmp_path):
    def change(raw):
        raw["version"] = "9.0.0"
        token = next(f for f in raw["config"] if f.get("max_length"))
        token["max_length"] = 64

    code, out = check(MANIFESTS / "dcso_tie.yaml", write_variant(tmp_path, "m.yaml", change))
    assert code == 1
    assert "max_length changed: 4096 -> 64" in out


def test_a_new_required_field_with_a_default_is_labelled_as_such(tmp_path):
    def change(raw):
        raw["version"] = "9.0.0"
        raw["config"].append(
            {"name": "region", "label": "Region", "type": "text", "required": True, "default": "eu"}
        )

    code, out = check(MANIFESTS / "dcso_tie.yaml", write_variant(tmp_path, "r.yaml", change))
    assert code == 0
    assert "info   config field 'region' added (required, default 'eu'" in out
    assert "(optional)" not in out


def test_content_changed_under_the_same_version_is_said(tmp_path):
    def change(raw):
        raw["description"] = raw["description"] + " Changed."

    code, out = check(MANIFESTS / "dcso_tie.yaml", write_variant(tmp_path, "s.yaml", change))
    assert code == 1
    assert "content changed but its version is still" in out
    # the same content written differently (key order, quoting) is no change
    same = write_variant(tmp_path, "t.yaml", lambda raw: None)
    code, out = check(MANIFESTS / "dcso_tie.yaml", same)
    assert code == 0 and "content changed" not in out


def test_removed_option_and_action_types_need_action(tmp_path):
    def change(raw):
        action = raw["actions"][0]
        action["options"] = [o for o in action["options"] if o["name"] != "actor"]
        action["indicator_types"].remove("ASN")

    code, out = check(MANIFESTS / "dcso_tie.yaml", write_variant(tmp_path, "c.yaml", change))
    assert code == 1
    assert "ACTION action 'search' option 'actor' removed" in out
    assert "ACTION action 'search' no longer takes ASN" in out


def test_integration_files_are_compared_by_their_manifests(tmp_path):
    out = io.StringIO()
    assert main(["bundle", "dcso_tie", "--out", str(tmp_path / "old")], out=out) == 0
    wheel = next((tmp_path / "old").glob("tq_op_dcso_tie-*.whl"))

    def drop_timeout(raw):
        raw["config"] = [f for f in raw["config"] if f["name"] != "timeout"]

    new = write_variant(tmp_path, "d.yaml", drop_timeout)
    code, text = check(wheel, new)
    assert code == 1 and "ACTION config field 'timeout' removed" in text
