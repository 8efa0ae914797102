/* The console's one way to draw a chart: ConsoleCharts.line(el, data, opts) over the vendored uPlot.
 *
 * data: uPlot's aligned columns [xs, ys1, ys2, …] (null = no point).
 * opts: {title, labels: [...], unit, time: bool (xs are Unix seconds), log: bool, yMin, yMax,
 *        limit, limitLabel, colors: [...], height, xLabel}
 * Hover shows the values in the legend; drag on the plot zooms, double-click zooms back out.
 *
 * Also here, because every chart of the console comes from this file:
 *  - [data-chart] elements (a JSON {data, opts}) are drawn on load and after each HTMX swap
 *    (the CPU/memory charts of a task);
 *  - [data-scalars-url] panels: the metrics a training script logged, one chart per metric,
 *    polled every 2 s while the job runs, with step/time, smoothing and log-scale controls.
 */
(function () {
  "use strict";
  var COLORS = ["#2468f2", "#1b8a4b", "#b86e00", "#b5179e", "#6c5ce7", "#00838f", "#c0392b", "#7f8c8d"];

  function fmt(v) {
    if (v == null || !isFinite(v)) return "—";
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return String(Math.round(v * 1e4) / 1e4);
  }

  function line(el, data, opts) {
    opts = opts || {};
    var labels = opts.labels || [];
    var colors = opts.colors || COLORS;
    var series = [{ label: opts.xLabel || (opts.time ? "time" : "step"), value: opts.time ? undefined : function (u, v) { return v == null ? "—" : String(v); } }];
    for (var i = 1; i < data.length; i++) {
      series.push({
        label: labels[i - 1] || "",
        stroke: colors[(i - 1) % colors.length],
        width: 1.5,
        spanGaps: false,
        points: { show: data[0].length < 2 },
        value: function (u, v) { return fmt(v) + (opts.unit ? " " + opts.unit : ""); },
      });
    }
    if (opts.limit != null) {
      series.push({ label: opts.limitLabel || "limit", stroke: "#c0392b", dash: [4, 4], width: 1, points: { show: false } });
      data = data.concat([data[0].map(function () { return opts.limit; })]);
    }
    var y = { auto: opts.yMax == null };
    if (opts.log) y = { distr: 3, auto: true };
    else if (opts.yMax != null) y.range = [opts.yMin || 0, opts.yMax];
    var width = Math.max(240, el.clientWidth || 480);
    var chart = new uPlot(
      {
        title: opts.title || "",
        width: width,
        height: opts.height || 200,
        scales: { x: { time: !!opts.time }, y: y },
        series: series,
        axes: [{}, { size: 56, values: function (u, vals) { return vals.map(function (v) { return v == null ? "" : fmt(v); }); } }],
        cursor: { drag: { x: true, y: false, setScale: true } },
        legend: { live: true },
      },
      data,
      el
    );
    el._consoleChart = chart;
    if (window.ResizeObserver && !el._consoleResize) {
      el._consoleResize = new ResizeObserver(function () {
        var c = el._consoleChart;
        if (c && el.clientWidth && Math.abs(el.clientWidth - c.width) > 4) c.setSize({ width: el.clientWidth, height: c.height });
      });
      el._consoleResize.observe(el);
    }
    return chart;
  }

  /* TensorBoard's smoothing: a debiased exponential moving average; weight 0 = raw, 0.99 = very smooth. */
  function ema(ys, weight) {
    if (!weight) return ys;
    var out = new Array(ys.length), last = 0, n = 0;
    for (var i = 0; i < ys.length; i++) {
      var v = ys[i];
      if (v == null || !isFinite(v)) { out[i] = v; continue; }
      last = last * weight + (1 - weight) * v;
      n++;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  }

  function redraw(el, data, opts) {
    var chart = el._consoleChart;
    var same = chart && chart._consoleKey === JSON.stringify([opts.log, opts.time, opts.labels, data.length]);
    if (same) {
      var zoomed = chart.scales.x.min > data[0][0] || chart.scales.x.max < data[0][data[0].length - 1];
      chart.setData(data, !zoomed);
      return chart;
    }
    if (chart) chart.destroy();
    el.innerHTML = "";
    chart = line(el, data, opts);
    chart._consoleKey = JSON.stringify([opts.log, opts.time, opts.labels, data.length]);
    return chart;
  }

  /* --- [data-chart]: a chart whose data and options are in the page ------------------------- */
  function drawStatic(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(function (el) {
      try {
        var spec = JSON.parse(el.getAttribute("data-chart"));
        redraw(el, spec.data, spec.opts);
      } catch (e) { /* a chart that cannot be drawn leaves the rest of the page alone */ }
    });
  }

  /* --- [data-scalars-url]: the metrics a script logged --------------------------------------- */
  function positive(ys) {
    // A log scale has no place for zero or below: those points are left out, not drawn at -∞.
    return ys.map(function (v) { return v != null && v > 0 ? v : null; });
  }

  function aligned(curve, smoothing, log) {
    // Tasks log at their own steps: the union of xs, one column per task.
    var tasks = (curve.tasks || []).map(function (t) {
      var ys = ema(t.ys, smoothing);
      return { xs: t.xs, ys: log ? positive(ys) : ys };
    });
    if (tasks.length === 1) return [tasks[0].xs, tasks[0].ys];
    var seen = {}, xs = [];
    tasks.forEach(function (t) { t.xs.forEach(function (x) { if (!seen[x]) { seen[x] = 1; xs.push(x); } }); });
    xs.sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (x, i) { index[x] = i; });
    var columns = [xs];
    tasks.forEach(function (t) {
      var col = new Array(xs.length).fill(null);
      t.xs.forEach(function (x, i) { col[index[x]] = t.ys[i]; });
      columns.push(col);
    });
    return columns;
  }

  function scalarPanel(panel) {
    var url = panel.getAttribute("data-scalars-url");
    var grid = panel.querySelector("[data-scalar-charts]");
    var state = panel.querySelector("[data-scalar-state]");
    var xToggle = panel.querySelector("[data-scalar-x]");
    var logToggle = panel.querySelector("[data-scalar-log]");
    var slider = panel.querySelector("[data-scalar-smoothing]");
    var sliderValue = panel.querySelector("[data-scalar-smoothing-value]");
    var live = panel.getAttribute("data-live") === "1";
    var last = null, timer = null;

    function render() {
      if (!last) return;
      var smoothing = slider ? Number(slider.value) : 0;
      if (sliderValue) sliderValue.textContent = smoothing.toFixed(2);
      var time = last.x === "time";
      last.names.forEach(function (name) {
        var curve = last.curves[name];
        if (!curve) return;
        var box = grid.querySelector('[data-scalar="' + CSS.escape(name) + '"]');
        if (!box) {
          box = document.createElement("div");
          box.className = "scalar-chart";
          box.setAttribute("data-scalar", name);
          var plot = document.createElement("div");
          plot.className = "scalar-plot";
          var links = document.createElement("div");
          links.className = "scalar-links";
          ["csv", "json"].forEach(function (format) {
            var a = document.createElement("a");
            a.href = last.download + "?name=" + encodeURIComponent(name) + "&format=" + format;
            a.textContent = format.toUpperCase();
            a.setAttribute("download", "");
            links.appendChild(a);
            links.appendChild(document.createTextNode(" "));
          });
          box.appendChild(plot);
          box.appendChild(links);
          grid.appendChild(box);
        }
        var labels = curve.tasks.map(function (t) { return t.task; });
        var log = !!(logToggle && logToggle.checked);
        redraw(box.querySelector(".scalar-plot"), aligned(curve, smoothing, log), {
          title: name, labels: labels, time: time, log: log,
          xLabel: panel.getAttribute(time ? "data-x-time" : "data-x-step") || undefined,
        });
      });
      var empty = panel.querySelector("[data-scalar-empty]");
      if (empty) empty.hidden = last.names.length > 0;
      if (state) {
        var parts = [];
        if (last.usage && last.usage.capped) parts.push(panel.getAttribute("data-capped").replace("%(cap)s", last.usage.cap));
        if (last.usage && last.usage.names_capped) parts.push(panel.getAttribute("data-names-capped").replace("%(cap)s", last.usage.name_cap));
        state.textContent = parts.join(" ");
      }
    }

    function load() {
      var x = xToggle && xToggle.checked ? "time" : "step";
      var width = Math.max(300, Math.min(2000, Math.round(grid.clientWidth || 600)));
      fetch(url + "?x=" + x + "&max_points=" + width, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) return;
          last = body;
          render();
          if (!body.live) live = false;
        })
        .catch(function () {})
        .then(function () {
          if (live && !document.hidden) timer = setTimeout(load, 2000);
          else if (live) timer = null;
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && live && timer === null) load();
    });
    if (xToggle) xToggle.addEventListener("change", function () { clearTimeout(timer); grid.innerHTML = ""; load(); });
    if (logToggle) logToggle.addEventListener("change", render);
    if (slider) slider.addEventListener("input", render);
    load();
  }

  function init(root) {
    drawStatic(root);
    (root || document).querySelectorAll("[data-scalars-url]").forEach(function (panel) {
      if (panel._consoleScalars) return;
      panel._consoleScalars = true;
      scalarPanel(panel);
    });
  }

  window.ConsoleCharts = { line: line, ema: ema, redraw: redraw, init: init, format: fmt };
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (event) { init(event.target); });
})();
