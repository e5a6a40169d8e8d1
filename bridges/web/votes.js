// Votes (biểu quyết, bridges/votes.py): the chair opens a question from its panel; every site gets a card with the
// question and three big buttons (tán thành / không tán thành / không ý kiến), votes once and sees «Đã biểu
// quyết»; the chair's panel shows the live counts and who has not voted, and a button to close; when it closes,
// every site's card shows the result. A secret vote shows no counts until it closes and never who chose what.
import { addStrings, lang, nameOf, num, pct, t } from '/console/i18n.js';
import { send } from './signalling.js';
import { $, S, escapeHtml, setHtml, setText } from './state.js';

addStrings({
  vi: {
    'vote.title': 'Biểu quyết', 'vote.secret': 'Bỏ phiếu kín', 'vote.hide': 'Đóng',
    'vote.yes': 'Tán thành', 'vote.no': 'Không tán thành', 'vote.abstain': 'Không ý kiến',
    'vote.cast': 'Đã biểu quyết', 'vote.castAs': 'Đã biểu quyết: {choice}', 'vote.sending': 'Đang gửi biểu quyết…',
    'vote.result': 'Kết quả biểu quyết', 'vote.count': '{n} điểm cầu ({p})',
    'vote.voted': 'Đã biểu quyết: {n}/{total} điểm cầu', 'vote.notVoted': 'Chưa biểu quyết: {names}',
    'vote.allVoted': 'Tất cả điểm cầu đã biểu quyết.', 'vote.secretLive': 'Bỏ phiếu kín: số phiếu từng lựa chọn chỉ hiện khi kết thúc.',
    'vote.question': 'Nội dung biểu quyết', 'vote.placeholder': 'Ví dụ: Thông qua dự thảo Nghị quyết… (tối đa 500 ký tự)',
    'vote.secretBox': 'Bỏ phiếu kín (không ai biết điểm cầu nào chọn gì)', 'vote.open': 'Mở biểu quyết',
    'vote.close': 'Kết thúc biểu quyết',
    'vote.last': 'Lần biểu quyết trước', 'vote.notVotedResult': 'Không biểu quyết: {names}',
    'vote.chairNote': 'Điểm cầu chủ trì cũng biểu quyết trên thẻ biểu quyết.',
  },
  en: {
    'vote.title': 'Vote', 'vote.secret': 'Secret ballot', 'vote.hide': 'Close',
    'vote.yes': 'In favour', 'vote.no': 'Against', 'vote.abstain': 'Abstain',
    'vote.cast': 'Vote cast', 'vote.castAs': 'Vote cast: {choice}', 'vote.sending': 'Sending your vote…',
    'vote.result': 'Result of the vote', 'vote.count': '{n} site(s) ({p})',
    'vote.voted': 'Voted: {n}/{total} sites', 'vote.notVoted': 'Not voted yet: {names}',
    'vote.allVoted': 'Every site has voted.', 'vote.secretLive': 'Secret ballot: the counts appear when the vote closes.',
    'vote.question': 'Question to vote on', 'vote.placeholder': 'E.g. Adopt the draft resolution… (500 characters at most)',
    'vote.secretBox': 'Secret ballot (nobody learns which site chose what)', 'vote.open': 'Open the vote',
    'vote.close': 'Close the vote',
    'vote.last': 'Last vote', 'vote.notVotedResult': 'Did not vote: {names}',
    'vote.chairNote': 'The chair votes on the vote card too.',
  },
});

export const CHOICES = ['yes', 'no', 'abstain'];
const MAX_CHARS = 500;

// question: the open one ({id, text, secret, …}); progress: the chair's live tally; result: the last closed tally.
const V = { question: null, voted: false, choice: null, pending: null, progress: null, result: null, hidden: false, error: null };
S.vote = V;

const nameFor = (id) => { const r = S.rosterMap[id]; return r ? nameOf(r) || id : id; };
const names = (ids) => ids.map(nameFor).join(', ');
const isChair = () => Boolean(S.welcome && S.welcome.host);

/** A new signalling session began: the server sends the open question again (with this site's ballot). */
export function resetVote() {
  V.question = null;
  V.voted = false;
  V.choice = null;
  V.pending = null;
  V.progress = null;
  queueMicrotask(renderVote);  // after the welcome is applied: it says whether this page is the chair's
}

