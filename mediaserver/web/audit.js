// "Nhật ký" (admin): the audit log in words — who (actor_vi/actor_en and their role), what (action_vi/en), on what
// (the camera, meeting room, user or job, linked to its page), when (vi-VN date and time, Vietnam time), from where
// (the address). Filters (who, kind of action, target, a dd/mm/yyyy date range from picker.js), "Xem thêm" pages
// back with next_before_id, and the same filters download GET /api/v1/audit.csv (fetched with the token, saved).
import { addStrings, state, t, tOr, h, api, errorNode, saveBlob, vnIso, shiftDay, todayIn, TZ } from './core.js';
import { dateTime } from './i18n.js';
import { dateField } from './picker.js';

const PAGE = 50;
/** Kinds of action the filter offers: the server filters by the code's prefix. */
const GROUPS = ['auth.', 'user.', 'service_token.', 'camera.', 'footage.', 'export.', 'hold.', 'review.', 'room.', 'conference.',
  'meeting.', 'site.', 'schedule.', 'retention.'];

addStrings({
  vi: {
    audTitle: 'Nhật ký thao tác', audIntro: 'Ai đã làm gì, trên đối tượng nào, khi nào và từ máy nào (giờ Việt Nam).',
    audActor: 'Người thực hiện', audActorPh: 'tên đăng nhập', audGroup: 'Loại thao tác', audAll: 'Tất cả', audTarget: 'Đối tượng',
    audTargetPh: 'camera, phòng họp, người dùng…', audFrom: 'Từ ngày', audTo: 'Đến ngày', audApply: 'Lọc', audClear: 'Bỏ lọc',
    audCsv: '⬇ Tải tệp CSV (Excel)', audMore: 'Xem thêm', audNone: 'Không có mục nhật ký nào khớp bộ lọc.',
    audWhen: 'Thời gian', audWho: 'Người thực hiện', audWhat: 'Thao tác', audOn: 'Đối tượng', audWhere: 'Từ máy',
    audCount: 'Đang hiện {n} mục', audBadRange: 'Ngày kết thúc phải từ ngày bắt đầu trở đi.', audBadDate: 'Ngày chưa đúng dạng ngày/tháng/năm.',
    'grp.auth.': 'Đăng nhập, đăng xuất', 'grp.user.': 'Người dùng', 'grp.service_token.': 'Mã truy cập dịch vụ', 'grp.camera.': 'Camera',
    'grp.footage.': 'Xem lại ghi hình', 'grp.export.': 'Bản xuất video', 'grp.hold.': 'Lưu giữ chứng cứ', 'grp.review.': 'Sự kiện cần xem',
    'grp.room.': 'Phòng họp', 'grp.conference.': 'Điều hành cuộc họp', 'grp.meeting.': 'Lịch họp', 'grp.site.': 'Điểm cầu',
    'grp.schedule.': 'Lịch tự động', 'grp.retention.': 'Lưu trữ, dung lượng đĩa',
    'dk.role': 'vai trò', 'dk.disabled': 'khóa', 'dk.must_change_password': 'phải đổi mật khẩu', 'dk.scope': 'phạm vi', 'dk.site': 'điểm cầu',
    'dk.duration_s': 'thời lượng (giây)', 'dk.kind': 'kiểu lịch', 'dk.spec': 'lịch', 'dk.job_action': 'tác vụ', 'dk.preset': 'điểm đặt trước',
    'dk.camera': 'camera', 'dk.reason': 'lý do', 'dk.count': 'số lượng', 'dk.id': 'mã số', yes: 'có', no: 'không',
  },
  en: {
    audTitle: 'Audit log', audIntro: 'Who did what, to what, when and from which machine (Vietnam time).',
    audActor: 'Actor', audActorPh: 'user name', audGroup: 'Kind of action', audAll: 'All', audTarget: 'Target',
    audTargetPh: 'camera, meeting room, user…', audFrom: 'From', audTo: 'To', audApply: 'Filter', audClear: 'Clear',
    audCsv: '⬇ Download CSV (Excel)', audMore: 'Show more', audNone: 'No audit entries match the filter.',
    audWhen: 'Time', audWho: 'Actor', audWhat: 'Action', audOn: 'Target', audWhere: 'From',
    audCount: 'Showing {n} entries', audBadRange: 'The end date must not be before the start date.', audBadDate: 'A date is not day/month/year.',
    'grp.auth.': 'Sign-in, sign-out', 'grp.user.': 'Users', 'grp.service_token.': 'Service tokens', 'grp.camera.': 'Cameras',
    'grp.footage.': 'Playback', 'grp.export.': 'Exports', 'grp.hold.': 'Evidence holds', 'grp.review.': 'Review',
    'grp.room.': 'Meeting rooms', 'grp.conference.': 'Running meetings', 'grp.meeting.': 'Meeting schedule', 'grp.site.': 'Sites',
    'grp.schedule.': 'Scheduled jobs', 'grp.retention.': 'Retention, disk space',
    'dk.role': 'role', 'dk.disabled': 'disabled', 'dk.must_change_password': 'must change password', 'dk.scope': 'scope', 'dk.site': 'site',
    'dk.duration_s': 'duration (s)', 'dk.kind': 'schedule kind', 'dk.spec': 'schedule', 'dk.job_action': 'job', 'dk.preset': 'preset',
    'dk.camera': 'camera', 'dk.reason': 'reason', 'dk.count': 'count', 'dk.id': 'number', yes: 'yes', no: 'no',
  },
});

