// "Lịch họp": the week's scheduled meetings as a calendar (days as columns; a list of days on a phone), the
// create/edit form, and one meeting's page (facts, invitations, roll call). Routes:
//   #/meetings[?week=YYYY-MM-DD]   the week starting that Monday (Vietnam time), default this week
//   #/meetings?id=N                one meeting
//   #/print/invitations?id=N, #/print/attendance?id=N   printable pages (renderPrint)
import {
  addStrings, state, t, h, api, errorText, go, hashParams, fmt, hhmm, num, todayIn, shiftDay, vnParts, vnIso,
  siteName, modal, poller, TZ,
} from './core.js';
import {
  STATUSES, LIVE_STATUSES, loadRefs, roomMembers, roomName, siteLabel, statusChip, whenText, getMeeting,
} from './meeting-info.js';
import { dateField, timeField } from './picker.js';
import { attendanceBoard, renderAttendancePrint } from './attendance.js';
import { votesSection } from './votes.js';
import { sendInvitations, renderInvitationsPrint } from './invitations.js';
import { documentsSection } from './documents.js';
import { minutesSection } from './minutes.js';

addStrings({
  vi: {
    'sec.meetings': 'Lịch họp', weekOf: 'Tuần {a} – {b}', prevWeek: '‹ Tuần trước', nextWeek: 'Tuần sau ›', thisWeek: 'Tuần này',
    newMeeting: '+ Tạo cuộc họp', noMeetingsWeek: 'Tuần này chưa có cuộc họp nào.', noMeetingsDay: 'Không có cuộc họp',
    todayBadge: 'Hôm nay', calHint: 'Nhấn vào một cuộc họp để xem chi tiết, điểm danh và giấy mời; nhấn vào ô trống để tạo cuộc họp.',
    testWindow: 'Mở phòng thử từ {t}', meetingCount: '{n} cuộc họp',
    formNew: 'Tạo cuộc họp', formEdit: 'Sửa cuộc họp', fTitle: 'Tên cuộc họp', fTitleHint: 'VD: Giao ban trực tuyến tuần 50',
    fAgenda: 'Nội dung, chương trình', fRoom: 'Phòng họp trực tuyến', fChair: 'Điểm cầu chủ tọa',
    fSites: 'Điểm cầu được mời', fAll: 'Chọn tất cả', fSelected: 'Đã chọn {n}/{total}', fChairAlways: '(chủ tọa, luôn được mời)',
    fDate: 'Ngày họp', fStart: 'Bắt đầu', fEnd: 'Kết thúc', fTimesIn: 'Giờ Việt Nam (Asia/Ho_Chi_Minh)',
    fTest: 'Mở phòng thử trước (phút)', fTestHint: 'Để kỹ thuật viên các điểm cầu vào thử âm thanh, hình ảnh.',
    fRemind: 'Nhắc trước (phút)', fRemindHint: 'Gửi e-mail nhắc các điểm cầu; để trống nếu không nhắc.',
    fMode: 'Chế độ họp', fModeFree: 'Các điểm cầu tự bật micro để phát biểu.',
    fModeChaired: 'Các điểm cầu bị tắt micro, chỉ phát biểu khi chủ tọa cho phép.',
    fSave: 'Lưu cuộc họp', fCreate: 'Tạo cuộc họp', saved: 'Đã lưu cuộc họp “{t}”.', created: 'Đã tạo cuộc họp “{t}”.',
    'fe.title': 'Nhập tên cuộc họp (tối đa 200 ký tự).', 'fe.agenda': 'Nội dung quá dài (tối đa 10.000 ký tự).',
    'fe.room': 'Chọn một phòng họp có trong hệ thống.', 'fe.chair': 'Điểm cầu chủ tọa phải thuộc phòng họp đã chọn.',
    'fe.sites': 'Có điểm cầu không thuộc phòng họp đã chọn.', 'fe.date': 'Chọn ngày họp.',
    'fe.start': 'Giờ bắt đầu không hợp lệ.', 'fe.startMissing': 'Nhập giờ bắt đầu.', 'fe.endMissing': 'Nhập giờ kết thúc.',
    'fe.end': 'Giờ kết thúc phải sau giờ bắt đầu; một cuộc họp dài tối đa 24 giờ.',
    'fe.test': 'Thời gian mở phòng thử từ 0 đến 240 phút.',
    'fe.remind': 'Nhắc trước từ 1 phút đến 7 ngày (10.080 phút); để trống nếu không nhắc.', 'fe.mode': 'Chọn chế độ họp.',
    'fe.overlap': 'Phòng họp đã có cuộc họp “{title}” ({when}) trùng khung giờ này (tính cả thời gian mở phòng thử). Chọn giờ khác hoặc phòng khác.',
    'fe.cancelled': 'Cuộc họp này đã bị hủy, không sửa được nữa.', fixErrors: 'Vui lòng sửa các mục được đánh dấu.',
    mBack: '‹ Lịch họp', mWhen: 'Thời gian', mTest: 'Mở phòng thử', mTestAt: 'từ {t} ({n} phút trước giờ họp)', mNoTest: 'Không mở trước',
    mRoom: 'Phòng họp', mChair: 'Chủ tọa', mMode: 'Chế độ', mRemind: 'Nhắc trước', mRemindN: '{n} phút', mNoRemind: 'Không nhắc',
    mInvited: 'Điểm cầu được mời', mInvites: 'Giấy mời', mInvitesSent: 'Đã gửi lúc {t}', mInvitesNot: 'Chưa gửi', mAgenda: 'Nội dung',
    mEdit: '✎ Sửa', mCancel: 'Hủy cuộc họp', mSend: '✉ Gửi giấy mời', mResend: '✉ Gửi lại giấy mời', mPrintInv: '🖨 In giấy mời',
    mMonitor: 'Giám sát điểm cầu', mPlay: '▶ Xem bản ghi', mPlayN: '▶ Xem bản ghi ({n})',
    cancelAsk: 'Hủy cuộc họp “{t}”?', cancelWarn: 'Cuộc họp vẫn hiện trên lịch với trạng thái “Đã hủy”; liên kết tham gia không mở phòng cho cuộc họp này nữa.',
    cancelYes: 'Hủy cuộc họp', cancelNo: 'Không', cancelledOk: 'Đã hủy cuộc họp.',
  },
  en: {
    'sec.meetings': 'Meetings', weekOf: 'Week {a} – {b}', prevWeek: '‹ Previous week', nextWeek: 'Next week ›', thisWeek: 'This week',
    newMeeting: '+ New meeting', noMeetingsWeek: 'No meetings this week.', noMeetingsDay: 'No meetings',
    todayBadge: 'Today', calHint: 'Click a meeting for its details, roll call and invitations; click an empty slot to schedule one.',
    testWindow: 'Room open for testing from {t}', meetingCount: '{n} meetings',
    formNew: 'New meeting', formEdit: 'Edit meeting', fTitle: 'Title', fTitleHint: 'e.g. Weekly online briefing',
    fAgenda: 'Agenda', fRoom: 'Online room', fChair: 'Chair site',
    fSites: 'Invited sites', fAll: 'Select all', fSelected: '{n}/{total} selected', fChairAlways: '(chair, always invited)',
    fDate: 'Date', fStart: 'Start', fEnd: 'End', fTimesIn: 'Vietnam time (Asia/Ho_Chi_Minh)',
    fTest: 'Open for testing before (min)', fTestHint: 'So the sites’ technicians can test sound and picture.',
    fRemind: 'Remind before (min)', fRemindHint: 'E-mail reminder to the sites; leave empty for none.',
    fMode: 'Meeting mode', fModeFree: 'Sites unmute themselves to speak.',
    fModeChaired: 'Sites are muted and speak only when the chair gives them the floor.',
    fSave: 'Save meeting', fCreate: 'Create meeting', saved: 'Meeting “{t}” saved.', created: 'Meeting “{t}” created.',
    'fe.title': 'Enter a title (at most 200 characters).', 'fe.agenda': 'The agenda is too long (at most 10,000 characters).',
    'fe.room': 'Choose an existing room.', 'fe.chair': 'The chair site must be a member of the chosen room.',
    'fe.sites': 'Some sites are not members of the chosen room.', 'fe.date': 'Pick the date.',
    'fe.start': 'The start time is not valid.', 'fe.startMissing': 'Enter the start time.', 'fe.endMissing': 'Enter the end time.',
    'fe.end': 'The end must be after the start; a meeting lasts at most 24 hours.',
    'fe.test': 'The test window is 0 to 240 minutes.',
    'fe.remind': 'Remind 1 minute to 7 days (10,080 minutes) before; leave empty for none.', 'fe.mode': 'Choose a mode.',
    'fe.overlap': 'The room already holds “{title}” ({when}) at this time (test window included). Pick another time or room.',
    'fe.cancelled': 'This meeting was cancelled and can no longer be changed.', fixErrors: 'Please correct the marked fields.',
    mBack: '‹ Meetings', mWhen: 'Time', mTest: 'Test window', mTestAt: 'from {t} ({n} min before the start)', mNoTest: 'None',
    mRoom: 'Room', mChair: 'Chair', mMode: 'Mode', mRemind: 'Reminder', mRemindN: '{n} min before', mNoRemind: 'None',
    mInvited: 'Invited sites', mInvites: 'Invitations', mInvitesSent: 'Sent at {t}', mInvitesNot: 'Not sent', mAgenda: 'Agenda',
    mEdit: '✎ Edit', mCancel: 'Cancel meeting', mSend: '✉ Send invitations', mResend: '✉ Send invitations again', mPrintInv: '🖨 Print invitations',
    mMonitor: 'Monitor sites', mPlay: '▶ Play recording', mPlayN: '▶ Play recording ({n})',
    cancelAsk: 'Cancel “{t}”?', cancelWarn: 'It stays on the calendar marked “Cancelled”; join links no longer open the room for it.',
    cancelYes: 'Cancel meeting', cancelNo: 'No', cancelledOk: 'Meeting cancelled.',
  },
});