export function onVoteMessage(msg) {
  if (msg.type === 'vote_opened') {
    const fresh = !V.question || V.question.id !== msg.question.id;
    V.question = msg.question;
    V.voted = Boolean(msg.voted);
    V.choice = msg.choice || null;
    V.pending = null;
    V.error = null;
    V.hidden = false;
    if (fresh && !V.voted) {
      V.result = null;
      if (isChair()) $('#vote-text').value = '';
    }
  } else if (msg.type === 'vote_recorded') {
    if (V.question && V.question.id === msg.question) {
      V.voted = true;
      V.choice = msg.choice;
      V.pending = null;
      V.error = null;
    }
  } else if (msg.type === 'vote_progress') {
    V.progress = msg;
  } else if (msg.type === 'vote_result') {
    V.result = msg;
    V.question = null;
    V.progress = null;
    V.pending = null;
    V.error = null;
    V.hidden = false;
  }
  renderVote();
}

/** A vote_* error from the server: shown in the card (or the chair's box), never as a page-wide error. */
export function onVoteError(code, message) {
  V.pending = null;
  V.error = { code, message };
  if (code === 'vote_already_cast') V.voted = true;
  renderVote();
}

function castVote(choice) {
  if (!V.question || V.voted || V.pending) return;
  V.pending = choice;  // until vote_recorded (the server has stored the ballot) or an error
  V.error = null;
  send({ type: 'vote_cast', question: V.question.id, choice });
  renderVote();
}

function errorText(err) {
  const key = `err.${err.code}`;
  const text = t(key);
  return text === key ? err.message || err.code : text;
}

function countsHtml(tally) {
  const total = CHOICES.reduce((sum, c) => sum + (tally[c] || 0), 0);
  return CHOICES.map((c) => {
    const n = tally[c] || 0;
    const share = total ? (100 * n) / total : 0;
    return `<li class="vote-count" data-choice="${c}"><span class="vote-count-label">${escapeHtml(t(`vote.${c}`))}</span>`
      + `<span class="vote-count-n" data-n="${n}">${escapeHtml(t('vote.count', { n: num(n), p: pct(share) }))}</span>`
      + `<span class="vote-bar"><i data-share="${share.toFixed(1)}"></i></span></li>`;
  }).join('');
}

function renderCard() {
  const card = $('#vote-card');
  const q = V.question;
  const r = V.result;
  const show = !V.hidden && (q || r);
  card.hidden = !show;
  if (!show) return;
  card.dataset.state = q ? (V.voted ? 'voted' : 'open') : 'closed';
  setText($('#vote-card-title'), q ? t('vote.title') : t('vote.result'));
  const secret = q ? q.secret : r.question.secret;
  $('#vote-card-secret').hidden = !secret;
  setText($('#vote-card-secret'), t('vote.secret'));
  setText($('#vote-card-hide'), '✕');
  $('#vote-card-hide').title = t('vote.hide');
  $('#vote-card-hide').hidden = Boolean(q);  // an open question stays until the site has voted or it closes
  setText($('#vote-card-question'), q ? q.text : r.question.text);
  const choices = $('#vote-choices');
  choices.hidden = !q || V.voted;
  for (const btn of choices.querySelectorAll('button')) {
    setText(btn, t(`vote.${btn.dataset.choice}`));
    btn.disabled = Boolean(V.pending);
    btn.classList.toggle('pending', V.pending === btn.dataset.choice);
  }
  const done = $('#vote-done');
  done.hidden = !q || !(V.voted || V.pending);
  setText(done, V.pending ? t('vote.sending')
    : V.choice ? t('vote.castAs', { choice: t(`vote.${V.choice}`) }) : t('vote.cast'));
  const res = $('#vote-card-result');
  res.hidden = Boolean(q);
  if (!q) {
    const missing = r.not_voted || [];
    setHtml(res, `<ul class="vote-counts">${countsHtml(r)}</ul>`
      + (missing.length ? `<p class="muted vote-missing">${escapeHtml(t('vote.notVotedResult', { names: names(missing) }))}</p>` : ''));
  }
  const err = $('#vote-card-error');
  err.hidden = !V.error;
  if (V.error) setText(err, errorText(V.error));
}

