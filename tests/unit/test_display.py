"""The live display (orchestrator.output.display): the progress panel and its pace line, the
live redraw that keeps stderr lines above it, and the streams it draws on. What follows a run
(the summary, plan's changes, the failures) is test_summary.py's."""

from __future__ import annotations

import asyncio
import io
import sys
from typing import Any

import pytest
from rich.console import Console, RenderableType

from orchestrator.arm.registry import LimiterTotals
from orchestrator.output.display import (
    REFRESH_SECONDS,
    LiveProgress,
    live_progress,
    progress_panel,
    stderr_console,
)
from orchestrator.output.logs import CurrentStderr, log_stream
from orchestrator.output.report import Command
from orchestrator.work.progress import Phase, Progress, ProgressSnapshot


def render(renderable: RenderableType, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


# --- the live panel ----------------------------------------------------------------------------


def snapshot(**changes: Any) -> ProgressSnapshot:
    values: dict[str, Any] = {
        "phase": Phase.RUNNING,
        "vaults_total": 30,
        "vaults_listed": 12,
        "vaults_failed": 1,
        "mappings_listed": 48,
        "patches_sent": 40,
        "patches_failed": 2,
        "operations_done": 35,
        "operations_failed": 1,
        "operations_running": 3,
        "patches_queued": 0,
        "limits": LimiterTotals(
            get_acquired=90, set_acquired=40, get_waiting=2, set_waiting=3, pauses=1
        ),
    }
    values.update(changes)
    return ProgressSnapshot(**values)


def test_the_panel_shows_vaults_patches_operations_and_limiter_waits() -> None:
    text = render(progress_panel(snapshot(), "asr-autoupdate apply", 75.0, changes=True))
    assert "asr-autoupdate apply · working · 1:15" in text
    assert "12/30 listed (1 failed) · 48 mappings" in text
    assert "40 sent (2 refused)" in text
    assert "35 finished (1 failed) · 3 running" in text
    assert "waiting: 2 GET, 3 PATCH · 429 pauses: 1" in text


def test_the_panel_for_plan_leaves_out_patches_and_operations() -> None:
    text = render(progress_panel(snapshot(), "asr-autoupdate plan", 1.0, changes=False))
    assert "12/30 listed" in text
    assert "PATCHes" not in text and "Operations" not in text


def test_before_discovery_ends_the_panel_says_so() -> None:
    frame = snapshot(phase=Phase.DISCOVERING, vaults_total=None, limits=None)
    text = render(progress_panel(frame, "asr-autoupdate apply", 0.0, changes=True))
    assert "discovering…" in text
    assert "Limiter" in text and "not started" in text


async def test_the_live_display_prints_stderr_lines_above_itself_and_gives_stderr_back() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    progress = Progress(4)
    before = sys.stderr
    async with LiveProgress(progress, console=console, title="asr-autoupdate apply"):
        assert sys.stderr is not before
        CurrentStderr().write("vault_listed vault=v1\n")
        progress.vaults_listed = 4
        await asyncio.sleep(REFRESH_SECONDS * 1.2)  # at least one redraw from the loop
    assert sys.stderr is before
    text = out.getvalue()
    assert "vault_listed vault=v1" in text
    assert text.rindex("4/4 listed") > text.index("vault_listed vault=v1")


def test_current_stderr_follows_whatever_sys_stderr_is(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = CurrentStderr()
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replaced)
    stream.write("a line\n")
    assert replaced.getvalue() == "a line\n"
    assert stream.isatty() is False


def test_the_pace_line_shows_the_rate_the_queue_and_when_it_will_have_been_sent() -> None:
    frame = snapshot(rate=194.6, patches_queued=420, eta_s=125.6)
    text = render(progress_panel(frame, "asr-autoupdate apply", 1.0, changes=True))
    assert "195 PATCH/min · 420 queued · ETA 2:06 to send them" in text


def test_the_pace_line_is_left_out_until_there_is_a_pace_to_show() -> None:
    text = render(progress_panel(snapshot(), "asr-autoupdate apply", 1.0, changes=True))
    assert "Pace" not in text
    with_rate = render(progress_panel(snapshot(rate=3.0), "t", 1.0, changes=True))
    assert "3 PATCH/min" in with_rate and "ETA" not in with_rate


def test_plan_shows_no_pace() -> None:
    frame = snapshot(rate=10.0, patches_queued=5, eta_s=2.0)
    assert "Pace" not in render(progress_panel(frame, "asr-autoupdate plan", 1.0, changes=False))


def test_a_panel_with_nothing_failed_says_nothing_of_failures() -> None:
    frame = snapshot(vaults_failed=0, patches_failed=0, operations_failed=0)
    text = render(progress_panel(frame, "asr-autoupdate apply", 1.0, changes=True))
    assert "failed" not in text and "refused" not in text


def test_live_progress_for_apply_shows_changes_and_for_plan_does_not() -> None:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    progress = Progress(1)
    apply_frame = render(live_progress(Command.APPLY, console)(progress).render())
    plan_frame = render(live_progress(Command.PLAN, console)(progress).render())
    assert "asr-autoupdate apply" in apply_frame and "PATCHes" in apply_frame
    assert "asr-autoupdate plan" in plan_frame and "PATCHes" not in plan_frame


async def test_the_last_frame_stays_and_stderr_comes_back_when_the_block_fails() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    before = sys.stderr
    with pytest.raises(RuntimeError):
        async with LiveProgress(Progress(2), console=console, title="asr-autoupdate apply"):
            raise RuntimeError("the run crashed")
    assert sys.stderr is before
    assert "0/2 listed" in out.getvalue()


def test_the_log_stream_and_the_console_follow_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stderr", replaced)
    log_stream().write("a log line\n")
    assert replaced.getvalue() == "a log line\n"
    assert stderr_console().file is replaced
    other = io.StringIO()
    assert stderr_console(other).file is other
    assert repr(CurrentStderr()) == "<CurrentStderr>"
