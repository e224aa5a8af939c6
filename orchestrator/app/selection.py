"""What one run targets, from the config narrowed by the command line and earlier reports.

- ``--vault ID`` / ``--subscription ID`` narrow the config's targets (a canary run); one that is
  not among the config's targets is a usage error (exit 2, nothing sent).
- ``--retry REPORT`` considers only the mappings REPORT ended failed, unhealthy, timed out, not
  started or interrupted; ``--restore REPORT`` only the mappings REPORT changed, each driven back
  to its ``before`` settings. Both keep only vaults the config targets.
- ``--resume REPORT`` must be a report of this very config (same sha256) whose mappings the
  config targets.

Everything here is checked before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from orchestrator.asr.desired import Action, AuthenticationType, DesiredState
from orchestrator.asr.targets import SubscriptionTarget, VaultId, VaultTarget
from orchestrator.config import Config
from orchestrator.errors import ConfigError
from orchestrator.output.report import Report
from orchestrator.work.lro import StrategyKind
from orchestrator.work.outcomes import MappingResult
from orchestrator.work.resume import ResumePoint

RETRYABLE: Final = frozenset(
    {
        MappingResult.FAILED,
        MappingResult.UNHEALTHY,
        MappingResult.TIMED_OUT,
        MappingResult.NOT_STARTED,
        MappingResult.INTERRUPTED,
    }
)
RESTORABLE: Final = frozenset(
    {
        MappingResult.SUCCEEDED,
        MappingResult.UNHEALTHY,
        MappingResult.TIMED_OUT,
        MappingResult.INTERRUPTED,
    }
)
RESUMABLE: Final = frozenset({MappingResult.INTERRUPTED, MappingResult.TIMED_OUT})


@dataclass(frozen=True)
class Narrowing:
    """The command line's narrowing of a config's targets (empty: none)."""

    vaults: tuple[str, ...] = ()
    subscriptions: tuple[str, ...] = ()
    retry: Report | None = None
    restore: Report | None = None
    report_paths: Mapping[str, str] = field(default_factory=dict)  # flag -> its file, for errors


@dataclass(frozen=True)
class Selection:
    """The run's targets before discovery, and what discovery should search."""

    explicit: list[VaultTarget]
    discover: list[SubscriptionTarget] | Literal["all"] | None
    keep: frozenset[str] | None  # vault keys a discovered vault must be among (None: any)
    only: Mapping[str, Mapping[str, DesiredState | None]] | None  # vault key -> mappings

    def target_of(self, config: Config, vault: VaultId) -> VaultTarget:
        """A discovered vault's target: its desired state, or why it has none."""
        try:
            target = VaultTarget(vault, config.desired_for(vault))
        except ValueError as exc:
            target = VaultTarget(vault, DesiredState(config.action, None), problem=str(exc))
        return self._narrowed(target)

    def admits(self, vault: VaultId) -> bool:
        return self.keep is None or vault.key in self.keep

    def _narrowed(self, target: VaultTarget) -> VaultTarget:
        if self.only is None:
            return target
        return replace(target, only=self.only.get(target.vault.key, {}))


def select(config: Config, narrowing: Narrowing, config_name: str) -> Selection:
    """The run's targets; ConfigError (exit 2) for a narrowing the config does not allow."""
    vault_ids = [_vault_arg(config_name, text) for text in narrowing.vaults]
    subs = [text.lower() for text in narrowing.subscriptions]
    for vault in vault_ids:
        if not _targets_vault(config, vault):
            raise ConfigError(config_name, "--vault", f"{vault} is not among the config's targets")
    for sub in subs:
        if not _targets_subscription(config, sub):
            raise ConfigError(
                config_name, "--subscription", f"{sub} is not among the config's targets"
            )
    only = _only(config, narrowing, config_name)
    keep = _keep(vault_ids, only)
    explicit = [t for t in config.vault_targets() if _wanted(t.vault, vault_ids, subs, keep)]
    discover = _discovery(config, vault_ids, subs, keep)
    selection = Selection(explicit, discover, keep, only)
    return replace(selection, explicit=[selection._narrowed(t) for t in explicit])


def check_resume(config: Config, report: Report, sha256: str, name: str) -> list[ResumePoint]:
    """The operations ``report`` left running; ConfigError if it is another config's report."""
    if report.config is not None and report.config.sha256 != sha256:
        raise ConfigError(
            name, "--resume", "is a report of another config (its config sha256 differs)"
        )
    points = resume_points(report)
    for point in points:
        if not _targets_vault(config, VaultId.parse(point.vault_id)):
            raise ConfigError(
                name, "--resume", f"mapping {point.mapping_id} is not among the config's targets"
            )
    return points


