// Signalling over the WebSocket (protocol v1, see bridges/signalling.py): join, reconnect with backoff, the
// server's messages dispatched to the modules that own them, and the end of a session (bye, error, leave).
import { t } from '/console/i18n.js';
import { onChat, onChatError, onChatHistory, renderChat } from './chat.js';
import { onDocumentMessage } from './documents.js';
import { onVoteError, onVoteMessage, resetVote } from './votes.js';
import { floorFromRoster, onFloor, onTurn, renderFloor } from './floor.js';
import { clearWaiting, onAdmitted, onLobby, onLobbyWaiting, onNotOpen, renderWaiting } from './lobby.js';
import { startQualityPoll } from './quality.js';
import { checkCodec, getLocalMedia, renderControls, stopLocalMedia, stopShare } from './controls.js';
import { connected, renderTiles, setupLayout, siteName } from './layout.js';
import { renderPanel } from './moderation.js';
import { onOffer, teardownPc } from './peer.js';
import { $, FATAL, FINAL_BYE, PING_MS, PROTOCOL_VERSION, S, SILENCE_MS, SOFT, toast } from './state.js';
import { hideError, renderAll, renderHeader, renderStatus, setBanner, setPhase, showError } from './ui.js';

// ------------------------------------------------------------------------------------------ token

export function parseToken() {
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, '')).get('token');
  const token = fromHash || new URLSearchParams(location.search).get('token');
  if (!token) return null;
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = part + '='.repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (!claims || typeof claims.room !== 'string' || !claims.room) return { token, claims: null };
    return { token, claims };
  } catch (_) {
    return { token, claims: null };
  }
}

// ------------------------------------------------------------------------------------------ signalling

export function wsUrl() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${proto}://${location.host}/api/v1/rooms/${encodeURIComponent(S.room)}/signal`;
}

