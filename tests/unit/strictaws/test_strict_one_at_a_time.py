"""The strict layer lets one request at a time into moto (not thread-safe), except an SQS long
poll, which must not hold back the SendMessage it waits for.

The app behind the layer is a stand-in that records who is inside it: a first request holds
it until the test releases it, and the test looks whether a second one got in meanwhile. The
only wait is bounded by an event (the second request entering), never a sleep that decides.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from runnerfleet.strictaws.middleware import StrictAws

SCOPE = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/us-east-1/{}/aws4_request, Sig=x"
# How long the test lets a second request try to get in while the first is inside. With the
# lock it never gets in, so this bound is the test's cost; without it, it gets in at once.
ENTRY_WINDOW_S = 0.5


class HeldApp:
    """A WSGI app whose first caller stays inside until `release` is set."""

    def __init__(self) -> None:
        self.inside: list[str] = []
        self.first_inside = threading.Event()
        self.second_inside = threading.Event()
        self.release = threading.Event()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        self.inside.append(environ["name"])
        if len(self.inside) == 1:
            self.first_inside.set()
            assert self.release.wait(30), "the test never released the first request"
        else:
            self.second_inside.set()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


def _environ(name: str, service: str, target: str | None = None) -> dict[str, Any]:
    env: dict[str, Any] = {
        "name": name,
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "HTTP_AUTHORIZATION": SCOPE.format(service),
        "CONTENT_LENGTH": "2",
        "wsgi.input": io.BytesIO(b"{}"),
    }
    if target:
        env["HTTP_X_AMZ_TARGET"] = target
    return env


@pytest.fixture
def held() -> Iterator[tuple[HeldApp, StrictAws]]:
    with mock_aws():  # StrictAws seeds its admin user in moto's IAM
        app = HeldApp()
        yield app, StrictAws(app, admin_key=("AKIDSTRICTADMIN00001", "secret"))


def _second_gets_in_while_first_is_inside(
    held: tuple[HeldApp, StrictAws], first: dict[str, Any], second: dict[str, Any]
) -> bool:
    app, layer = held
    answers: list[bytes] = []

    def call(environ: dict[str, Any]) -> None:
        answers.append(b"".join(layer(environ, lambda *a: None)))

    threads = [threading.Thread(target=call, args=(first,))]
    threads[0].start()
    assert app.first_inside.wait(30), "the first request never reached the app"
    threads.append(threading.Thread(target=call, args=(second,)))
    threads[1].start()
    got_in = app.second_inside.wait(ENTRY_WINDOW_S)
    app.release.set()
    for t in threads:
        t.join(30)
    assert answers == [b"{}", b"{}"] and app.inside == [first["name"], second["name"]]
    return got_in


def test_a_second_request_waits_until_the_first_left_moto(
    held: tuple[HeldApp, StrictAws],
) -> None:
    first = _environ("transact", "dynamodb", "DynamoDB_20120810.TransactWriteItems")
    second = _environ("describe", "ec2")  # another service: autoscaling writes EC2's models
    assert not _second_gets_in_while_first_is_inside(held, first, second)


def test_an_sqs_long_poll_does_not_hold_back_a_send(held: tuple[HeldApp, StrictAws]) -> None:
    first = _environ("receive", "sqs", "AmazonSQS.ReceiveMessage")
    second = _environ("send", "sqs", "AmazonSQS.SendMessage")
    assert _second_gets_in_while_first_is_inside(held, first, second)
