/* proxy/dashboard/app.js - the admin dashboard. The admin token is kept in sessionStorage (this tab only) and sent as
 * `Authorization: Bearer` on every fetch: no cookie, so another site cannot make the browser act with it. GET /dashboard/stats is
 * sampled once a second; rates are the differences of its counters over the server's own clock. The forms call the admin API
 * (POST /purge, PUT /hooks/NAME/aliases/ALIAS) after a confirmation step. Charts are drawn on canvas: no library. */
'use strict';
(function () {
  const TOKEN_KEY = 'edgehook.admin-token';
  const HISTORY = 120; /* samples kept per chart: two minutes */
  const COLORS = ['#2563eb', '#f97316', '#16a34a', '#db2777', '#7c3aed', '#0891b2', '#ca8a04', '#dc2626', '#64748b', '#059669'];
  const $ = (id) => document.getElementById(id);
  let token = null;
  let timer = null;
  let prev = null; /* the previous stats sample */
  let lastGeneration = -1;
  let samplesSinceHooks = 0;
  let registry = null; /* GET /hooks */
  let charts = {};
  const lastShares = {}; /* alias -> the shares of the last interval that had requests */

  /* ---- helpers ---------------------------------------------------------------------------------------------------------- */

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  function fmtNum(v) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G';
    if (a >= 1e6) return (v / 1e6).toFixed(2) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
    if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
    return v.toFixed(a >= 10 ? 1 : 2);
  }
  function fmtBytes(v) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? Math.round(v) : v.toFixed(1)) + ' ' + units[i];
  }
  const fmtPct = (v) => (v === null || !isFinite(v) ? '–' : (v >= 99.95 || v < 0.05 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)) + '%');
  const fmtMs = (v) => (v === null || !isFinite(v) ? '–' : (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(3)) + ' ms');
  function setStatus(text, bad) {
    const s = $('status');
    s.textContent = text;
    s.classList.toggle('bad', !!bad);
  }
  function result(id, text, ok) {
    const r = $(id);
    r.textContent = text;
    r.className = 'result ' + (ok ? 'ok' : 'bad');
  }

  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: 'Bearer ' + token }, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    if (r.status === 401) {
      logout('The token was refused: log in again.');
      throw new Error('401 Unauthorized');
    }
    return r;
  }
  async function answer(r) {
    const text = await r.text();
    try { return JSON.parse(text); } catch (e) { return { error: text.trim() || r.status + ' ' + r.statusText }; }
  }

  /* ---- charts ------------------------------------------------------------------------------------------------------------- */

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  class Chart {
    constructor(name, fmt, max) {
      this.canvas = $('chart-' + name);
      this.legend = $('legend-' + name);
      this.fmt = fmt;
      this.max = max; /* fixed top of the scale, or 0 */
      this.series = new Map(); /* name -> {data, color} */
      this.length = 0;
    }
    push(values) {
      for (const name of Object.keys(values))
        if (!this.series.has(name))
          this.series.set(name, { data: new Array(this.length).fill(null), color: COLORS[this.series.size % COLORS.length] });
      for (const [name, s] of this.series) {
        s.data.push(name in values ? values[name] : null);
        if (s.data.length > HISTORY) s.data.shift();
      }
      this.length = Math.min(this.length + 1, HISTORY);
      for (const [name, s] of this.series) if (s.data.every((v) => v === null)) this.series.delete(name);
      this.draw();
      this.drawLegend(values);
    }
    drawLegend(values) {
      const items = [];
      for (const [name, s] of this.series) {
        const sw = el('span', { class: 'swatch' });
        sw.style.backgroundColor = s.color; /* CSSOM: allowed by the CSP, unlike a style attribute */
        items.push(el('span', { 'data-series': name }, sw, name + ' ' + (name in values ? this.fmt(values[name]) : '–')));
      }
      this.legend.replaceChildren(...items);
    }
    draw() {
      const c = this.canvas, dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
      if (!w || !h) return;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
      }
      const g = c.getContext('2d');
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, h);
      const css = getComputedStyle(document.documentElement);
      const grid = css.getPropertyValue('--grid').trim() || '#ddd', muted = css.getPropertyValue('--muted').trim() || '#888';
      let max = this.max;
      if (!max) {
        for (const s of this.series.values()) for (const v of s.data) if (v !== null && v > max) max = v;
        max = niceMax(max);
      }
      const left = 52, right = 8, top = 8, bottom = 16, pw = w - left - right, ph = h - top - bottom;
      g.font = '11px system-ui, sans-serif';
      g.lineWidth = 1;
      for (let i = 0; i <= 4; i++) {
        const y = Math.round(top + ph - (ph * i) / 4) + 0.5;
        g.strokeStyle = grid;
        g.beginPath();
        g.moveTo(left, y);
        g.lineTo(w - right, y);
        g.stroke();
        g.fillStyle = muted;
        g.fillText(this.fmt((max * i) / 4), 2, y + 4);
      }
      g.fillText('−' + HISTORY + ' s', left, h - 3);
      g.fillText('now', w - right - 20, h - 3);
      g.lineWidth = 1.8;
      g.lineJoin = 'round';
      for (const s of this.series.values()) {
        g.strokeStyle = s.color;
        g.beginPath();
        let pen = false;
        const offset = HISTORY - s.data.length;
        const dots = [];
        s.data.forEach((v, i) => {
          if (v === null) { pen = false; return; }
          const x = left + (pw * (offset + i)) / (HISTORY - 1), y = top + ph - (ph * Math.min(v, max)) / max;
          if (pen) g.lineTo(x, y);
          else g.moveTo(x, y);
          /* a sample alone between gaps (an origin asked once in a while) is a dot */
          if (!pen && (i + 1 === s.data.length || s.data[i + 1] === null)) dots.push([x, y]);
          pen = true;
        });
        g.stroke();
        g.fillStyle = s.color;
        for (const [x, y] of dots) {
          g.beginPath();
          g.arc(x, y, 2.5, 0, 2 * Math.PI);
          g.fill();
        }
      }
    }
  }

  function makeCharts() {
    charts = {
      rps: new Chart('rps', fmtNum, 0),
      hit: new Chart('hit', fmtPct, 100),
      bps: new Chart('bps', (v) => fmtBytes(v), 0),
      olat: new Chart('olat', (v) => fmtNum(v), 0),
      oerr: new Chart('oerr', fmtNum, 0),
      hinv: new Chart('hinv', fmtNum, 0),
      herr: new Chart('herr', fmtNum, 0),
      hdur: new Chart('hdur', (v) => fmtNum(v), 0),
      canary: new Chart('canary', fmtPct, 100),
    };
  }

  /* ---- one sample ------------------------------------------------------------------------------------------------------- */

  const cacheHits = (c) => c.hits + c.refresh_hits + c.stale;
  const cacheLookups = (c) => cacheHits(c) + c.misses + c.passes;
  const byName = (list, key) => new Map((list || []).map((x) => [x[key], x]));

  function update(s) {
    $('stat-requests').textContent = String(s.requests);
    $('stat-gen').textContent = String(s.generation);
    $('stat-version').textContent = 'edgehook ' + s.version + ' · ' + s.health;
    $('stat-bytes').textContent = fmtBytes(s.bytes_sent) + ' since start';
    const lookups = cacheLookups(s.counters);
    $('stat-hit-total').textContent = 'since start ' + (lookups ? fmtPct((100 * cacheHits(s.counters)) / lookups) : '–');
    if (s.cache) {
      $('stat-cache').textContent = fmtNum(s.cache.objects) + ' objects';
      $('stat-cache-sub').textContent = fmtBytes(s.cache.bytes) + ' of ' + fmtBytes(s.cache.capacity) + ' · ' + fmtNum(s.cache.evictions) + ' evicted';
    } else {
      $('stat-cache').textContent = 'off';
    }
    const dt = prev ? (s.time_ms - prev.time_ms) / 1000 : 0;
    if (prev && dt > 0) {
      const d = (a, b) => Math.max(0, a - b) / dt;
      const rps = d(s.requests, prev.requests);
      $('stat-rps').textContent = fmtNum(rps);
      const rpsVals = { all: rps };
      for (const cls of ['2xx', '3xx', '4xx', '5xx']) rpsVals[cls] = d(s.requests_by_class[cls], prev.requests_by_class[cls]);
      charts.rps.push(rpsVals);
      const dl = cacheLookups(s.counters) - cacheLookups(prev.counters), dh = cacheHits(s.counters) - cacheHits(prev.counters);
      const hit = dl > 0 ? (100 * dh) / dl : null;
      $('stat-hit').textContent = fmtPct(hit);
      charts.hit.push(hit === null ? {} : { 'hit ratio': hit });
      const bps = d(s.bytes_sent, prev.bytes_sent);
      $('stat-bps').textContent = fmtBytes(bps) + '/s';
      charts.bps.push({ sent: bps });
      const po = byName(prev.origins, 'name'), lat = {}, oerr = {};
      for (const o of s.origins) {
        const p = po.get(o.name);
        if (!p) continue;
        const heads = o.heads - p.heads;
        if (heads > 0) lat[o.name] = (o.head_us - p.head_us) / heads / 1000;
        oerr[o.name + ' requests'] = d(o.requests, p.requests);
        oerr[o.name + ' errors'] = d(o.failures, p.failures);
      }
      charts.olat.push(lat);
      charts.oerr.push(oerr);
      const ph = byName(prev.hook_versions, 'hook'), inv = {}, err = {}, dur = {};
      for (const v of s.hook_versions) {
        const p = ph.get(v.hook) || { invocations: 0, errors: 0, duration_ns: 0 };
        const n = v.invocations - p.invocations;
        inv[v.hook] = d(v.invocations, p.invocations);
        err[v.hook] = d(v.errors, p.errors);
        if (n > 0) dur[v.hook] = (v.duration_ns - p.duration_ns) / n / 1e6;
      }
      charts.hinv.push(inv);
      charts.herr.push(err);
      charts.hdur.push(dur);
    }
    updateCanary(s, dt);
    updateTables(s);
    /* versions and aliases: again when the generation changes (an alias moved, a reload), and every 10 s (a version published) */
    if (s.generation !== lastGeneration || ++samplesSinceHooks >= 10) {
      lastGeneration = s.generation;
      samplesSinceHooks = 0;
      loadHooks();
    }
    prev = s;
  }

  /* per alias: the share of its requests each version answered since the previous sample (counted when the alias picks) */
  function updateCanary(s, dt) {
    const box = $('canary');
    if (!s.aliases.length) {
      box.replaceChildren(el('p', { class: 'empty', text: 'No behavior uses a hook alias.' }));
      if (prev) charts.canary.push({});
      return;
    }
    const before = new Map(prev ? prev.aliases.map((a) => [a.hook + '@' + a.alias, a]) : []);
    const rows = [], values = {};
    for (const a of s.aliases) {
      const id = a.hook + '@' + a.alias, p = before.get(id), sig = id + ':' + a.versions.map((v) => v.version).join(',');
      let deltas = null;
      if (p) {
        deltas = a.versions.map((v) => {
          const pv = p.versions.find((x) => x.version === v.version);
          return Math.max(0, v.picks - (pv ? pv.picks : 0));
        });
      }
      const total = deltas ? deltas.reduce((x, y) => x + y, 0) : 0;
      if (total > 0) lastShares[sig] = deltas.map((x) => (100 * x) / total);
      const shares = lastShares[sig] || null;
      if (total > 0) a.versions.forEach((v, i) => { values[id + ' v' + v.version] = shares[i]; });
      const bar = el('div', { class: 'bar', title: 'answered in the last interval' });
      const texts = [];
      a.versions.forEach((v, i) => {
        const width = shares ? shares[i] : 100 * v.weight;
        const seg = el('span', { 'data-version': String(v.version) });
        seg.style.width = width + '%';
        seg.style.backgroundColor = COLORS[(v.version - 1) % COLORS.length];
        bar.append(seg);
        texts.push(el('span', {},
          'v' + v.version + ' answered ',
          el('b', { class: 'share', 'data-version': String(v.version), text: shares ? fmtPct(shares[i]) : '–' }),
          ' · weight ',
          el('span', { class: 'weight', 'data-version': String(v.version), text: fmtPct(100 * v.weight) }),
          ' · ' + fmtNum(v.picks) + ' requests since start'));
      });
      const note = total > 0 ? total + ' requests in the last ' + dt.toFixed(1) + ' s' : shares ? 'no requests in the last interval (shares of the last one that had some)' : 'no requests yet';
      rows.push(el('div', { class: 'alias', 'data-alias': id },
        el('div', { class: 'name' }, id, el('small', { text: 'key: ' + a.key + ' · ' + note })),
        bar,
        el('div', { class: 'shares' }, ...texts)));
    }
    box.replaceChildren(...rows);
    if (prev) charts.canary.push(values);
  }

  function cell(text, cls) {
    return el('td', cls ? { class: cls, text } : { text });
  }

  function updateTables(s) {
    $('behaviors').replaceChildren(...s.behaviors.map((b) => {
      const hooks = el('td');
      for (const [ev, what] of Object.entries(b.hooks)) hooks.append(el('div', {}, el('span', { class: 'tag', text: ev }), what));
      if (!Object.keys(b.hooks).length) hooks.textContent = '–';
      return el('tr', {}, cell(b.path), cell(b.origin),
        cell(b.cache ? 'on' + (b.default_ttl_ms >= 0 ? ', default ttl ' + b.default_ttl_ms / 1000 + ' s' : '') : 'off'), hooks);
    }));
    $('origins').replaceChildren(...s.origins.map((o) => el('tr', { 'data-origin': o.name },
      cell(o.name), cell(o.type), cell(o.target), cell(fmtNum(o.requests), 'num'), cell(fmtNum(o.failures), 'num'),
      cell(fmtNum(o.connections), 'num'), cell(o.heads ? fmtMs(o.head_us / o.heads / 1000) : '–', 'num'))));
    $('hook-versions').replaceChildren(...s.hook_versions.map((v) => el('tr', { 'data-hook-version': v.hook },
      cell(v.hook), el('td', {}, el('code', { text: v.hash })), cell(fmtNum(v.invocations), 'num'), cell(fmtNum(v.errors), 'num'),
      cell(fmtNum(v.timeouts), 'num'), cell(v.invocations ? fmtMs(v.duration_ns / v.invocations / 1e6) : '–', 'num'))));
  }

  /* ---- hooks: versions and aliases (GET /hooks, again when the generation changes) ----------------------------------------- */

  function describeTarget(t) {
    if (!t) return '–';
    const versions = t.versions || {};
    return Object.entries(versions).map(([v, w]) => 'v' + v + (Object.keys(versions).length > 1 ? ' ' + fmtPct(100 * w) : '')).join(' / ');
  }

  async function loadHooks() {
    let j;
    try {
      const r = await api('GET', '/hooks');
      if (!r.ok) return;
      j = await r.json();
    } catch (e) {
      return;
    }
    registry = j.hooks || {};
    const rows = [];
    for (const [name, h] of Object.entries(registry)) {
      if (h.deleted) continue;
      const versions = el('td');
      for (const v of h.versions || [])
        versions.append(el('div', {}, el('span', { class: 'tag', text: 'v' + v.version }),
          (v.sha256 || '').slice(0, 12) + (v.created ? ' · ' + v.created : '') + (v.source ? ' · ' + v.source : '') + (v.loaded ? ' · loaded' : '')));
      const aliases = el('td');
      for (const [an, a] of Object.entries(h.aliases || {})) {
        const hist = a.history && a.history.length ? a.history[a.history.length - 1] : null;
        aliases.append(el('div', { 'data-hook-alias': name + '@' + an }, el('span', { class: 'tag', text: an }),
          describeTarget(a) + ' · key ' + (a.key || 'ip') + (hist && hist.by ? ' · set by ' + hist.by + (hist.at ? ' at ' + hist.at : '') : '')));
      }
      rows.push(el('tr', {}, cell(name), versions, aliases));
    }
    $('hooks').replaceChildren(...rows);
    fillAliasForm(false);
  }

  /* ---- forms ---------------------------------------------------------------------------------------------------------------- */

  /* a form's submit opens its confirmation; Confirm runs `action` once, Cancel closes it */
  function confirmFlow(prefix, describe, action) {
    let pending = null;
    $(prefix + '-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const what = describe();
      if (!what) return;
      pending = what;
      $(prefix + '-confirm-text').textContent = what.text;
      $(prefix + '-confirm').hidden = false;
      $(prefix + '-yes').focus();
    });
    $(prefix + '-no').addEventListener('click', () => {
      pending = null;
      $(prefix + '-confirm').hidden = true;
      result(prefix + '-result', 'Cancelled.', false);
    });
    $(prefix + '-yes').addEventListener('click', async () => {
      const what = pending;
      pending = null;
      $(prefix + '-confirm').hidden = true;
      if (!what) return;
      result(prefix + '-result', 'Working…', true);
      try {
        await action(what);
      } catch (e) {
        if (token) result(prefix + '-result', 'Failed: ' + e.message, false);
      }
    });
  }

  function fillAliasForm(force) {
    if (!registry) return;
    const sel = $('alias-hook'), keep = sel.value;
    const names = Object.keys(registry).filter((n) => !registry[n].deleted);
    if (force || sel.options.length !== names.length) {
      sel.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
      if (names.includes(keep)) sel.value = keep;
    }
    const h = registry[sel.value];
    $('alias-names').replaceChildren(...Object.keys((h && h.aliases) || {}).map((a) => el('option', { value: a })));
    if (force) prefillAlias();
  }

  function prefillAlias() {
    const h = registry && registry[$('alias-hook').value];
    const a = h && h.aliases && h.aliases[$('alias-name').value.trim()];
    if (!a) return;
    const entries = Object.entries(a.versions || {});
    $('alias-v1').value = entries[0] ? entries[0][0] : '';
    $('alias-w1').value = entries[0] ? +(100 * entries[0][1]).toFixed(4) : 100;
    $('alias-v2').value = entries[1] ? entries[1][0] : '';
    $('alias-w2').value = entries[1] ? +(100 * entries[1][1]).toFixed(4) : 0;
    $('alias-key').value = a.key || '';
  }

  function setupForms() {
    confirmFlow('purge', () => {
      const kind = $('purge-kind').value, value = $('purge-value').value.trim(), soft = $('purge-soft').checked;
      if ((kind === 'url' || kind === 'prefix') && !value.startsWith('/')) {
        result('purge-result', 'A URL or a prefix starts with /.', false);
        return null;
      }
      return { body: { [kind]: value, soft }, text: (soft ? 'Soft-purge' : 'Purge') + ' every cached object of ' + kind + ' ' + value + '?' };
    }, async (what) => {
      const r = await api('POST', '/purge', what.body);
      const j = await answer(r);
      if (r.ok) result('purge-result', 'Purged ' + j.purged + (j.purged === 1 ? ' object' : ' objects') + (j.soft ? ' (soft)' : '') + '.', true);
      else result('purge-result', 'Refused (' + r.status + '): ' + (j.error || ''), false);
    });

    $('alias-hook').addEventListener('change', () => { fillAliasForm(false); prefillAlias(); });
    $('alias-name').addEventListener('change', prefillAlias);
    confirmFlow('alias', () => {
      const hook = $('alias-hook').value, alias = $('alias-name').value.trim();
      const v1 = $('alias-v1').value.trim(), v2 = $('alias-v2').value.trim();
      const w1 = parseFloat($('alias-w1').value || '0'), w2 = v2 ? parseFloat($('alias-w2').value || '0') : 0;
      const key = $('alias-key').value.trim();
      const versions = {};
      if (v1 && w1 > 0) versions[v1] = w1 / 100;
      if (v2 && w2 > 0) versions[v2] = w2 / 100;
      if (!hook || !alias || !Object.keys(versions).length || Math.abs(w1 + w2 - 100) > 1e-6) {
        result('alias-result', 'Give a hook, an alias and one or two versions whose weights add up to 100 %.', false);
        return null;
      }
      const body = { versions };
      if (key) body.key = key;
      const split = Object.entries(versions).map(([v, w]) => 'v' + v + ' ' + fmtPct(100 * w)).join(' / ');
      return { hook, alias, body, text: 'Move ' + hook + '@' + alias + ' to ' + split + (key ? ' (sticky by ' + key + ')' : '') + '?' };
    }, async (what) => {
      const r = await api('PUT', '/hooks/' + encodeURIComponent(what.hook) + '/aliases/' + encodeURIComponent(what.alias), what.body);
      const j = await answer(r);
      if (r.ok) {
        result('alias-result', 'Moved ' + what.hook + '@' + what.alias + ' to ' + Object.entries(what.body.versions).map(([v, w]) => 'v' + v + ' ' + fmtPct(100 * w)).join(' / ') + '.', true);
        loadHooks();
      } else {
        result('alias-result', 'Refused (' + r.status + '): ' + (j.error || ''), false);
      }
    });
  }

  /* ---- session ------------------------------------------------------------------------------------------------------------ */

  async function poll() {
    timer = null;
    try {
      const r = await api('GET', '/dashboard/stats');
      if (!r.ok) throw new Error(r.status + ' ' + r.statusText);
      const s = await r.json();
      update(s);
      setStatus('live · ' + new Date(s.time_ms).toLocaleTimeString(), false);
    } catch (e) {
      if (!token) return;
      setStatus('no answer from the admin listener: ' + e.message, true);
    }
    if (token) timer = setTimeout(poll, 1000);
  }

  async function start() {
    let r;
    try {
      r = await api('GET', '/dashboard/panel.html');
    } catch (e) {
      if (token) setStatus('no answer from the admin listener: ' + e.message, true);
      return;
    }
    if (!r.ok) {
      setStatus('the dashboard cannot be loaded: ' + r.status, true);
      return;
    }
    $('app').innerHTML = await r.text(); /* the binary's own markup, fetched with the token */
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = false;
    prev = null;
    lastGeneration = -1;
    makeCharts();
    setupForms();
    poll();
  }

  function logout(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (timer) clearTimeout(timer);
    timer = null;
    $('app').hidden = true;
    $('app').replaceChildren();
    $('logout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    setStatus('', false);
    $('token').focus();
  }

  async function login(e) {
    e.preventDefault();
    const t = $('token').value.trim();
    $('login-error').textContent = '';
    $('login-button').disabled = true;
    try {
      const r = await fetch('/dashboard/stats', { headers: { Authorization: 'Bearer ' + t }, cache: 'no-store', credentials: 'omit' });
      if (r.status === 401) {
        $('login-error').textContent = 'That token was refused.';
        return;
      }
      if (!r.ok) {
        $('login-error').textContent = 'Unexpected answer: ' + r.status + ' ' + r.statusText;
        return;
      }
    } catch (err) {
      $('login-error').textContent = 'The admin listener cannot be reached: ' + err.message;
      return;
    } finally {
      $('login-button').disabled = false;
    }
    token = t;
    sessionStorage.setItem(TOKEN_KEY, t);
    $('token').value = '';
    start();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', () => logout(''));
    window.addEventListener('resize', () => { for (const c of Object.values(charts)) c.draw(); });
    token = sessionStorage.getItem(TOKEN_KEY);
    if (token) start();
    else $('token').focus();
  });
})();
