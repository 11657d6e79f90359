"""``evalyard token``: the access tokens of a team server (docs/comparison.md §6).

Example:
    $ evalyard token create --scope write --project qa --name "ci" --store postgresql://...
    eyd_3q0...            (shown once: only its hash is stored)
    $ evalyard token list --store postgresql://...
    $ evalyard token revoke 4f2a9c01b7de --store postgresql://...

Tokens live in the server's SQL store, so these commands run where that store is reachable
(there is no API to mint tokens: a stolen token cannot make more).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import cast

import click

from evalyard.config import resolve_store_url
from evalyard.store import get_store
from evalyard.store.base import TOKEN_SCOPES, TokenStore

__all__ = ["token"]

_store_option = click.option(
    "--store",
    "store_url",
    metavar="URL",
    default=None,
    help="The server's SQL store (sqlite:///PATH, postgresql://...); "
    "default: EVALYARD_STORE, else .evalyard/evalyard.db here.",
)


def _sql_store(store_url: str | None, *, create: bool = False) -> TokenStore:
    # Only `token create` writes: listing or revoking tokens creates no store.
    store = get_store(resolve_store_url(store_url), create=create)
    if not store.capabilities.tokens:
        raise click.UsageError(
            "tokens live in the server's SQL store: give --store sqlite:///... or "
            "postgresql://..., not the server's URL"
        )
    return cast(TokenStore, store)


@click.group("token")
def token() -> None:
    """Create, list and revoke the access tokens of a team server."""


@token.command("create")
@click.option("--scope", type=click.Choice(TOKEN_SCOPES), required=True, help="write also reads.")
@click.option("--project", default=None, help="Open only this project (default: every one).")
@click.option("--name", default=None, help="A note: whose token, or what for.")
@_store_option
def create(scope: str, project: str | None, name: str | None, store_url: str | None) -> None:
    """Create a token and print it, once: only its hash is stored."""
    from evalyard.server.tokens import create_token

    secret, info = create_token(
        _sql_store(store_url, create=True), scope=scope, project=project, name=name
    )
    click.echo(secret)
    where = f"project {info.project!r}" if info.project else "every project"
    click.echo(
        f"token {info.token_id}: {info.scope}, {where}. It is shown only this once; "
        "give it to the SDK as EVALYARD_TOKEN.",
        err=True,
    )


@token.command("list")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table")
@_store_option
def list_tokens(output_format: str, store_url: str | None) -> None:
    """List the tokens (never their secrets)."""
    found = _sql_store(store_url).list_tokens()
    if output_format == "json":
        click.echo(json.dumps([info.to_dict() for info in found], indent=2))
        return
    if not found:
        click.echo("no tokens; create one with `evalyard token create --scope read|write`")
        return
    for info in found:
        created = datetime.fromtimestamp(info.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        state = "revoked" if info.revoked_at is not None else "valid"
        click.echo(
            f"{info.token_id}  {info.scope:<5}  {info.project or '(every project)':<20}  "
            f"{state:<7}  {created}  {info.name or ''}"
        )


@token.command("revoke")
@click.argument("token_id")
@_store_option
def revoke(token_id: str, store_url: str | None) -> None:
    """Revoke a token by its id (see `evalyard token list`)."""
    if not _sql_store(store_url).revoke_token(token_id):
        raise click.UsageError(f"no valid token has the id {token_id!r}")
    click.echo(f"token {token_id} revoked")