const HOUR_PX = 48;
const DAY_MIN = 24 * 60;
const WEEK_POLL_MS = 30000;
const DEFAULT_HOURS = [7, 18]; // office hours always shown; the grid grows to hold earlier or later meetings

let page = null; // the mounted page: {poll, board, flash}
let flash = null; // {text, id}: shown once after a save

export function stop() {
  page?.poll?.stop();
  page?.board?.stop();
  page = null;
}

export async function mount(body) {
  stop();
  const p = { poll: null, board: null };
  page = p;
  body.replaceChildren(h('p', { class: 'loading' }, t('loading')));
  const params = hashParams();
  try {
    const refs = await loadRefs();
    if (page !== p) return;
    if (params.get('id')) await showMeeting(body, p, refs, params.get('id'));
    else showWeek(body, p, refs, weekStart(params.get('week') || todayIn(TZ)));
  } catch (err) {
    if (!err.handled && page === p) body.replaceChildren(h('p', { class: 'msg error section-error' }, errorText(err)));
  }
}

// ------------------------------------------------------------------------------------------ the week
/** The Monday of the week holding a Vietnam-time day. */
export function weekStart(day) {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(day || '') ? day : todayIn(TZ);
  const dow = new Date(`${d}T00:00:00Z`).getUTCDay(); // 0 = Sunday
  return shiftDay(d, -((dow + 6) % 7));
}

