// The product view, opened from a search result: the product's photos, the attributes read from its main
// photo as chips, the description with where it came from, and an "ask about this product" box.
// app.js calls attachProductLinks(results) after drawing the result cards; everything else lives here.

import { ApiError } from "./api.js";

const MAX_QUESTION = 300;
const UNREACHABLE = "Vitrine could not be reached. Check your connection and try again.";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function apiUrl(path) {
  return new URL(`api/${path}`, document.baseURI);
}

/** GET (no body) or POST JSON; every failure becomes an ApiError with a sentence a shopper can read. */
async function request(path, body) {
  const init = body === undefined
    ? { method: "GET" }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  let response;
  try {
    response = await fetch(apiUrl(path), init);
  } catch {
    throw new ApiError(UNREACHABLE, { code: "network" });
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    throw new ApiError(payload?.message || "Vitrine is having trouble right now. Please try again in a moment.", {
      code: payload?.error ?? `http_${response.status}`,
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
      status: response.status,
    });
  }
  return payload;
}

export function fetchProduct(code) {
  return request(`products/${encodeURIComponent(code)}`);
}

export function askProduct(code, question) {
  return request(`products/${encodeURIComponent(code)}/ask`, { question });
}

function formatPrice(price, currency) {
  if (price === null || price === undefined) return "";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(price);
  } catch {
    return `${price} ${currency ?? ""}`.trim();
  }
}

function formatTime(seconds) {
  try {
    return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch {
    return "";
  }
}

/** The dialog, made once and reused; `refs` are its parts the view fills in. */
let dialog = null;
let refs = null;
let currentCode = null;

function buildDialog() {
  dialog = element("dialog", "product-view");
  dialog.id = "product-view";
  dialog.setAttribute("aria-labelledby", "product-name");
  const head = element("div", "product-head");
  const titles = element("div");
  const name = element("h2", "product-name");
  name.id = "product-name";
  name.tabIndex = -1;
  const meta = element("p", "product-meta");
  titles.append(name, meta);
  const close = element("button", "button", "Close");
  close.type = "button";
  close.id = "product-close";
  close.addEventListener("click", () => dialog.close());
  head.append(titles, close);

  const body = element("div", "product-body");
  const photos = element("div", "product-photos");
  const info = element("div", "product-info");

  const tinyNote = element("p", "product-note", "Demo mode: tiny random models read these attributes and answer questions; they are not meaningful.");
  tinyNote.hidden = true;
  const chipsTitle = element("h3", "", "What the photo shows");
  const chips = element("ul", "chips");
  chips.id = "product-attributes";
  chips.setAttribute("aria-label", "Attributes read from the product's photo");

  const descTitle = element("h3", "", "Description");
  const description = element("p", "product-description");
  description.id = "product-description";
  const provenance = element("p", "product-provenance");
  provenance.id = "product-provenance";

  const form = element("form", "product-ask");
  form.id = "product-ask";
  form.noValidate = true; // the API's polite refusals are the messages
  const label = element("label", "", "Ask about this product");
  label.htmlFor = "product-question";
  const row = element("div", "ask-row");
  const input = element("input");
  input.id = "product-question";
  input.name = "question";
  input.type = "text";
  input.maxLength = MAX_QUESTION;
  input.placeholder = "Is it cotton? What is the collar like?";
  input.autocomplete = "off";
  const ask = element("button", "button primary", "Ask");
  ask.type = "submit";
  row.append(input, ask);
  const answer = element("p", "product-answer");
  answer.id = "product-answer";
  answer.setAttribute("role", "status");
  answer.setAttribute("aria-live", "polite");
  form.append(label, row, answer);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    askCurrent();
  });

  info.append(tinyNote, chipsTitle, chips, descTitle, description, provenance, form);
  body.append(photos, info);
  const status = element("p", "product-status");
  status.setAttribute("role", "status");
  dialog.append(head, status, body);
  document.body.append(dialog);
  refs = { name, meta, photos, chips, description, provenance, tinyNote, input, ask, answer, status, body };
}

function showPhotos(photos, productName) {
  refs.photos.replaceChildren();
  if (photos.length === 0) {
    refs.photos.append(element("p", "hint", "No photos yet."));
    return;
  }
  const main = element("img", "product-main-photo");
  main.src = photos[0].url;
  main.alt = `Photo of ${productName}`;
  refs.photos.append(main);
  if (photos.length < 2) return;
  const thumbs = element("div", "product-thumbs");
  photos.forEach((photo, index) => {
    const button = element("button", "thumb");
    button.type = "button";
    button.setAttribute("aria-label", `Show photo ${index + 1} of ${photos.length}`);
    const image = element("img");
    image.src = photo.url;
    image.alt = "";
    image.loading = "lazy";
    button.append(image);
    button.addEventListener("click", () => {
      main.src = photo.url;
    });
    thumbs.append(button);
  });
  refs.photos.append(thumbs);
}

