// tollgate console: live calls, accounts, call records and rates over the
// JSON-RPC 2.0 WebSocket at /ws (same origin). Plain JS, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const NEVER = '0001-01-01T00:00:00Z';
const RPC_TIMEOUT_MS = 15000;
const PAGE_SIZE = 50;

// ---------- the error bar ----------

let errorSource = null;

function showError(text, source) {
  $('error-text').textContent = text;
  $('error-bar').hidden = false;
  errorSource = source || 'action';
}

function clearError(source) {
  if (source && errorSource !== source) return;
  $('error-bar').hidden = true;
  $('error-text').textContent = '';
  errorSource = null;
}

$('error-close').addEventListener('click', () => clearError());

/** Runs an async user action; any failure is shown in words. */
function act(what, fn) {
  return async (ev) => {
    if (ev && ev.preventDefault) ev.preventDefault();
    try {
      await fn(ev);
    } catch (e) {
      showError(`${what}: ${e && e.message ? e.message : e}`);
    }
  };
}

// ---------- formatting ----------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ''));
  return node;
}

const num = (v) => (v === null || v === undefined || v === '' ? 0 : Number(v));

/** Money as the server wrote it when we have it, else rounded to 6 places. */
function money(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return String(Math.round(v * 1e6) / 1e6);
}

function duration(secs) {
  if (!isFinite(secs)) return '';
  secs = Math.max(0, Math.floor(secs));
  const h = Math.floor(secs / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

const nsToSecs = (ns) => num(ns) / 1e9;

function time(t) {
  if (!t || t === NEVER) return '';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

/** A datetime-local input's value as RFC 3339 UTC, or undefined when empty. */
function inputTime(id) {
  const v = $(id).value;
  if (!v) return undefined;
  const d = new Date(v);
  if (isNaN(d)) throw new Error(`"${v}" is not a date and time`);
  return d.toISOString().replace('.000Z', 'Z');
}

function localInputValue(d) {
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 19);
}

// ---------- JSON-RPC 2.0 over WebSocket ----------

let ws = null;
let wsOpen = false;
let nextId = 1;
let backoff = 500;
const pending = new Map();
const queue = [];

class RpcError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

function setStatus(text, up) {
  const s = $('ws-status');
  s.textContent = text;
  s.className = `status ${up ? 'up' : 'down'}`;
}

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

function connect() {
  setStatus('connecting…', false);
  let sock;
  try {
    sock = new WebSocket(wsUrl());
  } catch (e) {
    showError(`Cannot open the connection to the server: ${e.message}`, 'ws');
    scheduleReconnect();
    return;
  }
  ws = sock;
  sock.onopen = () => {
    wsOpen = true;
    backoff = 500;
    setStatus('connected', true);
    clearError('ws');
    while (queue.length) sock.send(queue.shift());
    subscribe();
  };
  sock.onmessage = (ev) => onMessage(ev.data);
  sock.onclose = (ev) => {
    const was = wsOpen;
    wsOpen = false;
    ws = null;
    for (const [, p] of pending) p.reject(new Error('the connection to the server closed before the answer'));
    pending.clear();
    const why = ev.reason ? `: ${ev.reason}` : '';
    showError(
      `Connection to the server ${was ? 'lost' : 'unreachable'} (WebSocket code ${ev.code}${why}); ` +
        `reconnecting in ${Math.round(backoff / 100) / 10} s`,
      'ws',
    );
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  setStatus('disconnected', false);
  setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, 10000);
}

/** Calls `method`; `params` is the CGRateS argument object (sent as a
 * one-element array), or an array sent as it is. */
function rpc(method, params) {
  const id = nextId++;
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id,
    method,
    params: Array.isArray(params) ? params : [params],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      const i = queue.indexOf(body);
      if (i >= 0) queue.splice(i, 1);
      reject(new Error(`no answer from the server to ${method} in ${RPC_TIMEOUT_MS / 1000} s`));
    }, RPC_TIMEOUT_MS);
    pending.set(id, {
      resolve: (v) => { clearTimeout(timer); resolve(v); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    });
    if (wsOpen && ws) ws.send(body);
    else queue.push(body);
  });
}

