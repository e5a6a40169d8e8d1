// The conference section: the room's sites (join links, lock), its recording state and its past meetings.
import { addStrings, state, hooks, t, tOr, h, api, errorText, fmt, fmtDateTime } from './core.js';

const I18N = {
  vi: {
    'site.host': 'Điểm cầu chính', 'site.commune': 'Xã', 'site.town': 'Thị trấn', 'site.organisation': 'Tổ chức',
    'site.party': 'Cơ quan Đảng', noRooms: 'Chưa có phòng họp nào (khai báo trong config.yaml, mục rooms).',
    roomLocked: 'Đang khóa: điểm cầu mới không vào được', roomOpen: 'Đang mở', lockRoom: 'Khóa phòng',
    unlockRoom: 'Mở khóa phòng', sitesCount: '{n} điểm cầu', maxSites: 'tối đa {n}', autoRecord: 'Tự động ghi hình',
    recordRoom: '● Ghi hình cuộc họp', stopRecord: '■ Dừng ghi hình', recordingNow: 'Đang ghi hình',
    recordArmed: 'Sẽ ghi cuộc họp kế tiếp', notRecorded: 'Không ghi hình', meetings: 'Các cuộc họp đã diễn ra',
    playMeeting: 'Xem bản ghi', meetingOpen: 'đang họp', joinLink: 'Tạo liên kết tham gia', joinNew: 'Tạo liên kết mới',
    copy: 'Sao chép', copied: 'Đã sao chép', copyManual: 'Nhấn Ctrl+C để sao chép', validUntil: 'Hiệu lực đến {t}',
  },
  en: {
    'site.host': 'Host site', 'site.commune': 'Commune', 'site.town': 'Town', 'site.organisation': 'Organisation',
    'site.party': 'Party office', noRooms: 'No rooms yet (define them in config.yaml, section rooms).',
    roomLocked: 'Locked: new sites cannot join', roomOpen: 'Open', lockRoom: 'Lock room', unlockRoom: 'Unlock room',
    sitesCount: '{n} sites', maxSites: 'max {n}', autoRecord: 'Auto-record', recordRoom: '● Record meeting',
    stopRecord: '■ Stop recording', recordingNow: 'Recording', recordArmed: 'Will record the next meeting',
    notRecorded: 'Not recorded', meetings: 'Past meetings', playMeeting: 'Play recording', meetingOpen: 'in progress',
    joinLink: 'Create join link', joinNew: 'New link', copy: 'Copy', copied: 'Copied', copyManual: 'Press Ctrl+C to copy',
    validUntil: 'Valid until {t}',
  },
};

addStrings(I18N);

const SITE_ROLES = ['host', 'commune', 'town', 'organisation', 'party'];

// The room's recording state and its meetings' "recorded" marks come from the server, never from what this page
// asked for: an armed recording becomes 'recording' when the next meeting starts and ends with it, so the state is
// polled while the section is shown, and a past meeting links to its player only if it has recorded segments.
const RECORDING_POLL_MS = 5000;
let conferencePoll = null;

export async function loadConference() {
  const [sites, rooms] = await Promise.all([api('GET', '/api/v1/sites'), api('GET', '/api/v1/rooms')]);
  const room = rooms.items.find((r) => r.id === state.room) || rooms.items[0];
  let sessions = [];
  if (room) {
    const got = await loadSessions(room.id);
    sessions = got.items;
    state.recording = { ...state.recording, [room.id]: got.recording };
  }
  return { sites: sites.items, rooms: rooms.items, sessions };
}

/** The room's latest meetings, each with ``recorded`` (it has segments, so a player), and what the room is
 * recording now ({state: 'armed'|'recording', room_session_id, …} or null) — one request, polled. */
async function loadSessions(roomId) {
  const got = await api('GET', `/api/v1/rooms/${encodeURIComponent(roomId)}/sessions`);
  return { items: got.items.slice(0, 8), recording: got.recording ?? null };
}

/** Start or stop recording the room (each site's tracks as sent); the state shown is the server's answer. */
async function toggleRecording(room, btn, note) {
  btn.disabled = true;
  try {
    if (state.recording?.[room.id]) {
      await api('DELETE', `/api/v1/rooms/${encodeURIComponent(room.id)}/recording`).catch((err) => { if (err.status !== 404) throw err; });
    } else {
      await api('POST', `/api/v1/rooms/${encodeURIComponent(room.id)}/recording`, {});
    }
    await refreshRecording(room, { force: true });
  } catch (err) {
    if (!err.handled) note.textContent = errorText(err);
  } finally {
    btn.disabled = false;
  }
}

