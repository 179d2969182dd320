// A screenshot viewer with zoom, for the evidence timeline (templates/audit/item.html). Without
// script each thumbnail is a plain link to the image; with it, a click opens the image in the
// page's <dialog id="viewer">: zoom in and out with the buttons, + and -, or Ctrl+wheel; 0 or
// "Fit" shows it whole; Esc closes. Sizes are set through the CSSOM (the CSP allows no inline style).
"use strict";

(() => {
  const dialog = document.getElementById("viewer");
  if (!dialog || typeof dialog.showModal !== "function") return; // the links stay plain links

  const image = document.getElementById("viewer-image");
  const stage = document.getElementById("viewer-stage");
  const label = document.getElementById("viewer-scale");
  const open = document.getElementById("viewer-open");
  const STEP = 1.25;
  const MIN = 0.05;
  const MAX = 16;
  let scale = 1;

  function show(next) {
    if (!image.naturalWidth) return;
    scale = Math.min(MAX, Math.max(MIN, next));
    image.style.width = `${Math.round(image.naturalWidth * scale)}px`;
    image.style.height = `${Math.round(image.naturalHeight * scale)}px`;
    label.value = `${Math.round(scale * 100)}%`;
  }

  function fit() {
    if (!image.naturalWidth) return;
    const width = stage.clientWidth / image.naturalWidth;
    const height = stage.clientHeight / image.naturalHeight;
    show(Math.min(width, height));
  }

  function zoom(factor) {
    show(scale * factor);
  }

  image.addEventListener("load", fit);

  document.querySelectorAll("a[data-viewer]").forEach((link) => {
    link.addEventListener("click", (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return; // a new tab, as asked
      event.preventDefault();
      const thumb = link.querySelector("img");
      const href = link.getAttribute("href");
      image.alt = thumb ? thumb.alt : "Screenshot";
      open.href = href;
      dialog.showModal();
      if (image.getAttribute("src") === href && image.complete) {
        fit();
      } else {
        image.setAttribute("src", href);
      }
    });
  });

  document.getElementById("viewer-in").addEventListener("click", () => zoom(STEP));
  document.getElementById("viewer-out").addEventListener("click", () => zoom(1 / STEP));
  document.getElementById("viewer-fit").addEventListener("click", fit);
  document.getElementById("viewer-close").addEventListener("click", () => dialog.close());

  dialog.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "+" || event.key === "=") zoom(STEP);
    else if (event.key === "-" || event.key === "_") zoom(1 / STEP);
    else if (event.key === "0") fit();
    else return;
    event.preventDefault();
  });

  stage.addEventListener(
    "wheel",
    (event) => {
      if (!event.ctrlKey) return; // the wheel alone scrolls a zoomed image
      event.preventDefault();
      zoom(event.deltaY < 0 ? STEP : 1 / STEP);
    },
    { passive: false },
  );
})();