const dayIso = (day) => vnIso(day, '00:00');
/** "07/12" of 'YYYY-MM-DD' (Intl's vi-VN day-and-month is "07-12", which is not how Vietnamese documents write it). */
const dayMonth = (day) => `${day.slice(8, 10)}/${day.slice(5, 7)}`;

function showWeek(body, p, refs, monday) {
  const days = Array.from({ length: 7 }, (_, i) => shiftDay(monday, i));
  const weekHash = (d) => `#/meetings?week=${d}`;
  const label = h('strong', { id: 'cal-range', class: 'cal-range' }, t('weekOf', {
    a: dayMonth(days[0]), b: `${dayMonth(days[6])}/${days[6].slice(0, 4)}` }));
  const note = h('p', { id: 'cal-flash', class: 'msg info', role: 'status', hidden: true });
  const bar = h('div', { class: 'cal-bar' },
    h('div', { class: 'cal-nav' },
      h('button', { type: 'button', id: 'cal-prev', onclick: () => go(weekHash(shiftDay(monday, -7))) }, t('prevWeek')),
      h('button', { type: 'button', id: 'cal-today', onclick: () => go(weekHash(weekStart(todayIn(TZ)))) }, t('thisWeek')),
      h('button', { type: 'button', id: 'cal-next', onclick: () => go(weekHash(shiftDay(monday, 7))) }, t('nextWeek'))),
    label, h('span', { class: 'spacer' }),
    h('button', { type: 'button', id: 'meeting-new', class: 'primary', onclick: () => openForm(refs, null, { day: defaultDay(days) }) }, t('newMeeting')));
  const legend = h('div', { class: 'cal-legend', id: 'cal-legend' });
  const holder = h('div', { id: 'calendar', class: 'calendar', 'data-week': monday }, h('p', { class: 'loading' }, t('loading')));
  body.replaceChildren(bar, note, legend, holder, h('p', { class: 'muted small cal-hint' }, t('fTimesIn'), ' · ', t('calHint')));
  if (flash) {
    note.textContent = flash.text;
    note.hidden = false;
  }
  const justSaved = flash?.id;
  flash = null;
  const load = async () => {
    const res = await api('GET', `/api/v1/scheduled-meetings?from=${encodeURIComponent(dayIso(days[0]))}&to=${encodeURIComponent(dayIso(shiftDay(monday, 7)))}`);
    if (page !== p) return;
    const items = res.items.filter((m) => m.starts_at && m.ends_at).sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
    paintLegend(legend, items);
    holder.replaceChildren(weekGrid(refs, days, items, justSaved), agendaList(refs, days, items, justSaved));
    holder.dataset.count = String(items.length);
  };
  p.poll = poller(() => load().catch((err) => {
    if (!err.handled && page === p) holder.replaceChildren(h('p', { class: 'msg error' }, errorText(err)));
  }), WEEK_POLL_MS);
}

function defaultDay(days) {
  const today = todayIn(TZ);
  return days.includes(today) ? today : days[0];
}

function paintLegend(el, items) {
  el.replaceChildren(...STATUSES.map((s) => {
    const n = items.filter((m) => m.status === s).length;
    return h('span', { class: `st-chip st-${s}${n ? '' : ' none'}`, 'data-status': s }, t(`st.${s}`), n ? ` · ${num(n)}` : '');
  }));
}

