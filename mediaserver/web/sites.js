// "Điểm cầu & phòng họp" (admin, operator): the conference sites (name, English name, kind — the district's host
// site too — and the e-mail invitations go to), add, edit or remove an API-added one; the meeting rooms (host site,
// member sites, locked or closed by the chair's End), create or edit one picking its member sites from a
// checklist (never typed ids), remove one, reopen a closed one; and a join link for one member site of a room, with a copy
// button. Sites and rooms from config.yaml are shown but can only be changed there.
import { addStrings, t, tOr, h, api, siteName, fmtDateTime, num, errorNode } from './core.js';
import { fieldForm, pageNote, listTable, copyButton, slug, IDENT_RE } from './manage.js';
import './conference.js'; // the site kinds' names (site.host, site.commune, …)

const KINDS = ['commune', 'town', 'organisation', 'party']; // the host site is set in config.yaml

addStrings({
  vi: {
    'sec.sites': 'Điểm cầu & phòng họp', stTitle: 'Điểm cầu', stNone: 'Chưa có điểm cầu nào.', stName: 'Tên điểm cầu', stKind: 'Loại',
    stEmail: 'Thư điện tử', stActions: 'Thao tác', stNew: 'Thêm điểm cầu', stFName: 'Tên (tiếng Việt)', stFNameEn: 'Tên tiếng Anh (không bắt buộc)',
    stFId: 'Mã điểm cầu', stFEmail: 'Thư điện tử nhận giấy mời (không bắt buộc)', stCreate: 'Thêm điểm cầu',
    stCreated: 'Đã thêm điểm cầu “{n}”.', stRemove: 'Xóa', stRemoveConfirm: 'Xóa điểm cầu “{n}”? Điểm cầu không vào được các phòng họp nữa; lịch sử điểm danh vẫn được giữ.',
    stRemoved: 'Đã xóa điểm cầu “{n}”.', stEditTitle: 'Sửa điểm cầu “{n}”', stSaved: 'Đã lưu điểm cầu “{n}”.',
    rmTitle: 'Phòng họp', rmNone: 'Chưa có phòng họp nào.', rmName: 'Phòng họp', rmHost: 'Điểm cầu chủ trì', rmMembers: 'Điểm cầu tham gia',
    rmState: 'Trạng thái', rmAll: 'Tất cả điểm cầu ({n})', rmLocked: 'Đang khóa', rmOpen: 'Đang mở', rmClosed: 'Đã kết thúc lúc {t}: điểm cầu chưa vào được',
    rmReopen: 'Mở lại phòng', rmReopened: 'Đã mở lại phòng “{n}”.', rmRemove: 'Xóa', rmRemoveConfirm: 'Xóa phòng họp “{n}”? Các liên kết tham gia đã cấp cho phòng này không dùng được nữa.',
    rmRemoved: 'Đã xóa phòng họp “{n}”.', rmNew: 'Tạo phòng họp', rmFName: 'Tên phòng họp', rmFId: 'Mã phòng', rmFHost: 'Điểm cầu chủ trì',
    rmFWho: 'Điểm cầu tham gia', rmFAllSites: 'Tất cả điểm cầu (kể cả điểm cầu thêm sau này)', rmFSomeSites: 'Chọn điểm cầu:',
    rmFChosen: 'Đã chọn {n}/{total}', rmFMax: 'Số điểm cầu tối đa cùng lúc', rmFRecord: 'Tự động ghi hình mỗi cuộc họp',
    rmCreate: 'Tạo phòng họp', rmCreated: 'Đã tạo phòng họp “{n}”.', rmFChairAlways: '(chủ trì, luôn tham gia)',
    rmEdit: 'Sửa', rmEditTitle: 'Sửa phòng họp “{n}”', rmSave: 'Lưu thay đổi', rmSaved: 'Đã lưu phòng họp “{n}”. Cuộc họp đang diễn ra giữ danh sách điểm cầu cũ đến khi kết thúc.',
    jlTitle: 'Liên kết tham gia', jlSite: 'Điểm cầu', jlMake: 'Tạo liên kết tham gia', jlFor: 'Liên kết cho {s} vào “{r}”',
    jlUntil: 'Hiệu lực đến {t}. Ai có liên kết này đều vào được với tư cách điểm cầu đó: chỉ gửi cho đúng người.',
    'stfe.id': 'Mã chưa đúng: chỉ chữ thường không dấu, chữ số, gạch ngang (tối đa 64 ký tự).', 'stfe.taken': 'Mã này đã được dùng; hãy chọn mã khác.',
    'stfe.name': 'Vui lòng nhập tên (tối đa 120 ký tự).', 'stfe.name_en': 'Tên tiếng Anh tối đa 120 ký tự.',
    'stfe.email': 'Địa chỉ thư điện tử chưa đúng (ví dụ: vanphong@anbinh.gov.vn).', 'stfe.role': 'Loại điểm cầu không hợp lệ.',
    'rmfe.host': 'Vui lòng chọn điểm cầu chủ trì.', 'rmfe.sites': 'Vui lòng chọn ít nhất một điểm cầu tham gia ngoài điểm cầu chủ trì.',
    'rmfe.max': 'Số điểm cầu tối đa phải từ 2 đến 64.', 'rmfe.unknownSite': 'Có điểm cầu không còn tồn tại; hãy tải lại trang.',
  },
  en: {
    'sec.sites': 'Sites & rooms', stTitle: 'Sites', stNone: 'No sites yet.', stName: 'Site', stKind: 'Kind',
    stEmail: 'E-mail', stActions: 'Actions', stNew: 'Add a site', stFName: 'Name (Vietnamese)', stFNameEn: 'English name (optional)',
    stFId: 'Site id', stFEmail: 'E-mail for invitations (optional)', stCreate: 'Add site',
    stCreated: 'Site “{n}” added.', stRemove: 'Remove', stRemoveConfirm: 'Remove site “{n}”? It can no longer join any room; its attendance history is kept.',
    stRemoved: 'Site “{n}” removed.', stEditTitle: 'Edit site “{n}”', stSaved: 'Site “{n}” saved.',
    rmTitle: 'Meeting rooms', rmNone: 'No rooms yet.', rmName: 'Room', rmHost: 'Chairing site', rmMembers: 'Member sites',
    rmState: 'State', rmAll: 'All sites ({n})', rmLocked: 'Locked', rmOpen: 'Open', rmClosed: 'Ended at {t}: sites cannot join yet',
    rmReopen: 'Reopen room', rmReopened: 'Room “{n}” reopened.', rmRemove: 'Remove', rmRemoveConfirm: 'Remove room “{n}”? Join links issued for it stop working.',
    rmRemoved: 'Room “{n}” removed.', rmNew: 'Create a room', rmFName: 'Room name', rmFId: 'Room id', rmFHost: 'Chairing site',
    rmFWho: 'Member sites', rmFAllSites: 'All sites (including sites added later)', rmFSomeSites: 'Chosen sites:',
    rmFChosen: '{n}/{total} chosen', rmFMax: 'Most sites at once', rmFRecord: 'Record every meeting automatically',
    rmCreate: 'Create room', rmCreated: 'Room “{n}” created.', rmFChairAlways: '(chair, always a member)',
    rmEdit: 'Edit', rmEditTitle: 'Edit room “{n}”', rmSave: 'Save changes', rmSaved: 'Room “{n}” saved. A meeting in progress keeps its sites until it ends.',
    jlTitle: 'Join link', jlSite: 'Site', jlMake: 'Make a join link', jlFor: 'Link for {s} to join “{r}”',
    jlUntil: 'Valid until {t}. Whoever has this link joins as that site: send it to the right person only.',
    'stfe.id': 'The id may only hold lower-case letters without accents, digits and hyphens (at most 64).', 'stfe.taken': 'This id is taken; choose another.',
    'stfe.name': 'Type a name (at most 120 characters).', 'stfe.name_en': 'The English name is at most 120 characters.',
    'stfe.email': 'Not an e-mail address (e.g. office@anbinh.gov.vn).', 'stfe.role': 'Not a valid kind of site.',
    'rmfe.host': 'Choose the chairing site.', 'rmfe.sites': 'Choose at least one member site besides the chair.',
    'rmfe.max': 'The most sites at once is a number from 2 to 64.', 'rmfe.unknownSite': 'A site no longer exists; reload the page.',
  },
});

