"""Running the real CLI against loopback servers, once per test session, all side by side.

A test module declares its CLI runs as jobs (`declare`, at import); the first test that needs
any module's runs (`runs_of`) starts every declared job of the session — one event loop, one
server and one CLI subprocess each — so the waiting of one run (its deadline, a backoff)
overlaps the work of the others. Each job leaves plain JSON: its exit code, stdout, stderr,
report and what its server saw. Under pytest-xdist the tests of one module may land on both
workers; the first worker to need a run does them all and the other reads their JSON (a file
lock in the session's shared temporary directory), so each CLI run happens once per session.

Starting a CLI costs about a second of CPU (its imports), mostly before it sends anything.
Started all at once on two cores, every run would wait for every other's imports; so at most
`STARTING` CLIs start at a time (until each writes its first line on stderr), the sets that
run longest first.

Every CLI runs under a tiny wrapper that waits for it and writes its peak resident memory and
its CPU time (``getrusage(RUSAGE_CHILDREN)``: that child alone) to a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import json
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import IDENTITY_HEADER, CliRun, cli_env
from cli_support import write_config as write_emulator_config
from loopback import ACCOUNT, HostileArm, Observed
from report_schema import report_validator
from scenarios import QUICK, Outcome, Scenario

from orchestrator.emulator import EmulatorServer, FleetSpec

CLI_TIMEOUT = 60.0
STARTING = 2  # CLIs importing at once: one per core
# Runs the CLI as a child, then writes that child's peak RSS (KiB) and CPU seconds to argv[1].
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{use.ru_maxrss} {use.ru_utime + use.ru_stime:.3f}')\n"
    "sys.exit(code)\n"
)
_STARTING: contextvars.ContextVar[asyncio.Semaphore | None] = contextvars.ContextVar(
    "starting", default=None
)

Job = Callable[[Path], Awaitable[dict[str, Any]]]


# --- one CLI run ---------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without Azure, identity or proxy settings, plus ``extra``."""
    dropped = ("AZURE_", "IDENTITY_", "MSI_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}
    env.update(extra)
    return env


@dataclass(frozen=True)
class Finished:
    """How one CLI process ended: exit code, output, peak RSS (KiB), CPU seconds."""

    exit_code: int
    stdout: str
    stderr: str
    max_rss_kib: int
    cpu_seconds: float


async def run_cli(argv: Sequence[str], env: Mapping[str, str], directory: Path) -> Finished:
    """``python -m orchestrator ARGV`` under the measuring wrapper. Killed after CLI_TIMEOUT."""
    usage = directory / "usage"
    command = [sys.executable, "-S", "-c", _WRAPPER, str(usage)]
    command += [sys.executable, "-m", "orchestrator", *argv]
    gate = _STARTING.get()
    async with gate if gate is not None else contextlib.nullcontext():
        proc = await asyncio.create_subprocess_exec(
            *command,
            env=dict(env),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        out = asyncio.ensure_future(proc.stdout.read())
        first = b""
        with contextlib.suppress(ValueError):  # a first line past the reader's limit: read on
            first = await proc.stderr.readline()  # its imports are done (or it has ended)
    try:
        async with asyncio.timeout(CLI_TIMEOUT):
            err = first + await proc.stderr.read()
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise AssertionError(f"the CLI did not end within {CLI_TIMEOUT} s: {argv}") from None
    assert proc.returncode is not None
    rss, cpu = usage.read_text().split()
    return Finished(
        proc.returncode,
        (await out).decode(errors="replace"),
        err.decode(errors="replace"),
        int(rss),
        float(cpu),
    )


def write_config(directory: Path, server: HostileArm, **keys: Any) -> Path:
    """An apply config aimed at ``server``: its endpoint, managed identity, every vault of it."""
    config: dict[str, Any] = {
        "action": "enable",
        "automation_account": ACCOUNT,
        "credential": "managed_identity",
        "arm_endpoint": server.base_url,
        "timeout_minutes": 0.1,
        "vaults": [server.vault_id(name) for name in server.vaults],
        **keys,
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in config.items() if v is not ...}))
    return path


