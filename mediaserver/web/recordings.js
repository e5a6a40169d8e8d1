// One camera's day at a glance: a 24 h timeline drawn from GET /api/v1/timeline (footage, outages, holes,
// motion per minute, event markers). A click plays from that moment (a ticket URL from POST …/playback in a
// <video>: a media element cannot send the bearer token), a drag selects a range to export. The day's motion
// events are thumbnails, filtered and paged with GET /api/v1/events. window.__rec exposes the page state.
import {
  TZ, addStrings, state, t, tOr, h, api, hasRoute, errorText, hashParams, todayIn, shiftDay, clock, span, vnParts, pct as fmtPct, size as fmtSize,
} from './core.js';
import { dateField, timeField } from './picker.js';
import { ZOOM_LEVELS, spanAround, ticks, wireZoomGestures } from './zoom.js';

const I18N = {
  vi: {
    tlZoom: 'Thu phóng dòng thời gian', tlEarlier: 'Lùi về trước', tlLater: 'Tiến về sau', 'zoom.86400': '24 giờ', 'zoom.3600': '1 giờ',
    'zoom.600': '10 phút', spanSummary: '{from} – {to}: {m} sự kiện chuyển động, {o} lần phát hiện đối tượng',
    objectsAt: '{what} lúc {t}',
    recCamera: 'Camera', recDay: 'Ngày', prevDay: 'Ngày trước', nextDay: 'Ngày sau', today: 'Hôm nay',
    legendRecorded: 'Có ghi hình', legendMotion: 'Chuyển động', legendOutage: 'Camera mất kết nối', legendHole: 'Không ghi hình',
    legendEvent: 'Sự kiện', tlLabel: 'Dòng thời gian trong ngày',
    tlHint: 'Nhấn vào dòng thời gian để xem lại từ thời điểm đó; kéo chuột để chọn đoạn cần xuất.',
    recSummaryEvents: '{n} sự kiện', recSummaryRecorded: 'ghi hình {d}', recSummaryOutages: '{n} lần mất kết nối',
    eventAt: 'Sự kiện lúc {t}', noThumb: 'Không có ảnh', playing: 'Đang phát: {t}',
    pickToPlay: 'Chọn một thời điểm trên dòng thời gian hoặc một sự kiện để xem lại.', noFootageAt: 'Không có ghi hình lúc {t}.',
    playFailed: 'Không phát được: {m}', eventsTitle: 'Sự kiện chuyển động', eventsOfDay: '{n} trong ngày', zone: 'Khu vực',
    allZones: 'Mọi khu vực', minDuration: 'Kéo dài', any: 'Bất kỳ', minScore: 'Vùng chuyển động', loadMore: 'Tải thêm',
    noEvents: 'Không có sự kiện nào khớp bộ lọc.', eventOpen: 'đang diễn ra', scorePct: 'động {n} khung hình',
    playEvent: 'Xem lại sự kiện này', exportTitle: 'Xuất đoạn video',
    exportHint: 'Kéo chuột trên dòng thời gian hoặc chọn một sự kiện để điền thời gian.', exportFrom: 'Từ', exportTo: 'Đến',
    exportReason: 'Lý do', exportReasonHint: 'VD: theo yêu cầu của công an xã', exportBtn: 'Xuất video',
    exportQueued: 'Đang chờ xuất…', exportRunning: 'Đang xuất… {p}', exportDone: 'Đã xuất xong',
    exportFailed: 'Xuất thất bại: {m}', download: 'Tải về', sha256: 'Mã SHA-256',
    exportBadRange: 'Chọn thời điểm kết thúc sau thời điểm bắt đầu.', exportNeedReason: 'Nhập lý do xuất video.',
  },
  en: {
    tlZoom: 'Timeline zoom', tlEarlier: 'Earlier', tlLater: 'Later', 'zoom.86400': '24 h', 'zoom.3600': '1 h', 'zoom.600': '10 min',
    spanSummary: '{from} – {to}: {m} motion events, {o} object detections', objectsAt: '{what} at {t}',
    recCamera: 'Camera', recDay: 'Day', prevDay: 'Previous day', nextDay: 'Next day', today: 'Today', legendRecorded: 'Recorded',
    legendMotion: 'Motion', legendOutage: 'Camera offline', legendHole: 'Not recorded', legendEvent: 'Event',
    tlLabel: 'Timeline of the day', tlHint: 'Click the timeline to play from that moment; drag to select a range to export.',
    recSummaryEvents: '{n} events', recSummaryRecorded: '{d} recorded', recSummaryOutages: '{n} outages', eventAt: 'Event at {t}',
    noThumb: 'No picture', playing: 'Playing: {t}', pickToPlay: 'Pick a moment on the timeline or an event to play it back.',
    noFootageAt: 'No footage at {t}.', playFailed: 'Cannot play: {m}', eventsTitle: 'Motion events', eventsOfDay: '{n} this day',
    zone: 'Zone', allZones: 'All zones', minDuration: 'Lasting', any: 'Any', minScore: 'Moving area', loadMore: 'Load more',
    noEvents: 'No event matches the filters.', eventOpen: 'ongoing', scorePct: '{n} of the picture moved',
    playEvent: 'Play this event', exportTitle: 'Export footage',
    exportHint: 'Drag on the timeline or pick an event to fill in the times.', exportFrom: 'From', exportTo: 'To',
    exportReason: 'Reason', exportReasonHint: 'e.g. requested by the commune police', exportBtn: 'Export video',
    exportQueued: 'Waiting to export…', exportRunning: 'Exporting… {p}', exportDone: 'Export finished',
    exportFailed: 'Export failed: {m}', download: 'Download', sha256: 'SHA-256', exportBadRange: 'Pick an end after the start.',
    exportNeedReason: 'Enter why the footage is exported.',
  },
};

addStrings(I18N);

