// The scheduled meeting's documents (tài liệu họp) on its page: upload PDFs and pictures with a progress bar,
// list them (size in vi-VN, pages), rename, switch downloads for the sites on or off, view, delete.
// The upload's body is the file itself (XMLHttpRequest, for its upload progress); the server reads what the
// file is from its content and answers a coded error (errors.js) for anything else.
import { addStrings, state, t, h, api, errorText, fmtDateTime, num, size, modal, ApiError } from './core.js';

addStrings({
  vi: {
    'docs.title': 'Tài liệu họp', 'docs.hint': 'PDF, ảnh JPEG hoặc PNG, mỗi tệp tối đa {mb} MB. Các điểm cầu được mời mở tài liệu trên trang họp.',
    'docs.pick': 'Chọn tệp…', 'docs.none': 'Chưa chọn tệp nào', 'docs.upload': 'Tải lên', 'docs.allowDownload': 'Cho phép điểm cầu tải về',
    'docs.uploading': 'Đang tải lên {name}… {p}', 'docs.uploaded': 'Đã tải lên: {name}', 'docs.failedOne': '{name}: {m}',
    'docs.empty': 'Chưa có tài liệu nào.', 'docs.pages': '{n} trang', 'docs.image': 'Ảnh', 'docs.by': 'Tải lên {t}',
    'docs.view': 'Xem', 'docs.rename': 'Đổi tên', 'docs.delete': 'Xóa', 'docs.save': 'Lưu', 'docs.cancel': 'Hủy',
    'docs.downloadable': 'Cho tải về', 'docs.viewOnly': 'Chỉ xem', 'docs.deleteAsk': 'Xóa tài liệu “{t}”?',
    'docs.deleteWarn': 'Các điểm cầu sẽ không mở được tài liệu này nữa.', 'docs.deleteYes': 'Xóa tài liệu',
    'docs.tooLarge': '{name} lớn {s}, vượt giới hạn {mb} MB.', 'docs.count': '{n} tài liệu', 'docs.titleLabel': 'Tên tài liệu',
  },
  en: {
    'docs.title': 'Meeting documents', 'docs.hint': 'PDF, JPEG or PNG, at most {mb} MB each. Invited sites open them from the meeting page.',
    'docs.pick': 'Choose files…', 'docs.none': 'No file chosen', 'docs.upload': 'Upload', 'docs.allowDownload': 'Sites may download',
    'docs.uploading': 'Uploading {name}… {p}', 'docs.uploaded': 'Uploaded: {name}', 'docs.failedOne': '{name}: {m}',
    'docs.empty': 'No documents yet.', 'docs.pages': '{n} pages', 'docs.image': 'Image', 'docs.by': 'Uploaded {t}',
    'docs.view': 'View', 'docs.rename': 'Rename', 'docs.delete': 'Delete', 'docs.save': 'Save', 'docs.cancel': 'Cancel',
    'docs.downloadable': 'Downloadable', 'docs.viewOnly': 'View only', 'docs.deleteAsk': 'Delete the document “{t}”?',
    'docs.deleteWarn': 'The sites will no longer be able to open it.', 'docs.deleteYes': 'Delete document',
    'docs.tooLarge': '{name} is {s}, over the {mb} MB limit.', 'docs.count': '{n} documents', 'docs.titleLabel': 'Document title',
  },
});

const ACCEPT = '.pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png';
const MB = 1000000;

