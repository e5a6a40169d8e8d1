// "Giám sát điểm cầu": every running room's sites live, from GET /api/v1/rooms/{room}/live every 2 s — round-trip
// time, loss, bitrate both ways, frame rate, resolution, warnings, and a sparkline of the last minutes' bitrate.
// A site whose media stopped (media == "lost") turns red at the next poll. Route: #/monitor[?room=ID].
import { addStrings, t, h, api, errorText, hashParams, fmt, num, pct, siteName, poller } from './core.js';
import { loadRefs, roomName } from './meeting-info.js';
import { roomVoteBox } from './votes.js';

addStrings({
  vi: {
    'sec.monitor': 'Giám sát', monTitle: 'Giám sát điểm cầu', monNone: 'Hiện không có cuộc họp nào đang diễn ra.',
    monNoneHint: 'Khi một điểm cầu vào phòng họp, chất lượng kết nối của từng điểm cầu hiện ở đây (cập nhật 2 giây một lần).',
    monIdle: 'Không có cuộc họp: {rooms}', monConnected: '{n}/{total} điểm cầu đang kết nối', monSpeaker: 'Đang phát biểu: {s}',
    monLobby: '{n} điểm cầu đang chờ vào', monProblems: '{n} điểm cầu có cảnh báo', monAllGood: 'Tất cả kết nối tốt',
    monRtt: 'Độ trễ (RTT)', monLoss: 'Mất gói', monUp: 'Tải lên', monDown: 'Tải xuống', monFps: 'Khung hình', monRes: 'Độ phân giải',
    monUpHint: 'Điểm cầu gửi lên máy chủ', monDownHint: 'Máy chủ gửi về điểm cầu', monFpsUnit: '{n} hình/giây',
    monSpark: 'Băng thông {n} phút qua', monOffline: 'Không kết nối', monHost: 'Chủ tọa', monHand: '✋ Xin phát biểu',
    monMuted: 'Đã tắt micro', monSpeaking: 'Đang nói', monUpdated: 'Cập nhật lúc {t}', monFailed: 'Không lấy được số liệu: {m}',
    monMeeting: 'Cuộc họp: {t}',
    monLayer: 'Hình nhận', monLayerHint: 'Lớp hình máy chủ gửi về điểm cầu: HD, hoặc hình nhỏ khi đường truyền của điểm cầu không đủ',
    monEst: 'Ước tính', monEstHint: 'Băng thông đường xuống do trình duyệt của điểm cầu ước tính (REMB)',
    'layer.high': 'HD', 'layer.low': 'Hình nhỏ', 'lr.ok': '', 'lr.probe': 'đang thử lại HD', 'lr.loss': 'mất gói',
    'lr.bandwidth': 'thiếu băng thông',
    'w.media_lost': 'Mất kết nối', 'w.high_loss': 'Mất gói cao', 'w.high_rtt': 'Trễ cao', 'w.low_fps': 'Khung hình thấp',
    'w.low_bitrate': 'Băng thông thấp',
  },
  en: {
    'sec.monitor': 'Monitoring', monTitle: 'Site monitoring', monNone: 'No meeting is running now.',
    monNoneHint: 'When a site joins a room, each site’s connection quality shows here (updated every 2 seconds).',
    monIdle: 'No meeting: {rooms}', monConnected: '{n}/{total} sites connected', monSpeaker: 'Speaking: {s}',
    monLobby: '{n} sites waiting in the lobby', monProblems: '{n} sites with warnings', monAllGood: 'All connections good',
    monRtt: 'Round trip (RTT)', monLoss: 'Packet loss', monUp: 'Upload', monDown: 'Download', monFps: 'Frame rate', monRes: 'Resolution',
    monUpHint: 'From the site to the server', monDownHint: 'From the server to the site', monFpsUnit: '{n} fps',
    monSpark: 'Bitrate, last {n} min', monOffline: 'Not connected', monHost: 'Chair', monHand: '✋ Asks to speak',
    monMuted: 'Muted', monSpeaking: 'Speaking', monUpdated: 'Updated at {t}', monFailed: 'Cannot get the figures: {m}',
    monMeeting: 'Meeting: {t}',
    monLayer: 'Receives', monLayerHint: 'The picture layer the server sends this site: HD, or thumbnails when its link cannot carry HD',
    monEst: 'Estimate', monEstHint: 'The site’s browser’s estimate of its downlink (REMB)',
    'layer.high': 'HD', 'layer.low': 'Thumbnails', 'lr.ok': '', 'lr.probe': 'trying HD again', 'lr.loss': 'packet loss',
    'lr.bandwidth': 'not enough bandwidth',
    'w.media_lost': 'Connection lost', 'w.high_loss': 'High packet loss', 'w.high_rtt': 'High delay', 'w.low_fps': 'Low frame rate',
    'w.low_bitrate': 'Low bandwidth',
  },
});

