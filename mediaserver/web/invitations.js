// Invitations (giấy mời) of a scheduled meeting: sending them by e-mail with each site's outcome, and the printable
// page of one card per site with its join link and QR code (two cards to an A4 sheet).
import { addStrings, t, h, api, errorText, fmt, hhmm, num, safeSvg, siteName } from './core.js';
import { roomName, siteLabel, whenText, printShell } from './meeting-info.js';

addStrings({
  vi: {
    invTitle: 'Kết quả gửi giấy mời', invAt: 'lúc {t}', invSent: 'Đã gửi', invFailed: 'Gửi lỗi', invNoEmail: 'Chưa có e-mail',
    invSummary: 'Đã gửi {s}/{n} giấy mời qua e-mail', invSentTo: 'Đã gửi tới {e}', invFailedTo: 'Không gửi được tới {e}: {r}',
    invNoEmailLine: 'Điểm cầu chưa có địa chỉ e-mail (khai báo sites.{id}.email trong config.yaml)',
    invNoEmailHint: '{n} điểm cầu chưa có e-mail: hãy in giấy mời (có mã QR) và chuyển cho các điểm cầu này.',
    invSending: 'Đang gửi giấy mời…', invPrintLink: '🖨 In giấy mời', invClose: 'Đóng',
    invNoReason: 'không rõ lý do',
    invMailDisabled: 'Hệ thống chưa được cấu hình gửi e-mail (mục mail trong config.yaml). Vui lòng in giấy mời (có mã QR) và chuyển cho các điểm cầu.',
    cardHeading: 'GIẤY MỜI HỌP TRỰC TUYẾN', cardTo: 'Kính gửi:', cardMeeting: 'Cuộc họp', cardTest: 'Kiểm tra kết nối',
    cardTestText: 'phòng họp mở từ {t}; đề nghị cán bộ kỹ thuật vào trước để thử âm thanh, hình ảnh.',
    cardScan: 'Quét mã QR bằng điện thoại hoặc máy tính bảng, hoặc mở đường liên kết dưới đây trên máy tính phòng họp:',
    cardChairNote: 'Điểm cầu chủ tọa', cardKeep: 'Đường liên kết dành riêng cho điểm cầu này, không chuyển cho nơi khác.',
    cardsCount: '{n} giấy mời', linksFailed: 'Không tạo được giấy mời: {m}',
  },
  en: {
    invTitle: 'Invitations sent', invAt: 'at {t}', invSent: 'Sent', invFailed: 'Failed', invNoEmail: 'No e-mail',
    invSummary: '{s}/{n} invitations sent by e-mail', invSentTo: 'Sent to {e}', invFailedTo: 'Could not send to {e}: {r}',
    invNoEmailLine: 'This site has no e-mail address (set sites.{id}.email in config.yaml)',
    invNoEmailHint: '{n} sites have no e-mail: print the invitations (with QR codes) and pass them on.',
    invSending: 'Sending invitations…', invPrintLink: '🖨 Print invitations', invClose: 'Close',
    invNoReason: 'unknown reason',
    invMailDisabled: 'E-mail is not configured on this server (section mail in config.yaml). Print the invitations (with QR codes) and pass them on.',
    cardHeading: 'ONLINE MEETING INVITATION', cardTo: 'To:', cardMeeting: 'Meeting', cardTest: 'Connection test',
    cardTestText: 'the room opens at {t}; technicians please join early to test sound and picture.',
    cardScan: 'Scan the QR code with a phone or tablet, or open this link on the meeting room computer:',
    cardChairNote: 'Chair site', cardKeep: 'This link is for this site only; do not pass it on.',
    cardsCount: '{n} invitations', linksFailed: 'Cannot make the invitations: {m}',
  },
});

/** POST …/invite and show each site's outcome in ``out``; resolves true when the server answered. */
export async function sendInvitations(m, refs, out, btn) {
  btn.disabled = true;
  out.hidden = false;
  out.replaceChildren(h('p', { class: 'loading' }, t('invSending')));
  try {
    const res = await api('POST', `/api/v1/scheduled-meetings/${encodeURIComponent(m.id)}/invite`);
    paintResult(m, refs, out, res.items);
    return true;
  } catch (err) {
    if (err.handled) return false;
    out.replaceChildren(h('p', { class: 'msg error', id: 'invite-error', 'data-code': err.code },
      err.code === 'mail_disabled' ? t('invMailDisabled') : errorText(err), ' ',
      err.code === 'mail_disabled' ? h('a', { href: `#/print/invitations?id=${m.id}` }, t('invPrintLink')) : null));
    return false;
  } finally {
    btn.disabled = false;
  }
}

const outcome = (i) => (i.sent ? 'sent' : i.email ? 'failed' : 'no_email');

