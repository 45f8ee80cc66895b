/*
 * psabridge's web page for the people who keep it running: what came in,
 * what became of it, fix and retry.  Everything comes from the admin API
 * (docs/delivery.md); this file only draws it.
 *
 * Rules this file keeps:
 * - The admin token lives in sessionStorage only (this tab; gone when it
 *   closes) and goes to the API as "Authorization: Bearer", never in a URL.
 * - Every value from the API reaches the page as text (textContent,
 *   createTextNode, setAttribute): never as markup.  The page's CSP allows
 *   no inline script, so a value that looked like markup could not run
 *   anyway.
 * - No library, no build step: the file is embedded in psabridge as is.
 */
'use strict';

(function () {
  const TOKEN_KEY = 'psabridge.admin_token';
  const PAGE = 25;
  const HOUR = 3600000;
  const SVGNS = 'http://www.w3.org/2000/svg';
  const EVENT_TYPES = ['Agent.Create', 'Agent.Uninstall', 'Agent.Reinstall',
    'Agent.Delete', 'UserRequest.Create'];

  /*
   * Hook for links to tickets: the URL of ticket `ticketId` as made by
   * `target` (an entry of GET /api/v1/targets: name, type, ...), or null
   * to show the id alone.  No target gives a ticket page URL yet: the
   * ConnectWise and Autotask web pages of a ticket depend on the version
   * and hosting, and the targets only know the API.  Only http(s) URLs
   * are ever made into links.
   */
  function ticketLink(target, ticketId) {
    void target;
    void ticketId;
    return null;
  }

  // --- DOM: text only ----------------------------------------------------

  function $(sel) { return document.querySelector(sel); }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.setAttribute('class', v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
  }

  function append(e, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === undefined || k === null || k === false) continue;
      e.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }

  /* el('a', {href: '#/x'}, 'text', child, ...): strings become text. */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    return append(e, kids);
  }

  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    return append(e, kids);
  }

  function link(hash, ...kids) { return el('a', { href: hash }, ...kids); }

  // --- formatting ----------------------------------------------------------

  function pad(n) { return String(n).padStart(2, '0'); }

  function fmtTime(ms) {
    if (typeof ms !== 'number' || !ms) return '–';
    const d = new Date(ms);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' +
      pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()) +
      ':' + pad(d.getSeconds());
  }

  function timeEl(ms) {
    if (typeof ms !== 'number' || !ms) return '–';
    const iso = new Date(ms).toISOString();
    return el('time', { datetime: iso, title: iso }, fmtTime(ms));
  }

  function fmtAge(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min';
    const h = Math.floor(m / 60);
    if (h < 48) return h + ' h ' + (m % 60) + ' min';
    return Math.floor(h / 24) + ' d ' + (h % 24) + ' h';
  }

  function fmtDuration(ms) {
    if (typeof ms !== 'number') return '–';
    return ms < 1000 ? ms + ' ms' : (ms / 1000).toFixed(1) + ' s';
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  /* States carry a word and a symbol: readable without colour. */
  const JOB_STATES = {
    done: '✓ done', pending: '… pending', inflight: '→ sending',
    held: '‖ held', dead: '✕ dead'
  };
  const TARGET_STATES = { ok: '✓ ok', retrying: '↻ retrying',
    disabled: '⊘ disabled' };
  const EVENT_STATES = { routed: 'routed', unrouted: 'no rule matched',
    dropped: 'dropped', received: 'received' };

  function badge(kind, state, labels) {
    return el('span', { class: 'badge ' + kind + '-' + state },
      labels[state] || state || '?');
  }

  // --- the admin API -------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function query(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {}))
      if (v !== undefined && v !== null && v !== '') u.set(k, v);
    const s = u.toString();
    return s ? '?' + s : '';
  }

  async function api(method, path, params) {
    const headers = { Accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    let r;
    let body = null;

    if (token) headers.Authorization = 'Bearer ' + token;
    try {
      r = await fetch(path + query(params), {
        method, headers, cache: 'no-store', credentials: 'omit',
        redirect: 'error', referrerPolicy: 'no-referrer'
      });
    } catch (e) {
      throw new ApiError(0, 'psabridge does not answer (' + e.message + ')');
    }
    try { body = await r.json(); } catch (e) { body = null; }
    if (r.status === 401)
      throw new ApiError(401, 'the admin token is missing or wrong');
    if (!r.ok)
      throw new ApiError(r.status, (body && body.detail) || 'HTTP ' + r.status);
    return body;
  }

  // --- status line and confirmation ------------------------------------------

  function flash(kind, text) {
    const s = $('#status');
    s.replaceChildren();
    if (!text) return;
    append(s, [el('p', { class: 'flash ' + kind },
      el('strong', {}, kind === 'ok' ? 'Done: ' : 'Failed: '), text,
      el('button', { type: 'button', class: 'link close',
        'aria-label': 'Dismiss', onclick: () => flash() }, '×'))]);
  }

  /*
   * Asks before an action; on OK runs it, says what happened (in the
   * dialog while it runs, then on the page) and reloads the view.
   */
  function confirmAction(opts) {
    const dlg = $('#confirm');
    const ok = $('#confirm-ok');
    const cancel = $('#confirm-cancel');
    const result = $('#confirm-result');

    $('#confirm-title').textContent = opts.title;
    $('#confirm-text').textContent = opts.text;
    ok.textContent = opts.ok;
    ok.disabled = false;
    cancel.disabled = false;
    result.hidden = true;
    result.textContent = '';
    ok.onclick = async () => {
      ok.disabled = cancel.disabled = true;
      result.hidden = false;
      result.textContent = 'Working…';
      try {
        const res = await opts.run();
        flash('ok', opts.done(res));
      } catch (e) {
        if (e.status === 401) { dlg.close(); showLogin(e.message); return; }
        flash('error', opts.title + ': ' + e.message);
      }
      dlg.close();
      render(true);
    };
    cancel.onclick = () => dlg.close();
    dlg.showModal();
  }

  function actionButton(label, opts, cls) {
    return el('button', { type: 'button', class: cls || '',
      onclick: () => confirmAction(opts) }, label);
  }

  function retryJobButton(job) {
    const verbs = {
      dead: ['Retry', 'Retry this dead job?', 'Send it to ' + job.target +
        ' again now. Do this once the cause shown in its last attempt is fixed.'],
      held: ['Release', 'Release this held job?', 'Send it to ' + job.target +
        ' now, without a row for its customer in the customer table.'],
      pending: ['Retry now', 'Send this job now?', 'Send it to ' + job.target +
        ' now instead of waiting for its next retry.']
    }[job.state];
    if (!verbs) return null;
    return actionButton(verbs[0], {
      title: verbs[1], text: verbs[2], ok: verbs[0],
      run: () => api('POST', '/api/v1/jobs/' + encodeURIComponent(job.id) +
        '/retry'),
      done: () => 'job ' + job.id + ' for ' + job.target +
        ' will be sent again now.'
    }, job.state === 'dead' ? 'primary' : '');
  }

  /* n: how many there are, or null when the page does not know. */
  function retryDeadButton(target, n) {
    const of = target ? ' of ' + target : '';
    const what = n ? plural(n, 'dead job', 'dead jobs') : 'all dead jobs';
    return actionButton('Retry ' + what, {
      title: 'Retry every dead job' + of + '?',
      text: 'Send ' + (n ? 'the ' : '') + what + of +
        ' again now. Do this once the cause is fixed.',
      ok: 'Retry all',
      run: () => api('POST', '/api/v1/jobs/retry',
        { state: 'dead', target: target }),
      done: (r) => plural(r.changed, 'dead job', 'dead jobs') + of +
        ' will be sent again now.'
    }, 'primary');
  }

  function releaseButton(target, n) {
    const of = target ? ' of ' + target : '';
    const what = n ? plural(n, 'held job', 'held jobs') : 'all held jobs';
    return actionButton('Release ' + what, {
      title: 'Release every held job' + of + '?',
      text: 'Send ' + (n ? 'the ' : '') + what + of +
        ' now, without a row for their customers in the customer table. ' +
        'To send them with the right customer, add the rows and reload ' +
        'psabridge instead.',
      ok: 'Release',
      run: () => api('POST', '/api/v1/jobs/release', { target: target }),
      done: (r) => plural(r.changed, 'held job', 'held jobs') + of +
        ' released.'
    });
  }

  function enableButton(target) {
    return actionButton('Enable', {
      title: 'Enable target ' + target + '?',
      text: 'It was disabled because it answered 410 Gone. Enable it once ' +
        'its address is fixed; its jobs are sent again.',
      ok: 'Enable',
      run: () => api('POST', '/api/v1/targets/' + encodeURIComponent(target) +
        '/enable'),
      done: () => 'target ' + target + ' enabled.'
    }, 'primary');
  }

  function replayButton(ev) {
    return actionButton('Replay with current rules', {
      title: 'Replay this event?',
      text: 'Route it again with the rules running now: every rule that ' +
        'matches makes new jobs, sent as usual. Jobs it already has stay.',
      ok: 'Replay',
      run: () => api('POST', '/api/v1/events/' + encodeURIComponent(ev.id) +
        '/replay'),
      done: (r) => 'event replayed: ' + (EVENT_STATES[r.state] || r.state) +
        ', ' + plural(r.jobs, 'new job', 'new jobs') + '.'
    });
  }

  // --- small charts -----------------------------------------------------------

  /*
   * One row of 24 bars, one an hour (oldest first); heights against max so
   * that the rows of one chart compare.  The numbers are in the title of
   * each bar and in the table beside it.
   */
  function bars(values, max, hour0, label) {
    const w = 240;
    const h = 36;
    const bw = w / values.length;
    const total = values.reduce((a, b) => a + b, 0);
    const s = svg('svg', { viewBox: '0 0 ' + w + ' ' + h, class: 'bars',
      role: 'img', preserveAspectRatio: 'none',
      'aria-label': label + ': ' + total + ' in the last 24 hours' });
    s.appendChild(svg('line', { x1: 0, y1: h - 0.5, x2: w, y2: h - 0.5,
      class: 'axis' }));
    values.forEach((v, i) => {
      const bh = max > 0 ? Math.max(v > 0 ? 2 : 0, (v / max) * (h - 2)) : 0;
      const from = new Date(hour0 + i * HOUR);
      s.appendChild(svg('rect', { x: i * bw + 1, y: h - 1 - bh,
        width: bw - 2, height: bh, class: 'bar' },
      svg('title', {}, pad(from.getHours()) + ':00 – ' +
        pad((from.getHours() + 1) % 24) + ':00: ' + v)));
    });
    return s;
  }

  function hourly(rows, key, now) {
    const hour0 = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
    const by = new Map();
    for (const r of rows || []) {
      const i = Math.round((r.hour - hour0) / HOUR);
      if (i < 0 || i > 23) continue;
      if (!by.has(r[key])) by.set(r[key], new Array(24).fill(0));
      by.get(r[key])[i] += r.count;
    }
    return { hour0, by };
  }

  function chartTable(caption, heads, rows, hour0) {
    const max = Math.max(0, ...rows.map((r) => Math.max(...r.values)));
    return el('table', { class: 'chart' },
      el('caption', {}, caption),
      el('thead', {}, el('tr', {}, heads.map((t) => el('th', { scope: 'col' }, t)),
        el('th', { scope: 'col', class: 'chart-col' }, 'Per hour, last 24 h',
          el('span', { class: 'axis-note' }, ' (highest bar: ' + max + ')')))),
      el('tbody', {}, rows.map((r) => el('tr', {},
        el('th', { scope: 'row', 'data-label': heads[0] }, r.label),
        r.cells.map((c, i) => el('td', { class: 'num', 'data-label': heads[i + 1] }, c)),
        el('td', { class: 'chart-col', 'data-label': 'Per hour' },
          bars(r.values, max, hour0, r.label),
          el('div', { class: 'axis-labels', 'aria-hidden': 'true' },
            el('span', {}, '24 h ago'), el('span', {}, 'now')))))));
  }

  // --- views ---------------------------------------------------------------------

  function countsByTarget(jobs) {
    const m = new Map();
    for (const r of jobs || []) {
      if (!m.has(r.target)) m.set(r.target, {});
      const c = m.get(r.target);
      c[r.state] = (c[r.state] || 0) + r.count;
    }
    return m;
  }

  function statCard(value, label, hash, attention) {
    const body = [el('span', { class: 'stat-value' }, value),
      el('span', { class: 'stat-label' }, label),
      attention ? el('span', { class: 'stat-attn' }, '⚠ needs attention') : null];
    return el('li', { class: 'stat' + (attention ? ' attn' : '') },
      hash ? el('a', { href: hash }, body) : body);
  }

  async function viewOverview(root) {
    const [ov, targets] = await Promise.all([api('GET', '/api/v1/overview'),
      api('GET', '/api/v1/targets')]);
    const now = ov.now;
    const counts = countsByTarget(ov.jobs);
    const oldest = new Map((ov.oldest_pending || []).map((r) => [r.target, r.created_at]));
    const sum = (st) => [...counts.values()].reduce((a, c) => a + (c[st] || 0), 0);
    const total = (rows) => (rows || []).reduce((a, r) => a + r.count, 0);
    const dead = sum('dead');
    const held = sum('held');
    const pending = sum('pending') + sum('inflight');
    const oldestAll = Math.min(...oldest.values());
    const disabled = targets.filter((t) => t.state === 'disabled').length;

    append(root, [el('h1', {}, 'Overview'),
      el('ul', { class: 'stats' },
        statCard(dead, 'dead jobs', '#/jobs?state=dead', dead > 0),
        statCard(held, 'held jobs', '#/unmapped', held > 0),
        statCard(pending, 'pending jobs', '#/jobs?state=pending'),
        statCard(isFinite(oldestAll) ? fmtAge(now - oldestAll) : 'none',
          'oldest pending job', null, isFinite(oldestAll) && now - oldestAll > 900000),
        statCard(total(ov.events_hour), 'events in the last hour', '#/events'),
        statCard(total(ov.events_day), 'events in the last 24 h', '#/events'),
        statCard(disabled, 'targets disabled', null, disabled > 0))]);

    // Targets: configured ones, then any that only old jobs still name.
    const names = targets.map((t) => t.name);
    for (const n of counts.keys()) if (!names.includes(n)) names.push(n);
    const rows = names.map((name) => {
      const t = targets.find((x) => x.name === name);
      const c = counts.get(name) || {};
      const acts = [];
      if (c.dead) acts.push(retryDeadButton(name, c.dead));
      if (c.held) acts.push(releaseButton(name, c.held));
      if (t && t.state === 'disabled') acts.push(enableButton(name));
      const cnt = (st, hash) => c[st] ? link(hash, String(c[st])) : '0';
      return el('tr', { 'data-target': name },
        el('th', { scope: 'row', 'data-label': 'Target' }, name,
          t ? el('span', { class: 'muted' }, ' ' + t.type) : null),
        el('td', { 'data-label': 'State' }, t ? badge('target', t.state, TARGET_STATES)
          : el('span', { class: 'muted' }, 'not configured')),
        el('td', { class: 'num', 'data-label': 'Done' }, String(c.done || 0)),
        el('td', { class: 'num', 'data-label': 'Pending' },
          cnt('pending', '#/jobs?state=pending&target=' + encodeURIComponent(name)),
          c.inflight ? ' (+' + c.inflight + ' sending)' : ''),
        el('td', { class: 'num', 'data-label': 'Held' },
          cnt('held', '#/jobs?state=held&target=' + encodeURIComponent(name))),
        el('td', { class: 'num', 'data-label': 'Dead' },
          cnt('dead', '#/jobs?state=dead&target=' + encodeURIComponent(name))),
        el('td', { 'data-label': 'Oldest pending' },
          oldest.has(name) ? fmtAge(now - oldest.get(name)) : '–'),
        el('td', { class: 'clip', 'data-label': 'Last error' },
          (t && t.last_error) || '–'),
        el('td', { class: 'actions', 'data-label': 'Actions' }, acts.length ? acts : '–'));
    });
    append(root, [el('section', { 'aria-labelledby': 'h-targets' },
      el('h2', { id: 'h-targets' }, 'Targets'),
      el('div', { class: 'scroll' }, el('table', { class: 'list', id: 'targets' },
        el('thead', {}, el('tr', {}, ['Target', 'State', 'Done', 'Pending', 'Held',
          'Dead', 'Oldest pending', 'Last error', 'Actions'].map((t) =>
          el('th', { scope: 'col' }, t)))),
        el('tbody', {}, rows.length ? rows
          : el('tr', {}, el('td', { colspan: 9 }, 'No targets configured.'))))))]);

    // Events by type, and what became of their jobs, over the last 24 h.
    const ev = hourly(ov.events_timeline, 'event_type', now);
    const hourMap = new Map((ov.events_hour || []).map((r) => [r.event_type, r.count]));
    const types = (ov.events_day || []).map((r) => r.event_type);
    const evRows = [{ label: 'All events',
      cells: [String(total(ov.events_hour)), String(total(ov.events_day))],
      values: [...ev.by.values()].reduce((a, v) => a.map((x, i) => x + v[i]),
        new Array(24).fill(0)) }].concat(types.map((t) => ({
      label: t,
      cells: [String(hourMap.get(t) || 0),
        String((ov.events_day.find((r) => r.event_type === t) || {}).count || 0)],
      values: ev.by.get(t) || new Array(24).fill(0)
    })));
    const jb = hourly(ov.jobs_timeline, 'state', now);
    const jbRows = ['done', 'pending', 'inflight', 'held', 'dead']
      .filter((st) => jb.by.has(st) || st === 'done' || st === 'dead')
      .map((st) => {
        const v = jb.by.get(st) || new Array(24).fill(0);
        return { label: JOB_STATES[st], cells: [String(v.reduce((a, b) => a + b, 0))],
          values: v };
      });
    append(root, [el('section', { 'aria-labelledby': 'h-events' },
      el('h2', { id: 'h-events' }, 'Events received'),
      el('div', { class: 'scroll' }, chartTable('Events by type', ['Event type',
        'Last hour', 'Last 24 h'], evRows, ev.hour0))),
    el('section', { 'aria-labelledby': 'h-jobs' },
      el('h2', { id: 'h-jobs' }, 'What became of them'),
      el('div', { class: 'scroll' }, chartTable(
        'Jobs of the last 24 hours\' events, by their state now',
        ['State', 'Jobs'], jbRows, jb.hour0)))]);
    return 30000; // refresh every 30 s
  }

  function jobSummary(states) {
    if (!states) return [];
    const n = {};
    for (const s of states.split(',')) n[s] = (n[s] || 0) + 1;
    return Object.keys(n).sort().map((s) =>
      el('span', { class: 'badge job-' + s }, n[s] + ' ' + (JOB_STATES[s] || s)));
  }

  /* Older/newer links: "before" is the last id of the page shown. */
  const pageTrail = [];

  function pager(view, params, rows) {
    const before = params.get('before') || '';
    const base = Object.fromEntries([...params].filter(([k]) => k !== 'before'));
    const at = pageTrail.indexOf(before);
    const newer = before ? (at > 0 ? pageTrail[at - 1] : '') : null;
    const nav = el('nav', { class: 'pager', 'aria-label': 'Pages' });
    if (before) {
      append(nav, [link('#/' + view + query(base), '⇤ Newest'),
        newer !== null && newer !== '' ? link('#/' + view + query({ ...base, before: newer }), '← Newer') : null]);
    }
    if (rows.length === PAGE) {
      const last = rows[rows.length - 1].id;
      append(nav, [el('a', { href: '#/' + view + query({ ...base, before: last }),
        onclick: () => {
          if (!pageTrail.includes(before)) pageTrail.push(before);
          if (!pageTrail.includes(last)) pageTrail.push(last);
        } }, 'Older →')]);
    }
    return nav;
  }

  function selectEl(id, options, value) {
    return el('select', { id, name: id }, options.map(([v, t]) =>
      el('option', { value: v, selected: v === value }, t)));
  }

  function field(id, label, input) {
    return el('div', { class: 'field' }, el('label', { for: id }, label), input);
  }

  function filterForm(view, fields, params) {
    const form = el('form', { class: 'filters', role: 'search' }, fields,
      el('div', { class: 'field buttons' },
        el('button', { type: 'submit', class: 'primary' }, 'Filter'),
        link('#/' + view, 'Clear')));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const p = {};
      for (const f of form.querySelectorAll('input, select'))
        if (f.name) p[f.name] = f.value.trim();
      location.hash = '#/' + view + query(p);
    });
    return form;
  }

  async function viewEvents(root, params) {
    const p = Object.fromEntries(params);
    const rows = await api('GET', '/api/v1/events', {
      state: p.state, job_state: p.job_state, event_type: p.event_type,
      customer: p.customer, host: p.host, before: p.before, limit: PAGE });
    append(root, [el('h1', {}, 'Events'),
      filterForm('events', [
        field('state', 'Event state', selectEl('state', [['', 'any'],
          ['routed', 'routed'], ['unrouted', 'no rule matched'],
          ['dropped', 'dropped']], p.state || '')),
        field('job_state', 'With a job that is', selectEl('job_state', [['', 'any'],
          ['dead', 'dead'], ['held', 'held'], ['pending', 'pending'],
          ['inflight', 'sending'], ['done', 'done']], p.job_state || '')),
        field('event_type', 'Event type', el('input', { id: 'event_type',
          name: 'event_type', list: 'event-types', value: p.event_type || '',
          autocomplete: 'off' })),
        el('datalist', { id: 'event-types' }, EVENT_TYPES.map((t) =>
          el('option', { value: t }))),
        field('customer', 'Customer id', el('input', { id: 'customer',
          name: 'customer', value: p.customer || '', autocomplete: 'off',
          spellcheck: 'false' })),
        field('host', 'Hostname contains', el('input', { id: 'host', name: 'host',
          value: p.host || '', autocomplete: 'off', spellcheck: 'false' }))
      ], params)]);
    if (rows.length === 0) {
      append(root, [el('p', { class: 'empty' }, p.before
        ? 'No older events.' : 'No events match these filters.')]);
      append(root, [pager('events', params, rows)]);
      return 0;
    }
    append(root, [el('div', { class: 'scroll' }, el('table', { class: 'list', id: 'events' },
      el('thead', {}, el('tr', {}, ['Received', 'Event', 'Hostname', 'Customer',
        'State', 'Jobs'].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, rows.map((r) => el('tr', { 'data-event': r.id },
        el('td', { 'data-label': 'Received' }, timeEl(r.received_at)),
        el('th', { scope: 'row', 'data-label': 'Event' },
          link('#/event/' + encodeURIComponent(r.id), r.event_type)),
        el('td', { 'data-label': 'Hostname' }, r.hostname != null ? String(r.hostname) : '–'),
        el('td', { class: 'id', 'data-label': 'Customer' },
          r.customer_id != null ? String(r.customer_id) : '–'),
        el('td', { 'data-label': 'State' }, EVENT_STATES[r.state] || r.state),
        el('td', { 'data-label': 'Jobs' }, r.jobs ? jobSummary(r.job_states) : '–')))))),
    pager('events', params, rows)]);
    return 0;
  }

  function ruleCard(name, rules) {
    const r = rules.find((x) => x.name === name);
    if (!r) {
      return el('article', { class: 'card rule' }, el('h3', {}, 'Rule ', el('code', {}, name)),
        el('p', {}, 'This rule is no longer in the running configuration.'));
    }
    return el('article', { class: 'card rule', 'data-rule': name },
      el('h3', {}, 'Rule ', el('code', {}, r.name),
        el('span', { class: 'muted' }, ' psabridge.cfg line ' + r.line)),
      r.match.length
        ? [el('p', {}, 'Matched because every matcher held:'),
          el('ul', { class: 'matchers' }, r.match.map((m) => el('li', {}, el('code', {}, m))))]
        : el('p', {}, 'It has no matchers: it matches every event.'),
      r.cont ? el('p', {}, 'continue = true: the rules after it were tried too.') : null,
      r.enabled ? null : el('p', {}, '⚠ This rule is disabled now.'),
      el('p', { class: 'muted' }, 'Actions: ', r.actions.map((a, i) => [i ? '; ' : '',
        a.action + ' → ' + a.target + (a.template ? ' (template ' + a.template + ')' : '')])));
  }

  function attemptsTable(atts) {
    if (!atts || atts.length === 0) return el('p', { class: 'muted' }, 'Not sent yet.');
    return el('div', { class: 'scroll' }, el('table', { class: 'list attempts' },
      el('thead', {}, el('tr', {}, ['#', 'Time', 'Status', 'Duration', 'Outcome',
        'Error', 'Response'].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, atts.map((a, i) => el('tr', {},
        el('td', { class: 'num', 'data-label': '#' }, String(i + 1)),
        el('td', { 'data-label': 'Time' }, timeEl(a.started_at)),
        el('td', { class: 'num', 'data-label': 'Status' },
          a.status ? 'HTTP ' + a.status : 'no answer'),
        el('td', { class: 'num', 'data-label': 'Duration' }, fmtDuration(a.duration_ms)),
        el('td', { 'data-label': 'Outcome' }, a.outcome === 'retry' ? '↻ retry'
          : badge('job', a.outcome, JOB_STATES)),
        el('td', { 'data-label': 'Error' }, a.error || '–'),
        el('td', { class: 'wide', 'data-label': 'Response' }, a.response
          ? el('pre', { class: 'snippet' }, a.response) : '–'))))));
  }

  function ticketCell(job, target) {
    if (!job.ticket_id) return null;
    const url = ticketLink(target, job.ticket_id);
    const safe = typeof url === 'string' && /^https?:\/\//i.test(url);
    return [el('dt', {}, 'Ticket'), el('dd', {}, safe
      ? el('a', { href: url, rel: 'noopener noreferrer', target: '_blank' }, job.ticket_id)
      : job.ticket_id)];
  }

  function jobCard(job, targets, now) {
    const t = targets.find((x) => x.name === job.target);
    const dl = el('dl', { class: 'meta' },
      el('dt', {}, 'Target'), el('dd', {}, job.target, ' ', t
        ? badge('target', t.state, TARGET_STATES) : '(not configured)'),
      el('dt', {}, 'Rule'), el('dd', {}, el('code', {}, job.rule)),
      el('dt', {}, 'Action'), el('dd', {}, job.action +
        (job.template ? ', template ' + job.template : '')),
      job.correlate ? [el('dt', {}, 'Correlation key'), el('dd', {}, el('code', {}, job.correlate))] : null,
      el('dt', {}, 'Created'), el('dd', {}, timeEl(job.created_at)),
      el('dt', {}, 'Attempts'), el('dd', {}, String(job.attempt_count || 0)),
      job.state === 'pending' && job.next_at
        ? [el('dt', {}, 'Next try'), el('dd', {}, job.next_at > now
          ? ['in ', fmtAge(job.next_at - now), ' (', timeEl(job.next_at), ')'] : 'now')] : null,
      job.finished_at ? [el('dt', {}, 'Finished'), el('dd', {}, timeEl(job.finished_at))] : null,
      job.last_error ? [el('dt', {}, 'Last error'), el('dd', {}, job.last_error)] : null,
      ticketCell(job, t),
      job.state === 'held' ? [el('dt', {}, 'Why held'), el('dd', {},
        'customer ', el('code', {}, job.customer_id || '(none)'),
        ' is not in the customer table. ', link('#/unmapped', 'Unmapped customers'))] : null);
    return el('article', { class: 'card job', 'data-job': job.id, 'data-state': job.state },
      el('header', { class: 'job-head' },
        el('h3', {}, job.action, ' → ', job.target),
        badge('job', job.state, JOB_STATES),
        el('span', { class: 'actions' }, retryJobButton(job))),
      el('p', { class: 'id muted' }, 'Job ', job.id),
      dl, el('h4', {}, 'Attempts'), attemptsTable(job.attempts));
  }

  function prettyBody(body) {
    try { return JSON.stringify(JSON.parse(body), null, 2); } catch (e) { return body; }
  }

  async function viewEvent(root, params, id) {
    const [ev, rules, targets] = await Promise.all([
      api('GET', '/api/v1/events/' + encodeURIComponent(id)),
      api('GET', '/api/v1/rules'), api('GET', '/api/v1/targets')]);
    const now = Date.now();
    let payload = {};
    try { payload = JSON.parse(ev.body).payload || {}; } catch (e) { payload = {}; }
    const host = payload.hostname != null ? String(payload.hostname) : null;
    const jobs = ev.jobs || [];
    const ruleNames = [...new Set(jobs.map((j) => j.rule))];

    append(root, [
      el('p', { class: 'crumbs' }, link('#/events', '← Events')),
      el('h1', {}, ev.event_type, host ? ' on ' + host : ''),
      el('dl', { class: 'meta card' },
        el('dt', {}, 'Received'), el('dd', {}, timeEl(ev.received_at)),
        el('dt', {}, 'Vendor time'), el('dd', {}, timeEl(ev.vendor_time * 1000)),
        el('dt', {}, 'Source'), el('dd', {}, ev.source),
        el('dt', {}, 'State'), el('dd', {}, EVENT_STATES[ev.state] || ev.state),
        el('dt', {}, 'Customer'), el('dd', {}, payload.customer_id != null
          ? link('#/events' + query({ customer: String(payload.customer_id) }),
            String(payload.customer_id)) : '–'),
        el('dt', {}, 'Event id'), el('dd', { class: 'id' }, ev.id)),
      el('div', { class: 'toolbar' }, replayButton(ev)),
      el('section', { 'aria-labelledby': 'h-why' }, el('h2', { id: 'h-why' }, 'Which rule matched'),
        ruleNames.length ? [el('p', { class: 'muted' },
          'Rules as in the running configuration, which may have changed since the event arrived.'),
        ruleNames.map((n) => ruleCard(n, rules))]
          : el('p', {}, ev.state === 'dropped'
            ? 'A rule matched, but the customer is not in the customer table and unmapped = "drop": nothing was sent.'
            : 'No rule matched this event, so nothing was sent. Rules are tried in order; see ',
          ev.state === 'dropped' ? null : link('#/rules', 'Rules'), ev.state === 'dropped' ? null : '.')),
      el('section', { 'aria-labelledby': 'h-jobs' }, el('h2', { id: 'h-jobs' }, 'Jobs'),
        jobs.length ? jobs.map((j) => jobCard(j, targets, now)) : el('p', { class: 'muted' }, 'None.')),
      el('section', { 'aria-labelledby': 'h-raw' }, el('h2', { id: 'h-raw' }, 'The callback as received'),
        el('pre', { class: 'raw card' }, prettyBody(ev.body)))]);
    // While a job is on its way, follow it.
    return jobs.some((j) => j.state === 'pending' || j.state === 'inflight') ? 2000 : 0;
  }

  async function viewJobs(root, params) {
    const p = Object.fromEntries(params);
    const [rows, targets] = await Promise.all([
      api('GET', '/api/v1/jobs', { state: p.state, target: p.target, before: p.before, limit: PAGE }),
      api('GET', '/api/v1/targets')]);
    const bulk = [];
    // The page shows at most PAGE of them: the buttons act on all.
    if (p.state === 'dead' && rows.length) bulk.push(retryDeadButton(p.target, null));
    if (p.state === 'held' && rows.length) bulk.push(releaseButton(p.target, null));
    append(root, [el('h1', {}, 'Jobs'),
      filterForm('jobs', [
        field('state', 'State', selectEl('state', [['', 'any'], ['dead', 'dead'],
          ['held', 'held'], ['pending', 'pending'], ['inflight', 'sending'], ['done', 'done']],
        p.state || '')),
        field('target', 'Target', selectEl('target', [['', 'any']].concat(
          targets.map((t) => [t.name, t.name])), p.target || ''))], params),
      bulk.length ? el('div', { class: 'toolbar' }, bulk) : null]);
    if (rows.length === 0) {
      append(root, [el('p', { class: 'empty' }, 'No jobs match these filters.'), pager('jobs', params, rows)]);
      return 0;
    }
    append(root, [el('div', { class: 'scroll' }, el('table', { class: 'list', id: 'jobs' },
      el('thead', {}, el('tr', {}, ['Created', 'Event', 'Target', 'Rule', 'State',
        'Attempts', 'Last error', ''].map((t) => el('th', { scope: 'col' }, t)))),
      el('tbody', {}, rows.map((j) => el('tr', { 'data-job': j.id },
        el('td', { 'data-label': 'Created' }, timeEl(j.created_at)),
        el('th', { scope: 'row', 'data-label': 'Event' },
          link('#/event/' + encodeURIComponent(j.event_id), j.event_type || 'event')),
        el('td', { 'data-label': 'Target' }, j.target),
        el('td', { 'data-label': 'Rule' }, el('code', {}, j.rule)),
        el('td', { 'data-label': 'State' }, badge('job', j.state, JOB_STATES)),
        el('td', { class: 'num', 'data-label': 'Attempts' }, String(j.attempt_count || 0)),
        el('td', { class: 'clip', 'data-label': 'Last error' }, j.last_error || '–'),
        el('td', { class: 'actions', 'data-label': 'Action' }, retryJobButton(j))))))),
    pager('jobs', params, rows)]);
    return 0;
  }

  async function viewUnmapped(root) {
    const rows = await api('GET', '/api/v1/customers/unmapped');
    const total = rows.reduce((a, r) => a + r.jobs, 0);
    append(root, [el('h1', {}, 'Unmapped customers'),
      el('p', {}, 'Jobs of these customers are held: the customer table has no row for them. ' +
        'Add a row for each customer id to the customer table (customers.csv, see ' +
        'docs/customers.md) and reload psabridge (systemctl reload psabridge): their ' +
        'jobs then go out on their own.')]);
    if (rows.length === 0) {
      append(root, [el('p', { class: 'empty' }, '✓ No job is waiting for a customer.')]);
      return 0;
    }
    append(root, [el('div', { class: 'scroll' }, el('table', { class: 'list', id: 'unmapped' },
      el('thead', {}, el('tr', {}, ['Customer id', 'Held jobs', ''].map((t) =>
        el('th', { scope: 'col' }, t)))),
      el('tbody', {}, rows.map((r) => el('tr', {},
        el('th', { scope: 'row', class: 'id', 'data-label': 'Customer id' },
          r.customer_id != null ? String(r.customer_id) : '(no customer id)'),
        el('td', { class: 'num', 'data-label': 'Held jobs' }, String(r.jobs)),
        el('td', { 'data-label': 'Events' }, r.customer_id != null
          ? link('#/events' + query({ customer: String(r.customer_id), job_state: 'held' }),
            'Show events') : '–')))))),
    el('div', { class: 'toolbar' }, releaseButton(null, total))]);
    return 0;
  }

  async function viewRules(root) {
    const rules = await api('GET', '/api/v1/rules');
    append(root, [el('h1', {}, 'Rules'),
      el('p', {}, 'The rules running now, in the order they are tried: the first that ' +
        'matches wins unless it says continue. Every matcher of a rule must hold.')]);
    if (rules.length === 0) {
      append(root, [el('p', { class: 'empty' }, 'No rules: every event is unrouted.')]);
      return 0;
    }
    append(root, [el('ol', { class: 'rules' }, rules.map((r) => el('li', { class: 'card rule' },
      el('h2', {}, el('code', {}, r.name),
        el('span', { class: 'muted' }, ' psabridge.cfg line ' + r.line),
        r.enabled ? null : el('span', { class: 'badge job-held' }, 'disabled'),
        r.continue ? el('span', { class: 'badge' }, 'continue') : null),
      r.match.length ? el('ul', { class: 'matchers' }, r.match.map((m) =>
        el('li', {}, el('code', {}, m)))) : el('p', {}, 'Matches every event.'),
      el('p', { class: 'muted' }, 'Actions: ', r.actions.map((a, i) => [i ? '; ' : '',
        a.action + ' → ' + a.target + (a.template ? ' (template ' + a.template + ')' : '') +
        (a.correlate ? ', correlate ' + a.correlate : '')])))))]);
    return 0;
  }

  // --- routing, login -----------------------------------------------------------

  const VIEWS = {
    overview: viewOverview, events: viewEvents, event: null, jobs: viewJobs,
    unmapped: viewUnmapped, rules: viewRules
  };

  let renderSeq = 0;
  let refreshTimer = null;

  function parseHash() {
    const h = location.hash.replace(/^#\/?/, '');
    const q = h.indexOf('?');
    const path = q < 0 ? h : h.slice(0, q);
    const parts = path.split('/').filter(Boolean).map((s) => {
      try { return decodeURIComponent(s); } catch (e) { return s; }
    });
    return { parts, params: new URLSearchParams(q < 0 ? '' : h.slice(q + 1)) };
  }

  async function render(keepFocus) {
    const seq = ++renderSeq;
    const { parts, params } = parseHash();
    const name = parts[0] && parts[0] in VIEWS ? parts[0] : 'overview';
    const root = el('div', { class: 'view view-' + name });
    let again = 0;

    clearTimeout(refreshTimer);
    for (const a of document.querySelectorAll('#nav a'))
      if (a.dataset.view === (name === 'event' ? 'events' : name)) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    document.title = (name === 'event' ? 'Event' : $('#nav a[data-view="' + name + '"]').textContent) +
      ' · psabridge';
    try {
      again = name === 'event' ? await viewEvent(root, params, parts[1] || '')
        : await VIEWS[name](root, params);
    } catch (e) {
      if (seq !== renderSeq) return;
      if (e.status === 401) { showLogin('Log in again: ' + e.message + '.'); return; }
      append(root, [el('p', { class: 'flash error', role: 'alert' },
        el('strong', {}, 'Failed: '), e.status === 404 ? 'not found (' + e.message + ')' : e.message)]);
      again = 10000;
    }
    if (seq !== renderSeq) return;
    const view = $('#view');
    const y = window.scrollY;
    view.replaceChildren(root);
    if (keepFocus === true || keepFocus === 'refresh') window.scrollTo(0, y);
    else view.focus({ preventScroll: true });
    if (again > 0) {
      refreshTimer = setTimeout(function tick() {
        // Not under an open dialog or while the technician types.
        if ($('#confirm').open || (document.activeElement &&
            document.activeElement.closest && document.activeElement.closest('form'))) {
          refreshTimer = setTimeout(tick, again);
          return;
        }
        render('refresh');
      }, again);
    }
  }

  function showLogin(message) {
    clearTimeout(refreshTimer);
    renderSeq++;
    sessionStorage.removeItem(TOKEN_KEY);
    $('#nav').hidden = true;
    $('#logout').hidden = true;
    $('#view').replaceChildren();
    flash();
    $('#login').hidden = false;
    const err = $('#login-error');
    err.hidden = !message;
    err.textContent = message || '';
    $('#token').value = '';
    $('#token').focus();
  }

  function showApp() {
    $('#login').hidden = true;
    $('#nav').hidden = false;
    // Without admin.token the API needs none: nothing to log out of.
    $('#logout').hidden = !sessionStorage.getItem(TOKEN_KEY);
    render();
  }

  async function start() {
    $('#login-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const token = $('#token').value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      $('#token').value = '';
      try {
        await api('GET', '/api/v1/targets');
        showApp();
      } catch (err) {
        showLogin(err.status === 401 ? 'That token is not the admin token.' : err.message);
      }
    });
    $('#logout').addEventListener('click', () => showLogin());
    window.addEventListener('hashchange', () => {
      if (!$('#login').hidden) return;
      flash();
      render();
    });
    try {
      await api('GET', '/api/v1/targets');
      showApp();
    } catch (e) {
      showLogin(e.status === 401 ? '' : e.message);
    }
  }

  document.addEventListener('DOMContentLoaded', start);
})();
