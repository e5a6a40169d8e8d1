'use strict';
// The recorded-meeting player: every site's recorded tracks side by side, on one shared clock.
//
// A <video> cannot send a bearer token, so each segment file is fetched with the staff login's token (the
// console's, from localStorage, shared by the console's tabs; or the login form here) into a blob URL: the segment under the playhead
// and, near its end, the next one. Every element is kept within SYNC_S of the shared clock; where a track
// has no segment (the site had not joined, had left, was muted) its tile says so.

const I18N = {
  vi: {
    title: 'Bản ghi cuộc họp', loginTitle: 'Đăng nhập để xem bản ghi', username: 'Tên đăng nhập', password: 'Mật khẩu',
    login: 'Đăng nhập', empty: 'Cuộc họp này chưa có bản ghi.', speed: 'Tốc độ', play: '▶ Phát', pause: '❚❚ Tạm dừng',
    playing: 'Đang phát', paused: 'Đã dừng', loading: 'Đang tải…', noVideo: 'Không có hình',
    noSignal: 'Không có tín hiệu ở thời điểm này', screen: '{name} — màn hình chia sẻ', hostTip: 'Điểm cầu chính',
    mute: 'Tắt tiếng điểm cầu này', unmute: 'Bật tiếng điểm cầu này', stillRecording: 'Đang ghi tiếp…',
    badLink: 'Đường dẫn không hợp lệ.', notFound: 'Không tìm thấy cuộc họp này.',
    forbidden: 'Tài khoản này không được xem bản ghi cuộc họp.',
    changePassword: 'Hãy đổi mật khẩu ban đầu trong trang quản trị trước.', network: 'Không kết nối được máy chủ.',
    loginFailed: 'Sai tên đăng nhập hoặc mật khẩu.', locked: 'Tài khoản tạm khóa, hãy thử lại sau ít phút.',
    loadFailed: 'Không tải được đoạn ghi này', seek: 'Vị trí', sites: 'Điểm cầu', sitesCount: '{n} điểm cầu',
  },
  en: {
    title: 'Meeting recording', loginTitle: 'Sign in to watch the recording', username: 'User name', password: 'Password',
    login: 'Sign in', empty: 'This meeting has no recording yet.', speed: 'Speed', play: '▶ Play', pause: '❚❚ Pause',
    playing: 'Playing', paused: 'Paused', loading: 'Loading…', noVideo: 'No video',
    noSignal: 'No signal at this moment', screen: '{name} — shared screen', hostTip: 'Host site',
    mute: 'Mute this site', unmute: 'Unmute this site', stillRecording: 'Still recording…',
    badLink: 'This link is not valid.', notFound: 'This meeting was not found.',
    forbidden: 'This account may not watch meeting recordings.',
    changePassword: 'Change the initial password in the console first.', network: 'Cannot reach the server.',
    loginFailed: 'Wrong user name or password.', locked: 'The account is locked for a few minutes; try again later.',
    loadFailed: 'Could not load this segment', seek: 'Position', sites: 'Sites', sitesCount: '{n} sites',
  },
};

const LANG_KEY = 'console.lang'; // shared with the console: the operator's language carries over
// The console's login, shared by every tab of this origin (localStorage), so the player opened from the
// console in a new tab needs no second login; logging out in any tab ends it everywhere.
const TOKEN_KEY = 'console.token';
const session = {
  get() { try { return localStorage.getItem(TOKEN_KEY) || sessionStorage.getItem(TOKEN_KEY); } catch (_) { return null; } },
  set(token) { try { localStorage.setItem(TOKEN_KEY, token); } catch (_) { sessionStorage.setItem(TOKEN_KEY, token); } },
  clear() { try { localStorage.removeItem(TOKEN_KEY); } catch (_) { /* private mode */ } sessionStorage.removeItem(TOKEN_KEY); },
};
const TZ = 'Asia/Ho_Chi_Minh';
const TICK_MS = 200;
const SYNC_S = 0.35; // an element further than this from the shared clock is seeked back onto it
const PREFETCH_S = 4; // fetch the next segment this long before the current one ends

const S = {
  lang: localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'vi',
  token: session.get(),
  sessionId: (location.pathname.match(/^\/meetings\/(\d+)\/player\/?$/) || [])[1] || null,
  data: null, t: 0, start: 0, end: 0, playing: false, rate: 1, last: 0,
  players: [], timer: null, errorKey: null, errorText: '',
};
window.__meetingPlayer = S; // for tests and the curious