/** POST one file as the request body; resolve with the new document, reject with an ApiError. */
function send(meetingId, file, downloadable, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const q = new URLSearchParams({ filename: file.name, downloadable: String(downloadable) });
    xhr.open('POST', `/api/v1/scheduled-meetings/${meetingId}/documents?${q}`);
    if (state.token) xhr.setRequestHeader('Authorization', `Bearer ${state.token}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (ev) => { if (ev.lengthComputable) onProgress(ev.loaded / ev.total); });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 201) { resolve(data); return; }
      const e = (data && data.error) || {};
      reject(new ApiError(xhr.status, e.code || `http_${xhr.status}`, e.message || xhr.statusText, e.field));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'network error')));
    xhr.send(file);
  });
}

/** Show a document in a dialog: the browser's PDF viewer or the picture, from a blob: URL. */
async function view(doc) {
  const resp = await api('GET', doc.url, undefined, { raw: true });
  const url = URL.createObjectURL(new Blob([await resp.blob()], { type: doc.content_type }));
  const body = doc.content_type === 'application/pdf'
    ? h('iframe', { id: 'doc-view-frame', class: 'doc-view-frame', title: doc.title, src: url })
    : h('img', { id: 'doc-view-img', class: 'doc-view-img', alt: doc.title, src: url });
  modal(doc.title, body, { id: 'doc-view', wide: true, onClose: () => URL.revokeObjectURL(url) });
}

/** The documents section of a scheduled meeting's page (returns its element; it loads itself). */
export function documentsSection(m) {
  const editable = m.status !== 'cancelled';
  const count = h('span', { id: 'docs-count', class: 'muted' });
  const hint = h('p', { id: 'docs-hint', class: 'muted small' });
  const list = h('ul', { id: 'docs-list', class: 'docs-list' });
  const status = h('p', { id: 'docs-status', class: 'msg', role: 'status', hidden: true });
  const bar = h('progress', { id: 'docs-progress', max: '1', value: '0', hidden: true });
  // The browser's own file button speaks its UI language: a labelled button of ours opens it instead.
  const input = h('input', { type: 'file', id: 'docs-file', class: 'docs-file', accept: ACCEPT, multiple: true });
  const chosen = h('span', { id: 'docs-chosen', class: 'muted small' }, t('docs.none'));
  input.addEventListener('change', () => {
    const names = [...input.files].map((f) => `${f.name} (${size(f.size)})`);
    chosen.textContent = names.length ? names.join(', ') : t('docs.none');
  });
  const allow = h('input', { type: 'checkbox', id: 'docs-allow', checked: true });
  const uploadBtn = h('button', { type: 'button', id: 'docs-upload', class: 'primary' }, t('docs.upload'));
  let maxMb = 50;
  let busy = false;

  const say = (text, kind = 'info') => {
    status.className = `msg ${kind}`;
    status.textContent = text;
    status.hidden = !text;
  };

  const row = (d) => {
    const kind = d.content_type === 'application/pdf' ? (d.pages ? `PDF · ${t('docs.pages', { n: num(d.pages) })}` : 'PDF') : t('docs.image');
    const toggle = h('input', { type: 'checkbox', class: 'doc-allow', checked: d.downloadable, disabled: !editable });
    toggle.addEventListener('change', async () => {
      toggle.disabled = true;
      try {
        await api('PATCH', `/api/v1/documents/${d.id}`, { downloadable: toggle.checked });
        await load();
      } catch (err) {
        if (err.handled) return;
        toggle.checked = !toggle.checked;
        say(errorText(err), 'error');
      } finally {
        toggle.disabled = !editable;
      }
    });
    const titleEl = h('strong', { class: 'doc-title' }, d.title);
    const li = h('li', { class: 'doc-item', 'data-id': d.id },
      h('div', { class: 'doc-main' }, titleEl,
        h('span', { class: 'doc-meta muted small' }, [kind, size(d.size), d.filename].join(' · ')),
        h('span', { class: 'doc-meta muted small' }, t('docs.by', { t: fmtDateTime(d.uploaded_at) }))),
      h('div', { class: 'doc-actions' },
        h('label', { class: 'doc-switch' }, toggle, ' ', t('docs.downloadable')),
        h('button', { type: 'button', class: 'doc-view', onclick: () => view(d).catch((err) => { if (!err.handled) say(errorText(err), 'error'); }) }, t('docs.view')),
        editable && h('button', { type: 'button', class: 'doc-rename', onclick: () => rename(li, titleEl, d) }, t('docs.rename')),
        editable && h('button', { type: 'button', class: 'doc-delete danger', onclick: () => confirmDelete(d) }, t('docs.delete'))));
    return li;
  };

  const rename = (li, titleEl, d) => {
    const field = h('input', { type: 'text', class: 'doc-title-input', value: d.title, maxlength: '200', 'aria-label': t('docs.titleLabel') });
    const save = async () => {
      const title = field.value.trim();
      if (!title || title === d.title) { await load(); return; }
      try {
        await api('PATCH', `/api/v1/documents/${d.id}`, { title });
        await load();
      } catch (err) {
        if (!err.handled) say(errorText(err), 'error');
      }
    };
    field.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') save(); if (ev.key === 'Escape') load(); });
    titleEl.replaceWith(h('span', { class: 'doc-rename-row' }, field,
      h('button', { type: 'button', class: 'primary doc-rename-save', onclick: save }, t('docs.save')),
      h('button', { type: 'button', onclick: () => load() }, t('docs.cancel'))));
    field.focus();
  };

  const confirmDelete = (d) => {
    const yes = h('button', { type: 'button', id: 'doc-delete-yes', class: 'danger' }, t('docs.deleteYes'));
    const msg = h('p', { class: 'msg error', hidden: true });
    const dlg = modal(t('docs.deleteAsk', { t: d.title }), h('div', { class: 'confirm-body' }, h('p', {}, t('docs.deleteWarn')), msg,
      h('div', { class: 'mf-actions' }, yes, h('button', { type: 'button', onclick: () => dlg.close() }, t('docs.cancel')))),
    { id: 'doc-delete-dialog' });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      try {
        await api('DELETE', `/api/v1/documents/${d.id}`);
        dlg.close();
        await load();
      } catch (err) {
        if (err.handled) return;
        yes.disabled = false;
        msg.textContent = errorText(err);
        msg.hidden = false;
      }
    });
    yes.focus();
  };

  async function load() {
    try {
      const data = await api('GET', `/api/v1/scheduled-meetings/${m.id}/documents`);
      maxMb = data.max_mb;
      hint.textContent = t('docs.hint', { mb: num(maxMb) });
      count.textContent = t('docs.count', { n: num(data.items.length) });
      list.replaceChildren(...(data.items.length ? data.items.map(row) : [h('li', { class: 'docs-none muted' }, t('docs.empty'))]));
    } catch (err) {
      if (!err.handled) say(errorText(err), 'error');
    }
  }

  uploadBtn.addEventListener('click', async () => {
    const files = [...input.files];
    if (!files.length) { input.click(); return; }
    if (busy) return;
    busy = true;
    uploadBtn.disabled = true;
    const problems = [];
    const done = [];
    for (const file of files) {
      if (file.size > maxMb * MB) {
        problems.push(t('docs.tooLarge', { name: file.name, s: size(file.size), mb: num(maxMb) }));
        continue;
      }
      bar.hidden = false;
      bar.value = 0;
      say(t('docs.uploading', { name: file.name, p: '0 %' }));
      try {
        await send(m.id, file, allow.checked, (f) => {
          bar.value = f;
          say(t('docs.uploading', { name: file.name, p: `${num(Math.round(f * 100))} %` }));
        });
        done.push(file.name);
      } catch (err) {
        if (err.handled) continue;
        problems.push(t('docs.failedOne', { name: file.name, m: errorText(err) }));
      }
    }
    bar.hidden = true;
    busy = false;
    uploadBtn.disabled = false;
    input.value = '';
    chosen.textContent = t('docs.none');
    say([...done.map((n) => t('docs.uploaded', { name: n })), ...problems].join(' — '), problems.length ? 'error' : 'info');
    await load();
  });

  const form = editable ? h('div', { class: 'docs-form' },
    input, h('label', { class: 'docs-pick', for: 'docs-file' }, t('docs.pick')), chosen,
    h('label', { class: 'doc-switch' }, allow, ' ', t('docs.allowDownload')), uploadBtn, bar) : null;
  const section = h('section', { id: 'documents', class: 'documents card', 'data-meeting-id': m.id },
    h('div', { class: 'docs-head' }, h('h3', {}, t('docs.title')), count), hint, form, status, list);
  load();
  return section;
}
