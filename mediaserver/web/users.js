// "Người dùng" (admin): the staff accounts — create one (the password rules explained before submitting), change
// a role, disable/enable, set a temporary password or force a change at the next login — and, below them, the
// service tokens for machines (tokens.js). Every refusal is shown from its code (errors.js), the server's English
// words only behind "Chi tiết". A changed role, a disabled account or a new password ends that user's sessions;
// an account can be deleted after a confirm (never one's own: the server refuses, said in words).
import { addStrings, state, t, h, api, errorNode, modal } from './core.js';
import { dateTime as fmtDateTime } from './i18n.js';
import * as tokens from './tokens.js';

export const ROLES = ['admin', 'operator', 'security'];

addStrings({
  vi: {
    'sec.users': 'Người dùng', usrTitle: 'Tài khoản nhân viên', usrName: 'Tên đăng nhập', usrRole: 'Vai trò', usrState: 'Trạng thái',
    usrCreated: 'Ngày tạo', usrActions: 'Thao tác', usrNone: 'Chưa có tài khoản nào.',
    'urole.admin': 'Quản trị', 'urole.operator': 'Điều hành hội nghị', 'urole.security': 'Bảo vệ / an ninh',
    'urole.admin.d': 'Toàn quyền: người dùng, mã truy cập dịch vụ, nhật ký, camera, hội nghị.',
    'urole.operator.d': 'Điều hành phòng họp, lịch họp, điểm cầu và lịch tự động.',
    'urole.security.d': 'Xem camera trực tiếp, sự kiện, ghi hình và bản xuất.',
    usrActive: 'Đang hoạt động', usrDisabled: 'Đã khóa', usrMustChange: 'Phải đổi mật khẩu', usrYou: '(bạn)',
    usrDisable: 'Khóa tài khoản', usrEnable: 'Mở khóa', usrReset: 'Đặt lại mật khẩu', usrForce: 'Buộc đổi mật khẩu',
    usrDisableConfirm: 'Khóa tài khoản {u}? Người này bị đăng xuất ngay và không đăng nhập được cho đến khi mở khóa.',
    usrForceConfirm: 'Buộc {u} đổi mật khẩu ở lần đăng nhập tới? Người này bị đăng xuất ngay.',
    usrRoleDone: 'Đã đổi vai trò của {u} thành “{r}”; người này cần đăng nhập lại.', usrDone: 'Đã lưu.',
    usrNew: 'Thêm tài khoản', usrCreate: 'Tạo tài khoản', usrPassword: 'Mật khẩu ban đầu', usrTempPassword: 'Mật khẩu tạm thời',
    usrNameHint: '2–64 ký tự: chữ thường không dấu, chữ số, dấu chấm, gạch ngang, gạch dưới; ví dụ: nguyen.van.an',
    usrMustChangeBox: 'Bắt buộc đổi mật khẩu ở lần đăng nhập đầu', usrGenerate: 'Tạo mật khẩu ngẫu nhiên',
    usrPolicy: 'Mật khẩu phải có ít nhất 10 ký tự, kết hợp ít nhất 3 trong 4 loại: chữ thường, chữ hoa, chữ số, ký hiệu; không chứa tên đăng nhập.',
    usrCreated1: 'Đã tạo tài khoản {u}. Hãy báo mật khẩu ban đầu cho người dùng qua kênh an toàn.',
    usrResetIntro: 'Đặt mật khẩu tạm thời cho {u}. Các phiên đăng nhập hiện có của người này bị thu hồi.',
    usrResetDone: 'Đã đặt mật khẩu tạm thời cho {u}.', usrExists: 'Tên đăng nhập này đã có.',
    usrBadName: 'Tên đăng nhập chưa đúng quy định (xem hướng dẫn bên dưới ô nhập).', usrSelf: 'Bạn không thể tự hạ quyền hoặc tự khóa tài khoản của mình.',
    usrShow: 'Hiện', usrSave: 'Lưu', usrDelete: 'Xóa tài khoản',
    usrDeleteConfirm: 'Xóa vĩnh viễn tài khoản {u}? Người này bị đăng xuất ngay và không đăng nhập lại được; nhật ký vẫn giữ tên tài khoản. Nếu chỉ tạm ngừng, hãy dùng “Khóa tài khoản”.',
    usrDeleted: 'Đã xóa tài khoản {u}.', usrSelfDelete: 'Bạn không thể xóa tài khoản của chính mình; hệ thống luôn cần ít nhất một quản trị viên đang đăng nhập được.',
  },
  en: {
    'sec.users': 'Users', usrTitle: 'Staff accounts', usrName: 'User name', usrRole: 'Role', usrState: 'State',
    usrCreated: 'Created', usrActions: 'Actions', usrNone: 'No accounts yet.',
    'urole.admin': 'Administrator', 'urole.operator': 'Conference operator', 'urole.security': 'Security staff',
    'urole.admin.d': 'Everything: users, service tokens, audit log, cameras, conferences.',
    'urole.operator.d': 'Runs meeting rooms, meetings, sites and scheduled jobs.',
    'urole.security.d': 'Watches live cameras, events, recordings and exports.',
    usrActive: 'Active', usrDisabled: 'Disabled', usrMustChange: 'Must change password', usrYou: '(you)',
    usrDisable: 'Disable', usrEnable: 'Enable', usrReset: 'Reset password', usrForce: 'Force password change',
    usrDisableConfirm: 'Disable {u}? They are logged out now and cannot log in until enabled again.',
    usrForceConfirm: 'Make {u} change their password at the next login? They are logged out now.',
    usrRoleDone: '{u} is now “{r}”; they must log in again.', usrDone: 'Saved.',
    usrNew: 'Add an account', usrCreate: 'Create account', usrPassword: 'Initial password', usrTempPassword: 'Temporary password',
    usrNameHint: '2–64 characters: lower-case letters, digits, dot, hyphen, underscore; e.g. nguyen.van.an',
    usrMustChangeBox: 'Must change the password at first login', usrGenerate: 'Generate a random password',
    usrPolicy: 'The password must be at least 10 characters, mix at least 3 of: lower case, upper case, digits, symbols, and not contain the user name.',
    usrCreated1: 'Account {u} created. Give the user the initial password through a safe channel.',
    usrResetIntro: 'Set a temporary password for {u}. Their current sessions are revoked.',
    usrResetDone: 'Temporary password set for {u}.', usrExists: 'This user name is taken.',
    usrBadName: 'The user name does not follow the rules (see the hint below the field).', usrSelf: 'You cannot demote or disable your own account.',
    usrShow: 'Show', usrSave: 'Save', usrDelete: 'Delete account',
    usrDeleteConfirm: 'Delete account {u} for good? They are logged out now and cannot log in again; the audit log keeps the name. To stop them for a while, use “Disable”.',
    usrDeleted: 'Account {u} deleted.', usrSelfDelete: 'You cannot delete your own account; the system always needs an administrator who can log in.',
  },
});

