// "Máy chủ" (admin): the nodes sharing the index, one tile each — alive or not, how loaded (bars for cameras against
// capacity and CPU), which cameras it records and which meeting rooms run on it. Refreshed every few seconds
// from GET /api/v1/nodes (the heartbeats in the shared index). One node without a cluster shows as one tile.
import { addStrings, t, h, api, errorNode, poller, relative, siteName } from './core.js';
import { num, pct } from './i18n.js';

const REFRESH_MS = 5000;

addStrings({
  vi: {
    'sec.nodes': 'Máy chủ', nodTitle: 'Máy chủ', nodIntro: 'Các máy chủ dùng chung một cơ sở dữ liệu chỉ mục. Mỗi camera do một máy ghi hình; mỗi phòng họp chạy trên một máy.',
    nodSummary: '{n} máy chủ đang hoạt động', nodSummaryDead: '{n} máy chủ đang hoạt động, {d} mất kết nối',
    nodAlive: 'Đang hoạt động', nodDead: 'Mất kết nối', nodSelf: 'Máy đang mở trang này',
    nodCameras: 'Camera đang ghi', nodCamerasOf: '{n}/{c} camera', nodCpu: 'Mức dùng CPU', nodRooms: 'Phòng họp', nodSites: '{n} điểm cầu đang kết nối',
    nodNoCameras: 'Không ghi camera nào', nodNoRooms: 'Không có phòng họp nào', nodBeat: 'Tín hiệu gần nhất {t}', nodStarted: 'Khởi động {t}',
    nodNone: 'Chưa có máy chủ nào đăng ký.', nodSingle: 'Hệ thống chạy trên một máy chủ (chưa cấu hình cụm nhiều máy).',
  },
  en: {
    'sec.nodes': 'Servers', nodTitle: 'Servers', nodIntro: 'The servers sharing one index database. Each camera is recorded by one server; each meeting room runs on one server.',
    nodSummary: '{n} servers running', nodSummaryDead: '{n} servers running, {d} not responding',
    nodAlive: 'Running', nodDead: 'Not responding', nodSelf: 'The server this page comes from',
    nodCameras: 'Cameras recording', nodCamerasOf: '{n}/{c} cameras', nodCpu: 'CPU use', nodRooms: 'Meeting rooms', nodSites: '{n} sites connected',
    nodNoCameras: 'Records no camera', nodNoRooms: 'No meeting room', nodBeat: 'Last heartbeat {t}', nodStarted: 'Started {t}',
    nodNone: 'No server has registered yet.', nodSingle: 'The system runs on one server (no cluster is configured).',
  },
});

let gen = 0;
let refresh = null;

/** A labelled load bar: share 0..1, drawn and read out (aria). */
function bar(label, share, text) {
  const clamped = Math.max(0, Math.min(1, Number(share) || 0));
  const level = clamped >= 0.9 ? 'high' : clamped >= 0.7 ? 'mid' : 'low';
  return h('div', { class: 'node-load' },
    h('div', { class: 'node-load-head' }, h('span', {}, label), h('span', { class: 'node-load-value' }, text)),
    h('div', { class: `node-bar ${level}`, role: 'meter', 'aria-label': label, 'aria-valuemin': '0', 'aria-valuemax': '100',
      'aria-valuenow': String(Math.round(clamped * 100)), 'aria-valuetext': text },
    h('span', { style: `width: ${(clamped * 100).toFixed(1)}%` })));
}

function chips(items, emptyKey, cls) {
  if (!items.length) return h('p', { class: 'muted small' }, t(emptyKey));
  return h('ul', { class: `node-chips ${cls}` }, items.map((name) => h('li', {}, name)));
}

function tile(node, names) {
  const load = node.load || {};
  const cameras = node.cameras || [];
  const rooms = node.rooms || [];
  const cpus = Math.max(1, Number(load.cpus) || 1);
  const cpu = Number(load.cpu_pct) || 0; // % of one core
  const capacity = Number(node.capacity) || 0;
  return h('article', { class: `card node-tile ${node.alive ? 'alive' : 'dead'}`, 'data-node': node.id },
    h('header', { class: 'node-head' },
      h('span', { class: 'node-dot', 'aria-hidden': 'true' }),
      h('h3', {}, node.id),
      h('span', { class: `badge ${node.alive ? 'open' : 'node-dead'}` }, t(node.alive ? 'nodAlive' : 'nodDead'))),
    node.is_self ? h('p', { class: 'node-self small' }, t('nodSelf')) : null,
    h('p', { class: 'muted small node-address' }, node.address),
    bar(t('nodCameras'), capacity ? cameras.length / capacity : 0, t('nodCamerasOf', { n: num(cameras.length), c: num(capacity) })),
    bar(t('nodCpu'), cpu / (100 * cpus), pct(cpu / cpus)),
    chips(cameras.map((id) => names.cameras[id] || id), 'nodNoCameras', 'cams'),
    h('p', { class: 'node-rooms-head small' }, `${t('nodRooms')} · ${t('nodSites', { n: num(load.sites || 0) })}`),
    chips(rooms.map((id) => names.rooms[id] || id), 'nodNoRooms', 'rooms'),
    h('p', { class: 'muted small' }, node.heartbeat_at ? t('nodBeat', { t: relative(node.heartbeat_at) }) : ''));
}

async function names() {
  const out = { cameras: {}, rooms: {} };
  const [cams, rooms] = await Promise.all([
    api('GET', '/api/v1/cameras').catch(() => ({ items: [] })),
    api('GET', '/api/v1/rooms').catch(() => ({ items: [] })),
  ]);
  for (const c of cams.items || []) out.cameras[c.id] = c.name || c.id;
  for (const r of rooms.items || []) out.rooms[r.id] = siteName(r) || r.id;
  return out;
}

export function mount(body) {
  const g = ++gen;
  const summary = h('p', { id: 'nodes-summary', class: 'node-summary' });
  const grid = h('div', { id: 'nodes-grid', class: 'nodes-grid' });
  const msg = h('div', { id: 'nodes-msg' });
  body.replaceChildren(h('section', { class: 'nodes-page' },
    h('h2', {}, t('nodTitle')), h('p', { class: 'muted' }, t('nodIntro')), summary, msg, grid));
  let labels = { cameras: {}, rooms: {} };
  const load = async () => {
    try {
      const [data, fresh] = await Promise.all([api('GET', '/api/v1/nodes'), names()]);
      if (g !== gen) return;
      labels = fresh;
      const items = data.items || [];
      const dead = items.filter((n) => !n.alive).length;
      summary.textContent = !items.length ? (data.clustered ? t('nodNone') : '')
        : dead ? t('nodSummaryDead', { n: num(items.length - dead), d: num(dead) }) : t('nodSummary', { n: num(items.length) });
      msg.replaceChildren(data.clustered ? '' : h('p', { class: 'muted small' }, t('nodSingle')));
      grid.replaceChildren(...items.map((n) => tile(n, labels)));
    } catch (err) {
      if (g === gen && !err.handled) msg.replaceChildren(errorNode(err));
    }
  };
  refresh?.stop();
  refresh = poller(load, REFRESH_MS);
}

export function stop() {
  gen += 1;
  refresh?.stop();
  refresh = null;
}
