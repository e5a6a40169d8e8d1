// "Kiểm tra chữ ký số": staff upload a signed minutes PDF, or an export's manifest (.json) with its .p7s and the
// video it lists, and read who signed, when, and whether anything changed (POST /api/v1/verify; the server runs
// the same check as `mediaserver verify`). Also the exports page's signed-manifest buttons (exportSignature) and
// the result dialog the minutes use (showVerify).
import { addStrings, state, t, h, api, errorText, saveBlob, modal, ApiError } from './core.js';

addStrings({
  vi: {
    'sec.verify': 'Kiểm tra chữ ký số', 'vf.title': 'Kiểm tra chữ ký số',
    'vf.hint': 'Chọn biên bản PDF đã ký; hoặc bản kê của bản xuất (.manifest.json) cùng tệp chữ ký (.p7s) và tệp video có trong bản kê. Tệp chỉ dùng để kiểm tra, không được lưu lại.',
    'vf.pick': 'Chọn tệp', 'vf.run': 'Kiểm tra', 'vf.running': 'Đang kiểm tra… {p}', 'vf.noFile': 'Hãy chọn ít nhất một tệp.',
    'vf.valid': '✔ HỢP LỆ', 'vf.invalid': '✖ KHÔNG HỢP LỆ', 'vf.signer': 'Người ký', 'vf.issuer': 'Chứng thư do',
    'vf.time': 'Thời điểm ký', 'vf.timestamp': 'Dấu thời gian', 'vf.trust': 'Độ tin cậy', 'vf.serial': 'Số hiệu chứng thư',
    'vf.trust.trusted': 'Chứng thư do CA tin cậy cấp', 'vf.trust.untrusted': 'Chứng thư KHÔNG do CA tin cậy cấp',
    'vf.trust.unchecked': 'Chưa đối chiếu với CA tin cậy', 'vf.demo': 'Chứng thư CHỈ DÙNG THỬ — không có giá trị pháp lý',
    'vf.camera': 'Camera', 'vf.range': 'Khoảng thời gian', 'vf.exportedBy': 'Người xuất', 'vf.reason': 'Lý do',
    'vf.file': 'Tệp', 'vf.fileOk': 'Khớp', 'vf.fileBad': 'ĐÃ THAY ĐỔI', 'vf.fileMissing': 'Thiếu tệp', 'vf.none': '—',
    'vf.resultTitle': 'Kết quả kiểm tra chữ ký số', 'vf.sigs': 'Số chữ ký trong tệp',
    'vf.manifest': '⬇ Bản kê', 'vf.p7s': '⬇ Chữ ký .p7s', 'vf.check': 'Kiểm tra chữ ký', 'vf.unsigned': 'Chưa ký số',
    'vf.signFailed': 'Ký số không thành công: {m}',
  },
  en: {
    'sec.verify': 'Check signatures', 'vf.title': 'Check a digital signature',
    'vf.hint': 'Choose a signed minutes PDF; or an export\'s manifest (.manifest.json) with its signature (.p7s) and the video file it lists. The files are only checked, never kept.',
    'vf.pick': 'Choose files', 'vf.run': 'Check', 'vf.running': 'Checking… {p}', 'vf.noFile': 'Choose at least one file.',
    'vf.valid': '✔ VALID', 'vf.invalid': '✖ NOT VALID', 'vf.signer': 'Signed by', 'vf.issuer': 'Certificate issued by',
    'vf.time': 'Signing time', 'vf.timestamp': 'Timestamp', 'vf.trust': 'Trust', 'vf.serial': 'Certificate serial',
    'vf.trust.trusted': 'Issued by a trusted CA', 'vf.trust.untrusted': 'NOT issued by a trusted CA',
    'vf.trust.unchecked': 'Not checked against a trusted CA', 'vf.demo': 'TEST-ONLY certificate — no legal value',
    'vf.camera': 'Camera', 'vf.range': 'Time range', 'vf.exportedBy': 'Exported by', 'vf.reason': 'Reason',
    'vf.file': 'File', 'vf.fileOk': 'Matches', 'vf.fileBad': 'CHANGED', 'vf.fileMissing': 'Missing', 'vf.none': '—',
    'vf.resultTitle': 'Signature check', 'vf.sigs': 'Signatures in the file',
    'vf.manifest': '⬇ Manifest', 'vf.p7s': '⬇ Signature .p7s', 'vf.check': 'Check signature', 'vf.unsigned': 'Not signed',
    'vf.signFailed': 'Signing failed: {m}',
  },
});

