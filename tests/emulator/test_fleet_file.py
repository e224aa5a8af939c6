"""load_fleet: a YAML fleet description, or a ValueError naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.emulator import FleetSpec, load_fleet

FLEET = """\
seed: 9
subscriptions: 3
vaults_per_subscription: 4
mappings_per_vault: [2, 6]
shares: {not_a2a: 0.2, compliant: 0.5}
operation_seconds: [1, 3]
limits: {set: {calls: 10, per_seconds: 6}}
faults: {http_500: 0.25, never_finish: 0.1}
lro_headers: location
"""


def test_a_fleet_file_sets_every_key_it_names(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET)
    spec = load_fleet(path)
    assert spec.seed == 9
    assert spec.mappings_per_vault == (2, 6)
    assert spec.shares.not_a2a == 0.2
    assert spec.limits.set.calls == 10
    assert spec.limits.get == FleetSpec().limits.get
    assert spec.faults.http_500 == 0.25
    assert spec.lro_headers == "location"


def test_an_empty_fleet_file_is_the_default_fleet(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_fleet(str(path)) == FleetSpec()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: 1\nvaults: 3\n", "vaults"),
        ("mappings_per_vault: [5, 2]\n", "mappings_per_vault"),
        ("shares: {compliant: 2}\n", "shares.compliant"),
        ("limits: {set: {calls: 0, per_seconds: 60}}\n", "limits.set.calls"),
        ("- a list\n", "mapping"),
        ("seed: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_fleet_file_is_a_value_error_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"bad\.yaml") as caught:
        load_fleet(path)
    assert expected in str(caught.value)


def test_a_missing_fleet_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_fleet(tmp_path / "nope.yaml")
