"""``evalyard ui``: serves the store on 127.0.0.1:8000 by default, loopback Hosts only.

Here uvicorn is not really started; tests/cli/test_listen.py serves for real."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from starlette.applications import Starlette

from evalyard.cli.ui import allowed_hosts_for, ui
from evalyard.store import open_store


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What uvicorn was asked to serve, on which socket (it is not really started)."""
    calls: dict[str, Any] = {}

    def fake_run(server: uvicorn.Server, sockets: list[socket.socket] | None = None) -> None:
        assert sockets is not None
        calls["app"] = server.config.app
        calls["address"] = sockets[0].getsockname()[:2]

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    return calls


def test_ui_binds_loopback_by_default(served: dict[str, Any], tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path}/s.db").close()
    # Port 0 rather than the default 8000, which another program may hold.
    result = CliRunner().invoke(ui, ["--port", "0", "--store", f"sqlite:///{tmp_path}/s.db"])
    assert result.exit_code == 0, result.output
    host, port = served["address"]
    assert host == "127.0.0.1"
    assert port > 0
    assert isinstance(served["app"], Starlette)
    assert f"http://127.0.0.1:{port}/" in result.output
    default_port = next(option for option in ui.params if option.name == "port").default
    assert default_port == 8000


def test_ui_uses_the_store_of_the_environment(
    served: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store(f"sqlite:///{tmp_path}/env.db").close()
    monkeypatch.setenv("EVALYARD_STORE", str(tmp_path / "env.db"))
    result = CliRunner().invoke(ui, ["--port", "0"])
    assert result.exit_code == 0, result.output
    assert f":{served['address'][1]}/" in result.output
    assert "env.db" in result.output


def test_listening_on_every_address_warns_about_the_host_allow_list(
    served: dict[str, Any], tmp_path: Path
) -> None:
    open_store(f"sqlite:///{tmp_path}/s.db").close()
    result = CliRunner().invoke(
        ui, ["--host", "0.0.0.0", "--port", "0", "--store", str(tmp_path / "s.db")]
    )
    assert result.exit_code == 0, result.output
    assert "--allow-host" in result.output


def test_a_password_in_the_store_url_is_not_printed(served: dict[str, Any]) -> None:
    from evalyard.cli.ui import _display

    assert _display("postgresql://user:secret@db:5432/x") == "postgresql://user:***@db:5432/x"
    assert _display("sqlite:///a.db") == "sqlite:///a.db"


def test_allowed_hosts() -> None:
    assert allowed_hosts_for("127.0.0.1", ()) == ("127.0.0.1", "localhost", "::1")
    assert "10.1.2.3" in allowed_hosts_for("10.1.2.3", ())
    assert allowed_hosts_for("0.0.0.0", ("box.example",))[-1] == "box.example"
    assert "0.0.0.0" not in allowed_hosts_for("0.0.0.0", ())


def test_bad_port_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(ui, ["--port", "70000"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("args", "auth"),
    [([], False), (["--auth"], True), (["--host", "0.0.0.0"], True)],
)
def test_auth_is_on_off_loopback_and_with_the_flag(
    served: dict[str, Any], tmp_path: Path, args: list[str], auth: bool
) -> None:
    open_store(f"sqlite:///{tmp_path}/s.db").close()
    result = CliRunner().invoke(ui, [*args, "--port", "0", "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.output
    assert served["app"].state.context.auth is auth
    assert ("auth on" in result.output) is auth
    assert ("no access tokens yet" in result.output) is auth


@pytest.mark.parametrize("command", ["ui", "server"])
def test_any_host_needs_auth(served: dict[str, Any], tmp_path: Path, command: str) -> None:
    from evalyard.cli.main import cli

    open_store(f"sqlite:///{tmp_path}/s.db").close()
    store = ["--port", "0", "--store", str(tmp_path / "s.db")]
    refused = CliRunner().invoke(cli, [command, "--allow-host", "*", *store])
    assert refused.exit_code == 2
    assert "DNS rebinding" in refused.output
    assert "app" not in served  # nothing was served
    allowed = CliRunner().invoke(cli, [command, "--allow-host", "*", "--auth", *store])
    assert allowed.exit_code == 0, allowed.output
    assert served["app"].state.context.auth is True
