// What every module of the join page shares: the page state S, its constants, icons and small DOM helpers.
// Error codes after which the page stops and waits for the user (anything else is retried).
export const FATAL = new Set(['no_token', 'invalid_token', 'token_expired', 'token_revoked', 'not_a_join_token', 'room_locked',
  'room_full', 'wrong_room', 'not_a_member', 'unknown_room', 'meeting_ended', 'unsupported_version', 'removed', 'refused',
  'lobby_full', 'not_invited', 'codec_mismatch']);
// Errors reported during a running session that leave it usable.
export const SOFT = new Set(['unknown_type', 'bad_message']);
export const FINAL_BYE = new Set(['replaced', 'removed', 'ended']);
export const PROTOCOL_VERSION = 1;
export const LANG_KEY = 'join.lang';
export const ICE_WAIT_MS = 2000;
export const STATS_MS = 2000;
export const PING_MS = 15000;
export const SILENCE_MS = 45000;          // no message at all for this long: the socket is dead
export const MEDIA_CONNECT_MS = 20000;    // ICE must connect within this after the answer
export const MEDIA_GRACE_MS = 8000;       // 'disconnected' for this long: rebuild
// The camera's two layers (issue 12): HD for the picture people look at, a thumbnail for the chair's grid.
export const CAMERA = { width: 1280, height: 720, frameRate: 25 };
export const CAMERA_MAX_BPS = 1300000;
export const THUMB_WIDTH = 320;
export const THUMB_MAX_BPS = 150000;
export const THUMB_FPS = 15;
// Screen sharing in HD at a low frame rate: slides and documents, one layer.
export const SCREEN = { width: { max: 1920 }, height: { max: 1080 }, frameRate: { max: 15 } };
export const SCREEN_MAX_BPS = 2500000;
export const SCREEN_FPS = 15;

export const S = {
  token: null, claims: {}, room: null, site: null,
  ws: null, pc: null, gen: 0, phase: 'connecting', statusKey: 'st.connecting',
  welcome: null, everWelcomed: false, isHost: null, hostSite: null,
  publish: {}, slotsByMid: {}, midByName: {}, assign: {},
  roster: [], rosterMap: {}, speaker: null, pinned: null, screenSite: null, locked: false,
  mediaReady: null, mediaSettled: false, local: null, mic: null, cam: null, thumb: null, mediaProblem: null,
  userMuted: { audio: false, video: false }, moderated: { audio: false, video: false },
  screenTrack: null, shareAcked: false,
  final: null, attempt: 0, fastRetry: false, reconnectTimer: null, countdownTimer: null, byeReason: null,
  pingTimer: null, lastMsgAt: 0, mediaTimer: null, graceTimer: null,
  quality: { prev: null, level: 'none', rtt: null, loss: 0 },
  errorTimer: null, errorCode: null, errorMessage: '',
  tiles: new Map(), audios: new Map(), siteRows: new Map(), needAudioUnlock: false,
  // the meeting: who is talking now, the floor (speaking requests), the chair's lobby and removed sites, chat
  talking: new Set(), mode: 'free', floor: { queue: [], speaking: null }, handPending: null,
  lobby: [], lobbySeen: new Set(), removed: [], waiting: null, waitTimer: null, waitTick: null,
  chat: { messages: [], unread: 0, open: false, error: null }, live: {}, liveTimer: null,
};

export const $ = (sel) => document.querySelector(sel);

export const ICONS = {
  mic: '<path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z"/>',
  micOff: '<path d="M19 11h-2c0 .8-.2 1.6-.5 2.3l1.5 1.5A7 7 0 0 0 19 11zM15 11.2V5a3 3 0 0 0-5.9-.8zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.5 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.5-1.4l3.2 3.2 1.3-1.3z"/>',
  cam: '<path d="M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11z"/>',
  camOff: '<path d="M21 6.5l-4 4V7a1 1 0 0 0-1-1H9.8L21 17.2zM3.3 2 2 3.3 4.7 6H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12c.2 0 .4-.1.5-.2l3.2 3.2 1.3-1.3z"/>',
  screen: '<path d="M20 4H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h6v2H8v2h8v-2h-2v-2h6a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 12H4V6h16zM12 7l-4 4h3v3h2v-3h3z"/>',
  leave: '<path d="M12 9c-1.6 0-3.1.3-4.6.7v3.1c0 .4-.2.7-.6.9-1 .5-1.8 1.1-2.6 1.8a1 1 0 0 1-1.4 0L.3 13a1 1 0 0 1 0-1.4A16.9 16.9 0 0 1 12 7c4.6 0 8.7 1.8 11.7 4.6a1 1 0 0 1 0 1.4l-2.5 2.5a1 1 0 0 1-1.4 0c-.8-.7-1.6-1.3-2.6-1.8a1 1 0 0 1-.6-.9V9.7C15.1 9.3 13.6 9 12 9z"/>',
  end: '<path d="M6 6h12v12H6z"/>',
  pin: '<path d="M16 3l5 5-3 1-4 4 1 5-2 2-4-4-5 5-1-1 5-5-4-4 2-2 5 1 4-4z"/>',
  remove: '<path d="M14 17l1.4-1.4-2.6-2.6H22v-2h-9.2l2.6-2.6L14 7l-5 5zM4 5h7V3H4a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h7v-2H4z"/>',
  hand: '<path d="M21 7a2 2 0 0 0-4 0v5h-1V4a2 2 0 0 0-4 0v8h-1V5a2 2 0 0 0-4 0v9.3l-2.3-2.4a2 2 0 0 0-2.9 2.8l4.6 5.4A8 8 0 0 0 13.5 23h.5a7 7 0 0 0 7-7z"/>',
  chat: '<path d="M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zm-2 12H6v-2h12zm0-3H6V9h12zm0-3H6V6h12z"/>',
  close: '<path d="M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12z"/>',
  lock: '<path d="M18 8h-1V6a5 5 0 0 0-10 0v2H6a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V10a2 2 0 0 0-2-2zm-6 9a2 2 0 1 1 2-2 2 2 0 0 1-2 2zm3.1-9H8.9V6a3.1 3.1 0 0 1 6.2 0z"/>',
};
export const icon = (name) => `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">${ICONS[name]}</svg>`;

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export function toast(text, kind) {
  const box = $('#toasts');
  const el = document.createElement('div');
  el.className = `toast ${kind || ''}`;
  el.textContent = text;
  box.appendChild(el);
  setTimeout(() => el.classList.add('gone'), 5000);
  setTimeout(() => el.remove(), 5600);
  while (box.children.length > 4) box.firstChild.remove();
}

export function setHtml(el, html) {
  if (el.innerHTML !== html) el.innerHTML = html;
}
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
