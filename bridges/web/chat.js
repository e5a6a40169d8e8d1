// Chat: to everyone or to the chair only (the chair may also write to one site); kept with the meeting by the
// server, sent again on every (re)join as chat_history; an unread count on the chat button while it is closed.
import { addStrings, clockTime, nameOf, num, t } from '/console/i18n.js';
import { send } from './signalling.js';
import { $, S, icon, setHtml, setText } from './state.js';

addStrings({
  vi: {
    'chat.open': 'Trao đổi', 'chat.title': 'Trao đổi trong cuộc họp', 'chat.close': 'Đóng',
    'chat.to': 'Gửi tới', 'chat.toAll': 'Tất cả điểm cầu', 'chat.toChair': 'Chỉ chủ tọa', 'chat.toSite': 'Riêng: {name}',
    'chat.placeholder': 'Nhập nội dung (tối đa 1.000 ký tự), Enter để gửi',
    'chat.send': 'Gửi', 'chat.empty': 'Chưa có tin nhắn nào.', 'chat.private': 'riêng', 'chat.toYou': 'gửi riêng bạn',
    'chat.toChairMark': 'gửi chủ tọa', 'chat.toSiteMark': 'gửi riêng {name}', 'chat.unread': '{n} tin nhắn chưa đọc',
    'chat.count': '{n}/{max}',
    'chat.err.chat_rate_limited': 'Gửi quá nhiều tin nhắn liên tiếp — vui lòng chờ vài giây rồi gửi tiếp.',
    'chat.err.chat_too_long': 'Tin nhắn quá dài: tối đa 1.000 ký tự.',
    'chat.err.chat_empty': 'Tin nhắn trống.', 'chat.err.chat_unknown_recipient': 'Điểm cầu nhận không còn trong cuộc họp.',
    'chat.err.not_allowed': 'Không gửi được tin nhắn này.', 'chat.err.generic': 'Không gửi được: {m}',
    'chat.offline': 'Đang mất kết nối — tin nhắn sẽ gửi được khi kết nối lại.',
  },
  en: {
    'chat.open': 'Chat', 'chat.title': 'Meeting chat', 'chat.close': 'Close',
    'chat.to': 'To', 'chat.toAll': 'Everyone', 'chat.toChair': 'The chair only', 'chat.toSite': 'Private: {name}',
    'chat.placeholder': 'Type a message (up to 1,000 characters), Enter to send',
    'chat.send': 'Send', 'chat.empty': 'No messages yet.', 'chat.private': 'private', 'chat.toYou': 'to you',
    'chat.toChairMark': 'to the chair', 'chat.toSiteMark': 'to {name}', 'chat.unread': '{n} unread messages',
    'chat.count': '{n}/{max}',
    'chat.err.chat_rate_limited': 'Too many messages in a row — wait a few seconds before the next.',
    'chat.err.chat_too_long': 'The message is too long: at most 1,000 characters.',
    'chat.err.chat_empty': 'The message is empty.', 'chat.err.chat_unknown_recipient': 'That site is no longer in the meeting.',
    'chat.err.not_allowed': 'This message cannot be sent.', 'chat.err.generic': 'Not sent: {m}',
    'chat.offline': 'Connection lost — messages can be sent once it is back.',
  },
});

export const MAX_CHARS = 1000;
const KEEP = 500;  // messages kept on the page (the server keeps them all)

const nameFor = (id, fallback) => { const r = S.rosterMap[id]; return r ? nameOf(r) || fallback || id : fallback || id; };

export function onChatHistory(msg) {
  const known = new Set(S.chat.messages.map((m) => m.id));
  const incoming = Array.isArray(msg.messages) ? msg.messages : [];
  // A rejoin sends the history again: only messages this page has not shown count as unread.
  const fresh = incoming.filter((m) => !known.has(m.id) && m.from !== S.site).length;
  S.chat.messages = incoming.slice(-KEEP);
  if (!S.chat.open && known.size) S.chat.unread += fresh;
  renderChat();
}

export function onChat(msg) {
  const m = msg.message;
  if (!m) return;
  S.chat.messages.push(m);
  if (S.chat.messages.length > KEEP) S.chat.messages.splice(0, S.chat.messages.length - KEEP);
  const input = $('#chat-text');
  if (m.from === S.site) {
    if (input.value.trim() === m.text.trim()) input.value = '';  // ours arrived: the box is free again
    S.chat.error = null;
  } else if (!S.chat.open || document.hidden) {
    S.chat.unread += 1;
  }
  renderChat();
}

/** The server refused our message (size, rate): say why beside the box, keep what was typed. */
export function onChatError(code, message) {
  const key = `chat.err.${code}`;
  S.chat.error = t(key) === key ? t('chat.err.generic', { m: message || code }) : t(key);
  renderChat();
}

