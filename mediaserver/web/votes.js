// Votes (biểu quyết) in the console: a scheduled meeting's page lists its votes and results
// (GET /api/v1/scheduled-meetings/{id}/votes); a secret vote shows counts only, never who chose what.
import { addStrings, t, h, api, errorText, fmtDateTime, num, pct } from './core.js';
import { siteLabel } from './meeting-info.js';

addStrings({
  vi: {
    'vt.title': 'Biểu quyết', 'vt.empty': 'Cuộc họp chưa có nội dung biểu quyết nào.',
    'vt.yes': 'Tán thành', 'vt.no': 'Không tán thành', 'vt.abstain': 'Không ý kiến',
    'vt.secret': 'Bỏ phiếu kín', 'vt.open': 'Đang biểu quyết', 'vt.when': 'Mở lúc {t}, do {by}',
    'vt.count': '{n} điểm cầu ({p})', 'vt.notVoted': 'Không biểu quyết: {names}', 'vt.ballots': 'Phiếu của từng điểm cầu',
    'vt.question': 'Nội dung biểu quyết', 'vt.secretBox': 'Bỏ phiếu kín', 'vt.openBtn': 'Mở biểu quyết',
    'vt.closeBtn': 'Kết thúc biểu quyết', 'vt.voted': 'Đã biểu quyết: {n}/{total} điểm cầu', 'vt.waiting': 'Chưa biểu quyết: {names}',
    'vt.secretLive': 'Bỏ phiếu kín: số phiếu chỉ hiện khi kết thúc.', 'vt.last': 'Kết quả lần trước',
  },
  en: {
    'vt.title': 'Votes', 'vt.empty': 'No vote has been taken in this meeting.',
    'vt.yes': 'In favour', 'vt.no': 'Against', 'vt.abstain': 'Abstain',
    'vt.secret': 'Secret ballot', 'vt.open': 'Voting now', 'vt.when': 'Opened at {t} by {by}',
    'vt.count': '{n} site(s) ({p})', 'vt.notVoted': 'Did not vote: {names}', 'vt.ballots': 'Each site’s ballot',
    'vt.question': 'Question to vote on', 'vt.secretBox': 'Secret ballot', 'vt.openBtn': 'Open the vote',
    'vt.closeBtn': 'Close the vote', 'vt.voted': 'Voted: {n}/{total} sites', 'vt.waiting': 'Not voted yet: {names}',
    'vt.secretLive': 'Secret ballot: the counts appear when it closes.', 'vt.last': 'Last result',
  },
});

const CHOICES = ['yes', 'no', 'abstain'];

const who = (refs, by) => (by.startsWith('site:') ? siteLabel(refs, by.slice(5)) : by);

function voteItem(v, refs) {
  const total = CHOICES.reduce((s, c) => s + (v[c] || 0), 0);
  const q = v.question;
  const counts = h('ul', { class: 'vt-counts' }, CHOICES.map((c) => h('li', { class: 'vt-count', 'data-choice': c },
    h('span', {}, t(`vt.${c}`)), ' ', h('strong', {}, t('vt.count', { n: num(v[c] || 0), p: pct(total ? (100 * (v[c] || 0)) / total : 0) })))));
  const ballots = Object.entries(v.ballots || {});
  return h('li', { class: 'vt-item card', 'data-question-id': q.id },
    h('div', { class: 'vt-head' }, h('strong', { class: 'vt-text' }, q.text),
      q.secret && h('span', { class: 'badge' }, t('vt.secret')), q.closed_at == null && h('span', { class: 'badge warn' }, t('vt.open'))),
    h('p', { class: 'muted small' }, t('vt.when', { t: fmtDateTime(new Date(q.opened_at * 1000).toISOString()), by: who(refs, q.opened_by) })),
    counts,
    v.not_voted?.length ? h('p', { class: 'muted small vt-missing' }, t('vt.notVoted', { names: v.not_voted.map((s) => siteLabel(refs, s)).join(', ') })) : null,
    ballots.length ? h('details', { class: 'vt-ballots' }, h('summary', {}, t('vt.ballots')),
      h('ul', {}, ballots.map(([site, choice]) => h('li', { 'data-site-id': site }, `${siteLabel(refs, site)}: ${t(`vt.${choice}`)}`)))) : null);
}

