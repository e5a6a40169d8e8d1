// "Sự kiện cần xem": the review queue (GET /api/v1/review, see /work/helpers/review-contract.md). One card per
// review item — its snapshot (boxes drawn by the server), the objects seen (Vietnamese names), camera, zones, time,
// alert vs detection — filtered by camera, object, zone, kind, time range and "unreviewed only", or answered from a
// free-text question (GET /api/v1/review/search?q=, showing what the server understood). A card opens the item's
// clip beside its snapshot; staff mark items reviewed one by one or every item shown. The unreviewed count is a
// badge on the nav link (GET /api/v1/review/summary, polled; a 404 means this server has no review queue: the
// link and badge stay hidden). window.__review exposes the page state for tests.
import {
  addStrings, state, t, tOr, h, api, hasRoute, errorText, fmtDateTime, num, modal, OBJECT_LABELS, vnIso, pct,
} from './core.js';
import { dateField, timeField } from './picker.js';

const PAGE = 48; // items per request
const SUMMARY_POLL_MS = 15000; // the nav badge re-reads the unreviewed count this often
const SNAP_LIMIT = 4; // snapshot downloads in flight at once

addStrings({
  vi: {
    'sec.review': 'Sự kiện cần xem', revSearch: 'Tìm kiếm', revSearchHint: 'VD: người ở Cổng chính hôm qua 14:00–14:30',
    revSearchBtn: 'Tìm', revSearchClear: '✕ Bỏ tìm kiếm', revUnderstood: 'Đã hiểu:', revIgnored: 'Không hiểu:',
    revCamera: 'Camera', revObject: 'Đối tượng', revZone: 'Khu vực', revKind: 'Loại', revSince: 'Từ', revUntil: 'Đến',
    revAll: 'Tất cả', revUnreviewedOnly: 'Chỉ mục chưa xem', revAlert: 'Cảnh báo', revDetection: 'Phát hiện',
    revSummary: '{n} mục chưa xem ({a} cảnh báo)', revShown: '{n} mục đang hiện', revMark: 'Đánh dấu đã xem',
    revUnmark: 'Bỏ đánh dấu', revMarkAll: 'Đánh dấu đã xem tất cả ({n})', revReviewedBy: 'Đã xem: {who}, {t}',
    revNone: 'Không có mục nào khớp bộ lọc.', revNoQueue: 'Máy chủ này chưa có hàng đợi sự kiện cần xem.',
    revMore: 'Tải thêm', revScore: 'độ tin cậy {p}', revClip: 'Đoạn video sự kiện', revNoClip: 'Không tải được đoạn video: {m}',
    revSnapshot: 'Ảnh chụp sự kiện', revOpen: 'Xem đoạn video', revBadge: '{n} mục chưa xem', revAnyZone: 'Mọi khu vực',
    revQueryLabel: 'đối tượng: {v}', revQueryCamera: 'camera: {v}', revQueryZone: 'khu vực: {v}',
  },
  en: {
    'sec.review': 'Review', revSearch: 'Search', revSearchHint: 'e.g. person at the main gate yesterday 14:00–14:30',
    revSearchBtn: 'Search', revSearchClear: '✕ Clear search', revUnderstood: 'Understood:', revIgnored: 'Not understood:',
    revCamera: 'Camera', revObject: 'Object', revZone: 'Zone', revKind: 'Kind', revSince: 'From', revUntil: 'To',
    revAll: 'All', revUnreviewedOnly: 'Unreviewed only', revAlert: 'Alert', revDetection: 'Detection',
    revSummary: '{n} unreviewed ({a} alerts)', revShown: '{n} shown', revMark: 'Mark reviewed', revUnmark: 'Mark unreviewed',
    revMarkAll: 'Mark all reviewed ({n})', revReviewedBy: 'Reviewed: {who}, {t}', revNone: 'No item matches the filters.',
    revNoQueue: 'This server has no review queue yet.', revMore: 'Load more', revScore: '{p} confidence',
    revClip: 'Event clip', revNoClip: 'Cannot load the clip: {m}', revSnapshot: 'Event snapshot', revOpen: 'Play the clip',
    revBadge: '{n} unreviewed', revAnyZone: 'Any zone', revQueryLabel: 'object: {v}', revQueryCamera: 'camera: {v}',
    revQueryZone: 'zone: {v}',
  },
});

