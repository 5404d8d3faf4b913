"""The loopback HTTP server under the Klaviyo and LINE stand-ins.

A `ThreadingHTTPServer` on 127.0.0.1 (port 0) in a background thread. Every request
is read whole, recorded, checked by the optional `validator` hook (the tests plug in
the official-spec check; a violation is recorded, not raised, so the server still
answers like the real API would), then scripted faults get their turn before the
stand-in's own routes.
"""

from __future__ import annotations

import ipaddress
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

# validator(method, url, headers, body): raises AssertionError when a request breaks the contract.
Validator = Callable[[str, str, Mapping[str, str], bytes], Any]


@dataclass
class Incoming:
    method: str
    path: str  # without the query, trailing slash kept as sent
    query: dict[str, list[str]]
    headers: httpx.Headers  # case-insensitive
    raw: bytes
    url: str  # full URL as the client addressed it

    @property
    def route_path(self) -> str:
        return self.path.rstrip("/") or "/"

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class RecordedRequest:
    """One request as the stand-in saw it (headers include credentials: keep in memory only)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: httpx.Headers
    body: Any  # parsed JSON, a form dict, raw text, or None
    op: str | None = None
    status: int | None = None  # None when the connection was dropped
    dropped: bool = False
    processed: bool = False  # the stand-in acted on it (state may have changed)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"

    @classmethod
    def json(cls, status: int, document: Any, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(document, ensure_ascii=False).encode(), dict(headers or {}), content_type)


class Drop:
    """Close the connection without an answer (after optionally processing the request)."""

    def __init__(self, process: bool) -> None:
        self.process = process


@dataclass
class Fault:
    kind: str  # "status" | "drop" | "reply"
    remaining: int
    path_prefix: str | None
    status: int = 503
    reply: Reply | None = None
    process_before_drop: bool = False

    def matches(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the clients reuse connections
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus delayed
    # ACKs cost ~40 ms per answer.
    disable_nagle_algorithm = True
    server: _Server

    def _handle(self) -> None:
        self.server.standin._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: StandInServer


def is_loopback_ipv4(host: str) -> bool:
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


class StandInServer:
    """Start/stop, recording, contract checks and scripted faults shared by both stand-ins."""

    service = "API"

    def __init__(self, *, validator: Validator | None = None, record_bodies: bool = True, seed: int = 0,
                 validate_every: int = 1) -> None:
        # validator: checks each request (the tests pass the official-spec check; the specs are not shipped).
        # validate_every=N checks the first and every Nth request of each operation:
        # a 1,000-event bulk body takes ~0.2 s to validate, too slow for throughput benchmarks.
        self.validator = validator
        self.validate_every = max(1, validate_every)
        self._seen_per_op: Counter[str] = Counter()
        self.record_bodies = record_bodies
        self.record_requests = True  # False: keep no per-request log (a long-running sandbox)
        self.requests: list[RecordedRequest] = []
        self.contract_violations: list[str] = []
        self.served: Counter[str] = Counter()  # answered per operation
        self.delay: float = 0.0  # seconds before every answer (e.g. to provoke client timeouts)
        self.delay_prefix: str | None = None
        self._faults: list[Fault] = []
        self._fault_rate = 0.0
        self._fault_rng = random.Random(seed)
        self._fault_statuses: tuple[int, ...] = (500, 502, 503, 504)
        self._fault_drop_share = 0.5
        self._fault_processed_share = 0.5
        self.lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> StandInServer:
        """Listen on host:port (port 0: any free port). Loopback only: this is no API to expose."""
        if not is_loopback_ipv4(host):
            raise ValueError(f"the stand-in listens on IPv4 loopback only (127.0.0.0/8), not {host}")
        server = _Server((host, port), _Handler)
        server.standin = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=f"{self.service}-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "stand-in not started"
        return self._server.server_address[1]

    @property
    def host(self) -> str:
        assert self._server is not None, "stand-in not started"
        return str(self._server.server_address[0])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- scripted faults ----------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 503, path_prefix: str | None = None) -> None:
        """The next n matching requests get `status` with an error body; nothing is processed."""
        with self.lock:
            self._faults.append(Fault("status", n, path_prefix, status=status))

    def drop_next(self, n: int = 1, path_prefix: str | None = None, *, process_before_drop: bool = False) -> None:
        """Close the connection on the next n matching requests after reading them.

        process_before_drop=True acts on the request first (state changes, then the
        answer is lost, like a timeout after Klaviyo accepted a batch).
        """
        with self.lock:
            self._faults.append(Fault("drop", n, path_prefix, process_before_drop=process_before_drop))

    def respond_next(self, path_prefix: str | None, status: int, body: Any = None, *,
                     headers: dict[str, str] | None = None, content_type: str | None = "application/json",
                     n: int = 1) -> None:
        """Answer the next n matching requests with exactly this (bytes/str as is, else JSON)."""
        if isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        elif body is None:
            raw = b""
        else:
            raw = json.dumps(body).encode()
        with self.lock:
            self._faults.append(Fault("reply", n, path_prefix, status=status,
                                      reply=Reply(status, raw, dict(headers or {}), content_type)))

    def inject_fault_rate(self, rate: float, seed: int = 0, *, statuses: tuple[int, ...] = (500, 502, 503, 504),
                          drop_share: float = 0.5, processed_share: float = 0.5) -> None:
        """From now on a `rate` fraction of requests fail at random (reproducible with `seed`).

        Of the faults, `drop_share` are dropped connections (of which `processed_share`
        were processed before the drop); the rest answer one of `statuses`.
        """
        with self.lock:
            self._fault_rate = rate
            self._fault_rng = random.Random(seed)
            self._fault_statuses = statuses
            self._fault_drop_share = drop_share
            self._fault_processed_share = processed_share

    def set_delay(self, seconds: float, path_prefix: str | None = None) -> None:
        self.delay, self.delay_prefix = seconds, path_prefix

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._fault_rate = 0.0
            self.delay = 0.0

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
            if self._fault_rate and self._fault_rng.random() < self._fault_rate:
                if self._fault_rng.random() < self._fault_drop_share:
                    return Fault("drop", 1, None,
                                 process_before_drop=self._fault_rng.random() < self._fault_processed_share)
                return Fault("status", 1, None, status=self._fault_rng.choice(self._fault_statuses))
        return None

    # -- hooks ------------------------------------------------------------------------
    def operation_for(self, req: Incoming) -> str | None:
        return None

    def check_contract(self, req: Incoming) -> None:
        """Raise AssertionError when the request breaks the contract `validator` checks."""
        if self.validator is not None:
            self.validator(req.method, req.url, req.headers, req.raw)

    def fault_reply(self, status: int) -> Reply:
        return Reply.json(status, {"message": f"stand-in fault {status}"})

    def answer(self, req: Incoming, record: RecordedRequest) -> Reply:
        raise NotImplementedError

    # -- the request path ---------------------------------------------------------------
    def _parse_body(self, req: Incoming) -> Any:
        if not req.raw:
            return None
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        text = req.raw.decode("utf-8", errors="replace")
        if ctype.endswith("json"):
            try:
                return json.loads(text)
            except ValueError:
                return text
        if ctype == "application/x-www-form-urlencoded":
            return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
        return text

    def _serve(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        headers = httpx.Headers(list(handler.headers.items()))
        host = headers.get("host", f"{self.host}:{self.port}")
        req = Incoming(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            raw=raw,
            url=f"http://{host}{handler.path}",
        )
        op = self.operation_for(req)
        record = RecordedRequest(req.method, req.path, req.query, headers,
                                 self._parse_body(req) if self.record_bodies else None, op=op)
        if self.record_requests:
            with self.lock:
                self.requests.append(record)
        if len(raw) < length:
            # The client went away mid-upload (e.g. a process killed with SIGKILL): no whole
            # request reached the API, so there is nothing to check against the spec or act on.
            record.dropped = True
            handler.close_connection = True
            return
        with self.lock:
            self._seen_per_op[op or ""] += 1
            check = self.validator is not None and (self._seen_per_op[op or ""] - 1) % self.validate_every == 0
        if check:
            try:
                self.check_contract(req)
            except AssertionError as exc:
                with self.lock:
                    self.contract_violations.append(str(exc))
        if self.delay and (self.delay_prefix is None or req.path.startswith(self.delay_prefix)):
            time.sleep(self.delay)
        fault = self._take_fault(req.path)
        if fault is None:
            outcome: Reply | Drop = self.answer(req, record)
        elif fault.kind == "drop":
            if fault.process_before_drop:
                self.answer(req, record)
            outcome = Drop(fault.process_before_drop)
        elif fault.kind == "reply":
            assert fault.reply is not None
            outcome = fault.reply
        else:
            outcome = self.fault_reply(fault.status)
        if isinstance(outcome, Drop):
            record.dropped, record.status = True, None
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        record.status = outcome.status
        if outcome.status < 400 and op:
            with self.lock:
                self.served[op] += 1
        self._write(handler, outcome)

    @staticmethod
    def _write(handler: _Handler, reply: Reply) -> None:
        handler.send_response(reply.status)
        if reply.content_type and reply.body:
            handler.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        if reply.body and handler.command != "HEAD":
            handler.wfile.write(reply.body)

    # -- queries for tests -------------------------------------------------------------
    def requests_for(self, op: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.op == op]

