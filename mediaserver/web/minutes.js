// "Biên bản cuộc họp" on a scheduled meeting's page: staff write the conclusions (kết luận), choose whether the
// chat goes in, and issue the minutes once the meeting has ended: the server renders the PDF, signs it with the
// office's certificate and stores it (GET/PUT …/minutes, POST …/minutes/issue, polled until its job ends).
// Each issued version stays as it was: it can be opened and its signature checked; issuing again makes the next.
import { addStrings, state, t, h, api, errorText, fmtDateTime, size, saveBlob } from './core.js';
import { showVerify } from './verify.js';

addStrings({
  vi: {
    'mn.title': 'Biên bản cuộc họp', 'mn.conclusions': 'Kết luận của cuộc họp', 'mn.includeChat': 'Đưa nội dung trao đổi (trò chuyện) vào biên bản',
    'mn.save': 'Lưu dự thảo', 'mn.saved': 'Đã lưu dự thảo.', 'mn.issue': 'Phát hành biên bản', 'mn.reissue': 'Phát hành phiên bản mới',
    'mn.notEnded': 'Biên bản được phát hành sau khi cuộc họp kết thúc.',
    'mn.stage.gathering': 'Đang tổng hợp nội dung…', 'mn.stage.hashing': 'Đang tính mã SHA-256 các tệp ghi hình… {p}',
    'mn.stage.rendering': 'Đang lập tệp PDF…', 'mn.stage.signing': 'Đang ký số…', 'mn.stage.storing': 'Đang lưu…',
    'mn.done': 'Đã phát hành biên bản phiên bản {v}.', 'mn.failed': 'Không phát hành được biên bản: {m}',
    'mn.versions': 'Các phiên bản đã phát hành', 'mn.none': 'Chưa phát hành biên bản nào.',
    'mn.version': 'Phiên bản {v}', 'mn.issuedAt': 'phát hành {t} bởi {u}', 'mn.signedBy': 'Đã ký số: {s}',
    'mn.unsigned': 'CHƯA KÝ SỐ', 'mn.open': 'Mở PDF', 'mn.check': 'Kiểm tra chữ ký',
    'mn.signer': 'Ký số bằng chứng thư: {s}', 'mn.signerToken': 'Ký số bằng USB token (chứng thư đọc khi ký)',
    'mn.demo': 'Chứng thư CHỈ DÙNG THỬ (không có giá trị pháp lý): hãy cấu hình chứng thư số của cơ quan (README, mục “Chữ ký số”).',
    'mn.noSigning': 'Chưa cấu hình chữ ký số: biên bản phát hành sẽ CHƯA KÝ SỐ (in ra để ký tay và đóng dấu).',
    'mn.signingBroken': 'Chữ ký số đã cấu hình nhưng chưa dùng được: {m}',
  },
  en: {
    'mn.title': 'Meeting minutes', 'mn.conclusions': 'Conclusions of the meeting', 'mn.includeChat': 'Include the chat in the minutes',
    'mn.save': 'Save draft', 'mn.saved': 'Draft saved.', 'mn.issue': 'Issue the minutes', 'mn.reissue': 'Issue a new version',
    'mn.notEnded': 'The minutes are issued once the meeting has ended.',
    'mn.stage.gathering': 'Gathering the content…', 'mn.stage.hashing': 'Hashing the recordings (SHA-256)… {p}',
    'mn.stage.rendering': 'Making the PDF…', 'mn.stage.signing': 'Signing…', 'mn.stage.storing': 'Storing…',
    'mn.done': 'Minutes version {v} issued.', 'mn.failed': 'The minutes were not issued: {m}',
    'mn.versions': 'Issued versions', 'mn.none': 'No minutes issued yet.',
    'mn.version': 'Version {v}', 'mn.issuedAt': 'issued {t} by {u}', 'mn.signedBy': 'Digitally signed: {s}',
    'mn.unsigned': 'NOT DIGITALLY SIGNED', 'mn.open': 'Open PDF', 'mn.check': 'Check signature',
    'mn.signer': 'Signed with the certificate: {s}', 'mn.signerToken': 'Signed on the USB token (its certificate is read when signing)',
    'mn.demo': 'TEST-ONLY certificate (no legal value): configure the office\'s own certificate (README, “Chữ ký số”).',
    'mn.noSigning': 'Digital signing is not configured: issued minutes will be NOT DIGITALLY SIGNED (print them to sign by hand).',
    'mn.signingBroken': 'Digital signing is configured but cannot be used: {m}',
  },
});

const POLL_MS = 700;

