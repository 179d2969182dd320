// Juniper Health Provider Center (simulated): a single-page app. The server sends this shell for
// /app and /app/claims; results and claim details come from the JSON API and are rendered here.
"use strict";

const drift = document.body.dataset.layout === "drift";
const app = document.getElementById("app");
const FIELDS = [["claim_no", "Claim #"], ["patient", "Patient"], ["account", "Account #"],
                ["from", "From"], ["to", "To"], ["billed", "Billed"], ["status", "Status"]];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

const money = (cents) => cents == null ? "" :
  "$" + (cents / 100).toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});

async function api(path) {
  const response = await fetch(path, {credentials: "same-origin"});
  if (response.status === 401) { location.assign("/signin?expired=1"); return null; }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function searchForm(params) {
  const input = (id, name, label, hint) => [el("label", {for: id}, label),
    el("input", {id, name, value: params.get(name) || "", placeholder: hint})];
  return el("form", {method: "get", action: "/app/claims", class: "panel", role: "search"},
    el("h2", {}, "Find a claim"),
    ...input("f-claim", "claim", drift ? "Claim ID" : "Claim number", ""),
    ...input("f-member", "member", "Subscriber ID", ""),
    ...input("f-from", "from", "Service from", "YYYY-MM-DD"),
    ...input("f-to", "to", "Service to", "YYYY-MM-DD"),
    el("button", {type: "submit", class: "primary"}, "Find claims"));
}

function grid(label, columns, rows, rowAttrs) {
  const head = el("div", {role: "row"}, ...columns.map(([, title]) => el("div", {role: "columnheader"}, title)));
  const body = rows.map((r, i) => el("div", {role: "row", ...rowAttrs(r, i)},
    ...columns.map(([key]) => el("div", {role: "gridcell", "data-field": key}, r[key] ?? ""))));
  return el("div", {role: "grid", "aria-label": label, class: "grid", style: `--cols: ${columns.length}`},
            head, ...body);
}

function kv(pairs) {
  return el("div", {class: "kv"}, ...pairs.map(([field, label, value]) =>
    el("div", {}, el("span", {id: `lbl-${field}`}, label),
       el("span", {"data-testid": `detail-${field}`, "aria-labelledby": `lbl-${field}`}, value ?? ""))));
}

function detailPanel(c) {
  const lines = c.lines.map((l) => ({...l, modifiers: l.modifiers.join(","), billed: money(l.billed_cents),
                                      paid: money(l.paid_cents)}));
  const panel = el("section", {role: "region", "aria-label": "Claim details", class: "detail", id: `panel-${c.claim_key}`},
    el("h2", {}, drift ? "Claim information" : "Claim details"),
    kv([["claim-no", "Claim #", c.claim_number], ["account", "Account #", c.account_number],
        ["patient", "Patient", c.patient_name], ["member", "Subscriber ID", c.member_id],
        ["dob", "Birth date", c.patient_dob], ["from", "Service from", c.dos_from], ["to", "Service to", c.dos_to],
        ["status", "Claim status", c.status_text], ["status-date", "As of", c.status_date],
        ["billed", "Billed", money(c.billed_cents)], ["allowed", "Allowed", money(c.allowed_cents)],
        ["paid", "Plan paid", money(c.paid_cents)], ["member-resp", "Member owes", money(c.patient_resp_cents)],
        ["payment-ref", "Payment reference", c.check_number], ["payment-date", "Payment date", c.check_date]]),
    grid("Service lines", [["line_no", "#"], ["procedure_code", "CPT/HCPCS"], ["modifiers", "Mod"],
                           ["diagnosis_pointers", "Dx"], ["units", "Units"], ["billed", "Billed"], ["paid", "Paid"]],
         lines, (l) => ({"data-line": l.line_no})));
  if (c.adjustments.length) {
    const adj = c.adjustments.map((a) => ({...a, amount: money(a.amount_cents)}));
    panel.append(el("h2", {}, "Adjustment reasons"),
      grid("Adjustments", [["line_no", "#"], ["group_code", "Group"], ["carc", "CARC"], ["carc_description", "Reason"],
                           ["rarc", "RARC"], ["rarc_description", "Remark"], ["amount", "Amount"]],
           adj, () => ({"data-adjustment": ""})));
  }
  return panel;
}

async function toggle(button, key) {
  document.querySelectorAll("section.detail").forEach((p) => p.remove());
  document.querySelectorAll("button[aria-expanded=true]").forEach((b) => b.setAttribute("aria-expanded", "false"));
  const claim = await api(`/api/claims/${key}`);
  if (!claim) return;
  button.closest("[role=row]").after(detailPanel(claim));
  button.setAttribute("aria-expanded", "true");
}

async function results(params) {
  const query = new URLSearchParams(params);
  const nav = el("p", {}, el("a", {href: "/app"}, "New search"));
  let data;
  try {
    data = await api(`/api/claims?${query}`);
  } catch (err) {
    app.replaceChildren(el("h1", {}, "Claims"), el("p", {class: "banner banner-error", role: "alert"}, err.message),
                        searchForm(params));
    return;
  }
  if (!data) return;
  if (!data.total) {
    app.replaceChildren(el("h1", {}, "Claims"), nav, el("p", {class: "empty", role: "status"}, "No claims found for these criteria."));
    return;
  }
  const rows = data.claims.map((c) => ({...c, billed: money(c.billed_cents)}));
  const table = grid(drift ? "Claim list" : "Claims", FIELDS.concat([["open", ""]]), rows,
                     (r) => ({"data-key": r.key}));
  table.querySelectorAll("[role=row][data-key]").forEach((row) => {
    const cell = row.querySelector("[data-field=open]");
    const button = el("button", {type: "button", "aria-expanded": "false"}, drift ? "Details" : "View details");
    button.addEventListener("click", () => toggle(button, row.dataset.key));
    cell.replaceChildren(button);
  });
  const pager = el("nav", {"aria-label": "Pages", class: "pager"});
  const link = (page, text, rel) => {
    query.set("page", page);
    pager.append(el("a", {href: `/app/claims?${query}`, rel}, text));
  };
  if (data.page > 1) link(data.page - 1, "Previous", "prev");
  if (data.page < data.pages) link(data.page + 1, "Next", "next");
  app.replaceChildren(el("h1", {}, "Claims"), nav,
    el("p", {role: "status"}, `${data.total} claim(s) · page ${data.page} of ${data.pages}`), table, pager);
}

const params = new URLSearchParams(location.search);
if (location.pathname === "/app/claims") results(params);
else app.replaceChildren(el("h1", {}, "Claims"), searchForm(params));
