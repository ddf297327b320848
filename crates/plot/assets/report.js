// llmsweep report: sortable tables and the charts, from the JSON in #report-data.
// Runs offline: the only library is the inlined Apache ECharts.
(function () {
  "use strict";

  // --- sortable tables -------------------------------------------------------------
  function cellKey(td) {
    if (!td) return { num: false, v: "" };
    var v = td.getAttribute("data-v");
    if (v !== null && v !== "") return { num: true, v: parseFloat(v) };
    return { num: false, v: td.textContent.trim().toLowerCase() };
  }
  function sortTable(table, col, th) {
    var body = table.tBodies[0];
    if (!body) return;
    var desc = th.classList.contains("asc");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      c.classList.remove("asc", "desc");
    });
    th.classList.add(desc ? "desc" : "asc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a.cells[col]), y = cellKey(b.cells[col]);
      var r;
      if (x.num && y.num) r = x.v - y.v;
      else if (x.num !== y.num) r = x.num ? -1 : 1;
      else r = x.v < y.v ? -1 : x.v > y.v ? 1 : 0;
      return desc ? -r : r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortTable(table, col, th); });
    });
  });

  // --- charts ----------------------------------------------------------------------
  var dataEl = document.getElementById("report-data");
  if (!dataEl || typeof echarts === "undefined") return;
  var data = JSON.parse(dataEl.textContent);
  var PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3",
                 "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"];
  var SYMBOLS = ["circle", "rect", "triangle", "diamond", "pin"];
  var charts = [];

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return String(v);
    if (Math.abs(v) >= 1000 || Number.isInteger(v)) return Math.round(v).toLocaleString("en");
    return Number(v.toPrecision(4)).toString();
  }
  function marker(i) { return SYMBOLS[(i + Math.floor(i / PALETTE.length)) % SYMBOLS.length]; }

  // ECharts picks round bounds itself ("scale: true" leaves out zero).
  function axis(spec, gridIndex, showName, gap) {
    var sq = spec.scale === "sqrt";
    return {
      gridIndex: gridIndex, type: spec.scale === "log" ? "log" : "value", scale: true,
      name: showName ? spec.title : "", nameLocation: "middle", nameGap: gap,
      axisLabel: { formatter: function (v) { return fmt(sq ? v * v : v); }, hideOverlap: true },
      splitLine: { lineStyle: { color: "#e6e6e6" } }
    };
  }
  function tx(scale, v) { return scale === "sqrt" ? Math.sqrt(v) : v; }

  // Panels are placed in pixels from the chart's size (ECharts takes px or %, not calc).
  function curvesOption(fig, W, H) {
    var rows = fig.rows, cols = fig.cols;
    // The legend's entries are values ("16, 2048"): its title names the variables above it.
    var top = fig.legend.length ? (fig.legend_title ? 58 : 40) : 14, left = 34, right = 10, bottom = 20;
    var cellW = (W - left - right) / cols, cellH = (H - top - bottom) / rows;
    var titleH = fig.panels.some(function (p) { return p.title; }) ? 24 : 6;
    var grids = [], xs = [], ys = [], titles = [], series = [];
    if (fig.legend.length && fig.legend_title) {
      titles.push({ text: fig.legend_title, left: "center", top: 2,
                    textStyle: { fontSize: 12, fontWeight: "bold", color: "#222" } });
    }
    fig.panels.forEach(function (p, i) {
      var r = Math.floor(i / cols), c = i % cols;
      var x0 = left + c * cellW, y0 = top + r * cellH;
      grids.push({ left: x0 + 62, width: Math.max(cellW - 84, 40),
                   top: y0 + titleH + 6, height: Math.max(cellH - titleH - 60, 40) });
      xs.push(axis(fig.x, i, r === rows - 1, 30));
      ys.push(axis(fig.y, i, c === 0, 52));
      if (p.title) {
        titles.push({ text: p.title, textStyle: { fontSize: 13, fontWeight: "normal" },
                      left: x0 + 62 + Math.max(cellW - 84, 40) / 2, textAlign: "center", top: y0 });
      }
      p.curves.forEach(function (cv) {
        var name = fig.legend.length ? fig.legend[cv.style] : fig.y.title;
        var color = PALETTE[cv.style % PALETTE.length];
        var pts = cv.points.map(function (q) {
          return [tx(fig.x.scale, q.x), tx(fig.y.scale, q.mean), q.n, q.lo, q.hi];
        });
        if (cv.points.some(function (q) { return q.hi > q.lo; })) {
          series.push({
            type: "custom", name: name, xAxisIndex: i, yAxisIndex: i, silent: true, z: 1,
            data: [pts[0]], tooltip: { show: false },
            itemStyle: { color: color },
            renderItem: function (params, api) {
              var up = cv.points.map(function (q) { return api.coord([tx(fig.x.scale, q.x), tx(fig.y.scale, q.hi)]); });
              var lo = cv.points.map(function (q) { return api.coord([tx(fig.x.scale, q.x), tx(fig.y.scale, q.lo)]); }).reverse();
              return { type: "polygon", shape: { points: up.concat(lo) }, style: { fill: color, opacity: 0.2 } };
            }
          });
        }
        series.push({
          type: "line", name: name, xAxisIndex: i, yAxisIndex: i, data: pts, z: 3,
          symbol: marker(cv.style), symbolSize: 8, color: color, lineStyle: { width: 2 },
          emphasis: { focus: "series" }
        });
      });
    });
    return {
      animation: false,
      title: titles,
      legend: fig.legend.length ? { top: fig.legend_title ? 24 : 4, type: "scroll", data: fig.legend } : { show: false },
      tooltip: {
        trigger: "item",
        formatter: function (it) {
          var d = it.data;
          var y = fig.y.scale === "sqrt" ? d[1] * d[1] : d[1];
          var x = fig.x.scale === "sqrt" ? d[0] * d[0] : d[0];
          var s = (fig.legend_title ? fig.legend_title + " = " + it.seriesName + "<br>" : "") +
            fig.x.var + ": " + fmt(x) + "<br>" + fig.y.var + ": " + fmt(y);
          if (d[2] > 1) s += " (mean of " + d[2] + " runs; 95% CI " + fmt(d[3]) + " – " + fmt(d[4]) + ")";
          return s;
        }
      },
      grid: grids, xAxis: xs, yAxis: ys, series: series
    };
  }

  function paretoOption(p) {
    var front = p.frontier.map(function (i) { return p.points[i]; });
    var all = p.points.map(function (q) { return [q.x, q.y, q.combination, q.label.join(", ")]; });
    return {
      animation: false,
      legend: { top: 4, data: ["All runs", "Pareto frontier"] },
      tooltip: {
        trigger: "item",
        formatter: function (it) {
          var d = it.data;
          return (d[2] ? d[2] + "<br>" : "") + (d[3] ? d[3] + "<br>" : "") +
            "tokens/s/user: " + fmt(d[0]) + "<br>tokens/s/GPU: " + fmt(d[1]);
        }
      },
      grid: { left: 80, right: 150, top: 50, bottom: 60 },
      xAxis: { type: "value", name: p.x_title, nameLocation: "middle", nameGap: 34, scale: true,
               axisLabel: { formatter: fmt, hideOverlap: true } },
      yAxis: { type: "value", name: p.y_title, nameLocation: "middle", nameGap: 60, scale: true,
               axisLabel: { formatter: fmt } },
      series: [
        { type: "scatter", name: "All runs", data: all, symbolSize: 8, itemStyle: { color: "#7f7f7f", opacity: 0.55 } },
        { type: "line", name: "Pareto frontier", z: 3, symbol: "circle", symbolSize: 9, color: PALETTE[0],
          lineStyle: { width: 2.5 },
          data: front.map(function (q) { return [q.x, q.y, q.combination, q.label.join(", ")]; }),
          // Above and to the right of each point: the frontier falls to the right, so the
          // line leaves every point down-right and up-left, never through its label.
          label: { show: true, position: [8, 0], align: "left", verticalAlign: "bottom",
                   fontSize: 11, lineHeight: 14, color: "#333",
                   formatter: function (it) { return (it.data[3] || "").split(", ").join("\n"); } },
          labelLayout: { hideOverlap: true } }
      ]
    };
  }

  function startupOption(bars) {
    return {
      animation: false,
      legend: { top: 4, data: ["cold", "warm"] },
      tooltip: { trigger: "axis" },
      grid: { left: 70, right: 30, top: 40, bottom: 110 },
      xAxis: { type: "category", data: bars.map(function (b) { return b.combination; }),
               axisLabel: { rotate: 20, interval: 0 } },
      yAxis: { type: "value", name: "Mean start-up time (s)", nameLocation: "middle", nameGap: 45 },
      series: [
        { type: "bar", name: "cold", color: PALETTE[0], data: bars.map(function (b) { return b.cold; }) },
        { type: "bar", name: "warm", color: PALETTE[1], data: bars.map(function (b) { return b.warm; }) }
      ]
    };
  }

  // make(width, height) builds the option; it is rebuilt when the window resizes.
  function draw(el, make) {
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(make(el.clientWidth, el.clientHeight));
    charts.push({ chart: chart, el: el, make: make });
    // What was drawn as text above the plot (the canvas holds no DOM text), for checks.
    var shown = [].concat(chart.getOption().title || []).map(function (t) { return t.text; });
    el.setAttribute("data-titles", shown.join(" | "));
    el.setAttribute("data-drawn", "1");
  }
  Array.prototype.forEach.call(document.querySelectorAll(".chart"), function (el) {
    var kind = el.getAttribute("data-kind");
    if (kind === "curves") {
      var fig = data.figures[+el.getAttribute("data-index")];
      draw(el, function (w, h) { return curvesOption(fig, w, h); });
    } else if (kind === "pareto" && data.pareto) {
      draw(el, function () { return paretoOption(data.pareto); });
    } else if (kind === "startup" && data.startup.length) {
      draw(el, function () { return startupOption(data.startup); });
    }
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) {
      c.chart.resize();
      c.chart.setOption(c.make(c.el.clientWidth, c.el.clientHeight), true);
    });
  });
})();
