/* Live table of the site dashboard: polls the site's live.json at the scan rate and updates
   the bank cards and the battery rows in place (no page reload), keeping the user's sort. */
(function () {
  "use strict";
  var table = document.getElementById("live-table");
  if (!table || !window.fetch) return;
  var url = table.getAttribute("data-url");
  var every = Math.max(parseInt(table.getAttribute("data-refresh-ms"), 10) || 10000, 5000);
  var DIGITS = { voltage: 3, temperature: 1, dcr: 3, dcr_pct: 1, micro_voltage: 3, emf: 3 };
  var KEYS = ["bank", "position", "voltage", "temperature", "dcr", "dcr_pct", "micro_voltage", "emf", "level", "ts_local"];

  function badge(level) {
    var span = document.createElement("span");
    span.className = "status " + level;
    span.title = "status: " + level;
    span.textContent = level;
    return span;
  }

  function fill(cell, key, b) {
    var value = b[key];
    cell.setAttribute("data-key", key);
    cell.textContent = "";
    if (key === "level") {
      cell.title = b.reason || "";
      cell.appendChild(badge(value));
    } else if (key === "position") {
      cell.setAttribute("data-value", value);
      var a = document.createElement("a");
      a.href = b.url;
      a.textContent = "#" + value;
      cell.appendChild(a);
    } else if (key === "ts_local") {
      cell.setAttribute("data-value", b.ts || "");
      cell.textContent = value || "never";
    } else if (key in DIGITS) {
      cell.setAttribute("data-value", value === null ? "" : value);
      cell.textContent = value === null ? "-" : Number(value).toFixed(DIGITS[key]);
    } else {
      cell.textContent = value;
    }
  }

  function updateRows(batteries) {
    var body = table.tBodies[0];
    var existing = {};
    Array.prototype.forEach.call(body.rows, function (r) { existing[r.getAttribute("data-id")] = r; });
    var seen = {};
    batteries.forEach(function (b) {
      var row = existing[String(b.id)];
      if (!row) {
        row = body.insertRow(-1);
        row.setAttribute("data-id", b.id);
        KEYS.forEach(function () { row.insertCell(-1); });
      }
      row.className = "lvl-" + b.level;
      KEYS.forEach(function (key, i) { fill(row.cells[i], key, b); });
      seen[String(b.id)] = true;
    });
    Object.keys(existing).forEach(function (id) { if (!seen[id]) existing[id].remove(); });
    if (window.bmsTable) window.bmsTable.resort(table);
  }

  function updateBanks(banks) {
    banks.forEach(function (bank) {
      var card = document.querySelector('[data-bank="' + bank.id + '"]');
      if (!card) return;
      card.className = "card bank lvl-" + bank.level;
      card.querySelectorAll("[data-key]").forEach(function (el) {
        var key = el.getAttribute("data-key");
        if (key === "level") { el.textContent = ""; el.appendChild(badge(bank.level)); }
        else if (key === "state") { el.className = "state " + bank.state; el.textContent = bank.state; }
        else if (key === "ts_local") { el.textContent = bank.ts_local || "never"; }
        else { el.textContent = bank[key] === null ? "-" : bank[key]; }
      });
    });
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) {
        updateBanks(data.banks);
        updateRows(data.batteries);
        var status = document.getElementById("site-status");
        if (status) { status.textContent = ""; status.appendChild(badge(data.level)); }
        var last = document.getElementById("last-data");
        if (last) last.textContent = data.last_data || "never";
        var stamp = document.getElementById("refreshed");
        if (stamp) stamp.textContent = "updated " + data.generated;
        table.dataset.refreshCount = String((parseInt(table.dataset.refreshCount, 10) || 0) + 1);
      })
      .catch(function () {
        var stamp = document.getElementById("refreshed");
        if (stamp) stamp.textContent = "refresh failed, retrying";
      })
      .finally(function () { window.setTimeout(refresh, every); });
  }

  window.setTimeout(refresh, every);
})();
