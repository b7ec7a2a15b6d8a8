// Server-sent events read with fetch(): EventSource cannot send the bearer token. The
// stream is parsed as the HTML standard says (fields, blank line = dispatch, `:` comments),
// and a dropped connection is resumed with Last-Event-ID, backing off up to 30 s.
import { authHeaders } from "./api.js";

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

export class EventFeed {
  // url: `/api/events?...`; onEvent(cloudEvent, sseId); onState("connecting"|"live"|...).
  constructor(url, { onEvent, onState = () => {}, onGone = () => {}, onUnauthorized = () => {} }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onGone = onGone;
    this.onUnauthorized = onUnauthorized;
    this.lastId = null;
    this.stopped = false;
    this.controller = null;
    this.live = new Promise((resolve) => (this.markLive = resolve));
  }

  start() {
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async run() {
    let delay = FIRST_DELAY_MS;
    while (!this.stopped) {
      this.controller = new AbortController();
      this.onState("connecting");
      try {
        const headers = authHeaders({ Accept: "text/event-stream" });
        let url = this.url;
        if (this.lastId !== null) {
          headers["Last-Event-ID"] = this.lastId; // resume after the last event seen, not at `since`
          url = withoutSince(url);
        }
        const response = await fetch(url, { headers, signal: this.controller.signal, cache: "no-store" });
        if (response.status === 401) {
          this.onState("signed out");
          this.onUnauthorized();
          return;
        }
        if (response.status === 410) {
          // The cursor is older than the stream keeps: say so, and go on from the oldest kept.
          const problem = await response.json().catch(() => ({}));
          this.url = this.onGone(problem, this.url) || this.url;
          this.lastId = null;
          continue;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        this.onState("live");
        this.markLive();
        delay = FIRST_DELAY_MS;
        await this.read(response.body);
      } catch (error) {
        if (this.stopped) return;
      }
      if (this.stopped) return;
      this.onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let message = { id: null, event: "message", data: [] };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      const lines = buffer.split(/\r\n|\n|\r(?!$)/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (message.data.length) this.dispatch(message);
          message = { id: null, event: "message", data: [] };
          continue;
        }
        if (line.startsWith(":")) continue; // a heartbeat
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") message.data.push(value);
        else if (field === "event") message.event = value;
        else if (field === "id" && !value.includes("\0")) message.id = value;
      }
    }
  }

  dispatch(message) {
    if (message.id !== null) this.lastId = message.id;
    let cloudEvent;
    try {
      cloudEvent = JSON.parse(message.data.join("\n"));
    } catch {
      return;
    }
    this.onEvent(cloudEvent, message.id);
  }
}

// `io.slipway.container_image.built.v1` -> ["container_image", "built"].
export function typeParts(type) {
  const parts = String(type || "").split(".");
  return parts.length >= 5 ? [parts[2], parts[3]] : [null, null];
}

function withoutSince(url) {
  const parsed = new URL(url, location.origin);
  parsed.searchParams.delete("since");
  return parsed.pathname + parsed.search;
}
