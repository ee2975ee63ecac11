// The operator page for hotel images: the hotel list (public `GET api/hotels`), and for the chosen hotel its
// gallery in display order (`GET api/ops/hotels/{id}`), with category chips to filter it, the cover badge,
// pin / unpin (`PUT` / `DELETE api/ops/hotels/{id}/cover`) and a rescore (`POST .../rescore`). Score and
// confidence show on hover. Operator routes need the operator token, asked for once and kept in
// localStorage under the same key as the shop page's operator area. Everything the API returns is drawn as
// text, never as HTML.

import { ApiError } from "./api.js";

const TOKEN_KEY = "vitrine.operatorToken";
const PAGE_SIZE = 50;
const $ = (id) => document.getElementById(id);

// pickFirst: signed in before the hotel list arrived, so the list chooses its first hotel when it comes.
const state = { token: "", hotelId: "", cursor: null, category: "", detail: null, loading: null, pickFirst: false };

function storedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

function keepToken(token) {
  state.token = token;
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: signed in for this visit only */
  }
  $("signin").hidden = Boolean(token);
  $("signout").hidden = !token;
}

function say(text) {
  $("message").textContent = text;
}

/** fetch() against `api/...` with JSON in and out; failures are ApiErrors with the API's own sentence. */
async function request(path, { method = "GET", body, token, signal } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(`api/${path}`, document.baseURI), {
      method,
      headers,
      signal,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("Vitrine could not be reached. Check your connection and try again.", { code: "network" });
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(payload?.message || `Vitrine refused the request (HTTP ${response.status}).`, {
      code: payload?.error ?? `http_${response.status}`,
      status: response.status,
    });
  }
  return payload;
}

/** An operator call; a refused token is forgotten and asked for again. */
async function operatorCall(path, options = {}) {
  if (!state.token) {
    askForToken("Sign in with the operator token to see and change galleries.");
    throw new ApiError("not signed in", { code: "unauthorized", status: 401 });
  }
  try {
    return await request(path, { ...options, token: state.token });
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      keepToken("");
      askForToken(`That token was not accepted: ${error.message}`);
    }
    throw error;
  }
}

function askForToken(message) {
  $("signin").hidden = false;
  $("signout").hidden = true;
  say(message);
  $("token").focus();
}

function node(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = text;
  if (className) element.className = className;
  return element;
}

function figure(value, digits) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

// -- the hotel list --------------------------------------------------------------------------------

async function loadHotels({ more = false } = {}) {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const city = $("city").value.trim();
  if (city) query.set("city", city);
  if (more && state.cursor) query.set("cursor", state.cursor);
  try {
    const page = await request(`hotels?${query}`);
    const items = page.items.map((hotel) => {
      const button = node("button");
      button.type = "button";
      button.dataset.hotelId = hotel.hotel_id;
      button.append(node("span", hotel.name || hotel.hotel_id), node("span", hotel.city || "—", "city"));
      if (hotel.hotel_id === state.hotelId) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => selectHotel(hotel.hotel_id));
      const item = node("li");
      item.append(button);
      return item;
    });
    if (more) $("hotels").append(...items);
    else $("hotels").replaceChildren(...items);
    state.cursor = page.next_cursor;
    $("more").hidden = !page.next_cursor;
    if (!more) say(items.length ? `${items.length} hotels${page.next_cursor ? " (more below)" : ""}.` : "No hotels yet.");
    if (state.pickFirst && !state.hotelId && items.length) {
      state.pickFirst = false;
      selectHotel(page.items[0].hotel_id);
    }
  } catch (error) {
    say(error.message);
  }
}

// -- one hotel's gallery ---------------------------------------------------------------------------