/** The minutes card of a meeting page. */
export function minutesSection(m) {
  const base = `/api/v1/scheduled-meetings/${m.id}/minutes`;
  const card = h('section', { id: 'minutes', class: 'card minutes', 'data-meeting-id': m.id });
  const area = h('textarea', { id: 'minutes-conclusions', rows: 5, maxlength: 20000, 'aria-label': t('mn.conclusions') });
  const chat = h('input', { type: 'checkbox', id: 'minutes-chat' });
  const msg = h('p', { id: 'minutes-msg', class: 'msg info', role: 'status', hidden: true });
  const signingNote = h('p', { id: 'minutes-signing', class: 'small' });
  const versions = h('div', { id: 'minutes-versions' });
  const save = h('button', { type: 'button', id: 'minutes-save' }, t('mn.save'));
  const issue = h('button', { type: 'button', id: 'minutes-issue', class: 'primary' }, t('mn.issue'));
  const ended = m.status === 'ended';
  const say = (text, kind = 'info') => { msg.className = `msg ${kind}`; msg.textContent = text; msg.hidden = !text; };
  const pct = (v) => new Intl.NumberFormat(state.lang === 'en' ? 'en-GB' : 'vi-VN', { style: 'percent' }).format(v);
  let poll = null;

  const paint = (s) => {
    const sg = s.signing;
    signingNote.className = `small ${sg.enabled && !sg.demo ? 'muted' : 'msg error inline'}`;
    signingNote.textContent = sg.error_code ? t('mn.signingBroken', { m: errorText({ code: sg.error_code }) })
      : !sg.enabled ? t('mn.noSigning') : sg.demo ? t('mn.demo')
        : sg.signer ? t('mn.signer', { s: sg.signer }) : t('mn.signerToken');
    issue.textContent = s.versions.length ? t('mn.reissue') : t('mn.issue');
    issue.disabled = !ended || s.job?.state === 'running' || Boolean(sg.error_code);
    versions.replaceChildren(h('h4', {}, t('mn.versions')), s.versions.length ? h('ul', { class: 'minutes-list' },
      s.versions.map((v) => h('li', { 'data-version': v.version, 'data-signed': String(v.signed) },
        h('strong', {}, t('mn.version', { v: v.version })), ' — ', t('mn.issuedAt', { t: fmtDateTime(v.issued_at), u: v.issued_by }), ' ',
        v.signed ? h('span', { class: 'muted small' }, t('mn.signedBy', { s: v.signer || '' }))
          : h('strong', { class: 'msg error inline minutes-unsigned' }, t('mn.unsigned')),
        h('div', { class: 'minutes-actions' },
          h('button', { type: 'button', class: 'minutes-open', onclick: () => openPdf(v).catch((e) => !e.handled && say(errorText(e), 'error')) }, t('mn.open')),
          h('button', { type: 'button', class: 'minutes-check', onclick: async (ev) => {
            const b = ev.currentTarget;
            b.disabled = true;
            try { showVerify(await api('GET', `${base}/verify?version=${v.version}`)); } catch (e) { if (!e.handled) say(errorText(e), 'error'); }
            b.disabled = false;
          } }, t('mn.check')),
          h('small', { class: 'muted' }, size(v.bytes), ' · SHA-256 ', h('code', { title: v.sha256 }, `${v.sha256.slice(0, 16)}…`))))))
      : h('p', { class: 'muted', id: 'minutes-none' }, t('mn.none')));
  };

  const openPdf = async (v) => {
    const resp = await api('GET', v.url, undefined, { raw: true });
    const blob = await resp.blob();
    const w = window.open(URL.createObjectURL(blob), '_blank', 'noopener');
    if (!w) saveBlob(blob, `bien-ban-${m.id}-v${v.version}.pdf`); // a blocked pop-up: download it instead
  };

  const showJob = (job) => {
    if (!job) return;
    if (job.state === 'running') say(t(`mn.stage.${job.stage}`, { p: pct(job.progress) }));
    else if (job.state === 'done') say(t('mn.done', { v: job.version }));
    else say(t('mn.failed', { m: errorText({ code: job.error_code }) }), 'error');
  };

  const watch = () => {
    clearTimeout(poll);
    poll = setTimeout(async () => {
      if (!card.isConnected) return;
      try {
        const s = await api('GET', base);
        paint(s);
        showJob(s.job);
        if (s.job?.state === 'running') watch();
      } catch (e) { if (!e.handled) say(errorText(e), 'error'); }
    }, POLL_MS);
  };

  const saveDraft = () => api('PUT', base, { conclusions: area.value, include_chat: chat.checked });
  save.addEventListener('click', async () => {
    save.disabled = true;
    try { paint(await saveDraft()); say(t('mn.saved')); } catch (e) { if (!e.handled) say(errorText(e), 'error'); }
    save.disabled = false;
  });
  issue.addEventListener('click', async () => {
    issue.disabled = true;
    try {
      await saveDraft(); // what is on the screen is what goes in
      const s = await api('POST', `${base}/issue`);
      paint(s);
      showJob(s.job);
      watch();
    } catch (e) {
      issue.disabled = false;
      if (!e.handled) say(errorText(e), 'error');
    }
  });

  card.append(h('h3', {}, t('mn.title')), signingNote,
    h('label', { for: 'minutes-conclusions', class: 'field-label' }, t('mn.conclusions')), area,
    h('label', { class: 'check' }, chat, ' ', t('mn.includeChat')),
    h('div', { class: 'mf-actions' }, save, issue, ended ? null : h('span', { class: 'muted small', id: 'minutes-not-ended' }, t('mn.notEnded'))),
    msg, versions);
  api('GET', base).then((s) => {
    area.value = s.draft.conclusions;
    chat.checked = s.draft.include_chat;
    paint(s);
    if (s.job?.state === 'running') { showJob(s.job); watch(); }
  }).catch((e) => { if (!e.handled) say(errorText(e), 'error'); });
  return card;
}
