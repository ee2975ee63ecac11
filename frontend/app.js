// The shopper's page: pick a photo → Vitrine finds the items → pick one → the most similar products.
// This module holds the flow and the page's state; api.js talks to the server, photo.js prepares the
// photo, view.js draws. No framework and no build step: the files are served as they are.

import { fetchHealth } from "./api.js";
import { initDiscovery, searchPhotoRefined } from "./discovery.js";
import { initOperatorArea } from "./ops.js";
import { preparePhoto } from "./photo.js";
import { attachProductLinks } from "./product.js";
import * as view from "./view.js";

const WHOLE_PHOTO = [0, 0, 1, 1];

/** The photo being searched and the items found in it (empty until the API answers "choose"). */
let current = null;
/** Aborts the request on screen when the shopper starts another: a late answer must not overwrite a newer one. */
let pending = null;

function retryMessage(error) {
  return error.retryAfter ? `${error.message} Try again in ${error.retryAfter} seconds.` : error.message;
}

/**
 * Runs one step with a spinner and a status line; on failure shows the error with a "Try again" button
 * that repeats `step`. Resolves to the step's result, or null when it failed or was superseded.
 */
async function busy(message, task, step) {
  pending?.abort();
  const controller = new AbortController();
  pending = controller;
  view.clearError();
  view.showBusy(message);
  try {
    const result = await task(controller.signal);
    return controller.signal.aborted ? null : result;
  } catch (error) {
    if (!controller.signal.aborted) view.showError(retryMessage(error), error.name === "ApiError" ? step : null);
    return null;
  } finally {
    if (pending === controller) {
      pending = null;
      view.showIdle();
    }
  }
}

function showAnswer(answer, box) {
  if (answer.status === "choose") {
    current.detections = answer.boxes;
    view.showBoxes(answer.boxes, null, searchItem);
    view.showIdle(answer.message || `${answer.boxes.length} items found. Pick one.`);
  } else if (answer.status === "no_object") {
    view.showEmpty(answer.message, () => searchItem(WHOLE_PHOTO));
  } else if (answer.status === "results") {
    if (current.detections.length > 0) view.showBoxes(current.detections, box, searchItem);
    else if (answer.box) view.showSearchedArea(answer.box);
    view.showResults(answer);
    attachProductLinks(answer.results); // a "Details" button on each card opens the product view
    view.showIdle(`${answer.results?.length ?? 0} similar products found.`);
  } else {
    view.showError("Vitrine sent an answer this page does not understand. Please try again.");
  }
}

/** Searches the current photo; `box` picks one of its items (null: let Vitrine find them). */
async function searchItem(box) {
  const photo = current;
  const step = () => searchItem(box);
  const message = box ? "Finding similar products…" : "Looking for items in your photo…";
  // The filters on screen (and any words typed) go with the photo: discovery.js.
  const answer = await busy(message, (signal) => searchPhotoRefined(photo.blob, box, signal), step);
  if (answer && photo === current) showAnswer(answer, box);
}

async function choosePhoto(file) {
  const photo = await busy("Preparing your photo…", () => preparePhoto(file));
  if (!photo) return;
  if (current) URL.revokeObjectURL(current.url);
  current = { ...photo, detections: [] };
  view.showPhoto(current);
  await searchItem(null);
}

function firstFile(fileList) {
  return fileList && fileList.length > 0 ? fileList[0] : null;
}

function bindPicker() {
  for (const input of document.querySelectorAll("#file-input, #camera-input")) {
    input.addEventListener("change", () => {
      const file = firstFile(input.files);
      input.value = ""; // choosing the same file again must fire "change" again
      if (file) choosePhoto(file);
    });
  }
  // A photo dropped anywhere on the page is taken, and never opened by the browser in place of the page.
  document.addEventListener("dragover", (event) => {
    event.preventDefault();
    view.setDragging(true);
  });
  document.addEventListener("dragleave", (event) => {
    if (event.relatedTarget === null) view.setDragging(false);
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    view.setDragging(false);
    const file = firstFile(event.dataTransfer?.files);
    if (file) choosePhoto(file);
  });
}

async function showServiceState() {
  try {
    const health = await fetchHealth();
    // Search answers with dino_embed: its provenance decides what the banner says.
    const searchTrained = (health.demo_models ?? []).includes("dino_embed");
    view.showDemoBanner(searchTrained ? "demo" : health.tiny_models === true ? "tiny" : null);
    if (Number.isInteger(health.catalog?.products)) view.showCatalogSize(health.catalog.products);
  } catch (error) {
    view.showError(retryMessage(error));
  }
}

bindPicker();
initOperatorArea();
initDiscovery();
showServiceState();
