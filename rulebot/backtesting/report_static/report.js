// The backtest report's chart: candles with the trades on them, above the equity and drawdown,
// drawn as SVG from the data embedded in the page (nothing is loaded from anywhere). The three
// panes share one time axis: the wheel zooms around the pointer, a drag pans, a double click
// or "All" shows everything, and a click on a row of the trades table zooms to that trade.
// However many bars the view holds, at most one candle per CANDLE_PX pixels is drawn (each
// aggregating its bars) and every line keeps each pixel's lowest and highest value.
"use strict";

(() => {
  const WIDTH = 1100;
  const LEFT = 86;
  const RIGHT = 16;
  const TOP = 10;
  const GAP = 22;
  const BOTTOM = 28;
  const CANDLE_PX = 2;
  const MIN_BARS = 10; // the narrowest view, in bars
  const PLOT = WIDTH - LEFT - RIGHT;
  const MAX_CANDLES = Math.floor(PLOT / CANDLE_PX);

  const svg = document.getElementById("chart");
  const data = JSON.parse(document.getElementById("chart-data").textContent);
  const t = data.time;
  const n = t.length;
  const bar = n > 1 ? Math.max(1, minStep(t)) : 60000;
  const full = { t0: t[0], t1: t[n - 1] + bar };
  const panes = [];
  let top = TOP;
  for (const [name, height] of [["price", 340], ["equity", 200], ["drawdown", 110]]) {
    if (name === "price" && !data.price) continue;
    panes.push({ name, top, height });
    top += height + GAP;
  }
  const height = top - GAP + BOTTOM;
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${height}`);
  let view = { ...full };
  let selected = -1;

  function minStep(times) {
    let step = Infinity;
    for (let i = 1; i < times.length; i++) {
      const d = times[i] - times[i - 1];
      if (d > 0 && d < step) step = d;
    }
    return Number.isFinite(step) ? step : 60000;
  }

  // ---- scales and ticks ---------------------------------------------------------------------
  const xOf = (time) => LEFT + ((time - view.t0) / (view.t1 - view.t0)) * PLOT;
  const timeAt = (x) => view.t0 + ((x - LEFT) / PLOT) * (view.t1 - view.t0);

  function firstAtOrAfter(time) {
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (t[mid] < time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function niceTicks(low, high, count) {
    if (!(high > low)) {
      const pad = Math.abs(low) * 0.01 || 1;
      low -= pad;
      high += pad;
    }
    const raw = (high - low) / count;
    const power = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const ticks = [];
    for (let v = Math.floor(low / step) * step; v <= high + step * 1e-9; v += step) {
      if (v >= low - step * 1e-9) ticks.push(Number(v.toPrecision(12)));
    }
    return { ticks, step };
  }

  function decimals(step) {
    for (let d = 0; d < 10; d++) if (Math.abs(Number(step.toFixed(d)) - step) <= step * 1e-6) return d;
    return 10;
  }

  const MINUTE = 60000;
  const DAY = 1440 * MINUTE;
  const TIME_STEPS = [1, 5, 15, 30, 60, 120, 180, 360, 720]
    .map((m) => m * MINUTE)
    .concat([1, 2, 7, 14, 30, 61, 91, 182, 365, 730].map((d) => d * DAY));

  function timeTicks() {
    const span = view.t1 - view.t0;
    const step = TIME_STEPS.find((s) => span / s <= 9) || 3650 * DAY;
    const ticks = [];
    for (let v = Math.ceil(view.t0 / step) * step; v <= view.t1; v += step) ticks.push(v);
    return ticks.map((v) => {
      const iso = new Date(v).toISOString();
      const midnight = iso.slice(11, 16) === "00:00";
      return { value: v, label: step < DAY && !midnight ? iso.slice(11, 16) : iso.slice(0, 10) };
    });
  }

  // ---- numbers as text ----------------------------------------------------------------------
  const escape = (s) =>
    String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const formats = [];
  // `v` with `d` decimals and thousands separators (one formatter per `d`: making one is slow)
  function fixed(v, d) {
    if (!formats[d]) {
      formats[d] = new Intl.NumberFormat("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
    }
    return formats[d].format(v);
  }
  const money = (v) => fixed(v, 2);
  function price(v) {
    if (v === 0 || Math.abs(v) >= 100) return money(v);
    return fixed(v, Math.min(10, Math.max(2, 5 - Math.floor(Math.log10(Math.abs(v))))));
  }
  const when = (ms) => new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  const f1 = (v) => v.toFixed(1);

  // ---- the view's data, bucketed ------------------------------------------------------------
  function bucketsOf(i0, i1) {
    const count = i1 - i0;
    const per = Math.max(1, Math.ceil(count / MAX_CANDLES));
    const buckets = [];
    for (let s = i0; s < i1; s += per) buckets.push([s, Math.min(s + per, i1)]);
    return buckets;
  }

  // A line through `values` over the buckets: each bucket's lowest and highest, in time order.
  function line(values, buckets, yOf) {
    const points = [];
    let pen = "M";
    for (const [s, e] of buckets) {
      let lo = Infinity;
      let hi = -Infinity;
      let iLo = -1;
      let iHi = -1;
      for (let i = s; i < e; i++) {
        const v = values[i];
        if (v === null) continue;
        if (v < lo) [lo, iLo] = [v, i];
        if (v > hi) [hi, iHi] = [v, i];
      }
      if (iLo < 0) {
        pen = "M";
        continue;
      }
      const order = iLo <= iHi ? [iLo, iHi] : [iHi, iLo];
      for (const i of iLo === iHi ? [iLo] : order) {
        points.push(`${pen}${f1(xOf(t[i]))},${f1(yOf(values[i]))}`);
        pen = "L";
      }
    }
    return points.join("");
  }

  function range(values, i0, i1, into) {
    for (let i = i0; i < i1; i++) {
      const v = values[i];
      if (v === null) continue;
      if (v < into[0]) into[0] = v;
      if (v > into[1]) into[1] = v;
    }
    return into;
  }

  // ---- drawing -------------------------------------------------------------------------------
  function paneFrame(pane, low, high, labelOf, title) {
    if (pane.name !== "drawdown") {
      const pad = (high - low) * 0.04; // so a marker at the view's extreme is not cut
      low -= pad;
      high += pad;
    }
    const { ticks, step } = niceTicks(low, high, pane.name === "drawdown" ? 3 : 5);
    const lo = Math.min(low, ticks[0]);
    const hi = Math.max(high, ticks[ticks.length - 1]);
    const yOf = (v) => pane.top + ((hi - v) / (hi - lo || 1)) * pane.height;
    const d = decimals(step);
    const parts = [
      `<g class="pane" data-pane="${pane.name}" data-t0="${view.t0}" data-t1="${view.t1}"` +
        ` data-low="${lo}" data-high="${hi}">`,
      `<clipPath id="clip-${pane.name}"><rect x="${LEFT}" y="${pane.top}" width="${PLOT}"` +
        ` height="${pane.height}"/></clipPath>`,
    ];
    for (const v of ticks) {
      const y = f1(yOf(v));
      parts.push(
        `<g class="ytick" data-value="${v}"><line class="grid" x1="${LEFT}" x2="${WIDTH - RIGHT}"` +
          ` y1="${y}" y2="${y}"/><text class="ylab" x="${LEFT - 8}" y="${f1(yOf(v) + 4)}">` +
          `${escape(labelOf(v, d))}</text></g>`,
      );
    }
    for (const tick of timeTicks()) {
      if (xOf(tick.value) > WIDTH - RIGHT - 16) continue; // its label would be cut
      const x = f1(xOf(tick.value));
      parts.push(
        `<g class="xtick" data-value="${tick.value}"><line class="grid" x1="${x}" x2="${x}"` +
          ` y1="${pane.top}" y2="${pane.top + pane.height}"/>` +
          (pane === panes[panes.length - 1]
            ? `<text class="xlab" x="${x}" y="${pane.top + pane.height + 18}">${tick.label}</text>`
            : "") +
          `</g>`,
      );
    }
    const middle = pane.top + pane.height / 2;
    parts.push(
      `<text class="axis" x="14" y="${middle}" transform="rotate(-90 14 ${middle})">${title}</text>`,
    );
    return { parts, yOf };
  }

  function drawPrice(pane, i0, i1, buckets, visibleTrades) {
    const bounds = range(data.price.low, i0, i1, [Infinity, -Infinity]);
    range(data.price.high, i0, i1, bounds);
    for (const overlay of data.overlays) range(overlay.values, i0, i1, bounds);
    // a trade's levels in range when it is the one chosen or one of a few in view
    for (const i of visibleTrades) {
      if (i !== selected && visibleTrades.length > 5) continue;
      const trade = data.trades[i];
      range([trade.stop_price, trade.take_price], 0, 2, bounds);
    }
    if (!Number.isFinite(bounds[0])) bounds.splice(0, 2, 0, 1);
    const { parts, yOf } = paneFrame(pane, bounds[0], bounds[1], fixed, "Price");
    parts.push(`<g clip-path="url(#clip-price)">`);
    const { open, high, low, close } = data.price;
    parts.push(`<g class="candles">`);
    for (const [s, e] of buckets) {
      let hi = -Infinity;
      let lo = Infinity;
      for (let i = s; i < e; i++) {
        if (high[i] > hi) hi = high[i];
        if (low[i] < lo) lo = low[i];
      }
      const o = open[s];
      const c = close[e - 1];
      const x0 = xOf(t[s]);
      const x1 = xOf(t[e - 1] + bar);
      const w = Math.max(1, (x1 - x0) * 0.7);
      const cx = e - s === 1 ? xOf(t[s]) : (x0 + x1) / 2;
      const kind = c >= o ? "up" : "down";
      const top = yOf(Math.max(o, c));
      const body = Math.max(1, yOf(Math.min(o, c)) - top);
      parts.push(
        `<g class="candle ${kind}" data-t="${t[s]}" data-bars="${e - s}">` +
          `<line x1="${f1(cx)}" x2="${f1(cx)}" y1="${f1(yOf(hi))}" y2="${f1(yOf(lo))}"/>` +
          `<rect x="${f1(cx - w / 2)}" y="${f1(top)}" width="${f1(w)}" height="${f1(body)}"/></g>`,
      );
    }
    parts.push(`</g>`);
    data.overlays.forEach((overlay, k) => {
      const path = line(overlay.values, buckets, yOf);
      parts.push(`<path class="overlay overlay-${k % 6}" data-name="${escape(overlay.name)}" d="${path}"/>`);
    });
    for (const i of visibleTrades) {
      const trade = data.trades[i];
      const x0 = f1(xOf(trade.entry_time));
      const x1 = f1(xOf(trade.exit_time));
      for (const [kind, level] of [["stop", trade.stop_price], ["take", trade.take_price]]) {
        if (level === null) continue;
        const y = f1(yOf(level));
        parts.push(
          `<line class="level ${kind}" data-trade="${i}" x1="${x0}" x2="${x1}" y1="${y}" y2="${y}">` +
            `<title>Trade ${i + 1}: ${kind === "stop" ? "stop loss" : "take-profit"} ${price(level)}</title></line>`,
        );
      }
    }
    parts.push(`</g><g class="markers">`);
    for (const i of visibleTrades) parts.push(...markers(i, yOf));
    parts.push(`</g><rect class="frame" x="${LEFT}" y="${pane.top}" width="${PLOT}" height="${pane.height}"/></g>`);
    return parts.join("");
  }

  // An entry (a triangle pointing the trade's way) and an exit (a diamond, green won, red
  // lost), each centred on its fill's time and price.
  function markers(i, yOf) {
    const trade = data.trades[i];
    const mark = selected === i ? " selected" : "";
    const xe = xOf(trade.entry_time);
    const ye = yOf(trade.entry_price);
    const dir = trade.side === "long" ? 1 : -1;
    const entry =
      `M${f1(xe)},${f1(ye - 5 * dir)}L${f1(xe - 5)},${f1(ye + 5 * dir)}L${f1(xe + 5)},${f1(ye + 5 * dir)}Z`;
    const xx = xOf(trade.exit_time);
    const yx = yOf(trade.exit_price);
    const exit = `M${f1(xx)},${f1(yx - 5)}L${f1(xx + 5)},${f1(yx)}L${f1(xx)},${f1(yx + 5)}L${f1(xx - 5)},${f1(yx)}Z`;
    const outcome = trade.pnl > 0 ? "won" : trade.pnl < 0 ? "lost" : "even";
    const reason = trade.exit_reason.replace(/_/g, " ");
    return [
      `<path class="marker entry ${trade.side}${mark}" data-trade="${i}" data-kind="entry"` +
        ` data-side="${trade.side}" d="${entry}"><title>Trade ${i + 1}: ${trade.side} entry` +
        ` ${when(trade.entry_time)} at ${price(trade.entry_price)}</title></path>`,
      `<path class="marker exit ${outcome}${mark}" data-trade="${i}" data-kind="exit"` +
        ` data-side="${trade.side}" data-reason="${trade.exit_reason}" d="${exit}">` +
        `<title>Trade ${i + 1}: ${trade.side} exit (${reason}) ${when(trade.exit_time)} at` +
        ` ${price(trade.exit_price)}, PnL ${money(trade.pnl)}</title></path>`,
    ];
  }

  function drawEquity(pane, i0, i1, buckets) {
    const bounds = range(data.equity, i0, i1, [Infinity, -Infinity]);
    const wholeView = view.t0 <= full.t0 && view.t1 >= full.t1;
    if (wholeView) range([data.initial_equity], 0, 1, bounds);
    const { parts, yOf } = paneFrame(pane, bounds[0], bounds[1], fixed, "Equity");
    const y = f1(yOf(data.initial_equity));
    parts.push(`<g clip-path="url(#clip-equity)">`);
    parts.push(`<line class="start" x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y}" y2="${y}"/>`);
    parts.push(`<path class="equity" d="${line(data.equity, buckets, yOf)}"/>`);
    parts.push(`</g><rect class="frame" x="${LEFT}" y="${pane.top}" width="${PLOT}" height="${pane.height}"/></g>`);
    return parts.join("");
  }

  function drawDrawdown(pane, i0, i1, buckets) {
    const deepest = Math.max(range(data.drawdown, i0, i1, [0, 0])[1], 1e-4);
    const { parts, yOf } = paneFrame(pane, -deepest, 0, (v, d) => (v === 0 ? "0%" : `${(v * 100).toFixed(Math.max(0, d - 2))}%`), "Drawdown");
    const negated = data.drawdown.map((v) => (v === null ? null : -v));
    const path = line(negated, buckets, yOf);
    const zero = f1(yOf(0));
    parts.push(`<g clip-path="url(#clip-drawdown)">`);
    if (path) {
      const first = path.slice(1).split(/[ML]/)[0].split(",")[0];
      const last = path.split(/[ML]/).pop().split(",")[0];
      parts.push(`<path class="drawdown" d="M${first},${zero}L${path.slice(1)}L${last},${zero}Z"/>`);
      parts.push(`<path class="drawdown-line" d="${path}"/>`);
    }
    parts.push(`</g><rect class="frame" x="${LEFT}" y="${pane.top}" width="${PLOT}" height="${pane.height}"/></g>`);
    return parts.join("");
  }

  function render() {
    const i0 = Math.max(0, firstAtOrAfter(view.t0 - bar + 1));
    const i1 = Math.min(n, firstAtOrAfter(view.t1));
    const buckets = bucketsOf(i0, Math.max(i1, i0 + 1));
    const visibleTrades = [];
    data.trades.forEach((trade, i) => {
      if (trade.exit_time >= view.t0 && trade.entry_time <= view.t1) visibleTrades.push(i);
    });
    const parts = [];
    for (const pane of panes) {
      if (pane.name === "price") parts.push(drawPrice(pane, i0, i1, buckets, visibleTrades));
      if (pane.name === "equity") parts.push(drawEquity(pane, i0, i1, buckets));
      if (pane.name === "drawdown") parts.push(drawDrawdown(pane, i0, i1, buckets));
    }
    svg.innerHTML = parts.join("");
    svg.dataset.t0 = view.t0;
    svg.dataset.t1 = view.t1;
    const shown = document.getElementById("chart-view");
    if (shown) shown.textContent = `${when(view.t0)} → ${when(view.t1)} UTC · ${i1 - i0} bars` +
      (buckets.length < i1 - i0 ? `, ${Math.ceil((i1 - i0) / buckets.length)} a candle` : "");
  }

  let pending = false;
  function setView(t0, t1) {
    const span = Math.min(Math.max(t1 - t0, MIN_BARS * bar), full.t1 - full.t0);
    t0 = Math.min(Math.max(t0, full.t0), full.t1 - span);
    view = { t0, t1: t0 + span };
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        render();
      });
    }
  }

  function zoom(factor, anchor) {
    setView(anchor - (anchor - view.t0) * factor, anchor + (view.t1 - anchor) * factor);
  }

  function zoomToTrade(i) {
    const trade = data.trades[i];
    const pad = Math.max((trade.exit_time - trade.entry_time) * 0.5, 20 * bar);
    selected = i;
    for (const row of document.querySelectorAll("tr.selected")) row.classList.remove("selected");
    const row = document.querySelector(`tr[data-trade="${i}"]`);
    if (row) row.classList.add("selected");
    setView(trade.entry_time - pad, trade.exit_time + bar + pad);
    svg.scrollIntoView({ block: "nearest" });
  }

  // ---- interaction ---------------------------------------------------------------------------
  const svgX = (event) => {
    const box = svg.getBoundingClientRect();
    return ((event.clientX - box.left) / box.width) * WIDTH;
  };
  svg.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      zoom(event.deltaY > 0 ? 1.25 : 0.8, timeAt(svgX(event)));
    },
    { passive: false },
  );
  let drag = null;
  svg.addEventListener("mousedown", (event) => {
    drag = { x: svgX(event), t0: view.t0, t1: view.t1 };
  });
  window.addEventListener("mousemove", (event) => {
    if (!drag) return;
    const shift = ((svgX(event) - drag.x) / PLOT) * (drag.t1 - drag.t0);
    setView(drag.t0 - shift, drag.t1 - shift);
  });
  window.addEventListener("mouseup", () => {
    drag = null;
  });
  svg.addEventListener("dblclick", () => setView(full.t0, full.t1));
  for (const button of document.querySelectorAll("[data-zoom]")) {
    button.addEventListener("click", () => {
      const what = button.dataset.zoom;
      const middle = (view.t0 + view.t1) / 2;
      if (what === "all") setView(full.t0, full.t1);
      else if (what === "in") zoom(0.5, middle);
      else if (what === "out") zoom(2, middle);
      else setView(middle - Number(what) / 2, middle + Number(what) / 2);
    });
  }
  // the table comes after this script (the chart draws before a long table has loaded)
  document.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-trade]");
    if (row) zoomToTrade(Number(row.dataset.trade));
  });
  render();
})();
