// This site's own media and buttons: the microphone, the camera and the screen share, and Leave.
import { t } from '/console/i18n.js';
import { renderHand } from './floor.js';
import { renderTiles } from './layout.js';
import { publishTransceiver } from './peer.js';
import { finish, send, sendState } from './signalling.js';
import { $, CAMERA, S, SCREEN, icon, setHtml, setText, toast } from './state.js';
import { renderMediaWarning, renderStatus } from './ui.js';

// ------------------------------------------------------------------------------------------ local media

export async function getLocalMedia() {
  S.mediaSettled = false;
  try {
    await openLocalMedia();
  } finally {
    S.mediaSettled = true;
    renderControls();
    if (S.statusKey === 'st.waitMedia') { S.statusKey = 'st.negotiating'; renderStatus(); }
  }
}

export async function openLocalMedia() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    S.mediaProblem = { key: 'media.insecure' };
    renderMediaWarning();
    return;
  }
  const video = { width: { ideal: CAMERA.width }, height: { ideal: CAMERA.height }, frameRate: CAMERA.frameRate };
  let stream = null;
  let firstErr = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
  } catch (err) {
    firstErr = err;
  }
  if (!stream && firstErr && firstErr.name !== 'NotAllowedError' && firstErr.name !== 'SecurityError') {
    // One of the two devices may be missing or busy: try each alone.
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      S.mediaProblem = { key: 'media.noCam' };
    } catch (_) {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video });
        S.mediaProblem = { key: 'media.noMic' };
      } catch (_e) { /* keep the first error */ }
    }
  }
  if (!stream) {
    const name = firstErr ? firstErr.name : '';
    const key = (name === 'NotAllowedError' || name === 'SecurityError') ? 'media.denied'
      : (name === 'NotFoundError' || name === 'OverconstrainedError') ? 'media.notfound'
        : (name === 'NotReadableError' || name === 'AbortError') ? 'media.busy' : 'media.other';
    S.mediaProblem = { key, m: firstErr ? `${firstErr.name}: ${firstErr.message}` : '' };
    renderMediaWarning();
    renderControls();
    return;
  }
  if (S.final) {  // the page stopped while the browser was asking
    for (const tr of stream.getTracks()) tr.stop();
    return;
  }
  S.local = stream;
  S.mic = stream.getAudioTracks()[0] || null;
  S.cam = stream.getVideoTracks()[0] || null;
  if (S.mic) S.mic.enabled = !S.userMuted.audio;
  if (S.cam) {
    S.cam.enabled = !S.userMuted.video;
    S.cam.contentHint = 'motion';
    // The thumbnail layer encodes a clone: Chrome adapts a track's resolution for the most constrained of
    // its senders, so one track on both would pull the HD layer down to the thumbnail's budget.
    S.thumb = S.cam.clone();
    $('#self-view').srcObject = new MediaStream([S.cam]);
  }
  for (const tr of stream.getTracks()) {
    tr.addEventListener('ended', () => {
      if (tr === S.mic) S.mic = null;
      if (tr === S.cam) {
        S.cam = null;
        if (S.thumb) { S.thumb.stop(); S.thumb = null; }
        $('#self-view').srcObject = null;
      }
      renderControls();
      sendState();
    });
  }
  renderMediaWarning();
  renderControls();
}

export function stopLocalMedia() {
  if (S.local) for (const tr of S.local.getTracks()) tr.stop();
  if (S.thumb) S.thumb.stop();
  S.local = null;
  S.mic = null;
  S.cam = null;
  S.thumb = null;
  $('#self-view').srcObject = null;
  stopShareTrack();
}

