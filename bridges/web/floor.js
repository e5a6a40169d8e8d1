// Speaking requests (xin phát biểu): a site raises its hand and waits its turn; the chair sees the queue in
// order of request, gives the floor (the site is unmuted and shown to everyone) and ends the turn; the meeting
// is in free discussion or chair-controlled mode (sites muted, speaking only when given the floor).
import { addStrings, nameOf, num, span, t } from '/console/i18n.js';
import { setCtl } from './controls.js';
import { api } from './moderation.js';
import { send, sendState } from './signalling.js';
import { $, S, escapeHtml, icon, setHtml, setText, toast } from './state.js';

addStrings({
  vi: {
    'hand.up': 'Xin phát biểu', 'hand.down': 'Hủy xin phát biểu', 'hand.queued': 'Đã xin phát biểu (thứ {n})',
    'hand.speaking': 'Đang được phát biểu', 'hand.sent': 'Đã gửi yêu cầu phát biểu tới chủ tọa.',
    'hand.withdrawn': 'Đã hủy yêu cầu phát biểu.',
    'floor.granted': 'Chủ tọa mời điểm cầu phát biểu — micro đã được bật.',
    'floor.ended': 'Lượt phát biểu đã kết thúc — micro đã tắt.',
    'mode.free': 'Thảo luận tự do', 'mode.chaired': 'Chủ tọa điều hành phát biểu',
    'mode.chairedNote': 'Chủ tọa điều hành phát biểu: hãy bấm «Xin phát biểu» và chờ chủ tọa mời.',
    'mic.waitFloor': 'Chờ chủ tọa mời phát biểu',
    'chair.floor': 'Phát biểu', 'chair.queue': 'Xin phát biểu ({n})', 'chair.queueEmpty': 'Chưa có điểm cầu nào xin phát biểu.',
    'chair.grant': 'Mời phát biểu', 'chair.endTurn': 'Kết thúc lượt', 'chair.speakingNow': 'Đang phát biểu: {name}',
    'chair.muteAll': 'Tắt micro tất cả', 'chair.mutedAll': 'Đã tắt micro của {n} điểm cầu.',
    'chair.granted': 'Đã mời {name} phát biểu', 'chair.turnEnded': 'Đã kết thúc lượt phát biểu của {name}',
    'chair.modeSet.free': 'Đã chuyển sang thảo luận tự do', 'chair.modeSet.chaired': 'Các điểm cầu chỉ phát biểu khi chủ tọa mời',
    'chair.asked': 'xin từ {t} trước', handTip: 'Đang xin phát biểu',
  },
  en: {
    'hand.up': 'Ask to speak', 'hand.down': 'Withdraw request', 'hand.queued': 'Asked to speak (#{n})',
    'hand.speaking': 'You have the floor', 'hand.sent': 'Your request to speak was sent to the chair.',
    'hand.withdrawn': 'Request to speak withdrawn.',
    'floor.granted': 'The chair gave your site the floor — microphone on.',
    'floor.ended': 'Your turn has ended — microphone off.',
    'mode.free': 'Free discussion', 'mode.chaired': 'Chair-controlled speaking',
    'mode.chairedNote': 'Chair-controlled speaking: press “Ask to speak” and wait for the chair.',
    'mic.waitFloor': 'Wait for the chair to give you the floor',
    'chair.floor': 'Speaking', 'chair.queue': 'Requests to speak ({n})', 'chair.queueEmpty': 'No site has asked to speak.',
    'chair.grant': 'Give the floor', 'chair.endTurn': 'End turn', 'chair.speakingNow': 'Speaking: {name}',
    'chair.muteAll': 'Mute all', 'chair.mutedAll': '{n} sites muted.',
    'chair.granted': '{name} has the floor', 'chair.turnEnded': '{name}\'s turn ended',
    'chair.modeSet.free': 'Free discussion', 'chair.modeSet.chaired': 'Sites speak only when the chair gives the floor',
    'chair.asked': 'asked {t} ago', handTip: 'Asking to speak',
  },
});

const nameFor = (id) => { const r = S.rosterMap[id]; return r ? nameOf(r) || id : id; };
const myPlace = () => S.floor.queue.findIndex((q) => q.site === S.site) + 1;

/** The floor changed (queue, speaker or mode). */
export function onFloor(msg) {
  if (msg.mode) S.mode = msg.mode;
  S.floor = { queue: Array.isArray(msg.queue) ? msg.queue : [], speaking: msg.speaking ?? null };
  S.handPending = null;
  renderFloor();
}

/** The roster carries the floor too (so a page that reconnects knows it at once). */
export function floorFromRoster(msg) {
  if (msg.mode) S.mode = msg.mode;
  if (msg.floor) S.floor = { queue: msg.floor.queue || [], speaking: msg.floor.speaking ?? null };
}

