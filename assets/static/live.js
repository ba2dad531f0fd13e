// /live: every host's state and connections, updated from the /hbd
// WebSocket, or by polling /api/0/hosts every 5 s when the socket cannot
// connect.
//
// Built for tens of thousands of hosts: incoming frames only update a Map
// and mark it dirty; one requestAnimationFrame callback per frame does the
// DOM work, and the table renders only the rows in view (a fixed row
// height lets the visible slice be computed from scrollTop). Re-sorting
// after data changes is rate-limited, since a sort of 10,000 hosts costs
// milliseconds and frames can arrive thousands of times a second.
(function () {
  'use strict';
  var H = window.hbd, el = H.el;

  var ROW_H = 36;             // px; read from --row-h in hbd.css (taller on phones)
  var OVERSCAN = 8;           // rows rendered beyond each edge of the view
  var RESORT_MS = 300;        // minimum gap between data-driven re-sorts
  var POLL_MS = 5000;         // polling period when the WebSocket is down
  var WS_OPEN_TIMEOUT_MS = 4000;
  var WS_RETRY_MAX_MS = 30000;
  var MAX_MESSAGES = 50;

  var $ = function (id) { return document.getElementById(id); };
  var scroller = $('hosts-table'), body = $('hosts-body'), head = scroller.querySelector('.vhead');
  var emptyBox = $('hosts-empty'), filterBox = $('filter'), stateSel = $('state-filter');
  var shownCount = $('shown-count'), errBox = $('live-error'), indicator = $('conn-indicator');
  var msgList = $('msg-list'), msgEmpty = $('msg-empty'), msgCount = $('msg-count');

  // ---- state ----
  var hosts = new Map();      // name -> host object
  var counts = {};            // state -> number of hosts
  var view = [];              // names, filtered and sorted, in display order
  var sortKey = 'name', sortDir = 1;
  var nameFilter = '', stateFilter = '';
  var loaded = false;

  var needView = true;        // membership, filter or sort changed: rebuild now
  var dataChanged = false;    // host data changed: rebuild when RESORT_MS allows
  var lastViewBuild = 0;
  var rafPending = false, resortTimer = 0;
  var messages = [];          // newest first
  var messagesDirty = false, freshMessages = 0;

  var collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
  var severity = {};
  H.STATES.forEach(function (s, i) { severity[s] = i; });

  // ---- data updates ----

  function countState(st, delta) {
    counts[st] = (counts[st] || 0) + delta;
  }

  function upsert(h) {
    if (!h || typeof h.name !== 'string') return;
    var prev = hosts.get(h.name);
    var next = prev ? Object.assign({}, prev, h) : h;
    if (prev) {
      countState(prev.state, -1);
    } else {
      needView = true;
    }
    countState(next.state, 1);
    hosts.set(h.name, next);
    dataChanged = true;
  }

  function replaceAll(list) {
    hosts = new Map();
    counts = {};
    if (Array.isArray(list)) {
      for (var i = 0; i < list.length; i++) {
        var h = list[i];
        if (!h || typeof h.name !== 'string') continue;
        hosts.set(h.name, h);
        countState(h.state, 1);
      }
    }
    loaded = true;
    needView = true;
    schedule();
  }

  function addMessage(m, fresh) {
    if (!m) return;
    messages.unshift(m);
    if (messages.length > MAX_MESSAGES) messages.length = MAX_MESSAGES;
    if (fresh) freshMessages = Math.min(MAX_MESSAGES, freshMessages + 1);
    messagesDirty = true;
  }

  function msgKey(m) { return m.time + '\u0000' + m.host + '\u0000' + m.msg; }

  // setMessages takes a list fetched over HTTP (newest first). Messages
  // already shown that are newer than its newest one came over the stream
  // while the request was in flight and stay on top.
  function setMessages(list) {
    if (!Array.isArray(list)) return;
    var newest = list.length ? list[0].time : -Infinity;
    var keep = messages.filter(function (m) { return m.time > newest; });
    var known = messages.length ? msgKey(messages[0]) : null;
    var fresh = 0;
    if (known !== null) {
      while (fresh < list.length && msgKey(list[fresh]) !== known) fresh++;
      if (fresh === list.length) fresh = 0; // no overlap: do not flash everything
    }
    messages = keep.concat(list).slice(0, MAX_MESSAGES);
    freshMessages = keep.length ? 0 : fresh;
    messagesDirty = true;
    schedule();
  }

  // ---- view: filter + sort ----

  function connOf(h, family) {
    var cs = h.connections;
    if (!cs) return null;
    for (var i = 0; i < cs.length; i++) if (cs[i] && cs[i].family === family) return cs[i];
    return null;
  }

  function rttOf(c) {
    if (!c) return null;
    if (typeof c.rtt_smoothed_ms === 'number') return c.rtt_smoothed_ms;
    if (typeof c.rtt_ms === 'number') return c.rtt_ms;
    return null;
  }

  function maxLoss(h) {
    var cs = h.connections, m = null;
    if (!cs) return null;
    for (var i = 0; i < cs.length; i++) {
      var l = cs[i] && cs[i].loss_pct;
      if (typeof l === 'number' && (m === null || l > m)) m = l;
    }
    return m;
  }

  // connSortValue orders connections: UP by RTT, then UP without RTT, then
  // DOWN, then none.
  function connSortValue(h, family) {
    var c = connOf(h, family);
    if (!c) return 4e9;
    if (c.state !== 'UP') return 3e9;
    var r = rttOf(c);
    return r === null ? 2e9 : r;
  }

  function sortValue(h) {
    switch (sortKey) {
      case 'state': return h.state in severity ? severity[h.state] : H.STATES.length;
      case 'ipv4': return connSortValue(h, 'ipv4');
      case 'ipv6': return connSortValue(h, 'ipv6');
      case 'loss': var l = maxLoss(h); return l === null ? -1 : l;
      case 'last_seen': return typeof h.last_seen === 'number' ? h.last_seen : 0;
      default: return 0;
    }
  }

  function buildView() {
    var f = nameFilter, st = stateFilter, rows = [];
    hosts.forEach(function (h, name) {
      if (st && h.state !== st) return;
      if (f && name.toLowerCase().indexOf(f) < 0) return;
      rows.push(sortKey === 'name' ? { n: name } : { n: name, v: sortValue(h) });
    });
    var dir = sortDir;
    if (sortKey === 'name') {
      rows.sort(function (a, b) { return dir * collator.compare(a.n, b.n); });
    } else {
      rows.sort(function (a, b) {
        if (a.v !== b.v) return dir * (a.v < b.v ? -1 : 1);
        return collator.compare(a.n, b.n);
      });
    }
    view = new Array(rows.length);
    for (var i = 0; i < rows.length; i++) view[i] = rows[i].n;
    lastViewBuild = performance.now();
    needView = false;
    dataChanged = false;
  }

  // A data change moves rows only when the sort or a state filter reads
  // the data; sorted by name with no state filter, the order stands.
  function dataAffectsView() {
    return sortKey !== 'name' || stateFilter !== '';
  }

  // ---- rendering ----

  function schedule() {
    if (rafPending) return;
    rafPending = true;
    requestAnimationFrame(frame);
  }

  function frame() {
    rafPending = false;
    if (dataChanged && !needView) {
      if (!dataAffectsView()) {
        dataChanged = false;
      } else {
        var wait = lastViewBuild + RESORT_MS - performance.now();
        if (wait <= 0) needView = true;
        else if (!resortTimer) resortTimer = setTimeout(function () { resortTimer = 0; schedule(); }, wait);
      }
    }
    if (needView) buildView();
    renderCounts();
    renderRows();
    if (messagesDirty) renderMessages();
  }

  function setText(node, t) {
    if (node._t !== t) { node._t = t; node.textContent = t; }
  }
  function setClass(node, c) {
    if (node._c !== c) { node._c = c; node.className = c; }
  }

  var fmt = new Intl.NumberFormat();
  function renderCounts() {
    var total = 0;
    H.STATES.forEach(function (s) {
      var n = counts[s] || 0;
      total += n;
      setText($('count-' + s).firstChild, fmt.format(n));
    });
    // States the page does not know yet still count towards ALL.
    for (var k in counts) if (!(k in severity)) total += counts[k];
    setText($('count-all').firstChild, fmt.format(total));
    var shown = view.length;
    setText(shownCount, shown === total ? fmt.format(total) + (total === 1 ? ' host' : ' hosts') :
      'showing ' + fmt.format(shown) + ' of ' + fmt.format(total));
    if (!loaded) {
      emptyBox.classList.remove('hidden');
      setText(emptyBox, 'Loading hosts…');
    } else if (shown === 0) {
      emptyBox.classList.remove('hidden');
      setText(emptyBox, total === 0 ? 'No hosts have reported yet' : 'No hosts match the filter');
    } else {
      emptyBox.classList.add('hidden');
    }
  }

  var pool = [];
  var headH = 0;

  function makeRow() {
    var r = {};
    r.root = el('div', { className: 'vrow', attrs: { role: 'row' } });
    r.link = el('a', { className: 'mono' });
    r.dyn = el('span', { className: 'badge dyn', text: 'dyn', title: 'registered dynamically on first contact' });
    r.host = el('div', { className: 'host c-host', attrs: { role: 'cell' } }, r.link, r.dyn);
    r.state = el('span');
    r.conns = ['ipv4', 'ipv6'].map(function (fam) {
      var c = { dot: el('span'), label: el('span'), rtt: el('span', { className: 'rtt' }) };
      c.cell = el('div', { className: fam === 'ipv4' ? 'c-v4' : 'c-v6', attrs: { role: 'cell' }, data: { family: fam } },
        el('span', { className: 'fam', text: fam === 'ipv4' ? 'v4 ' : 'v6 ' }), c.dot, c.label, c.rtt);
      return c;
    });
    r.loss = el('div', { className: 'num c-loss', attrs: { role: 'cell' } });
    r.seen = el('div', { className: 'num c-seen', attrs: { role: 'cell' } });
    r.root.appendChild(r.host);
    r.root.appendChild(el('div', { className: 'c-state', attrs: { role: 'cell' } }, r.state));
    r.root.appendChild(r.conns[0].cell);
    r.root.appendChild(r.conns[1].cell);
    r.root.appendChild(r.loss);
    r.root.appendChild(r.seen);
    body.appendChild(r.root);
    return r;
  }

  function fillConn(c, conn) {
    if (!conn) {
      setClass(c.dot, 'hidden');
      setText(c.label, '—');
      setClass(c.label, 'conn-none');
      setText(c.rtt, '');
      c.cell.title = '';
      return;
    }
    var st = conn.state || 'UNKNOWN';
    setClass(c.dot, 'dot st-' + st);
    setText(c.label, st);
    setClass(c.label, '');
    // The RTT of a DOWN connection is from before it went down: not shown.
    var rtt = st === 'UP' ? rttOf(conn) : null;
    setText(c.rtt, rtt === null ? '' : H.num(rtt, rtt < 10 ? 2 : 1) + ' ms');
    var tip = (conn.address || '') + (typeof conn.loss_pct === 'number' ? ' · loss ' + H.num(conn.loss_pct, 1) + '%' : '');
    if (c.cell._tip !== tip) { c.cell._tip = tip; c.cell.title = tip; }
  }

  function fillRow(r, name, idx, now) {
    var h = hosts.get(name);
    if (r.name !== name) {
      r.name = name;
      r.root.dataset.host = name;
      r.link.textContent = name;
      r.link.href = '/plugins#' + encodeURIComponent(name);
      r.link.title = name;
    }
    if (r.idx !== idx) {
      r.idx = idx;
      r.root.style.top = (idx * ROW_H) + 'px';
    }
    if (!h) return;
    r.root.dataset.state = h.state;
    setClass(r.dyn, h.dyn ? 'badge dyn' : 'hidden');
    setClass(r.state, 'badge st-' + h.state);
    setText(r.state, h.state || '?');
    fillConn(r.conns[0], connOf(h, 'ipv4'));
    fillConn(r.conns[1], connOf(h, 'ipv6'));
    var loss = maxLoss(h);
    setText(r.loss, loss === null ? '—' : H.num(loss, 1) + '%');
    setClass(r.loss, loss !== null && loss > 0 ? 'num c-loss loss-bad' : 'num c-loss');
    setText(r.seen, H.ago(h.last_seen, now));
    if (typeof h.last_seen === 'number') {
      var t = H.clock(h.last_seen);
      if (r.seen._tip !== t) { r.seen._tip = t; r.seen.title = t; }
    }
  }

  function renderRows() {
    var n = view.length;
    var height = (n * ROW_H) + 'px';
    if (body._h !== height) { body._h = height; body.style.height = height; }
    if (!headH) headH = head.offsetHeight;
    var top = Math.max(0, scroller.scrollTop - headH);
    var first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    var last = Math.min(n, Math.ceil((top + scroller.clientHeight) / ROW_H) + OVERSCAN);
    var need = Math.max(0, last - first);
    while (pool.length < need) pool.push(makeRow());
    var now = H.nowSec();
    for (var i = 0; i < pool.length; i++) {
      var r = pool[i];
      if (i < need) {
        if (r.hidden) { r.hidden = false; r.root.classList.remove('hidden'); }
        fillRow(r, view[first + i], first + i, now);
      } else if (!r.hidden) {
        r.hidden = true;
        r.root.classList.add('hidden');
        r.name = null;
        delete r.root.dataset.host;
      }
    }
  }

  function renderMessages() {
    messagesDirty = false;
    H.clear(msgList);
    for (var i = 0; i < messages.length; i++) {
      var m = messages[i];
      var li = el('li', { className: i < freshMessages ? 'fresh' : '', data: { host: String(m.host || '') } },
        el('div', { className: 'meta' },
          el('span', { className: 'mono', text: H.clock(m.time), title: new Date(m.time * 1000).toISOString() }),
          // Daemon-wide messages have no host.
          m.host ? el('span', { className: 'h', text: String(m.host) }) : el('span', { className: 'muted', text: 'daemon' })),
        el('div', { className: 'text', text: String(m.msg || '') }));
      msgList.appendChild(li);
    }
    freshMessages = 0;
    msgEmpty.classList.toggle('hidden', messages.length > 0);
    msgCount.textContent = messages.length ? String(messages.length) : '';
  }

  // ---- controls ----

  function updateSortHeaders() {
    head.querySelectorAll('.th').forEach(function (th) {
      if (th.dataset.sort === sortKey) th.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
  }

  head.addEventListener('click', function (ev) {
    var th = ev.target.closest('.th');
    if (!th) return;
    var key = th.dataset.sort;
    if (key === sortKey) sortDir = -sortDir;
    else { sortKey = key; sortDir = key === 'last_seen' ? -1 : 1; }
    updateSortHeaders();
    needView = true;
    schedule();
  });

  filterBox.addEventListener('input', function () {
    nameFilter = filterBox.value.trim().toLowerCase();
    needView = true;
    scroller.scrollTop = 0;
    schedule();
  });

  function setStateFilter(st) {
    stateFilter = st;
    stateSel.value = st;
    document.querySelectorAll('#state-counts .count').forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.dataset.state === st));
    });
    needView = true;
    scroller.scrollTop = 0;
    schedule();
  }
  stateSel.addEventListener('change', function () { setStateFilter(stateSel.value); });
  $('state-counts').addEventListener('click', function (ev) {
    var b = ev.target.closest('.count');
    if (!b) return;
    var st = b.dataset.state;
    setStateFilter(st === stateFilter ? '' : st);
  });

  scroller.addEventListener('scroll', schedule, { passive: true });
  function readRowHeight() {
    var v = parseInt(getComputedStyle(document.documentElement).getPropertyValue('--row-h'), 10);
    if (v > 0 && v !== ROW_H) {
      ROW_H = v;
      pool.forEach(function (r) { r.idx = -1; }); // re-position every row
    }
  }
  window.addEventListener('resize', function () { headH = 0; readRowHeight(); schedule(); });
  // "3s ago" must tick even when no data arrives.
  setInterval(schedule, 1000);

  // ---- transport: WebSocket, falling back to polling ----

  var ws = null, wsRetryMs = 1000, pollTimer = 0, wsTimer = 0, snapshotSeen = false;

  function setMode(mode, title) {
    indicator.dataset.mode = mode;
    indicator.textContent = mode;
    indicator.title = title;
  }

  function showError(msg) {
    if (msg) { errBox.textContent = msg; errBox.classList.remove('hidden'); }
    else errBox.classList.add('hidden');
  }

  function poll() {
    return Promise.all([
      H.api('/api/0/hosts').then(function (list) {
        // A socket that came up while the request was in flight has newer data.
        if (isLive()) return;
        replaceAll(list);
        showError('');
      }, function (err) {
        showError('Cannot load hosts: ' + err.message);
      }),
      H.api('/api/0/messages?limit=' + MAX_MESSAGES).then(function (list) {
        if (isLive()) return;
        setMessages(list);
      }, function () {})
    ]);
  }

  function isLive() { return ws !== null && ws.readyState === WebSocket.OPEN; }

  function startPolling() {
    if (pollTimer) return;
    setMode('polling', 'The live stream is unavailable: polling /api/0/hosts every ' + (POLL_MS / 1000) + ' s');
    poll();
    pollTimer = setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = 0; }
  }

  function handleFrame(raw) {
    var f;
    try { f = JSON.parse(raw); } catch (e) { return; }
    if (!f || typeof f !== 'object') return;
    var d = f.data;
    switch (f.type) {
      case 'snapshot':
        snapshotSeen = true;
        replaceAll(d && d.hosts);
        break;
      case 'host':
        upsert(d);
        schedule();
        break;
      case 'message':
        addMessage(d, true);
        schedule();
        break;
      case 'error':
        // The daemon refused our subscription; it keeps sending everything.
        if (window.console) console.warn('hbd stream:', d && d.error);
        break;
      default:
        // plugin and alert frames are for other pages; unknown types may be added.
    }
  }

  function connect() {
    wsTimer = 0;
    var url = H.streamURL();
    var sock;
    try {
      sock = new WebSocket(url);
    } catch (e) {
      startPolling();
      retry();
      return;
    }
    ws = sock;
    var opened = false;
    // A socket that neither opens nor fails (a proxy holding it) must not
    // leave the page without data.
    var openTimer = setTimeout(function () { if (!opened) startPolling(); }, WS_OPEN_TIMEOUT_MS);
    sock.addEventListener('open', function () {
      opened = true;
      clearTimeout(openTimer);
      wsRetryMs = 1000;
      stopPolling();
      showError('');
      setMode('live', 'Receiving live updates over WebSocket');
      // The page shows hosts and messages only; plugin and alert frames
      // would be wasted bandwidth with a large fleet. No "hosts" key:
      // every host.
      sock.send(JSON.stringify({ subscribe: { types: ['host', 'message'] } }));
    });
    sock.addEventListener('message', function (ev) {
      if (typeof ev.data === 'string') handleFrame(ev.data);
    });
    sock.addEventListener('close', function () {
      clearTimeout(openTimer);
      if (ws === sock) ws = null;
      startPolling();
      retry();
    });
  }

  function retry() {
    if (wsTimer) return;
    wsTimer = setTimeout(connect, wsRetryMs);
    wsRetryMs = Math.min(WS_RETRY_MAX_MS, wsRetryMs * 2);
  }

  // ---- start ----

  readRowHeight();
  updateSortHeaders();
  schedule();
  // The first data comes by HTTP whatever the transport: the stream
  // carries only new messages, and its snapshot may take a while.
  H.api('/api/0/messages?limit=' + MAX_MESSAGES).then(setMessages, function () {});
  H.api('/api/0/hosts').then(function (list) {
    if (!snapshotSeen) replaceAll(list);
  }, function (err) {
    showError('Cannot load hosts: ' + err.message);
  });
  if (typeof WebSocket === 'function') connect();
  else startPolling();
})();
