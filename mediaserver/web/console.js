// Web console of the district media server: ES modules (ES2020), no build step, no external resources.
// This is the app shell (login, password, dashboard, conference, cameras, recordings, schedules, audit);
// the meeting schedule, roll call, invitations and monitoring are modules of their own (see SECTIONS).
import {
  TZ, addStrings, state, hooks, t, tOr, h, api, errorText, go, hashParams, fmt, DATE_TIME, fmtDateTime,
  relative, duration, todayIn, shiftDay, clock, span, vnParts,
} from './core.js';
import * as schedule from './schedule.js';
import * as monitor from './monitor.js';
import { presetsBox, ptzErrorText } from './ptz.js';
import * as exportsPage from './exports.js';
import './alarms.js'; // the alarm banner (disk full) and the camera error texts

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
    autoRecord: 'Tự động ghi hình', recordRoom: '● Ghi hình cuộc họp', stopRecord: '■ Dừng ghi hình', recordingNow: 'Đang ghi hình', recordArmed: 'Sẽ ghi cuộc họp kế tiếp', notRecorded: 'Không ghi hình', meetings: 'Các cuộc họp đã diễn ra', playMeeting: 'Xem bản ghi', meetingOpen: 'đang họp', joinLink: 'Tạo liên kết tham gia', joinNew: 'Tạo liên kết mới', copy: 'Sao chép', copied: 'Đã sao chép',
    copyManual: 'Nhấn Ctrl+C để sao chép', validUntil: 'Hiệu lực đến {t}', noCameras: 'Chưa có camera nào',
    noCamerasHint: 'Camera được thêm trong tệp cấu hình config.yaml (mục cameras). Sau khi thêm, camera sẽ hiện ở đây.',
    recordMode: 'Chế độ ghi: {m}', 'rec.continuous': 'liên tục', 'rec.motion': 'khi có chuyển động', 'rec.off': 'tắt',
    noSchedules: 'Chưa có lịch tự động nào', noSchedulesHint: 'Lịch được khai báo trong config.yaml (mục schedules) hoặc qua API.',
    noNextRun: 'Không có lần chạy tiếp theo', lastRun: 'Lần chạy trước: {t}', disabled: 'Đã tắt', 'kind.once': 'Một lần',
    'kind.interval': 'Lặp lại mỗi {d}', 'kind.cron': 'Theo lịch cron: {s}', timesIn: 'Giờ Việt Nam (Asia/Ho_Chi_Minh)',
    auditTitle: '50 thao tác gần nhất', noAudit: 'Chưa có mục nhật ký nào.', 'col.at': 'Thời gian', 'col.actor': 'Người thực hiện',
    'col.action': 'Thao tác', 'col.target': 'Đối tượng', 'col.detail': 'Chi tiết', 'col.remote': 'Địa chỉ', sec: 'giây', min: 'phút',
    hour: 'giờ', day: 'ngày',
    wallSummary: '{live}/{n} camera đang phát trực tiếp', wallHint: 'Nhấn vào một camera để xem luồng chính và điều khiển.',
    camConnecting: 'Đang kết nối…', camLive: 'Trực tiếp', camOffline: 'Camera mất kết nối', camOfflineSince: 'từ {t}', camReplay: '⏪ Xem lại 1 phút trước', actMotion: 'Chuyển động', 'obj.person': 'Người', 'obj.bicycle': 'Xe đạp', 'obj.motorcycle': 'Xe máy', 'obj.car': 'Ô tô', 'obj.truck': 'Xe tải', 'obj.bus': 'Xe buýt', allCameras: 'Tất cả camera', wallFullscreen: '⛶ Toàn màn hình',
    camNeedsTranscode: 'Camera gửi H.265: trình duyệt không phát trực tiếp được', camTranscodeHint: 'Có thể xem qua chuyển mã (5 hình/giây, tốn CPU máy chủ)', camTranscodeBtn: 'Xem qua chuyển mã',
    camRetryIn: 'Tự động thử lại sau {n} giây', camFailed: 'Không xem được camera', camStalled: 'Mất tín hiệu hình, đang kết nối lại',
    camTooMany: 'Máy chủ đang phục vụ quá nhiều luồng xem', camPaused: 'Tạm dừng khi không hiển thị',
    camOpen: 'Xem luồng chính', mainStream: 'Luồng chính', close: 'Đóng', snapshot: 'Chụp ảnh',
    snapshotFailed: 'Không chụp được ảnh: {m}', ptz: 'Điều khiển PTZ', 'ptz.up': 'Lên', 'ptz.down': 'Xuống', 'ptz.left': 'Sang trái',
    'ptz.right': 'Sang phải', 'ptz.zoomIn': 'Phóng to', 'ptz.zoomOut': 'Thu nhỏ', 'ptz.stop': 'Dừng', 'ptz.presets': 'Vị trí đặt sẵn',
    'ptz.preset': 'Vị trí {n}', ptzFailed: 'Không điều khiển được camera: {m}',
    'sec.recordings': 'Ghi hình', recCamera: 'Camera', recDay: 'Ngày', prevDay: 'Ngày trước', nextDay: 'Ngày sau', today: 'Hôm nay',
    legendRecorded: 'Có ghi hình', legendMotion: 'Chuyển động', legendOutage: 'Camera mất kết nối', legendHole: 'Không ghi hình',
    legendEvent: 'Sự kiện', tlLabel: 'Dòng thời gian trong ngày',
    tlHint: 'Nhấn vào dòng thời gian để xem lại từ thời điểm đó; kéo chuột để chọn đoạn cần xuất.',
    recSummaryEvents: '{n} sự kiện', recSummaryRecorded: 'ghi hình {d}', recSummaryOutages: '{n} lần mất kết nối',
    eventAt: 'Sự kiện lúc {t}', noThumb: 'Không có ảnh', playing: 'Đang phát: {t}',
    pickToPlay: 'Chọn một thời điểm trên dòng thời gian hoặc một sự kiện để xem lại.', noFootageAt: 'Không có ghi hình lúc {t}.',
    playFailed: 'Không phát được: {m}', eventsTitle: 'Sự kiện chuyển động', eventsOfDay: '{n} trong ngày', zone: 'Khu vực',
    allZones: 'Mọi khu vực', minDuration: 'Kéo dài', any: 'Bất kỳ', minScore: 'Vùng chuyển động', loadMore: 'Tải thêm',
    noEvents: 'Không có sự kiện nào khớp bộ lọc.', eventOpen: 'đang diễn ra', scorePct: 'động {n}% khung hình', playEvent: 'Xem lại sự kiện này',
    exportTitle: 'Xuất đoạn video', exportHint: 'Kéo chuột trên dòng thời gian hoặc chọn một sự kiện để điền thời gian.',
    exportFrom: 'Từ', exportTo: 'Đến', exportReason: 'Lý do', exportReasonHint: 'VD: theo yêu cầu của công an xã',
    exportBtn: 'Xuất video', exportQueued: 'Đang chờ xuất…', exportRunning: 'Đang xuất… {p}%', exportDone: 'Đã xuất xong',
    exportFailed: 'Xuất thất bại: {m}', download: 'Tải về', sha256: 'Mã SHA-256',
    exportBadRange: 'Chọn thời điểm kết thúc sau thời điểm bắt đầu.', exportNeedReason: 'Nhập lý do xuất video.',
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
    lockRoom: 'Lock room', unlockRoom: 'Unlock room', sitesCount: '{n} sites', maxSites: 'max {n}', autoRecord: 'Auto-record', recordRoom: '● Record meeting', stopRecord: '■ Stop recording', recordingNow: 'Recording', recordArmed: 'Will record the next meeting', notRecorded: 'Not recorded', meetings: 'Past meetings', playMeeting: 'Play recording', meetingOpen: 'in progress',
    joinLink: 'Create join link', joinNew: 'New link', copy: 'Copy', copied: 'Copied', copyManual: 'Press Ctrl+C to copy',
    validUntil: 'Valid until {t}', noCameras: 'No cameras yet',
    noCamerasHint: 'Cameras are added in the config.yaml file (section cameras). They appear here once added.',
    recordMode: 'Recording: {m}', 'rec.continuous': 'continuous', 'rec.motion': 'on motion', 'rec.off': 'off',
    noSchedules: 'No scheduled jobs', noSchedulesHint: 'Jobs are defined in config.yaml (section schedules) or through the API.',
    noNextRun: 'No next run', lastRun: 'Last run: {t}', disabled: 'Disabled', 'kind.once': 'Once', 'kind.interval': 'Every {d}',
    'kind.cron': 'Cron schedule: {s}', timesIn: 'Vietnam time (Asia/Ho_Chi_Minh)', auditTitle: 'Latest 50 actions',
    noAudit: 'No audit entries yet.', 'col.at': 'Time', 'col.actor': 'Actor', 'col.action': 'Action', 'col.target': 'Target',
    'col.detail': 'Detail', 'col.remote': 'Address', sec: 's', min: 'min', hour: 'h', day: 'd',
    wallSummary: '{live}/{n} cameras live', wallHint: 'Click a camera for its main stream and controls.',
    camConnecting: 'Connecting…', camLive: 'Live', camOffline: 'Camera disconnected', camOfflineSince: 'since {t}', camReplay: '⏪ Replay from 1 min ago', actMotion: 'Motion', 'obj.person': 'Person', 'obj.bicycle': 'Bicycle', 'obj.motorcycle': 'Motorbike', 'obj.car': 'Car', 'obj.truck': 'Truck', 'obj.bus': 'Bus', allCameras: 'All cameras', wallFullscreen: '⛶ Full screen', camRetryIn: 'Retrying in {n} s',
    camNeedsTranscode: 'Camera sends H.265, which browsers cannot play live', camTranscodeHint: 'You can watch it through a transcode (5 frames/s, uses server CPU)', camTranscodeBtn: 'Watch via transcode',
    camFailed: 'Cannot show this camera', camStalled: 'Picture lost, reconnecting', camTooMany: 'The server has too many live views open',
    camPaused: 'Paused while not visible', camOpen: 'Open the main stream', mainStream: 'Main stream', close: 'Close',
    snapshot: 'Snapshot', snapshotFailed: 'Snapshot failed: {m}', ptz: 'PTZ control', 'ptz.up': 'Up', 'ptz.down': 'Down',
    'ptz.left': 'Left', 'ptz.right': 'Right', 'ptz.zoomIn': 'Zoom in', 'ptz.zoomOut': 'Zoom out', 'ptz.stop': 'Stop',
    'ptz.presets': 'Presets', 'ptz.preset': 'Preset {n}', ptzFailed: 'Camera control failed: {m}',
    'sec.recordings': 'Recordings', recCamera: 'Camera', recDay: 'Day', prevDay: 'Previous day', nextDay: 'Next day', today: 'Today',
    legendRecorded: 'Recorded', legendMotion: 'Motion', legendOutage: 'Camera offline', legendHole: 'Not recorded',
    legendEvent: 'Event', tlLabel: 'Timeline of the day',
    tlHint: 'Click the timeline to play from that moment; drag to select a range to export.',
    recSummaryEvents: '{n} events', recSummaryRecorded: '{d} recorded', recSummaryOutages: '{n} outages',
    eventAt: 'Event at {t}', noThumb: 'No picture', playing: 'Playing: {t}',
    pickToPlay: 'Pick a moment on the timeline or an event to play it back.', noFootageAt: 'No footage at {t}.',
    playFailed: 'Cannot play: {m}', eventsTitle: 'Motion events', eventsOfDay: '{n} this day', zone: 'Zone',
    allZones: 'All zones', minDuration: 'Lasting', any: 'Any', minScore: 'Moving area', loadMore: 'Load more',
    noEvents: 'No event matches the filters.', eventOpen: 'ongoing', scorePct: '{n}% of the picture moved', playEvent: 'Play this event',
    exportTitle: 'Export footage', exportHint: 'Drag on the timeline or pick an event to fill in the times.',
    exportFrom: 'From', exportTo: 'To', exportReason: 'Reason', exportReasonHint: 'e.g. requested by the commune police',
    exportBtn: 'Export video', exportQueued: 'Waiting to export…', exportRunning: 'Exporting… {p}%', exportDone: 'Export finished',
    exportFailed: 'Export failed: {m}', download: 'Download', sha256: 'SHA-256',
    exportBadRange: 'Pick an end after the start.', exportNeedReason: 'Enter why the footage is exported.',
  },
};

