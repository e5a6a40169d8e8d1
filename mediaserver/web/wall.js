// The camera wall: one WebRTC view of each camera's sub stream per tile (the server passes the camera's
// H.264 through, the browser decodes it), and a large view of one camera's main stream with PTZ controls.
// Views are closed (DELETE) when the section is left, on logout and on pagehide. Tiles scrolled out of
// sight (or a hidden tab) give their view back after SUSPEND_MS, so a wall of 16+ cameras only decodes
// what is on screen. window.__wall exposes the views for tests.
import { addStrings, state, hooks, t, tOr, h, api, apiPaths, go, hashParams, fmt, DATE_TIME, fmtDateTime } from './core.js';
import { presetsBox, ptzErrorText } from './ptz.js';
import { localGroups, editGroups } from './wall-groups.js';
import { refresh as refreshAlarms } from './alarms.js';
import { unreviewedOf } from './review.js';

const I18N = {
  vi: {
    camDiskFull: 'Không ghi được: đĩa đầy', camToReview: '{n} chưa xem', wallSummary: '{live}/{n} camera đang phát trực tiếp', wallHint: 'Nhấn vào một camera để xem luồng chính và điều khiển.',
    camConnecting: 'Đang kết nối…', camLive: 'Trực tiếp', camOffline: 'Camera mất kết nối', camOfflineSince: 'từ {t}',
    camReplay: '⏪ Xem lại 1 phút trước', actMotion: 'Chuyển động', allCameras: 'Tất cả camera', wallFullscreen: '⛶ Toàn màn hình',
    camNeedsTranscode: 'Camera gửi H.265: trình duyệt không phát trực tiếp được',
    camTranscodeHint: 'Có thể xem qua chuyển mã (5 hình/giây, tốn CPU máy chủ)', camTranscodeBtn: 'Xem qua chuyển mã',
    camRetryIn: 'Tự động thử lại sau {n} giây', camFailed: 'Không xem được camera',
    camStalled: 'Mất tín hiệu hình, đang kết nối lại', camTooMany: 'Máy chủ đang phục vụ quá nhiều luồng xem',
    camPaused: 'Tạm dừng khi không hiển thị', camOpen: 'Xem luồng chính', mainStream: 'Luồng chính', snapshot: 'Chụp ảnh',
    snapshotFailed: 'Không chụp được ảnh: {m}', ptz: 'Điều khiển PTZ', 'ptz.up': 'Lên', 'ptz.down': 'Xuống',
    'ptz.left': 'Sang trái', 'ptz.right': 'Sang phải', 'ptz.zoomIn': 'Phóng to', 'ptz.zoomOut': 'Thu nhỏ', 'ptz.stop': 'Dừng',
    'ptz.presets': 'Vị trí đặt sẵn', 'ptz.preset': 'Vị trí {n}', ptzFailed: 'Không điều khiển được camera: {m}',
  },
  en: {
    camDiskFull: 'Not recording: disk full', camToReview: '{n} to review', wallSummary: '{live}/{n} cameras live', wallHint: 'Click a camera for its main stream and controls.',
    camConnecting: 'Connecting…', camLive: 'Live', camOffline: 'Camera disconnected', camOfflineSince: 'since {t}',
    camReplay: '⏪ Replay from 1 min ago', actMotion: 'Motion', allCameras: 'All cameras', wallFullscreen: '⛶ Full screen',
    camRetryIn: 'Retrying in {n} s', camNeedsTranscode: 'Camera sends H.265, which browsers cannot play live',
    camTranscodeHint: 'You can watch it through a transcode (5 frames/s, uses server CPU)',
    camTranscodeBtn: 'Watch via transcode', camFailed: 'Cannot show this camera', camStalled: 'Picture lost, reconnecting',
    camTooMany: 'The server has too many live views open', camPaused: 'Paused while not visible', camOpen: 'Open the main stream',
    mainStream: 'Main stream', snapshot: 'Snapshot', snapshotFailed: 'Snapshot failed: {m}', ptz: 'PTZ control', 'ptz.up': 'Up',
    'ptz.down': 'Down', 'ptz.left': 'Left', 'ptz.right': 'Right', 'ptz.zoomIn': 'Zoom in', 'ptz.zoomOut': 'Zoom out',
    'ptz.stop': 'Stop', 'ptz.presets': 'Presets', 'ptz.preset': 'Preset {n}', ptzFailed: 'Camera control failed: {m}',
  },
};