const rv = {
  gen: 0, items: [], next: null, loading: false, error: null, cameras: [], summary: null, noQueue: false,
  // since/until: {day: 'YYYY-MM-DD' | '', time: 'HH:MM' | ''} in Vietnam time, as typed in the picker.js fields
  filters: { camera: '', label: '', zone: '', kind: '', since: { day: '', time: '' }, until: { day: '', time: '' }, unreviewed: true },
  search: null, // {q, query} while a free-text search is shown
  snaps: new Map(), snapQueue: [], snapBusy: 0, poll: null, body: null,
};
window.__review = rv;

const when = (ts) => (ts == null ? '—' : fmtDateTime(new Date(ts * 1000).toISOString()));
const pctText = (score) => pct(score * 100, 0);
/** A typed Vietnam-time day and time as epoch seconds (no time: the day's start, or its last minute for an end), or null. */
function localTs({ day, time }, end = false) {
  const iso = vnIso(day, time || (end ? '23:59' : '00:00'));
  if (!iso) return null;
  return Date.parse(iso) / 1000 + (end && !time ? 59 : 0);
}

// ------------------------------------------------------------------------------------------- badge
/** Show the unreviewed count on the nav link (and hide the link when the server has no review queue). */
export function paintBadge() {
  const link = document.querySelector('#nav .nav-link[data-section="review"]');
  if (!link) return;
  link.hidden = rv.noQueue;
  let badge = link.querySelector('.nav-badge');
  const n = rv.summary?.unreviewed ?? 0;
  if (!n || rv.noQueue) { badge?.remove(); return; }
  if (!badge) { badge = h('span', { class: 'nav-badge', id: 'review-badge' }); link.append(' ', badge); }
  badge.textContent = n > 999 ? '999+' : num(n);
  badge.title = t('revBadge', { n: num(n) });
  badge.classList.toggle('alert', (rv.summary?.unreviewed_alerts ?? 0) > 0);
}

/** A camera's unreviewed items (alerts included), from the last summary read (0 when unknown). */
export const unreviewedOf = (cameraId) => rv.summary?.by_camera?.[cameraId]?.unreviewed ?? 0;

async function refreshSummary() {
  if (!state.token || !state.me || !['admin', 'security'].includes(state.me.role)) return;
  if (!(await hasRoute('/api/v1/review/summary'))) { rv.noQueue = true; paintBadge(); return; } // no 404s in the log
  try {
    rv.summary = await api('GET', '/api/v1/review/summary');
    rv.noQueue = false;
  } catch (err) {
    if (err.status === 404) rv.noQueue = true; // no review API on this server
    else return; // a failed round keeps what is shown
  }
  paintBadge();
  const line = document.getElementById('review-summary');
  if (line) paintSummary(line);
}

/** Start polling the unreviewed count (idempotent); the first read is immediate. */
export function watchSummary() {
  if (!rv.poll) rv.poll = setInterval(() => { if (!document.hidden) refreshSummary(); }, SUMMARY_POLL_MS);
  refreshSummary();
}

export function stopSummary() {
  clearInterval(rv.poll);
  Object.assign(rv, { poll: null, summary: null, noQueue: false });
}

function paintSummary(line) {
  const s = rv.summary;
  line.textContent = s ? t('revSummary', { n: num(s.unreviewed), a: num(s.unreviewed_alerts) }) : '';
}

// -------------------------------------------------------------------------------------------- page
export function stop() {
  rv.gen += 1;
  for (const got of rv.snaps.values()) got.then((url) => url && URL.revokeObjectURL(url));
  Object.assign(rv, { snaps: new Map(), snapQueue: [], body: null });
}

