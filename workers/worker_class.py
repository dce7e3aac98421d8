"""The RQ worker class the Procfile's `worker` runs."""

from __future__ import annotations

from types import FrameType

from rq import SimpleWorker

from workers import runtime


class RecbridgeWorker(SimpleWorker):
    """RQ's SimpleWorker that also tells a running drain job about a warm shutdown.

    A drain job keeps its worker for as long as streams are ready; on SIGTERM it should hand
    its place to a successor at once rather than make the shutdown wait (or be killed).
    """

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()  # type: ignore[no-untyped-call]
        if runtime.stop_requested():  # asked while starting (workers.__main__): stop first
            self._stop_requested = True

    def subscribe(self) -> None:
        # RQ's pubsub thread must not take the SIGTERM meant for the main thread.
        with runtime.stop_signals_blocked():
            super().subscribe()  # type: ignore[no-untyped-call]

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        runtime.request_stop()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