addStrings(I18N);

const SUSPEND_MS = 15000;
const NOT_STREAMING_RETRY_MS = 5000;
const SETUP_LIMIT = 4; // view set-ups in flight at once: the server builds one peer connection per view
const ICE_WAIT_MS = 2000;
const WATCHDOG_MS = 4000;
const STALL_CHECKS = 2; // watchdog rounds without a received byte before a view is re-opened
const FIRST_FRAME_MS = 15000;
const REPLAY_BACK_S = 60; // a tile's replay button opens the recordings this long before now
const CAMERA_POLL_MS = 5000; // the wall re-reads the camera list (activity badges, offline since) this often

let setupBusy = 0;
const setupQueue = [];
function setupSlot() {
  return new Promise((resolve) => {
    const take = () => {
      setupBusy += 1;
      let done = false;
      resolve(() => {
        if (done) return;
        done = true;
        setupBusy -= 1;
        setupQueue.shift()?.();
      });
    };
    if (setupBusy < SETUP_LIMIT) take(); else setupQueue.push(take);
  });
}

function iceGathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

function dropView(viewId) {
  if (!viewId || !state.token) return Promise.resolve(); // an unanswered view expires on the server by itself
  return fetch(`/api/v1/cameras/views/${encodeURIComponent(viewId)}`, {
    method: 'DELETE', keepalive: true, headers: { Authorization: `Bearer ${state.token}` },
  }).catch(() => {});
}

function camVideo() {
  const v = h('video', { autoplay: true, muted: true, playsinline: true, disablepictureinpicture: true });
  v.muted = true; // the attribute alone does not mute a script-made element, and autoplay needs it
  return v;
}

/** One live view of one camera stream into one <video>, reconnecting by itself. */
class Viewer {
  constructor(cameraId, kind, video, { onChange, wanted } = {}) {
    Object.assign(this, { cameraId, kind, video, onChange, wanted: wanted || (() => true), transcode: false });
    Object.assign(this, { pc: null, viewId: null, stream: null, state: 'connecting', msg: ['camConnecting'], detail: null });
    Object.assign(this, { gen: 0, pending: false, timer: null, attempt: 0, answeredAt: 0, lastBytes: -1, stalls: 0 });
    video.addEventListener('playing', () => { if (this.pc) { this.attempt = 0; this.set('live'); } });
  }

  get busy() { return Boolean(this.pc || this.pending || this.timer); }

  set(st, msg = null, detail = null) {
    Object.assign(this, { state: st, msg, detail });
    this.onChange?.(this);
  }

