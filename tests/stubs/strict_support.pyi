# mypy only; tests import the module by its top-level name (see README.md here)
from tests.integration.strictaws.strict_support import *  # noqa: F403