/** Pieces of a meeting per Vietnam day: [{day, from, to, testFrom}] in minutes of that day. */
function pieces(m) {
  const out = [];
  const opens = Date.parse(m.opens_at || m.starts_at);
  const start = Date.parse(m.starts_at);
  const end = Date.parse(m.ends_at);
  let day = vnParts(Math.min(opens, start)).day;
  for (let guard = 0; guard < 3; guard += 1) {
    const d0 = Date.parse(dayIso(day));
    const d1 = d0 + DAY_MIN * 60000;
    if (d0 >= end) break;
    const from = Math.max(start, d0);
    const to = Math.min(end, d1);
    const tFrom = Math.max(opens, d0);
    const tTo = Math.min(start, d1);
    const piece = { day, from: null, to: null, testFrom: null, testTo: null };
    if (to > from) Object.assign(piece, { from: (from - d0) / 60000, to: (to - d0) / 60000 });
    if (tTo > tFrom) Object.assign(piece, { testFrom: (tFrom - d0) / 60000, testTo: (tTo - d0) / 60000 });
    if (piece.from != null || piece.testFrom != null) out.push(piece);
    day = shiftDay(day, 1);
  }
  return out;
}

/** Lanes for overlapping blocks of one day: each piece gets {lane, lanes}. */
function lanes(list) {
  const sorted = [...list].sort((a, b) => a.top - b.top || b.bottom - a.bottom);
  let cluster = [];
  let clusterEnd = -1;
  const flush = () => {
    const n = Math.max(1, ...cluster.map((x) => x.lane + 1));
    for (const x of cluster) x.lanes = n;
    cluster = [];
  };
  for (const x of sorted) {
    if (x.top >= clusterEnd) { flush(); clusterEnd = -1; }
    const used = new Set(cluster.filter((c) => c.bottom > x.top).map((c) => c.lane));
    let lane = 0;
    while (used.has(lane)) lane += 1;
    x.lane = lane;
    cluster.push(x);
    clusterEnd = Math.max(clusterEnd, x.bottom);
  }
  flush();
  return sorted;
}

const meetingHash = (m) => `#/meetings?id=${m.id}`;

function weekGrid(refs, days, items, justSaved) {
  const today = todayIn(TZ);
  const byDay = new Map(days.map((d) => [d, []]));
  for (const m of items) {
    for (const piece of pieces(m)) {
      if (!byDay.has(piece.day)) continue;
      const top = Math.min(piece.testFrom ?? Infinity, piece.from ?? Infinity);
      const bottom = Math.max(piece.to ?? -Infinity, piece.testTo ?? -Infinity);
      byDay.get(piece.day).push({ m, piece, top, bottom });
    }
  }
  let [h0, h1] = DEFAULT_HOURS;
  for (const list of byDay.values()) {
    for (const x of list) {
      h0 = Math.min(h0, Math.floor(x.top / 60));
      h1 = Math.max(h1, Math.ceil(x.bottom / 60));
    }
  }
  const y = (min) => ((min - h0 * 60) / 60) * HOUR_PX;
  const height = (h1 - h0) * HOUR_PX;
  const hours = Array.from({ length: h1 - h0 + 1 }, (_, i) => h0 + i);
  const nowMin = vnParts(Date.now()).min;
  const gutter = h('div', { class: 'cal-gutter', style: `height:${height}px` },
    hours.map((hr) => h('span', { class: 'cal-hour', style: `top:${y(hr * 60)}px` }, `${String(hr).padStart(2, '0')}:00`)));
  const cols = days.map((day) => {
    const list = lanes(byDay.get(day));
    const col = h('div', { class: `cal-col${day === today ? ' today' : ''}`, 'data-day': day, style: `height:${height}px`,
      title: t('newMeeting').replace(/^\+\s*/, ''),
      onclick: (ev) => {
        if (ev.target !== col) return;
        const min = Math.floor((h0 * 60 + (ev.offsetY / HOUR_PX) * 60) / 30) * 30;
        openForm(refs, null, { day, start: Math.max(0, Math.min(min, DAY_MIN - 60)) });
      } },
    hours.slice(0, -1).map((hr) => h('i', { class: 'cal-line', style: `top:${y(hr * 60)}px` })),
    list.flatMap(({ m, piece, lane, lanes: n }) => {
      const left = `calc(${(lane / n) * 100}% + 2px)`;
      const width = `calc(${100 / n}% - 4px)`;
      const out = [];
      if (piece.testFrom != null && m.status !== 'cancelled') {
        out.push(h('div', { class: `cal-test st-${m.status}`, 'data-meeting-id': m.id, title: t('testWindow', { t: hhmm(m.opens_at) }),
          style: `top:${y(piece.testFrom)}px;height:${Math.max(2, y(piece.testTo) - y(piece.testFrom))}px;left:${left};width:${width}` }));
      }
      if (piece.from != null) {
        const hgt = Math.max(24, y(piece.to) - y(piece.from) - 2);
        out.push(h('a', { class: `cal-block st-${m.status}${m.id === justSaved ? ' just-saved' : ''}${hgt < 44 ? ' short' : ''}`,
          href: meetingHash(m), 'data-meeting-id': m.id, 'data-status': m.status,
          title: `${m.title} — ${hhmm(m.starts_at)}–${hhmm(m.ends_at)} · ${roomName(refs, m.room_id)} · ${t(`st.${m.status}`)}`,
          style: `top:${y(piece.from)}px;height:${hgt}px;left:${left};width:${width}` },
        h('span', { class: 'cal-time' }, `${hhmm(m.starts_at)}–${hhmm(m.ends_at)}`),
        h('strong', { class: 'cal-title' }, m.title),
        h('span', { class: 'cal-room' }, roomName(refs, m.room_id))));
      }
      return out;
    }),
    day === today && nowMin >= h0 * 60 && nowMin <= h1 * 60 ? h('i', { class: 'cal-now', style: `top:${y(nowMin)}px` }) : null);
    return col;
  });
  const heads = days.map((day) => h('div', { class: `cal-dayhead${day === today ? ' today' : ''}`, 'data-day': day },
    h('span', { class: 'cal-wd' }, fmt(dayIso(day), { weekday: 'long' })),
    h('span', { class: 'cal-date' }, dayMonth(day))));
  return h('div', { id: 'cal-week', class: 'cal-week' },
    h('div', { class: 'cal-heads' }, h('div', { class: 'cal-corner' }), heads),
    h('div', { class: 'cal-body' }, gutter, cols));
}