const NAME_RE = /^[a-z0-9][a-z0-9_.-]{1,63}$/;

/** Give each cell its column's heading (data-label): on a phone the rows become cards that show it. */
export function labelCells(table) {
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
  table.querySelectorAll('tbody tr').forEach((tr) => [...tr.children].forEach((td, i) => { if (heads[i]) td.dataset.label = heads[i]; }));
  return table;
}
let gen = 0;

export function stop() { gen += 1; tokens.stop(); }

export async function mount(body) {
  const g = ++gen;
  const list = h('div', { id: 'users-list' }, h('p', { class: 'loading' }, t('loading')));
  const tokBox = h('div', { id: 'tokens-section' });
  const note = h('p', { id: 'users-note', class: 'msg', role: 'status', hidden: true });
  body.replaceChildren(h('div', { class: 'admin-page' }, h('h2', {}, t('usrTitle')), note, list, createForm(() => load(list, note, g)), tokBox));
  load(list, note, g);
  tokens.mount(tokBox);
}

async function load(list, note, g) {
  let data;
  try { data = await api('GET', '/api/v1/users'); } catch (err) {
    if (!err.handled && g === gen) list.replaceChildren(h('p', { class: 'msg error section-error' }, errorNode(err)));
    return;
  }
  if (g !== gen) return;
  if (!data.items.length) { list.replaceChildren(h('p', { class: 'empty' }, t('usrNone'))); return; }
  const say = (ok, ...nodes) => { note.className = `msg ${ok ? 'info' : 'error'}`; note.replaceChildren(...nodes); note.hidden = false; };
  const reload = () => load(list, note, g);
  list.replaceChildren(h('div', { class: 'table-wrap' }, labelCells(h('table', { id: 'users-table', class: 'audit admin-table' },
    h('thead', {}, h('tr', {}, ['usrName', 'usrRole', 'usrState', 'usrCreated', 'usrActions'].map((c) => h('th', {}, t(c))))),
    h('tbody', {}, data.items.map((u) => userRow(u, say, reload)))))));
}

