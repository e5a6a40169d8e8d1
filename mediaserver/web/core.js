// Shared core of the console's ES modules: session state, the API client, DOM and formatting helpers; translations
// and the language come from i18n.js, the same module the join page uses.
// console.js (the app shell) registers its strings and the session hooks; feature modules (schedule.js,
// attendance.js, invitations.js, monitor.js) import what they need from here and add their own strings.

import * as i18n from './i18n.js';
import { TZ, addStrings, t, locale } from './i18n.js';
import { errorDetail } from './errors.js'; // the catalogue of the server's error codes (err.<code> texts)

// One translation registry, language and locale for the console and the join page (i18n.js).
export { TZ, addStrings, t, locale };
/** Vietnam has kept UTC+7 without daylight saving since 1975: calendar arithmetic can use the fixed offset. */
export const VN_OFFSET_MIN = 7 * 60;
const LANG_KEY = 'console.lang';
i18n.initLang(LANG_KEY);

export const TOKEN_KEY = 'console.token';
/** The session's token: kept in localStorage (shared by this browser's tabs and the meeting player), or from an
 * older tab's sessionStorage. */
function storedToken() {
  try { return localStorage.getItem(TOKEN_KEY) || sessionStorage.getItem(TOKEN_KEY); } catch (_) { return null; }
}

/** Keep (or, with null, forget) the session's token for every tab of this browser. */
export function storeToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
  } catch (_) { /* storage refused (private mode): this page only */ }
}

export const state = {
  /** The reader's language, kept by i18n.js (and remembered on this browser when set). */
  get lang() { return i18n.lang(); },
  set lang(value) { i18n.setLang(value, LANG_KEY); },
  token: storedToken(), me: null, flash: null, data: {}, joins: {}, room: null,
  lockUntil: 0, expiryTimer: null, next: null, recording: {},
};

/** Set by the app shell: what to do when the session ends (401) or must change its password, and the router. */
export const hooks = { endSession: () => {}, passwordChange: () => {}, route: () => {}, showSection: () => {} };

/** The object classes the detector reports (review items, live badges), in the order the console lists them. */
export const OBJECT_LABELS = ['person', 'bicycle', 'motorcycle', 'car', 'truck', 'bus'];
addStrings({
  vi: {
    'obj.person': 'Người', 'obj.bicycle': 'Xe đạp', 'obj.motorcycle': 'Xe máy', 'obj.car': 'Ô tô', 'obj.truck': 'Xe tải',
    'obj.bus': 'Xe buýt',
  },
  en: {
    'obj.person': 'Person', 'obj.bicycle': 'Bicycle', 'obj.motorcycle': 'Motorbike', 'obj.car': 'Car', 'obj.truck': 'Truck',
    'obj.bus': 'Bus',
  },
});

export const tOr = (key, fallback, vars) => (i18n.hasText(key) ? i18n.t(key, vars) : fallback);

export function h(tag, props, ...kids) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'style') el.style.cssText = String(v); // CSSOM: the CSP (style-src 'self') refuses style attributes
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat(Infinity)) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    Object.assign(this, { status, code, field, handled: false, retryAfter: null });
  }
}

export async function api(method, path, body, { raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  if (raw && resp.ok) return resp; // the caller reads the body (a snapshot image, a CSV file)
  let data = null;
  if (resp.status !== 204) data = await resp.json().catch(() => null);
  if (resp.ok) return data;
  const e = (data && data.error) || {};
  const err = new ApiError(resp.status, e.code || `http_${resp.status}`, e.message || resp.statusText, e.field);
  err.retryAfter = parseInt(resp.headers.get('Retry-After') || '', 10) || null;
  if (state.token && !path.endsWith('/auth/login')) {
    if (resp.status === 401) {
      hooks.endSession(err.code === 'token_expired' ? 'sessionExpired' : err.code === 'token_revoked' ? 'sessionRevoked' : 'sessionInvalid');
      err.handled = true;
    } else if (err.code === 'password_change_required' && state.me) {
      state.me.must_change_password = true;
      err.handled = true;
      hooks.passwordChange();
    }
  }
  throw err;
}

let pathsPromise = null;
/** The API's paths from its OpenAPI document (null if unreachable): routes that do not exist yet stay hidden. */
export function apiPaths() {
  pathsPromise ??= fetch('/api/openapi.json').then((r) => (r.ok ? r.json() : null)).then((d) => (d?.paths ? Object.keys(d.paths) : null))
    .catch(() => null).then((p) => { if (!p) pathsPromise = null; return p; });
  return pathsPromise;
}

/** Whether the server has a route at ``path`` (true when its OpenAPI document cannot be read: try it). */
export async function hasRoute(path) {
  const paths = await apiPaths();
  return paths ? paths.includes(path) : true;
}

/** The reader's text for an API error, from its code (errors.js); the server's English words are not in it. */
export function errorText(err) {
  if (err.code === 'network') return t('network');
  if (i18n.hasText(`err.${err.code}`)) return t(`err.${err.code}`); // the error catalogue (errors.js, alarms.js)
  if (err.status === 403) return t('forbidden');
  return t('errGeneric', { m: err.code || err.status });
}

/** An error for a page: its text, and the server's own words behind a "Chi tiết" (details) toggle. */
export function errorNode(err) {
  const showDetail = err.code !== 'network' && (err.message || err.code);
  return h('span', { class: 'err-text' }, errorText(err), showDetail ? [' ', h('details', { class: 'err-detail' },
    h('summary', {}, t('err.details')), h('small', {}, errorDetail(err)))] : null);
}

export function go(hash) {
  if (location.hash === hash) hooks.route();
  else location.hash = hash;
}

export function hashParams() {
  return new URLSearchParams((location.hash.split('?')[1]) || '');
}

// ------------------------------------------------------------------------------------------ formatting
export function fmt(iso, opts) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale(), { timeZone: TZ, ...opts }).format(d);
}
export const DATE_TIME = { day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false };
export const fmtDateTime = (iso) => fmt(iso, DATE_TIME);
/** "08:30" in Vietnam time. */
export const hhmm = (iso) => fmt(iso, { hour: '2-digit', minute: '2-digit', hour12: false });
/** "Thứ Hai, 07/12/2026" (vi) / "Monday, 07/12/2026" (en). */
export const longDay = (iso) => fmt(iso, { weekday: 'long', day: '2-digit', month: '2-digit', year: 'numeric' });

