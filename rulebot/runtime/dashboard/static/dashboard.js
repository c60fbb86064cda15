// The rulebot dashboard: polls the running bot's status API every second and draws what it
// says. Amounts arrive as exact decimal strings: sizes and prices are shown as they are, money
// is rounded on the strings themselves (the exact value shows on hover), and numbers are parsed
// only to place points on the charts.
"use strict";

(() => {
  const REFRESH_MS = 1000;
  const MAX_POINTS = 4000; // points kept on the chart; beyond it every other old one goes
  const RECENT_FILLS = 50;
  const RECENT_EVENTS = 20;
  const TOKEN_KEY = "rulebot.status-token";

  const $ = (id) => document.getElementById(id);
  const curve = { times: [], equity: [], drawdown: [] }; // times in ms
  let token = takeToken();
  let charts = null;
  let uptime = -1;

  class TokenRequired extends Error {}

  // A token given as `#token=...` is kept for this tab only and taken out of the address bar.
  function takeToken() {
    const given = new URLSearchParams(location.hash.slice(1)).get("token");
    if (given) {
      sessionStorage.setItem(TOKEN_KEY, given);
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  async function get(path) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const answer = await fetch(path, { headers, cache: "no-store" });
    if (answer.status === 401) throw new TokenRequired();
    if (answer.status === 404) return null; // a reading this bot does not serve (no journal)
    if (!answer.ok) throw new Error(`${path}: HTTP ${answer.status}`);
    return answer.json();
  }

  // ---- formatting (strings in, strings out) ----------------------------------------------
  const DECIMAL = /^(-?)(\d*)(?:\.(\d*))?$/;

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // A decimal string rounded (half away from zero) to `places`, exactly: BigInt, not floats.
  function fixed(value, places) {
    if (value === null || value === undefined || value === "") return "–";
    const parts = DECIMAL.exec(String(value));
    if (!parts) return String(value);
    const [, minus, whole, fraction = ""] = parts;
    const digits = BigInt((whole || "0") + fraction.padEnd(places + 1, "0").slice(0, places + 1));
    const rounded = (digits + 5n) / 10n;
    const text = rounded.toString().padStart(places + 1, "0");
    const cut = text.length - places;
    const sign = minus && rounded !== 0n ? "-" : "";
    return sign + group(text.slice(0, cut)) + (places ? `.${text.slice(cut)}` : "");
  }

  function percent(fraction) {
    if (fraction === null || fraction === undefined) return "–";
    const parts = DECIMAL.exec(String(fraction));
    if (!parts) return String(fraction);
    const [, minus, whole, rest = ""] = parts; // times 100: the point moves two places
    const moved = `${minus}${whole || "0"}${rest.padEnd(2, "0").slice(0, 2)}.${rest.slice(2)}`;
    return `${fixed(moved, 2)}%`;
  }

  // A risk limit's number in its unit: fractions as percentages, money to the cent.
  function inUnit(value, unit) {
    if (value === null || value === undefined) return "–";
    if (unit === "fraction") return percent(value);
    if (unit === "x") return `${fixed(value, 2)}x`;
    if (unit === "orders" || unit === "bars") return `${fixed(value, 0)} ${unit}`;
    if (unit === "base") return String(value);
    return `${fixed(value, 2)} ${unit}`;
  }

  function sign(value) {
    const text = String(value ?? "0");
    if (/^-/.test(text) && /[1-9]/.test(text)) return "negative";
    return /[1-9]/.test(text) ? "positive" : "zero";
  }

  function side(size) {
    const s = sign(size);
    return s === "positive" ? "long" : s === "negative" ? "short" : "flat";
  }

  function utc(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  function duration(seconds) {
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    return `${m}m ${s % 60}s`;
  }

  // ---- tables ------------------------------------------------------------------------------
  // `columns`: [field, how to show it, class]; each cell keeps the raw value in data-value.
  function fillTable(id, rows, key, columns, rowClass) {
    const table = $(id);
    const body = table.tBodies[0];
    body.replaceChildren(
      ...rows.map((row) => {
        const tr = document.createElement("tr");
        tr.dataset.key = key(row);
        if (rowClass) tr.className = rowClass(row);
        for (const [field, show, cls] of columns) {
          const td = document.createElement("td");
          const value = typeof field === "function" ? field(row) : row[field];
          td.dataset.field = typeof field === "function" ? "" : field;
          td.dataset.value = value ?? "";
          td.textContent = show ? show(value, row) : value ?? "–";
          if (show && value !== null && value !== undefined) td.title = String(value);
          if (cls) td.className = typeof cls === "function" ? cls(value) : cls;
          tr.append(td);
        }
        return tr;
      }),
    );
    table.hidden = rows.length === 0;
    table.nextElementSibling.hidden = rows.length !== 0;
  }

  const cents = (v) => fixed(v, 2);
  const fee = (v) => fixed(v, 4);
  const moneyClass = (v) => `num ${sign(v)}`;

  function figure(id, text, exact) {
    $(id).textContent = text;
    $(id).title = exact ?? "";
  }

  function showStatus(status) {
    $("network").textContent = status.network;
    $("network").dataset.network = status.network;
    $("mode").textContent = status.dry_run ? "dry run" : "live";
    $("mode").dataset.mode = status.dry_run ? "dry" : "live";
    $("entries").textContent = `entries ${status.entries}`;
    $("entries").dataset.on = String(status.entries === "on");

    const account = status.account || {};
    figure("equity", cents(account.equity), account.equity);
    figure("collateral", cents(account.collateral), account.collateral);
    figure("daily-pnl", cents(account.daily_pnl), account.daily_pnl);
    $("daily-pnl").className = sign(account.daily_pnl);
    figure("drawdown", percent(account.drawdown), account.drawdown);
    $("uptime").textContent = duration(status.uptime_s || 0);

    fillTable("positions", status.positions || [], (p) => `${p.strategy}/${p.market}`, [
      ["strategy"], ["market"], [(p) => side(p.size)], ["size", null, "num"],
      ["entry_price", null, "num"], ["realized_pnl", cents, moneyClass], ["fees", fee, "num"],
    ], (p) => (side(p.size) === "flat" ? "flat" : side(p.size)));

    fillTable("orders", status.orders || [], (o) => String(o.client_order_index), [
      ["client_order_index"], ["strategy"], ["market"], ["side"], ["kind"],
      ["size", null, "num"], ["trigger_price", null, "num"], ["state"],
    ]);

    fillTable("strategies", status.strategies || [], (s) => s.name, [
      ["name"], ["market"], ["timeframe"], ["bars", null, "num"],
      ["warm", (w) => (w ? "yes" : "warming up")], ["holding", null, "num"],
      ["stopped", (stopped) => (stopped ? "stopped" : "running")],
      [(s) => lastDecision(s.decision), null, "decision"],
    ]);

    showRisk(status.risk || {});
  }

  // The strategy's last bar-close decision in a line: the bar, the position it read and what
  // came of each true condition (`rulebot explain --port` prints every clause).
  function lastDecision(decision) {
    if (!decision) return "no bar closed yet";
    const outcomes = Object.entries(decision.outcomes || {});
    const said = outcomes.length
      ? outcomes.map(([name, text]) => `${name.replace(".", " ")}: ${text}`).join("; ")
      : "nothing to do";
    return `${utc(decision.time)} ${decision.position} · ${said}`;
  }

  function showRisk(risk) {
    const allowed = risk.entries_allowed !== false;
    $("risk-state").textContent = allowed ? "entries allowed" : "entries stopped";
    $("risk-state").dataset.on = String(allowed);
    const rows = [];
    const scopes = [["account", risk.account], ...Object.entries(risk.strategies || {})];
    for (const [scope, state] of scopes) {
      for (const [name, reading] of Object.entries((state && state.limits) || {})) {
        rows.push({ ...reading, scope, name });
      }
    }
    const measured = (v, r) => inUnit(v, r.unit);
    fillTable("limits", rows, (r) => `${r.scope}/${r.name}`, [
      ["scope"], ["name"], ["limit"], ["threshold", measured, "num"], ["value", measured, "num"],
      ["headroom", measured, "num"], ["breached", (b) => (b ? "BREACHED" : "ok")],
    ], (r) => (r.breached ? "breached" : ""));
  }

  function showEvents(events) {
    const list = $("risk-events");
    list.replaceChildren(
      ...events.map((e) => {
        const item = document.createElement("li");
        item.className = e.state;
        const when = document.createElement("time");
        when.textContent = utc(e.time_ms);
        const state = document.createElement("span");
        state.className = "badge";
        state.textContent = e.state;
        item.append(when, " ", state, " ", e.message);
        return item;
      }),
    );
    list.nextElementSibling.hidden = events.length !== 0;
  }

  function showFills(fills) {
    fillTable("fills", fills, (f) => `${f.trade_id}/${f.client_order_index}`, [
      ["time_ms", utc], ["strategy"], ["market"], ["side"], ["size", null, "num"],
      ["price", null, "num"], ["fee", fee, "num"], ["trade_id", null, "num"],
    ], (f) => f.side);
  }

  // ---- the equity curve ----------------------------------------------------------------------
  function addPoints(reply, since) {
    let keep = curve.times.length;
    while (keep > 0 && curve.times[keep - 1] >= since) keep -= 1; // sent again, maybe changed
    for (const series of Object.values(curve)) series.length = keep;
    for (const p of reply.points) {
      curve.times.push(p.time_ms);
      curve.equity.push(Number(p.equity));
      curve.drawdown.push(-Number(p.drawdown) * 100);
    }
    if (curve.times.length > MAX_POINTS) {
      for (const [name, series] of Object.entries(curve)) {
        curve[name] = [...series.slice(0, -1).filter((_, i) => i % 2 === 0), series.at(-1)];
      }
    }
    $("max-drawdown").textContent = percent(reply.max_drawdown);
    drawCurve();
  }

  function chartOptions(label, stroke, fill, height, unit = "") {
    const width = $("equity-chart").clientWidth || 600;
    const yAxis = { size: 70 };
    if (unit) yAxis.values = (_, ticks) => ticks.map((t) => `${+t.toFixed(6)}${unit}`);
    return {
      width, height,
      cursor: { sync: { key: "rulebot" } },
      scales: { x: { time: true } },
      axes: [{}, yAxis],
      series: [{}, { label, stroke, fill, width: 1.5 }],
    };
  }

  function drawCurve() {
    const chart = $("equity-chart");
    $("equity-empty").hidden = curve.times.length !== 0;
    if (typeof uPlot === "undefined") throw new Error("the charting library did not load");
    const seconds = curve.times.map((ms) => ms / 1000);
    if (charts === null && curve.times.length !== 0) {
      charts = [
        new uPlot(chartOptions("equity", "#2563eb", "rgba(37,99,235,0.08)", 240),
          [seconds, curve.equity], chart),
        new uPlot(chartOptions("drawdown", "#dc2626", "rgba(220,38,38,0.15)", 120, "%"),
          [seconds, curve.drawdown], $("drawdown-chart")),
      ];
      new ResizeObserver(() => {
        const width = chart.clientWidth;
        for (const c of charts) c.setSize({ width, height: c.height });
      }).observe(chart);
    } else if (charts !== null) {
      charts[0].setData([seconds, curve.equity]);
      charts[1].setData([seconds, curve.drawdown]);
    }
    chart.dataset.points = String(charts === null ? 0 : charts[0].data[0].length); // as drawn
  }

  function resetCurve() {
    for (const series of Object.values(curve)) series.length = 0;
  }

  // ---- the loop ----------------------------------------------------------------------------
  function setConnection(state, text) {
    const badge = $("connection");
    badge.dataset.state = state;
    badge.textContent = text;
  }

  function askForToken() {
    setConnection("locked", "token needed");
    $("dashboard").hidden = true;
    $("token-form").hidden = false;
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-form").hidden = true;
    $("dashboard").hidden = false;
    refresh();
  });

  async function refresh() {
    try {
      const status = await get("api/status");
      if (status.uptime_s < uptime) resetCurve(); // the bot restarted: its curve starts anew
      uptime = status.uptime_s;
      const since = curve.times.length ? curve.times.at(-1) : 0;
      const [equity, fills, events] = await Promise.all([
        get(`api/equity?since=${since}`),
        get(`api/fills?limit=${RECENT_FILLS}`),
        get(`api/risk/events?limit=${RECENT_EVENTS}`),
      ]);
      showStatus(status);
      if (equity !== null) addPoints(equity, since);
      showFills(fills || []);
      showEvents(events !== null ? events : (status.risk_events || []).slice().reverse());
      $("updated").textContent = new Date().toLocaleTimeString();
      setConnection("live", status.running ? "live" : "stopping");
    } catch (error) {
      if (error instanceof TokenRequired) {
        askForToken(); // polling waits for the token
        return;
      }
      setConnection("offline", `no answer: ${error.message}`);
      console.error(error);
    }
    setTimeout(refresh, REFRESH_MS);
  }

  refresh();
})();
