// "Quản lý camera" (admin): every camera with its live state in words (why it is offline from
// status.last_error_code, never the server's English last_error), its streams and recording; add a camera by
// ONVIF (address, port, account) or by RTSP URL, with each refusal said under its field; "Tìm camera" probes
// the LAN over WS-Discovery and a found camera fills the ONVIF form; remove an API-added camera after a confirm
// (its footage stays until retention removes it). The list is re-read every few seconds while shown.
import { addStrings, t, tOr, h, api, poller, errorNode, fmtDateTime, num } from './core.js';
import { fieldForm, pageNote, listTable, slug, IDENT_RE } from './manage.js';

addStrings({
  vi: {
    'sec.camadmin': 'Quản lý camera', caTitle: 'Danh sách camera', caNone: 'Chưa có camera nào. Thêm camera ở biểu mẫu bên dưới hoặc bấm “Tìm camera”.',
    caName: 'Camera', caSource: 'Kết nối', caState: 'Tình trạng', caStreams: 'Luồng hình', caRecord: 'Ghi hình', caActions: 'Thao tác',
    'ph.starting': 'Đang khởi động', 'ph.onboarding': 'Đang kết nối ONVIF', 'ph.streaming': 'Đang hoạt động', 'ph.offline': 'Mất kết nối',
    'ph.unreachable': 'Không liên lạc được', 'ph.auth_failed': 'Sai tài khoản camera', 'ph.error': 'Gặp lỗi', 'ph.stopped': 'Đã dừng',
    'st.online': 'tốt', 'st.connecting': 'đang kết nối', 'st.offline': 'mất tín hiệu', 'st.auth_failed': 'sai tài khoản', 'st.stopped': 'đã dừng',
    'stream.main': 'Chính', 'stream.sub': 'Phụ', caFps: '{n} hình/giây', caKbps: '{n} kbit/s', caSince: 'từ {t}',
    'rs.starting': 'Đang khởi động', 'rs.recording': 'Đang ghi', 'rs.waiting': 'Chờ hình đầu tiên', 'rs.off': 'Không ghi',
    'rs.stopped': 'Đã dừng', 'rs.failed': 'Lỗi ghi', 'rs.disk_full': 'Đĩa đầy, không ghi được',
    'rm.continuous': 'liên tục', 'rm.motion': 'khi có chuyển động', 'rm.off': 'tắt', caFromConfig: 'config.yaml',
    caRemove: 'Xóa', caRemoveConfirm: 'Xóa camera “{n}” khỏi hệ thống? Ngừng xem và ghi hình ngay; các đoạn đã ghi được giữ đến khi hết hạn lưu trữ.',
    caRemoved: 'Đã xóa camera “{n}”.', caAdded: 'Đã thêm camera “{n}”. Tình trạng kết nối hiện trong danh sách sau vài giây.',
    caNew: 'Thêm camera', caFName: 'Tên camera', caFNameHint: 'Ví dụ: Cổng chính UBND huyện', caFId: 'Mã camera',
    caHow: 'Cách kết nối', caHowOnvif: 'ONVIF (khuyên dùng: tự lấy luồng hình, ảnh chụp, điều khiển PTZ)', caHowRtsp: 'Địa chỉ RTSP (camera không hỗ trợ ONVIF)',
    caHost: 'Địa chỉ IP hoặc tên máy', caPort: 'Cổng ONVIF', caUser: 'Tên đăng nhập camera', caPass: 'Mật khẩu camera',
    caPassHint: 'Được mã hóa khi lưu, không bao giờ hiển thị lại.', caMain: 'Luồng chính (RTSP)', caSub: 'Luồng phụ (RTSP, không bắt buộc)',
    caUrlHint: 'Dạng rtsp://tên:mật-khẩu@192.168.1.64:554/đường-dẫn — tên và mật khẩu được tách ra và mã hóa.',
    caTransport: 'Truyền qua', caTcp: 'TCP (ổn định, khuyên dùng)', caUdp: 'UDP', caAdd: 'Thêm camera',
    caFind: 'Tìm camera', caFinding: 'Đang tìm camera trong mạng nội bộ (khoảng {n} giây)…', caFoundNone: 'Không tìm thấy camera ONVIF nào trong mạng nội bộ. Camera ở mạng khác (VLAN, qua bộ định tuyến) không trả lời tìm kiếm: hãy nhập địa chỉ của nó.',
    caFound: 'Tìm thấy {n} camera. Chọn một camera để điền sẵn vào biểu mẫu, rồi nhập mật khẩu camera.',
    caPick: 'Chọn', caPicked: 'Đã điền địa chỉ {a}. Hãy nhập tên đăng nhập và mật khẩu của camera.', caAlready: 'Đã có trong danh sách',
    'cafe.id': 'Mã camera chưa đúng: chỉ chữ thường không dấu, chữ số, gạch ngang (tối đa 64 ký tự).', 'cafe.idTaken': 'Mã này đã được camera khác dùng; hãy chọn mã khác.',
    'cafe.name': 'Vui lòng nhập tên camera (tối đa 120 ký tự).', 'cafe.host': 'Vui lòng nhập địa chỉ IP hoặc tên máy của camera.',
    'cafe.port': 'Cổng phải là số từ 1 đến 65535 (thường là 80).', 'cafe.user': 'Tên đăng nhập tối đa 128 ký tự.',
    'cafe.password': 'Mật khẩu tối đa 256 ký tự.', 'cafe.url': 'Địa chỉ phải bắt đầu bằng rtsp:// hoặc rtsps://.',
    'cafe.source': 'Vui lòng nhập địa chỉ ONVIF hoặc địa chỉ RTSP của luồng chính.',
  },
  en: {
    'sec.camadmin': 'Camera admin', caTitle: 'Cameras', caNone: 'No cameras yet. Add one with the form below or press “Find cameras”.',
    caName: 'Camera', caSource: 'Connection', caState: 'State', caStreams: 'Streams', caRecord: 'Recording', caActions: 'Actions',
    'ph.starting': 'Starting', 'ph.onboarding': 'Connecting over ONVIF', 'ph.streaming': 'Working', 'ph.offline': 'Disconnected',
    'ph.unreachable': 'Unreachable', 'ph.auth_failed': 'Wrong camera account', 'ph.error': 'Error', 'ph.stopped': 'Stopped',
    'st.online': 'good', 'st.connecting': 'connecting', 'st.offline': 'no signal', 'st.auth_failed': 'wrong account', 'st.stopped': 'stopped',
    'stream.main': 'Main', 'stream.sub': 'Sub', caFps: '{n} fps', caKbps: '{n} kbit/s', caSince: 'since {t}',
    'rs.starting': 'Starting', 'rs.recording': 'Recording', 'rs.waiting': 'Waiting for the first picture', 'rs.off': 'Not recording',
    'rs.stopped': 'Stopped', 'rs.failed': 'Recording failed', 'rs.disk_full': 'Disk full: not recording',
    'rm.continuous': 'continuous', 'rm.motion': 'on motion', 'rm.off': 'off', caFromConfig: 'config.yaml',
    caRemove: 'Remove', caRemoveConfirm: 'Remove camera “{n}”? Live view and recording stop now; its footage is kept until retention removes it.',
    caRemoved: 'Camera “{n}” removed.', caAdded: 'Camera “{n}” added. Its connection state shows in the list within seconds.',
    caNew: 'Add a camera', caFName: 'Camera name', caFNameHint: 'E.g. District office main gate', caFId: 'Camera id',
    caHow: 'Connection', caHowOnvif: 'ONVIF (recommended: streams, snapshot and PTZ found by themselves)', caHowRtsp: 'RTSP address (cameras without ONVIF)',
    caHost: 'IP address or host name', caPort: 'ONVIF port', caUser: 'Camera user name', caPass: 'Camera password',
    caPassHint: 'Stored encrypted, never shown again.', caMain: 'Main stream (RTSP)', caSub: 'Sub stream (RTSP, optional)',
    caUrlHint: 'Like rtsp://user:password@192.168.1.64:554/path — the user and password are taken out and stored encrypted.',
    caTransport: 'Transport', caTcp: 'TCP (steady, recommended)', caUdp: 'UDP', caAdd: 'Add camera',
    caFind: 'Find cameras', caFinding: 'Looking for cameras on the local network (about {n} s)…', caFoundNone: 'No ONVIF camera answered on the local network. A camera on another network (VLAN, behind a router) does not answer the search: type its address.',
    caFound: '{n} cameras found. Pick one to fill in the form, then type the camera\'s password.',
    caPick: 'Pick', caPicked: 'Address {a} filled in. Type the camera\'s user name and password.', caAlready: 'Already in the list',
    'cafe.id': 'The id may only hold lower-case letters without accents, digits and hyphens (at most 64).', 'cafe.idTaken': 'Another camera has this id; choose another.',
    'cafe.name': 'Type the camera\'s name (at most 120 characters).', 'cafe.host': 'Type the camera\'s IP address or host name.',
    'cafe.port': 'The port is a number from 1 to 65535 (usually 80).', 'cafe.user': 'The user name is at most 128 characters.',
    'cafe.password': 'The password is at most 256 characters.', 'cafe.url': 'The address must start with rtsp:// or rtsps://.',
    'cafe.source': 'Type the ONVIF address or the main stream\'s RTSP address.',
  },
});