const PLAY_WINDOW_S = 600; // footage asked for per playback request; the next window follows at its end
const PREROLL_S = 3; // an event plays from a little before it starts
const EVENTS_PAGE = 24;
const THUMB_LIMIT = 4; // thumbnail downloads in flight at once
const MAX_MARKERS = 400; // event markers on the timeline (the strongest; the motion strip shows every minute)
const DRAG_PX = 5; // a press that moves further than this selects a range instead of playing
const EXPORT_POLL_MS = 1000;
const EVENT_PAD_S = 5; // an event's export range starts this much before it and ends this much after
const MIN_DURATIONS = [0, 5, 10, 30, 60, 300];
// A score is the share of the picture that moved (0..1): a person is a few percent, so the choices are
// fine at the low end, and bars and meters use a square-root scale that reaches full at FULL_SCALE_SCORE.
const MIN_SCORES = [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4];
const FULL_SCALE_SCORE = 0.25;
const level = (score) => Math.min(1, Math.sqrt(Math.max(0, score) / FULL_SCALE_SCORE));
/** A share of the picture (0–1) as a percentage: one decimal under 10 % (vi "3,8 %", "45 %"). */
const pctText = (share) => fmtPct(share * 100, share < 0.1 ? 1 : 0);
const TL_COLORS = { empty: '#e4e9ef', recorded: '#6fa6e2', motion: '#f08c00', outage: '#d93a2f', hole: '#9aa6b4', future: '#f6f8fa' };

const rec = {
  camera: null, date: null, timeline: null, tlError: null, gen: 0,
  events: [], cursor: null, evLoading: false, evError: null, filters: { zone: '', minDuration: 0, minScore: 0 },
  selected: null, range: null, playing: null, playhead: null, note: null, exp: null, expTimer: null,
  thumbs: new Map(), thumbQueue: [], thumbBusy: 0, video: null,
  zoom: ZOOM_LEVELS[0], view: null, review: [], // the visible span [start, end] of the day, and its review items
};
const REVIEW_LIMIT = 100; // review items of a day drawn on the timeline (newest first)
const SPAN_LIST_MAX = 60; // rows in the list of the visible span's events
window.__rec = rec;

function recVideo() {
  if (!rec.video) {
    const v = h('video', { id: 'rec-video', controls: true, playsinline: true, preload: 'auto' });
    v.muted = true; // camera footage has no sound worth hearing, and a muted element may always play
    v.addEventListener('timeupdate', () => {
      if (!rec.playing) return;
      rec.playhead = rec.playing.mediaStart + v.currentTime;
      paintPlayhead();
    });
    v.addEventListener('ended', () => {
      const p = rec.playing;
      if (p && rec.timeline && p.mediaEnd < rec.timeline.end_ts - 1) playAt(p.mediaEnd + 0.001, { quiet: true });
    });
    rec.video = v;
  }
  return rec.video;
}

export function stopRecordings() {
  rec.video?.pause();
}

export function resetRecordings() {
  clearTimeout(rec.expTimer);
  rec.gen += 1;
  if (rec.video) { rec.video.pause(); rec.video.removeAttribute('src'); rec.video.load(); }
  Object.assign(rec, { timeline: null, tlError: null, events: [], cursor: null, exp: null, playing: null, playhead: null,
    note: null, range: null, selected: null });
}

export async function loadRecordings() {
  rec.timeline = null; // first visit or "Refresh": the day is read again
  return api('GET', '/api/v1/cameras');
}

