from tests.mymodels.fixtures import *  # noqa: F401,F403 - shared fixtures of My Models and versions