addStrings(I18N);

const SITE_ROLES = ['host', 'commune', 'town', 'organisation', 'party'];
const SECTIONS = [
  { id: 'conference', roles: ['admin', 'operator'], load: loadConference, render: renderConference, stop: stopConference },
  { id: 'meetings', roles: ['admin', 'operator'], mount: schedule.mount, stop: schedule.stop },
  { id: 'monitor', roles: ['admin', 'operator'], mount: monitor.mount, stop: monitor.stop },
  { id: 'cameras', roles: ['admin', 'security'], load: loadCameras, render: renderCameras },
  { id: 'recordings', roles: ['admin', 'security'], load: loadRecordings, render: renderRecordings },
  { id: 'exports', roles: ['admin', 'security'], mount: exportsPage.mount, stop: exportsPage.stop },
  { id: 'schedules', roles: ['admin', 'operator'], load: () => api('GET', '/api/v1/schedules'), render: renderSchedules },
  { id: 'audit', roles: ['admin'], load: () => api('GET', '/api/v1/audit?limit=50'), render: renderAudit },
];
const app = document.getElementById('app');

function setSession(token) {
  state.token = token;
  sessionStorage.setItem('console.token', token);
}

function endSession(flashKey) {
  const next = /^#\/(login|password)?$/.test(location.hash) ? state.next : location.hash; // come back here after login
  wall.stop(); // while the token still works to close the live views
  resetRecordings(); // the next user of this tab sees nothing of this one's footage or exports
  for (const s of SECTIONS) s.stop?.();
  Object.assign(state, { token: null, me: null, data: {}, joins: {}, recording: {}, flash: flashKey || null, next });
  clearTimeout(state.expiryTimer);
  sessionStorage.removeItem('console.token');
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
        h('p', { class: 'server-msg' }, t('pwServer', { m: err.message })));
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
      if (!err.handled && body.isConnected) body.replaceChildren(h('p', { class: 'msg error section-error' }, errorText(err)));
      return;
    }
  }
  if (body.isConnected) body.replaceChildren(...[sec.render(state.data[sec.id], body)].flat().filter(Boolean));
}

// -------------------------------------------------------------------------------------- conference
// The room's recording state and its meetings' "recorded" marks come from the server, never from what this page
// asked for: an armed recording becomes 'recording' when the next meeting starts and ends with it, so the state is
// polled while the section is shown, and a past meeting links to its player only if it has recorded segments.
const RECORDING_POLL_MS = 5000;
let conferencePoll = null;

async function loadConference() {
  const [sites, rooms] = await Promise.all([api('GET', '/api/v1/sites'), api('GET', '/api/v1/rooms')]);
  const room = rooms.items.find((r) => r.id === state.room) || rooms.items[0];
  let sessions = [];
  if (room) {
    const got = await loadSessions(room.id);
    sessions = got.items;
    state.recording = { ...state.recording, [room.id]: got.recording };
  }
  return { sites: sites.items, rooms: rooms.items, sessions };
}

/** The room's latest meetings, each with ``recorded`` (it has segments, so a player), and what the room is
 * recording now ({state: 'armed'|'recording', room_session_id, …} or null) — one request, polled. */
async function loadSessions(roomId) {
  const got = await api('GET', `/api/v1/rooms/${encodeURIComponent(roomId)}/sessions`);
  return { items: got.items.slice(0, 8), recording: got.recording ?? null };
}

/** Start or stop recording the room (each site's tracks as sent); the state shown is the server's answer. */
async function toggleRecording(room, btn, note) {
  btn.disabled = true;
  try {
    if (state.recording?.[room.id]) {
      await api('DELETE', `/api/v1/rooms/${encodeURIComponent(room.id)}/recording`).catch((err) => { if (err.status !== 404) throw err; });
    } else {
      await api('POST', `/api/v1/rooms/${encodeURIComponent(room.id)}/recording`, {});
    }
    await refreshRecording(room, { force: true });
  } catch (err) {
    if (!err.handled) note.textContent = errorText(err);
  } finally {
    btn.disabled = false;
  }
}

const recKey = (rec) => (rec ? `${rec.state}/${rec.room_session_id ?? ''}` : '');

/** Ask the server what is being recorded; repaint (and re-list the meetings) when that changed. */
async function refreshRecording(room, { force = false } = {}) {
  const before = recKey(state.recording?.[room.id]);
  const got = await loadSessions(room.id);
  if (state.room !== room.id) return;
  const rec = got.recording;
  state.recording = { ...state.recording, [room.id]: rec };
  paintRecording(room);
  const listed = JSON.stringify(state.data.conference?.sessions?.map((m) => [m.id, m.ended_at, m.recorded]));
  const now = JSON.stringify(got.items.map((m) => [m.id, m.ended_at, m.recorded]));
  if (force || recKey(rec) !== before || listed !== now) {
    if (state.data.conference) state.data.conference.sessions = got.items;
    const list = document.getElementById('meeting-list');
    const fresh = meetingList(got.items);
    if (list && fresh) list.replaceWith(fresh);
    else if (fresh) document.getElementById('site-grid')?.after(fresh);
    else list?.remove();
  }
}

function watchRecording(room) {
  stopConference();
  conferencePoll = setInterval(() => {
    if (document.hidden || !document.getElementById('room-record-toggle')) return;
    refreshRecording(room).catch(() => {});
  }, RECORDING_POLL_MS);
}

function stopConference() {
  clearInterval(conferencePoll);
  conferencePoll = null;
}

function paintRecording(room, btn = document.getElementById('room-record-toggle'), note = document.getElementById('room-recording')) {
  if (!btn || !note || btn.dataset.roomId !== room.id) return;
  const rec = state.recording?.[room.id];
  btn.textContent = rec ? t('stopRecord') : t('recordRoom');
  btn.classList.toggle('warn', Boolean(rec));
  btn.dataset.state = rec?.state || 'off';
  note.textContent = rec?.state === 'recording' ? t('recordingNow') : rec?.state === 'armed' ? t('recordArmed') : '';
  note.classList.toggle('rec-live', rec?.state === 'recording');
}

function meetingList(sessions) {
  if (!sessions?.length) return null;
  const live = (m) => Object.values(state.recording || {}).some((r) => r?.state === 'recording' && r.room_session_id === m.id);
  return h('div', { id: 'meeting-list', class: 'meeting-list' }, h('strong', {}, t('meetings')),
    sessions.map((m) => {
      const when = [fmt(m.started_at, { dateStyle: 'short', timeStyle: 'short' }), m.ended_at ? '' : ` (${t('meetingOpen')})`];
      if (m.recorded || live(m)) {
        return h('a', { class: 'badge meeting-link', href: `/meetings/${m.id}/player`, target: '_blank', rel: 'noopener',
          'data-session-id': m.id, 'data-recorded': 'true' }, when, ' — ', live(m) ? `● ${t('recordingNow')}` : t('playMeeting'));
      }
      return h('span', { class: 'badge meeting-link not-recorded', 'data-session-id': m.id, 'data-recorded': String(m.recorded) },
        when, m.recorded === false ? [' — ', t('notRecorded')] : '');
    }));
}