export function renderRecordings(data) {
  const cams = data.items;
  if (!cams.length) {
    return h('div', { id: 'recordings-empty', class: 'empty-state' }, h('h2', {}, t('noCameras')), h('p', {}, t('noCamerasHint')));
  }
  const params = hashParams();
  const wantCam = params.get('camera');
  const wantDate = params.get('date');
  if (wantCam && cams.some((c) => c.id === wantCam)) rec.camera = wantCam;
  if (wantDate && /^\d{4}-\d{2}-\d{2}$/.test(wantDate)) rec.date = wantDate;
  const wantAt = Number(params.get('at')); // from a live tile: play from this moment
  if (Number.isFinite(wantAt) && wantAt > 0) { rec.date = vnParts(wantAt * 1000).day; rec.pendingAt = wantAt; rec.playhead = wantAt; rec.timeline = null; }
  if (!cams.some((c) => c.id === rec.camera)) rec.camera = cams[0].id;
  rec.date ??= todayIn(TZ);
  const today = todayIn(TZ);
  const setDay = (day) => { if (day && day <= today && day !== rec.date) { rec.date = day; loadDay(); } };
  const bar = h('div', { class: 'rec-bar' },
    h('label', { class: 'rec-field' }, h('span', {}, t('recCamera')),
      h('select', { id: 'rec-camera', onchange: (ev) => { rec.camera = ev.target.value; loadDay(); } },
        cams.map((c) => h('option', { value: c.id, selected: c.id === rec.camera }, c.name)))),
    h('div', { class: 'rec-day' },
      h('button', { id: 'rec-prev-day', type: 'button', title: t('prevDay'), 'aria-label': t('prevDay'), onclick: () => setDay(shiftDay(rec.date, -1)) }, '◀'),
      // A future or empty day is refused: the field goes back to the day shown.
      dateField('rec-date', { value: rec.date, label: t('recDay'), onchange: (day) => { setDay(day); document.getElementById('rec-date')?.setIso(rec.date); } }),
      h('button', { id: 'rec-next-day', type: 'button', title: t('nextDay'), 'aria-label': t('nextDay'), onclick: () => setDay(shiftDay(rec.date, 1)) }, '▶'),
      h('button', { id: 'rec-today', type: 'button', onclick: () => setDay(today) }, t('today'))),
    h('span', { class: 'spacer' }), h('span', { id: 'rec-summary', class: 'muted' }));
  const legend = h('div', { class: 'tl-legend' },
    [['recorded', 'legendRecorded'], ['motion', 'legendMotion'], ['outage', 'legendOutage'], ['hole', 'legendHole']]
      .map(([k, label]) => h('span', { class: `tl-key tl-key-${k}` }, h('i'), t(label))),
    h('span', { class: 'tl-key tl-key-event' }, h('i'), t('legendEvent')));
  const tl = h('div', { id: 'rec-timeline', class: 'tl', tabindex: 0, role: 'slider', 'aria-label': t('tlLabel') },
    h('div', { class: 'tl-markers' }), h('canvas', { class: 'tl-canvas' }), h('div', { class: 'tl-sel', hidden: true }),
    h('div', { class: 'tl-playhead', hidden: true }), h('div', { class: 'tl-hover', hidden: true }, h('span')),
    h('div', { class: 'tl-pop', hidden: true }));
  const hours = h('div', { id: 'rec-ticks', class: 'tl-hours' });
  const zoomBar = h('div', { id: 'rec-zoom', class: 'tl-zoom', role: 'group', 'aria-label': t('tlZoom') },
    h('button', { id: 'rec-pan-back', type: 'button', title: t('tlEarlier'), 'aria-label': t('tlEarlier'), onclick: () => pan(-1) }, '◀'),
    ZOOM_LEVELS.map((level) => h('button', { type: 'button', class: 'tl-zoom-level', 'data-zoom': level, 'aria-pressed': String(level === rec.zoom),
      onclick: () => zoomTo(level) }, t(`zoom.${level}`))),
    h('button', { id: 'rec-pan-fwd', type: 'button', title: t('tlLater'), 'aria-label': t('tlLater'), onclick: () => pan(1) }, '▶'),
    h('span', { id: 'rec-view', class: 'muted small' }));
  const spanList = h('div', { id: 'rec-span-events', class: 'tl-span-events' });
  wireTimeline(tl);
  const player = h('section', { class: 'card rec-player' },
    h('div', { class: 'rec-screen' }, recVideo(), h('div', { id: 'rec-screen-msg', class: 'rec-screen-msg' })),
    h('div', { class: 'rec-now' }, h('span', { id: 'rec-now' }), h('span', { class: 'spacer' }),
      h('button', { id: 'rec-back10', type: 'button', onclick: () => nudge(-10) }, `−10 ${t('sec')}`),
      h('button', { id: 'rec-fwd10', type: 'button', onclick: () => nudge(10) }, `+10 ${t('sec')}`)),
    h('p', { id: 'rec-note', class: 'msg info', role: 'status', hidden: true }));
  const exportCard = h('section', { id: 'rec-export', class: 'card rec-export' },
    h('h3', {}, t('exportTitle')), h('p', { class: 'muted small' }, t('exportHint')),
    h('div', { class: 'rec-exp-row' },
      h('label', {}, h('span', {}, t('exportFrom')), timeField('rec-exp-from', { seconds: true })),
      h('label', {}, h('span', {}, t('exportTo')), timeField('rec-exp-to', { seconds: true })),
      h('label', { class: 'grow' }, h('span', {}, t('exportReason')),
        h('input', { id: 'rec-exp-reason', type: 'text', maxlength: 500, placeholder: t('exportReasonHint') }))),
    h('div', { class: 'rec-exp-row' }, h('button', { id: 'rec-exp-submit', type: 'button', class: 'primary', onclick: startExport }, t('exportBtn')),
      h('div', { id: 'rec-exp-status', class: 'rec-exp-status' })));
  const filters = h('div', { class: 'ev-filters' },
    h('label', {}, h('span', {}, t('zone')), h('select', { id: 'rec-zone', onchange: (ev) => { rec.filters.zone = ev.target.value; loadEvents(true); } })),
    h('label', {}, h('span', {}, t('minDuration')), h('select', { id: 'rec-min-dur', onchange: (ev) => { rec.filters.minDuration = Number(ev.target.value); loadEvents(true); } },
      MIN_DURATIONS.map((s) => h('option', { value: s, selected: s === rec.filters.minDuration }, s ? `≥ ${span(s)}` : t('any'))))),
    h('label', {}, h('span', {}, t('minScore')), h('select', { id: 'rec-min-score', onchange: (ev) => { rec.filters.minScore = Number(ev.target.value); loadEvents(true); } },
      MIN_SCORES.map((v) => h('option', { value: v, selected: v === rec.filters.minScore }, v ? `≥ ${pctText(v)}` : t('any'))))));
  const eventsCard = h('section', { class: 'card rec-events' },
    h('div', { class: 'rec-events-head' }, h('h3', {}, t('eventsTitle')), h('span', { id: 'rec-events-count', class: 'badge' })),
    filters, h('div', { id: 'rec-events', class: 'ev-grid', 'aria-live': 'polite' }),
    h('p', { id: 'rec-events-empty', class: 'empty', hidden: true }),
    h('button', { id: 'rec-more', type: 'button', hidden: true, onclick: () => loadEvents(false) }, t('loadMore')));
  setTimeout(() => {
    if (rec.timeline && rec.timeline.camera_id === rec.camera && rec.timeline.date === rec.date) {
      paintDay();
      paintEvents();
      paintExport();
    } else loadDay();
  }, 0);
  return [bar, h('section', { class: 'card tl-card' }, legend, zoomBar, tl, hours, h('p', { class: 'muted small tl-hint' }, t('tlHint')), spanList),
    h('div', { class: 'rec-grid' }, h('div', { class: 'rec-col' }, player, exportCard), eventsCard)];
}

