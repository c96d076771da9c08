# mypy only; tests import the module by its top-level name (see README.md here)
from tests.integration.controlplane.cp_deployment import *  # noqa: F403