let gen = 0;

export function stop() { gen += 1; }

export async function mount(body) {
  const g = ++gen;
  const { note, say } = pageNote('sites-note');
  const sitesBox = h('div', { id: 'sites-list' }, h('p', { class: 'loading' }, t('loading')));
  const roomsBox = h('div', { id: 'rooms-list' });
  const forms = h('div', { class: 'mg-forms' });
  body.replaceChildren(h('div', { class: 'admin-page' }, note, h('h2', {}, t('stTitle')), sitesBox, h('h2', {}, t('rmTitle')), roomsBox, forms));
  const reload = async () => {
    let sites; let rooms;
    try {
      [sites, rooms] = await Promise.all([api('GET', '/api/v1/sites'), api('GET', '/api/v1/rooms')]);
    } catch (err) {
      if (!err.handled && g === gen) sitesBox.replaceChildren(h('p', { class: 'msg error section-error' }, errorNode(err)));
      return;
    }
    if (g !== gen) return;
    const ctx = { sites: sites.items, rooms: rooms.items, byId: new Map(sites.items.map((s) => [s.id, s])), say, reload };
    // "Sửa" on a room puts the room form in edit mode (PATCH); saving or reloading puts it back to "create".
    ctx.edit = (room) => {
      const form = roomForm(ctx, room);
      forms.querySelector('#room-form').replaceWith(form);
      form.scrollIntoView({ block: 'start' });
      form.querySelector('#rm-name').focus();
    };
    ctx.editSite = (site) => {
      const form = siteForm(ctx, site);
      forms.querySelector('#site-form').replaceWith(form);
      form.scrollIntoView({ block: 'start' });
      form.querySelector('#st-name').focus();
    };
    sitesBox.replaceChildren(siteTable(ctx));
    roomsBox.replaceChildren(roomTable(ctx));
    forms.replaceChildren(siteForm(ctx, null), roomForm(ctx, null));
  };
  await reload();
}