function renderChairBox() {
  const box = $('#vote-box');
  box.hidden = !isChair();
  if (box.hidden) return;
  setText($('#vote-box-head'), t('vote.title'));
  const q = V.question;
  const form = $('#vote-form');
  form.hidden = Boolean(q);
  setText($('#vote-text-label'), t('vote.question'));
  $('#vote-text').placeholder = t('vote.placeholder');
  setText($('#vote-secret-label'), t('vote.secretBox'));
  setText($('#vote-open'), t('vote.open'));
  const live = $('#vote-live');
  live.hidden = !q;
  setText($('#vote-close'), t('vote.close'));
  if (q) {
    const p = V.progress && V.progress.question.id === q.id ? V.progress : null;
    const voted = p ? p.voted.length : 0;
    const total = p ? voted + p.not_voted.length : 0;
    const missing = p ? p.not_voted : [];
    setHtml($('#vote-live-body'), `<p class="vote-live-q">${escapeHtml(q.text)}</p>`
      + `<p class="vote-live-n" data-voted="${voted}" data-total="${total}">${escapeHtml(t('vote.voted', { n: num(voted), total: num(total) }))}</p>`
      + (p && p.yes != null ? `<ul class="vote-counts">${countsHtml(p)}</ul>` : q.secret ? `<p class="muted">${escapeHtml(t('vote.secretLive'))}</p>` : '')
      + `<p class="muted vote-missing">${escapeHtml(missing.length ? t('vote.notVoted', { names: names(missing) }) : t('vote.allVoted'))}</p>`
      + `<p class="muted">${escapeHtml(t('vote.chairNote'))}</p>`);
  }
  const err = $('#vote-box-error');
  err.hidden = !V.error || !V.error.code.startsWith('vote_') || V.error.code === 'vote_already_cast';
  if (!err.hidden) setText(err, errorText(V.error));
}

export function renderVote() {
  if (!$('#vote-card')) return;
  renderCard();
  renderChairBox();
  // Through the CSSOM: the page's CSP refuses style attributes in markup.
  for (const bar of document.querySelectorAll('.vote-bar i')) bar.style.width = `${bar.dataset.share}%`;
}

export function bindVotes() {
  setHtml($('#vote-card'), '<div class="vote-top"><h2 id="vote-card-title"></h2><span id="vote-card-secret" class="badge badge-secret" hidden></span>'
    + '<span class="spacer"></span><button id="vote-card-hide" type="button" class="small icon-btn"></button></div>'
    + '<p id="vote-card-question" class="vote-question"></p>'
    + `<div id="vote-choices" class="vote-choices" role="group">${CHOICES.map((c) => `<button type="button" class="vote-btn" data-choice="${c}"></button>`).join('')}</div>`
    + '<p id="vote-done" class="vote-done" role="status" hidden></p><div id="vote-card-result" hidden></div>'
    + '<p id="vote-card-error" class="vote-error" role="alert" hidden></p>');
  setHtml($('#vote-box'), '<h3 id="vote-box-head"></h3>'
    + `<form id="vote-form"><label id="vote-text-label" for="vote-text"></label><textarea id="vote-text" rows="2" maxlength="${MAX_CHARS}"></textarea>`
    + '<label class="vote-secret-row"><input id="vote-secret" type="checkbox"><span id="vote-secret-label"></span></label>'
    + '<button id="vote-open" type="submit" class="primary small"></button></form>'
    + '<div id="vote-live" hidden><div id="vote-live-body"></div><button id="vote-close" type="button" class="small danger-outline"></button></div>'
    + '<p id="vote-box-error" class="vote-error" role="alert" hidden></p>');
  $('#vote-choices').addEventListener('click', (ev) => {
    const btn = ev.target.closest('.vote-btn');
    if (btn) castVote(btn.dataset.choice);
  });
  $('#vote-card-hide').addEventListener('click', () => { V.hidden = true; renderVote(); });
  $('#vote-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('#vote-text').value.trim();
    V.error = null;
    if (!text) { onVoteError('vote_question_empty', ''); return; }
    send({ type: 'vote_open', text, secret: $('#vote-secret').checked });
  });
  $('#vote-close').addEventListener('click', () => {
    if (V.question) send({ type: 'vote_close', question: V.question.id });
  });
  // After join.js's own listener: the language is already switched when this runs.
  $('#lang-toggle').addEventListener('click', () => renderVote());
  window.__votes = { get state() { return { ...V, lang: lang() }; } };
  renderVote();
}
