"""Listening for ``evalyard ui`` and ``evalyard server``: bind first, then print, then serve.

Example:
    >>> sock = bind("127.0.0.1", 0)  # doctest: +SKIP
    >>> click.echo(f"on http://127.0.0.1:{bound_port(sock)}/")  # doctest: +SKIP
    >>> serve(app, sock)  # doctest: +SKIP

The commands bind the socket themselves, before they print anything, and hand it to
uvicorn: a port in use is one clear ``error:`` line (exit code 2) instead of a banner
followed by uvicorn's log, and no other process can take the port between a check and the
bind. ``--port 0`` takes a free port, which the banner then shows.
"""

from __future__ import annotations

import copy
import errno
import socket
from typing import Any, ClassVar

from evalyard.errors import EvalyardError

__all__ = ["ListenError", "WorkersFailedError", "bind", "bound_port", "serve"]

# uvicorn's default backlog.
_BACKLOG = 2048


class ListenError(EvalyardError):
    """The address and port to serve on cannot be bound (in use, not this machine's,
    privileged)."""

    exit_code: ClassVar[int] = 2


def _shown(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host or '0.0.0.0'}:{port}"


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host`` and ``port`` (0: a free port) and listening, ready
    for uvicorn.

    Raises:
        ListenError: when it cannot be bound; the message says why and what to change.
    """
    # As uvicorn does: IPv6 for an address with a colon, else IPv4 (names resolve to it).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said outright: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say so. Without it, an answer written as head then body waits for the client's delayed
    # ACK: about 40 ms on every request of a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A restarted server need not wait for the old connections' TIME_WAIT; a port
        # another socket listens on stays refused.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening now, a client that follows the banner at once waits for uvicorn to
        # accept rather than being refused.
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        where = _shown(host, port)
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(
                f"cannot listen on {where}: the port is in use; pick another with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise ListenError(
                f"cannot listen on {where}: permission denied (ports below 1024 need "
                "privileges); pick another with --port"
            ) from None
        reason = exc.strerror or str(exc)
        raise ListenError(
            f"cannot listen on {where}: {reason}; check --host (an address of this machine, "
            "such as 127.0.0.1 or 0.0.0.0)"
        ) from None
    return sock


def bound_port(sock: socket.socket) -> int:
    """The port the socket is bound to (the free one chosen for port 0)."""
    port: int = sock.getsockname()[1]
    return port


def _log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    # evalyard's own messages (a store that fails, say) go where uvicorn's errors go.
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["evalyard"] = {
        "handlers": ["default"],
        "level": "WARNING",
        "propagate": False,
    }
    return log_config


def serve(app: Any, sock: socket.socket, *, workers: int = 1, **options: Any) -> None:
    """Serve ``app`` on the bound socket with uvicorn until Ctrl-C; close the socket after.

    Args:
        app: the ASGI application; with ``workers`` > 1, a picklable function of no
            arguments that makes it, called once in each worker process.
        sock: the socket from :func:`bind`.
        workers: how many processes serve the socket. With more than one, this process
            supervises them (:class:`evalyard.cli.workers.Workers`) and serves nothing itself.
        options: more ``uvicorn.Config`` options.

    Raises:
        WorkersFailedError: when a worker process could not start (its error is in the
            log above).
    """
    import uvicorn

    if workers > 1:
        options.update(factory=True, workers=workers)
    config = uvicorn.Config(
        app, log_level="warning", log_config=_log_config(), server_header=False, **options
    )
    try:
        if workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            from evalyard.cli.workers import Workers

            supervisor = Workers(config, sockets=[sock])
            supervisor.run()
            if supervisor.failed:
                raise WorkersFailedError(
                    "a worker process could not start (its error is above); the server stopped"
                )
    except KeyboardInterrupt:
        # Ctrl-C is how a server is stopped: uvicorn has shut down cleanly by now.
        pass
    finally:
        sock.close()


class WorkersFailedError(EvalyardError):
    """A worker process of ``--workers N`` could not start: the server stopped."""

    exit_code: ClassVar[int] = 2
