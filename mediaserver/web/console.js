// Web console of the district media server: plain ES2020, no build step, no external resources.
'use strict';

const I18N = {
  vi: {
    product: 'Hệ thống hội nghị truyền hình & camera', loading: 'Đang tải…', username: 'Tên đăng nhập', password: 'Mật khẩu',
    login: 'Đăng nhập', loginTitle: 'Đăng nhập hệ thống', logout: 'Đăng xuất', badCredentials: 'Sai tên đăng nhập hoặc mật khẩu.',
    lockedOut: 'Tạm khóa do đăng nhập sai nhiều lần, thử lại sau {n} giây.',
    sessionExpired: 'Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại.',
    sessionRevoked: 'Phiên đăng nhập đã bị thu hồi (có thể do đổi mật khẩu hoặc đổi quyền). Vui lòng đăng nhập lại.',
    sessionInvalid: 'Vui lòng đăng nhập lại.', loggedOut: 'Bạn đã đăng xuất.',
    network: 'Không kết nối được máy chủ. Kiểm tra mạng rồi thử lại.', errGeneric: 'Có lỗi xảy ra: {m}',
    forbidden: 'Tài khoản của bạn không có quyền thực hiện thao tác này.', pwTitle: 'Đổi mật khẩu',
    pwForcedIntro: 'Đây là lần đăng nhập đầu tiên. Bạn cần đổi mật khẩu ban đầu trước khi sử dụng hệ thống.',
    pwIntro: 'Nhập mật khẩu hiện tại và mật khẩu mới.', pwCurrent: 'Mật khẩu hiện tại', pwNew: 'Mật khẩu mới',
    pwConfirm: 'Nhập lại mật khẩu mới', pwSubmit: 'Đổi mật khẩu', pwRules: 'Mật khẩu mới phải:', ruleLength: 'Có ít nhất 10 ký tự',
    ruleClasses: 'Kết hợp ít nhất 3 trong 4 loại: chữ thường, chữ hoa, chữ số, ký hiệu', ruleUser: 'Không chứa tên đăng nhập',
    pwMismatch: 'Hai lần nhập mật khẩu mới không khớp.', pwWrongCurrent: 'Mật khẩu hiện tại không đúng.',
    pwWeak: 'Mật khẩu mới chưa đạt yêu cầu:', pwServer: 'Máy chủ báo: {m}', cancel: 'Hủy',
    changePassword: 'Đổi mật khẩu', refresh: 'Làm mới', 'p.atLeast': 'phải có ít nhất {n} ký tự',
    'p.mix': 'phải kết hợp ít nhất {n} loại: chữ thường, chữ hoa, chữ số, ký hiệu', 'p.user': 'không được chứa tên đăng nhập',
    'p.default': 'là mật khẩu mặc định phổ biến', 'p.same': 'phải khác mật khẩu hiện tại', 'role.admin': 'Quản trị viên',
    'role.operator': 'Điều hành viên', 'role.security': 'Nhân viên an ninh', 'role.participant': 'Điểm cầu', 'sec.conference': 'Hội nghị',
    'sec.cameras': 'Camera', 'sec.schedules': 'Lịch tự động', 'sec.audit': 'Nhật ký',
    noSections: 'Tài khoản này không dùng bảng điều khiển.', 'site.host': 'Điểm cầu chính', 'site.commune': 'Xã', 'site.town': 'Thị trấn',
    'site.organisation': 'Tổ chức', 'site.party': 'Cơ quan Đảng',
    noRooms: 'Chưa có phòng họp nào (khai báo trong config.yaml, mục rooms).', roomLocked: 'Đang khóa: điểm cầu mới không vào được',
    roomOpen: 'Đang mở', lockRoom: 'Khóa phòng', unlockRoom: 'Mở khóa phòng', sitesCount: '{n} điểm cầu', maxSites: 'tối đa {n}',
    autoRecord: 'Tự động ghi hình', joinLink: 'Tạo liên kết tham gia', joinNew: 'Tạo liên kết mới', copy: 'Sao chép', copied: 'Đã sao chép',
    copyManual: 'Nhấn Ctrl+C để sao chép', validUntil: 'Hiệu lực đến {t}', noCameras: 'Chưa có camera nào',
    noCamerasHint: 'Camera được thêm trong tệp cấu hình config.yaml (mục cameras). Sau khi thêm, camera sẽ hiện ở đây.',
    recordMode: 'Chế độ ghi: {m}', 'rec.continuous': 'liên tục', 'rec.motion': 'khi có chuyển động', 'rec.off': 'tắt',
    noSchedules: 'Chưa có lịch tự động nào', noSchedulesHint: 'Lịch được khai báo trong config.yaml (mục schedules) hoặc qua API.',
    noNextRun: 'Không có lần chạy tiếp theo', lastRun: 'Lần chạy trước: {t}', disabled: 'Đã tắt', 'kind.once': 'Một lần',
    'kind.interval': 'Lặp lại mỗi {d}', 'kind.cron': 'Theo lịch cron: {s}', timesIn: 'Giờ Việt Nam (Asia/Ho_Chi_Minh)',
    auditTitle: '50 thao tác gần nhất', noAudit: 'Chưa có mục nhật ký nào.', 'col.at': 'Thời gian', 'col.actor': 'Người thực hiện',
    'col.action': 'Thao tác', 'col.target': 'Đối tượng', 'col.detail': 'Chi tiết', 'col.remote': 'Địa chỉ', sec: 'giây', min: 'phút',
    hour: 'giờ', day: 'ngày',
  },
  en: {
    product: 'Video conference & camera system', loading: 'Loading…', username: 'User name', password: 'Password', login: 'Log in',
    loginTitle: 'Log in', logout: 'Log out', badCredentials: 'Wrong user name or password.',
    lockedOut: 'Temporarily locked after too many failed logins; try again in {n} seconds.',
    sessionExpired: 'Your session has expired. Please log in again.',
    sessionRevoked: 'Your session was revoked (password or role changed). Please log in again.', sessionInvalid: 'Please log in again.',
    loggedOut: 'You have logged out.', network: 'Cannot reach the server. Check the network and try again.',
    errGeneric: 'Something went wrong: {m}', forbidden: 'Your account may not do this.', pwTitle: 'Change password',
    pwForcedIntro: 'This is your first login. Change the initial password before using the system.',
    pwIntro: 'Enter your current password and a new one.', pwCurrent: 'Current password', pwNew: 'New password',
    pwConfirm: 'Repeat the new password', pwSubmit: 'Change password', pwRules: 'The new password must:',
    ruleLength: 'Be at least 10 characters long', ruleClasses: 'Mix at least 3 of: lower case, upper case, digits, symbols',
    ruleUser: 'Not contain the user name', pwMismatch: 'The two new passwords do not match.',
    pwWrongCurrent: 'The current password is wrong.', pwWeak: 'The new password is not strong enough:', pwServer: 'Server says: {m}',
    cancel: 'Cancel', changePassword: 'Change password', refresh: 'Refresh',
    'p.atLeast': 'must be at least {n} characters', 'p.mix': 'must mix at least {n} of: lower case, upper case, digits, symbols',
    'p.user': 'must not contain the user name', 'p.default': 'is a well-known default password',
    'p.same': 'must differ from the current password', 'role.admin': 'Administrator', 'role.operator': 'Operator',
    'role.security': 'Security staff', 'role.participant': 'Site', 'sec.conference': 'Conference', 'sec.cameras': 'Cameras',
    'sec.schedules': 'Schedules', 'sec.audit': 'Audit log', noSections: 'This account does not use the console.', 'site.host': 'Host site',
    'site.commune': 'Commune', 'site.town': 'Town', 'site.organisation': 'Organisation', 'site.party': 'Party office',
    noRooms: 'No rooms yet (define them in config.yaml, section rooms).', roomLocked: 'Locked: new sites cannot join', roomOpen: 'Open',
    lockRoom: 'Lock room', unlockRoom: 'Unlock room', sitesCount: '{n} sites', maxSites: 'max {n}', autoRecord: 'Auto-record',
    joinLink: 'Create join link', joinNew: 'New link', copy: 'Copy', copied: 'Copied', copyManual: 'Press Ctrl+C to copy',
    validUntil: 'Valid until {t}', noCameras: 'No cameras yet',
    noCamerasHint: 'Cameras are added in the config.yaml file (section cameras). They appear here once added.',
    recordMode: 'Recording: {m}', 'rec.continuous': 'continuous', 'rec.motion': 'on motion', 'rec.off': 'off',
    noSchedules: 'No scheduled jobs', noSchedulesHint: 'Jobs are defined in config.yaml (section schedules) or through the API.',
    noNextRun: 'No next run', lastRun: 'Last run: {t}', disabled: 'Disabled', 'kind.once': 'Once', 'kind.interval': 'Every {d}',
    'kind.cron': 'Cron schedule: {s}', timesIn: 'Vietnam time (Asia/Ho_Chi_Minh)', auditTitle: 'Latest 50 actions',
    noAudit: 'No audit entries yet.', 'col.at': 'Time', 'col.actor': 'Actor', 'col.action': 'Action', 'col.target': 'Target',
    'col.detail': 'Detail', 'col.remote': 'Address', sec: 's', min: 'min', hour: 'h', day: 'd',
  },
};

