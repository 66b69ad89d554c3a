"""Log set-up for `run()` and the CLI.

Two loggers: ``ferrosocket`` (start-up, shutdown, handler errors) and its
child ``ferrosocket.access``, one line per connection: opened, closed (code
and duration), or refused at the handshake (HTTP status and why, whether the
engine refused it or the handler did). ``--no-access-log`` (uvicorn's name)
silences the second one only; refusals are still counted in
``server.stats()["handshakes_refused"]``.

Every line carries the worker id (``ferrosocket[0]:``): 0 for a single
process and for the supervisor of ``--workers N``, which sets `worker_id` to
1 … N in the workers it starts (see `supervisor`).
"""

from __future__ import annotations

import logging

__all__ = ["ACCESS", "FORMAT", "configure", "worker_id"]

ACCESS = "ferrosocket.access"
FORMAT = "%(asctime)s %(levelname)s %(name)s[%(worker)s]: %(message)s"

#: The id of this worker process; 0 for a single process or the supervisor.
worker_id = 0


class _WorkerField(logging.Filter):
    """Gives every record the handler formats a ``worker`` attribute."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "worker"):
            record.worker = worker_id
        return True


def configure(level: str | int | None, access_log: bool = True) -> None:
    """Log to stderr at `level` (None leaves the logging set-up alone), the
    way ``logging.basicConfig`` does: a root handler is added only if the
    application has configured none."""
    access = logging.getLogger(ACCESS)
    access.setLevel(logging.NOTSET if access_log else logging.WARNING)
    if level is None:
        return
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(_WorkerField())
        root.addHandler(handler)
    logging.getLogger("ferrosocket").setLevel(level.upper() if isinstance(level, str) else level)