async function loadDay() {
  const gen = ++rec.gen;
  for (const got of rec.thumbs.values()) got.then((url) => url && URL.revokeObjectURL(url));
  Object.assign(rec, { timeline: null, tlError: null, events: [], cursor: null, range: null, selected: null, thumbs: new Map(), thumbQueue: [],
    review: [], view: null, zoom: ZOOM_LEVELS[0] });
  history.replaceState(null, '', `#/recordings?camera=${encodeURIComponent(rec.camera)}&date=${rec.date}`);
  const dateInput = document.getElementById('rec-date');
  if (dateInput) dateInput.setIso(rec.date);
  paintDay();
  paintEvents();
  try {
    const tl = await api('GET', `/api/v1/timeline?camera_id=${encodeURIComponent(rec.camera)}&date=${rec.date}`);
    if (gen !== rec.gen) return;
    rec.timeline = tl;
    rec.view = [tl.start_ts, tl.end_ts];
  } catch (err) {
    if (err.handled || gen !== rec.gen) return;
    rec.tlError = errorText(err);
  }
  paintDay();
  if (rec.timeline) loadReview(gen);
  if (rec.timeline && rec.pendingAt != null) { // from a live tile: its last minutes, zoomed in, playing
    const at = rec.pendingAt;
    rec.pendingAt = null;
    zoomTo(ZOOM_LEVELS[ZOOM_LEVELS.length - 1], at, 0.7);
    playAt(at);
  }
  if (rec.timeline) await loadEvents(true);
}

async function loadEvents(reset) {
  const tl = rec.timeline;
  if (!tl) return;
  const gen = rec.gen;
  const f = rec.filters;
  const q = new URLSearchParams({ camera_id: rec.camera, since: tl.start_ts, until: tl.end_ts, limit: EVENTS_PAGE });
  if (f.zone) q.set('zone', f.zone);
  if (f.minDuration) q.set('min_duration_s', f.minDuration);
  if (f.minScore) q.set('min_score', f.minScore);
  if (!reset && rec.cursor) q.set('cursor', rec.cursor);
  rec.evLoading = true;
  rec.evError = null;
  if (reset) { rec.events = []; rec.cursor = null; }
  paintEvents();
  try {
    const res = await api('GET', `/api/v1/events?${q}`);
    if (gen !== rec.gen) return;
    rec.events = reset ? res.items : rec.events.concat(res.items);
    rec.cursor = res.next_cursor;
  } catch (err) {
    if (err.handled || gen !== rec.gen) return;
    rec.evError = errorText(err);
  } finally {
    if (gen === rec.gen) rec.evLoading = false;
  }
  paintEvents();
}

/** The day's review items (objects seen, with their labels) for the timeline; none when the server has no queue. */
async function loadReview(gen) {
  const tl = rec.timeline;
  const q = new URLSearchParams({ camera_id: rec.camera, since: tl.start_ts, until: tl.end_ts, limit: REVIEW_LIMIT });
  if (!(await hasRoute('/api/v1/review'))) return;
  try {
    const res = await api('GET', `/api/v1/review?${q}`);
    if (gen !== rec.gen) return;
    rec.review = res.items;
  } catch {
    return; // no review queue (404) or not now: the motion events stand alone
  }
  paintMarkers();
  paintSpanEvents();
}

// ------------------------------------------------------------------------ the timeline

/** The visible span of the day: [start, end] epoch seconds. */
function view() {
  const tl = rec.timeline;
  return rec.view || [tl.start_ts, tl.end_ts];
}

function timeAt(el, clientX) {
  const [a, b] = view();
  const r = el.getBoundingClientRect();
  const f = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
  return a + f * (b - a);
}

function pct(ts) {
  const [a, b] = view();
  return ((ts - a) / (b - a)) * 100;
}

const inView = (ts) => { const [a, b] = view(); return ts >= a && ts <= b; };

/** Show ``level`` seconds of the day with ``at`` at fraction ``frac`` of the view (default: the playhead when it
 * is shown, else the middle of what is shown, centred). */
function zoomTo(level, at, frac = 0.5) {
  const tl = rec.timeline;
  if (!tl) return;
  const [a, b] = view();
  const c = at ?? (rec.playhead != null && inView(rec.playhead) ? rec.playhead : (a + b) / 2);
  rec.zoom = level;
  rec.view = spanAround(c, level, tl.start_ts, tl.end_ts, frac);
  paintZoom();
}

/** One zoom level in (+1) or out (-1), keeping the moment under ``clientX`` (wheel, pinch) where it is. */
function zoomStep(dir, clientX) {
  const el = document.getElementById('rec-timeline');
  if (!rec.timeline || !el) return;
  const i = Math.min(ZOOM_LEVELS.length - 1, Math.max(0, ZOOM_LEVELS.indexOf(rec.zoom) + dir));
  if (ZOOM_LEVELS[i] === rec.zoom) return;
  const r = el.getBoundingClientRect();
  const frac = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
  zoomTo(ZOOM_LEVELS[i], timeAt(el, clientX), frac);
}

/** Move the visible span by half its length (-1 earlier, +1 later). */
function pan(dir) {
  const tl = rec.timeline;
  if (!tl) return;
  const [a, b] = view();
  rec.view = spanAround((a + b) / 2 + dir * (b - a) / 2, rec.zoom, tl.start_ts, tl.end_ts);
  paintZoom();
}

function paintZoom() {
  paintCanvas();
  paintMarkers();
  paintSelection();
  paintPlayhead();
  paintSpanEvents();
}

/** The hour/minute labels of the visible span, as many as fit without touching (ticks() picks the step). */
function paintTicks(widthPx) {
  const row = document.getElementById('rec-ticks');
  const tl = rec.timeline;
  if (!row) return [];
  const [a, b] = tl ? view() : [0, 86400];
  const day0 = tl ? tl.start_ts : 0;
  const got = tl ? ticks(a, b, widthPx, day0) : [];
  row.replaceChildren(...got.map((k) => h('span', { style: `left:${k.frac * 100}%`, 'data-ts': k.ts }, k.label)));
  for (const btn of document.querySelectorAll('#rec-zoom .tl-zoom-level')) btn.setAttribute('aria-pressed', String(Number(btn.dataset.zoom) === rec.zoom));
  const label = document.getElementById('rec-view');
  if (label) label.textContent = tl ? `${clock(a, false)} – ${b >= tl.end_ts ? '24:00' : clock(b, false)}` : '';
  const el = document.getElementById('rec-timeline');
  if (el) el.dataset.zoom = String(rec.zoom);
  return got;
}

