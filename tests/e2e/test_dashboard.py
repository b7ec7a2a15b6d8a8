"""The dashboard (`/ui`) and the API reference (`/docs`) in a real browser: Debian's
Chromium, headless, driven by Playwright (no browser is downloaded), against the whole
stack. What a person sees is asserted; Playwright's `expect` waits, nothing sleeps."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright

from tests.stack import Stack
from tests.waiting import poll

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IMAGES = "/api/container-images"
BUILD_S = 120_000  # ms: a build of the offline example, on a loaded machine
SHORT = 20_000  # ms: what the page shows after one call, on a loaded machine
expect.set_options(timeout=SHORT)  # for every expect here (Playwright's default is 5 s)
# Set on the page before acting, read after: a reload would have dropped it.
MARK_PAGE = "() => { window.__sameDocument = true; }"
SAME_PAGE = "() => window.__sameDocument === true"
# Every status an images row has shown, in order, recorded by the test (not the page).
RECORD_STATUSES = """(name) => {
  window.__statuses = [];
  const note = () => {
    for (const row of document.querySelectorAll("table[data-kind=images] tbody tr")) {
      if (!row.textContent.includes(name)) continue;
      const badge = row.querySelector("[data-role=status]");
      const last = window.__statuses[window.__statuses.length - 1];
      if (badge && badge.textContent !== last) window.__statuses.push(badge.textContent);
    }
  };
  new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true });
  note();
}"""


@dataclass
class Tokens:
    admin: str
    operator: str
    viewer: str


@dataclass
class Visit:
    """A browser tab with its own session storage, recording every URL it requests."""

    page: Page
    requested: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make install` as root")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> Tokens:
    admin = stack.admin_token_file.read_text().strip()
    made = {}
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(admin)) as client:
        for role in ("operator", "viewer"):
            body = {"name": f"ui-{role}-{uuid.uuid4().hex[:6]}", "role": role}
            response = client.post("/api/tokens", json=body)
            assert response.status_code == 201, response.text
            made[role] = response.json()["token"]
    return Tokens(admin, made["operator"], made["viewer"])


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    context = browser.new_context()
    page = context.new_page()
    seen = Visit(page)
    page.on("request", lambda request: seen.requested.append(request.url))
    yield seen
    context.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def image_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "tag": "1.0.0",
        "application": "backend",
        "build": {"context": "hello-server"},
    }


def sign_in(page: Page, stack: Stack, token: str, role: str) -> None:
    page.goto(f"{stack.base_url}/ui")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text(role, timeout=SHORT)


def expect_live(page: Page) -> None:
    """The page says its event stream is connected (so it misses no change from now on)."""
    expect(page.locator("#feed-state")).to_have_text("live", timeout=SHORT)


def images_row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator("table[data-kind=images] tbody tr", has_text=name)


def test_an_operator_builds_an_image_and_watches_it_built_without_reloading(stack, tokens, visit):
    page = visit.page
    name = f"e2e/ui-{uuid.uuid4().hex[:8]}"
    sign_in(page, stack, tokens.operator, "operator")
    expect_live(page)
    page.evaluate(MARK_PAGE)
    page.evaluate(RECORD_STATUSES, name)

    form = page.locator("form", has=page.get_by_role("heading", name="Build image"))
    form.get_by_label("name").fill(name)
    form.get_by_label("build context").fill("hello-server")
    form.get_by_role("button", name="Build image").click()

    status = images_row(page, name).locator("[data-role=status]")
    expect(status).to_have_text("built", timeout=BUILD_S)
    assert page.evaluate("() => window.__statuses") == ["building", "built"]
    assert page.evaluate(SAME_PAGE)

    images_row(page, name).get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=f"image {name}")).to_be_visible()
    expect(page.locator("#build-log")).to_contain_text("COPY hello-server /hello-server")
    expect(page.locator("#build-log")).to_contain_text("Successfully built", timeout=SHORT)

    # The image's events link to the timeline of the request that built it.
    events = page.locator("table.events tbody tr")
    expect(events.filter(has_text="container_image.built")).to_have_count(1, timeout=SHORT)
    events.filter(has_text="container_image.created").get_by_role("link").click()
    timeline = page.locator("#timeline tbody tr")
    expect(timeline.filter(has_text="container_image.created")).to_have_count(1, timeout=SHORT)
    expect(timeline.filter(has_text="container_image.built")).to_contain_text("building → built")


def test_an_image_made_through_the_api_appears_on_an_open_page(stack, tokens, visit):
    page = visit.page
    name = f"e2e/api-{uuid.uuid4().hex[:8]}"
    sign_in(page, stack, tokens.viewer, "viewer")
    expect_live(page)
    page.evaluate(MARK_PAGE)
    expect(images_row(page, name)).to_have_count(0)

    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(tokens.admin)) as api:
        response = api.post(IMAGES, json=image_body(name))
    assert response.status_code == 202, response.text

    expect(images_row(page, name)).to_have_count(1, timeout=SHORT)
    expect(images_row(page, name).locator("[data-role=status]")).to_have_text(
        "built", timeout=BUILD_S
    )
    assert page.evaluate(SAME_PAGE)


ACTIONS = {
    "#/images": ["Build image"],
    "#/charts": ["Validate chart"],
    "#/clusters": ["Create cluster"],
    "#/deployments": ["Deploy"],
}


def action_buttons(page: Page, stack: Stack, image_id: str) -> dict[str, list[str]]:
    """The action buttons on each list page and on an image's page, once each page shows."""
    seen = {}
    for route in ACTIONS:
        page.goto(f"{stack.base_url}/ui/{route}")
        expect(page.locator(".heading .count")).to_contain_text("shown", timeout=SHORT)
        seen[route] = page.locator("button[data-action]").all_inner_texts()
    page.goto(f"{stack.base_url}/ui/#/images/{image_id}")
    expect(page.locator("dd[data-field=id]")).to_have_text(image_id, timeout=SHORT)
    seen["image"] = page.locator("button[data-action]").all_inner_texts()
    return seen