function paintResult(m, refs, out, items) {
  const by = { sent: [], failed: [], no_email: [] };
  for (const i of items) by[outcome(i)].push(i);
  const icon = { sent: '✓', failed: '✗', no_email: '!' };
  const line = (i) => {
    const o = outcome(i);
    const text = o === 'sent' ? t('invSentTo', { e: i.email }) : o === 'failed' ? t('invFailedTo', { e: i.email, r: i.error || t('invNoReason') })
      : t('invNoEmailLine', { id: i.site_id });
    return h('li', { class: `inv-row inv-${o}`, 'data-site-id': i.site_id, 'data-outcome': o },
      h('span', { class: 'inv-icon', 'aria-hidden': 'true' }, icon[o]),
      h('span', { class: 'inv-site' }, h('strong', {}, siteLabel(refs, i.site_id)), h('small', {}, text)),
      h('span', { class: `inv-tag inv-${o}` }, t(o === 'sent' ? 'invSent' : o === 'failed' ? 'invFailed' : 'invNoEmail')));
  };
  const order = [...by.failed, ...by.no_email, ...by.sent];
  out.replaceChildren(...[
    h('header', { class: 'inv-head' }, h('h3', {}, t('invTitle')),
      h('span', { class: 'muted small' }, t('invAt', { t: fmt(new Date().toISOString(), { hour: '2-digit', minute: '2-digit', hour12: false }) })),
      h('span', { class: 'spacer' }), h('button', { type: 'button', class: 'modal-close', title: t('invClose'), 'aria-label': t('invClose'),
        onclick: () => { out.hidden = true; } }, '✕')),
    h('div', { id: 'invite-summary', class: 'inv-summary' },
      h('strong', {}, t('invSummary', { s: num(by.sent.length), n: num(items.length) })),
      h('span', { class: 'inv-tag inv-sent', 'data-count': by.sent.length }, `${t('invSent')}: ${num(by.sent.length)}`),
      h('span', { class: 'inv-tag inv-failed', 'data-count': by.failed.length }, `${t('invFailed')}: ${num(by.failed.length)}`),
      h('span', { class: 'inv-tag inv-no_email', 'data-count': by.no_email.length }, `${t('invNoEmail')}: ${num(by.no_email.length)}`)),
    by.no_email.length || by.failed.length ? h('p', { class: 'msg info inv-hint' },
      t('invNoEmailHint', { n: num(by.no_email.length + by.failed.length) }), ' ',
      h('a', { href: `#/print/invitations?id=${m.id}` }, t('invPrintLink'))) : null,
    h('ul', { id: 'invite-list', class: 'inv-list' }, order.map(line))].filter(Boolean));
}

// ------------------------------------------------------------------------------------------ printing
export async function renderInvitationsPrint(m, refs, back, mountFn, alive) {
  let links;
  try {
    links = (await api('GET', `/api/v1/scheduled-meetings/${encodeURIComponent(m.id)}/links`)).items;
  } catch (err) {
    if (err.handled || !alive()) return;
    mountFn(printShell('print-invitations', back, h('p', { class: 'msg error' }, t('linksFailed', { m: errorText(err) }))));
    return;
  }
  if (!alive()) return;
  const cards = links.map((l) => {
    const qr = safeSvg(l.qr_svg);
    qr?.setAttribute('role', 'img');
    qr?.setAttribute('aria-label', `QR: ${siteName(l)}`);
    const isChair = l.site_id === m.chair_site_id;
    return h('article', { class: `inv-card${isChair ? ' chair' : ''}`, 'data-site-id': l.site_id },
      h('header', { class: 'inv-card-head' }, h('span', { class: 'inv-card-kicker' }, roomName(refs, m.room_id)),
        h('h2', {}, t('cardHeading'))),
      h('p', { class: 'inv-to' }, t('cardTo'), ' ', h('strong', { class: 'inv-to-name' }, siteName(l) || siteLabel(refs, l.site_id)),
        isChair ? h('span', { class: 'inv-chair' }, ` (${t('cardChairNote')})`) : null),
      h('div', { class: 'inv-card-body' },
        h('dl', { class: 'inv-facts' },
          h('dt', {}, t('cardMeeting')), h('dd', { class: 'inv-meeting' }, h('strong', {}, m.title)),
          h('dt', {}, t('mWhen')), h('dd', {}, whenText(m), ` (${t('vnTime')})`),
          m.test_before_min ? [h('dt', {}, t('cardTest')), h('dd', {}, t('cardTestText', { t: hhmm(m.opens_at) }))] : null,
          h('dt', {}, t('mChair')), h('dd', {}, siteLabel(refs, m.chair_site_id)),
          h('dt', {}, t('mMode')), h('dd', {}, t(`mode.${m.mode}`)),
          m.agenda ? [h('dt', {}, t('mAgenda')), h('dd', { class: 'inv-agenda' }, m.agenda)] : null),
        h('div', { class: 'inv-qr' }, qr || h('span', { class: 'muted' }, 'QR'))),
      h('p', { class: 'inv-scan' }, t('cardScan')),
      h('p', { class: 'inv-url' }, h('a', { href: l.join_url }, l.join_url)),
      h('p', { class: 'inv-keep muted' }, t('cardKeep')));
  });
  mountFn(printShell('print-invitations', back, [
    h('p', { class: 'no-print print-count' }, h('strong', {}, m.title), ' · ', t('cardsCount', { n: num(cards.length) })),
    h('div', { id: 'invitation-cards', class: 'inv-cards' }, cards)]));
  document.title = `${t('cardHeading')} — ${m.title}`;
}
