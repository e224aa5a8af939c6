"""The run lock across real processes: held until the report is written, by `apply` only.

The holder is an `apply` whose report goes to a stdout pipe nobody reads yet: the report is
larger than the pipe's buffer (64 KiB), so the process sits in the middle of writing it, lock
held.
Meanwhile a second `apply` of the same lock exits 5 at once (nothing sent, no report). Then the
holder's report is read: whole, its run succeeded. The lock's directory did not exist: the holder
made it, private. (`plan`, `validate` and `audit` taking no lock is proven in process, in
`tests/unit/test_flows_report_lock.py`.)
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import stat
import time
from pathlib import Path

import pytest
from cli_support import StartEmulator, cli_env, finish, spawn_cli, until, write_config
from report_schema import assert_valid_report

pytestmark = pytest.mark.integration

BIG_FLEET = {  # a report of ~150 mappings is well over a pipe's 64 KiB
    "seed": 61,
    "subscriptions": 1,
    "vaults_per_subscription": 30,
    "mappings_per_vault": [4, 6],
    "shares": {"not_a2a": 0.1, "not_paired": 0.1, "compliant": 0.75, "unhealthy": 0.0},
    "operation_seconds": [0.2, 0.4],
    "operation_failure_rate": 0.0,
}
# The holder never lets go until its report is read: a second run that waited for the lock would
# never end. The bound only catches a wait for some timeout (start-up on a loaded machine included).
AT_ONCE_SECONDS = 10.0


def read_all(fd: int) -> str:
    """Everything a pipe carries until its writer closes it (then closes it too)."""
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


async def test_the_lock_is_held_until_the_report_is_written(
    start_emulator: StartEmulator, tmp_path: Path
) -> None:
    holder_server = await start_emulator(**BIG_FLEET)
    lock = tmp_path / "run" / "asr-autoupdate" / "apply.lock"
    config = write_config(
        tmp_path / "fleet.yaml", holder_server, action="enable", subscriptions="all",
        lock_file=str(lock),
    )  # fmt: skip
    reading, writing = os.pipe()  # a bare pipe: asyncio would drain a pipe of its own
    try:
        holder = await spawn_cli(
            "apply", str(config), "--report", "-", env=cli_env(holder_server), stdout=writing
        )
    finally:
        os.close(writing)
    await until(
        lambda: bool(select.select([reading], [], [], 0)[0]), "the report began", process=holder
    )

    other_server = await start_emulator(seed=62, subscriptions=1, vaults_per_subscription=1)
    assert holder.returncode is None  # …and is stuck on the full pipe
    other = write_config(
        tmp_path / "other.yaml", other_server, action="enable", subscriptions="all",
        lock_file=str(lock),
    )  # fmt: skip

    started = time.monotonic()
    code, _, err = await finish(
        await spawn_cli(
            "apply", str(other), "--report", str(tmp_path / "second.json"),
            env=cli_env(other_server),
        )
    )  # fmt: skip
    assert code == 5, err[-2000:]
    assert time.monotonic() - started < AT_ONCE_SECONDS
    assert "lock" in err and "Traceback" not in err
    assert not (tmp_path / "second.json").exists()  # nothing was done: not even a report
    assert sum(other_server.state.counters.requests.values()) == 0  # not even a token
    assert holder.returncode is None, "the holder was to be still writing its report"

    text = await asyncio.to_thread(read_all, reading)
    code, _, err = await finish(holder)
    assert code == 0, err[-2000:]
    report = json.loads(text)
    assert_valid_report(report)
    assert report["outcome"] == "succeeded" and report["totals"]["succeeded"] > 0
    assert len(text) > 2**16
    assert stat.S_IMODE(lock.parent.stat().st_mode) == 0o700