const TZ = 'Asia/Ho_Chi_Minh';
const SITE_ROLES = ['host', 'commune', 'town', 'organisation', 'party'];
const SECTIONS = [
  { id: 'conference', roles: ['admin', 'operator'], load: loadConference, render: renderConference },
  { id: 'cameras', roles: ['admin', 'security'], load: () => api('GET', '/api/v1/cameras'), render: renderCameras },
  { id: 'schedules', roles: ['admin', 'operator'], load: () => api('GET', '/api/v1/schedules'), render: renderSchedules },
  { id: 'audit', roles: ['admin'], load: () => api('GET', '/api/v1/audit?limit=50'), render: renderAudit },
];
const state = {
  lang: localStorage.getItem('console.lang') === 'en' ? 'en' : 'vi',
  token: sessionStorage.getItem('console.token'), me: null, flash: null, data: {}, joins: {}, room: null,
  lockUntil: 0, expiryTimer: null,
};
const app = document.getElementById('app');

function t(key, vars) {
  let s = I18N[state.lang][key] ?? I18N.vi[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}
const tOr = (key, fallback, vars) => (key in I18N.vi ? t(key, vars) : fallback);

function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of kids.flat(Infinity)) if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    Object.assign(this, { status, code, field, handled: false, retryAfter: null });
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  let data = null;
  if (resp.status !== 204) data = await resp.json().catch(() => null);
  if (resp.ok) return data;
  const e = (data && data.error) || {};
  const err = new ApiError(resp.status, e.code || `http_${resp.status}`, e.message || resp.statusText, e.field);
  err.retryAfter = parseInt(resp.headers.get('Retry-After') || '', 10) || null;
  if (state.token && !path.endsWith('/auth/login')) {
    if (resp.status === 401) {
      endSession(err.code === 'token_expired' ? 'sessionExpired' : err.code === 'token_revoked' ? 'sessionRevoked' : 'sessionInvalid');
      err.handled = true;
    } else if (err.code === 'password_change_required' && state.me) {
      state.me.must_change_password = true;
      err.handled = true;
      go('#/password');
    }
  }
  throw err;
}

