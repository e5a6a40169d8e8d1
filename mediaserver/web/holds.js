// "Lưu giữ chứng cứ" (admin, security; a section of the exports page): the active evidence holds — which camera,
// which time range (Vietnam time), why and who — each releasable after a confirm (its footage becomes subject to
// retention again); and a hold made on its own, without exporting: a camera, a range typed with the console's
// dd/mm/yyyy and 24-hour fields (picker.js, the same in both languages) and a reason.
import { addStrings, t, h, api, fmtDateTime, vnIso, vnParts, errorNode } from './core.js';
import { dateField, timeField } from './picker.js';
import { fieldForm, pageNote, listTable } from './manage.js';

addStrings({
  vi: {
    hdTitle: 'Lưu giữ chứng cứ', hdIntro: 'Đoạn ghi hình đang được lưu giữ không bị xóa theo chính sách lưu trữ, kể cả khi đĩa gần đầy, cho đến khi giải phóng.',
    hdNone: 'Không có đoạn ghi hình nào đang được lưu giữ.', hdCamera: 'Camera', hdRange: 'Khoảng thời gian', hdReason: 'Lý do',
    hdBy: 'Người lưu giữ', hdActions: 'Thao tác', hdAt: 'lúc {t}', hdView: 'Xem ghi hình',
    hdRelease: 'Giải phóng', hdReleaseConfirm: 'Giải phóng lưu giữ đoạn ghi hình của “{c}” ({r})? Đoạn ghi hình gốc sẽ lại bị xóa theo chính sách lưu trữ.',
    hdReleased: 'Đã giải phóng lưu giữ của “{c}”.', hdNew: 'Lưu giữ một đoạn ghi hình', hdFrom: 'Từ', hdTo: 'Đến', hdDate: 'Ngày', hdTime: 'Giờ',
    hdReasonHint: 'Ví dụ: Công an huyện đề nghị trích xuất vụ va chạm giao thông trước cổng (công văn số …).', hdCreate: 'Lưu giữ',
    hdCreated: 'Đã lưu giữ đoạn ghi hình của “{c}” từ {a} đến {b}.', hdTz: 'Giờ Việt Nam (UTC+7).', hdNoCameras: 'Chưa có camera nào.',
    'hdfe.camera_id': 'Vui lòng chọn camera.', 'hdfe.start': 'Thời điểm bắt đầu chưa đúng.', 'hdfe.end': 'Thời điểm kết thúc phải sau thời điểm bắt đầu.',
    'hdfe.reason': 'Vui lòng ghi lý do lưu giữ (tối đa 500 ký tự).', 'hdfe.camera': 'Không có camera này (có thể vừa bị xóa).',
  },
  en: {
    hdTitle: 'Evidence holds', hdIntro: 'Held footage is never deleted by retention, even when the disk is nearly full, until the hold is released.',
    hdNone: 'No footage is held.', hdCamera: 'Camera', hdRange: 'Time range', hdReason: 'Reason',
    hdBy: 'Held by', hdActions: 'Actions', hdAt: 'at {t}', hdView: 'View recordings',
    hdRelease: 'Release', hdReleaseConfirm: 'Release the hold on “{c}” ({r})? Its footage becomes subject to retention again.',
    hdReleased: 'Hold on “{c}” released.', hdNew: 'Hold footage', hdFrom: 'From', hdTo: 'To', hdDate: 'Date', hdTime: 'Time',
    hdReasonHint: 'E.g. District police asked for the traffic collision at the gate (letter no. …).', hdCreate: 'Hold',
    hdCreated: 'Footage of “{c}” held from {a} to {b}.', hdTz: 'Vietnam time (UTC+7).', hdNoCameras: 'No cameras yet.',
    'hdfe.camera_id': 'Choose a camera.', 'hdfe.start': 'The start is not a valid time.', 'hdfe.end': 'The end must be after the start.',
    'hdfe.reason': 'Write why the footage is held (at most 500 characters).', 'hdfe.camera': 'There is no such camera (it may have just been removed).',
  },
});

const HOUR_MS = 3600 * 1000;
let gen = 0;

export function stop() { gen += 1; }

/** Show the holds and the form in ``box`` (the exports page calls this after its own table). */
export async function mount(box) {
  const g = ++gen;
  const list = h('div', { id: 'holds-list' }, h('p', { class: 'loading' }, t('loading')));
  const { note, say } = pageNote('holds-note');
  box.replaceChildren(h('h2', { id: 'holds-title' }, t('hdTitle')), h('p', { class: 'muted' }, t('hdIntro')), note, list);
  let cams;
  try { cams = (await api('GET', '/api/v1/cameras')).items; } catch (err) {
    if (!err.handled && g === gen) list.replaceChildren(h('p', { class: 'msg error section-error' }, errorNode(err)));
    return;
  }
  if (g !== gen) return;
  const names = new Map(cams.map((c) => [c.id, c.name]));
  const reload = () => load(list, names, say, g);
  box.append(holdForm(cams, say, reload));
  await reload();
}

const range = (x) => `${fmtDateTime(x.start_at)} – ${fmtDateTime(x.end_at)}`;

