// The one peer connection: answer the server's offer, publish into the m-lines it names, play what the slots
// carry, rebuild on failure; sample its quality for the top bar and report what the camera sends (stats).
import { num, pct, t } from '/console/i18n.js';
import { renderControls } from './controls.js';
import { connected, ensureSlotElements, renderTiles, setupLayout } from './layout.js';
import { reconnectNow, send, sendState } from './signalling.js';
import {
  $, CAMERA_MAX_BPS, ICE_WAIT_MS, MEDIA_CONNECT_MS, MEDIA_GRACE_MS, S, SCREEN_FPS, SCREEN_MAX_BPS, setText,
  THUMB_FPS, THUMB_MAX_BPS, THUMB_WIDTH,
} from './state.js';
import { hideError, renderStatus, setBanner, setPhase } from './ui.js';

// ------------------------------------------------------------------------------------------ peer connection

export function teardownPc() {
  clearTimeout(S.mediaTimer);
  clearTimeout(S.graceTimer);
  const pc = S.pc;
  S.pc = null;
  if (pc) {
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
    try { pc.close(); } catch (_) { /* closed already */ }
  }
  for (const tile of S.tiles.values()) {
    const v = tile.querySelector('video');
    if (v) v.srcObject = null;
    tile.dataset.live = 'false';
  }
  for (const a of S.audios.values()) a.srcObject = null;
  S.quality.prev = null;
  S.quality.level = S.final ? 'none' : 'poor';
  renderQuality();
}

