// Juniper Health Provider Center (simulated): a single-page app. The server sends this shell for
// /app, /app/claims and /app/requests…; results, claim details and correction/reconsideration
// requests come from the JSON API and are rendered here. What users typed is only ever set as
// text (textContent, attribute values), never as HTML.
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

// A portal in trouble answers its API with 429 or 5xx: the app then shows the same "unavailable"
// screen as the server-rendered pages, not a banner over the last screen.
function unavailable(body) {
  document.title = "Service temporarily unavailable · Juniper Health";
  app.replaceChildren(el("h1", {}, body.error || "Service temporarily unavailable"), el("p", {}, body.message || ""));
}

async function api(path) {
  const response = await fetch(path, {credentials: "same-origin"});
  if (response.status === 401) { location.assign("/signin?expired=1"); return null; }
  const body = await response.json();
  if (response.status === 429 || response.status >= 500) { unavailable(body); return null; }
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

// A field the API left out (undefined, unlike an empty null) is not shown at all.
function kv(pairs) {
  const shown = pairs.filter(([, , value]) => value !== undefined);
  return el("div", {class: "kv"}, ...shown.map(([field, label, value]) =>
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
        ["paid", "Plan paid", c.paid_cents === undefined ? undefined : money(c.paid_cents)],
        ["member-resp", "Member owes", money(c.patient_resp_cents)],
        ["payment-ref", "Payment reference", c.check_number], ["payment-date", "Payment date", c.check_date]]),
    el("p", {class: "actions"},
       el("a", {href: `/app/requests/new?claim=${encodeURIComponent(c.claim_number)}`}, "Correct or reconsider this claim"),
       el("a", {href: `/app/requests?claim=${encodeURIComponent(c.claim_number)}`}, "Requests for this claim")),
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

// -- corrected-claim and reconsideration requests ------------------------------------------------
const WORDING = JSON.parse(document.getElementById("request-wording").textContent);

function requestForm(params) {
  const labels = WORDING.labels;
  const field = (id, name, control, hint) => {
    control.id = id;
    control.name = name;
    if (hint) control.setAttribute("aria-describedby", `${id}-hint`);
    return [el("label", {for: id}, labels[name]), control,
            ...(hint ? [el("span", {id: `${id}-hint`, class: "hint"}, hint)] : [])];
  };
  const text = (value = "") => el("input", {value});
  const kind = el("select", {}, ...Object.entries(WORDING.options).map(([value, label]) => {
    const option = el("option", {value}, label);
    if (params.get("kind") === value) option.selected = true;
    return option;
  }));
  const form = el("form", {class: "panel request", id: "request-form", novalidate: ""},
    el("h2", {}, "Corrected claim or reconsideration"),
    ...field("rq-type", "kind", kind),
    ...field("rq-claim", "claim_number", text(params.get("claim") || "")),
    ...field("rq-line", "line", text(params.get("line") || ""), "The line's # in the claim's service lines."),
    ...field("rq-code", "procedure_code", text(), "5 characters: CPT, or HCPCS (a letter and 4 digits)."),
    ...field("rq-mods", "modifiers", text(), "Up to 4, comma-separated. A corrected claim needs a code or modifiers."),
    ...field("rq-reason", "reason", el("textarea", {rows: "5"}), "Up to 500 characters."),
    ...field("rq-yourref", "your_reference", text(), "Optional, up to 40 characters."),
    el("button", {type: "submit", class: "primary"}, "Submit request"));
  form.addEventListener("submit", (event) => { event.preventDefault(); submitRequest(form); });
  document.title = "New request · Juniper Health";
  app.replaceChildren(el("h1", {}, "New request"), form);
}

function showProblems(form, problems) {
  document.getElementById("request-problems")?.remove();
  form.querySelectorAll("[aria-invalid]").forEach((control) => control.removeAttribute("aria-invalid"));
  const items = problems.map((p, i) => {
    const control = p.field && form.elements[p.field];
    if (control) control.setAttribute("aria-invalid", "true");
    return el("li", {id: `problem-${i + 1}`}, p.message);
  });
  form.before(el("div", {class: "banner banner-error", role: "alert", id: "request-problems"},
                 el("p", {}, "Your request was not sent:"), el("ul", {}, ...items)));
}

async function submitRequest(form) {
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  let response, body;
  try {
    response = await fetch("/api/requests", {
      method: "POST", credentials: "same-origin", headers: {"content-type": "application/json"},
      body: JSON.stringify(Object.fromEntries(new FormData(form)))});
    if (response.status === 401) { location.assign("/signin?expired=1"); return; }
    body = await response.json();
  } catch (err) {
    showProblems(form, [{message: "Provider Center could not be reached. Try again."}]);
    return;
  } finally {
    button.disabled = false;
  }
  if (!response.ok) { showProblems(form, body.problems || [{message: body.error}]); return; }
  history.pushState(null, "", `/app/requests/${body.request.id}`);
  requestReceived(body.request);
}

function requestReceived(r) {
  const labels = WORDING.labels;
  document.title = "Request submitted · Juniper Health";
  app.replaceChildren(el("h1", {}, "Request submitted"),
    el("p", {class: "banner", role: "status"}, "Request # ",
       el("strong", {"data-testid": "request-reference"}, r.reference), " · keep it for your records."),
    kv([["request-type", labels.kind, r.kind_text], ["request-claim", labels.claim_number, r.claim_number],
        ["request-line", labels.line, String(r.line)], ["request-code", labels.procedure_code, r.procedure_code],
        ["request-modifiers", labels.modifiers, r.modifiers], ["request-your-reference", labels.your_reference, r.your_reference],
        ["request-submitted", "Submitted", r.submitted], ["request-status", "Status", r.status]]),
    el("h2", {id: "lbl-request-reason"}, labels.reason),
    el("p", {class: "free-text", "data-testid": "request-reason", "aria-labelledby": "lbl-request-reason"}, r.reason),
    el("p", {class: "actions"}, el("a", {href: "/app/requests"}, "All submitted requests"),
       el("a", {href: "/app/requests/new"}, "Send another request")));
}

async function showRequest(id) {
  let data;
  try {
    data = await api(`/api/requests/${id}`);
  } catch (err) {
    app.replaceChildren(el("h1", {}, "Request"), el("p", {class: "banner banner-error", role: "alert"}, err.message));
    return;
  }
  if (data) requestReceived(data.request);
}

const REQUEST_COLUMNS = [["reference", "Request #"], ["submitted", "Submitted"], ["claim_number", "Claim #"],
                         ["kind_text", "Type"], ["line", "Service line"], ["your_reference", "Your reference"],
                         ["status", "Status"]];

async function requestList(params) {
  const claim = params.get("claim") || "";
  const data = await api(`/api/requests?${new URLSearchParams({claim})}`);
  if (!data) return;
  const filter = el("form", {method: "get", action: "/app/requests", class: "panel filter", role: "search"},
    el("label", {for: "rq-filter"}, "Show requests for claim"), el("input", {id: "rq-filter", name: "claim", value: claim}),
    el("button", {type: "submit"}, "Filter"));
  const rows = data.requests.map((r) => el("tr", {"data-request": String(r.id)}, ...REQUEST_COLUMNS.map(([key]) =>
    el("td", {"data-field": key}, key === "reference" ? el("a", {href: `/app/requests/${r.id}`}, r.reference) : String(r[key])))));
  const count = data.requests.length;
  document.title = "Submitted requests · Juniper Health";
  app.replaceChildren(el("h1", {}, "Submitted requests"), filter,
    el("p", {role: "status"}, count ? `${count} request(s)${claim ? ` for claim ${claim}` : ""}`
                                   : `No requests${claim ? ` for claim ${claim}` : ""}.`),
    el("table", {"aria-label": "Submitted requests", class: "requests"},
       el("thead", {}, el("tr", {}, ...REQUEST_COLUMNS.map(([, title]) => el("th", {scope: "col"}, title)))),
       el("tbody", {}, ...rows)));
}

// -- routes -----------------------------------------------------------------------------------
function route() {
  const params = new URLSearchParams(location.search);
  const path = location.pathname;
  const request = path.match(/^\/app\/requests\/(\d+)$/);
  if (path === "/app/claims") results(params);
  else if (path === "/app/requests/new") requestForm(params);
  else if (path === "/app/requests") requestList(params);
  else if (request) showRequest(request[1]);
  else app.replaceChildren(el("h1", {}, "Claims"), searchForm(params));
}

window.addEventListener("popstate", route);
route();