async def against(
    directory: Path,
    server: HostileArm,
    *,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | Callable[[HostileArm], Mapping[str, str]] | None = None,
    log_format: str = "json",
    log_level: str = "info",
    report_to_file: bool = True,
) -> dict[str, Any]:
    """Start ``server``, ``apply`` a config aimed at it (``config`` keys on top; ``...`` drops
    one), stop it; returns the run as JSON (see `CliOutcome`).

    The CLI's environment holds only the managed-identity pair for ``server`` (``env`` on top,
    or ``env(server)`` once it listens), and its journal goes under ``directory``.
    """
    await server.start()
    try:
        path = write_config(directory, server, **(config or {}))
        report = directory / "report.json"
        argv = ["apply", str(path), "--log-format", log_format, "--log-level", log_level]
        argv += ["--report", str(report)] if report_to_file else ["--report", "-"]
        base = {
            "IDENTITY_ENDPOINT": server.token_endpoint,
            "IDENTITY_HEADER": server.identity_header,
            "XDG_STATE_HOME": str(directory / "state"),
        }
        extra = env(server) if callable(env) else env or {}
        done = await run_cli(argv, clean_env(**{**base, **extra}), directory)
    finally:
        await server.stop()
    text = report.read_text() if report_to_file and report.exists() else done.stdout
    return {
        "exit_code": done.exit_code,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "report_text": text if report_to_file and report.exists() else None,
        "report": _parse_report(text),
        "observed": server.observed().to_json(),
        "max_rss_kib": done.max_rss_kib,
        "cpu_seconds": done.cpu_seconds,
    }


async def emulated(directory: Path, scenario: Scenario) -> Outcome:
    """`scenarios.run_scenario`, through `run_cli`: the emulator, the CLI against it, stopped."""
    spec = FleetSpec.model_validate({**QUICK, **scenario.spec})
    server = EmulatorServer(spec, identity_header=IDENTITY_HEADER, port=scenario.port)
    await server.start()
    try:
        keys = {"action": "enable", "subscriptions": "all", **scenario.config}
        config = write_emulator_config(directory / "config.yaml", server, **keys)
        report = directory / "report.json"
        argv = [
            scenario.command, str(config), "--report", str(report),
            "--log-format", scenario.log_format, "--log-level", scenario.log_level,
        ]  # fmt: skip
        env = cli_env(server, XDG_STATE_HOME=str(directory / "state"), **scenario.env)
        done = await run_cli(argv, env, directory)
    finally:
        await server.stop()
    loaded = _parse_report(report.read_text()) if report.exists() else None
    return Outcome(server, CliRun(done.exit_code, done.stdout, done.stderr, loaded), directory)


def _parse_report(text: str) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        loaded = json.loads(text)
        return loaded if isinstance(loaded, dict) else None
    return None


@dataclass(frozen=True)
class CliOutcome:
    """One CLI run against a `HostileArm`, read back from its JSON."""

    data: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return int(self.data["exit_code"])

    @property
    def stdout(self) -> str:
        return str(self.data["stdout"])

    @property
    def stderr(self) -> str:
        return str(self.data["stderr"])

    @property
    def observed(self) -> Observed:
        if "_observed" not in self.data:  # read once: the JSON is shared by every test
            self.data["_observed"] = Observed.from_json(self.data["observed"])
        observed: Observed = self.data["_observed"]
        return observed

    @property
    def report(self) -> dict[str, Any]:
        """The report (file, else stdout), checked against the shipped schema (once)."""
        report = self.data["report"]
        assert report is not None, f"no report; exit {self.exit_code}:\n{self.stderr[-3000:]}"
        if "_schema_problems" not in self.data:
            self.data["_schema_problems"] = [
                f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in report_validator().iter_errors(report)
            ]
        problems = self.data["_schema_problems"]
        assert not problems, "the report breaks its schema:\n" + "\n".join(problems[:5])
        return dict(report)

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines on stderr."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]

    def vault(self, name: str) -> dict[str, Any]:
        wanted = self.observed.vault_ids[name].lower()
        (vault,) = [v for v in self.report["vaults"] if v["id"].lower() == wanted]
        return dict(vault)

    def mapping(self, vault: str, name: str = "m1") -> dict[str, Any]:
        (mapping,) = [m for m in self.vault(vault)["mappings"] if m["id"].endswith(f"/{name}")]
        return dict(mapping)

    def everything_written(self) -> dict[str, str]:
        """stdout, stderr and the report file (when one was written): where secrets must not be."""
        written = {"stdout": self.stdout, "stderr": self.stderr}
        if self.data.get("report_text") is not None:
            written["report file"] = self.data["report_text"]
        return written