const POLL_MS = 5000;
const DISCOVER_S = 3;
let page = null;

export function stop() { page?.poll.stop(); page = null; }

export function mount(body) {
  stop();
  const p = { poll: null, cams: [] };
  page = p;
  const list = h('div', { id: 'camadmin-list' }, h('p', { class: 'loading' }, t('loading')));
  const { note, say } = pageNote('camadmin-note');
  const found = h('div', { id: 'camadmin-found' });
  const form = addForm(p, say, () => { found.replaceChildren(); return refresh(p, list, say); });
  body.replaceChildren(h('div', { class: 'admin-page' },
    h('div', { class: 'head-row' }, h('h2', {}, t('caTitle')), h('span', { class: 'spacer' }),
      h('button', { type: 'button', id: 'camadmin-find', onclick: (ev) => find(p, ev.currentTarget, found, form) }, t('caFind'))),
    note, found, list, form.el));
  p.poll = poller(() => refresh(p, list, say), POLL_MS);
}

async function refresh(p, list, say) {
  let data;
  try { data = await api('GET', '/api/v1/cameras'); } catch (err) {
    if (!err.handled && page === p) list.replaceChildren(h('p', { class: 'msg error section-error' }, errorNode(err)));
    return;
  }
  if (page !== p) return;
  p.cams = data.items;
  if (!data.items.length) { list.replaceChildren(h('p', { class: 'empty', id: 'camadmin-empty' }, t('caNone'))); return; }
  list.replaceChildren(listTable('camadmin-table', ['caName', 'caSource', 'caState', 'caStreams', 'caRecord', 'caActions'],
    data.items.map((c) => camRow(c, say, () => refresh(p, list, say)))));
}

