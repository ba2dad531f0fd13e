// Shared helpers for hbd's pages, exposed as window.hbd.
//
// Every string that comes from the daemon (host names, messages, metric
// names, comments) is untrusted: it reaches the DOM only through
// textContent or attribute properties, never as markup.
(function () {
  'use strict';

  // el builds an element. props sets DOM properties (className, href,
  // dataset via "data" object, textContent via "text"); children are
  // nodes or strings (strings become text nodes).
  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      for (var k in props) {
        if (!Object.prototype.hasOwnProperty.call(props, k)) continue;
        var v = props[k];
        if (v === undefined || v === null) continue;
        if (k === 'text') node.textContent = v;
        else if (k === 'data') { for (var d in v) node.dataset[d] = v[d]; }
        else if (k === 'attrs') { for (var a in v) node.setAttribute(a, v[a]); }
        else node[k] = v;
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return node;
  }

  var SVG_NS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    if (attrs) for (var k in attrs) node.setAttribute(k, attrs[k]);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // HTTPError carries the status and the daemon's {"error": ...} text.
  function HTTPError(status, message) {
    this.status = status;
    this.message = message;
  }
  HTTPError.prototype = Object.create(Error.prototype);
  HTTPError.prototype.name = 'HTTPError';

  // ---- API token ----
  //
  // A daemon with [api] tokens answers 401 without one. The token the user
  // types is kept in this origin's localStorage (another site's pages
  // cannot read it) and sent as "Authorization: Bearer"; the WebSocket
  // takes it as ?token=, since browsers cannot set headers there.

  var TOKEN_KEY = 'hbd.token';

  function token() {
    try { return window.localStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function setToken(t) {
    try {
      if (t) window.localStorage.setItem(TOKEN_KEY, t);
      else window.localStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the token lasts until reload */ }
  }

  var login = null;

  // loginBox puts the token field and the sign-out button in the top bar,
  // hidden until needed.
  function loginBox() {
    if (login) return login;
    var bar = document.querySelector('.topbar');
    if (!bar) return null;
    var right = bar.querySelector('.topbar-right');
    if (!right) {
      right = el('div', { className: 'topbar-right' });
      bar.appendChild(right);
    }
    var input = el('input', {
      type: 'password', id: 'login-token', placeholder: 'API token', autocomplete: 'current-password',
      spellcheck: false, attrs: { 'aria-label': 'API token' }
    });
    var form = el('form', { id: 'login', className: 'login hidden' }, input,
      el('button', { type: 'submit', id: 'login-submit', className: 'primary small', text: 'Sign in' }));
    var out = el('button', {
      type: 'button', id: 'logout', className: 'small hidden', text: 'Sign out',
      title: 'Forget the API token stored in this browser'
    });
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var v = input.value.trim();
      if (!v) return;
      setToken(v);
      location.reload();
    });
    out.addEventListener('click', function () {
      setToken('');
      location.reload();
    });
    right.insertBefore(out, right.firstChild);
    right.insertBefore(form, right.firstChild);
    if (token()) out.classList.remove('hidden');
    login = { form: form, input: input, out: out };
    return login;
  }

  // needLogin shows the token field after a 401.
  function needLogin(message) {
    var b = loginBox();
    if (!b || !b.form.classList.contains('hidden')) return;
    b.form.classList.remove('hidden');
    b.input.placeholder = token() ? 'Token rejected: enter another' : 'API token';
    b.input.title = message;
  }

  // streamURL is the WebSocket URL of the live stream on this origin.
  function streamURL() {
    var url = (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + '/hbd';
    var t = token();
    return t ? url + '?token=' + encodeURIComponent(t) : url;
  }

  // api fetches a JSON endpoint; it rejects with an HTTPError on a non-2xx
  // answer (message from the body's "error" when there is one) and gives
  // up after timeoutMs (default 15 s) so a stuck request cannot stall a
  // refresh loop. A 401 also shows the token field.
  function api(path, opts) {
    opts = opts || {};
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, opts.timeoutMs || 15000) : 0;
    var init = { method: opts.method || 'GET', headers: { 'Accept': 'application/json' }, cache: 'no-store' };
    var tok = token();
    if (tok) init.headers['Authorization'] = 'Bearer ' + tok;
    if (ctrl) init.signal = ctrl.signal;
    if (opts.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(opts.body);
    }
    return fetch(path, init).then(function (resp) {
      return resp.text().then(function (text) {
        var body = null;
        if (text) {
          try { body = JSON.parse(text); } catch (e) { body = null; }
        }
        if (!resp.ok) {
          var msg = body && typeof body.error === 'string' ? body.error : ('HTTP ' + resp.status);
          if (resp.status === 401) needLogin(msg);
          throw new HTTPError(resp.status, msg);
        }
        return body;
      });
    }, function (err) {
      if (err && err.name === 'AbortError') throw new HTTPError(0, 'request timed out');
      throw new HTTPError(0, 'cannot reach the daemon');
    }).finally(function () { clearTimeout(timer); });
  }

  function nowSec() { return Date.now() / 1000; }

  // duration formats seconds as "12m 3s", "3h 4m", "2d 5h": the two
  // largest units, which is as precise as a glance needs.
  function duration(sec) {
    if (sec === null || sec === undefined || !isFinite(sec)) return '—';
    sec = Math.max(0, Math.floor(sec));
    var d = Math.floor(sec / 86400), h = Math.floor(sec % 86400 / 3600),
        m = Math.floor(sec % 3600 / 60), s = sec % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + s + 's';
    return s + 's';
  }

  // ago formats a unix time (seconds) as "3s ago".
  function ago(ts, now) {
    if (ts === null || ts === undefined || !isFinite(ts) || ts <= 0) return 'never';
    var d = (now === undefined ? nowSec() : now) - ts;
    if (d < 1) return 'just now';
    return duration(d) + ' ago';
  }

  function pad2(n) { return n < 10 ? '0' + n : '' + n; }

  // clock formats a unix time (seconds) as local HH:MM:SS, prefixed with
  // the date when it is not today.
  function clock(ts) {
    if (!isFinite(ts) || ts <= 0) return '—';
    var d = new Date(ts * 1000);
    var t = pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
    var today = new Date();
    if (d.toDateString() !== today.toDateString()) {
      t = d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + t;
    }
    return t;
  }

  var numFmt = {};
  function num(v, digits) {
    if (digits === undefined) digits = Math.abs(v) >= 100 ? 1 : 2;
    var f = numFmt[digits];
    if (!f) f = numFmt[digits] = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits });
    return f.format(v);
  }

  var BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  // bytes splits a byte count into a number and a 1024-based unit.
  function bytes(v) {
    var i = 0, a = Math.abs(v);
    while (a >= 1024 && i < BYTE_UNITS.length - 1) { a /= 1024; v /= 1024; i++; }
    return { value: num(v, i === 0 ? 0 : (Math.abs(v) >= 100 ? 0 : 1)), unit: BYTE_UNITS[i] };
  }

  // metricValue formats a metric's value from its key, by the naming
  // conventions of hbd's plugins: *_percent and "percent" in %, *_mb and
  // *_gb as such, *_ms in ms, *_per_s as a rate (byte rates scaled to
  // KB/s, MB/s...), other *bytes* keys as byte sizes, cpu "frequency" in
  // MHz. It returns {value, unit} as strings.
  function metricValue(key, v) {
    if (typeof v !== 'number') {
      if (typeof v === 'boolean') return { value: v ? 'yes' : 'no', unit: '' };
      if (v === null || v === undefined) return { value: '—', unit: '' };
      return { value: String(v), unit: '' };
    }
    var k = String(key).toLowerCase();
    if (k === 'percent' || /_percent$|_pct$/.test(k)) return { value: num(v, 1), unit: '%' };
    if (/_per_s$/.test(k)) {
      if (k.indexOf('bytes') >= 0) { var b = bytes(v); return { value: b.value, unit: b.unit + '/s' }; }
      return { value: num(v), unit: '/s' };
    }
    if (/_mb$/.test(k)) return { value: num(v, 1), unit: 'MB' };
    if (/_gb$/.test(k)) return { value: num(v, 2), unit: 'GB' };
    if (/_ms$/.test(k)) return { value: num(v), unit: 'ms' };
    if (k.indexOf('bytes') >= 0) { var bb = bytes(v); return { value: bb.value, unit: bb.unit }; }
    if (k === 'frequency' || /_mhz$/.test(k)) return { value: num(v, 0), unit: 'MHz' };
    return { value: num(v), unit: '' };
  }

  function metricText(key, v) {
    var m = metricValue(key, v);
    return m.unit ? (m.unit === '%' ? m.value + '%' : m.value + ' ' + m.unit) : m.value;
  }

  // STATES lists host states from most to least alarming: the order of the
  // state column when sorted descending by severity.
  var STATES = ['DOWN', 'UNREACHABLE', 'DEGRADED', 'SUSPECT', 'UNKNOWN', 'STOPPED', 'UP'];

  function badge(text, cls) {
    return el('span', { className: 'badge ' + cls, text: text });
  }

  // every runs fn now and then every ms milliseconds, skipping a run while
  // the previous one (a promise) is still pending; it also reruns when the
  // tab becomes visible again, since browsers throttle hidden tabs.
  function every(ms, fn) {
    var busy = false;
    function tick() {
      if (busy) return;
      busy = true;
      Promise.resolve().then(fn).catch(function () {}).finally(function () { busy = false; });
    }
    tick();
    var id = setInterval(tick, ms);
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden) tick();
    });
    return { stop: function () { clearInterval(id); }, now: tick };
  }

  loginBox();

  window.hbd = {
    el: el, svg: svg, clear: clear, api: api, HTTPError: HTTPError, streamURL: streamURL,
    token: token, needLogin: needLogin,
    nowSec: nowSec, duration: duration, ago: ago, clock: clock,
    num: num, bytes: bytes, metricValue: metricValue, metricText: metricText,
    STATES: STATES, badge: badge, every: every
  };
})();
