// Everything the page draws. Functions here only touch the DOM; app.js decides what to show when.

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A similarity score as a whole percentage, 0..100 (cosine below zero shows as 0). */
function percent(score) {
  return Math.round(Math.max(0, Math.min(1, Number(score) || 0)) * 100);
}

function formatPrice(price, currency) {
  if (price === null || price === undefined) return "Price on request";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(price);
  } catch {
    return `${price} ${currency ?? ""}`.trim(); // no or unknown currency code: show the plain amount
  }
}

/** The demo banner: `"demo"` (models trained on synthetic data), `"tiny"` (random models) or none. */
export function showDemoBanner(kind) {
  const banner = $("demo-banner");
  banner.hidden = !kind;
  if (!kind) return;
  const message =
    kind === "demo"
      ? " demo models trained on synthetic data — they know this synthetic shop, not real photos."
      : " tiny random models — results are not meaningful.";
  banner.replaceChildren(element("strong", "", "Demo mode:"), document.createTextNode(message));
}

export function showCatalogSize(products) {
  $("catalog-size").textContent =
    products === 0 ? "The catalog is empty: nothing can be found yet." : `Searching ${products} products.`;
}

export function showBusy(message) {
  $("status").classList.add("busy");
  $("status-text").textContent = message;
  document.body.setAttribute("aria-busy", "true");
}

export function showIdle(message = "") {
  $("status").classList.remove("busy");
  $("status-text").textContent = message;
  document.body.removeAttribute("aria-busy");
}

/** Shows a readable error; `retry`, when given, is offered as a "Try again" button. */
export function showError(message, retry) {
  const alert = $("alert");
  alert.replaceChildren(element("p", "", message));
  if (retry) {
    const button = element("button", "button", "Try again");
    button.type = "button";
    button.addEventListener("click", retry);
    alert.append(button);
  }
}

export function clearError() {
  $("alert").replaceChildren();
}

export function setDragging(dragging) {
  $("drop-zone").classList.toggle("dragging", dragging);
}

/** Shows the prepared photo and hides the outcome of the previous one. */
export function showPhoto(photo) {
  const image = $("photo");
  image.src = photo.url;
  image.width = photo.width;
  image.height = photo.height;
  $("boxes").replaceChildren();
  $("photo-hint").textContent = "";
  $("photo-section").hidden = false;
  $("picker").classList.add("has-photo");
  $("picker-title").textContent = "Try another photo";
  $("empty").hidden = true;
  $("results-section").hidden = true;
}

function placeBox(node, [x0, y0, x1, y1]) {
  Object.assign(node.style, {
    left: `${x0 * 100}%`,
    top: `${y0 * 100}%`,
    width: `${(x1 - x0) * 100}%`,
    height: `${(y1 - y0) * 100}%`,
  });
}

function sameBox(a, b) {
  return Boolean(a && b) && a.every((value, i) => Math.abs(value - b[i]) < 1e-6);
}

function boxArea([x0, y0, x1, y1]) {
  return (x1 - x0) * (y1 - y0);
}

/**
 * Draws the detected items over the photo as buttons (Tab to reach, Enter to pick), the most confident
 * first. Smaller boxes are stacked above larger ones, so a hat inside a person's box can still be clicked.
 */
export function showBoxes(detections, selected, onPick) {
  const byArea = [...detections].sort((a, b) => boxArea(b.box) - boxArea(a.box));
  const byScore = [...detections].sort((a, b) => b.score - a.score);
  const buttons = byScore.map((detection) => {
    const label = `${detection.label || "item"}, ${percent(detection.score)}%`;
    const button = element("button", "box");
    button.type = "button";
    button.setAttribute("aria-label", label);
    button.setAttribute("aria-pressed", String(sameBox(detection.box, selected)));
    button.style.zIndex = String(1 + byArea.indexOf(detection));
    button.append(element("span", "box-label", label));
    placeBox(button, detection.box);
    button.addEventListener("click", () => onPick(detection.box));
    return button;
  });
  $("boxes").replaceChildren(...buttons);
  $("photo-hint").textContent = `${detections.length} items found: pick the one you want to find.`;
}

/** Outlines the item a search used, when the shopper did not pick it (a single item was found). */
export function showSearchedArea(box) {
  const outline = element("div", "box searched");
  outline.setAttribute("aria-hidden", "true");
  placeBox(outline, box);
  $("boxes").replaceChildren(outline);
  $("photo-hint").textContent = "The outlined item was searched.";
}

export function showEmpty(message, onWholePhoto) {
  $("results-section").hidden = true;
  $("empty-message").textContent = message || "We could not find clothes, shoes or hats in this photo.";
  $("whole-photo").onclick = onWholePhoto;
  $("empty").hidden = false;
  $("empty-title").focus();
}

/**
 * The match figure: the calibrated share of results at this score that were the right product (`match`),
 * never the raw cosine; without a calibration, no percentage is shown.
 */
function matchMeter(match) {
  const meter = element("div", "match");
  if (match === null || match === undefined) {
    meter.append(element("span", "match-text", "Match not calibrated"));
    return meter;
  }
  const value = percent(match);
  meter.append(element("span", "match-text", `${value}% match`));
  meter.title = `${value}% of results scored like this one were the right product when the search was calibrated`;
  const bar = element("span", "match-bar");
  bar.setAttribute("role", "meter");
  bar.setAttribute("aria-label", "Match strength");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", String(value));
  const fill = element("span", "match-fill");
  fill.style.width = `${value}%`;
  bar.append(fill);
  meter.append(bar);
  return meter;
}

function productImage(url) {
  const frame = element("div", "card-image");
  if (!url) return frame;
  const image = element("img");
  image.src = url;
  image.alt = ""; // the product's name follows: the image would only repeat it to a screen reader
  image.loading = "lazy";
  image.addEventListener("error", () => image.remove()); // the frame's picture icon shows instead
  frame.append(image);
  return frame;
}

function productCard(result) {
  const product = result.product ?? {};
  const name = product.name || result.product_code;
  const card = element("li", "card");
  card.append(productImage(result.image_url));
  const body = element("div", "card-body");
  const title = element("h3", "card-name");
  if (product.url) {
    const link = element("a", "", name);
    link.href = product.url;
    link.rel = "noopener";
    link.target = "_blank";
    title.append(link);
  } else {
    title.textContent = name;
  }
  body.append(title, element("p", "card-brand", product.brand || ""));
  body.append(element("p", "card-price", formatPrice(product.price, product.currency)));
  body.append(matchMeter(result.match));
  if (result.confident === false) body.append(element("p", "weak-match", "Weak match"));
  card.append(body);
  return card;
}

export function showResults(answer) {
  const results = answer.results ?? [];
  $("empty").hidden = true;
  $("results").replaceChildren(...results.map(productCard));
  let note = "";
  if (results.length === 0) note = "Nothing in the catalog looks like this item.";
  else if (answer.confident === false) note = "No close match in the catalog: these are the nearest products.";
  $("results-note").textContent = note;
  $("results-section").hidden = false;
  $("results-title").focus();
}
