// The chair's panel: every member site with its state and the moderation buttons (mute, pin, remove), the
// lock and End buttons, and the room API the chair's page calls with its join token. The lobby, the removed
// sites and the speaking queue have their own modules (lobby.js, floor.js) and boxes in the same panel.
import { addStrings, hasText, nameOf, num, t } from '/console/i18n.js';
import { renderFloorPanel } from './floor.js';
import { iconsHtml, siteName } from './layout.js';
import { renderLobbyPanel } from './lobby.js';
import { $, S, escapeHtml, icon, setHtml, setText, toast } from './state.js';

addStrings({
  vi: {
    apiNotWaiting: 'Điểm cầu này không còn chờ ở phòng chờ.', apiNotRemoved: 'Điểm cầu này không bị mời rời cuộc họp.',
    apiNoSpeaker: 'Hiện không có điểm cầu nào đang phát biểu.', apiInvalid: 'Yêu cầu không hợp lệ.',
    apiTooMany: 'Thao tác quá nhanh — vui lòng thử lại sau giây lát.', 'conn.lost': 'Mất kết nối', handTip2: 'Xin phát biểu',
  },
  en: {
    apiNotWaiting: 'That site is no longer waiting in the lobby.', apiNotRemoved: 'That site was not removed.',
    apiNoSpeaker: 'Nobody has the floor.', apiInvalid: 'The request is not valid.',
    apiTooMany: 'Too fast — try again in a moment.', 'conn.lost': 'Connection lost', handTip2: 'Asking to speak',
  },
});

// ------------------------------------------------------------------------------------------ moderation panel

export function renderPanel() {
  if (!S.isHost) return;
  const list = $('#site-list');
  const others = S.roster.filter((r) => r.site !== S.site);
  const seen = new Set();
  for (const r of others) {
    seen.add(r.site);
    let row = S.siteRows.get(r.site);
    if (!row) {
      row = document.createElement('li');
      row.className = 'site-row';
      row.dataset.site = r.site;
      row.innerHTML = '<span class="dot"></span><span class="site-name"></span><span class="icons"></span>'
        + '<span class="mod-actions">'
        + `<button type="button" class="mod-btn" data-kind="audio" data-site="${escapeHtml(r.site)}"></button>`
        + `<button type="button" class="mod-btn" data-kind="video" data-site="${escapeHtml(r.site)}"></button>`
        + `<button type="button" class="mod-btn" data-action="pin" data-site="${escapeHtml(r.site)}">${icon('pin')}</button>`
        + `<button type="button" class="mod-btn danger" data-action="remove" data-site="${escapeHtml(r.site)}">${icon('remove')}</button>`
        + '</span>';
      S.siteRows.set(r.site, row);
    }
    list.appendChild(row);  // keeps roster order; moving a row without media is harmless
    const conn = r.connected ? (r.media === 'lost' ? 'lost' : r.connection || 'connecting') : 'offline';
    row.dataset.connected = String(Boolean(r.connected));
    row.dataset.connection = conn;
    row.classList.toggle('speaking', Boolean(r.connected && S.talking.has(r.site)));
    const dot = row.querySelector('.dot');
    dot.dataset.conn = conn;
    dot.title = t(`conn.${conn}`) || conn;
    const nm = row.querySelector('.site-name');
    setText(nm, nameOf(r) || r.site);
    nm.title = `${nameOf(r) || r.site} — ${t(`conn.${conn}`)}`;
    row.classList.toggle('hand', Boolean(r.hand));
    setHtml(row.querySelector('.icons'), (r.hand ? `<span class="st st-hand" title="${escapeHtml(t('handTip2'))}">${icon('hand')}</span>` : '')
      + (r.connected ? iconsHtml(r.site, true) : ''));
    const mod = r.moderated || {};
    for (const kind of ['audio', 'video']) {
      const btn = row.querySelector(`.mod-btn[data-kind="${kind}"]`);
      const muted = Boolean(mod[kind]);
      const action = `${muted ? 'unmute' : 'mute'}_${kind}`;
      btn.dataset.action = action;
      btn.classList.toggle('on', muted);
      btn.setAttribute('aria-pressed', String(muted));
      btn.title = t(`mod.${action}`);
      btn.setAttribute('aria-label', `${t(`mod.${action}`)}: ${nameOf(r) || r.site}`);
      setHtml(btn, icon(kind === 'audio' ? (muted ? 'micOff' : 'mic') : (muted ? 'camOff' : 'cam')));
      btn.disabled = !r.connected;
    }
    const pin = row.querySelector('.mod-btn[data-action="pin"]');
    const pinned = S.pinned === r.site;
    pin.classList.toggle('on', pinned);
    pin.setAttribute('aria-pressed', String(pinned));
    pin.title = t(pinned ? 'mod.unpin' : 'mod.pin');
    pin.setAttribute('aria-label', `${pin.title}: ${nameOf(r) || r.site}`);
    pin.disabled = !r.connected && !pinned;
    const rm = row.querySelector('.mod-btn[data-action="remove"]');
    rm.title = t('mod.remove');
    rm.setAttribute('aria-label', `${rm.title}: ${nameOf(r) || r.site}`);
    rm.disabled = !r.connected || r.host;
  }
  for (const [id, row] of S.siteRows) {
    if (!seen.has(id)) { row.remove(); S.siteRows.delete(id); }
  }
  const c = others.filter((r) => r.connected).length;
  setText($('#panel-count'), t('modCount', { c: num(c), n: num(others.length) }));
  const ps = $('#pin-state');
  if (S.pinned) {
    ps.innerHTML = `<span>${icon('pin')} ${escapeHtml(t('pinOn', { name: siteName(S.pinned) }))}</span>`
      + `<button type="button" class="small" id="btn-unpin">${escapeHtml(t('unpin'))}</button>`;
  } else {
    ps.textContent = t('pinFollow');
  }
  renderLobbyPanel();
  renderFloorPanel();
}

