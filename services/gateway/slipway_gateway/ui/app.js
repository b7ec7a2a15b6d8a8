// The Slipway dashboard: sign in with a token, every entity kind as a live list, detail
// pages, the event timeline of one correlation id, and the operator's actions.
// Plain ES modules, no build step; everything it loads comes from this gateway.
import * as api from "./api.js";
import { bytes, field, h, replace, statusBadge, when } from "./dom.js";
import { EventFeed, typeParts } from "./feed.js";
import { entityLink, KIND_OF_ENTITY, KINDS } from "./kinds.js";

const PAGE_SIZE = 50;
const LIVE_WAIT_MS = 3000;
const LOG_POLL_FIRST_MS = 500;
const LOG_POLL_MAX_MS = 8000;
const OPERATOR_ROLES = new Set(["operator", "admin"]);

const state = {
  identity: null,
  features: { events: false, followLogs: false, approvals: false, eventParams: new Set() },
  feed: null,
  cleanup: null,
};
const listeners = new Set();

const $ = (id) => document.getElementById(id);

function canOperate() {
  return Boolean(state.identity && OPERATOR_ROLES.has(state.identity.role));
}

// Every change seen on the main stream goes to the views that listen.
function listen(handler) {
  listeners.add(handler);
  return () => listeners.delete(handler);
}

// ---- signing in and out -------------------------------------------------------------

async function boot() {
  api.whenUnauthorized(() => signOut("The token was refused (expired or revoked?): sign in again."));
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await signIn($("token").value.trim());
  });
  $("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  if (api.token()) await signIn(api.token());
  else showSignIn();
}

function showSignIn(message = "") {
  $("sign-in").hidden = false;
  $("nav").hidden = true;
  $("sign-out").hidden = true;
  $("feed-state").hidden = true;
  $("who").textContent = "";
  $("sign-in-error").textContent = message;
  replace($("view"));
}

async function signIn(secret) {
  if (!secret) return;
  api.keepToken(secret);
  try {
    state.identity = await api.get("/api/whoami");
  } catch (error) {
    api.forgetToken();
    showSignIn(`Sign-in failed: ${error.message}`);
    return;
  }
  $("token").value = "";
  $("sign-in").hidden = true;
  $("who").textContent = `${state.identity.name} · ${state.identity.role}`;
  $("sign-out").hidden = false;
  state.features = await detectFeatures();
  renderNav();
  renderChain();
  startFeed();
  if (!location.hash || location.hash === "#") location.hash = "#/images";
  else route();
}

function signOut(message = "") {
  api.forgetToken();
  renderChain();
  state.identity = null;
  if (state.feed) state.feed.stop();
  state.feed = null;
  if (state.cleanup) state.cleanup();
  state.cleanup = null;
  showSignIn(message);
}

// What this gateway offers, read from its API document (open, like /docs).
async function detectFeatures() {
  const features = { events: false, followLogs: false, approvals: false, eventParams: new Set() };
  try {
    const response = await fetch("/openapi.json", { cache: "no-store" });
    const paths = (await response.json()).paths || {};
    const events = paths["/api/events"] && paths["/api/events"].get;
    features.events = Boolean(events);
    for (const p of (events && events.parameters) || []) features.eventParams.add(p.name);
    const logs = paths["/api/container-images/{image_id}/logs"];
    features.followLogs = Boolean(logs && (logs.get.parameters || []).some((p) => p.name === "follow"));
    features.approvals = Boolean(paths["/api/approvals"]);
  } catch {
    // An older gateway: lists and details still work, without live updates.
  }
  return features;
}

// `/api/events` with the filters this gateway knows.
function eventsUrl(filters = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) {
    if (value !== undefined && value !== null && state.features.eventParams.has(name)) query.set(name, value);
  }
  const text = query.toString();
  return text ? `/api/events?${text}` : "/api/events";
}