function errorText(err) {
  if (err.code === 'network') return t('network');
  if (err.status === 403) return t('forbidden');
  return t('errGeneric', { m: err.message || err.code });
}

function setSession(token) {
  state.token = token;
  sessionStorage.setItem('console.token', token);
}

function endSession(flashKey) {
  const next = /^#\/(login|password)?$/.test(location.hash) ? state.next : location.hash; // come back here after login
  Object.assign(state, { token: null, me: null, data: {}, joins: {}, flash: flashKey || null, next });
  clearTimeout(state.expiryTimer);
  sessionStorage.removeItem('console.token');
  go('#/login');
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function fmt(iso, opts) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(state.lang === 'en' ? 'en-GB' : 'vi-VN', { timeZone: TZ, ...opts }).format(d);
}
const DATE_TIME = { day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false };
const fmtDateTime = (iso) => fmt(iso, DATE_TIME);

function relative(iso) {
  const diff = (new Date(iso).getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(state.lang === 'en' ? 'en' : 'vi', { numeric: 'auto' });
  for (const [unit, s] of [['day', 86400], ['hour', 3600], ['minute', 60]]) {
    if (Math.abs(diff) >= s) return rtf.format(Math.round(diff / s), unit);
  }
  return rtf.format(Math.round(diff), 'second');
}

function duration(seconds) {
  const n = Number(seconds);
  if (!Number.isFinite(n)) return String(seconds);
  for (const [unit, s] of [['day', 86400], ['hour', 3600], ['min', 60]]) {
    if (n >= s && n % s === 0) return `${n / s} ${t(unit)}`;
  }
  return `${n} ${t('sec')}`;
}

function langToggle() {
  return h('button', { id: 'lang-toggle', type: 'button', class: 'lang-toggle', 'aria-label': 'Ngôn ngữ / Language',
    onclick: () => setLang(state.lang === 'vi' ? 'en' : 'vi') },
  h('span', { class: state.lang === 'vi' ? 'on' : '', 'data-lang': 'vi' }, 'VI'), ' | ',
  h('span', { class: state.lang === 'en' ? 'on' : '', 'data-lang': 'en' }, 'EN'));
}

function setLang(lang) {
  state.lang = lang;
  localStorage.setItem('console.lang', lang);
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
    if (err.code === 'locked_out') {
      state.lockUntil = Date.now() + (err.retryAfter || 60) * 1000;
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
    error.textContent = t('lockedOut', { n: left });
    error.hidden = false;
    submit.disabled = true;
    setTimeout(tick, 1000);
  };
  tick();
}

// ---------------------------------------------------------------------------------------- password
function renderPassword(forced) {
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
        h('p', { class: 'server-msg' }, t('pwServer', { m: err.message })));
    } else show(errorText(err));
  }
}

