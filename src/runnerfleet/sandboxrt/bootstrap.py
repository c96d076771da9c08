"""The sandbox's Lambda runtime bootstrap: runs ONE function's handler, as Lambda's runtime does.

Run by the function's runtime interpreter in isolated mode, never imported by the CLI:

    python3.12 -I bootstrap.py   (environment: LAMBDA_TASK_ROOT=<unpacked zip>, _HANDLER=...)

Standard library only. Like Lambda's own bootstrap it puts the task root (the unpacked zip)
first on sys.path, imports the handler once (an init error is reported for every invocation,
like Lambda's "Runtime.ImportModuleError"), installs a root logging handler that writes
`[LEVEL]\\t<time>Z\\t<request id>\\t<message>` lines (to stderr, which the sandbox sends to
`.runnerfleet/control-plane.log`), and then serves invocations for as long as it lives (Lambda
reuses the process, so module-level caches survive between invocations).

Protocol with the sandbox (runnerfleet.sandboxrt.lambdas): one JSON line per invocation on
stdin, `{"event": ..., "request_id": ..., "deadline_ms": ...}`, one JSON line per reply on the
original stdout, `{"result": ...}` or `{"error": {"errorType", "errorMessage", "stackTrace"}}`.
The handler's own prints go to stderr, so they can never corrupt a reply.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
import traceback
from typing import Any

_REQUEST_ID = {"id": ""}


class LambdaContext:
    """The context object Lambda passes to Python handlers (same attribute names)."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = env.get("RUNNERFLEET_SANDBOX_FUNCTION_ARN", "")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _REQUEST_ID["id"]
        return True


def _install_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    fmt = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    fmt.converter = time.gmtime
    handler.setFormatter(fmt)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        root.setLevel(level)


def _error(exc: BaseException, kind: str | None = None) -> dict[str, Any]:
    return {
        "errorType": kind or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__)[-8:],
    }


def _load() -> tuple[Any, dict[str, Any] | None]:
    spec = os.environ.get("_HANDLER", "")
    module_name, _, func_name = spec.rpartition(".")
    if not module_name:
        bad = ValueError(f"Bad handler '{spec}': not enough values to unpack")
        return None, _error(bad, "Runtime.MalformedHandlerName")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return None, _error(
            RuntimeError(f"Unable to import module '{module_name}': {exc}"),
            "Runtime.ImportModuleError",
        )
    except Exception as exc:
        return None, _error(exc, "Runtime.UserCodeSyntaxError" if isinstance(exc, SyntaxError)
                            else None)  # fmt: skip
    func = getattr(module, func_name, None)
    if func is None:
        missing = AttributeError(f"Handler '{func_name}' missing on module '{module_name}'")
        return None, _error(missing, "Runtime.HandlerNotFound")
    return func, None


def main() -> int:
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "")
    if not task_root or not os.path.isdir(task_root):
        print(f"bootstrap: LAMBDA_TASK_ROOT {task_root!r} is not a folder", file=sys.stderr)
        return 2
    sys.path.insert(0, task_root)
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the handler's prints go to the log, never into a reply
    sys.stdout = sys.stderr
    _install_logging()
    func, init_error = _load()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        _REQUEST_ID["id"] = str(req.get("request_id", ""))
        reply: dict[str, Any]
        if init_error is not None:
            reply = {"error": init_error}
        else:
            ctx = LambdaContext(_REQUEST_ID["id"], int(req.get("deadline_ms", 0)))
            try:
                result = func(req.get("event"), ctx)
                json.dumps(result)  # Lambda answers Runtime.MarshalError otherwise
                reply = {"result": result}
            except Exception as exc:
                reply = {"error": _error(exc)}
                print(
                    f"[ERROR]\t{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime())}Z\t"
                    f"{_REQUEST_ID['id']}\t{type(exc).__name__}: {exc}",
                    file=sys.stderr,
                )
        sys.stderr.flush()
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
