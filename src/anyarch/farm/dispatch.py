"""Running a multi-platform build on a builder's nodes.

:func:`probe` asks every node (in parallel, with a short connect timeout)
what it can build; nodes that do not answer are skipped with a warning.
:func:`plan` is the pure scheduler applied to what the probes found.
:func:`execute` then, per node and all nodes in parallel:

1. syncs the build context to the node (once per node, only missing files),
   at the start of the node's first ``farm-node build`` session;
2. runs ``anyarch farm-node build`` there, which runs one ``anyarch build
   --platform P1,P2 --metadata-file … --progress json`` into the node's store
   for all the node's platforms (stages and layers they share are built and
   sent once) and streams its progress back, framed, over the same connection;
3. asks the node for exactly the blobs the coordinator's store lacks and
   stores them as they arrive, verified (or, with node-push, the node pushes
   the images by digest itself and only their descriptors come back).

A node that dies mid-build (its stream is cut) has its platforms rebuilt once
on other capable nodes; a build that *fails* (a RUN step exits non-zero) is
not retried — it would fail anywhere.  Without ``keep_going`` the first
failure cancels the rest; with it, the platforms that succeeded are kept.
Finally the per-platform manifests are assembled into one OCI index in the
store, and the metadata records which node built each platform.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, cast

from anyarch.errors import AnyarchError, BuildError, FarmError, NodeError
from anyarch.farm import protocol
from anyarch.farm.config import BuilderConfig, FarmConfig
from anyarch.farm.context_sync import ContextSpec, SyncCut, SyncResult, send_context
from anyarch.farm.index import assemble_index, check_complete, missing_blobs, store_index
from anyarch.farm.nodes import NodeInfo, NodeSession, drain_stderr
from anyarch.farm.scheduler import Mode, Placement, Plan, normalize_platforms, schedule
from anyarch.farm.ssh import DEFAULT_CONNECT_TIMEOUT
from anyarch.farm.transport import Completed
from anyarch.oci import Descriptor, Digest, mediatype
from anyarch.store import Store

MAX_ATTEMPTS = 2


class Reporter(Protocol):
    """Where the farm reports what happens (the CLI renders it)."""

    def warning(self, message: str) -> None: ...

    def status(self, platform: str, node: str, status: str) -> None: ...

    def event(self, platform: str, node: str, event: dict[str, Any]) -> None: ...


class QuietReporter:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def status(self, platform: str, node: str, status: str) -> None:
        return None

    def event(self, platform: str, node: str, event: dict[str, Any]) -> None:
        return None


@dataclass(frozen=True, slots=True)
class FarmRequest:
    """What to build and how."""

    platforms: tuple[str, ...]
    context: ContextSpec
    build_args: tuple[str, ...] = ()  # forwarded verbatim to `anyarch build` on each node
    require_native: bool = False
    keep_going: bool = False
    node_push: tuple[str, ...] = ()  # repositories nodes push to by digest (empty: relay)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT


@dataclass
class Attempt:
    node: str
    mode: str
    status: str = "running"  # running | done | failed | lost | cancelled
    error: str = ""
    seconds: float = 0.0


@dataclass
class PlatformResult:
    """How one platform went."""

    platform: str
    placement: Placement
    status: str = "pending"  # done | failed | cancelled
    image: Descriptor | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # wall time on the coordinator: context, build, transfer, retries
    build_seconds: float = 0.0  # the node's `anyarch build` alone
    attempts: list[Attempt] = field(default_factory=list)
    error: AnyarchError | None = None
    pushed: list[str] = field(default_factory=list)

    @property
    def node(self) -> str:
        return self.placement.node

    @property
    def mode(self) -> Mode:
        return self.placement.mode

    def to_json(self, endpoints: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "node": self.node,
            "endpoint": endpoints.get(self.node, ""),
            "mode": self.mode.value,
            "pinned": self.placement.pinned,
            "reason": self.placement.reason,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "build_seconds": round(self.build_seconds, 3),
            "attempts": [
                {
                    "node": a.node,
                    "mode": a.mode,
                    "status": a.status,
                    "error": a.error,
                    "seconds": round(a.seconds, 3),
                }
                for a in self.attempts
            ],
        }
        if self.image is not None:
            out["digest"] = str(self.image.digest)
            out["descriptor"] = self.image.to_json()
        if self.error is not None:
            out["error"] = self.error.message
        if self.pushed:
            out["pushed"] = self.pushed
        if self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass
class FarmResult:
    """The outcome of a farm build."""

    builder: str
    plan: Plan
    nodes: list[NodeInfo]
    results: list[PlatformResult]
    index: Descriptor | None = None
    index_raw: bytes | None = None
    syncs: dict[str, SyncResult] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[PlatformResult]:
        return [r for r in self.results if r.status != "done"]

    @property
    def succeeded(self) -> list[PlatformResult]:
        return [r for r in self.results if r.status == "done"]

    def metadata(self) -> dict[str, Any]:
        endpoints = {n.name: n.endpoint for n in self.nodes}
        out: dict[str, Any] = {}
        if self.index is not None:
            out["containerimage.digest"] = str(self.index.digest)
            out["containerimage.descriptor"] = self.index.to_json()
        out["anyarch.builder"] = self.builder
        out["anyarch.farm.nodes"] = {r.platform: r.node for r in self.results if r.status == "done"}
        out["anyarch.farm"] = {r.platform: r.to_json(endpoints) for r in self.results}
        out["anyarch.farm.context"] = {
            n: {
                "snapshot": s.snapshot,
                "files_sent": s.files_sent,
                "bytes_sent": s.bytes_sent,
                "seconds": round(s.seconds, 3),
            }
            for n, s in self.syncs.items()
        }
        return out


# --- probing and planning ---------------------------------------------------------------


def open_sessions(
    config: FarmConfig,
    builder: BuilderConfig,
    *,
    connect_timeout: float,
    local_env: Mapping[str, str] | None = None,
) -> list[NodeSession]:
    return [
        NodeSession.open(config, n, connect_timeout=connect_timeout, local_env=local_env)
        for n in builder.nodes
    ]


def probe(
    sessions: Sequence[NodeSession],
    platforms: Sequence[str] = (),
    *,
    reporter: Reporter | None = None,
    bootstrap_ok: bool = True,
    serve: bool = False,
) -> list[NodeInfo]:
    """Probe every node at once; unreachable ones are reported and marked so.

    ``serve``: a build follows (:func:`execute`); each node's probe process
    stays waiting to run it (see :meth:`NodeSession.probe`).
    """
    if not sessions:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(sessions))) as pool:
        infos = list(
            pool.map(lambda s: s.probe(platforms, bootstrap_ok=bootstrap_ok, serve=serve), sessions)
        )
    for info in infos:
        if not info.reachable and reporter is not None:
            reporter.warning(f"node {info.name} skipped: {info.error}")
    return infos


def plan(
    infos: Sequence[NodeInfo], platforms: Sequence[str], *, require_native: bool = False
) -> Plan:
    return schedule([i.capabilities() for i in infos], platforms, require_native=require_native)


# --- execution ---------------------------------------------------------------------------


class _NodeLost(Exception):
    def __init__(self, node: str, detail: str) -> None:
        super().__init__(detail)
        self.node = node
        self.detail = detail


class _Cancelled(Exception):
    pass


class _CanceledOnNode(BuildError):
    """The node's build stopped this platform because another of its platforms failed."""


