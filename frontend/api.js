// Vitrine's HTTP API, on the same origin as this page (`api/...` relative, so the page works from
// CloudFront's S3 root and from `vitrine serve` alike). Every failure becomes an ApiError whose message
// is a sentence a shopper can read: the page never shows a status code or a stack trace.

// Above this size a photo goes through an upload URL: its base64 (4/3 larger) plus the JSON around it
// must stay under Lambda's 6 MB synchronous payload limit.
const INLINE_LIMIT_BYTES = 4 * 1024 * 1024;

export class ApiError extends Error {
  /**
   * @param {string} message readable sentence
   * @param {{code?: string, retryAfter?: number|null, status?: number|null}} details
   */
  constructor(message, { code = "error", retryAfter = null, status = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.retryAfter = retryAfter;
    this.status = status;
  }
}

const UNREACHABLE = "Vitrine could not be reached. Check your connection and try again.";

function apiUrl(path) {
  return new URL(`api/${path}`, document.baseURI);
}

function fallbackMessage(status) {
  if (status === 413) return "That photo is too large. Try a smaller one.";
  if (status >= 500) return "Vitrine is having trouble right now. Please try again in a moment.";
  return `Vitrine refused the request (HTTP ${status}).`;
}

function retryAfterSeconds(response) {
  const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

/** fetch() that turns a network failure into a readable ApiError; an abort stays an AbortError. */
async function send(url, init) {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(UNREACHABLE, { code: "network" });
  }
}

async function requestJson(path, { body, signal, headers = {} } = {}) {
  const init = body === undefined
    ? { method: "GET", signal, headers }
    : {
        method: "POST",
        signal,
        headers: { ...headers, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      };
  const response = await send(apiUrl(path), init);
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(payload?.message || fallbackMessage(response.status), {
      code: payload?.error ?? `http_${response.status}`,
      retryAfter: retryAfterSeconds(response),
      status: response.status,
    });
  }
  if (payload === null) {
    throw new ApiError("Vitrine sent an answer this page cannot read. Please try again.", { code: "bad_answer" });
  }
  return payload;
}

/** The service's profile and catalog size: `{status, tiny_models, catalog: {products}, ...}`. */
export function fetchHealth(signal) {
  return requestJson("health", { signal });
}

/**
 * The ingestion report (operators only): `{counts: {status: n}, items: [{key, product_code, status, reason,
 * updated_at}]}`. `token` goes as `Authorization: Bearer`; a refused one is an ApiError with status 401/403.
 */
export function fetchIngestReport({ token, status = "", limit = 100, signal } = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (status) query.set("status", status);
  return requestJson(`ops/ingest/report?${query}`, { signal, headers: { Authorization: `Bearer ${token}` } });
}

// Per photo (a Blob), what we already computed for it: re-sending the same photo with a chosen box
// must not re-encode or re-upload it.
const base64Cache = new WeakMap();
const uploadKeyCache = new WeakMap();

function blobToBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(new ApiError("The photo could not be read. Try another one.", { code: "read" }));
    reader.readAsDataURL(blob);
  });
}

function uploadForm(fields, blob) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields ?? {})) form.append(name, value);
  form.append("file", blob, "photo.jpg"); // S3 ignores every field after the file: it goes last.
  return form;
}

/** Uploads the photo through a URL Vitrine hands out (local: PUT; cloud: S3 form POST); returns its key. */
async function upload(blob, signal) {
  const target = await requestJson("uploads", { body: { content_type: blob.type, size: blob.size }, signal });
  const init = target.method === "PUT"
    ? { method: "PUT", body: blob, headers: { "Content-Type": blob.type } }
    : { method: "POST", body: uploadForm(target.fields, blob) };
  const response = await send(target.url, { ...init, signal });
  if (!response.ok) throw new ApiError("The photo could not be uploaded. Please try again.", { code: "upload" });
  return target.key;
}

async function photoReference(blob, signal) {
  if (blob.size <= INLINE_LIMIT_BYTES) {
    if (!base64Cache.has(blob)) base64Cache.set(blob, await blobToBase64(blob));
    return { image: base64Cache.get(blob) };
  }
  if (!uploadKeyCache.has(blob)) uploadKeyCache.set(blob, await upload(blob, signal));
  return { upload_key: uploadKeyCache.get(blob) };
}

/**
 * Searches the catalog for what is in the photo; `box` ([x0, y0, x1, y1], 0..1) picks one item.
 * Answers `{status: "choose" | "results" | "no_object", ...}` as the API does.
 */
export async function searchPhoto(blob, box, signal) {
  const body = { ...(await photoReference(blob, signal)), ...(box ? { box } : {}) };
  return requestJson("search", { body, signal });
}
