// The site's conference page, as ES modules (no build step, no external resources): this entry binds the page;
// signalling.js (WebSocket, protocol v1), peer.js (the peer connection, quality), layout.js (tiles), controls.js
// (microphone, camera, screen), moderation.js (the chair's panel), ui.js (status, notices) and the features in
// their own modules. Texts: strings.js, through the i18n shared with the console (/console/i18n.js).
import './strings.js';
import { bindChat } from './chat.js';
import { bindDocuments } from './documents.js';
import { bindFloor } from './floor.js';
import { bindLobbyPanel, bindWaiting } from './lobby.js';
import { initLang, lang, setLang } from '/console/i18n.js';
import { getLocalMedia, leave, renderControls, startShare, stopShare, toggleCam, toggleMic } from './controls.js';
import { fitGrid, slotSite } from './layout.js';
import { endMeeting, moderate, toggleLock, unpin } from './moderation.js';
import { playAudio, sampleQuality } from './peer.js';
import { connect, parseToken, restart } from './signalling.js';
import { $, LANG_KEY, S, STATS_MS } from './state.js';
import { bindVotes } from './votes.js';
import { applyLang, renderAll, renderMediaWarning, setPhase, showError } from './ui.js';

// ------------------------------------------------------------------------------------------ start

function bindUi() {
  $('#lang-toggle').addEventListener('click', () => {
    setLang(lang() === 'vi' ? 'en' : 'vi', LANG_KEY);
    applyLang();
  });
  $('#btn-mic').addEventListener('click', toggleMic);
  $('#btn-cam').addEventListener('click', toggleCam);
  $('#btn-screen').addEventListener('click', () => (S.screenTrack ? stopShare(true) : startShare()));
  $('#btn-leave').addEventListener('click', leave);
  $('#btn-end').addEventListener('click', endMeeting);
  $('#btn-lock').addEventListener('click', toggleLock);
  $('#btn-retry').addEventListener('click', restart);
  $('#btn-rejoin').addEventListener('click', restart);
  $('#media-warning-close').addEventListener('click', () => {
    if (S.mediaProblem) S.mediaProblem.dismissed = true;
    renderMediaWarning();
  });
  $('#panel').addEventListener('click', (ev) => {
    const btn = ev.target.closest('.mod-btn');
    if (btn && !btn.disabled && btn.dataset.action) moderate(btn);
    if (ev.target.closest('#btn-unpin')) unpin(ev.target.closest('#btn-unpin'));
  });
  bindWaiting();
  bindLobbyPanel();
  bindFloor();
  bindChat();
  bindDocuments();
  bindVotes();
  $('#btn-audio-unlock').addEventListener('click', () => {
    $('#btn-audio-unlock').hidden = true;
    S.needAudioUnlock = false;
    for (const a of S.audios.values()) if (a.srcObject) playAudio(a);
  });
  window.addEventListener('hashchange', () => location.reload());
  window.addEventListener('pageshow', (ev) => { if (ev.persisted) location.reload(); });
  window.addEventListener('pagehide', () => {
    // Tell the server at once rather than after its heartbeat times out.
    const ws = S.ws;
    S.final = S.final || 'left';
    S.ws = null;
    if (ws) try { ws.close(1000, 'page closed'); } catch (_) { /* closed already */ }
  });
}

function main() {
  initLang(LANG_KEY);
  bindUi();
  window.__conf = {
    get pc() { return S.pc; },
    get ws() { return S.ws; },
    get slots() {
      const out = {};
      for (const [mid, slot] of Object.entries(S.slotsByMid)) {
        out[slot.name] = {
          mid, kind: slot.kind, site: slotSite(slot.name),
          told: Object.prototype.hasOwnProperty.call(S.assign, mid),  // false: inferred, the server never said
        };
      }
      return out;
    },
    get state() { return S.phase; },
    get welcome() { return S.welcome; },
    get roster() { return S.roster; },
    get local() { return S.local; },
    get quality() { return { ...S.quality, prev: undefined }; },
    get talking() { return [...S.talking]; },
    get floor() { return { mode: S.mode, ...S.floor }; },
    get lobby() { return S.lobby; },
    get removed() { return S.removed; },
    get chat() { return { messages: S.chat.messages, unread: S.chat.unread, open: S.chat.open, error: S.chat.error }; },
    get live() { return S.live; },
    get vote() { return S.vote; },
  };
  applyLang();
  const parsed = parseToken();
  if (!parsed || !parsed.claims) {
    showError(parsed ? 'invalid_token' : 'no_token', '');
    setPhase('error', 'st.error');
    renderAll();
    return;
  }
  S.token = parsed.token;
  S.claims = parsed.claims;
  S.room = parsed.claims.room;
  S.site = parsed.claims.site || null;
  setPhase('connecting', 'st.connecting');
  renderControls();
  S.mediaReady = getLocalMedia();
  setInterval(sampleQuality, STATS_MS);
  if (window.ResizeObserver) new ResizeObserver(() => fitGrid()).observe($('#stage'));
  connect();
}

main();