function onMessage(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch (e) {
    showError(`The server sent something that is not JSON: ${String(data).slice(0, 80)}`, 'ws');
    return;
  }
  if (msg.id !== undefined && msg.id !== null && pending.has(msg.id)) {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p.reject(new RpcError(msg.error.message || JSON.stringify(msg.error), msg.error.code));
    else p.resolve(msg.result);
    return;
  }
  const params = msg.params || {};
  if (params.error) {
    // The server closed a subscription (a subscriber too slow): subscribe again.
    showError(`The server closed the ${msg.method} subscription (${params.error.message || 'closed'}); subscribing again`, 'ws');
    setTimeout(() => subscribe(msg.method), 500);
    return;
  }
  if (msg.method === 'tollgate_sessions') onSessionEvent(params.result);
  else if (msg.method === 'tollgate_cdrs') (Array.isArray(params.result) ? params.result : [params.result]).forEach(onCdr);
}

function subscribe(which) {
  if (!which || which === 'tollgate_sessions') {
    rpc('tollgate_subscribeSessions', []).catch((e) => showError(`Live calls: ${e.message}`, 'ws'));
  }
  if (!which || which === 'tollgate_cdrs') {
    // A new connection (or a closed subscription) has none.
    cdrSub = null;
    followCdrs(currentTab === 'cdrs');
  }
}

// New call records are followed only while their page is shown: a console
// left on the live page costs the server no records.
let cdrSub = null; // the subscription id, 'pending', or null
let currentTab = 'live';

async function followCdrs(on) {
  if (on && cdrSub === null) {
    cdrSub = 'pending';
    try {
      cdrSub = await rpc('tollgate_subscribeCdrs', []);
    } catch (e) {
      cdrSub = null;
      showError(`Live call records: ${e.message}`, 'ws');
    }
  } else if (!on && cdrSub !== null && cdrSub !== 'pending') {
    const id = cdrSub;
    cdrSub = null;
    rpc('tollgate_unsubscribeCdrs', [id]).catch(() => {});
  }
}

// ---------- tabs ----------

function showTab(name) {
  if (!$(`page-${name}`)) name = 'live';
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.tab === name);
  for (const p of document.querySelectorAll('.page')) p.hidden = p.id !== `page-${name}`;
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  currentTab = name;
  if (wsOpen) followCdrs(name === 'cdrs');
  if (name === 'rates') refreshHealth();
  if (name === 'cdrs' && !cdrState.loaded) act('Call records', loadCdrs)();
}

for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showTab(b.dataset.tab));

// ---------- live calls ----------

const sessions = new Map(); // CGRID -> ActiveSession
const newCalls = []; // times (ms) new calls appeared
const spent = []; // [time ms, money] increases of MaxCostSoFar
let renderQueued = false;

function onSessionEvent(ev) {
  if (!ev) return;
  const now = Date.now();
  if (ev.Event === 'snapshot') {
    sessions.clear();
    for (const s of ev.Sessions || []) sessions.set(s.CGRID, s);
  } else if (ev.Event === 'changes') {
    for (const s of ev.Sessions || []) {
      const prev = sessions.get(s.CGRID);
      if (!prev) newCalls.push(now);
      const delta = num(s.MaxCostSoFar) - (prev ? num(prev.MaxCostSoFar) : 0);
      if (delta > 0) spent.push([now, delta]);
      sessions.set(s.CGRID, s);
    }
    // Running calls send only what changed; merged into their row.
    for (const d of ev.Changed || []) {
      const prev = sessions.get(d.CGRID);
      if (!prev) continue;
      const delta = num(d.MaxCostSoFar) - num(prev.MaxCostSoFar);
      if (delta > 0) spent.push([now, delta]);
      sessions.set(d.CGRID, { ...prev, ...d });
    }
    for (const e of ev.Ended || []) sessions.delete(e.CGRID);
  }
  if (!renderQueued) {
    renderQueued = true;
    requestAnimationFrame(renderLive);
  }
}

function answeredSecs(s) {
  if (!s.AnswerTime || s.AnswerTime === NEVER) return null;
  const t = Date.parse(s.AnswerTime);
  return isNaN(t) ? null : (Date.now() - t) / 1000;
}