export async function mount(body) {
  stop();
  rv.body = body;
  const gen = rv.gen;
  body.replaceChildren(h('p', { class: 'loading' }, t('loading')));
  try {
    rv.cameras = (await api('GET', '/api/v1/cameras')).items;
  } catch (err) {
    if (!err.handled && gen === rv.gen) body.replaceChildren(h('p', { class: 'msg error section-error' }, errorText(err)));
    return;
  }
  if (gen !== rv.gen) return;
  body.replaceChildren(...render());
  refreshSummary();
  if (rv.search) runSearch(rv.search.q); else load(true);
}

function render() {
  const f = rv.filters;
  const sel = (id, label, options, key) => h('label', {}, h('span', {}, label),
    h('select', { id, onchange: (ev) => { f[key] = ev.target.value; load(true); } },
      options.map(([v, text]) => h('option', { value: v, selected: v === f[key] }, text))));
  // A dd/mm/yyyy day and an optional 24-hour time (picker.js: the same in vi and en, whatever the browser's language).
  const dt = (id, label, key) => h('label', {}, h('span', {}, label),
    dateField(id, { value: f[key].day, label, onchange: (v) => { f[key].day = v; load(true); } }), ' ',
    timeField(`${id}-time`, { value: f[key].time, label: `${label} (${t('pick.timePh')})`,
      onchange: (v) => { f[key].time = v; if (f[key].day) load(true); } }));
  const q = h('input', { id: 'review-q', type: 'search', maxlength: 200, placeholder: t('revSearchHint'), 'aria-label': t('revSearch'),
    value: rv.search?.q || '' });
  const search = h('form', { id: 'review-search', class: 'rev-search', role: 'search',
    onsubmit: (ev) => { ev.preventDefault(); const text = q.value.trim(); if (text) runSearch(text); else clearSearch(); } },
  q, h('button', { type: 'submit', class: 'primary' }, t('revSearchBtn')),
  h('button', { id: 'review-search-clear', type: 'button', hidden: !rv.search, onclick: clearSearch }, t('revSearchClear')));
  const filters = h('div', { id: 'review-filters', class: 'ev-filters rev-filters' },
    sel('review-camera', t('revCamera'), [['', t('revAll')], ...rv.cameras.map((c) => [c.id, c.name])], 'camera'),
    sel('review-label', t('revObject'), [['', t('revAll')], ...OBJECT_LABELS.map((l) => [l, tOr(`obj.${l}`, l)])], 'label'),
    h('label', {}, h('span', {}, t('revZone')), h('input', { id: 'review-zone', type: 'text', maxlength: 64, list: 'review-zones',
      value: f.zone, placeholder: t('revAnyZone'), onchange: (ev) => { f.zone = ev.target.value.trim(); load(true); } }),
    h('datalist', { id: 'review-zones' })),
    sel('review-kind', t('revKind'), [['', t('revAll')], ['alert', t('revAlert')], ['detection', t('revDetection')]], 'kind'),
    dt('review-since', t('revSince'), 'since'), dt('review-until', t('revUntil'), 'until'),
    h('label', { class: 'rev-check' }, h('input', { id: 'review-unreviewed', type: 'checkbox', checked: f.unreviewed,
      onchange: (ev) => { f.unreviewed = ev.target.checked; load(true); } }), h('span', {}, t('revUnreviewedOnly'))));
  const head = h('div', { class: 'rev-head' }, h('span', { id: 'review-summary', class: 'badge' }),
    h('span', { id: 'review-shown', class: 'muted' }), h('span', { class: 'spacer' }),
    h('button', { id: 'review-mark-all', type: 'button', class: 'primary', hidden: true, onclick: markAll }));
  const understood = h('div', { id: 'review-understood', class: 'rev-understood', hidden: true });
  return [search, understood, filters, head,
    h('div', { id: 'review-list', class: 'ev-grid rev-grid', 'aria-live': 'polite' }),
    h('p', { id: 'review-empty', class: 'empty', hidden: true }),
    h('button', { id: 'review-more', type: 'button', hidden: true, onclick: () => load(false) }, t('revMore'))];
}

