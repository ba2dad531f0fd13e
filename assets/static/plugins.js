// /plugins: one host's plugin, its latest values as cards and the last 100
// samples of every numeric value as a small chart.
//
// The selection lives in the URL as /plugins#host/plugin, so it can be
// bookmarked and the back button walks through earlier selections: the
// dropdowns only change location.hash, and the hashchange handler loads.
(function () {
  'use strict';
  var H = window.hbd, el = H.el, svg = H.svg;

  var REFRESH_MS = 30000;
  var SAMPLES = 100;
  var CHART_W = 200, CHART_H = 44; // SVG user units; the chart stretches to its card

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
  var charts = new Map(); // metric path -> {points, key}

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
    H.clear(root);
    charts.clear();
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
      H.clear(root);
      charts.clear();
    }
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
      return H.api(base + '/' + encodeURIComponent(plugin) + '?limit=' + SAMPLES).then(function (r) {
        if (my !== seq) return;
        render(r && Array.isArray(r.samples) ? r.samples : [], r && r.sample_count);
      });
    }).catch(function (err) {
      if (my !== seq) return;
      H.clear(root);
      charts.clear();
      if (err.status === 404) {
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

  function render(samples, count) {
    showEmpty('');
    H.clear(root);
    charts.clear();
    fetchedAt = H.nowSec();
    sampleCount = typeof count === 'number' ? count : samples.length;
    if (!samples.length || !isObj(samples[0].data)) {
      latestTs = null;
      showEmpty('No samples for ' + cur.plugin + ' on ' + cur.host + ' yet.');
      tick();
      return;
    }
    latestTs = samples[0].timestamp;
    var oldestFirst = samples.slice().reverse();
    var groups = [];
    collect(samples[0].data, [], groups);
    groups.forEach(function (g) { root.appendChild(renderGroup(g, oldestFirst)); });
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

  function renderGroup(g, samples) {
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
    var grid = el('div', { className: 'cards' });
    g.scalars.forEach(function (k) {
      var path = g.path.concat(k);
      grid.appendChild(card(k, path, valueAt(latest, path), samples));
    });
    if (g.scalars.length) sec.appendChild(grid);
    return sec;
  }

  function card(key, path, value, samples) {
    var id = path.join('.');
    var mv = H.metricValue(key, value);
    var c = el('div', { className: 'metric-card' + (typeof value === 'number' ? '' : ' text'), data: { metric: id } },
      el('div', { className: 'label', text: key.replace(/_/g, ' '), title: id }),
      el('div', { className: 'value' }, el('span', { className: 'v', text: mv.value }),
        mv.unit ? el('span', { className: 'unit', text: mv.unit }) : null));
    if (typeof value !== 'number') return c;
    var points = [];
    for (var i = 0; i < samples.length; i++) {
      var v = valueAt(samples[i].data, path);
      if (typeof v === 'number' && isFinite(v)) points.push({ t: samples[i].timestamp, v: v });
    }
    if (points.length < 2) {
      c.appendChild(el('div', { className: 'spark-legend' }, el('span', { text: 'one sample so far' })));
      return c;
    }
    var chart = sparkline(points);
    chart.appendChild(svg('title', {})).textContent = 'last ' + points.length + ' samples, ' +
      H.clock(points[0].t) + ' to ' + H.clock(points[points.length - 1].t);
    c.appendChild(chart);
    var legend = el('div', { className: 'spark-legend' });
    c.appendChild(legend);
    var info = { key: key, points: points, legend: legend, svg: chart };
    charts.set(id, info);
    restoreLegend(info);
    return c;
  }

  function scale(points) {
    var min = Infinity, max = -Infinity, t0 = points[0].t, t1 = points[points.length - 1].t;
    points.forEach(function (p) { if (p.v < min) min = p.v; if (p.v > max) max = p.v; });
    var pad = (max - min) * 0.08 || Math.abs(max) * 0.05 || 1;
    var lo = min - pad, hi = max + pad;
    if (min >= 0 && lo < 0) lo = 0;
    var span = t1 - t0 || 1;
    return {
      min: min, max: max,
      x: function (t) { return (t - t0) / span * CHART_W; },
      y: function (v) { return CHART_H - (v - lo) / (hi - lo) * CHART_H; },
      t: function (x) { return t0 + x / CHART_W * span; }
    };
  }

  function sparkline(points) {
    var s = scale(points);
    var line = points.map(function (p) { return s.x(p.t).toFixed(1) + ',' + s.y(p.v).toFixed(1); }).join(' ');
    var chart = svg('svg', {
      'class': 'spark', viewBox: '0 0 ' + CHART_W + ' ' + CHART_H,
      preserveAspectRatio: 'none', role: 'img', 'aria-label': 'last ' + points.length + ' samples'
    });
    chart.appendChild(svg('polygon', { 'class': 'area', points: '0,' + CHART_H + ' ' + line + ' ' + CHART_W + ',' + CHART_H }));
    chart.appendChild(svg('polyline', { 'class': 'line', points: line }));
    var cursor = svg('line', { 'class': 'cursor hidden', x1: 0, x2: 0, y1: 0, y2: CHART_H });
    chart.appendChild(cursor);
    return chart;
  }

  // A monotonic counter (bytes sent, packets, read_count) is more telling
  // as its average rate over the charted window.
  function counterRate(info) {
    var k = info.key, p = info.points;
    if (/_per_s$|percent/.test(k) || !/bytes|packets|count|err|drop/.test(k)) return null;
    for (var i = 1; i < p.length; i++) if (p[i].v < p[i - 1].v) return null;
    var dt = p[p.length - 1].t - p[0].t;
    if (dt <= 0) return null;
    return (p[p.length - 1].v - p[0].v) / dt;
  }

  function restoreLegend(info) {
    var s = scale(info.points);
    H.clear(info.legend);
    var rate = counterRate(info);
    if (rate !== null) {
      var rateKey = info.key.indexOf('bytes') >= 0 ? 'bytes_per_s' : 'x_per_s';
      info.legend.appendChild(el('span', { text: 'avg ' + H.metricText(rateKey, rate) }));
    } else {
      info.legend.appendChild(el('span', { text: 'min ' + H.metricText(info.key, s.min) }));
      info.legend.appendChild(el('span', { text: 'max ' + H.metricText(info.key, s.max) }));
    }
  }

  // Hovering a chart shows the value under the pointer in its legend.
  root.addEventListener('pointermove', function (ev) {
    var chart = ev.target.closest && ev.target.closest('svg.spark');
    if (!chart) return;
    var cardEl = chart.closest('.metric-card');
    var info = charts.get(cardEl.dataset.metric);
    if (!info) return;
    var box = chart.getBoundingClientRect();
    var x = (ev.clientX - box.left) / box.width * CHART_W;
    var s = scale(info.points), t = s.t(x);
    var best = info.points[0];
    info.points.forEach(function (p) { if (Math.abs(p.t - t) < Math.abs(best.t - t)) best = p; });
    var cursor = chart.querySelector('.cursor');
    var cx = s.x(best.t).toFixed(1);
    cursor.setAttribute('x1', cx);
    cursor.setAttribute('x2', cx);
    cursor.setAttribute('class', 'cursor');
    H.clear(info.legend);
    info.legend.appendChild(el('span', { text: H.metricText(info.key, best.v) }));
    info.legend.appendChild(el('span', { text: H.clock(best.t) }));
  });
  root.addEventListener('pointerout', function (ev) {
    var chart = ev.target.closest && ev.target.closest('svg.spark');
    if (!chart || chart.contains(ev.relatedTarget)) return;
    var info = charts.get(chart.closest('.metric-card').dataset.metric);
    if (!info) return;
    chart.querySelector('.cursor').setAttribute('class', 'cursor hidden');
    restoreLegend(info);
  });

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