const kindOf = (s) => tOr(`site.${s.role}`, s.role);
const configBadge = () => h('span', { class: 'badge', title: t('mgConfigHint') }, t('mgConfig'));

function removeButton(cls, text, confirmText, path, done, ctx) {
  return h('button', { type: 'button', class: `danger ${cls}`, onclick: async (ev) => {
    if (!window.confirm(confirmText)) return;
    ev.currentTarget.disabled = true;
    try { await api('DELETE', path); ctx.say(true, done); } catch (err) { if (!err.handled) ctx.say(false, err); }
    await ctx.reload();
  } }, text);
}

function siteTable(ctx) {
  if (!ctx.sites.length) return h('p', { class: 'empty' }, t('stNone'));
  return listTable('sites-table', ['stName', 'stKind', 'stEmail', 'stActions'], ctx.sites.map((s) => h('tr', { 'data-site-id': s.id, 'data-role': s.role },
    h('td', {}, h('b', {}, s.name), s.name_en ? h('div', { class: 'small', lang: 'en' }, s.name_en) : null, h('div', { class: 'muted small' }, s.id)),
    h('td', {}, h('span', { class: `chip role-${s.role}` }, kindOf(s))),
    h('td', { class: 'st-email' }, s.email || h('span', { class: 'muted no-email' }, '—')),
    h('td', { class: 'row-actions' }, s.source === 'config' ? configBadge()
      : [h('button', { type: 'button', class: 'site-edit', onclick: () => ctx.editSite(s) }, t('rmEdit')), removeButton('site-remove', t('stRemove'), t('stRemoveConfirm', { n: s.name }), `/api/v1/sites/${encodeURIComponent(s.id)}`,
        t('stRemoved', { n: s.name }), ctx)]))));
}

