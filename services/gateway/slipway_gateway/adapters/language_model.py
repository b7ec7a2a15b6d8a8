"""The optional language model that explains the advisors' answers: any OpenAI-compatible
chat endpoint (`POST {SLIPWAY_AI_CHAT_URL}/chat/completions`), e.g. Ollama, vLLM,
llama.cpp's server or a hosted API.

The rule-based answer stays the authority: the model only adds `explanation`. A model
that is off, down, slow or answering nonsense leaves `explanation` null with a note, and
never fails the advice. The API key goes in the `Authorization` header only: it is never
logged, and no note or error repeats it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from slipway_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)
SYSTEM_PROMPT = (
    "You are Slipway's assistant. You get the JSON answer of one of Slipway's rule-based "
    "advisors ({kind}). Explain it to a developer in a few short paragraphs: what is wrong, "
    "why it matters and what to do first. Do not contradict it and do not invent findings; "
    "quote commands exactly as given."
)
MAX_EXPLANATION_CHARS = 8000


class LanguageModel:
    """One OpenAI-compatible chat model, or none (`configured` False)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.base_url = (settings.ai_chat_url or "").rstrip("/")
        self.model = settings.ai_model
        self.timeout_s = settings.ai_timeout_s
        key = settings.ai_api_key.get_secret_value() if settings.ai_api_key else None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(headers=headers, timeout=self.timeout_s)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)

    async def close(self) -> None:
        await self._client.aclose()

    async def explained(self, kind: str, answer: dict[str, Any]) -> dict[str, Any]:
        """`answer` with `explanation` (and `explanation_note` when there is none) set;
        every other field as it was."""
        if not self.configured:
            return {**answer, "explanation": None, "explanation_note": None}
        context = {k: v for k, v in answer.items() if k not in ("explanation", "explanation_note")}
        try:
            text = await self._chat(kind, context)
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            why = _why(exc)
            log.warning("the language model gave no explanation", extra={"why": why})
            note = f"the language model ({self.model}) gave no explanation: {why}"
            return {**answer, "explanation": None, "explanation_note": note}
        return {**answer, "explanation": text, "explanation_note": None}

    async def _chat(self, kind: str, context: dict[str, Any]) -> str:
        body = {
            "model": self.model,
            "temperature": 0,
            "stream": False,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT.format(kind=kind)},
                {"role": "user", "content": json.dumps(context, indent=1)},
            ],
        }
        response = await self._client.post(f"{self.base_url}/chat/completions", json=body)
        response.raise_for_status()
        content = response.json()["choices"][0]["message"]["content"]
        if not isinstance(content, str) or not content.strip():
            raise ValueError("an empty answer")
        return content.strip()[:MAX_EXPLANATION_CHARS]


def _why(exc: Exception) -> str:
    """Why the model gave nothing, in words that hold no URL or header (no key)."""
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"it answered HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.HTTPError):
        return f"it could not be reached ({type(exc).__name__})"
    return "its answer was not an OpenAI-compatible chat completion"