export function waitIceGathering(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

export async function onOffer(msg, gen) {
  teardownPc();
  S.publish = msg.publish || {};
  S.slotsByMid = msg.slots || {};
  S.midByName = {};
  for (const [mid, slot] of Object.entries(S.slotsByMid)) S.midByName[slot.name] = mid;
  setupLayout(S.welcome ? Boolean(S.welcome.host) : S.isHost === true);
  ensureSlotElements();
  renderTiles();

  // STUN/TURN from the server (fresh TURN credentials per join); 'relay' forces a TURN path (strict NATs, tests).
  const w = S.welcome || {};
  const pc = new RTCPeerConnection({ iceServers: w.ice_servers || [], iceTransportPolicy: w.ice_transport_policy || 'all' });
  S.pc = pc;
  pc.ontrack = (ev) => onTrack(ev);
  pc.onconnectionstatechange = () => onPcState(pc);
  await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
  if (!S.mediaSettled) { S.statusKey = 'st.waitMedia'; renderStatus(); }
  await S.mediaReady;
  if (gen !== S.gen || pc !== S.pc) return;

  const pubByMid = {};
  for (const [name, mid] of Object.entries(S.publish)) if (mid != null) pubByMid[mid] = name;
  for (const tr of pc.getTransceivers()) {
    const mid = tr.mid;
    if (mid != null && mid in pubByMid) {
      tr.direction = 'sendonly';
      const name = pubByMid[mid];
      // The camera goes out twice: 'video' (the high layer) and 'thumb' (a 320x180 copy for the chair's grid).
      const track = { audio: S.mic, video: S.cam, thumb: S.thumb, screen: S.screenTrack }[name];
      await tr.sender.replaceTrack(track || null);
    } else if (mid != null && mid in S.slotsByMid) {
      tr.direction = 'recvonly';
    } else {
      tr.direction = 'inactive';
    }
  }
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  await waitIceGathering(pc, ICE_WAIT_MS);
  if (gen !== S.gen || pc !== S.pc) return;
  send({ type: 'answer', sdp: pc.localDescription.sdp });
  sendState();
  if (S.screenTrack) {
    S.shareAcked = false;
    send({ type: 'screen', on: true });
  }
  limitBitrate('video', CAMERA_MAX_BPS);
  limitBitrate('thumb', THUMB_MAX_BPS, THUMB_FPS, thumbScale());
  limitBitrate('screen', SCREEN_MAX_BPS, SCREEN_FPS);
  renderControls();
  clearTimeout(S.mediaTimer);
  S.mediaTimer = setTimeout(() => {
    if (pc === S.pc && pc.connectionState !== 'connected') reconnectNow('mediaTimeout');
  }, MEDIA_CONNECT_MS);
}

export function publishTransceiver(name) {
  const mid = S.publish[name];
  if (!S.pc || mid == null) return null;
  return S.pc.getTransceivers().find((tr) => tr.mid === mid) || null;
}

// How much the thumbnail scales the camera down: to THUMB_WIDTH wide, whatever the camera gives.
export function thumbScale() {
  const w = S.cam && S.cam.getSettings ? S.cam.getSettings().width : null;
  return w && w > THUMB_WIDTH ? w / THUMB_WIDTH : 1;
}

export async function limitBitrate(name, maxBitrate, maxFramerate, scaleDown) {
  const tr = publishTransceiver(name);
  if (!tr) return;
  try {
    const params = tr.sender.getParameters();
    if (!params.encodings || !params.encodings.length) return;
    params.encodings[0].maxBitrate = maxBitrate;
    if (maxFramerate) params.encodings[0].maxFramerate = maxFramerate;
    if (scaleDown) params.encodings[0].scaleResolutionDownBy = scaleDown;
    await tr.sender.setParameters(params);
  } catch (_) { /* not supported here: the browser's own rate control applies */ }
}

export function onPcState(pc) {
  if (pc !== S.pc) return;
  const st = pc.connectionState;
  if (st === 'connected') {
    clearTimeout(S.mediaTimer);
    clearTimeout(S.graceTimer);
    S.attempt = 0;
    setBanner(null);
    if (S.errorCode === 'bad_sdp' || S.errorCode === 'too_many_joins') hideError();
    setPhase('connected', 'st.connected');
    renderControls();
    sampleQuality();
  } else if (st === 'failed') {
    reconnectNow('mediaLost');
  } else if (st === 'disconnected') {
    clearTimeout(S.graceTimer);
    S.graceTimer = setTimeout(() => {
      if (pc === S.pc && pc.connectionState !== 'connected') reconnectNow('mediaLost');
    }, MEDIA_GRACE_MS);
  }
}

export function onTrack(ev) {
  const mid = ev.transceiver && ev.transceiver.mid;
  const slot = mid != null ? S.slotsByMid[mid] : null;
  if (!slot) return;
  const track = ev.track;
  const stream = new MediaStream([track]);
  if (slot.kind === 'audio') {
    const el = S.audios.get(slot.name);
    if (!el) return;
    el.srcObject = stream;
    playAudio(el);
    return;
  }
  const tile = S.tiles.get(slot.name);
  if (!tile) return;
  const video = tile.querySelector('video');
  video.srcObject = stream;
  const live = () => { tile.dataset.live = String(!track.muted && track.readyState === 'live'); renderTiles(); };
  track.addEventListener('mute', live);
  track.addEventListener('unmute', live);
  track.addEventListener('ended', live);
  live();
  video.play().catch(() => { /* muted video autoplays; nothing to do */ });
}

export function playAudio(el) {
  const p = el.play();
  if (p && p.catch) {
    p.catch((err) => {
      if (err && err.name === 'NotAllowedError') {
        S.needAudioUnlock = true;
        $('#btn-audio-unlock').hidden = false;
      }
    });
  }
}

// ------------------------------------------------------------------------------------------ quality

export async function sampleQuality() {
  const pc = S.pc;
  if (!pc || S.final) return;
  if (pc.connectionState !== 'connected') {
    if (pc.connectionState === 'failed' || pc.connectionState === 'disconnected') {
      S.quality.level = 'poor';
      renderQuality();
    }
    return;
  }
  let report;
  try { report = await pc.getStats(); } catch (_) { return; }
  if (pc !== S.pc) return;
  let rtt = null;
  let selectedId = null;
  let lost = 0;
  let received = 0;
  let remoteRtt = null;
  let sent = null;
  const camMid = S.publish.video;
  report.forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video' && (s.mid == null || s.mid === camMid) && !sent) sent = s;
    if (s.type === 'transport' && s.selectedCandidatePairId) selectedId = s.selectedCandidatePairId;
  });
  report.forEach((s) => {
    if (s.type === 'candidate-pair') {
      const chosen = selectedId ? s.id === selectedId : (s.nominated && s.state === 'succeeded');
      if (chosen && typeof s.currentRoundTripTime === 'number') rtt = s.currentRoundTripTime;
    } else if (s.type === 'inbound-rtp') {
      lost += Math.max(0, s.packetsLost || 0);
      received += s.packetsReceived || 0;
    } else if (s.type === 'remote-inbound-rtp' && typeof s.roundTripTime === 'number') {
      remoteRtt = remoteRtt === null ? s.roundTripTime : Math.max(remoteRtt, s.roundTripTime);
    }
  });
  if (rtt === null) rtt = remoteRtt;
  const prev = S.quality.prev;
  let loss = 0;
  if (prev) {
    const dl = lost - prev.lost;
    const dr = received - prev.received;
    loss = dl > 0 && dl + dr > 0 ? (100 * dl) / (dl + dr) : 0;
  }
  S.quality.prev = { lost, received };
  const ms = rtt === null ? null : rtt * 1000;
  let level = 'good';
  if ((ms !== null && ms > 400) || loss > 8) level = 'poor';
  else if ((ms !== null && ms > 150) || loss > 2) level = 'fair';
  S.quality.level = level;
  S.quality.rtt = ms;
  S.quality.loss = loss;
  renderQuality();
  // What the camera really sends (the chair's monitoring shows it beside what the server receives).
  const camOn = Boolean(S.cam && !S.userMuted.video && !S.moderated.video);
  send({
    type: 'stats', width: camOn && sent && sent.frameWidth ? sent.frameWidth : null,
    height: camOn && sent && sent.frameHeight ? sent.frameHeight : null,
    fps: camOn && sent && typeof sent.framesPerSecond === 'number' ? Math.min(240, sent.framesPerSecond) : null,
  });
}

export function renderQuality() {
  const el = $('#quality');
  const q = S.quality;
  el.dataset.level = q.level;
  setText($('#quality-text'), t(`q.${q.level}`));
  el.title = q.level === 'none' ? '' : t('qTip', {
    rtt: q.rtt === null || q.rtt === undefined ? t('qNoRtt') : `${num(q.rtt)} ms`,
    loss: pct(q.loss || 0, 1),
  });
}
