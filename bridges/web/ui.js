// What the page says about itself: language, status, banners, errors, the ended screen, the header.
import { hasText, lang, nameOf, t } from '/console/i18n.js';
import { renderChat } from './chat.js';
import { renderControls } from './controls.js';
import { renderFloor } from './floor.js';
import { renderWaiting } from './lobby.js';
import { connected, renderTiles } from './layout.js';
import { renderPanel } from './moderation.js';
import { renderQuality } from './peer.js';
import { $, S, escapeHtml, icon } from './state.js';

// ------------------------------------------------------------------------------------------ language

export function applyLang() {
  document.documentElement.lang = lang();
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('#lang-toggle [data-lang]')) {
    el.classList.toggle('active', el.dataset.lang === lang());
  }
  $('#grid').setAttribute('aria-label', lang() === 'vi' ? 'Điểm cầu' : 'Sites');
  renderAll();
}

export function renderAll() {
  renderHeader();
  renderStatus();
  renderControls();
  renderTiles();
  renderPanel();
  renderQuality();
  renderError();
  renderEnded();
  renderBanner();
  renderMediaWarning();
  renderWaiting();
  renderFloor();
  renderChat();
}

// ------------------------------------------------------------------------------------------ state + status

export function setPhase(phase, statusKey) {
  S.phase = phase;
  document.body.dataset.state = phase;
  if (statusKey) S.statusKey = statusKey;
  renderStatus();
  renderBanner();
}

export function renderStatus() {
  const el = $('#status');
  let text = t(S.statusKey);
  if (S.phase === 'connected' && S.welcome) text = `${t('st.connected')}`;
  el.textContent = text;
  el.dataset.phase = S.phase;
}

export function renderHeader() {
  const w = S.welcome;
  document.title = w ? `${w.room_name} — ${t('title')}` : t('title');
  $('#room-name').textContent = w ? w.room_name : t('title');
  const me = w ? nameOf({ name: w.site_name, name_en: w.site_name_en }) : '';
  $('#site-name').textContent = w ? t('youAre', { name: me }) : '';
  $('#host-badge').hidden = !(w && w.host);
  $('#host-badge').textContent = t('hostBadge');
  const lock = $('#lock-badge');
  lock.hidden = !S.locked;
  lock.innerHTML = `${icon('lock')}<span>${escapeHtml(t('locked'))}</span>`;
  $('#self-box .name').textContent = w ? t('youNamed', { name: me }) : t('you');
}

export let bannerKey = null;
export let bannerVars = null;
export function setBanner(key, vars) {
  bannerKey = key;
  bannerVars = vars || null;
  renderBanner();
}
export function renderBanner() {
  const el = $('#banner');
  el.hidden = !bannerKey;
  el.textContent = bannerKey ? t(bannerKey, bannerVars) : '';
}

// Shows an error in #error (data-code = the code). Fatal errors make it a centred panel (body[data-state=error]).
export function showError(code, message, opts) {
  S.errorCode = code;
  S.errorMessage = message || '';
  clearTimeout(S.errorTimer);
  if (opts && opts.autoHideMs) S.errorTimer = setTimeout(hideError, opts.autoHideMs);
  renderError();
}
export function hideError() {
  clearTimeout(S.errorTimer);
  S.errorCode = null;
  S.errorMessage = '';
  renderError();
}
export function renderError() {
  const el = $('#error');
  const code = S.errorCode;
  el.hidden = !code;
  el.dataset.code = code || '';
  if (!code) return;
  const key = `err.${code}`;
  const known = hasText(key);
  $('#error-text').textContent = known ? t(key) : t('err.generic', { m: S.errorMessage || code });
  $('#error-detail').textContent = t('errDetail', { code }) + (known && S.errorMessage ? ` — ${S.errorMessage}` : '');
  const retry = $('#btn-retry');
  retry.hidden = !(S.phase === 'error' && code !== 'no_token');
  retry.textContent = t('retry');
}

export function renderEnded() {
  const box = $('#ended');
  const show = S.phase === 'ended';
  box.hidden = !show;
  if (!show) return;
  const reason = S.final === 'left' ? 'left' : S.byeReason || 'ended';
  const msg = $('#ended-msg');
  msg.dataset.reason = reason;
  msg.textContent = t(`bye.${reason}`);
  $('#btn-rejoin').textContent = reason === 'replaced' ? t('useHere') : t('rejoin');
  // Ended by the chair: only staff (or the next scheduled meeting) open the room again, so no button invites a try.
  $('#btn-rejoin').hidden = reason === 'ended';
}

export function renderMediaWarning() {
  const p = S.mediaProblem;
  $('#media-warning').hidden = !p || p.dismissed;
  if (p) $('#media-warning-text').textContent = t(p.key, { m: p.m || '', codec: p.codec || '' });
  $('#media-warning-close').textContent = t('dismiss');
}