/** The visible span's motion events and review items (with their objects), in time order. */
function spanItems() {
  const tl = rec.timeline;
  if (!tl) return [];
  const [a, b] = view();
  const motion = tl.events.filter((e) => e.start_ts <= b && (e.end_ts ?? tl.now_ts) >= a).map((e) => ({ kind: 'motion', ts: e.start_ts, e }));
  const objects = rec.review.filter((r) => r.start_at <= b && (r.end_at ?? r.start_at) >= a).map((r) => ({ kind: 'object', ts: r.start_at, r }));
  return [...motion, ...objects].sort((x, y) => x.ts - y.ts);
}

function paintSpanEvents() {
  const box = document.getElementById('rec-span-events');
  if (!box) return;
  const tl = rec.timeline;
  if (!tl) { box.replaceChildren(); return; }
  const items = spanItems();
  const [a, b] = view();
  const nMotion = items.filter((i) => i.kind === 'motion').length;
  const head = h('p', { id: 'rec-span-summary', class: 'small' }, t('spanSummary', {
    from: clock(a, false), to: b >= tl.end_ts ? '24:00' : clock(b, false), m: nMotion, o: items.length - nMotion }));
  // The whole day's list is the events card below: rows here only once zoomed in.
  const rows = rec.zoom < ZOOM_LEVELS[0] ? items.slice(0, SPAN_LIST_MAX).map((i) => {
    const at = clock(i.ts);
    if (i.kind === 'motion') {
      return h('li', {}, h('button', { type: 'button', class: 'span-ev motion', 'data-event-id': i.e.id, onclick: () => selectEvent(i.e) },
        h('time', {}, at), ' ', h('span', { class: 'span-kind' }, t('legendMotion')), ' ', h('small', { class: 'muted' }, eventFacts(i.e))));
    }
    return h('li', {}, h('button', { type: 'button', class: `span-ev object ${i.r.kind}`, 'data-review-id': i.r.id,
      onclick: () => playAt(i.r.start_at - PREROLL_S) },
    h('time', {}, at), ' ', i.r.labels.map((l) => h('span', { class: 'rev-chip label', 'data-label': l }, tOr(`obj.${l}`, l))),
    i.r.zones.length ? h('small', { class: 'muted' }, ` ${i.r.zones.join(', ')}`) : null));
  }) : [];
  box.replaceChildren(head, ...(rows.length ? [h('ol', { class: 'span-list' }, rows)] : [])); // (replaceChildren prints a null)
}

function wireTimeline(el) {
  let down = null;
  const gestures = wireZoomGestures(el, zoomStep);
  const hover = el.querySelector('.tl-hover');
  el.addEventListener('pointermove', (ev) => {
    if (!rec.timeline || ev.target.closest('.tl-event')) { hover.hidden = true; return; }
    const ts = timeAt(el, ev.clientX);
    hover.hidden = false;
    hover.style.left = `${pct(ts)}%`;
    hover.firstChild.textContent = clock(ts);
    if (down && gestures.pinching()) { down = null; return; } // two fingers zoom, they do not select
    if (down && Math.abs(ev.clientX - down.x) > DRAG_PX) {
      down.drag = true;
      rec.range = [Math.min(down.ts, ts), Math.max(down.ts, ts)];
      paintSelection();
    }
  });
  el.addEventListener('pointerleave', () => { hover.hidden = true; });
  el.addEventListener('pointerdown', (ev) => {
    if (!rec.timeline || ev.button !== 0 || ev.target.closest('.tl-event')) return;
    down = { x: ev.clientX, ts: timeAt(el, ev.clientX), drag: false };
    el.setPointerCapture(ev.pointerId);
  });
  el.addEventListener('pointerup', (ev) => {
    if (!down) return;
    const d = down;
    down = null;
    if (d.drag) { fillExport(rec.range[0], rec.range[1]); return; }
    playAt(timeAt(el, ev.clientX));
  });
  el.addEventListener('keydown', (ev) => {
    if (!rec.timeline || !['ArrowLeft', 'ArrowRight', 'Enter'].includes(ev.key)) return;
    ev.preventDefault();
    const from = rec.playhead ?? rec.timeline.start_ts;
    playAt(ev.key === 'Enter' ? from : from + (ev.key === 'ArrowLeft' ? -60 : 60));
  });
  new ResizeObserver(() => paintCanvas()).observe(el);
}

function paintDay() {
  const el = document.getElementById('rec-timeline');
  if (!el) return;
  const tl = rec.timeline;
  el.dataset.state = tl ? 'ready' : rec.tlError ? 'error' : 'loading';
  const summary = document.getElementById('rec-summary');
  if (summary) {
    if (!tl) summary.textContent = rec.tlError || t('loading');
    else {
      const recorded = tl.buckets.recorded.reduce((a, b) => a + b, 0) * tl.buckets.size_s;
      const outages = tl.gaps.filter((g) => g.kind === 'outage').length;
      summary.textContent = [t('recSummaryEvents', { n: tl.events.length + (tl.events_truncated ? '+' : '') }),
        t('recSummaryRecorded', { d: span(recorded) }), outages ? t('recSummaryOutages', { n: outages }) : null].filter(Boolean).join(' · ');
    }
  }
  const zoneSel = document.getElementById('rec-zone');
  if (zoneSel) {
    const zones = tl ? [...new Set(tl.events.flatMap((e) => e.zones))].sort() : [];
    if (rec.filters.zone && !zones.includes(rec.filters.zone)) zones.unshift(rec.filters.zone);
    zoneSel.replaceChildren(h('option', { value: '' }, t('allZones')),
      ...zones.map((z) => h('option', { value: z, selected: z === rec.filters.zone }, z)));
  }
  paintCanvas();
  paintMarkers();
  paintSelection();
  paintPlayhead();
  paintNote();
  paintSpanEvents();
}

