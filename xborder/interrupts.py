"""Ctrl-C (SIGINT) and `kill` (SIGTERM) unwind a long-running command, whatever it inherited.

A process inherits its signal dispositions and its signal mask across fork and exec. A command
started in the background by a shell without job control (`make test &` from a script, `nohup`,
many CI runners and tool wrappers) gets SIGINT ignored, and Python then leaves SIGINT ignored
(it installs its KeyboardInterrupt handler only over the default action): `xborder index follow`
started that way slept through every SIGINT (the whole-suite test runs where it never stopped).
A blocked signal is never delivered at all. And SIGTERM's default action kills at once, without
the `finally` blocks that release locks and stop child processes.

`unwind_on_stop_signals()` makes both raise KeyboardInterrupt in the main thread, unblocked, for
the time of a `with` block, then puts back what was there. The same inheritance reaches the
processes we start: an anvil, a geth or a chain keeper started by such a command would sleep
through the SIGTERM that `xborder chain stop` sends it. `stop_signals_to_default()`, run in the
child before exec, gives it SIGINT and SIGTERM with their default action (a keeper then installs
its own handlers), unblocked.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals that stop a long-running command: Ctrl-C and `kill` (docker stop, systemd, CI).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextmanager
def unwind_on_stop_signals() -> Iterator[None]:
    """Inside: SIGINT and SIGTERM raise KeyboardInterrupt in the main thread, even when this
    process was started with them ignored or blocked. Call it from the main thread."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, _interrupted)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def stop_signals_to_default() -> None:
    """In a child process before exec (`subprocess.Popen(preexec_fn=...)`) or at a child's start:
    SIGINT and SIGTERM back to their default action and unblocked, whatever the parent inherited
    (an "ignore" disposition and the signal mask survive exec; handlers do not)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