function renderConference(data, body) {
  if (!data.rooms.length) return h('p', { class: 'empty' }, t('noRooms'));
  const room = data.rooms.find((r) => r.id === state.room) || data.rooms[0];
  state.room = room.id;
  const members = data.sites.filter((s) => room.sites === 'all' || s.id === room.host_site_id || room.sites.includes(s.id))
    .map((s, i) => [s, i]).sort(([a, i], [b, j]) => siteRank(a, room) - siteRank(b, room) || i - j).map(([s]) => s);
  const tabs = h('div', { id: 'room-list', class: 'room-list' }, data.rooms.map((r) =>
    h('button', { type: 'button', class: `room-tab${r === room ? ' active' : ''}`, 'data-room-id': r.id,
      onclick: () => { state.room = r.id; delete state.data.conference; showSection(SECTIONS[0], body); } },
    r.locked ? '🔒 ' : '', r.name)));
  const lockBtn = h('button', { id: 'room-lock-toggle', type: 'button', 'data-room-id': room.id, 'data-locked': String(room.locked),
    class: room.locked ? 'warn' : '', onclick: () => toggleLock(room, lockBtn, body) }, room.locked ? t('unlockRoom') : t('lockRoom'));
  const recNote = h('span', { id: 'room-recording', class: 'muted' });
  const recBtn = h('button', { id: 'room-record-toggle', type: 'button', 'data-room-id': room.id,
    onclick: () => toggleRecording(room, recBtn, recNote) });
  paintRecording(room, recBtn, recNote);
  watchRecording(room);
  const info = h('div', { id: 'room-info', class: 'room-info', 'data-room-id': room.id },
    h('h2', {}, room.name), h('span', { class: 'muted' }, room.id),
    h('span', { id: 'room-status', class: `badge ${room.locked ? 'locked' : 'open'}` }, room.locked ? t('roomLocked') : t('roomOpen')),
    h('span', { class: 'badge' }, t('sitesCount', { n: members.length }), ' · ', t('maxSites', { n: room.max_sites })),
    room.auto_record && h('span', { class: 'badge' }, t('autoRecord')), h('span', { class: 'spacer' }), recNote, recBtn, lockBtn);
  const legend = h('div', { class: 'legend' }, SITE_ROLES.map((r) => h('span', { class: `chip role-${r}` }, t(`site.${r}`))));
  const grid = h('div', { id: 'site-grid', class: 'site-grid', 'data-room-id': room.id }, members.map((s) => siteTile(s, room)));
  return [data.rooms.length > 1 && tabs, info, legend, grid, meetingList(data.sessions)];
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
// The camera wall: one WebRTC view of each camera's sub stream per tile (the server passes the camera's
// H.264 through, the browser decodes it), and a large view of one camera's main stream with PTZ controls.
// Views are closed (DELETE) when the section is left, on logout and on pagehide. Tiles scrolled out of
// sight (or a hidden tab) give their view back after SUSPEND_MS, so a wall of 16+ cameras only decodes
// what is on screen. window.__wall exposes the views for tests.
const SUSPEND_MS = 15000;
const NOT_STREAMING_RETRY_MS = 5000;
const SETUP_LIMIT = 4; // view set-ups in flight at once: the server builds one peer connection per view
const ICE_WAIT_MS = 2000;
const WATCHDOG_MS = 4000;
const STALL_CHECKS = 2; // watchdog rounds without a received byte before a view is re-opened
const FIRST_FRAME_MS = 15000;
const REPLAY_BACK_S = 60; // a tile's replay button opens the recordings this long before now
const CAMERA_POLL_MS = 5000; // the wall re-reads the camera list (activity badges, offline since) this often

let setupBusy = 0;
const setupQueue = [];
function setupSlot() {
  return new Promise((resolve) => {
    const take = () => {
      setupBusy += 1;
      let done = false;
      resolve(() => {
        if (done) return;
        done = true;
        setupBusy -= 1;
        setupQueue.shift()?.();
      });
    };
    if (setupBusy < SETUP_LIMIT) take(); else setupQueue.push(take);
  });
}

function iceGathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

function dropView(viewId) {
  if (!viewId || !state.token) return Promise.resolve(); // an unanswered view expires on the server by itself
  return fetch(`/api/v1/cameras/views/${encodeURIComponent(viewId)}`, {
    method: 'DELETE', keepalive: true, headers: { Authorization: `Bearer ${state.token}` },
  }).catch(() => {});
}

function camVideo() {
  const v = h('video', { autoplay: true, muted: true, playsinline: true, disablepictureinpicture: true });
  v.muted = true; // the attribute alone does not mute a script-made element, and autoplay needs it
  return v;
}

/** One live view of one camera stream into one <video>, reconnecting by itself. */
class Viewer {
  constructor(cameraId, kind, video, { onChange, wanted } = {}) {
    Object.assign(this, { cameraId, kind, video, onChange, wanted: wanted || (() => true), transcode: false });
    Object.assign(this, { pc: null, viewId: null, stream: null, state: 'connecting', msg: ['camConnecting'], detail: null });
    Object.assign(this, { gen: 0, pending: false, timer: null, attempt: 0, answeredAt: 0, lastBytes: -1, stalls: 0 });
    video.addEventListener('playing', () => { if (this.pc) { this.attempt = 0; this.set('live'); } });
  }

  get busy() { return Boolean(this.pc || this.pending || this.timer); }

  set(st, msg = null, detail = null) {
    Object.assign(this, { state: st, msg, detail });
    this.onChange?.(this);
  }

  async connect() {
    clearTimeout(this.timer);
    this.timer = null;
    const gen = ++this.gen;
    this.pending = true;
    if (this.state === 'idle' || this.state === 'connecting') this.set('connecting', ['camConnecting']); // else keep the reason shown
    const release = await setupSlot();
    try {
      if (gen !== this.gen) return;
      const offer = await api('POST', `/api/v1/cameras/${encodeURIComponent(this.cameraId)}/views`, { stream: this.kind, transcode: this.transcode });
      if (gen !== this.gen) { dropView(offer.view_id); return; }
      const pc = new RTCPeerConnection();
      Object.assign(this, { pc, viewId: offer.view_id, lastBytes: -1, stalls: 0, answeredAt: 0 });
      pc.ontrack = (ev) => {
        if (gen !== this.gen) return;
        this.stream = ev.streams[0] || new MediaStream([ev.track]);
        this.video.srcObject = this.stream;
        this.video.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => {
        if (gen === this.gen && pc.connectionState === 'failed') this.fail({ code: 'ice_failed', message: 'ICE failed' });
      };
      await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await iceGathered(pc, ICE_WAIT_MS);
      if (gen !== this.gen) return;
      await api('POST', `/api/v1/cameras/views/${encodeURIComponent(offer.view_id)}/answer`, { sdp: pc.localDescription.sdp });
      if (gen === this.gen) this.answeredAt = performance.now();
    } catch (err) {
      if (gen === this.gen && !err.handled) this.fail(err);
    } finally {
      if (gen === this.gen) this.pending = false;
      release();
    }
  }

  fail(err) {
    this.gen += 1; // a set-up still in flight for the failed view gives up
    this.teardown();
    this.pending = false;
    if (err.code === 'not_streaming' || err.code === 'camera_offline') { // no picture to show: say so, try later
      this.attempt = 0;
      this.set('offline', ['camOffline'], ['camRetryIn', { n: NOT_STREAMING_RETRY_MS / 1000 }]);
      return this.retry(NOT_STREAMING_RETRY_MS);
    }
    if (err.status === 403) return this.set('error', ['forbidden']); // retrying cannot help
    // H.265: only an explicit, costly transcode shows it; staff choose it on the tile (transcodeButton).
    if (err.code === 'needs_transcode') return this.set('transcode', ['camNeedsTranscode'], ['camTranscodeHint']);
    const delay = Math.min(30000, 2000 * 2 ** this.attempt) * (0.8 + Math.random() * 0.4);
    this.attempt = Math.min(this.attempt + 1, 5);
    const what = err.code === 'stalled' ? ['camStalled'] : err.code === 'too_many_views' ? ['camTooMany']
      : err.code === 'network' ? ['network'] : ['camFailed'];
    this.set('error', what, ['camRetryIn', { n: Math.round(delay / 1000) }]);
    return this.retry(delay);
  }

  retry(ms) {
    const gen = this.gen;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (gen !== this.gen) return;
      if (this.wanted()) this.connect(); else this.set('idle', ['camPaused']);
    }, ms);
  }

  teardown() {
    const { pc, viewId } = this;
    Object.assign(this, { pc: null, viewId: null, stream: null });
    if (pc) { pc.ontrack = null; pc.onconnectionstatechange = null; pc.close(); }
    if (this.video.srcObject) this.video.srcObject = null;
    return dropView(viewId);
  }

  stop(msg = null) {
    this.gen += 1;
    clearTimeout(this.timer);
    Object.assign(this, { timer: null, pending: false, attempt: 0 });
    const closed = this.teardown();
    this.set('idle', msg);
    return closed;
  }

  /** Watchdog round: re-open a view that stopped receiving, or never showed a picture. */
  async check() {
    const { pc, gen } = this;
    if (!pc || !this.answeredAt) return;
    let bytes = 0;
    try {
      (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') bytes += s.bytesReceived || 0; });
    } catch { return; }
    if (gen !== this.gen) return;
    this.stalls = bytes === this.lastBytes ? this.stalls + 1 : 0;
    this.lastBytes = bytes;
    const noPicture = this.state !== 'live' && performance.now() - this.answeredAt > FIRST_FRAME_MS;
    if (this.stalls >= STALL_CHECKS || noPicture) this.fail({ code: 'stalled', message: 'no media' });
  }

  /** Resume a <video> that was paused by being moved in the document (a re-render). */
  resume() { if (this.video.srcObject && this.video.paused) this.video.play().catch(() => {}); }
}

const wall = {
  entries: new Map(), // camera id → {cam, tile, viewer, visible, suspendTimer}
  views: new Map(), // camera id → the tile's Viewer ({pc, viewId, stream, kind, state})
  main: null, // {cam, viewer, el, ptz, snapshot}
  io: null, watchdog: null, summary: null, caps: null,

  /** Close every view; resolves when the server has been told (or could not be). */
  stop() {
    const closing = [...this.entries.values()].map((e) => { clearTimeout(e.suspendTimer); return e.viewer.stop(); });
    this.entries.clear();
    this.views.clear();
    closing.push(this.closeMain());
    this.io?.disconnect();
    this.io = null;
    clearInterval(this.watchdog);
    this.watchdog = null;
    clearInterval(this.poll);
    this.poll = null;
    return Promise.all(closing);
  },

  wanted(e) { return e.visible && !document.hidden; },

  reconsider(e) {
    if (this.wanted(e)) {
      clearTimeout(e.suspendTimer);
      e.suspendTimer = null;
      if (!e.viewer.busy) e.viewer.connect();
    } else if (e.viewer.busy && !e.suspendTimer) {
      e.suspendTimer = setTimeout(() => {
        e.suspendTimer = null;
        if (!this.wanted(e)) e.viewer.stop(['camPaused']);
      }, SUSPEND_MS);
    }
  },

  start() {
    if (this.watchdog) return;
    this.poll = setInterval(async () => {
      if (document.hidden || !this.entries.size || !state.token) return;
      try {
        for (const c of (await api('GET', '/api/v1/cameras')).items) {
          const e = this.entries.get(c.id);
          if (e) { e.cam = c; paintTile(e); }
        }
      } catch { /* the next round tries again */ }
    }, CAMERA_POLL_MS);
    this.watchdog = setInterval(() => {
      if (document.hidden) return;
      for (const e of this.entries.values()) e.viewer.check();
      this.main?.viewer.check();
    }, WATCHDOG_MS);
    if ('IntersectionObserver' in window) {
      this.io = new IntersectionObserver((records) => {
        for (const r of records) {
          const e = this.entries.get(r.target.dataset.cameraId);
          if (e && e.tile === r.target) { e.visible = r.isIntersecting; this.reconsider(e); }
        }
      }, { rootMargin: '200px' });
    }
  },

  render(cams) {
    this.start();
    const ids = new Set(cams.map((c) => c.id));
    for (const [id, e] of this.entries) {
      if (!ids.has(id)) {
        clearTimeout(e.suspendTimer);
        e.viewer.stop();
        this.io?.unobserve(e.tile);
        this.entries.delete(id);
        this.views.delete(id);
      }
    }
    if (this.main && !ids.has(this.main.cam.id)) this.closeMain();
    const tiles = cams.map((cam) => {
      let e = this.entries.get(cam.id);
      if (!e) {
        e = this.newEntry(cam);
        this.entries.set(cam.id, e);
        this.views.set(cam.id, e.viewer);
      }
      e.cam = cam;
      paintTile(e);
      return e.tile;
    });
    this.summary = h('span', { id: 'wall-summary', class: 'badge' });
    this.paintSummary();
    const grid = h('div', { id: 'camera-wall', class: `camera-wall${cams.length > 9 ? ' dense' : ''}`, 'data-count': cams.length }, tiles);
    setTimeout(() => {
      for (const e of this.entries.values()) {
        e.viewer.resume();
        if (this.io) this.io.observe(e.tile); else { e.visible = true; this.reconsider(e); }
      }
      this.main?.viewer.resume();
    }, 0);
    return [h('div', { class: 'wall-bar' }, this.summary, h('span', { class: 'muted' }, t('wallHint'))), grid,
      this.main && mainChrome(this.main)];
  },

  newEntry(cam) {
    const video = camVideo();
    const e = { cam, visible: !('IntersectionObserver' in window), suspendTimer: null };
    e.viewer = new Viewer(cam.id, 'sub', video, { onChange: () => { paintTile(e); this.paintSummary(); }, wanted: () => this.wanted(e) });
    e.tile = h('article', { class: 'cam-tile', 'data-camera-id': cam.id, 'data-state': 'connecting', tabindex: 0, role: 'button',
      onclick: () => this.openMain(e.cam),
      onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); this.openMain(e.cam); } } },
    video, h('div', { class: 'cam-label' }, h('span', { class: 'cam-dot' }), h('span', { class: 'cam-name' }), h('span', { class: 'cam-badges' }),
      h('button', { type: 'button', class: 'cam-replay', 'data-camera-id': cam.id, title: t('camReplay'), 'aria-label': t('camReplay'),
        // One click from live to the recordings of "now minus 1 minute".
        onclick: (ev) => { ev.stopPropagation(); go(`#/recordings?camera=${encodeURIComponent(cam.id)}&at=${Math.floor(Date.now() / 1000) - REPLAY_BACK_S}`); } }, '⏪')),
    h('div', { class: 'cam-msg' }, h('strong'), h('small')));
    return e;
  },

  paintSummary() {
    if (!this.summary) return;
    const live = [...this.entries.values()].filter((e) => e.viewer.state === 'live').length;
    this.summary.textContent = t('wallSummary', { live, n: this.entries.size });
  },

  openMain(cam) {
    if (this.main?.cam.id === cam.id) return;
    this.closeMain();
    const m = { cam, ptz: 'unknown', snapshot: 'unknown', chain: Promise.resolve(), moving: null, note: null };
    m.viewer = new Viewer(cam.id, 'main', camVideo(), { onChange: () => paintMain(m) });
    this.main = m;
    document.getElementById('section-cameras')?.append(mainChrome(m));
    m.viewer.connect();
    apiPaths().then((paths) => {
      if (this.main !== m) return;
      const has = (suffix) => (paths ? paths.some((p) => /^\/api\/v1\/cameras\/\{[^}/]+\}\//.test(p) && p.endsWith(suffix)) : null);
      const ptzKnown = cam.info && typeof cam.info.ptz === 'boolean' ? cam.info.ptz : null;
      m.ptz = has('/ptz') === false || ptzKnown === false ? 'no' : 'yes';
      m.snapshot = has('/snapshot') === false ? 'no' : 'yes';
      paintMain(m);
      if (m.ptz === 'yes') m.presets.load();
    });
    m.el.querySelector('#cam-main-close').focus();
  },

  closeMain() {
    const m = this.main;
    if (!m) return Promise.resolve();
    this.main = null;
    if (m.moving) ptzSend(m, { action: 'stop' });
    const closed = m.viewer.stop();
    m.el?.remove();
    const tile = this.entries.get(m.cam.id)?.tile;
    if (tile?.isConnected) tile.focus({ preventScroll: true });
    return closed;
  },
};
window.__wall = { views: wall.views, get main() { return wall.main?.viewer || null; } };
window.addEventListener('pagehide', () => wall.stop());
window.addEventListener('pageshow', (ev) => { if (ev.persisted && state.token) route(); }); // back from the bfcache
document.addEventListener('visibilitychange', () => { for (const e of wall.entries.values()) wall.reconsider(e); });
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && wall.main) wall.closeMain(); });

