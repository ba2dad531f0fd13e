// /live: every host's state and connections, updated from the /hbd
// WebSocket, or by polling /api/0/hosts every 5 s when the socket cannot
// connect.
//
// Built for 100,000 hosts: the fleet lives in a worker (live-worker.js)
// that reads the stream, keeps the counters, filters and sorts. This
// thread only draws: once per animation frame at most, it tells the worker
// which rows are in view and draws the last answer, the per-state counters
// and the rows in view (a fixed row height lets the visible slice be
// computed from scrollTop). The snapshot's parse, the sorts and the stream
// cost the page no frame, and its heap holds a screenful of rows.
(function () {
  'use strict';
  var H = window.hbd, el = H.el;

  var ROW_H = 36;             // px; read from --row-h in hbd.css (taller on phones)
  var OVERSCAN = 24;          // rows asked for beyond each edge of the view
  var MESSAGES_MS = 250;      // minimum gap between redraws of the message list
  var MAX_MESSAGES = 50;
  var MAX_FLASH = 5;          // new messages that flash at once, at most

  var $ = function (id) { return document.getElementById(id); };
  var scroller = $('hosts-table'), body = $('hosts-body'), head = scroller.querySelector('.vhead');
  var emptyBox = $('hosts-empty'), filterBox = $('filter'), stateSel = $('state-filter');
  var shownCount = $('shown-count'), errBox = $('live-error'), indicator = $('conn-indicator');
  var msgList = $('msg-list'), msgEmpty = $('msg-empty'), msgCount = $('msg-count');

  // ---- state: what the worker sent last ----
  var last = {                // the last 'frame' from the worker
    loaded: false, total: 0, shown: 0, counts: {}, first: 0, rows: []
  };
  var sortKey = 'name', sortDir = 1;
  var nameFilter = '', stateFilter = '';
  var rafPending = false;
  var asked = { first: -1, last: -1 }; // the window last asked of the worker
  var owed = false;           // a frame arrived: answer with 'view' when drawn
  var messages = [];          // newest first
  var messagesDirty = false, freshMessages = 0, lastMessagesDraw = -Infinity;

  var worker;
  try {
    worker = new Worker('/static/live-worker.js');
  } catch (e) {
    $('live-error').textContent = 'This browser cannot run the live view: ' + e.message;
    $('live-error').classList.remove('hidden');
    return;
  }

  // ---- messages ----

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

  // ---- frames from the worker ----

  worker.onmessage = function (ev) {
    var f = ev.data;
    if (!f || f.type !== 'frame') return;
    last = f;
    owed = true;
    if (f.messages) for (var i = 0; i < f.messages.length; i++) addMessage(f.messages[i], true);
    if (f.messageList) setMessages(f.messageList);
    if (f.mode) setMode(f.mode.mode, f.mode.title);
    if (typeof f.error === 'string') showError(f.error);
    if (f.login) H.needLogin(f.login);
    if (f.warn && window.console) console.warn(f.warn);
    schedule();
  };
  worker.onerror = function (ev) {
    showError('The live view stopped: ' + (ev.message || 'its worker failed'));
  };

  function sendQuery() {
    worker.postMessage({ type: 'query', sort: sortKey, dir: sortDir, filter: nameFilter, state: stateFilter });
  }

  // ---- rendering ----

  function schedule() {
    if (rafPending) return;
    rafPending = true;
    requestAnimationFrame(frame);
  }

  function frame() {
    rafPending = false;
    // Layout is read before anything is written: a read after a write
    // would force a second layout in the frame.
    var g = geometry();
    renderCounts();
    var w = renderRows(g);
    var now = performance.now();
    if (messagesDirty && now - lastMessagesDraw >= MESSAGES_MS) {
      lastMessagesDraw = now;
      renderMessages();
    } else if (messagesDirty) {
      setTimeout(schedule, MESSAGES_MS);
    }
    // One 'view' per drawn frame at most: it tells the worker the window
    // and that the page is ready for the next frame.
    if (owed || w.first !== asked.first || w.last !== asked.last) {
      owed = false;
      asked = w;
      worker.postMessage({ type: 'view', first: w.first, last: w.last });
    }
  }

  function setText(node, t) {
    if (node._t !== t) { node._t = t; node.textContent = t; }
  }
  function setClass(node, c) {
    if (node._c !== c) { node._c = c; node.className = c; }
  }

  var fmt = new Intl.NumberFormat();
  function renderCounts() {
    var counts = last.counts || {};
    H.STATES.forEach(function (s) {
      setText($('count-' + s).firstChild, fmt.format(counts[s] || 0));
    });
    // ALL is every host, in the states this page knows or not.
    var total = last.total, shown = last.shown;
    setText($('count-all').firstChild, fmt.format(total));
    setText(shownCount, shown === total ? fmt.format(total) + (total === 1 ? ' host' : ' hosts') :
      'showing ' + fmt.format(shown) + ' of ' + fmt.format(total));
    if (!last.loaded) {
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
      var c = { dot: el('span'), label: el('span'), rtt: el('span', { className: 'rtt' }), flag: el('span', { className: 'hidden', text: '▲' }) };
      c.cell = el('div', { className: fam === 'ipv4' ? 'c-v4' : 'c-v6', attrs: { role: 'cell' }, data: { family: fam } },
        el('span', { className: 'fam', text: fam === 'ipv4' ? 'v4 ' : 'v6 ' }), c.dot, c.label, c.flag, c.rtt);
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

  function ms(v) { return H.num(v, v < 10 ? 2 : 1); }

  // fillConn draws one connection: {state, rtt, p50, p99, loss, addr}
  // as the worker keeps it, or null; other is the other family's, and
  // worse whether this one is flagged as much slower than it.
  function fillConn(c, conn, other, worse) {
    var flagTip = '';
    if (worse && conn && other) {
      flagTip = (c.cell.dataset.family === 'ipv4' ? 'IPv4' : 'IPv6') + ' is much slower than ' +
        (c.cell.dataset.family === 'ipv4' ? 'IPv6' : 'IPv4') + ': median RTT ' + ms(conn.p50) + ' ms vs ' + ms(other.p50) +
        ' ms, p99 ' + ms(conn.p99) + ' vs ' + ms(other.p99) + ' ms over the recent heartbeats';
    }
    setClass(c.flag, flagTip ? 'rtt-flag' : 'hidden');
    if (c.flag._tip !== flagTip) { c.flag._tip = flagTip; c.flag.title = flagTip; }
    var w = flagTip ? 'true' : 'false';
    if (c.cell.dataset.worse !== w) c.cell.dataset.worse = w;
    if (!conn) {
      setClass(c.dot, 'hidden');
      setText(c.label, '—');
      setClass(c.label, 'conn-none');
      setText(c.rtt, '');
      if (c.cell._tip !== '') { c.cell._tip = ''; c.cell.title = ''; }
      return;
    }
    var st = conn.state;
    setClass(c.dot, 'dot st-' + st);
    setText(c.label, st);
    setClass(c.label, '');
    // The RTT of a DOWN connection is from before it went down: not
    // shown. p50/p99 of the recent heartbeats once the daemon has them,
    // else the smoothed RTT. A SUSPECT connection is up: its RTT stands.
    var text = '';
    var live = st === 'UP' || st === 'SUSPECT';
    if (live && conn.p50 !== null) text = ms(conn.p50) + ' / ' + ms(conn.p99) + ' ms';
    else if (live && conn.rtt !== null) text = ms(conn.rtt) + ' ms';
    setText(c.rtt, text);
    setClass(c.rtt, flagTip ? 'rtt rtt-bad' : 'rtt');
    var tip = conn.addr;
    if (conn.p50 !== null) tip += ' · RTT p50 ' + ms(conn.p50) + ' · p99 ' + ms(conn.p99) + ' ms (recent heartbeats)';
    if (conn.rtt !== null) tip += ' · smoothed ' + ms(conn.rtt) + ' ms';
    if (conn.loss !== null) tip += ' · loss ' + H.num(conn.loss, 1) + '%';
    // phi: how unlikely this silence is by the connection's own recent
    // heartbeats (as of its last heartbeat or change of state).
    if (conn.phi !== null && conn.phi !== undefined) tip += ' · suspicion φ ' + H.num(conn.phi, 2);
    if (c.cell._tip !== tip) { c.cell._tip = tip; c.cell.title = tip; }
  }

  // fillRow draws row idx of the view from h, the worker's row for it.
  function fillRow(r, h, idx, now) {
    if (r.idx !== idx) {
      r.idx = idx;
      r.root.style.top = (idx * ROW_H) + 'px';
    }
    if (r.name !== h.name) {
      r.name = h.name;
      r.root.dataset.host = h.name;
      r.link.textContent = h.name;
      r.link.href = '/plugins#' + encodeURIComponent(h.name);
      r.link.title = h.name;
    }
    if (r.st !== h.state) { r.st = h.state; r.root.dataset.state = h.state; }
    setClass(r.dyn, h.dyn ? 'badge dyn' : 'hidden');
    setClass(r.state, 'badge st-' + h.state);
    setText(r.state, h.state || '?');
    var stTip = h.parents ? 'depends on ' + h.parents : '';
    if (r.state._tip !== stTip) { r.state._tip = stTip; r.state.title = stTip; }
    fillConn(r.conns[0], h.v4, h.v6, h.worse === 'ipv4');
    fillConn(r.conns[1], h.v6, h.v4, h.worse === 'ipv6');
    var worse = h.worse || '';
    if (r.worse !== worse) { r.worse = worse; r.root.dataset.rttWorse = worse; }
    var loss = h.loss;
    setText(r.loss, loss === null ? '—' : H.num(loss, 1) + '%');
    setClass(r.loss, loss !== null && loss > 0 ? 'num c-loss loss-bad' : 'num c-loss');
    setText(r.seen, H.ago(h.seen, now));
    if (h.seen > 0) {
      var t = H.clock(h.seen);
      if (r.seen._tip !== t) { r.seen._tip = t; r.seen.title = t; }
    }
  }

  function geometry() {
    if (!headH) headH = head.offsetHeight;
    return { top: Math.max(0, scroller.scrollTop - headH), height: scroller.clientHeight };
  }

  // renderRows draws the rows in view from the last frame and returns the
  // window to ask the worker for: the rows in view and OVERSCAN beyond.
  // Rows the worker has not sent yet (a fast scroll past the overscan)
  // leave the drawn rows where they are, scrolled with the table, until
  // the next frame brings them: drawing empty rows first would cost the
  // frame a second layout for nothing.
  function renderRows(g) {
    var n = last.shown;
    var height = (n * ROW_H) + 'px';
    if (body._h !== height) { body._h = height; body.style.height = height; }
    var first = Math.min(n, Math.floor(g.top / ROW_H));
    var end = Math.min(n, Math.ceil((g.top + g.height) / ROW_H) + 1);
    var want = { first: Math.max(0, first - OVERSCAN), last: Math.min(n, end + OVERSCAN) };
    var rows = last.rows || [], f0 = last.first;
    if (first < end && (first < f0 || end > f0 + rows.length)) return want;
    var need = Math.max(0, end - first);
    while (pool.length < need) pool.push(makeRow());
    var now = H.nowSec();
    for (var i = 0; i < pool.length; i++) {
      var r = pool[i];
      if (i < need) {
        if (r.hidden) { r.hidden = false; r.root.classList.remove('hidden'); }
        fillRow(r, rows[first + i - f0], first + i, now);
      } else if (!r.hidden) {
        r.hidden = true;
        r.root.classList.add('hidden');
        r.name = null;
        delete r.root.dataset.host;
      }
    }
    return want;
  }

  // renderMessages draws the list into a fixed set of reused items. New
  // messages flash, unless they come in a flood (a fleet changing state at
  // once): fifty animations at a time would cost every frame its style and
  // paint work.
  var msgItems = [];
  function renderMessages() {
    messagesDirty = false;
    var flash = freshMessages <= MAX_FLASH ? freshMessages : 0;
    freshMessages = 0;
    while (msgItems.length < messages.length) {
      var it = { time: el('span', { className: 'mono' }), h: el('span'), text: el('div', { className: 'text' }) };
      it.li = el('li', null, el('div', { className: 'meta' }, it.time, it.h), it.text);
      msgItems.push(it);
    }
    for (var i = 0; i < msgItems.length; i++) {
      var item = msgItems[i], m = messages[i];
      if (!m) {
        if (item.li.parentNode) msgList.removeChild(item.li);
        continue;
      }
      if (!item.li.parentNode) msgList.appendChild(item.li);
      var host = String(m.host || '');
      item.li.dataset.host = host;
      // Restart the animation on an item that shows a new message.
      item.li.className = '';
      if (i < flash) { void item.li.offsetWidth; item.li.className = 'fresh'; }
      setText(item.time, H.clock(m.time));
      item.time.title = new Date(m.time * 1000).toISOString();
      // Daemon-wide messages have no host.
      setText(item.h, host || 'daemon');
      setClass(item.h, host ? 'h' : 'muted');
      setText(item.text, String(m.msg || ''));
    }
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
    sendQuery();
    schedule();
  });

  filterBox.addEventListener('input', function () {
    nameFilter = filterBox.value.trim().toLowerCase();
    sendQuery();
    scroller.scrollTop = 0;
    schedule();
  });

  function setStateFilter(st) {
    stateFilter = st;
    stateSel.value = st;
    document.querySelectorAll('#state-counts .count').forEach(function (b) {
      b.setAttribute('aria-pressed', String(b.dataset.state === st));
    });
    sendQuery();
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

  // ---- transport: in the worker; the page shows its mode and errors ----

  function setMode(mode, title) {
    indicator.dataset.mode = mode;
    indicator.textContent = mode;
    indicator.title = title;
  }

  function showError(msg) {
    if (msg) { errBox.textContent = msg; errBox.classList.remove('hidden'); }
    else errBox.classList.add('hidden');
  }

  // ---- start ----

  readRowHeight();
  updateSortHeaders();
  sendQuery();
  worker.postMessage({ type: 'init', url: H.streamURL(), token: H.token() });
  schedule();
  // The stream carries only new messages: the recent ones come by HTTP.
  H.api('/api/0/messages?limit=' + MAX_MESSAGES).then(setMessages, function () {});
})();
