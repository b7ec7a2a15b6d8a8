"""Where webhooks may deliver (the allow-list): loopback by default, listed networks and
names otherwise; never a name looked up, never credentials in the URL."""

from __future__ import annotations

import pytest

from slipway_gateway.access.webhook_targets import AllowList
from slipway_gateway.settings import GatewaySettings
from slipway_libs.errors import InvalidInput

DEFAULT = AllowList.parse(GatewaySettings().webhook_allowed_targets)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hooks",
        "https://127.8.9.10/x",
        "http://[::1]:8080/",
        "http://localhost:3000/hook",
        "http://LOCALHOST./hook",
        "http://[::ffff:127.0.0.1]/",
    ],
)
def test_loopback_is_allowed_by_default(url: str) -> None:
    DEFAULT.check(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:10.0.0.1]/",
        "http://example.com/hook",
        "http://127.0.0.1.nip.io/hook",
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1/hook",
        "http://[::1/hook",
        "127.0.0.1:8080/hook",
    ],
)
def test_anything_else_is_refused_naming_url(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        DEFAULT.check(url)
    assert [e["field"] for e in refused.value.details] == ["url"]


def test_the_setting_lists_networks_and_names() -> None:
    settings = GatewaySettings(webhook_allowed_targets="10.20.0.0/16, hooks.internal")  # type: ignore[arg-type]
    allowed = AllowList.parse(settings.webhook_allowed_targets)
    allowed.check("https://10.20.3.4/x")
    allowed.check("https://hooks.internal/x")
    with pytest.raises(InvalidInput, match="allow-list"):
        allowed.check("http://127.0.0.1/x")