let hatch = null;
function hatchPattern(ctx) {
  if (!hatch) {
    const c = document.createElement('canvas');
    c.width = c.height = 8;
    const g = c.getContext('2d');
    g.fillStyle = '#dde3ea';
    g.fillRect(0, 0, 8, 8);
    g.strokeStyle = TL_COLORS.hole;
    g.lineWidth = 2;
    g.beginPath(); g.moveTo(0, 8); g.lineTo(8, 0); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6); g.stroke();
    hatch = c;
  }
  return ctx.createPattern(hatch, 'repeat');
}

function paintCanvas() {
  const canvas = document.querySelector('#rec-timeline .tl-canvas');
  if (!canvas) return;
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const hgt = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== hgt) { canvas.width = w; canvas.height = hgt; }
  const ctx = canvas.getContext('2d');
  ctx.globalAlpha = 1;
  ctx.fillStyle = TL_COLORS.empty;
  ctx.fillRect(0, 0, w, hgt);
  const tl = rec.timeline;
  if (!tl) { paintTicks(canvas.clientWidth); return; }
  const [v0, v1] = view();
  const x = (ts) => ((ts - v0) / (v1 - v0)) * w;
  const { recorded, activity, count } = tl.buckets;
  const size = tl.buckets.size_s ?? (tl.end_ts - tl.start_ts) / count;
  const bx = (i) => x(tl.start_ts + i * size); // a bucket's left edge, in canvas pixels
  const bw = (size / (v1 - v0)) * w;
  const first = Math.max(0, Math.floor((v0 - tl.start_ts) / size));
  const last = Math.min(count, Math.ceil((v1 - tl.start_ts) / size)); // only the buckets of the visible span
  ctx.fillStyle = TL_COLORS.recorded;
  for (let i = first; i < last; i += 1) {
    if (recorded[i] <= 0) continue;
    ctx.globalAlpha = 0.35 + 0.65 * recorded[i];
    ctx.fillRect(Math.floor(bx(i)), 0, Math.ceil(bw) + 0.5, hgt);
  }
  ctx.globalAlpha = 1;
  for (const g of tl.gaps) {
    const x0 = x(g.start_ts);
    const gw = Math.max(2 * dpr, x(g.end_ts) - x0);
    if (g.kind === 'outage') {
      ctx.fillStyle = TL_COLORS.outage;
      ctx.fillRect(x0, 0, gw, hgt);
    } else {
      ctx.fillStyle = hatchPattern(ctx);
      ctx.fillRect(x0, 0, gw, hgt);
    }
  }
  ctx.fillStyle = TL_COLORS.motion;
  for (let i = first; i < last; i += 1) {
    const a = activity[i];
    if (a <= 0) continue;
    const bh = Math.max(2 * dpr, level(a) * hgt * 0.85);
    ctx.fillRect(Math.floor(bx(i)), hgt - bh, Math.max(1, Math.ceil(bw) - (bw > 6 * dpr ? dpr : 0)), bh);
  }
  if (tl.now_ts < tl.end_ts) {
    const xn = Math.max(0, x(tl.now_ts));
    ctx.fillStyle = TL_COLORS.future;
    ctx.fillRect(xn, 0, w - xn, hgt);
    ctx.fillStyle = TL_COLORS.outage;
    ctx.fillRect(xn - dpr, 0, 2 * dpr, hgt);
  }
  ctx.strokeStyle = 'rgba(28, 36, 48, .25)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const k of paintTicks(canvas.clientWidth)) { const xk = Math.round(k.frac * w) + 0.5; ctx.moveTo(xk, 0); ctx.lineTo(xk, hgt); }
  ctx.stroke();
}

function paintMarkers() {
  const lane = document.querySelector('#rec-timeline .tl-markers');
  if (!lane) return;
  const tl = rec.timeline;
  if (!tl) { lane.replaceChildren(); return; }
  const [v0, v1] = view();
  const visible = (a, b) => a <= v1 && (b ?? a) >= v0;
  const shown = tl.events.filter((e) => visible(e.start_ts, e.end_ts ?? tl.now_ts))
    .sort((a, b) => b.peak_score - a.peak_score).slice(0, MAX_MARKERS).sort((a, b) => a.start_ts - b.start_ts);
  const markers = shown.map((e) => {
    const label = t('eventAt', { t: clock(Math.max(e.start_ts, tl.start_ts)) });
    const m = h('button', { type: 'button', class: `tl-event${e.id === rec.selected ? ' selected' : ''}`, 'data-event-id': e.id,
      style: `left:${Math.max(0, pct(e.start_ts))}%`, title: label, 'aria-label': label,
      onclick: () => selectEvent(e), onpointerenter: () => showPop(e, m), onpointerleave: hidePop, onfocus: () => showPop(e, m), onblur: hidePop });
    return m;
  });
  // Objects seen (review items): a marker of their own, named by what was seen.
  const objects = rec.review.filter((r) => visible(r.start_at, r.end_at)).map((r) => {
    const what = r.labels.map((l) => tOr(`obj.${l}`, l)).join(', ');
    const label = t('objectsAt', { what, t: clock(Math.max(r.start_at, tl.start_ts)) });
    return h('button', { type: 'button', class: `tl-obj ${r.kind}`, 'data-review-id': r.id, 'data-labels': r.labels.join(' '),
      style: `left:${Math.max(0, pct(r.start_at))}%`, title: label, 'aria-label': label, onclick: () => playAt(r.start_at - PREROLL_S) });
  });
  lane.replaceChildren(...markers, ...objects);
}