  async connect() {
    clearTimeout(this.timer);
    this.timer = null;
    const gen = ++this.gen;
    this.pending = true;
    if (this.state === 'idle' || this.state === 'connecting') this.set('connecting', ['camConnecting']); // else keep the reason shown
    const release = await setupSlot();
    try {
      if (gen !== this.gen) return;
      const offer = await api('POST', `/api/v1/cameras/${encodeURIComponent(this.cameraId)}/views`, { stream: this.kind, transcode: this.transcode });
      if (gen !== this.gen) { dropView(offer.view_id); return; }
      const pc = new RTCPeerConnection();
      Object.assign(this, { pc, viewId: offer.view_id, lastBytes: -1, stalls: 0, answeredAt: 0 });
      pc.ontrack = (ev) => {
        if (gen !== this.gen) return;
        this.stream = ev.streams[0] || new MediaStream([ev.track]);
        this.video.srcObject = this.stream;
        this.video.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => {
        if (gen === this.gen && pc.connectionState === 'failed') this.fail({ code: 'ice_failed', message: 'ICE failed' });
      };
      await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await iceGathered(pc, ICE_WAIT_MS);
      if (gen !== this.gen) return;
      await api('POST', `/api/v1/cameras/views/${encodeURIComponent(offer.view_id)}/answer`, { sdp: pc.localDescription.sdp });
      if (gen === this.gen) this.answeredAt = performance.now();
    } catch (err) {
      if (gen === this.gen && !err.handled) this.fail(err);
    } finally {
      if (gen === this.gen) this.pending = false;
      release();
    }
  }

  fail(err) {
    this.gen += 1; // a set-up still in flight for the failed view gives up
    this.teardown();
    this.pending = false;
    if (err.code === 'not_streaming' || err.code === 'camera_offline') { // no picture to show: say so, try later
      this.attempt = 0;
      this.set('offline', ['camOffline'], ['camRetryIn', { n: NOT_STREAMING_RETRY_MS / 1000 }]);
      return this.retry(NOT_STREAMING_RETRY_MS);
    }
    if (err.status === 403) return this.set('error', ['forbidden']); // retrying cannot help
    // H.265: only an explicit, costly transcode shows it; staff choose it on the tile (transcodeButton).
    if (err.code === 'needs_transcode') return this.set('transcode', ['camNeedsTranscode'], ['camTranscodeHint']);
    const delay = Math.min(30000, 2000 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
    this.attempt = Math.min(this.attempt + 1, 5);
    const what = err.code === 'stalled' ? ['camStalled'] : err.code === 'too_many_views' ? ['camTooMany']
      : err.code === 'network' ? ['network'] : ['camFailed'];
    this.set('error', what, ['camRetryIn', { n: Math.round(delay / 1000) }]);
    return this.retry(delay);
  }

  retry(ms) {
    const gen = this.gen;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (gen !== this.gen) return;
      if (this.wanted()) this.connect(); else this.set('idle', ['camPaused']);
    }, ms);
  }

  teardown() {
    const { pc, viewId } = this;
    Object.assign(this, { pc: null, viewId: null, stream: null });
    if (pc) { pc.ontrack = null; pc.onconnectionstatechange = null; pc.close(); }
    if (this.video.srcObject) this.video.srcObject = null;
    return dropView(viewId);
  }

  stop(msg = null) {
    this.gen += 1;
    clearTimeout(this.timer);
    Object.assign(this, { timer: null, pending: false, attempt: 0 });
    const closed = this.teardown();
    this.set('idle', msg);
    return closed;
  }

