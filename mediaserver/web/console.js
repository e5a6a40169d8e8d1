// Web console of the district media server: ES modules (ES2020), no build step, no external resources.
// This is the app shell (login, password, dashboard, schedules, audit, the router); each page of the console
// is a module of its own (see SECTIONS): conference.js, schedule.js, monitor.js, wall.js (cameras), review.js
// (the review queue and its nav badge), recordings.js (timeline, events, export), exports.js, users.js (with
// tokens.js: service tokens), jobs.js (scheduled jobs), audit.js (the audit log), sites.js (sites, rooms and join
// links), cameras-admin.js (add, find and remove cameras); holds.js (evidence holds) is a section of exports.js.
import {
  addStrings, state, hooks, t, tOr, h, api, errorText, errorNode, storeToken, TOKEN_KEY, go,
} from './core.js';
import * as schedule from './schedule.js';
import * as monitor from './monitor.js';
import * as exportsPage from './exports.js';
import * as review from './review.js';
import * as users from './users.js';
import * as jobs from './jobs.js';
import * as audit from './audit.js';
import * as nodes from './nodes.js';
import * as sites from './sites.js';
import * as camAdmin from './cameras-admin.js';
import * as verifyPage from './verify.js';
import { loadConference, renderConference, stopConference } from './conference.js';
import { wall, loadCameras, renderCameras } from './wall.js';
import { loadRecordings, renderRecordings, stopRecordings, resetRecordings } from './recordings.js';
import './alarms.js'; // the alarm banner (disk full) and the camera error texts