async function logout() {
  const token = state.token;
  fetch('/api/v1/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${token}` } }).catch(() => {});
  endSession('loggedOut');
  state.next = null;
}

// --------------------------------------------------------------------------------------- dashboard
function sectionsFor(role) { return SECTIONS.filter((s) => s.roles.includes(role)); }

function renderDashboard(sec) {
  const me = state.me;
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
  if (sec) showSection(sec, body);
  else body.append(h('p', { class: 'empty' }, t('noSections')));
}

async function showSection(sec, body) {
  if (!state.data[sec.id]) {
    body.replaceChildren(h('p', { class: 'loading' }, t('loading')));
    try {
      state.data[sec.id] = await sec.load();
    } catch (err) {
      if (!err.handled && body.isConnected) body.replaceChildren(h('p', { class: 'msg error section-error' }, errorText(err)));
      return;
    }
  }
  if (body.isConnected) body.replaceChildren(...[sec.render(state.data[sec.id], body)].flat().filter(Boolean));
}

// -------------------------------------------------------------------------------------- conference
async function loadConference() {
  const [sites, rooms] = await Promise.all([api('GET', '/api/v1/sites'), api('GET', '/api/v1/rooms')]);
  return { sites: sites.items, rooms: rooms.items };
}

function renderConference(data, body) {
  if (!data.rooms.length) return h('p', { class: 'empty' }, t('noRooms'));
  const room = data.rooms.find((r) => r.id === state.room) || data.rooms[0];
  state.room = room.id;
  const members = data.sites.filter((s) => room.sites === 'all' || s.id === room.host_site_id || room.sites.includes(s.id))
    .map((s, i) => [s, i]).sort(([a, i], [b, j]) => siteRank(a, room) - siteRank(b, room) || i - j).map(([s]) => s);
  const tabs = h('div', { id: 'room-list', class: 'room-list' }, data.rooms.map((r) =>
    h('button', { type: 'button', class: `room-tab${r === room ? ' active' : ''}`, 'data-room-id': r.id,
      onclick: () => { state.room = r.id; showSection(SECTIONS[0], body); } },
    r.locked ? '🔒 ' : '', r.name)));
  const lockBtn = h('button', { id: 'room-lock-toggle', type: 'button', 'data-room-id': room.id, 'data-locked': String(room.locked),
    class: room.locked ? 'warn' : '', onclick: () => toggleLock(room, lockBtn, body) }, room.locked ? t('unlockRoom') : t('lockRoom'));
  const info = h('div', { id: 'room-info', class: 'room-info', 'data-room-id': room.id },
    h('h2', {}, room.name), h('span', { class: 'muted' }, room.id),
    h('span', { id: 'room-status', class: `badge ${room.locked ? 'locked' : 'open'}` }, room.locked ? t('roomLocked') : t('roomOpen')),
    h('span', { class: 'badge' }, t('sitesCount', { n: members.length }), ' · ', t('maxSites', { n: room.max_sites })),
    room.auto_record && h('span', { class: 'badge' }, t('autoRecord')), h('span', { class: 'spacer' }), lockBtn);
  const legend = h('div', { class: 'legend' }, SITE_ROLES.map((r) => h('span', { class: `chip role-${r}` }, t(`site.${r}`))));
  const grid = h('div', { id: 'site-grid', class: 'site-grid', 'data-room-id': room.id }, members.map((s) => siteTile(s, room)));
  return [data.rooms.length > 1 && tabs, info, legend, grid];
}

function siteRank(site, room) {
  const i = SITE_ROLES.indexOf(site.id === room.host_site_id ? 'host' : site.role);
  return i < 0 ? SITE_ROLES.length : i;
}

function siteTile(site, room) {
  const isHost = site.id === room.host_site_id;
  const join = state.joins[`${room.id}/${site.id}`];
  const err = h('p', { class: 'tile-error msg error', hidden: true });
  const btn = h('button', { type: 'button', class: 'join-btn primary', 'data-site-id': site.id }, join ? t('joinNew') : t('joinLink'));
  const tile = h('article', { class: `site-tile role-${isHost ? 'host' : site.role}${isHost ? ' host' : ''}`,
    'data-site-id': site.id, 'data-role': site.role },
  h('span', { class: 'tile-role' }, tOr(`site.${isHost ? 'host' : site.role}`, site.role)),
  h('h3', { class: 'site-name' }, site.name),
  state.lang === 'en' && site.name_en && h('p', { class: 'site-name-en' }, site.name_en),
  join && h('div', { class: 'join-result' },
    h('input', { class: 'join-url', type: 'text', readonly: true, value: join.join_url, 'aria-label': 'URL',
      onfocus: (ev) => ev.target.select() }),
    h('button', { type: 'button', class: 'copy-btn', onclick: (ev) => copy(join.join_url, ev.currentTarget, tile) }, t('copy')),
    join.expires_at && h('small', { class: 'join-expiry' }, t('validUntil', { t: fmtDateTime(join.expires_at) }))),
  err, btn);
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      state.joins[`${room.id}/${site.id}`] = await api('POST', `/api/v1/rooms/${encodeURIComponent(room.id)}/join-tokens`, { site_id: site.id });
      tile.replaceWith(siteTile(site, room));
    } catch (e) {
      if (e.handled) return;
      btn.disabled = false;
      err.textContent = errorText(e);
      err.hidden = false;
    }
  });
  return tile;
}