  /** Watchdog round: re-open a view that stopped receiving, or never showed a picture. */
  async check() {
    const { pc, gen } = this;
    if (!pc || !this.answeredAt) return;
    let bytes = 0;
    try {
      (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') bytes += s.bytesReceived || 0; });
    } catch { return; }
    if (gen !== this.gen) return;
    this.stalls = bytes === this.lastBytes ? this.stalls + 1 : 0;
    this.lastBytes = bytes;
    const noPicture = this.state !== 'live' && performance.now() - this.answeredAt > FIRST_FRAME_MS;
    if (this.stalls >= STALL_CHECKS || noPicture) this.fail({ code: 'stalled', message: 'no media' });
  }

  /** Resume a <video> that was paused by being moved in the document (a re-render). */
  resume() { if (this.video.srcObject && this.video.paused) this.video.play().catch(() => {}); }
}

export const wall = {
  entries: new Map(), // camera id → {cam, tile, viewer, visible, suspendTimer}
  views: new Map(), // camera id → the tile's Viewer ({pc, viewId, stream, kind, state})
  main: null, // {cam, viewer, el, ptz, snapshot}
  io: null, watchdog: null, summary: null, caps: null,

  /** Close every view; resolves when the server has been told (or could not be). */
  stop() {
    const closing = [...this.entries.values()].map((e) => { clearTimeout(e.suspendTimer); return e.viewer.stop(); });
    this.entries.clear();
    this.views.clear();
    closing.push(this.closeMain());
    this.io?.disconnect();
    this.io = null;
    clearInterval(this.watchdog);
    this.watchdog = null;
    clearInterval(this.poll);
    this.poll = null;
    return Promise.all(closing);
  },

  wanted(e) { return e.visible && !document.hidden; },

  reconsider(e) {
    if (this.wanted(e)) {
      clearTimeout(e.suspendTimer);
      e.suspendTimer = null;
      if (!e.viewer.busy) e.viewer.connect();
    } else if (e.viewer.busy && !e.suspendTimer) {
      e.suspendTimer = setTimeout(() => {
        e.suspendTimer = null;
        if (!this.wanted(e)) e.viewer.stop(['camPaused']);
      }, SUSPEND_MS);
    }
  },

  start() {
    if (this.watchdog) return;
    this.poll = setInterval(async () => {
      if (document.hidden || !this.entries.size || !state.token) return;
      try {
        for (const c of (await api('GET', '/api/v1/cameras')).items) {
          const e = this.entries.get(c.id);
          if (e) { e.cam = c; paintTile(e); }
        }
      } catch { /* the next round tries again */ }
    }, CAMERA_POLL_MS);
    this.watchdog = setInterval(() => {
      if (document.hidden) return;
      for (const e of this.entries.values()) e.viewer.check();
      this.main?.viewer.check();
    }, WATCHDOG_MS);
    if ('IntersectionObserver' in window) {
      this.io = new IntersectionObserver((records) => {
        for (const r of records) {
          const e = this.entries.get(r.target.dataset.cameraId);
          if (e && e.tile === r.target) { e.visible = r.isIntersecting; this.reconsider(e); }
        }
      }, { rootMargin: '200px' });
    }
  },

  render(cams) {
    this.start();
    const ids = new Set(cams.map((c) => c.id));
    for (const [id, e] of this.entries) {
      if (!ids.has(id)) {
        clearTimeout(e.suspendTimer);
        e.viewer.stop();
        this.io?.unobserve(e.tile);
        this.entries.delete(id);
        this.views.delete(id);
      }
    }
    if (this.main && !ids.has(this.main.cam.id)) this.closeMain();
    const tiles = cams.map((cam) => {
      let e = this.entries.get(cam.id);
      if (!e) {
        e = this.newEntry(cam);
        this.entries.set(cam.id, e);
        this.views.set(cam.id, e.viewer);
      }
      e.cam = cam;
      paintTile(e);
      return e.tile;
    });
    this.summary = h('span', { id: 'wall-summary', class: 'badge' });
    this.paintSummary();
    const grid = h('div', { id: 'camera-wall', class: `camera-wall${cams.length > 9 ? ' dense' : ''}`, 'data-count': cams.length }, tiles);
    setTimeout(() => {
      for (const e of this.entries.values()) {
        e.viewer.resume();
        if (this.io) this.io.observe(e.tile); else { e.visible = true; this.reconsider(e); }
      }
      this.main?.viewer.resume();
    }, 0);
    return [h('div', { class: 'wall-bar' }, this.summary, h('span', { class: 'muted' }, t('wallHint'))), grid,
      this.main && mainChrome(this.main)];
  },

  newEntry(cam) {
    const video = camVideo();
    const e = { cam, visible: !('IntersectionObserver' in window), suspendTimer: null };
    e.viewer = new Viewer(cam.id, 'sub', video, { onChange: () => { paintTile(e); this.paintSummary(); }, wanted: () => this.wanted(e) });
    e.tile = h('article', { class: 'cam-tile', 'data-camera-id': cam.id, 'data-state': 'connecting', tabindex: 0, role: 'button',
      onclick: () => this.openMain(e.cam),
      onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); this.openMain(e.cam); } } },
    video, h('div', { class: 'cam-label' }, h('span', { class: 'cam-dot' }), h('span', { class: 'cam-name' }), h('span', { class: 'cam-badges' }),
      h('button', { type: 'button', class: 'cam-replay', 'data-camera-id': cam.id, title: t('camReplay'), 'aria-label': t('camReplay'),
        // One click from live to the recordings of "now minus 1 minute".
        onclick: (ev) => { ev.stopPropagation(); go(`#/recordings?camera=${encodeURIComponent(cam.id)}&at=${Math.floor(Date.now() / 1000) - REPLAY_BACK_S}`); } }, '⏪')),
    h('div', { class: 'cam-msg' }, h('strong'), h('small'), h('small', { class: 'cam-reason' })),
    h('div', { class: 'cam-blocked', role: 'status', hidden: true }));
    return e;
  },

  paintSummary() {
    if (!this.summary) return;
    const live = [...this.entries.values()].filter((e) => e.viewer.state === 'live').length;
    this.summary.textContent = t('wallSummary', { live, n: this.entries.size });
  },

  openMain(cam) {
    if (this.main?.cam.id === cam.id) return;
    this.closeMain();
    const m = { cam, ptz: 'unknown', snapshot: 'unknown', chain: Promise.resolve(), moving: null, note: null };
    m.viewer = new Viewer(cam.id, 'main', camVideo(), { onChange: () => paintMain(m) });
    this.main = m;
    document.getElementById('section-cameras')?.append(mainChrome(m));
    m.viewer.connect();
    apiPaths().then((paths) => {
      if (this.main !== m) return;
      const has = (suffix) => (paths ? paths.some((p) => /^\/api\/v1\/cameras\/\{[^}/]+\}\//.test(p) && p.endsWith(suffix)) : null);
      const ptzKnown = cam.info && typeof cam.info.ptz === 'boolean' ? cam.info.ptz : null;
      m.ptz = has('/ptz') === false || ptzKnown === false ? 'no' : 'yes';
      m.snapshot = has('/snapshot') === false ? 'no' : 'yes';
      paintMain(m);
      if (m.ptz === 'yes') m.presets.load();
    });
    m.el.querySelector('#cam-main-close').focus();
  },

  closeMain() {
    const m = this.main;
    if (!m) return Promise.resolve();
    this.main = null;
    if (m.moving) ptzSend(m, { action: 'stop' });
    const closed = m.viewer.stop();
    m.el?.remove();
    const tile = this.entries.get(m.cam.id)?.tile;
    if (tile?.isConnected) tile.focus({ preventScroll: true });
    return closed;
  },
};
window.__wall = { views: wall.views, get main() { return wall.main?.viewer || null; } };
window.addEventListener('pagehide', () => wall.stop());
window.addEventListener('pageshow', (ev) => { if (ev.persisted && state.token) hooks.route(); }); // back from the bfcache
document.addEventListener('visibilitychange', () => { for (const e of wall.entries.values()) wall.reconsider(e); });
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && wall.main) wall.closeMain(); });


