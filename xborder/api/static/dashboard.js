/* xborder dashboard: fetches the JSON API (or reads window.XBORDER_SNAPSHOT in a static snapshot)
 * and draws the charts as inline SVG. No external libraries, nothing loaded from the network.
 * Amounts from the API are integers in minor units (1/100); CNY figures are CNY minor units. */
(function () {
  "use strict";

  const SNAPSHOT = window.XBORDER_SNAPSHOT || null;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const BAND_COLOURS = { low: "#2e7d32", moderate: "#7cb342", high: "#f2a900", critical: "#e8590c", over: "#c62828", none: "#98a2b3" };
  const BAND_LABELS = { low: "< 50 %", moderate: "50–75 %", high: "75–90 %", critical: "90–100 %", over: "over limit", none: "no limit" };
  const PALETTE = ["#0b4f8a", "#2e9cca", "#3fb68b", "#f2a900", "#8e6bbf", "#e8590c", "#d6457a", "#5f6b7a"];
  const FIXED = { CNY: "#c0392b", USD: "#0b4f8a", EUR: "#2e9cca", JPY: "#f2a900", HKD: "#8e6bbf", GBP: "#3fb68b" };
  const state = { currency: "", borrower: "", period: "month", top: 10, timer: null };

  // ------------------------------------------------------------------ formatting

  function groupDigits(n) { return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  /** 35190000000 -> "351,900,000.00"; with a currency: "CNY 351,900,000.00". */
  function fmtAmount(minor, currency) {
    if (minor === null || minor === undefined) return "–";
    const neg = minor < 0, abs = Math.abs(Math.round(minor));
    const text = (neg ? "-" : "") + groupDigits(Math.floor(abs / 100)) + "." + String(abs % 100).padStart(2, "0");
    return currency ? currency + " " + text : text;
  }

  /** Axis labels: 21300000000 -> "213M". */
  function fmtCompact(minor) {
    const units = minor / 100, abs = Math.abs(units);
    const scales = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (const [size, suffix] of scales) {
      if (abs >= size) return (units / size).toFixed(abs / size >= 100 ? 0 : 1).replace(/\.0$/, "") + suffix;
    }
    return String(Math.round(units));
  }

  function fmtPct(ratio) { return ratio === null || ratio === undefined ? "–" : (ratio * 100).toFixed(1) + " %"; }
  function fmtTime(seconds) { return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 16); }
  function loanLabel(id) { const big = BigInt(id); return (big >> 32n) + ":" + (big & 0xffffffffn); }
  function currencyColour(code, all) { return FIXED[code] || PALETTE[all.indexOf(code) % PALETTE.length]; }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ------------------------------------------------------------------ data

  async function load(name, path) {
    if (SNAPSHOT) return SNAPSHOT[name];
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(path + ": " + (body.detail || response.status));
    return body;
  }

  function query(params) {
    const q = Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined)
      .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");
    return q ? "?" + q : "";
  }

  // ------------------------------------------------------------------ headline

  function card(id, label, value, sub, cls) {
    return el("div", { class: "card " + (cls || ""), id: id },
      el("div", { class: "label" }, label), el("div", { class: "value" }, value), el("div", { class: "sub" }, sub || ""));
  }

  function renderHeadline(summary) {
    const box = document.getElementById("headline");
    box.replaceChildren();
    const active = summary.loans_by_status.Active || 0;
    const perCurrency = Object.entries(summary.outstanding).map(([c, v]) => fmtAmount(v, c)).join(" · ") || "none";
    const shown = state.currency
      ? card("headline-outstanding", "Outstanding " + state.currency, fmtAmount(summary.outstanding[state.currency] || 0, state.currency),
        "active loans in " + state.currency)
      : card("headline-outstanding", "Outstanding (CNY equivalent)", fmtAmount(summary.outstanding_cny, "CNY"), perCurrency);
    box.append(
      card("headline-loans", "Loans", groupDigits(summary.loans),
        active + " active · " + Object.entries(summary.loans_by_status).filter(([s]) => s !== "Active")
          .map(([s, n]) => n + " " + s.toLowerCase()).join(" · ")),
      shown,
      card("headline-balance", "Risk-weighted balance", fmtAmount(summary.risk_weighted_balance, "CNY"),
        "of " + fmtAmount(summary.total_limit, "CNY") + " total limits (" +
        fmtPct(summary.total_limit ? summary.risk_weighted_balance / summary.total_limit : null) + ")"),
      card("headline-near", "Near or over limit", String(summary.borrowers_near_limit + summary.borrowers_over_limit),
        summary.borrowers_near_limit + " at 90–100 % · " + summary.borrowers_over_limit + " over limit · " +
        summary.borrowers + " borrowers", summary.borrowers_over_limit ? "danger" : (summary.borrowers_near_limit ? "alert" : "")),
    );
  }

  function renderStatus(status, summary) {
    const box = document.getElementById("index-status");
    const when = summary.checkpoint_time ? " · chain time " + fmtTime(summary.checkpoint_time) : "";
    const lag = status.lag === null || status.lag === undefined ? "" : " · lag " + status.lag + " blocks";
    box.className = "status" + (status.lag > 5 ? " lagging" : "");
    box.replaceChildren(el("span", { class: "dot" }), "Index at block " + groupDigits(status.checkpoint ?? "–") + lag + when);
  }

  // ------------------------------------------------------------------ utilisation chart

  function renderUtilisation(borrowers) {
    const box = document.getElementById("util-chart");
    const rows = borrowers.filter((b) => b.limit > 0 || b.risk_weighted_balance > 0).slice(0, state.top);
    const rowH = 42, top = 24, left = 190, right = 215, width = 820;
    const height = top + Math.max(rows.length, 1) * rowH + 24;
    const maxRatio = Math.max(1.1, ...rows.map((r) => r.utilisation || 0));
    const plotW = width - left - right;
    const x = (ratio) => left + (Math.min(ratio, maxRatio) / maxRatio) * plotW;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "limit utilisation by borrower" });
    for (const tick of [0, 0.25, 0.5, 0.75, 1.0]) {
      chart.append(svg("line", { x1: x(tick), x2: x(tick), y1: top - 6, y2: height - 20, class: "grid-line",
        "stroke-dasharray": tick === 1 ? "0" : "3 3", stroke: tick === 1 ? "#c62828" : "" }));
      chart.append(svg("text", { x: x(tick), y: height - 6, "text-anchor": "middle", class: "axis" }, (tick * 100) + " %"));
    }
    chart.append(svg("text", { x: x(1), y: top - 10, "text-anchor": "middle", class: "axis", fill: "#c62828" }, "limit"));
    if (!rows.length) chart.append(svg("text", { x: width / 2, y: top + 20, "text-anchor": "middle", class: "empty" }, "No borrowers in the index yet"));
    rows.forEach((b, i) => {
      const y = top + i * rowH, ratio = b.utilisation || 0;
      const selected = String(b.borrower) === state.borrower;
      const g = svg("g", { class: "bar-row", "data-borrower": b.borrower, "data-name": b.name, "data-band": b.band,
        "data-utilisation": ratio.toFixed(6) });
      // Long registered names are shortened on the chart (the bar's tooltip and the tables show them whole).
      const label = b.name.length > 23 ? b.name.slice(0, 22) + "…" : b.name;
      g.append(svg("text", { x: left - 10, y: y + rowH / 2 + 4, "text-anchor": "end", "font-size": 12.5,
        "font-weight": selected ? 700 : 500 }, label));
      g.append(svg("rect", { x: left, y: y + 7, width: plotW, height: rowH - 14, rx: 3, fill: "#f2f4f7" }));
      const bar = svg("rect", { class: "bar", x: left, y: y + 7, width: Math.max(2, x(ratio) - left), height: rowH - 14, rx: 3,
        fill: BAND_COLOURS[b.band] || BAND_COLOURS.none, stroke: selected ? "#1c2430" : "none", "stroke-width": 1.5 });
      bar.append(svg("title", {}, `${b.name}: ${fmtPct(b.utilisation)} — ${fmtAmount(b.risk_weighted_balance, "CNY")} of ${fmtAmount(b.limit, "CNY")}`));
      g.append(bar);
      g.append(svg("text", { x: width - right + 10, y: y + rowH / 2 - 1, "font-size": 12.5, "font-weight": 650, class: "util-value" },
        fmtPct(b.utilisation)));
      g.append(svg("text", { x: width - right + 10, y: y + rowH / 2 + 12, "font-size": 10.5, class: "axis" },
        fmtAmount(b.risk_weighted_balance, "CNY") + " / " + fmtCompact(b.limit)));
      chart.append(g);
    });
    box.replaceChildren(chart);
    const used = [...new Set(rows.map((r) => r.band))];
    document.getElementById("util-legend").replaceChildren(...["low", "moderate", "high", "critical", "over"]
      .filter((band) => used.includes(band))
      .map((band) => el("span", {}, el("i", { style: "background:" + BAND_COLOURS[band] }), BAND_LABELS[band])));
  }

  // ------------------------------------------------------------------ volume chart

  function renderVolumes(volumes, allCurrencies) {
    const box = document.getElementById("volume-chart");
    const key = state.period;
    const native = Boolean(state.currency);
    const items = volumes.items.filter((v) => !native || v.currency === state.currency);
    const buckets = [...new Set(items.map((v) => v[key]))].sort();
    const currencies = [...new Set(items.map((v) => v.currency))].sort();
    const value = (v) => native ? v.drawn : v.drawn_cny;
    const stacks = buckets.map((b) => currencies.map((c) => items.filter((v) => v[key] === b && v.currency === c)
      .reduce((s, v) => s + value(v), 0)));
    const width = 760, height = 300, left = 64, right = 16, top = 30, bottom = 40;
    const maxTotal = Math.max(1, ...stacks.map((s) => s.reduce((a, b) => a + b, 0)));
    const step = niceStep(maxTotal / 4), ticks = Math.max(1, Math.ceil(maxTotal / step)), niceMax = step * ticks;
    const plotH = height - top - bottom, plotW = width - left - right;
    const y = (v) => top + plotH - (v / niceMax) * plotH;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "drawdowns over time" });
    for (let i = 0; i <= ticks; i++) {
      const v = step * i;
      chart.append(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid-line" }));
      chart.append(svg("text", { x: left - 8, y: y(v) + 4, "text-anchor": "end", class: "axis" }, fmtCompact(v)));
    }
    chart.append(svg("text", { x: left - 8, y: 12, "text-anchor": "end", class: "axis", "font-weight": 600 }, native ? state.currency : "CNY eq."));
    if (!buckets.length) chart.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, "No drawdowns yet"));
    const slot = plotW / Math.max(buckets.length, 1), barW = Math.min(56, slot * 0.62);
    const labelEvery = Math.ceil(buckets.length / 12);
    buckets.forEach((bucket, i) => {
      const cx = left + slot * i + slot / 2;
      let base = 0;
      currencies.forEach((c, j) => {
        const v = stacks[i][j];
        if (!v) return;
        const rect = svg("rect", { class: "vol-bar", x: cx - barW / 2, y: y(base + v), width: barW, height: Math.max(1, y(base) - y(base + v)),
          fill: currencyColour(c, allCurrencies), "data-bucket": bucket, "data-currency": c, "data-value": v });
        rect.append(svg("title", {}, `${bucket} ${c}: ${native ? fmtAmount(v, c) : fmtAmount(v, "CNY") + " equivalent"}`));
        chart.append(rect);
        base += v;
      });
      if (i % labelEvery === 0) chart.append(svg("text", { x: cx, y: height - bottom + 16, "text-anchor": "middle", class: "axis" }, bucket));
      if (base) chart.append(svg("text", { x: cx, y: y(base) - 5, "text-anchor": "middle", "font-size": 11, "font-weight": 600 }, fmtCompact(base)));
    });
    box.replaceChildren(chart);
    document.getElementById("volume-caption").textContent = "Drawn per " + key + (native ? ", in " + state.currency : ", CNY equivalent stacked by loan currency");
    document.getElementById("volume-legend").replaceChildren(...currencies.map((c) => {
      const total = items.filter((v) => v.currency === c).reduce((s, v) => s + v.drawn, 0);
      return el("span", { class: "legend-item", "data-currency": c }, el("i", { style: "background:" + currencyColour(c, allCurrencies) }),
        c + " · drawn " + fmtAmount(total));
    }));
  }

  /** The smallest of 1, 2, 2.5, 5 x 10^n at or above v (axis steps). */
  function niceStep(v) {
    const exp = Math.pow(10, Math.floor(Math.log10(Math.max(v, 1))));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= v) return m * exp;
    return 10 * exp;
  }

  // ------------------------------------------------------------------ tables

  function meter(b) {
    const width = Math.min(100, (b.utilisation || 0) * 100);
    return el("div", { class: "meter" }, el("div", { class: "track" }, el("div", { class: "fill " + b.band, style: "width:" + width + "%" })),
      el("span", {}, fmtPct(b.utilisation)));
  }

  function renderExposures(borrowers) {
    const body = document.querySelector("#exposures-table tbody");
    const rows = borrowers.filter((b) => b.risk_weighted_balance > 0 || b.active_loans > 0)
      .sort((a, b) => b.risk_weighted_balance - a.risk_weighted_balance).slice(0, state.top);
    body.replaceChildren(...rows.map((b) => {
      const tr = el("tr", { "data-borrower": b.borrower },
        el("td", { class: "name" }, b.name, el("small", {}, "#" + b.borrower + " · " + b.kind + (b.status !== "Active" ? " · " + b.status : ""))),
        el("td", { class: "num" }, fmtAmount(b.risk_weighted_balance, "CNY")),
        el("td", { class: "num" }, fmtAmount(b.limit, "CNY")),
        el("td", { class: "num" }, fmtAmount(b.headroom, "CNY")),
        el("td", {}, meter(b)),
        el("td", { class: "num" }, String(b.active_loans)),
        el("td", { class: "nowrap" }, Object.entries(b.outstanding).map(([c, v]) => fmtAmount(v, c)).join(" · ") || "–"));
      if (String(b.borrower) === state.borrower) tr.classList.add("selected");
      return tr;
    }));
    if (!rows.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 7 }, "No exposures yet")));
  }

  function renderEvents(events) {
    const body = document.querySelector("#events-table tbody");
    const rows = events.items.filter((e) => (!state.currency || e.currency === state.currency) &&
      (!state.borrower || String(e.borrower) === state.borrower)).slice(0, 12);
    body.replaceChildren(...rows.map((e) => el("tr", { "data-loan": e.loan_id },
      el("td", { class: "nowrap" }, fmtTime(e.block_time)),
      el("td", { class: "num" }, groupDigits(e.block_number)),
      el("td", {}, el("span", { class: "pill " + e.event }, e.event.replace(/^Loan/, ""))),
      el("td", { class: "nowrap", title: "loan id " + e.loan_id }, loanLabel(e.loan_id)),
      el("td", { class: "name" }, e.borrower_name || "#" + e.borrower),
      el("td", { class: "nowrap" }, e.creditor_name || "#" + e.creditor),
      el("td", { class: "num" }, e.amount !== null && e.amount !== undefined ? fmtAmount(e.amount, e.currency) : el("small", {}, e.currency)),
      el("td", { class: "num" }, fmtAmount(e.borrower_balance)))));
    if (!rows.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 8 }, "No events match the filter")));
    const filters = [state.currency, state.borrower && "borrower #" + state.borrower].filter(Boolean);
    document.getElementById("events-caption").textContent = "Newest first" + (filters.length ? " · " + filters.join(" · ") : "");
  }

  // ------------------------------------------------------------------ controls

  function fillSelect(id, options) {
    const select = document.getElementById(id);
    const current = select.value;
    const first = select.options[0];
    select.replaceChildren(first, ...options.map(([value, label]) => el("option", { value: value }, label)));
    select.value = options.some(([v]) => String(v) === current) ? current : "";
  }

  async function refresh() {
    document.body.dataset.state = "loading";
    try {
      const [summary, borrowers, volumes, events, status] = await Promise.all([
        load("summary", "/api/summary"),
        load("borrowers", "/api/borrowers?limit=10000"),
        load("volumes_" + state.period, "/api/volumes" + query({ period: state.period, currency: state.currency })),
        load("events", "/api/events" + query({ limit: 50, currency: state.currency, borrower: state.borrower })),
        load("status", "/api/status"),
      ]);
      fillSelect("filter-currency", summary.currencies.map((c) => [c, c]));
      fillSelect("filter-borrower", borrowers.items.filter((b) => b.limit > 0 || b.active_loans > 0)
        .map((b) => [String(b.borrower), b.name + " (#" + b.borrower + ")"]));
      renderStatus(status, summary);
      renderHeadline(summary);
      renderUtilisation(borrowers.items);
      renderVolumes(volumes, summary.currencies);
      renderExposures(borrowers.items);
      renderEvents(events);
      document.getElementById("error").hidden = true;
      document.body.dataset.state = "ready";
    } catch (err) {
      const box = document.getElementById("error");
      box.textContent = "Could not load the dashboard data: " + err.message;
      box.hidden = false;
      document.body.dataset.state = "error";
    }
  }

  function bind() {
    const on = (id, key, convert) => document.getElementById(id).addEventListener("change", (ev) => {
      state[key] = convert ? convert(ev.target.value) : ev.target.value;
      refresh();
    });
    on("filter-currency", "currency");
    on("filter-borrower", "borrower");
    on("filter-period", "period");
    on("filter-top", "top", Number);
    const auto = document.getElementById("auto-refresh");
    if (SNAPSHOT) {
      document.getElementById("refresh-control").hidden = true;
      document.getElementById("links").hidden = true;
      document.getElementById("mode").textContent = "Static snapshot · generated " + SNAPSHOT.generated_at;
    } else {
      auto.addEventListener("change", () => {
        clearInterval(state.timer);
        state.timer = auto.checked ? setInterval(refresh, 15000) : null;
      });
    }
  }

  window.xborderFormat = { fmtAmount, fmtPct, fmtCompact };
  bind();
  refresh();
})();