function startFeed() {
  const indicator = $("feed-state");
  indicator.hidden = false;
  if (!state.features.events) {
    indicator.textContent = "no event stream";
    return;
  }
  state.feed = new EventFeed(eventsUrl(), {
    onEvent: (cloudEvent) => listeners.forEach((handler) => handler(cloudEvent)),
    onState: (name) => {
      indicator.textContent = name;
      indicator.className = `feed feed-${name.replace(" ", "-")}`;
    },
    onUnauthorized: () => signOut("The token was refused: sign in again."),
  }).start();
}

// Resolves once the main stream is connected (so a list loaded after it misses nothing),
// or after a few seconds without it.
function feedLive() {
  if (!state.feed) return Promise.resolve();
  return Promise.race([state.feed.live, new Promise((resolve) => setTimeout(resolve, LIVE_WAIT_MS))]);
}

function renderNav() {
  const links = Object.entries(KINDS).map(([name, kind]) => h("a", { href: `#/${name}`, dataset: { nav: name } }, kind.title));
  links.push(h("a", { href: "#/timeline", dataset: { nav: "timeline" } }, "Timeline"));
  if (state.features.approvals) links.push(h("a", { href: "#/approvals", dataset: { nav: "approvals" } }, "Approvals"));
  links.push(h("a", { href: "/docs", target: "_blank" }, "API"));
  replace($("nav"), links);
  $("nav").hidden = false;
}

// The chain the operator's changes are sent in, if any, with a way to see and end it.
function renderChain() {
  const current = api.chain();
  const element = $("chain");
  element.hidden = !current || !state.identity;
  if (element.hidden) return replace(element);
  replace(element, "chain ", h("a", { href: `#/timeline/${encodeURIComponent(current)}` }, current.slice(0, 8)),
    " ", h("button", { type: "button", class: "small", onclick: () => { api.setChain(null); renderChain(); route(); } }, "End chain"));
}

// ---- routing -----------------------------------------------------------------------------

function route() {
  if (!state.identity) return;
  if (state.cleanup) state.cleanup();
  state.cleanup = null;
  const [path, queryText] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(queryText || "");
  for (const link of $("nav").querySelectorAll("a[data-nav]")) {
    link.classList.toggle("current", link.dataset.nav === parts[0]);
  }
  const view = $("view");
  replace(view);
  let cleanup;
  if (parts[0] === "timeline") cleanup = timelineView(view, parts[1] || query.get("correlation_id"));
  else if (parts[0] === "approvals" && state.features.approvals) cleanup = approvalsView(view);
  else if (KINDS[parts[0]] && parts[1]) cleanup = detailView(view, parts[0], parts[1]);
  else if (KINDS[parts[0]]) cleanup = listView(view, parts[0], query);
  else cleanup = listView(view, "images", query);
  state.cleanup = cleanup;
}

function showError(target, error) {
  replace(target, error ? (error.problem ? api.describe(error) : String(error.message || error)) : "");
}

// ---- lists -------------------------------------------------------------------------------