const $ = (sel) => document.querySelector(sel);

function t(key, vars) {
  let s = I18N[S.lang][key] ?? I18N.vi[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// ---------------------------------------------------------------------------------------- formatting

function fmtClock(epoch) {
  return new Intl.DateTimeFormat(S.lang === 'vi' ? 'vi-VN' : 'en-GB', {
    timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  }).format(new Date(epoch * 1000));
}

function fmtDate(epoch) {
  return new Intl.DateTimeFormat(S.lang === 'vi' ? 'vi-VN' : 'en-GB', {
    timeZone: TZ, weekday: 'short', day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit',
    hour12: false,
  }).format(new Date(epoch * 1000));
}

function fmtDur(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

// --------------------------------------------------------------------------------------------- API

async function api(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  if (opts.json !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method: opts.method || 'GET', headers, body: opts.json === undefined ? undefined : JSON.stringify(opts.json) });
  } catch (_) {
    throw Object.assign(new Error('network'), { code: 'network', status: 0 });
  }
  if (!res.ok) {
    let err = { code: `http_${res.status}`, message: res.statusText };
    try { err = (await res.json()).error || err; } catch (_) { /* not JSON */ }
    throw Object.assign(new Error(err.message), { code: err.code, status: res.status });
  }
  return res;
}

// --------------------------------------------------------------------------------------------- pages

function showError(key, text) {
  S.errorKey = key;
  S.errorText = text || '';
  renderError();
}

function renderError() {
  const box = $('#error');
  box.hidden = !S.errorKey;
  if (S.errorKey) box.textContent = S.errorText ? `${t(S.errorKey)} (${S.errorText})` : t(S.errorKey);
}

function showLogin() {
  document.body.dataset.state = 'login';
  $('#login').hidden = false;
  $('#controls').hidden = true;
  $('#username').focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const msg = $('#login-error');
  msg.hidden = true;
  try {
    const res = await (await api('/api/v1/auth/login', {
      method: 'POST', json: { username: $('#username').value, password: $('#password').value },
    })).json();
    if (res.must_change_password) {
      showError('changePassword');
      return;
    }
    S.token = res.token;
    session.set(res.token);
    $('#login').hidden = true;
    $('#password').value = '';
    await load();
  } catch (e) {
    msg.hidden = false;
    msg.textContent = t(e.code === 'network' ? 'network' : (e.code === 'locked_out' || e.code === 'login_throttled') ? 'locked' : 'loginFailed');
  }
}

async function load() {
  if (!S.sessionId) return showError('badLink');
  if (!S.token) return showLogin();
  document.body.dataset.state = 'loading';
  $('#status').textContent = t('loading');
  try {
    S.data = await (await api(`/api/v1/meetings/${S.sessionId}/recordings`)).json();
  } catch (e) {
    $('#status').textContent = '';
    if (e.status === 401) {
      S.token = null;
      session.clear();
      return showLogin();
    }
    if (e.code === 'password_change_required') return showError('changePassword');
    if (e.status === 403) return showError('forbidden');
    if (e.status === 404) return showError('notFound');
    return showError(e.code === 'network' ? 'network' : 'notFound', e.code === 'network' ? '' : e.message);
  }
  showError(null);
  build();
}

// ---------------------------------------------------------------------------------------- the player

function track(site, name) {
  return site.tracks.find((x) => x.track === name) || null;
}

function makePlayer(segs, media, tile) {
  return { segs: segs || [], el: media, tile, cur: null, urls: new Map(), loading: new Set(), failed: new Set(), state: '' };
}

function build() {
  const d = S.data;
  for (const p of S.players) for (const url of p.urls.values()) URL.revokeObjectURL(url);
  S.players = [];
  const grid = $('#grid');
  grid.replaceChildren();
  $('#room-name').textContent = d.room_name;
  $('#when').textContent = d.started_at ? fmtDate(Date.parse(d.started_at) / 1000) : '';
  if (d.start === null || !d.sites.length) {
    $('#empty').hidden = false;
    $('#controls').hidden = true;
    document.body.dataset.state = 'empty';
    renderStatus();
    return;
  }
  S.start = d.start;
  S.end = d.end;
  S.t = Math.min(Math.max(S.t || d.start, d.start), d.end);
  for (const site of d.sites) {
    const video = track(site, 'video');
    const audio = track(site, 'audio');
    const screen = track(site, 'screen');
    const tile = makeTile(site, 'video');
    grid.append(tile.node);
    S.players.push(Object.assign(makePlayer(video ? video.segments : [], tile.video, tile), { site: site.site_id, kind: 'video' }));
    if (audio) {
      const a = el('audio', { preload: 'auto' });
      tile.node.append(a);
      S.players.push(Object.assign(makePlayer(audio.segments, a, tile), { site: site.site_id, kind: 'audio' }));
      tile.sound.hidden = false;
      tile.sound.addEventListener('click', () => {
        a.muted = !a.muted;
        tile.sound.setAttribute('aria-pressed', String(a.muted));
        renderTileText(tile);
      });
    }
    if (screen) {
      const st = makeTile(site, 'screen');
      grid.append(st.node);
      S.players.push(Object.assign(makePlayer(screen.segments, st.video, st), { site: site.site_id, kind: 'screen' }));
    }
  }
  $('#empty').hidden = true;
  $('#controls').hidden = false;
  document.body.dataset.state = 'ready';
  grid.setAttribute('aria-label', t('sitesCount', { n: d.sites.length }));
  S.last = performance.now();
  if (!S.timer) S.timer = setInterval(tick, TICK_MS);
  for (const p of S.players) sync(p, true);
  renderControls();
  renderStatus();
}

function siteName(site) {
  return S.lang === 'en' && site.name_en ? site.name_en : site.name;
}

function makeTile(site, kind) {
  const video = el('video', { playsinline: true, muted: true, preload: 'auto' });
  video.muted = true; // sound comes from the site's own audio element
  const idle = el('div', { class: 'idle' });
  const nameEl = el('span', { class: 'name' });
  const sound = el('button', { type: 'button', class: 'sound', 'aria-pressed': 'false', hidden: true });
  const host = kind === 'video' && site.site_id === S.data.host_site_id;
  const node = el('section', { class: `tile${host ? ' host' : ''}`, 'data-site': site.site_id, 'data-kind': kind },
    video, idle, el('div', { class: 'label' }, nameEl, sound));
  const tile = { node, video, idle, nameEl, sound, site, kind, host };
  renderTileText(tile);
  return tile;
}

function renderTileText(tile) {
  const name = tile.kind === 'screen' ? t('screen', { name: siteName(tile.site) }) : siteName(tile.site);
  tile.nameEl.textContent = tile.host ? `${name} · ${t('hostTip')}` : name;
  tile.nameEl.title = tile.nameEl.textContent;
  const muted = tile.sound.getAttribute('aria-pressed') === 'true';
  tile.sound.textContent = muted ? '🔇' : '🔊';
  tile.sound.title = t(muted ? 'unmute' : 'mute');
  tile.sound.setAttribute('aria-label', tile.sound.title);
}

function findSegment(segs, at) {
  let lo = 0;
  let hi = segs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (segs[mid].end <= at) lo = mid + 1;
    else if (segs[mid].start > at) hi = mid - 1;
    else return mid;
  }
  return -1;
}