function agendaList(refs, days, items, justSaved) {
  const today = todayIn(TZ);
  return h('ol', { id: 'cal-agenda', class: 'cal-agenda' }, days.map((day) => {
    const list = items.filter((m) => pieces(m).some((pc) => pc.day === day && pc.from != null));
    return h('li', { class: `ag-day${day === today ? ' today' : ''}${list.length ? '' : ' empty'}`, 'data-day': day },
      h('h3', { class: 'ag-dayhead' }, fmt(dayIso(day), { weekday: 'long', day: '2-digit', month: '2-digit' }),
        day === today ? h('span', { class: 'badge today-badge' }, t('todayBadge')) : null),
      list.length ? h('ul', {}, list.map((m) => h('li', {}, h('a', {
        class: `ag-item st-${m.status}${m.id === justSaved ? ' just-saved' : ''}`, href: meetingHash(m), 'data-meeting-id': m.id, 'data-status': m.status },
      h('span', { class: 'ag-time' }, hhmm(m.starts_at), h('small', {}, hhmm(m.ends_at))),
      h('span', { class: 'ag-body' }, h('strong', {}, m.title),
        h('small', { class: 'muted' }, roomName(refs, m.room_id), ' · ', t('sitesInvited', { n: num(m.invited_sites.length) }))),
      statusChip(m)))))
        : h('p', { class: 'ag-none muted' }, t('noMeetingsDay')));
  }));
}

// ------------------------------------------------------------------------------------------ the form
const FIELD_OF = {
  title: 'title', agenda: 'agenda', room_id: 'room', chair_site_id: 'chair', invited_sites: 'sites', starts_at: 'start',
  ends_at: 'end', test_before_min: 'test', remind_before_min: 'remind', mode: 'mode',
};

/** Which form field an API error is about, and what to say about it in the reader's language. */
export function fieldError(err) {
  const apiField = (err.field || '').split('.')[0];
  if (err.code === 'meeting_overlap') {
    const m = /“(.*)” \((.*)\)/.exec(err.message || '');
    return ['start', t('fe.overlap', { title: m ? m[1] : '', when: m ? m[2] : '' })];
  }
  if (err.code === 'cancelled') return [null, t('fe.cancelled')];
  let f = FIELD_OF[apiField] || null;
  if (!f && /ends_at|24 hours/.test(err.message || '')) f = 'end';
  if (!f) return [null, errorText(err)];
  return [f, t(`fe.${f}`)];
}

