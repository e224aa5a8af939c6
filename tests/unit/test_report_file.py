"""The report as a file (orchestrator.output.report_file): rendered in pieces that join to
pydantic's dump, written atomically (scrubbed of secrets), checked writable, read back."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_examples import (
    EXPECTED_JSON,
    example_report,
    render,
    totals_of,
    varied_vaults,
)

from orchestrator.errors import ReportError
from orchestrator.output.atomic import remove_stale_temp_files
from orchestrator.output.report import Report, SubscriptionReport, VaultReport
from orchestrator.output.report_file import (
    check_writable,
    load_report,
    render_pieces,
    write_report,
)
from orchestrator.secrets import REDACTED, Secrets
from orchestrator.work.outcomes import ErrorInfo, SubscriptionStatus

# A PID no process has (Linux's pid_max is at most 2**22).
DEAD_PID = 2**22 + 1


# --- rendering in pieces ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 4])
@pytest.mark.parametrize("discovered", [False, True])
def test_a_report_rendered_vault_by_vault_is_byte_for_byte_pydantics_whole_dump(
    count: int, discovered: bool
) -> None:
    """The head and its vaults, rendered apart and joined, are exactly the whole model's dump."""
    vaults = varied_vaults()[:count]
    subscriptions = (
        [SubscriptionReport(id="sub", status=SubscriptionStatus.OK, error=None, vaults_found=count)]
        if discovered
        else None
    )
    whole = example_report(
        vaults=vaults,
        totals=totals_of(vaults),
        subscriptions=subscriptions,
        duration_s=1.23456789,
    )
    expected = whole.model_dump_json(indent=2, by_alias=True) + "\n"
    head = whole.model_copy(update={"vaults": []})
    assert render(whole) == expected
    assert "".join(render_pieces(head, iter(vaults))) == expected
    assert json.loads(expected)["vaults"] == [v.model_dump(mode="json") for v in vaults]


def test_the_pieces_are_the_head_one_per_vault_and_the_tail() -> None:
    vaults = varied_vaults()
    head = example_report(vaults=[], totals=totals_of(vaults))
    pieces = list(render_pieces(head, vaults))
    assert len(pieces) == len(vaults) + 2
    assert pieces[0].endswith('"vaults": [')
    assert pieces[-1].startswith("\n  ]")


def test_a_report_without_vaults_renders_an_empty_list() -> None:
    report = example_report(vaults=[], totals=totals_of([]))
    assert json.loads(render(report))["vaults"] == []
    assert '"vaults": []' in render(report)


def test_a_report_written_vault_by_vault_is_the_rendered_report(tmp_path: Path) -> None:
    vaults = varied_vaults()
    whole = example_report(vaults=vaults, totals=totals_of(vaults))
    head = whole.model_copy(update={"vaults": []})
    target = tmp_path / "report.json"
    write_report(head, target, stdout=io.StringIO(), vaults=iter(vaults))
    assert target.read_bytes() == render(whole).encode()
    assert load_report(target) == whole
    stdout = io.StringIO()
    write_report(head, None, stdout=stdout, vaults=iter(vaults))
    assert stdout.getvalue() == render(whole)


def test_vaults_are_rendered_and_written_one_at_a_time() -> None:
    """Each vault is written out before the next is asked for: none waits for the rest."""
    vaults = varied_vaults()
    stdout = io.StringIO()

    def one_at_a_time() -> Iterator[VaultReport]:
        for number, each in enumerate(vaults, start=1):
            yield each
            assert stdout.getvalue().count('"subscription_id"') == number

    head = example_report(vaults=[], totals=totals_of(vaults))
    write_report(head, None, stdout=stdout, vaults=one_at_a_time())
    assert json.loads(stdout.getvalue())["vaults"] == [v.model_dump(mode="json") for v in vaults]


# --- scrubbing -------------------------------------------------------------------------------


def echoing_report(secret: str) -> tuple[Report, list[VaultReport]]:
    vaults = varied_vaults()
    echo = vaults[1].model_copy(
        update={"error": ErrorInfo(code="BadRequest", message=f"token {secret} is invalid")}
    )
    vaults[1] = echo
    return example_report(vaults=[], totals=totals_of(vaults)), vaults


@pytest.mark.parametrize("to_file", [False, True])
def test_every_piece_is_scrubbed_of_the_runs_secrets(tmp_path: Path, to_file: bool) -> None:
    """A server may echo a token into an error message: it never reaches the report."""
    secret = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.payload"
    head, vaults = echoing_report(secret)
    secrets = Secrets([secret])
    stdout = io.StringIO()
    target = tmp_path / "report.json" if to_file else None
    write_report(head, target, stdout=stdout, vaults=vaults, scrub=secrets.scrub)
    text = target.read_text(encoding="utf-8") if target is not None else stdout.getvalue()
    assert secret not in text
    assert f"token {REDACTED} is invalid" in text
    json.loads(text)  # still a report


# --- writing and reading -------------------------------------------------------------------


def test_a_report_without_a_path_goes_to_stdout() -> None:
    stdout = io.StringIO()
    write_report(example_report(), None, stdout=stdout)
    assert stdout.getvalue() == EXPECTED_JSON