function roleSelect(id, value, extra) {
  return h('select', { id, ...extra }, ROLES.map((r) => h('option', { value: r, selected: r === value }, t(`urole.${r}`))));
}

function userRow(u, say, reload) {
  const self = u.username === state.me?.subject;
  const patch = async (body, done) => {
    try { await api('PATCH', `/api/v1/users/${u.id}`, body); await reload(); say(true, done); } catch (err) {
      if (err.handled) return;
      say(false, err.code === 'conflict' ? t('usrSelf') : errorNode(err));
      await reload();
    }
  };
  const role = roleSelect(`role-${u.username}`, u.role, { class: 'user-role', 'aria-label': t('usrRole'), disabled: self,
    onchange: (ev) => patch({ role: ev.target.value }, t('usrRoleDone', { u: u.username, r: t(`urole.${ev.target.value}`) })) });
  return h('tr', { 'data-user': u.username, 'data-role': u.role, 'data-disabled': String(u.disabled) },
    h('td', {}, h('b', {}, u.username), self ? ` ${t('usrYou')}` : ''),
    h('td', {}, role, h('div', { class: 'muted small' }, t(`urole.${u.role}.d`))),
    h('td', {}, h('span', { class: `badge ${u.disabled ? 'locked' : 'open'}` }, t(u.disabled ? 'usrDisabled' : 'usrActive')),
      u.must_change_password ? [' ', h('span', { class: 'badge must-change' }, t('usrMustChange'))] : null),
    h('td', { class: 'nowrap' }, fmtDateTime(u.created_at)),
    h('td', { class: 'row-actions' },
      !self && h('button', { type: 'button', class: u.disabled ? 'user-enable' : 'danger user-disable', onclick: () => {
        if (!u.disabled && !window.confirm(t('usrDisableConfirm', { u: u.username }))) return;
        patch({ disabled: !u.disabled }, t('usrDone'));
      } }, t(u.disabled ? 'usrEnable' : 'usrDisable')),
      !self && h('button', { type: 'button', class: 'user-reset', onclick: () => resetDialog(u, say, reload) }, t('usrReset')),
      self && h('a', { href: '#/password', class: 'button' }, t('changePassword')),
      !self && !u.must_change_password && h('button', { type: 'button', class: 'user-force', onclick: () => {
        if (window.confirm(t('usrForceConfirm', { u: u.username }))) patch({ must_change_password: true }, t('usrDone'));
      } }, t('usrForce')),
      !self && h('button', { type: 'button', class: 'danger user-delete', onclick: (ev) => deleteUser(u, ev.currentTarget, say, reload) }, t('usrDelete'))));
}

/** Delete an account after a confirm; the server refuses one's own (409), said in words. */
async function deleteUser(u, btn, say, reload) {
  if (!window.confirm(t('usrDeleteConfirm', { u: u.username }))) return;
  btn.disabled = true;
  try {
    await api('DELETE', `/api/v1/users/${u.id}`);
    say(true, t('usrDeleted', { u: u.username }));
  } catch (err) {
    if (err.handled) return;
    say(false, err.code === 'conflict' ? t('usrSelfDelete') : errorNode(err));
  }
  await reload();
}

/** The rules a new password must meet, ticked as it is typed (the server checks the same policy). */
function passwordInput(id, username, label) {
  const rules = [['length', (p) => p.length >= 10],
    ['classes', (p) => [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(p)).length >= 3],
    ['user', (p) => p.length > 0 && !(username() && p.toLowerCase().includes(username().toLowerCase()))]];
  const items = rules.map(([n]) => h('li', { class: 'rule', 'data-rule': n }, t(`rule${n[0].toUpperCase()}${n.slice(1)}`)));
  const input = h('input', { id, name: id, type: 'password', autocomplete: 'new-password', required: true, maxlength: 256 });
  const tick = () => rules.forEach(([, ok], i) => items[i].classList.toggle('ok', ok(input.value)));
  input.addEventListener('input', tick);
  const show = h('button', { type: 'button', class: 'pw-show', onclick: () => { input.type = input.type === 'password' ? 'text' : 'password'; } }, t('usrShow'));
  const gen = h('button', { type: 'button', class: 'pw-generate', onclick: () => { input.value = randomPassword(); input.type = 'text'; tick(); } }, t('usrGenerate'));
  const el = h('div', { class: 'field' }, h('label', { for: id }, h('span', {}, label)),
    h('div', { class: 'inline-row' }, input, show, gen),
    h('p', { class: 'muted small pw-policy' }, t('usrPolicy')), h('div', { class: 'rules' }, h('ul', {}, items)));
  return { el, input, tick };
}

