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
  },
  en: {
    'vt.title': 'Votes', 'vt.empty': 'No vote has been taken in this meeting.',
    'vt.yes': 'In favour', 'vt.no': 'Against', 'vt.abstain': 'Abstain',
    'vt.secret': 'Secret ballot', 'vt.open': 'Voting now', 'vt.when': 'Opened at {t} by {by}',
    'vt.count': '{n} site(s) ({p})', 'vt.notVoted': 'Did not vote: {names}', 'vt.ballots': 'Each site’s ballot',
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