@dataclass
class _Job:
    """The platforms one node builds in one ``anyarch build`` (shared stages run once)."""

    node: str
    placements: list[Placement]

    @property
    def platforms(self) -> list[str]:
        return [p.platform for p in self.placements]


def _jobs(placements: Sequence[Placement]) -> list[_Job]:
    by_node: dict[str, list[Placement]] = {}
    for p in placements:
        by_node.setdefault(p.node, []).append(p)
    return [_Job(node, pls) for node, pls in by_node.items()]


class _Run:
    """State shared by the worker threads of one farm build."""

    def __init__(
        self,
        request: FarmRequest,
        sessions: dict[str, NodeSession],
        infos: dict[str, NodeInfo],
        store: Store | None,
        reporter: Reporter,
        results: dict[str, PlatformResult],
    ) -> None:
        self.request = request
        self.sessions = sessions
        self.infos = infos
        self.store = store
        self.reporter = reporter
        self.results = results
        self.lock = threading.Lock()
        self.cancel = threading.Event()
        self.dead: dict[str, str] = {}
        self.load: dict[str, int] = {}
        self.syncs: dict[str, Future[SyncResult]] = {}
        self.procs: set[subprocess.Popen[bytes]] = set()

    # -- bookkeeping --

    def node_lost(self, node: str, detail: str) -> None:
        with self.lock:
            first = node not in self.dead
            self.dead.setdefault(node, detail)
        if first:
            self.reporter.warning(f"node {node} lost: {detail}")

    def cancel_all(self) -> None:
        self.cancel.set()
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            _stop(p)

    # -- context --

    def sync_slot(self, node: str) -> tuple[Future[SyncResult], bool]:
        """The node's context sync, and whether the caller is the one to do it."""
        with self.lock:
            fut = self.syncs.get(node)
            if fut is not None:
                return fut, False
            fut = self.syncs[node] = Future()
            return fut, True

    # -- one job: a node's platforms --

    def job(self, job: _Job) -> list[Placement]:
        """Run ``job``; returns the placements to rebuild elsewhere (their node was lost)."""
        node = job.node
        started = time.monotonic()
        attempts = {}
        for p in job.placements:
            att = Attempt(node, p.mode.value)
            self.results[p.platform].attempts.append(att)
            self.results[p.platform].placement = p
            attempts[p.platform] = att
        try:
            if self.cancel.is_set():
                raise _Cancelled()
            with self.lock:
                gone = self.dead.get(node)
            if gone is not None:
                raise _NodeLost(node, gone)
            for p in job.placements:
                self.reporter.status(p.platform, node, "sending context")
            fut, mine = self.sync_slot(node)
            if mine:
                # the first job on a node syncs the context in its own build session
                try:
                    outcome = self.build(self.sessions[node], job, None, fut)
                finally:
                    if not fut.done():
                        fut.set_exception(
                            NodeError(f"node {node}: the build context was not synced")
                        )
            else:
                try:
                    sync = fut.result()
                except NodeError as e:
                    raise _NodeLost(node, e.message) from None
                if self.cancel.is_set():
                    raise _Cancelled()
                self._building(job)
                outcome = self.build(self.sessions[node], job, sync, None)
        except _Cancelled:
            for p in job.placements:
                self._finish(p, attempts[p.platform], "cancelled", started)
            return []
        except _NodeLost as e:
            self.node_lost(e.node, e.detail)
            retry = []
            for p in job.placements:
                res = self.results[p.platform]
                att = attempts[p.platform]
                att.status, att.error = "lost", e.detail
                att.seconds = time.monotonic() - started
                if len(res.attempts) >= MAX_ATTEMPTS or self.cancel.is_set():
                    res.status = "failed"
                    res.error = NodeError(
                        f"{p.platform}: node {e.node} was lost ({e.detail}) and the platform "
                        "was already rebuilt once",
                        hint="check the nodes with 'anyarch builder inspect'",
                    )
                else:
                    retry.append(p)
            return retry
        except AnyarchError as e:
            for p in job.placements:
                attempts[p.platform].error = e.message
                self.results[p.platform].error = e
                self._finish(p, attempts[p.platform], "failed", started)
            return []
        for p in job.placements:
            err = outcome.get(p.platform)
            if err is None:
                self._finish(p, attempts[p.platform], "done", started)
            elif isinstance(err, _CanceledOnNode):
                attempts[p.platform].error = err.message
                self._finish(p, attempts[p.platform], "cancelled", started)
            else:
                attempts[p.platform].error = err.message
                self.results[p.platform].error = err
                self._finish(p, attempts[p.platform], "failed", started)
        return []

    def _finish(self, p: Placement, att: Attempt, status: str, started: float) -> None:
        att.status = status
        att.seconds = time.monotonic() - started
        res = self.results[p.platform]
        res.status = status
        self.reporter.status(p.platform, p.node, status)
        if status == "failed" and not self.request.keep_going:
            self.cancel_all()

    def _building(self, job: _Job) -> None:
        for p in job.placements:
            self.reporter.status(p.platform, job.node, f"building ({p.mode.value})")

    def _sync_in_session(
        self,
        session: NodeSession,
        proc: subprocess.Popen[bytes],
        fut: Future[SyncResult],
        err_tail: list[bytes],
        drain: threading.Thread,
        started: float,
    ) -> None:
        """The context sync at the start of a ``--context-on-stdin`` build session."""
        assert proc.stdin is not None and proc.stdout is not None
        try:
            snapshot, files, sent = send_context(
                session.name, self.request.context, proc.stdin, proc.stdout
            )
        except SyncCut as e:
            rc = _wait(proc)
            drain.join(timeout=5)
            err = session.failure(e.what, Completed(rc or 0, b"", b"".join(err_tail)))
            fut.set_exception(err)
            if self.cancel.is_set():
                raise _Cancelled() from None
            raise _NodeLost(session.name, err.message) from None
        except NodeError as e:
            fut.set_exception(e)
            raise _NodeLost(session.name, e.message) from None
        except BaseException as e:
            fut.set_exception(e)
            raise
        fut.set_result(SyncResult(snapshot, files, sent, time.monotonic() - started))

    def build(
        self,
        session: NodeSession,
        job: _Job,
        sync: SyncResult | None,
        fut: Future[SyncResult] | None,
    ) -> dict[str, AnyarchError | None]:
        """Run the node's build and receive its images; per platform, None or its error.

        Without ``sync`` the session starts by syncing the context (``fut`` gets
        the result, for other jobs on the same node).
        """
        started = time.monotonic()
        if sync is None:
            args = ["farm-node", "build", "--context-on-stdin"]
        else:
            args = ["farm-node", "build", "--snapshot", sync.snapshot]
        for plat in job.platforms:
            args += ["--platform", plat]
        for repo in self.request.node_push:
            args += ["--push-to", repo]
        if self.request.keep_going:
            args.append("--keep-going")
        args += ["--", *self.request.build_args]
        # The node's probe process, waiting since the probe, runs the first build
        # there: no second SSH session, no second Python start-up on the node.
        served = session.take_served() if sync is None else None
        if served is not None:
            proc, err_tail, t = served.proc, served.err_tail, served.drain
        else:
            proc = session.start_anyarch(args)
            err_tail = []
        with self.lock:
            self.procs.add(proc)
        assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
        if served is None:
            t = threading.Thread(target=drain_stderr, args=(proc.stderr, err_tail), daemon=True)
            t.start()
        else:
            # `farm-node serve` reads these arguments for its `farm-node build`;
            # a node that is gone shows in the context sync that follows
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(json.dumps({"build": args[2:]}).encode() + b"\n")
        got: dict[str, Any] | None = None
        ended = False
        wanted: set[str] = set()
        outcome: dict[str, AnyarchError | None] = {}
        first = job.platforms[0]
        try:
            if sync is None:
                assert fut is not None
                self._sync_in_session(session, proc, fut, err_tail, t, started)
                if self.cancel.is_set():
                    raise _Cancelled()
                self._building(job)
            while True:
                try:
                    fr = protocol.read_frame(proc.stdout)
                except (protocol.StreamCut, OSError) as e:
                    if self.cancel.is_set():
                        raise _Cancelled() from None
                    rc = _wait(proc)
                    t.join(timeout=5)
                    detail = _tail_text(err_tail) or str(e)
                    if (
                        got is None
                        and rc is not None
                        and 0 <= rc != 255
                        and not _looks_lost(detail)
                    ):
                        raise _NodeLost(
                            session.name, f"farm-node build exited {rc}: {detail}"
                        ) from None
                    raise _NodeLost(
                        session.name, f"connection lost during the build ({detail})"
                    ) from None
                except protocol.ProtocolError as e:
                    raise NodeError(
                        f"node {session.name}: {e}",
                        hint="update anyarch on the node, or let anyarch ship itself: "
                        "'anyarch builder inspect --bootstrap'",
                    ) from None
                if fr.kind == protocol.EVENT:
                    if isinstance(fr.obj, dict):
                        ev_plat = str(fr.obj.get("platform", ""))
                        self.reporter.event(
                            ev_plat if ev_plat in job.platforms else first, session.name, fr.obj
                        )
                elif fr.kind == protocol.ERROR:
                    raise NodeError(
                        f"node {session.name}: {fr.obj.get('message', 'failed')}",
                        hint=fr.obj.get("hint") or None,
                    )
                elif fr.kind == protocol.RESULT:
                    got = fr.obj
                    outcome = self._result(session, job, fr.obj)
                    want = self._want(fr.obj) if any(v is None for v in outcome.values()) else []
                    wanted = set(want)
                    if any(v is None for v in outcome.values()):
                        for plat in job.platforms:
                            if outcome.get(plat) is None:
                                self.reporter.status(
                                    plat, session.name, f"receiving {len(want)} blob(s)"
                                )
                        proc.stdin.write(json.dumps({"want": want}).encode() + b"\n")
                        proc.stdin.flush()
                elif fr.kind == protocol.BLOB:
                    assert fr.body is not None and self.store is not None
                    digest = str(fr.obj["digest"])
                    if digest not in wanted:
                        raise NodeError(
                            f"node {session.name} sent {digest}, which was not asked for",
                            hint="a bug",
                        )
                    body = cast("IO[bytes]", fr.body)
                    with self.store.layout.writing():
                        self.store.blobs.put_stream(body, Digest.parse(digest), int(fr.obj["size"]))
                elif fr.kind == protocol.END:
                    ended = True
                    break
            if got is None:
                raise NodeError(
                    f"node {session.name} ended the build without a result",
                    hint="a bug or a version mismatch",
                )
            if self.store is not None and not self.request.node_push:
                for plat in job.platforms:
                    image = self.results[plat].image
                    if outcome.get(plat) is None and image is not None:
                        check_complete(self.store, image)
            return outcome
        except BaseException:
            _stop(proc)
            raise
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            if ended:
                # The node has said all it will: its process and this ssh end on
                # their own; reaped on a thread, so the result does not wait for
                # the node's interpreter to shut down (tens of milliseconds).
                threading.Thread(target=_wait, args=(proc,), daemon=True).start()
            else:
                _wait(proc)
            with self.lock:
                self.procs.discard(proc)

    def _result(
        self, session: NodeSession, job: _Job, res: dict[str, Any]
    ) -> dict[str, AnyarchError | None]:
        """Record what the node built; per platform None (built) or the reason it was not."""
        images = res.get("images") or {}
        meta = res.get("metadata") or {}
        per_platform = meta.get("anyarch.platforms") or {}
        pushed = res.get("pushed") or {}
        outcome: dict[str, AnyarchError | None] = {}
        for p in job.placements:
            r = self.results[p.platform]
            r.build_seconds = float(res.get("seconds", 0.0))
            if p.platform in images:
                r.image = Descriptor.from_json(images[p.platform])
                r.metadata = meta
                r.pushed = list(pushed.get(p.platform, []))
                outcome[p.platform] = None
                continue
            info = per_platform.get(p.platform) or {}
            err = info.get("error")
            if res.get("error"):
                outcome[p.platform] = NodeError(
                    f"{p.platform} on node {p.node}: {res['error']}",
                    hint=res.get("hint") or "check the node with 'anyarch builder inspect'",
                )
            elif err or info.get("status") == "failed":
                outcome[p.platform] = BuildError(
                    f"{p.platform} on node {p.node}: {err or 'the build failed'}",
                    hint=_hint_line(res.get("tail", [])) or "see the node's build output above",
                )
            elif info.get("status") in ("canceled", "cancelled"):
                outcome[p.platform] = _CanceledOnNode(
                    f"{p.platform} on node {p.node}: canceled after another platform failed",
                    hint="see the failure above; --keep-going builds the others anyway",
                )
            else:
                outcome[p.platform] = _build_failed(p, res)
        return outcome

    def _want(self, res: dict[str, Any]) -> list[str]:
        if self.request.node_push or self.store is None:
            return []
        blobs = [(str(b["digest"]), int(b["size"])) for b in res.get("blobs", [])]
        return missing_blobs(self.store, blobs)

    def replace(self, lost: Sequence[Placement]) -> tuple[list[Placement], list[Placement]]:
        """New placements for platforms whose node was lost; and those nobody can take."""
        with self.lock:
            dead = dict(self.dead)
            load = dict(self.load)
        for p in lost:
            load[p.node] = max(0, load.get(p.node, 1) - 1)
        caps = [self.infos[n].capabilities() for n in self.sessions if n in self.infos]
        placed, stranded = [], []
        for p in lost:
            try:
                plan_ = schedule(
                    caps,
                    [p.platform],
                    require_native=self.request.require_native,
                    load=load,
                    exclude=set(dead),
                )
            except FarmError:
                stranded.append(p)
                continue
            chosen = plan_.placements[0]
            load[chosen.node] = load.get(chosen.node, 0) + 1
            placed.append(chosen)
        with self.lock:
            self.load = load
        return placed, stranded


