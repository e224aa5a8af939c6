"""The whole run against the emulator's real-ASR behaviours, in process on virtual time.

Each behaviour DESIGN's "Real ASR, as recorded" names, switched on with its fleet key, through
the product's own code from the transport up (see inprocess.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from inprocess import BASE, EmulatorTransport, Rig
from multidict import CIMultiDict, CIMultiDictProxy

from orchestrator.arm.transport import RawAnswer

QUICK = {"operation_seconds": [1, 4], "operation_failure_rate": 0.0}


def rig(tmp_path: Path, **spec: Any) -> Rig:
    return Rig(
        tmp_path, {"seed": 11, "subscriptions": 1, "vaults_per_subscription": 3, **QUICK, **spec}
    )


def changed(run_mappings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in run_mappings if m["result"] != "skipped"]


def test_a_200_patch_naming_a_status_url_is_tracked_to_its_failure(tmp_path: Path) -> None:
    r = rig(tmp_path, accepted_200_rate=1.0, operation_failure_rate=1.0)
    run = r.run(config=r.write_config(subscriptions="all"))
    mappings = changed(run.mappings())
    assert mappings and all(m["result"] == "failed" for m in mappings)
    assert all(m["operation"]["url"] and m["operation"]["status"] == "Failed" for m in mappings)
    assert run.exit_code == 1


def test_a_200_patch_naming_a_status_url_succeeds_only_when_its_operation_does(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, accepted_200_rate=1.0)
    run = r.run(config=r.write_config(subscriptions="all"))
    mappings = changed(run.mappings())
    assert mappings and all(m["result"] == "succeeded" for m in mappings)
    assert all(m["operation"]["polls"] >= 1 for m in mappings)


def test_a_status_url_answering_403_fails_its_mapping_at_once(tmp_path: Path) -> None:
    r = rig(tmp_path, faults={"status_403_forever": 1.0})
    run = r.run(config=r.write_config(subscriptions="all"))
    mappings = changed(run.mappings())
    assert mappings and all(m["result"] == "failed" for m in mappings)
    assert {m["operation"]["error"]["code"] for m in mappings} == {"AuthorizationFailed"}
    assert all(m["operation"]["polls"] == 1 for m in mappings)
    assert run.virtual_seconds < 120


def test_a_status_url_answering_404_for_ten_minutes_fails_with_operation_not_found(
    tmp_path: Path,
) -> None:
    r = rig(tmp_path, faults={"status_404_forever": 1.0})
    run = r.run(config=r.write_config(subscriptions="all", timeout_minutes=30))
    mappings = changed(run.mappings())
    assert mappings and all(m["result"] == "failed" for m in mappings)
    assert {m["operation"]["error"]["code"] for m in mappings} == {"operation_not_found"}
    assert all(m["operation"]["polls"] >= 5 for m in mappings)
    assert 600 <= run.virtual_seconds < 30 * 60


def test_a_vault_whose_list_is_refused_is_listed_container_by_container(tmp_path: Path) -> None:
    r = rig(tmp_path, vault_list_forbidden_share=1.0)
    run = r.run(config=r.write_config(subscriptions="all"))
    assert run.report is not None
    assert {v["listed_via"] for v in run.report["vaults"]} == {"containers"}
    assert all(v["status"] == "ok" for v in run.report["vaults"])
    listed = {m["id"].lower() for m in run.mappings()}
    assert listed == set(r.state.fleet.mappings)
    assert run.exit_code == 0


def test_subscriptions_not_enabled_are_skipped_with_a_warning(tmp_path: Path) -> None:
    states = {2: "Disabled", 3: "PastDue", 4: "Warned", 5: "Deleted"}
    r = Rig(tmp_path, {"seed": 5, "subscriptions": 5, "vaults_per_subscription": 2, **QUICK,
                       "subscription_states": states})  # fmt: skip
    run = r.run(config=r.write_config(subscriptions="all"))
    assert run.report is not None
    subs = {s["id"]: s for s in run.report["subscriptions"]}
    skipped = [s for s in subs.values() if s["status"] == "skipped"]
    assert sorted(s["state"] for s in skipped) == sorted(states.values())
    assert [s["state"] for s in subs.values() if s["status"] == "ok"] == ["Enabled"]
    targeted = {v["subscription_id"] for v in run.report["vaults"]}
    assert targeted == {s["id"] for s in subs.values() if s["status"] == "ok"}
    codes = [w["code"] for w in run.report["warnings"]]
    assert codes.count("subscription_not_enabled") == len(states)
    assert r.state.counters.requests["set"] == len(changed(run.mappings()))
    assert run.exit_code == 0


def test_an_explicit_subscription_that_is_not_enabled_is_read_and_skipped(tmp_path: Path) -> None:
    r = Rig(tmp_path, {"seed": 6, "subscriptions": 2, "vaults_per_subscription": 2, **QUICK,
                       "subscription_states": {2: "Disabled"}})  # fmt: skip
    disabled = r.state.subscription_ids[1]
    run = r.run(config=r.write_config(subscriptions=[r.state.subscription_ids[0], disabled]))
    assert run.report is not None
    entry = next(s for s in run.report["subscriptions"] if s["id"] == disabled)
    assert (entry["status"], entry["state"]) == ("skipped", "Disabled")
    assert all(v["subscription_id"] != disabled for v in run.report["vaults"])


class RelativeLinks(EmulatorTransport):
    """Rewrites every nextLink to a path without origin and without api-version."""

    async def send(self, method: str, url: str, **kwargs: Any) -> RawAnswer:
        answer = await super().send(method, url, **kwargs)
        if b"nextLink" not in answer.body:
            return answer
        body = json.loads(answer.body)
        parts = urlsplit(body["nextLink"])
        query = "&".join(q for q in parts.query.split("&") if not q.startswith("api-version"))
        body["nextLink"] = f"{parts.path}?{query}"
        return RawAnswer(
            answer.status, CIMultiDictProxy(CIMultiDict(answer.headers)), json.dumps(body).encode()
        )


def test_relative_next_links_without_api_version_are_followed(tmp_path: Path) -> None:
    r = rig(tmp_path, page_size=1, mappings_per_vault=[3, 3])
    run = r.run(config=r.write_config(subscriptions="all"), transport=RelativeLinks)
    assert run.report is not None and all(v["status"] == "ok" for v in run.report["vaults"])
    assert len(run.mappings()) == len(r.state.fleet.mappings)
    followed = [url for _, url in run.transport.sent if "skiptoken" in url.lower()]
    assert followed and all(url.startswith(BASE) and "api-version=" in url for url in followed)


def test_an_api_version_asr_does_not_know_fails_each_vault_with_asr_s_code(tmp_path: Path) -> None:
    r = rig(tmp_path)
    run = r.run(config=r.write_config(subscriptions="all", api_version="2021-12-02"))
    assert run.report is not None
    assert {v["error"]["code"] for v in run.report["vaults"]} == {"InvalidApiVersionParameter"}
    assert r.state.counters.requests["set"] == 0
    assert run.exit_code == 1


def test_nothing_is_patched_twice_while_its_operation_runs(tmp_path: Path) -> None:
    r = rig(tmp_path, operation_seconds=[30, 60])
    first = r.run(config=r.write_config(subscriptions="all", timeout_minutes=0.25))
    assert first.report is not None and first.report["totals"]["timed_out"] > 0
    second = r.run(config=r.write_config(subscriptions="all"))
    assert second.report is not None
    assert r.state.counters.patches_while_running == 0
    assert second.report["totals"]["failed"] == 0
    assert second.exit_code == 0