/** The camera's state in words, and why when it is not working (its error code's catalogue text). */
function stateCell(c) {
  const st = c.status;
  if (!st) return h('span', { class: 'badge' }, t('ph.stopped'));
  const ok = st.phase === 'streaming';
  const why = st.last_error_code ? tOr(`err.${st.last_error_code}`, t('err.camera_error')) : '';
  return [h('span', { class: `badge cam-phase ${ok ? 'open' : 'locked'}`, 'data-phase': st.phase }, tOr(`ph.${st.phase}`, st.phase)),
    !ok && why ? h('div', { class: 'small cam-why', 'data-code': st.last_error_code }, why) : null,
    !ok && st.offline_since ? h('div', { class: 'muted small' }, t('caSince', { t: fmtDateTime(new Date(st.offline_since * 1000).toISOString()) })) : null];
}

function streamsCell(c) {
  const streams = Object.entries(c.status?.streams || {});
  if (!streams.length) return '—';
  return streams.map(([name, s]) => h('div', { class: 'small nowrap', 'data-stream': name, 'data-state': s.state },
    h('b', {}, tOr(`stream.${name}`, name)), ': ', tOr(`st.${s.state}`, s.state),
    s.state === 'online' ? [' · ', t('caFps', { n: num(s.fps, 1) }), ' · ', t('caKbps', { n: num(s.bitrate_kbps) })] : null));
}

function recordCell(c) {
  const rec = c.status?.recording;
  return [c.record_mode ? h('div', { class: 'small' }, t('recordMode', { m: tOr(`rm.${c.record_mode}`, c.record_mode) })) : null,
    rec ? h('span', { class: `badge rec-state ${rec.state === 'recording' ? 'open' : ''}`, 'data-rec': rec.state }, tOr(`rs.${rec.state}`, rec.state)) : null];
}