def _build_failed(placement: Placement, res: dict[str, Any]) -> AnyarchError:
    tail = [str(x) for x in res.get("tail", []) if str(x).strip()]
    err = res.get("error")
    detail = err or _error_line(tail) or f"exit status {res.get('exit')}"
    hint = res.get("hint") or _hint_line(tail)
    msg = f"{placement.platform} on node {placement.node}: {detail}"
    if err:
        return NodeError(msg, hint=hint or "check the node with 'anyarch builder inspect'")
    return BuildError(msg, hint=hint or "see the node's build output above")


def _error_line(tail: Sequence[str]) -> str | None:
    for line in reversed(tail):
        if line.startswith("Error: "):
            return line[len("Error: ") :]
    return tail[-1] if tail else None


def _hint_line(tail: Sequence[str]) -> str | None:
    for line in reversed(tail):
        if line.startswith("Hint: "):
            return line[len("Hint: ") :]
    return None


def _tail_text(tail: list[bytes]) -> str:
    lines = [ln.decode(errors="replace").strip() for ln in tail]
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else ""


def _looks_lost(detail: str) -> bool:
    d = detail.lower()
    return any(
        s in d for s in ("connection", "broken pipe", "closed by remote", "timed out", "timeout")
    )


def _wait(proc: subprocess.Popen[bytes]) -> int | None:
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            proc.kill()


