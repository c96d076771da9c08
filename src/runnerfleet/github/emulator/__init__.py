"""A local GitHub for the sandbox and the tests: REST API, runners, job queue, webhooks.

`GitHubEmulator(...).start()` serves, on a loopback address, the REST endpoints the client
uses (runners, registration/remove tokens, JIT configs, runner groups and labels, App
installations and tokens, workflow runs and jobs), with realistic bodies that validate
against GitHub's OpenAPI description; simulated runners (runnerfleet.github.emulator_runner)
connect, take jobs and finish them; `workflow_job` webhooks are signed and delivered to a
configured URL; faults (5xx, latency, primary/secondary rate limits) can be injected; every
REST call is logged as (method, path template, status) with per-endpoint counts.

It refuses what GitHub refuses: an installation token gets only what its installation was
granted, per runnerfleet.github.permissions.ENDPOINTS (403 "Resource not accessible by
integration"; the personal token is not limited), runner groups must exist (404), user
accounts have no /orgs endpoints, queued jobs are cancelled after 24 h and an offer not
taken within 60 s goes back to the queue, on the emulator's (compressible) clock. JIT
configs are the size and shape of GitHub's (over 4 KB). GET answers carry ETags; a
matching If-None-Match gets 304, which costs no rate limit.
"""

from runnerfleet.github.emulator.control import EmulatorControl
from runnerfleet.github.emulator.server import GitHubEmulator

__all__ = ["EmulatorControl", "GitHubEmulator"]