const I18N = {
  vi: {
    product: 'Hệ thống hội nghị truyền hình & camera', loading: 'Đang tải…', username: 'Tên đăng nhập', password: 'Mật khẩu',
    login: 'Đăng nhập', loginTitle: 'Đăng nhập hệ thống', logout: 'Đăng xuất', badCredentials: 'Sai tên đăng nhập hoặc mật khẩu.',
    lockedOut: 'Tạm khóa do đăng nhập sai nhiều lần, thử lại sau {n} giây.',
    loginThrottled: 'Địa chỉ này đăng nhập sai quá nhiều lần, vui lòng thử lại sau {n} giây.',
    sessionExpired: 'Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại.',
    sessionRevoked: 'Phiên đăng nhập đã bị thu hồi (có thể do đổi mật khẩu hoặc đổi quyền). Vui lòng đăng nhập lại.',
    sessionInvalid: 'Vui lòng đăng nhập lại.', loggedOut: 'Bạn đã đăng xuất.',
    network: 'Không kết nối được máy chủ. Kiểm tra mạng rồi thử lại.', errGeneric: 'Có lỗi xảy ra (mã lỗi: {m}).',
    forbidden: 'Tài khoản của bạn không có quyền thực hiện thao tác này.', pwTitle: 'Đổi mật khẩu',
    pwForcedIntro: 'Đây là lần đăng nhập đầu tiên. Bạn cần đổi mật khẩu ban đầu trước khi sử dụng hệ thống.',
    pwIntro: 'Nhập mật khẩu hiện tại và mật khẩu mới.', pwCurrent: 'Mật khẩu hiện tại', pwNew: 'Mật khẩu mới',
    pwConfirm: 'Nhập lại mật khẩu mới', pwSubmit: 'Đổi mật khẩu', pwRules: 'Mật khẩu mới phải:',
    ruleLength: 'Có ít nhất 10 ký tự', ruleClasses: 'Kết hợp ít nhất 3 trong 4 loại: chữ thường, chữ hoa, chữ số, ký hiệu',
    ruleUser: 'Không chứa tên đăng nhập', pwMismatch: 'Hai lần nhập mật khẩu mới không khớp.',
    pwWrongCurrent: 'Mật khẩu hiện tại không đúng.', pwWeak: 'Mật khẩu mới chưa đạt yêu cầu:',
    cancel: 'Hủy', changePassword: 'Đổi mật khẩu', refresh: 'Làm mới', 'p.atLeast': 'phải có ít nhất {n} ký tự',
    'p.mix': 'phải kết hợp ít nhất {n} loại: chữ thường, chữ hoa, chữ số, ký hiệu', 'p.user': 'không được chứa tên đăng nhập',
    'p.default': 'là mật khẩu mặc định phổ biến', 'p.same': 'phải khác mật khẩu hiện tại', 'role.admin': 'Quản trị',
    'role.operator': 'Điều hành hội nghị', 'role.security': 'Bảo vệ / an ninh', 'role.participant': 'Điểm cầu',
    'sec.conference': 'Hội nghị', 'sec.cameras': 'Camera', 'sec.schedules': 'Lịch tự động', 'sec.audit': 'Nhật ký', 'sec.users': 'Người dùng',
    noSections: 'Tài khoản này không dùng bảng điều khiển.', noCameras: 'Chưa có camera nào',
    noCamerasHint: 'Quản trị viên thêm camera ở trang “Quản lý camera” (hoặc trong tệp cấu hình config.yaml, mục cameras). Sau khi thêm, camera sẽ hiện ở đây.',
    recordMode: 'Chế độ ghi: {m}', 'rec.continuous': 'liên tục', 'rec.motion': 'khi có chuyển động', 'rec.off': 'tắt',
    sec: 'giây', min: 'phút', hour: 'giờ', day: 'ngày', close: 'Đóng', 'sec.recordings': 'Ghi hình',
  },
  en: {
    product: 'Video conference & camera system', loading: 'Loading…', username: 'User name', password: 'Password',
    login: 'Log in', loginTitle: 'Log in', logout: 'Log out', badCredentials: 'Wrong user name or password.',
    lockedOut: 'Temporarily locked after too many failed logins; try again in {n} seconds.',
    loginThrottled: 'Too many failed logins from this address; try again in {n} seconds.',
    sessionExpired: 'Your session has expired. Please log in again.',
    sessionRevoked: 'Your session was revoked (password or role changed). Please log in again.',
    sessionInvalid: 'Please log in again.', loggedOut: 'You have logged out.',
    network: 'Cannot reach the server. Check the network and try again.', errGeneric: 'Something went wrong (error code: {m}).',
    forbidden: 'Your account may not do this.', pwTitle: 'Change password',
    pwForcedIntro: 'This is your first login. Change the initial password before using the system.',
    pwIntro: 'Enter your current password and a new one.', pwCurrent: 'Current password', pwNew: 'New password',
    pwConfirm: 'Repeat the new password', pwSubmit: 'Change password', pwRules: 'The new password must:',
    ruleLength: 'Be at least 10 characters long', ruleClasses: 'Mix at least 3 of: lower case, upper case, digits, symbols',
    ruleUser: 'Not contain the user name', pwMismatch: 'The two new passwords do not match.',
    pwWrongCurrent: 'The current password is wrong.', pwWeak: 'The new password is not strong enough:',
    cancel: 'Cancel', changePassword: 'Change password', refresh: 'Refresh',
    'p.atLeast': 'must be at least {n} characters', 'p.mix': 'must mix at least {n} of: lower case, upper case, digits, symbols',
    'p.user': 'must not contain the user name', 'p.default': 'is a well-known default password',
    'p.same': 'must differ from the current password', 'role.admin': 'Administrator', 'role.operator': 'Conference operator',
    'role.security': 'Security staff', 'role.participant': 'Site', 'sec.conference': 'Conference', 'sec.cameras': 'Cameras',
    'sec.schedules': 'Schedules', 'sec.audit': 'Audit log', 'sec.users': 'Users', noSections: 'This account does not use the console.',
    noCameras: 'No cameras yet',
    noCamerasHint: 'An administrator adds cameras on the “Camera admin” page (or in config.yaml, section cameras). They appear here once added.',
    recordMode: 'Recording: {m}', 'rec.continuous': 'continuous', 'rec.motion': 'on motion', 'rec.off': 'off',
    sec: 's', min: 'min', hour: 'h', day: 'd', close: 'Close',
    'sec.recordings': 'Recordings',
  },
};

