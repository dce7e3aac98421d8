"""The RQ worker class the Procfile's `worker` runs."""

from __future__ import annotations

import logging
from types import FrameType

from redis.client import PubSubWorkerThread
from rq import SimpleWorker

from workers import runtime

PUBSUB_WAKE_S = 1.0  # how soon RQ's pubsub thread sees a stop (one cheap poll a second)
PUBSUB_JOIN_S = 30.0  # a deadline for a loaded machine, not a speed: it ends within ~1 s
log = logging.getLogger("recbridge.worker")


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
        # RQ's own pubsub thread blocks up to 60 s per read, so its ``unsubscribe`` (join for
        # 1 s, then close the connection under it) left it running when a loaded machine was
        # slow: closed under a read, or alive in hiredis while Python finalized, it crashed
        # the worker with SIGSEGV at a SIGTERM. Ours wakes every PUBSUB_WAKE_S to see a stop.
        self.pubsub = self.connection.pubsub()  # type: ignore[no-untyped-call]
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        # Started with SIGTERM blocked: it must not take the signal meant for the main thread.
        with runtime.stop_signals_blocked():
            self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
                sleep_time=PUBSUB_WAKE_S,
                daemon=True,
                exception_handler=self._pubsub_exception_handler,
            )

    def unsubscribe(self) -> None:
        """Stop the pubsub thread and wait for it; only then close its connection."""
        thread: PubSubWorkerThread | None = self.pubsub_thread
        self.pubsub_thread = None
        if thread is None:
            return
        thread.stop()
        thread.join(timeout=PUBSUB_JOIN_S)
        if thread.is_alive():  # never close a connection a thread still reads
            log.error("worker.pubsub_thread_stuck", extra={"waited_s": PUBSUB_JOIN_S})
            return
        if self.pubsub is not None:
            self.pubsub.close()

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        runtime.request_stop()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
