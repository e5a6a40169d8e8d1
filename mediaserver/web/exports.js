// "Bản xuất video": every export (newest first) with its range, state, size, SHA-256, missing footage (R's
// covered_s/missing_s fields when present) and its evidence hold; download through a ticket link, release a hold.
// Deleting an export needs a DELETE route the API does not have yet (not offered here).
import { addStrings, t, h, api, errorText, fmtDateTime, span } from './core.js';

addStrings({
  vi: {
    'sec.exports': 'Bản xuất video', expNone: 'Chưa có bản xuất nào. Xuất video từ trang Ghi hình.', expCamera: 'Camera',
    expRange: 'Khoảng thời gian', expState: 'Trạng thái', expSize: 'Dung lượng', expHold: 'Lưu giữ chứng cứ', expBy: 'Người xuất',
    'exp.queued': 'Đang chờ', 'exp.running': 'Đang xuất', 'exp.done': 'Đã xong', 'exp.failed': 'Thất bại', expMissing: 'Thiếu {s} không có hình',
    holdActive: 'Đang lưu giữ', holdReleased: 'Đã giải phóng', holdRelease: 'Giải phóng', holdConfirm: 'Giải phóng lưu giữ? Đoạn ghi hình gốc sẽ lại bị xóa theo chính sách lưu trữ.',
    expDownload: '⬇ Tải về',
  },
  en: {
    'sec.exports': 'Exports', expNone: 'No exports yet. Export footage from the Recordings page.', expCamera: 'Camera',
    expRange: 'Time range', expState: 'State', expSize: 'Size', expHold: 'Evidence hold', expBy: 'Exported by',
    'exp.queued': 'Waiting', 'exp.running': 'Exporting', 'exp.done': 'Done', 'exp.failed': 'Failed', expMissing: '{s} missing: no footage',
    holdActive: 'Held', holdReleased: 'Released', holdRelease: 'Release', holdConfirm: 'Release the hold? The source footage becomes subject to retention again.',
    expDownload: '⬇ Download',
  },
});

let gen = 0;

export function stop() { gen += 1; }

export async function mount(body) {
  const g = ++gen;
  body.replaceChildren(h('p', { class: 'loading' }, t('loading')));
  let exps; let holds;
  try {
    [exps, holds] = await Promise.all([api('GET', '/api/v1/exports'), api('GET', '/api/v1/holds')]);
  } catch (err) {
    if (!err.handled && g === gen) body.replaceChildren(h('p', { class: 'msg error section-error' }, errorText(err)));
    return;
  }
  if (g !== gen) return;
  if (!exps.items.length) { body.replaceChildren(h('p', { class: 'empty', id: 'exports-empty' }, t('expNone'))); return; }
  const active = new Set(holds.items.map((x) => x.id));
  const cols = ['expCamera', 'expRange', 'expState', 'expSize', 'expHold', 'expBy', ''];
  body.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { id: 'exports-table', class: 'audit' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c ? t(c) : '')))),
    h('tbody', {}, exps.items.map((x) => row(x, active, body))))));
}

function row(x, active, body) {
  const note = h('span', { class: 'msg error inline', hidden: true });
  const fail = (err) => { if (!err.handled) { note.textContent = errorText(err); note.hidden = false; } };
  const held = x.hold_id != null && active.has(x.hold_id);
  return h('tr', { 'data-export-id': x.id, 'data-status': x.status },
    h('td', {}, x.camera_id),
    h('td', { class: 'nowrap' }, `${fmtDateTime(x.start_at)} – ${fmtDateTime(x.end_at)}`,
      x.missing_s > 0 ? h('div', { class: 'msg error inline exp-missing' }, t('expMissing', { s: span(x.missing_s) })) : null),
    h('td', {}, t(`exp.${x.status}`), x.error ? h('div', { class: 'muted small' }, x.error) : null),
    h('td', { class: 'nowrap' }, x.bytes ? `${(x.bytes / 1048576).toLocaleString('vi-VN', { maximumFractionDigits: 1 })} MB` : '—',
      x.sha256 ? h('div', { class: 'muted small', title: x.sha256 }, h('code', {}, `${x.sha256.slice(0, 12)}…`)) : null),
    h('td', {}, x.hold_id == null ? '—' : held ? [t('holdActive'), ' ', h('button', { type: 'button', class: 'hold-release',
      onclick: async () => {
        if (!window.confirm(t('holdConfirm'))) return;
        try { await api('DELETE', `/api/v1/holds/${x.hold_id}`); mount(body); } catch (err) { fail(err); }
      } }, t('holdRelease'))] : t('holdReleased')),
    h('td', {}, x.created_by),
    h('td', {}, x.status === 'done' ? h('button', { type: 'button', class: 'primary exp-download', onclick: async () => {
      try {
        const link = await api('POST', `/api/v1/exports/${encodeURIComponent(x.id)}/link`);
        const a = h('a', { href: link.url, download: '', hidden: true });
        document.body.append(a); a.click(); a.remove();
      } catch (err) { fail(err); }
    } }, t('expDownload')) : null, note));
}
