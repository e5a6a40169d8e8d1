// What the meeting modules (schedule, attendance, invitations, monitor) share: the rooms and sites they name,
// a scheduled meeting's status and time in words, and the frame of a printable page.
import { addStrings, state, t, h, api, fmt, hhmm, longDay, siteName, go } from './core.js';

addStrings({
  vi: {
    'st.scheduled': 'Sắp diễn ra', 'st.open': 'Đang mở thử', 'st.running': 'Đang họp', 'st.ended': 'Đã kết thúc',
    'st.cancelled': 'Đã hủy', 'mode.free': 'Thảo luận tự do', 'mode.chaired': 'Chủ tọa điều khiển',
    vnTime: 'giờ Việt Nam', printBtn: '🖨 In', back: '‹ Quay lại', printHint: 'Khổ giấy A4 dọc. Trên điện thoại: chọn “Chia sẻ” → “In”.',
    meetingMissing: 'Không tìm thấy cuộc họp này (có thể đã bị xóa).', chairSite: 'Chủ tọa', roomLabel: 'Phòng họp',
    timeLabel: 'Thời gian', sitesInvited: '{n} điểm cầu được mời',
  },
  en: {
    'st.scheduled': 'Upcoming', 'st.open': 'Open for testing', 'st.running': 'In progress', 'st.ended': 'Ended',
    'st.cancelled': 'Cancelled', 'mode.free': 'Free discussion', 'mode.chaired': 'Chair-controlled',
    vnTime: 'Vietnam time', printBtn: '🖨 Print', back: '‹ Back', printHint: 'A4 portrait. On a phone: “Share” → “Print”.',
    meetingMissing: 'This meeting was not found (it may have been deleted).', chairSite: 'Chair', roomLabel: 'Room',
    timeLabel: 'Time', sitesInvited: '{n} invited sites',
  },
});

export const STATUSES = ['scheduled', 'open', 'running', 'ended', 'cancelled'];
/** Statuses in which the room is open and its roll call and live state change. */
export const LIVE_STATUSES = ['open', 'running'];

/** Rooms and sites by id (asked for once per console session; the refresh button asks again). */
export async function loadRefs() {
  if (!state.data.meetingRefs) {
    const [rooms, sites] = await Promise.all([api('GET', '/api/v1/rooms'), api('GET', '/api/v1/sites')]);
    state.data.meetingRefs = {
      rooms: rooms.items, sites: sites.items,
      room: new Map(rooms.items.map((r) => [r.id, r])), site: new Map(sites.items.map((s) => [s.id, s])),
    };
  }
  return state.data.meetingRefs;
}

/** The member sites of a room, host first, then in config order. */
export function roomMembers(refs, room) {
  if (!room) return [];
  const list = refs.sites.filter((s) => room.sites === 'all' || s.id === room.host_site_id || room.sites.includes(s.id));
  return [...list.filter((s) => s.id === room.host_site_id), ...list.filter((s) => s.id !== room.host_site_id)];
}

export const roomName = (refs, id) => refs.room.get(id)?.name || id;
export const siteLabel = (refs, id) => siteName(refs.site.get(id)) || id;

export function statusChip(m) {
  return h('span', { class: `st-chip st-${m.status}`, 'data-status': m.status }, t(`st.${m.status}`));
}

/** "08:00 – 10:00, Thứ Hai, 07/12/2026" (the end's date too when the meeting runs past midnight). */
export function whenText(m) {
  const sameDay = fmt(m.starts_at, { dateStyle: 'short' }) === fmt(m.ends_at, { dateStyle: 'short' });
  return sameDay ? `${hhmm(m.starts_at)} – ${hhmm(m.ends_at)}, ${longDay(m.starts_at)}`
    : `${hhmm(m.starts_at)}, ${longDay(m.starts_at)} – ${hhmm(m.ends_at)}, ${longDay(m.ends_at)}`;
}

/** A meeting by id: its JSON, or null when it does not exist. */
export async function getMeeting(id) {
  try {
    return await api('GET', `/api/v1/scheduled-meetings/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404 && !err.handled) return null;
    throw err;
  }
}

/** The frame of a printable page: a toolbar (not printed) with Back and Print, then the sheets. */
export function printShell(id, backHash, sheets) {
  return h('div', { id, class: 'print-page' },
    h('div', { class: 'print-bar no-print' },
      h('button', { type: 'button', id: 'print-back', onclick: () => go(backHash) }, t('back')),
      h('button', { type: 'button', id: 'print-now', class: 'primary', onclick: () => window.print() }, t('printBtn')),
      h('span', { class: 'muted small' }, t('printHint'))),
    h('div', { class: 'print-sheets' }, sheets));
}