def test_a_viewer_sees_no_action_buttons_where_an_operator_does(stack, tokens, browser):
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(tokens.admin)) as api:
        image = api.post(IMAGES, json=image_body(f"e2e/roles-{uuid.uuid4().hex[:8]}")).json()
    shown = {}
    for role in ("operator", "viewer"):
        context = browser.new_context()
        page = context.new_page()
        sign_in(page, stack, getattr(tokens, role), role)
        shown[role] = action_buttons(page, stack, image["id"])
        context.close()

    for route, labels in ACTIONS.items():
        assert labels == shown["operator"][route]
    assert {"Verify", "Delete"} <= set(shown["operator"]["image"])
    assert shown["viewer"] == {route: [] for route in [*ACTIONS, "image"]}


def test_whoami_names_the_token_and_its_role(stack, tokens):
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(tokens.viewer)) as c:
        response = c.get("/api/whoami")
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"
    assert response.json()["name"].startswith("ui-viewer-")
    assert response.json()["scope"] == {"namespaces": None}
    with httpx.Client(base_url=stack.base_url, timeout=30) as anonymous:
        assert anonymous.get("/api/whoami").status_code == 401


def off_host(requested: list[str], stack: Stack) -> list[str]:
    """The URLs asked of any host but the gateway's loopback address (data: and blob: URLs
    are no requests to a host)."""
    ours = urlsplit(stack.base_url).netloc
    return [
        url
        for url in requested
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != ours
    ]