addStrings(I18N);

const SECTIONS = [
  { id: 'conference', roles: ['admin', 'operator'], load: loadConference, render: renderConference, stop: stopConference },
  { id: 'meetings', roles: ['admin', 'operator'], mount: schedule.mount, stop: schedule.stop },
  { id: 'monitor', roles: ['admin', 'operator'], mount: monitor.mount, stop: monitor.stop },
  { id: 'sites', roles: ['admin', 'operator'], mount: sites.mount, stop: sites.stop },
  { id: 'cameras', roles: ['admin', 'security'], load: loadCameras, render: renderCameras },
  { id: 'camadmin', roles: ['admin'], mount: camAdmin.mount, stop: camAdmin.stop },
  { id: 'review', roles: ['admin', 'security'], mount: review.mount, stop: review.stop },
  { id: 'recordings', roles: ['admin', 'security'], load: loadRecordings, render: renderRecordings },
  { id: 'exports', roles: ['admin', 'security'], mount: exportsPage.mount, stop: exportsPage.stop },
  { id: 'schedules', roles: ['admin', 'operator'], mount: jobs.mount, stop: jobs.stop },
  { id: 'users', roles: ['admin'], mount: users.mount, stop: users.stop },
  { id: 'audit', roles: ['admin'], mount: audit.mount, stop: audit.stop },
  { id: 'nodes', roles: ['admin', 'operator'], mount: nodes.mount, stop: nodes.stop }, // as GET /api/v1/nodes
  { id: 'verify', roles: ['admin', 'operator', 'security'], mount: verifyPage.mount, stop: verifyPage.stop },
];
const app = document.getElementById('app');

function setSession(token) {
  state.token = token;
  storeToken(token);
}

function endSession(flashKey) {
  const next = /^#\/(login|password)?$/.test(location.hash) ? state.next : location.hash; // come back here after login
  wall.stop(); // while the token still works to close the live views
  resetRecordings(); // the next user of this tab sees nothing of this one's footage or exports
  for (const s of SECTIONS) s.stop?.();
  review.stopSummary();
  Object.assign(state, { token: null, me: null, data: {}, joins: {}, recording: {}, flash: flashKey || null, next });
  clearTimeout(state.expiryTimer);
  storeToken(null);
  go('#/login');
}

function langToggle() {
  return h('button', { id: 'lang-toggle', type: 'button', class: 'lang-toggle', 'aria-label': 'Ngôn ngữ / Language',
    onclick: () => setLang(state.lang === 'vi' ? 'en' : 'vi') },
  h('span', { class: state.lang === 'vi' ? 'on' : '', 'data-lang': 'vi' }, 'VI'), ' | ',
  h('span', { class: state.lang === 'en' ? 'on' : '', 'data-lang': 'en' }, 'EN'));
}

function setLang(lang) {
  state.lang = lang;
  const kept = {};
  app.querySelectorAll('input[id]').forEach((i) => { kept[i.id] = i.value; });
  route().then(() => {
    for (const [id, v] of Object.entries(kept)) { const i = document.getElementById(id); if (i && !i.readOnly) { i.value = v; i.dispatchEvent(new Event('input')); } }
  });
}

function mount(...nodes) {
  document.documentElement.lang = state.lang;
  document.title = t('product');
  app.replaceChildren(...nodes);
}

function field(id, label, type, extra) {
  return h('label', { class: 'field', for: id }, h('span', {}, label),
    h('input', { id, name: id, type, required: true, ...extra }));
}