function roomTable(ctx) {
  if (!ctx.rooms.length) return h('p', { class: 'empty' }, t('rmNone'));
  return listTable('rooms-table', ['rmName', 'rmHost', 'rmMembers', 'rmState', 'jlTitle', 'stActions'], ctx.rooms.map((r) => {
    const host = ctx.byId.get(r.host_site_id);
    const members = r.sites === 'all' ? null : r.sites.map((id) => ctx.byId.get(id)).filter(Boolean);
    return h('tr', { 'data-room-id': r.id, 'data-locked': String(r.locked), 'data-closed': String(Boolean(r.closed_at)) },
      h('td', {}, h('b', {}, r.name), h('div', { class: 'muted small' }, r.id)),
      h('td', {}, host ? siteName(host) : r.host_site_id),
      h('td', { class: 'rm-members' }, members ? h('ul', { class: 'plain-list small' }, members.map((s) => h('li', { 'data-site-id': s.id }, siteName(s))))
        : t('rmAll', { n: num(ctx.sites.length) })),
      h('td', {}, h('span', { class: `badge ${r.locked ? 'locked' : 'open'}` }, t(r.locked ? 'rmLocked' : 'rmOpen')),
        r.closed_at ? h('div', { class: 'small rm-closed' }, t('rmClosed', { t: fmtDateTime(r.closed_at) })) : null),
      h('td', { class: 'rm-join' }, joinBox(r, ctx)),
      h('td', { class: 'row-actions' },
        r.closed_at ? h('button', { type: 'button', class: 'rm-reopen', onclick: async (ev) => {
          ev.currentTarget.disabled = true;
          try { await api('POST', `/api/v1/rooms/${encodeURIComponent(r.id)}/reopen`); ctx.say(true, t('rmReopened', { n: r.name })); } catch (err) {
            if (!err.handled) ctx.say(false, err);
          }
          await ctx.reload();
        } }, t('rmReopen')) : null,
        r.source === 'config' ? configBadge() : h('button', { type: 'button', class: 'rm-edit', onclick: () => ctx.edit(r) }, t('rmEdit')),
        r.source === 'config' ? null
          : removeButton('room-remove', t('rmRemove'), t('rmRemoveConfirm', { n: r.name }), `/api/v1/rooms/${encodeURIComponent(r.id)}`,
            t('rmRemoved', { n: r.name }), ctx)));
  }));
}

/** A member-site chooser and "make a join link": the link (with a copy button) and until when it works. */
function joinBox(room, ctx) {
  const members = room.sites === 'all' ? ctx.sites : ctx.sites.filter((s) => s.id === room.host_site_id || room.sites.includes(s.id));
  const pick = h('select', { class: 'jl-site', id: `jl-site-${room.id}`, 'aria-label': t('jlSite') },
    members.map((s) => h('option', { value: s.id }, siteName(s))));
  const out = h('div', { class: 'jl-out' });
  const btn = h('button', { type: 'button', class: 'primary jl-make', onclick: async () => {
    btn.disabled = true;
    try {
      const made = await api('POST', `/api/v1/rooms/${encodeURIComponent(room.id)}/join-tokens`, { site_id: pick.value });
      const site = ctx.byId.get(made.site_id);
      const url = h('input', { type: 'text', readonly: true, class: 'jl-url mono', value: made.join_url, 'aria-label': t('jlFor', { s: siteName(site), r: room.name }),
        onfocus: (ev) => ev.target.select() });
      out.replaceChildren(h('p', { class: 'small' }, t('jlFor', { s: siteName(site), r: room.name })),
        h('div', { class: 'inline-row' }, url, copyButton(url)),
        made.expires_at ? h('p', { class: 'muted small jl-until' }, t('jlUntil', { t: fmtDateTime(made.expires_at) })) : null);
    } catch (err) {
      if (!err.handled) out.replaceChildren(h('p', { class: 'msg error' }, errorNode(err)));
    } finally { btn.disabled = false; }
  } }, t('jlMake'));
  return h('div', { class: 'jl-box' }, h('div', { class: 'inline-row' }, pick, btn), out);
}

function textInput(id, extra = {}) {
  return h('input', { id, name: id, type: 'text', autocomplete: 'off', spellcheck: 'false', ...extra });
}

/** Keep an id field in step with the name it comes from, until someone types their own id. */
function autoId(name, id) {
  let touched = false;
  name.addEventListener('input', () => { if (!touched) id.value = slug(name.value); });
  id.addEventListener('input', () => { touched = id.value !== ''; });
  return () => { touched = false; };
}