# --- every run of the session, once --------------------------------------------------------


@dataclass(frozen=True)
class JobSet:
    """A module's runs: ``make()`` builds the jobs when they start; ``seconds``, about how long
    each takes once started (the longest start first)."""

    make: Callable[[], Mapping[str, Job]]
    seconds: Mapping[str, float]


_DECLARED: dict[str, JobSet] = {}  # every module's runs, by module, as collected


def declare(name: str, make: Callable[[], Mapping[str, Job]], **seconds: float) -> None:
    """Declare a module's runs (call at import): ``make`` builds them when they start;
    ``seconds``, by job name, about how long each takes (default 1)."""
    _DECLARED[name] = JobSet(make, seconds)


def run_all(directory: Path, jobs: Mapping[str, Job]) -> dict[str, Any]:
    """The jobs side by side in a fresh event loop, in their order, at most `STARTING` CLIs
    starting at a time; a job that raised leaves ``{"__error__": traceback}``."""

    async def one(name: str, job: Job) -> Any:
        place = directory / name
        place.mkdir(parents=True, exist_ok=True)
        try:
            return await job(place)
        except Exception:
            return {"__error__": traceback.format_exc()}

    async def every() -> list[Any]:
        _STARTING.set(asyncio.Semaphore(STARTING))
        return await asyncio.gather(*(one(name, job) for name, job in jobs.items()))

    return dict(zip(jobs, asyncio.run(every()), strict=True))


class Runs:
    """Each job's JSON by name; a job that raised fails the test that reads it."""

    def __init__(self, results: Mapping[str, Any]) -> None:
        self._results = dict(results)

    def __getitem__(self, name: str) -> Any:
        result = self._results[name]
        if isinstance(result, dict) and "__error__" in result:
            raise AssertionError(f"run {name!r} raised:\n{result['__error__']}")
        return result

    def cli(self, name: str) -> CliOutcome:
        return CliOutcome(self[name])


def runs_of(factory: pytest.TempPathFactory, name: str) -> Runs:
    """The runs ``name`` declared: every declared run of the session is done at the first call,
    once, even when xdist spreads the modules over workers."""
    xdist = "PYTEST_XDIST_WORKER" in os.environ
    root = (factory.getbasetemp().parent if xdist else factory.getbasetemp()) / "cli-runs"
    root.mkdir(exist_ok=True)
    with _locked(root / "runs.lock"):
        if not (root / f"{name}.json").exists():
            pending = {n: s for n, s in _DECLARED.items() if not (root / f"{n}.json").exists()}
            for set_name, done in _run_sets(root, pending).items():
                partial = root / f"{set_name}.partial"
                partial.write_text(json.dumps(done))
                partial.replace(root / f"{set_name}.json")
        return Runs(json.loads((root / f"{name}.json").read_text()))


def _run_sets(root: Path, sets: Mapping[str, JobSet]) -> dict[str, dict[str, Any]]:
    """Every job of every set side by side, the longest first; results by set and job."""
    jobs = {
        f"{set_name}/{name}": job for set_name, s in sets.items() for name, job in s.make().items()
    }

    def seconds(key: str) -> float:
        set_name, name = key.split("/", 1)
        return sets[set_name].seconds.get(name, 1.0)

    done = run_all(root, {key: jobs[key] for key in sorted(jobs, key=seconds, reverse=True)})
    results: dict[str, dict[str, Any]] = {set_name: {} for set_name in sets}
    for key, result in done.items():
        set_name, name = key.split("/", 1)
        results[set_name][name] = result
    return results


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
