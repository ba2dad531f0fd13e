// /live's worker: it owns the fleet so that the page's main thread never
// has to. It reads the /hbd WebSocket (or polls /api/0/hosts page by page
// when the socket cannot connect), keeps one compact record per host and
// the per-state counters, filters and sorts, and sends the page only what
// it draws: the counters, the number of rows in the view and the rows of
// the window the page shows.
//
// Why a worker: the stream's first frame is a snapshot of every host, and
// at 100,000 hosts its JSON is tens of megabytes; JSON.parse of that, and a
// sort of 100,000 names, take hundreds of milliseconds however the code is
// written. Here they cost the page no frame.
//
// Flow control: the page sends {type:'view'} once per animation frame at
// most (when it has drawn the last frame, or scrolled); each 'view' buys
// one 'frame' message back, sent as soon as something changed. Frames from
// the socket go into an inbox that is drained in slices of SLICE_MS, so
// the page's requests are answered between slices; a snapshot in the inbox
// makes every host frame queued before it moot (it replaces them all), and
// a host's record holds only its latest state. The inbox is bounded in
// frames and bytes: a worker that falls that far behind drops the socket
// and starts again from a fresh snapshot, as the daemon would cut it off
// anyway.
//
// Every string from the daemon stays data: the page puts it in the DOM
// with textContent only.
'use strict';

var SLICE_MS = 8;            // longest stretch of inbox work between yields
var INBOX_MAX = 200000;      // frames waiting to be read before the socket is dropped...
var INBOX_MAX_BYTES = 64 << 20; // ...or their bytes, beyond a snapshot's
var RESORT_MIN_MS = 300;     // minimum gap between data-driven re-sorts...
var RESORT_FACTOR = 4;       // ...and at least this many times the last sort's cost
var POLL_MS = 5000;          // polling period when the WebSocket is down
var POLL_PAGE = 5000;        // hosts per /api/0/hosts request when polling
var WS_OPEN_TIMEOUT_MS = 4000;
var WS_RETRY_MAX_MS = 30000;
var MAX_MESSAGES = 50;       // messages forwarded per frame at most (the page shows 50)
var MAX_WINDOW = 500;        // rows the page may ask for at once
var DATA_FRAME_MS = 200;     // minimum gap between frames sent for data changes alone

var STATES = ['DOWN', 'UNREACHABLE', 'DEGRADED', 'SUSPECT', 'UNKNOWN', 'STOPPED', 'UP'];
var severity = {};
STATES.forEach(function (s, i) { severity[s] = i; });

// ---- the fleet ----

var recs = new Map();        // name -> record (see record())
var counts = {};             // state -> number of hosts
var loaded = false;

// record turns a host object of the API or the stream into the compact
// record kept per host, reusing rec when the host is known: the view holds
// records, and an update in place keeps it valid without a re-sort.
function record(h, rec) {
  if (!rec) rec = { name: h.name, key: nameKey(h.name), state: '', dyn: false, seen: 0, v4: null, v6: null, loss: null, worse: '', parents: '', vi: -1, sv: 0 };
  rec.state = typeof h.state === 'string' ? h.state : 'UNKNOWN';
  rec.dyn = !!h.dyn;
  // The hosts it depends on, for the state badge's tooltip.
  rec.parents = Array.isArray(h.parents) ? h.parents.filter(function (p) { return typeof p === 'string'; }).join(', ') : '';
  rec.seen = typeof h.last_seen === 'number' ? h.last_seen : 0;
  rec.v4 = rec.v6 = null;
  rec.loss = null;
  var cs = Array.isArray(h.connections) ? h.connections : [];
  for (var i = 0; i < cs.length; i++) {
    var c = cs[i];
    if (!c || typeof c !== 'object') continue;
    if (typeof c.loss_pct === 'number' && (rec.loss === null || c.loss_pct > rec.loss)) rec.loss = c.loss_pct;
    if (c.family === 'ipv4' && !rec.v4) rec.v4 = conn(c);
    else if (c.family === 'ipv6' && !rec.v6) rec.v6 = conn(c);
  }
  rec.worse = worseFamily(rec.v4, rec.v6);
  return rec;
}

