"""Microsoft's runbook, reimplemented faithfully as a small aiohttp client, with time scaled.

The runbook (``/work/shared/reference/azure-to-azure-autoupdate.md``) handles ONE vault:

1. fetch a token, list the vault's mappings (the first page only: it never follows
   ``nextLink``), keep the A2A, Paired ones not already Enabled with the account and healthy;
2. for each: fetch a token, PATCH, keep the ``Azure-AsyncOperation`` URL, sleep 1 s;
3. until none is left: sleep 30 s, then for each URL: fetch a token, GET it, sleep 0.5 s.
   ``InProgress`` stays in the list, a successful status leaves it, anything else fails it;
   a failed read keeps it in the list. After 160 minutes whatever is left has timed out.

Requests that raise are tried 4 times with 2 s between tries. Every sleep here is multiplied
by ``scale`` (0.1: ten times faster, like the benchmark's limits). Two ways to run a fleet:

- ``per_vault``: the way an operator runs it, one vault after another, each to its end;
- ``one_list``: every vault's mappings in one list: all PATCHes, then the polling rounds.

Deviation, forced by the emulator: the token request carries ``api-version=2019-08-01`` (the
App Service managed-identity endpoint requires it; Automation's sandbox endpoint does not).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import aiohttp

Mode = Literal["per_vault", "one_list"]
T = TypeVar("T")

PATCH_SLEEP_S = 1.0
ROUND_SLEEP_S = 30.0
POLL_SLEEP_S = 0.5
RETRY_SLEEP_S = 2.0
MAX_RETRY = 3
TIMEOUT_MINUTES = 160.0
SUCCESSFUL = frozenset({"succeeded", "partiallysucceeded", "completedwithinformation"})
VAULTS_API_VERSION = "2023-04-01"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
MSI_API_VERSION = "2019-08-01"


@dataclass(slots=True)
class Tally:
    """What the runbook did across the fleet, the way it writes it out at the end of each run."""

    vaults: int = 0
    to_modify: int = 0
    succeeded: int = 0
    failed: int = 0
    failed_to_start: int = 0
    timed_out: int = 0
    list_failures: int = 0
    polls: dict[str, int] = field(default_factory=dict)  # async URL -> status reads


@dataclass(frozen=True, slots=True)
class Runbook:
    """The runbook's settings for one fleet: where ARM and the token endpoint are, what to do."""

    arm_endpoint: str
    identity_endpoint: str
    identity_header: str
    audience: str
    api_version: str
    action: Literal["Enabled", "Disabled"]
    automation_account: str
    scale: float = 0.1
    authentication_type: str = "SystemAssignedIdentity"

    def body(self) -> dict[str, Any]:
        # The runbook sends all four fields whatever the action.
        return {
            "properties": {
                "providerSpecificInput": {
                    "instanceType": "A2A",
                    "agentAutoUpdateStatus": self.action,
                    "automationAccountArmId": self.automation_account,
                    "automationAccountAuthenticationType": self.authentication_type,
                }
            }
        }


