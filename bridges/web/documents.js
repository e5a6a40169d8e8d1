// Meeting documents (tài liệu họp): the meeting's PDFs and images in a drawer ("Tài liệu"), opened in a viewer
// over the stage. Files are fetched with the join token in the Authorization header and shown from a blob: URL
// (the browser's own PDF viewer in an iframe, an <img> for pictures), so the token never appears in a URL.
// A view-only document gets no download button and the PDF viewer's toolbar (save, print) is hidden — what is
// on the screen can still be captured; the server also refuses download=true for it.
// The chair presents a document at a page through the API; every site gets `document_present` and opens it
// there (a site that joins later gets it right after its welcome); `documents` means the list changed.
import { addStrings, hasText, num, size, t } from '/console/i18n.js';
import { api as roomApi } from './moderation.js';
import { $, S, toast } from './state.js';

addStrings({
  vi: {
    'doc.button': 'Tài liệu', 'doc.title': 'Tài liệu họp', 'doc.close': 'Đóng', 'doc.empty': 'Cuộc họp chưa có tài liệu.',
    'doc.loading': 'Đang tải danh sách tài liệu…', 'doc.open': 'Xem', 'doc.download': 'Tải về', 'doc.present': 'Trình chiếu',
    'doc.stop': 'Dừng trình chiếu', 'doc.pages': '{n} trang', 'doc.image': 'Ảnh', 'doc.pdf': 'PDF',
    'doc.viewOnly': 'Chỉ xem, không tải về', 'doc.presenting': 'Đang trình chiếu',
    'doc.presentedBy': 'Chủ tọa đang trình chiếu tài liệu này', 'doc.page': 'Trang {n}/{total}', 'doc.pageOne': 'Trang {n}',
    'doc.prev': 'Trang trước', 'doc.next': 'Trang sau', 'doc.opening': 'Đang mở tài liệu…',
    'doc.failed': 'Không mở được tài liệu: {m}', 'doc.listFailed': 'Không tải được danh sách tài liệu: {m}',
    'doc.presentStarted': 'Chủ tọa trình chiếu tài liệu: {title}', 'doc.presentStopped': 'Chủ tọa đã dừng trình chiếu tài liệu.',
    'doc.count': '{n} tài liệu',
  },
  en: {
    'doc.button': 'Documents', 'doc.title': 'Meeting documents', 'doc.close': 'Close', 'doc.empty': 'The meeting has no documents yet.',
    'doc.loading': 'Loading the documents…', 'doc.open': 'View', 'doc.download': 'Download', 'doc.present': 'Present',
    'doc.stop': 'Stop presenting', 'doc.pages': '{n} pages', 'doc.image': 'Image', 'doc.pdf': 'PDF',
    'doc.viewOnly': 'View only, no download', 'doc.presenting': 'Presenting',
    'doc.presentedBy': 'The chair is presenting this document', 'doc.page': 'Page {n}/{total}', 'doc.pageOne': 'Page {n}',
    'doc.prev': 'Previous page', 'doc.next': 'Next page', 'doc.opening': 'Opening the document…',
    'doc.failed': 'The document could not be opened: {m}', 'doc.listFailed': 'The documents could not be listed: {m}',
    'doc.presentStarted': 'The chair is presenting: {title}', 'doc.presentStopped': 'The chair stopped presenting the document.',
    'doc.count': '{n} documents',
  },
});

const D = {
  meetingId: null, items: [], loaded: false, loading: false, error: null, open: false,
  presented: null,   // {document, page, by} from the server
  viewing: null,     // {doc, page, presented, status: 'opening'|'shown'|'failed', error}
  blobs: new Map(),  // document id → {sha, url}
};

window.__docs = {
  get items() { return D.items; },
  get presented() { return D.presented; },
  get viewing() { return D.viewing && { id: D.viewing.doc.id, page: D.viewing.page, status: D.viewing.status, presented: D.viewing.presented }; },
};

function errText(code, message) {
  return hasText(`err.${code}`) ? t(`err.${code}`) : (message || code || '');
}

/** Fetch with the join token in the Authorization header; return the response, or throw with the error's text. */
async function fetchOk(path) {
  let resp;
  try {
    resp = await fetch(path, { headers: { Authorization: `Bearer ${S.token}`, Accept: 'application/json' } });
  } catch (_) {
    throw new Error(t('network'));
  }
  if (resp.ok) return resp;
  let code = '';
  let message = `HTTP ${resp.status}`;
  try { const data = await resp.json(); code = data.error.code; message = data.error.message; } catch (_) { /* not JSON */ }
  throw new Error(errText(code, message));
}