def test_docs_and_ui_load_nothing_from_another_host(stack, tokens, visit):
    page = visit.page
    page.goto(f"{stack.base_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Slipway", timeout=SHORT)
    expect(page.locator(".opblock-tag", has_text="container images")).to_be_visible()
    sign_in(page, stack, tokens.admin, "admin")
    for route in (
        "#/images",
        "#/charts",
        "#/clusters",
        "#/deployments",
        "#/services",
        "#/releases",
    ):
        page.goto(f"{stack.base_url}/ui/{route}")
        expect(page.locator(".heading .count")).to_contain_text("shown", timeout=SHORT)

    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in visit.requested)
    assert any(url.endswith("/ui/app.js") for url in visit.requested)
    assert off_host(visit.requested, stack) == []
    assert urlsplit(stack.base_url).hostname == "127.0.0.1"


def test_a_long_list_comes_in_pages_of_the_size_asked(stack, tokens, visit):
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(tokens.admin)) as api:
        for _ in range(3):
            api.post(IMAGES, json=image_body(f"e2e/page-{uuid.uuid4().hex[:8]}"))

        def settled() -> list[dict[str, Any]] | None:  # no build left to change the list
            items: list[dict[str, Any]] = api.get(IMAGES, params={"limit": 500}).json()["items"]
            return None if any(i["status"] == "building" for i in items) else items

        total = len(poll(settled, timeout_s=BUILD_S / 1000, what="every build ended"))
    page = visit.page
    sign_in(page, stack, tokens.viewer, "viewer")
    page.goto(f"{stack.base_url}/ui/#/images?limit=2")
    rows = page.locator("table[data-kind=images] tbody tr")
    more = page.get_by_role("button", name="Load more")
    expect(rows).to_have_count(2, timeout=SHORT)

    for shown in range(4, total + 2, 2):
        more.click()
        expect(rows).to_have_count(min(shown, total), timeout=SHORT)
    expect(more).to_be_hidden()


def test_a_chain_of_calls_shares_one_timeline_and_a_chart_shows_its_findings(stack, tokens, visit):
    page = visit.page
    image = f"e2e/chain-{uuid.uuid4().hex[:8]}"
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    sign_in(page, stack, tokens.operator, "operator")
    expect_live(page)
    page.goto(f"{stack.base_url}/ui/#/timeline")
    page.get_by_role("button", name="Start a chain").click()
    expect(page.locator("#chain")).to_contain_text("chain")

    page.get_by_role("link", name="Container images").click()
    form = page.locator("form", has=page.get_by_role("heading", name="Build image"))
    form.get_by_label("name").fill(image)
    form.get_by_label("build context").fill("hello-server")
    form.get_by_role("button", name="Build image").click()
    expect(form.get_by_role("status")).to_contain_text("is building")

    page.get_by_role("link", name="Helm charts").click()
    form = page.locator("form", has=page.get_by_role("heading", name="Validate chart"))
    form.get_by_label("name", exact=True).fill("bad-policy")
    form.get_by_label("namespace").fill(namespace)
    form.get_by_label("chart directory").fill("bad-policy")
    form.get_by_role("button", name="Validate chart").click()
    form.get_by_role("link", name="open").click()
    expect(page.locator(".detail .status")).to_have_text("invalid", timeout=BUILD_S)
    findings = page.locator("table.findings tbody tr")
    expect(findings.first).to_be_visible()
    assert findings.count() == len(chart_findings(stack, tokens, namespace))

    page.locator("#chain").get_by_role("link").click()
    timeline = page.locator("#timeline tbody tr")
    expect(timeline.filter(has_text="container_image.built")).to_have_count(1, timeout=BUILD_S)
    expect(timeline.filter(has_text="helm_chart.invalid")).to_have_count(1)
    expect(timeline.filter(has_text=image)).to_have_count(2)  # created, built


def chart_findings(stack: Stack, tokens: Tokens, namespace: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(tokens.admin)) as api:
        charts = api.get("/api/helm-charts", params={"limit": 500}).json()["items"]
    (chart,) = [c for c in charts if c["namespace"] == namespace]
    findings: list[dict[str, Any]] = chart["findings"]
    assert findings
    return findings


