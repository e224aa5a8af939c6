"""No token, Authorization value or identity header reaches a log line, the report or stdout.

Full applies at ``--log-level debug`` with spurious 429s that make the run talk (throttling,
failed status reads) and tokens short-lived enough that several are issued. Every token the
emulator's identity endpoint issued is read back from its token store and searched for.
"""

from __future__ import annotations

import pytest
from cli_support import IDENTITY_HEADER
from run_checks import assert_run_consistent
from scenarios import Outcome, Outcomes, Scenario, run_scenarios

pytestmark = pytest.mark.integration

WRONG_IDENTITY_HEADER = "wrong-identity-header-0f3c9a"
TALKATIVE = {
    "seed": 81,
    "subscriptions": 1,
    "vaults_per_subscription": 4,
    "operation_seconds": [2.0, 2.5],
    "token_lifetime_seconds": 2,
    "faults": {"throttle": 0.08},
}
SCENARIOS = {
    "json": Scenario(TALKATIVE, log_format="json", log_level="debug"),
    "console": Scenario(TALKATIVE, log_format="console", log_level="debug", report_to_file=False),
    "rejected_header": Scenario(
        TALKATIVE, log_level="debug", env={"IDENTITY_HEADER": WRONG_IDENTITY_HEADER}
    ),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    return run_scenarios(tmp_path_factory.mktemp("secrets"), SCENARIOS)


def _secrets(outcome: Outcome) -> list[str]:
    tokens = outcome.server.state.tokens.issued()
    return [
        IDENTITY_HEADER,
        *tokens,
        *(f"Bearer {token}" for token in tokens),
        *(token.split(".", 1)[1] for token in tokens),  # the random part alone
    ]


def _everything_written(outcome: Outcome) -> dict[str, str]:
    """stdout, stderr (the logs) and the report file, when the run wrote one."""
    written = {"stdout": outcome.run.stdout, "stderr": outcome.run.stderr}
    report = outcome.directory / "report.json"
    if report.exists():
        written["report file"] = report.read_text()
    return written


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_full_apply_writes_no_token_or_header_value_anywhere(
    outcomes: Outcomes, log_format: str
) -> None:
    outcome = outcomes[log_format]
    assert_run_consistent(outcome.server, outcome.run, exit_code=0)
    assert len(outcome.server.state.tokens.issued()) >= 2  # the run renewed its token
    assert outcome.server.state.counters.faults["throttle"] > 0
    assert outcome.run.stderr.count("\n") > 20  # debug logging really talked
    written = _everything_written(outcome)
    assert ("report file" in written) == (log_format == "json")  # console: report on stdout
    for where, text in written.items():
        for secret in _secrets(outcome):
            assert secret not in text, f"a secret reached {where}"


def test_a_rejected_identity_header_is_not_echoed_in_logs_or_report(outcomes: Outcomes) -> None:
    outcome = outcomes["rejected_header"]
    assert outcome.run.exit_code == 4, outcome.run.stderr[-2000:]
    written = _everything_written(outcome)
    assert "report file" in written
    for where, text in written.items():
        assert WRONG_IDENTITY_HEADER not in text, f"the identity header reached {where}"
        assert IDENTITY_HEADER not in text
