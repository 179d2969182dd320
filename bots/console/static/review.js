// Review pages from the keyboard alone. Keys act only when no text field has the focus (Esc
// leaves one); every action a key takes is also a visible link, button or form control.
"use strict";

(() => {
  const help = document.getElementById("key-help");
  const rows = Array.from(document.querySelectorAll("table.queue tbody tr[data-href]"));
  let current = -1;

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function showHelp(open) {
    if (!help) return;
    help.hidden = !open;
    if (open) document.getElementById("key-help-close").focus();
  }

  function highlight(index) {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row, i) => row.classList.toggle("current", i === current));
    rows[current].querySelector("a").focus();
  }

  function follow(id) {
    const link = document.getElementById(id);
    if (link) window.location.assign(link.href);
  }

  function choose(action) {
    const radio = document.getElementById("d-" + action);
    if (!radio) return;
    radio.checked = true;
    document.getElementById("d-reason").focus();
  }

  const pickAll = document.getElementById("pick-all");
  if (pickAll) {
    pickAll.addEventListener("change", () => {
      document.querySelectorAll('input[name="pick"]:not(:disabled)').forEach((box) => { box.checked = pickAll.checked; });
    });
  }

  const closeHelp = document.getElementById("key-help-close");
  if (closeHelp) closeHelp.addEventListener("click", () => showHelp(false));

  const decision = document.getElementById("decision-form");
  if (decision) {
    decision.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        decision.requestSubmit();
      }
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (help && !help.hidden) showHelp(false);
      else if (typing(event.target)) event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (help && !help.hidden && event.key !== "?") return;
    const keys = {
      "?": () => showHelp(help.hidden),
      j: () => highlight(current + 1),
      k: () => highlight(current - 1),
      x: () => {
        const box = current >= 0 ? rows[current].querySelector('input[name="pick"]') : null;
        if (box && !box.disabled) box.checked = !box.checked;
      },
      n: () => follow("next-task"),
      p: () => follow("previous-task"),
      q: () => follow("to-queue"),
      a: () => choose("approve"),
      r: () => choose("reject"),
      i: () => choose("return"),
      e: () => {
        const first = document.getElementById("p-action");
        if (first && !first.disabled) first.focus();
      },
    };
    const act = keys[event.key];
    if (act) {
      event.preventDefault();
      act();
    }
  });
})();
