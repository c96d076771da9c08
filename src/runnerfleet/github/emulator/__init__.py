"""A local GitHub for the sandbox and the tests: REST API, runners, job queue, webhooks.

`GitHubEmulator(...).start()` serves, on a loopback address, the REST endpoints the client
uses (runners, registration/remove tokens, JIT configs, runner groups and labels, App
installations and tokens, workflow runs and jobs), with realistic bodies that validate
against GitHub's OpenAPI description; simulated runners (runnerfleet.github.emulator_runner)
connect, take jobs and finish them; `workflow_job` webhooks are signed and delivered to a
configured URL; faults (5xx, latency, primary/secondary rate limits) can be injected; every
REST call is logged as (method, path template, status) with per-endpoint counts.
"""

from runnerfleet.github.emulator.control import EmulatorControl
from runnerfleet.github.emulator.server import GitHubEmulator

__all__ = ["EmulatorControl", "GitHubEmulator"]