function camRow(c, say, reload) {
  const fromConfig = c.source === 'config';
  const where = c.onvif_host ? `ONVIF ${c.onvif_host}` : c.main_url || c.source;
  return h('tr', { 'data-camera-id': c.id, 'data-phase': c.status?.phase || '' },
    h('td', {}, h('b', {}, c.name), h('div', { class: 'muted small' }, c.id)),
    h('td', { class: 'ca-where' }, h('span', { class: 'small' }, where),
      fromConfig ? h('div', {}, h('span', { class: 'badge', title: t('mgConfigHint') }, t('mgConfig'))) : null),
    h('td', {}, stateCell(c)), h('td', {}, streamsCell(c)), h('td', {}, recordCell(c)),
    h('td', { class: 'row-actions' }, fromConfig ? h('span', { class: 'muted small' }, t('mgConfigHint'))
      : h('button', { type: 'button', class: 'danger cam-remove', onclick: async (ev) => {
        if (!window.confirm(t('caRemoveConfirm', { n: c.name }))) return;
        ev.currentTarget.disabled = true;
        try { await api('DELETE', `/api/v1/cameras/${encodeURIComponent(c.id)}`); say(true, t('caRemoved', { n: c.name })); } catch (err) {
          if (!err.handled) say(false, err);
        }
        await reload();
      } }, t('caRemove'))));
}