/** Call the room's API with the join token; return the JSON answer; throw an Error with a Vietnamese text. */
export async function api(path, body, method = 'POST') {
  const opts = { method, headers: { Authorization: `Bearer ${S.token}`, Accept: 'application/json' } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`/api/v1/rooms/${encodeURIComponent(S.room)}${path}`, opts);
  } catch (_) {
    throw new Error(t('network'));
  }
  if (resp.ok) return resp.status === 204 ? null : resp.json().catch(() => null);
  let code = '';
  let message = `HTTP ${resp.status}`;
  try {
    const data = await resp.json();
    code = (data.error && data.error.code) || '';
    message = (data.error && data.error.message) || message;
  } catch (_) { /* not JSON */ }
  const known = {
    forbidden: 'apiForbidden', not_connected: 'apiNotConnected', not_running: 'apiNotRunning',
    conflict: 'apiHostRemove', token_expired: 'apiExpired', not_waiting: 'apiNotWaiting', not_removed: 'apiNotRemoved',
    no_speaker: 'apiNoSpeaker', invalid_input: 'apiInvalid', rate_limited: 'apiTooMany',
  }[code];
  // A code without a text here is shown as its code, never as the server's English sentence.
  if (known) throw new Error(t(known));
  throw new Error(hasText(`err.${code}`) ? t(`err.${code}`) : t('apiFailed', { m: code || message }));
}

export async function moderate(btn) {
  const site = btn.dataset.site;
  const action = btn.dataset.action;
  const name = siteName(site);
  try {
    btn.disabled = true;
    const m = /^(mute|unmute)_(audio|video)$/.exec(action || '');
    if (m) {
      await api(`/sites/${encodeURIComponent(site)}/mute`, { kind: m[2], muted: m[1] === 'mute' });
      toast(t(`done.${action}`, { name }), 'ok');
    } else if (action === 'pin') {
      const unpin = S.pinned === site;
      await api('/pin', { site_id: unpin ? null : site });
      toast(unpin ? t('done.unpin') : t('done.pin', { name }), 'ok');
    } else if (action === 'remove') {
      if (!window.confirm(t('confirmRemove', { name }))) return;
      await api(`/sites/${encodeURIComponent(site)}/remove`);
      toast(t('done.remove', { name }), 'ok');
    }
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    btn.disabled = false;
    renderPanel();
  }
}

export async function unpin(btn) {
  btn.disabled = true;
  try {
    await api('/pin', { site_id: null });
    toast(t('done.unpin'), 'ok');
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    btn.disabled = false;
  }
}

export async function toggleLock() {
  // The roster that follows carries the new state; the button follows it.
  const btn = $('#btn-lock');
  btn.disabled = true;
  try {
    await api(S.locked ? '/unlock' : '/lock');
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    btn.disabled = false;
  }
}

export async function endMeeting() {
  if (!window.confirm(t('confirmEnd'))) return;
  const btn = $('#btn-end');
  btn.disabled = true;
  try {
    await api('/end');
    toast(t('done.end'), 'ok');  // the server's 'bye ended' follows
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    btn.disabled = false;
  }
}
