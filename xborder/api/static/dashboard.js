/* xborder dashboard: reads the JSON API with a bearer token (or window.XBORDER_SNAPSHOT in a static
 * snapshot) and draws the charts with Apache ECharts (served from /static/vendor, copied from the
 * npm package by `make deps`; nothing is loaded from the network).
 *
 * The token: typed once into the sign-in form, kept in sessionStorage (this tab only, gone when it
 * closes), sent only in the Authorization header - never in a URL, so never in a server log, the
 * history or a Referer. A 401 clears it and asks again.
 *
 * Views: the overview (#/) and a borrower's page (#/borrower/<id>), reached by clicking a bar of
 * the utilisation chart, a row of the exposures table or a borrower in the events table.
 * Amounts from the API are integers in minor units (1/100); CNY figures are CNY minor units. */
(function () {
  "use strict";

  const SNAPSHOT = window.XBORDER_SNAPSHOT || null;
  const TOKEN_KEY = "xborder.api-token";
  const BAND_COLOURS = { low: "#2e7d32", moderate: "#7cb342", high: "#f2a900", critical: "#e8590c", over: "#c62828", none: "#98a2b3" };
  const BAND_LABELS = { low: "< 50 %", moderate: "50–75 %", high: "75–90 %", critical: "90–100 %", over: "over limit", none: "no limit" };
  const PALETTE = ["#0b4f8a", "#2e9cca", "#3fb68b", "#f2a900", "#8e6bbf", "#e8590c", "#d6457a", "#5f6b7a"];
  const FIXED = { CNY: "#c0392b", USD: "#0b4f8a", EUR: "#2e9cca", JPY: "#f2a900", HKD: "#8e6bbf", GBP: "#3fb68b" };
  const POLICY_MARKED = /^Adjustment/;  // the adjustment parameter (enterprises, financial institutions)
  const state = { currency: "", period: "month", top: 10, timer: null, me: null, currencies: [], charts: {} };

  // ------------------------------------------------------------------ formatting

  function groupDigits(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

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
    for (const [size, suffix] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]]) {
      if (abs >= size) return (units / size).toFixed(abs / size >= 100 ? 0 : 1).replace(/\.0$/, "") + suffix;
    }
    return String(Math.round(units));
  }

  function fmtPct(ratio) { return ratio === null || ratio === undefined ? "–" : (ratio * 100).toFixed(1) + " %"; }
  function fmtTime(seconds) { return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 16); }
  function fmtDay(seconds) { return new Date(seconds * 1000).toISOString().slice(0, 10); }
  function fmtFactor(bps) { return (Number(bps) / 10000).toFixed(2); }
  function loanLabel(id) { const big = BigInt(id); return (big >> 32n) + ":" + (big & 0xffffffffn); }
  function currencyColour(code) { return FIXED[code] || PALETTE[state.currencies.indexOf(code) % PALETTE.length]; }
  function isRegulator() { return !state.me || state.me.institution === null; }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function borrowerLink(id, label) {
    return el("a", { href: "#/borrower/" + id, class: "borrower-link", "data-borrower": id }, label);
  }

  // ------------------------------------------------------------------ data and the token

  class AuthError extends Error {}

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  async function api(path) {
    const response = await fetch(path, { headers: { Accept: "application/json", Authorization: "Bearer " + token() },
      cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) throw new AuthError(body.detail || "the token was refused");
    if (!response.ok) throw new Error(path.split("?")[0] + ": " + (body.detail || response.status));
    return body;
  }

  function load(name, path) { return SNAPSHOT ? Promise.resolve(SNAPSHOT[name]) : api(path); }

  function query(params) {
    const q = Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined)
      .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");
    return q ? "?" + q : "";
  }

  async function download(name) {
    const response = await fetch("/export/" + name + ".csv", { headers: { Authorization: "Bearer " + token() },
      credentials: "omit" });
    if (!response.ok) { showError(new Error(name + ".csv: " + ((await response.json()).detail || response.status))); return; }
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: name + ".csv" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function showLogin(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    document.body.dataset.state = "login";
    document.getElementById("login").hidden = false;
    for (const id of ["overview", "borrower-view", "filters"]) document.getElementById(id).hidden = true;
    document.getElementById("sign-out").hidden = true;
    document.getElementById("whoami").textContent = "";
    const box = document.getElementById("login-error");
    box.textContent = message || "";
    box.hidden = !message;
    document.getElementById("token-input").focus();
  }

  function showError(err) {
    if (err instanceof AuthError) { showLogin("Signed out: " + err.message); return; }
    const box = document.getElementById("error");
    box.textContent = "Could not load the dashboard data: " + err.message;
    box.hidden = false;
    document.body.dataset.state = "error";
  }

  // ------------------------------------------------------------------ charts

  function chart(id) {
    const box = document.getElementById(id);
    let instance = echarts.getInstanceByDom(box);
    if (!instance) {
      instance = echarts.init(box, null, { renderer: "canvas" });
      state.charts[id] = instance;
    }
    return instance;
  }

  function card(id, label, value, sub, cls) {
    return el("div", { class: "card " + (cls || ""), id: id },
      el("div", { class: "label" }, label), el("div", { class: "value" }, value), el("div", { class: "sub" }, sub || ""));
  }

  function renderHeadline(summary) {
    const box = document.getElementById("headline");
    const active = summary.loans_by_status.Active || 0;
    const perCurrency = Object.entries(summary.outstanding).map(([c, v]) => fmtAmount(v, c)).join(" · ") || "none";
    const shown = state.currency
      ? card("headline-outstanding", "Outstanding " + state.currency, fmtAmount(summary.outstanding[state.currency] || 0, state.currency),
        "active loans in " + state.currency)
      : card("headline-outstanding", "Outstanding (CNY equivalent)", fmtAmount(summary.outstanding_cny, "CNY"), perCurrency);
    box.replaceChildren(
      card("headline-loans", "Loans", groupDigits(summary.loans),
        active + " active · " + Object.entries(summary.loans_by_status).filter(([s]) => s !== "Active")
          .map(([s, n]) => n + " " + s.toLowerCase()).join(" · ")),
      shown,
      card("headline-balance", "Risk-weighted balance", fmtAmount(summary.risk_weighted_balance, "CNY"),
        "of " + fmtAmount(summary.total_limit, "CNY") + " total limits (" +
        fmtPct(summary.total_limit ? summary.risk_weighted_balance / summary.total_limit : null) + ")"),
      card("headline-near", "Near or over limit", String(summary.borrowers_near_limit + summary.borrowers_over_limit),
        summary.borrowers_near_limit + " at 90–100 % · " + summary.borrowers_over_limit + " over limit · " +
        summary.borrowers + " borrowers", summary.borrowers_over_limit ? "danger" : (summary.borrowers_near_limit ? "alert" : "")));
  }

  function exposureCards(e, prefix) {
    return [
      card(prefix + "-balance", "Risk-weighted balance", fmtAmount(e.risk_weighted_balance, "CNY"), "of " + fmtAmount(e.limit, "CNY") + " limit"),
      card(prefix + "-headroom", "Headroom", fmtAmount(e.headroom, "CNY"), fmtPct(e.utilisation) + " used · " + BAND_LABELS[e.band],
        e.band === "over" ? "danger" : (e.band === "critical" ? "alert" : "")),
      card(prefix + "-loans", "Active loans", String(e.active_loans),
        Object.entries(e.outstanding).map(([c, v]) => fmtAmount(v, c)).join(" · ") || "nothing outstanding"),
    ];
  }

  function renderStatus(status) {
    const box = document.getElementById("index-status");
    const lag = status.lag === null || status.lag === undefined ? "" : " · lag " + status.lag + " blocks";
    box.className = "status" + (status.lag > 5 ? " lagging" : "");
    box.replaceChildren(el("span", { class: "dot" }), "Index at block " + groupDigits(status.checkpoint ?? "–") + lag);
  }

  function renderUtilisation(borrowers) {
    const rows = borrowers.filter((b) => b.limit > 0 || b.risk_weighted_balance > 0).slice(0, state.top).reverse();
    const c = chart("util-chart");
    c.setOption({
      animation: false,
      grid: { left: 8, right: 64, top: 24, bottom: 24, containLabel: true },
      tooltip: { trigger: "item", confine: true, formatter: (p) => {
        const b = rows[p.dataIndex];
        return `<b>${escapeHtml(b.name)}</b> (#${b.borrower})<br>${fmtPct(b.utilisation)} of the limit<br>` +
          `${fmtAmount(b.risk_weighted_balance, "CNY")} of ${fmtAmount(b.limit, "CNY")}<br>headroom ${fmtAmount(b.headroom, "CNY")}`;
      } },
      xAxis: { type: "value", min: 0, max: (v) => Math.max(110, Math.ceil(v.max / 10) * 10), axisLabel: { formatter: "{value} %" } },
      yAxis: { type: "category", data: rows.map((b) => b.name.length > 24 ? b.name.slice(0, 23) + "…" : b.name) },
      series: [{
        type: "bar", name: "utilisation", barMaxWidth: 26, cursor: "pointer",
        data: rows.map((b) => ({ value: +((b.utilisation || 0) * 100).toFixed(3), borrower: b.borrower, band: b.band,
          itemStyle: { color: BAND_COLOURS[b.band] || BAND_COLOURS.none } })),
        label: { show: true, position: "right", formatter: (p) => p.value.toFixed(1) + " %" },
        markLine: { symbol: "none", silent: true, lineStyle: { color: "#c62828", type: "solid" },
          label: { formatter: "limit" }, data: [{ xAxis: 100 }] },
      }],
    }, true);
    c.off("click");
    c.on("click", (p) => { if (p.data && p.data.borrower) openBorrower(p.data.borrower); });
    const used = [...new Set(rows.map((r) => r.band))];
    document.getElementById("util-legend").replaceChildren(...["low", "moderate", "high", "critical", "over"]
      .filter((band) => used.includes(band))
      .map((band) => el("span", {}, el("i", { style: "background:" + BAND_COLOURS[band] }), BAND_LABELS[band])));
  }

  function bucketOf(seconds, period) { return period === "day" ? fmtDay(seconds) : fmtDay(seconds).slice(0, 7); }

  /** Every month (or day) from the first to the last, so that gaps show as gaps on the time axis. */
  function allBuckets(first, last, period) {
    const out = [];
    const d = new Date(first + (period === "day" ? "T00:00:00Z" : "-01T00:00:00Z"));
    const end = last;
    for (let i = 0; i < 20000; i++) {
      const key = period === "day" ? d.toISOString().slice(0, 10) : d.toISOString().slice(0, 7);
      out.push(key);
      if (key >= end) break;
      if (period === "day") d.setUTCDate(d.getUTCDate() + 1); else d.setUTCMonth(d.getUTCMonth() + 1);
    }
    return out;
  }

  function policyMarks(policy, period) {
    return (policy ? policy.items : []).filter((p) => POLICY_MARKED.test(p.parameter)).map((p) => ({
      bucket: bucketOf(p.block_time, period), time: p.block_time,
      label: p.parameter.replace(/^Adjustment/, "adj. ") + " " + fmtFactor(p.old_value) + "→" + fmtFactor(p.new_value),
    }));
  }

  function renderVolumes(volumes, policy) {
    const key = state.period, native = Boolean(state.currency);
    const items = volumes.items.filter((v) => !native || v.currency === state.currency);
    const marks = policyMarks(policy, key);
    const present = [...items.map((v) => v[key]), ...marks.map((m) => m.bucket)].sort();
    const buckets = present.length ? allBuckets(present[0], present[present.length - 1], key) : [];
    const index = new Map(buckets.map((b, i) => [b, i]));
    const currencies = [...new Set(items.map((v) => v.currency))].sort();
    const value = (v) => native ? v.drawn : v.drawn_cny;
    const series = currencies.map((cur) => {
      const data = new Array(buckets.length).fill(0);
      for (const v of items) if (v.currency === cur) data[index.get(v[key])] += value(v);
      return { type: "bar", name: cur, stack: "drawn", data: data, itemStyle: { color: currencyColour(cur) }, barMaxWidth: 40,
        emphasis: { focus: "series" } };
    });
    if (series.length) {
      series[0].markLine = { symbol: "none", silent: false, lineStyle: { color: "#5b3ea6", type: "dashed", width: 1.5 },
        label: { formatter: (p) => p.name.replace(/ \(.*$/, ""), position: "end", fontSize: 10, color: "#5b3ea6" },
        tooltip: { formatter: (p) => escapeHtml(p.name) },
        data: marks.map((m) => ({ xAxis: m.bucket, name: m.label + " (" + fmtDay(m.time) + ")" })) };
    }
    const c = chart("volume-chart");
    c.setOption({
      animation: false,
      legend: { show: false },
      grid: { left: 8, right: 16, top: 36, bottom: 64, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true, formatter: (ps) => {
        const rows = ps.filter((p) => p.value).map((p) => `${p.marker}${p.seriesName} ${native ? fmtAmount(p.value, p.seriesName) : fmtAmount(p.value, "CNY")}`);
        const total = ps.reduce((s, p) => s + (p.value || 0), 0);
        return `<b>${ps[0].axisValue}</b><br>` + (rows.join("<br>") || "no drawdowns") +
          (rows.length > 1 ? `<br><b>total ${fmtAmount(total, native ? state.currency : "CNY")}</b>` : "");
      } },
      xAxis: { type: "category", data: buckets },
      yAxis: { type: "value", name: native ? state.currency : "CNY eq.", axisLabel: { formatter: (v) => fmtCompact(v) } },
      dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "none" }, { type: "slider", xAxisIndex: 0, height: 18, bottom: 12, filterMode: "none" }],
      series: series,
    }, true);
    document.getElementById("volume-caption").textContent = "Drawn per " + key +
      (native ? ", in " + state.currency : ", CNY equivalent stacked by loan currency") + " · drag or scroll to zoom";
    document.getElementById("volume-legend").replaceChildren(...currencies.map((cur) => {
      const total = items.filter((v) => v.currency === cur).reduce((s, v) => s + v.drawn, 0);
      return el("span", { class: "legend-item", "data-currency": cur }, el("i", { style: "background:" + currencyColour(cur) }),
        cur + " · drawn " + fmtAmount(total));
    }));
    renderZoomButtons(buckets);
  }

  /** Buttons that zoom the volume chart to one year, or back to everything. */
  function renderZoomButtons(buckets) {
    const years = [...new Set(buckets.map((b) => b.slice(0, 4)))];
    const box = document.getElementById("volume-zoom");
    const zoom = (from, to) => chart("volume-chart").dispatchAction({ type: "dataZoom", startValue: from, endValue: to });
    const all = el("button", { type: "button", "data-zoom": "all" }, "All");
    all.addEventListener("click", () => zoom(0, Math.max(buckets.length - 1, 0)));
    box.replaceChildren(all, ...years.map((year) => {
      const b = el("button", { type: "button", "data-zoom": year }, year);
      b.addEventListener("click", () => zoom(buckets.findIndex((x) => x.startsWith(year)),
        buckets.length - 1 - [...buckets].reverse().findIndex((x) => x.startsWith(year))));
      return b;
    }));
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
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
      const tr = el("tr", { "data-borrower": b.borrower, class: "clickable" },
        el("td", { class: "name" }, borrowerLink(b.borrower, b.name), el("small", {}, "#" + b.borrower + " · " + b.kind + (b.status !== "Active" ? " · " + b.status : ""))),
        el("td", { class: "num" }, fmtAmount(b.risk_weighted_balance, "CNY")),
        el("td", { class: "num" }, fmtAmount(b.limit, "CNY")),
        el("td", { class: "num" }, fmtAmount(b.headroom, "CNY")),
        el("td", {}, meter(b)),
        el("td", { class: "num" }, String(b.active_loans)),
        el("td", { class: "nowrap" }, Object.entries(b.outstanding).map(([c, v]) => fmtAmount(v, c)).join(" · ") || "–"));
      tr.addEventListener("click", (ev) => { if (!(ev.target instanceof HTMLAnchorElement)) openBorrower(b.borrower); });
      return tr;
    }));
    if (!rows.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 7 }, "No exposures yet")));
  }

  function eventRow(e) {
    return el("tr", { "data-loan": e.loan_id },
      el("td", { class: "nowrap" }, fmtTime(e.block_time)),
      el("td", { class: "num" }, groupDigits(e.block_number)),
      el("td", {}, el("span", { class: "pill " + e.event }, e.event.replace(/^Loan/, ""))),
      el("td", { class: "nowrap", title: "loan id " + e.loan_id }, loanLabel(e.loan_id)),
      el("td", { class: "name" }, borrowerLink(e.borrower, e.borrower_name || "#" + e.borrower)),
      el("td", { class: "nowrap" }, e.creditor_name || "#" + e.creditor),
      el("td", { class: "num" }, e.amount !== null && e.amount !== undefined ? fmtAmount(e.amount, e.currency) : el("small", {}, e.currency)),
      el("td", { class: "num" }, fmtAmount(e.borrower_balance)));
  }

  function renderEvents(events) {
    const body = document.querySelector("#events-table tbody");
    const rows = events.items.filter((e) => !state.currency || e.currency === state.currency).slice(0, 12);
    body.replaceChildren(...rows.map(eventRow));
    if (!rows.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 8 }, "No events match the filter")));
    document.getElementById("events-caption").textContent = "Newest first" + (state.currency ? " · " + state.currency : "");
  }

  // ------------------------------------------------------------------ the borrower's page

  function openBorrower(id) { location.hash = "#/borrower/" + id; }

  async function loadBorrower(id) {
    const exposure = SNAPSHOT ? (SNAPSHOT.borrowers.items.find((b) => b.borrower === id) || null)
      : await api("/api/borrowers/" + id);
    if (!exposure) throw new Error("borrower #" + id + " is not in this snapshot");
    const events = SNAPSHOT ? { items: SNAPSHOT.events.items.filter((e) => e.borrower === id), total: null }
      : await api("/api/events" + query({ borrower: id, limit: 10000 }));
    const loans = SNAPSHOT ? null : await api("/api/loans" + query({ borrower: id, limit: 200 }));
    return { exposure, events, loans };
  }

  function renderBorrower(data) {
    const e = data.exposure;
    document.getElementById("borrower-title").textContent = e.name + " · #" + e.borrower + " · " + e.kind +
      (e.status !== "Active" ? " · " + e.status : "");
    document.getElementById("borrower-cards").replaceChildren(...exposureCards(e, "borrower"));
    const points = [...data.events.items].reverse();  // oldest first
    const c = chart("balance-chart");
    c.setOption({
      animation: false,
      grid: { left: 8, right: 48, top: 24, bottom: 56, containLabel: true },
      tooltip: { trigger: "axis", confine: true, formatter: (ps) => {
        const p = points[ps[0].dataIndex];
        return `<b>${fmtTime(p.block_time)}</b><br>${p.event.replace(/^Loan/, "")} ${loanLabel(p.loan_id)}` +
          (p.amount !== null && p.amount !== undefined ? " " + fmtAmount(p.amount, p.currency) : "") +
          `<br>balance after ${fmtAmount(p.borrower_balance, "CNY")}`;
      } },
      xAxis: { type: "time" },
      yAxis: { type: "value", axisLabel: { formatter: (v) => fmtCompact(v) } },
      dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
      series: [{ type: "line", step: "end", name: "risk-weighted balance",
        data: points.map((p) => [p.block_time * 1000, p.borrower_balance]),
        areaStyle: { opacity: 0.12 }, showSymbol: points.length < 200,
        markLine: { symbol: "none", silent: true, lineStyle: { color: "#c62828" }, label: { formatter: "limit" },
          data: e.limit ? [{ yAxis: e.limit }] : [] } }],
    }, true);
    const body = document.querySelector("#borrower-loans-table tbody");
    if (!data.loans) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 8 }, "Loans are not part of a static snapshot")));
    } else {
      body.replaceChildren(...data.loans.items.map((l) => el("tr", { "data-loan": l.loan_id },
        el("td", { class: "nowrap", title: "loan id " + l.loan_id }, loanLabel(l.loan_id)),
        el("td", { class: "nowrap" }, "#" + l.creditor + " (" + (l.creditor_country || "–") + ")"),
        el("td", {}, l.currency),
        el("td", { class: "num" }, fmtAmount(l.principal, l.currency)),
        el("td", { class: "num" }, fmtAmount(l.outstanding, l.currency)),
        el("td", {}, l.status),
        el("td", { class: "nowrap" }, fmtDay(l.value_date)),
        el("td", { class: "nowrap" }, fmtDay(l.maturity_date)))));
      document.getElementById("borrower-loans-caption").textContent =
        "Newest first · " + data.loans.items.length + " of " + data.loans.total;
    }
  }

  // ------------------------------------------------------------------ views

  function fillCurrencies(currencies) {
    const select = document.getElementById("filter-currency");
    const current = select.value;
    select.replaceChildren(select.options[0], ...currencies.map((c) => el("option", { value: c }, c)));
    select.value = currencies.includes(current) ? current : "";
  }

  async function loadOverview() {
    const regulator = isRegulator();
    const me = state.me && state.me.institution;
    const [summary, borrowers, volumes, events, status, policy] = await Promise.all([
      regulator ? load("summary", "/api/summary") : Promise.resolve(null),
      load("borrowers", "/api/borrowers" + query({ limit: 20 })),
      regulator ? load("volumes_" + state.period, "/api/volumes" + query({ period: state.period, currency: state.currency }))
        : Promise.resolve(null),
      load("events", "/api/events" + query({ limit: 50, currency: state.currency, borrower: me })),
      load("status", "/api/status"),
      load("policy", "/api/policy"),
    ]);
    return { summary, borrowers, volumes, events, status, policy };
  }

  function renderOverview(data) {
    renderStatus(data.status);
    if (data.summary) {
      state.currencies = data.summary.currencies;
      fillCurrencies(data.summary.currencies);
      renderHeadline(data.summary);
    } else {
      const mine = data.borrowers.items[0];
      document.getElementById("headline").replaceChildren(...(mine ? exposureCards(mine, "headline") : []));
    }
    document.getElementById("volume-panel").hidden = !data.volumes;
    renderUtilisation(data.borrowers.items);
    if (data.volumes) renderVolumes(data.volumes, data.policy);
    renderExposures(data.borrowers.items);
    renderEvents(data.events);
  }

  function route() {
    const match = /^#\/borrower\/(\d+)$/.exec(location.hash);
    return match ? Number(match[1]) : null;
  }

  async function refresh() {
    document.body.dataset.state = "loading";
    const borrower = route();
    document.body.dataset.view = borrower === null ? "overview" : "borrower";
    document.getElementById("overview").hidden = borrower !== null;
    document.getElementById("borrower-view").hidden = borrower === null;
    document.getElementById("filters").hidden = false;
    try {
      if (!SNAPSHOT && !state.me) {
        state.me = await api("/api/me");
        renderWhoami();
      }
      if (borrower === null) renderOverview(await loadOverview());
      else renderBorrower(await loadBorrower(borrower));
      for (const c of Object.values(state.charts)) c.resize();
      document.getElementById("error").hidden = true;
      document.body.dataset.state = "ready";
      if (!window.xborderFirstPaint) window.xborderFirstPaint = performance.now();
    } catch (err) {
      showError(err);
    }
  }

  function renderWhoami() {
    const me = state.me;
    document.getElementById("whoami").textContent = me.institution === null ? "Regulator"
      : (me.name || "Institution") + " · #" + me.institution;
    document.getElementById("sign-out").hidden = false;
    document.getElementById("refresh-control").hidden = false;
    for (const id of ["filter-currency", "filter-period"]) document.getElementById(id).closest("label").hidden = me.institution !== null;
  }

  function bind() {
    const on = (id, key, convert) => document.getElementById(id).addEventListener("change", (ev) => {
      state[key] = convert ? convert(ev.target.value) : ev.target.value;
      refresh();
    });
    on("filter-currency", "currency");
    on("filter-period", "period");
    on("filter-top", "top", Number);
    window.addEventListener("hashchange", refresh);
    window.addEventListener("resize", () => { for (const c of Object.values(state.charts)) c.resize(); });
    document.getElementById("goto-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const id = Number(document.getElementById("goto-borrower").value);
      if (id > 0) openBorrower(id);
    });
    document.getElementById("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = document.getElementById("token-input");
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      input.value = "";
      document.getElementById("login").hidden = true;
      state.me = null;
      refresh();
    });
    document.getElementById("sign-out").addEventListener("click", () => { state.me = null; showLogin(""); });
    for (const button of document.querySelectorAll("[data-export]")) {
      button.addEventListener("click", () => download(button.dataset.export));
    }
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
  window.xborderCharts = state.charts;
  bind();
  if (typeof echarts === "undefined") {
    showError(new Error("the chart library (/static/vendor/echarts.common.min.js) is missing: run `make deps`"));
  } else if (!SNAPSHOT && !token()) {
    showLogin("");
  } else {
    refresh();
  }
})();