function query(before) {
  const f = rv.filters;
  const q = new URLSearchParams({ limit: PAGE });
  if (f.camera) q.set('camera_id', f.camera);
  if (f.label) q.set('label', f.label);
  if (f.zone) q.set('zone', f.zone);
  if (f.kind) q.set('kind', f.kind);
  if (f.unreviewed) q.set('reviewed', 'false');
  const since = localTs(f.since);
  const until = localTs(f.until, true);
  if (since != null) q.set('since', since);
  if (until != null) q.set('until', until);
  if (before != null) q.set('before_id', before);
  return q;
}

async function load(reset) {
  const gen = rv.gen;
  rv.search = null;
  if (reset) { rv.items = []; rv.next = null; }
  Object.assign(rv, { loading: true, error: null });
  paint();
  try {
    const res = await api('GET', `/api/v1/review?${query(reset ? null : rv.next)}`);
    if (gen !== rv.gen) return;
    rv.items = reset ? res.items : rv.items.concat(res.items);
    rv.next = res.next_before_id ?? null;
  } catch (err) {
    if (err.handled || gen !== rv.gen) return;
    if (err.status === 404) rv.noQueue = true; // the server has no review routes
    rv.error = err.status === 404 ? t('revNoQueue') : errorText(err);
  } finally {
    if (gen === rv.gen) rv.loading = false;
  }
  paint();
}

async function runSearch(text) {
  const gen = rv.gen;
  Object.assign(rv, { loading: true, error: null, items: [], next: null, search: { q: text, query: null } });
  paint();
  try {
    const res = await api('GET', `/api/v1/review/search?${new URLSearchParams({ q: text })}`);
    if (gen !== rv.gen) return;
    rv.items = res.items;
    rv.search = { q: text, query: res.query };
  } catch (err) {
    if (err.handled || gen !== rv.gen) return;
    rv.error = errorText(err);
  } finally {
    if (gen === rv.gen) rv.loading = false;
  }
  paint();
}

function clearSearch() {
  const q = document.getElementById('review-q');
  if (q) q.value = '';
  load(true);
}

function paintUnderstood() {
  const box = document.getElementById('review-understood');
  if (!box) return;
  const qy = rv.search?.query;
  document.getElementById('review-search-clear').hidden = !rv.search;
  document.getElementById('review-filters').classList.toggle('muted-out', Boolean(rv.search));
  box.hidden = !qy;
  if (!qy) { box.replaceChildren(); return; }
  const cam = qy.camera_id && (rv.cameras.find((c) => c.id === qy.camera_id)?.name || qy.camera_id);
  // The server's own pieces ("understood") are shown as they are; the parsed fields in the reader's language.
  const parsed = [qy.label && t('revQueryLabel', { v: tOr(`obj.${qy.label}`, qy.label) }), cam && t('revQueryCamera', { v: cam }),
    qy.zone && t('revQueryZone', { v: qy.zone }), qy.since != null && `${t('revSince')} ${when(qy.since)}`,
    qy.until != null && `${t('revUntil')} ${when(qy.until)}`].filter(Boolean);
  box.replaceChildren(h('span', {}, h('strong', {}, t('revUnderstood')), ' ',
    (parsed.length ? parsed : qy.understood || []).map((p) => h('span', { class: 'rev-chip understood' }, p)),
    qy.ignored?.length ? [' ', h('strong', {}, t('revIgnored')), ' ', qy.ignored.map((w) => h('span', { class: 'rev-chip ignored' }, w))] : null));
}