// One number formatter for the console and the join page (i18n.js: vi-VN 3,8 %; 8,8 MB; fixed fraction digits).
export { num, pct, size } from './i18n.js';

export function relative(iso) {
  const diff = (new Date(iso).getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(state.lang === 'en' ? 'en' : 'vi', { numeric: 'auto' });
  for (const [unit, s] of [['day', 86400], ['hour', 3600], ['minute', 60]]) {
    if (Math.abs(diff) >= s) return rtf.format(Math.round(diff / s), unit);
  }
  return rtf.format(Math.round(diff), 'second');
}

export function duration(seconds) {
  const n = Number(seconds);
  if (!Number.isFinite(n)) return String(seconds);
  for (const [unit, s] of [['day', 86400], ['hour', 3600], ['min', 60]]) {
    if (n >= s && n % s === 0) return `${n / s} ${t(unit)}`;
  }
  return `${n} ${t('sec')}`;
}

export function todayIn(tz) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
}

export function shiftDay(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export const clock = (ts, seconds = true) => fmt(new Date(ts * 1000).toISOString(),
  { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}), hour12: false });

export function span(seconds) {
  let s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} ${t('sec')}`;
  const parts = [];
  for (const [unit, n] of [['hour', 3600], ['min', 60], ['sec', 1]]) {
    if (s >= n && parts.length < 2) { parts.push(`${Math.floor(s / n)} ${t(unit)}`); s %= n; } else if (parts.length) break;
  }
  return parts.join(' ');
}

/** Vietnam-time calendar parts of an instant: {day: 'YYYY-MM-DD', min: minutes since that day's midnight}. */
export function vnParts(iso) {
  const ms = typeof iso === 'number' ? iso : Date.parse(iso);
  const local = new Date(ms + VN_OFFSET_MIN * 60000);
  return { day: local.toISOString().slice(0, 10), min: local.getUTCHours() * 60 + local.getUTCMinutes() + local.getUTCSeconds() / 60 };
}

/** The instant of a Vietnam-time date ('YYYY-MM-DD') and time ('HH:MM') as ISO-8601 with its offset, or null. */
export function vnIso(day, time = '00:00') {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day || '') || !/^\d{2}:\d{2}$/.test(time || '')) return null;
  const iso = `${day}T${time}:00+07:00`;
  return Number.isNaN(Date.parse(iso)) ? null : iso;
}

/** A site's name in the reader's language. */
export const siteName = i18n.nameOf;

// ------------------------------------------------------------------------------------------ helpers
/** Save a blob the browser got with the bearer token as a file. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** An inline <svg> from the server's SVG text, without scripts, event handlers or external references. */
export function safeSvg(text) {
  const doc = new DOMParser().parseFromString(text || '', 'image/svg+xml');
  const svg = doc.documentElement;
  if (!svg || svg.nodeName.toLowerCase() !== 'svg' || doc.querySelector('parsererror')) return null;
  svg.querySelectorAll('script, foreignObject, iframe, image, use').forEach((n) => n.remove());
  for (const el of [svg, ...svg.querySelectorAll('*')]) {
    for (const a of [...el.attributes]) {
      if (/^on/i.test(a.name) || (/href$/i.test(a.name) && !a.value.startsWith('#'))) el.removeAttribute(a.name);
    }
  }
  return document.importNode(svg, true);
}

/** A modal dialog (full screen on a phone); returns {el, close}. Escape and the backdrop close it. */
export function modal(title, body, { id, onClose, wide = false } = {}) {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    el.remove();
    document.removeEventListener('keydown', onKey);
    onClose?.();
  };
  const onKey = (ev) => { if (ev.key === 'Escape') close(); };
  const heading = h('h2', { id: `${id || 'modal'}-title` }, title);
  const panel = h('div', { class: `modal-panel${wide ? ' wide' : ''}` },
    h('header', { class: 'modal-head' }, heading, h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'modal-close', 'aria-label': t('close'), title: t('close'), onclick: close }, '✕')),
    body);
  let downOnBackdrop = false;
  const el = h('div', { id, class: 'modal', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': heading.id,
    onpointerdown: (ev) => { downOnBackdrop = ev.target === el; },
    onclick: (ev) => { if (ev.target === el && downOnBackdrop) close(); } }, panel);
  document.addEventListener('keydown', onKey);
  document.body.append(el);
  return { el, close };
}

/** A repeating poll that waits for each round before the next, paused while the tab is hidden. */
export function poller(fn, everyMs) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    timer = null;
    if (stopped) return;
    if (!document.hidden) {
      try { await fn(); } catch { /* the round shows its own error */ }
    }
    if (!stopped) timer = setTimeout(tick, everyMs);
  };
  tick();
  return { stop() { stopped = true; clearTimeout(timer); } };
}
