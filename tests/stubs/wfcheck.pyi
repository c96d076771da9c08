# mypy only; tests import the module by its top-level name (see README.md here)
from tests.unit.workflows.wfcheck import *  # noqa: F403
