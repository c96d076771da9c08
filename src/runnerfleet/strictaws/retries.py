"""An AWS SDK's retry of a request whose first answer got lost: answered with that answer.

Seen in CI, over and over, on different calls: the emulator answered a write (Terraform's
state-lock PutItem 200, a CreateSubnet), the SDK sent the same request again, and the write
then failed on its own first attempt (ConditionalCheckFailed on the lock it had just taken,
InvalidSubnet.Conflict with the subnet it had just made). An SDK sends a request again only
when it did not get, or could not read, the answer to the last attempt; AWS answers every
request, so there such a retry of a landed write is all but unheard of. Under load the
emulator loses answers (the cause was not found: 60 Terraform applies under load did not
reproduce it).

Every AWS SDK names the operation in `amz-sdk-invocation-id` (the same on each attempt) and
counts attempts in `amz-sdk-request: attempt=N`. So the strict layer keeps the last
successful (2xx) answers by invocation id (`Answers`, bounded), and a later attempt of an
invocation that was answered with success gets that answer again instead of running twice.
An attempt after an error answer (a throttle, a 5xx) runs anew, as on AWS.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

_ATTEMPT = re.compile(r"attempt=(\d+)")
KEPT_ANSWERS = 512


def attempt(header: str | None) -> int:
    """The attempt number of an `amz-sdk-request` header (`attempt=2; max=5`); 1 without."""
    m = _ATTEMPT.search(header or "")
    return int(m.group(1)) if m else 1


@dataclass(frozen=True)
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status[:1] == "2"


class Answers:
    """The last `limit` successful answers, by invocation id (thread-safe)."""

    def __init__(self, limit: int = KEPT_ANSWERS) -> None:
        self.limit = limit
        self._kept: OrderedDict[str, Answer] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, invocation: str, answer: Answer) -> None:
        with self._lock:
            if not answer.ok:
                self._kept.pop(invocation, None)  # a retry after an error runs anew
                return
            self._kept[invocation] = answer
            self._kept.move_to_end(invocation)
            while len(self._kept) > self.limit:
                self._kept.popitem(last=False)

    def replay(self, invocation: str | None, tries: int) -> Answer | None:
        """The answer to give a retry (attempt >= 2) of an invocation answered with success."""
        if not invocation or tries < 2:
            return None
        with self._lock:
            return self._kept.get(invocation)
