# mypy only; tests import the module by its top-level name (see README.md here)
from tests.unit.github.github_fakes import *  # noqa: F403