export const POLL_MS = 2000;
const HISTORY_S = 5 * 60;
const WARNINGS = ['media_lost', 'high_loss', 'high_rtt', 'low_fps', 'low_bitrate'];

let page = null;

export function stop() {
  page?.poll?.stop();
  page = null;
}

/** "850 kbit/s", "1,2 Mbit/s" (vi-VN decimals). */
export function bitrate(kbps) {
  if (kbps == null || !Number.isFinite(kbps)) return '—';
  return kbps >= 1000 ? `${num(kbps / 1000, 1)} Mbit/s` : `${num(kbps, 0)} kbit/s`;
}

export async function mount(body) {
  stop();
  const p = { poll: null, history: new Map(), rooms: new Map() };
  page = p;
  body.replaceChildren(h('p', { class: 'loading' }, t('loading')));
  let refs;
  try {
    refs = await loadRefs();
  } catch (err) {
    if (!err.handled && page === p) body.replaceChildren(h('p', { class: 'msg error section-error' }, errorText(err)));
    return;
  }
  if (page !== p) return;
  const focus = hashParams().get('room');
  const updated = h('span', { id: 'mon-updated', class: 'muted small' });
  const error = h('p', { id: 'mon-error', class: 'msg error', hidden: true });
  const list = h('div', { id: 'mon-rooms', class: 'mon-rooms' });
  const empty = h('div', { id: 'mon-empty', class: 'empty-state', hidden: true }, h('h2', {}, t('monNone')), h('p', {}, t('monNoneHint')));
  const idle = h('p', { id: 'mon-idle', class: 'muted small', hidden: true });
  body.replaceChildren(h('div', { class: 'mon-bar' }, h('h2', {}, t('monTitle')), updated), error, list, empty, idle);
  const rooms = [...refs.rooms].sort((a, b) => (b.id === focus) - (a.id === focus));
  p.poll = poller(async () => {
    const got = await Promise.all(rooms.map((r) => api('GET', `/api/v1/rooms/${encodeURIComponent(r.id)}/live`)
      .then((live) => ({ room: r, live }), (err) => ({ room: r, err }))));
    if (page !== p) return;
    const now = Date.now() / 1000;
    const failed = got.find((g) => g.err && !g.err.handled);
    error.textContent = failed ? t('monFailed', { m: errorText(failed.err) }) : '';
    error.hidden = !failed;
    const running = got.filter((g) => g.live?.running);
    for (const g of running) record(p, g.room.id, g.live, now);
    const seen = new Set();
    running.forEach((g, i) => {
      seen.add(g.room.id);
      let card = p.rooms.get(g.room.id);
      if (!card) {
        card = roomCard(g.room);
        card.vote = roomVoteBox(g.room.id, refs);  // biểu quyết (votes.js)
        card.el.append(card.vote.el);
        p.rooms.set(g.room.id, card);
      }
      card.vote.refresh();
      paintRoom(p, card, g.room, g.live, refs);
      if (list.children[i] !== card.el) list.insertBefore(card.el, list.children[i] || null);
    });
    for (const [id, card] of p.rooms) if (!seen.has(id)) { card.el.remove(); p.rooms.delete(id); }
    empty.hidden = running.length > 0;
    const notRunning = got.filter((g) => g.live && !g.live.running).map((g) => roomName(refs, g.room.id));
    idle.textContent = notRunning.length && running.length ? t('monIdle', { rooms: notRunning.join(', ') }) : '';
    idle.hidden = !idle.textContent;
    updated.textContent = t('monUpdated', { t: fmt(new Date().toISOString(), { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }) });
  }, POLL_MS);
}

