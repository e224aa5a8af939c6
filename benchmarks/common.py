"""What the benchmarks share: the emulator in a child process, the real CLI in another, /proc.

- `EmulatorProcess`: ``python -m orchestrator.emulator --port 0 --fleet FLEET.yaml`` (or, for a
  journal of another size, this file's ``--serve`` launcher), its base URL, and its counters and
  journal read over loopback from the read-only ``/_emulator/…`` endpoints.
- `run_cli`: ``python -m orchestrator apply CONFIG --report R --log-format json`` as a child,
  bounded in time; its own CPU seconds and peak RSS come from ``wait4`` and ``/proc/PID/status``.
- `write_config`, `cli_env`: a config (its journal beside it) and an environment aimed at an
  emulator.
- `machine`: what the figures were measured on.

Not a test helper: nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from orchestrator.emulator import EmulatorServer, FleetSpec, generate_fleet, load_fleet
from orchestrator.emulator.fleet import fleet_automation_account

IDENTITY_HEADER = "benchmark-identity-header"
AUDIENCE = "https://management.core.windows.net/"
API_VERSION = "2021-12-01"
READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
REPO = Path(__file__).resolve().parent.parent
JsonDict = dict[str, Any]

# Loopback only: never through a proxy the environment may name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fleet_account(fleet: Mapping[str, Any]) -> str:
    """The Automation account the generated fleet's compliant mappings use (cheap: no vaults)."""
    spec = FleetSpec.model_validate({**fleet, "vaults_per_subscription": 0})
    return fleet_automation_account(generate_fleet(spec).subscriptions[0].id)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used, from ``/proc/PID/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """A live process's peak resident set size (``VmHWM``) in MiB; NaN once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return float("nan")
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _memory_mib(pid: int) -> tuple[float, float] | None:
    """(VmHWM, VmRSS) of a live process in MiB; None once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    found = {}
    for line in lines:
        if line.startswith(("VmHWM:", "VmRSS:")):
            found[line[:5]] = int(line.split()[1]) / 1024
    if len(found) < 2:
        return None
    return found["VmHWM"], found["VmRSS"]