export function checkCodec(codec) {
  try {
    if (!codec || !window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
    const want = `video/${codec}`.toLowerCase();
    const recv = RTCRtpReceiver.getCapabilities('video').codecs.some((c) => c.mimeType.toLowerCase() === want);
    const send = !RTCRtpSender.getCapabilities
      || RTCRtpSender.getCapabilities('video').codecs.some((c) => c.mimeType.toLowerCase() === want);
    if ((!recv || !send) && !S.mediaProblem) {
      S.mediaProblem = { key: 'codecWarn', codec: codec.toUpperCase() };
      renderMediaWarning();
    }
  } catch (_) { /* capabilities unavailable: say nothing */ }
}

// ------------------------------------------------------------------------------------------ controls

export function setCtl(btn, iconName, text, opts) {
  setHtml(btn.querySelector('.ico'), icon(iconName));
  setText(btn.querySelector('.txt'), text);
  btn.title = text;
  btn.disabled = Boolean(opts.disabled);
  btn.classList.toggle('off', Boolean(opts.off));
  btn.classList.toggle('moderated', Boolean(opts.moderated));
  btn.setAttribute('aria-pressed', String(Boolean(opts.pressed)));
}

export function renderControls() {
  const inCall = S.phase !== 'ended' && S.phase !== 'error';
  const mic = $('#btn-mic');
  const settled = S.mediaSettled && inCall;  // 'no device' only once the browser has answered
  const blocked = Boolean(S.mediaProblem && (S.mediaProblem.key === 'media.denied' || S.mediaProblem.key === 'media.insecure'));
  if (!S.mic && !settled) setCtl(mic, 'mic', t('mic.mute'), { disabled: true });
  else if (!S.mic) setCtl(mic, 'micOff', t(blocked ? 'mic.blocked' : 'mic.none'), { disabled: true, off: true });
  else if (S.moderated.audio) {
    setCtl(mic, 'micOff', t(S.mode === 'chaired' && !S.isHost ? 'mic.waitFloor' : 'mic.moderated'),
      { disabled: true, off: true, moderated: true, pressed: true });
  }
  else if (S.userMuted.audio) setCtl(mic, 'micOff', t('mic.unmute'), { off: true, pressed: true, disabled: !inCall });
  else setCtl(mic, 'mic', t('mic.mute'), { disabled: !inCall });
  mic.dataset.muted = String(!S.mic || S.userMuted.audio || S.moderated.audio);

  const cam = $('#btn-cam');
  if (!S.cam && !settled) setCtl(cam, 'cam', t('cam.mute'), { disabled: true });
  else if (!S.cam) setCtl(cam, 'camOff', t(blocked ? 'cam.blocked' : 'cam.none'), { disabled: true, off: true });
  else if (S.moderated.video) setCtl(cam, 'camOff', t('cam.moderated'), { disabled: true, off: true, moderated: true, pressed: true });
  else if (S.userMuted.video) setCtl(cam, 'camOff', t('cam.unmute'), { off: true, pressed: true, disabled: !inCall });
  else setCtl(cam, 'cam', t('cam.mute'), { disabled: !inCall });
  cam.dataset.muted = String(!S.cam || S.userMuted.video || S.moderated.video);

  const scr = $('#btn-screen');
  const canShare = Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  if (S.screenTrack) setCtl(scr, 'screen', t('screen.stop'), { pressed: true, disabled: !inCall });
  else setCtl(scr, 'screen', t('screen.start'), { disabled: !inCall || !canShare || !S.pc });
  scr.classList.toggle('active', Boolean(S.screenTrack));
  if (!canShare) scr.title = t('screenUnsupported');

  setCtl($('#btn-leave'), 'leave', t('leave'), { disabled: !inCall });
  setCtl($('#btn-end'), 'end', t('end'), { disabled: !inCall || !S.everWelcomed });
  setCtl($('#btn-lock'), 'lock', t(S.locked ? 'lock.off' : 'lock.on'), { disabled: !inCall || !S.everWelcomed });
  $('#btn-lock').dataset.locked = String(S.locked);
  renderHand();

  const selfOff = settled && (!S.cam || S.userMuted.video || S.moderated.video);
  $('#self-box').classList.toggle('cam-off', selfOff);
  $('#self-box .self-off').hidden = !selfOff;
  $('#self-box .self-off').textContent = S.cam ? t('selfNoCam') : t(blocked ? 'cam.blocked' : 'cam.none');
  setHtml($('#self-box .icons'), settled && (!S.mic || S.userMuted.audio || S.moderated.audio)
    ? `<span class="st st-mic${S.moderated.audio ? ' mod' : ''}">${icon('micOff')}</span>` : '');
}

export function toggleMic() {
  if (!S.mic || S.moderated.audio) return;
  S.userMuted.audio = !S.userMuted.audio;
  S.mic.enabled = !S.userMuted.audio;
  sendState();
  renderControls();
}

export function toggleCam() {
  if (!S.cam || S.moderated.video) return;
  S.userMuted.video = !S.userMuted.video;
  S.cam.enabled = !S.userMuted.video;
  if (S.thumb) S.thumb.enabled = S.cam.enabled;
  sendState();
  renderControls();
}

export async function startShare() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    toast(t('screenUnsupported'), 'error');
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: SCREEN, audio: false });
  } catch (err) {
    toast(err && err.name === 'NotAllowedError' ? t('screenCancelled') : t('screenFailed', { m: err && err.message }), 'warn');
    return;
  }
  const track = stream.getVideoTracks()[0];
  if (!track) return;
  if (S.phase === 'ended' || S.phase === 'error') { track.stop(); return; }
  track.contentHint = 'detail';
  track.addEventListener('ended', () => { if (S.screenTrack === track) stopShare(true); });
  S.screenTrack = track;
  S.shareAcked = false;
  const tr = publishTransceiver('screen');
  if (tr) {
    try { await tr.sender.replaceTrack(track); } catch (err) { console.error('join: replaceTrack(screen)', err); }
  }
  send({ type: 'screen', on: true });
  renderControls();
  renderTiles();
}

export function stopShareTrack() {
  const track = S.screenTrack;
  S.screenTrack = null;
  S.shareAcked = false;
  if (track) track.stop();
}

export async function stopShare(tellServer) {
  if (!S.screenTrack) return;
  stopShareTrack();
  const tr = publishTransceiver('screen');
  if (tr) {
    try { await tr.sender.replaceTrack(null); } catch (_) { /* pc closed */ }
  }
  if (tellServer) send({ type: 'screen', on: false });
  renderControls();
  renderTiles();
}

export function leave() {
  if (S.screenTrack) send({ type: 'screen', on: false });
  send({ type: 'leave' });  // on purpose: the server must not hold the door open as for a dropped link
  finish('left');
}