function showPop(e, marker) {
  const pop = document.querySelector('#rec-timeline .tl-pop');
  if (!pop) return;
  const img = h('img', { alt: '' });
  pop.replaceChildren(e.thumbnail_url ? img : h('div', { class: 'ev-nothumb' }, t('noThumb')),
    h('strong', {}, clock(e.start_ts)), h('small', {}, eventFacts(e)));
  pop.style.left = marker.style.left;
  pop.hidden = false;
  if (e.thumbnail_url) thumb(e, img);
}

function hidePop() {
  const pop = document.querySelector('#rec-timeline .tl-pop');
  if (pop) pop.hidden = true;
}

function paintSelection() {
  const sel = document.querySelector('#rec-timeline .tl-sel');
  if (!sel) return;
  const r = rec.range;
  sel.hidden = !(r && rec.timeline);
  if (!sel.hidden) {
    const a = Math.max(0, pct(r[0]));
    const b = Math.min(100, pct(r[1]));
    sel.hidden = b < 0 || a > 100;
    sel.style.left = `${a}%`;
    sel.style.width = `${Math.max(0.1, b - a)}%`;
  }
}

function paintPlayhead() {
  const ph = document.querySelector('#rec-timeline .tl-playhead');
  const tl = rec.timeline;
  const at = rec.playhead;
  if (ph) {
    ph.hidden = !(tl && at != null && inView(at));
    if (!ph.hidden) ph.style.left = `${pct(at)}%`;
  }
  const now = document.getElementById('rec-now');
  if (now) now.textContent = at != null && rec.playing ? t('playing', { t: clock(at) }) : t('pickToPlay');
}

function paintNote() {
  const note = document.getElementById('rec-note');
  if (!note) return;
  note.textContent = rec.note || '';
  note.hidden = !rec.note;
}

// ------------------------------------------------------------------------ playback

async function playAt(ts, { quiet = false } = {}) {
  const tl = rec.timeline;
  if (!tl) return;
  let at = Math.min(Math.max(ts, tl.start_ts), tl.end_ts);
  // Outside the footage: start at the next recorded moment of the day.
  if (!tl.spans.some((s) => s.start_ts <= at && at < s.end_ts)) {
    const next = tl.spans.find((s) => s.start_ts > at);
    if (!next) {
      if (!quiet) { rec.note = t('noFootageAt', { t: clock(at) }); paintNote(); }
      return;
    }
    at = next.start_ts;
  }
  const gen = rec.gen;
  const cam = rec.camera;
  const video = recVideo();
  video.pause(); // the old footage must not move the playhead while the new range is prepared
  rec.playing = null;
  rec.note = null;
  rec.playhead = at;
  paintNote();
  paintPlayhead();
  try {
    const res = await api('POST', `/api/v1/cameras/${encodeURIComponent(cam)}/playback`,
      { start: at, end: Math.min(at + PLAY_WINDOW_S, tl.end_ts), stream: 'main' });
    if (gen !== rec.gen) return;
    rec.playing = { camera: cam, want: at, mediaStart: res.media_start, mediaEnd: res.media_end };
    video.dataset.start = String(at);
    video.addEventListener('loadedmetadata', () => {
      video.currentTime = Math.max(0, at - res.media_start);
      video.play().catch(() => {});
    }, { once: true });
    video.src = res.url;
  } catch (err) {
    if (err.handled || gen !== rec.gen) return;
    rec.note = err.status === 404 ? t('noFootageAt', { t: clock(at) }) : t('playFailed', { m: errorText(err) });
    paintNote();
  }
}

function nudge(seconds) {
  const v = rec.video;
  const p = rec.playing;
  if (!v || !p) return;
  const target = p.mediaStart + v.currentTime + seconds;
  if (target >= p.mediaStart && target <= p.mediaEnd) v.currentTime = target - p.mediaStart;
  else playAt(target);
}

function selectEvent(e) {
  rec.selected = e.id;
  document.querySelectorAll('.tl-event.selected, .ev-card.selected').forEach((el) => el.classList.remove('selected'));
  document.querySelectorAll(`[data-event-id="${e.id}"]`).forEach((el) => el.classList.add('selected'));
  const tl = rec.timeline;
  const end = e.end_ts ?? (tl ? Math.min(tl.now_ts, tl.end_ts) : e.start_ts + 60);
  fillExport(e.start_ts - EVENT_PAD_S, end + EVENT_PAD_S);
  playAt(e.start_ts - PREROLL_S);
}

// ------------------------------------------------------------------------ events

function eventFacts(e) {
  const parts = [e.duration_s == null ? t('eventOpen') : span(e.duration_s), t('scorePct', { n: pctText(e.peak_score) })];
  if (e.zones.length) parts.push(e.zones.join(', '));
  return parts.join(' · ');
}

function paintEvents() {
  const grid = document.getElementById('rec-events');
  if (!grid) return;
  const count = document.getElementById('rec-events-count');
  const tl = rec.timeline;
  if (count) count.textContent = tl ? t('eventsOfDay', { n: tl.events.length + (tl.events_truncated ? '+' : '') }) : '…';
  grid.replaceChildren(...rec.events.map((e) => {
    const img = h('img', { alt: t('eventAt', { t: clock(e.start_ts) }) });
    const card = h('article', { class: `ev-card${e.id === rec.selected ? ' selected' : ''}`, 'data-event-id': e.id, tabindex: 0, role: 'button',
      title: t('playEvent'), onclick: () => selectEvent(e),
      onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); selectEvent(e); } } },
    h('div', { class: 'ev-thumb' }, e.thumbnail_url ? img : h('div', { class: 'ev-nothumb' }, t('noThumb')),
      h('time', { datetime: e.start_at }, clock(e.start_ts))),
    h('div', { class: 'ev-meta' },
      h('div', { class: 'ev-score', title: t('scorePct', { n: pctText(e.peak_score) }) }, h('i', { style: `width:${Math.round(level(e.peak_score) * 100)}%` })),
      h('div', { class: 'ev-line' }, h('span', {}, e.duration_s == null ? t('eventOpen') : span(e.duration_s)),
        h('span', { class: 'muted' }, pctText(e.peak_score))),
      e.zones.length ? h('div', { class: 'ev-zones' }, e.zones.map((z) => h('span', { class: 'ev-zone' }, z))) : null));
    if (e.thumbnail_url) thumb(e, img);
    return card;
  }));
  const empty = document.getElementById('rec-events-empty');
  empty.textContent = rec.evError || (rec.evLoading ? t('loading') : t('noEvents'));
  empty.classList.toggle('error', Boolean(rec.evError));
  empty.hidden = rec.events.length > 0 && !rec.evError;
  const more = document.getElementById('rec-more');
  more.hidden = !rec.cursor;
  more.disabled = rec.evLoading;
}

