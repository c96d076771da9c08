"""The runnerfleet agent: runs on each runner host.

It reads the host's one-shot registration from SSM `/<name>/runners/<instance-id>`, deletes it,
starts the GitHub Actions runner (JIT config through the environment, never argv), reports
health, drains on spot interruption or shutdown, and terminates ephemeral hosts after their job.
Decisions are pure (`decisions`); I/O sits behind small ports (`ports`, `imds`, `launcher`).
"""
