"""Running a sandbox: both stand-ins on loopback, its control files, detaching and stopping.

Control files live in `<state dir>/sandbox/`: `sandbox.json` (URLs, the sandbox's
own key and token, pid; written once both servers answer, removed on exit),
`sandbox.pid` and, for a detached sandbox, `sandbox.log`. Commands run against the
sandbox keep their link index and ledger in `<state dir>/sandbox/state`, apart
from a real account's (the exports set LINESYNC_STATE_DIR to it).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from linesync_cli.errors import CheckFailed, LinesyncError, UsageError
from linesync_cli.sandbox import KEY_PREFIX, TOKEN_PREFIX
from linesync_cli.sandbox.base import is_loopback_ipv4
from linesync_cli.sandbox.klaviyo import KlaviyoStandIn
from linesync_cli.sandbox.line import LineStandIn
from linesync_cli.sandbox.seed import Seed, SeedSummary
from linesync_cli.state import ensure_dir

DEFAULT_PORT = 8765  # Klaviyo; LINE on the next port
# A marker in the sandbox's working state dir: control files are one level up.
WORKSPACE_MARKER = ".linesync-sandbox-workspace"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
FAULT_STATUSES = (429, 500, 502, 503, 504)


def control_dir(state_dir: Path) -> Path:
    """Where the sandbox's control files are, also when the state dir is the sandbox's workspace."""
    state_dir = Path(state_dir)
    if (state_dir / WORKSPACE_MARKER).is_file():
        return state_dir.parent
    return state_dir / "sandbox"


@dataclass
class SandboxInfo:
    pid: int
    klaviyo_url: str
    line_url: str
    api_key: str  # the sandbox's own key: valid only against this loopback server
    line_token: str
    state_dir: str  # the workspace commands use (LINESYNC_STATE_DIR)
    seed: str
    started_at: str
    faults: float
    latency_ms: int
    log_file: str | None = None
    summary: dict[str, Any] | None = None
    actions_file: str | None = None  # the seed's actions CSV, dated to its days, for `linesync backfill`

    def exports(self) -> list[str]:
        return [
            f"export LINESYNC_KLAVIYO_BASE_URL={self.klaviyo_url} LINESYNC_KLAVIYO_API_KEY={self.api_key} "
            f"LINESYNC_STATE_DIR={_sh(self.state_dir)}",
            f"export LINESYNC_LINE_BASE_URL={self.line_url} LINESYNC_LINE_CHANNEL_ACCESS_TOKEN={self.line_token}",
        ]

    def to_json(self, *, secrets_too: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not secrets_too:
            data.pop("api_key")
            data.pop("line_token")
        return data


def _sh(text: str) -> str:
    import shlex

    return shlex.quote(text)


# -- the running process -----------------------------------------------------------------

@dataclass(frozen=True)
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0: any free ports
    seed_name: str = "demo"
    faults: float = 0.0
    latency_ms: int = 0

    def __post_init__(self) -> None:
        if not is_loopback_ipv4(self.host):
            raise UsageError(f"the sandbox listens on loopback only; {self.host} is not a 127.x.x.x address",
                             hint="drop --host, or give --host 127.0.0.1")
        if not 0.0 <= self.faults <= 1.0:
            raise UsageError(f"--faults {self.faults:g} is not a probability between 0 and 1",
                             hint="e.g. --faults 0.05 makes 5 % of requests fail")
        if self.latency_ms < 0:
            raise UsageError("--latency-ms must be 0 or more")
        if self.port != 0 and not 1 <= self.port <= 65534:
            raise UsageError(f"--port {self.port} is out of range", hint="give 1-65534 (LINE uses the next port), or 0")


class Sandbox:
    """Both stand-ins, seeded, on loopback; `serve_forever` until stopped."""

    def __init__(self, options: SandboxOptions, seed: Seed, state_dir: Path) -> None:
        self.options = options
        self.control = control_dir(state_dir)
        self.workspace = self.control / "state"
        api_key = KEY_PREFIX + secrets.token_hex(12)
        # No spec validation (the specs are not shipped) and no per-request log (it would only grow).
        self.klaviyo = KlaviyoStandIn(api_key, record_bodies=False)
        self.line = LineStandIn(TOKEN_PREFIX + secrets.token_hex(16))
        for server in (self.klaviyo, self.line):
            server.record_requests = False
        self.seed = seed
        self.summary: SeedSummary | None = None
        self.info: SandboxInfo | None = None
        # A plain flag, not a threading.Event: Event.set() from a signal handler deadlocks when the
        # signal lands while the main thread holds the Event's lock inside wait() (measured: 7 hangs
        # in 200 SIGTERMs on a tight wait loop; CI once saw `sandbox stop` time out on it).
        self._stopping = False
        self._previous_signals: dict[signal.Signals, Any] = {}

    def start(self) -> SandboxInfo:
        running = read_running(self.control)
        if running is not None:
            raise UsageError(f"a sandbox is already running for this state directory (pid {running.pid}, "
                             f"{running.klaviyo_url})",
                             hint="`linesync sandbox env` prints its exports; `linesync sandbox stop` stops it")
        self.summary = self.seed(self.klaviyo, self.line, datetime.now(UTC))
        opts = self.options
        self._listen(self.klaviyo, opts.port)
        try:
            self._listen(self.line, opts.port + 1 if opts.port else 0)
        except LinesyncError:
            self.klaviyo.stop()
            raise
        for server in (self.klaviyo, self.line):
            if opts.faults:
                server.inject_fault_rate(opts.faults, seed=0, statuses=FAULT_STATUSES, drop_share=1 / 3)
            if opts.latency_ms:
                server.set_delay(opts.latency_ms / 1000)
        if threading.current_thread() is threading.main_thread():
            # From before the control files exist: `linesync sandbox stop` may come at once.
            # SIGHUP (the terminal closed) stops it the same way, so no stale files are left.
            self._previous_signals = {sig: signal.signal(sig, self._on_stop_signal)
                                      for sig in (signal.SIGTERM, signal.SIGHUP)}
        ensure_dir(self.workspace)  # it is the demo's state dir: owner-only like any state dir
        (self.workspace / WORKSPACE_MARKER).write_text("linesync sandbox workspace: control files are in ..\n")
        actions_file = None
        if self.summary.actions_csv is not None:
            actions_file = self.workspace / "sandbox-actions.csv"
            actions_file.write_text(self.summary.actions_csv, encoding="utf-8")
        self.info = SandboxInfo(
            pid=os.getpid(), klaviyo_url=self.klaviyo.base_url, line_url=self.line.base_url,
            api_key=self.klaviyo.api_key, line_token=self.line.token, state_dir=str(self.workspace),
            seed=opts.seed_name, started_at=datetime.now(UTC).isoformat(timespec="seconds"), faults=opts.faults,
            latency_ms=opts.latency_ms, summary=self.summary.to_json(),
            actions_file=str(actions_file) if actions_file else None,
        )
        _write_private(self.control / "sandbox.json", json.dumps(self.info.to_json(secrets_too=True), indent=2))
        _write_private(self.control / "sandbox.pid", f"{os.getpid()}\n")
        return self.info

    def _listen(self, server, port: int) -> None:
        try:
            server.start(self.options.host, port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} on {self.options.host} is in use",
                                 hint="give another --port (the sandbox uses it and the next one), or --port 0 "
                                 "for free ones") from None
            raise UsageError(f"cannot listen on {self.options.host}:{port}: {exc.strerror or exc}") from None

    def _on_stop_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def serve_forever(self) -> None:
        """Until Ctrl-C (KeyboardInterrupt, re-raised) or SIGTERM (`linesync sandbox stop`)."""
        while not self._stopping:
            time.sleep(0.05)  # a signal interrupts the sleep and its handler runs at once

    def close(self) -> None:
        for sig, handler in self._previous_signals.items():
            signal.signal(sig, handler)
        self._previous_signals = {}
        self.klaviyo.stop()
        self.line.stop()
        info = _read_info(self.control)
        if info is not None and info.pid == os.getpid():
            for name in ("sandbox.json", "sandbox.pid"):
                (self.control / name).unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


# -- control from other processes --------------------------------------------------------

def _read_info(control: Path) -> SandboxInfo | None:
    try:
        data = json.loads((control / "sandbox.json").read_text(encoding="utf-8"))
        return SandboxInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_running(control: Path) -> SandboxInfo | None:
    """The running sandbox of this control dir; None when none runs (a stale file is ignored)."""
    info = _read_info(control)
    if info is None or not _alive(info.pid):
        return None
    return info


def require_running(state_dir: Path) -> SandboxInfo:
    info = read_running(control_dir(state_dir))
    if info is None:
        raise CheckFailed("no sandbox is running for this state directory",
                          hint="start one with `linesync sandbox start --detach`")
    return info


def answering(url: str, timeout: float = 1.0) -> bool:
    """Does something accept connections at this http://host:port URL (no request is sent)?"""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return True
    except OSError:
        return False


