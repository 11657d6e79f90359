"""Access tokens, generated from the route table: every route without a token (401), with
a read token on a write call (403), with another project's token (404 for its runs, 403
for its project named explicitly); and the login form's cookie and CSRF checks."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from evalyard.server.routes import RouteSpec, route_table
from evalyard.server.tokens import create_token, hash_token
from evalyard.store import SQLStore, open_store, schema
from tests.api.conftest import ServerProcess, Tokens, running_server

PROTECTED = [spec for spec in route_table(writable=True) if spec.access != "public"]


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    body: dict[str, Any] | None


def _runs(server: ServerProcess, tokens: Tokens) -> tuple[str, str]:
    ids = []
    with server.client(tokens.write) as client:
        for name in ("auth-base", "auth-cand"):
            run_id = uuid.uuid4().hex
            response = client.post(
                "/api/v1/runs", json={"run_id": run_id, "name": f"{name}-{run_id}", "project": "a"}
            )
            assert response.status_code == 201, response.text
            logged = client.post(
                f"/api/v1/runs/{run_id}/batches",
                json={
                    "idempotency_key": uuid.uuid4().hex,
                    "records": [{"id": "q1", "metrics": {"m": 1.0}}],
                },
            )
            assert logged.status_code == 200, logged.text
            ids.append(run_id)
    return ids[0], ids[1]


def _call(spec: RouteSpec, method: str, run_id: str, baseline: str) -> Call:
    path = spec.path.replace("{run_id}", run_id).replace("{datapoint_id:path}", "q1")
    query = {
        "datapoint_q": "?id=q1",
        "api_dp_q": "?id=q1",
        "api_comparison": f"?compare={baseline}",
        "compare": f"?baseline={baseline}&runs={run_id}",
        "api_compare": f"?baseline={baseline}&runs={run_id}",
        "api_metric_definitions": "?project=a",
    }.get(spec.name, "")
    bodies: dict[str, dict[str, Any]] = {
        "api_create_run": {"project": "a", "name": "made-by-auth-test"},
        "api_finish_run": {"status": "completed"},
        "api_log_batch": {
            "idempotency_key": uuid.uuid4().hex,
            "records": [{"id": "q2", "metrics": {"m": 0.5}}],
        },
        "api_define_metric": {"project": "a", "name": "m", "direction": "higher"},
        "otlp_traces": _otlp_body(run_id),
    }
    return Call(method, path + query, bodies.get(spec.name) if spec.body else None)


def _otlp_body(run_id: str) -> dict[str, Any]:
    """An OTLP/JSON request with one span of datapoint q3 of the run."""
    attributes = [
        {"key": "evalyard.run_id", "value": {"stringValue": run_id}},
        {"key": "evalyard.datapoint_id", "value": {"stringValue": "q3"}},
    ]
    span = {
        "traceId": uuid.uuid4().hex,
        "spanId": uuid.uuid4().hex[:16],
        "name": "answer",
        "startTimeUnixNano": "1000",
        "endTimeUnixNano": "2000",
        "attributes": attributes,
    }
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def _calls(run_id: str, baseline: str) -> list[tuple[RouteSpec, Call]]:
    return [
        (spec, _call(spec, method, run_id, baseline))
        for spec in PROTECTED
        for method in spec.methods
    ]


def _send(client: httpx.Client, call: Call) -> httpx.Response:
    return client.request(call.method, call.url, json=call.body, follow_redirects=False)


def test_every_route_needs_a_valid_token(auth_server: tuple[ServerProcess, Tokens]) -> None:
    server, tokens = auth_server
    run_id, baseline = _runs(server, tokens)
    assert len(PROTECTED) >= 25
    for token in (None, "eyd_not-a-token", "garbage"):
        with server.client(token) as client:
            for spec, call in _calls(run_id, baseline):
                response = _send(client, call)
                assert response.status_code == 401, (spec.name, token, response.text)
                if call.url.startswith(("/api/", "/v1/")):
                    assert response.json()["error"]["type"] == "AuthenticationError"
                    assert response.headers["www-authenticate"].startswith("Bearer")
                else:
                    assert 'action="/login"' in response.text


def test_a_read_token_reads_and_cannot_write(auth_server: tuple[ServerProcess, Tokens]) -> None:
    server, tokens = auth_server
    run_id, baseline = _runs(server, tokens)
    with server.client(tokens.read) as client:
        for spec, call in _calls(run_id, baseline):
            response = _send(client, call)
            if spec.access == "write":
                assert response.status_code == 403, (spec.name, response.text)
                assert response.json()["error"]["type"] == "PermissionDeniedError"
            else:
                assert response.status_code in (200, 302), (spec.name, response.text)


def test_another_projects_token_sees_nothing_of_this_project(
    auth_server: tuple[ServerProcess, Tokens],
) -> None:
    server, tokens = auth_server
    run_id, baseline = _runs(server, tokens)
    for token in (tokens.other_write, tokens.other_read):
        with server.client(token) as client:
            for spec, call in _calls(run_id, baseline):
                response = _send(client, call)
                if token == tokens.other_read and spec.access == "write":
                    expected = 403  # the scope is checked first
                elif "{run_id}" in spec.path or spec.name in (
                    "compare",
                    "api_compare",
                    "otlp_traces",  # its spans name a run of project a
                ):
                    expected = 404  # another project's run is not revealed
                elif spec.name in ("api_create_run", "api_metric_definitions", "api_define_metric"):
                    expected = 403  # project "a" named explicitly
                else:
                    expected = response.status_code
                    assert expected in (200, 302), (spec.name, response.text)
                    assert run_id not in response.text
                assert response.status_code == expected, (spec.name, response.text)


def test_a_project_token_learns_nothing_of_another_projects_run_ids(
    auth_server: tuple[ServerProcess, Tokens],
) -> None:
    server, tokens = auth_server
    suffix = uuid.uuid4().hex[:8]
    hidden, hidden_uuid = f"secret-{suffix}", str(uuid.uuid4())
    store = open_store(server.store_url)
    try:
        for run_id in (hidden, hidden_uuid):  # made by a token that opens every project
            store.create_run(
                run_id=run_id, name=f"hidden-{run_id}", project="b", dataset=None, metadata={}
            )
    finally:
        store.close()
    with server.client(tokens.write) as client:
        own = uuid.uuid4().hex
        assert client.post("/api/v1/runs", json={"run_id": own, "project": "a"}).status_code == 201
        # A chosen id that is not a UUID4 is refused alike, whether some project has it or not.
        answers = []
        for run_id in (hidden, f"absent-{suffix}", str(uuid.uuid1()), own.upper()):
            response = client.post("/api/v1/runs", json={"run_id": run_id, "project": "a"})
            assert response.status_code == 403, response.text
            error = response.json()["error"]
            assert error["type"] == "PermissionDeniedError"
            assert "UUID4" in error["message"]
            answers.append(error["message"].replace(run_id, "ID"))
        assert len(set(answers)) == 1
        # A taken UUID4 reads the same in this project and in another one.
        taken = [
            client.post("/api/v1/runs", json={"run_id": run_id, "project": "a"})
            for run_id in (own, hidden_uuid)
        ]
        assert [r.status_code for r in taken] == [409, 409]
        assert (
            len(
                {
                    r.json()["error"]["message"].replace(i, "ID")
                    for r, i in zip(taken, (own, hidden_uuid), strict=True)
                }
            )
            == 1
        )
        # No id, or a fresh UUID4 in either spelling, makes a run.
        for body in ({}, {"run_id": uuid.uuid4().hex}, {"run_id": str(uuid.uuid4())}):
            made = client.post("/api/v1/runs", json={**body, "project": "a"})
            assert made.status_code == 201, made.text


def test_a_write_token_writes(auth_server: tuple[ServerProcess, Tokens]) -> None:
    server, tokens = auth_server
    run_id, baseline = _runs(server, tokens)
    with server.client(tokens.write) as client:
        for spec, call in _calls(run_id, baseline):
            response = _send(client, call)
            assert response.status_code in (200, 201, 302), (spec.name, response.text)


def test_the_sdk_sends_evalyard_token(
    auth_server: tuple[ServerProcess, Tokens], monkeypatch: pytest.MonkeyPatch
) -> None:
    import evalyard

    server, tokens = auth_server
    with pytest.raises(evalyard.StoreError, match="EVALYARD_TOKEN"):
        evalyard.start_run("no-token", project="a", store=server.url)
    monkeypatch.setenv("EVALYARD_TOKEN", tokens.write)
    from evalyard.store import close_stores

    close_stores()
    with evalyard.start_run("with-token", project="a", store=server.url) as run:
        run.log("q", metrics={"m": 1.0})
    assert evalyard.get_run(run.run_id, store=server.url).result_count == 1
    with pytest.raises(evalyard.StoreError, match="opens project 'a' only"):
        evalyard.start_run("elsewhere", project="b", store=server.url)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, page
    return found.group(1)


def test_the_login_form_sets_a_strict_httponly_cookie(
    auth_server: tuple[ServerProcess, Tokens],
) -> None:
    server, tokens = auth_server
    with server.client() as client:
        assert client.get("/experiments").status_code == 401
        form = client.get("/login?next=/datasets")
        assert form.status_code == 200
        csrf = _csrf(form.text)
        bad = client.post("/login", data={"csrf": csrf, "token": "eyd_wrong", "next": "/datasets"})
        assert bad.status_code == 401
        # The refusal reads as an error, tied to the field it is about.
        assert re.search(
            r'<p id="login-error" class="form-error" role="alert">.*not valid', bad.text
        )
        assert 'aria-invalid="true" aria-describedby="login-error"' in bad.text
        assert "form-error" not in form.text
        done = client.post(
            "/login",
            data={"csrf": csrf, "token": tokens.read, "next": "/datasets"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/datasets"
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        page = client.get("/experiments")
        assert page.status_code == 200
        assert "Log out" in page.text
        # The cookie opens pages, never writes.
        write = client.post("/api/v1/runs", json={"project": "a"})
        assert write.status_code == 401
        logout_csrf = _csrf(page.text)
        assert client.post("/logout", data={"csrf": "0" * 32}).status_code == 403
        out = client.post("/logout", data={"csrf": logout_csrf}, follow_redirects=False)
        assert out.status_code == 303
        client.cookies.delete("evalyard_session")
        assert client.get("/experiments").status_code == 401


def test_forms_from_another_site_are_refused(auth_server: tuple[ServerProcess, Tokens]) -> None:
    server, tokens = auth_server
    with server.client() as client:
        csrf = _csrf(client.get("/login").text)
        forged = client.post(
            "/login",
            data={"csrf": csrf, "token": tokens.read},
            headers={"origin": "http://evil.example"},
        )
        assert forged.status_code == 403
        no_csrf = client.post("/login", data={"csrf": "f" * 32, "token": tokens.read})
        assert no_csrf.status_code == 403
        cross_site_api = client.post(
            "/api/v1/runs",
            json={"project": "a"},
            headers={"origin": "http://evil.example", "authorization": f"Bearer {tokens.write}"},
        )
        assert cross_site_api.status_code == 403
        open_redirect = client.post(
            "/login",
            data={"csrf": csrf, "token": tokens.read, "next": "//evil.example/x"},
            follow_redirects=False,
        )
        assert open_redirect.headers["location"] == "/experiments"


def test_a_revoked_token_is_refused(auth_server: tuple[ServerProcess, Tokens]) -> None:
    server, _ = auth_server
    store = open_store(server.store_url)
    assert isinstance(store, SQLStore)
    secret, info = create_token(store, scope="read")
    try:
        with server.client(secret) as client:
            assert client.get("/api/v1/runs").status_code == 200
            assert store.revoke_token(info.token_id)
            assert client.get("/api/v1/runs").status_code == 401
    finally:
        store.close()


def _log_in(client: httpx.Client, token: str) -> str:
    csrf = _csrf(client.get("/login").text)
    done = client.post(
        "/login",
        data={"csrf": csrf, "token": token, "next": "/experiments"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    session = client.cookies.get("evalyard_session")
    assert session
    return str(session)


def _with_cookie(server: ServerProcess, value: str) -> httpx.Client:
    client = server.client()
    client.cookies.set("evalyard_session", value)
    return client


def test_a_login_session_is_opaque_and_ends_at_logout_or_with_its_token(
    store_url: str, tmp_path: Path
) -> None:
    store = open_store(store_url)
    assert isinstance(store, SQLStore)
    token, info = create_token(store, scope="read")
    other, _ = create_token(store, scope="read")
    store.close()
    with running_server(store_url, tmp_path, "--auth") as server, server.client() as browser:
        session = _log_in(browser, token)
        # The cookie is a random session id: not the token, and not derived from it.
        assert token not in session
        assert session not in token
        with _with_cookie(server, token) as replayed:
            assert replayed.get("/experiments").status_code == 401
        store = open_store(store_url)
        assert isinstance(store, SQLStore)
        with store.engine.connect() as connection:
            rows = [
                dict(row._mapping)
                for row in connection.execute(select(schema.login_sessions)).all()
            ]
        assert [(r["session_hash"], r["token_id"]) for r in rows] == [
            (hash_token(session), info.token_id)
        ]
        assert session not in repr(rows)
        assert token not in repr(rows)
        # The same cookie in another client (a copy of it) works until logout...
        page = browser.get("/experiments")
        assert page.status_code == 200
        with _with_cookie(server, session) as copy:
            assert copy.get("/api/v1/runs").status_code == 200
            out = browser.post("/logout", data={"csrf": _csrf(page.text)}, follow_redirects=False)
            assert out.status_code == 303
            # ...and logout ends it in the store, not only in the browser.
            ended = copy.get("/experiments")
            assert ended.status_code == 401
            assert copy.get("/api/v1/runs").status_code == 401
        with store.engine.connect() as connection:
            assert connection.execute(select(schema.login_sessions)).all() == []
        # Revoking the token ends its sessions; another token's session goes on.
        again = _log_in(browser, token)
        with server.client() as second:
            kept = _log_in(second, other)
        assert store.revoke_token(info.token_id)
        store.close()
        with _with_cookie(server, again) as revoked:
            assert revoked.get("/experiments").status_code == 401
        with _with_cookie(server, kept) as going_on:
            assert going_on.get("/experiments").status_code == 200


def test_a_login_session_ends_after_session_hours(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    assert isinstance(store, SQLStore)
    token, _ = create_token(store, scope="read")
    store.close()
    lasts = 3.0
    with (
        running_server(
            store_url, tmp_path, "--auth", "--session-hours", str(lasts / 3600)
        ) as server,
        server.client() as browser,
    ):
        started = time.monotonic()
        _log_in(browser, token)
        cookie = next(c for c in browser.cookies.jar if c.name == "evalyard_session")
        assert cookie.expires is not None
        assert cookie.expires - time.time() <= lasts + 1
        session = str(browser.cookies.get("evalyard_session"))
        with _with_cookie(server, session) as client:
            assert client.get("/experiments").status_code == 200
            time.sleep(max(0.0, lasts + 0.5 - (time.monotonic() - started)))
            expired = client.get("/experiments")
            assert expired.status_code == 401
            assert (
                client.get("/api/v1/runs")
                .json()["error"]["message"]
                .startswith("your login session has ended")
            )