function paint() {
  const list = document.getElementById('review-list');
  if (!list) return;
  paintUnderstood();
  paintSummary(document.getElementById('review-summary'));
  const zones = [...new Set(rv.items.flatMap((i) => i.zones))].sort();
  document.getElementById('review-zones').replaceChildren(...zones.map((z) => h('option', { value: z })));
  list.replaceChildren(...rv.items.map(card));
  const unreviewed = rv.items.filter((i) => !i.reviewed_at);
  const all = document.getElementById('review-mark-all');
  all.hidden = !unreviewed.length;
  all.textContent = t('revMarkAll', { n: num(unreviewed.length) });
  document.getElementById('review-shown').textContent = rv.items.length ? t('revShown', { n: num(rv.items.length) }) : '';
  const empty = document.getElementById('review-empty');
  empty.textContent = rv.error || (rv.loading ? t('loading') : t('revNone'));
  empty.classList.toggle('error', Boolean(rv.error));
  empty.hidden = rv.items.length > 0 && !rv.error;
  const more = document.getElementById('review-more');
  more.hidden = !rv.next || Boolean(rv.search);
  more.disabled = rv.loading;
}

function camName(item) {
  return item.camera_name || rv.cameras.find((c) => c.id === item.camera_id)?.name || item.camera_id;
}

function chips(item) {
  return h('div', { class: 'rev-labels' }, item.labels.map((l) => h('span', { class: 'rev-chip label', 'data-label': l }, tOr(`obj.${l}`, l))));
}

function card(item) {
  const img = h('img', { alt: t('revSnapshot') });
  const open = () => openItem(item);
  const markBtn = h('button', { type: 'button', class: 'rev-mark', 'data-review-id': item.id,
    onclick: (ev) => { ev.stopPropagation(); mark(item, !item.reviewed_at, ev.currentTarget); } },
  item.reviewed_at ? t('revUnmark') : t('revMark'));
  const el = h('article', { class: `ev-card rev-card ${item.kind}${item.reviewed_at ? ' reviewed' : ''}`, 'data-review-id': item.id,
    'data-kind': item.kind, tabindex: 0, role: 'button', title: t('revOpen'), onclick: open,
    onkeydown: (ev) => { if (ev.target === el && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); open(); } } },
  h('div', { class: 'ev-thumb' }, item.snapshot_url ? img : h('div', { class: 'ev-nothumb' }, t('noThumb')),
    h('time', { datetime: new Date(item.start_at * 1000).toISOString() }, when(item.start_at)),
    h('span', { class: `rev-kind ${item.kind}` }, item.kind === 'alert' ? t('revAlert') : t('revDetection'))),
  h('div', { class: 'ev-meta' }, chips(item),
    h('div', { class: 'ev-line' }, h('strong', { class: 'rev-camera' }, camName(item)),
      h('span', { class: 'muted' }, t('revScore', { p: pctText(item.top_score) }))),
    item.zones.length ? h('div', { class: 'ev-zones' }, item.zones.map((z) => h('span', { class: 'ev-zone' }, z))) : null,
    item.reviewed_at ? h('div', { class: 'muted small rev-by' }, t('revReviewedBy', { who: item.reviewed_by || '—', t: when(item.reviewed_at) })) : null,
    markBtn));
  if (item.snapshot_url) snapshot(item, img);
  return el;
}

/** Show an item's snapshot in ``img``: fetched once with the token (a few at a time), kept as an object URL. */
function snapshot(item, img) {
  let got = rv.snaps.get(item.id);
  if (!got) {
    const gen = rv.gen;
    got = new Promise((resolve) => {
      rv.snapQueue.push(async () => {
        if (gen !== rv.gen) { resolve(null); return; }
        try {
          resolve(URL.createObjectURL(await (await api('GET', item.snapshot_url, undefined, { raw: true })).blob()));
        } catch {
          resolve(null);
        }
      });
      pump();
    });
    rv.snaps.set(item.id, got);
  }
  got.then((url) => { if (url) img.src = url; });
}