class RunbookClient:
    """Runs the runbook over vaults with one aiohttp session (no connection limits to speak of)."""

    def __init__(self, runbook: Runbook, session: aiohttp.ClientSession) -> None:
        self.runbook = runbook
        self.session = session
        self.tally = Tally()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.runbook.scale)

    async def header(self) -> dict[str, str]:
        """``Get-Header``: a fresh token from the managed-identity endpoint, every time."""
        rb = self.runbook
        params = {"resource": rb.audience, "api-version": MSI_API_VERSION}
        headers = {"X-IDENTITY-HEADER": rb.identity_header, "Metadata": "True"}
        async with self.session.get(rb.identity_endpoint, params=params, headers=headers) as answer:
            answer.raise_for_status()
            token = (await answer.json())["access_token"]
        return {"Authorization": f"Bearer {token}"}

    async def _retried(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """``Invoke-Internal…``: up to 1 + MAX_RETRY tries, RETRY_SLEEP_S apart."""
        failures = 0
        while True:
            try:
                return await attempt()
            except (aiohttp.ClientError, TimeoutError):
                failures += 1
                if failures > MAX_RETRY:
                    raise
                await self.sleep(RETRY_SLEEP_S)

    async def get_json(self, url: str) -> Any:
        """``Invoke-RestMethod``: a non-2xx answer raises."""
        headers = await self.header()

        async def attempt() -> Any:
            async with self.session.get(url, headers=headers) as answer:
                answer.raise_for_status()
                return await answer.json()

        return await self._retried(attempt)

    async def discover(self) -> list[str]:
        """The fleet's vault ids, as an operator would collect them (every page, every sub)."""
        base = self.runbook.arm_endpoint
        url: str | None = f"{base}/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}"
        subscriptions: list[str] = []
        while url:
            page = await self.get_json(url)
            subscriptions += [item["subscriptionId"] for item in page["value"]]
            url = page.get("nextLink")
        vaults: list[str] = []
        for sub in subscriptions:
            path = f"/subscriptions/{sub}/providers/Microsoft.RecoveryServices/vaults"
            url = f"{base}{path}?api-version={VAULTS_API_VERSION}"
            while url:
                page = await self.get_json(url)
                vaults += [item["id"] for item in page["value"]]
                url = page.get("nextLink")
        return vaults

    async def to_modify(self, vault_id: str) -> list[str]:
        """``Get-ProtectionContainerToBeModified``: the first page, filtered by the runbook's rules."""
        rb = self.runbook
        url = f"{rb.arm_endpoint}{vault_id}/replicationProtectionContainerMappings?api-version={rb.api_version}"
        try:
            listing = await self.get_json(url)
        except aiohttp.ClientError:
            self.tally.list_failures += 1
            return []
        return [m["id"] for m in listing["value"] if self._needs_change(m)]

    def _needs_change(self, mapping: dict[str, Any]) -> bool:
        properties = mapping.get("properties") or {}
        details = properties.get("providerSpecificDetails")
        if details is None or str(details.get("instanceType", "")).lower() != "a2a":
            return False
        if str(properties.get("state", "")).lower() != "paired":
            return False
        account = str(details.get("automationAccountArmId") or "")
        return not (
            self.runbook.action == "Enabled"
            and str(details.get("agentAutoUpdateStatus", "")).lower() == "enabled"
            and account.lower() == self.runbook.automation_account.lower()
            and not properties.get("healthErrorDetails")
        )

    async def start_jobs(self, mappings: list[str]) -> list[str]:
        """PATCH each mapping, one per (scaled) second; the async URLs of those accepted."""
        rb = self.runbook
        in_progress: list[str] = []
        for mapping_id in mappings:
            try:
                headers = await self.header()
                url = f"{rb.arm_endpoint}{mapping_id}?api-version={rb.api_version}"

                async def attempt(url: str = url, headers: dict[str, str] = headers) -> str:
                    async with self.session.patch(url, json=rb.body(), headers=headers) as answer:
                        answer.raise_for_status()
                        return answer.headers.get("Azure-AsyncOperation", "")

                in_progress.append(await self._retried(attempt))
                await self.sleep(PATCH_SLEEP_S)
            except aiohttp.ClientError:
                self.tally.failed_to_start += 1
        return in_progress

    async def track(self, in_progress: list[str], started: float) -> None:
        """The polling rounds, until every job ended or the (scaled) timeout passed."""
        deadline = started + TIMEOUT_MINUTES * 60 * self.runbook.scale
        while in_progress:
            await self.sleep(ROUND_SLEEP_S)
            still: list[str] = []
            for url in in_progress:
                self.tally.polls[url] = self.tally.polls.get(url, 0) + 1
                try:
                    state = str((await self._read_status(url)).get("status", ""))
                    if state.lower() == "inprogress":
                        still.append(url)
                    elif state.lower() in SUCCESSFUL:
                        self.tally.succeeded += 1
                    else:
                        self.tally.failed += 1
                except aiohttp.ClientError:
                    still.append(url)  # a failed read: tried again next round
                await self.sleep(POLL_SLEEP_S)
            if time.monotonic() > deadline:
                self.tally.timed_out += len(still)
                still = []
            in_progress = still

    async def _read_status(self, url: str) -> dict[str, Any]:
        # The runbook calls Invoke-RestMethod directly here: no retry loop around it.
        headers = await self.header()
        async with self.session.get(url, headers=headers) as answer:
            answer.raise_for_status()
            body: dict[str, Any] = await answer.json()
            return body

    async def run_vault(self, vault_id: str) -> None:
        """One runbook job: one vault, start to end."""
        started = time.monotonic()
        mappings = await self.to_modify(vault_id)
        self.tally.vaults += 1
        self.tally.to_modify += len(mappings)
        if not mappings:
            return  # "Exiting as there are no container mappings to be modified."
        await self.track(await self.start_jobs(mappings), started)

    async def run(self, mode: Mode) -> None:
        """The whole fleet: discover, then vault by vault, or everything in one list."""
        vaults = await self.discover()
        if mode == "per_vault":
            for vault_id in vaults:
                await self.run_vault(vault_id)
            return
        started = time.monotonic()
        mappings: list[str] = []
        for vault_id in vaults:
            mappings += await self.to_modify(vault_id)
            self.tally.vaults += 1
        self.tally.to_modify = len(mappings)
        await self.track(await self.start_jobs(mappings), started)


async def run_runbook(runbook: Runbook, mode: Mode) -> Tally:
    """Run the runbook over every vault the endpoint lists; what it tallied."""
    async with aiohttp.ClientSession() as session:
        client = RunbookClient(runbook, session)
        await client.run(mode)
        return client.tally
