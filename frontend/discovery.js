// Discovery on the shopper's page: search by words, filters (category, price) on every search, and
// "similar products" in the product view. app.js sends photo searches through searchPhotoRefined() so the
// filters (and any words typed) go with them; everything else is wired here by initDiscovery().

import { ApiError, searchPhoto } from "./api.js";
import { attachProductLinks, openProduct } from "./product.js";
import * as view from "./view.js";

const SIMILAR_COUNT = 4;
const TEXT_COUNT = 8;
// A photo prepared by photo.js (at most 1280 px, JPEG) is far below this; larger ones go through api.js's upload.
const INLINE_LIMIT_BYTES = 4 * 1024 * 1024;
const UNREACHABLE = "Vitrine could not be reached. Check your connection and try again.";

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function apiUrl(path) {
  return new URL(`api/${path}`, document.baseURI);
}

async function request(path, { body, signal } = {}) {
  const init = body === undefined
    ? { method: "GET", signal }
    : { method: "POST", signal, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  let response;
  try {
    response = await fetch(apiUrl(path), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(UNREACHABLE, { code: "network" });
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok || payload === null) {
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    throw new ApiError(payload?.message || "Vitrine is having trouble right now. Please try again in a moment.", {
      code: payload?.error ?? `http_${response.status}`,
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
      status: response.status,
    });
  }
  return payload;
}

// -- filters ------------------------------------------------------------------------------------------

function priceValue(id) {
  const raw = $(id)?.value.trim() ?? "";
  if (raw === "") return null;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : null;
}

/** The filters on screen: `{category?, min_price?, max_price?}` (unset ones left out). */
export function currentFilters() {
  const filters = {};
  const category = $("filter-category")?.value ?? "";
  if (category) filters.category = category;
  const low = priceValue("filter-min");
  const high = priceValue("filter-max");
  if (low !== null) filters.min_price = low;
  if (high !== null) filters.max_price = high;
  return filters;
}

function currentWords() {
  return ($("text-query")?.value ?? "").trim().replace(/\s+/g, " ");
}

function blobToBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(new ApiError("The photo could not be read. Try another one.", { code: "read" }));
    reader.readAsDataURL(blob);
  });
}

/**
 * A photo search with the filters on screen, and the words typed (if any) re-ranking the photo's matches.
 * Without either it is api.js's searchPhoto, unchanged.
 */
export async function searchPhotoRefined(blob, box, signal) {
  const filters = currentFilters();
  const words = currentWords();
  const title = $("results-title");
  if (title) title.textContent = "Similar products"; // a words search may have renamed the results
  if ((Object.keys(filters).length === 0 && !words) || blob.size > INLINE_LIMIT_BYTES) {
    return searchPhoto(blob, box, signal);
  }
  const body = { image: await blobToBase64(blob), ...(box ? { box } : {}), ...filters, ...(words ? { text: words } : {}) };
  return request("search", { body, signal });
}

// -- search by words ----------------------------------------------------------------------------------

function formatPrice(price, currency) {
  if (price === null || price === undefined) return "Price on request";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(price);
  } catch {
    return `${price} ${currency ?? ""}`.trim();
  }
}

function productCard(result) {
  const product = result.product ?? {};
  const name = product.name || result.product_code;
  const card = element("li", "card");
  card.dataset.productCode = result.product_code;
  const frame = element("div", "card-image");
  if (result.image_url) {
    const image = element("img");
    image.src = result.image_url;
    image.alt = "";
    image.loading = "lazy";
    image.addEventListener("error", () => image.remove());
    frame.append(image);
  }
  const body = element("div", "card-body");
  body.append(element("h3", "card-name", name), element("p", "card-brand", product.brand || ""));
  const price = element("p", "card-price", formatPrice(product.price, product.currency));
  price.dataset.price = product.price ?? "";
  body.append(price);
  card.append(frame, body);
  return card;
}

