# mypy only; tests import the module by its top-level name (see README.md here)
from tests.integration.workflows.wfrun import *  # noqa: F403