// A family is flagged when its median RTT over the recent heartbeats is
// more than WORSE_FACTOR times the other's and more than WORSE_MS above
// it: both, so that 0.1 vs 0.3 ms on a LAN is not news and neither is
// 200 vs 206 ms across an ocean.
var WORSE_FACTOR = 2, WORSE_MS = 5;
function worseFamily(v4, v6) {
  if (!v4 || !v6 || v4.state !== 'UP' || v6.state !== 'UP' || v4.p50 === null || v6.p50 === null) return '';
  if (v6.p50 > WORSE_FACTOR * v4.p50 && v6.p50 - v4.p50 > WORSE_MS) return 'ipv6';
  if (v4.p50 > WORSE_FACTOR * v6.p50 && v4.p50 - v6.p50 > WORSE_MS) return 'ipv4';
  return '';
}

function conn(c) {
  var rtt = typeof c.rtt_smoothed_ms === 'number' ? c.rtt_smoothed_ms : (typeof c.rtt_ms === 'number' ? c.rtt_ms : null);
  return {
    state: typeof c.state === 'string' ? c.state : 'UNKNOWN', rtt: rtt,
    // The median and p99 of the recent heartbeats' RTTs (what the row
    // shows; p95 is left at the API, a record per host is kept for the
    // whole fleet); null until the daemon has one.
    p50: numOrNull(c.rtt_p50_ms), p99: numOrNull(c.rtt_p99_ms),
    loss: typeof c.loss_pct === 'number' ? c.loss_pct : null, addr: typeof c.address === 'string' ? c.address : '',
    // The adaptive detector's phi; null on the fixed rule or without
    // enough history.
    phi: numOrNull(c.suspicion)
  };
}

function numOrNull(v) { return typeof v === 'number' && isFinite(v) ? v : null; }

// nameKey orders names as people read them: case aside, and numbers by
// value ("web9" before "web10"). Runs of digits are padded to 20 places
// so that a plain string comparison does it: Intl.Collator with numeric
// on does the same, but costs a microsecond a comparison, a second and
// more for a sort of 100,000 names.
var ZEROS = '00000000000000000000';
function nameKey(name) {
  return name.toLowerCase().replace(/\d+/g, function (d) {
    d = d.replace(/^0+/, '');
    return d.length < 20 ? ZEROS.slice(d.length) + d : d;
  });
}

function count(st, delta) { counts[st] = (counts[st] || 0) + delta; }

function upsert(h) {
  if (!h || typeof h !== 'object' || typeof h.name !== 'string') return;
  var rec = recs.get(h.name);
  if (rec) {
    var was = rec.state;
    record(h, rec);
    if (was !== rec.state) { count(was, -1); count(rec.state, 1); dirty = true; }
    dataChanged = true;
    if (rec.vi >= win.first && rec.vi < win.last) dirty = true;
  } else {
    rec = record(h, null);
    recs.set(h.name, rec);
    count(rec.state, 1);
    membershipChanged = true;
    dirty = true;
  }
}

// replaceAll takes a whole fleet (a snapshot, or every page of a poll).
function replaceAll(list) {
  var old = recs;
  recs = new Map();
  counts = {};
  if (Array.isArray(list)) {
    for (var i = 0; i < list.length; i++) {
      var h = list[i];
      if (!h || typeof h !== 'object' || typeof h.name !== 'string') continue;
      var rec = record(h, old.get(h.name));
      rec.vi = -1;
      recs.set(h.name, rec);
      count(rec.state, 1);
    }
  }
  loaded = true;
  needView = true;
  dirty = urgent = true;
}

// ---- the view: filter and sort ----

var query = { sort: 'name', dir: 1, filter: '', state: '' };
var view = [];               // records, filtered and sorted
var needView = true;         // the query changed: rebuild at once
var membershipChanged = false, dataChanged = false;
var lastBuild = -Infinity, lastBuildCost = 0, rebuildTimer = 0;

function connSortValue(c) {
  if (!c) return 4e9;
  if (c.state !== 'UP') return 3e9;
  // What the column shows: the median, else the smoothed RTT.
  if (c.p50 !== null) return c.p50;
  return c.rtt === null ? 2e9 : c.rtt;
}