def test_a_report_written_to_a_file_reads_back_equal(tmp_path: Path) -> None:
    subscriptions = [
        SubscriptionReport(id="s", status=SubscriptionStatus.OK, error=None, vaults_found=1)
    ]
    report = example_report(subscriptions=subscriptions)
    target = tmp_path / "report.json"
    write_report(report, target, stdout=io.StringIO())
    assert target.read_text(encoding="utf-8") == render(report)
    assert load_report(target) == report


def test_writing_replaces_an_old_report_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    write_report(example_report(), str(target), stdout=io.StringIO())
    assert target.read_text(encoding="utf-8") == EXPECTED_JSON
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_failed_write_keeps_the_old_report_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_report(example_report(), target, stdout=io.StringIO())
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_failing_vault_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"

    def broken() -> Iterator[VaultReport]:
        yield varied_vaults()[0]
        raise RuntimeError("a record could not be reported")

    with pytest.raises(RuntimeError):
        write_report(example_report(vaults=[]), target, stdout=io.StringIO(), vaults=broken())
    assert os.listdir(tmp_path) == []


def test_a_failed_rename_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.mkdir()
    with pytest.raises(OSError):  # noqa: PT011 - the OSError subclass differs by platform
        write_report(example_report(), target, stdout=io.StringIO())
    assert os.listdir(tmp_path) == ["report.json"]


def test_writing_into_a_missing_directory_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        write_report(example_report(), missing / "report.json", stdout=io.StringIO())


def test_loading_a_missing_report_raises_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot read report"):
        load_report(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a valid report"),
        ("[]", "not a valid report"),
        ('{"schema": "asr-autoupdate/report/v1"}', "run_id"),
        (EXPECTED_JSON.replace('"polls": 1', '"polls": -1'), "polls"),
    ],
)
def test_loading_a_bad_report_raises_report_error(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=message) as caught:
        load_report(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_loading_a_bad_report_does_not_echo_its_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(EXPECTED_JSON.replace('"polls": 1', '"polls": "SECRET-VALUE"'), "utf-8")
    with pytest.raises(ReportError, match="polls") as caught:
        load_report(path)
    assert "SECRET-VALUE" not in str(caught.value)


def test_loading_a_file_that_is_not_utf8_raises_report_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ReportError, match="cannot read report"):
        load_report(path)


def test_a_first_release_report_still_loads(tmp_path: Path) -> None:
    """v1 only ever gains keys: a report written before them reads back."""
    old = json.loads(EXPECTED_JSON)
    for key in ("tool_version", "config", "error", "warnings"):
        del old[key]
    del old["totals"]["unhealthy"]
    del old["vaults"][0]["listed_via"]
    mapping = old["vaults"][0]["mappings"][0]
    for key in ("desired", "after"):
        del mapping[key]
    del mapping["before"]["health_error_details"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    report = load_report(path)
    assert (report.error, report.warnings, report.totals.unhealthy) == (None, [], 0)
    assert report.vaults[0].mappings[0].before is not None


# --- check_writable and stale temporary files ----------------------------------------------


def test_a_writable_path_passes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    check_writable(tmp_path / "report.json")
    assert os.listdir(tmp_path) == []


def test_an_existing_writable_report_passes(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    check_writable(target)
    assert target.read_text(encoding="utf-8") == "old"


def test_a_directory_is_not_a_report_path(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="is a directory"):
        check_writable(tmp_path)


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        check_writable(tmp_path / "no-such-dir" / "report.json")


def test_an_existing_report_that_cannot_be_written_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root may write anything
    with pytest.raises(PermissionError, match="is not writable"):
        check_writable(target)


def test_a_directory_where_no_file_can_be_made_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(PermissionError):
        check_writable(tmp_path / "report.json")


def test_temp_files_of_a_writer_that_died_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    dead = tmp_path / f".report.json.{DEAD_PID}.0123456789abcdef.tmp"
    mine = tmp_path / f".report.json.{os.getpid()}.0123456789abcdef.tmp"
    other_report = tmp_path / f".other.json.{DEAD_PID}.0123456789abcdef.tmp"
    odd = tmp_path / ".report.json.not-a-pid.x.tmp"
    for path in (dead, mine, other_report, odd):
        path.write_text("partial", encoding="utf-8")
    remove_stale_temp_files(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [mine.name, other_report.name, odd.name]
    )


def test_a_temp_file_of_a_live_process_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    live = tmp_path / ".report.json.1.0123456789abcdef.tmp"  # PID 1 is always alive
    live.write_text("partial", encoding="utf-8")
    remove_stale_temp_files(target)
    assert live.exists()


def test_checking_writability_also_clears_stale_temp_files(tmp_path: Path) -> None:
    dead = tmp_path / f".report.json.{DEAD_PID}.0123456789abcdef.tmp"
    dead.write_text("partial", encoding="utf-8")
    check_writable(tmp_path / "report.json")
    assert os.listdir(tmp_path) == []


def test_stale_temp_files_in_a_missing_directory_are_no_error(tmp_path: Path) -> None:
    remove_stale_temp_files(tmp_path / "no-such-dir" / "report.json")