/** The "Biểu quyết" section of a scheduled meeting's page. */
export function votesSection(m, refs) {
  const list = h('ul', { id: 'votes-list', class: 'vt-list' });
  const sec = h('section', { id: 'votes', class: 'votes card' }, h('h3', {}, t('vt.title')), list);
  api('GET', `/api/v1/scheduled-meetings/${m.id}/votes`).then((data) => {
    list.replaceChildren(...(data.items.length ? data.items.map((v) => voteItem(v, refs)) : [h('li', { class: 'muted' }, t('vt.empty'))]));
  }, (err) => {
    if (!err.handled) list.replaceChildren(h('li', { class: 'msg error' }, errorText(err)));
  });
  return sec;
}

/** The "Biểu quyết" box of a running room on the monitor page: open a question, watch it count, close it. */
export function roomVoteBox(roomId, refs) {
  const path = `/api/v1/rooms/${encodeURIComponent(roomId)}/vote`;
  const text = h('textarea', { class: 'vt-input', rows: '2', maxlength: '500', 'aria-label': t('vt.question'), placeholder: t('vt.question') });
  const secret = h('input', { type: 'checkbox', class: 'vt-secret' });
  const openBtn = h('button', { type: 'button', class: 'primary vt-open-btn' }, t('vt.openBtn'));
  const form = h('div', { class: 'vt-form' }, text, h('label', { class: 'small' }, secret, ' ', t('vt.secretBox')), openBtn);
  const live = h('div', { class: 'vt-live', hidden: true });
  const closeBtn = h('button', { type: 'button', class: 'danger vt-close-btn' }, t('vt.closeBtn'));
  const last = h('div', { class: 'vt-last', hidden: true });
  const msg = h('p', { class: 'msg error', hidden: true });
  const el = h('section', { class: 'vt-box', 'data-room-id': roomId }, h('h4', {}, t('vt.title')), form, live, closeBtn, msg, last);
  closeBtn.hidden = true;
  let busy = false;
  const fail = (err) => { if (!err.handled) { msg.textContent = errorText(err); msg.hidden = false; } };
  const paint = (open) => {
    form.hidden = Boolean(open);
    closeBtn.hidden = !open;
    live.hidden = !open;
    if (!open) return;
    const total = open.voted.length + open.not_voted.length;
    live.replaceChildren(h('p', {}, h('strong', {}, open.question.text)),
      h('p', { class: 'vt-progress' }, t('vt.voted', { n: num(open.voted.length), total: num(total) })),
      open.yes == null ? h('p', { class: 'muted small' }, t('vt.secretLive'))
        : h('ul', { class: 'vt-counts' }, CHOICES.map((c) => h('li', { 'data-choice': c }, `${t(`vt.${c}`)}: ${num(open[c])}`))),
      open.not_voted.length ? h('p', { class: 'muted small' }, t('vt.waiting', { names: open.not_voted.map((s) => siteLabel(refs, s)).join(', ') })) : null);
  };
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try { paint((await api('GET', path)).open); } catch (err) { fail(err); } finally { busy = false; }
  };
  openBtn.addEventListener('click', async () => {
    msg.hidden = true;
    try {
      paint(await api('POST', `${path}/open`, { text: text.value, secret: secret.checked }));
      text.value = '';
    } catch (err) { fail(err); }
  });
  closeBtn.addEventListener('click', async () => {
    msg.hidden = true;
    try {
      const result = await api('POST', `${path}/close`);
      paint(null);
      last.hidden = false;
      last.replaceChildren(h('p', { class: 'muted small' }, t('vt.last')), h('ul', { class: 'vt-list' }, voteItem(result, refs)));
    } catch (err) { fail(err); }
  });
  return { el, refresh };
}