function listView(view, kindName, query) {
  const kind = KINDS[kindName];
  const wanted = query.get("status") || "";
  const pageSize = Math.min(Math.max(Number(query.get("limit")) || PAGE_SIZE, 1), 500);
  const rows = new Map();
  const tbody = h("tbody");
  const message = h("p", { class: "error", role: "alert" });
  const more = h("button", { type: "button", hidden: true, onclick: () => loadPage() }, "Load more");
  const count = h("span", { class: "count" });
  let cursor = null;

  const filter = h("select", {
    "aria-label": "status filter",
    onchange: (event) => {
      location.hash = event.target.value ? `#/${kindName}?status=${event.target.value}` : `#/${kindName}`;
    },
  }, h("option", { value: "" }, "every status"), kind.statuses.map((s) => h("option", { value: s, selected: s === wanted }, s)));

  const table = h("table", { class: "list", dataset: { kind: kindName } },
    h("thead", {}, h("tr", {}, kind.columns.map((c) => h("th", {}, c.label)))), tbody);

  function rowFor(entity) {
    const cells = kind.columns.map((column, index) => {
      const value = column.value(entity);
      return h("td", {}, index === 0 ? entityLink(kindName, entity.id, String(value || entity.id)) : value);
    });
    return h("tr", { dataset: { id: entity.id, revision: entity.revision } }, cells);
  }

  function upsert(entity, atTop) {
    const existing = rows.get(entity.id);
    if (existing && Number(existing.dataset.revision) > entity.revision) return;
    if (wanted && entity.status !== wanted) {
      if (existing) existing.remove();
      rows.delete(entity.id);
      return;
    }
    const row = rowFor(entity);
    if (existing) existing.replaceWith(row);
    else if (atTop) tbody.prepend(row);
    else tbody.append(row);
    rows.set(entity.id, row);
    count.textContent = `${rows.size} shown${cursor ? ", more on the server" : ""}`;
  }

  async function loadPage() {
    more.disabled = true;
    const params = new URLSearchParams({ limit: String(pageSize) });
    if (wanted) params.set("status", wanted);
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await api.get(`${kind.path}?${params}`);
      cursor = page.next_cursor;
      page.items.forEach((entity) => upsert(entity, false));
      showError(message, null);
    } catch (error) {
      showError(message, error);
    }
    more.hidden = !cursor;
    more.disabled = false;
    count.textContent = `${rows.size} shown${cursor ? ", more on the server" : ""}`;
  }

  const unlisten = listen((cloudEvent) => {
    const [entity, name] = typeParts(cloudEvent.type);
    if (entity !== kind.entity) return;
    if (name === "deleted") {
      const row = rows.get(cloudEvent.subject);
      if (row) row.remove();
      rows.delete(cloudEvent.subject);
    } else if (cloudEvent.data && cloudEvent.data.id) {
      // One not shown is new, or lies on a page not loaded yet ("Load more" brings it then,
      // in its place): a change to it alone does not add it at the top.
      const shown = rows.has(cloudEvent.data.id);
      if (shown || name === "created" || !cursor) upsert(cloudEvent.data, true);
    }
  });

  replace(view,
    h("div", { class: "heading" }, h("h1", {}, kind.title), filter, count),
    canOperate() && kind.create ? createForm(kindName, (entity) => upsert(entity, true)) : null,
    message, table, more);
  feedLive().then(loadPage);
  return unlisten;
}

function createForm(kindName, created) {
  const kind = KINDS[kindName];
  const spec = kind.create;
  const result = h("p", { class: "result", role: "status" });
  const inputs = spec.fields.map((f) => {
    let input;
    if (f.options) input = h("select", { name: f.name }, f.options.map((o) => h("option", { value: o }, o)));
    else if (f.choices) input = choiceSelect(f);
    else input = h("input", { name: f.name, type: f.type || "text", value: f.value, placeholder: f.placeholder, required: f.required });
    return field(f.label, input);
  });
  const form = h("form", { class: "create card", dataset: { action: "create" } },
    h("h2", {}, spec.label), h("div", { class: "fields" }, inputs),
    h("button", { type: "submit", dataset: { action: spec.label } }, spec.label), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    result.className = "result";
    result.textContent = "Sending…";
    try {
      const entity = await api.post(kind.path, spec.body(values));
      created(entity);
      replace(result, `${kind.noun} ${entity.name || entity.id} is ${entity.status}: `, entityLink(kindName, entity.id, "open"));
    } catch (error) {
      result.className = "result error";
      showError(result, error);
    }
  });
  return form;
}

function choiceSelect(f) {
  const select = h("select", { name: f.name, required: true }, h("option", { value: "" }, "loading…"));
  const params = new URLSearchParams({ limit: "100" });
  if (f.choices.status) params.set("status", f.choices.status);
  api.get(`${f.choices.path}?${params}`).then((page) => {
    const show = f.choices.show || ((e) => e.name || e.id);
    replace(select, h("option", { value: "" }, page.items.length ? "choose…" : `none ${f.choices.status || ""}`),
      page.items.map((e) => h("option", { value: e.id }, show(e))));
  }).catch(() => replace(select, h("option", { value: "" }, "could not load")));
  return select;
}

