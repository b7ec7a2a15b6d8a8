import pytest

from tests.unit.cluster_manager.fakes import Parts


@pytest.fixture
def parts(tmp_path):
    """The cluster-manager's dependencies on fakes (`parts.deps`) and the fakes."""
    return Parts(tmp_path / "state", progress_flush_s=60.0)