function describeFilters(filters) {
  const parts = [];
  if (filters.category) parts.push(filters.category);
  if (filters.min_price !== null && filters.min_price !== undefined) parts.push(`from ${filters.min_price}`);
  if (filters.max_price !== null && filters.max_price !== undefined) parts.push(`up to ${filters.max_price}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

function showTextResults(answer) {
  const results = answer.results ?? [];
  $("empty").hidden = true;
  $("results").replaceChildren(...results.map(productCard));
  $("results-title").textContent = `Products for “${answer.query}”`;
  const note = results.length === 0
    ? "Nothing in the catalog matches these words and filters."
    : `Found by words${describeFilters(answer.filters ?? {})}.${answer.tiny_models ? " Demo mode: tiny random models, not meaningful." : ""}`;
  $("results-note").textContent = note;
  $("results-section").hidden = false;
  attachProductLinks(results);
  $("results-title").focus();
}

let pendingText = null;

async function searchWords() {
  const words = currentWords();
  const message = $("text-message");
  message.textContent = "";
  if (!words) {
    message.textContent = "Type a few words, for example “striped red shirt”.";
    return;
  }
  pendingText?.abort();
  const controller = new AbortController();
  pendingText = controller;
  view.clearError();
  view.showBusy("Searching by your words…");
  try {
    const query = new URLSearchParams({ q: words, k: String(TEXT_COUNT) });
    for (const [name, value] of Object.entries(currentFilters())) query.set(name, String(value));
    const answer = await request(`search/text?${query}`, { signal: controller.signal });
    if (!controller.signal.aborted) {
      showTextResults(answer);
      view.showIdle(`${answer.results.length} products found for your words.`);
    }
  } catch (error) {
    if (!controller.signal.aborted) {
      view.showIdle();
      view.showError(error.retryAfter ? `${error.message} Try again in ${error.retryAfter} seconds.` : error.message);
    }
  } finally {
    if (pendingText === controller) pendingText = null;
  }
}

// -- similar products in the product view -------------------------------------------------------------

let similarFor = null;

function similarSection(dialog) {
  let section = dialog.querySelector("#similar-products");
  if (!section) {
    section = element("section", "similar-products");
    section.id = "similar-products";
    section.setAttribute("aria-labelledby", "similar-title");
    const title = element("h3", "", "Similar products");
    title.id = "similar-title";
    const list = element("ol", "similar-list");
    list.id = "similar-list";
    const status = element("p", "hint similar-status");
    status.setAttribute("role", "status");
    section.append(title, status, list);
    dialog.append(section);
  }
  return section;
}

function similarItem(result) {
  const product = result.product ?? {};
  const name = product.name || result.product_code;
  const item = element("li", "similar-item");
  item.dataset.productCode = result.product_code;
  const button = element("button", "similar-open");
  button.type = "button";
  button.setAttribute("aria-label", `Open ${name}`);
  if (result.image_url) {
    const image = element("img");
    image.src = result.image_url;
    image.alt = "";
    image.loading = "lazy";
    button.append(image);
  }
  button.append(element("span", "similar-name", name), element("span", "similar-price", formatPrice(product.price, product.currency)));
  button.addEventListener("click", () => showProduct(result.product_code));
  item.append(button);
  return item;
}

async function loadSimilar(code) {
  const dialog = $("product-view");
  if (!dialog) return;
  similarFor = code;
  const section = similarSection(dialog);
  const list = section.querySelector("#similar-list");
  const status = section.querySelector(".similar-status");
  list.replaceChildren();
  status.textContent = "Looking for similar products…";
  try {
    const answer = await request(`products/${encodeURIComponent(code)}/similar?k=${SIMILAR_COUNT}`);
    if (similarFor !== code) return;
    list.replaceChildren(...answer.results.map(similarItem));
    status.textContent = answer.results.length ? "" : "No similar products yet.";
  } catch (error) {
    if (similarFor === code) status.textContent = error.message;
  }
}

function showProduct(code) {
  openProduct(code);
  loadSimilar(code);
}

function watchProductView() {
  // product.js opens the view from each card's "Details" button; the similar products follow it there.
  document.addEventListener(
    "click",
    (event) => {
      const button = event.target.closest?.("button.product-open");
      const code = button?.closest(".card")?.dataset.productCode;
      if (code) setTimeout(() => loadSimilar(code), 0); // after product.js has built and opened the view
    },
    true,
  );
}

/** Binds the search box, the filters and the product view's similar products. */
export function initDiscovery() {
  const form = $("text-search");
  if (!form) return;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    searchWords();
  });
  $("filters")?.addEventListener("change", () => {
    if ($("results-title")?.textContent.startsWith("Products for") && currentWords()) searchWords();
  });
  watchProductView();
}
