"""ferrosocket's event loop: the engine on the loop's own thread.

`EventLoop` is asyncio's `SelectorEventLoop` on `_native.Selector`, whose
`select()` runs the engine's current-thread tokio runtime until Python has
something to do (see rust/python/src/selector.rs). A server started on this
loop needs no I/O thread: a message from the network reaches a waiting
`receive()` without a thread hop, a socketpair byte or a context switch.

Everything else about the loop is asyncio's: other descriptors (a database
driver's sockets, subprocess pipes), `call_soon_threadsafe`,
`run_in_executor`, signal handlers. One thing changes: the engine only runs
while the loop waits, so a handler that blocks the loop (``time.sleep()``, a
CPU-bound loop) stalls every connection's I/O until it returns; nothing is
lost, and the engine catches up once the loop waits again.

Signals: the stock loop leaves Python's signal wake-up descriptor unset until
`add_signal_handler()`, relying on `select()` returning with EINTR. The
engine's wait does not return on EINTR, so `run_forever()` points the wake-up
descriptor at the loop's self-pipe while it runs (asyncio's Proactor loop
does the same): Ctrl-C and `asyncio.Runner`'s SIGINT handling work as usual.
"""

from __future__ import annotations

import asyncio
import signal
import threading

from . import _native

__all__ = ["EventLoop", "new_event_loop"]


class EventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop with the engine in its selector. Servers
    started on it run on the loop's thread unless their config sets
    ``threads``."""

    def __init__(self) -> None:
        self.engine_selector = _native.Selector()
        super().__init__(self.engine_selector)  # type: ignore[arg-type]

    def run_forever(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return super().run_forever()
        ours = self._csock.fileno()  # type: ignore[attr-defined]
        try:
            previous = signal.set_wakeup_fd(ours)
        except (ValueError, OSError):  # not the main interpreter
            return super().run_forever()
        try:
            super().run_forever()
        finally:
            # Put back what was there, unless someone replaced ours meanwhile.
            current = signal.set_wakeup_fd(previous)
            if current not in (ours, -1):
                signal.set_wakeup_fd(current)


def new_event_loop() -> EventLoop:
    """A new `EventLoop`; also a loop factory:
    ``asyncio.run(main(), loop_factory=ferrosocket.new_event_loop)`` or
    ``asyncio.Runner(loop_factory=ferrosocket.new_event_loop)``."""
    return EventLoop()