function load_(p, seg) {
  if (p.urls.has(seg.id) || p.loading.has(seg.id) || p.failed.has(seg.id)) return;
  p.loading.add(seg.id);
  api(seg.url)
    .then((res) => res.blob())
    .then((blob) => { p.urls.set(seg.id, URL.createObjectURL(blob)); })
    .catch(() => { p.failed.add(seg.id); })
    .finally(() => { p.loading.delete(seg.id); });
}

function keepOnly(p, ids) {
  for (const [id, url] of p.urls) {
    if (!ids.includes(id)) {
      URL.revokeObjectURL(url);
      p.urls.delete(id);
    }
  }
}

function setIdle(p, key) {
  if (p.kind === 'audio') return;
  if (p.state === key) return;
  p.state = key;
  p.tile.idle.hidden = !key;
  p.tile.idle.textContent = key ? t(key) : '';
  p.tile.node.dataset.state = key || 'playing';
}

function sync(p, force) {
  const i = findSegment(p.segs, S.t);
  if (i < 0) {
    if (!p.el.paused) p.el.pause();
    if (p.cur !== null) { p.cur = null; p.el.removeAttribute('src'); p.el.load(); }
    setIdle(p, p.segs.length ? 'noSignal' : 'noVideo');
    return;
  }
  const seg = p.segs[i];
  const next = p.segs[i + 1];
  if (next && seg.end - S.t < PREFETCH_S) load_(p, next);
  if (p.failed.has(seg.id)) { setIdle(p, 'loadFailed'); return; }
  const url = p.urls.get(seg.id);
  if (!url) {
    load_(p, seg);
    if (!p.el.paused) p.el.pause();
    setIdle(p, 'loading');
    return;
  }
  if (p.cur !== seg.id) {
    p.cur = seg.id;
    p.el.src = url;
    p.el.playbackRate = S.rate;
    keepOnly(p, [seg.id, next ? next.id : null]);
    force = true;
  }
  setIdle(p, '');
  const want = Math.max(0, S.t - seg.start);
  if (p.el.readyState >= 1 && (force || Math.abs(p.el.currentTime - want) > SYNC_S)) {
    try { p.el.currentTime = want; } catch (_) { /* not seekable yet: next tick */ }
  }
  if (S.playing && p.el.paused) p.el.play().catch(() => {});
  if (!S.playing && !p.el.paused) p.el.pause();
}

