// Waiting: a site's screens while it cannot be in the meeting yet (the lobby, a meeting not open yet), and the
// chair's side of it — the sites waiting at the door (with a sound) and the sites it removed, to let back in.
import { addStrings, clockTime, dayDate, nameOf, num, span, t } from '/console/i18n.js';
import { api } from './moderation.js';
import { finish, restart, send } from './signalling.js';
import { $, S, escapeHtml, setText, toast } from './state.js';
import { setPhase } from './ui.js';

addStrings({
  vi: {
    'st.lobby': 'Đang chờ chủ tọa cho vào', 'st.waiting': 'Cuộc họp chưa mở',
    'lobby.title': 'Đang chờ chủ tọa cho vào phòng họp',
    'lobby.locked': 'Phòng họp đang khóa. Chủ tọa đã được báo điểm cầu của quý vị đang chờ và sẽ cho vào.',
    'lobby.not_invited': 'Điểm cầu của quý vị không có trong danh sách mời của cuộc họp này. Chủ tọa đã được báo và sẽ quyết định cho vào hay không.',
    'lobby.waited': 'Đã chờ {t}', 'lobby.leave': 'Rời phòng chờ', 'lobby.admitted': 'Chủ tọa đã cho điểm cầu vào cuộc họp.',
    'notOpen.title': 'Cuộc họp chưa bắt đầu', 'notOpen.starts': 'Bắt đầu lúc {time}, {day}',
    'notOpen.opens': 'Phòng họp mở để kiểm tra kết nối từ {time}, {day}. Trang này tự vào phòng khi phòng mở — không cần tải lại.',
    'notOpen.in': 'Phòng mở sau {t}', 'notOpen.now': 'Đang vào phòng…', 'notOpen.try': 'Thử vào ngay',
    'chair.lobby': 'Đang chờ vào ({n})', 'chair.admit': 'Cho vào', 'chair.refuse': 'Từ chối',
    'chair.reason.locked': 'phòng đang khóa', 'chair.reason.not_invited': 'không có trong danh sách mời',
    'chair.waiting': '{name} đang chờ vào phòng họp', 'chair.admitted': 'Đã cho {name} vào cuộc họp',
    'chair.refused': 'Đã từ chối {name}', 'chair.removedTitle': 'Đã mời rời cuộc họp ({n})',
    'chair.readmit': 'Cho vào lại', 'chair.readmitted': '{name} có thể vào lại cuộc họp',
    'chair.since': 'chờ {t}',
  },
  en: {
    'st.lobby': 'Waiting for the chair', 'st.waiting': 'Meeting not open yet',
    'lobby.title': 'Waiting for the chair to let you in',
    'lobby.locked': 'The room is locked. The chair has been told that your site is waiting.',
    'lobby.not_invited': 'Your site is not on this meeting\'s invitation list. The chair has been told and will decide.',
    'lobby.waited': 'Waiting for {t}', 'lobby.leave': 'Leave the lobby', 'lobby.admitted': 'The chair let your site in.',
    'notOpen.title': 'The meeting has not started', 'notOpen.starts': 'Starts at {time}, {day}',
    'notOpen.opens': 'The room opens for a connection test at {time}, {day}. This page joins by itself when it opens — no need to reload.',
    'notOpen.in': 'Opens in {t}', 'notOpen.now': 'Joining…', 'notOpen.try': 'Try now',
    'chair.lobby': 'Waiting to join ({n})', 'chair.admit': 'Admit', 'chair.refuse': 'Refuse',
    'chair.reason.locked': 'room locked', 'chair.reason.not_invited': 'not invited',
    'chair.waiting': '{name} is waiting to join', 'chair.admitted': '{name} was let in',
    'chair.refused': '{name} was refused', 'chair.removedTitle': 'Removed ({n})',
    'chair.readmit': 'Let back in', 'chair.readmitted': '{name} may join again',
    'chair.since': 'waiting {t}',
  },
});

const NOT_OPEN_RECHECK_MS = 5 * 60 * 1000;  // ask again at least this often (the schedule may change)
const TICK_MS = 1000;

