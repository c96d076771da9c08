# mypy only; tests import the module by its top-level name (see README.md here)
from tests.integration.hosts.hosts_support import *  # noqa: F403
