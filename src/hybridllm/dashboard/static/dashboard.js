// The hybridllm dashboard: fetches /dashboard/api/* (same origin, the cookie or no auth) and draws
// the charts with the vendored Chart.js. No other network access.
"use strict";

const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563",
  "#db2777", "#65a30d", "#7c3aed"];
const charts = {};
const usd = new Intl.NumberFormat("en-US", { minimumFractionDigits: 4, maximumFractionDigits: 4 });
const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

function money(v) { return v === null || v === undefined ? "-" : "$" + usd.format(v); }
function pct(share) { return share === null || share === undefined ? "-" : (share * 100).toFixed(1) + "%"; }
function ms(v) { return v === null || v === undefined ? "-" : whole.format(v) + " ms"; }

function setKpi(id, text, value) {
  const el = document.getElementById(id);
  el.textContent = text;
  el.dataset.value = value === null || value === undefined ? "" : String(value);
}

async function getJson(path) {
  const res = await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } });
  if (!res.ok) {
    let message = res.status + " " + res.statusText;
    try { message = (await res.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(path.split("?")[0] + ": " + message);
  }
  return res.json();
}

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false },
    config.options || {});
  charts[id] = new Chart(document.getElementById(id), config);
}

function color(i) { return PALETTE[i % PALETTE.length]; }

function renderSummary(report) {
  const t = report.total, h = report.health;
  setKpi("kpi-requests", whole.format(t.requests), t.requests);
  setKpi("kpi-cost", money(t.cost_usd), t.cost_usd);
  setKpi("kpi-baseline", money(t.baseline_cost_usd), t.baseline_cost_usd);
  setKpi("kpi-saving", t.saving_pct === null ? "-" : t.saving_pct.toFixed(1) + "%", t.saving_pct);
  document.getElementById("kpi-saving-usd").textContent =
    t.saving_usd === null ? "" : money(t.saving_usd) + " saved";
  setKpi("kpi-local-share", pct(h.local_share), h.local_share);
  setKpi("kpi-fallback-rate", pct(t.fallback_rate), t.fallback_rate);
  setKpi("kpi-error-rate", pct(t.error_rate), t.error_rate);
  setKpi("kpi-latency", ms(t.p50_latency_ms) + " / " + ms(t.p95_latency_ms), t.p95_latency_ms);

  const tiers = Object.keys(t.tier_shares);
  draw("chart-tiers", {
    type: "doughnut",
    data: { labels: tiers.map((k) => "tier " + k),
      datasets: [{ data: tiers.map((k) => t.tier_shares[k] * 100), backgroundColor: tiers.map((_, i) => color(i)) }] },
    options: { plugins: { legend: { position: "right" },
      tooltip: { callbacks: { label: (c) => c.label + ": " + c.parsed.toFixed(1) + "%" } } } },
  });
  const groups = report.groups.filter((g) => g.requests > 0);
  const names = groups.map((g) => g.group);
  draw("chart-rates", {
    type: "bar",
    data: { labels: names, datasets: [
      { label: "fallback %", data: groups.map((g) => (g.fallback_rate || 0) * 100), backgroundColor: color(2) },
      { label: "error %", data: groups.map((g) => (g.error_rate || 0) * 100), backgroundColor: color(4) },
    ] },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "% of requests" } } } },
  });
  draw("chart-latency", {
    type: "bar",
    data: { labels: names, datasets: [
      { label: "p50", data: groups.map((g) => g.p50_latency_ms), backgroundColor: color(0) },
      { label: "p95", data: groups.map((g) => g.p95_latency_ms), backgroundColor: color(3) },
    ] },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } } },
  });
}