def resume_points(report: Report) -> list[ResumePoint]:
    """The operations ``report`` left running (interrupted or timed out, with a status URL)."""
    points: list[ResumePoint] = []
    for vault in report.vaults:
        for mapping in vault.mappings:
            operation = mapping.operation
            if mapping.result in RESUMABLE and operation is not None and operation.url:
                points.append(
                    ResumePoint(
                        mapping_id=mapping.id,
                        vault_id=vault.id,
                        subscription_id=vault.subscription_id,
                        url=operation.url,
                        kind=StrategyKind.UNKNOWN,
                        polls=operation.polls,
                        started_at=operation.started_at,
                    )
                )
    return points


def _vault_arg(name: str, text: str) -> VaultId:
    try:
        return VaultId.parse(text)
    except ValueError as exc:
        raise ConfigError(name, "--vault", str(exc)) from None


def _targets_vault(config: Config, vault: VaultId) -> bool:
    if any(t.vault.key == vault.key for t in config.vault_targets()):
        return True
    found = config.subscription_targets()
    if found == "all":
        return True
    return any(target.admits(vault) for target in found or [])


def _targets_subscription(config: Config, sub: str) -> bool:
    found = config.subscription_targets()
    if found == "all":
        return True
    return any(t.subscription_id.lower() == sub for t in found or []) or any(
        t.vault.subscription_id.lower() == sub for t in config.vault_targets()
    )


def _only(
    config: Config, narrowing: Narrowing, name: str
) -> dict[str, dict[str, DesiredState | None]] | None:
    """vault key -> the mappings a --retry or --restore report selects (with restore states)."""
    for flag, report, wanted in (
        ("--retry", narrowing.retry, RETRYABLE),
        ("--restore", narrowing.restore, RESTORABLE),
    ):
        if report is None:
            continue
        only: dict[str, dict[str, DesiredState | None]] = {}
        for vault in report.vaults:
            chosen = {
                m.id.lower(): (_restore_state(m.before) if flag == "--restore" else None)
                for m in vault.mappings
                if m.result in wanted
            }
            if not chosen:
                continue
            vault_id = VaultId.parse(vault.id)
            if not _targets_vault(config, vault_id):
                file = narrowing.report_paths.get(flag, name)
                raise ConfigError(file, flag, f"vault {vault.id} is not among the config's targets")
            only[vault_id.key] = chosen
        return only
    return None


def _restore_state(before: object) -> DesiredState | None:
    """The state that puts a mapping back to how a report found it."""
    status = getattr(before, "agent_auto_update_status", None)
    if status is None or str(status).casefold() != "enabled":
        return DesiredState(Action.DISABLE, None)
    account = getattr(before, "automation_account_arm_id", None)
    kind_text = getattr(before, "authentication_type", None)
    kind = next(
        (k for k in AuthenticationType if kind_text and k.value.lower() == str(kind_text).lower()),
        AuthenticationType.RUN_AS_ACCOUNT,  # none recorded: the REST spec's default
    )
    return DesiredState(Action.ENABLE, account, kind)


def _keep(vault_ids: Sequence[VaultId], only: Mapping[str, object] | None) -> frozenset[str] | None:
    keys: set[str] | None = {v.key for v in vault_ids} if vault_ids else None
    if only is not None:
        keys = set(only) if keys is None else keys & set(only)
    return None if keys is None else frozenset(keys)


def _wanted(
    vault: VaultId, vault_ids: Sequence[VaultId], subs: Sequence[str], keep: Iterable[str] | None
) -> bool:
    if subs and vault.subscription_id.lower() not in subs:
        return False
    return keep is None or vault.key in set(keep)


def _discovery(
    config: Config, vault_ids: Sequence[VaultId], subs: Sequence[str], keep: frozenset[str] | None
) -> list[SubscriptionTarget] | Literal["all"] | None:
    found = config.subscription_targets()
    if found is None:
        return None
    if keep is not None:
        wanted = {key.split("/")[2] for key in keep}  # the subscription of each kept vault
        subs = [s for s in (subs or list(wanted)) if s in wanted]
    if not subs:
        return found
    if found == "all":
        return [SubscriptionTarget(sub, None, frozenset()) for sub in subs]
    return [target for target in found if target.subscription_id.lower() in subs]