/** Show an event's thumbnail in ``img``: fetched once with the token (few at a time), kept as an object URL. */
function thumb(e, img) {
  let got = rec.thumbs.get(e.id);
  if (!got) {
    const gen = rec.gen;
    got = new Promise((resolve) => {
      rec.thumbQueue.push(async () => {
        if (gen !== rec.gen) { resolve(null); return; }
        try {
          const resp = await api('GET', e.thumbnail_url, undefined, { raw: true });
          resolve(URL.createObjectURL(await resp.blob()));
        } catch {
          resolve(null);
        }
      });
      pumpThumbs();
    });
    rec.thumbs.set(e.id, got);
  }
  got.then((url) => { if (url) img.src = url; });
}

function pumpThumbs() {
  while (rec.thumbBusy < THUMB_LIMIT && rec.thumbQueue.length) {
    const job = rec.thumbQueue.shift();
    rec.thumbBusy += 1;
    job().finally(() => { rec.thumbBusy -= 1; pumpThumbs(); });
  }
}

// ------------------------------------------------------------------------ export

const hms = (ts) => new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })
  .format(new Date(ts * 1000));

function fillExport(start, end) {
  const tl = rec.timeline;
  if (!tl) return;
  const from = document.getElementById('rec-exp-from');
  const to = document.getElementById('rec-exp-to');
  if (!from || !to) return;
  from.setIso(hms(Math.max(start, tl.start_ts)));
  to.setIso(hms(Math.min(end, tl.end_ts - 1)));
  rec.range = [Math.max(start, tl.start_ts), Math.min(end, tl.end_ts - 1)];
  paintSelection();
}

function dayTime(value) {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value || '');
  if (!m || !rec.timeline) return null;
  return rec.timeline.start_ts + Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] || 0);
}

async function startExport() {
  const status = document.getElementById('rec-exp-status');
  const start = dayTime(document.getElementById('rec-exp-from').iso);
  const end = dayTime(document.getElementById('rec-exp-to').iso);
  const reason = document.getElementById('rec-exp-reason').value.trim();
  const fail = (msg) => { status.replaceChildren(h('span', { class: 'msg error inline' }, msg)); };
  if (start == null || end == null || end <= start) return fail(t('exportBadRange'));
  if (!reason) { document.getElementById('rec-exp-reason').focus(); return fail(t('exportNeedReason')); }
  const btn = document.getElementById('rec-exp-submit');
  btn.disabled = true;
  try {
    rec.exp = await api('POST', '/api/v1/exports', { camera_id: rec.camera, start, end, reason });
    paintExport();
    pollExport(rec.exp.id);
  } catch (err) {
    if (!err.handled) fail(errorText(err));
  } finally {
    btn.disabled = false;
  }
}

function pollExport(id) {
  clearTimeout(rec.expTimer);
  rec.expTimer = setTimeout(async () => {
    if (!rec.exp || rec.exp.id !== id || !state.token) return;
    try {
      rec.exp = await api('GET', `/api/v1/exports/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.handled) return;
    }
    paintExport();
    if (rec.exp && ['queued', 'running'].includes(rec.exp.status)) pollExport(id);
  }, EXPORT_POLL_MS);
}

function paintExport() {
  const status = document.getElementById('rec-exp-status');
  const x = rec.exp;
  if (!status || !x) return;
  status.dataset.status = x.status;
  const range = `${clock(Date.parse(x.start_at) / 1000)} – ${clock(Date.parse(x.end_at) / 1000)}`;
  if (x.status === 'failed') {
    status.replaceChildren(h('span', { class: 'msg error inline' }, t('exportFailed', { m: x.error || '' })));
    return;
  }
  if (x.status !== 'done') {
    const p = Math.round((x.progress || 0) * 100);
    status.replaceChildren(h('progress', { id: 'rec-exp-progress', max: 100, value: p }),
      h('span', {}, x.status === 'queued' ? t('exportQueued') : t('exportRunning', { p: fmtPct(p, 0) })), h('small', { class: 'muted' }, range));
    return;
  }
  status.replaceChildren(
    h('progress', { id: 'rec-exp-progress', max: 100, value: 100 }),
    h('span', { class: 'exp-done' }, '✓ ', t('exportDone'), x.bytes ? ` (${fmtSize(x.bytes)})` : ''),
    h('button', { id: 'rec-exp-download', type: 'button', class: 'primary', onclick: (ev) => downloadExport(x, ev.currentTarget) }, `⬇ ${t('download')}`),
    h('div', { class: 'exp-hash' }, h('span', { class: 'muted' }, `${t('sha256')}: `), h('code', { id: 'rec-exp-sha256' }, x.sha256 || '—')));
}

async function downloadExport(x, btn) {
  btn.disabled = true;
  try {
    const link = await api('POST', `/api/v1/exports/${encodeURIComponent(x.id)}/link`);
    const a = h('a', { href: link.url, download: '', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    if (!err.handled) btn.after(h('span', { class: 'msg error inline' }, errorText(err)));
  } finally {
    btn.disabled = false;
  }
}
