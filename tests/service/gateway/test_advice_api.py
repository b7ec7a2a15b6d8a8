"""`/api/advice/…` through the real gateway, with stub advisors on NATS, and the optional
language model: a local OpenAI-compatible server that the tests start themselves."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from slipway_contracts import subjects
from tests.chat_model import EXPLANATION, ChatModel
from tests.service.gateway.conftest import assert_problem, serving

pytestmark = pytest.mark.asyncio(loop_scope="session")
API_KEY = "sk-test-do-not-leak-4b1d"
DIAGNOSIS = {
    "id": "dep-1",
    "name": "web",
    "namespace": "default",
    "status": "failed",
    "healthy": False,
    "diagnoses": [
        {
            "cause": "image_load_failed",
            "summary": "the image shop/web:1.0.0 is no longer in the Docker Engine",
            "evidence": ["deployment reason: image load failed: No such image"],
            "fix": "rebuild the image, then roll the deployment out again",
            "suggested_command": "slipway images build <context> --name shop/web --tag 1.0.0",
            "severity": "error",
        }
    ],
    "notes": [],
    "explanation": None,
    "explanation_note": None,
}


@pytest.fixture
def chat_model() -> Iterator[ChatModel]:
    model = ChatModel()
    model.thread.start()
    try:
        yield model
    finally:
        model.hold.set()
        model.server.shutdown()
        model.server.server_close()


async def test_a_viewer_gets_a_deployments_diagnosis_as_the_workload_manager_answers(
    callers, serve
):
    await serve.subject(subjects.DIAGNOSE_DEPLOYMENT, DIAGNOSIS)
    viewer = await callers("viewer")
    response = await viewer.client.get("/api/advice/deployments/dep-1")
    assert response.status_code == 200, response.text
    assert response.json() == DIAGNOSIS  # no model configured: no explanation, no note


async def test_a_viewer_may_ask_for_dockerfile_advice_and_a_bad_body_is_422(callers, serve):
    advice = {
        "mode": "generate",
        "context": "/srv/app",
        "dockerfile": "Dockerfile",
        "project_kind": "static",
        "findings": [],
        "proposed_dockerfile": "FROM scratch\n",
        "proposed_dockerignore": None,
        "notes": [],
    }
    await serve.subject(subjects.ADVISE_DOCKERFILE, advice)
    viewer = await callers("viewer")
    response = await viewer.client.post("/api/advice/dockerfile", json={"context": "app"})
    assert response.status_code == 200, response.text
    assert response.json()["proposed_dockerfile"] == "FROM scratch\n"
    refused = await viewer.client.post("/api/advice/dockerfile", json={"dockerfile": "x"})
    assert_problem(refused, 422, {"context"})


async def test_the_model_explains_and_the_rule_based_answer_stays_as_it_was(
    gateway_settings, serve, chat_model, caplog
):
    await serve.subject(subjects.DIAGNOSE_DEPLOYMENT, DIAGNOSIS)
    settings = gateway_settings(
        ai_chat_url=chat_model.url, ai_model="tiny-explainer", ai_api_key=API_KEY
    )
    caplog.set_level(logging.DEBUG)
    async with serving(settings) as gateway:
        response = await gateway.client.get("/api/advice/deployments/dep-1")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["explanation"] == EXPLANATION and answer["explanation_note"] is None
    rules_part = {k: v for k, v in answer.items() if not k.startswith("explanation")}
    assert rules_part == {k: v for k, v in DIAGNOSIS.items() if not k.startswith("explanation")}
    [sent] = chat_model.requests
    assert sent["path"] == "/v1/chat/completions" and sent["model"] == "tiny-explainer"
    assert sent["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert "image_load_failed" in sent["messages"][-1]["content"]  # the rules' result as context
    assert API_KEY not in response.text
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("trouble", ["error", "slow"])
async def test_a_failing_or_slow_model_leaves_a_note_and_never_fails_the_advice(
    gateway_settings, serve, chat_model, caplog, trouble
):
    await serve.subject(subjects.DIAGNOSE_DEPLOYMENT, DIAGNOSIS)
    if trouble == "error":
        chat_model.status = 500
    else:
        chat_model.hold.clear()
    # the failing model answers at once: a generous timeout, so a loaded machine still sees
    # its 500; the slow one never answers: a short one
    timeout_s = 10.0 if trouble == "error" else 0.5
    settings = gateway_settings(
        ai_chat_url=chat_model.url, ai_model="tiny", ai_api_key=API_KEY, ai_timeout_s=timeout_s
    )
    caplog.set_level(logging.DEBUG)
    async with serving(settings) as gateway:
        response = await gateway.client.get("/api/advice/deployments/dep-1")
    chat_model.hold.set()
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["explanation"] is None
    expected = "HTTP 500" if trouble == "error" else "no answer in time"
    assert expected in answer["explanation_note"]
    assert answer["diagnoses"] == DIAGNOSIS["diagnoses"]
    assert API_KEY not in response.text and API_KEY not in caplog.text
