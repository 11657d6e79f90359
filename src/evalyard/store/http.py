"""The team server as a store: the :class:`~evalyard.store.base.Store` interface over HTTP.

Example:
    >>> import evalyard
    >>> run = evalyard.start_run("nightly", store="http://evalyard.internal:8000")  # doctest: +SKIP
    >>> run.log("q1", outputs="4", metrics={"exact_match": True})  # doctest: +SKIP
    >>> run.finish()  # doctest: +SKIP

``store="http(s)://host:port"`` (or ``EVALYARD_STORE``) makes ``start_run``, ``log``,
``log_many``, ``evaluate``, ``compare_runs``, the CLI and even ``evalyard ui`` work through
a team server's API (``/api/v1``, see :mod:`evalyard.server`). The access token comes from
``EVALYARD_TOKEN``.

Reads are plain requests; a run's values come as compact binary columns
(:mod:`.wire`) and the comparison is computed here, exactly as with a local store.
Writes of results go through a background :class:`~.uploader.Uploader`: ``log`` returns
once the (already checked) result is handed over, and the results are durable — on the
server, or in the local spool if it stays unreachable — once ``Run.flush`` or
``Run.finish`` returns. Every request is retried on connection errors and 5xx with
exponential backoff for ``EVALYARD_RETRY_SECONDS`` (30 s by default). A read of a run
first flushes what was logged, so a process reads its own writes.
"""

from __future__ import annotations

import atexit
import json
import random
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from evalyard.config import retry_seconds, spool_dir, token
from evalyard.core.columns import Block, ScopeValues, collapse_epochs
from evalyard.core.ids import MAX_NAME_LENGTH
from evalyard.core.model import (
    Direction,
    MetricDefinition,
    MetricKind,
    Result,
    RunInfo,
    RunStatus,
)
from evalyard.errors import (
    EvalyardError,
    InvalidInputError,
    RunExistsError,
    RunNameTakenError,
    RunNotFoundError,
    StoreError,
    error_class,
)
from evalyard.store.base import SESSION_SCOPE, Capabilities, WriteBatch
from evalyard.store.spool import Spool, SpoolEntry
from evalyard.store.uploader import (
    AccessRefusedError,
    BodyTooLarge,
    ServerUnreachableError,
    Uploader,
)
from evalyard.store.wire import record_json, unpack_block
from evalyard.version import __version__

__all__ = ["HTTPStore", "ServerUnreachableError"]

_API = "/api/v1"
# Query strings are kept well under what servers accept in a request line.
_MAX_QUERY = 6000
_RESULTS_PAGE = 5000


