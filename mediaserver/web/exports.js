// "Bản xuất video": every export (newest first) with its range, state, size, SHA-256, missing footage (R's
// covered_s/missing_s fields when present) and its evidence hold; download through a ticket link, release a hold.
// Delete (DELETE /api/v1/exports/{id}: the file and its record; a running export is stopped) after a confirm; the
// server refuses while the export's evidence hold is active, so a held export's confirm names both steps. A failed
// export says why from its error_code (errors.js), the server's English only behind "Chi tiết". Below the exports,
// the evidence holds (holds.js).
import { addStrings, t, h, api, errorText, errorNode, fmtDateTime, span, size } from './core.js';
import * as holdsPage from './holds.js';
import { exportSignature } from './verify.js';

addStrings({
  vi: {
    'sec.exports': 'Bản xuất video', expNone: 'Chưa có bản xuất nào. Xuất video từ trang Ghi hình.', expCamera: 'Camera',
    expRange: 'Khoảng thời gian', expState: 'Trạng thái', expSize: 'Dung lượng', expHold: 'Lưu giữ chứng cứ', expBy: 'Người xuất',
    'exp.queued': 'Đang chờ', 'exp.running': 'Đang xuất', 'exp.done': 'Đã xong', 'exp.failed': 'Thất bại', expMissing: 'Thiếu {s} không có hình',
    holdActive: 'Đang lưu giữ', holdReleased: 'Đã giải phóng', holdRelease: 'Giải phóng', holdConfirm: 'Giải phóng lưu giữ? Đoạn ghi hình gốc sẽ lại bị xóa theo chính sách lưu trữ.',
    expDownload: '⬇ Tải về', expDelete: 'Xóa', expDeleteConfirm: 'Xóa vĩnh viễn bản xuất này (tệp video và thông tin của nó)?',
    expDeleteHeldConfirm: 'Bản xuất này đang được lưu giữ làm chứng cứ. Giải phóng lưu giữ rồi xóa vĩnh viễn tệp video?',
    expDeleteRunning: 'Bản xuất chưa xong: việc xuất sẽ bị dừng.',
    'err.export_held': 'Bản xuất đang được lưu giữ làm chứng cứ: hãy giải phóng lưu giữ trước khi xóa.',
  },
  en: {
    'sec.exports': 'Exports', expNone: 'No exports yet. Export footage from the Recordings page.', expCamera: 'Camera',
    expRange: 'Time range', expState: 'State', expSize: 'Size', expHold: 'Evidence hold', expBy: 'Exported by',
    'exp.queued': 'Waiting', 'exp.running': 'Exporting', 'exp.done': 'Done', 'exp.failed': 'Failed', expMissing: '{s} missing: no footage',
    holdActive: 'Held', holdReleased: 'Released', holdRelease: 'Release', holdConfirm: 'Release the hold? The source footage becomes subject to retention again.',
    expDownload: '⬇ Download', expDelete: 'Delete', expDeleteConfirm: 'Delete this export for good (its video file and record)?',
    expDeleteHeldConfirm: 'This export is held as evidence. Release the hold and delete the video file for good?',
    expDeleteRunning: 'The export is not finished: it will be stopped.',
    'err.export_held': 'The export is held as evidence: release the hold before deleting it.',
  },
});

let gen = 0;

export function stop() { gen += 1; holdsPage.stop(); }

let section = null;
const remount = () => { if (section?.isConnected) mount(section); }; // a released hold shows in both lists

/** The exports, and below them the evidence holds (holds.js: list, release, a hold on its own). */
export function mount(body) {
  section = body;
  const exportsBox = h('div', { id: 'exports-box' });
  const holdsBox = h('div', { id: 'holds-section', class: 'admin-page' });
  body.replaceChildren(exportsBox, holdsBox);
  mountExports(exportsBox);
  holdsPage.mount(holdsBox);
}

async function mountExports(body) {
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

/** Why an export failed, in the reader's words from its code (errors.js); the server's English under "Chi tiết". */
function failure(x) {
  if (x.status !== 'failed') return null;
  return h('div', { class: 'small exp-error', 'data-code': x.error_code || '' },
    errorNode({ code: x.error_code || 'export_failed', message: x.error || '' }));
}

function row(x, active, body) {
  const note = h('span', { class: 'msg error inline', hidden: true });
  const fail = (err) => { if (!err.handled) { note.textContent = errorText(err); note.hidden = false; } };
  const held = x.hold_id != null && active.has(x.hold_id);
  return h('tr', { 'data-export-id': x.id, 'data-status': x.status },
    h('td', {}, x.camera_id),
    h('td', { class: 'nowrap' }, `${fmtDateTime(x.start_at)} – ${fmtDateTime(x.end_at)}`,
      x.missing_s > 0 ? h('div', { class: 'msg error inline exp-missing' }, t('expMissing', { s: span(x.missing_s) })) : null),
    h('td', {}, t(`exp.${x.status}`), failure(x)),
    h('td', { class: 'nowrap' }, x.bytes ? size(x.bytes) : '—',
      x.sha256 ? h('div', { class: 'muted small', title: x.sha256 }, h('code', {}, `${x.sha256.slice(0, 12)}…`)) : null),
    h('td', {}, x.hold_id == null ? '—' : held ? [t('holdActive'), ' ', h('button', { type: 'button', class: 'hold-release',
      onclick: async () => {
        if (!window.confirm(t('holdConfirm'))) return;
        try { await api('DELETE', `/api/v1/holds/${x.hold_id}`); remount(); } catch (err) { fail(err); }
      } }, t('holdRelease'))] : t('holdReleased')),
    h('td', {}, x.created_by),
    h('td', { class: 'exp-actions' }, x.status === 'done' ? h('button', { type: 'button', class: 'primary exp-download', onclick: async () => {
      try {
        const link = await api('POST', `/api/v1/exports/${encodeURIComponent(x.id)}/link`);
        const a = h('a', { href: link.url, download: '', hidden: true });
        document.body.append(a); a.click(); a.remove();
      } catch (err) { fail(err); }
    } }, t('expDownload')) : null,
    x.status === 'done' ? exportSignature(x) : null, // the signed manifest, its .p7s and their check (verify.js)
    h('button', { type: 'button', class: 'warn exp-delete', 'data-export-id': x.id, onclick: (ev) => remove(x, held, ev.currentTarget, body, fail) },
      t('expDelete')), note));
}

/** Delete an export after a confirm that says what goes: a held export's hold is released first (both audited). */
async function remove(x, held, btn, body, fail) {
  const running = ['queued', 'running'].includes(x.status);
  const ask = [held ? t('expDeleteHeldConfirm') : t('expDeleteConfirm'), running ? t('expDeleteRunning') : ''].filter(Boolean).join(' ');
  if (!window.confirm(ask)) return;
  btn.disabled = true;
  try {
    if (held) await api('DELETE', `/api/v1/holds/${x.hold_id}`).catch((err) => { if (err.status !== 409) throw err; }); // 409: released meanwhile
    await api('DELETE', `/api/v1/exports/${encodeURIComponent(x.id)}`);
    remount();
  } catch (err) {
    btn.disabled = false;
    fail(err);
  }
}