async function copy(text, btn, tile) {
  let ok = true;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    tile.querySelector('.join-url').select(); // plain-HTTP pages have no clipboard API
    ok = document.execCommand('copy');
  }
  btn.textContent = ok ? t('copied') : t('copyManual');
  btn.classList.toggle('done', ok);
  setTimeout(() => { btn.textContent = t('copy'); btn.classList.remove('done'); }, 2000);
}

async function toggleLock(room, btn, body) {
  btn.disabled = true;
  try {
    await api('POST', `/api/v1/rooms/${encodeURIComponent(room.id)}/${room.locked ? 'unlock' : 'lock'}`);
    delete state.data.conference;
    showSection(SECTIONS[0], body);
  } catch (e) {
    if (e.handled) return;
    btn.disabled = false;
    btn.after(h('span', { class: 'msg error inline' }, errorText(e)));
  }
}

// ---------------------------------------------------------------------------------------- cameras
function renderCameras(data) {
  if (!data.items.length) {
    return h('div', { id: 'cameras-empty', class: 'empty-state' }, h('h2', {}, t('noCameras')), h('p', {}, t('noCamerasHint')));
  }
  return h('div', { id: 'camera-grid', class: 'camera-grid' }, data.items.map((c) =>
    h('article', { class: 'camera-tile', 'data-camera-id': c.id },
      h('div', { class: 'camera-view' }, h('span', {}, c.name)),
      h('h3', {}, c.name), h('p', { class: 'muted' }, c.id, c.onvif_host ? ` · ${c.onvif_host}` : ''),
      c.record_mode && h('p', {}, t('recordMode', { m: tOr(`rec.${c.record_mode}`, c.record_mode) })))));
}