const recKey = (rec) => (rec ? `${rec.state}/${rec.room_session_id ?? ''}` : '');

/** Ask the server what is being recorded; repaint (and re-list the meetings) when that changed. */
async function refreshRecording(room, { force = false } = {}) {
  const before = recKey(state.recording?.[room.id]);
  const got = await loadSessions(room.id);
  if (state.room !== room.id) return;
  const rec = got.recording;
  state.recording = { ...state.recording, [room.id]: rec };
  paintRecording(room);
  const listed = JSON.stringify(state.data.conference?.sessions?.map((m) => [m.id, m.ended_at, m.recorded]));
  const now = JSON.stringify(got.items.map((m) => [m.id, m.ended_at, m.recorded]));
  if (force || recKey(rec) !== before || listed !== now) {
    if (state.data.conference) state.data.conference.sessions = got.items;
    const list = document.getElementById('meeting-list');
    const fresh = meetingList(got.items);
    if (list && fresh) list.replaceWith(fresh);
    else if (fresh) document.getElementById('site-grid')?.after(fresh);
    else list?.remove();
  }
}

function watchRecording(room) {
  stopConference();
  conferencePoll = setInterval(() => {
    if (document.hidden || !document.getElementById('room-record-toggle')) return;
    refreshRecording(room).catch(() => {});
  }, RECORDING_POLL_MS);
}

export function stopConference() {
  clearInterval(conferencePoll);
  conferencePoll = null;
}

function paintRecording(room, btn = document.getElementById('room-record-toggle'), note = document.getElementById('room-recording')) {
  if (!btn || !note || btn.dataset.roomId !== room.id) return;
  const rec = state.recording?.[room.id];
  btn.textContent = rec ? t('stopRecord') : t('recordRoom');
  btn.classList.toggle('warn', Boolean(rec));
  btn.dataset.state = rec?.state || 'off';
  note.textContent = rec?.state === 'recording' ? t('recordingNow') : rec?.state === 'armed' ? t('recordArmed') : '';
  note.classList.toggle('rec-live', rec?.state === 'recording');
}

function meetingList(sessions) {
  if (!sessions?.length) return null;
  const live = (m) => Object.values(state.recording || {}).some((r) => r?.state === 'recording' && r.room_session_id === m.id);
  return h('div', { id: 'meeting-list', class: 'meeting-list' }, h('strong', {}, t('meetings')),
    sessions.map((m) => {
      const when = [fmt(m.started_at, { dateStyle: 'short', timeStyle: 'short' }), m.ended_at ? '' : ` (${t('meetingOpen')})`];
      if (m.recorded || live(m)) {
        return h('a', { class: 'badge meeting-link', href: `/meetings/${m.id}/player`, target: '_blank', rel: 'noopener',
          'data-session-id': m.id, 'data-recorded': 'true' }, when, ' — ', live(m) ? `● ${t('recordingNow')}` : t('playMeeting'));
      }
      return h('span', { class: 'badge meeting-link not-recorded', 'data-session-id': m.id, 'data-recorded': String(m.recorded) },
        when, m.recorded === false ? [' — ', t('notRecorded')] : '');
    }));
}

