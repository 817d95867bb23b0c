/* Client-side sorting of any table.sortable: click (or Enter on) a header to sort by that
   column, again to reverse. Cells sort by their data-value when present, else their text;
   data-sort="num" headers compare numbers (empty cells last). The state is kept on the table
   so live.js can re-apply it after a refresh (window.bmsTable.resort). */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    return cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
  }

  function compare(a, b, numeric) {
    if (numeric) {
      var x = parseFloat(a), y = parseFloat(b);
      var xn = isNaN(x), yn = isNaN(y);
      if (xn || yn) return xn === yn ? 0 : (xn ? 1 : -1);
      return x - y;
    }
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  function sortTable(table, index, descending) {
    var header = table.tHead.rows[0].cells[index];
    var numeric = header.getAttribute("data-sort") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > 1; });
    rows.sort(function (r1, r2) {
      var c = compare(cellValue(r1, index), cellValue(r2, index), numeric);
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute("aria-sort", i === index ? (descending ? "descending" : "ascending") : "none");
    });
    table.dataset.sortIndex = String(index);
    table.dataset.sortDesc = descending ? "1" : "0";
  }

  function resort(table) {
    if (table.dataset.sortIndex !== undefined) {
      sortTable(table, parseInt(table.dataset.sortIndex, 10), table.dataset.sortDesc === "1");
    }
  }

  function init(table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      if (!th.hasAttribute("data-sort")) return;
      th.tabIndex = 0;
      th.setAttribute("role", "button");
      var go = function () {
        var same = table.dataset.sortIndex === String(index);
        sortTable(table, index, same && table.dataset.sortDesc !== "1");
      };
      th.addEventListener("click", go);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") go(); });
    });
  }

  window.bmsTable = { resort: resort, sort: sortTable };
  document.querySelectorAll("table.sortable").forEach(init);
})();
