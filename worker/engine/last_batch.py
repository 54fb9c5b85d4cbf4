"""Steps 2 and 3 of the loop's last batch (the checkpoint order: worker/engine/loop.py):
its publish, running on the publisher thread, and its Kafka offset commit once that
publish is done. The loop settles them before it hands the next batch's publish over."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

from worker.ports import TP

Commit = Callable[[dict[TP, int], bool], None]  # (offsets, wait for the answer)


class LastBatch:
    def __init__(self, commit: Commit) -> None:
        self._commit = commit
        self._owed: tuple[Future[int], dict[TP, int]] | None = None
        self._unanswered: dict[TP, int] = {}  # the last Kafka commit, sent without waiting

    def owe(self, publishing: Future[int], offsets: dict[TP, int]) -> None:
        """A batch's publish was handed over; its offsets go to Kafka once it is done."""
        if self._owed is not None:
            raise RuntimeError("the last batch's steps 2 and 3 were not settled")
        self._owed = (publishing, offsets)

    def settle(self, wait: bool = False) -> None:
        """The last batch's publish awaited (its errors surface here), then its offsets sent
        to Kafka (step 3); with `wait`, the answer to the last commit awaited too."""
        if self._owed is not None:
            publishing, offsets = self._owed
            self._owed = None
            publishing.result()  # step 2
            self._unanswered = offsets
            if not wait:
                self._commit(offsets, False)  # step 3, without waiting for the answer
                return
        if wait and self._unanswered:
            # Caught up or stopping: the last offsets once more, answer awaited, so that lag
            # tools see them even if the unawaited commit was cut short.
            self._commit(self._unanswered, True)  # step 3
            self._unanswered = {}