def _run_info(data: dict[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=data["run_id"],
        name=data["name"],
        project=data["project"],
        status=RunStatus(data["status"]),
        created_at=float(data["created_at"]),
        finished_at=data.get("finished_at"),
        dataset=data.get("dataset"),
        metadata=data.get("metadata") or {},
        result_count=int(data.get("result_count", 0)),
        datapoint_count=int(data.get("datapoint_count", 0)),
    )


def _result(data: dict[str, Any]) -> Result:
    return Result(
        datapoint_id=data["datapoint_id"],
        epoch=int(data["epoch"]),
        inputs=data.get("inputs"),
        outputs=data.get("outputs"),
        ground_truth=data.get("ground_truth"),
        metadata=data.get("metadata"),
        metrics=data.get("metrics") or {},
        steps=data.get("steps") or [],
        error=data.get("error"),
        duration_ms=data.get("duration_ms"),
    )


class HTTPStore:
    """A team server's runs, through its API.

    Args:
        url: the server's base URL, ``http(s)://host:port``.
        token: the access token; default ``EVALYARD_TOKEN``.
        retry_s: how long to retry an unreachable server before spooling (or failing a
            read); default ``EVALYARD_RETRY_SECONDS`` or 30.
        spool: the folder for the spool file; default ``EVALYARD_SPOOL_DIR`` or
            ``.evalyard/spool``.
    """

    capabilities = Capabilities(blocks=True)

    def __init__(
        self,
        url: str,
        *,
        token_value: str | None = None,
        retry_s: float | None = None,
        spool: Path | str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token(token_value)
        self._retry_s = retry_seconds(retry_s)
        self._lock = threading.Lock()
        self._client = self._new_client()
        self._uploader = Uploader(self, Spool(spool_dir(spool), self.url))
        self._closed = False
        self._said_unreachable = False
        self._said_lock = threading.Lock()
        atexit.register(self._at_exit)

    def __repr__(self) -> str:
        return f"HTTPStore({self.url!r})"

    def _new_client(self) -> httpx.Client:
        headers = {"user-agent": f"evalyard/{__version__}"}
        if self._token:
            headers["authorization"] = f"Bearer {self._token}"
        return httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(120.0, connect=5.0),
            follow_redirects=False,
        )

    # -- requests -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        content: bytes | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """One API call, retried on connection errors and 5xx; errors mapped to evalyard's."""
        deadline = time.monotonic() + (self._retry_s if retry else 0.0)
        delay = 0.05
        headers = {"content-type": "application/json"} if content is not None else None
        while True:
            try:
                response = self._client.request(
                    method, _API + path, params=params, json=json, content=content, headers=headers
                )
            except httpx.TransportError as exc:
                failure = (
                    f"cannot reach the evalyard server at {self.url}: {exc or type(exc).__name__}"
                )
            else:
                if response.status_code < 500:
                    self._said_unreachable = False
                    if response.is_success:
                        return response
                    raise self._error(response)
                failure = (
                    f"the evalyard server at {self.url} answered {response.status_code}: "
                    f"{_message(response)}"
                )
            if time.monotonic() + delay > deadline:
                raise ServerUnreachableError(
                    f"{failure} (retried for {self._retry_s:g} s; EVALYARD_RETRY_SECONDS "
                    "sets how long)"
                )
            self._say_unreachable(failure)
            time.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 2.0)

    def _say_unreachable(self, failure: str) -> None:
        """One line on stderr when the server stops answering (again once it has answered)."""
        with self._said_lock:
            if self._said_unreachable:
                return
            self._said_unreachable = True
        sys.stderr.write(
            f"evalyard: {failure}; retrying for {self._retry_s:g} s, then keeping what "
            f"cannot be sent in the spool at {self._uploader.spool.directory}\n"
        )
        sys.stderr.flush()

    @staticmethod
    def warn(message: str) -> None:
        """Say something on stderr that the caller should know and need not stop for."""
        sys.stderr.write(f"evalyard: warning: {message}\n")
        sys.stderr.flush()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _error(self, response: httpx.Response) -> EvalyardError:
        """The evalyard error a 4xx answer stands for, found by its ``type`` name."""
        try:
            error = response.json()["error"]
            kind, message = str(error.get("type", "")), str(error["message"])
        except (ValueError, KeyError, TypeError):
            error, kind, message = {}, "", _message(response)
        status = response.status_code
        if status in (401, 403):
            hint = " (set EVALYARD_TOKEN to a token from `evalyard token create`)"
            return AccessRefusedError(
                f"the evalyard server at {self.url} refused the request: {message}"
                + (hint if status == 401 else "")
            )
        if status == 413:
            return BodyTooLarge(message)
        found = error_class(kind)
        if found is not None and found.http_status == status:
            return found.rebuild(message, error)
        if status in (400, 415, 422):
            # A refusal this client has no class for (the server's own): still bad input.
            return InvalidInputError.rebuild(message, error)
        return StoreError(f"the evalyard server at {self.url} answered {status}: {message}")

    @staticmethod
    def _run_path(run_id: str, suffix: str = "") -> str:
        # The server routes a run id as one path segment: ids it could not route cannot
        # exist there (it refuses to create them).
        if not run_id or "/" in run_id or run_id in (".", ".."):
            raise RunNotFoundError(run_id)
        return f"/runs/{quote(run_id, safe='')}{suffix}"

    # -- the uploader's transport ---------------------------------------------------------

    def post_create(self, run_id: str, name: str, body: bytes, *, retry: bool) -> None:
        """Create a run whose creation was spooled. A run of that id is already there (an
        earlier attempt whose answer was lost); a name taken meanwhile in its project gets
        the run created as ``<name>-<first 8 characters of its id>``, with a warning."""
        try:
            self._request("POST", "/runs", content=body, retry=retry)
            return
        except RunExistsError:
            return
        except RunNameTakenError:
            renamed = _renamed(name, run_id)
            fields = json.loads(body)
            fields["name"] = renamed
        try:
            self._request("POST", "/runs", content=_json_body(fields), retry=retry)
        except RunExistsError:
            return
        self.warn(
            f"the name {name!r} was taken in project {fields.get('project')!r} while run "
            f"{run_id!r} waited in the spool; the run was created as {renamed!r}"
        )

    def post_batch(self, run_id: str, body: bytes, *, retry: bool) -> None:
        """Send one batch body (used by the uploader and ``evalyard sync``)."""
        self._request("POST", self._run_path(run_id, "/batches"), content=body, retry=retry)

    def post_finish(
        self, run_id: str, status: str, shard: tuple[int, int] | None, *, retry: bool
    ) -> None:
        """Finish a run or one shard of it (used for spooled finishes)."""
        body: dict[str, Any] = {"status": status}
        if shard is not None:
            body["shard"] = {"index": shard[0], "count": shard[1]}
        self._request("POST", self._run_path(run_id, "/finish"), json=body, retry=retry)

    # the names `evalyard sync` calls (SpoolSender)
    def send_create(self, run_id: str, name: str, body: bytes) -> None:
        """Send a spooled creation of a run, retrying as any request."""
        self.post_create(run_id, name, body, retry=True)

    def send_batch(self, run_id: str, body: bytes) -> None:
        """Send a spooled batch, retrying as any request."""
        self.post_batch(run_id, body, retry=True)

    def send_finish(self, run_id: str, status: str, shard: tuple[int, int] | None) -> None:
        """Send a spooled finish, retrying as any request."""
        self.post_finish(run_id, status, shard, retry=True)

    # -- runs -----------------------------------------------------------------------------

    def create_run(
        self,
        *,
        run_id: str,
        name: str,
        project: str,
        dataset: str | None,
        metadata: dict[str, Any],
    ) -> RunInfo:
        """Create a run in status ``running``.

        When the server stays unreachable, the creation goes to the spool (the run's
        results follow it there) and the run is returned as it will be created; the
        process sends it when the server is back, or ``evalyard sync`` does.
        """
        body = _json_body(
            {
                "run_id": run_id,
                "name": name,
                "project": project,
                "dataset": dataset,
                "metadata": metadata,
            }
        )
        try:
            return _run_info(self._json("POST", "/runs", content=body)["run"])
        except ServerUnreachableError:
            pass
        self._uploader.spool_entry(SpoolEntry("create", run_id, body=body, name=name))
        return RunInfo(
            run_id=run_id,
            name=name,
            project=project,
            status=RunStatus.RUNNING,
            created_at=time.time(),
            dataset=dataset,
            metadata=metadata,
        )

    def reopen_run(self, run_id: str) -> RunInfo:
        """Set a run back to ``running`` and return it."""
        self.flush()
        return _run_info(self._json("POST", self._run_path(run_id, "/reopen"))["run"])

    def finish_run(self, run_id: str, status: RunStatus) -> RunInfo:
        """Send what is pending, then give the run its final status.

        Raises:
            StoreError: when the server stays unreachable: the results and the finish are
                then in the spool, and ``evalyard sync`` sends them.
        """
        return self._finish(run_id, status, None)

    def finish_shard(
        self, run_id: str, *, shard_index: int, shard_count: int, status: RunStatus
    ) -> RunInfo:
        """Send what is pending, then record the end of one shard of a sharded run."""
        return self._finish(run_id, status, (shard_index, shard_count))

    def _finish(self, run_id: str, status: RunStatus, shard: tuple[int, int] | None) -> RunInfo:
        path = self._run_path(run_id, "/finish")
        self._uploader.flush()
        body: dict[str, Any] = {"status": status.value}
        if shard is not None:
            body["shard"] = {"index": shard[0], "count": shard[1]}
        try:
            # Spooled batches go first: the finish must not overtake them.
            if self._uploader.drain_spool():
                return _run_info(self._json("POST", path, json=body)["run"])
        except ServerUnreachableError:
            pass
        spool = self._uploader.spool
        self._uploader.spool_entry(SpoolEntry("finish", run_id, status=status.value, shard=shard))
        raise StoreError(
            f"the evalyard server at {self.url} is unreachable: run {run_id!r} and its "
            f"results are kept in {spool.path}; `evalyard sync` sends them when it is back"
        )

    def get_run(self, run_id: str) -> RunInfo:
        """The run with this exact id; RunNotFoundError otherwise."""
        return _run_info(self._json("GET", self._run_path(run_id, "/info"))["run"])

    def find_runs(self, reference: str, *, project: str | None = None) -> list[RunInfo]:
        """Runs whose id is ``reference``, else whose name is, else whose id starts with it;
        newest first."""
        params = {"reference": reference, **({"project": project} if project else {})}
        found = self._json("GET", "/run-search", params=params)["runs"]
        return [_run_info(data) for data in found]

    def list_runs(self, *, project: str | None = None, limit: int | None = None) -> list[RunInfo]:
        """Runs, newest first."""
        params: dict[str, Any] = {}
        if project is not None:
            params["project"] = project
        if limit is not None:
            params["limit"] = limit
        return [_run_info(d) for d in self._json("GET", "/run-search", params=params)["runs"]]

    # -- metric definitions ---------------------------------------------------------------

    def define_metric(self, project: str, definition: MetricDefinition) -> None:
        """Create or replace a metric definition."""
        body = {
            "project": project,
            "name": definition.name,
            "direction": definition.direction.value,
            "tolerance": definition.tolerance,
        }
        self._request("POST", "/metric-definitions", json=body)

    def metric_definitions(self, project: str) -> dict[str, MetricDefinition]:
        """The project's metric definitions, by name."""
        found = self._json("GET", "/metric-definitions", params={"project": project})["metrics"]
        return {
            d["name"]: MetricDefinition(d["name"], Direction(d["direction"]), float(d["tolerance"]))
            for d in found
        }

    # -- results --------------------------------------------------------------------------

    def write_batch(self, run_id: str, batch: WriteBatch) -> int:
        """Hand the batch's results to the background sender; return how many it held."""
        self._run_path(run_id)
        self._uploader.put(run_id, [record_json(row) for row in batch.rows])
        return len(batch.rows)

    def flush(self, run_id: str | None = None) -> None:
        """Return once every result written so far is on the server or in the spool."""
        self._uploader.flush()

    def metric_kinds(self, run_id: str) -> dict[tuple[str, str], MetricKind]:
        """The kind of each (scope, metric) the run holds."""
        if self._uploader.creation_spooled(run_id):
            return {}  # created offline by this process: nothing was logged to it elsewhere
        self.flush()
        found = self._json("GET", self._run_path(run_id, "/metric-kinds"))["kinds"]
        return {(k["scope"], k["metric"]): MetricKind(k["kind"]) for k in found}

    def result_keys(self, run_id: str) -> list[tuple[str, int]]:
        """The (datapoint id, epoch) of every result the run holds, sorted."""
        self.flush()
        keys = self._json("GET", self._run_path(run_id, "/result-keys"))["keys"]
        return [(str(datapoint_id), int(epoch)) for datapoint_id, epoch in keys]

    def list_steps(self, run_id: str) -> list[str]:
        """The names of the steps the run's results hold, sorted."""
        self.flush()
        return list(self._json("GET", self._run_path(run_id, "/steps"))["steps"])

    def load_block(self, run_id: str, scope: str = SESSION_SCOPE) -> Block:
        """A run's values at a scope, one row per (datapoint, epoch)."""
        self.flush()
        params = {"scope": scope} if scope else None
        response = self._request("GET", self._run_path(run_id, "/values"), params=params)
        return unpack_block(response.content)

    def load_scope(self, run_id: str, scope: str = SESSION_SCOPE) -> ScopeValues:
        """A run's metric values at one scope, one row per datapoint, epochs averaged."""
        return collapse_epochs(self.load_block(run_id, scope))

    def get_results(self, run_id: str, datapoint_ids: Sequence[str] | None = None) -> list[Result]:
        """The stored results of a run (all, or of the given datapoints), by id and epoch."""
        self.flush()
        path = self._run_path(run_id, "/results")
        found: list[Result] = []
        if datapoint_ids is None:
            params: dict[str, Any] = {"limit": _RESULTS_PAGE}
            while True:
                page = self._json("GET", path, params=params)
                found.extend(_result(data) for data in page["results"])
                if not page["next"]:
                    return found
                params = {"limit": _RESULTS_PAGE, **page["next"]}
        chunk: list[tuple[str, str]] = []
        size = 0
        for datapoint_id in sorted(set(datapoint_ids)):
            pair = ("datapoint_id", datapoint_id)
            length = len(urlencode([pair])) + 1
            if chunk and (size + length > _MAX_QUERY or len(chunk) >= 1000):
                found.extend(self._results_of(path, chunk))
                chunk, size = [], 0
            chunk.append(pair)
            size += length
        if chunk:
            found.extend(self._results_of(path, chunk))
        found.sort(key=lambda r: (r.datapoint_id, r.epoch))
        return found

    def _results_of(self, path: str, pairs: list[tuple[str, str]]) -> list[Result]:
        return [_result(d) for d in self._json("GET", path, params=pairs)["results"]]

    # -- life -------------------------------------------------------------------------------

    def close(self) -> None:
        """Send (or spool) what is pending, then release the connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._uploader.close()
        finally:
            self._client.close()
            atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        try:
            self.close()
        except EvalyardError as exc:  # the interpreter is ending: say it, do not raise
            sys.stderr.write(f"evalyard: {exc}\n")

    def after_fork(self) -> None:
        """In a forked child: new connections, and none of the parent's pending results."""
        self._client = self._new_client()
        self._lock = threading.Lock()
        self._uploader.reset_after_fork()


def _json_body(data: dict[str, Any]) -> bytes:
    """A request body as httpx would encode it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _renamed(name: str, run_id: str) -> str:
    """The name of a spooled run whose name was taken meanwhile: ``<name>-<id[:8]>``."""
    suffix = f"-{run_id[:8]}"
    return name[: MAX_NAME_LENGTH - len(suffix)] + suffix


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase
