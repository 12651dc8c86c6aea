// braze-bridge console: vanilla JS, no build step. Talks only to the console server (/api/*).
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(path, options) {
  const opts = options || {};
  const init = { method: opts.method || "GET", headers: {} };
  if (opts.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.body);
  }
  const r = await fetch(path, init);
  let data = null;
  try { data = await r.json(); } catch (e) { data = { error: `HTTP ${r.status}` }; }
  if (!r.ok) throw new Error((data && data.error) || `HTTP ${r.status}`);
  return data;
}

function pretty(value) { return JSON.stringify(value, null, 2); }

// ------------------------------------------------------------------ tabs

const TABS = ["rules", "try", "inbox"];

function showTab(name, focus) {
  for (const t of TABS) {
    const tab = $(`#tab-${t}`);
    const on = t === name;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
    $(`#view-${t}`).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  if (name === "inbox") pollInbox();
  if (name === "rules" && INFO) loadInfo().then(loadRules); // the config may have changed
}

function setupTabs() {
  for (const t of TABS) {
    const tab = $(`#tab-${t}`);
    tab.addEventListener("click", () => showTab(t, false));
    tab.addEventListener("keydown", (ev) => {
      const i = TABS.indexOf(t);
      let next = null;
      if (ev.key === "ArrowRight") next = TABS[(i + 1) % TABS.length];
      if (ev.key === "ArrowLeft") next = TABS[(i + TABS.length - 1) % TABS.length];
      if (ev.key === "Home") next = TABS[0];
      if (ev.key === "End") next = TABS[TABS.length - 1];
      if (next) { ev.preventDefault(); showTab(next, true); }
    });
  }
  const initial = location.hash.slice(1);
  showTab(TABS.includes(initial) ? initial : "rules", false);
  window.addEventListener("hashchange", () => {
    const name = location.hash.slice(1);
    if (TABS.includes(name)) showTab(name, false);
  });
}

// ------------------------------------------------------------------ info + rules

let INFO = null;

async function loadInfo() {
  INFO = await api("/api/info");
  const name = $("#config-name");
  name.textContent = INFO.config.split("/").pop();
  name.title = INFO.config;
  const st = $("#sandbox-state");
  if (INFO.sandbox) {
    st.textContent = INFO.sandbox_ok ? `sandbox ${INFO.sandbox}` : `sandbox ${INFO.sandbox} (not answering)`;
    st.className = "pill " + (INFO.sandbox_ok ? "ok" : "bad");
  } else {
    st.textContent = "no sandbox";
    st.className = "pill";
  }
  const err = $("#config-error");
  err.hidden = !INFO.config_error;
  err.textContent = INFO.config_error ? `Invalid config: ${INFO.config_error}` : "";
  $("#inbox-off").hidden = !!INFO.sandbox;
  $("#inbox-on").hidden = !INFO.sandbox;
}

async function loadRules() {
  let data;
  try { data = await api("/api/rules"); } catch (e) { return; }
  const general = $("#general-warnings");
  general.replaceChildren(...data.warnings.map((w) => el("li", { class: "warning", text: w })));
  const list = $("#rules-list");
  list.replaceChildren(...data.rules.map((r) => el("article", { class: "rule card" + (r.enabled ? "" : " disabled"), "data-rule": r.name },
    el("h3", {}, r.name, r.shadow ? el("span", { class: "pill", text: "shadow" }) : null,
      r.enabled ? null : el("span", { class: "pill", text: "disabled" })),
    el("dl", {},
      el("dt", { text: "topic" }), el("dd", {}, el("code", { text: r.topic })),
      el("dt", { text: "action" }), el("dd", {}, el("code", { text: r.action })),
      el("dt", { text: "target" }), el("dd", {}, el("code", { text: r.target || "—" })),
      el("dt", { text: "when" }), el("dd", {}, el("pre", { class: "when", text: r.when }))),
    r.warnings.length ? el("ul", { class: "warnings", "aria-label": `Warnings about ${r.name}` },
      ...r.warnings.map((w) => el("li", { class: "warning", text: w }))) : null)));
}

// ------------------------------------------------------------------ try an event

let SAMPLES = [];
let RECORDS = [];
let previewSeq = 0;
let timer = null;

async function loadSamples() {
  let data;
  try { data = await api("/api/samples"); } catch (e) { return; }
  SAMPLES = data.samples;
  $("#topics").replaceChildren(...data.topics.map((t) => el("option", { value: t })));
  const sel = $("#sample");
  sel.replaceChildren(el("option", { value: "", text: "— paste your own —" }),
    ...SAMPLES.map((s, i) => el("option", { value: String(i), text: s.topic ? `${s.name} (${s.topic})` : s.name })));
  if (!$("#topic").value && data.topics.length) $("#topic").value = data.topics[0];
}

function fill(item) {
  $("#topic").value = item.topic || $("#topic").value;
  $("#event").value = item.event;
  $("#key").value = item.key || "";
  $("#headers").value = Object.entries(item.headers || {}).map(([k, v]) => `${k}=${v}`).join("\n");
  schedulePreview(0);
}

function eventInput() {
  return {
    topic: $("#topic").value,
    event: $("#event").value,
    key: $("#key").value || null,
    headers: $("#headers").value,
  };
}

function schedulePreview(delay) {
  clearTimeout(timer);
  timer = setTimeout(runPreview, delay === undefined ? 150 : delay);
}

async function runPreview() {
  const seq = ++previewSeq;
  const input = eventInput();
  const results = $("#results");
  results.setAttribute("aria-busy", "true");
  let data;
  try {
    data = input.topic ? await api("/api/preview", { method: "POST", body: input }) : { ok: false, error: "choose a topic" };
  } catch (e) {
    data = { ok: false, error: e.message };
  }
  if (seq !== previewSeq) return; // a newer keystroke won
  results.setAttribute("aria-busy", "false");
  results.dataset.for = `${input.topic}\n${input.event}`;
  const err = $("#try-error");
  err.hidden = data.ok;
  err.textContent = data.ok ? "" : data.error;
  if (!data.ok) {
    $("#rule-outcomes").replaceChildren();
    $("#requests").replaceChildren();
    $("#dead-letters").replaceChildren();
    $("#preview-output").textContent = "";
    $("#request-count").textContent = "";
    results.dataset.state = "error";
    return;
  }
  const res = data.result;
  results.dataset.state = "ready";
  $("#rule-outcomes").replaceChildren(...data.rules.map((r) => el("li", { class: `outcome ${r.outcome}`, "data-rule": r.rule, "data-outcome": r.outcome },
    el("span", { class: "badge", text: ({ matched: "matched", dead_letter: "dead letter", no_match: "no match", other_topic: "other topic" })[r.outcome] || r.outcome }),
    el("span", {}, el("strong", { text: r.rule }), " ", el("span", { class: "reason", text: r.reason })))));
  $("#request-count").textContent = `(${res.requests.length})`;
  $("#verdict-from").textContent = res.requests.length ? `Verdicts: ${data.verdict_from}, nothing sent.` : (res.skipped ? `Skipped: ${res.skipped}` : "");
  $("#requests").replaceChildren(...res.requests.map((r, i) => {
    const v = data.verdicts[i];
    const ok = v.valid === true;
    const verdictText = v.valid === null ? v.note : ok ? `valid — the sandbox would answer ${v.status}` : `rejected — ${v.status} ${pretty(v.answer)}`;
    return el("article", { class: "request card", "data-rule": r.rule, "data-path": r.path },
      el("h4", {}, el("code", { text: `${r.method} ${r.path}` }), el("span", { class: "muted", text: ` from ${r.rule}` })),
      el("pre", { class: "body", tabindex: "0", text: pretty(r.body) }),
      el("p", { class: "verdict " + (v.valid === null ? "unknown" : ok ? "valid" : "invalid"), "data-valid": String(v.valid), text: verdictText }));
  }));
  $("#dead-letters").replaceChildren(...(res.dead_letters || []).map((d) => el("article", { class: "dead-letter card", "data-rule": d.rule || "", "data-stage": d.stage },
    el("h4", { text: `Would be dead-lettered (${d.stage}${d.rule ? ", rule " + d.rule : ""})` }),
    el("p", { class: "reason", text: d.message }))));
  $("#preview-output").textContent = data.output;
}

async function saveGolden() {
  const status = $("#golden-status");
  const name = $("#golden-name").value.trim();
  if (!name) { status.textContent = "Name the case first."; $("#golden-name").focus(); return; }
  try {
    const data = await api("/api/golden", { method: "POST", body: { ...eventInput(), name } });
    status.textContent = `Saved ${data.path} — run: braze-bridge test ${data.directory}`;
    status.dataset.path = data.path;
  } catch (e) {
    status.textContent = `Not saved: ${e.message}`;
  }
}

async function loadRecords() {
  const status = $("#records-status");
  const topic = $("#topic").value;
  if (!topic) { status.textContent = "Choose a topic first."; return; }
  status.textContent = `Reading the last records of ${topic}…`;
  try {
    const data = await api(`/api/records?topic=${encodeURIComponent(topic)}&n=${encodeURIComponent($("#record-count").value)}`);
    RECORDS = data.records;
    const sel = $("#record");
    sel.replaceChildren(...RECORDS.map((r, i) => el("option", { value: String(i), text: r.name })));
    sel.hidden = !RECORDS.length;
    status.textContent = `${RECORDS.length} record(s) from ${topic}`;
    if (RECORDS.length) fill(RECORDS[RECORDS.length - 1]), (sel.value = String(RECORDS.length - 1));
  } catch (e) {
    status.textContent = `Could not read ${topic}: ${e.message}`;
  }
}

function setupTry() {
  for (const id of ["#topic", "#key", "#headers", "#event"]) $(id).addEventListener("input", () => schedulePreview());
  $("#sample").addEventListener("change", (ev) => { if (ev.target.value !== "") fill(SAMPLES[Number(ev.target.value)]); });
  $("#record").addEventListener("change", (ev) => fill(RECORDS[Number(ev.target.value)]));
  $("#save-golden").addEventListener("click", saveGolden);
  $("#load-records").addEventListener("click", loadRecords);
  $("#event-form").addEventListener("submit", (ev) => { ev.preventDefault(); schedulePreview(0); });
}

// ------------------------------------------------------------------ inbox

const INBOX = { since: null, records: new Map(), selected: null, polling: false, timer: null, lifecycle: new Map() };
const MAX_KEPT = 2000;

function fmtTime(t) {
  if (!t) return "";
  const d = new Date(t * 1000);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function trackSchedule(r) {
  const m = /\/schedule\/(create|update|delete)$/.exec(r.path || "");
  if (!m) return;
  const id = (m[1] === "create" ? r.response && r.response.schedule_id : r.body && r.body.schedule_id) || null;
  if (!id) return;
  const list = INBOX.lifecycle.get(id) || [];
  list.push({ op: m[1], status: r.status, time: r.time });
  INBOX.lifecycle.set(id, list);
}

async function pollInbox() {
  if (!INFO || !INFO.sandbox || INBOX.polling) return;
  INBOX.polling = true;
  clearTimeout(INBOX.timer);
  try {
    const q = INBOX.since === null ? "" : `?since=${INBOX.since}`;
    const data = await api(`/api/inbox${q}`);
    for (const r of data.requests) { INBOX.records.set(r.seq, r); trackSchedule(r); }
    while (INBOX.records.size > MAX_KEPT) INBOX.records.delete(INBOX.records.keys().next().value);
    INBOX.since = data.last_seq;
    renderInbox(data);
    $("#inbox-status").textContent = `live · ${INBOX.records.size} shown of ${data.stats.requests_total}`;
  } catch (e) {
    $("#inbox-status").textContent = `sandbox not answering: ${e.message}`;
  } finally {
    INBOX.polling = false;
    if (!$("#view-inbox").hidden && !document.hidden) INBOX.timer = setTimeout(pollInbox, 1000);
  }
}

function statusClass(s) { return s >= 200 && s < 300 ? "ok" : s === 429 ? "warn" : "bad"; }

function matchesFilters(r) {
  const ep = $("#filter-endpoint").value;
  const target = $("#filter-target").value.trim().toLowerCase();
  const who = $("#filter-recipient").value.trim().toLowerCase();
  const st = $("#filter-status").value;
  if (ep && r.path !== ep) return false;
  if (target && !(r.target || "").toLowerCase().includes(target)) return false;
  if (who && !r.recipients.some((x) => x.toLowerCase().includes(who))) return false;
  if (st === "ok" && !(r.status >= 200 && r.status < 300)) return false;
  if (st === "rejected" && r.status >= 200 && r.status < 300) return false;
  return true;
}

function renderInbox(data) {
  if (data) {
    const sel = $("#filter-endpoint");
    const known = new Set([...sel.options].map((o) => o.value));
    for (const r of data.requests) if (r.path && !known.has(r.path)) { sel.append(el("option", { value: r.path, text: r.path })); known.add(r.path); }
    renderPools(data.pools, data.stats);
    renderSchedules(data.schedules);
    renderFaults(data.faults);
  }
  const rows = [...INBOX.records.values()].filter(matchesFilters).reverse().slice(0, 500);
  $("#inbox-table tbody").replaceChildren(...rows.map((r) => {
    const tr = el("tr", { tabindex: "0", "data-seq": String(r.seq), "data-status": String(r.status), "data-path": r.path, class: INBOX.selected === r.seq ? "selected" : null,
      "aria-selected": INBOX.selected === r.seq ? "true" : "false" },
      el("td", { text: r.seq }), el("td", { text: fmtTime(r.time) }),
      el("td", {}, el("code", { text: `${r.method} ${r.path}` })),
      el("td", {}, r.body === null && r.method === "POST" ? el("span", { class: "muted", text: "(body not recorded)" }) : el("code", { text: r.target || "" })),
      el("td", { text: r.recipients.join(", ") }),
      el("td", {}, el("span", { class: "status " + statusClass(r.status), text: r.status === 0 ? "reset" : String(r.status) }), r.fault ? el("span", { class: "pill", text: `fault: ${r.fault}` }) : null));
    const open = () => showDetail(r.seq);
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
    return tr;
  }));
}

function showDetail(seq) {
  INBOX.selected = seq;
  const r = INBOX.records.get(seq);
  const box = $("#request-detail");
  box.hidden = false;
  const rate = r.rate_limit ? Object.entries(r.rate_limit).map(([k, v]) => `${k}: ${v}`).join("\n") : "not recorded by this sandbox (see the budget gauges)";
  box.replaceChildren(
    el("h3", {}, `#${r.seq} `, el("code", { text: `${r.method} ${r.path}` }), " → ", el("span", { class: "status " + statusClass(r.status), text: String(r.status) })),
    el("h4", { text: "Request body" }), el("pre", { class: "detail-body", tabindex: "0", text: r.body === null ? "(none)" : pretty(r.body) }),
    el("h4", { text: "Answer" }), el("pre", { class: "detail-answer", tabindex: "0", text: r.response === null ? "(none)" : pretty(r.response) }),
    el("h4", { text: "Rate-limit headers" }), el("pre", { class: "detail-rate", text: rate }));
  renderInbox(null);
  box.focus();
}

function renderPools(pools, stats) {
  $("#pools").replaceChildren(...Object.entries(pools || {}).map(([name, p]) => {
    const id = `pool-${name}`;
    return el("div", { class: "pool", "data-pool": name },
      el("label", { for: id }, el("strong", { text: name }), ` ${p.remaining.toLocaleString("en")} of ${p.limit.toLocaleString("en")} left`),
      el("meter", { id, min: "0", max: String(p.limit), low: String(Math.ceil(p.limit * 0.1)), high: String(Math.ceil(p.limit * 0.5)), optimum: String(p.limit), value: String(p.remaining) }),
      el("span", { class: "muted small", text: `window ${p.window_s}s · rejected ${p.rejected_total}` }));
  }));
  if (stats) $("#totals").textContent = `${stats.requests_total} requests · ${stats.accepted_total} accepted · ${stats.rate_limited_total} rate-limited`;
}

function renderSchedules(current) {
  const rows = new Map();
  for (const s of current || []) rows.set(s.schedule_id, { ...s, state: "scheduled" });
  for (const [id, events] of INBOX.lifecycle) {
    const row = rows.get(id) || { schedule_id: id, kind: "", target_id: "", next_send_time: "", state: "" };
    const last = events[events.length - 1];
    if (!rows.has(id)) row.state = last.op === "delete" && last.status < 300 ? "cancelled" : "unknown";
    row.events = events;
    rows.set(id, row);
  }
  if (!rows.size) { $("#schedules").replaceChildren(el("p", { class: "muted small", text: "none" })); return; }
  $("#schedules").replaceChildren(el("table", { class: "small" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "schedule" }), el("th", { scope: "col", text: "next send" }), el("th", { scope: "col", text: "lifecycle" }))),
    el("tbody", {}, ...[...rows.values()].map((s) => el("tr", { "data-schedule": s.schedule_id },
      el("td", {}, el("code", { text: String(s.schedule_id).slice(0, 12) }), el("br"), el("span", { class: "muted", text: `${s.kind || ""} ${s.target_id || ""}` })),
      el("td", { text: s.next_send_time || "" }),
      el("td", { text: [s.state, ...(s.events || []).map((e) => `${e.op} ${e.status}`)].filter(Boolean).join(" → ") }))))));
}

