/* coinray dashboard: fetches /ui/api/* JSON, draws with the locally served plotly.js, listens to /ui/events (SSE). */
"use strict";
const coinray = (() => {
  const $ = (sel) => document.querySelector(sel);
  const base = () => document.body.dataset.base;
  const api = async (path, opts) => {
    const r = await fetch(base() + path, opts);
    const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
    if (!r.ok) throw new Error(body.detail || body.title || r.statusText);
    return body;
  };
  const iso = (ms) => (ms == null ? "" : new Date(ms).toISOString().replace("T", " ").slice(0, 16));
  const num = (v, d = 2) => (v == null || Number.isNaN(v) ? "" : Number(v).toLocaleString("en-US", {maximumFractionDigits: d, minimumFractionDigits: d}));
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  const rowsInto = (sel, rows) => { $(sel + " tbody").innerHTML = rows.join(""); };
  const theme = () => {
    const t = document.documentElement.dataset.theme === "dark";
    const css = getComputedStyle(document.documentElement);
    return {paper_bgcolor: css.getPropertyValue("--panel"), plot_bgcolor: css.getPropertyValue("--panel"),
      font: {color: css.getPropertyValue("--fg")}, margin: {l: 50, r: 20, t: 30, b: 30},
      xaxis: {gridcolor: css.getPropertyValue("--line")}, yaxis: {gridcolor: css.getPropertyValue("--line")}, dark: t};
  };
  const layout = (extra) => { const t = theme(); delete t.dark; return Object.assign(t, extra || {}); };
  const plot = (el, data, lay) => Plotly.react(el, data, layout(lay), {responsive: true, displaylogo: false});
  const redraws = [];

  // -- notifications and live stream (every page) ------------------------------------------------
  function toast(text) {
    const div = document.createElement("div");
    div.className = "toast"; div.setAttribute("role", "alert"); div.textContent = text;
    $("#toasts").prepend(div);
    setTimeout(() => div.remove(), 30000);
  }
  const listeners = {candle: [], signal: [], alert: []};
  function connect() {
    const badge = $("#live-status");
    if (document.body.dataset.live !== "on") return;
    const es = new EventSource(base() + "/events");
    es.addEventListener("hello", () => { badge.textContent = "live: on"; badge.classList.add("on"); });
    es.onerror = () => { badge.textContent = "live: reconnecting"; badge.classList.remove("on"); };
    for (const kind of Object.keys(listeners)) {
      es.addEventListener(kind, (e) => { const d = JSON.parse(e.data); listeners[kind].forEach((f) => f(d)); });
    }
    listeners.alert.push((a) => toast(`Alert ${a.rule_name}: ${a.message}`));
  }
  function themeToggle() {
    const saved = localStorage.getItem("coinray-theme");
    if (saved) document.documentElement.dataset.theme = saved;
    $("#theme").addEventListener("click", () => {
      const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next; localStorage.setItem("coinray-theme", next);
      redraws.forEach((f) => f());
    });
  }

  // -- Overview -------------------------------------------------------------------------------------
  async function overview() {
    await fillOverview();
    listeners.signal.push((g) => {
      const tr = document.createElement("tr");
      tr.className = "live-signal";
      tr.innerHTML = `<td>${iso(g.ts)}</td><td>${esc(g.symbol)} ${esc(g.timeframe)}</td><td>${esc(g.kind)}</td><td class="num">${num(g.value)}</td><td>${esc(g.detail)} (live)</td>`;
      $("#signals tbody").prepend(tr);
      while ($("#signals tbody").rows.length > 60) $("#signals tbody").lastElementChild.remove();
    });
    let pending = null;  // new candles may bring a new ranking, anomalies and health: refresh (coalesced)
    listeners.candle.push(() => { if (!pending) pending = setTimeout(() => { pending = null; fillOverview(); }, 5000); });
    setInterval(fillOverview, 60000);
    document.body.dataset.ready = "1";
  }
  async function fillOverview() {
    const d = await api("/api/overview");
    const live = [...document.querySelectorAll("#signals tr.live-signal")];
    const r = d.ranking;
    $("#rank-meta").textContent = r.run_id ? `${r.timeframe} · as of ${iso(r.ts)} · run ${r.run_id}` : "no ranking stored yet";
    rowsInto("#ranking", r.rows.map((x) => `<tr><td>${x.rank}</td><td><a href="${base()}/symbol?symbol=${encodeURIComponent(x.symbol)}">${esc(x.symbol)}</a></td>` +
      `<td class="num">${num(x.score, 3)}</td><td><details><summary title="${esc(x.rationale)}">rationale</summary>${esc(x.rationale)}</details></td></tr>`));
    const s = d.sentiment;
    const drawHeat = () => plot("heatmap", [{type: "heatmap", x: s.timeframes, y: s.symbols, z: s.z, zmin: -1, zmax: 1,
      colorscale: "RdBu", text: s.n, texttemplate: "%{z:.2f}", hovertemplate: "%{y} %{x}: %{z:.3f} (n=%{text})<extra></extra>"}],
      {title: "latest bucket, engagement-weighted score", margin: {l: 90, r: 20, t: 40, b: 30}});
    redraws.length = 0;
    if (s.symbols.length) { drawHeat(); redraws.push(drawHeat); } else { $("#heatmap-empty").hidden = false; }
    rowsInto("#signals", d.anomalies.map((a) => `<tr><td>${iso(a.ts)}</td><td>${esc(a.symbol)} ${esc(a.timeframe)}</td><td>${esc(a.kind)}</td><td class="num">${num(a.score)}</td><td>${esc(a.explanation)}</td></tr>`));
    rowsInto("#health", d.health.map((h) => `<tr><td>${esc(h.exchange)}</td><td>${esc(h.symbol)}</td><td>${esc(h.timeframe)}</td><td class="num">${h.bars}</td>` +
      `<td>${iso(h.last_ts)}</td><td class="num">${h.lag_bars}</td><td class="num">${h.open_gaps}</td></tr>`));
    $("#signals tbody").prepend(...live);
    const ls = d.live;
    $("#live-stats").textContent = ls.running ? `live stream: ${(ls.streams || []).join(", ")} · ${ls.candles} candles, ${ls.alerts} alerts since start` : "live stream: not connected";
  }

  // -- Symbol -------------------------------------------------------------------------------------
  async function symbol(init) {
    const series = await api("/api/series");
    // a series that only streams so far (nothing stored yet) is offered too: the live candles fill it
    const syms = [...new Set([...series.map((s) => s.symbol), init.symbol].filter(Boolean))];
    const tfs = [...new Set([...series.map((s) => s.timeframe), init.timeframe].filter(Boolean))];
    const exchangeOf = (sym) => (series.some((s) => s.symbol === sym && s.exchange === init.exchange) || !series.some((s) => s.symbol === sym)
      ? init.exchange || "binance" : series.find((s) => s.symbol === sym).exchange);
    $("#sym").innerHTML = syms.map((s) => `<option ${s === init.symbol ? "selected" : ""}>${esc(s)}</option>`).join("");
    $("#tf").innerHTML = tfs.map((t) => `<option ${t === init.timeframe ? "selected" : ""}>${esc(t)}</option>`).join("");
    if (init.bars) {  // the URL's bars= (validated by the server), added to the choices when it is not one of them
      const bars = $("#bars"), want = String(init.bars);
      if (![...bars.options].some((o) => o.value === want)) bars.add(new Option(want, want));
      bars.value = want;
    }
    let chart = null, pending = null;
    const checked = (name) => [...document.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
    const overlayCols = {ema: ["ema_20", "ema_50"], bollinger: ["bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2"], vwap: ["vwap_1d"]};
    function draw() {
      const c = chart, x = c.ts.map((t) => new Date(t));
      const panes = checked("pane");
      const h = 1 / (2 + panes.length);  // price takes 2 shares, volume is overlaid on the price domain bottom
      const data = [{type: "candlestick", name: c.symbol, x, open: c.open, high: c.high, low: c.low, close: c.close, yaxis: "y"},
        {type: "bar", name: "volume", x, y: c.volume, yaxis: "y2", marker: {color: "rgba(120,140,160,.35)"}}];
      // indicators come with the stored candles; a series that only streams so far has none yet
      for (const ov of checked("ov")) for (const col of overlayCols[ov].filter((k) => c.overlays[k])) data.push({type: "scatter", mode: "lines", name: col, x, y: c.overlays[col], yaxis: "y", line: {width: 1}});
      if ($("#show-signals").checked && c.signals.length) {
        data.push({type: "scatter", mode: "markers", name: "signals", x: c.signals.map((s) => new Date(s.ts)), y: c.signals.map((s) => s.price),
          text: c.signals.map((s) => `${s.kind}: ${s.detail}`), marker: {symbol: "diamond", size: 5, color: "#ffb300", opacity: 0.8}, yaxis: "y"});
      }
      for (const [side, sym, color] of [["buy", "triangle-up", "#26a69a"], ["sell", "triangle-down", "#ef5350"]]) {
        const t = c.trades.filter((m) => m.side === side);
        if (t.length) data.push({type: "scatter", mode: "markers", name: `trade ${side}`, x: t.map((m) => new Date(m.ts)), y: t.map((m) => m.price),
          text: t.map((m) => m.label), marker: {symbol: sym, size: 11, color}, yaxis: "y"});
        const f = c.fills.filter((m) => m.side === side);
        if (f.length) data.push({type: "scatter", mode: "markers", name: `fill ${side}`, x: f.map((m) => new Date(m.ts)), y: f.map((m) => m.price),
          text: f.map((m) => `${m.account} ${m.qty}`), marker: {symbol: sym + "-open", size: 11, color}, yaxis: "y"});
      }
      const lay = {showlegend: true, legend: {orientation: "h"}, xaxis: {rangeslider: {visible: false}, type: "date"},
        yaxis: {domain: [1 - 2 * h, 1], title: c.symbol},
        yaxis2: {overlaying: "y", side: "right", showgrid: false, showticklabels: false, range: [0, 5 * Math.max(0, ...c.volume) || 1]}};
      panes.forEach((p, i) => {
        const ax = `y${i + 3}`, key = `yaxis${i + 3}`;
        lay[key] = {domain: [Math.max(0, 1 - (3 + i) * h + 0.02), 1 - (2 + i) * h - 0.02], title: p.toUpperCase()};
        if (p === "rsi" && c.panes.rsi_14) data.push({type: "scatter", mode: "lines", name: "rsi_14", x, y: c.panes.rsi_14, yaxis: ax});
        if (p === "macd" && c.panes.macd_12_26_9) {
          data.push({type: "scatter", mode: "lines", name: "macd", x, y: c.panes.macd_12_26_9, yaxis: ax});
          data.push({type: "scatter", mode: "lines", name: "signal", x, y: c.panes.macd_signal_12_26_9, yaxis: ax});
          data.push({type: "bar", name: "hist", x, y: c.panes.macd_hist_12_26_9, yaxis: ax});
        }
      });
      plot("price", data, lay);
      const n = c.close.length - 1;
      $("#last-close").textContent = n < 0 ? "–" : c.close[n];
      $("#last-ts").textContent = n < 0 ? "–" : iso(c.ts[n]) + " UTC";
      if (n < 0) $("#live-candle").textContent = `(no ${c.timeframe} candles stored on ${c.exchange} yet: waiting for the live stream)`;
      if (c.sentiment.length) {
        $("#sentiment-empty").hidden = true;
        plot("sentiment", [{type: "bar", name: "sentiment", x: c.sentiment.map((s) => new Date(s.ts)), y: c.sentiment.map((s) => s.engagement_score)}], {title: "sentiment (engagement-weighted)"});
      } else { $("#sentiment-empty").hidden = false; Plotly.purge("sentiment"); }
    }
    async function load() {
      const params = new URLSearchParams({symbol: $("#sym").value, timeframe: $("#tf").value, exchange: exchangeOf($("#sym").value),
        bars: $("#bars").value, run_id: $("#run").value || init.run_id || ""});
      document.body.dataset.ready = "0";
      chart = await api("/api/chart?" + params);
      const runSel = $("#run"), cur = runSel.value || init.run_id || "";
      runSel.innerHTML = `<option value="">(none)</option>` + chart.runs.map((r) => `<option ${r === cur ? "selected" : ""}>${esc(r)}</option>`).join("");
      $("#sym-title").textContent = chart.symbol;
      history.replaceState(null, "", `${base()}/symbol?${params}`);
      $("#live-candle").textContent = "";
      draw();
      document.body.dataset.ready = "1";
    }
    $("#sym-form").addEventListener("change", (e) => { if (["sym", "tf", "bars", "run"].includes(e.target.id)) load(); else draw(); });
    redraws.push(draw);
    listeners.candle.push((k) => {
      if (!chart || k.symbol !== chart.symbol || k.timeframe !== chart.timeframe || k.exchange !== chart.exchange) return;
      const n = chart.ts.length - 1;
      if (n < 0 || k.ts > chart.ts[n]) { for (const f of ["ts", "open", "high", "low", "close", "volume"]) chart[f].push(k[f]); }
      else if (k.ts === chart.ts[n]) { for (const f of ["open", "high", "low", "close", "volume"]) chart[f][n] = k[f]; }
      else return;
      $("#live-candle").textContent = "(live)";
      if (!pending) pending = setTimeout(() => { pending = null; draw(); }, 300);  // coalesce bursts of candles
    });
    await load();
  }

  // -- Backtests ----------------------------------------------------------------------------------
  async function backtests(init) {
    const runs = await api("/api/backtests");
    rowsInto("#runs", runs.map((r) => `<tr><td><a href="${base()}/backtests?run_id=${encodeURIComponent(r.run_id)}">${esc(r.run_id)}</a></td><td>${esc(r.status)}</td>` +
      `<td>${esc(r.strategy)}</td><td>${esc(JSON.stringify(r.params))}</td><td>${esc(r.timeframe)}</td><td>${esc(r.symbols.join(", "))}</td>` +
      `<td class="num">${num(r.metrics.return_pct)}</td><td class="num">${num(r.metrics.sharpe)}</td><td class="num">${num(r.metrics.max_drawdown_pct)}</td><td class="num">${r.metrics.n_trades ?? ""}</td></tr>`));
    const id = init.run_id || (runs[0] && runs[0].run_id);
    if (id) await showRun(id);
    document.body.dataset.ready = "1";
  }
  async function showRun(id) {
    const run = await api("/api/backtests/" + encodeURIComponent(id));
    $("#run-detail").hidden = false;
    $("#run-title").textContent = `Run ${run.run_id} · ${run.strategy} ${JSON.stringify(run.params)} · ${run.timeframe} · ${run.symbols.join(", ")}`;
    const cv = run.result.curves || {ts: [], equity: [], drawdown: []};
    const x = cv.ts.map((t) => new Date(t));
    const draw = () => {
      plot("equity", [{type: "scatter", mode: "lines", name: "equity", x, y: cv.equity}], {title: "Equity"});
      plot("drawdown", [{type: "scatter", mode: "lines", fill: "tozeroy", name: "drawdown", x, y: cv.drawdown.map((v) => v * 100), line: {color: "#ef5350"}}], {title: "Drawdown %"});
    };
    draw(); redraws.push(draw);
    $("#metrics tbody").innerHTML = Object.entries(run.metrics).map(([k, v]) => `<tr><th>${esc(k)}</th><td class="num" data-metric="${esc(k)}">${num(v, 4)}</td></tr>`).join("");
    const trades = run.result.trades || [];
    rowsInto("#trades", trades.map((t) => `<tr><td>${esc(t.symbol)}</td><td>${esc(t.direction)}</td><td>${esc(t.entry_time)}</td><td class="num">${num(t.entry_price)}</td>` +
      `<td>${esc(t.exit_time)}</td><td class="num">${num(t.exit_price)}</td><td class="num">${num(t.size, 6)}</td><td class="num ${t.pnl >= 0 ? "up" : "down"}">${num(t.pnl)}</td><td class="num">${num(t.return_pct)}</td></tr>`));
    const sym = run.symbols[0];
    const c = await api(`/api/chart?${new URLSearchParams({symbol: sym, timeframe: run.timeframe, bars: 3000, run_id: run.run_id})}`);
    const px = c.ts.map((t) => new Date(t));
    const data = [{type: "scatter", mode: "lines", name: sym, x: px, y: c.close, line: {width: 1}}];
    for (const [side, s, color] of [["buy", "triangle-up", "#26a69a"], ["sell", "triangle-down", "#ef5350"]]) {
      const t = c.trades.filter((m) => m.side === side);
      data.push({type: "scatter", mode: "markers", name: side, x: t.map((m) => new Date(m.ts)), y: t.map((m) => m.price), text: t.map((m) => m.label), marker: {symbol: s, size: 9, color}});
    }
    plot("run-price", data, {title: `${sym} close with trades`});
  }

  // -- Strategy -----------------------------------------------------------------------------------
  async function strategy() {
    const [strategies, series] = await Promise.all([api("/api/strategies"), api("/api/series")]);
    $("#strategy").innerHTML = strategies.map((s) => `<option>${esc(s.name)}</option>`).join("");
    const syms = [...new Set(series.map((s) => s.symbol))];
    $("#symbols").innerHTML = syms.map((s, i) => `<option ${i === 0 ? "selected" : ""}>${esc(s)}</option>`).join("");
    const current = () => strategies.find((s) => s.name === $("#strategy").value);
    function fields() {
      const s = current(), props = s.schema.properties || {};
      $("#strategy-doc").textContent = s.doc;
      $("#params").innerHTML = "<legend>Parameters</legend>" + Object.entries(props).map(([k, p]) => {
        const step = p.type === "integer" ? 1 : "any";
        const min = p.minimum ?? p.exclusiveMinimum ?? "", max = p.maximum ?? p.exclusiveMaximum ?? "";
        return `<label title="${esc(p.description)}">${esc(p.title || k)} <input name="param" data-key="${esc(k)}" data-type="${esc(p.type)}" type="number" step="${step}" min="${min}" max="${max}" value="${p.default ?? ""}" required></label>`;
      }).join("");
      const opts = Object.keys(props).map((k) => `<option>${esc(k)}</option>`).join("");
      $("#sweep-x").innerHTML = opts; $("#sweep-y").innerHTML = opts;
      if (Object.keys(props).length > 1) $("#sweep-y").selectedIndex = 1;
    }
    $("#strategy").addEventListener("change", fields);
    fields();
    const list = (s) => s.split(",").map((v) => v.trim()).filter(Boolean).map(Number);
    $("#strategy-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const params = {};
      document.querySelectorAll("input[name=param]").forEach((i) => { params[i.dataset.key] = i.dataset.type === "integer" ? parseInt(i.value, 10) : parseFloat(i.value); });
      const body = {strategy: $("#strategy").value, params, symbols: [...$("#symbols").selectedOptions].map((o) => o.value),
        timeframe: $("#timeframe").value, cash: parseFloat($("#cash").value), commission: parseFloat($("#commission").value),
        start: $("#start").value || null, end: $("#end").value || null};
      if ($("#sweep-on").checked) body.sweep = {param_x: $("#sweep-x").value, values_x: list($("#sweep-xv").value), param_y: $("#sweep-y").value, values_y: list($("#sweep-yv").value), metric: $("#sweep-metric").value};
      $("#job-error").hidden = true; $("#job-result").innerHTML = ""; $("#sweep-heatmap").hidden = true;
      try {
        let job = await api("/api/jobs", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
        while (job.state === "queued" || job.state === "running") {
          $("#job-state").textContent = `${job.kind} ${job.state} (${job.done}/${job.total}, ${job.runner})`;
          $("#progress").max = job.total; $("#progress").value = job.done;
          await new Promise((r) => setTimeout(r, 500));
          job = await api("/api/jobs/" + job.job_id);
        }
        $("#progress").max = job.total; $("#progress").value = job.done;
        $("#job-state").textContent = `${job.kind} ${job.state}`;
        if (job.state === "failed") { $("#job-error").textContent = job.error; $("#job-error").hidden = false; return; }
        if (job.kind === "backtest") {
          const m = job.result.metrics;
          $("#job-result").innerHTML = `<p id="job-run">Run <a href="${base()}/backtests?run_id=${encodeURIComponent(job.run_id)}">${esc(job.run_id)}</a>: ` +
            `return <strong id="job-return">${num(m.return_pct)}</strong>%, sharpe ${num(m.sharpe)}, max drawdown ${num(m.max_drawdown_pct)}%, ${job.result.n_trades} trades.</p>`;
        } else {
          const r = job.result;
          $("#sweep-heatmap").hidden = false;
          plot("sweep-heatmap", [{type: "heatmap", x: r.values_x.map(String), y: r.values_y.map(String), z: r.z, colorscale: "Viridis",
            texttemplate: "%{z:.3f}", hovertemplate: `${r.param_x}=%{x} ${r.param_y}=%{y}: %{z:.3f}<extra></extra>`}], {title: `${r.metric} by ${r.param_x} × ${r.param_y}`, xaxis: {title: r.param_x, type: "category"}, yaxis: {title: r.param_y, type: "category"}});
        }
      } catch (err) { $("#job-state").textContent = "rejected"; $("#job-error").textContent = err.message; $("#job-error").hidden = false; }
    });
    document.body.dataset.ready = "1";
  }

  // -- Alerts -------------------------------------------------------------------------------------
  async function alerts() {
    const fieldsOf = ["rule_id", "name", "kind", "symbol", "level", "direction", "indicator", "min_score", "pattern", "webhook_url"];
    const cond = (r) => ({price_cross: `close crosses ${r.direction} ${r.level}`, indicator_threshold: `${r.indicator} crosses ${r.direction} ${r.level}`,
      sentiment_swing: `|Δ score| ≥ ${r.level}`, anomaly: `anomaly |score| ≥ ${r.min_score}`, pattern: `pattern ${r.pattern || "(any)"}`}[r.kind]);
    async function refresh() {
      const [rules, hist] = await Promise.all([api("/api/alerts/rules"), api("/api/alerts/history")]);
      rowsInto("#rules", rules.map((r) => `<tr data-rule="${esc(r.rule_id)}"><td>${esc(r.name || r.rule_id)}</td><td>${esc(r.kind)}</td><td>${esc(r.symbol)}</td><td>${esc(r.timeframe)}</td>` +
        `<td>${esc(cond(r))}</td><td>${esc(r.webhook_url)}</td><td><button type="button" class="link" data-edit="${esc(r.rule_id)}">edit</button><button type="button" class="link" data-del="${esc(r.rule_id)}">delete</button></td></tr>`));
      rowsInto("#history", hist.map((h) => `<tr><td>${iso(h.fired_ms)}</td><td>${esc(h.rule_name)}</td><td>${esc(h.symbol)} ${esc(h.timeframe)}</td><td>${iso(h.ts)}</td><td class="num">${num(h.value, 4)}</td><td>${esc(h.message)}</td><td>${esc(h.webhook_status)}</td></tr>`));
      document.querySelectorAll("[data-edit]").forEach((b) => b.addEventListener("click", () => {
        const r = rules.find((x) => x.rule_id === b.dataset.edit);
        fieldsOf.forEach((f) => { $("#" + f).value = r[f]; }); $("#rule-tf").value = r.timeframe; $("#name").focus();
      }));
      document.querySelectorAll("[data-del]").forEach((b) => b.addEventListener("click", async () => { await api("/api/alerts/rules/" + b.dataset.del, {method: "DELETE"}); refresh(); }));
    }
    $("#rule-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {timeframe: $("#rule-tf").value};
      fieldsOf.forEach((f) => { body[f] = $("#" + f).value; });
      body.level = parseFloat(body.level || "0"); body.min_score = parseFloat(body.min_score || "0");
      try { const r = await api("/api/alerts/rules", {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)});
        $("#rule-msg").textContent = `saved ${r.rule_id}`; $("#rule_id").value = ""; await refresh();
      } catch (err) { $("#rule-msg").textContent = "error: " + err.message; }
    });
    listeners.alert.push(() => refresh());
    await refresh();
    document.body.dataset.ready = "1";
  }

  // -- Models -------------------------------------------------------------------------------------
  async function models() {
    const m = await api("/api/models");
    if (!m.available || !m.rows.length) { $("#models-empty").hidden = false; }
    else {
      const cols = Object.keys(m.rows[0]);
      $("#models thead").innerHTML = "<tr>" + cols.map((c) => `<th>${esc(c)}</th>`).join("") + "</tr>";
      rowsInto("#models", m.rows.map((r) => "<tr>" + cols.map((c) => `<td>${esc(typeof r[c] === "object" ? JSON.stringify(r[c]) : r[c])}</td>`).join("") + "</tr>"));
    }
    document.body.dataset.ready = "1";
  }

  const pages = {overview, symbol, backtests, strategy, alerts, models};
  async function start(page, init) {
    themeToggle();
    connect();
    try { await pages[page](init || {}); }
    catch (err) { toast("Error: " + err.message); document.body.dataset.ready = "error"; document.body.dataset.error = err.message; }
  }
  return {start, toast};
})();