// ------------------------------------------------------------------------------------------ the site's side

/** The server put this site in the lobby: show why, and wait for the chair's decision. */
export function onLobby(msg) {
  S.waiting = { kind: 'lobby', reason: String(msg.reason || 'locked'), meeting: msg.meeting || null, since: Date.now() };
  setPhase('lobby', 'st.lobby');
  startTick();
  renderWaiting();
}

/** The chair let this site in: the welcome and the offer follow on the same socket. */
export function onAdmitted() {
  S.waiting = null;
  stopTick();
  setPhase('connecting', 'st.joining');
  renderWaiting();
  toast(t('lobby.admitted'), 'ok');
}

/** The meeting's room is not open yet: say when it opens, and join by itself then. */
export function onNotOpen(msg) {
  const opensAt = Date.parse(msg.opens_at || '') || null;
  S.waiting = { kind: 'not_open', title: msg.title || '', startsAt: Date.parse(msg.starts_at || '') || null, opensAt };
  finish('waiting');
  clearTimeout(S.waitTimer);
  // Spread the sites' returns over a few seconds so 40 pages do not knock at the same instant.
  const due = opensAt ? opensAt - Date.now() + 1000 + Math.random() * 4000 : NOT_OPEN_RECHECK_MS;
  S.waitTimer = setTimeout(retryNow, Math.max(1000, Math.min(NOT_OPEN_RECHECK_MS, due)));
  startTick();
  renderWaiting();
}

function retryNow() {
  clearTimeout(S.waitTimer);
  stopTick();
  S.waiting = null;
  renderWaiting();
  restart();
}

function leaveLobby() {
  send({ type: 'leave' });
  S.waiting = null;
  stopTick();
  finish('left');
  renderWaiting();
}

function startTick() {
  clearInterval(S.waitTick);
  S.waitTick = setInterval(renderWaiting, TICK_MS);
}

function stopTick() {
  clearInterval(S.waitTick);
  S.waitTick = null;
}

/** Forget any waiting screen (the page stops or starts again). */
export function clearWaiting() {
  clearTimeout(S.waitTimer);
  stopTick();
  S.waiting = null;
  renderWaiting();
}

export function renderWaiting() {
  const box = $('#waiting');
  const w = S.waiting;
  box.hidden = !w;
  if (!w) return;
  box.dataset.kind = w.kind;
  const m = w.kind === 'lobby' ? w.meeting : { title: w.title, starts_at: w.startsAt };
  const starts = m && m.starts_at ? new Date(typeof m.starts_at === 'number' && m.starts_at < 1e12 ? m.starts_at * 1000 : m.starts_at) : null;
  setText($('#waiting-meeting'), m && m.title ? `«${m.title}»` : '');
  setText($('#waiting-when'), starts ? t('notOpen.starts', { time: clockTime(starts), day: dayDate(starts) }) : '');
  const btn = $('#btn-waiting');
  if (w.kind === 'lobby') {
    setText($('#waiting-title'), t('lobby.title'));
    setText($('#waiting-text'), t(`lobby.${w.reason === 'not_invited' ? 'not_invited' : 'locked'}`));
    setText($('#waiting-count'), t('lobby.waited', { t: span((Date.now() - w.since) / 1000) }));
    setText(btn, t('lobby.leave'));
    btn.dataset.action = 'leave';
  } else {
    setText($('#waiting-title'), t('notOpen.title'));
    const opens = w.opensAt ? new Date(w.opensAt) : null;
    setText($('#waiting-text'), opens ? t('notOpen.opens', { time: clockTime(opens), day: dayDate(opens) }) : '');
    const left = w.opensAt ? (w.opensAt - Date.now()) / 1000 : 0;
    setText($('#waiting-count'), left > 0 ? t('notOpen.in', { t: span(left) }) : t('notOpen.now'));
    setText(btn, t('notOpen.try'));
    btn.dataset.action = 'retry';
  }
}

export function bindWaiting() {
  $('#btn-waiting').addEventListener('click', (ev) => {
    if (ev.currentTarget.dataset.action === 'leave') leaveLobby();
    else retryNow();
  });
}