async function loadList() {
  const id = S.welcome && S.welcome.meeting ? S.welcome.meeting.id : null;
  if (id == null) return;
  D.meetingId = id;
  D.loading = true;
  render();
  try {
    const data = await (await fetchOk(`/api/v1/scheduled-meetings/${id}/documents`)).json();
    D.items = data.items;
    D.error = null;
    const live = new Set(D.items.map((d) => `${d.id}:${d.sha256}`));
    for (const [docId, b] of D.blobs) {
      if (!live.has(`${docId}:${b.sha}`)) { URL.revokeObjectURL(b.url); D.blobs.delete(docId); }
    }
  } catch (err) {
    D.error = t('doc.listFailed', { m: err.message });
  } finally {
    D.loading = false;
    D.loaded = true;
    render();
  }
}

/** The document's file as a blob: URL (fetched once with the join token). */
async function blobUrl(doc) {
  const known = D.blobs.get(doc.id);
  if (known && (!doc.sha256 || known.sha === doc.sha256)) return known.url;
  const resp = await fetchOk(`/api/v1/documents/${doc.id}/content`);
  const blob = await resp.blob();
  const url = URL.createObjectURL(new Blob([blob], { type: doc.content_type }));
  if (known) URL.revokeObjectURL(known.url);
  D.blobs.set(doc.id, { sha: doc.sha256 || '', url });
  return url;
}

function fullDoc(doc) {
  return D.items.find((d) => d.id === doc.id) || doc;
}

async function openDoc(doc, page, presented) {
  const want = { doc: fullDoc(doc), page: page || 1, presented, status: 'opening', error: null };
  D.viewing = want;
  D.open = false;
  render();
  try {
    const url = await blobUrl(want.doc);
    if (D.viewing !== want) return;  // another document was opened meanwhile
    showFile(want, url);
    want.status = 'shown';
  } catch (err) {
    if (D.viewing !== want) return;
    want.status = 'failed';
    want.error = t('doc.failed', { m: err.message });
  }
  render();
}

function showFile(v, url) {
  const body = $('#doc-body');
  if (v.doc.content_type === 'application/pdf') {
    // A new frame each time: the PDF viewer reads #page only when it loads. toolbar=0 hides save and print.
    const frame = document.createElement('iframe');
    frame.id = 'doc-frame';
    frame.title = v.doc.title;
    frame.src = `${url}#page=${v.page}${v.doc.downloadable ? '' : '&toolbar=0'}`;
    body.replaceChildren(frame);
  } else {
    const img = document.createElement('img');
    img.id = 'doc-img';
    img.alt = v.doc.title;
    img.src = url;
    img.draggable = false;
    body.replaceChildren(img);
  }
}

function closeViewer() {
  D.viewing = null;
  $('#doc-body').replaceChildren();
  render();
}

export function onDocumentMessage(msg) {
  if (msg.type === 'documents') { loadList(); return; }
  if (!D.loaded && !D.loading) loadList();
  const before = D.presented;
  D.presented = msg.document ? { document: msg.document, page: msg.page || 1, by: msg.by } : null;
  if (D.presented) {
    const same = D.viewing && D.viewing.doc.id === msg.document.id && D.viewing.page === D.presented.page && D.viewing.status !== 'failed';
    if (!before || before.document.id !== msg.document.id) {
      if (!S.isHost) toast(t('doc.presentStarted', { title: msg.document.title }));
    }
    if (!same) openDoc(msg.document, D.presented.page, true);
    else D.viewing.presented = true;
  } else if (before) {
    if (D.viewing && D.viewing.presented) closeViewer();
    if (!S.isHost) toast(t('doc.presentStopped'));
  }
  render();
}

async function present(doc, page) {
  try {
    await roomApi('/documents/present', { document_id: doc ? doc.id : null, page: page || 1 });
  } catch (err) {
    toast(err.message, 'error');
  }
}

function kindText(d) {
  if (d.content_type === 'application/pdf') return d.pages ? `${t('doc.pdf')} · ${t('doc.pages', { n: num(d.pages) })}` : t('doc.pdf');
  return t('doc.image');
}

