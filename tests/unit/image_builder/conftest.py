import pytest

from tests.unit.image_builder.fakes import add_context, dependencies


@pytest.fixture
def deps(tmp_path):
    """The image-builder's dependencies on fakes, with a build context `app`."""
    add_context(tmp_path)
    return dependencies(tmp_path)
