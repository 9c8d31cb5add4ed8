// rung ui, /monitoring/NAME: drift, live performance and health per stored window, drawn
// with ECharts, the alias moves (solid) and the automation decisions (dashed) marked on the
// time axis. The data come from the page itself (data-series, the same dict as
// /api/monitoring/NAME); every text is drawn by ECharts as text, never as HTML.
(function () {
  "use strict";
  var holder = document.getElementById("monitoring-charts");
  if (!holder || !window.echarts) { return; }
  var data = JSON.parse(holder.getAttribute("data-series"));
  var windows = data.windows || [];

  function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }
  function points(get) {
    return windows.map(function (w) { return [w.at * 1000, num(get(w))]; });
  }
  function esc(text) { return window.echarts.format.encodeHTML(String(text)); }

  var marks = [];
  (data.moves || []).forEach(function (e) {
    marks.push({
      xAxis: e.at * 1000,
      name: e.alias + " → " + e.to_version,
      lineStyle: { color: "#1f6feb", type: "solid" },
      label: { formatter: e.alias + " → " + e.to_version, color: "#1f6feb" }
    });
  });
  (data.jobs || []).forEach(function (j) {
    var what = "job " + j.id + " " + (j.decision || j.state);
    marks.push({
      xAxis: j.at * 1000,
      name: what,
      lineStyle: { color: "#b54708", type: "dashed" },
      label: { formatter: what, color: "#b54708", position: "insideEndTop" }
    });
  });
  var low = windows.length ? windows[0].at * 1000 : null;
  var high = windows.length ? windows[windows.length - 1].at * 1000 : null;
  marks.forEach(function (m) {
    low = low === null ? m.xAxis : Math.min(low, m.xAxis);
    high = high === null ? m.xAxis : Math.max(high, m.xAxis);
  });

  function tooltip(params) {
    var lines = [];
    if (params.length) { lines.push(esc(new Date(params[0].value[0]).toISOString().replace("T", " ").slice(0, 19))); }
    params.forEach(function (p) {
      var v = p.value[1];
      lines.push(esc(p.seriesName) + ": " + esc(v === null ? "—" : (Math.round(v * 10000) / 10000)));
    });
    return lines.join("<br>");
  }

  function draw(id, series, axes) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var chart = window.echarts.init(el);
    series.forEach(function (s) { s.type = s.type || "line"; s.showSymbol = true; s.connectNulls = false; });
    if (series.length) {
      series[0].markLine = { symbol: "none", silent: true, data: marks };
    }
    chart.setOption({
      animation: false,
      useUTC: true,
      tooltip: { trigger: "axis", formatter: tooltip },
      legend: { top: 0 },
      grid: { left: 60, right: 60, top: 40, bottom: 40 },
      xAxis: { type: "time", min: low, max: high },
      yAxis: axes,
      series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  draw("chart-drift", [
    { name: "drifted features", data: points(function (w) { return w.drifted.length; }), step: "end" },
    { name: "features checked", data: points(function (w) { return w.features; }), step: "end", lineStyle: { type: "dotted" } },
    { name: "predictions drifted", data: points(function (w) { return w.prediction_drift ? (w.prediction_drift.drift ? 1 : 0) : null; }), step: "end" }
  ], [{ type: "value", name: "features", minInterval: 1 }]);

  var metrics = ["accuracy", "log_loss", "mae", "rmse", "r2"].filter(function (m) {
    return windows.some(function (w) { return num(w.performance[m]) !== null; });
  });
  var perf = metrics.map(function (m) {
    return { name: m, data: points(function (w) { return w.performance[m]; }) };
  });
  perf.push({ name: "labelled rows", type: "bar", yAxisIndex: 1, data: points(function (w) { return w.performance.labelled; }), itemStyle: { opacity: 0.3 } });
  draw("chart-performance", perf, [{ type: "value", name: "metric", scale: true }, { type: "value", name: "labelled rows", minInterval: 1 }]);

  draw("chart-health", [
    { name: "p50 ms", data: points(function (w) { return w.health.p50_ms; }) },
    { name: "p95 ms", data: points(function (w) { return w.health.p95_ms; }) },
    { name: "p99 ms", data: points(function (w) { return w.health.p99_ms; }) },
    { name: "error rate %", yAxisIndex: 1, data: points(function (w) { var r = num(w.health.error_rate); return r === null ? null : r * 100; }) }
  ], [{ type: "value", name: "latency (ms)" }, { type: "value", name: "errors (%)", min: 0 }]);

  // each feature's verdict per window: drifted (1) or not (0), its statistic in the tooltip
  var features = [];
  windows.forEach(function (w) {
    Object.keys(w.drift || {}).forEach(function (name) {
      if (features.indexOf(name) < 0) { features.push(name); }
    });
  });
  var cells = [];
  windows.forEach(function (w, i) {
    features.forEach(function (name, j) {
      var v = (w.drift || {})[name];
      if (v) { cells.push([i, j, v.drift ? 1 : 0]); }
    });
  });
  var heat = document.getElementById("chart-features");
  if (heat && features.length) {
    heat.style.height = Math.max(160, 60 + 18 * features.length) + "px";
    var chart = window.echarts.init(heat);
    chart.setOption({
      animation: false,
      tooltip: {
        formatter: function (p) {
          var w = windows[p.value[0]], name = features[p.value[1]], v = w.drift[name];
          return esc("window " + w.id + " · " + name) + "<br>" +
            esc(v.statistic + " " + (num(v.value) === null ? v.value : Math.round(v.value * 10000) / 10000) +
                " (threshold " + v.threshold + "): " + (v.drift ? "drifted" : "no drift"));
        }
      },
      grid: { left: 140, right: 40, top: 10, bottom: 50 },
      xAxis: { type: "category", name: "window", data: windows.map(function (w) { return String(w.id); }) },
      yAxis: { type: "category", data: features, inverse: true },
      visualMap: { show: false, min: 0, max: 1, inRange: { color: ["#e8f3ec", "#b42318"] } },
      series: [{ name: "drifted", type: "heatmap", data: cells }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
})();