function submit(ev) {
  ev.preventDefault();
  const input = $('#chat-text');
  const text = input.value.trim();
  if (!text) return;
  if (text.length > MAX_CHARS) { onChatError('chat_too_long'); return; }
  if (!S.ws || S.ws.readyState !== WebSocket.OPEN || !S.welcome) { S.chat.error = t('chat.offline'); renderChat(); return; }
  S.chat.error = null;
  send({ type: 'chat', text, to: $('#chat-to').value || 'all' });
  renderChat();
}

function setOpen(open) {
  S.chat.open = open;
  if (open) S.chat.unread = 0;
  document.body.classList.toggle('chat-open', open);
  renderChat();
  if (open) $('#chat-text').focus();
}

function recipients() {
  const out = [['all', t('chat.toAll')]];
  if (S.isHost) {
    for (const r of S.roster) if (r.connected && r.site !== S.site) out.push([r.site, t('chat.toSite', { name: nameOf(r) || r.site })]);
  } else {
    out.push(['chair', t('chat.toChair')]);
  }
  return out;
}

function mark(m) {
  if (m.to === 'all') return '';
  if (m.to === 'chair') return S.isHost && m.from !== S.site ? t('chat.toYou') : t('chat.toChairMark');
  if (m.to === S.site) return t('chat.toYou');
  return t('chat.toSiteMark', { name: nameFor(m.to) });
}

export function renderChat() {
  const btn = $('#btn-chat');
  if (!btn) return;
  btn.hidden = !S.everWelcomed;
  setHtml(btn.querySelector('.ico'), icon('chat'));
  setText(btn.querySelector('.txt'), t('chat.open'));
  btn.classList.toggle('active', S.chat.open);
  btn.setAttribute('aria-pressed', String(S.chat.open));
  const badge = $('#chat-unread');
  badge.hidden = !S.chat.unread;
  setText(badge, S.chat.unread > 99 ? '99+' : String(S.chat.unread));
  badge.title = t('chat.unread', { n: num(S.chat.unread) });
  btn.title = S.chat.unread ? `${t('chat.open')} — ${badge.title}` : t('chat.open');
  const panel = $('#chat');
  panel.hidden = !S.chat.open;
  if (!S.chat.open) return;
  setText($('#chat-title'), t('chat.title'));
  $('#chat-close').title = t('chat.close');
  $('#chat-close').setAttribute('aria-label', t('chat.close'));
  setText($('#chat-to-label'), t('chat.to'));
  const sel = $('#chat-to');
  const before = sel.value || 'all';
  const opts = recipients();
  sel.replaceChildren(...opts.map(([v, label]) => { const o = document.createElement('option'); o.value = v; o.textContent = label; return o; }));
  sel.value = opts.some(([v]) => v === before) ? before : 'all';
  const input = $('#chat-text');
  input.placeholder = t('chat.placeholder');
  input.maxLength = MAX_CHARS;
  setText($('#chat-count'), t('chat.count', { n: num(input.value.length), max: num(input.maxLength) }));
  setText($('#chat-send'), t('chat.send'));
  const err = $('#chat-error');
  err.hidden = !S.chat.error;
  setText(err, S.chat.error || '');
  const list = $('#chat-list');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...(S.chat.messages.length ? S.chat.messages.map((m) => {
    const li = document.createElement('li');
    li.className = `chat-msg${m.from === S.site ? ' mine' : ''}${m.to !== 'all' ? ' private' : ''}`;
    li.dataset.id = String(m.id);
    const head = document.createElement('div');
    head.className = 'chat-head';
    const who = document.createElement('b');
    who.textContent = m.from === S.site ? t('you') : nameFor(m.from, m.from_name);
    const when = document.createElement('time');
    when.textContent = clockTime(new Date(m.at * 1000));
    head.append(who, when);
    const to = mark(m);
    if (to) { const s = document.createElement('span'); s.className = 'chat-to'; s.textContent = to; head.append(s); }
    const body = document.createElement('div');
    body.className = 'chat-text';
    body.textContent = m.text;
    li.append(head, body);
    return li;
  }) : [Object.assign(document.createElement('li'), { className: 'chat-none muted', textContent: t('chat.empty') })]));
  if (atBottom || S.chat.scrollNext) list.scrollTop = list.scrollHeight;
  S.chat.scrollNext = false;
}

export function bindChat() {
  $('#btn-chat').addEventListener('click', () => { S.chat.scrollNext = true; setOpen(!S.chat.open); });
  $('#chat-close').addEventListener('click', () => setOpen(false));
  $('#chat-form').addEventListener('submit', submit);
  $('#chat-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) submit(ev);  // Vietnamese IMEs compose with Enter
  });
  $('#chat-text').addEventListener('input', () => setText($('#chat-count'), t('chat.count', { n: num($('#chat-text').value.length), max: num($('#chat-text').maxLength) })));
  document.addEventListener('visibilitychange', () => { if (!document.hidden && S.chat.open) { S.chat.unread = 0; renderChat(); } });
}