const tr = (m) => (m ? t(m[0], m[1]) : '');

/** Why an offline camera is gone, from its status code (errors.js err.<code>), never the server's English last_error. */
function offlineReason(v, cam) {
  const code = v.state === 'offline' && cam.status?.last_error_code;
  return code ? tOr(`err.${code}`, t('err.camera_error')) : '';
}

function paintTile(e) {
  const v = e.viewer;
  const tile = e.tile;
  tile.dataset.state = v.state;
  tile.title = `${e.cam.name} — ${t('camOpen')}`;
  tile.setAttribute('aria-label', `${e.cam.name}: ${v.state === 'live' ? t('camLive') : tr(v.msg)}`);
  tile.querySelector('.cam-name').textContent = e.cam.name;
  tile.querySelector('.cam-dot').title = v.state === 'live' ? t('camLive') : tr(v.msg);
  tile.querySelector('.cam-msg strong').textContent = v.state === 'live' ? '' : tr(v.msg);
  // What the analyser sees now (the list's "activity"): motion and object badges.
  const act = e.cam.activity || {};
  // A camera whose footage cannot be kept (a full disk) says so on its tile, live picture or not.
  const blocked = e.cam.status?.recording?.state === 'disk_full';
  if (tile.dataset.recording !== undefined && (tile.dataset.recording === 'disk_full') !== blocked) refreshAlarms(); // the banner too
  tile.dataset.recording = e.cam.status?.recording?.state || '';
  const strip = tile.querySelector('.cam-blocked');
  strip.hidden = !blocked;
  strip.textContent = blocked ? t('camDiskFull') : '';
  const toReview = unreviewedOf(e.cam.id); // the review queue's unreviewed items of this camera
  tile.querySelector('.cam-badges').replaceChildren(...[act.motion && h('span', { class: 'cam-badge motion' }, t('actMotion')),
    toReview > 0 && h('span', { class: 'cam-badge review', title: t('camToReview', { n: toReview }) }, t('camToReview', { n: toReview })),
    ...(act.objects || []).map((o) => h('span', { class: 'cam-badge object', 'data-object': o }, tOr(`obj.${o}`, o)))].filter(Boolean));
  const since = v.state === 'offline' && e.cam.status?.offline_since;
  const code = v.state === 'offline' && e.cam.status?.last_error_code;
  tile.querySelector('.cam-reason').textContent = offlineReason(v, e.cam);
  // A phone's tile has room for three short lines: with a reason shown, "retrying in 5 s" moves to the tooltip.
  const detail = code ? '' : tr(v.detail);
  if (code && v.detail) tile.title += ` — ${tr(v.detail)}`;
  tile.querySelector('.cam-msg small').textContent = v.state === 'live' ? ''
    : [since && t('camOfflineSince', { t: fmtDateTime(new Date(since * 1000).toISOString()) }), detail].filter(Boolean).join(' · ');
  transcodeButton(tile.querySelector('.cam-msg'), v);
}