/** Keep each connected site's bitrate samples of the last HISTORY_S seconds. */
function record(p, roomId, live, now) {
  for (const s of live.sites) {
    const key = `${roomId}/${s.site}`;
    const hist = p.history.get(key) || [];
    if (s.connected) hist.push({ t: now, up: s.bitrate_in_kbps ?? 0, down: s.bitrate_out_kbps ?? 0, lost: s.media === 'lost' });
    while (hist.length && hist[0].t < now - HISTORY_S) hist.shift();
    p.history.set(key, hist);
  }
}

function roomCard(room) {
  const el = h('section', { class: 'mon-room card', 'data-room-id': room.id },
    h('header', { class: 'mon-room-head' }, h('h3', {}, room.name), h('span', { class: 'mon-room-facts' })),
    h('div', { class: 'mon-grid' }));
  return { el, tiles: new Map() };
}

function paintRoom(p, card, room, live, refs) {
  const visible = live.sites.filter((s) => s.connected || s.invited || s.host);
  const connected = visible.filter((s) => s.connected);
  const problems = connected.filter((s) => (s.warnings || []).length);
  const speaker = live.sites.find((s) => s.site === (live.floor?.speaking || live.speaker));
  const chip = (cls, text) => h('span', { class: `badge ${cls}` }, text);
  card.el.querySelector('.mon-room-facts').replaceChildren(...[
    live.meeting?.title && chip('mon-meeting', t('monMeeting', { t: live.meeting.title })),
    live.mode && chip('mon-mode', t(`mode.${live.mode}`)),
    chip('mon-count', t('monConnected', { n: num(connected.length), total: num(visible.length) })),
    problems.length ? chip('mon-problems', t('monProblems', { n: num(problems.length) })) : chip('mon-good', t('monAllGood')),
    speaker && chip('mon-speaker', t('monSpeaker', { s: siteName({ name: speaker.name, name_en: speaker.name_en }) })),
    live.lobby?.length ? chip('mon-lobby', t('monLobby', { n: num(live.lobby.length) })) : null,
  ].filter(Boolean));
  const grid = card.el.querySelector('.mon-grid');
  const order = [...visible].sort((a, b) => (b.host - a.host) || (b.connected - a.connected));
  const seen = new Set();
  order.forEach((s, i) => {
    seen.add(s.site);
    let tile = card.tiles.get(s.site);
    if (!tile) { tile = siteTile(s); card.tiles.set(s.site, tile); }
    paintTile(tile, s, p.history.get(`${room.id}/${s.site}`) || []);
    if (grid.children[i] !== tile) grid.insertBefore(tile, grid.children[i] || null);
  });
  for (const [id, tile] of card.tiles) if (!seen.has(id)) { tile.remove(); card.tiles.delete(id); }
}

