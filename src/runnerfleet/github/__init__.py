"""GitHub integration: REST client, webhooks, and a local GitHub emulator.

- `client`: GitHubClient with App (JWT + cached installation tokens) or token auth, retries,
  rate limits, ETags and pagination; `models`, `errors`, `auth`, `retry` hold its parts.
- `webhooks`: signature check, `workflow_job` parsing, delivery dedupe.
- `emulator`: a local stand-in for api.github.com (runners, jobs, webhooks, faults);
  `emulator_runner` is the simulated runner that connects to it.
- `spec`: checks traffic against GitHub's OpenAPI description vendored in `openapi/`.
"""
