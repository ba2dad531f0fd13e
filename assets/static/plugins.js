// /plugins: one host's plugin, its latest values as cards and every sample
// the daemon holds of each numeric value as a chart with a time axis
// (uPlot, vendored under /static/vendor/uplot), and above them the host's
// round-trip time per address family.
//
// The selection lives in the URL as /plugins#host/plugin, so it can be
// bookmarked and the back button walks through earlier selections: the
// dropdowns only change location.hash, and the hashchange handler loads.
(function () {
  'use strict';
  var H = window.hbd, el = H.el;

  var REFRESH_MS = 30000;
  var MAX_SAMPLES = 100000; // the API's cap on ?limit=
  var CHART_H = 130;        // px; the width follows the card
  // A step between samples this many times the usual one is drawn as a
  // gap: the agent, or the daemon, was not running.
  var GAP_FACTOR = 2.5;

  var $ = function (id) { return document.getElementById(id); };
  var hostSel = $('host-select'), pluginSel = $('plugin-select');
  var root = $('cards-root'), errBox = $('plugins-error'), emptyBox = $('plugins-empty');
  var updated = $('updated');

  var hostNames = [];
  var firstLive = '';   // the host chosen when the URL names none: one that is UP
  var hostListKey = '';
  var cur = { host: '', plugin: '' };
  var latestTs = null, sampleCount = 0, fetchedAt = 0;
  var seq = 0; // answers to superseded requests are dropped
  // plots maps a chart's id ("metric:" and the value's path, or "rtt") to
  // its uPlot, to resize and destroy them; it is also window.hbd.plots, for
  // the browser tests and the console.
  var plots = new Map();
  H.plots = plots;
  var rttRoot = $('rtt-root');
  var rttSeq = 0;
  var shown = ''; // host and plugin whose charts are on the page

  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

  function showError(msg) {
    if (msg) { errBox.textContent = msg; errBox.classList.remove('hidden'); }
    else errBox.classList.add('hidden');
  }
  function showEmpty(msg) {
    if (msg) { emptyBox.textContent = msg; emptyBox.classList.remove('hidden'); }
    else emptyBox.classList.add('hidden');
  }

  // ---- URL <-> selection ----

  function parseHash() {
    var h = location.hash.replace(/^#/, '');
    var i = h.indexOf('/');
    var host = i < 0 ? h : h.slice(0, i);
    var plugin = i < 0 ? '' : h.slice(i + 1);
    try { host = decodeURIComponent(host); plugin = decodeURIComponent(plugin); } catch (e) { host = ''; plugin = ''; }
    return { host: host, plugin: plugin };
  }

  function hashFor(host, plugin) {
    return '#' + encodeURIComponent(host) + (plugin ? '/' + encodeURIComponent(plugin) : '');
  }

  // Completing a partial URL (#host, or nothing) must not add a history
  // entry, or Back would land on the partial URL and bounce forward again.
  function replaceHash(host, plugin) {
    history.replaceState(null, '', location.pathname + location.search + hashFor(host, plugin));
  }

  // ---- dropdowns ----

  function fillSelect(sel, values, placeholder) {
    H.clear(sel);
    if (placeholder) sel.appendChild(el('option', { value: '', text: placeholder }));
    var frag = document.createDocumentFragment();
    values.forEach(function (v) { frag.appendChild(el('option', { value: v, text: v })); });
    sel.appendChild(frag);
  }

  function selectValue(sel, v) {
    sel.value = v;
    if (sel.value !== v) sel.value = '';
  }

  function loadHosts() {
    return H.api('/api/0/hosts').then(function (list) {
      list = (Array.isArray(list) ? list : []).filter(function (h) { return h && typeof h.name === 'string'; });
      var names = list.map(function (h) { return h.name; });
      names.sort(collator.compare);
      var up = list.filter(function (h) { return h.state === 'UP'; }).map(function (h) { return h.name; });
      up.sort(collator.compare);
      firstLive = up.length ? up[0] : (names[0] || '');
      var key = names.join('\n');
      if (key !== hostListKey) {
        hostListKey = key;
        hostNames = names;
        fillSelect(hostSel, names, names.length ? null : 'no hosts');
        selectValue(hostSel, cur.host);
      }
      hostSel.disabled = names.length === 0;
      return names;
    });
  }

  // ---- loading ----

  function route() {
    var want = parseHash();
    var host = want.host;
    if (!host) {
      if (!hostNames.length) {
        cur = { host: '', plugin: '' };
        renderNothing('No hosts have reported yet.');
        return;
      }
      host = firstLive || hostNames[0];
      replaceHash(host, '');
    }
    var listed = Array.prototype.some.call(hostSel.options, function (o) { return o.value === host; });
    if (!listed) {
      // The URL may name a host that registered after our list was
      // fetched; the API decides whether it exists.
      hostSel.appendChild(el('option', { value: host, text: host }));
    }
    selectValue(hostSel, host);
    load(host, want.plugin);
  }

  function renderNothing(msg) {
    clearPlots();
    latestTs = null;
    fillSelect(pluginSel, [], '—');
    pluginSel.disabled = true;
    showEmpty(msg);
    tick();
  }

  // load fetches the host's plugin list, settles on a plugin, then fetches
  // its samples.
  function load(host, plugin) {
    var my = ++seq;
    var hostChanged = host !== cur.host;
    cur = { host: host, plugin: plugin };
    if (hostChanged) {
      clearPlots();
      clearRTT();
    }
    loadRTT(host);
    var base = '/api/0/hosts/' + encodeURIComponent(host) + '/plugins';
    return H.api(base).then(function (resp) {
      if (my !== seq) return;
      var names = Object.keys((resp && resp.plugins) || {}).sort(collator.compare);
      fillSelect(pluginSel, names, names.length ? null : 'no plugins');
      pluginSel.disabled = names.length === 0;
      if (!names.length) {
        showError('');
        renderNothing('Host ' + host + ' has not sent any plugin data yet.');
        pluginSel.disabled = true;
        return;
      }
      if (!plugin || names.indexOf(plugin) < 0) {
        if (plugin) showError('Host ' + host + ' has no plugin ' + plugin + '; showing ' + names[0] + '.');
        plugin = names[0];
        replaceHash(host, plugin);
        cur.plugin = plugin;
      } else {
        showError('');
      }
      selectValue(pluginSel, plugin);
      // Every sample the ring holds: the listing says how many.
      var held = resp.plugins[plugin] && resp.plugins[plugin].sample_count;
      var limit = Math.min(MAX_SAMPLES, Math.max(1, typeof held === 'number' ? held : 1));
      return H.api(base + '/' + encodeURIComponent(plugin) + '?limit=' + limit).then(function (r) {
        if (my !== seq) return;
        render(r && Array.isArray(r.samples) ? r.samples : [], r && r.stored);
      });
    }).catch(function (err) {
      if (my !== seq) return;
      if (err.status === 404) {
        clearRTT();
        renderNothing('');
        showError(err.message);
      } else {
        // Keep what is shown; say it is stale.
        showError('Cannot refresh: ' + err.message);
      }
    });
  }

  // ---- rendering ----

  function isObj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }

  function valueAt(data, path) {
    var v = data;
    for (var i = 0; i < path.length; i++) {
      if (!isObj(v)) return undefined;
      v = v[path[i]];
    }
    return v;
  }

  function render(samples, stored) {
    showEmpty('');
    // A refresh of the plugin on show keeps its charts (their zoom, and
    // the cursor's legend) and gives them the new samples.
    var shownNow = cur.host + '\n' + cur.plugin;
    var old = shownNow === shown ? takePlots() : new Map();
    shown = shownNow;
    clearPlots();
    fetchedAt = H.nowSec();
    sampleCount = typeof stored === 'number' ? stored : samples.length;
    if (!samples.length || !isObj(samples[0].data)) {
      latestTs = null;
      showEmpty('No samples for ' + cur.plugin + ' on ' + cur.host + ' yet.');
      tick();
      return;
    }
    latestTs = samples[0].timestamp;
    var oldestFirst = samples.slice().reverse();
    var groups = [], pending = [];
    collect(samples[0].data, [], groups);
    groups.forEach(function (g) { root.appendChild(renderGroup(g, oldestFirst, pending)); });
    drawCharts(pending, oldestFirst, old);
    old.forEach(function (u) { u.destroy(); });
    tick();
  }

  // collect walks a sample's data: each object holding scalars becomes a
  // group (the top level is the first, untitled), nested objects become
  // groups of their own titled by their path.
  function collect(obj, path, out) {
    var g = { path: path, scalars: [], props: [] };
    var nested = [];
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      if (isObj(v)) nested.push(k);
      else if (typeof v === 'number' || path.length === 0) g.scalars.push(k);
      else g.props.push(k); // strings in a nested group describe it: fstype, device
    });
    if (g.scalars.length || g.props.length) out.push(g);
    nested.forEach(function (k) { collect(obj[k], path.concat(k), out); });
  }

  function renderGroup(g, samples, pending) {
    var latest = samples[samples.length - 1].data;
    var sec = el('section', { className: 'group', data: { group: g.path.join('.') } });
    if (g.path.length) {
      var h3 = el('h3', null, el('span', { className: 'path', text: g.path.join(' › ') }));
      if (g.props.length) {
        var obj = valueAt(latest, g.path);
        h3.appendChild(el('span', {
          className: 'props',
          text: g.props.map(function (k) { return k + ': ' + String(obj[k]); }).join(' · ')
        }));
      }
      sec.appendChild(h3);
    }
    var grid = el('div', { className: 'cards' + (g.scalars.some(function (k) {
      return typeof valueAt(latest, g.path.concat(k)) === 'number';
    }) ? ' charts' : '') });
    g.scalars.forEach(function (k) {
      var path = g.path.concat(k);
      grid.appendChild(card(k, path, valueAt(latest, path), pending));
    });
    if (g.scalars.length) sec.appendChild(grid);
    return sec;
  }

  function card(key, path, value, pending) {
    var id = path.join('.');
    var mv = H.metricValue(key, value);
    var c = el('div', { className: 'metric-card' + (typeof value === 'number' ? ' charted' : ' text'), data: { metric: id } },
      el('div', { className: 'label', text: key.replace(/_/g, ' '), title: id }),
      el('div', { className: 'value' }, el('span', { className: 'v', text: mv.value }),
        mv.unit ? el('span', { className: 'unit', text: mv.unit }) : null));
    if (typeof value !== 'number') return c;
    var box = el('div', { className: 'chart' });
    var summary = el('div', { className: 'chart-summary' });
    c.appendChild(box);
    c.appendChild(summary);
    pending.push({ id: id, key: key, path: path, box: box, summary: summary });
    return c;
  }

  // drawCharts draws the charts of the cards just put in the page (uPlot
  // needs their width): one per numeric value, over every sample fetched.
  function drawCharts(pending, samples, old) {
    if (!pending.length) return;
    if (typeof window.uPlot !== 'function') {
      showError('The charts cannot be drawn: /static/vendor/uplot/uPlot.iife.min.js did not load.');
      return;
    }
    var xs = samples.map(function (s) { return s.timestamp; });
    pending.forEach(function (p) {
      var ys = samples.map(function (s) {
        var v = valueAt(s.data, p.path);
        return typeof v === 'number' && isFinite(v) ? v : null;
      });
      summarize(p.summary, p.key, xs, ys);
      var id = 'metric:' + p.id, data = withGaps(xs, [ys]), u = old.get(id);
      if (u) {
        old.delete(id);
        p.box.appendChild(u.root);
        refill(u, data);
      } else {
        u = makePlot(p.box, data, [{ label: p.key }], p.key);
      }
      plots.set(id, u);
    });
  }

  // refill gives a chart new data. A chart the user zoomed into keeps its
  // time range; otherwise it spans the new data.
  function refill(u, data) {
    var x = u.scales.x, d = u.data[0];
    var zoomed = d.length > 0 && (x.min > d[0] || x.max < d[d.length - 1]);
    if (zoomed) {
      var min = x.min, max = x.max;
      u.setData(data, false);
      u.setScale('x', { min: min, max: max });
    } else {
      u.setData(data);
    }
    var w = chartWidth(u.root.parentNode);
    if (w !== u.width) u.setSize({ width: w, height: CHART_H });
  }

  // ---- charts ----

  function pad2(n) { return n < 10 ? '0' + n : '' + n; }

  // medianStep is the usual time between two samples.
  function medianStep(xs) {
    var d = [];
    for (var i = 1; i < xs.length; i++) if (xs[i] > xs[i - 1]) d.push(xs[i] - xs[i - 1]);
    if (!d.length) return 0;
    d.sort(function (a, b) { return a - b; });
    return d[Math.floor(d.length / 2)];
  }

  // withGaps makes uPlot's data, [xs, ...cols], from ascending times and
  // their columns, with a row of nulls put midway into every step longer
  // than GAP_FACTOR times the median step: with spanGaps off, uPlot breaks
  // the line there instead of drawing a straight line across an outage.
  function withGaps(xs, cols) {
    var limit = medianStep(xs) * GAP_FACTOR;
    var out = [[]], c;
    for (c = 0; c < cols.length; c++) out.push([]);
    for (var i = 0; i < xs.length; i++) {
      if (i > 0 && limit > 0 && xs[i] - xs[i - 1] > limit) {
        out[0].push((xs[i - 1] + xs[i]) / 2);
        for (c = 0; c < cols.length; c++) out[c + 1].push(null);
      }
      out[0].push(xs[i]);
      for (c = 0; c < cols.length; c++) out[c + 1].push(cols[c][i]);
    }
    return out;
  }

  // snapIdx is uPlot's cursor.dataIdx: the cursor shows the nearest point
  // the series has (for the time, series 0, the nearest any series has),
  // so hovering a gap shows the sample beside it, never the gap's filler.
  function snapIdx(u, si, idx) {
    var d = u.data, n = d[0].length;
    function has(i) {
      if (si > 0) return d[si][i] != null;
      for (var s = 1; s < d.length; s++) if (d[s][i] != null) return true;
      return false;
    }
    if (idx == null || has(idx)) return idx;
    for (var k = 1; k < n; k++) {
      if (idx - k >= 0 && has(idx - k)) return idx - k;
      if (idx + k < n && has(idx + k)) return idx + k;
    }
    return null;
  }

  // timeLabels formats the time axis in local 24-hour time: seconds only
  // when the ticks are less than a minute apart, the date on the first
  // tick and where a day begins when the chart spans more than one day.
  function timeLabels(u, splits, axisIdx, space, incr) {
    var days = splits.length > 1 && new Date(splits[0] * 1000).toDateString() !==
      new Date(splits[splits.length - 1] * 1000).toDateString();
    var prev = '';
    return splits.map(function (ts) {
      var d = new Date(ts * 1000);
      var date = pad2(d.getMonth() + 1) + '-' + pad2(d.getDate());
      if (incr >= 86400) return d.getFullYear() + '-' + date;
      var t = pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + (incr < 60 ? ':' + pad2(d.getSeconds()) : '');
      if (days && date !== prev) t = date + ' ' + t;
      prev = date;
      return t;
    });
  }

  // BYTE_INCRS are tick steps of 1, 2, 4... times a power of 1024, so a
  // byte axis reads 512 MB, 1 GB rather than 953.7 MB.
  var BYTE_INCRS = (function () {
    var out = [];
    for (var p = 0; p < 6; p++) {
      for (var m = 1; m < 1024; m *= 2) out.push(m * Math.pow(1024, p));
    }
    return out;
  })();

  // TIME_INCRS are the time axis's tick steps, in seconds: never less than
  // one, since a label shows no fraction of a second.
  var TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400];

  function isBytes(key) { return /bytes/.test(key) && !/_per_s$/.test(key); }
  function isPercent(key) { return key === 'percent' || /_percent$|_pct$/.test(key); }

  // yRange: percentages on 0-100 (unless one is above), and a value that
  // cannot be negative never gets a negative axis.
  function yRange(key) {
    return function (u, min, max) {
      if (min == null) return [0, 1];
      if (isPercent(key) && min >= 0 && max <= 100) return [0, 100];
      var r = window.uPlot.rangeNum(min, max, 0.1, true);
      if (min >= 0 && r[0] < 0) r[0] = 0;
      return r;
    };
  }

  function cssVar(name, dflt) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name);
    return (v && v.trim()) || dflt;
  }

  function chartWidth(box) { return Math.max(160, box.clientWidth || 0); }

  // makePlot draws data ([times, ...values]) into box: a time axis, a value
  // axis in key's unit, a live legend with the time and values under the
  // cursor. Dragging across the chart zooms in; a double click zooms out.
  function makePlot(box, data, series, key) {
    var muted = cssVar('--muted', '#667085'), line = cssVar('--border', '#dde1e8');
    var colors = [cssVar('--accent', '#2456d6'), cssVar('--series-2', '#c2410c')];
    var font = '11px system-ui, sans-serif';
    var axis = { stroke: muted, font: font, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1, size: 4 } };
    var valueText = function (u, v) { return v == null ? '—' : H.metricText(key, v); };
    var opts = {
      width: chartWidth(box),
      height: CHART_H,
      legend: { live: true },
      cursor: { dataIdx: snapIdx },
      scales: { x: { time: true }, y: { range: yRange(key) } },
      series: [{
        label: 'time',
        value: function (u, ts) { return ts == null ? '—' : H.clock(ts); }
      }].concat(series.map(function (s, i) {
        return {
          label: s.label,
          stroke: colors[i % colors.length],
          fill: series.length === 1 ? cssVar('--accent-soft', '#e8eefc') : undefined,
          width: 1.5,
          spanGaps: false,
          value: valueText
        };
      })),
      axes: [
        Object.assign({ values: timeLabels, incrs: TIME_INCRS, space: 80, size: 32 }, axis),
        Object.assign({
          size: 70,
          values: function (u, splits) { return splits.map(function (v) { return H.metricText(key, v); }); },
          incrs: isBytes(key) ? BYTE_INCRS : undefined
        }, axis)
      ]
    };
    return new window.uPlot(opts, data, box);
  }

  // summarize writes under a chart its minimum and maximum, or, for a
  // monotonic counter (bytes sent, packets, read_count), which tells more
  // as a rate, its average rate over the chart.
  function summarize(box, key, xs, ys) {
    var pts = [];
    for (var i = 0; i < xs.length; i++) if (ys[i] !== null) pts.push({ t: xs[i], v: ys[i] });
    H.clear(box);
    if (!pts.length) return;
    var rate = counterRate(key, pts);
    if (rate !== null) {
      var rateKey = key.indexOf('bytes') >= 0 ? 'bytes_per_s' : 'x_per_s';
      box.appendChild(el('span', { text: 'avg ' + H.metricText(rateKey, rate) }));
    } else {
      var min = Infinity, max = -Infinity;
      pts.forEach(function (p) { if (p.v < min) min = p.v; if (p.v > max) max = p.v; });
      box.appendChild(el('span', { text: 'min ' + H.metricText(key, min) + ' · max ' + H.metricText(key, max) }));
    }
    box.appendChild(el('span', {
      text: pts.length + (pts.length === 1 ? ' sample' : ' samples') + ' since ' + H.clock(pts[0].t)
    }));
  }

  function counterRate(k, p) {
    if (/_per_s$|percent/.test(k) || !/bytes|packets|count|err|drop/.test(k)) return null;
    for (var i = 1; i < p.length; i++) if (p[i].v < p[i - 1].v) return null;
    var dt = p[p.length - 1].t - p[0].t;
    if (dt <= 0) return null;
    return (p[p.length - 1].v - p[0].v) / dt;
  }

  // takePlots removes the plugin's charts from plots, to be reused.
  function takePlots() {
    var out = new Map();
    plots.forEach(function (u, id) {
      if (id.indexOf('metric:') !== 0) return;
      out.set(id, u);
      plots.delete(id);
    });
    return out;
  }

  function clearPlots() {
    plots.forEach(function (u, id) {
      if (id.indexOf('metric:') !== 0) return;
      u.destroy();
      plots.delete(id);
    });
    H.clear(root);
  }

  // The charts follow their cards' width.
  var resizeTimer = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      plots.forEach(function (u) { u.setSize({ width: chartWidth(u.root.parentNode), height: CHART_H }); });
    }, 150);
  });

  // ---- round-trip time ----

  // loadRTT fetches the host's RTT history (GET /api/0/hosts/{host}/rtt)
  // and draws it above the plugin's cards.
  function loadRTT(host) {
    var my = ++rttSeq;
    return H.api('/api/0/hosts/' + encodeURIComponent(host) + '/rtt').then(function (r) {
      if (my === rttSeq) renderRTT(r);
    }, function () {
      // An unknown host is reported by the plugin listing; when the RTT
      // cannot be had the chart is left out rather than shown stale.
      if (my === rttSeq) clearRTT();
    });
  }

  function clearRTT() {
    var u = plots.get('rtt');
    if (u) { u.destroy(); plots.delete('rtt'); }
    H.clear(rttRoot);
    delete rttRoot.dataset.host;
  }

  // joinFamilies makes one uPlot data set of every family's history: the
  // times of all of them, each family's value at its own times (null for a
  // heartbeat without reply, and in its own long gaps), undefined at the
  // others', which uPlot steps over.
  function joinFamilies(fams) {
    var rows = new Map();
    fams.forEach(function (f, k) {
      var pts = f.history.filter(function (e) { return Array.isArray(e) && typeof e[0] === 'number' && isFinite(e[0]); });
      pts.sort(function (a, b) { return a[0] - b[0]; });
      var g = withGaps(pts.map(function (e) { return e[0]; }),
        [pts.map(function (e) { return typeof e[1] === 'number' && isFinite(e[1]) ? e[1] : null; })]);
      for (var i = 0; i < g[0].length; i++) {
        var row = rows.get(g[0][i]);
        if (!row) { row = new Array(fams.length); rows.set(g[0][i], row); }
        row[k] = g[1][i];
      }
    });
    var ts = Array.from(rows.keys()).sort(function (a, b) { return a - b; });
    var data = [ts];
    fams.forEach(function (f, k) { data.push(spreadNulls(ts.map(function (t) { return rows.get(t)[k]; }))); });
    return data;
  }

  // spreadNulls turns the undefined next to a null into null, so that a
  // family's gap runs from its last RTT to its next one: uPlot starts and
  // ends a gap at the neighbouring index, which may be another family's.
  function spreadNulls(ys) {
    var i, j;
    for (i = 0; i < ys.length; i++) {
      if (ys[i] !== null) continue;
      for (j = i - 1; j >= 0 && ys[j] === undefined; j--) ys[j] = null;
      for (j = i + 1; j < ys.length && ys[j] === undefined; j++) ys[j] = null;
    }
    return ys;
  }

  function renderRTT(r) {
    var fams = (r && Array.isArray(r.families) ? r.families : []).filter(function (f) {
      return f && typeof f.family === 'string' && Array.isArray(f.history) && f.history.length > 0;
    });
    fams.sort(function (a, b) { return collator.compare(a.family, b.family); });
    // The same host's chart with the same families takes the new history
    // in place, keeping its zoom and cursor.
    var u = plots.get('rtt'), labels = fams.map(function (f) { return f.family; }).join('\n');
    var stats = rttRoot.querySelector('.rtt-stats');
    if (u && stats && rttRoot.dataset.host === r.host && u.hbdLabels === labels) {
      fillRTTStats(stats, fams);
      refill(u, joinFamilies(fams));
      return;
    }
    clearRTT();
    if (!fams.length || typeof window.uPlot !== 'function') return;
    stats = el('div', { className: 'rtt-stats' });
    fillRTTStats(stats, fams);
    var box = el('div', { className: 'chart' });
    rttRoot.dataset.host = r.host;
    rttRoot.appendChild(el('section', { className: 'group', data: { group: 'rtt' } },
      el('h3', null, el('span', { className: 'path', text: 'round-trip time' }),
        el('span', { className: 'props', text: 'heartbeat replies; a gap is a heartbeat without reply' })),
      el('div', { className: 'metric-card charted wide', data: { metric: 'rtt' } }, stats, box)));
    u = makePlot(box, joinFamilies(fams), fams.map(function (f) { return { label: f.family }; }), 'rtt_ms');
    u.hbdLabels = labels;
    plots.set('rtt', u);
  }

  // fillRTTStats writes each family's quantiles over the window.
  function fillRTTStats(stats, fams) {
    var ms = function (v) { return typeof v === 'number' ? H.metricText('rtt_ms', v) : '—'; };
    H.clear(stats);
    fams.forEach(function (f) {
      stats.appendChild(el('span', {
        data: { family: f.family },
        text: f.family + ' p50 ' + ms(f.p50_ms) + ' · p95 ' + ms(f.p95_ms) + ' · p99 ' + ms(f.p99_ms),
        title: (f.address || '') + (typeof f.count === 'number' ? ', ' + f.count + ' replies in the window' : '')
      }));
    });
  }

  function tick() {
    if (latestTs === null) { updated.textContent = ''; return; }
    updated.textContent = 'latest sample ' + H.ago(latestTs) + ' · ' + sampleCount + ' held';
    updated.title = 'sample at ' + H.clock(latestTs) + ', fetched at ' + H.clock(fetchedAt);
  }

  // ---- events ----

  hostSel.addEventListener('change', function () {
    if (hostSel.value) location.hash = hashFor(hostSel.value, '');
  });
  pluginSel.addEventListener('change', function () {
    if (pluginSel.value) location.hash = hashFor(cur.host, pluginSel.value);
  });
  window.addEventListener('hashchange', route);
  $('refresh').addEventListener('click', function () { refresh(); });

  function refresh() {
    return loadHosts().then(function () {
      if (cur.host) return load(cur.host, cur.plugin);
      route();
    }, function (err) {
      showError('Cannot load hosts: ' + err.message);
    });
  }

  setInterval(tick, 1000);
  loadHosts().then(route, function (err) {
    showError('Cannot load hosts: ' + err.message);
  }).finally(function () {
    // Periodic refresh starts after the first load so the two never race.
    setInterval(refresh, REFRESH_MS);
  });
})();