let pathsPromise = null;
/** The API's paths from its OpenAPI document (null if unreachable): routes that do not exist yet stay hidden. */
function apiPaths() {
  pathsPromise ??= fetch('/api/openapi.json').then((r) => (r.ok ? r.json() : null)).then((d) => (d?.paths ? Object.keys(d.paths) : null))
    .catch(() => null).then((p) => { if (!p) pathsPromise = null; return p; });
  return pathsPromise;
}

const tr = (m) => (m ? t(m[0], m[1]) : '');

function paintTile(e) {
  const v = e.viewer;
  const tile = e.tile;
  tile.dataset.state = v.state;
  tile.title = `${e.cam.name} — ${t('camOpen')}`;
  tile.setAttribute('aria-label', `${e.cam.name}: ${v.state === 'live' ? t('camLive') : tr(v.msg)}`);
  tile.querySelector('.cam-name').textContent = e.cam.name;
  tile.querySelector('.cam-dot').title = v.state === 'live' ? t('camLive') : tr(v.msg);
  tile.querySelector('.cam-msg strong').textContent = v.state === 'live' ? '' : tr(v.msg);
  // What the analyser sees now (the list's "activity"): motion and object badges.
  const act = e.cam.activity || {};
  tile.querySelector('.cam-badges').replaceChildren(...[act.motion && h('span', { class: 'cam-badge motion' }, t('actMotion')),
    ...(act.objects || []).map((o) => h('span', { class: 'cam-badge object', 'data-object': o }, tOr(`obj.${o}`, o)))].filter(Boolean));
  const since = v.state === 'offline' && e.cam.status?.offline_since;
  tile.querySelector('.cam-msg small').textContent = v.state === 'live' ? ''
    : [since && t('camOfflineSince', { t: fmtDateTime(new Date(since * 1000).toISOString()) }), tr(v.detail)].filter(Boolean).join(' · ');
  transcodeButton(tile.querySelector('.cam-msg'), v);
}

/** Offer the explicit H.265 → H.264 transcode on a view the server refused for its codec. */
function transcodeButton(msg, v) {
  let btn = msg.querySelector('.cam-transcode');
  if (v.state !== 'transcode') { btn?.remove(); return; }
  if (!btn) {
    btn = h('button', { type: 'button', class: 'cam-transcode',
      onclick: (ev) => { ev.stopPropagation(); v.transcode = true; v.set('connecting', ['camConnecting']); v.connect(); } });
    msg.append(btn);
  }
  btn.textContent = t('camTranscodeBtn');
}

const PTZ_PAD = [
  ['up', '▲', { pan: 0, tilt: 1 }], ['left', '◀', { pan: -1, tilt: 0 }], ['stop', '■', null],
  ['right', '▶', { pan: 1, tilt: 0 }], ['down', '▼', { pan: 0, tilt: -1 }],
];
const PTZ_SPEED = 0.5;