def created_event(sequence: int, name: str) -> str:
    """One SSE frame as `GET /api/events` sends it: an image's `created` CloudEvent."""
    entity_id = str(uuid.uuid4())
    data = {
        **image_body(name),
        "id": entity_id,
        "status": "building",
        "revision": 1,
        "created_at": "2026-01-01T00:00:00Z",
        "last_updated": "2026-01-01T00:00:00Z",
        "previous_status": None,
    }
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "slipway/image-builder",
        "type": "io.slipway.container_image.created.v1",
        "subject": entity_id,
        "time": "2026-01-01T00:00:00Z",
        "datacontenttype": "application/json",
        "data": data,
        "entityversion": 1,
        "correlationid": str(uuid.uuid4()),
    }
    return f"id: {sequence}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"


def test_a_dropped_event_stream_resumes_after_the_last_event_seen(stack, tokens, visit):
    # The stream is cut after each event (the proxy between browser and gateway drops it):
    # the page reconnects on its own with Last-Event-ID and shows what came after.
    page = visit.page
    names = [f"e2e/resume-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    asked: list[str | None] = []

    def cut_stream(route: Route) -> None:
        asked.append(route.request.headers.get("last-event-id"))
        frames = ": slipway events\n\n"
        if len(asked) <= len(names):
            frames += created_event(40 + len(asked), names[len(asked) - 1])
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=frames)

    page.route("**/api/events", cut_stream)
    sign_in(page, stack, tokens.viewer, "viewer")

    expect(images_row(page, names[1])).to_have_count(1, timeout=SHORT)
    expect(images_row(page, names[0])).to_have_count(1)
    assert asked[:2] == [None, "41"]


def test_an_operator_starts_stops_and_deletes_a_cluster_from_its_page(stack, tokens, visit):
    page = visit.page
    name = f"ui-{uuid.uuid4().hex[:8]}"
    page.on("dialog", lambda dialog: dialog.accept())  # "Delete?"
    sign_in(page, stack, tokens.operator, "operator")
    expect_live(page)
    page.get_by_role("link", name="Clusters").click()
    form = page.locator("form", has=page.get_by_role("heading", name="Create cluster"))
    form.get_by_label("name", exact=True).fill(name)
    form.get_by_role("button", name="Create cluster").click()
    form.get_by_role("link", name="open").click()
    status = page.locator(".detail .status")
    expect(status).to_have_text("running", timeout=BUILD_S)

    page.get_by_role("button", name="Stop", exact=True).click()
    expect(status).to_have_text("stopped", timeout=BUILD_S)
    page.get_by_role("button", name="Start", exact=True).click()
    expect(status).to_have_text("running", timeout=BUILD_S)
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".detail")).to_contain_text("This cluster was deleted.", timeout=BUILD_S)


def test_an_operator_approves_an_agents_change_from_the_approvals_page(stack, tokens, visit):
    from tests.e2e.test_approvals import propose, scale

    missing = {"id": str(uuid.uuid4()), "name": "gone", "namespace": "default"}
    approval = propose(stack, scale(missing, 4), {"name": "admin", "role": "admin", "id": None})
    page = visit.page
    sign_in(page, stack, tokens.operator, "operator")
    page.goto(f"{stack.base_url}/ui#/approvals")
    row = page.locator(f"tr[data-approval='{approval.id}']")
    expect(row).to_contain_text("scale deployment gone to 4 replicas")
    expect(row).to_contain_text("admin via e2e-agent 1.0")
    row.get_by_label("reason").first.fill("looks right")
    row.get_by_role("button", name="Approve").click()
    # Sent once approved: the deployment does not exist, so the command failed, and says why.
    page.get_by_label("status", exact=True).select_option("")
    expect(row.locator("[data-role=status]")).to_have_text("failed")
    expect(row).to_contain_text("not_found")
