"""Run SIPp (a real SIP peer) against the appliance and keep what it says about failures.

SIPp exits 0 when every call passed, 1 when at least one failed, 99 when no call was
processed and -1/255 on a fatal error. The scenarios under ``tests/sipp/`` check the
recorder's answers themselves (``ereg check_it="true"``), so a wrong answer is a
failed call and a non-zero exit code; :meth:`SippResult.explain` gathers the logs
for the assertion message.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.daemon import free_port

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"


def sipp_available() -> bool:
    return Path(SIPP).is_file()


@dataclass
class SippResult:
    argv: list[str]
    returncode: int
    elapsed: float
    stdout: str
    stderr: str
    error_log: str
    message_log: str
    scenario_log: str = ""  # what the scenario's <log> actions wrote
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def explain(self, limit: int = 6000) -> str:
        """Everything useful for an assertion message, the error log first."""
        parts = [
            f"sipp exit {self.returncode}{' (killed: timeout)' if self.timed_out else ''}"
            f" after {self.elapsed:.1f}s",
            "argv: " + " ".join(self.argv),
            "--- error log ---",
            self.error_log[-limit:],
            "--- scenario log (tail) ---",
            self.scenario_log[-limit // 2 :],
            "--- stderr ---",
            self.stderr[-limit:],
            "--- stdout (tail) ---",
            self.stdout[-limit // 2 :],
        ]
        if self.message_log:
            parts += ["--- message trace (tail) ---", self.message_log[-limit:]]
        return "\n".join(parts)


@dataclass
class Sipp:
    """One SIPp UAC run, prepared by :func:`sipp_command`; started by :meth:`start`."""

    argv: list[str]
    workdir: Path
    timeout: float
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)

    def start(self) -> Sipp:
        self.started = time.monotonic()
        with self.files["stdout"].open("wb") as out, self.files["stderr"].open("wb") as err:
            self.process = subprocess.Popen(
                self.argv, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self) -> SippResult:
        assert self.process is not None, "start() first"
        remaining = max(1.0, self.timeout - (time.monotonic() - self.started))
        timed_out = False
        try:
            self.process.wait(remaining)
        except subprocess.TimeoutExpired:
            timed_out = True
            self.process.kill()
            self.process.wait()
        return SippResult(
            argv=self.argv,
            returncode=self.process.returncode,
            elapsed=time.monotonic() - self.started,
            stdout=_read(self.files["stdout"]),
            stderr=_read(self.files["stderr"]),
            error_log=_read(self.files["errors"]),
            message_log=_read(self.files["messages"]),
            scenario_log=_read(self.files["log"]),
            timed_out=timed_out,
        )

    def run(self) -> SippResult:
        return self.start().wait()


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def sipp_command(
    scenario: str,
    target_port: int,
    workdir: Path,
    *,
    transport: str = "u1",
    calls: int = 1,
    limit: int | None = None,
    rate: float = 10,
    rate_period_ms: int = 1000,
    duration_ms: int = 200,
    recv_timeout_ms: int = 5000,
    timeout: float = 30.0,
    variables: dict[str, str] | None = None,
    trace_messages: bool = False,
    service: str = "srs",
    extra: list[str] | None = None,
) -> Sipp:
    """Build (not start) a SIPp UAC run of ``tests/sipp/<scenario>`` toward 127.0.0.1.

    ``transport`` is SIPp's ``-t`` (``u1`` one UDP socket, ``t1`` one TCP connection).
    ``timeout`` bounds the run twice: SIPp's own ``-timeout`` (an error when reached)
    and a kill a few seconds later in :meth:`Sipp.wait`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    name = Path(scenario).stem
    files = {
        "stdout": workdir / f"{name}.stdout",
        "stderr": workdir / f"{name}.stderr",
        "errors": workdir / f"{name}_errors.log",
        "messages": workdir / f"{name}_messages.log",
        "log": workdir / f"{name}_logs.log",
    }
    argv = [
        SIPP,
        f"127.0.0.1:{target_port}",
        "-sf", str(SCENARIOS / scenario),
        "-i", "127.0.0.1",
        "-p", str(free_port()),
        "-mp", str(free_port()),
        "-t", transport,
        "-s", service,
        "-m", str(calls),
        "-l", str(limit if limit is not None else calls),
        "-r", str(rate),
        "-rp", str(rate_period_ms),
        "-d", str(duration_ms),
        "-recv_timeout", str(recv_timeout_ms),
        "-timeout", f"{int(timeout)}s",
        "-timeout_error",
        "-max_retrans", "3",
        "-nostdin",
        "-trace_err", "-error_file", str(files["errors"]),
        "-trace_logs", "-log_file", str(files["log"]),
    ]  # fmt: skip
    if trace_messages:
        argv += ["-trace_msg", "-message_file", str(files["messages"])]
    for key, value in (variables or {}).items():
        argv += ["-set", key, value]
    argv += extra or []
    return Sipp(argv, workdir, timeout + 5.0, files=files)


def run_sipp(scenario: str, target_port: int, workdir: Path, **options: object) -> SippResult:
    """Run SIPp to the end (bounded) and return its exit code and logs."""
    return sipp_command(scenario, target_port, workdir, **options).run()  # type: ignore[arg-type]