// ------------------------------------------------------------------------------------------ the chair's side

/** The chair is told a site is at the door: a sound, a toast, and the list. */
export function onLobbyWaiting(msg) {
  S.lobby = Array.isArray(msg.lobby) ? msg.lobby : [];
  renderLobbyPanel();
}

/** Play two short tones (no sound file: WebAudio), unless the browser does not allow it yet. */
function chime() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    chime.ctx = chime.ctx || new Ctx();
    const ctx = chime.ctx;
    if (ctx.state === 'suspended') ctx.resume().catch(() => {});
    [[660, 0], [880, 0.18]].forEach(([freq, at]) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, ctx.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + at + 0.16);
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + 0.17);
    });
  } catch (_) { /* no sound: the list and the toast still show */ }
}

const labelOf = (entry) => nameOf(entry) || entry.site;

function siteLabel(id) {
  const r = S.rosterMap[id];
  return r ? nameOf(r) || id : id;
}

export function renderLobbyPanel() {
  if (!S.isHost) return;
  const box = $('#lobby-box');
  const list = $('#lobby-list');
  const fresh = S.lobby.filter((e) => !S.lobbySeen.has(e.site));
  S.lobbySeen = new Set(S.lobby.map((e) => e.site));
  if (fresh.length) {
    chime();
    for (const e of fresh) toast(t('chair.waiting', { name: labelOf(e) }), 'warn');
    box.classList.remove('flash');
    void box.offsetWidth;  // restart the animation
    box.classList.add('flash');
  }
  box.hidden = !S.lobby.length;
  setText($('#lobby-head'), t('chair.lobby', { n: num(S.lobby.length) }));
  const now = Date.now() / 1000;
  list.innerHTML = S.lobby.map((e) => `<li class="lobby-row" data-site="${escapeHtml(e.site)}">`
    + `<span class="lobby-name"><b>${escapeHtml(labelOf(e))}</b>`
    + `<small>${escapeHtml(t(`chair.reason.${e.reason === 'not_invited' ? 'not_invited' : 'locked'}`))} · `
    + `${escapeHtml(t('chair.since', { t: span(now - e.since) }))}</small></span>`
    + `<button type="button" class="small primary" data-lobby="admit" data-site="${escapeHtml(e.site)}">${escapeHtml(t('chair.admit'))}</button>`
    + `<button type="button" class="small" data-lobby="refuse" data-site="${escapeHtml(e.site)}">${escapeHtml(t('chair.refuse'))}</button>`
    + '</li>').join('');
  const removed = $('#removed-box');
  removed.hidden = !S.removed.length;
  setText($('#removed-head'), t('chair.removedTitle', { n: num(S.removed.length) }));
  $('#removed-list').innerHTML = S.removed.map((id) => `<li class="lobby-row" data-site="${escapeHtml(id)}">`
    + `<span class="lobby-name">${escapeHtml(siteLabel(id))}</span>`
    + `<button type="button" class="small" data-readmit="${escapeHtml(id)}">${escapeHtml(t('chair.readmit'))}</button></li>`).join('');
}

async function decide(btn, path, doneKey, name) {
  btn.disabled = true;
  try {
    await api(path);
    toast(t(doneKey, { name }), 'ok');
  } catch (err) {
    toast(err.message, 'error');
    btn.disabled = false;
  }
}

export function bindLobbyPanel() {
  $('#panel').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button');
    if (!btn || btn.disabled) return;
    if (btn.dataset.lobby) {
      const site = btn.dataset.site;
      const entry = S.lobby.find((e) => e.site === site);
      const name = entry ? labelOf(entry) : site;
      const verb = btn.dataset.lobby === 'admit' ? 'admit' : 'refuse';
      decide(btn, `/lobby/${encodeURIComponent(site)}/${verb}`, verb === 'admit' ? 'chair.admitted' : 'chair.refused', name);
    } else if (btn.dataset.readmit) {
      const site = btn.dataset.readmit;
      decide(btn, `/sites/${encodeURIComponent(site)}/readmit`, 'chair.readmitted', siteLabel(site));
    }
  });
}