let FAULTS_EDITING = false;

function renderFaults(f) {
  const spec = (f && f.faults) || {};
  const active = Object.keys(spec).length > 0;
  const parts = [];
  if (spec.error_rate) parts.push(`${Math.round(spec.error_rate * 100)} % 5xx`);
  if (spec.latency_ms) parts.push(`latency ${spec.latency_ms} ms`);
  if (f && f.rate_limit_until && f.rate_limit_until * 1000 > Date.now()) parts.push("429 window open");
  if (f && f.unauthorized_until && f.unauthorized_until * 1000 > Date.now()) parts.push("401 window open");
  const st = $("#faults-status");
  st.dataset.active = String(active);
  if (!FAULTS_EDITING) st.textContent = active ? `Active: ${parts.join(", ") || JSON.stringify(spec)}` : "No faults.";
}

async function applyFaults(ev) {
  ev.preventDefault();
  const spec = {};
  const rate = Number($("#fault-error-rate").value) / 100;
  const latency = Number($("#fault-latency").value);
  const w429 = Number($("#fault-429").value);
  const w401 = Number($("#fault-401").value);
  if (rate > 0) spec.error_rate = Math.min(rate, 1);
  if (latency > 0) spec.latency_ms = latency;
  if (w429 > 0) spec.rate_limit_for_s = w429;
  if (w401 > 0) spec.unauthorized_for_s = w401;
  await sendFaults(Object.keys(spec).length ? { method: "POST", body: spec } : { method: "DELETE" });
}

async function sendFaults(opts) {
  const st = $("#faults-status");
  try {
    const f = await api("/api/faults", opts);
    FAULTS_EDITING = false;
    renderFaults(f);
  } catch (e) {
    st.textContent = `Not changed: ${e.message}`;
  }
}

function setupInbox() {
  for (const id of ["#filter-endpoint", "#filter-target", "#filter-recipient", "#filter-status"]) {
    $(id).addEventListener("input", () => renderInbox(null));
  }
  $("#faults-form").addEventListener("submit", applyFaults);
  $("#clear-faults").addEventListener("click", () => {
    for (const id of ["#fault-error-rate", "#fault-latency", "#fault-429", "#fault-401"]) $(id).value = "0";
    sendFaults({ method: "DELETE" });
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && !$("#view-inbox").hidden) pollInbox(); });
}

// ------------------------------------------------------------------ start

async function start() {
  setupTabs();
  setupTry();
  setupInbox();
  await loadInfo();
  await Promise.all([loadRules(), loadSamples()]);
  document.body.dataset.ready = "true";
  if (!$("#view-inbox").hidden) pollInbox();
}

start();