function renderSpend(spend) {
  const deps = Object.keys(spend.deployments);
  draw("chart-spend", {
    type: "bar",
    data: { labels: spend.days, datasets: deps.map((d, i) => ({ label: d, data: spend.deployments[d], backgroundColor: color(i), stack: "cost" })) },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "USD" } } } },
  });
  const cum = (xs) => { let s = 0; return xs.map((x) => (s += x)); };
  draw("chart-saving", {
    type: "line",
    data: { labels: spend.days, datasets: [
      { label: "baseline (one frontier model)", data: cum(spend.baseline), borderColor: color(4), backgroundColor: color(4), pointRadius: 0 },
      { label: "actual cost", data: cum(spend.cost), borderColor: color(1), backgroundColor: color(1), pointRadius: 0 },
    ] },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "USD" } } } },
  });
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function renderBudgets(b) {
  const body = document.querySelector("#budgets tbody");
  body.replaceChildren();
  const note = document.getElementById("budgets-note");
  note.hidden = b.budgets.length > 0;
  note.textContent = b.configured ? "No budgets in the config." :
    "No config loaded: budgets are not known (pass --config to hybridllm dashboard).";
  b.budgets.forEach((x) => {
    const tr = document.createElement("tr");
    cell(tr, x.name); cell(tr, x.action);
    cell(tr, money(x.spent_today_usd), "num" + (x.daily_usd !== null && x.spent_today_usd > x.daily_usd ? " over" : ""));
    cell(tr, money(x.daily_usd), "num");
    cell(tr, money(x.spent_month_usd), "num" + (x.monthly_usd !== null && x.spent_month_usd > x.monthly_usd ? " over" : ""));
    cell(tr, money(x.monthly_usd), "num");
    body.appendChild(tr);
  });
  const monthly = b.budgets.filter((x) => x.monthly_usd !== null);
  draw("chart-budgets", {
    type: "line",
    data: { labels: b.month_days, datasets: monthly.map((x, i) => ({ label: x.name, data: x.remaining_by_day, borderColor: color(i), backgroundColor: color(i), pointRadius: 2 })) },
    options: { scales: { y: { title: { display: true, text: "USD left this month" } } } },
  });
}

function renderLatest(latest) {
  const body = document.querySelector("#latest tbody");
  body.replaceChildren();
  const col = Object.fromEntries(latest.columns.map((c, i) => [c, i]));
  latest.rows.forEach((r) => {
    const tr = document.createElement("tr");
    cell(tr, new Date(r[col.ts] * 1000).toISOString().replace("T", " ").slice(0, 19));
    cell(tr, r[col.request_id]); cell(tr, r[col.attempt], "num"); cell(tr, r[col.route]);
    cell(tr, r[col.deployment]); cell(tr, r[col.tier], "num"); cell(tr, r[col.locality]);
    cell(tr, r[col.cost_center]); cell(tr, r[col.status], "status-" + r[col.status]);
    cell(tr, r[col.fallback_from]); cell(tr, r[col.error_class]);
    cell(tr, r[col.cost_usd] === null ? "unknown" : money(r[col.cost_usd]), "num");
    cell(tr, ms(r[col.latency_ms]), "num");
    body.appendChild(tr);
  });
}

async function load(since) {
  document.body.dataset.ready = "0";
  document.querySelectorAll("#periods button").forEach((b) => b.classList.toggle("active", b.dataset.since === since));
  document.getElementById("period-label").textContent = since === "all" ? "whole ledger" : "last " + since;
  const error = document.getElementById("error");
  error.hidden = true;
  const q = "?since=" + encodeURIComponent(since);
  try {
    const [summary, spend, budgets, latest] = await Promise.all([
      getJson("/dashboard/api/summary" + q), getJson("/dashboard/api/spend" + q),
      getJson("/dashboard/api/budgets"), getJson("/dashboard/api/requests?limit=50"),
    ]);
    renderSummary(summary); renderSpend(spend); renderBudgets(budgets); renderLatest(latest);
    document.body.dataset.ready = "1";
  } catch (e) {
    error.textContent = String(e.message || e);
    error.hidden = false;
    document.body.dataset.ready = "error";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  const start = params.get("since") || "7d";
  document.querySelectorAll("#periods button").forEach((b) => b.addEventListener("click", () => {
    history.replaceState(null, "", "?since=" + encodeURIComponent(b.dataset.since));
    load(b.dataset.since);
  }));
  load(start);
});
