"""A gateway background loop (the durable feeds, the change streams behind what is kept in
memory): started with the gateway, set up again `RETRY_S` after it stops or fails, for as
long as the gateway runs."""

from __future__ import annotations

import asyncio
import logging

from slipway_libs.runtime import cancelled

log = logging.getLogger(__name__)

RETRY_S = 1.0


class Restarting:
    """Runs `run_once()` again and again; `name` names the task and the log lines."""

    name: str
    _task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        raise NotImplementedError

    def ended(self) -> None:
        """Called each time `run_once` has ended, whichever way."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        await cancelled(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # whatever it was, the loop must go on: wait, then set up again
                log.warning("the %s stopped; starting it again", self.name, exc_info=True)
            finally:
                self.ended()
            await asyncio.sleep(RETRY_S)
