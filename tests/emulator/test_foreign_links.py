"""`faults.foreign_links` puts server-supplied URLs on another origin; the issued-token store."""

from __future__ import annotations

import pydantic
import pytest
from arm_client import ArmFor, Emulator, StartEmulator
from requests_for_tests import ENABLE
from yarl import URL

from orchestrator.emulator import Condition, FleetSpec
from orchestrator.emulator.fleet_spec import Faults, ForeignLinks

pytestmark = pytest.mark.integration

FOREIGN = "http://127.0.0.2:4321"


def _spec(**links: str) -> FleetSpec:
    return FleetSpec(
        seed=5,
        mappings_per_vault=(3, 3),
        page_size=2,
        faults=Faults(foreign_links=ForeignLinks(**links)),
    )


def _needs_change(server: Emulator) -> str:
    return next(
        m.id for m in server.state.fleet.mappings.values() if m.condition is Condition.NEEDS_CHANGE
    )


async def test_a_foreign_next_link_keeps_path_and_query_on_the_other_origin(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec(next_link=FOREIGN))
    vault_id = server.state.vault_ids()[0]
    answer = await arm_for(server).get(f"{vault_id}/replicationProtectionContainerMappings")
    link = URL(answer.body["nextLink"])
    assert str(link.origin()) == FOREIGN
    assert link.path.lower() == f"{vault_id}/replicationProtectionContainerMappings".lower()
    assert "$skiptoken" in link.query
    assert server.state.counters.faults["foreign_link"] == 1


async def test_foreign_operation_links_point_both_headers_at_their_origins(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec(async_operation=FOREIGN, location="https://127.0.0.1:1"))
    answer = await arm_for(server).patch(_needs_change(server), ENABLE)
    assert answer.status == 202
    assert str(URL(answer.headers["Azure-AsyncOperation"]).origin()) == FOREIGN
    assert str(URL(answer.headers["Location"]).origin()) == "https://127.0.0.1:1"
    assert server.state.counters.faults["foreign_link"] == 2


async def test_links_stay_on_the_client_origin_without_foreign_links(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec())
    answer = await arm_for(server).patch(_needs_change(server), ENABLE)
    for header in ("Azure-AsyncOperation", "Location"):
        assert str(URL(answer.headers[header]).origin()) == server.base_url
    assert server.state.counters.faults["foreign_link"] == 0


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://127.0.0.1",
        "127.0.0.1:80",
        "http://h/path",
        "http://h?q=1",
        "http://u@h",
        "http://h:x",
    ],
)
def test_a_foreign_link_must_be_an_http_origin(bad: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        ForeignLinks(next_link=bad)


def test_a_foreign_link_loses_a_trailing_slash() -> None:
    assert ForeignLinks(location="https://evil.example:8443/").location == (
        "https://evil.example:8443"
    )


async def test_issued_lists_every_token_the_identity_endpoint_gave(
    start_emulator: StartEmulator, arm_for: ArmFor
) -> None:
    server = await start_emulator(_spec())
    arm = arm_for(server)
    given = [(await arm.token()).body["access_token"] for _ in range(3)]
    assert server.state.tokens.issued() == given