// ------------------------------------------------------------------------------------------ login
function renderLogin() {
  wall.stop();
  const error = h('p', { id: 'login-error', class: 'msg error', role: 'alert', hidden: true });
  const submit = h('button', { id: 'login-submit', type: 'submit', class: 'primary' }, t('login'));
  const form = h('form', { id: 'login-form', class: 'card auth-card', onsubmit: (ev) => { ev.preventDefault(); doLogin(form, error, submit); } },
    h('h1', {}, t('loginTitle')),
    state.flash && h('p', { id: 'login-notice', class: 'msg info' }, t(state.flash)),
    field('username', t('username'), 'text', { autocomplete: 'username', autofocus: true, maxlength: 64 }),
    field('password', t('password'), 'password', { autocomplete: 'current-password', maxlength: 256 }),
    error, submit);
  mount(h('div', { class: 'auth-page', id: 'login-page' },
    h('header', { class: 'auth-head' }, h('strong', { class: 'brand' }, t('product')), langToggle()), form));
  if (state.lockUntil > Date.now()) lockCountdown(error, submit);
}

async function doLogin(form, error, submit) {
  if (state.lockUntil > Date.now()) return;
  state.flash = null;
  document.getElementById('login-notice')?.remove();
  error.hidden = true;
  submit.disabled = true;
  try {
    const res = await api('POST', '/api/v1/auth/login', { username: form.username.value.trim(), password: form.password.value });
    setSession(res.token);
    state.flash = null;
    state.me = await api('GET', '/api/v1/auth/me');
    const dest = state.next || (/^#\/(login)?$/.test(location.hash) ? '#/' : location.hash || '#/');
    state.next = null;
    go(dest);
  } catch (err) {
    if (err.handled) return;
    submit.disabled = false;
    if (err.code === 'locked_out' || err.code === 'login_throttled') { // the account, or this address, must wait
      state.lockUntil = Date.now() + (err.retryAfter || 60) * 1000;
      state.lockText = err.code === 'login_throttled' ? 'loginThrottled' : 'lockedOut';
      return lockCountdown(error, submit);
    }
    error.textContent = err.code === 'bad_credentials' ? t('badCredentials') : errorText(err);
    error.hidden = false;
    form.password.value = '';
    form.password.focus();
  }
}

function lockCountdown(error, submit) {
  const tick = () => {
    const left = Math.ceil((state.lockUntil - Date.now()) / 1000);
    if (!error.isConnected) return;
    if (left <= 0) { error.hidden = true; submit.disabled = false; return; }
    error.textContent = t(state.lockText || 'lockedOut', { n: left });
    error.hidden = false;
    submit.disabled = true;
    setTimeout(tick, 1000);
  };
  tick();
}

// ---------------------------------------------------------------------------------------- password
function renderPassword(forced) {
  wall.stop();
  const user = state.me.subject || '';
  const rules = [['length', (p) => p.length >= 10], ['classes', (p) =>
    [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(p)).length >= 3],
  ['user', (p) => p.length > 0 && !(user && p.toLowerCase().includes(user.toLowerCase()))]];
  const ruleEls = rules.map(([name]) => h('li', { class: 'rule', 'data-rule': name }, t(`rule${name[0].toUpperCase()}${name.slice(1)}`)));
  const error = h('div', { id: 'password-error', class: 'msg error', role: 'alert', hidden: true });
  const submit = h('button', { id: 'password-submit', type: 'submit', class: 'primary' }, t('pwSubmit'));
  const form = h('form', { id: 'password-form', class: 'card auth-card', onsubmit: (ev) => { ev.preventDefault(); doPassword(form, error, submit); } },
    h('h1', {}, t('pwTitle')), h('p', { class: 'msg info' }, forced ? t('pwForcedIntro') : t('pwIntro')),
    h('input', { type: 'text', name: 'username', autocomplete: 'username', value: user, hidden: true, readonly: true }),
    field('current-password', t('pwCurrent'), 'password', { autocomplete: 'current-password' }),
    field('new-password', t('pwNew'), 'password', { autocomplete: 'new-password',
      oninput: (ev) => rules.forEach(([, ok], i) => ruleEls[i].classList.toggle('ok', ok(ev.target.value))) }),
    field('confirm-password', t('pwConfirm'), 'password', { autocomplete: 'new-password' }),
    h('div', { class: 'rules' }, h('p', {}, t('pwRules')), h('ul', { id: 'password-rules' }, ruleEls)),
    error, h('div', { class: 'row' }, submit,
      forced ? h('button', { type: 'button', id: 'logout', onclick: logout }, t('logout'))
        : h('button', { type: 'button', id: 'password-cancel', onclick: () => go('#/') }, t('cancel'))));
  mount(h('div', { class: 'auth-page', id: 'password-page' },
    h('header', { class: 'auth-head' }, h('strong', { class: 'brand' }, t('product')),
      h('span', { class: 'who' }, user), langToggle()), form));
}

function translateProblems(message) {
  const parts = message.replace(/^new password /, '').split('; ');
  const map = [[/at least (\d+) characters/, 'p.atLeast'], [/mix at least (\d+)/, 'p.mix'], [/user name/, 'p.user'],
    [/well-known default/, 'p.default'], [/differ from the current/, 'p.same']];
  return parts.map((p) => { const m = map.find(([re]) => re.test(p)); return m ? t(m[1], { n: (p.match(m[0]) || [])[1] }) : p; });
}

async function doPassword(form, error, submit) {
  const show = (...nodes) => { error.replaceChildren(...nodes); error.hidden = false; };
  error.hidden = true;
  const cur = form['current-password'].value; const pw = form['new-password'].value;
  if (pw !== form['confirm-password'].value) return show(t('pwMismatch'));
  submit.disabled = true;
  try {
    const res = await api('POST', '/api/v1/auth/password', { current_password: cur, new_password: pw });
    setSession(res.token);
    state.me = await api('GET', '/api/v1/auth/me');
    go('#/');
  } catch (err) {
    if (err.handled) return;
    submit.disabled = false;
    if (err.code === 'bad_credentials') show(t('pwWrongCurrent'));
    else if (err.code === 'weak_password') {
      show(h('p', {}, t('pwWeak')), h('ul', {}, translateProblems(err.message).map((p) => h('li', {}, p))),
        h('details', { class: 'err-detail server-msg' }, h('summary', {}, t('err.details')), h('small', {}, err.message)));
    } else show(errorText(err));
  }
}

async function logout() {
  const token = state.token;
  const closing = wall.stop(); // the live views are closed with the token before it is revoked
  endSession('loggedOut');
  state.next = null;
  await Promise.race([closing, new Promise((resolve) => { setTimeout(resolve, 2000); })]);
  fetch('/api/v1/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${token}` } }).catch(() => {});
}

// --------------------------------------------------------------------------------------- dashboard
function sectionsFor(role) { return SECTIONS.filter((s) => s.roles.includes(role)); }

function renderDashboard(sec) {
  const me = state.me;
  if (sec?.id !== 'cameras') wall.stop();
  if (sec?.id !== 'recordings') stopRecordings();
  for (const s of SECTIONS) if (s !== sec) s.stop?.();
  const nav = h('nav', { id: 'nav', class: 'nav' }, sectionsFor(me.role).map((s) =>
    h('a', { href: `#/${s.id}`, class: `nav-link${s === sec ? ' active' : ''}`, 'data-section': s.id,
      'aria-current': s === sec ? 'page' : null }, t(`sec.${s.id}`))));
  const body = h('section', { id: sec ? `section-${sec.id}` : 'section-none', class: 'section', 'data-section': sec?.id });
  mount(h('header', { id: 'topbar', class: 'topbar' },
    h('strong', { class: 'brand' }, t('product')), h('span', { class: 'spacer' }),
    h('span', { id: 'user-info', class: 'who', 'data-role': me.role }, h('b', {}, me.subject), ' · ', tOr(`role.${me.role}`, me.role)),
    h('button', { id: 'change-password', type: 'button', onclick: () => go('#/password') }, t('changePassword')),
    langToggle(), h('button', { id: 'logout', type: 'button', onclick: logout }, t('logout'))),
  h('div', { class: 'subbar' }, nav, h('span', { class: 'spacer' }),
    sec && h('button', { id: 'refresh', type: 'button', onclick: () => { delete state.data[sec.id]; showSection(sec, body); } }, t('refresh'))),
  h('main', { id: 'main', class: 'main' }, body));
  if (sectionsFor(me.role).some((s) => s.id === 'review')) { review.paintBadge(); review.watchSummary(); }
  // A phone's nav scrolls sideways: keep the current page's link in sight.
  nav.querySelector('.nav-link.active')?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  if (sec) showSection(sec, body);
  else body.append(h('p', { class: 'empty' }, t('noSections')));
}

async function showSection(sec, body) {
  if (sec.mount) { sec.mount(body); return; } // a module section loads, renders and refreshes itself
  if (!state.data[sec.id]) {
    body.replaceChildren(h('p', { class: 'loading' }, t('loading')));
    try {
      state.data[sec.id] = await sec.load();
    } catch (err) {
      if (!err.handled && body.isConnected) body.replaceChildren(h('p', { class: 'msg error section-error' }, errorNode(err)));
      return;
    }
  }
  if (body.isConnected) body.replaceChildren(...[sec.render(state.data[sec.id], body)].flat().filter(Boolean));
}


// ------------------------------------------------------------------------------------------ router
function watchExpiry() {
  clearTimeout(state.expiryTimer);
  const ms = state.me?.expires_at ? Date.parse(state.me.expires_at) - Date.now() : NaN;
  if (ms > 0 && ms < 2 ** 31 - 1) state.expiryTimer = setTimeout(() => endSession('sessionExpired'), ms + 1000);
}

async function route() {
  if (!state.token) return renderLogin();
  if (!state.me) {
    mount(h('p', { class: 'boot' }, t('loading')));
    try {
      state.me = await api('GET', '/api/v1/auth/me');
    } catch (err) {
      if (!err.handled) { state.token = null; state.flash = err.code === 'network' ? 'network' : 'sessionInvalid'; renderLogin(); }
      return;
    }
  }
  watchExpiry();
  const name = (location.hash || '#/').slice(2).split('?')[0]; // #/recordings?camera=…&date=…
  if (state.me.must_change_password) return renderPassword(true);
  if (name === 'password') return renderPassword(false);
  const allowed = sectionsFor(state.me.role);
  if (name.startsWith('print/') && allowed.some((s) => s.id === 'meetings')) { // printable pages, without the dashboard
    wall.stop();
    stopRecordings();
    for (const s of SECTIONS) s.stop?.();
    return schedule.renderPrint(name.slice(6), mount);
  }
  renderDashboard(allowed.find((s) => s.id === name) || allowed[0]);
}

hooks.endSession = endSession;
hooks.passwordChange = () => go('#/password');
hooks.route = route;
hooks.showSection = (id, body) => { const sec = SECTIONS.find((s) => s.id === id); if (sec) showSection(sec, body); };
window.addEventListener('hashchange', route);
// Another tab of this browser logged out (the token is gone) or logged in anew: follow it.
window.addEventListener('storage', (ev) => {
  if (ev.key !== TOKEN_KEY && ev.key !== null) return;
  const token = ev.key === null ? null : ev.newValue;
  if (!token && state.token) endSession('loggedOut');
  else if (token && token !== state.token) { state.token = token; state.me = null; route(); }
});
route();