async function selectHotel(hotelId) {
  state.hotelId = hotelId;
  state.category = "";
  for (const button of $("hotels").querySelectorAll("button")) {
    if (button.dataset.hotelId === hotelId) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  history.replaceState(null, "", `#hotel=${encodeURIComponent(hotelId)}`);
  await reload();
}

async function reload() {
  if (!state.hotelId) return;
  state.loading?.abort();
  const controller = new AbortController();
  state.loading = controller;
  say("Loading the gallery…");
  try {
    const detail = await operatorCall(`ops/hotels/${encodeURIComponent(state.hotelId)}`, { signal: controller.signal });
    drawHotel(detail);
    say(`${detail.images.length} photos, in gallery order.`);
    $("hotel-name").focus();
  } catch (error) {
    if (error.name !== "AbortError" && error.status !== 401 && error.status !== 403) say(error.message);
  } finally {
    if (state.loading === controller) state.loading = null;
  }
}

const SOURCES = {
  pinned: "pinned by an operator (kept by later scoring runs until unpinned)",
  ranker: "the best ranker score among photos that may make a cover",
  unscored: "not scored yet (no hotel.json text to score against): the most confident photo",
  fallback: "every photo is in a category that never makes a cover: the best of them",
};

function drawHotel(detail) {
  state.detail = detail;
  $("hotel").hidden = false;
  $("hotel-name").textContent = detail.name || detail.hotel_id;
  const facts = [detail.city, detail.hotel_id];
  if (detail.scoring_pending) facts.push("changes waiting for the scoring job");
  $("hotel-facts").textContent = facts.filter(Boolean).join(" · ");
  $("cover-note").textContent = detail.cover_source ? `Cover: ${SOURCES[detail.cover_source] ?? detail.cover_source}.` : "No cover yet.";
  drawChips(detail.images);
  drawGallery(detail);
  const rejected = detail.rejected.map((item) => node("li", `${item.key}: ${item.reason}`));
  $("rejected").replaceChildren(...rejected);
  $("rejected-title").textContent = `${rejected.length} rejected file${rejected.length === 1 ? "" : "s"}`;
  $("rejected-box").hidden = rejected.length === 0;
}

function drawChips(images) {
  const counts = new Map();
  for (const image of images) counts.set(image.category, (counts.get(image.category) ?? 0) + 1);
  if (state.category && !counts.has(state.category)) state.category = "";
  const chip = (category, label) => {
    const button = node("button", label, "chip");
    button.type = "button";
    button.dataset.category = category;
    button.setAttribute("aria-pressed", String(state.category === category));
    button.addEventListener("click", () => {
      state.category = category;
      for (const other of $("chips").children) other.setAttribute("aria-pressed", String(other === button));
      applyFilter();
    });
    return button;
  };
  $("chips").replaceChildren(
    chip("", `All (${images.length})`),
    ...[...counts].map(([category, count]) => chip(category, `${category} (${count})`)),
  );
}

function applyFilter() {
  for (const item of $("gallery").children) item.hidden = Boolean(state.category) && item.dataset.category !== state.category;
}

function drawGallery(detail) {
  const items = detail.images.map((image, index) => {
    const item = node("li", undefined, `hotel-photo${image.is_cover ? " is-cover" : ""}`);
    item.dataset.imageId = image.image_id;
    item.dataset.category = image.category;
    item.title = `score ${figure(image.score, 4)} · confidence ${figure(image.confidence, 2)}\nmodel said: ${image.raw_answer || "—"}`;
    const photo = node("img");
    photo.src = image.url;
    photo.alt = `${image.category} photo of ${detail.name || detail.hotel_id}`;
    photo.loading = "lazy";
    const body = node("div", undefined, "photo-body");
    body.append(
      node("span", image.category, "category"),
      node("span", `score ${figure(image.score, 3)} · confidence ${figure(image.confidence, 2)}`, "figures"),
    );
    const pinned = detail.pinned_image_id === image.image_id;
    if (pinned) {
      body.append(action("Unpin", () => setCover(null)));
    } else if (!image.is_cover) {
      body.append(action("Use as cover", () => setCover(image.image_id)));
    }
    item.append(photo, node("span", String(index + 1), "position"), body);
    if (image.is_cover) item.append(node("span", pinned ? "Cover · pinned" : "Cover", "cover-badge"));
    return item;
  });
  $("gallery").replaceChildren(...items);
  applyFilter();
}

function action(label, run) {
  const button = node("button", label, "button");
  button.type = "button";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await run();
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

async function setCover(imageId) {
  const path = `ops/hotels/${encodeURIComponent(state.hotelId)}/cover`;
  say(imageId ? "Pinning the cover…" : "Unpinning the cover…");
  try {
    const detail = imageId
      ? await operatorCall(path, { method: "PUT", body: { image_id: imageId } })
      : await operatorCall(path, { method: "DELETE" });
    drawHotel(detail);
    say(imageId ? "Cover pinned: later scoring runs keep it." : "Cover unpinned: the best-scored photo is the cover.");
  } catch (error) {
    if (error.status !== 401 && error.status !== 403) say(error.message);
  }
}

async function rescore() {
  say("Scoring the photos against the hotel's text…");
  try {
    const answer = await operatorCall(`ops/hotels/${encodeURIComponent(state.hotelId)}/rescore`, { method: "POST" });
    drawHotel(answer.hotel);
    say(answer.status === "scored" ? `Rescored: ${answer.scored} photos scored.` : `Scoring failed: ${answer.reason}`);
  } catch (error) {
    if (error.status !== 401 && error.status !== 403) say(error.message);
  }
}

// -- start -----------------------------------------------------------------------------------------

async function showDemoBanner() {
  try {
    const health = await request("health");
    const banner = $("demo-banner");
    banner.hidden = !health.tiny_models;
    if (banner.hidden) return;
    // The labeller may be the demo one (trained on synthetic hotels) while the cover ranker stays tiny.
    const labelsTrained = (health.demo_models ?? []).includes("llava");
    const message = labelsTrained
      ? " labels from a demo model trained on synthetic hotels; covers from a tiny random ranker — not meaningful."
      : " tiny random models — labels and covers are not meaningful.";
    banner.replaceChildren(Object.assign(document.createElement("strong"), { textContent: "Demo mode:" }), document.createTextNode(message));
  } catch {
    /* the list says what is wrong */
  }
}

function start() {
  keepToken(storedToken());
  if (!state.token) askForToken("Sign in with the operator token to see and change galleries.");
  $("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (!token) return;
    $("token").value = "";
    keepToken(token);
    const first = $("hotels").querySelector("button");
    if (state.hotelId) reload();
    else if (first) selectHotel(first.dataset.hotelId);
    else {
      state.pickFirst = true; // the list is still on its way
      say("Signed in.");
    }
  });
  $("signout").addEventListener("click", () => {
    keepToken("");
    $("hotel").hidden = true;
    askForToken("Signed out.");
  });
  $("city-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    loadHotels();
  });
  $("city").addEventListener("search", () => loadHotels());
  $("more").addEventListener("click", () => loadHotels({ more: true }));
  $("rescore").addEventListener("click", rescore);
  showDemoBanner();
  loadHotels();
  const wanted = new URLSearchParams(location.hash.slice(1)).get("hotel");
  if (wanted) selectHotel(wanted);
}

start();