function mainChrome(m) {
  const close = h('button', { id: 'cam-main-close', type: 'button', class: 'cam-close', onclick: () => wall.closeMain() }, `✕ ${t('close')}`);
  const snap = h('button', { id: 'cam-snapshot', type: 'button', hidden: true, onclick: () => snapshot(m, snap) }, `📷 ${t('snapshot')}`);
  const hold = (btn, move) => {
    const start = (ev) => { ev.preventDefault(); if (m.moving !== btn) { m.moving = btn; ptzSend(m, { action: 'move', zoom: 0, ...move }); } };
    const end = () => { if (m.moving === btn) { m.moving = null; ptzSend(m, { action: 'stop' }); } };
    btn.addEventListener('pointerdown', start);
    for (const ev of ['pointerup', 'pointercancel', 'pointerleave', 'blur']) btn.addEventListener(ev, end);
    btn.addEventListener('keydown', (ev) => { if ((ev.key === 'Enter' || ev.key === ' ') && !ev.repeat) start(ev); });
    btn.addEventListener('keyup', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') end(); });
    return btn;
  };
  const padBtn = ([name, glyph, move]) => {
    const label = t(`ptz.${name}`);
    const btn = h('button', { type: 'button', class: `ptz-btn ptz-${name}`, 'data-ptz': name, title: label, 'aria-label': label }, glyph);
    if (move) return hold(btn, { ...move, pan: move.pan * PTZ_SPEED, tilt: move.tilt * PTZ_SPEED });
    btn.addEventListener('click', () => { m.moving = null; ptzSend(m, { action: 'stop' }); });
    return btn;
  };
  const zoom = (name, glyph, z) => hold(h('button', { type: 'button', class: 'ptz-btn', 'data-ptz': name, title: t(`ptz.${name}`),
    'aria-label': t(`ptz.${name}`) }, glyph), { pan: 0, tilt: 0, zoom: z * PTZ_SPEED });
  // The camera's own presets (ONVIF GetPresets), read when the pad is shown: none are made up here.
  m.presets = presetsBox(m, (text) => { m.note = text; if (wall.main === m) paintMain(m); });
  const ptz = h('section', { id: 'ptz', class: 'ptz', hidden: true, 'aria-label': t('ptz') },
    h('h3', {}, t('ptz')),
    h('div', { class: 'ptz-row' },
      h('div', { class: 'ptz-pad' }, PTZ_PAD.map(padBtn)),
      h('div', { class: 'ptz-zoom' }, zoom('zoomIn', '+', 1), zoom('zoomOut', '−', -1)),
      m.presets));
  const panel = h('div', { class: 'cam-main-panel' },
    h('header', { class: 'cam-main-head' }, h('span', { class: 'cam-dot' }), h('h2', { id: 'cam-main-title' }, m.cam.name),
      h('span', { class: 'badge' }, t('mainStream')), h('span', { class: 'spacer' }), snap, close),
    h('div', { class: 'cam-main-view' }, m.viewer.video, h('div', { class: 'cam-msg' }, h('strong'), h('small'))),
    h('p', { id: 'cam-main-note', class: 'msg error', role: 'status', hidden: true }), ptz);
  let downOnBackdrop = false; // a press on the pad released over the backdrop must not close the view
  m.el = h('div', { id: 'cam-main', class: 'cam-main', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'cam-main-title',
    'data-camera-id': m.cam.id, onpointerdown: (ev) => { downOnBackdrop = ev.target === m.el; },
    onclick: (ev) => { if (ev.target === m.el && downOnBackdrop) wall.closeMain(); } }, panel);
  paintMain(m);
  return m.el;
}

function paintMain(m) {
  const el = m.el;
  if (!el) return;
  const v = m.viewer;
  el.dataset.state = v.state;
  el.querySelector('.cam-msg strong').textContent = v.state === 'live' ? '' : tr(v.msg);
  el.querySelector('.cam-msg small').textContent = v.state === 'live' ? '' : tr(v.detail);
  transcodeButton(el.querySelector('.cam-msg'), v);
  el.querySelector('.cam-dot').title = v.state === 'live' ? t('camLive') : tr(v.msg);
  el.querySelector('#ptz').hidden = m.ptz !== 'yes';
  el.querySelector('#cam-snapshot').hidden = m.snapshot !== 'yes';
  const note = el.querySelector('#cam-main-note');
  note.textContent = m.note || '';
  note.hidden = !m.note;
}

/** PTZ commands go one after another, so a stop can never overtake its move. */
function ptzSend(m, body) {
  m.chain = m.chain.then(async () => {
    if (m.ptz === 'no') return;
    try {
      await api('POST', `/api/v1/cameras/${encodeURIComponent(m.cam.id)}/ptz`, body);
      if (m.note) { m.note = null; paintMain(m); }
    } catch (err) {
      if (err.handled) return;
      if ([404, 405, 501].includes(err.status)) { m.ptz = 'no'; m.note = null; } // no PTZ route (yet) or no PTZ camera
      else m.note = t('ptzFailed', { m: ptzErrorText(err) });
      if (wall.main === m) paintMain(m);
    }
  });
}

async function snapshot(m, btn) {
  btn.disabled = true;
  try {
    const resp = await api('GET', `/api/v1/cameras/${encodeURIComponent(m.cam.id)}/snapshot`, undefined, { raw: true });
    const blob = await resp.blob();
    const ext = (blob.type.split('/')[1] || 'jpg').replace('jpeg', 'jpg').replace(/[^a-z0-9]/g, '');
    const stamp = fmt(new Date().toISOString(), { ...DATE_TIME, second: '2-digit' }).replace(/[^0-9]+/g, '');
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `${m.cam.id}-${stamp}.${ext}`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    m.note = null;
  } catch (err) {
    if (err.handled) return;
    if (err.status === 404 && err.code !== 'not_streaming') m.snapshot = 'no';
    else m.note = t('snapshotFailed', { m: err.code === 'network' ? t('network') : err.message || err.code });
  } finally {
    btn.disabled = false;
    if (wall.main === m) paintMain(m);
  }
}

async function loadCameras() {
  const [cams, groups] = await Promise.all([api('GET', '/api/v1/cameras'), api('GET', '/api/v1/camera-groups').catch(() => ({ items: [] }))]);
  return { items: cams.items, groups: groups.items };
}

const GROUP_KEY = 'console.wallGroup';
function renderCameras(data, body) {
  if (!data.items.length) {
    wall.stop();
    return h('div', { id: 'cameras-empty', class: 'empty-state' }, h('h2', {}, t('noCameras')), h('p', {}, t('noCamerasHint')));
  }
  // Groups from config.yaml: one wall per group (the choice is kept on this workstation).
  const groups = data.groups || [];
  let current = hashParams().get('group') || localStorage.getItem(GROUP_KEY) || '';
  if (!groups.some((g) => g.id === current)) current = '';
  const group = groups.find((g) => g.id === current);
  const cams = group ? group.cameras.map((id) => data.items.find((c) => c.id === id)).filter(Boolean) : data.items;
  const pick = (id) => { localStorage.setItem(GROUP_KEY, id); body.replaceChildren(...[renderCameras(data, body)].flat().filter(Boolean)); };
  const tabs = h('div', { id: 'wall-groups', class: 'room-list' },
    [{ id: '', name: t('allCameras') }, ...groups].map((g) => h('button', { type: 'button', class: `room-tab${g.id === current ? ' active' : ''}`,
      'data-group': g.id, 'aria-pressed': String(g.id === current), onclick: () => pick(g.id) }, g.name)),
    h('span', { class: 'spacer' }),
    h('button', { id: 'wall-fullscreen', type: 'button', onclick: () => document.getElementById('camera-wall')?.requestFullscreen?.().catch(() => {}) },
      t('wallFullscreen')));
  return [tabs, ...wall.render(cams)];
}

// ------------------------------------------------------------------------------------- recordings
// One camera's day at a glance: a 24 h timeline drawn from GET /api/v1/timeline (footage, outages, holes,
// motion per minute, event markers). A click plays from that moment (a ticket URL from POST …/playback in a
// <video>: a media element cannot send the bearer token), a drag selects a range to export. The day's motion
// events are thumbnails, filtered and paged with GET /api/v1/events. window.__rec exposes the page state.
const PLAY_WINDOW_S = 600; // footage asked for per playback request; the next window follows at its end
const PREROLL_S = 3; // an event plays from a little before it starts
const EVENTS_PAGE = 24;
const THUMB_LIMIT = 4; // thumbnail downloads in flight at once
const MAX_MARKERS = 400; // event markers on the timeline (the strongest; the motion strip shows every minute)
const DRAG_PX = 5; // a press that moves further than this selects a range instead of playing
const EXPORT_POLL_MS = 1000;
const EVENT_PAD_S = 5; // an event's export range starts this much before it and ends this much after
const MIN_DURATIONS = [0, 5, 10, 30, 60, 300];
// A score is the share of the picture that moved (0..1): a person is a few percent, so the choices are
// fine at the low end, and bars and meters use a square-root scale that reaches full at FULL_SCALE_SCORE.
const MIN_SCORES = [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4];
const FULL_SCALE_SCORE = 0.25;
const level = (score) => Math.min(1, Math.sqrt(Math.max(0, score) / FULL_SCALE_SCORE));
const pctText = (share) => `${(share * 100).toFixed(share < 0.1 ? 1 : 0).replace(/\.0$/, '')}%`;
const TL_COLORS = { empty: '#e4e9ef', recorded: '#6fa6e2', motion: '#f08c00', outage: '#d93a2f', hole: '#9aa6b4', future: '#f6f8fa' };

const rec = {
  camera: null, date: null, timeline: null, tlError: null, gen: 0,
  events: [], cursor: null, evLoading: false, evError: null, filters: { zone: '', minDuration: 0, minScore: 0 },
  selected: null, range: null, playing: null, playhead: null, note: null, exp: null, expTimer: null,
  thumbs: new Map(), thumbQueue: [], thumbBusy: 0, video: null,
};
window.__rec = rec;

function recVideo() {
  if (!rec.video) {
    const v = h('video', { id: 'rec-video', controls: true, playsinline: true, preload: 'auto' });
    v.muted = true; // camera footage has no sound worth hearing, and a muted element may always play
    v.addEventListener('timeupdate', () => {
      if (!rec.playing) return;
      rec.playhead = rec.playing.mediaStart + v.currentTime;
      paintPlayhead();
    });
    v.addEventListener('ended', () => {
      const p = rec.playing;
      if (p && rec.timeline && p.mediaEnd < rec.timeline.end_ts - 1) playAt(p.mediaEnd + 0.001, { quiet: true });
    });
    rec.video = v;
  }
  return rec.video;
}

function stopRecordings() {
  rec.video?.pause();
}

function resetRecordings() {
  clearTimeout(rec.expTimer);
  rec.gen += 1;
  if (rec.video) { rec.video.pause(); rec.video.removeAttribute('src'); rec.video.load(); }
  Object.assign(rec, { timeline: null, tlError: null, events: [], cursor: null, exp: null, playing: null, playhead: null,
    note: null, range: null, selected: null });
}

async function loadRecordings() {
  rec.timeline = null; // first visit or "Refresh": the day is read again
  return api('GET', '/api/v1/cameras');
}

function renderRecordings(data) {
  const cams = data.items;
  if (!cams.length) {
    return h('div', { id: 'recordings-empty', class: 'empty-state' }, h('h2', {}, t('noCameras')), h('p', {}, t('noCamerasHint')));
  }
  const params = hashParams();
  const wantCam = params.get('camera');
  const wantDate = params.get('date');
  if (wantCam && cams.some((c) => c.id === wantCam)) rec.camera = wantCam;
  if (wantDate && /^\d{4}-\d{2}-\d{2}$/.test(wantDate)) rec.date = wantDate;
  const wantAt = Number(params.get('at')); // from a live tile: play from this moment
  if (Number.isFinite(wantAt) && wantAt > 0) { rec.date = vnParts(wantAt * 1000).day; rec.pendingAt = wantAt; rec.playhead = wantAt; rec.timeline = null; }
  if (!cams.some((c) => c.id === rec.camera)) rec.camera = cams[0].id;
  rec.date ??= todayIn(TZ);
  const today = todayIn(TZ);
  const setDay = (day) => { if (day && day <= today && day !== rec.date) { rec.date = day; loadDay(); } };
  const bar = h('div', { class: 'rec-bar' },
    h('label', { class: 'rec-field' }, h('span', {}, t('recCamera')),
      h('select', { id: 'rec-camera', onchange: (ev) => { rec.camera = ev.target.value; loadDay(); } },
        cams.map((c) => h('option', { value: c.id, selected: c.id === rec.camera }, c.name)))),
    h('div', { class: 'rec-day' },
      h('button', { id: 'rec-prev-day', type: 'button', title: t('prevDay'), 'aria-label': t('prevDay'), onclick: () => setDay(shiftDay(rec.date, -1)) }, '◀'),
      h('input', { id: 'rec-date', type: 'date', value: rec.date, max: today, 'aria-label': t('recDay'),
        onchange: (ev) => setDay(ev.target.value) }),
      h('button', { id: 'rec-next-day', type: 'button', title: t('nextDay'), 'aria-label': t('nextDay'), onclick: () => setDay(shiftDay(rec.date, 1)) }, '▶'),
      h('button', { id: 'rec-today', type: 'button', onclick: () => setDay(today) }, t('today'))),
    h('span', { class: 'spacer' }), h('span', { id: 'rec-summary', class: 'muted' }));
  const legend = h('div', { class: 'tl-legend' },
    [['recorded', 'legendRecorded'], ['motion', 'legendMotion'], ['outage', 'legendOutage'], ['hole', 'legendHole']]
      .map(([k, label]) => h('span', { class: `tl-key tl-key-${k}` }, h('i'), t(label))),
    h('span', { class: 'tl-key tl-key-event' }, h('i'), t('legendEvent')));
  const tl = h('div', { id: 'rec-timeline', class: 'tl', tabindex: 0, role: 'slider', 'aria-label': t('tlLabel') },
    h('div', { class: 'tl-markers' }), h('canvas', { class: 'tl-canvas' }), h('div', { class: 'tl-sel', hidden: true }),
    h('div', { class: 'tl-playhead', hidden: true }), h('div', { class: 'tl-hover', hidden: true }, h('span')),
    h('div', { class: 'tl-pop', hidden: true }));
  const hours = h('div', { class: 'tl-hours' }, Array.from({ length: 9 }, (_, i) =>
    h('span', { style: `left:${(i * 3 / 24) * 100}%` }, `${String(i * 3).padStart(2, '0')}:00`)));
  wireTimeline(tl);
  const player = h('section', { class: 'card rec-player' },
    h('div', { class: 'rec-screen' }, recVideo(), h('div', { id: 'rec-screen-msg', class: 'rec-screen-msg' })),
    h('div', { class: 'rec-now' }, h('span', { id: 'rec-now' }), h('span', { class: 'spacer' }),
      h('button', { id: 'rec-back10', type: 'button', onclick: () => nudge(-10) }, `−10 ${t('sec')}`),
      h('button', { id: 'rec-fwd10', type: 'button', onclick: () => nudge(10) }, `+10 ${t('sec')}`)),
    h('p', { id: 'rec-note', class: 'msg info', role: 'status', hidden: true }));
  const exportCard = h('section', { id: 'rec-export', class: 'card rec-export' },
    h('h3', {}, t('exportTitle')), h('p', { class: 'muted small' }, t('exportHint')),
    h('div', { class: 'rec-exp-row' },
      h('label', {}, h('span', {}, t('exportFrom')), h('input', { id: 'rec-exp-from', type: 'time', step: 1 })),
      h('label', {}, h('span', {}, t('exportTo')), h('input', { id: 'rec-exp-to', type: 'time', step: 1 })),
      h('label', { class: 'grow' }, h('span', {}, t('exportReason')),
        h('input', { id: 'rec-exp-reason', type: 'text', maxlength: 500, placeholder: t('exportReasonHint') }))),
    h('div', { class: 'rec-exp-row' }, h('button', { id: 'rec-exp-submit', type: 'button', class: 'primary', onclick: startExport }, t('exportBtn')),
      h('div', { id: 'rec-exp-status', class: 'rec-exp-status' })));
  const filters = h('div', { class: 'ev-filters' },
    h('label', {}, h('span', {}, t('zone')), h('select', { id: 'rec-zone', onchange: (ev) => { rec.filters.zone = ev.target.value; loadEvents(true); } })),
    h('label', {}, h('span', {}, t('minDuration')), h('select', { id: 'rec-min-dur', onchange: (ev) => { rec.filters.minDuration = Number(ev.target.value); loadEvents(true); } },
      MIN_DURATIONS.map((s) => h('option', { value: s, selected: s === rec.filters.minDuration }, s ? `≥ ${span(s)}` : t('any'))))),
    h('label', {}, h('span', {}, t('minScore')), h('select', { id: 'rec-min-score', onchange: (ev) => { rec.filters.minScore = Number(ev.target.value); loadEvents(true); } },
      MIN_SCORES.map((v) => h('option', { value: v, selected: v === rec.filters.minScore }, v ? `≥ ${pctText(v)}` : t('any'))))));
  const eventsCard = h('section', { class: 'card rec-events' },
    h('div', { class: 'rec-events-head' }, h('h3', {}, t('eventsTitle')), h('span', { id: 'rec-events-count', class: 'badge' })),
    filters, h('div', { id: 'rec-events', class: 'ev-grid', 'aria-live': 'polite' }),
    h('p', { id: 'rec-events-empty', class: 'empty', hidden: true }),
    h('button', { id: 'rec-more', type: 'button', hidden: true, onclick: () => loadEvents(false) }, t('loadMore')));
  setTimeout(() => {
    if (rec.timeline && rec.timeline.camera_id === rec.camera && rec.timeline.date === rec.date) {
      paintDay();
      paintEvents();
      paintExport();
    } else loadDay();
  }, 0);
  return [bar, h('section', { class: 'card tl-card' }, legend, tl, hours, h('p', { class: 'muted small tl-hint' }, t('tlHint'))),
    h('div', { class: 'rec-grid' }, h('div', { class: 'rec-col' }, player, exportCard), eventsCard)];
}

async function loadDay() {
  const gen = ++rec.gen;
  for (const got of rec.thumbs.values()) got.then((url) => url && URL.revokeObjectURL(url));
  Object.assign(rec, { timeline: null, tlError: null, events: [], cursor: null, range: null, selected: null, thumbs: new Map(), thumbQueue: [] });
  history.replaceState(null, '', `#/recordings?camera=${encodeURIComponent(rec.camera)}&date=${rec.date}`);
  const dateInput = document.getElementById('rec-date');
  if (dateInput) dateInput.value = rec.date;
  paintDay();
  paintEvents();
  try {
    const tl = await api('GET', `/api/v1/timeline?camera_id=${encodeURIComponent(rec.camera)}&date=${rec.date}`);
    if (gen !== rec.gen) return;
    rec.timeline = tl;
  } catch (err) {
    if (err.handled || gen !== rec.gen) return;
    rec.tlError = errorText(err);
  }
  paintDay();
  if (rec.timeline && rec.pendingAt != null) { const at = rec.pendingAt; rec.pendingAt = null; playAt(at); }
  if (rec.timeline) await loadEvents(true);
}

async function loadEvents(reset) {
  const tl = rec.timeline;
  if (!tl) return;
  const gen = rec.gen;
  const f = rec.filters;
  const q = new URLSearchParams({ camera_id: rec.camera, since: tl.start_ts, until: tl.end_ts, limit: EVENTS_PAGE });
  if (f.zone) q.set('zone', f.zone);
  if (f.minDuration) q.set('min_duration_s', f.minDuration);
  if (f.minScore) q.set('min_score', f.minScore);
  if (!reset && rec.cursor) q.set('cursor', rec.cursor);
  rec.evLoading = true;
  rec.evError = null;
  if (reset) { rec.events = []; rec.cursor = null; }
  paintEvents();
  try {
    const res = await api('GET', `/api/v1/events?${q}`);
    if (gen !== rec.gen) return;
    rec.events = reset ? res.items : rec.events.concat(res.items);
    rec.cursor = res.next_cursor;
  } catch (err) {
    if (err.handled || gen !== rec.gen) return;
    rec.evError = errorText(err);
  } finally {
    if (gen === rec.gen) rec.evLoading = false;
  }
  paintEvents();
}

// ------------------------------------------------------------------------ the timeline

function timeAt(el, clientX) {
  const tl = rec.timeline;
  const r = el.getBoundingClientRect();
  const f = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
  return tl.start_ts + f * (tl.end_ts - tl.start_ts);
}

function pct(ts) {
  const tl = rec.timeline;
  return ((ts - tl.start_ts) / (tl.end_ts - tl.start_ts)) * 100;
}

function wireTimeline(el) {
  let down = null;
  const hover = el.querySelector('.tl-hover');
  el.addEventListener('pointermove', (ev) => {
    if (!rec.timeline || ev.target.closest('.tl-event')) { hover.hidden = true; return; }
    const ts = timeAt(el, ev.clientX);
    hover.hidden = false;
    hover.style.left = `${pct(ts)}%`;
    hover.firstChild.textContent = clock(ts);
    if (down && Math.abs(ev.clientX - down.x) > DRAG_PX) {
      down.drag = true;
      rec.range = [Math.min(down.ts, ts), Math.max(down.ts, ts)];
      paintSelection();
    }
  });
  el.addEventListener('pointerleave', () => { hover.hidden = true; });
  el.addEventListener('pointerdown', (ev) => {
    if (!rec.timeline || ev.button !== 0 || ev.target.closest('.tl-event')) return;
    down = { x: ev.clientX, ts: timeAt(el, ev.clientX), drag: false };
    el.setPointerCapture(ev.pointerId);
  });
  el.addEventListener('pointerup', (ev) => {
    if (!down) return;
    const d = down;
    down = null;
    if (d.drag) { fillExport(rec.range[0], rec.range[1]); return; }
    playAt(timeAt(el, ev.clientX));
  });
  el.addEventListener('keydown', (ev) => {
    if (!rec.timeline || !['ArrowLeft', 'ArrowRight', 'Enter'].includes(ev.key)) return;
    ev.preventDefault();
    const from = rec.playhead ?? rec.timeline.start_ts;
    playAt(ev.key === 'Enter' ? from : from + (ev.key === 'ArrowLeft' ? -60 : 60));
  });
  new ResizeObserver(() => paintCanvas()).observe(el);
}

function paintDay() {
  const el = document.getElementById('rec-timeline');
  if (!el) return;
  const tl = rec.timeline;
  el.dataset.state = tl ? 'ready' : rec.tlError ? 'error' : 'loading';
  const summary = document.getElementById('rec-summary');
  if (summary) {
    if (!tl) summary.textContent = rec.tlError || t('loading');
    else {
      const recorded = tl.buckets.recorded.reduce((a, b) => a + b, 0) * tl.buckets.size_s;
      const outages = tl.gaps.filter((g) => g.kind === 'outage').length;
      summary.textContent = [t('recSummaryEvents', { n: tl.events.length + (tl.events_truncated ? '+' : '') }),
        t('recSummaryRecorded', { d: span(recorded) }), outages ? t('recSummaryOutages', { n: outages }) : null].filter(Boolean).join(' · ');
    }
  }
  const zoneSel = document.getElementById('rec-zone');
  if (zoneSel) {
    const zones = tl ? [...new Set(tl.events.flatMap((e) => e.zones))].sort() : [];
    if (rec.filters.zone && !zones.includes(rec.filters.zone)) zones.unshift(rec.filters.zone);
    zoneSel.replaceChildren(h('option', { value: '' }, t('allZones')),
      ...zones.map((z) => h('option', { value: z, selected: z === rec.filters.zone }, z)));
  }
  paintCanvas();
  paintMarkers();
  paintSelection();
  paintPlayhead();
  paintNote();
}

let hatch = null;
function hatchPattern(ctx) {
  if (!hatch) {
    const c = document.createElement('canvas');
    c.width = c.height = 8;
    const g = c.getContext('2d');
    g.fillStyle = '#dde3ea';
    g.fillRect(0, 0, 8, 8);
    g.strokeStyle = TL_COLORS.hole;
    g.lineWidth = 2;
    g.beginPath(); g.moveTo(0, 8); g.lineTo(8, 0); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6); g.stroke();
    hatch = c;
  }
  return ctx.createPattern(hatch, 'repeat');
}

