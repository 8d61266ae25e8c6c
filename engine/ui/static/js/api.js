// Calls of the REST API from the page: the session cookie goes along by itself; every write carries the
// session's CSRF token, which only a page this server rendered holds.
const csrf = () => document.querySelector('meta[name="kafkaban-csrf"]')?.content || "";

export class ApiError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = details;
  }
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!response.ok) {
    const error = body && body.error ? body.error : null;
    let message = error ? error.message : `${response.status} ${response.statusText}`;
    if (error && Array.isArray(error.details)) {
      message += ": " + error.details.map((d) => d.message ? `${d.where || d.path || ""} ${d.message}`.trim()
                                                              : JSON.stringify(d)).join("; ");
    }
    if (response.status === 401) {
      // the session ended (expired, its token revoked, its password changed): back through the login form
      const here = window.location.pathname + window.location.search;
      window.location.assign(`/login?next=${encodeURIComponent(here)}`);
      message += " (log in again)";
    }
    throw new ApiError(response.status, message, error && error.details);
  }
  return body;
}

export async function api(method, path, body, contentType) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = csrf();
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    payload = body;
    headers["Content-Type"] = contentType || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (error) {
    throw new ApiError(0, `cannot reach the Kafkaban API (${error.message}); is it running?`);
  }
  return answer(response);
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);

export function query(params) {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") out.set(key, value);
  }
  const text = out.toString();
  return text ? `?${text}` : "";
}

// Server-sent events with the same cookie; `on` maps event names to handlers of their parsed data.
export function stream(path, on, onError) {
  const source = new EventSource(path, { withCredentials: true });
  for (const [name, handler] of Object.entries(on)) {
    source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
  }
  source.onerror = () => { if (onError) onError(source); };
  return source;
}
