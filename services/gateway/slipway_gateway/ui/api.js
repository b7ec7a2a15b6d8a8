// The REST API as the signed-in token: requests, problem+json errors, the token itself.
const TOKEN_KEY = "slipway.token";
const CHAIN_KEY = "slipway.chain";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(CHAIN_KEY);
}

// A chain: the correlation id sent as X-Request-ID on every change, so that the events of
// several calls (build, validate, deploy, expose) share one timeline.
export function chain() {
  return sessionStorage.getItem(CHAIN_KEY);
}

export function setChain(value) {
  if (value) sessionStorage.setItem(CHAIN_KEY, value);
  else sessionStorage.removeItem(CHAIN_KEY);
}

export function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${token()}`, ...extra };
}

export function newKey() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

async function problemOf(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { title: response.statusText, detail: text.slice(0, 300) };
  }
}

// One call; JSON (or text) back, ApiError on a problem. `onUnauthorized` ends the session.
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

export async function call(method, path, { body, headers = {}, text = false, signal } = {}) {
  const init = { method, headers: authHeaders(headers), signal, cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  if (method === "POST" && !init.headers["Idempotency-Key"]) init.headers["Idempotency-Key"] = newKey();
  if (method !== "GET" && chain()) init.headers["X-Request-ID"] = chain();
  const response = await fetch(path, init);
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status === 401) onUnauthorized(problem);
    throw new ApiError(response.status, problem);
  }
  if (response.status === 204) return null;
  return text ? response.text() : response.json();
}

export const get = (path, options) => call("GET", path, options);
export const post = (path, body, options = {}) => call("POST", path, { ...options, body });
export const remove = (path, options) => call("DELETE", path, options);

// The problem's per-field errors, as "field: message" lines.
export function describe(error) {
  const fields = (error.problem && error.problem.errors) || [];
  const lines = fields.map((e) => `${e.field}: ${e.message}`).filter((line) => !error.message.includes(line));
  return [error.message, ...lines].join("\n");
}
