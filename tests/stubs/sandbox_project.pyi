# mypy only; tests import the module by its top-level name (see README.md here)
from tests.e2e.sandbox_project import *  # noqa: F403