// ---- detail pages -----------------------------------------------------------------------

const HIDDEN_FIELDS = new Set(["previous_status", "reason", "drift", "findings", "history", "workloads", "operation", "values", "build", "source", "placement", "resources", "probe", "env", "images", "ingress", "endpoints"]);

function detailView(view, kindName, id) {
  const kind = KINDS[kindName];
  const header = h("div", { class: "heading" });
  const summary = h("dl", { class: "summary" });
  const extra = h("div", { class: "extra" });
  const actions = h("div", { class: "actions" });
  const message = h("p", { class: "error", role: "alert" });
  const cleanups = [];
  let entity = null;

  function render() {
    replace(header, h("h1", {}, `${kind.noun} ${entity.name || entity.id}`), statusBadge(entity.status));
    const scalars = Object.entries(entity).filter(([k, v]) => !HIDDEN_FIELDS.has(k) && (v === null || typeof v !== "object"));
    replace(summary, scalars.flatMap(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", { dataset: { field: k } }, detailValue(k, v))]));
    replace(extra, extrasFor(kindName, entity));
    replace(actions, canOperate() ? kind.actions(entity).map((a) => actionControl(a, message)) : []);
  }

  async function load() {
    try {
      entity = await api.get(`${kind.path}/${encodeURIComponent(id)}`);
      render();
    } catch (error) {
      showError(message, error);
    }
  }

  cleanups.push(listen((cloudEvent) => {
    if (cloudEvent.subject !== id) return;
    const [, name] = typeParts(cloudEvent.type);
    if (name === "deleted") {
      message.textContent = `This ${kind.noun} was deleted.`;
      replace(actions);
    } else if (cloudEvent.data && (!entity || cloudEvent.data.revision >= entity.revision)) {
      entity = cloudEvent.data;
      render();
    }
  }));

  const sections = [h("div", { class: "detail" }, header, message, actions, summary, extra)];
  if (kindName === "images") {
    const log = buildLog(id, () => entity);
    sections.push(log.element);
    cleanups.push(log.stop);
  }
  const history = entityEvents(kind.entity, id);
  sections.push(history.element);
  cleanups.push(history.stop);
  replace(view, h("p", {}, h("a", { href: `#/${kindName}` }, `← ${kind.title}`)), sections);
  feedLive().then(load);
  return () => cleanups.forEach((stop) => stop());
}

function detailValue(key, value) {
  if (value === null || value === undefined) return "—";
  if (key.endsWith("_id") && typeof value === "string") {
    const kindName = { cluster_id: "clusters", image_id: "images", chart_id: "charts", deployment_id: "deployments", release_id: "releases" }[key];
    if (kindName && key !== "image_id") return entityLink(kindName, value);
    if (kindName && /^[0-9a-f-]{36}$/.test(value)) return entityLink(kindName, value);
  }
  if (key === "size") return `${bytes(value)} (${value} bytes)`;
  if (key.endsWith("_at") || key === "last_updated" || key === "deadline" || key === "last_probe") return when(value);
  return String(value);
}

function actionControl(action, message) {
  const input = action.input ? h("input", { type: action.input.type, value: action.input.value, "aria-label": action.input.name, min: 0 }) : null;
  const button = h("button", {
    type: "button",
    class: action.danger ? "danger" : "",
    dataset: { action: action.label },
    onclick: async () => {
      if (action.danger && !confirm(`${action.label}?`)) return;
      button.disabled = true;
      try {
        await action.run(api, input ? input.value : undefined);
        showError(message, null);
      } catch (error) {
        showError(message, error);
      } finally {
        button.disabled = false;
      }
    },
  }, action.label);
  return h("span", { class: "action" }, input, button);
}

function extrasFor(kindName, entity) {
  const blocks = [];
  if (entity.reason) blocks.push(h("p", { class: "reason" }, h("strong", {}, "reason: "), entity.reason));
  if (entity.drift) blocks.push(h("p", { class: "reason" }, h("strong", {}, "drift: "), entity.drift));
  if (kindName === "charts") blocks.push(findingsTable(entity.findings || []));
  if (kindName === "deployments") blocks.push(rollout(entity));
  if (kindName === "clusters" && entity.operation) {
    const op = entity.operation;
    blocks.push(h("section", { class: "card" }, h("h2", {}, `${op.action} in progress (until ${when(op.deadline)})`),
      h("ol", { class: "progress-lines" }, (op.progress || []).map((line) => h("li", {}, line)))));
  }
  if (kindName === "services") {
    blocks.push(h("section", { class: "card" }, h("h2", {}, "Endpoints"),
      (entity.endpoints || []).length ? h("ul", {}, entity.endpoints.map((e) => h("li", {}, e))) : h("p", {}, "no ready endpoint")));
  }
  if (kindName === "releases") {
    blocks.push(h("section", { class: "card" }, h("h2", {}, "Workloads"),
      h("ul", {}, (entity.workloads || []).map((w) => h("li", {}, `${w.kind} `, entityLink(w.kind === "Deployment" ? "deployments" : "services", w.entity_id, w.name))))));
    blocks.push(h("section", { class: "card" }, h("h2", {}, "History"),
      h("table", { class: "list" }, h("thead", {}, h("tr", {}, ["revision", "status", "chart version", "updated", "description"].map((c) => h("th", {}, c)))),
        h("tbody", {}, (entity.history || []).map((r) => h("tr", {}, [r.revision, r.status, r.chart_version || "", when(r.updated_at), r.description || ""].map((c) => h("td", {}, c))))))));
  }
  if (kindName === "images" && entity.build) {
    blocks.push(h("p", {}, h("strong", {}, "build: "), `${entity.build.context} / ${entity.build.dockerfile}`));
  }
  return blocks;
}

function findingsTable(findings) {
  const body = findings.length
    ? h("table", { class: "list findings" },
      h("thead", {}, h("tr", {}, ["severity", "rule", "message", "where"].map((c) => h("th", {}, c)))),
      h("tbody", {}, findings.map((f) => h("tr", { class: `finding-${f.severity}` },
        h("td", {}, f.severity), h("td", {}, f.rule), h("td", {}, f.message),
        h("td", {}, [f.file, f.resource, f.path].filter(Boolean).join(" · "))))))
    : h("p", {}, "No findings.");
  return h("section", { class: "card" }, h("h2", {}, `Findings (${findings.length})`), body);
}

function rollout(d) {
  const want = Math.max(d.replicas, 1);
  const bar = (label, value) => h("div", { class: "bar-row" }, h("span", { class: "bar-label" }, `${label} ${value}/${d.replicas}`),
    h("progress", { max: want, value: Math.min(value, want), "aria-label": label }));
  return h("section", { class: "card", dataset: { section: "rollout" } }, h("h2", {}, "Rollout"),
    bar("updated", d.updated_replicas || 0), bar("ready", d.ready_replicas || 0), bar("available", d.available_replicas || 0),
    d.deadline && d.status === "pending" ? h("p", {}, `fails if not available by ${when(d.deadline)}`) : null);
}

// The build log: followed live where the gateway streams it, else polled with backoff
// until the build ends. It needs the operator role (a log may hold secrets).
function buildLog(id, current) {
  const pre = h("pre", { class: "log", id: "build-log", "aria-label": "build log" });
  const note = h("p", { class: "note" });
  const element = h("section", { class: "card" }, h("h2", {}, "Build log"), note, pre);
  const controller = new AbortController();
  let timer = null;
  let stopped = false;
  const path = `/api/container-images/${encodeURIComponent(id)}/logs`;

  if (!canOperate()) {
    note.textContent = "Reading a build log needs the operator role.";
    return { element, stop: () => {} };
  }

  async function follow() {
    note.textContent = "following…";
    try {
      const response = await fetch(`${path}?follow=true`, { headers: api.authHeaders(), signal: controller.signal, cache: "no-store" });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      pre.textContent = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pre.textContent += value;
        pre.scrollTop = pre.scrollHeight;
      }
      note.textContent = "the build ended";
    } catch (error) {
      if (stopped) return;
      poll(LOG_POLL_FIRST_MS); // the stream broke: fall back to reading the log
    }
  }

  async function poll(delay) {
    if (stopped) return;
    try {
      const [text, entity] = await Promise.all([
        api.get(path, { text: true, signal: controller.signal }),
        api.get(`/api/container-images/${encodeURIComponent(id)}`, { signal: controller.signal }),
      ]);
      pre.textContent = text;
      const building = (entity || current() || {}).status === "building";
      note.textContent = building ? "building… (refreshing)" : `the build ended: ${entity.status}`;
      if (!building) return;
    } catch (error) {
      if (stopped) return;
      note.textContent = api.describe(error);
    }
    timer = setTimeout(() => poll(Math.min(delay * 2, LOG_POLL_MAX_MS)), delay);
  }

  if (state.features.followLogs) follow();
  else poll(LOG_POLL_FIRST_MS);
  return {
    element,
    stop: () => {
      stopped = true;
      controller.abort();
      clearTimeout(timer);
    },
  };
}

// ---- events -------------------------------------------------------------------------------

function eventRow(cloudEvent, sequence, showEntity) {
  const [entityName, name] = typeParts(cloudEvent.type);
  const kindName = KIND_OF_ENTITY[entityName];
  const data = cloudEvent.data || {};
  const change = data.previous_status && data.previous_status !== data.status ? `${data.previous_status} → ${data.status}` : data.status || "";
  const correlation = cloudEvent.correlationid;
  return h("tr", { dataset: { sequence: sequence || "", type: cloudEvent.type } },
    h("td", {}, when(cloudEvent.time)),
    h("td", {}, `${entityName || "?"}.${name || "?"}`),
    showEntity ? h("td", {}, kindName ? entityLink(kindName, cloudEvent.subject, data.name || cloudEvent.subject) : cloudEvent.subject) : null,
    h("td", {}, change),
    h("td", {}, correlation ? h("a", { href: `#/timeline/${encodeURIComponent(correlation)}`, title: "the timeline of this correlation id" }, correlation.slice(0, 12)) : ""));
}

// A stream of the events that pass `filters`, from the oldest the stream keeps, rendered
// as rows; when the oldest asked for is gone, it goes on from what is kept.
function eventTable(filters, showEntity) {
  const tbody = h("tbody");
  const note = h("p", { class: "note" });
  const headings = ["time", "event", showEntity ? "entity" : null, "status", "correlation"].filter(Boolean);
  const element = h("div", {}, note, h("table", { class: "list events" }, h("thead", {}, h("tr", {}, headings.map((c) => h("th", {}, c)))), tbody));
  if (!state.features.events) {
    note.textContent = "This gateway has no event stream.";
    return { element, stop: () => {} };
  }
  const feed = new EventFeed(eventsUrl({ ...filters, since: "0" }), {
    onEvent: (cloudEvent, sequence) => {
      note.textContent = "";
      tbody.append(eventRow(cloudEvent, sequence, showEntity));
    },
    onState: (name) => {
      if (name !== "live") note.textContent = name;
      else note.textContent = tbody.children.length ? "" : "No events yet: they appear here as they happen.";
    },
    onGone: () => {
      note.textContent = "Older events are no longer kept: showing the new ones.";
      return eventsUrl(filters);
    },
  }).start();
  return { element, stop: () => feed.stop() };
}

function entityEvents(entity, id) {
  const filters = { kind: entity }; // lets NATS skip the other kinds' events
  for (const name of ["entity_id", "subject"]) if (state.features.eventParams.has(name)) filters[name] = id;
  const table = Object.keys(filters).length > 1 ? eventTable(filters, false) : { element: h("p", {}, "No per-entity event filter."), stop: () => {} };
  return { element: h("section", { class: "card" }, h("h2", {}, "Events"), table.element), stop: table.stop };
}

function timelineView(view, correlation) {
  const form = h("form", { class: "inline" },
    field("correlation id", h("input", { name: "correlation", value: correlation || "", required: true, size: 40 })),
    h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/timeline/${encodeURIComponent(new FormData(form).get("correlation"))}`;
  });
  const intro = h("p", {}, "Every event that calls with one correlation id caused, in stream order: the build, the validation, the rollout, the service. ",
    "A call's correlation id is its X-Request-ID. Start a chain, and every change you make here is sent with the chain's id until you end it.");
  const chainControls = canOperate()
    ? h("div", { class: "actions" },
      h("button", { type: "button", dataset: { action: "Start a chain" }, onclick: () => startChain(api.newKey()) }, "Start a chain"),
      correlation && api.chain() !== correlation
        ? h("button", { type: "button", dataset: { action: "Continue this chain" }, onclick: () => startChain(correlation) }, "Continue this chain")
        : null)
    : null;
  if (!correlation) {
    replace(view, h("h1", {}, "Timeline"), intro, chainControls, form);
    return () => {};
  }
  const table = eventTable({ correlation_id: correlation }, true);
  replace(view, h("h1", {}, "Timeline"), intro, chainControls, form, h("section", { class: "card", id: "timeline" }, table.element));
  return table.stop;
}

function startChain(correlation) {
  api.setChain(correlation);
  renderChain();
  const target = `#/timeline/${encodeURIComponent(correlation)}`;
  if (location.hash === target) route();
  else location.hash = target;
}

// ---- approvals (where the gateway has them) ------------------------------------------------

function approvalsView(view) {
  const tbody = h("tbody");
  const message = h("p", { class: "error", role: "alert" });
  const status = h("select", { "aria-label": "status", onchange: () => load() },
    ["pending", "", "approved", "executed", "failed", "rejected", "expired"].map((s) => h("option", { value: s }, s || "all")));
  const decide = (a, verdict) => (client, reason) =>
    client.post(`/api/approvals/${a.id}/${verdict}`, { reason: reason || null }).then(load);
  function actions(a) {
    if (!canOperate() || a.status !== "pending") return "";
    const own = state.identity && a.requested_by && a.requested_by.name === state.identity.name;
    const reason = { name: "reason", type: "text", value: "" };
    return [
      // Whoever asked cannot approve their own request (the gateway refuses it too).
      own ? "" : actionControl({ label: "Approve", input: reason, run: decide(a, "approve") }, message),
      actionControl({ label: "Reject", danger: true, input: reason, run: decide(a, "reject") }, message),
    ];
  }
  function outcome(a) {
    if (a.error) return `${a.error.code}: ${a.error.message}`;
    if (a.status === "pending") return `expires ${when(a.expires_at)}`;
    return [a.decided_by ? `by ${a.decided_by}` : "", a.reason || ""].filter(Boolean).join(" · ");
  }
  async function load() {
    try {
      const page = await api.get(`/api/approvals${status.value ? `?status=${status.value}` : ""}`);
      replace(tbody, (page.items || []).map((a) => {
        const asked = a.requested_by || {};
        return h("tr", { dataset: { approval: a.id } },
          h("td", {}, (a.command && a.command.summary) || a.id),
          h("td", {}, [asked.name, asked.client].filter(Boolean).join(" via ")),
          h("td", {}, statusBadge(a.status)),
          h("td", {}, outcome(a)),
          h("td", {}, actions(a)));
      }));
    } catch (error) {
      showError(message, error);
    }
  }
  const head = h("thead", {}, h("tr", {}, ["change", "asked by", "status", "", ""].map((c) => h("th", {}, c))));
  replace(view, h("h1", {}, "Approvals"), field("status", status), message, h("table", { class: "list" }, head, tbody));
  load();
  return () => {};
}

boot();
