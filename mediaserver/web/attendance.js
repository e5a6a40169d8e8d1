// Roll call (điểm danh) of a scheduled meeting: a live board of one tile per invited site (polled every 3 s
// while the room is open), the absence reasons the operator enters, the CSV download and the printable report.
import { addStrings, t, h, api, errorText, fmt, hhmm, num, vnParts, saveBlob } from './core.js';
import { LIVE_STATUSES, roomName, siteLabel, whenText, printShell } from './meeting-info.js';

addStrings({
  vi: {
    attTitle: 'Điểm danh', 'att.present': 'Có mặt', 'att.late': 'Đến muộn', 'att.absent': 'Vắng mặt', 'att.pending': 'Chưa vào',
    attUpdated: 'Cập nhật lúc {t}', attCsv: '⬇ Tải CSV', attPrint: '🖨 In báo cáo điểm danh', attConnected: 'Đang kết nối',
    attFirst: 'Vào lúc {t}', attMinutes: '{n} phút', attJoins: '{n} lần vào', attNever: 'Chưa kết nối lần nào',
    attReason: 'Lý do vắng', attReasonHint: 'VD: mất điện, đi công tác', attSave: 'Lưu', attSaved: 'Đã lưu', attChair: 'Chủ tọa',
    attBarHint: 'Thanh ngang: thời gian điểm cầu kết nối, từ lúc mở phòng thử đến khi kết thúc; vạch đỏ: giờ bắt đầu họp.',
    attInvited: 'Được mời', attLoadFailed: 'Không tải được điểm danh: {m}', attLeft: 'rời lúc {t}',
    repTitle: 'BÁO CÁO ĐIỂM DANH', repMeeting: 'Cuộc họp trực tuyến: “{t}”', repMotto1: 'CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM',
    repMotto2: 'Độc lập - Tự do - Hạnh phúc', repCounts: 'Số điểm cầu được mời: {n}. Có mặt: {p}; đến muộn: {l}; vắng mặt: {a}; chưa vào: {w}.',
    'rep.no': 'STT', 'rep.site': 'Điểm cầu', 'rep.status': 'Trạng thái', 'rep.first': 'Vào lần đầu', 'rep.last': 'Rời lần cuối',
    'rep.joins': 'Số lần vào', 'rep.minutes': 'Số phút có mặt', 'rep.reason': 'Lý do vắng / ghi chú',
    repMade: 'Lập lúc {h}, ngày {d} tháng {m} năm {y}', repMaker: 'Người lập biểu', repChair: 'Chủ tọa', repSign: '(Ký, ghi rõ họ tên)',
    repStillOpen: 'Cuộc họp chưa kết thúc: số liệu tính đến thời điểm lập báo cáo.',
  },
  en: {
    attTitle: 'Roll call', 'att.present': 'Present', 'att.late': 'Late', 'att.absent': 'Absent', 'att.pending': 'Not yet in',
    attUpdated: 'Updated at {t}', attCsv: '⬇ Download CSV', attPrint: '🖨 Print roll call report', attConnected: 'Connected',
    attFirst: 'Joined at {t}', attMinutes: '{n} min', attJoins: '{n} joins', attNever: 'Never connected',
    attReason: 'Reason for absence', attReasonHint: 'e.g. power cut, on a mission', attSave: 'Save', attSaved: 'Saved', attChair: 'Chair',
    attBarHint: 'Bar: when the site was connected, from the test window to the end; red mark: the start time.',
    attInvited: 'Invited', attLoadFailed: 'Cannot load the roll call: {m}', attLeft: 'left at {t}',
    repTitle: 'ROLL CALL REPORT', repMeeting: 'Online meeting: “{t}”', repMotto1: 'SOCIALIST REPUBLIC OF VIET NAM',
    repMotto2: 'Independence - Freedom - Happiness', repCounts: 'Invited sites: {n}. Present: {p}; late: {l}; absent: {a}; not yet in: {w}.',
    'rep.no': 'No.', 'rep.site': 'Site', 'rep.status': 'Status', 'rep.first': 'First joined', 'rep.last': 'Last left',
    'rep.joins': 'Joins', 'rep.minutes': 'Minutes present', 'rep.reason': 'Reason for absence / note',
    repMade: 'Made at {h} on {d}/{m}/{y}', repMaker: 'Prepared by', repChair: 'Chair', repSign: '(Signature and full name)',
    repStillOpen: 'The meeting has not ended: figures as of the time of this report.',
  },
});