function renderLive() {
  renderQueued = false;
  const rows = [...sessions.values()].sort((a, b) => String(a.SetupTime).localeCompare(String(b.SetupTime)));
  const body = $('live-rows');
  body.replaceChildren(
    ...rows.map((s) => {
      const since = answeredSecs(s);
      const end = el('button', { type: 'button', class: 'danger end-call', 'data-testid': `end-${s.CGRID}` }, 'End call');
      end.addEventListener('click', act('End call', () => endCall(s)));
      return el(
        'tr',
        { 'data-cgrid': s.CGRID, 'data-testid': `live-row-${s.CGRID}` },
        el('td', {}, s.OriginHost || ''),
        el('td', {}, s.Account || ''),
        el('td', {}, s.Destination || ''),
        el('td', { class: 'num since', 'data-answer': s.AnswerTime || '' }, since === null ? 'ringing' : duration(since)),
        el('td', { class: 'num' }, money(s.MaxCostSoFar)),
        el('td', { class: 'num' }, s.Limit ? `${Math.round(nsToSecs(s.Limit))} s` : ''),
        el('td', {}, end),
      );
    }),
  );
  $('live-empty').hidden = rows.length > 0;
  renderTotals();
}

function renderTotals() {
  const now = Date.now();
  while (newCalls.length && newCalls[0] < now - 10000) newCalls.shift();
  while (spent.length && spent[0][0] < now - 60000) spent.shift();
  $('live-count').textContent = sessions.size;
  $('live-cps').textContent = (newCalls.length / 10).toFixed(1);
  $('live-money').textContent = money(spent.reduce((a, [, v]) => a + v, 0));
}

function tick() {
  for (const td of document.querySelectorAll('#live-rows td.since')) {
    const s = answeredSecs({ AnswerTime: td.dataset.answer });
    td.textContent = s === null ? 'ringing' : duration(s);
  }
  renderTotals();
}

async function endCall(s) {
  const who = `${s.Account || '?'} → ${s.Destination || '?'} on ${s.OriginHost || '?'}`;
  if (!confirm(`End the call ${who}?`)) return;
  await rpc('SessionSv1.ForceDisconnect', { OriginID: s.OriginID || s.CGRID });
}

// ---------- accounts ----------

let account = null; // {tenant, account}

function accountArgs() {
  const tenant = $('acct-tenant').value.trim();
  const acc = $('acct-account').value.trim();
  if (!tenant || !acc) throw new Error('give a tenant and an account');
  return { tenant, account: acc };
}

async function loadAccount() {
  const a = account;
  const acc = await rpc('APIerSv2.GetAccount', { Tenant: a.tenant, Account: a.account });
  $('acct-view').hidden = false;
  $('acct-title').textContent = acc.ID || `${a.tenant}:${a.account}`;
  const body = $('acct-balances').querySelector('tbody');
  const rows = [];
  let total = 0;
  for (const [type, list] of Object.entries(acc.BalanceMap || {})) {
    for (const b of list || []) {
      if (type === '*monetary') total += num(b.Value);
      const dest = b.DestinationIDs && typeof b.DestinationIDs === 'object'
        ? Object.entries(b.DestinationIDs).map(([k, v]) => (v ? k : `!${k}`)).join(', ')
        : String(b.DestinationIDs || '');
      rows.push(el('tr', {},
        el('td', {}, type),
        el('td', {}, b.ID || ''),
        el('td', { class: 'num' }, money(b.Value)),
        el('td', { class: 'num' }, b.Weight ?? ''),
        el('td', {}, b.ExpirationDate && b.ExpirationDate !== NEVER ? time(b.ExpirationDate) : 'never'),
        el('td', {}, dest)));
    }
  }
  body.replaceChildren(...rows);
  $('acct-monetary').textContent = money(total);
  const recent = await lastRecords({ Tenants: [a.tenant], Accounts: [a.account] }, 20);
  $('acct-cdrs').querySelector('tbody').replaceChildren(...recent.map((r) => el('tr', {},
    el('td', {}, time(r.SetupTime)),
    el('td', {}, r.Destination || ''),
    el('td', { class: 'num' }, duration(nsToSecs(r.Usage))),
    el('td', { class: 'num' }, money(r.Cost)),
    el('td', {}, r.OriginHost || ''))));
}

