// Draws the battery's DCR forecast (figure JSON in #forecast-curve-data) with the plotly.js the
// page's Dash app loads; waits for it (Dash loads plotly.js asynchronously). No inline script (CSP).
(function () {
  "use strict";
  var data = document.getElementById("forecast-curve-data");
  var target = document.getElementById("forecast-curve");
  if (!data || !target) return;
  var figure = JSON.parse(data.textContent);
  var tries = 0;
  function draw() {
    if (window.Plotly && window.Plotly.newPlot) {
      window.Plotly.newPlot(target, figure.data, figure.layout, {displaylogo: false, responsive: true});
    } else if (tries++ < 150) {
      window.setTimeout(draw, 200);
    } else {
      target.textContent = "The chart library did not load.";
    }
  }
  draw();
})();
