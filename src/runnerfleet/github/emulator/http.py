"""Request/response values and routing shared by the emulator's route modules (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
    items: list[Any] | None = None
    items_key: str | None = None  # None: the page is a bare JSON array
    extra: dict[str, Any] = field(default_factory=dict)


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
