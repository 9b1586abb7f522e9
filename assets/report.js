/* report.js: draws report.html's charts from the page's JSON blob (uPlot
   for lines, scatter, bars and the timeline; a plain canvas for the
   heatmap), whiskers for each figure's confidence interval, sorts the
   table, and records in window.__report what each chart drew (#selfcheck,
   read by the tests). No network, no framework. */
(function () {
  "use strict";
  var R = window.__report;
  var D = JSON.parse(document.getElementById("report-data").textContent);
  var dpr = window.devicePixelRatio || 1;

  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#393b79"];
  var INSTANCE_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  function color(i) { return PALETTE[i % PALETTE.length]; }
  function rgba(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  function fmt(v) {
    if (v == null || !isFinite(v)) return "--";
    var a = Math.abs(v);
    return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) : v.toFixed(3);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function note(parent, text) { parent.appendChild(el("p", "note", text)); }
  function width() {
    var m = document.querySelector("main");
    return Math.max(320, Math.min(1400, m.clientWidth - 42));
  }

  // ---- self-check: what a chart drew ---------------------------------

  /* Pixels of the plotting area within a small distance of one of the
     chart's series colours: the data really reached the canvas. */
  function ink(u, colors) {
    var b = u.bbox;
    if (!(b.width > 0 && b.height > 0)) return 0;
    var px = u.ctx.getImageData(b.left, b.top, b.width, b.height).data;
    var cs = colors.map(function (h) {
      var n = parseInt(h.slice(1), 16);
      return [n >> 16, (n >> 8) & 255, n & 255];
    });
    var count = 0;
    for (var i = 0; i < px.length; i += 4) {
      if (px[i + 3] < 200) continue;
      for (var k = 0; k < cs.length; k++) {
        var c = cs[k];
        if (Math.abs(px[i] - c[0]) + Math.abs(px[i + 1] - c[1]) + Math.abs(px[i + 2] - c[2]) < 40) {
          count++;
          break;
        }
      }
    }
    return count;
  }
  function values(u) {
    var n = 0;
    for (var s = 1; s < u.data.length; s++)
      for (var i = 0; i < u.data[s].length; i++) if (u.data[s][i] != null) n++;
    return n;
  }
  /* a draw hook recording the chart's data values and inked pixels */
  function track(name, colors, extra) {
    return function (u) {
      if (R.done) return;
      var rec = {points: values(u), ink: ink(u, colors)};
      if (extra) extra(u, rec);
      R.charts[name] = rec;
    };
  }

  // ---- whiskers: each figure's confidence interval ------------------

  /* A draw hook drawing error bars: bars(u) lists {s, x, y, lo, hi, dir}
     in data values (s: the uPlot series index, drawn only while shown;
     dir "y": a vertical bar at x from lo to hi, "x": a horizontal one at
     y). Records how many it drew on u.whiskers, for the self-check. */
  function whiskers(bars, colors) {
    return function (u) {
      var ctx = u.ctx, b = u.bbox, cap = 4 * dpr, n = 0;
      ctx.save();
      ctx.beginPath();
      ctx.rect(b.left, b.top, b.width, b.height);
      ctx.clip();
      ctx.lineWidth = 1.5 * dpr;
      bars(u).forEach(function (w) {
        if (w.lo == null || w.hi == null || !u.series[w.s] || !u.series[w.s].show) return;
        ctx.strokeStyle = colors[w.s - 1] || "#555555";
        ctx.beginPath();
        if (w.dir === "x") {
          var y = u.valToPos(w.y, "y", true), x0 = u.valToPos(w.lo, "x", true), x1 = u.valToPos(w.hi, "x", true);
          ctx.moveTo(x0, y); ctx.lineTo(x1, y);
          ctx.moveTo(x0, y - cap); ctx.lineTo(x0, y + cap);
          ctx.moveTo(x1, y - cap); ctx.lineTo(x1, y + cap);
        } else {
          var x = u.valToPos(w.x, "x", true), y0 = u.valToPos(w.lo, "y", true), y1 = u.valToPos(w.hi, "y", true);
          ctx.moveTo(x, y0); ctx.lineTo(x, y1);
          ctx.moveTo(x - cap, y0); ctx.lineTo(x + cap, y0);
          ctx.moveTo(x - cap, y1); ctx.lineTo(x + cap, y1);
        }
        ctx.stroke();
        n++;
      });
      ctx.restore();
      u.whiskers = n;
    };
  }
  function countWhiskers(u, rec) { rec.whiskers = u.whiskers || 0; }
  /* "512.3 ± 12.1" when the interval is known */
  function pm(v, lo, hi) {
    return fmt(v) + (lo != null && hi != null ? " \u00b1 " + fmt((hi - lo) / 2) : "");
  }

  var charts = []; // [{u, height}] for resizing
  var P = {}; // name -> uPlot, for the self-test
  function plot(name, opts, data, parent) {
    var box = el("div", "chart");
    parent.appendChild(box);
    opts.width = width();
    var u = new uPlot(opts, data, box);
    charts.push({u: u, height: opts.height});
    P[name] = u;
    return u;
  }

  // ---- throughput vs concurrency (or rate) ---------------------------

  var runCharts = []; // [{u, series}] the run selector toggles

  /* One line chart of a figure against load, a curve per configuration
     (c: {id, title, x_label, log2, x, series: [{label, config, dashed, y,
     points, lo, hi}]}), with each value's interval as a whisker; returns
     the uPlot. */
  function curveChart(c, host, unit, yLabel) {
    var colors = c.series.map(function (s) { return color(s.config); });
    var series = [{label: c.x_label, value: function (u, v) { return fmt(v); }}];
    c.series.forEach(function (s, i) {
      var opt = {
        label: s.label,
        stroke: colors[i],
        width: 2,
        spanGaps: true,
        points: {show: true, size: 7, fill: colors[i], stroke: colors[i]},
        value: function (u, v, si, idx) {
          return v == null ? "--" : pm(v, s.lo && s.lo[idx], s.hi && s.hi[idx]) + " " + unit + " (#" + s.points[idx] + ")";
        },
      };
      if (s.dashed) opt.dash = [8, 5];
      series.push(opt);
    });
    var xAxis = {
      label: c.x_label,
      values: function (u, splits) { return splits.map(function (v) { return +v.toPrecision(6); }); },
    };
    // ticks at the loads that ran (a handful), else uPlot's own
    if (c.x.length <= 16) xAxis.splits = function () { return c.x; };
    var u = plot(c.id, {
      title: c.title,
      height: 360,
      scales: {
        x: c.log2 ? {time: false, distr: 3, log: 2} : {time: false},
        y: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.08 : 1]; }},
      },
      axes: [
        xAxis,
        {label: yLabel, size: 64},
      ],
      series: series,
      cursor: {drag: {x: true, y: false, setScale: true}},
      hooks: {draw: [whiskers(function () {
        var out = [];
        c.series.forEach(function (s, i) {
          c.x.forEach(function (x, j) {
            if (s.y[j] != null && s.lo && s.hi) out.push({s: i + 1, x: x, lo: s.lo[j], hi: s.hi[j], dir: "y"});
          });
        });
        return out;
      }, colors), track(c.id, colors, countWhiskers)]},
    }, [c.x].concat(c.series.map(function (s) { return s.y; })), host);
    return u;
  }

  function throughput() {
    var host = document.getElementById("throughput");
    var notes = document.getElementById("notes");
    (D.notes || []).forEach(function (n) { note(notes, n); });
    if (!D.throughput.length) {
      note(host, "No measured point: nothing to draw.");
      R.skipped.throughput = "no measured point";
      return;
    }
    D.throughput.forEach(function (c) {
      runCharts.push({u: curveChart(c, host, "tok/s", "output tokens/s"), series: c.series});
    });
    if (D.runs.length > 1) runSelector();
  }

  // ---- output tokens per joule vs concurrency ------------------------

  function energy() {
    var host = document.getElementById("energy");
    var E = D.energy || {};
    if (!E.chart) {
      note(host, E.note || "No energy figures.");
      R.skipped.energy = E.note || "no energy figures";
      return;
    }
    curveChart(E.chart, host, E.chart.unit, E.chart.y_label);
  }

  function runSelector() {
    var box = document.getElementById("runs");
    box.appendChild(el("span", null, "Runs: "));
    D.runs.forEach(function (id, ri) {
      var lab = el("label");
      var cb = el("input");
      cb.type = "checkbox";
      cb.checked = true;
      cb.addEventListener("change", function () {
        runCharts.forEach(function (c) {
          c.series.forEach(function (s, i) {
            if (s.run === ri) c.u.setSeries(i + 1, {show: cb.checked});
          });
        });
      });
      lab.appendChild(cb);
      lab.appendChild(el("span", ri === 0 ? "solid" : "dash"));
      lab.appendChild(document.createTextNode(id + (ri === 0 ? " (this run)" : "")));
      box.appendChild(lab);
    });
  }

  // ---- latency vs throughput (scatter + Pareto fronts) ---------------

  function noLine() { return null; }

  function latency() {
    var host = document.getElementById("latency");
    var L = D.latency;
    if (!L) {
      note(host, "No measured point: nothing to draw.");
      R.skipped.latency_ttft = R.skipped.latency_itl = "no measured point";
      return;
    }
    var rows = L.rows;
    var cfgs = [];
    rows.forEach(function (r) { if (cfgs.indexOf(r.config) < 0) cfgs.push(r.config); });
    cfgs.sort(function (a, b) { return a - b; });
    [["ttft", "TTFT"], ["itl", "ITL"]].forEach(function (m) {
      var key = m[0], name = m[1];
      var data = [rows.map(function (r) { return r.tps; })];
      var colors = [];
      var series = [{label: "throughput (tok/s)", value: function (u, v) { return fmt(v); }}];
      cfgs.forEach(function (ci) {
        var col = color(ci);
        colors.push(col);
        ["p50", "p99"].forEach(function (q) {
          data.push(rows.map(function (r) { return r.config === ci ? r[key + "_" + q] : null; }));
          series.push({
            label: D.configs[ci] + " " + q,
            stroke: col,
            paths: noLine,
            points: {show: true, size: 8, width: 2, stroke: col, fill: q === "p50" ? col : "#ffffff"},
            value: function (u, v) { return v == null ? "--" : fmt(v) + " ms"; },
          });
        });
      });
      ["p50", "p99"].forEach(function (q) {
        var on = {};
        L.front[key + "_" + q].forEach(function (i) { on[i] = true; });
        data.push(rows.map(function (r, i) { return on[i] ? r[key + "_" + q] : null; }));
        var stroke = q === "p50" ? "#111111" : "#555555";
        var s = {
          label: "Pareto front " + q,
          stroke: stroke,
          width: 1.5,
          spanGaps: true,
          // a ring round each point on the front: a front of one point shows too
          points: {show: true, size: 13, width: 1.5, stroke: stroke, fill: "rgba(0,0,0,0)"},
          value: function (u, v) { return v == null ? "--" : fmt(v) + " ms"; },
        };
        if (q === "p99") s.dash = [6, 4];
        series.push(s);
      });
      colors.push("#111111", "#555555");
      // whiskers: each mark's latency interval, and the throughput's across
      // the p50 marks; series 2k+1 and 2k+2 are configuration k's p50 and p99
      var seriesColors = [];
      cfgs.forEach(function (ci) { seriesColors.push(color(ci), color(ci)); });
      var bars = function () {
        var out = [];
        rows.forEach(function (r) {
          var k = cfgs.indexOf(r.config);
          ["p50", "p99"].forEach(function (q, qi) {
            var v = r[key + "_" + q];
            if (v == null) return;
            var s = 2 * k + 1 + qi;
            out.push({s: s, x: r.tps, lo: r[key + "_" + q + "_lo"], hi: r[key + "_" + q + "_hi"], dir: "y"});
            if (q === "p50") out.push({s: s, y: v, lo: r.tps_lo, hi: r.tps_hi, dir: "x"});
          });
        });
        return out;
      };
      var info = el("p", "info");
      var u = plot("latency_" + key, {
        title: name + " p50 / p99 vs throughput",
        height: 340,
        scales: {x: {time: false}, y: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.08 : 1]; }}},
        axes: [{label: "output tokens/s"}, {label: name + " (ms)", size: 60}],
        series: series,
        cursor: {drag: {x: true, y: false, setScale: true}},
        hooks: {
          draw: [whiskers(bars, seriesColors), track("latency_" + key, colors, countWhiskers)],
          setLegend: [function (u) {
            var i = u.legend.idx;
            if (i == null || !rows[i]) { info.textContent = ""; return; }
            var r = rows[i];
            var front = ["p50", "p99"].filter(function (q) { return L.front[key + "_" + q].indexOf(i) >= 0; });
            info.textContent = "point " + r.point + ": " + D.configs[r.config] + " · " + r.load + " · " +
              pm(r.tps, r.tps_lo, r.tps_hi) + " tok/s · " + name + " p50 " + pm(r[key + "_p50"], r[key + "_p50_lo"], r[key + "_p50_hi"]) +
              " ms, p99 " + pm(r[key + "_p99"], r[key + "_p99_lo"], r[key + "_p99_hi"]) + " ms" +
              (front.length ? " · on the " + front.join(" and ") + " front" : "");
          }],
        },
      }, data, host);
      host.appendChild(info);
      return u;
    });
  }

  // ---- decode × prompt heatmap (plain canvas) ------------------------

  var RAMP = [[255, 255, 204], [161, 218, 180], [65, 182, 196], [44, 127, 184], [37, 52, 148]];
  function ramp(t) {
    t = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
    var i = Math.min(RAMP.length - 2, Math.floor(t)), f = t - i;
    var c = RAMP[i].map(function (a, k) { return Math.round(a + (RAMP[i + 1][k] - a) * f); });
    return c;
  }

  function heatmap() {
    var host = document.getElementById("heatmap");
    if (!D.heatmaps.length) {
      note(host, D.heatmap_note || "No heatmap.");
      R.skipped.heatmap = D.heatmap_note;
      return;
    }
    var drawn = 0, valuesN = 0;
    D.heatmaps.forEach(function (g) {
      var box = el("div", "heatgrid");
      box.appendChild(el("h3", null, g.group));
      var nx = g.decode.length, ny = g.prompt.length;
      var ml = 60, mb = 44, mt = 22, mr = 10;
      var cw = Math.max(60, Math.min(130, (width() / Math.min(2, D.heatmaps.length) - ml - mr - 24) / nx));
      var ch = 46;
      var W = ml + nx * cw + mr, H = mt + ny * ch + mb;
      var cv = el("canvas");
      cv.width = W * dpr;
      cv.height = H * dpr;
      cv.style.width = W + "px";
      cv.style.height = H + "px";
      box.appendChild(cv);
      var tip = el("div", "tip");
      box.appendChild(tip);
      host.appendChild(box);
      var ctx = cv.getContext("2d");
      ctx.scale(dpr, dpr);
      var lo = Infinity, hi = -Infinity;
      g.cells.forEach(function (c) { lo = Math.min(lo, c.tps); hi = Math.max(hi, c.tps); });
      function cellRect(c) {
        var xi = g.decode.indexOf(c.decode), yi = g.prompt.indexOf(c.prompt);
        return [ml + xi * cw, mt + (ny - 1 - yi) * ch, cw, ch];
      }
      ctx.font = "12px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      // empty grid first: pairs not measured stay hatched grey
      ctx.fillStyle = "#eeeeee";
      ctx.fillRect(ml, mt, nx * cw, ny * ch);
      g.cells.forEach(function (c) {
        var r = cellRect(c);
        var rgb = ramp(hi > lo ? (c.tps - lo) / (hi - lo) : 0.5);
        ctx.fillStyle = "rgb(" + rgb.join(",") + ")";
        ctx.fillRect(r[0] + 1, r[1] + 1, r[2] - 2, r[3] - 2);
        var lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
        ctx.fillStyle = lum < 140 ? "#ffffff" : "#111111";
        ctx.fillText(fmt(c.tps), r[0] + r[2] / 2, r[1] + r[3] / 2);
        drawn++;
        valuesN++;
      });
      ctx.fillStyle = "#24292f";
      g.decode.forEach(function (d, i) { ctx.fillText(String(d), ml + i * cw + cw / 2, mt + ny * ch + 12); });
      ctx.fillText("decode_concurrency", ml + (nx * cw) / 2, mt + ny * ch + 32);
      ctx.textAlign = "right";
      g.prompt.forEach(function (p, i) { ctx.fillText(String(p), ml - 8, mt + (ny - 1 - i) * ch + ch / 2); });
      ctx.textAlign = "left";
      ctx.fillText("prompt_concurrency \u2191", 4, mt - 11);
      cv.addEventListener("mousemove", function (e) {
        var b = cv.getBoundingClientRect();
        var x = e.clientX - b.left, y = e.clientY - b.top;
        var hit = null;
        g.cells.forEach(function (c) {
          var r = cellRect(c);
          if (x >= r[0] && x < r[0] + r[2] && y >= r[1] && y < r[1] + r[3]) hit = c;
        });
        if (!hit) { tip.style.display = "none"; return; }
        tip.textContent = "decode=" + hit.decode + " prompt=" + hit.prompt + ": " + fmt(hit.tps) +
          " tok/s at point " + hit.point + " (" + hit.load + ")";
        tip.style.display = "block";
        tip.style.left = (x + 12) + "px";
        tip.style.top = (y + 30) + "px";
      });
      cv.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    });
    R.charts.heatmap = {points: valuesN, ink: drawn, grids: D.heatmaps.length};
  }

  // ---- requests per instance (stacked bars) --------------------------

  function instances() {
    var host = document.getElementById("instances");
    var I = D.instances;
    if (!I) {
      note(host, "No measured point says how its requests were spread over instances.");
      R.skipped.instance_requests = "no per-instance counts";
      return;
    }
    var rows = I.rows, n = I.instances;
    var data = [rows.map(function (r) { return r.point; })];
    var series = [{label: "point", value: function (u, v) { return v == null ? "--" : "#" + v; }}];
    var colors = [];
    // drawn top first: instance k's bar is the sum of instances 0..k, and
    // the lower ones paint over it
    for (var k = n - 1; k >= 0; k--) {
      (function (k) {
        var col = INSTANCE_COLORS[k % INSTANCE_COLORS.length];
        colors.push(col);
        data.push(rows.map(function (r) {
          if (r.requests.length <= k) return null;
          var s = 0;
          for (var j = 0; j <= k; j++) s += r.requests[j];
          return s;
        }));
        series.push({
          label: "instance " + k,
          stroke: col,
          fill: col,
          width: 1,
          paths: uPlot.paths.bars({size: [0.7, 48], align: 0}),
          points: {show: false},
          value: function (u, v, si, idx) {
            return idx == null || rows[idx].requests.length <= k ? "--" : String(rows[idx].requests[k]);
          },
        });
      })(k);
    }
    var info = el("p", "info");
    plot("instance_requests", {
      title: "Requests per instance per point",
      height: 280,
      scales: {
        x: {time: false, range: function (u, lo, hi) { return [lo - 0.6, hi + 0.6]; }},
        y: {range: function (u, lo, hi) { return [0, Math.max(1, hi) * 1.1]; }},
      },
      axes: [
        {label: "point", values: function (u, splits) {
          return splits.map(function (v) { return Number.isInteger(v) ? String(v) : ""; });
        }},
        {label: "requests", size: 56},
      ],
      series: series,
      cursor: {drag: {x: true, y: false, setScale: true}},
      hooks: {
        draw: [track("instance_requests", colors)],
        setLegend: [function (u) {
          var i = u.legend.idx;
          if (i == null || !rows[i]) { info.textContent = ""; return; }
          info.textContent = "point " + rows[i].point + ": " + rows[i].label + " · requests per instance " +
            rows[i].requests.join(" / ");
        }],
      },
    }, data, host);
    host.appendChild(info);
  }

  // ---- RAM used per machine over time ---------------------------------

  /* D.hosts_ram: {t (minutes), series: [{label, y (GB)}]}, one line per
     machine; drawn only on a page with the hosts section. */
  function hostsRam() {
    var host = document.getElementById("hosts-chart");
    if (!host) return;
    var H = D.hosts_ram;
    if (!H) {
      note(host, "No machine recorded its RAM: no chart.");
      R.skipped.hosts_ram = "no RAM figure";
      return;
    }
    var colors = H.series.map(function (s, i) { return color(i); });
    var series = [{label: "minutes", value: function (u, v) { return fmt(v); }}];
    H.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: colors[i],
        width: 2,
        spanGaps: true,
        value: function (u, v) { return v == null ? "--" : fmt(v) + " GB"; },
      });
    });
    plot("hosts_ram", {
      title: "RAM used per machine",
      height: 260,
      scales: {
        x: {time: false},
        y: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.08 : 1]; }},
      },
      axes: [
        {label: "minutes since the first sample"},
        {label: "RAM used (GB)", size: 64},
      ],
      series: series,
      cursor: {drag: {x: true, y: false, setScale: true}},
      hooks: {draw: [track("hosts_ram", colors)]},
    }, [H.t].concat(H.series.map(function (s) { return s.y; })), host);
  }

  // ---- the memplot timeline -------------------------------------------

  var PRESSURE = {1: "normal", 2: "warn", 4: "critical"};
  var TL = {rows: []}; // the timeline's rows, for the self-test

  function timeline() {
    var host = document.getElementById("timeline");
    var T = D.timeline;
    if (!T) {
      note(host, "No monitor samples (monitor.jsonl is missing or empty): no timeline.");
      R.skipped.timeline = "no monitor samples";
      return;
    }
    var info = document.getElementById("timeline-info");
    var regions = T.regions;
    TL.rows = [];
    var pointConfig = D.point_config || {};
    var rows = [];
    var cur = {min: null, max: null};
    var ranger = null;
    var ready = false;

    function regionColor(r) {
      var ci = pointConfig[r.point];
      return ci == null ? "#555555" : color(ci);
    }

    /* point regions (and, on the memory row, pressure bands) under the series */
    function underlay(labels, bands) {
      return function (u) {
        var ctx = u.ctx, b = u.bbox;
        ctx.save();
        ctx.beginPath();
        ctx.rect(b.left, b.top, b.width, b.height);
        ctx.clip();
        if (bands) {
          T.pressure.forEach(function (p) {
            var x0 = u.valToPos(p.start, "x", true), x1 = u.valToPos(p.end, "x", true);
            ctx.fillStyle = p.level >= 4 ? "rgba(220,40,40,0.28)" : "rgba(255,200,0,0.35)";
            ctx.fillRect(x0, b.top, Math.max(x1 - x0, 2 * dpr), b.height);
          });
        }
        var lastEnd = -Infinity, shown = 0;
        ctx.font = (11 * dpr) + "px system-ui, sans-serif";
        ctx.textBaseline = "top";
        regions.forEach(function (r) {
          var x0 = u.valToPos(r.start, "x", true), x1 = u.valToPos(r.end, "x", true);
          if (x1 < b.left || x0 > b.left + b.width) return;
          shown++;
          var col = regionColor(r);
          ctx.fillStyle = rgba(col, r.ended ? 0.14 : 0.07);
          ctx.fillRect(x0, b.top, Math.max(x1 - x0, 1.5 * dpr), b.height);
          if (!r.ended) {
            ctx.strokeStyle = rgba(col, 0.6);
            ctx.setLineDash([4 * dpr, 3 * dpr]);
            ctx.strokeRect(x0, b.top, Math.max(x1 - x0, 1.5 * dpr), b.height);
            ctx.setLineDash([]);
          }
          if (labels) {
            var text = "#" + r.point + " " + r.model + (r.ended ? "" : " (no end)");
            var w = ctx.measureText(text).width;
            var x = Math.max(x0 + 2 * dpr, b.left + 2 * dpr);
            if (x >= lastEnd + 6 * dpr) {
              ctx.fillStyle = "#30363d";
              ctx.fillText(text, x, b.top + 3 * dpr);
              lastEnd = x + w;
            }
          }
        });
        ctx.restore();
        if (labels && !R.done) R.charts.timeline_regions = {points: regions.length, ink: shown};
      };
    }

    function zoomAll(min, max, from) {
      if (min == null || max == null || !(max > min)) return;
      if (cur.min !== null && Math.abs(cur.min - min) < 1e-9 && Math.abs(cur.max - max) < 1e-9) return;
      cur.min = min;
      cur.max = max;
      rows.forEach(function (o) { if (o !== from) o.setScale("x", {min: min, max: max}); });
      if (ranger && from !== ranger) rangerShow(min, max);
    }

    function rangerShow(min, max) {
      var t = T.t;
      if (min <= t[0] + 1e-12 && max >= t[t.length - 1] - 1e-12) {
        // the whole run: no selection, so a drag anywhere starts one
        ranger.setSelect({left: 0, width: 0, top: 0, height: 0}, false);
        return;
      }
      var left = ranger.valToPos(min, "x"), right = ranger.valToPos(max, "x");
      ranger.setSelect({left: left, width: right - left, top: 0, height: ranger.bbox.height / dpr}, false);
    }

    function regionAt(u) {
      var left = u.cursor.left;
      if (left == null || left < 0) return null;
      var x = u.posToVal(left, "x");
      var tol = Math.abs(u.posToVal(left + 5, "x") - x);
      var best = null, dist = Infinity;
      regions.forEach(function (r) {
        var d = x < r.start ? r.start - x : x > r.end ? x - r.end : 0;
        if (d <= tol && d < dist) { best = r; dist = d; }
      });
      return best;
    }

    /* an axis that only takes the room of a labelled one, so every row's
       plot (and the overview's) spans the same x pixels */
    function blankAxis(side, scale) {
      return {side: side, scale: scale, size: 60, label: "", grid: {show: false}, ticks: {show: false},
        values: function (u, splits) { return splits.map(function () { return ""; }); }};
    }

    function row(name, title, series, data, axes, scales) {
      if (axes.length < 2) axes = axes.concat([blankAxis(1, axes[0].scale)]);
      var colors = series.map(function (s) { return s.stroke; });
      var sec = el("div");
      host.appendChild(sec);
      var u = plot(name, {
        title: title,
        height: 190,
        scales: Object.assign({x: {time: false}}, scales),
        axes: [{label: "minutes since the first sample", values: function (u, splits) {
          return splits.map(function (v) { return +v.toFixed(4); });
        }}].concat(axes),
        series: [{label: "min", value: function (u, v) { return v == null ? "--" : v.toFixed(3); }}].concat(series),
        cursor: {sync: {key: "mlxrun-timeline", setSeries: false}, drag: {x: true, y: false, setScale: true}},
        hooks: {
          drawClear: [underlay(name === "timeline_memory", name === "timeline_memory")],
          draw: [track(name, colors)],
          setScale: [function (u, key) {
            if (key === "x" && ready) zoomAll(u.scales.x.min, u.scales.x.max, u);
          }],
          setCursor: [function (u) {
            var r = regionAt(u);
            if (r) {
              info.textContent = "point " + r.point + " · " + r.model + " · " + r.start.toFixed(3) + "–" +
                r.end.toFixed(3) + " min" + (r.ended ? "" : " (no point_end: the run was cut short)") + "\n" + r.params;
            }
          }],
        },
      }, [T.t].concat(data), sec);
      rows.push(u);
      TL.rows.push(u);
      return u;
    }

    function line(label, stroke, scale, unit, dash) {
      var s = {
        label: label, stroke: stroke, width: 1.5, scale: scale, spanGaps: false,
        points: {show: false},
        value: function (u, v) { return v == null ? "--" : fmt(v) + (unit ? " " + unit : ""); },
      };
      if (dash) s.dash = dash;
      return s;
    }

    var pct = {range: [0, 100]};
    row("timeline_memory", "Memory", [
      line("RAM available", "#1f77b4", "gb", "GB"),
      line("swap used", "#d62728", "mb", "MB"),
      {label: "pressure", stroke: "#e0a800", scale: "p", paths: noLine, points: {show: false},
        value: function (u, v) { return v == null ? "--" : (PRESSURE[v] || String(v)); }},
    ], [T.ram_available_gb, T.swap_used_mb, T.memory_pressure], [
      {label: "RAM available (GB)", scale: "gb", size: 60},
      {label: "swap (MB)", scale: "mb", side: 1, size: 60, grid: {show: false}},
    ], {
      gb: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; }},
      mb: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; }},
      p: {range: [0, 5]},
    });
    row("timeline_cpu", "CPU", [
      line("user", "#2ca02c", "%", "%"),
      line("system", "#d62728", "%", "%"),
      line("idle", "#8c8c8c", "%", "%", [4, 3]),
      line("load 1m", "#9467bd", "load", ""),
    ], [T.cpu_user, T.cpu_sys, T.cpu_idle, T.load_1], [
      {label: "CPU (%)", scale: "%", size: 60},
      {label: "load 1m", scale: "load", side: 1, size: 60, grid: {show: false}},
    ], {"%": pct, load: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; }}});
    if (T.gpu_device_util || T.gpu_util) {
      row("timeline_gpu", "GPU", [
        line("Apple GPU device", "#ff7f0e", "%", "%"),
        line("NVIDIA GPUs (mean)", "#17becf", "%", "%"),
      ], [T.gpu_device_util, T.gpu_util], [{label: "GPU (%)", scale: "%", size: 60}], {"%": pct});
    } else {
      R.skipped.timeline_gpu = "no GPU values in the samples";
    }
    row("timeline_rss", "Server RSS", [line("all server processes", "#8c564b", "mb", "MB")],
      [T.server_rss_mb], [{label: "RSS (MB)", scale: "mb", size: 60}],
      {mb: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; }}});

    // the overview with its range selection (uPlot's zoom-ranger pattern)
    // CPU shows the run's activity; RAM when the OS gave no CPU split
    var cpu = T.cpu_user.some(function (v) { return v != null; });
    var overview = cpu ? T.cpu_user : T.ram_available_gb;
    var ovColor = cpu ? "#2ca02c" : "#1f77b4";
    var rbox = el("div", "ranger");
    host.appendChild(el("div", "row-title", "Overview: drag to choose the range of the rows above"));
    host.appendChild(rbox);
    var x0, left0, right0;
    function bindDrag(e, move) {
      x0 = e.clientX;
      left0 = ranger.select.left;
      right0 = left0 + ranger.select.width;
      var onMove = function (ev) { move(ev.clientX - x0); };
      var onUp = function () {
        document.removeEventListener("mousemove", onMove);
        document.removeEventListener("mouseup", onUp);
      };
      document.addEventListener("mousemove", onMove);
      document.addEventListener("mouseup", onUp);
      e.stopPropagation();
      e.preventDefault();
    }
    function setRange(l, r) {
      var maxR = ranger.bbox.width / dpr;
      if (r - l < 2) return;
      l = Math.max(0, l);
      r = Math.min(maxR, r);
      ranger.setSelect({left: l, width: r - l, top: 0, height: ranger.bbox.height / dpr}, false);
      zoomAll(ranger.posToVal(l, "x"), ranger.posToVal(r, "x"), ranger);
    }
    ranger = plot("timeline_ranger", {
      height: 90,
      legend: {show: false},
      scales: {x: {time: false}},
      axes: [{values: function (u, splits) { return splits.map(function (v) { return +v.toFixed(4); }); }},
        blankAxis(3, "y"), blankAxis(1, "y")],
      series: [{}, {stroke: ovColor, width: 1, scale: "y", points: {show: false}}],
      cursor: {x: false, y: false, points: {show: false}, drag: {setScale: false, x: true, y: false}},
      hooks: {
        drawClear: [underlay(false, false)],
        draw: [track("timeline_ranger", [ovColor])],
        setSelect: [function (u) {
          if (u.select.width > 2)
            zoomAll(u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x"), u);
        }],
        ready: [function (u) {
          var sel = u.root.querySelector(".u-select");
          var gl = el("div", "grip l"), gr = el("div", "grip r");
          sel.appendChild(gl);
          sel.appendChild(gr);
          sel.addEventListener("mousedown", function (e) {
            bindDrag(e, function (dx) {
              var w = right0 - left0, maxR = u.bbox.width / dpr;
              var l = Math.max(0, Math.min(left0 + dx, maxR - w));
              setRange(l, l + w);
            });
          });
          gl.addEventListener("mousedown", function (e) {
            bindDrag(e, function (dx) { setRange(Math.min(left0 + dx, right0 - 2), right0); });
          });
          gr.addEventListener("mousedown", function (e) {
            bindDrag(e, function (dx) { setRange(left0, Math.max(right0 + dx, left0 + 2)); });
          });
        }],
      },
    }, [T.t, overview], rbox);
    ready = true;
  }

  // ---- the table --------------------------------------------------------

  function sortable() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      var ths = table.querySelectorAll("th");
      ths.forEach(function (th, col) {
        th.addEventListener("click", function () {
          var asc = !th.classList.contains("asc");
          ths.forEach(function (h) { h.classList.remove("asc", "desc"); });
          th.classList.add(asc ? "asc" : "desc");
          var numeric = th.dataset.numeric === "true";
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
            if (x === "" && y !== "") return 1; // empty cells last either way
            if (y === "" && x !== "") return -1;
            var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
            return asc ? c : -c;
          });
          rows.forEach(function (r) { body.appendChild(r); });
        });
      });
    });
  }

  // ---- a search's path: each probe's figure by probe number -------------

  function searchPath() {
    var S = D.search, host = document.getElementById("search-chart");
    if (!S || !host) return;
    (S.notes || []).forEach(function (n) { note(host, n); });
    if (!S.x.length || !S.series.length) return;
    var colors = S.series.map(function (s) { return color(s.config); });
    var series = [{label: "probe", value: function (u, v) { return v == null ? "--" : "#" + v; }}];
    S.series.forEach(function (s, i) {
      var opt = {
        label: "config " + s.config + ": " + s.label + (s.mark ? " (" + s.mark + ")" : ""),
        stroke: colors[i],
        width: 1.5,
        spanGaps: true,
        points: {show: true, size: 7, fill: s.mark ? "#ffffff" : colors[i], stroke: colors[i]},
        value: function (u, v, si, idx) {
          return v == null ? "--" : pm(v, s.lo[idx], s.hi[idx]) + " " + S.unit;
        },
      };
      if (s.mark) opt.dash = [6, 4];
      series.push(opt);
    });
    /* a cross on each dropped or excluded configuration's last probe */
    function crosses(u) {
      var ctx = u.ctx, b = u.bbox, r = 6 * dpr;
      ctx.save();
      ctx.beginPath();
      ctx.rect(b.left, b.top, b.width, b.height);
      ctx.clip();
      ctx.lineWidth = 2 * dpr;
      S.series.forEach(function (s, i) {
        var j = S.x.indexOf(s.marked_at);
        if (s.marked_at == null || j < 0 || s.y[j] == null || !u.series[i + 1].show) return;
        var x = u.valToPos(S.x[j], "x", true), y = u.valToPos(s.y[j], "y", true);
        ctx.strokeStyle = colors[i];
        ctx.beginPath();
        ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r);
        ctx.moveTo(x - r, y + r); ctx.lineTo(x + r, y - r);
        ctx.stroke();
      });
      ctx.restore();
    }
    plot("search", {
      title: "Search path: " + S.figure + " of each probe",
      height: 340,
      scales: {
        x: {time: false},
        y: {range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.08 : 1]; }},
      },
      axes: [
        // probes are whole numbers: no tick between two
        {label: "probe", values: function (u, splits) { return splits.map(function (v) { return v % 1 === 0 ? v : ""; }); }},
        {label: S.y_label, size: 64},
      ],
      series: series,
      cursor: {drag: {x: true, y: false, setScale: true}},
      hooks: {draw: [whiskers(function () {
        var out = [];
        S.series.forEach(function (s, i) {
          S.x.forEach(function (x, j) {
            if (s.y[j] != null) out.push({s: i + 1, x: x, lo: s.lo[j], hi: s.hi[j], dir: "y"});
          });
        });
        return out;
      }, colors), crosses, track("search", colors, countWhiskers)]},
    }, [S.x].concat(S.series.map(function (s) { return s.y; })), host);
  }

  // ---- the self-test: report.html#selftest drives the page with real DOM
  // events in the browser and records in window.__report.selftest whether
  // each interaction did what the page says (true, or what went wrong).

  function selftest(done) {
    var out = {}, steps = [];
    function check(name, ok, why) { out[name] = ok ? true : why; }
    function mouse(target, type, x, y, buttons) {
      // a move with the button down carries a movement, as a real one does
      // (uPlot ignores still ones while dragging)
      target.dispatchEvent(new MouseEvent(type, {bubbles: true, cancelable: true, view: window,
        clientX: x, clientY: y, button: 0, buttons: buttons, movementX: buttons ? 1 : 0}));
    }
    function at(u, f) {
      var r = u.over.getBoundingClientRect();
      return [r.left + r.width * f, r.top + r.height / 2];
    }
    function drag(u, f0, f1) {
      var a = at(u, f0), b = at(u, f1);
      mouse(u.over, "mousemove", a[0], a[1], 0);
      mouse(u.over, "mousedown", a[0], a[1], 1);
      mouse(u.over, "mousemove", (a[0] + b[0]) / 2, a[1], 1);
      mouse(u.over, "mousemove", b[0], b[1], 1);
      mouse(document, "mouseup", b[0], b[1], 0);
    }
    function near(a, b) { return Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(a), Math.abs(b)); }
    function xr(u) { return [u.scales.x.min, u.scales.x.max]; }
    function legendValues(u) {
      return Array.prototype.map.call(u.root.querySelectorAll(".u-legend .u-series .u-value"),
        function (v) { return v.textContent; }).slice(1);
    }
    var T = D.timeline, rows = TL.rows, ranger = P.timeline_ranger;
    var full = T ? [T.t[0], T.t[T.t.length - 1]] : null;
    function synced(ref) {
      return rows.every(function (o) { var r = xr(o); return near(r[0], ref[0]) && near(r[1], ref[1]); });
    }
    if (T && rows.length) {
      var cpu = P.timeline_cpu, mem = P.timeline_memory;
      steps.push(function () { drag(cpu, 0.2, 0.5); });
      steps.push(function () {
        var r = xr(cpu);
        check("timeline_drag_zooms_every_row", r[1] - r[0] < 0.6 * (full[1] - full[0]) && synced(r),
          "rows: " + JSON.stringify(rows.map(xr)));
        check("timeline_zoom_shows_on_the_overview", ranger.select.width > 0, "no selection on the overview");
        mouse(mem.over, "dblclick", at(mem, 0.5)[0], at(mem, 0.5)[1], 0);
      });
      steps.push(function () {
        check("timeline_double_click_resets_every_row", synced(full) && ranger.select.width === 0,
          "rows: " + JSON.stringify(rows.map(xr)) + " full " + JSON.stringify(full));
        var reg = T.regions[Math.floor(T.regions.length / 2)];
        if (!reg) { check("timeline_hover_names_the_point", false, "no region"); return; }
        var x = mem.valToPos((reg.start + reg.end) / 2, "x"), b = mem.over.getBoundingClientRect();
        mouse(mem.over, "mousemove", b.left + x, b.top + 10, 0);
        steps.hovered = reg;
      });
      steps.push(function () {
        var text = document.getElementById("timeline-info").textContent;
        check("timeline_hover_names_the_point", text.indexOf("point " + steps.hovered.point + " ") === 0 &&
          text.indexOf(steps.hovered.params) > 0, "info: " + text);
        var vals = legendValues(P.timeline_cpu);
        check("timeline_rows_follow_the_cursor", vals.length > 0 && vals.every(function (v) { return v !== "" && v !== "--"; }),
          "cpu legend: " + JSON.stringify(vals));
        drag(ranger, 0.6, 0.8);
      });
      steps.push(function () {
        var want = [ranger.posToVal(ranger.select.left, "x"), ranger.posToVal(ranger.select.left + ranger.select.width, "x")];
        check("overview_drag_zooms_every_row", synced(want) && want[1] - want[0] < 0.5 * (full[1] - full[0]),
          "rows: " + JSON.stringify(rows.map(xr)) + " want " + JSON.stringify(want));
        steps.before = xr(cpu);
        var sel = ranger.root.querySelector(".u-select"), b = sel.getBoundingClientRect();
        var y = b.top + b.height / 2, x = b.left + b.width / 2, dx = -ranger.over.getBoundingClientRect().width * 0.2;
        mouse(sel, "mousedown", x, y, 1);
        mouse(document, "mousemove", x + dx, y, 1);
        mouse(document, "mouseup", x + dx, y, 0);
      });
      steps.push(function () {
        var a = steps.before, b = xr(cpu);
        check("overview_selection_moves", b[0] < a[0] && Math.abs((b[1] - b[0]) - (a[1] - a[0])) < 0.02 * (a[1] - a[0]) && synced(b),
          "before " + JSON.stringify(a) + " after " + JSON.stringify(b));
        mouse(mem.over, "dblclick", at(mem, 0.5)[0], at(mem, 0.5)[1], 0);
      });
    }
    var tp = P.throughput;
    if (tp) {
      steps.push(function () {
        var b = tp.over.getBoundingClientRect();
        var x = tp.valToPos(tp.data[0][tp.data[0].length - 1], "x");
        mouse(tp.over, "mousemove", b.left + x, b.top + b.height / 2, 0);
      });
      steps.push(function () {
        var vals = legendValues(tp);
        var want = D.throughput[0].series.filter(function (s) { return s.y[s.y.length - 1] != null; }).length;
        var shown = vals.filter(function (v) { return v !== "--"; }).length;
        check("legend_shows_every_series_at_the_cursor", shown === want && want > 0, "legend: " + JSON.stringify(vals));
        steps.label = tp.root.querySelectorAll(".u-legend .u-series")[1].querySelector("th");
        steps.label.dispatchEvent(new MouseEvent("click", {bubbles: true, button: 0}));
      });
      steps.push(function () {
        steps.shown = tp.series[1].show;
        steps.label.dispatchEvent(new MouseEvent("click", {bubbles: true, button: 0}));
      });
      steps.push(function () {
        check("legend_click_toggles_a_series", steps.shown === false && tp.series[1].show === true,
          "after one click show=" + steps.shown + ", after two " + tp.series[1].show);
      });
    }
    var cv = document.querySelector("#heatmap canvas");
    if (cv) {
      steps.push(function () {
        var b = cv.getBoundingClientRect();
        // the top-left cell: right of the prompt labels, under the axis title
        mouse(cv, "mousemove", b.left + 60 + 20, b.top + 22 + 20, 0);
      });
      steps.push(function () {
        var tip = document.querySelector("#heatmap .tip");
        check("heatmap_hover_names_the_point", tip.style.display === "block" && /tok\/s at point \d+/.test(tip.textContent),
          "tip: " + tip.style.display + " " + tip.textContent);
      });
    }
    steps.push(function () {
      var th = document.querySelectorAll("#points th")[4];
      th.click();
      th.click();
      var vs = Array.prototype.map.call(document.querySelectorAll("#points tbody tr"), function (r) {
        return r.cells[4].dataset.v;
      }).filter(function (v) { return v !== ""; }).map(parseFloat);
      var sorted = vs.every(function (v, i) { return i === 0 || vs[i - 1] >= v; });
      check("table_sorts_by_a_column", th.classList.contains("desc") && sorted && vs.length > 0, "tok/s: " + vs.join(","));
    });
    (function next(i) {
      if (i >= steps.length) { done(out); return; }
      try {
        steps[i]();
      } catch (e) {
        out["step " + i] = "exception: " + (e && e.stack ? e.stack : String(e));
      }
      setTimeout(function () { next(i + 1); }, 80);
    })(0);
  }

  // ---- go ----------------------------------------------------------------

  function guarded(name, f) {
    try {
      f();
    } catch (e) {
      R.errors.push("exception in " + name + ": " + (e && e.stack ? e.stack : String(e)));
    }
  }
  guarded("search", searchPath);
  guarded("throughput", throughput);
  guarded("energy", energy);
  guarded("latency", latency);
  guarded("heatmap", heatmap);
  guarded("instances", instances);
  guarded("timeline", timeline);
  guarded("hosts", hostsRam);
  guarded("table", sortable);

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (c) { c.u.setSize({width: width(), height: c.height}); });
    }, 150);
  });

  // uPlot draws in a microtask after each constructor: finish after that
  setTimeout(function () {
    R.done = true;
    R.flush();
    if (location.hash === "#selftest")
      selftest(function (out) {
        R.selftest = out;
        R.flush();
      });
  }, 100);
  R.flush();
})();