function randomPassword() {
  const sets = ['abcdefghijkmnpqrstuvwxyz', 'ABCDEFGHJKLMNPQRSTUVWXYZ', '23456789', '-_.!@#'];
  const pick = (s) => s[crypto.getRandomValues(new Uint32Array(1))[0] % s.length];
  const chars = [...sets.map(pick), ...Array.from({ length: 10 }, () => pick(sets.join('')))];
  for (let i = chars.length - 1; i > 0; i -= 1) { const j = crypto.getRandomValues(new Uint32Array(1))[0] % (i + 1); [chars[i], chars[j]] = [chars[j], chars[i]]; }
  return chars.join('');
}

function createForm(reload) {
  const name = h('input', { id: 'new-username', name: 'new-username', type: 'text', required: true, maxlength: 64, autocomplete: 'off',
    spellcheck: 'false', autocapitalize: 'none', 'aria-describedby': 'new-username-hint' });
  const pw = passwordInput('new-password-user', () => name.value.trim(), t('usrPassword'));
  name.addEventListener('input', pw.tick);
  const role = roleSelect('new-role', 'operator', {});
  const desc = h('p', { class: 'muted small', id: 'new-role-desc' }, t('urole.operator.d'));
  role.addEventListener('change', () => { desc.textContent = t(`urole.${role.value}.d`); });
  const must = h('input', { id: 'new-must-change', type: 'checkbox', checked: true });
  const msg = h('div', { id: 'user-create-msg', class: 'msg', role: 'alert', hidden: true });
  const say = (ok, ...n) => { msg.className = `msg ${ok ? 'info' : 'error'}`; msg.replaceChildren(...n); msg.hidden = false; };
  const submit = h('button', { type: 'submit', class: 'primary', id: 'user-create' }, t('usrCreate'));
  const form = h('form', { id: 'user-form', class: 'card admin-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const username = name.value.trim();
    if (!NAME_RE.test(username)) { say(false, t('usrBadName')); return; }
    submit.disabled = true;
    try {
      await api('POST', '/api/v1/users', { username, role: role.value, password: pw.input.value, must_change_password: must.checked });
      form.reset(); pw.tick(); desc.textContent = t('urole.operator.d');
      say(true, t('usrCreated1', { u: username }));
      await reload();
    } catch (err) {
      if (!err.handled) say(false, err.code === 'conflict' ? t('usrExists') : errorNode(err));
    } finally { submit.disabled = false; }
  } },
  h('h3', {}, t('usrNew')),
  h('div', { class: 'field' }, h('label', { for: 'new-username' }, h('span', {}, t('usrName'))), name,
    h('p', { class: 'muted small', id: 'new-username-hint' }, t('usrNameHint'))),
  h('div', { class: 'field' }, h('label', { for: 'new-role' }, h('span', {}, t('usrRole'))), role, desc),
  pw.el, h('label', { class: 'check' }, must, ' ', t('usrMustChangeBox')), msg, submit);
  return form;
}

function resetDialog(u, say, reload) {
  const pw = passwordInput('reset-password', () => u.username, t('usrTempPassword'));
  const must = h('input', { id: 'reset-must-change', type: 'checkbox', checked: true });
  const msg = h('div', { id: 'reset-msg', class: 'msg error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'reset-submit' }, t('usrSave'));
  const form = h('form', { id: 'reset-form', class: 'admin-form', onsubmit: async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    try {
      await api('POST', `/api/v1/users/${u.id}/password`, { password: pw.input.value, must_change_password: must.checked });
      dlg.close();
      await reload();
      say(true, t('usrResetDone', { u: u.username }));
    } catch (err) {
      submit.disabled = false;
      if (!err.handled) { msg.replaceChildren(errorNode(err)); msg.hidden = false; }
    }
  } }, h('p', {}, t('usrResetIntro', { u: u.username })), pw.el,
  h('label', { class: 'check' }, must, ' ', t('usrMustChangeBox')), msg, submit);
  const dlg = modal(t('usrReset'), form, { id: 'reset-dialog' });
  pw.input.focus();
}
