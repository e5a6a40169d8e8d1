// "Máy chủ" (admin, operator): the nodes sharing the index, one tile each — alive or not, how loaded (counts, bars for
// cameras against capacity and CPU), which cameras it records (a dot per camera: working or not) and which meeting
// rooms run on it. A lost node comes first, with when it was last heard of. Refreshed every few seconds from
// GET /api/v1/nodes (the heartbeats in the shared index). One node without a cluster shows no tile.
import { addStrings, t, tOr, h, api, errorNode, poller, relative, siteName } from './core.js';
import { dateTime, num, pct } from './i18n.js';

const REFRESH_MS = 5000;

addStrings({
  vi: {
    'sec.nodes': 'Máy chủ', nodTitle: 'Máy chủ', nodIntro: 'Các máy chủ dùng chung một cơ sở dữ liệu chỉ mục. Mỗi camera do một máy ghi hình; mỗi phòng họp chạy trên một máy.',
    nodSummary: 'Máy chủ đang hoạt động: {n}', nodSummaryDead: 'Máy chủ đang hoạt động: {n} · mất kết nối: {d}',
    nodTotals: 'Camera đang ghi: {c} · phòng họp: {r} · điểm cầu đang kết nối: {s}',
    nodAlive: 'Đang hoạt động', nodDead: 'Mất kết nối', nodSelf: 'Máy đang mở trang này',
    nodStatCameras: 'camera', nodStatRooms: 'phòng họp', nodStatSites: 'điểm cầu',
    nodCameras: 'Camera đang ghi', nodCamerasOf: '{n}/{c} camera', nodCpu: 'Mức dùng CPU ({n} lõi)', nodRooms: 'Phòng họp',
    nodNoCameras: 'Không ghi camera nào', nodNoRooms: 'Không có phòng họp nào', nodBeat: 'Tín hiệu gần nhất {t}',
    nodLostSince: 'Mất tín hiệu từ {t} ({ago}). Các số liệu là của lần báo cuối cùng.', nodNoRoomsNow: 'Không còn phòng họp nào chạy trên máy này.',
    nodMoved: 'Các camera của máy này đã chuyển sang máy khác.', nodStarted: 'Khởi động lúc {t}',
    nodCamOk: 'đang hoạt động', nodCamDown: 'không hoạt động',
    nodNone: 'Chưa có máy chủ nào đăng ký.', nodSingle: 'Hệ thống chạy trên một máy chủ (chưa cấu hình cụm nhiều máy).',
  },
  en: {
    'sec.nodes': 'Servers', nodTitle: 'Servers', nodIntro: 'The servers sharing one index database. Each camera is recorded by one server; each meeting room runs on one server.',
    nodSummary: 'Servers running: {n}', nodSummaryDead: 'Servers running: {n} · not responding: {d}',
    nodTotals: 'Cameras recording: {c} · meeting rooms: {r} · sites connected: {s}',
    nodAlive: 'Running', nodDead: 'Not responding', nodSelf: 'The server this page comes from',
    nodStatCameras: 'cameras', nodStatRooms: 'meeting rooms', nodStatSites: 'sites',
    nodCameras: 'Cameras recording', nodCamerasOf: '{n}/{c} cameras', nodCpu: 'CPU use ({n} cores)', nodRooms: 'Meeting rooms',
    nodNoCameras: 'Records no camera', nodNoRooms: 'No meeting room', nodBeat: 'Last heartbeat {t}',
    nodLostSince: 'No heartbeat since {t} ({ago}). The figures are from its last report.', nodNoRoomsNow: 'No meeting room runs on it any more.',
    nodMoved: "This server's cameras have moved to the other servers.", nodStarted: 'Started {t}',
    nodCamOk: 'working', nodCamDown: 'not working',
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

/** One big figure with its unit under it (seen at a glance, read by a screen reader as "2 camera"). */
const stat = (n, key, cls) => h('div', { class: `node-stat ${cls}` }, h('b', {}, num(n)), h('span', {}, t(key)));

function chips(items, emptyKey, cls) {
  if (!items.length) return h('p', { class: 'muted small node-empty' }, t(emptyKey));
  return h('ul', { class: `node-chips ${cls}` }, items);
}

/** A camera's chip: its name and a dot, green while it streams, red when it does not (the phase in words on hover). */
function cameraChip(id, cam) {
  const phase = cam?.status?.phase || '';
  const ok = phase === 'streaming';
  const words = phase ? tOr(`ph.${phase}`, t(ok ? 'nodCamOk' : 'nodCamDown')) : '';
  return h('li', { 'data-camera': id, 'data-phase': phase, class: phase ? (ok ? 'ok' : 'down') : '', title: words },
    h('span', { class: 'node-cam-dot', 'aria-hidden': 'true' }), cam?.name || id,
    words ? h('span', { class: 'node-sr' }, ` (${words})`) : null);
}

function tile(node, names) {
  const load = node.load || {};
  const cameras = node.cameras || [];
  const rooms = node.rooms || [];
  const cpus = Math.max(1, Number(load.cpus) || 1);
  const cpu = Number(load.cpu_pct) || 0; // % of one core
  const capacity = Number(node.capacity) || 0;
  // A lost node's leases lapse within the TTL: then its last report's counts say what it ran, not its leases.
  const camCount = node.alive ? cameras.length : Number(load.cameras) || cameras.length;
  const roomCount = node.alive ? rooms.length : Number(load.rooms) || rooms.length;
  return h('article', { class: `card node-tile ${node.alive ? 'alive' : 'dead'}`, 'data-node': node.id },
    h('header', { class: 'node-head' },
      h('span', { class: 'node-dot', 'aria-hidden': 'true' }),
      h('h3', {}, node.id),
      h('span', { class: `badge ${node.alive ? 'open' : 'node-dead'}` }, t(node.alive ? 'nodAlive' : 'nodDead'))),
    node.is_self ? h('p', { class: 'node-self small' }, t('nodSelf')) : null,
    h('p', { class: 'muted small node-address' }, node.address),
    node.alive ? null : h('p', { class: 'node-lost small' }, t('nodLostSince', {
      t: node.heartbeat_at ? dateTime(node.heartbeat_at) : '—', ago: node.heartbeat_at ? relative(node.heartbeat_at) : '—' })),
    h('div', { class: 'node-stats' },
      stat(camCount, 'nodStatCameras', 'cams'), stat(roomCount, 'nodStatRooms', 'rooms'),
      stat(Number(load.sites) || 0, 'nodStatSites', 'sites')),
    bar(t('nodCameras'), capacity ? camCount / capacity : 0, t('nodCamerasOf', { n: num(camCount), c: num(capacity) })),
    bar(t('nodCpu', { n: num(cpus) }), cpu / (100 * cpus), pct(cpu / cpus)),
    !node.alive && !cameras.length ? h('p', { class: 'muted small node-empty' }, t('nodMoved'))
      : chips(cameras.map((id) => cameraChip(id, names.cameras[id])), 'nodNoCameras', 'cams'),
    h('p', { class: 'node-rooms-head small' }, t('nodRooms')),
    chips(rooms.map((id) => h('li', { 'data-room': id }, names.rooms[id] || id)), node.alive ? 'nodNoRooms' : 'nodNoRoomsNow', 'rooms'),
    h('p', { class: 'muted small node-times' },
      node.alive && node.heartbeat_at ? `${t('nodBeat', { t: relative(node.heartbeat_at) })} · ` : '',
      node.started_at ? t('nodStarted', { t: dateTime(node.started_at) }) : ''));
}

async function names() {
  const out = { cameras: {}, rooms: {} };
  const [cams, rooms] = await Promise.all([
    api('GET', '/api/v1/cameras').catch(() => ({ items: [] })),
    api('GET', '/api/v1/rooms').catch(() => ({ items: [] })),
  ]);
  for (const c of cams.items || []) out.cameras[c.id] = c;
  for (const r of rooms.items || []) out.rooms[r.id] = siteName(r) || r.id;
  return out;
}

export function mount(body) {
  const g = ++gen;
  const summary = h('p', { id: 'nodes-summary', class: 'node-summary' });
  const totals = h('p', { id: 'nodes-totals', class: 'muted small' });
  const grid = h('div', { id: 'nodes-grid', class: 'nodes-grid' });
  const msg = h('div', { id: 'nodes-msg' });
  body.replaceChildren(h('section', { class: 'nodes-page' },
    h('h2', {}, t('nodTitle')), h('p', { class: 'muted' }, t('nodIntro')), summary, totals, msg, grid));
  const load = async () => {
    try {
      const [data, labels] = await Promise.all([api('GET', '/api/v1/nodes'), names()]);
      if (g !== gen) return;
      // Lost nodes first: what needs the officer's attention is at the top.
      const items = [...(data.items || [])].sort((x, y) => Number(x.alive) - Number(y.alive) || x.id.localeCompare(y.id));
      const live = items.filter((n) => n.alive);
      const dead = items.length - live.length;
      summary.textContent = !items.length ? (data.clustered ? t('nodNone') : '')
        : dead ? t('nodSummaryDead', { n: num(live.length), d: num(dead) }) : t('nodSummary', { n: num(items.length) });
      const sum = (f) => num(live.reduce((acc, n) => acc + f(n), 0));
      totals.textContent = live.length ? t('nodTotals', {
        c: sum((n) => (n.cameras || []).length), r: sum((n) => (n.rooms || []).length), s: sum((n) => Number(n.load?.sites) || 0) }) : '';
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
