/* The comparison page: one chart per metric, one series per job, drawn with ConsoleCharts.line. */
(function () {
  "use strict";
  function draw() {
    var source = document.getElementById("compare-data");
    if (!source || !window.ConsoleCharts) return;
    var charts = JSON.parse(source.textContent);
    var colors = ["#2468f2", "#1b8a4b", "#b86e00", "#b5179e", "#6c5ce7"];
    document.querySelectorAll(".compare-plot[data-chart]").forEach(function (el) {
      var chart = charts[Number(el.getAttribute("data-chart"))];
      if (!chart) return;
      // Jobs log at different steps: where a job has no point at another job's step the server sends
      // null; uPlot spans `undefined` (the line goes on) but breaks the line at null.
      var data = chart.data.map(function (column, i) {
        return i === 0 ? column : column.map(function (v) { return v === null ? undefined : v; });
      });
      window.ConsoleCharts.line(el, data, { labels: chart.labels, colors: colors, height: 220 });
    });
    document.querySelectorAll(".swatch[data-series]").forEach(function (el) {
      el.style.background = colors[Number(el.getAttribute("data-series")) % colors.length];
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