export function renderConference(data, body) {
  if (!data.rooms.length) return h('p', { class: 'empty' }, t('noRooms'));
  const room = data.rooms.find((r) => r.id === state.room) || data.rooms[0];
  state.room = room.id;
  const members = data.sites.filter((s) => room.sites === 'all' || s.id === room.host_site_id || room.sites.includes(s.id))
    .map((s, i) => [s, i]).sort(([a, i], [b, j]) => siteRank(a, room) - siteRank(b, room) || i - j).map(([s]) => s);
  const tabs = h('div', { id: 'room-list', class: 'room-list' }, data.rooms.map((r) =>
    h('button', { type: 'button', class: `room-tab${r === room ? ' active' : ''}`, 'data-room-id': r.id,
      onclick: () => { state.room = r.id; delete state.data.conference; hooks.showSection('conference', body); } },
    r.locked ? '🔒 ' : '', r.name)));
  const lockBtn = h('button', { id: 'room-lock-toggle', type: 'button', 'data-room-id': room.id, 'data-locked': String(room.locked),
    class: room.locked ? 'warn' : '', onclick: () => toggleLock(room, lockBtn, body) }, room.locked ? t('unlockRoom') : t('lockRoom'));
  const recNote = h('span', { id: 'room-recording', class: 'muted' });
  const recBtn = h('button', { id: 'room-record-toggle', type: 'button', 'data-room-id': room.id,
    onclick: () => toggleRecording(room, recBtn, recNote) });
  paintRecording(room, recBtn, recNote);
  watchRecording(room);
  const info = h('div', { id: 'room-info', class: 'room-info', 'data-room-id': room.id },
    h('h2', {}, room.name), h('span', { class: 'muted' }, room.id),
    h('span', { id: 'room-status', class: `badge ${room.locked ? 'locked' : 'open'}` }, room.locked ? t('roomLocked') : t('roomOpen')),
    h('span', { class: 'badge' }, t('sitesCount', { n: members.length }), ' · ', t('maxSites', { n: room.max_sites })),
    room.auto_record && h('span', { class: 'badge' }, t('autoRecord')), h('span', { class: 'spacer' }), recNote, recBtn, lockBtn);
  const legend = h('div', { class: 'legend' }, SITE_ROLES.map((r) => h('span', { class: `chip role-${r}` }, t(`site.${r}`))));
  const grid = h('div', { id: 'site-grid', class: 'site-grid', 'data-room-id': room.id }, members.map((s) => siteTile(s, room)));
  return [data.rooms.length > 1 && tabs, info, legend, grid, meetingList(data.sessions)];
}

function siteRank(site, room) {
  const i = SITE_ROLES.indexOf(site.id === room.host_site_id ? 'host' : site.role);
  return i < 0 ? SITE_ROLES.length : i;
}

function siteTile(site, room) {
  const isHost = site.id === room.host_site_id;
  const join = state.joins[`${room.id}/${site.id}`];
  const err = h('p', { class: 'tile-error msg error', hidden: true });
  const btn = h('button', { type: 'button', class: 'join-btn primary', 'data-site-id': site.id }, join ? t('joinNew') : t('joinLink'));
  const tile = h('article', { class: `site-tile role-${isHost ? 'host' : site.role}${isHost ? ' host' : ''}`,
    'data-site-id': site.id, 'data-role': site.role },
  h('span', { class: 'tile-role' }, tOr(`site.${isHost ? 'host' : site.role}`, site.role)),
  h('h3', { class: 'site-name' }, site.name),
  state.lang === 'en' && site.name_en && h('p', { class: 'site-name-en' }, site.name_en),
  join && h('div', { class: 'join-result' },
    h('input', { class: 'join-url', type: 'text', readonly: true, value: join.join_url, 'aria-label': 'URL',
      onfocus: (ev) => ev.target.select() }),
    h('button', { type: 'button', class: 'copy-btn', onclick: (ev) => copy(join.join_url, ev.currentTarget, tile) }, t('copy')),
    join.expires_at && h('small', { class: 'join-expiry' }, t('validUntil', { t: fmtDateTime(join.expires_at) }))),
  err, btn);
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      state.joins[`${room.id}/${site.id}`] = await api('POST', `/api/v1/rooms/${encodeURIComponent(room.id)}/join-tokens`, { site_id: site.id });
      tile.replaceWith(siteTile(site, room));
    } catch (e) {
      if (e.handled) return;
      btn.disabled = false;
      err.textContent = errorText(e);
      err.hidden = false;
    }
  });
  return tile;
}

async function copy(text, btn, tile) {
  let ok = true;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    tile.querySelector('.join-url').select(); // plain-HTTP pages have no clipboard API
    ok = document.execCommand('copy');
  }
  btn.textContent = ok ? t('copied') : t('copyManual');
  btn.classList.toggle('done', ok);
  setTimeout(() => { btn.textContent = t('copy'); btn.classList.remove('done'); }, 2000);
}

async function toggleLock(room, btn, body) {
  btn.disabled = true;
  try {
    await api('POST', `/api/v1/rooms/${encodeURIComponent(room.id)}/${room.locked ? 'unlock' : 'lock'}`);
    delete state.data.conference;
    hooks.showSection('conference', body);
  } catch (e) {
    if (e.handled) return;
    btn.disabled = false;
    btn.after(h('span', { class: 'msg error inline' }, errorText(e)));
  }
}
