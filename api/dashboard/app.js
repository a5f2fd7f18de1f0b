// The live dashboard: one EventSource on /dashboard/stream, each frame rendered whole.
// Standards only (EventSource, fetch, ResizeObserver, Intl), so Chromium and Firefox behave alike.
"use strict";

const numbers = new Intl.NumberFormat("en-US");
const percent = new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 2 });
const $ = (selector) => document.querySelector(selector);

const dashboard = { frames: 0, last: null, chart: null };
window.cartsim = dashboard;

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== "") node.textContent = text;
  return node;
}

function setOutput(selector, value, shown) {
  const node = $(selector);
  node.dataset.value = value === null || value === undefined ? "" : String(value);
  node.textContent = shown;
}

// Horizontal bars: one row per entry, the value in data-value so tests read what is drawn.
function bars(container, entries, formatValue = (v) => numbers.format(v)) {
  const largest = Math.max(1, ...entries.map((e) => e.value));
  const rows = entries.map((entry) => {
    const row = element("div", { class: "bar", "data-key": entry.key, "data-value": entry.value });
    row.append(element("span", { class: "bar-label", title: entry.label }, entry.label));
    const track = element("span", { class: "bar-track" });
    const fill = element("span", { class: "bar-fill" });
    fill.style.width = `${(100 * entry.value) / largest}%`;
    track.append(fill);
    row.append(track);
    const shown = formatValue(entry.value) + (entry.extra ? ` · ${entry.extra}` : "");
    row.append(element("span", { class: "bar-value" }, shown));
    return row;
  });
  container.replaceChildren(...rows);
}

function counts(mapping) {
  return Object.entries(mapping).map(([key, value]) => ({ key, label: key, value }));
}

function rate(value) {
  return value === null || value === undefined ? "" : percent.format(value);
}

function renderStatistics(stats) {
  const failed = "error" in stats;
  document.body.dataset.statistics = failed ? "unavailable" : "ok";
  if (failed) {
    setOutput("#kpi-total", null, "–");
    $("#funnel").replaceChildren(element("p", { class: "muted" }, stats.error));
    return;
  }
  setOutput("#kpi-total", stats.total_events, numbers.format(stats.total_events));
  setOutput("#kpi-revenue", stats.revenue.revenue_vnd, compact.format(stats.revenue.revenue_vnd));
  setOutput("#kpi-orders", stats.revenue.orders, numbers.format(stats.revenue.orders));
  const conversion = stats.funnel.conversion_rate;
  setOutput("#kpi-conversion", conversion, conversion === null ? "–" : rate(conversion));
  setOutput(
    "#kpi-abandoned",
    stats.abandonment.abandoned_sessions,
    numbers.format(stats.abandonment.abandoned_sessions),
  );
  const clock = stats.freshness.event_time;
  setOutput("#kpi-clock", clock, clock ? clock.slice(11, 19) : "–");
  const funnel = stats.funnel;
  bars($("#funnel"), [
    { key: "sessions", label: "sessions", value: funnel.sessions },
    { key: "viewed", label: "viewed an item", value: funnel.viewed },
    { key: "added_to_cart", label: "added to cart", value: funnel.added_to_cart, extra: rate(funnel.view_to_cart_rate) },
    { key: "began_checkout", label: "began checkout", value: funnel.began_checkout, extra: rate(funnel.cart_to_checkout_rate) },
    { key: "purchased", label: "purchased", value: funnel.purchased, extra: rate(funnel.checkout_to_purchase_rate) },
  ]);
  bars($("#event-types"), counts(stats.event_types));
  bars($("#sources"), counts(stats.sources));
  bars($("#devices"), counts(stats.devices));
  const product = (p, value) => ({ key: String(p.product_id), label: p.product_name || `#${p.product_id}`, value });
  bars($("#top-revenue"), stats.top_products.by_revenue.map((p) => product(p, p.revenue_vnd)));
  bars($("#top-adds"), stats.top_products.by_adds.map((p) => product(p, p.adds)));
}

function renderRate(series) {
  const latest = series[1].length ? series[1][series[1].length - 1] : null;
  setOutput("#kpi-rate", latest, latest === null ? "–" : numbers.format(Math.round(latest)));
  if (dashboard.chart === null) {
    const box = $("#rate-chart");
    dashboard.chart = new uPlot(
      {
        width: box.clientWidth || 600,
        height: 180,
        legend: { show: false },
        scales: { x: { time: true } },
        axes: [{ stroke: "#9aa4b2" }, { stroke: "#9aa4b2", size: 60 }],
        series: [{}, { label: "events/s", stroke: "#4f9cf9", fill: "rgba(79,156,249,0.15)", width: 2 }],
      },
      series,
      box,
    );
    new ResizeObserver(() => dashboard.chart.setSize({ width: box.clientWidth, height: 180 })).observe(box);
  } else {
    dashboard.chart.setData(series);
  }
}