export const ATT_STATUSES = ['present', 'late', 'absent', 'pending'];
const LIVE_POLL_MS = 3000;
const IDLE_POLL_MS = 30000;

const attUrl = (m) => `/api/v1/scheduled-meetings/${encodeURIComponent(m.id)}/attendance`;
const secs = (iso) => (iso ? Date.parse(iso) / 1000 : null);

/** The board inside ``holder``; returns {stop(), update(meeting)}. ``onMeeting`` hears the meeting as each poll sees it. */
export function attendanceBoard(meeting, refs, holder, { onMeeting } = {}) {
  let m = meeting;
  let timer = null;
  let stopped = false;
  const tiles = new Map();
  const updated = h('span', { id: 'att-updated', class: 'muted small' });
  const counts = h('div', { id: 'att-counts', class: 'att-counts' });
  const grid = h('div', { id: 'att-grid', class: 'att-grid' });
  const error = h('p', { id: 'att-error', class: 'msg error', hidden: true });
  const csv = h('button', { type: 'button', id: 'att-csv', onclick: () => downloadCsv(m, csv, error) }, t('attCsv'));
  holder.replaceChildren(
    h('header', { class: 'att-head' }, h('h3', {}, t('attTitle')), updated, h('span', { class: 'spacer' }), csv,
      h('a', { class: 'button', id: 'att-print', href: `#/print/attendance?id=${m.id}` }, t('attPrint'))),
    counts, error, grid, h('p', { class: 'muted small att-hint' }, t('attBarHint')));

  const round = async () => {
    timer = null;
    if (stopped) return;
    try {
      const a = await api('GET', attUrl(m));
      if (stopped) return;
      m = a.meeting;
      onMeeting?.(m);
      paint(a);
      error.hidden = true;
    } catch (err) {
      if (err.handled || stopped) return;
      error.textContent = t('attLoadFailed', { m: errorText(err) });
      error.hidden = false;
    }
    if (stopped || ['ended', 'cancelled'].includes(m.status)) return;
    timer = setTimeout(round, LIVE_STATUSES.includes(m.status) ? LIVE_POLL_MS : IDLE_POLL_MS);
  };

  const paint = (a) => {
    updated.textContent = t('attUpdated', { t: fmt(new Date().toISOString(), { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }) });
    const c = a.counts || Object.fromEntries(ATT_STATUSES.map((s) => [s, a.items.filter((i) => i.status === s).length]));
    const online = a.items.filter((i) => i.connected).length;
    counts.replaceChildren(...ATT_STATUSES.map((s) => h('div', { class: `att-count att-${s}`, 'data-status': s },
      h('strong', {}, num(c[s] || 0)), h('span', {}, t(`att.${s}`)))),
    h('div', { class: 'att-count att-online', 'data-status': 'connected' }, h('strong', {}, num(online)), h('span', {}, t('attConnected'))));
    const win = windowOf(a.meeting, a.items);
    const seen = new Set();
    a.items.forEach((item, i) => {
      seen.add(item.site_id);
      let tile = tiles.get(item.site_id);
      if (!tile) {
        tile = newTile(item);
        tiles.set(item.site_id, tile);
      }
      paintTile(tile, item, a.meeting, win);
      if (grid.children[i] !== tile.el) grid.insertBefore(tile.el, grid.children[i] || null);
    });
    for (const [id, tile] of tiles) if (!seen.has(id)) { tile.el.remove(); tiles.delete(id); }
  };

  const newTile = (item) => {
    const input = h('input', { type: 'text', class: 'att-reason-input', maxlength: 500, placeholder: t('attReasonHint'),
      'aria-label': `${t('attReason')}: ${item.name}` });
    const save = h('button', { type: 'submit', class: 'att-reason-save' }, t('attSave'));
    const status = h('small', { class: 'att-reason-status muted', role: 'status' });
    const tile = {
      el: h('article', { class: 'att-tile', 'data-site-id': item.site_id },
        h('div', { class: 'att-top' }, h('span', { class: 'att-dot' }), h('strong', { class: 'att-name' }), h('span', { class: 'att-chair' })),
        h('span', { class: 'att-status' }),
        h('div', { class: 'att-facts' }),
        h('div', { class: 'att-bar', role: 'img' }),
        h('form', { class: 'att-reason', onsubmit: (ev) => { ev.preventDefault(); saveReason(tile, item.site_id); } },
          h('label', {}, h('span', { class: 'att-reason-label' }, t('attReason')), input), save, status)),
      input, save, status, dirty: false,
    };
    input.addEventListener('input', () => { tile.dirty = true; status.textContent = ''; });
    return tile;
  };

  const saveReason = async (tile, siteId) => {
    tile.save.disabled = true;
    try {
      const item = await api('PUT', `${attUrl(m)}/${encodeURIComponent(siteId)}`, { absence_reason: tile.input.value.trim() || null });
      tile.dirty = false;
      tile.status.textContent = `✓ ${t('attSaved')}`;
      tile.input.value = item.absence_reason || '';
    } catch (err) {
      if (!err.handled) tile.status.textContent = errorText(err);
    } finally {
      tile.save.disabled = false;
    }
  };

  timer = setTimeout(round, 0);
  return {
    stop() { stopped = true; clearTimeout(timer); },
    update(fresh) {
      const wasIdle = !LIVE_STATUSES.includes(m.status);
      m = fresh;
      if (!stopped && wasIdle && LIVE_STATUSES.includes(m.status)) { clearTimeout(timer); timer = setTimeout(round, 0); }
    },
  };

  function paintTile(tile, item, mm, win) {
    const el = tile.el;
    el.dataset.status = item.status;
    el.dataset.connected = String(item.connected);
    el.querySelector('.att-name').textContent = siteLabel(refs, item.site_id) || item.name;
    el.querySelector('.att-chair').textContent = item.site_id === mm.chair_site_id ? t('attChair') : '';
    el.querySelector('.att-dot').title = item.connected ? t('attConnected') : '';
    el.querySelector('.att-status').textContent = t(`att.${item.status}`);
    const facts = [];
    if (item.first_join_at) {
      facts.push(h('span', { class: 'att-first' }, t('attFirst', { t: hhmm(item.first_join_at) })),
        h('span', { class: 'att-min' }, t('attMinutes', { n: num(item.minutes_present, 1) })),
        h('span', {}, t('attJoins', { n: num(item.intervals.length) })));
      if (item.connected) facts.push(h('span', { class: 'att-online' }, `● ${t('attConnected')}`));
      else if (item.last_leave_at) facts.push(h('span', {}, t('attLeft', { t: hhmm(item.last_leave_at) })));
    } else {
      facts.push(h('span', { class: 'muted' }, t('attNever')));
    }
    el.querySelector('.att-facts').replaceChildren(...facts);
    paintBar(el.querySelector('.att-bar'), item, mm, win);
    const started = Date.now() >= Date.parse(mm.starts_at);
    const wantsReason = item.status === 'absent' || (item.status === 'pending' && started && mm.status !== 'cancelled');
    const form = el.querySelector('.att-reason');
    form.hidden = !wantsReason && !item.absence_reason;
    if (!tile.dirty && document.activeElement !== tile.input) tile.input.value = item.absence_reason || '';
  }
}

