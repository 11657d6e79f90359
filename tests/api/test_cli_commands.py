"""The team server's commands: `server` (auth on off loopback), `token`, `sync`."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evalyard.cli.listen import bind
from evalyard.cli.main import cli
from evalyard.cli.server import is_loopback
from evalyard.server.tokens import hash_token
from evalyard.store import SQLStore, open_store


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("yard.internal", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("args", "auth"),
    [
        (["--host", "127.0.0.1"], False),
        (["--host", "127.0.0.1", "--auth"], True),
        (["--host", "0.0.0.0"], True),
        (["--host", "10.1.2.3"], True),
    ],
)
def test_auth_is_on_off_loopback_and_with_the_flag(
    args: list[str], auth: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    import evalyard.cli.server

    served: dict[str, Any] = {}

    def fake_run(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
        served["app"] = server.config.app  # not really served

    def loopback_bind(host: str, port: int) -> socket.socket:
        # 10.1.2.3 is no address of this machine: record it, listen on loopback instead.
        served["host"] = host
        return bind("127.0.0.1", 0)

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    monkeypatch.setattr(evalyard.cli.server, "bind", loopback_bind)
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    result = CliRunner().invoke(cli, ["server", *args, "--store", url])
    assert result.exit_code == 0, result.output
    assert served["app"].state.context.auth is auth
    assert served["app"].state.context.writable is True
    assert served["host"] == args[1]
    if auth:
        assert "no access tokens yet" in result.output


def test_the_server_refuses_to_serve_another_server() -> None:
    result = CliRunner().invoke(cli, ["server", "--store", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "SQL store" in result.output


def test_token_create_prints_it_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evalyard.db'}"
    runner = CliRunner()
    created = runner.invoke(
        cli, ["token", "create", "--scope", "write", "--project", "qa", "--store", url]
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("eyd_")
    assert len(secret) > 40
    store = open_store(url)
    assert isinstance(store, SQLStore)
    try:
        with store.engine.connect() as connection:
            dumped = "\n".join(
                str(row) for row in connection.exec_driver_sql("SELECT * FROM access_tokens")
            )
        assert secret not in dumped
        assert hash_token(secret) in dumped
        info = store.find_token(hash_token(secret))
        assert info is not None
        assert (info.scope, info.project) == ("write", "qa")
    finally:
        store.close()
    listed = runner.invoke(cli, ["token", "list", "--store", url])
    assert info.token_id in listed.output
    assert secret not in listed.output
    revoked = runner.invoke(cli, ["token", "revoke", info.token_id, "--store", url])
    assert revoked.exit_code == 0
    again = runner.invoke(cli, ["token", "revoke", info.token_id, "--store", url])
    assert again.exit_code == 2


def test_token_create_needs_the_sql_store() -> None:
    result = CliRunner().invoke(
        cli, ["token", "create", "--scope", "read", "--store", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2


def test_sync_with_nothing_spooled() -> None:
    result = CliRunner().invoke(cli, ["sync"])
    assert result.exit_code == 0
    assert "nothing to send" in result.output