/** Offer the explicit H.265 → H.264 transcode on a view the server refused for its codec. */
function transcodeButton(msg, v) {
  let btn = msg.querySelector('.cam-transcode');
  if (v.state !== 'transcode') { btn?.remove(); return; }
  if (!btn) {
    btn = h('button', { type: 'button', class: 'cam-transcode',
      onclick: (ev) => { ev.stopPropagation(); v.transcode = true; v.set('connecting', ['camConnecting']); v.connect(); } });
    msg.append(btn);
  }
  btn.textContent = t('camTranscodeBtn');
}

const PTZ_PAD = [
  ['up', '▲', { pan: 0, tilt: 1 }], ['left', '◀', { pan: -1, tilt: 0 }], ['stop', '■', null],
  ['right', '▶', { pan: 1, tilt: 0 }], ['down', '▼', { pan: 0, tilt: -1 }],
];
const PTZ_SPEED = 0.5;

function mainChrome(m) {
  const close = h('button', { id: 'cam-main-close', type: 'button', class: 'cam-close', onclick: () => wall.closeMain() }, `✕ ${t('close')}`);
  const snap = h('button', { id: 'cam-snapshot', type: 'button', hidden: true, onclick: () => snapshot(m, snap) }, `📷 ${t('snapshot')}`);
  const hold = (btn, move) => {
    const start = (ev) => { ev.preventDefault(); if (m.moving !== btn) { m.moving = btn; ptzSend(m, { action: 'move', zoom: 0, ...move }); } };
    const end = () => { if (m.moving === btn) { m.moving = null; ptzSend(m, { action: 'stop' }); } };
    btn.addEventListener('pointerdown', start);
    for (const ev of ['pointerup', 'pointercancel', 'pointerleave', 'blur']) btn.addEventListener(ev, end);
    btn.addEventListener('keydown', (ev) => { if ((ev.key === 'Enter' || ev.key === ' ') && !ev.repeat) start(ev); });
    btn.addEventListener('keyup', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') end(); });
    return btn;
  };
  const padBtn = ([name, glyph, move]) => {
    const label = t(`ptz.${name}`);
    const btn = h('button', { type: 'button', class: `ptz-btn ptz-${name}`, 'data-ptz': name, title: label, 'aria-label': label }, glyph);
    if (move) return hold(btn, { ...move, pan: move.pan * PTZ_SPEED, tilt: move.tilt * PTZ_SPEED });
    btn.addEventListener('click', () => { m.moving = null; ptzSend(m, { action: 'stop' }); });
    return btn;
  };
  const zoom = (name, glyph, z) => hold(h('button', { type: 'button', class: 'ptz-btn', 'data-ptz': name, title: t(`ptz.${name}`),
    'aria-label': t(`ptz.${name}`) }, glyph), { pan: 0, tilt: 0, zoom: z * PTZ_SPEED });
  // The camera's own presets (ONVIF GetPresets), read when the pad is shown: none are made up here.
  m.presets = presetsBox(m, (text) => { m.note = text; if (wall.main === m) paintMain(m); });
  const ptz = h('section', { id: 'ptz', class: 'ptz', hidden: true, 'aria-label': t('ptz') },
    h('h3', {}, t('ptz')),
    h('div', { class: 'ptz-row' },
      h('div', { class: 'ptz-pad' }, PTZ_PAD.map(padBtn)),
      h('div', { class: 'ptz-zoom' }, zoom('zoomIn', '+', 1), zoom('zoomOut', '−', -1)),
      m.presets));
  const panel = h('div', { class: 'cam-main-panel' },
    h('header', { class: 'cam-main-head' }, h('span', { class: 'cam-dot' }), h('h2', { id: 'cam-main-title' }, m.cam.name),
      h('span', { class: 'badge' }, t('mainStream')), h('span', { class: 'spacer' }), snap, close),
    h('div', { class: 'cam-main-view' }, m.viewer.video, h('div', { class: 'cam-msg' }, h('strong'), h('small'), h('small', { class: 'cam-reason' }))),
    h('p', { id: 'cam-main-note', class: 'msg error', role: 'status', hidden: true }), ptz);
  let downOnBackdrop = false; // a press on the pad released over the backdrop must not close the view
  m.el = h('div', { id: 'cam-main', class: 'cam-main', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'cam-main-title',
    'data-camera-id': m.cam.id, onpointerdown: (ev) => { downOnBackdrop = ev.target === m.el; },
    onclick: (ev) => { if (ev.target === m.el && downOnBackdrop) wall.closeMain(); } }, panel);
  paintMain(m);
  return m.el;
}

function paintMain(m) {
  const el = m.el;
  if (!el) return;
  const v = m.viewer;
  el.dataset.state = v.state;
  el.querySelector('.cam-msg strong').textContent = v.state === 'live' ? '' : tr(v.msg);
  el.querySelector('.cam-msg small').textContent = v.state === 'live' ? '' : tr(v.detail);
  el.querySelector('.cam-reason').textContent = offlineReason(v, m.cam);
  transcodeButton(el.querySelector('.cam-msg'), v);
  el.querySelector('.cam-dot').title = v.state === 'live' ? t('camLive') : tr(v.msg);
  el.querySelector('#ptz').hidden = m.ptz !== 'yes';
  el.querySelector('#cam-snapshot').hidden = m.snapshot !== 'yes';
  const note = el.querySelector('#cam-main-note');
  note.textContent = m.note || '';
  note.hidden = !m.note;
}

/** PTZ commands go one after another, so a stop can never overtake its move. */
function ptzSend(m, body) {
  m.chain = m.chain.then(async () => {
    if (m.ptz === 'no') return;
    try {
      await api('POST', `/api/v1/cameras/${encodeURIComponent(m.cam.id)}/ptz`, body);
      if (m.note) { m.note = null; paintMain(m); }
    } catch (err) {
      if (err.handled) return;
      if ([404, 405, 501].includes(err.status)) { m.ptz = 'no'; m.note = null; } // no PTZ route (yet) or no PTZ camera
      else m.note = t('ptzFailed', { m: ptzErrorText(err) });
      if (wall.main === m) paintMain(m);
    }
  });
}

async function snapshot(m, btn) {
  btn.disabled = true;
  try {
    const resp = await api('GET', `/api/v1/cameras/${encodeURIComponent(m.cam.id)}/snapshot`, undefined, { raw: true });
    const blob = await resp.blob();
    const ext = (blob.type.split('/')[1] || 'jpg').replace('jpeg', 'jpg').replace(/[^a-z0-9]/g, '');
    const stamp = fmt(new Date().toISOString(), { ...DATE_TIME, second: '2-digit' }).replace(/[^0-9]+/g, '');
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `${m.cam.id}-${stamp}.${ext}`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    m.note = null;
  } catch (err) {
    if (err.handled) return;
    if (err.status === 404 && err.code !== 'not_streaming') m.snapshot = 'no';
    else m.note = t('snapshotFailed', { m: err.code === 'network' ? t('network') : err.message || err.code });
  } finally {
    btn.disabled = false;
    if (wall.main === m) paintMain(m);
  }
}

export async function loadCameras() {
  const [cams, groups] = await Promise.all([api('GET', '/api/v1/cameras'), api('GET', '/api/v1/camera-groups').catch(() => ({ items: [] }))]);
  return { items: cams.items, groups: groups.items };
}

const GROUP_KEY = 'console.wallGroup';
export function renderCameras(data, body) {
  if (!data.items.length) {
    wall.stop();
    return h('div', { id: 'cameras-empty', class: 'empty-state' }, h('h2', {}, t('noCameras')), h('p', {}, t('noCamerasHint')));
  }
  // Groups from config.yaml and this workstation's own: one wall per group (the choice is kept here too).
  const groups = [...(data.groups || []), ...localGroups()];
  let current = hashParams().get('group') || localStorage.getItem(GROUP_KEY) || '';
  if (!groups.some((g) => g.id === current)) current = '';
  const group = groups.find((g) => g.id === current);
  const cams = group ? group.cameras.map((id) => data.items.find((c) => c.id === id)).filter(Boolean) : data.items;
  const repaint = () => body.replaceChildren(...[renderCameras(data, body)].flat().filter(Boolean));
  const pick = (id) => { localStorage.setItem(GROUP_KEY, id); repaint(); };
  const tabs = h('div', { id: 'wall-groups', class: 'room-list' },
    [{ id: '', name: t('allCameras') }, ...groups].map((g) => h('button', { type: 'button', class: `room-tab${g.id === current ? ' active' : ''}`,
      'data-group': g.id, 'aria-pressed': String(g.id === current), onclick: () => pick(g.id) }, g.name)),
    h('span', { class: 'spacer' }),
    h('button', { id: 'wall-groups-edit', type: 'button', onclick: () => editGroups(data.items, data.groups || [], repaint) }, t('grpEdit')),
    h('button', { id: 'wall-fullscreen', type: 'button', onclick: () => document.getElementById('camera-wall')?.requestFullscreen?.().catch(() => {}) },
      t('wallFullscreen')));
  return [tabs, ...wall.render(cams)];
}