function tick() {
  const now = performance.now();
  if (S.playing) {
    S.t += ((now - S.last) / 1000) * S.rate;
    if (S.t >= S.end) {
      S.t = S.end;
      S.playing = false;
      renderControls();
      renderStatus();
    }
  }
  S.last = now;
  for (const p of S.players) sync(p, false);
  renderClock();
}

// -------------------------------------------------------------------------------------------- controls

function renderClock() {
  if (!S.data || S.data.start === null) return;
  $('#clock').textContent = fmtClock(S.t);
  $('#elapsed').textContent = `${fmtDur(S.t - S.start)} / ${fmtDur(S.end - S.start)}`;
  const span = Math.max(1e-6, S.end - S.start);
  if (document.activeElement !== $('#seek')) $('#seek').value = String(Math.round(((S.t - S.start) / span) * 1000));
}

function renderControls() {
  $('#play').textContent = t(S.playing ? 'pause' : 'play');
  $('#seek').setAttribute('aria-label', t('seek'));
}

function renderStatus() {
  const parts = [];
  if (S.data && S.data.start !== null) parts.push(t(S.playing ? 'playing' : 'paused'));
  if (S.data && S.data.recording) parts.push(t('stillRecording'));
  $('#status').textContent = parts.join(' · ');
}

function setPlaying(on) {
  if (on && S.t >= S.end - 0.05) S.t = S.start;
  S.playing = on;
  S.last = performance.now();
  for (const p of S.players) sync(p, true);
  renderControls();
  renderStatus();
}

function onSeek() {
  const span = S.end - S.start;
  S.t = S.start + (Number($('#seek').value) / 1000) * span;
  for (const p of S.players) sync(p, true);
  renderClock();
}

function applyLang() {
  document.documentElement.lang = S.lang;
  document.title = t('title');
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('#lang-toggle [data-lang]')) node.classList.toggle('active', node.dataset.lang === S.lang);
  $('#grid').setAttribute('aria-label', t('sites'));
  renderError();
  renderControls();
  renderStatus();
  if (S.data) {
    $('#when').textContent = S.data.started_at ? fmtDate(Date.parse(S.data.started_at) / 1000) : '';
    for (const p of S.players) {
      if (p.kind !== 'audio') renderTileText(p.tile);
      const key = p.state;
      p.state = null;
      setIdle(p, key); // re-word the idle message
    }
    renderClock();
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('#lang-toggle').addEventListener('click', () => {
    S.lang = S.lang === 'vi' ? 'en' : 'vi';
    try { localStorage.setItem(LANG_KEY, S.lang); } catch (_) { /* private mode */ }
    applyLang();
  });
  $('#login').addEventListener('submit', onLogin);
  $('#play').addEventListener('click', () => setPlaying(!S.playing));
  $('#seek').addEventListener('input', onSeek);
  $('#rate').addEventListener('change', () => {
    S.rate = Number($('#rate').value) || 1;
    for (const p of S.players) p.el.playbackRate = S.rate;
  });
  applyLang();
  load();
});