async function load(list, names, say, g) {
  let data;
  try { data = await api('GET', '/api/v1/holds'); } catch (err) {
    if (!err.handled && g === gen) list.replaceChildren(h('p', { class: 'msg error section-error' }, errorNode(err)));
    return;
  }
  if (g !== gen) return;
  if (!data.items.length) { list.replaceChildren(h('p', { class: 'empty', id: 'holds-empty' }, t('hdNone'))); return; }
  const reload = () => load(list, names, say, g);
  list.replaceChildren(listTable('holds-table', ['hdCamera', 'hdRange', 'hdReason', 'hdBy', 'hdActions'], data.items.map((x) => {
    const cam = names.get(x.camera_id) || x.camera_id;
    const day = vnParts(x.start_at).day;
    return h('tr', { 'data-hold-id': x.id, 'data-camera-id': x.camera_id },
      h('td', {}, h('b', {}, cam)),
      h('td', { class: 'hold-range' }, range(x)),
      h('td', { class: 'hold-reason' }, x.reason),
      h('td', {}, x.created_by, h('div', { class: 'muted small' }, t('hdAt', { t: fmtDateTime(x.created_at) }))),
      h('td', { class: 'row-actions' },
        h('a', { class: 'button', href: `#/recordings?camera=${encodeURIComponent(x.camera_id)}&date=${day}` }, t('hdView')),
        h('button', { type: 'button', class: 'danger hold-release', onclick: async (ev) => {
          if (!window.confirm(t('hdReleaseConfirm', { c: cam, r: range(x) }))) return;
          ev.currentTarget.disabled = true;
          try { await api('DELETE', `/api/v1/holds/${x.id}`); say(true, t('hdReleased', { c: cam })); } catch (err) {
            if (!err.handled) say(false, err);
          }
          await reload();
        } }, t('hdRelease'))));
  })));
}

function holdForm(cams, say, reload) {
  const f = fieldForm();
  const camera = h('select', { id: 'hold-camera' }, h('option', { value: '' }, '—'),
    cams.map((c) => h('option', { value: c.id }, c.name)));
  const now = Date.now();
  const from = vnParts(now - HOUR_MS);
  const to = vnParts(now);
  const hm = (min) => `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(Math.floor(min % 60)).padStart(2, '0')}`;
  const fromDay = dateField('hold-from-date', { value: from.day, required: true, label: `${t('hdFrom')} — ${t('hdDate')}` });
  const fromTime = timeField('hold-from-time', { value: hm(from.min), required: true, label: `${t('hdFrom')} — ${t('hdTime')}` });
  const toDay = dateField('hold-to-date', { value: to.day, required: true, label: `${t('hdTo')} — ${t('hdDate')}` });
  const toTime = timeField('hold-to-time', { value: hm(to.min), required: true, label: `${t('hdTo')} — ${t('hdTime')}` });
  const reason = h('textarea', { id: 'hold-reason', rows: 2, maxlength: 500, placeholder: t('hdReasonHint') });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'hold-create' }, t('hdCreate'));
  const when = (day, time) => h('div', { class: 'inline-row hold-when' }, day, time);
  const words = { camera_id: t('hdfe.camera_id'), start: t('hdfe.start'), end: t('hdfe.end'), reason: t('hdfe.reason'), not_found: t('hdfe.camera') };
  const el = h('form', { id: 'hold-form', class: 'card admin-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    f.clear();
    if (!camera.value) return f.show('camera_id', t('hdfe.camera_id'));
    const a = fromDay.iso && fromTime.iso ? vnIso(fromDay.iso, fromTime.iso) : null;
    if (!a) return f.show('start', t(fromDay.iso === null ? 'pick.badDate' : fromTime.iso === null ? 'pick.badTime' : 'hdfe.start'));
    const b = toDay.iso && toTime.iso ? vnIso(toDay.iso, toTime.iso) : null;
    if (!b) return f.show('end', t(toDay.iso === null ? 'pick.badDate' : toTime.iso === null ? 'pick.badTime' : 'hdfe.end'));
    if (Date.parse(b) <= Date.parse(a)) return f.show('end', t('hdfe.end'));
    if (!reason.value.trim()) return f.show('reason', t('hdfe.reason'));
    submit.disabled = true;
    try {
      const made = await api('POST', '/api/v1/holds', { camera_id: camera.value, start: Date.parse(a) / 1000, end: Date.parse(b) / 1000,
        reason: reason.value.trim() });
      reason.value = '';
      say(true, t('hdCreated', { c: camera.selectedOptions[0].textContent, a: fmtDateTime(made.start_at), b: fmtDateTime(made.end_at) }));
      await reload();
    } catch (err) {
      if (!err.handled) f.fromApi(err, words, { not_found: 'camera_id' });
    } finally { submit.disabled = false; }
  } },
  h('h3', {}, t('hdNew')),
  cams.length ? null : h('p', { class: 'muted' }, t('hdNoCameras')),
  f.field('camera_id', t('hdCamera'), camera),
  f.field('start', t('hdFrom'), when(fromDay, fromTime)), f.field('end', t('hdTo'), when(toDay, toTime)),
  h('p', { class: 'muted small' }, t('hdTz')),
  f.field('reason', t('hdReason'), reason), f.general, submit);
  return el;
}