function openForm(refs, meeting, { day, start } = {}) {
  const editing = Boolean(meeting);
  const err = {};
  const errEl = (f) => { err[f] = h('p', { class: 'field-error', 'data-for': f, role: 'alert', hidden: true }); return err[f]; };
  const rowField = (f, label, control, hint) => h('div', { class: `mf mf-${f}`, 'data-field': f },
    h('label', { for: `mt-${f}` }, label), control, hint ? h('small', { class: 'muted' }, hint) : null, errEl(f));
  const vn = (iso) => vnParts(iso);
  const pad = (n) => String(Math.floor(n)).padStart(2, '0');
  const hm = (min) => `${pad(min / 60)}:${pad(min % 60)}`;
  const startMin = start ?? 8 * 60;
  const init = meeting ? {
    title: meeting.title, agenda: meeting.agenda, room: meeting.room_id, chair: meeting.chair_site_id,
    sites: new Set(meeting.invited_sites), date: vn(meeting.starts_at).day, start: hm(vn(meeting.starts_at).min),
    end: hm(vn(meeting.ends_at).min), test: meeting.test_before_min, remind: meeting.remind_before_min, mode: meeting.mode,
  } : {
    title: '', agenda: '', room: state.room && refs.room.has(state.room) ? state.room : refs.rooms[0]?.id, chair: null, sites: null,
    date: day || todayIn(TZ), start: hm(startMin), end: hm(Math.min(startMin + 120, DAY_MIN - 1)), test: 60, remind: 30, mode: 'free',
  };
  const title = h('input', { id: 'mt-title', type: 'text', maxlength: 200, value: init.title, placeholder: t('fTitleHint'), autocomplete: 'off' });
  const agenda = h('textarea', { id: 'mt-agenda', rows: 3, maxlength: 10000 }, init.agenda);
  const room = h('select', { id: 'mt-room' }, refs.rooms.map((r) => h('option', { value: r.id, selected: r.id === init.room }, r.name)));
  const chair = h('select', { id: 'mt-chair' });
  const all = h('input', { id: 'mt-sites-all', type: 'checkbox' });
  const count = h('span', { id: 'mt-sites-count', class: 'muted small' });
  const checklist = h('div', { id: 'mt-sites', class: 'site-checklist', role: 'group' });
  // dd/mm/yyyy and 24-hour text fields (picker.js): the same in vi and en, whatever the browser's language.
  const date = dateField('mt-date', { value: init.date, required: true });
  const startIn = timeField('mt-start', { value: init.start });
  const endIn = timeField('mt-end', { value: init.end });
  const test = h('input', { id: 'mt-test', type: 'number', min: 0, max: 240, step: 5, value: init.test, inputmode: 'numeric' });
  const remind = h('input', { id: 'mt-remind', type: 'number', min: 1, max: 10080, step: 5, value: init.remind ?? '', inputmode: 'numeric' });
  const modeRadio = (v) => h('label', { class: 'mode-opt' }, h('input', { type: 'radio', name: 'mt-mode', value: v, checked: init.mode === v }),
    h('span', {}, h('strong', {}, t(`mode.${v}`)), h('small', { class: 'muted' }, t(v === 'free' ? 'fModeFree' : 'fModeChaired'))));
  const general = h('p', { id: 'mt-error', class: 'msg error', role: 'alert', hidden: true });
  const submit = h('button', { id: 'mt-submit', type: 'submit', class: 'primary' }, editing ? t('fSave') : t('fCreate'));

  let chosen = init.sites; // null: every member (a new meeting invites the whole room by default)
  const members = () => roomMembers(refs, refs.room.get(room.value));
  const paintSites = () => {
    const list = members();
    const chairId = chair.value;
    if (chosen == null) chosen = new Set(list.map((s) => s.id));
    checklist.replaceChildren(...list.map((s) => {
      const isChair = s.id === chairId;
      const box = h('input', { type: 'checkbox', name: 'mt-site', value: s.id, checked: isChair || chosen.has(s.id), disabled: isChair,
        onchange: (ev) => { if (ev.target.checked) chosen.add(s.id); else chosen.delete(s.id); paintCount(); } });
      return h('label', { class: `site-check role-${s.id === refs.room.get(room.value)?.host_site_id ? 'host' : s.role}`, 'data-site-id': s.id }, box,
        h('span', {}, siteName(s), isChair ? h('small', { class: 'muted' }, ` ${t('fChairAlways')}`) : null));
    }));
    paintCount();
  };
  const paintCount = () => {
    const list = members();
    const n = list.filter((s) => s.id === chair.value || chosen.has(s.id)).length;
    count.textContent = t('fSelected', { n: num(n), total: num(list.length) });
    all.checked = n === list.length;
    all.indeterminate = n > 0 && n < list.length;
  };
  const paintChair = (keep) => {
    const r = refs.room.get(room.value);
    const list = members();
    const want = keep && list.some((s) => s.id === keep) ? keep : r?.host_site_id;
    chair.replaceChildren(...list.map((s) => h('option', { value: s.id, selected: s.id === want }, siteName(s))));
  };
  all.addEventListener('change', () => {
    chosen = all.checked ? new Set(members().map((s) => s.id)) : new Set();
    paintSites();
  });
  room.addEventListener('change', () => { chosen = null; paintChair(null); paintSites(); });
  chair.addEventListener('change', () => { chosen.add(chair.value); paintSites(); });
  paintChair(init.chair);
  paintSites();

  const clearErrors = () => {
    for (const el of Object.values(err)) { el.hidden = true; el.textContent = ''; el.closest('.mf')?.classList.remove('invalid'); }
    general.hidden = true;
  };
  const showError = (f, text, detail) => {
    const el = f && err[f];
    if (el) {
      el.textContent = text;
      if (detail) el.title = detail;
      el.hidden = false;
      el.closest('.mf')?.classList.add('invalid');
      el.closest('.mf')?.querySelector('input, select, textarea')?.focus();
      general.textContent = t('fixErrors');
    } else {
      general.textContent = text;
    }
    general.hidden = false;
  };

  const form = h('form', { id: 'meeting-form', class: 'meeting-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    clearErrors();
    if (!title.value.trim()) return showError('title', t('fe.title'));
    if (!date.iso) return showError('date', t(date.iso === null ? 'pick.badDate' : 'fe.date'));
    if (startIn.iso === '') return showError('start', t('fe.startMissing'));
    if (endIn.iso === '') return showError('end', t('fe.endMissing'));
    const startsAt = vnIso(date.iso, startIn.iso);
    // The form holds one date: a meeting ends on the day it starts, after its start (said here, before asking).
    const endsAt = vnIso(date.iso, endIn.iso);
    if (!startsAt) return showError('start', t(startIn.iso === null ? 'pick.badTime' : 'fe.start'));
    if (endIn.iso === null) return showError('end', t('pick.badTime'));
    if (!endsAt || Date.parse(endsAt) <= Date.parse(startsAt)) return showError('end', t('fe.end'));
    const intOr = (el, dflt) => (el.value.trim() === '' ? dflt : Number(el.value));
    const list = members();
    const invited = list.filter((s) => s.id === chair.value || chosen.has(s.id)).map((s) => s.id);
    const body = {
      title: title.value.trim(), agenda: agenda.value, room_id: room.value, chair_site_id: chair.value,
      invited_sites: invited.length === list.length ? 'all' : invited, starts_at: startsAt, ends_at: endsAt,
      test_before_min: intOr(test, 60), remind_before_min: intOr(remind, null),
      mode: form.querySelector('input[name="mt-mode"]:checked')?.value || 'free',
    };
    submit.disabled = true;
    try {
      const saved = editing ? await api('PATCH', `/api/v1/scheduled-meetings/${meeting.id}`, body)
        : await api('POST', '/api/v1/scheduled-meetings', body);
      dialog.close();
      flash = { text: t(editing ? 'saved' : 'created', { t: saved.title }), id: saved.id };
      go(editing ? `#/meetings?id=${saved.id}` : `#/meetings?week=${weekStart(vnParts(saved.starts_at).day)}`);
    } catch (e) {
      if (e.handled) return;
      const [f, text] = fieldError(e);
      showError(f, text, e.message);
    } finally {
      submit.disabled = false;
    }
  } },
  rowField('title', t('fTitle'), title),
  rowField('agenda', t('fAgenda'), agenda),
  h('div', { class: 'mf-row' }, rowField('room', t('fRoom'), room), rowField('chair', t('fChair'), chair)),
  h('div', { class: 'mf mf-sites', 'data-field': 'sites' },
    h('div', { class: 'mf-sites-head' }, h('span', { class: 'mf-label' }, t('fSites')),
      h('label', { class: 'check-all', for: 'mt-sites-all' }, all, ' ', t('fAll')), count),
    checklist, errEl('sites')),
  h('div', { class: 'mf-row mf-when' }, rowField('date', t('fDate'), date), rowField('start', t('fStart'), startIn),
    rowField('end', t('fEnd'), endIn)),
  h('p', { class: 'muted small mf-tz' }, t('fTimesIn')),
  h('div', { class: 'mf-row' }, rowField('test', t('fTest'), test, t('fTestHint')), rowField('remind', t('fRemind'), remind, t('fRemindHint'))),
  h('fieldset', { class: 'mf mf-mode', 'data-field': 'mode' }, h('legend', {}, t('fMode')), modeRadio('free'), modeRadio('chaired'), errEl('mode')),
  general,
  h('div', { class: 'mf-actions' }, submit, h('button', { type: 'button', id: 'mt-cancel', onclick: () => dialog.close() }, t('cancel'))));
  const dialog = modal(editing ? t('formEdit') : t('formNew'), form, { id: 'meeting-dialog', wide: true });
  title.focus();
  return dialog;
}