def detach(argv: list[str], state_dir: Path) -> SandboxInfo:
    """Start `linesync sandbox start ARGV` as a background process; return once it serves."""
    control = control_dir(state_dir)
    running = read_running(control)
    if running is not None:
        raise UsageError(f"a sandbox is already running for this state directory (pid {running.pid}, "
                         f"{running.klaviyo_url})",
                         hint="`linesync sandbox env` prints its exports; `linesync sandbox stop` stops it")
    control.mkdir(parents=True, exist_ok=True)
    log = control / "sandbox.log"
    command = [sys.executable, "-m", "linesync_cli", "--state-dir", str(state_dir), "sandbox", "start", *argv]
    with open(log, "wb") as out:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            raise _child_failure(log, code)
        info = _read_info(control)
        if info is not None and info.pid == child.pid:
            info.log_file = str(log)
            _write_private(control / "sandbox.json", json.dumps(info.to_json(secrets_too=True), indent=2))
            return info
        time.sleep(0.05)
    child.terminate()
    raise LinesyncError(f"the sandbox did not start within {READY_TIMEOUT:.0f} s", hint=f"see {log}")


def _child_failure(log: Path, code: int) -> LinesyncError:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    hints = [line.removeprefix("hint: ") for line in lines if line.startswith("hint: ")]
    error = LinesyncError(errors[-1] if errors else f"the sandbox exited with code {code} before serving",
                          hints[-1] if hints else f"see {log}")
    from linesync_cli.errors import ExitCode

    error.exit_code = ExitCode(code) if code in {c.value for c in ExitCode} else ExitCode.FAILED
    return error


def stop(state_dir: Path) -> SandboxInfo | None:
    """Stop the running sandbox (SIGTERM, then wait); None when none was running."""
    control = control_dir(state_dir)
    info = read_running(control)
    if info is None:
        for name in ("sandbox.json", "sandbox.pid"):
            (control / name).unlink(missing_ok=True)  # stale files of a sandbox that died
        return None
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and _alive(info.pid) and _read_info(control) is not None:
        time.sleep(0.05)
    if _read_info(control) is not None and _alive(info.pid):
        raise LinesyncError(f"the sandbox (pid {info.pid}) did not stop within {STOP_TIMEOUT:.0f} s",
                            hint=f"kill {info.pid}")
    return info
