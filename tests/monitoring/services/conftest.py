import pytest


@pytest.fixture(autouse=True)
def _no_real_enqueue(no_broker):
    """After-commit enqueues are recorded, never sent to the shared Redis."""
