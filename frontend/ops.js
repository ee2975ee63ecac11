// The operator area: the ingestion report, behind the operator token. The token is asked for once and kept
// in this browser's localStorage; a token the API refuses (401) is forgotten and asked for again. Locally the
// token is the one `vitrine serve` prints (VITRINE_HOME/operator-token); on AWS, a Cognito ID token of a
// user in the operators group. Everything the API returns is drawn as text, never as HTML.

import { fetchIngestReport } from "./api.js";

const TOKEN_KEY = "vitrine.operatorToken";
const $ = (id) => document.getElementById(id);

function storedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return ""; // storage disabled: the operator signs in again on every visit
  }
}

function keepToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled */
  }
}

function cell(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

function when(seconds) {
  const date = new Date(Number(seconds) * 1000);
  return Number.isFinite(date.getTime()) ? date.toLocaleString() : "";
}

function showMessage(text) {
  $("ops-message").textContent = text;
}

function showSignIn(message = "") {
  $("ops-signin").hidden = false;
  $("ops-report").hidden = true;
  showMessage(message);
  $("ops-token").focus();
}

function drawReport(report) {
  const counts = $("ops-counts");
  counts.replaceChildren(
    ...Object.entries(report.counts).flatMap(([status, count]) => [cell("dt", status), cell("dd", String(count))]),
  );
  const rows = report.items.map((item) => {
    const row = document.createElement("tr");
    row.className = `ops-row status-${item.status}`;
    row.append(
      cell("td", item.key),
      cell("td", item.status),
      cell("td", item.reason || "—"),
      cell("td", when(item.updated_at)),
    );
    return row;
  });
  $("ops-items").replaceChildren(...rows);
  $("ops-empty").hidden = rows.length > 0;
  $("ops-signin").hidden = true;
  $("ops-report").hidden = false;
}

let pending = null;

/** Loads the report with `token`; keeps the token only once the API has accepted it. */
async function load(token) {
  pending?.abort();
  const controller = new AbortController();
  pending = controller;
  showMessage("Loading the ingestion report…");
  try {
    const report = await fetchIngestReport({ token, status: $("ops-status").value, signal: controller.signal });
    keepToken(token);
    drawReport(report);
    showMessage(`${report.items.length} records shown.`);
  } catch (error) {
    if (error.name === "AbortError") return;
    if (error.status === 401) {
      keepToken("");
      showSignIn(`That token was not accepted: ${error.message}`);
    } else if (error.status === 403) {
      keepToken("");
      showSignIn(`Signed in, but not as an operator: ${error.message}`);
    } else {
      showMessage(error.message);
    }
  } finally {
    if (pending === controller) pending = null;
  }
}

function open() {
  $("ops").hidden = false;
  $("ops-open").setAttribute("aria-expanded", "true");
  const token = storedToken();
  if (token) load(token);
  else showSignIn();
  $("ops").scrollIntoView({ block: "start" });
}

function close() {
  pending?.abort();
  $("ops").hidden = true;
  $("ops-open").setAttribute("aria-expanded", "false");
}

export function initOperatorArea() {
  $("ops-open").addEventListener("click", () => ($("ops").hidden ? open() : close()));
  $("ops-close").addEventListener("click", close);
  $("ops-signin").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("ops-token").value.trim();
    $("ops-token").value = "";
    if (token) load(token);
    else showSignIn("Paste the operator token first.");
  });
  $("ops-refresh").addEventListener("click", () => load(storedToken()));
  $("ops-status").addEventListener("change", () => load(storedToken()));
  $("ops-signout").addEventListener("click", () => {
    keepToken("");
    showSignIn("Signed out: the token is no longer kept in this browser.");
  });
  window.addEventListener("hashchange", () => {
    if (location.hash === "#ops" && $("ops").hidden) open();
  });
  if (location.hash === "#ops") open();
}
