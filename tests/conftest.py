"""Suite-wide settings.

Every GitHub request a client sends and every response the GitHub emulator returns during the
suite is validated against GitHub's official OpenAPI description (issue: GitHub integration).
"""

from __future__ import annotations

import os

os.environ.setdefault("RFLEET_GITHUB_SPEC_VALIDATE", "1")
