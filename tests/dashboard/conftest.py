"""Fixtures borrowed from the node-pools and My Models tests (rows as their services write them)."""

from tests.mymodels.fixtures import catalog, qwen25_7b  # noqa: F401
from tests.nodepools.conftest import make_node, make_pool, make_running_job  # noqa: F401
