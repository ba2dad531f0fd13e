// /alerts: active alerts across the fleet with their summary, a level
// filter (kept in the URL as #critical / #warning), silencing, and the
// list of active silences and maintenance windows (with each window's
// open or next occurrence in its own zone and the browser's). Refreshes
// every 15 s; durations tick every second between refreshes.
(function () {
  'use strict';
  var H = window.hbd, el = H.el;

  var REFRESH_MS = 15000;
  var LEVEL_ORDER = { CRITICAL: 0, WARNING: 1, UNKNOWN: 2 };

  var $ = function (id) { return document.getElementById(id); };
  var list = $('alerts-list'), emptyBox = $('alerts-empty'), errBox = $('alerts-error');
  var silList = $('silences-list'), silEmpty = $('silences-empty');
  var dialog = $('silence-dialog'), form = $('silence-form'), dlgErr = $('silence-error');

  var alerts = null;     // last answer's alerts, OK ones dropped; null until loaded
  var level = '';        // '' (all), 'CRITICAL' or 'WARNING'
  var fetchedAt = 0;
  var target = null;     // {host, metric} being silenced

  function showError(msg) {
    if (msg) { errBox.textContent = msg; errBox.classList.remove('hidden'); }
    else errBox.classList.add('hidden');
  }

  function setNum(id, v) {
    $(id).textContent = typeof v === 'number' ? new Intl.NumberFormat().format(v) : '–';
  }

  // ---- alerts ----

  function loadAlerts() {
    return H.api('/api/0/alerts').then(function (r) {
      r = r || {};
      var s = r.summary || {};
      setNum('summary-critical', s.critical);
      setNum('summary-warning', s.warning);
      setNum('summary-hosts', r.host_count);
      alerts = (Array.isArray(r.alerts) ? r.alerts : []).filter(function (a) { return a && a.level !== 'OK'; });
      alerts.sort(function (a, b) {
        var la = a.level in LEVEL_ORDER ? LEVEL_ORDER[a.level] : 3;
        var lb = b.level in LEVEL_ORDER ? LEVEL_ORDER[b.level] : 3;
        if (la !== lb) return la - lb;
        if (a.since !== b.since) return (a.since || 0) - (b.since || 0);
        return String(a.hostname).localeCompare(String(b.hostname)) ||
          String(a.metric_path).localeCompare(String(b.metric_path));
      });
      fetchedAt = H.nowSec();
      showError('');
      renderAlerts();
    }, function (err) {
      showError('Cannot load alerts: ' + err.message);
      if (alerts === null) {
        $('alerts-table').classList.add('hidden');
        emptyBox.textContent = 'Alert data is unavailable.';
        emptyBox.classList.remove('hidden');
      }
    });
  }

  // The value is formatted by the metric's last path element, which names
  // its unit ("disk_monitor./.percent" -> percent).
  function valueText(a) {
    var key = String(a.metric_path || '').split('.').pop();
    return H.metricText(key, a.last_value);
  }

  function pluginLink(a) {
    var p = String(a.metric_path || '').split('.')[0];
    return '/plugins#' + encodeURIComponent(a.hostname) + (p ? '/' + encodeURIComponent(p) : '');
  }

  function renderAlerts() {
    H.clear(list);
    var shown = alerts.filter(function (a) { return !level || a.level === level; });
    var now = H.nowSec();
    var frag = document.createDocumentFragment();
    shown.forEach(function (a) {
      var host = String(a.hostname || ''), metric = String(a.metric_path || '');
      var flags = el('div', { className: 'flags' },
        a.flapping ? el('span', { className: 'badge flag', text: 'flapping', title: 'changing level repeatedly' }) : null,
        a.silenced ? el('span', { className: 'badge silenced', text: 'silenced' }) : null);
      var btn = el('button', {
        type: 'button', className: 'small', text: a.silenced ? 'Silenced' : 'Silence',
        disabled: !!a.silenced, data: { action: 'silence', host: host, metric: metric }
      });
      var since = el('td', { className: 'since', data: { since: String(a.since), label: 'since' }, text: H.duration(now - a.since) });
      if (isFinite(a.since)) since.title = 'since ' + H.clock(a.since);
      var lv = String(a.level || 'UNKNOWN');
      frag.appendChild(el('tr', { className: 'lv-' + lv, data: { host: host, metric: metric, level: lv } },
        el('td', { className: 'host' }, el('a', { className: 'mono', href: pluginLink(a), text: host })),
        // A Nagios check's alert says what the check said.
        el('td', { className: 'mono wrap' }, metric,
          a.text ? el('div', { className: 'alert-text', text: String(a.text) }) : null),
        el('td', null, H.badge(lv, 'lv-' + lv)),
        el('td', { className: 'num', data: { label: 'value' }, text: valueText(a), title: 'last checked ' + (a.last_check ? H.ago(a.last_check) : 'never') }),
        since,
        el('td', { className: 'num', data: { label: 'notified' }, text: String(a.notification_count || 0) }),
        el('td', null, flags),
        el('td', null, btn)));
    });
    list.appendChild(frag);
    var any = shown.length > 0;
    $('alerts-table').classList.toggle('hidden', !any);
    emptyBox.textContent = alerts.length && level ? 'No active ' + level.toLowerCase() + ' alerts' : 'No active alerts';
    emptyBox.classList.toggle('hidden', any);
    $('alerts-count').textContent = alerts.length ? (shown.length === alerts.length ? String(alerts.length) :
      shown.length + ' of ' + alerts.length) : '';
    tick();
  }

  // ---- silences ----

  function loadSilences() {
    return H.api('/api/0/silences').then(function (r) {
      renderSilences(r && Array.isArray(r.silences) ? r.silences : []);
    }, function (err) {
      H.clear(silList);
      $('silences-table').classList.add('hidden');
      silEmpty.textContent = err.status === 404 ? 'Silences are not available on this daemon.' :
        'Cannot load silences: ' + err.message;
      silEmpty.classList.remove('hidden');
    });
  }

  function renderSilences(sils) {
    H.clear(silList);
    var now = H.nowSec();
    // A window stays listed between its occurrences: until is only the
    // end of the one shown.
    sils = sils.filter(function (s) { return s && (s.schedule || !(s.until > 0 && s.until < now)); });
    sils.sort(function (a, b) { return (a.until || 0) - (b.until || 0); });
    sils.forEach(function (s) {
      var id = String(s.id);
      var fromConfig = s.origin === 'config';
      var del = el('button', { type: 'button', className: 'small danger', text: 'Delete', data: { action: 'delete', id: id } });
      if (fromConfig) {
        // The API refuses it (409): it lives in the config file.
        del.disabled = true;
        del.title = 'a [[maintenance]] window of the config file: remove "' + String(s.name || '') + '" there and reload';
      }
      silList.appendChild(el('tr', { data: { id: id, host: String(s.host || ''), metric: String(s.metric || ''), window: s.schedule ? 'yes' : '' } },
        el('td', { className: 'mono host', text: String(s.host || '') }),
        el('td', { className: 'mono wrap', text: String(s.metric || '') }),
        s.schedule ? windowCell(s, now) :
          el('td', { className: 'until', data: { until: String(s.until), label: 'until' }, text: untilText(s.until, now) }),
        el('td', { className: 'wrap', text: String(s.comment || '') + (fromConfig ? ' (config: ' + String(s.name || '') + ')' : '') }),
        el('td', { data: { label: 'created' }, text: s.created ? H.clock(s.created) : '—' }),
        el('td', null, del)));
    });
    $('silences-table').classList.toggle('hidden', sils.length === 0);
    silEmpty.textContent = 'No active silences';
    silEmpty.classList.toggle('hidden', sils.length > 0);
    $('silences-count').textContent = sils.length ? String(sils.length) : '';
  }

  // windowCell shows a maintenance window: its schedule and zone, whether
  // it is open, and the occurrence open now or next, in the window's zone
  // and (when it differs) the browser's.
  function windowCell(s, now) {
    var zone = String(s.timezone || 'UTC');
    var open = s.active === true;
    var when = el('div', { className: 'win-when', data: { start: String(s.next_start), end: String(s.next_end) },
      text: windowWhen(s.next_start, s.next_end, open, now) });
    return el('td', { className: 'window', data: { label: 'window' } },
      el('div', null, H.badge(open ? 'open' : 'window', open ? 'silenced' : 'flag'), ' ',
        el('span', { className: 'mono', text: String(s.schedule) }),
        s.duration ? ' for ' + H.duration(s.duration) : '', ' ', el('span', { className: 'muted', text: zone })),
      el('div', { className: 'win-zone', text: (open ? 'open ' : 'next ') + rangeIn(s.next_start, s.next_end, zone) + ' ' + zone }),
      localZone() !== zone ? el('div', { className: 'win-local muted', text: 'your time: ' + rangeIn(s.next_start, s.next_end, undefined) }) : null,
      when);
  }

  function windowWhen(start, end, open, now) {
    if (!isFinite(start) || !isFinite(end) || end <= 0) return 'no window ahead';
    if (open || start <= now) return end > now ? 'ends in ' + H.duration(end - now) : 'ended';
    return 'opens in ' + H.duration(start - now);
  }

  function localZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { return ''; }
  }

  // rangeIn formats start..end (unix seconds) in zone (undefined: the
  // browser's), the end's date left out when it is the start's.
  function rangeIn(start, end, zone) {
    if (!isFinite(start) || !isFinite(end) || end <= 0) return '—';
    var day = { weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit' };
    var time = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    var f = function (ts, opts) {
      var o = Object.assign({}, opts);
      if (zone) o.timeZone = zone;
      try { return new Intl.DateTimeFormat(undefined, o).format(new Date(ts * 1000)); } catch (e) { return H.clock(ts); }
    };
    var d1 = f(start, day), d2 = f(end, day);
    return d1 + ' ' + f(start, time) + '–' + (d2 !== d1 ? d2 + ' ' : '') + f(end, time);
  }

  function untilText(until, now) {
    if (!isFinite(until) || until <= 0) return '—';
    return H.clock(until) + ' (in ' + H.duration(until - now) + ')';
  }

  // ---- silence dialog ----

  function openDialog(host, metric) {
    target = { host: host, metric: metric };
    $('silence-target').textContent = host + ' · ' + metric;
    $('silence-comment').value = '';
    $('dur-1h').checked = true;
    dlgErr.classList.add('hidden');
    $('silence-submit').disabled = false;
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
    $('silence-comment').focus();
  }

  function closeDialog() {
    target = null;
    if (typeof dialog.close === 'function') dialog.close();
    else dialog.removeAttribute('open');
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (!target) return;
    var checked = form.querySelector('input[name="duration"]:checked');
    var secs = Number(checked ? checked.value : 3600);
    var body = {
      host: target.host,
      metric: target.metric,
      until: Math.floor(H.nowSec() + secs),
      comment: $('silence-comment').value.trim()
    };
    $('silence-submit').disabled = true;
    H.api('/api/0/silences', { method: 'POST', body: body }).then(function () {
      closeDialog();
      refresh();
    }, function (err) {
      dlgErr.textContent = 'Cannot create the silence: ' + err.message;
      dlgErr.classList.remove('hidden');
      $('silence-submit').disabled = false;
    });
  });
  $('silence-cancel').addEventListener('click', closeDialog);
  dialog.addEventListener('close', function () { target = null; });

  // ---- events ----

  list.addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-action="silence"]');
    if (b) openDialog(b.dataset.host, b.dataset.metric);
  });

  silList.addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-action="delete"]');
    if (!b) return;
    b.disabled = true;
    H.api('/api/0/silences/' + encodeURIComponent(b.dataset.id), { method: 'DELETE' }).then(refresh, function (err) {
      b.disabled = false;
      showError('Cannot delete the silence: ' + err.message);
    });
  });

  function setLevel(lv, push) {
    level = lv;
    document.querySelectorAll('#level-filter button').forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.dataset.level === lv));
    });
    if (push) {
      var h = lv ? '#' + lv.toLowerCase() : '';
      history.replaceState(null, '', location.pathname + location.search + h);
    }
    if (alerts !== null) renderAlerts();
  }

  function levelFromHash() {
    var h = location.hash.replace(/^#/, '').toUpperCase();
    return h === 'CRITICAL' || h === 'WARNING' ? h : '';
  }

  $('level-filter').addEventListener('click', function (ev) {
    var b = ev.target.closest('button');
    if (b) setLevel(b.dataset.level, true);
  });
  window.addEventListener('hashchange', function () { setLevel(levelFromHash(), false); });
  $('refresh').addEventListener('click', function () { refresh(); });

  function tick() {
    var now = H.nowSec();
    list.querySelectorAll('td.since').forEach(function (td) {
      td.textContent = H.duration(now - Number(td.dataset.since));
    });
    silList.querySelectorAll('td.until').forEach(function (td) {
      td.textContent = untilText(Number(td.dataset.until), now);
    });
    silList.querySelectorAll('div.win-when').forEach(function (div) {
      var start = Number(div.dataset.start), end = Number(div.dataset.end);
      div.textContent = windowWhen(start, end, start <= now && now < end, now);
    });
    $('alerts-updated').textContent = fetchedAt ? 'updated ' + H.ago(fetchedAt, now) : '';
  }

  function refresh() {
    return Promise.all([loadAlerts(), loadSilences()]);
  }

  setLevel(levelFromHash(), false);
  setInterval(tick, 1000);
  H.every(REFRESH_MS, refresh);
})();