/** The span the bars cover: from the test window's opening to the end (or now, or the last leave, if later). */
function windowOf(m, items) {
  let a = secs(m.opens_at || m.starts_at);
  let b = secs(m.ends_at);
  const now = Date.now() / 1000;
  for (const i of items) {
    for (const iv of i.intervals) {
      if (iv.joined_at) a = Math.min(a, secs(iv.joined_at));
      b = Math.max(b, iv.left_at ? secs(iv.left_at) : Math.min(now, b + 6 * 3600));
    }
  }
  return [a, Math.max(b, a + 60)];
}

function paintBar(bar, item, m, [a, b]) {
  const pos = (ts) => `${(((ts - a) / (b - a)) * 100).toFixed(2)}%`;
  const now = Date.now() / 1000;
  const parts = item.intervals.map((iv) => {
    const s = secs(iv.joined_at);
    const e = iv.left_at ? secs(iv.left_at) : Math.min(now, b);
    const w = Math.max(0.4, ((e - s) / (b - a)) * 100);
    return h('i', { class: `att-iv${iv.left_at ? '' : ' open'}`, style: `left:${pos(s)};width:${w.toFixed(2)}%`,
      title: `${hhmm(iv.joined_at)} – ${iv.left_at ? hhmm(iv.left_at) : t('attConnected').toLowerCase()}` });
  });
  const start = secs(m.starts_at);
  bar.replaceChildren(...parts, h('b', { class: 'att-start', style: `left:${pos(start)}`, title: hhmm(m.starts_at) }),
    ...(now > a && now < b && LIVE_STATUSES.includes(m.status) ? [h('b', { class: 'att-nowmark', style: `left:${pos(now)}` })] : []));
  bar.setAttribute('aria-label', item.intervals.map((iv) => `${hhmm(iv.joined_at)}–${iv.left_at ? hhmm(iv.left_at) : '…'}`).join(', ') || t('attNever'));
}