function renderHealth(health) {
  const items = [];
  const row = (name, status, detail) => {
    const term = element("dt", {}, name);
    const pill = element("span", { class: "pill", "data-state": status }, status);
    const description = element("dd", { "data-component": name, "data-status": status });
    description.append(pill, document.createTextNode(` ${detail}`));
    items.push(term, description);
  };
  if ("error" in health) {
    row("api", "down", health.error);
  } else {
    row("broker", health.broker.status, health.broker.detail);
    row("workers", health.worker.status, health.worker.detail);
    row("storage", health.storage.status, health.storage.detail);
    const ingest = health.storage.ingest;
    const lag = ingest.lag_seconds === null || ingest.lag_seconds === undefined ? "–" : `${ingest.lag_seconds.toFixed(2)} s`;
    const term = element("dt", {}, "ingest lag");
    const value = element("dd", { id: "ingest-lag", "data-value": ingest.lag_seconds ?? "" }, `${lag} from file to query · ${numbers.format(ingest.rows)} events queryable`);
    items.push(term, value);
  }
  $("#health").replaceChildren(...items);
  document.body.dataset.health = health.status || "down";
}

function cells(tr, values) {
  for (const [value, numeric] of values) tr.append(element("td", numeric ? { class: "num" } : {}, value));
}

function renderAbandoned(page) {
  const body = $("#abandoned tbody");
  if ("error" in page) {
    body.replaceChildren();
    return;
  }
  body.replaceChildren(
    ...page.items.map((cart) => {
      const tr = element("tr", { "data-session": cart.session_id, "data-value": cart.cart_value_vnd });
      cells(tr, [
        [cart.session_id, false],
        [cart.is_guest ? "guest" : `#${cart.customer_id}`, false],
        [cart.city || "", false],
        [cart.checkout_stage, false],
        [numbers.format(cart.cart.reduce((n, line) => n + line.quantity, 0)), true],
        [numbers.format(cart.cart_value_vnd), true],
        [cart.idle_hours.toFixed(1), true],
      ]);
      return tr;
    }),
  );
}

function renderEvents(page) {
  const body = $("#latest tbody");
  if ("error" in page) {
    body.replaceChildren();
    return;
  }
  const known = new Set(Array.from(body.rows, (tr) => tr.dataset.event));
  body.replaceChildren(
    ...page.items.map((event) => {
      const fresh = known.size > 0 && !known.has(event.event_id);
      const tr = element("tr", { "data-event": event.event_id, "data-type": event.event_type, class: fresh ? "fresh" : "" });
      const total = event.line_total_vnd ?? event.cart_total_vnd;
      cells(tr, [
        [event.timestamp.slice(11, 19), false],
        [event.event_type, false],
        [event.session_id, false],
        [event.product_name || "", false],
        [event.quantity === null ? "" : String(event.quantity), true],
        [total === null ? "" : numbers.format(total), true],
        [`${event.device} · ${event.source}`, false],
      ]);
      return tr;
    }),
  );
}

function renderJob(job) {
  const status = $("#generate-status");
  const bar = $("#generate-progress");
  if (job === null) return;
  bar.max = Math.max(1, job.total);
  bar.value = job.produced;
  status.dataset.state = job.state;
  status.dataset.produced = job.produced;
  const eta = job.eta_seconds === null ? "" : `, ${Math.ceil(job.eta_seconds)} s left`;
  const errors = job.errors.length ? ` · ${job.errors.join("; ")}` : "";
  status.textContent = `job ${job.job_id} ${job.state}: ${numbers.format(job.produced)} of ${numbers.format(job.total)} events (${job.method}, seed ${job.seed}) at ${numbers.format(Math.round(job.rate))}/s${eta}${errors}`;
}

function render(frame) {
  renderStatistics(frame.statistics);
  renderRate(frame.rate);
  renderHealth(frame.health);
  renderAbandoned(frame.abandoned);
  renderEvents(frame.events);
  renderJob(frame.generate);
  dashboard.last = frame;
  dashboard.frames += 1;
  document.body.dataset.frames = String(dashboard.frames);
}

function connect() {
  const source = new EventSource("/dashboard/stream");
  const connection = $("#connection");
  source.addEventListener("open", () => {
    connection.dataset.state = "ok";
    connection.textContent = "live";
  });
  source.addEventListener("error", () => {
    connection.dataset.state = "down";
    connection.textContent = "reconnecting…";  // EventSource retries by itself
  });
  source.addEventListener("frame", (message) => render(JSON.parse(message.data)));
}

function problem(body, status) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) return body.detail.map((e) => `${e.loc.at(-1)}: ${e.msg}`).join("; ");
  return `HTTP ${status}`;
}

async function call(method, url, key) {
  const headers = key ? { "X-API-Key": key } : {};
  const response = await fetch(url, { method, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(problem(body, response.status));
  return body;
}

function setupGenerate() {
  const form = $("#generate");
  const status = $("#generate-status");
  const fail = (error) => {
    status.dataset.state = "refused";
    status.textContent = error.message;
  };
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    const data = new FormData(form);
    const query = new URLSearchParams({ count: data.get("count"), method: data.get("method") });
    if (data.get("seed")) query.set("seed", data.get("seed"));
    try {
      renderJob(await call("POST", `/cart/generate/events?${query}`, data.get("key")));
    } catch (error) {
      fail(error);
    }
  });
  $("#generate-cancel").addEventListener("click", async () => {
    try {
      renderJob(await call("DELETE", "/cart/generate/status", new FormData(form).get("key")));
    } catch (error) {
      fail(error);
    }
  });
}

setupGenerate();
connect();
