import pytest
from pydantic import ValidationError

from slipway_contracts.commands import BuildImage

GOOD = {
    "name": "todo/backend",
    "tag": "1.2.3",
    "application": "backend",
    "build": {"context": "app"},
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Todo_Backend!"),
        ("name", "UPPER"),
        ("name", "-leading-dash"),
        ("name", "a//b"),
        ("tag", "v1.x"),
        ("tag", "1.0"),
        ("tag", "banana"),
        ("application", "database"),
    ],
)
def test_bad_image_fields_are_refused_naming_the_field(field, value):
    with pytest.raises(ValidationError) as caught:
        BuildImage.model_validate({**GOOD, field: value})
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "registry-1/team.app/web_ui"),
        ("tag", "latest"),
        ("tag", "v2.0.0"),
        ("tag", "1.0.0-rc.1+build.5"),
        ("repository", "localhost:5000/team/app"),
    ],
)
def test_docker_style_names_and_semver_tags_are_accepted(field, value):
    assert getattr(BuildImage.model_validate({**GOOD, field: value}), field) == value


def test_unknown_fields_are_refused_not_dropped():
    with pytest.raises(ValidationError) as caught:
        BuildImage.model_validate({**GOOD, "status": "built"})
    assert caught.value.errors()[0]["loc"] == ("status",)