function pump() {
  while (rv.snapBusy < SNAP_LIMIT && rv.snapQueue.length) {
    const job = rv.snapQueue.shift();
    rv.snapBusy += 1;
    job().finally(() => { rv.snapBusy -= 1; pump(); });
  }
}

/** Replace an item in the list with the server's answer and repaint (an item marked reviewed leaves the
 * "unreviewed only" list). */
function replaceItem(updated) {
  const i = rv.items.findIndex((x) => x.id === updated.id);
  if (i < 0) return;
  if (rv.filters.unreviewed && updated.reviewed_at && !rv.search) rv.items.splice(i, 1);
  else rv.items[i] = updated;
}

async function mark(item, reviewed, btn) {
  if (btn) btn.disabled = true;
  try {
    const updated = await api('POST', `/api/v1/review/${item.id}/${reviewed ? 'reviewed' : 'unreviewed'}`, {});
    replaceItem(updated);
    paint();
    refreshSummary();
    return updated;
  } catch (err) {
    if (btn) btn.disabled = false;
    if (!err.handled && btn) btn.after(h('span', { class: 'msg error inline' }, errorText(err)));
    return null;
  }
}

async function markAll(ev) {
  const btn = ev.currentTarget;
  const ids = rv.items.filter((i) => !i.reviewed_at).map((i) => i.id);
  if (!ids.length) return;
  btn.disabled = true;
  try {
    await api('POST', '/api/v1/review/reviewed', { ids });
    if (rv.search) await runSearch(rv.search.q); else await load(true);
    refreshSummary();
  } catch (err) {
    if (!err.handled) btn.after(h('span', { class: 'msg error inline' }, errorText(err)));
  } finally {
    btn.disabled = false;
  }
}

/** The item's clip (fetched with the token: a <video> cannot send it) beside its snapshot, and its mark button. */
function openItem(item) {
  let clipUrl = null;
  const video = h('video', { id: 'review-clip', controls: true, playsinline: true, preload: 'auto', 'aria-label': t('revClip') });
  video.muted = true;
  const note = h('p', { id: 'review-clip-note', class: 'msg error', hidden: true });
  const img = h('img', { id: 'review-snapshot', alt: t('revSnapshot') });
  const markBtn = h('button', { id: 'review-clip-mark', type: 'button', class: 'primary',
    onclick: async () => { const up = await mark(item, !item.reviewed_at, markBtn); if (up) { Object.assign(item, up); paintBtn(); } } });
  const paintBtn = () => { markBtn.disabled = false; markBtn.textContent = item.reviewed_at ? t('revUnmark') : t('revMark'); };
  paintBtn();
  const body = h('div', { class: 'rev-player' },
    h('div', { class: 'rev-media' }, h('figure', {}, video, h('figcaption', { class: 'muted small' }, t('revClip'))),
      h('figure', {}, img, h('figcaption', { class: 'muted small' }, t('revSnapshot')))), note,
    h('div', { class: 'rev-facts' }, h('span', { class: `rev-kind ${item.kind}` }, item.kind === 'alert' ? t('revAlert') : t('revDetection')),
      chips(item), h('span', {}, camName(item)), item.zones.length ? h('span', { class: 'muted' }, item.zones.join(', ')) : null,
      h('time', {}, when(item.start_at)), h('span', { class: 'spacer' }), markBtn));
  const dlg = modal(`${camName(item)} · ${when(item.start_at)}`, body, { id: 'review-player', wide: true,
    onClose: () => { video.pause(); video.removeAttribute('src'); if (clipUrl) URL.revokeObjectURL(clipUrl); } });
  if (item.snapshot_url) snapshot(item, img);
  api('GET', item.clip_url, undefined, { raw: true }).then((r) => r.blob()).then((blob) => {
    if (!dlg.el.isConnected) return;
    clipUrl = URL.createObjectURL(blob);
    video.src = clipUrl;
    video.play().catch(() => {});
  }).catch((err) => {
    if (err.handled) return;
    note.textContent = t('revNoClip', { m: errorText(err) });
    note.hidden = false;
  });
}