// ------------------------------------------------------------------------------------------ one meeting
async function showMeeting(body, p, refs, id) {
  const m = await getMeeting(id);
  if (page !== p) return;
  if (!m) {
    body.replaceChildren(h('p', { class: 'msg error' }, t('meetingMissing')),
      h('a', { href: '#/meetings', class: 'back-link' }, t('mBack')));
    return;
  }
  const note = h('p', { id: 'meeting-flash', class: 'msg info', role: 'status', hidden: !flash }, flash?.text || '');
  flash = null;
  const head = h('div', { class: 'mt-head' });
  const facts = h('dl', { id: 'meeting-facts', class: 'mt-facts' });
  const actions = h('div', { id: 'meeting-actions', class: 'mt-actions' });
  const inviteOut = h('div', { id: 'invite-result', class: 'invite-result', hidden: true });
  const boardHolder = h('section', { id: 'attendance', class: 'attendance card' });
  const paint = (mm) => {
    head.replaceChildren(
      h('a', { href: `#/meetings?week=${weekStart(vnParts(mm.starts_at).day)}`, class: 'back-link', id: 'meeting-back' }, t('mBack')),
      h('h2', { id: 'meeting-title' }, mm.title), statusChip(mm));
    const row = (k, ...v) => [h('dt', {}, t(k)), h('dd', {}, ...v)];
    facts.replaceChildren(
      ...row('mWhen', h('strong', {}, whenText(mm)), ' ', h('small', { class: 'muted' }, `(${t('vnTime')})`)),
      ...row('mTest', mm.test_before_min ? t('mTestAt', { t: hhmm(mm.opens_at), n: num(mm.test_before_min) }) : t('mNoTest')),
      ...row('mRoom', roomName(refs, mm.room_id)),
      ...row('mChair', siteLabel(refs, mm.chair_site_id)),
      ...row('mMode', t(`mode.${mm.mode}`)),
      ...row('mInvited', num(mm.invited_sites.length)),
      ...row('mRemind', mm.remind_before_min ? t('mRemindN', { n: num(mm.remind_before_min) }) : t('mNoRemind')),
      ...row('mInvites', mm.invitations_sent_at ? t('mInvitesSent', { t: fmt(mm.invitations_sent_at, { hour: '2-digit', minute: '2-digit', day: '2-digit', month: '2-digit', year: 'numeric', hour12: false }) }) : t('mInvitesNot')),
      ...(mm.agenda ? row('mAgenda', h('div', { class: 'mt-agenda' }, mm.agenda)) : []));
    const live = LIVE_STATUSES.includes(mm.status);
    const cancelled = mm.status === 'cancelled';
    const sessions = mm.recorded ? mm.room_session_ids : [];
    actions.replaceChildren(...[
      !cancelled && mm.status !== 'ended' && h('button', { type: 'button', id: 'meeting-edit', onclick: () => openForm(refs, mm) }, t('mEdit')),
      !cancelled && h('button', { type: 'button', id: 'meeting-invite', class: 'primary',
        onclick: (ev) => sendInvitations(mm, refs, inviteOut, ev.currentTarget).then((got) => { if (got) reload(); }) },
      mm.invitations_sent_at ? t('mResend') : t('mSend')),
      !cancelled && h('a', { class: 'button', id: 'meeting-print-invites', href: `#/print/invitations?id=${mm.id}` }, t('mPrintInv')),
      live && h('a', { class: 'button', id: 'meeting-monitor', href: `#/monitor?room=${encodeURIComponent(mm.room_id)}` }, t('mMonitor')),
      ...sessions.map((sid, i) => h('a', { class: 'button meeting-play', href: `/meetings/${sid}/player`, target: '_blank', rel: 'noopener',
        'data-session-id': sid }, sessions.length > 1 ? t('mPlayN', { n: i + 1 }) : t('mPlay'))),
      h('span', { class: 'spacer' }),
      !cancelled && mm.status !== 'ended' && h('button', { type: 'button', id: 'meeting-cancel', class: 'danger', onclick: () => confirmCancel(mm) }, t('mCancel')),
    ].filter(Boolean));
  };
  const reload = async () => {
    const fresh = await getMeeting(id);
    if (fresh && page === p) { paint(fresh); p.board?.update(fresh); }
  };
  const confirmCancel = (mm) => {
    const yes = h('button', { type: 'button', id: 'cancel-yes', class: 'danger' }, t('cancelYes'));
    const msg = h('p', { class: 'msg error', hidden: true });
    const d = modal(t('cancelAsk', { t: mm.title }), h('div', { class: 'confirm-body' }, h('p', {}, t('cancelWarn')), msg,
      h('div', { class: 'mf-actions' }, yes, h('button', { type: 'button', id: 'cancel-no', onclick: () => d.close() }, t('cancelNo')))),
    { id: 'cancel-dialog' });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      try {
        await api('DELETE', `/api/v1/scheduled-meetings/${mm.id}`);
        d.close();
        note.textContent = t('cancelledOk');
        note.hidden = false;
        await reload();
      } catch (e) {
        if (e.handled) return;
        yes.disabled = false;
        msg.textContent = errorText(e);
        msg.hidden = false;
      }
    });
    yes.focus();
  };
  paint(m);
  body.replaceChildren(h('article', { id: 'meeting-page', class: 'meeting-page', 'data-meeting-id': m.id, 'data-status': m.status },
    head, note, h('div', { class: 'mt-top card' }, facts, actions), inviteOut, boardHolder));
  document.getElementById('meeting-page').append(documentsSection(m));  // tài liệu họp (documents.js)
  document.getElementById('meeting-page').append(minutesSection(m));  // biên bản (minutes.js)
  document.getElementById('meeting-page').append(votesSection(m, refs));  // biểu quyết (votes.js)
  p.board = attendanceBoard(m, refs, boardHolder, {
    onMeeting: (mm) => {
      const el = document.getElementById('meeting-page');
      if (!el || page !== p || el.dataset.status === mm.status) return;
      el.dataset.status = mm.status;
      paint(mm);
    },
  });
}

// ------------------------------------------------------------------------------------------ printing
/** The printable pages: 'invitations' (one card per site with its link and QR code) and 'attendance'. */
export async function renderPrint(kind, mountFn) {
  stop();
  const p = { poll: null, board: null };
  page = p;
  const id = hashParams().get('id');
  mountFn(h('p', { class: 'boot' }, t('loading')));
  try {
    const refs = await loadRefs();
    const m = id ? await getMeeting(id) : null;
    if (page !== p) return;
    if (!m) { mountFn(h('p', { class: 'msg error print-error' }, t('meetingMissing')), h('a', { href: '#/meetings' }, t('mBack'))); return; }
    const back = `#/meetings?id=${m.id}`;
    if (kind === 'invitations') await renderInvitationsPrint(m, refs, back, mountFn, () => page === p);
    else if (kind === 'attendance') await renderAttendancePrint(m, refs, back, mountFn, () => page === p);
    else go(back);
  } catch (err) {
    if (!err.handled && page === p) mountFn(h('p', { class: 'msg error print-error' }, errorText(err)), h('a', { href: '#/meetings' }, t('mBack')));
  }
}