function button(text, cls, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

async function download(d) {
  try {
    const url = await blobUrl(d);
    const a = document.createElement('a');
    a.href = url;
    a.download = d.filename;
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    toast(t('doc.failed', { m: err.message }), 'error');
  }
}

function renderList() {
  const list = $('#docs-list');
  if (!D.items.length) {
    const li = document.createElement('li');
    li.className = 'docs-none muted';
    li.textContent = D.loading ? t('doc.loading') : t('doc.empty');
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(...D.items.map((d) => {
    const li = document.createElement('li');
    li.className = 'doc-row';
    li.dataset.id = String(d.id);
    const presenting = D.presented && D.presented.document.id === d.id;
    li.classList.toggle('presenting', Boolean(presenting));
    const info = document.createElement('div');
    info.className = 'doc-info';
    const name = document.createElement('b');
    name.className = 'doc-name';
    name.textContent = d.title;
    const meta = document.createElement('span');
    meta.className = 'doc-meta muted';
    meta.textContent = [kindText(d), size(d.size), d.downloadable ? '' : t('doc.viewOnly'), presenting ? t('doc.presenting') : '']
      .filter(Boolean).join(' · ');
    info.append(name, meta);
    const acts = document.createElement('div');
    acts.className = 'doc-acts';
    acts.append(button(t('doc.open'), 'small primary doc-open', () => openDoc(d, 1, false)));
    if (d.downloadable) acts.append(button(t('doc.download'), 'small doc-download', () => download(d)));
    if (S.isHost) {
      acts.append(presenting ? button(t('doc.stop'), 'small doc-stop', () => present(null))
        : button(t('doc.present'), 'small doc-present', () => present(d, 1)));
    }
    li.append(info, acts);
    return li;
  }));
}

function renderViewer() {
  const box = $('#doc-viewer');
  const v = D.viewing;
  box.hidden = !v;
  if (!v) return;
  const doc = fullDoc(v.doc);
  $('#doc-title').textContent = doc.title;
  const presentedHere = D.presented && D.presented.document.id === doc.id;
  const badge = $('#doc-presented');
  badge.hidden = !presentedHere;
  badge.textContent = S.isHost ? t('doc.presenting') : t('doc.presentedBy');
  const pdf = doc.content_type === 'application/pdf';
  const pager = $('#doc-pager');
  pager.hidden = !(presentedHere && pdf);
  if (presentedHere && pdf) {
    const page = D.presented.page;
    $('#doc-page').textContent = doc.pages ? t('doc.page', { n: num(page), total: num(doc.pages) }) : t('doc.pageOne', { n: num(page) });
    for (const [sel, key, next] of [['#doc-prev', 'doc.prev', page - 1], ['#doc-next', 'doc.next', page + 1]]) {
      const b = $(sel);
      b.hidden = !S.isHost;
      b.title = t(key);
      b.setAttribute('aria-label', t(key));
      b.disabled = next < 1 || (doc.pages && next > doc.pages);
      b.dataset.page = String(next);
    }
  }
  const pres = $('#doc-present-btn');
  pres.hidden = !S.isHost;
  pres.textContent = presentedHere ? t('doc.stop') : t('doc.present');
  const dl = $('#doc-download');
  dl.hidden = !doc.downloadable;
  dl.textContent = t('doc.download');
  $('#doc-close').title = t('doc.close');
  $('#doc-close').setAttribute('aria-label', t('doc.close'));
  const note = $('#doc-note');
  note.hidden = !(v.status !== 'shown' || !doc.downloadable);
  note.textContent = v.status === 'opening' ? t('doc.opening') : v.status === 'failed' ? v.error : t('doc.viewOnly');
  note.classList.toggle('error', v.status === 'failed');
}

export function render() {
  const btn = $('#btn-docs');
  if (!btn) return;
  btn.hidden = D.meetingId == null;
  btn.querySelector('.txt').textContent = t('doc.button');
  btn.title = `${t('doc.title')} — ${t('doc.count', { n: num(D.items.length) })}`;
  btn.classList.toggle('active', D.open);
  btn.classList.toggle('presenting', Boolean(D.presented));
  btn.setAttribute('aria-pressed', String(D.open));
  const count = $('#docs-count');
  count.hidden = !D.items.length;
  count.textContent = String(D.items.length);
  const panel = $('#docs');
  panel.hidden = !D.open;
  $('#docs-title').textContent = t('doc.title');
  $('#docs-close').title = t('doc.close');
  $('#docs-close').setAttribute('aria-label', t('doc.close'));
  const err = $('#docs-error');
  err.hidden = !D.error;
  err.textContent = D.error || '';
  if (D.open) renderList();
  renderViewer();
}

export function bindDocuments() {
  $('#btn-docs').addEventListener('click', () => {
    D.open = !D.open;
    if (D.open && !D.loading) loadList();
    render();
  });
  $('#docs-close').addEventListener('click', () => { D.open = false; render(); });
  $('#doc-close').addEventListener('click', closeViewer);
  $('#doc-download').addEventListener('click', () => { if (D.viewing) download(fullDoc(D.viewing.doc)); });
  $('#doc-present-btn').addEventListener('click', () => {
    if (!D.viewing) return;
    const doc = fullDoc(D.viewing.doc);
    present(D.presented && D.presented.document.id === doc.id ? null : doc, 1);
  });
  for (const sel of ['#doc-prev', '#doc-next']) {
    $(sel).addEventListener('click', (ev) => {
      if (D.presented) present(fullDoc(D.presented.document), Number(ev.currentTarget.dataset.page));
    });
  }
  $('#lang-toggle').addEventListener('click', () => render());  // after the page's own language switch
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && D.viewing && !ev.defaultPrevented) closeViewer();
  });
}