function paintCanvas() {
  const canvas = document.querySelector('#rec-timeline .tl-canvas');
  if (!canvas) return;
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const hgt = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== hgt) { canvas.width = w; canvas.height = hgt; }
  const ctx = canvas.getContext('2d');
  ctx.globalAlpha = 1;
  ctx.fillStyle = TL_COLORS.empty;
  ctx.fillRect(0, 0, w, hgt);
  const tl = rec.timeline;
  if (!tl) return;
  const day = tl.end_ts - tl.start_ts;
  const x = (ts) => ((ts - tl.start_ts) / day) * w;
  const { recorded, activity, count } = tl.buckets;
  const bw = w / count;
  ctx.fillStyle = TL_COLORS.recorded;
  for (let i = 0; i < count; i += 1) {
    if (recorded[i] <= 0) continue;
    ctx.globalAlpha = 0.35 + 0.65 * recorded[i];
    ctx.fillRect(Math.floor(i * bw), 0, Math.ceil(bw) + 0.5, hgt);
  }
  ctx.globalAlpha = 1;
  for (const g of tl.gaps) {
    const x0 = x(g.start_ts);
    const gw = Math.max(2 * dpr, x(g.end_ts) - x0);
    if (g.kind === 'outage') {
      ctx.fillStyle = TL_COLORS.outage;
      ctx.fillRect(x0, 0, gw, hgt);
    } else {
      ctx.fillStyle = hatchPattern(ctx);
      ctx.fillRect(x0, 0, gw, hgt);
    }
  }
  ctx.fillStyle = TL_COLORS.motion;
  for (let i = 0; i < count; i += 1) {
    const a = activity[i];
    if (a <= 0) continue;
    const bh = Math.max(2 * dpr, level(a) * hgt * 0.85);
    ctx.fillRect(Math.floor(i * bw), hgt - bh, Math.max(1, Math.ceil(bw)), bh);
  }
  if (tl.now_ts < tl.end_ts) {
    const xn = Math.max(0, x(tl.now_ts));
    ctx.fillStyle = TL_COLORS.future;
    ctx.fillRect(xn, 0, w - xn, hgt);
    ctx.fillStyle = TL_COLORS.outage;
    ctx.fillRect(xn - dpr, 0, 2 * dpr, hgt);
  }
  ctx.strokeStyle = 'rgba(28, 36, 48, .25)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let hr = 3; hr < 24; hr += 3) { const xh = Math.round((hr / 24) * w) + 0.5; ctx.moveTo(xh, 0); ctx.lineTo(xh, hgt); }
  ctx.stroke();
}