def execute(
    builder: str,
    request: FarmRequest,
    sessions: Sequence[NodeSession],
    infos: Sequence[NodeInfo],
    the_plan: Plan,
    store: Store | None,
    *,
    reporter: Reporter | None = None,
) -> FarmResult:
    """Build every placement of ``the_plan``; assemble the index of what succeeded.

    Each node builds all its platforms in one ``anyarch build`` (stages they
    share run once, blobs they share travel once).  Raises the first failure
    unless ``request.keep_going`` (then the result lists failures beside the
    index of the successes).  A farm where nothing succeeded always raises.
    """
    rep = reporter or QuietReporter()
    by_name = {s.name: s for s in sessions}
    results = {p.platform: PlatformResult(p.platform, p) for p in the_plan.placements}
    run = _Run(request, by_name, {i.name: i for i in infos}, store, rep, results)
    for p in the_plan.placements:
        run.load[p.node] = run.load.get(p.node, 0) + 1
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(2, len(the_plan.placements) * MAX_ATTEMPTS))
    try:
        pending = {pool.submit(run.job, j): j for j in _jobs(the_plan.placements)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                lost = fut.result()
                if not lost:
                    continue
                placed, stranded = run.replace(lost)
                for p in stranded:
                    res = results[p.platform]
                    res.status = "failed"
                    detail = run.dead.get(job.node, "lost")
                    res.error = FarmError(
                        f"{p.platform}: node {job.node} was lost ({detail}) and no other node "
                        "can build it",
                        hint="add or fix a node for it ('anyarch builder inspect' shows which answer)",
                    )
                    if not request.keep_going:
                        run.cancel_all()
                for p in placed:
                    rep.warning(
                        f"{p.platform}: rebuilding on {p.node} ({p.mode.value}) after losing {job.node}"
                    )
                for j in _jobs(placed):
                    pending[pool.submit(run.job, j)] = j
    except BaseException:  # Ctrl-C: stop the nodes' builds now, not after they finish
        run.cancel_all()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    wall = time.monotonic() - started
    ordered = [results[p.platform] for p in the_plan.placements]
    for r in ordered:
        r.seconds = sum(a.seconds for a in r.attempts) or wall
        if r.status == "pending":
            r.status = "cancelled"
    syncs = {}
    for node, sfut in run.syncs.items():
        if sfut.done() and sfut.exception() is None:
            syncs[node] = sfut.result()
    result = FarmResult(builder, the_plan, list(infos), ordered, syncs=syncs)
    failed = [r for r in ordered if r.status == "failed"]
    if failed and (not request.keep_going or len(failed) == len(ordered)):
        first = next((r.error for r in failed if isinstance(r.error, BuildError)), failed[0].error)
        assert first is not None
        raise first
    done_ = [r for r in ordered if r.status == "done" and r.image is not None]
    if not done_:
        raise FarmError(
            "the farm build was cancelled before any platform finished",
            hint="see the warnings above",
        )
    index = assemble_index([r.image for r in done_ if r.image is not None])
    result.index_raw = index.raw
    if store is not None:
        result.index = store_index(store, index)
    else:
        result.index = Descriptor(
            media_type=mediatype.OCI_INDEX, digest=index.digest, size=len(index.raw)
        )
    return result


__all__ = [
    "FarmRequest",
    "FarmResult",
    "PlatformResult",
    "QuietReporter",
    "Reporter",
    "execute",
    "normalize_platforms",
    "open_sessions",
    "plan",
    "probe",
]
