"""Request/response values and routing shared by the emulator's route modules (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


@dataclass
class Identity:
    """Who is calling: the App (JWT), an installation token, or the personal token."""

    kind: str  # "app" | "installation" | "pat" | "runner" | "control"
    installation_id: int | None = None

    @property
    def bucket(self) -> str:
        return f"installation:{self.installation_id}" if self.kind == "installation" else self.kind


@dataclass
class Request:
    method: str
    path: str
    template: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    headers: dict[str, str]  # lower-case names
    identity: Identity | None = None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Paginated replies: the server slices `items` by per_page/page and adds Link headers.
    items: Sequence[Any] | None = None
    items_key: str | None = None  # None: the page is a bare JSON array
    extra: dict[str, Any] = field(default_factory=dict)


class Bodies(Sequence[Any], Generic[T]):
    """The bodies of `records`, each made when it is read: a paginated reply renders only
    its page's (GitHub does not build 5,000 runner bodies to answer a page of 100)."""

    def __init__(self, records: Sequence[T], body: Callable[[T], Any]) -> None:
        self._records, self._body = records, body

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._body(r) for r in self._records[index]]
        return self._body(self._records[index])


Handler = Callable[[Request], Reply]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    auth: str  # "jwt" | "token" | "installation" | "runner" | "none"
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        self.regex = re.compile(f"^{pattern}$")


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def match(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for (method, path) and its path parameters; 405 if only the method differs."""
    allowed = False
    for route in routes:
        m = route.regex.match(path)
        if m:
            if route.method == method:
                return route, m.groupdict()
            allowed = True
    if allowed:
        raise HttpError(405, "Method Not Allowed")
    return None