let gen = 0;
const filters = { actor: '', action: '', target: '', from: '', to: '' };

export function stop() { gen += 1; }

/** The server's query for the filters ('' when none), or null with the reason when a date is not valid. */
function query(f, fromEl, toEl) {
  const q = new URLSearchParams();
  if (f.actor) q.set('actor', f.actor);
  if (f.action) q.set('action', f.action);
  if (f.target) q.set('target', f.target);
  if (fromEl.iso === null || toEl.iso === null) return { error: 'audBadDate' };
  if (f.from) q.set('since', String(Date.parse(vnIso(f.from)) / 1000));
  if (f.to) q.set('until', String(Date.parse(vnIso(shiftDay(f.to, 1))) / 1000)); // the whole "to" day
  if (f.from && f.to && f.to < f.from) return { error: 'audBadRange' };
  return { q };
}

export function mount(body) {
  const g = ++gen;
  const input = (key, id, ph) => h('input', { id, type: 'text', value: filters[key], placeholder: ph, autocomplete: 'off',
    oninput: (ev) => { filters[key] = ev.target.value.trim(); } });
  const fromEl = dateField('aud-from', { value: filters.from, onchange: (v) => { filters.from = v; } });
  const toEl = dateField('aud-to', { value: filters.to, onchange: (v) => { filters.to = v; } });
  const group = h('select', { id: 'aud-group', onchange: (ev) => { filters.action = ev.target.value; run(); } },
    h('option', { value: '' }, t('audAll')), GROUPS.map((p) => h('option', { value: p, selected: filters.action === p }, t(`grp.${p}`))));
  const msg = h('p', { id: 'aud-msg', class: 'msg error', role: 'alert', hidden: true });
  const tbody = h('tbody', {});
  const count = h('p', { id: 'aud-count', class: 'muted small' });
  const more = h('button', { type: 'button', id: 'aud-more', hidden: true }, t('audMore'));
  const table = h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table', class: 'audit aud-table admin-table' },
    h('thead', {}, h('tr', {}, ['audWhen', 'audWho', 'audWhat', 'audOn', 'audWhere'].map((c) => h('th', {}, t(c))))), tbody));
  const empty = h('p', { id: 'aud-empty', class: 'empty', hidden: true }, t('audNone'));
  let before = null;
  const fail = (err) => { if (!err.handled && g === gen) { msg.replaceChildren(errorNode(err)); msg.hidden = false; } };
  const sync = () => {
    filters.from = fromEl.iso || ''; filters.to = toEl.iso || '';
    filters.actor = body.querySelector('#aud-actor').value.trim(); filters.target = body.querySelector('#aud-target').value.trim();
  };
  async function run(append = false) {
    sync();
    msg.hidden = true;
    const { q, error } = query(filters, fromEl, toEl);
    if (error) { msg.textContent = t(error); msg.hidden = false; return; }
    q.set('limit', String(PAGE));
    if (append && before) q.set('before_id', String(before));
    let data;
    try { data = await api('GET', `/api/v1/audit?${q}`); } catch (err) { fail(err); return; }
    if (g !== gen) return;
    if (!append) tbody.replaceChildren();
    tbody.append(...data.items.map(row));
    before = data.next_before_id;
    more.hidden = !before;
    empty.hidden = tbody.children.length > 0;
    table.hidden = !tbody.children.length;
    count.textContent = tbody.children.length ? t('audCount', { n: tbody.children.length }) : '';
  }
  more.addEventListener('click', () => run(true));
  const csv = h('button', { type: 'button', id: 'aud-csv', onclick: async () => {
    sync();
    msg.hidden = true;
    const { q, error } = query(filters, fromEl, toEl);
    if (error) { msg.textContent = t(error); msg.hidden = false; return; }
    try {
      const resp = await api('GET', `/api/v1/audit.csv?${q}`, undefined, { raw: true });
      saveBlob(await resp.blob(), `nhat-ky-${todayIn(TZ)}.csv`);
    } catch (err) { fail(err); }
  } }, t('audCsv'));
  const lab = (id, key, el) => h('label', { class: 'aud-filter', for: id }, h('span', {}, t(key)), el);
  body.replaceChildren(h('div', { class: 'admin-page' }, h('h2', {}, t('audTitle')), h('p', { class: 'muted' }, t('audIntro')),
    h('form', { id: 'aud-filters', class: 'aud-filters', novalidate: true, onsubmit: (ev) => { ev.preventDefault(); run(); } },
      lab('aud-actor', 'audActor', input('actor', 'aud-actor', t('audActorPh'))), lab('aud-group', 'audGroup', group),
      lab('aud-target', 'audTarget', input('target', 'aud-target', t('audTargetPh'))),
      lab('aud-from', 'audFrom', fromEl), lab('aud-to', 'audTo', toEl),
      h('div', { class: 'aud-buttons' }, h('button', { type: 'submit', class: 'primary', id: 'aud-apply' }, t('audApply')),
        h('button', { type: 'button', id: 'aud-clear', onclick: () => {
          Object.assign(filters, { actor: '', action: '', target: '', from: '', to: '' });
          mount(body);
        } }, t('audClear')), csv)),
    msg, count, table, empty, more));
  run();
}