async function getCdrs(filter) {
  return (await rpc('CDRsV1.GetCDRs', filter)) || [];
}

/** The newest `n` records matching `filter`, newest first. GetCDRs answers
 * oldest first, so count them (a few Limit 1 probes) and ask for the tail. */
async function lastRecords(filter, n) {
  const first = await getCdrs({ ...filter, Limit: n });
  if (first.length < n) return first.reverse();
  const has = async (off) => (await getCdrs({ ...filter, Offset: off, Limit: 1 })).length > 0;
  let lo = n - 1;
  let hi = n * 4;
  while (await has(hi)) {
    lo = hi;
    hi *= 4;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await has(mid)) lo = mid;
    else hi = mid;
  }
  const count = lo + 1;
  return (await getCdrs({ ...filter, Offset: Math.max(0, count - n), Limit: n })).reverse();
}

function amount() {
  const v = $('topup-amount').value.trim();
  if (!v || !(Number(v) > 0)) throw new Error('give an amount above 0');
  return Number(v);
}

async function changeBalance(method, verb) {
  if (!account) throw new Error('show an account first');
  const value = amount();
  const id = $('topup-balance').value.trim() || 'main';
  if (!confirm(`${verb} ${value} ${verb === 'Add' ? 'to' : 'from'} balance ${id} of ${account.tenant}:${account.account}?`)) return;
  await rpc(method, { Tenant: account.tenant, Account: account.account, BalanceType: '*monetary', BalanceID: id, Value: value });
  $('topup-amount').value = '';
  await loadAccount();
}

$('acct-form').addEventListener('submit', act('Account', async () => {
  account = accountArgs();
  await loadAccount();
}));
$('topup-form').addEventListener('submit', act('Top up', () => changeBalance('APIerSv1.AddBalance', 'Add')));
$('debit-btn').addEventListener('click', act('Debit', () => changeBalance('APIerSv1.DebitBalance', 'Debit')));

// ---------- call records ----------

const cdrState = { page: 0, filter: {}, loaded: false, rows: 0 };

function cdrFilter() {
  const f = {};
  const start = inputTime('cdr-start');
  const end = inputTime('cdr-end');
  if (start) f.SetupTimeStart = start;
  if (end) f.SetupTimeEnd = end;
  const acc = $('cdr-account').value.trim();
  const dest = $('cdr-dest').value.trim();
  const host = $('cdr-host').value.trim();
  if (acc) f.Accounts = [acc];
  if (dest) f.DestinationPrefixes = [dest];
  if (host) f.OriginHosts = [host];
  return f;
}

function csvHref(filter) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) {
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, item);
  }
  const s = q.toString();
  return s ? `/cdrs.csv?${s}` : '/cdrs.csv';
}

function cdrRow(r) {
  return el('tr', { 'data-testid': `cdr-${r.CGRID}-${r.RunID || ''}` },
    el('td', {}, time(r.SetupTime)),
    el('td', {}, r.OriginHost || ''),
    el('td', {}, r.Account || ''),
    el('td', {}, r.Destination || ''),
    el('td', { class: 'num' }, duration(nsToSecs(r.Usage))),
    el('td', { class: 'num' }, money(r.Cost)),
    el('td', {}, r.DisconnectCause || ''));
}

async function loadCdrs() {
  const list = await getCdrs({ ...cdrState.filter, Limit: PAGE_SIZE, Offset: cdrState.page * PAGE_SIZE });
  cdrState.loaded = true;
  cdrState.rows = list.length;
  $('cdr-table').querySelector('tbody').replaceChildren(...list.map(cdrRow));
  $('cdr-page').textContent = `page ${cdrState.page + 1}`;
  $('cdr-prev').disabled = cdrState.page === 0;
  $('cdr-next').disabled = list.length < PAGE_SIZE;
}

function onCdr(r) {
  // Appended live only on the last page of an unfiltered list (records come oldest first).
  if (!r || !cdrState.loaded || Object.keys(cdrState.filter).length || cdrState.rows >= PAGE_SIZE) return;
  cdrState.rows += 1;
  $('cdr-table').querySelector('tbody').append(cdrRow(r));
  $('cdr-next').disabled = cdrState.rows < PAGE_SIZE;
}