def cli_env(base_url: str) -> dict[str, str]:
    """This environment without Azure variables, plus the managed-identity pair of the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_", "MSI_"))}
    env["IDENTITY_ENDPOINT"] = f"{base_url}/msi/token"
    env["IDENTITY_HEADER"] = IDENTITY_HEADER
    env["PYTHONPATH"] = str(REPO)
    return env


def write_config(path: Path, base_url: str, fleet: Mapping[str, Any], **keys: Any) -> Path:
    """An ``enable`` config for every subscription the emulator serves, limits as its own.

    The run's journal (``state_file``) goes beside the config, never under the user's
    ``$XDG_STATE_HOME``: give each run a fresh folder, or the next run resumes this one's
    operations. Preflight (one GET of the fleet's Automation account) and verification (each
    changed vault listed again once its operations end) stay on, as the product's defaults.
    """
    config: JsonDict = {
        "action": "enable",
        "automation_account": fleet_account(fleet),
        "credential": "managed_identity",
        "arm_endpoint": base_url,
        "limits": {"scope": "run", **fleet["limits"]},
        "timeout_minutes": 30,
        "subscriptions": "all",
        "state_file": str(path.parent / "journal.jsonl"),
    }
    config.update(keys)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class EmulatorProcess:
    """The emulator serving ``fleet`` in a child process, stopped (SIGTERM) on exit.

    ``journal_size=None`` runs the product's own command (``python -m orchestrator.emulator``,
    journal of its default size); a number runs this file's launcher with that journal size
    (0: off, for large fleets).
    """

    def __init__(
        self, fleet: Mapping[str, Any], workdir: Path, *, journal_size: int | None = None
    ) -> None:
        self.fleet_path = workdir / "fleet.yaml"
        self.log_path = workdir / "emulator.log"  # its stderr
        self.fleet_path.write_text(yaml.safe_dump(dict(fleet), sort_keys=False))
        self.journal_size = journal_size
        self.base_url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"EmulatorProcess({self.base_url or 'not started'})"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> Self:
        if self.journal_size is None:
            argv = ["-m", "orchestrator.emulator", "--port", "0", "--fleet", str(self.fleet_path)]
        else:
            launcher = [str(Path(__file__).resolve()), "--serve", str(self.fleet_path)]
            argv = [*launcher, "--journal-size", str(self.journal_size)]
        env = {**os.environ, "IDENTITY_HEADER": IDENTITY_HEADER, "PYTHONPATH": str(REPO)}
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, *argv],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        try:
            self.base_url = self._read_url()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_url(self) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        os.set_blocking(self._process.stdout.fileno(), False)
        buffer = b""
        while b"\n" not in buffer:
            if time.monotonic() > deadline or self._process.poll() is not None:
                said = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the emulator did not start: {said}")
            buffer += self._process.stdout.read() or b""
            time.sleep(0.05)
        return buffer.split(b"\n", 1)[0].decode().strip()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def get(self, path: str) -> JsonDict:
        """GET a statistics path (``/_emulator/…``) as JSON."""
        with _OPENER.open(self.base_url + path, timeout=60) as answer:
            body: JsonDict = json.load(answer)
        return body

    def counters(self) -> JsonDict:
        return self.get("/_emulator/counters")

    def journal(self, kind: str | None = None) -> list[JsonDict]:
        entries: list[JsonDict] = self.get(
            "/_emulator/journal" + (f"?kind={kind}" if kind else "")
        )["entries"]
        return entries


@dataclass(frozen=True, slots=True)
class CliRun:
    """What one CLI run cost and left behind."""

    exit_code: int
    wall_s: float
    user_s: float  # the child's own CPU, from wait4
    system_s: float
    max_rss_mib: float  # ru_maxrss from wait4
    vm_hwm_mib: float  # the last VmHWM read from /proc while it ran
    report: JsonDict | None
    log_lines: int
    timed_out: bool
    started: float  # time.monotonic() when the child was spawned
    rss_timeline: tuple[tuple[float, float], ...]  # (seconds since spawn, VmRSS MiB) samples

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.system_s


def run_cli(
    argv: Sequence[str],
    env: Mapping[str, str],
    workdir: Path,
    *,
    timeout_s: float,
    profile: Path | None = None,
    keep_log: Path | None = None,
    entry: Sequence[str] = ("-m", "orchestrator"),
) -> CliRun:
    """Run ``python -m orchestrator ARGV --report R --log-format json`` as a child, bounded.

    stderr (the JSON log) goes to a file, counted and then removed unless ``keep_log`` names
    where to keep it. ``profile`` runs the child under cProfile, writing its stats there.
    ``entry`` replaces ``-m orchestrator`` (a script that wraps the CLI, for experiments).
    """
    report_path = workdir / "report.json"
    report_path.unlink(missing_ok=True)
    log_path = keep_log or workdir / "cli.log"
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile else []
    command = [
        sys.executable,
        *prefix,
        *entry,
        *argv,
        "--report",
        str(report_path),
        "--log-format",
        "json",
        "--no-progress",
    ]
    with log_path.open("wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            command, env=dict(env), stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        status, usage, hwm, timed_out, timeline = _wait_bounded(process, started, timeout_s)
        wall = time.monotonic() - started  # wait4 returned as the child exited
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = sum(1 for _ in log_path.open("rb"))
    if keep_log is None:
        log_path.unlink()
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return CliRun(
        exit_code=process.returncode,
        wall_s=wall,
        user_s=usage.ru_utime,
        system_s=usage.ru_stime,
        max_rss_mib=usage.ru_maxrss / 1024,
        vm_hwm_mib=hwm,
        report=report,
        log_lines=lines,
        timed_out=timed_out,
        started=started,
        rss_timeline=tuple(timeline),
    )


def _wait_bounded(
    process: subprocess.Popen[bytes], started: float, timeout_s: float
) -> tuple[int, Any, float, bool, list[tuple[float, float]]]:
    """Reap the child with a blocking wait4 (its own rusage, and its exit seen at once: the
    wall time is not rounded up to a polling period); a watcher thread reads VmHWM/VmRSS every
    0.1 s meanwhile and ends the child at the timeout (SIGTERM, then SIGKILL)."""
    watched = {"hwm": float("nan"), "timed_out": False}
    timeline: list[tuple[float, float]] = []
    reaped = threading.Event()

    def watch() -> None:
        deadline = started + timeout_s
        while not reaped.wait(0.1):
            memory = _memory_mib(process.pid)
            if memory is not None:
                watched["hwm"] = memory[0]
                timeline.append((time.monotonic() - started, memory[1]))
            if time.monotonic() > deadline and not watched["timed_out"]:
                watched["timed_out"] = True
                process.send_signal(signal.SIGTERM)  # the CLI writes its report on SIGTERM
                deadline = time.monotonic() + STOP_GRACE_S
            elif watched["timed_out"] and time.monotonic() > deadline:
                process.kill()

    watcher = threading.Thread(target=watch, name="watch-cli", daemon=True)
    watcher.start()
    _, status, usage = os.wait4(process.pid, 0)
    reaped.set()
    watcher.join()
    return status, usage, float(watched["hwm"]), bool(watched["timed_out"]), timeline


def machine() -> JsonDict:
    """The machine the figures come from."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "revision": revision(),
    }


def revision() -> str:
    """The checkout's commit, ``+dirty`` when ``orchestrator/`` has uncommitted changes."""
    git = ["git", "-C", str(REPO)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "orchestrator"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def describe_machine() -> str:
    info = machine()
    load = ", ".join(f"{x:g}" for x in info["load_average"])
    return (
        f"machine: nproc {info['nproc']}, {info['cpu_model']}, Python {info['python']}, "
        f"load average {load}; product at {info['revision']}"
    )


async def _serve(fleet_path: str, journal_size: int) -> None:
    """The launcher: serve the fleet until SIGTERM/SIGINT, print the base URL when ready."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = EmulatorServer(load_fleet(fleet_path), journal_size=journal_size)
    async with server:
        print(server.base_url, flush=True)
        await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description="The emulator with a journal of a chosen size.")
    parser.add_argument("--serve", metavar="FLEET.yaml", required=True)
    parser.add_argument("--journal-size", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_serve(args.serve, args.journal_size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