function input(id, extra = {}) {
  return h('input', { id, name: id, type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', ...extra });
}

function addForm(p, say, reload) {
  const f = fieldForm();
  const name = input('ca-name', { maxlength: 120, autocapitalize: 'sentences', placeholder: t('caFNameHint') });
  const id = input('ca-id', { maxlength: 64 });
  let idTouched = false;
  name.addEventListener('input', () => { if (!idTouched) id.value = slug(name.value); });
  id.addEventListener('input', () => { idTouched = id.value !== ''; });
  const how = (v, label, checked) => h('label', { class: 'scope-choice' },
    h('input', { type: 'radio', name: 'ca-how', value: v, checked, onchange: () => paint() }), ' ', label);
  const host = input('ca-host', { maxlength: 255, placeholder: '192.168.1.64' });
  const port = input('ca-port', { inputmode: 'numeric', value: '80', size: 6, maxlength: 5 });
  const user = input('ca-user', { maxlength: 128, value: 'admin' });
  const pass = input('ca-pass', { type: 'password', maxlength: 256, autocomplete: 'new-password' });
  const main = input('ca-main', { maxlength: 2000, placeholder: 'rtsp://192.168.1.64:554/Streaming/Channels/101', inputmode: 'url' });
  const sub = input('ca-sub', { maxlength: 2000, placeholder: 'rtsp://192.168.1.64:554/Streaming/Channels/102', inputmode: 'url' });
  const transport = h('select', { id: 'ca-transport' }, h('option', { value: 'tcp' }, t('caTcp')), h('option', { value: 'udp' }, t('caUdp')));
  const onvifBox = h('div', { class: 'ca-onvif' }, f.field('onvif.host', t('caHost'), host), f.field('onvif.port', t('caPort'), port),
    f.field('onvif.username', t('caUser'), user), f.field('onvif.password', t('caPass'), pass, t('caPassHint')));
  const rtspBox = h('div', { class: 'ca-rtsp', hidden: true }, f.field('streams.main_url', t('caMain'), main, t('caUrlHint')),
    f.field('streams.sub_url', t('caSub'), sub), f.field('streams.transport', t('caTransport'), transport));
  const submit = h('button', { type: 'submit', class: 'primary', id: 'ca-add' }, t('caAdd'));
  const mode = () => el.querySelector('input[name=ca-how]:checked').value;
  const paint = () => { onvifBox.hidden = mode() !== 'onvif'; rtspBox.hidden = mode() !== 'rtsp'; };
  // What to say under each field when the server refuses it (the API's field names, e.g. "onvif.port").
  const words = { id: t('cafe.id'), name: t('cafe.name'), 'onvif.host': t('cafe.host'), 'onvif.port': t('cafe.port'),
    'onvif.username': t('cafe.user'), 'onvif.password': t('cafe.password'), 'streams.main_url': t('cafe.url'),
    'streams.sub_url': t('cafe.url'), onvif: t('cafe.source'), conflict: t('cafe.idTaken') };
  const el = h('form', { id: 'camera-form', class: 'card admin-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    f.clear();
    const onvif = mode() === 'onvif';
    const camId = id.value.trim();
    const portN = Number(port.value.trim());
    // Checked here first so the reader hears of every rule in their words before a round trip.
    if (!name.value.trim()) return f.show('name', t('cafe.name'));
    if (!IDENT_RE.test(camId)) return f.show('id', t('cafe.id'));
    if (onvif && !host.value.trim()) return f.show('onvif.host', t('cafe.host'));
    if (onvif && !(Number.isInteger(portN) && portN >= 1 && portN <= 65535)) return f.show('onvif.port', t('cafe.port'));
    if (!onvif && !main.value.trim()) return f.show('streams.main_url', t('cafe.source'));
    const body = { id: camId, name: name.value.trim() };
    if (onvif) body.onvif = { host: host.value.trim(), port: portN, username: user.value.trim(), password: pass.value };
    else body.streams = { main_url: main.value.trim(), sub_url: sub.value.trim() || null, transport: transport.value };
    submit.disabled = true;
    try {
      const made = await api('POST', '/api/v1/cameras', body);
      el.reset();
      idTouched = false;
      paint();
      say(true, t('caAdded', { n: made.name }));
      await reload();
    } catch (err) {
      if (!err.handled) f.fromApi(err, words, { conflict: 'id' });
    } finally { submit.disabled = false; }
  } },
  h('h3', {}, t('caNew')),
  f.field('name', t('caFName'), name), f.field('id', t('caFId'), id, t('mgIdHint')),
  h('fieldset', { class: 'ca-how' }, h('legend', {}, t('caHow')), how('onvif', t('caHowOnvif'), true), how('rtsp', t('caHowRtsp'), false)),
  onvifBox, rtspBox, f.general, submit);
  return {
    el,
    /** Fill the ONVIF fields from a discovered camera. */
    pick(d) {
      el.querySelector('input[name=ca-how][value=onvif]').checked = true;
      paint();
      host.value = d.host || '';
      port.value = String(d.port || 80);
      if (!name.value.trim() && d.name) { name.value = d.name; if (!idTouched) id.value = slug(d.name); }
      f.clear();
      pass.focus();
    },
  };
}

/** Probe the LAN (WS-Discovery) and list what answered, each with a button that fills the form. */
async function find(p, btn, box, form) {
  btn.disabled = true;
  box.replaceChildren(h('p', { class: 'msg info', role: 'status' }, t('caFinding', { n: num(DISCOVER_S) })));
  try {
    const got = await api('POST', `/api/v1/cameras/discover?timeout_s=${DISCOVER_S}`);
    if (page !== p) return;
    if (!got.items.length) { box.replaceChildren(h('p', { class: 'msg info', id: 'camadmin-found-none' }, t('caFoundNone'))); return; }
    const known = new Set(p.cams.map((c) => c.onvif_host).filter(Boolean));
    box.replaceChildren(h('div', { class: 'card ca-found' }, h('p', {}, t('caFound', { n: num(got.items.length) })),
      h('ul', { class: 'ca-found-list' }, got.items.map((d) => {
        const addr = d.host ? `${d.host}:${d.port || 80}` : d.xaddrs[0] || '';
        return h('li', { 'data-host': d.host || '', 'data-port': d.port || '' },
          h('span', { class: 'ca-found-what' }, h('b', {}, d.name || '—'), d.hardware ? ` · ${d.hardware}` : '', ' · ', h('code', {}, addr)),
          known.has(d.host) ? h('span', { class: 'badge' }, t('caAlready')) : null,
          h('button', { type: 'button', class: 'ca-pick', disabled: !d.host, onclick: () => {
            form.pick(d);
            box.replaceChildren(h('p', { class: 'msg info', id: 'camadmin-picked' }, t('caPicked', { a: addr })));
          } }, t('caPick')));
      }))));
  } catch (err) {
    if (!err.handled) box.replaceChildren(h('p', { class: 'msg error' }, errorNode(err)));
  } finally { btn.disabled = false; }
}