/** The chair gave this site the floor, or ended its turn. */
export function onTurn(action) {
  if (action === 'granted') {
    // Given the floor means heard: lift the site's own mute too.
    if (S.mic && S.userMuted.audio) { S.userMuted.audio = false; S.mic.enabled = true; sendState(); }
    toast(t('floor.granted'), 'ok');
  } else if (action === 'turn_ended') {
    toast(t('floor.ended'), 'info');
  }
}

function toggleHand() {
  if (!S.welcome || S.isHost) return;
  const up = !(myPlace() > 0);
  S.handPending = up;
  send({ type: 'hand', up });
  toast(t(up ? 'hand.sent' : 'hand.withdrawn'), 'info');
  renderHand();
}

export function renderHand() {
  const btn = $('#btn-hand');
  if (!btn) return;
  const inCall = S.phase !== 'ended' && S.phase !== 'error' && S.phase !== 'waiting' && S.phase !== 'lobby';
  btn.hidden = S.isHost !== false;
  const place = myPlace();
  const speaking = S.floor.speaking === S.site;
  const queued = S.handPending === null ? place > 0 : S.handPending;
  if (speaking) setCtl(btn, 'hand', t('hand.speaking'), { pressed: true, disabled: true });
  else if (queued) setCtl(btn, 'hand', place > 0 ? t('hand.queued', { n: num(place) }) : t('hand.down'), { pressed: true, disabled: !inCall });
  else setCtl(btn, 'hand', t('hand.up'), { disabled: !inCall || !S.welcome });
  btn.classList.toggle('active', queued || speaking);
  btn.dataset.state = speaking ? 'speaking' : queued ? 'queued' : 'idle';
  if (queued && !speaking && place > 0) btn.title = t('hand.down');
  const note = $('#mode-badge');
  note.hidden = S.mode !== 'chaired' || !S.welcome;
  setText(note, t('mode.chaired'));
  note.title = S.isHost ? t('mode.chaired') : t('mode.chairedNote');
}

export function renderFloor() {
  renderHand();
  renderFloorPanel();
}

export function renderFloorPanel() {
  if (!S.isHost) return;
  for (const b of document.querySelectorAll('#mode-switch [data-mode]')) {
    const on = b.dataset.mode === S.mode;
    b.classList.toggle('on', on);
    b.setAttribute('aria-pressed', String(on));
    setText(b, t(`mode.${b.dataset.mode}`));
  }
  setText($('#btn-mute-all'), t('chair.muteAll'));
  setText($('#floor-head'), t('chair.floor'));
  const sp = S.floor.speaking;
  const now = $('#floor-now');
  now.hidden = !sp;
  if (sp) {
    setHtml(now, `<span>${icon('mic')} ${escapeHtml(t('chair.speakingNow', { name: nameFor(sp) }))}</span>`
      + `<button type="button" class="small" id="btn-end-turn">${escapeHtml(t('chair.endTurn'))}</button>`);
  }
  setText($('#queue-head'), t('chair.queue', { n: num(S.floor.queue.length) }));
  const at = Date.now() / 1000;
  setHtml($('#queue-list'), S.floor.queue.length ? S.floor.queue.map((q, i) => `<li class="queue-row" data-site="${escapeHtml(q.site)}">`
    + `<span class="queue-n">${i + 1}</span><span class="queue-name"><b>${escapeHtml(nameFor(q.site))}</b>`
    + `<small>${escapeHtml(t('chair.asked', { t: span(at - q.since) }))}</small></span>`
    + `<button type="button" class="small primary" data-grant="${escapeHtml(q.site)}">${escapeHtml(t('chair.grant'))}</button></li>`).join('')
    : `<li class="queue-empty muted">${escapeHtml(t('chair.queueEmpty'))}</li>`);
}

async function chairDo(btn, path, body, done) {
  btn.disabled = true;
  try {
    const out = await api(path, body);
    toast(done(out), 'ok');
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    btn.disabled = false;
  }
}

export function bindFloor() {
  $('#btn-hand').addEventListener('click', toggleHand);
  $('#panel').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button');
    if (!btn || btn.disabled) return;
    if (btn.dataset.grant) {
      const site = btn.dataset.grant;
      chairDo(btn, '/floor/grant', { site_id: site }, () => t('chair.granted', { name: nameFor(site) }));
    } else if (btn.id === 'btn-end-turn') {
      const site = S.floor.speaking;
      chairDo(btn, '/floor/end-turn', undefined, () => t('chair.turnEnded', { name: nameFor(site) }));
    } else if (btn.dataset.mode && btn.closest('#mode-switch')) {
      if (btn.dataset.mode === S.mode) return;
      const mode = btn.dataset.mode;
      chairDo(btn, '/floor/mode', { mode }, () => t(`chair.modeSet.${mode}`));
    } else if (btn.id === 'btn-mute-all') {
      chairDo(btn, '/mute-all', undefined, (out) => t('chair.mutedAll', { n: num(out && out.muted != null ? out.muted : 0) }));
    }
  });
  setInterval(() => { if (S.isHost && S.floor.queue.length) renderFloorPanel(); }, 15000);  // "asked … ago"
}
