import pytest

from slipway_libs.errors import InvalidInput
from slipway_libs.paths import resolve_inside, resolve_inside_roots


def test_relative_paths_resolve_against_the_first_root(tmp_path):
    (tmp_path / "app").mkdir()
    assert resolve_inside_roots("app", [tmp_path], "build.context") == tmp_path / "app"


@pytest.mark.parametrize("raw", ["/etc", "../../", "app/../../.."])
def test_paths_leaving_the_roots_are_refused(tmp_path, raw):
    (tmp_path / "app").mkdir()
    with pytest.raises(InvalidInput) as caught:
        resolve_inside_roots(raw, [tmp_path], "build.context")
    assert caught.value.details[0]["field"] == "build.context"
    assert "outside the allowed roots" in caught.value.details[0]["message"]


def test_a_symlink_escaping_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "sneaky").symlink_to("/etc")
    with pytest.raises(InvalidInput, match="outside the allowed roots"):
        resolve_inside_roots("sneaky", [root], "build.context")


def test_a_dockerfile_path_may_not_leave_its_context(tmp_path):
    with pytest.raises(InvalidInput, match="leaves its directory"):
        resolve_inside(tmp_path, "../Dockerfile", "build.dockerfile")


def test_a_relative_path_is_found_in_any_root_the_first_that_has_it_winning(tmp_path):
    first, second = tmp_path / "charts", tmp_path / "examples"
    (first / "slipway").mkdir(parents=True)
    (second / "charts" / "todo").mkdir(parents=True)
    (second / "slipway").mkdir()
    assert resolve_inside_roots("charts/todo", [first, second], "source.path") == (
        second / "charts" / "todo"
    )
    assert resolve_inside_roots("slipway", [first, second], "source.path") == first / "slipway"


def test_a_path_too_long_for_the_file_system_is_invalid_input(tmp_path):
    with pytest.raises(InvalidInput) as refused:
        resolve_inside_roots("x" * 5000, [tmp_path], "build.context")
    assert "build.context" in str(refused.value.details)
