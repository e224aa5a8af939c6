"""The audit of a vault's Mobility agents: its replicated items, each agent judged current or not.

Listed the way the vault's mappings were (vault-level, or container by container when that was
refused), under the same page budget and limiters; GET only. Items that are not A2A have no
Mobility agent details and are left out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.asr.agents import AgentRecord, classify, parse_protected_item
from orchestrator.work.listing import VaultLister


async def list_agents(
    lister: VaultLister, warning_days: float, *, now: datetime | None = None
) -> list[AgentRecord]:
    """Every A2A replicated item of the lister's vault, with its agent's state at ``now``."""
    moment = now or datetime.now(UTC)
    agents: list[AgentRecord] = []
    seen: set[str] = set()
    async for page in lister.protected_items():
        for raw in page:
            agent = parse_protected_item(raw)
            if agent is None or agent.id.lower() in seen:
                continue
            seen.add(agent.id.lower())
            state = classify(agent, now=moment, warning_days=warning_days)
            agents.append(AgentRecord.of(agent, state))
    return agents
