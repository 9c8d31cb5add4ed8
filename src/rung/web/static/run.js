// rung ui: the charts of a run's page (/runs/ID) and of the compare view (/compare).
// The data comes from the page itself (a <script type="application/json"> element written
// with Jinja2's tojson); text goes into charts as text (canvas) and, in tooltips, escaped.
(function () {
  "use strict";
  // the same run has the same colour in every chart of the compare view
  var PALETTE = ["#5070dd", "#b6d634", "#505372", "#ff994d", "#0ca8df", "#ffd10a", "#fb628b", "#785db0", "#3fbe95"];
  var COLORS = { executed: "#1b7a3d", cached: "#1f5fa8", failed: "#b42318", running: "#9a6700", dataset: "#8a94a0" };

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function chart(el, option) {
    var c = echarts.init(el);
    c.setOption(option);
    window.addEventListener("resize", function () { c.resize(); });
    return c;
  }

  // one line chart per metric: series = [{name, points: [[step, value|null]]}]
  function metricCharts(history, seriesOf, legend) {
    var els = document.querySelectorAll(".metric-chart");
    Array.prototype.forEach.call(els, function (el) {
      var key = el.getAttribute("data-metric");
      var series = seriesOf(history[key] || {});
      chart(el, {
        animation: false,
        grid: { left: 60, right: 20, top: legend ? 40 : 20, bottom: 40 },
        legend: legend ? { type: "scroll", top: 0 } : undefined,
        tooltip: { trigger: "axis" },
        xAxis: { type: "value", name: "step", nameLocation: "middle", nameGap: 25, minInterval: 1 },
        yAxis: { type: "value", scale: true },
        series: series.map(function (s) {
          return { name: s.name, type: "line", data: s.points, showSymbol: s.points.length < 50, connectNulls: false, color: s.color };
        })
      });
    });
  }

  function stepGraph(graph) {
    var el = document.getElementById("step-graph");
    if (!el || !graph || !graph.nodes.length) { return; }
    var rows = 0, layerOf = {};
    graph.nodes.forEach(function (n) { rows = Math.max(rows, n.row); layerOf[n.id] = n.layer; });
    el.style.height = Math.min(900, Math.max(200, 90 * (rows + 1) + 100)) + "px";  // wider: zoom and pan
    var nodes = graph.nodes.map(function (n) {
      var state = n.kind === "dataset" ? "dataset" : n.status === "failed" ? "failed" : n.status === "running" ? "running" : n.cache_hit ? "cached" : "executed";
      return {
        id: n.id, name: n.id, value: n.name, x: n.layer * 320, y: n.row * 90,
        symbol: n.kind === "dataset" ? "rect" : "roundRect", symbolSize: [150, 40],
        itemStyle: { color: COLORS[state] },
        label: { show: true, color: "#fff", formatter: function () { return n.name.length > 22 ? n.name.slice(0, 21) + "…" : n.name; } },
        tip: n.kind === "dataset" ? "dataset " + n.name
          : n.name + " · " + n.status + " · cache " + (n.cache_hit ? "hit" : "miss") + (n.seconds == null ? "" : " · " + (n.seconds < 1 ? Math.round(n.seconds * 1000) + " ms" : n.seconds.toFixed(1) + " s"))
      };
    });
    // two invisible points above and below the steps leave room for the bent edges
    [["_above", -100], ["_below", rows * 90 + 70]].forEach(function (a) {
      nodes.push({ id: a[0], name: a[0], x: 0, y: a[1], symbolSize: 0, label: { show: false }, tooltip: { show: false }, tip: "" });
    });
    chart(el, {
      animation: false,
      tooltip: { formatter: function (p) { return esc(p.data.tip); } },
      series: [{
        type: "graph", layout: "none", roam: true, data: nodes,
        edgeSymbol: ["none", "arrow"], edgeSymbolSize: 9,
        lineStyle: { color: "#8a94a0", width: 1.5, curveness: 0 },
        edgeLabel: { show: true, fontSize: 11, formatter: function (p) { return p.data.name; } },
        links: graph.edges.map(function (e) {
          // an edge that skips a layer bends, so that it does not run through the steps between
          var skips = layerOf[e.target] - layerOf[e.source] > 1;
          return { source: e.source, target: e.target, name: e.name, tip: e.name, lineStyle: { curveness: skips ? 0.35 : 0 } };
        })
      }]
    });
  }

  function parallel(par, runs) {
    var el = document.getElementById("parallel");
    if (!el || !par || !par.axes.length) { return; }
    chart(el, {
      animation: false,
      parallel: { left: 60, right: 80, top: 50, bottom: 30 },
      parallelAxis: par.axes.map(function (a, i) {
        var axis = { dim: i, name: a.name, nameTextStyle: { fontSize: 11 } };
        if (a.type === "category") { axis.type = "category"; axis.data = a.data; } else { axis.type = "value"; axis.scale = true; }
        return axis;
      }),
      legend: { type: "scroll", top: 0 },
      series: par.lines.map(function (l) {
        return { name: "run " + l.run, type: "parallel", color: colorOf(runs, l.run), lineStyle: { width: 2, opacity: 0.8 }, data: [l.values] };
      })
    });
  }

  function colorOf(runs, id) {
    var i = runs.indexOf(Number(id));
    return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
  }

  var run = data("run-data");
  if (run) {
    stepGraph(run.graph);
    metricCharts(run.history, function (points) { return [{ name: "value", points: points, color: PALETTE[0] }]; }, false);
  }
  var cmp = data("compare-data");
  if (cmp) {
    parallel(cmp.parallel, cmp.runs);
    metricCharts(cmp.history, function (byRun) {
      return Object.keys(byRun).map(function (id) { return { name: "run " + id, points: byRun[id], color: colorOf(cmp.runs, id) }; });
    }, true);
    var box = document.getElementById("only-differences");
    if (box) {
      box.addEventListener("change", function () {
        document.getElementById("all-field").value = box.checked ? "false" : "true";
        document.getElementById("compare-options").submit();
      });
    }
  }
})();