// -------------------------------------------------------------------------------------- schedules
function renderSchedules(data) {
  if (!data.items.length) {
    return h('div', { id: 'schedules-empty', class: 'empty-state' }, h('h2', {}, t('noSchedules')), h('p', {}, t('noSchedulesHint')));
  }
  const jobs = [...data.items].sort((a, b) => (a.next_run_at && a.enabled ? Date.parse(a.next_run_at) : Infinity)
    - (b.next_run_at && b.enabled ? Date.parse(b.next_run_at) : Infinity) || a.id.localeCompare(b.id));
  const groups = new Map();
  for (const j of jobs) {
    const key = j.next_run_at && j.enabled ? fmt(j.next_run_at, { weekday: 'long', day: '2-digit', month: '2-digit', year: 'numeric' }) : t('noNextRun');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(j);
  }
  const kind = (j) => t(`kind.${j.kind}`, { d: duration(j.spec), s: j.spec });
  return [h('p', { class: 'muted' }, t('timesIn')), h('ol', { id: 'schedule-timeline', class: 'timeline' }, [...groups].map(([day, items]) =>
    h('li', { class: 'timeline-day' }, h('h3', {}, day), h('ul', {}, items.map((j) =>
      h('li', { class: `job${j.enabled ? '' : ' disabled'}`, 'data-job-id': j.id },
        h('time', { class: 'job-time', datetime: j.next_run_at || '' },
          j.next_run_at && j.enabled ? fmt(j.next_run_at, { hour: '2-digit', minute: '2-digit', hour12: false }) : '—'),
        h('div', { class: 'job-body' },
          h('strong', {}, j.id), ' ', h('code', {}, j.action), !j.enabled && h('span', { class: 'badge' }, t('disabled')),
          h('div', { class: 'muted' }, kind(j), j.next_run_at && j.enabled ? ` · ${relative(j.next_run_at)}` : '',
            j.last_run_at ? ` · ${t('lastRun', { t: fmtDateTime(j.last_run_at) })}` : ''))))))))];
}

// ------------------------------------------------------------------------------------------ audit
function renderAudit(data) {
  if (!data.items.length) return h('p', { class: 'empty' }, t('noAudit'));
  const cols = ['at', 'actor', 'action', 'target', 'detail', 'remote'];
  return [h('h2', {}, t('auditTitle')), h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table', class: 'audit' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, t(`col.${c}`))))),
    h('tbody', {}, data.items.slice(0, 50).map((e) => {
      const detail = Object.keys(e.detail || {}).length ? JSON.stringify(e.detail) : '';
      return h('tr', { 'data-audit-id': e.id },
        h('td', { class: 'nowrap' }, fmt(e.at, { ...DATE_TIME, second: '2-digit' })),
        h('td', {}, e.actor, e.actor_role && h('small', { class: 'muted' }, ` (${e.actor_role})`)),
        h('td', {}, h('code', {}, e.action)), h('td', {}, e.target),
        h('td', { class: 'detail', title: detail }, detail), h('td', { class: 'nowrap' }, e.remote));
    }))))];
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
  const name = (location.hash || '#/').slice(2);
  if (state.me.must_change_password) return renderPassword(true);
  if (name === 'password') return renderPassword(false);
  const allowed = sectionsFor(state.me.role);
  renderDashboard(allowed.find((s) => s.id === name) || allowed[0]);
}

window.addEventListener('hashchange', route);
route();
