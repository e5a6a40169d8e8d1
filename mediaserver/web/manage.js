// Shared pieces of the console's management pages (cameras-admin.js, sites.js, holds.js): a form whose API
// refusals land under the field they are about (in the reader's words, the server's English only behind
// "Chi tiết"), a copy button that also works on a plain-HTTP office LAN, a page note and a list table that
// becomes cards on a phone (users.js labelCells).
import { addStrings, t, h, errorNode } from './core.js';
import { labelCells } from './users.js';

addStrings({
  vi: {
    mgFix: 'Vui lòng sửa các ô được đánh dấu.', mgCopy: 'Sao chép', mgCopied: 'Đã sao chép',
    mgCopyManual: 'Đã chọn sẵn, nhấn Ctrl+C để sao chép', mgIdHint: 'Mã: 1–64 ký tự chữ thường không dấu, chữ số, gạch ngang; ví dụ: xa-an-binh',
    mgBadId: 'Mã chỉ gồm chữ thường không dấu, chữ số, gạch ngang, gạch dưới (tối đa 64 ký tự), bắt đầu bằng chữ hoặc số.',
    mgRequired: 'Vui lòng nhập ô này.', mgConfig: 'Khai báo trong config.yaml', mgConfigHint: 'Mục này khai báo trong tệp cấu hình, chỉ sửa hoặc xóa được trong tệp đó.',
  },
  en: {
    mgFix: 'Please correct the marked fields.', mgCopy: 'Copy', mgCopied: 'Copied',
    mgCopyManual: 'Selected: press Ctrl+C to copy', mgIdHint: 'Id: 1–64 lower-case letters without accents, digits, hyphens; e.g. xa-an-binh',
    mgBadId: 'The id may only hold lower-case letters without accents, digits, hyphens and underscores (at most 64), starting with a letter or digit.',
    mgRequired: 'Please fill in this field.', mgConfig: 'Defined in config.yaml', mgConfigHint: 'This is defined in the configuration file and can only be changed or removed there.',
  },
});

/** The server's identifier rule (mediaserver/config.py IDENT_PATTERN). */
export const IDENT_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** An identifier from a Vietnamese name: "Xã An Bình" → "xa-an-binh" (no accents, đ → d, hyphens). */
export function slug(name) {
  return String(name || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[đĐ]/g, 'd').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64).replace(/-+$/, '');
}

/** A form's fields by their API names, so a refusal (err.field, e.g. "streams.main_url") is said under its field. */
export function fieldForm() {
  const fields = new Map();
  const general = h('div', { class: 'msg error form-error', role: 'alert', hidden: true });
  const api = {
    general,
    /** A labelled field; ``name`` is the API's name of the value (the error's ``field``); ``control`` is an input
     * or a box of them (a date and a time), the first of which the label names and a refusal focuses. */
    field(name, label, control, hint) {
      const input = control.matches('input, select, textarea') ? control : control.querySelector('input, select, textarea');
      const err = h('p', { class: 'field-error', 'data-for': name, role: 'alert', hidden: true });
      const el = h('div', { class: 'field', 'data-field': name }, h('label', { for: input.id }, h('span', {}, label)), control,
        hint ? h('p', { class: 'muted small' }, hint) : null, err);
      fields.set(name, { el, err, input });
      return el;
    },
    clear() {
      for (const f of fields.values()) { f.err.hidden = true; f.err.replaceChildren(); f.el.classList.remove('invalid'); f.input.removeAttribute('aria-invalid'); }
      general.hidden = true;
      general.replaceChildren();
    },
    /** Mark ``name`` with ``text`` (nodes); without such a field, say it above the submit button. */
    show(name, ...text) {
      const f = fields.get(name);
      if (!f) { general.replaceChildren(...text); general.hidden = false; return; }
      f.err.replaceChildren(...text);
      f.err.hidden = false;
      f.el.classList.add('invalid');
      f.input.setAttribute('aria-invalid', 'true');
      f.input.focus();
      general.replaceChildren(t('mgFix'));
      general.hidden = false;
    },
    /** Say an API error under its field: ``words[field]`` (or ``words[code]``) when the page has them, else the
     * catalogue's text; the field is the error's own, or the nearest registered parent ("onvif.port" → "onvif"). */
    fromApi(err, words = {}, fieldOfCode = {}) {
      let name = err.field || fieldOfCode[err.code] || '';
      while (name && !fields.has(name) && name.includes('.')) name = name.slice(0, name.lastIndexOf('.'));
      const text = words[err.code] || (err.code === 'invalid_input' && words[name]) || null;
      const detail = err.message ? h('details', { class: 'err-detail' }, h('summary', {}, t('err.details')), h('small', {}, err.message)) : null;
      if (text && fields.has(name)) api.show(name, text, ' ', detail);
      else if (fields.has(name)) api.show(name, errorNode(err));
      else api.show(null, text ? [text, ' ', detail] : errorNode(err));
    },
  };
  return api;
}

/** A button that copies ``input``'s value (the clipboard API needs HTTPS or localhost: else select + execCommand). */
export function copyButton(input, id) {
  const btn = h('button', { type: 'button', id, class: 'copy-btn' }, t('mgCopy'));
  btn.addEventListener('click', async () => {
    let ok = true;
    try { await navigator.clipboard.writeText(input.value); } catch {
      input.focus();
      input.select();
      ok = document.execCommand('copy');
    }
    btn.textContent = ok ? t('mgCopied') : t('mgCopyManual');
    btn.classList.toggle('done', ok);
    setTimeout(() => { btn.textContent = t('mgCopy'); btn.classList.remove('done'); }, 2500);
  });
  return btn;
}

/** A page's status line: ``say(ok, ...nodes)`` shows it (info or error), an API error in the reader's words. */
export function pageNote(id) {
  const note = h('div', { id, class: 'msg', role: 'status', hidden: true });
  const say = (ok, ...nodes) => {
    note.className = `msg ${ok ? 'info' : 'error'}`;
    note.replaceChildren(...nodes.map((n) => (n instanceof Error ? errorNode(n) : n)));
    note.hidden = false;
  };
  return { note, say };
}

/** A list table (cards on a phone): ``cols`` are text keys ('' for none), ``rows`` its <tr> elements. */
export function listTable(id, cols, rows) {
  return h('div', { class: 'table-wrap' }, labelCells(h('table', { id, class: 'audit admin-table' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c ? t(c) : '')))), h('tbody', {}, rows))));
}