function showAttributes(attributes) {
  const chips = attributes.map((attribute) => {
    const chip = element("li", attribute.stated ? "chip" : "chip unstated");
    chip.append(element("span", "chip-label", `${attribute.label}: `), element("span", "chip-value", attribute.value));
    chip.title = attribute.stated
      ? `Read from the photo (${Math.round(attribute.confidence * 100)}% clear). The model said: “${attribute.raw}”`
      : `The photo does not show this clearly. The model said: “${attribute.raw}”`;
    return chip;
  });
  if (chips.length === 0) chips.push(element("li", "chip unstated", "Not read yet"));
  refs.chips.replaceChildren(...chips);
}

function showDescription(view) {
  const { description, provenance, state } = view;
  if (description) {
    refs.description.textContent = description.text;
    refs.description.classList.remove("missing");
  } else {
    refs.description.textContent = state?.reason
      ? `No description yet: ${state.reason}`
      : "No description has been written for this product yet.";
    refs.description.classList.add("missing");
  }
  refs.provenance.replaceChildren();
  if (!provenance || !description) return;
  const badge = element("span", provenance.ai_generated ? "badge ai" : "badge offline",
    provenance.ai_generated ? "AI-written" : "Not written by AI");
  const used = Object.entries(provenance.attributes_used).map(([key, value]) => `${key.replace(/_/g, " ")} ${value}`);
  const from = used.length > 0 ? `only these attributes: ${used.join(", ")}` : "the product's own facts only";
  const photoName = provenance.image_key.split("/").pop();
  const text = ` Written by ${provenance.writer} from ${from}, read by ${provenance.attribute_model} from photo ${photoName}`
    + ` (${formatTime(provenance.described_at)}).`;
  refs.provenance.append(badge, document.createTextNode(text));
}

function render(view) {
  const product = view.product;
  const name = product.name || product.code;
  refs.name.textContent = name;
  refs.meta.textContent = [product.brand, formatPrice(product.price, product.currency)].filter(Boolean).join(" · ");
  refs.tinyNote.hidden = !view.tiny_models;
  showPhotos(view.photos, name);
  showAttributes(view.attributes);
  showDescription(view);
}

async function askCurrent() {
  const code = currentCode;
  const question = refs.input.value;
  refs.ask.disabled = true;
  refs.answer.classList.remove("error");
  refs.answer.textContent = "Looking at the photo…";
  try {
    const answer = await askProduct(code, question);
    if (code !== currentCode) return;
    refs.answer.replaceChildren(element("strong", "", "Answer: "), document.createTextNode(answer.answer));
  } catch (error) {
    if (code !== currentCode) return;
    refs.answer.classList.add("error");
    refs.answer.textContent = error.message;
  } finally {
    refs.ask.disabled = false;
  }
}

/** Opens the product view of `code` and loads it. */
export async function openProduct(code) {
  if (!dialog) buildDialog();
  currentCode = code;
  refs.body.hidden = true;
  refs.name.textContent = "Loading…";
  refs.meta.textContent = "";
  refs.status.textContent = "";
  refs.answer.textContent = "";
  refs.input.value = "";
  if (!dialog.open) dialog.showModal();
  try {
    const view = await fetchProduct(code);
    if (code !== currentCode) return;
    render(view);
    refs.body.hidden = false;
    refs.name.focus();
  } catch (error) {
    if (code !== currentCode) return;
    refs.name.textContent = "This product could not be shown";
    refs.status.textContent = error.message;
  }
}

/** Adds a "Details" button to each result card (in `results` order) that opens its product view. */
export function attachProductLinks(results) {
  const cards = document.querySelectorAll("#results .card");
  (results ?? []).forEach((result, index) => {
    const card = cards[index];
    if (!card || !result.product_code) return;
    card.dataset.productCode = result.product_code;
    const button = element("button", "button product-open", "Details");
    button.type = "button";
    const name = result.product?.name || result.product_code;
    button.setAttribute("aria-label", `Details of ${name}`);
    button.addEventListener("click", () => openProduct(result.product_code));
    (card.querySelector(".card-body") ?? card).append(button);
  });
}