function updateCsvLink() {
  try {
    $('cdr-csv').href = csvHref(cdrFilter());
  } catch (_) {
    // An unfinished date: the link keeps its last good filter.
  }
}

$('cdr-form').addEventListener('submit', act('Call records', async () => {
  cdrState.filter = cdrFilter();
  cdrState.page = 0;
  $('cdr-csv').href = csvHref(cdrState.filter);
  await loadCdrs();
}));
$('cdr-form').addEventListener('input', updateCsvLink);
$('cdr-prev').addEventListener('click', act('Call records', async () => {
  cdrState.page = Math.max(0, cdrState.page - 1);
  await loadCdrs();
}));
$('cdr-next').addEventListener('click', act('Call records', async () => {
  cdrState.page += 1;
  await loadCdrs();
}));

// ---------- rates ----------

$('rate-form').addEventListener('submit', act('Cost', async () => {
  const start = inputTime('rate-start') || new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const secs = Number($('rate-duration').value || 0);
  if (!(secs >= 0)) throw new Error('give a duration in seconds');
  const end = new Date(Date.parse(start) + secs * 1000).toISOString().replace('.000Z', 'Z');
  const subject = $('rate-subject').value.trim();
  const cd = {
    Tenant: $('rate-tenant').value.trim() || undefined,
    Subject: subject,
    Account: subject,
    Destination: $('rate-dest').value.trim(),
    TimeStart: start,
    TimeEnd: end,
  };
  $('rate-cost').textContent = '';
  const cost = await rpc('Responder.GetCost', cd);
  $('rate-cost').textContent = money(cost.Cost);
  $('rate-timespans').querySelector('tbody').replaceChildren(...(cost.Timespans || []).map((ts) => el('tr', {},
    el('td', {}, time(ts.TimeStart)),
    el('td', {}, time(ts.TimeEnd)),
    el('td', { class: 'num' }, money(ts.Cost)),
    el('td', {}, ts.RatingPlanId || ''),
    el('td', {}, ts.MatchedDestId || ''),
    el('td', {}, ts.MatchedPrefix || ''))));
}));

async function refreshHealth() {
  let res;
  try {
    res = await fetch('/health', { cache: 'no-store' });
  } catch (e) {
    showError(`Plan summary: the server did not answer (${e.message})`);
    return;
  }
  if (!res.ok) {
    showError(`Plan summary: HTTP ${res.status} ${res.statusText}`);
    return;
  }
  const h = await res.json();
  const tp = h.tariffplan || {};
  const items = [
    ['status', h.status], ['version', h.version],
    ['destinations', tp.destinations], ['prefixes', tp.prefixes],
    ['rating profiles', tp.rating_profiles], ['loads since start', tp.loads_since_start],
    ['loaded at', tp.loaded_at ? new Date(tp.loaded_at).toLocaleString() : ''],
  ];
  $('plan-summary').replaceChildren(...items.flatMap(([k, v]) => [
    el('dt', {}, k),
    el('dd', { 'data-testid': `plan-${k.replace(/ /g, '-')}` }, v ?? ''),
  ]));
}

$('reload-form').addEventListener('submit', act('Reload', async () => {
  // Empty: the folder the server was configured with.
  const folder = $('reload-folder').value.trim();
  const where = folder ? `in ${folder}` : 'from the configured folder';
  if (!confirm(`Load the tariff plan ${where} and replace the live one?`)) return;
  $('reload-result').textContent = '';
  const r = await rpc('APIerSv1.LoadTariffPlanFromFolder', folder ? { FolderPath: folder } : {});
  $('reload-result').textContent = `${r} (${new Date().toLocaleTimeString()})`;
  await refreshHealth();
}));

// ---------- start ----------

window.addEventListener('unhandledrejection', (ev) => {
  showError(`Unexpected error: ${ev.reason && ev.reason.message ? ev.reason.message : ev.reason}`);
});
$('rate-start').value = localInputValue(new Date());
updateCsvLink();
showTab(location.hash.slice(1) || 'live');
renderLive();
setInterval(tick, 1000);
connect();
