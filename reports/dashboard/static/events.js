// Position history panel: the recent trailing-stop and exit events of one symbol.
// Polls /api/dashboard/events; values go into the page with textContent only.
"use strict";

(function () {
  const POLL_MS = 3000;
  let chosen = null;

  function $(id) { return document.getElementById(id); }

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text === null || text === undefined ? "" : String(text);
    return td;
  }

  function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : ""; }

  function render(symbol, events) {
    const body = $("position-events");
    body.replaceChildren();
    for (const e of events) {
      const tr = document.createElement("tr");
      tr.dataset.kind = e.kind;
      tr.dataset.source = e.source;
      tr.className = "event-" + e.source;
      tr.append(
        cell(when(e.at)), cell(e.source === "exit" ? "exit" : "trailing"), cell(e.kind.replace(/_/g, " ")),
        cell(e.state), cell(e.price, "num"), cell(e.stop_before, "num"), cell(e.stop_after, "num"),
        cell(e.reason), cell(e.order_id), cell(e.detail),
      );
      body.appendChild(tr);
    }
    $("position-events-empty").hidden = events.length > 0;
    $("position-events-symbol").textContent = symbol ? symbol : "";
  }

  async function getJson(url) {
    const resp = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (!resp.ok) throw new Error(url + ": HTTP " + resp.status);
    return resp.json();
  }

  async function refresh() {
    try {
      const listing = await getJson("/api/dashboard/events/symbols");
      const select = $("position-events-pick");
      const wanted = new URLSearchParams(location.search).get("symbol");
      const symbols = listing.symbols;
      if (!chosen || !symbols.includes(chosen)) chosen = (wanted && symbols.includes(wanted)) ? wanted : symbols[0] || null;
      select.replaceChildren(...symbols.map((s) => {
        const o = document.createElement("option");
        o.value = s; o.textContent = s + (listing.open.includes(s) ? "" : " (closed)"); o.selected = s === chosen;
        return o;
      }));
      if (!chosen) { render(null, []); return; }
      const data = await getJson("/api/dashboard/events?symbol=" + encodeURIComponent(chosen) + "&limit=50");
      render(data.symbol, data.events);
      $("position-events-error").hidden = true;
    } catch (err) {
      const box = $("position-events-error");
      box.textContent = String(err.message || err);
      box.hidden = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!$("position-events")) return;
    $("position-events-pick").addEventListener("change", (ev) => { chosen = ev.target.value; refresh(); });
    refresh();
    setInterval(refresh, POLL_MS);
  });
})();
