// rung ui: the lineage graph (ECharts "graph" series over the layout the server computed).
// The data comes from the page's <script type="application/json"> (written with tojson);
// the tooltip escapes every text it shows; a click opens the node's page (a local path).
(function () {
  "use strict";
  var KIND = {
    dataset: { symbol: "roundRect", color: "#1f5fa8", size: [26, 18] },
    step: { symbol: "circle", color: "#9a6700", size: 18 },
    artifact: { symbol: "diamond", color: "#6b7280", size: 16 },
    model: { symbol: "triangle", color: "#1b7a3d", size: 22 },
    evaluation: { symbol: "pin", color: "#7c3aed", size: 24 },
    code: { symbol: "rect", color: "#b42318", size: 14 }
  };
  var holder = document.getElementById("lineage-chart");
  var source = document.getElementById("lineage-data");
  var select = document.getElementById("lineage-select");
  if (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  }
  if (!holder || !source || typeof echarts === "undefined") { return; }
  var graph = JSON.parse(source.textContent);
  var kinds = graph.kinds.filter(function (k) {
    return graph.nodes.some(function (n) { return n.kind === k; });
  });
  var perLayer = {};
  graph.nodes.forEach(function (n) { perLayer[n.layer] = (perLayer[n.layer] || 0) + 1; });
  var tallest = Math.max.apply(null, Object.keys(perLayer).map(function (k) { return perLayer[k]; }).concat([1]));
  holder.style.height = Math.min(900, Math.max(360, tallest * 56 + 80)) + "px";
  // the series' box in pixels: node positions are given in it, and two invisible corner
  // nodes pin the box, so that ECharts fits it 1:1 (no stretched symbols)
  var BOX = { top: 50, bottom: 40, left: 100, right: 130 };
  var width = Math.max(200, holder.clientWidth - BOX.left - BOX.right);
  var height = Math.max(120, parseInt(holder.style.height, 10) - BOX.top - BOX.bottom);
  var columns = Math.max(1, graph.layers - 1);
  var gap = Math.min(70, height / Math.max(1, tallest - 1));
  var roomy = gap >= 30;
  var shrink = Math.max(0.3, Math.min(1, gap / 30));
  function sized(size, factor) {
    return Array.isArray(size) ? [size[0] * factor, size[1] * factor] : size * factor;
  }
  var esc = echarts.format.encodeHTML;
  function local(url) { return typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/" && url.charAt(1) !== "\\"; }
  var nodes = graph.nodes.map(function (n) {
    var look = KIND[n.kind] || KIND.artifact;
    var count = perLayer[n.layer];
    return {
      id: n.id,
      name: n.id,
      value: n.label,
      x: graph.layers > 1 ? n.layer * width / columns : width / 2,
      y: height / 2 + (n.order - (count - 1) / 2) * gap,
      category: kinds.indexOf(n.kind),
      symbol: look.symbol,
      symbolSize: sized(look.size, n.root ? 1.5 : shrink),
      itemStyle: n.root ? { borderColor: "#111", borderWidth: 2 } : undefined,
      // labels only where they fit; a crowded column shows each label on hover
      label: { show: roomy || n.root, position: "bottom", formatter: n.label.length > 30 ? n.label.slice(0, 29) + "…" : n.label },
      emphasis: { label: { show: true } },
      node: n
    };
  });
  [[0, 0], [width, height]].forEach(function (xy, i) {
    nodes.push({ id: "\u0000corner" + i, name: "\u0000corner" + i, x: xy[0], y: xy[1], symbolSize: 0,
                 label: { show: false }, silent: true, tooltip: { show: false }, node: null });
  });
  var chart = echarts.init(holder, null, { renderer: "svg" });
  chart.setOption({
    animation: false,
    tooltip: {
      confine: true,
      formatter: function (p) {
        if (p.dataType !== "node" || !p.data.node) { return ""; }
        var n = p.data.node;
        var lines = ["<b>" + esc(n.kind) + "</b> " + esc(n.label)];
        Object.keys(n.detail || {}).forEach(function (k) {
          var v = n.detail[k];
          var text = typeof v === "string" ? v : JSON.stringify(v);
          if (text.length > 120) { text = text.slice(0, 119) + "…"; }
          lines.push(esc(k) + ": " + esc(text));
        });
        if (local(n.url)) { lines.push("<i>click to open</i>"); }
        return lines.join("<br>");
      }
    },
    legend: { data: kinds, top: 0 },
    series: [{
      type: "graph",
      layout: "none",
      roam: true,
      top: BOX.top, bottom: BOX.bottom, left: BOX.left, right: BOX.right,
      categories: kinds.map(function (k) { return { name: k, itemStyle: { color: (KIND[k] || KIND.artifact).color } }; }),
      data: nodes,
      links: graph.edges.map(function (e) { return { source: e.source, target: e.target }; }),
      edgeSymbol: ["none", "arrow"],
      edgeSymbolSize: 7,
      lineStyle: { color: "#9aa4af", width: 1.2, curveness: 0.08 },
      emphasis: { focus: "adjacency" },
      labelLayout: { hideOverlap: true }
    }]
  });
  chart.on("click", function (p) {
    if (p.dataType === "node" && p.data && local(p.data.node.url)) {
      window.location.assign(p.data.node.url);
    }
  });
  window.addEventListener("resize", function () { chart.resize(); });
  holder.setAttribute("data-drawn", String(graph.nodes.length));
})();