export function send(msg) {
  const ws = S.ws;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

export function connect() {
  clearTimeout(S.reconnectTimer);
  clearInterval(S.countdownTimer);
  S.reconnectTimer = null;
  if (S.final) return;
  const gen = ++S.gen;
  S.assign = {};
  S.byeReason = null;
  if (S.phase !== 'reconnecting') setPhase('connecting', 'st.connecting');
  else { S.statusKey = 'st.reconnecting'; setBanner('reconnectNow'); renderStatus(); }
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch (err) {
    scheduleReconnect();
    return;
  }
  S.ws = ws;
  ws.onopen = () => {
    if (ws !== S.ws) return;
    S.lastMsgAt = Date.now();
    ws.send(JSON.stringify({ type: 'join', v: PROTOCOL_VERSION, token: S.token }));
    if (S.phase === 'connecting') { S.statusKey = 'st.joining'; renderStatus(); }
    clearInterval(S.pingTimer);
    S.pingTimer = setInterval(() => {
      if (ws !== S.ws) return;
      if (Date.now() - S.lastMsgAt > SILENCE_MS) { reconnectNow(); return; }
      send({ type: 'ping' });
    }, PING_MS);
  };
  ws.onmessage = (ev) => {
    if (ws !== S.ws) return;
    S.lastMsgAt = Date.now();
    let msg;
    try { msg = JSON.parse(ev.data); } catch (_) { return; }
    if (!msg || typeof msg.type !== 'string') return;
    handleMessage(msg, gen).catch((err) => console.error('join: handling', msg.type, err));
  };
  ws.onclose = () => {
    if (ws !== S.ws) return;
    S.ws = null;
    clearInterval(S.pingTimer);
    if (S.final) return;
    teardownPc();
    scheduleReconnect();
  };
  ws.onerror = () => { /* onclose follows */ };
}

export function scheduleReconnect() {
  if (S.final) return;
  clearTimeout(S.reconnectTimer);
  clearInterval(S.countdownTimer);
  let delay;
  const fast = S.fastRetry;
  if (S.fastRetry) {
    S.fastRetry = false;
    delay = 1000 + Math.random() * 1000;
  } else {
    delay = Math.min(10000, 1000 * 2 ** S.attempt);
    S.attempt += 1;
  }
  const bannerFor = S.byeReason === 'server shutting down' ? 'serverRestart'
    : S.everWelcomed ? 'reconnectIn' : 'firstConnectIn';
  setPhase(S.everWelcomed ? 'reconnecting' : 'connecting', S.everWelcomed ? 'st.reconnecting' : 'st.connecting');
  const due = Date.now() + delay;
  const tick = () => setBanner(bannerFor, { n: Math.max(1, Math.ceil((due - Date.now()) / 1000)) });
  if (fast) {
    setBanner(null);  // #error already says that the page retries by itself
  } else {
    tick();
    S.countdownTimer = setInterval(tick, 500);
  }
  S.reconnectTimer = setTimeout(() => {
    clearInterval(S.countdownTimer);
    connect();
  }, delay);
}

// Drop the current socket and peer connection and start again (the server replaces our session).
export function reconnectNow(bannerKeyOverride) {
  const ws = S.ws;
  S.ws = null;
  clearInterval(S.pingTimer);
  if (ws) try { ws.close(1000, 'reconnect'); } catch (_) { /* closed already */ }
  teardownPc();
  scheduleReconnect();
  if (bannerKeyOverride) setBanner(bannerKeyOverride);
}

export function finish(kind, reason) {
  // kind: 'bye' (replaced/removed/ended), 'left' (the user), 'error' (fatal code)
  S.final = kind;
  if (kind === 'bye') S.byeReason = reason;
  clearTimeout(S.reconnectTimer);
  clearInterval(S.countdownTimer);
  clearInterval(S.pingTimer);
  const ws = S.ws;
  S.ws = null;
  if (ws) try { ws.close(1000, kind); } catch (_) { /* closed already */ }
  teardownPc();
  setBanner(null);
  stopLocalMedia();  // release the camera light; restart() opens the devices again
  if (kind === 'error') {
    setPhase('error', 'st.error');
  } else if (kind === 'waiting') {
    hideError();
    setPhase('waiting', 'st.waiting');
  } else {
    hideError();
    setPhase('ended', 'st.ended');
  }
  renderAll();
}

export function restart() {
  clearWaiting();
  S.final = null;
  S.attempt = 0;
  S.fastRetry = false;
  S.byeReason = null;
  S.everWelcomed = false;
  hideError();
  setPhase('connecting', 'st.connecting');
  renderAll();
  if (!S.local) S.mediaReady = getLocalMedia();
  connect();
}

export async function handleMessage(msg, gen) {
  switch (msg.type) {
    case 'welcome': resetVote(); return onWelcome(msg);  // the open vote comes again after it
    case 'offer': return onOffer(msg, gen);
    case 'slots':
      Object.assign(S.assign, msg.assign || {});
      renderTiles();
      return undefined;
    case 'speaker':
      S.speaker = msg.site ?? null;
      renderTiles();
      renderPanel();
      return undefined;
    case 'roster': return onRoster(msg);
    case 'screen': return onScreen(msg);
    case 'pinned':
      S.pinned = msg.site ?? null;
      renderTiles();
      renderPanel();
      return undefined;
    case 'moderation': return onModeration(msg);
    case 'talking':
      S.talking = new Set(Array.isArray(msg.sites) ? msg.sites : []);
      renderTiles();
      renderPanel();
      return undefined;
    case 'floor': return onFloor(msg);
    case 'chat': return onChat(msg);
    case 'chat_history': return onChatHistory(msg);
    case 'document_present': case 'documents': return onDocumentMessage(msg);
    case 'vote_opened': case 'vote_recorded': case 'vote_progress': case 'vote_result': return onVoteMessage(msg);
    case 'lobby': return onLobby(msg);
    case 'admitted': return onAdmitted();
    case 'lobby_waiting': return onLobbyWaiting(msg);
    case 'error': return onError(msg);
    case 'bye': return onBye(msg);
    case 'pong': return undefined;
    case 'redirect': return onRedirect(msg);
    default: return undefined;
  }
}

export function onWelcome(msg) {
  S.welcome = msg;
  S.everWelcomed = true;
  S.attempt = 0;
  S.site = msg.site;
  S.hostSite = msg.host_site;
  if (S.errorCode && !SOFT.has(S.errorCode)) hideError();
  setupLayout(Boolean(msg.host));
  checkCodec(msg.codec);
  if (S.phase !== 'connected') { S.statusKey = 'st.negotiating'; renderStatus(); }
  if (msg.mode) S.mode = msg.mode;
  if (S.waiting) { S.waiting = null; renderWaiting(); }
  if (msg.host) startQualityPoll();
  const query = new URLSearchParams(location.search);
  if (query.has('hop')) {  // arrived here through a redirect: a later one (the room moved) may hop again
    query.delete('hop');
    history.replaceState(null, '', `${location.pathname}?${query}${location.hash}`);
  }
  renderAll();
}

// The room runs on another node of the cluster (bridges/signalling.py): load this page from that node with the
// same join link (the #token fragment stays with the page). A few hops at most, so two nodes that disagree for a
// moment cannot bounce the page forever.
const MAX_REDIRECTS = 3;

export function onRedirect(msg) {
  let target;
  try { target = new URL(String(msg.url)); } catch (_) { return; }
  const params = new URLSearchParams(location.search);
  const hops = Number(params.get('hop') || 0) + 1;
  if (hops > MAX_REDIRECTS) {
    showError('redirect_loop', `room ${S.room} redirected ${hops - 1} times`);
    finish('error', 'redirect_loop');
    return;
  }
  params.set('hop', String(hops));
  params.set('room', S.room);
  S.final = 'redirect';  // the socket closes next: no reconnect here
  location.replace(`${target.origin}/join?${params}${location.hash}`);
}

export function onError(msg) {
  const code = String(msg.code || 'error');
  const message = String(msg.message || '');
  if (code === 'meeting_not_open') {
    onNotOpen(msg);
    return;
  }
  if (code.startsWith('vote_')) {  // votes.js shows it in the vote card or the chair's vote box
    onVoteError(code, message);
    return;
  }
  if (code.startsWith('chat_') || (code === 'not_allowed' && S.chat.open)) {
    onChatError(code, message);
    return;
  }
  if (FATAL.has(code)) {
    showError(code, message);
    finish('error', code);
    return;
  }
  if (code === 'too_many_joins' || code === 'join_timeout' || code === 'bad_join') {
    S.fastRetry = true;  // the server closes the socket next; onclose retries in 1–2 s
    showError(code, message);
    return;
  }
  if (code === 'bad_sdp') {
    showError(code, message);
    reconnectNow();
    return;
  }
  showError(code, message, { autoHideMs: 10000 });
}

export function onBye(msg) {
  const reason = String(msg.reason || 'disconnected');
  if (FINAL_BYE.has(reason)) {
    finish('bye', reason);
    return;
  }
  // disconnected, connection failed, server shutting down, …: come back by ourselves.
  S.byeReason = reason;
  reconnectNow();
}

export function onRoster(msg) {
  S.roster = Array.isArray(msg.sites) ? msg.sites : [];
  S.rosterMap = Object.fromEntries(S.roster.map((s) => [s.site, s]));
  if ('speaker' in msg) S.speaker = msg.speaker ?? null;
  if ('pinned' in msg) S.pinned = msg.pinned ?? null;
  S.locked = Boolean(msg.locked);
  const sharer = S.roster.find((s) => s.sharing);
  S.screenSite = sharer ? sharer.site : null;
  const me = S.rosterMap[S.site];
  if (me && me.connected && me.moderated) {
    S.moderated = { audio: Boolean(me.moderated.audio), video: Boolean(me.moderated.video) };
  }
  S.talking = new Set(S.roster.filter((r) => r.speaking).map((r) => r.site));
  floorFromRoster(msg);
  if (Array.isArray(msg.lobby)) S.lobby = msg.lobby;  // only the chair is sent the lobby and the removed sites
  if (Array.isArray(msg.removed)) S.removed = msg.removed;
  renderHeader();
  renderControls();
  renderTiles();
  renderPanel();
  renderFloor();
  renderChat();
}

export function onScreen(msg) {
  const site = msg.site ?? null;
  S.screenSite = site;
  if (S.screenTrack) {
    if (site === S.site) {
      S.shareAcked = true;
    } else if (S.shareAcked) {
      // Someone else started presenting (the latest sharer wins): stop sending ours.
      const name = siteName(site) || t('unknownSite');
      stopShare(false);
      if (site) toast(t('screenTaken', { name }), 'info');
    }
  }
  renderTiles();
  renderPanel();
}

export function onModeration(msg) {
  const action = String(msg.action || '');
  if (action === 'granted' || action === 'turn_ended') {
    onTurn(action);
    renderControls();
    return;
  }
  const m = /^(mute|unmute)_(audio|video)$/.exec(action);
  if (!m) return;
  S.moderated[m[2]] = m[1] === 'mute';
  toast(t(`mod.you.${action}`), m[1] === 'mute' ? 'warn' : 'info');
  renderControls();
}

export function sendState() {
  send({
    type: 'state',
    audio_muted: S.userMuted.audio || !S.mic,
    video_muted: S.userMuted.video || !S.cam,
  });
}