function paintMarkers() {
  const lane = document.querySelector('#rec-timeline .tl-markers');
  if (!lane) return;
  const tl = rec.timeline;
  if (!tl) { lane.replaceChildren(); return; }
  const shown = [...tl.events].sort((a, b) => b.peak_score - a.peak_score).slice(0, MAX_MARKERS)
    .sort((a, b) => a.start_ts - b.start_ts);
  lane.replaceChildren(...shown.map((e) => {
    const label = t('eventAt', { t: clock(Math.max(e.start_ts, tl.start_ts)) });
    const m = h('button', { type: 'button', class: `tl-event${e.id === rec.selected ? ' selected' : ''}`, 'data-event-id': e.id,
      style: `left:${Math.max(0, pct(e.start_ts))}%`, title: label, 'aria-label': label,
      onclick: () => selectEvent(e), onpointerenter: () => showPop(e, m), onpointerleave: hidePop, onfocus: () => showPop(e, m), onblur: hidePop });
    return m;
  }));
}

function showPop(e, marker) {
  const pop = document.querySelector('#rec-timeline .tl-pop');
  if (!pop) return;
  const img = h('img', { alt: '' });
  pop.replaceChildren(e.thumbnail_url ? img : h('div', { class: 'ev-nothumb' }, t('noThumb')),
    h('strong', {}, clock(e.start_ts)), h('small', {}, eventFacts(e)));
  pop.style.left = marker.style.left;
  pop.hidden = false;
  if (e.thumbnail_url) thumb(e, img);
}

function hidePop() {
  const pop = document.querySelector('#rec-timeline .tl-pop');
  if (pop) pop.hidden = true;
}

function paintSelection() {
  const sel = document.querySelector('#rec-timeline .tl-sel');
  if (!sel) return;
  const r = rec.range;
  sel.hidden = !(r && rec.timeline);
  if (!sel.hidden) {
    sel.style.left = `${pct(r[0])}%`;
    sel.style.width = `${Math.max(0.1, pct(r[1]) - pct(r[0]))}%`;
  }
}

function paintPlayhead() {
  const ph = document.querySelector('#rec-timeline .tl-playhead');
  const tl = rec.timeline;
  const at = rec.playhead;
  if (ph) {
    ph.hidden = !(tl && at != null && at >= tl.start_ts && at <= tl.end_ts);
    if (!ph.hidden) ph.style.left = `${pct(at)}%`;
  }
  const now = document.getElementById('rec-now');
  if (now) now.textContent = at != null && rec.playing ? t('playing', { t: clock(at) }) : t('pickToPlay');
}

function paintNote() {
  const note = document.getElementById('rec-note');
  if (!note) return;
  note.textContent = rec.note || '';
  note.hidden = !rec.note;
}

// ------------------------------------------------------------------------ playback