function siteForm(ctx, editing) {
  const f = fieldForm();
  const name = textInput('st-name', { maxlength: 120, placeholder: 'Xã An Bình', spellcheck: 'true', value: editing?.name });
  const nameEn = textInput('st-name-en', { maxlength: 120, placeholder: 'An Binh Commune', lang: 'en', value: editing?.name_en });
  const id = textInput('st-id', { maxlength: 64, autocapitalize: 'none', value: editing?.id, readonly: Boolean(editing) });
  const reset = editing ? () => {} : autoId(name, id);
  const role = h('select', { id: 'st-role' }, KINDS.map((k) => h('option', { value: k, selected: k === editing?.role }, t(`site.${k}`))));
  const email = textInput('st-email', { type: 'email', maxlength: 254, inputmode: 'email', autocapitalize: 'none', placeholder: 'vanphong@anbinh.gov.vn',
    value: editing?.email });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'st-create' }, t(editing ? 'rmSave' : 'stCreate'));
  const words = { id: t('stfe.id'), name: t('stfe.name'), name_en: t('stfe.name_en'), email: t('stfe.email'), role: t('stfe.role'), conflict: t('stfe.taken') };
  const el = h('form', { id: 'site-form', class: 'card admin-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    f.clear();
    if (!name.value.trim()) return f.show('name', t('stfe.name'));
    if (!IDENT_RE.test(id.value.trim())) return f.show('id', t('stfe.id'));
    if (email.value.trim() && !/^[^@\s,<>]+@[^@\s,<>]+$/.test(email.value.trim())) return f.show('email', t('stfe.email'));
    submit.disabled = true;
    try {
      const made = editing ? await api('PATCH', `/api/v1/sites/${encodeURIComponent(editing.id)}`, { name: name.value.trim(),
        name_en: nameEn.value.trim(), role: role.value, email: email.value.trim() })
        : await api('POST', '/api/v1/sites', { id: id.value.trim(), name: name.value.trim(), name_en: nameEn.value.trim() || null,
          role: role.value, email: email.value.trim() || null });
      if (!editing) el.reset();
      reset();
      ctx.say(true, t(editing ? 'stSaved' : 'stCreated', { n: made.name }));
      await ctx.reload();
    } catch (err) {
      if (!err.handled) f.fromApi(err, words, { conflict: 'id' });
    } finally { submit.disabled = false; }
  } }, h('h3', {}, editing ? t('stEditTitle', { n: editing.name }) : t('stNew')),
  f.field('name', t('stFName'), name), f.field('name_en', t('stFNameEn'), nameEn), f.field('id', t('stFId'), id, t('mgIdHint')),
  f.field('role', t('stKind'), role), f.field('email', t('stFEmail'), email), f.general,
  h('div', { class: 'row-actions' }, submit, editing ? h('button', { type: 'button', id: 'st-edit-cancel', onclick: () => ctx.reload() }, t('cancel')) : null));
  return el;
}