function siteTile(s) {
  const stat = (key, label, hint) => h('div', { class: `mon-stat mon-${key}`, title: hint || label }, h('dt', {}, label), h('dd', {}));
  return h('article', { class: 'mon-tile', 'data-site-id': s.site },
    h('div', { class: 'mon-top' }, h('span', { class: 'mon-dot' }), h('strong', { class: 'mon-name' }), h('span', { class: 'mon-flags' })),
    h('div', { class: 'mon-warn' }),
    h('dl', { class: 'mon-stats' }, stat('rtt', t('monRtt')), stat('loss', t('monLoss')), stat('up', t('monUp'), t('monUpHint')),
      stat('down', t('monDown'), t('monDownHint')), stat('fps', t('monFps')), stat('res', t('monRes')),
      stat('layer', t('monLayer'), t('monLayerHint')), stat('est', t('monEst'), t('monEstHint'))),
    h('div', { class: 'mon-spark-wrap' }, h('svg:svg', { class: 'mon-spark', viewBox: '0 0 100 30', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
      h('svg:polyline', { class: 'spark-down', points: '' }), h('svg:polyline', { class: 'spark-up', points: '' })),
    h('small', { class: 'muted' }, t('monSpark', { n: HISTORY_S / 60 }))));
}

function paintTile(tile, s, hist) {
  const lost = s.media === 'lost' || (s.warnings || []).includes('media_lost');
  tile.dataset.connected = String(s.connected);
  tile.dataset.media = s.media || '';
  tile.classList.toggle('lost', s.connected && lost);
  tile.classList.toggle('warn', s.connected && !lost && (s.warnings || []).length > 0);
  tile.classList.toggle('offline', !s.connected);
  tile.querySelector('.mon-name').textContent = siteName({ name: s.name, name_en: s.name_en });
  const flags = [];
  if (s.host) flags.push(h('span', { class: 'mon-flag host' }, t('monHost')));
  if (s.hand) flags.push(h('span', { class: 'mon-flag hand' }, t('monHand')));
  if (s.speaking) flags.push(h('span', { class: 'mon-flag speaking' }, t('monSpeaking')));
  else if (s.connected && (s.muted?.audio || s.moderated?.audio)) flags.push(h('span', { class: 'mon-flag muted' }, t('monMuted')));
  tile.querySelector('.mon-flags').replaceChildren(...flags);
  const warn = s.connected ? (s.warnings || []).filter((w) => WARNINGS.includes(w)) : [];
  tile.querySelector('.mon-warn').replaceChildren(...(s.connected ? warn.map((w) => h('span', { class: `mon-badge w-${w}`, 'data-warning': w }, t(`w.${w}`)))
    : [h('span', { class: 'mon-badge w-offline' }, t('monOffline'))]));
  const set = (key, text) => { tile.querySelector(`.mon-${key} dd`).textContent = s.connected ? text : '—'; };
  set('rtt', s.rtt_ms == null ? '—' : `${num(s.rtt_ms, 0)} ms`);
  set('loss', s.packet_loss_pct == null ? '—' : pct(s.packet_loss_pct, 1));
  set('up', bitrate(s.bitrate_in_kbps));
  set('down', bitrate(s.bitrate_out_kbps));
  set('fps', s.fps_in == null ? '—' : t('monFpsUnit', { n: num(s.fps_in, 0) }));
  set('res', s.width && s.height ? `${s.width}×${s.height}` : '—');
  const why = s.layer_reason ? t(`lr.${s.layer_reason}`) : '';
  set('layer', s.layer ? `${t(`layer.${s.layer}`)}${why ? ` (${why})` : ''}` : '—');
  tile.querySelector('.mon-layer').dataset.layer = s.connected && s.layer ? s.layer : '';
  set('est', bitrate(s.remb_kbps));
  paintSpark(tile.querySelector('.mon-spark'), hist);
}

function paintSpark(svg, hist) {
  const now = Date.now() / 1000;
  const max = Math.max(100, ...hist.map((x) => Math.max(x.up, x.down)));
  const pts = (key) => hist.map((x) => `${(100 - ((now - x.t) / HISTORY_S) * 100).toFixed(1)},${(29 - (x[key] / max) * 27).toFixed(1)}`).join(' ');
  svg.querySelector('.spark-up').setAttribute('points', pts('up'));
  svg.querySelector('.spark-down').setAttribute('points', pts('down'));
}
