// Draws the battery's forecast curves (one per parameter: each .forecast-curve element names the
// <script type="application/json"> holding its figure in data-figure) with the plotly.js the
// page's Dash app loads; waits for it (Dash loads plotly.js asynchronously). No inline script (CSP).
(function () {
  "use strict";
  var charts = [];
  document.querySelectorAll(".forecast-curve[data-figure]").forEach(function (target) {
    var data = document.getElementById(target.getAttribute("data-figure"));
    if (data) charts.push({target: target, figure: JSON.parse(data.textContent)});
  });
  if (!charts.length) return;
  var tries = 0;
  function draw() {
    if (window.Plotly && window.Plotly.newPlot) {
      charts.forEach(function (c) {
        window.Plotly.newPlot(c.target, c.figure.data, c.figure.layout,
                              {displaylogo: false, responsive: true});
      });
    } else if (tries++ < 150) {
      window.setTimeout(draw, 200);
    } else {
      charts.forEach(function (c) { c.target.textContent = "The chart library did not load."; });
    }
  }
  draw();
})();