function roomForm(ctx, editing) {
  const f = fieldForm();
  const name = textInput('rm-name', { maxlength: 120, placeholder: 'Phòng họp trực tuyến UBND huyện', spellcheck: 'true', value: editing?.name });
  const id = textInput('rm-id', { maxlength: 64, autocapitalize: 'none', value: editing?.id, readonly: Boolean(editing) });
  const reset = editing ? () => {} : autoId(name, id);
  const hostDefault = editing?.host_site_id || ctx.sites.find((s) => s.role === 'host')?.id;
  const host = h('select', { id: 'rm-host' }, ctx.sites.map((s) => h('option', { value: s.id, selected: s.id === hostDefault }, siteName(s))));
  const all = h('input', { type: 'radio', name: 'rm-who', value: 'all', id: 'rm-who-all', checked: editing?.sites === 'all' });
  const some = h('input', { type: 'radio', name: 'rm-who', value: 'some', id: 'rm-who-some', checked: editing?.sites !== 'all' });
  const count = h('span', { id: 'rm-count', class: 'muted small' });
  const checklist = h('div', { id: 'rm-sites', class: 'site-checklist', role: 'group', 'aria-label': t('rmFWho') });
  const chosen = new Set(Array.isArray(editing?.sites) ? editing.sites : []);
  const paint = () => {
    checklist.hidden = all.checked;
    checklist.replaceChildren(...ctx.sites.map((s) => {
      const chair = s.id === host.value;
      return h('label', { class: `site-check role-${s.role}`, 'data-site-id': s.id },
        h('input', { type: 'checkbox', name: 'rm-site', value: s.id, checked: chair || chosen.has(s.id), disabled: chair,
          onchange: (ev) => { if (ev.target.checked) chosen.add(s.id); else chosen.delete(s.id); paintCount(); } }),
        h('span', {}, siteName(s), ' ', h('small', { class: 'muted' }, chair ? t('rmFChairAlways') : kindOf(s))));
    }));
    paintCount();
  };
  const paintCount = () => {
    const n = ctx.sites.filter((s) => s.id === host.value || chosen.has(s.id)).length;
    count.textContent = all.checked ? '' : t('rmFChosen', { n: num(n), total: num(ctx.sites.length) });
  };
  host.addEventListener('change', paint);
  all.addEventListener('change', paint);
  some.addEventListener('change', paint);
  const max = textInput('rm-max', { inputmode: 'numeric', value: String(editing?.max_sites ?? 40), size: 4, maxlength: 2 });
  const record = h('input', { type: 'checkbox', id: 'rm-record', checked: Boolean(editing?.auto_record) });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'rm-create' }, t(editing ? 'rmSave' : 'rmCreate'));
  const words = { id: t('stfe.id'), name: t('stfe.name'), host_site_id: t('rmfe.unknownSite'), sites: t('rmfe.unknownSite'),
    max_sites: t('rmfe.max'), conflict: t('stfe.taken') };
  const el = h('form', { id: 'room-form', class: 'card admin-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    f.clear();
    if (!name.value.trim()) return f.show('name', t('stfe.name'));
    if (!IDENT_RE.test(id.value.trim())) return f.show('id', t('stfe.id'));
    if (!host.value) return f.show('host_site_id', t('rmfe.host'));
    const members = [...chosen].filter((s) => s !== host.value && ctx.byId.has(s));
    if (!all.checked && !members.length) return f.show('sites', t('rmfe.sites'));
    const maxN = Number(max.value.trim());
    if (!(Number.isInteger(maxN) && maxN >= 2 && maxN <= 64)) return f.show('max_sites', t('rmfe.max'));
    submit.disabled = true;
    try {
      const body = { name: name.value.trim(), host_site_id: host.value, sites: all.checked ? 'all' : members, max_sites: maxN,
        auto_record: record.checked };
      const made = editing ? await api('PATCH', `/api/v1/rooms/${encodeURIComponent(editing.id)}`, body)
        : await api('POST', '/api/v1/rooms', { id: id.value.trim(), ...body });
      ctx.say(true, t(editing ? 'rmSaved' : 'rmCreated', { n: made.name }));
      reset();
      await ctx.reload();
    } catch (err) {
      if (!err.handled) f.fromApi(err, words, { conflict: 'id' });
    } finally { submit.disabled = false; }
  } }, h('h3', {}, editing ? t('rmEditTitle', { n: editing.name }) : t('rmNew')),
  f.field('name', t('rmFName'), name), f.field('id', t('rmFId'), id, t('mgIdHint')), f.field('host_site_id', t('rmFHost'), host),
  f.field('sites', t('rmFWho'), h('div', { class: 'rm-who' },
    h('label', { class: 'scope-choice' }, some, ' ', t('rmFSomeSites'), ' ', count), checklist,
    h('label', { class: 'scope-choice' }, all, ' ', t('rmFAllSites')))),
  f.field('max_sites', t('rmFMax'), max), h('label', { class: 'check' }, record, ' ', t('rmFRecord')), f.general,
  h('div', { class: 'row-actions' }, submit, editing ? h('button', { type: 'button', id: 'rm-edit-cancel', onclick: () => ctx.reload() }, t('cancel')) : null));
  paint();
  return el;
}