/** Where a target leads: its camera's recordings, the users page, the schedules page, the meeting pages. */
function targetLink(e) {
  const id = encodeURIComponent(e.target);
  const [kind] = e.action.split('.');
  if (['camera', 'footage'].includes(kind)) return `#/recordings?camera=${id}`;
  if (kind === 'user' || kind === 'service_token') return '#/users';
  if (kind === 'schedule') return '#/schedules';
  if (['room', 'conference'].includes(kind)) return '#/conference';
  if (kind === 'meeting') return '#/meetings';
  if (['export', 'hold'].includes(kind)) return '#/exports';
  return null;
}

function detailWords(detail) {
  const words = Object.entries(detail || {}).filter(([, v]) => v != null && v !== '').map(([k, v]) => {
    let val = v;
    if (typeof v === 'boolean') val = t(v ? 'yes' : 'no');
    else if (k === 'role') val = tOr(`urole.${v}`, String(v));
    else if (k === 'scope') val = tOr(`scope.${v}`, String(v));
    else if (Array.isArray(v)) val = v.join(', ');
    else if (typeof v === 'object') val = Object.entries(v).map(([a, b]) => `${a}: ${b}`).join(', ');
    return `${tOr(`dk.${k}`, k.replaceAll('_', ' '))}: ${val}`;
  });
  return words.join('; ');
}

function row(e) {
  const en = state.lang === 'en';
  const link = e.target ? targetLink(e) : null;
  const details = detailWords(e.detail);
  return h('tr', { 'data-audit-id': e.id, 'data-action': e.action },
    h('td', { class: 'nowrap aud-when', 'data-label': t('audWhen') }, dateTime(e.at)),
    h('td', { class: 'aud-who', 'data-label': t('audWho') }, h('b', {}, en ? e.actor_en : e.actor_vi),
      e.actor_role ? h('div', { class: 'muted small' }, tOr(`urole.${e.actor_role}`, tOr(`role.${e.actor_role}`, e.actor_role))) : null),
    h('td', { class: 'aud-what', 'data-label': t('audWhat') }, en ? e.action_en : e.action_vi, details ? h('div', { class: 'muted small aud-detail' }, details) : null),
    h('td', { class: 'aud-on', 'data-label': t('audOn') }, e.target ? (link ? h('a', { href: link }, e.target) : e.target) : '—'),
    h('td', { class: 'nowrap aud-where', 'data-label': t('audWhere') }, e.remote || '—'));
}