async function playAt(ts, { quiet = false } = {}) {
  const tl = rec.timeline;
  if (!tl) return;
  let at = Math.min(Math.max(ts, tl.start_ts), tl.end_ts);
  // Outside the footage: start at the next recorded moment of the day.
  if (!tl.spans.some((s) => s.start_ts <= at && at < s.end_ts)) {
    const next = tl.spans.find((s) => s.start_ts > at);
    if (!next) {
      if (!quiet) { rec.note = t('noFootageAt', { t: clock(at) }); paintNote(); }
      return;
    }
    at = next.start_ts;
  }
  const gen = rec.gen;
  const cam = rec.camera;
  const video = recVideo();
  video.pause(); // the old footage must not move the playhead while the new range is prepared
  rec.playing = null;
  rec.note = null;
  rec.playhead = at;
  paintNote();
  paintPlayhead();
  try {
    const res = await api('POST', `/api/v1/cameras/${encodeURIComponent(cam)}/playback`,
      { start: at, end: Math.min(at + PLAY_WINDOW_S, tl.end_ts), stream: 'main' });
    if (gen !== rec.gen) return;
    rec.playing = { camera: cam, want: at, mediaStart: res.media_start, mediaEnd: res.media_end };
    video.dataset.start = String(at);
    video.addEventListener('loadedmetadata', () => {
      video.currentTime = Math.max(0, at - res.media_start);
      video.play().catch(() => {});
    }, { once: true });
    video.src = res.url;
  } catch (err) {
    if (err.handled || gen !== rec.gen) return;
    rec.note = err.status === 404 ? t('noFootageAt', { t: clock(at) }) : t('playFailed', { m: errorText(err) });
    paintNote();
  }
}

function nudge(seconds) {
  const v = rec.video;
  const p = rec.playing;
  if (!v || !p) return;
  const target = p.mediaStart + v.currentTime + seconds;
  if (target >= p.mediaStart && target <= p.mediaEnd) v.currentTime = target - p.mediaStart;
  else playAt(target);
}

function selectEvent(e) {
  rec.selected = e.id;
  document.querySelectorAll('.tl-event.selected, .ev-card.selected').forEach((el) => el.classList.remove('selected'));
  document.querySelectorAll(`[data-event-id="${e.id}"]`).forEach((el) => el.classList.add('selected'));
  const tl = rec.timeline;
  const end = e.end_ts ?? (tl ? Math.min(tl.now_ts, tl.end_ts) : e.start_ts + 60);
  fillExport(e.start_ts - EVENT_PAD_S, end + EVENT_PAD_S);
  playAt(e.start_ts - PREROLL_S);
}

// ------------------------------------------------------------------------ events

function eventFacts(e) {
  const parts = [e.duration_s == null ? t('eventOpen') : span(e.duration_s), t('scorePct', { n: pctText(e.peak_score).slice(0, -1) })];
  if (e.zones.length) parts.push(e.zones.join(', '));
  return parts.join(' · ');
}

function paintEvents() {
  const grid = document.getElementById('rec-events');
  if (!grid) return;
  const count = document.getElementById('rec-events-count');
  const tl = rec.timeline;
  if (count) count.textContent = tl ? t('eventsOfDay', { n: tl.events.length + (tl.events_truncated ? '+' : '') }) : '…';
  grid.replaceChildren(...rec.events.map((e) => {
    const img = h('img', { alt: t('eventAt', { t: clock(e.start_ts) }) });
    const card = h('article', { class: `ev-card${e.id === rec.selected ? ' selected' : ''}`, 'data-event-id': e.id, tabindex: 0, role: 'button',
      title: t('playEvent'), onclick: () => selectEvent(e),
      onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); selectEvent(e); } } },
    h('div', { class: 'ev-thumb' }, e.thumbnail_url ? img : h('div', { class: 'ev-nothumb' }, t('noThumb')),
      h('time', { datetime: e.start_at }, clock(e.start_ts))),
    h('div', { class: 'ev-meta' },
      h('div', { class: 'ev-score', title: t('scorePct', { n: pctText(e.peak_score).slice(0, -1) }) }, h('i', { style: `width:${Math.round(level(e.peak_score) * 100)}%` })),
      h('div', { class: 'ev-line' }, h('span', {}, e.duration_s == null ? t('eventOpen') : span(e.duration_s)),
        h('span', { class: 'muted' }, pctText(e.peak_score))),
      e.zones.length ? h('div', { class: 'ev-zones' }, e.zones.map((z) => h('span', { class: 'ev-zone' }, z))) : null));
    if (e.thumbnail_url) thumb(e, img);
    return card;
  }));
  const empty = document.getElementById('rec-events-empty');
  empty.textContent = rec.evError || (rec.evLoading ? t('loading') : t('noEvents'));
  empty.classList.toggle('error', Boolean(rec.evError));
  empty.hidden = rec.events.length > 0 && !rec.evError;
  const more = document.getElementById('rec-more');
  more.hidden = !rec.cursor;
  more.disabled = rec.evLoading;
}

/** Show an event's thumbnail in ``img``: fetched once with the token (few at a time), kept as an object URL. */
function thumb(e, img) {
  let got = rec.thumbs.get(e.id);
  if (!got) {
    const gen = rec.gen;
    got = new Promise((resolve) => {
      rec.thumbQueue.push(async () => {
        if (gen !== rec.gen) { resolve(null); return; }
        try {
          const resp = await api('GET', e.thumbnail_url, undefined, { raw: true });
          resolve(URL.createObjectURL(await resp.blob()));
        } catch {
          resolve(null);
        }
      });
      pumpThumbs();
    });
    rec.thumbs.set(e.id, got);
  }
  got.then((url) => { if (url) img.src = url; });
}

function pumpThumbs() {
  while (rec.thumbBusy < THUMB_LIMIT && rec.thumbQueue.length) {
    const job = rec.thumbQueue.shift();
    rec.thumbBusy += 1;
    job().finally(() => { rec.thumbBusy -= 1; pumpThumbs(); });
  }
}

// ------------------------------------------------------------------------ export

const hms = (ts) => new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false })
  .format(new Date(ts * 1000));

function fillExport(start, end) {
  const tl = rec.timeline;
  if (!tl) return;
  const from = document.getElementById('rec-exp-from');
  const to = document.getElementById('rec-exp-to');
  if (!from || !to) return;
  from.value = hms(Math.max(start, tl.start_ts));
  to.value = hms(Math.min(end, tl.end_ts - 1));
  rec.range = [Math.max(start, tl.start_ts), Math.min(end, tl.end_ts - 1)];
  paintSelection();
}

function dayTime(value) {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value || '');
  if (!m || !rec.timeline) return null;
  return rec.timeline.start_ts + Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] || 0);
}

async function startExport() {
  const status = document.getElementById('rec-exp-status');
  const start = dayTime(document.getElementById('rec-exp-from').value);
  const end = dayTime(document.getElementById('rec-exp-to').value);
  const reason = document.getElementById('rec-exp-reason').value.trim();
  const fail = (msg) => { status.replaceChildren(h('span', { class: 'msg error inline' }, msg)); };
  if (start == null || end == null || end <= start) return fail(t('exportBadRange'));
  if (!reason) { document.getElementById('rec-exp-reason').focus(); return fail(t('exportNeedReason')); }
  const btn = document.getElementById('rec-exp-submit');
  btn.disabled = true;
  try {
    rec.exp = await api('POST', '/api/v1/exports', { camera_id: rec.camera, start, end, reason });
    paintExport();
    pollExport(rec.exp.id);
  } catch (err) {
    if (!err.handled) fail(errorText(err));
  } finally {
    btn.disabled = false;
  }
}

function pollExport(id) {
  clearTimeout(rec.expTimer);
  rec.expTimer = setTimeout(async () => {
    if (!rec.exp || rec.exp.id !== id || !state.token) return;
    try {
      rec.exp = await api('GET', `/api/v1/exports/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.handled) return;
    }
    paintExport();
    if (rec.exp && ['queued', 'running'].includes(rec.exp.status)) pollExport(id);
  }, EXPORT_POLL_MS);
}

function paintExport() {
  const status = document.getElementById('rec-exp-status');
  const x = rec.exp;
  if (!status || !x) return;
  status.dataset.status = x.status;
  const range = `${clock(Date.parse(x.start_at) / 1000)} – ${clock(Date.parse(x.end_at) / 1000)}`;
  if (x.status === 'failed') {
    status.replaceChildren(h('span', { class: 'msg error inline' }, t('exportFailed', { m: x.error || '' })));
    return;
  }
  if (x.status !== 'done') {
    const p = Math.round((x.progress || 0) * 100);
    status.replaceChildren(h('progress', { id: 'rec-exp-progress', max: 100, value: p }),
      h('span', {}, x.status === 'queued' ? t('exportQueued') : t('exportRunning', { p })), h('small', { class: 'muted' }, range));
    return;
  }
  status.replaceChildren(
    h('progress', { id: 'rec-exp-progress', max: 100, value: 100 }),
    h('span', { class: 'exp-done' }, '✓ ', t('exportDone'), x.bytes ? ` (${(x.bytes / 1048576).toFixed(1)} MB)` : ''),
    h('button', { id: 'rec-exp-download', type: 'button', class: 'primary', onclick: (ev) => downloadExport(x, ev.currentTarget) }, `⬇ ${t('download')}`),
    h('div', { class: 'exp-hash' }, h('span', { class: 'muted' }, `${t('sha256')}: `), h('code', { id: 'rec-exp-sha256' }, x.sha256 || '—')));
}

async function downloadExport(x, btn) {
  btn.disabled = true;
  try {
    const link = await api('POST', `/api/v1/exports/${encodeURIComponent(x.id)}/link`);
    const a = h('a', { href: link.url, download: '', hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    if (!err.handled) btn.after(h('span', { class: 'msg error inline' }, errorText(err)));
  } finally {
    btn.disabled = false;
  }
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
window.addEventListener('hashchange', route);
route();