/** A verify result (VerifyOut) in the reader's words. */
export function resultCard(r) {
  const row = (k, v) => (v ? [h('dt', {}, t(k)), h('dd', {}, v)] : []);
  const files = r.files?.length ? h('table', { class: 'audit vf-files' },
    h('thead', {}, h('tr', {}, h('th', {}, t('vf.file')), h('th', {}, 'SHA-256'), h('th', {}, ''))),
    h('tbody', {}, r.files.map((f) => h('tr', { 'data-ok': String(f.ok) },
      h('td', { class: 'vf-name' }, f.name), h('td', {}, h('code', { class: 'small' }, f.expected_sha256)),
      h('td', { class: f.ok ? 'vf-ok' : 'vf-bad' }, f.ok ? t('vf.fileOk') : f.actual_sha256 ? t('vf.fileBad') : t('vf.fileMissing')))))) : null;
  return h('section', { class: `vf-result card ${r.valid ? 'vf-valid' : 'vf-invalid'}`, id: 'verify-result',
    'data-valid': String(r.valid), 'data-problem': r.problem || '' },
  h('h3', { class: 'vf-verdict' }, r.valid ? t('vf.valid') : t('vf.invalid')),
  h('p', { class: 'vf-summary' }, state.lang === 'en' ? r.summary_en : r.summary_vi),
  r.demo ? h('p', { class: 'msg error inline vf-demo' }, t('vf.demo')) : null,
  h('dl', { class: 'mt-facts' },
    ...row('vf.signer', r.signer), ...row('vf.issuer', r.issuer), ...row('vf.serial', r.serial),
    ...row('vf.time', r.signing_time_vi), ...row('vf.timestamp', r.timestamp ? new Date(r.timestamp).toLocaleString(state.lang === 'en' ? 'en-GB' : 'vi-VN', { timeZone: 'Asia/Ho_Chi_Minh' }) : null),
    ...row('vf.trust', r.signer ? t(`vf.trust.${r.trust}`) : null),
    ...row('vf.sigs', r.kind === 'pdf' && r.signatures ? String(r.signatures) : null),
    ...row('vf.camera', r.camera), ...row('vf.range', r.range_local), ...row('vf.exportedBy', r.exported_by),
    ...row('vf.reason', r.export_reason)),
  files);
}

/** Show a verify result in a dialog. */
export function showVerify(r) {
  return modal(t('vf.resultTitle'), h('div', { class: 'vf-dialog' }, resultCard(r)), { id: 'verify-dialog' });
}

/** Fetch a file with the bearer token and save it. */
async function download(path, name) {
  const resp = await api('GET', path, undefined, { raw: true });
  saveBlob(await resp.blob(), name);
}

/** An export's signed manifest: download it and its .p7s, and check it (exports page, a finished export). */
export function exportSignature(x) {
  const box = h('span', { class: 'exp-signature', 'data-export-id': x.id });
  const note = h('span', { class: 'msg error inline', hidden: true });
  const fail = (err) => { if (!err.handled) { note.textContent = errorText(err); note.hidden = false; } };
  api('GET', `/api/v1/exports/${encodeURIComponent(x.id)}/signature`).then((s) => {
    if (!s.signed) {
      box.replaceChildren(h('span', { class: 'muted small exp-unsigned' }, t('vf.unsigned')),
        s.error_code ? h('div', { class: 'small msg error inline' }, t('vf.signFailed', { m: errorText({ code: s.error_code }) })) : null);
      return;
    }
    box.replaceChildren(
      h('button', { type: 'button', class: 'exp-manifest', onclick: () => download(s.manifest_url, s.manifest_name).catch(fail) }, t('vf.manifest')),
      h('button', { type: 'button', class: 'exp-p7s', onclick: () => download(s.signature_url, s.signature_name).catch(fail) }, t('vf.p7s')),
      h('button', { type: 'button', class: 'exp-verify', onclick: async (ev) => {
        const btn = ev.currentTarget;
        btn.disabled = true;
        try { showVerify(await api('GET', `/api/v1/exports/${encodeURIComponent(x.id)}/verify`)); } catch (err) { fail(err); }
        btn.disabled = false;
      } }, t('vf.check')), note);
  }).catch(fail);
  return h('span', {}, box, note);
}

/** POST files as multipart/form-data with upload progress; resolve with the result, reject with an ApiError. */
function upload(files, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const f of files) form.append('files', f, f.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/verify');
    if (state.token) xhr.setRequestHeader('Authorization', `Bearer ${state.token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) onProgress(ev.loaded / ev.total); };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network error'));
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) { resolve(data); return; }
      const e = data?.error || {};
      reject(new ApiError(xhr.status, e.code || `http_${xhr.status}`, e.message || xhr.statusText, e.field));
    };
    xhr.send(form);
  });
}

export function stop() {}

/** The page: choose files, check, read the result. */
export function mount(body) {
  const input = h('input', { type: 'file', id: 'verify-files', multiple: true, 'aria-label': t('vf.pick'),
    accept: '.pdf,.json,.p7s,.mp4,application/pdf,application/json,video/mp4' });
  const out = h('div', { id: 'verify-out', 'aria-live': 'polite' });
  const msg = h('p', { id: 'verify-msg', class: 'msg info', role: 'status', hidden: true });
  const run = h('button', { type: 'button', id: 'verify-run', class: 'primary', onclick: async () => {
    if (!input.files.length) { msg.className = 'msg error'; msg.textContent = t('vf.noFile'); msg.hidden = false; return; }
    run.disabled = true;
    msg.className = 'msg info';
    msg.hidden = false;
    out.replaceChildren();
    const pct = (v) => new Intl.NumberFormat(state.lang === 'en' ? 'en-GB' : 'vi-VN', { style: 'percent' }).format(v);
    msg.textContent = t('vf.running', { p: pct(0) });
    try {
      const r = await upload([...input.files], (v) => { msg.textContent = t('vf.running', { p: pct(v) }); });
      msg.hidden = true;
      out.replaceChildren(resultCard(r));
    } catch (err) {
      if (!err.handled) { msg.className = 'msg error'; msg.textContent = errorText(err); }
    } finally {
      run.disabled = false;
    }
  } }, t('vf.run'));
  body.replaceChildren(h('div', { class: 'admin-page', id: 'verify-page' },
    h('h2', {}, t('vf.title')), h('p', { class: 'muted' }, t('vf.hint')),
    h('div', { class: 'vf-pick' }, input, run), msg, out));
}