async function downloadCsv(m, btn, error) {
  btn.disabled = true;
  try {
    const resp = await api('GET', `${attUrl(m)}.csv`, undefined, { raw: true });
    const name = /filename="?([^";]+)"?/.exec(resp.headers.get('Content-Disposition') || '')?.[1] || `diem-danh-${m.id}.csv`;
    saveBlob(await resp.blob(), name);
    error.hidden = true;
  } catch (err) {
    if (err.handled) return;
    error.textContent = errorText(err);
    error.hidden = false;
  } finally {
    btn.disabled = false;
  }
}

// ------------------------------------------------------------------------------------------ the report
export async function renderAttendancePrint(m, refs, back, mountFn, alive) {
  const a = await api('GET', attUrl(m));
  if (!alive()) return;
  const mm = a.meeting;
  const c = a.counts || Object.fromEntries(ATT_STATUSES.map((s) => [s, a.items.filter((i) => i.status === s).length]));
  const now = vnParts(Date.now());
  const [y, mo, d] = now.day.split('-');
  const time = (iso) => (iso ? fmt(iso, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }) : '');
  const rows = a.items.map((i, n) => h('tr', { 'data-site-id': i.site_id, 'data-status': i.status },
    h('td', { class: 'num' }, num(n + 1)), h('td', {}, siteLabel(refs, i.site_id) || i.name),
    h('td', { class: `rep-st rep-${i.status}` }, t(`att.${i.status}`)), h('td', { class: 'nowrap' }, time(i.first_join_at)),
    h('td', { class: 'nowrap' }, i.connected ? t('attConnected') : time(i.last_leave_at)), h('td', { class: 'num' }, num(i.intervals.length)),
    h('td', { class: 'num' }, num(i.minutes_present, 1)), h('td', {}, i.absence_reason || '')));
  const sheet = h('article', { id: 'attendance-report', class: 'sheet att-report', 'data-meeting-id': mm.id },
    h('header', { class: 'rep-header' },
      h('div', { class: 'rep-org' }, h('strong', {}, siteLabel(refs, mm.chair_site_id)), h('span', {}, roomName(refs, mm.room_id))),
      h('div', { class: 'rep-motto' }, h('strong', {}, t('repMotto1')), h('span', {}, t('repMotto2')))),
    h('h1', { class: 'rep-title' }, t('repTitle')),
    h('p', { class: 'rep-sub' }, t('repMeeting', { t: mm.title })),
    h('dl', { class: 'rep-facts' },
      h('dt', {}, t('mWhen')), h('dd', {}, whenText(mm), ` (${t('vnTime')})`),
      h('dt', {}, t('mRoom')), h('dd', {}, roomName(refs, mm.room_id)),
      h('dt', {}, t('mChair')), h('dd', { id: 'rep-chair' }, siteLabel(refs, mm.chair_site_id)),
      h('dt', {}, t('mMode')), h('dd', {}, t(`mode.${mm.mode}`))),
    h('p', { id: 'rep-counts', class: 'rep-counts' }, t('repCounts', { n: num(a.items.length), p: num(c.present || 0), l: num(c.late || 0),
      a: num(c.absent || 0), w: num(c.pending || 0) })),
    mm.status !== 'ended' && mm.status !== 'cancelled' ? h('p', { class: 'rep-note' }, t('repStillOpen')) : null,
    h('table', { id: 'rep-table', class: 'rep-table' },
      h('thead', {}, h('tr', {}, ['no', 'site', 'status', 'first', 'last', 'joins', 'minutes', 'reason'].map((k) => h('th', {}, t(`rep.${k}`))))),
      h('tbody', {}, rows)),
    h('p', { class: 'rep-made' }, t('repMade', { h: hhmm(new Date().toISOString()), d, m: mo, y })),
    h('div', { class: 'rep-signs' },
      h('div', { class: 'rep-sign' }, h('strong', {}, t('repMaker')), h('em', {}, t('repSign'))),
      h('div', { class: 'rep-sign' }, h('strong', {}, t('repChair')), h('em', {}, t('repSign')))));
  mountFn(printShell('print-attendance', back, sheet));
  document.title = `${t('repTitle')} — ${mm.title}`;
}

