/**
 * The report page's inline script (plain ES2017, no dependencies, so the page works offline).
 * It reads the JSON payload embedded by html.ts ({runs, charts, colors}) and draws each chart as
 * an SVG: nice-number axes with tick labels, one coloured series per run (validation dashed with
 * markers), a legend, and a hover read-out.
 *
 * Each chart's <figure data-chart="…"> gets data-rendered="true" (or "empty"), and each series
 * <path> carries data-run, data-run-index, data-series and data-points (points drawn), so a test
 * can check the page against the data.
 *
 * Kept as a string: it runs in the browser, not in Node. Written without backticks or "${" so it
 * fits in String.raw, and without "</" so it cannot end the <script> element.
 */
// biome-ignore lint/complexity/noUselessStringRaw: a later "\n" in the browser code must stay literal
export const CLIENT_SCRIPT = String.raw`(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var payload = JSON.parse(document.getElementById("rankwise-data").textContent);
  var runs = payload.runs, colors = payload.colors;
  var W = 560, H = 300, M = { l: 64, r: 18, t: 14, b: 46 };
  var PW = W - M.l - M.r, PH = H - M.t - M.b;

  function svgEl(name, attrs, parent) {
    var node = document.createElementNS(SVGNS, name);
    for (var k in attrs) node.setAttribute(k, String(attrs[k]));
    if (parent) parent.appendChild(node);
    return node;
  }
  function htmlEl(name, cls, parent, text) {
    var node = document.createElement(name);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function isNum(v) { return typeof v === "number" && isFinite(v); }

  // Smallest number of decimals that shows x (a tick step) exactly.
  function decimals(x) {
    for (var d = 0; d < 10; d++) {
      var scaled = x * Math.pow(10, d);
      if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
    }
    return 10;
  }

  // Axis from min to max on multiples of a 1-2-2.5-5 step, about target ticks.
  function axis(min, max, target, integer) {
    if (min === max) {
      var pad = min === 0 ? 1 : Math.abs(min) * 0.1;
      min -= pad; max += pad;
    }
    var raw = (max - min) / target;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / mag;
    var step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 && !(integer && mag === 1) ? 2.5 : f <= 5 ? 5 : 10) * mag;
    if (integer) step = Math.max(1, Math.round(step));
    var lo = Math.floor(min / step + 1e-9) * step, hi = Math.ceil(max / step - 1e-9) * step;
    var ticks = [];
    for (var i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(lo + i * step);
    return { lo: lo, hi: hi, step: step, ticks: ticks, format: formatter(ticks, step) };
  }

  // Tick labels: plain decimals; k/M/G above 10^4; exponent notation below 10^-2.
  function formatter(ticks, step) {
    var maxAbs = 0;
    ticks.forEach(function (t) { maxAbs = Math.max(maxAbs, Math.abs(t)); });
    var zero = function (v) { return Math.abs(v) < step * 1e-6; };
    if (maxAbs > 0 && maxAbs < 1e-2) {
      var e = Math.floor(Math.log10(maxAbs));
      var d = Math.min(6, decimals(step / Math.pow(10, e)));
      return function (v) { return zero(v) ? "0" : v.toExponential(d); };
    }
    if (maxAbs >= 1e4) {
      var k = maxAbs >= 1e9 ? 3 : maxAbs >= 1e6 ? 2 : 1, div = Math.pow(1000, k);
      var d2 = Math.min(6, decimals(step / div)), suffix = ["", "k", "M", "G"][k];
      return function (v) { return zero(v) ? "0" : (v / div).toFixed(d2) + suffix; };
    }
    var d3 = Math.min(6, decimals(step));
    return function (v) { return zero(v) ? "0" : v.toFixed(d3); };
  }

  // Bytes and seconds are shown in a unit chosen by the largest value.
  function unit(kind, maxAbs) {
    if (kind === "bytes") {
      var names = ["B", "KiB", "MiB", "GiB", "TiB"], u = 0;
      while (u < names.length - 1 && maxAbs >= Math.pow(1024, u + 1)) u++;
      return { div: Math.pow(1024, u), name: names[u] };
    }
    if (kind === "seconds") {
      if (maxAbs >= 2 * 3600) return { div: 3600, name: "h" };
      if (maxAbs >= 120) return { div: 60, name: "min" };
      return { div: 1, name: "s" };
    }
    return { div: 1, name: "" };
  }

  function seriesFor(chart) {
    var out = [];
    runs.forEach(function (run, ri) {
      chart.series.forEach(function (spec) {
        var pts = [];
        run.metrics.forEach(function (row) {
          if (!row || row.type !== spec.type) return;
          var x = row[chart.x], y = row[spec.y];
          if (isNum(x) && isNum(y)) pts.push([x, y]);
        });
        if (pts.length) {
          out.push({ run: run.name, runIndex: ri, label: spec.label, dashed: !!spec.dashed,
            color: colors[ri % colors.length], pts: pts });
        }
      });
    });
    return out;
  }

  function legendKey(parent, s, withLabel) {
    var key = htmlEl("span", "key", parent);
    var sw = svgEl("svg", { width: 26, height: 10, "aria-hidden": "true" }, key);
    svgEl("line", { x1: 1, y1: 5, x2: 25, y2: 5, stroke: s.color, "stroke-width": 2.5,
      "stroke-dasharray": s.dashed ? "5 3" : "none" }, sw);
    if (s.dashed) svgEl("circle", { cx: 13, cy: 5, r: 2.5, fill: s.color }, sw);
    htmlEl("span", "", key, withLabel ? s.run + " (" + s.label + ")" : s.run);
    return key;
  }

  function draw(fig, chart) {
    var series = seriesFor(chart);
    var plot = fig.querySelector(".plot");
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": chart.title }, plot);
    fig.setAttribute("data-series-count", String(series.length));
    if (!series.length) {
      var msg = svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, svg);
      msg.textContent = "no data logged";
      fig.setAttribute("data-rendered", "empty");
      return;
    }
    var xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
    series.forEach(function (s) {
      s.pts.forEach(function (p) {
        xmin = Math.min(xmin, p[0]); xmax = Math.max(xmax, p[0]);
        ymin = Math.min(ymin, p[1]); ymax = Math.max(ymax, p[1]);
      });
    });
    if (chart.zero) { ymin = Math.min(ymin, 0); ymax = Math.max(ymax, 0); }
    var xu = unit(chart.xKind, Math.max(Math.abs(xmin), Math.abs(xmax)));
    var yu = unit(chart.yKind, Math.max(Math.abs(ymin), Math.abs(ymax)));
    var xa = axis(xmin / xu.div, xmax / xu.div, 6, chart.x === "step");
    var ya = axis(ymin / yu.div, ymax / yu.div, 5, false);
    function px(x) { return M.l + ((x / xu.div - xa.lo) / (xa.hi - xa.lo)) * PW; }
    function py(y) { return M.t + PH - ((y / yu.div - ya.lo) / (ya.hi - ya.lo)) * PH; }

    var grid = svgEl("g", { class: "grid" }, svg);
    ya.ticks.forEach(function (t) {
      var y = M.t + PH - ((t - ya.lo) / (ya.hi - ya.lo)) * PH;
      svgEl("line", { x1: M.l, x2: M.l + PW, y1: y, y2: y }, grid);
      var label = svgEl("text", { x: M.l - 6, y: y + 4, "text-anchor": "end", class: "tick" }, svg);
      label.textContent = ya.format(t);
    });
    xa.ticks.forEach(function (t) {
      var x = M.l + ((t - xa.lo) / (xa.hi - xa.lo)) * PW;
      svgEl("line", { x1: x, x2: x, y1: M.t, y2: M.t + PH }, grid);
      var label = svgEl("text", { x: x, y: M.t + PH + 16, "text-anchor": "middle", class: "tick" }, svg);
      label.textContent = xa.format(t);
    });
    svgEl("rect", { x: M.l, y: M.t, width: PW, height: PH, class: "frame" }, svg);
    var xt = svgEl("text", { x: M.l + PW / 2, y: H - 8, "text-anchor": "middle", class: "axis-title" }, svg);
    xt.textContent = chart.xLabel + (xu.name ? " (" + xu.name + ")" : "");
    var yt = svgEl("text", { x: 0, y: 0, "text-anchor": "middle", class: "axis-title",
      transform: "translate(14 " + (M.t + PH / 2) + ") rotate(-90)" }, svg);
    yt.textContent = chart.yLabel + (yu.name ? " (" + yu.name + ")" : "");

    var clipId = "clip-" + chart.id;
    var clip = svgEl("clipPath", { id: clipId }, svg);
    svgEl("rect", { x: M.l, y: M.t - 2, width: PW, height: PH + 4 }, clip);
    var layer = svgEl("g", { "clip-path": "url(#" + clipId + ")" }, svg);
    series.forEach(function (s) {
      var d = s.pts.map(function (p, i) {
        return (i ? "L" : "M") + px(p[0]).toFixed(1) + " " + py(p[1]).toFixed(1);
      }).join("");
      var path = svgEl("path", { d: d, fill: "none", stroke: s.color, "stroke-width": s.dashed ? 2 : 1.6,
        "stroke-linejoin": "round", "stroke-dasharray": s.dashed ? "6 4" : "none", class: "series",
        "data-run": s.run, "data-run-index": s.runIndex, "data-series": s.label,
        "data-points": s.pts.length }, layer);
      var title = svgEl("title", {}, path);
      title.textContent = s.run + " (" + s.label + ")";
      if (s.dashed || s.pts.length < 2) {
        s.pts.forEach(function (p) {
          svgEl("circle", { cx: px(p[0]).toFixed(1), cy: py(p[1]).toFixed(1), r: 2.8, fill: s.color,
            class: "marker" }, layer);
        });
      }
    });

    var legend = fig.querySelector(".legend");
    var labels = {};
    series.forEach(function (s) { labels[s.label] = true; });
    var withLabel = Object.keys(labels).length > 1;
    series.forEach(function (s) { legendKey(legend, s, withLabel); });

    // Hover read-out: the point of each series nearest to the pointer's x.
    var tip = fig.querySelector(".tip");
    var guide = svgEl("line", { y1: M.t, y2: M.t + PH, class: "guide", visibility: "hidden" }, svg);
    svg.addEventListener("mousemove", function (ev) {
      var pt = svg.createSVGPoint();
      pt.x = ev.clientX; pt.y = ev.clientY;
      var loc = pt.matrixTransform(svg.getScreenCTM().inverse());
      if (loc.x < M.l || loc.x > M.l + PW) { tip.hidden = true; guide.setAttribute("visibility", "hidden"); return; }
      var xv = (xa.lo + ((loc.x - M.l) / PW) * (xa.hi - xa.lo)) * xu.div;
      tip.textContent = "";
      var head = htmlEl("div", "tip-head", tip, chart.xLabel + " ≈ " + xa.format(xv / xu.div) + (xu.name ? " " + xu.name : ""));
      head.setAttribute("role", "presentation");
      series.forEach(function (s) {
        var best = s.pts[0];
        s.pts.forEach(function (p) { if (Math.abs(p[0] - xv) < Math.abs(best[0] - xv)) best = p; });
        var line = htmlEl("div", "tip-row", tip);
        var dot = htmlEl("span", "dot", line);
        dot.style.background = s.color;
        htmlEl("span", "", line, s.run + " " + s.label + ": " + Number((best[1] / yu.div).toPrecision(4)) +
          (yu.name ? " " + yu.name : "") + " @ " + Number((best[0] / xu.div).toPrecision(5)));
      });
      guide.setAttribute("x1", loc.x); guide.setAttribute("x2", loc.x);
      guide.setAttribute("visibility", "visible");
      tip.hidden = false;
      var box = fig.getBoundingClientRect();
      var left = ev.clientX - box.left + 14;
      if (left + tip.offsetWidth > box.width) left = ev.clientX - box.left - tip.offsetWidth - 14;
      tip.style.left = Math.max(0, left) + "px";
      tip.style.top = (ev.clientY - box.top + 10) + "px";
    });
    svg.addEventListener("mouseleave", function () {
      tip.hidden = true;
      guide.setAttribute("visibility", "hidden");
    });
    fig.setAttribute("data-rendered", "true");
  }

  payload.charts.forEach(function (chart) {
    var fig = document.querySelector('figure[data-chart="' + chart.id + '"]');
    if (fig) draw(fig, chart);
  });
  document.body.setAttribute("data-report-ready", "true");
})();
`;
