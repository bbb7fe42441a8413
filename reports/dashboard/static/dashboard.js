// bottrader dashboard: polls /api/dashboard/summary and renders it. No dependencies, no build step.
// Every value is put into the page with textContent, never as HTML.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const DEFAULT_POLL_S = 3;
  const LEVEL_LABELS = {
    hard_stop: "hard stop",
    soft_stop: "soft stop",
    take_profit: "take profit",
    trailing_activation: "trail on",
    trailing_stop: "trail stop",
  };
  const LEVEL_CLASS = {
    hard_stop: "stop", soft_stop: "stop", take_profit: "target", trailing_activation: "trail", trailing_stop: "trail",
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, opts, children) {
    const node = document.createElement(tag);
    if (opts) {
      if (opts.cls) node.className = opts.cls;
      if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
      if (opts.title) node.title = opts.title;
      if (opts.data) for (const [k, v] of Object.entries(opts.data)) node.dataset[k] = v;
    }
    for (const child of children || []) node.appendChild(child);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Numbers arrive as exact decimal strings; they are parsed only for display and the chart.
  function num(value) { return value === null || value === undefined ? null : Number(value); }

  function fmtNumber(value, digits) {
    const n = num(value);
    if (n === null || Number.isNaN(n)) return "–";
    return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function fmtPrice(value) {
    const n = num(value);
    if (n === null) return "–";
    const digits = Math.abs(n) >= 1000 ? 2 : Math.abs(n) >= 1 ? 4 : 6;
    return fmtNumber(value, digits);
  }

  // Product increments from the summary: sizes and prices are shown to them (exact values stay in the API).
  let PRODUCTS = {};

  function decimalsOf(increment) {
    if (!increment) return null;
    const text = String(increment);
    const dot = text.indexOf(".");
    return dot < 0 ? 0 : text.length - dot - 1;
  }

  // Round down to the base increment: never show more than is held.
  function fmtSize(value, symbol) {
    if (value === null || value === undefined) return "–";
    const digits = decimalsOf((PRODUCTS[symbol] || {}).base_increment);
    if (digits === null) return String(Number(value));
    const text = String(value);
    const dot = text.indexOf(".");
    const cut = dot < 0 ? text : digits === 0 ? text.slice(0, dot) : text.slice(0, dot + 1 + digits);
    const n = Number(cut);
    return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  function fmtProductPrice(value, symbol) {
    const digits = decimalsOf((PRODUCTS[symbol] || {}).quote_increment);
    return digits === null ? fmtPrice(value) : fmtNumber(value, digits);
  }

  function fmtUsd(value) {
    const n = num(value);
    if (n === null) return "–";
    return (n < 0 ? "−$" : "$") + fmtNumber(Math.abs(n), 2);
  }

  function fmtPct(value) {
    const n = num(value);
    if (n === null) return "–";
    return (n > 0 ? "+" : n < 0 ? "−" : "") + fmtNumber(Math.abs(n), 2) + "%";
  }

  function signClass(value) {
    const n = num(value);
    return n === null || n === 0 ? "" : n > 0 ? "pos" : "neg";
  }

  function fmtTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return d.toISOString().replace("T", " ").slice(0, 19) + "Z";
  }

  function shortId(id) { return id && id.length > 12 ? id.slice(0, 8) + "…" : id || "–"; }

  function td(text, cls, title) { return el("td", { text: text, cls: cls, title: title }); }

  function replaceRows(tbody, rows) { tbody.replaceChildren(...rows); }

  // ---- sections -----------------------------------------------------------------------------

  function renderPositions(positions) {
    const list = positions || [];
    replaceRows($("positions"), list.map(function (p) {
      const trailing = p.trailing
        ? p.trailing.state + (p.trailing.current_stop ? " @ " + fmtPrice(p.trailing.current_stop) : "")
        : "–";
      const levels = el("div", { cls: "levels" }, (p.exits || []).map(function (lv) {
        const chip = el("span", { cls: "level " + (LEVEL_CLASS[lv.name] || "") });
        chip.appendChild(el("b", { text: LEVEL_LABELS[lv.name] || lv.name }));
        chip.appendChild(document.createTextNode(fmtProductPrice(lv.price, p.symbol) + " · " + fmtPct(lv.distance_pct)));
        return chip;
      }));
      if (p.hodl) levels.appendChild(el("span", { cls: "level", text: "HODL: never sold by the sentinel" }));
      const lastTitle = p.quote_age_s === null ? "no quote" : "quote age " + Number(p.quote_age_s).toFixed(1) + " s";
      const last = td(fmtProductPrice(p.last_price, p.symbol) + (p.stale ? " (stale)" : ""), "num" + (p.stale ? " neg" : ""),
        lastTitle);
      const pnl = td(fmtUsd(p.unrealized_pnl_usd) + " (" + fmtPct(p.unrealized_pct) + ")",
        "num " + signClass(p.unrealized_pnl_usd));
      const exitsCell = el("td", {}, [levels]);
      return el("tr", { data: { symbol: p.symbol } }, [
        td(p.symbol, "symbol"), td(fmtSize(p.size, p.symbol), "num"), td(fmtProductPrice(p.entry_price, p.symbol), "num"),
        last, pnl,
        td(trailing), exitsCell,
      ]);
    }));
    $("positions-empty").hidden = list.length > 0;
  }

  // The configured thresholds of an exit reason, short enough for a table cell.
  function configuredText(cfg) {
    const parts = [];
    if (cfg.stop_loss_hard_pct !== undefined) parts.push("stop " + fmtPct(cfg.stop_loss_hard_pct));
    if (cfg.stop_loss_soft_pct !== undefined) parts.push("stop " + fmtPct(cfg.stop_loss_soft_pct));
    if (cfg.take_profit_pct !== undefined) parts.push("target " + fmtPct(cfg.take_profit_pct));
    if (cfg.signal_exit_min_pnl_pct !== undefined) parts.push("only at P&L ≥ " + cfg.signal_exit_min_pnl_pct + "%");
    if (cfg.trailing_activation_pct !== undefined) parts.push("activates " + fmtPct(cfg.trailing_activation_pct));
    if (cfg.trailing_min_distance_pct !== undefined) {
      parts.push("distance " + cfg.trailing_min_distance_pct + "–" + cfg.trailing_max_distance_pct + "%");
    }
    return parts.join(", ");
  }

  function realizedText(r) {
    if (!r || r.avg_move_pct === null) return "–";
    return fmtPct(r.avg_move_pct) + " · " + fmtPct(r.min_move_pct) + "…" + fmtPct(r.max_move_pct);
  }

  function renderExits(exits) {
    if (!exits) { replaceRows($("exits"), []); return; }
    $("exits-window").textContent = "(last " + exits.window_days + " days)";
    const groups = (exits.by_reason || []).concat(exits.overall && exits.overall.trades ? [exits.overall] : []);
    replaceRows($("exits"), groups.map(function (g) {
      const configured = configuredText(g.configured || {});
      const winRate = g.win_rate === null ? "–" : fmtNumber(Number(g.win_rate) * 100, 1) + "%";
      return el("tr", { cls: g.label === "overall" ? "total" : "" }, [
        td(g.label, "symbol"), td(String(g.trades), "num"), td(winRate, "num"),
        td(fmtUsd(g.avg_win_usd), "num pos"), td(fmtUsd(g.avg_loss_usd), "num neg"),
        td(fmtUsd(g.total_pnl_usd), "num " + signClass(g.total_pnl_usd)),
        td(fmtUsd(g.fees_paid_usd), "num"),
        td(g.label === "overall" ? "" : configured || "no threshold (exit by alert or hand)", "small muted wrap"),
        td(realizedText(g.realized), "small wrap"),
        td(fmtPct(g.realized.avg_slippage_vs_target_pct), "num"),
      ]);
    }));
  }

  // What was asked for, in its own unit: a base size, or USD for quote-sized buys.
  function orderedText(o) {
    if (o.size !== null && o.size !== undefined) return fmtSize(o.size, o.symbol);
    if (o.quote_size !== null && o.quote_size !== undefined) return fmtUsd(o.quote_size);
    return "–";
  }

  function renderOrders(orders) {
    replaceRows($("orders"), (orders || []).map(function (o) {
      return el("tr", {}, [
        td(fmtTime(o.order_time)), td(o.symbol, "symbol"), td(o.side, o.side === "BUY" ? "pos" : "neg"),
        td(o.order_type), td(o.status), td(orderedText(o), "num"), td(fmtSize(o.filled_size, o.symbol), "num"),
        td(fmtProductPrice(o.average_filled_price, o.symbol), "num"), td(fmtUsd(o.total_fees_usd), "num"),
        td(o.exit_reason || "–"), td(o.pnl_usd === null ? "–" : fmtUsd(o.pnl_usd), "num " + signClass(o.pnl_usd)),
        td(shortId(o.order_id), "small muted", o.order_id),
      ]);
    }));
  }

  function renderWorking(list) {
    const rows = list || [];
    $("working-empty").hidden = rows.length > 0;
    replaceRows($("working-orders"), rows.map(function (w) {
      const last = w.last_step || {};
      return el("tr", { cls: ["working", "escalated", "unsure"].includes(w.state) ? "live" : "" }, [
        td(fmtTime(w.started_at)), td(w.symbol, "symbol"), td(w.purpose + (w.exit_reason ? " · " + w.exit_reason : "")),
        td(w.order_type), td(w.state), td(fmtSize(w.filled_size) + " / " + fmtSize(w.target_size), "num"),
        td(fmtPrice(w.limit_price), "num"), td(String(w.reprices), "num"), td(w.escalated ? "yes" : "no"),
        td((last.step || "–") + (last.why ? " (" + last.why + ")" : ""), "small", JSON.stringify(last)),
      ]);
    }));
  }

  function renderDust(dust) {
    const rows = dust || [];
    const p = $("dust");
    p.hidden = rows.length === 0;
    p.textContent = rows.length ? "Dust (below the product's minimum, not a position; sold with the next sell): " +
      rows.map(function (d) { return d.symbol + " " + fmtSize(d.size); }).join(", ") : "";
  }

  function renderFills(fills) {
    replaceRows($("fills"), (fills || []).map(function (f) {
      return el("tr", {}, [
        td(fmtTime(f.trade_time)), td(f.symbol, "symbol"), td(f.side, f.side === "BUY" ? "pos" : "neg"),
        td(fmtProductPrice(f.price, f.symbol), "num"), td(fmtSize(f.size, f.symbol), "num"),
        td(fmtUsd(f.commission), "num"),
        td(f.liquidity_indicator || "–"), td(shortId(f.trade_id), "small muted", f.trade_id),
      ]);
    }));
  }

  function renderAccount(account) {
    $("account-card").hidden = !account;
    if (!account) return;
    $("equity").textContent = fmtUsd(account.equity_usd);
    $("cash").textContent = fmtUsd(account.cash_usd);
    $("cash-available").textContent = fmtUsd(account.cash_available_usd);
    $("cash-hold").textContent = fmtUsd(account.cash_on_hold_usd);
    $("positions-value").textContent = fmtUsd(account.positions_value_usd);
    const unpriced = account.positions_at_entry_price || [];
    $("account-note").hidden = unpriced.length === 0;
    $("account-note").textContent = unpriced.length ? "No quote yet for " + unpriced.join(", ") +
      ": valued at the entry price." : "";
  }

  const OUTCOME_CLASS = { ordered: "pos", refused: "neg", failed: "neg", received: "" };

  function alertAmount(a) {
    if (a.action === "close") return "whole position";
    if (a.quote_amount !== null && a.quote_amount !== undefined) return fmtUsd(a.quote_amount);
    if (a.size !== null && a.size !== undefined) return fmtSize(a.size, a.symbol);
    return "default";
  }

  function renderAlerts(alerts) {
    const list = alerts || [];
    replaceRows($("alerts"), list.map(function (a) {
      return el("tr", { data: { alertId: String(a.id), outcome: a.outcome } }, [
        td(fmtTime(a.received_at)), td(a.source), td(a.symbol || "–", "symbol"), td(a.action || "–"),
        td(alertAmount(a), "num"), td(a.outcome, "outcome " + (OUTCOME_CLASS[a.outcome] || "")), td(a.status),
        td(a.status_reason || "–", "small wrap"), td(shortId(a.order_id), "small muted", a.order_id || ""),
      ]);
    }));
    $("alerts-empty").hidden = list.length > 0;
  }

  function statusItem(ok, name, detail) {
    return el("li", {}, [el("span", { cls: "dot " + (ok ? "good" : "bad") }), el("span", { text: name }),
      el("span", { cls: "muted small", text: detail || "" })]);
  }

  function renderHealth(health) {
    if (!health) return;
    const mode = $("mode");
    mode.textContent = health.trading_mode === "live" ? "LIVE" : "paper";
    mode.className = "badge " + (health.trading_mode === "live" ? "warn" : "good");
    const entries = $("entries");
    entries.textContent = health.entries_halted ? "entries halted" : "entries allowed";
    entries.className = "badge " + (health.entries_halted ? "bad" : "good");
    const breakers = health.breakers || [];
    replaceRows($("breakers"), breakers.length ? breakers.map(function (b) {
      const detail = b.tripped ? "tripped " + fmtTime(b.tripped_at) + (b.reason ? ": " + b.reason : "") : "ok";
      return statusItem(!b.tripped, b.name, detail);
    }) : [el("li", { cls: "muted", text: "no breakers reported" })]);
    const feeds = health.feeds || [];
    replaceRows($("feeds"), feeds.length ? feeds.map(function (f) {
      const age = f.last_message_age_s === null ? "" : "last message " + Number(f.last_message_age_s).toFixed(1) + " s ago";
      return statusItem(f.healthy, f.name, [age, f.detail].filter(Boolean).join(" · "));
    }) : [el("li", { cls: "muted", text: "no feeds reported" })]);
  }

  // Daily bars (green/red) with the running total as a line; scales include zero.
  function renderChart(pnl) {
    const box = $("pnl-chart");
    if (!pnl) { box.replaceChildren(); return; }
    $("pnl-window").textContent = "(last " + pnl.window_days + " days, " + pnl.timezone + ")";
    const days = pnl.days || [];
    const W = 640, H = 240, L = 64, R = 12, T = 12, B = 28;
    const values = days.map(function (d) { return Number(d.pnl_usd); });
    const cumulative = days.map(function (d) { return Number(d.cumulative_pnl_usd); });
    let lo = Math.min(0, ...values, ...cumulative), hi = Math.max(0, ...values, ...cumulative);
    if (hi === lo) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.08; hi += pad; lo -= pad;
    const y = function (v) { return T + (hi - v) / (hi - lo) * (H - T - B); };
    const step = (W - L - R) / Math.max(days.length, 1);
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "realized P&L by day" });
    for (const v of [hi - pad, (hi + lo) / 2, lo + pad]) {
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
      root.appendChild(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmtUsd(v.toFixed(2))));
    }
    root.appendChild(svg("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), class: "axis" }));
    days.forEach(function (d, i) {
      const v = values[i];
      if (v !== 0) {
        const top = Math.min(y(v), y(0)), height = Math.max(Math.abs(y(v) - y(0)), 1);
        const bar = svg("rect", { x: L + i * step + step * 0.15, y: top, width: step * 0.7, height: height,
          class: v > 0 ? "bar-pos" : "bar-neg" });
        bar.appendChild(svg("title", {}, d.day + ": " + fmtUsd(d.pnl_usd) + " (" + d.sells + " sells)"));
        root.appendChild(bar);
      }
      const last = days.length - 1;
      if (i === 0 || i === last || (i % 7 === 0 && last - i >= 4)) {
        root.appendChild(svg("text", { x: L + i * step + step / 2, y: H - 8, "text-anchor": "middle" },
          d.day.slice(5)));
      }
    });
    if (days.length) {
      const points = cumulative.map(function (v, i) { return (L + i * step + step / 2) + "," + y(v); }).join(" ");
      root.appendChild(svg("polyline", { points: points, class: "cumulative" }));
    }
    box.replaceChildren(root);
    const total = days.length ? days[days.length - 1].cumulative_pnl_usd : "0";
    $("pnl-total").textContent = "Bars: realized P&L per day. Line: running total (" + fmtUsd(total) + " in the window).";
  }

  function render(data) {
    PRODUCTS = data.products || {};
    renderAccount(data.account);
    renderAlerts(data.alerts);
    renderHealth(data.health);
    renderPositions(data.positions);
    renderChart(data.pnl_daily);
    renderExits(data.exits);
    renderOrders(data.orders);
    renderFills(data.fills);
    renderWorking(data.working_orders);
    renderDust(data.dust);
    const errors = Object.entries(data.errors || {});
    const banner = $("banner");
    banner.hidden = errors.length === 0;
    banner.textContent = errors.map(function (kv) { return kv[0] + ": " + kv[1]; }).join(" · ");
    $("updated").textContent = "updated " + fmtTime(data.generated_at);
  }

  async function poll() {
    let delay = DEFAULT_POLL_S;
    try {
      const response = await fetch("/api/dashboard/summary", { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      render(data);
      delay = Number(data.poll_interval_s) || DEFAULT_POLL_S;
    } catch (err) {
      const banner = $("banner");
      banner.hidden = false;
      banner.textContent = "Cannot reach the daemon (" + err.message + "); retrying…";
    }
    setTimeout(poll, delay * 1000);
  }

  document.addEventListener("DOMContentLoaded", poll);
})();