function sortValue(r) {
  switch (query.sort) {
    case 'state': return r.state in severity ? severity[r.state] : STATES.length;
    case 'ipv4': return connSortValue(r.v4);
    case 'ipv6': return connSortValue(r.v6);
    case 'loss': return r.loss === null ? -1 : r.loss;
    case 'last_seen': return r.seen;
    default: return 0;
  }
}

function byName(a, b) {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function buildView() {
  var t0 = performance.now();
  var f = query.filter, st = query.state, rows = [];
  recs.forEach(function (r) {
    r.vi = -1;
    if (st && r.state !== st) return;
    if (f && r.name.toLowerCase().indexOf(f) < 0) return;
    rows.push(r);
  });
  var dir = query.dir;
  if (query.sort === 'name') {
    rows.sort(function (a, b) { return dir * byName(a, b); });
  } else {
    // Values are read once, not twice per comparison.
    for (var j = 0; j < rows.length; j++) rows[j].sv = sortValue(rows[j]);
    rows.sort(function (a, b) {
      if (a.sv !== b.sv) return dir * (a.sv < b.sv ? -1 : 1);
      return byName(a, b);
    });
  }
  for (var i = 0; i < rows.length; i++) rows[i].vi = i;
  view = rows;
  needView = membershipChanged = dataChanged = false;
  lastBuild = performance.now();
  lastBuildCost = lastBuild - t0;
  dirty = true;
}

// A data change moves rows only when the sort or a state filter reads the
// data; sorted by name with no state filter, the order stands.
function dataAffectsView() { return query.sort !== 'name' || query.state !== ''; }

// refreshView rebuilds the view now when the query changed, and after
// data changes no more often than the last sort's cost allows.
function refreshView() {
  if (needView) { buildView(); return; }
  if (!membershipChanged && !(dataChanged && dataAffectsView())) { dataChanged = false; return; }
  var wait = lastBuild + Math.max(RESORT_MIN_MS, RESORT_FACTOR * lastBuildCost) - performance.now();
  if (wait <= 0) { buildView(); return; }
  if (!rebuildTimer) rebuildTimer = setTimeout(function () { rebuildTimer = 0; refreshView(); flush(); }, wait);
}

// ---- frames to the page ----

var win = { first: 0, last: 0 };
var credit = false;          // the page has drawn the last frame
var dirty = true;            // something the page shows changed
var urgent = true;           // ...and the page waits for it: send at once
var lastSent = -Infinity, flushTimer = 0;
var messages = [];           // journal messages not yet forwarded, oldest first
var pending = {};            // mode, error, warnings not yet forwarded

function row(r) {
  return { name: r.name, state: r.state, dyn: r.dyn, seen: r.seen, v4: r.v4, v6: r.v6, loss: r.loss, worse: r.worse, parents: r.parents };
}

// flush sends the page a frame when it has drawn the last one and
// something changed. Data changes alone are sent DATA_FRAME_MS apart (the
// daemon coalesces a host's frames over 250 ms anyway, and a row that
// changes 60 times a second is unreadable); an answer to the page (a
// scroll, a new sort or filter) or a new snapshot goes at once.
function flush() {
  if (!credit) return;
  refreshView();
  if (!dirty) return;
  if (!urgent) {
    var wait = lastSent + DATA_FRAME_MS - performance.now();
    if (wait > 0) {
      if (!flushTimer) flushTimer = setTimeout(function () { flushTimer = 0; flush(); }, wait);
      return;
    }
  }
  var first = Math.min(win.first, view.length), last = Math.min(win.last, view.length);
  var rows = new Array(last - first);
  for (var i = first; i < last; i++) rows[i - first] = row(view[i]);
  var f = { type: 'frame', loaded: loaded, total: recs.size, shown: view.length, counts: counts, first: first, rows: rows };
  if (messages.length) { f.messages = messages; messages = []; }
  for (var k in pending) f[k] = pending[k];
  pending = {};
  credit = false;
  dirty = urgent = false;
  lastSent = performance.now();
  postMessage(f);
}

function notify(k, v) { pending[k] = v; dirty = urgent = true; flush(); }

// ---- the inbox ----

var inbox = [], inboxHead = 0, inboxBytes = 0, draining = false;
var yieldChan = new MessageChannel();
yieldChan.port1.onmessage = drain;

// Snapshot and message frames are told by their first bytes, without
// parsing: the daemon writes "type" first (internal/contract's golden
// frames hold it to that). A frame told wrongly is only parsed in turn:
// it costs time, not correctness.
var SNAPSHOT = '{"type":"snapshot"', MESSAGE = '{"type":"message"';
function isType(raw, prefix) { return raw.lastIndexOf(prefix, 0) === 0; }

function enqueue(raw) {
  if (isType(raw, SNAPSHOT)) {
    // The snapshot replaces every host: host frames still queued are moot
    // (messages are not). Its own size is not counted: it is the fleet.
    var keep = [];
    inboxBytes = 0;
    for (var i = inboxHead; i < inbox.length; i++) {
      if (isType(inbox[i], MESSAGE)) { keep.push(inbox[i]); inboxBytes += inbox[i].length; }
    }
    inbox = keep;
    inboxHead = 0;
  } else {
    inboxBytes += raw.length;
  }
  inbox.push(raw);
  if (inbox.length - inboxHead > INBOX_MAX || inboxBytes > INBOX_MAX_BYTES) {
    notify('warn', 'hbd stream: the page fell too far behind (' + (inbox.length - inboxHead) + ' frames); reconnecting');
    inbox = []; inboxHead = 0; inboxBytes = 0;
    if (ws) ws.close();
    return;
  }
  if (!draining) { draining = true; yieldChan.port2.postMessage(0); }
}

function drain() {
  var t0 = performance.now();
  while (inboxHead < inbox.length) {
    var raw = inbox[inboxHead];
    inbox[inboxHead++] = null;
    if (!isType(raw, SNAPSHOT)) inboxBytes -= raw.length;
    handleFrame(raw);
    if (performance.now() - t0 > SLICE_MS) break;
  }
  if (inboxHead >= inbox.length) {
    inbox = []; inboxHead = 0; inboxBytes = 0; draining = false;
  } else if (inboxHead > 4096 && inboxHead * 2 > inbox.length) {
    inbox = inbox.slice(inboxHead);
    inboxHead = 0;
  }
  flush();
  if (draining) yieldChan.port2.postMessage(0);
}

function handleFrame(raw) {
  var f;
  try { f = JSON.parse(raw); } catch (e) { return; }
  if (!f || typeof f !== 'object') return;
  var d = f.data;
  switch (f.type) {
    case 'snapshot':
      replaceAll(d && d.hosts);
      break;
    case 'host':
      upsert(d);
      break;
    case 'message':
      if (d && typeof d === 'object') {
        messages.push(d);
        if (messages.length > MAX_MESSAGES) messages.shift();
        dirty = true;
      }
      break;
    case 'error':
      // The daemon refused our subscription; it keeps sending everything.
      notify('warn', 'hbd stream: ' + (d && d.error));
      break;
    default:
      // plugin and alert frames are for other pages; unknown types may be added.
  }
}

// ---- HTTP ----

var streamURL = '', token = '';

// api fetches a JSON endpoint; it resolves to {body, total} (total from
// X-Total-Count) and rejects with an Error whose status is the HTTP status
// (0 when the daemon cannot be reached). A 401 asks the page for a token.
function api(path) {
  var ctrl = new AbortController();
  var timer = setTimeout(function () { ctrl.abort(); }, 15000);
  var headers = { 'Accept': 'application/json' };
  if (token) headers['Authorization'] = 'Bearer ' + token;
  return fetch(path, { headers: headers, cache: 'no-store', signal: ctrl.signal }).then(function (resp) {
    return resp.text().then(function (text) {
      var body = null;
      try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
      if (!resp.ok) {
        var err = new Error(body && typeof body.error === 'string' ? body.error : ('HTTP ' + resp.status));
        err.status = resp.status;
        if (resp.status === 401) notify('login', err.message);
        throw err;
      }
      return { body: body, total: parseInt(resp.headers.get('X-Total-Count'), 10) };
    });
  }, function (e) {
    var err = new Error(e && e.name === 'AbortError' ? 'request timed out' : 'cannot reach the daemon');
    err.status = 0;
    throw err;
  }).finally(function () { clearTimeout(timer); });
}

// pollHosts reads the fleet a page at a time (each page's JSON is small to
// parse) and replaces the records once it has all of them. A socket that
// comes up meanwhile has newer data: the poll gives up.
function pollHosts() {
  var list = [];
  function page(offset) {
    return api('/api/0/hosts?limit=' + POLL_PAGE + '&offset=' + offset).then(function (r) {
      if (isLive()) return;
      if (!Array.isArray(r.body)) throw new Error('/api/0/hosts did not answer a list');
      for (var i = 0; i < r.body.length; i++) list.push(r.body[i]);
      var total = isFinite(r.total) ? r.total : 0;
      if (r.body.length === POLL_PAGE && offset + POLL_PAGE < total) return page(offset + POLL_PAGE);
      replaceAll(list);
      notify('error', '');
    });
  }
  return page(0).catch(function (err) { notify('error', 'Cannot load hosts: ' + err.message); });
}

function pollMessages() {
  return api('/api/0/messages?limit=' + MAX_MESSAGES).then(function (r) {
    if (!isLive()) notify('messageList', r.body);
  }, function () {});
}

// ---- transport: WebSocket, falling back to polling ----

var ws = null, wsRetryMs = 1000, pollTimer = 0, wsTimer = 0, polling = false;

function isLive() { return ws !== null && ws.readyState === WebSocket.OPEN; }

function setMode(mode, title) { notify('mode', { mode: mode, title: title }); }

function startPolling() {
  if (polling) return;
  polling = true;
  setMode('polling', 'The live stream is unavailable: polling /api/0/hosts every ' + (POLL_MS / 1000) + ' s');
  pollLoop();
}

// pollLoop polls, then waits POLL_MS from the end of the poll: a poll of a
// large fleet must not overlap the next one.
function pollLoop() {
  pollTimer = 0;
  if (!polling) return;
  Promise.all([pollHosts(), pollMessages()]).then(function () {
    if (polling && !pollTimer) pollTimer = setTimeout(pollLoop, POLL_MS);
  });
}

function stopPolling() {
  polling = false;
  if (pollTimer) { clearTimeout(pollTimer); pollTimer = 0; }
}

function connect() {
  wsTimer = 0;
  var sock;
  try {
    // The page shows hosts and messages only; plugin and alert frames
    // would be wasted work with a large fleet. Given in the URL, the
    // subscription applies from the first frame, so the daemon sends one
    // snapshot, not the whole fleet and then the filtered one.
    sock = new WebSocket(streamURL + (streamURL.indexOf('?') < 0 ? '?' : '&') + 'types=host,message');
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
    notify('error', '');
    setMode('live', 'Receiving live updates over WebSocket');
  });
  sock.addEventListener('message', function (ev) {
    if (ws === sock && typeof ev.data === 'string') enqueue(ev.data);
  });
  sock.addEventListener('close', function () {
    clearTimeout(openTimer);
    if (ws !== sock) return;
    ws = null;
    startPolling();
    retry();
  });
}

function retry() {
  if (wsTimer) return;
  wsTimer = setTimeout(connect, wsRetryMs);
  wsRetryMs = Math.min(WS_RETRY_MAX_MS, wsRetryMs * 2);
}

// ---- messages from the page ----

onmessage = function (ev) {
  var m = ev.data;
  if (!m || typeof m !== 'object') return;
  switch (m.type) {
    case 'init':
      streamURL = String(m.url);
      token = String(m.token || '');
      if (typeof WebSocket === 'function') connect();
      else startPolling();
      break;
    case 'query':
      query = {
        sort: String(m.sort), dir: m.dir < 0 ? -1 : 1,
        filter: String(m.filter || '').toLowerCase(), state: String(m.state || '')
      };
      needView = true;
      dirty = urgent = true;
      break;
    case 'view':
      var first = Math.max(0, m.first | 0);
      var last = Math.max(first, Math.min(first + MAX_WINDOW, m.last | 0));
      if (first !== win.first || last !== win.last) dirty = urgent = true;
      win = { first: first, last: last };
      credit = true;
      break;
    default:
      return;
  }
  flush();
};
