// "Mã truy cập dịch vụ" (admin, a section of the users page): long-lived, scoped tokens for machines — list them
// (name, what they may do in words, who made them and when, last use, expiry, revoked), make one (scope chooser,
// optional expiry in days) and see it ONCE with a copy button and the Prometheus scrape configuration, revoke one
// after a confirm (its next request gets 401).
import { addStrings, t, h, api, errorNode } from './core.js';
import { dateTime as fmtDateTime, num } from './i18n.js';
import { labelCells } from './users.js';

export const SCOPES = ['metrics:read', 'read', 'cameras:view'];

addStrings({
  vi: {
    tokTitle: 'Mã truy cập dịch vụ', tokIntro: 'Dành cho máy (Prometheus, tập lệnh, màn hình camera ở phòng bảo vệ): dùng lâu dài, thu hồi được, chỉ làm được đúng phạm vi đã chọn.',
    tokNone: 'Chưa có mã truy cập dịch vụ nào.', tokName: 'Tên (dùng cho việc gì)', tokScope: 'Phạm vi', tokBy: 'Người tạo',
    tokCreatedAt: 'Ngày tạo', tokLastUsed: 'Dùng lần cuối', tokExpires: 'Hết hạn', tokState: 'Trạng thái', tokNever: 'Không bao giờ',
    tokUnused: 'Chưa dùng', tokActive: 'Đang dùng', tokRevoked: 'Đã thu hồi {t}', tokExpired: 'Đã hết hạn',
    'scope.metrics:read': 'Chỉ đọc số liệu giám sát', 'scope.metrics:read.d': 'Chỉ lấy số liệu /metrics cho Prometheus; không xem được gì khác.',
    'scope.read': 'Chỉ xem', 'scope.read.d': 'Đọc mọi thông tin mà điều hành viên hoặc bảo vệ xem được; không thay đổi gì, không xem người dùng hay nhật ký.',
    'scope.cameras:view': 'Xem camera', 'scope.cameras:view.d': 'Danh sách camera, nhóm camera, ảnh chụp và xem trực tiếp (màn hình ở phòng bảo vệ).',
    tokNew: 'Tạo mã truy cập dịch vụ', tokTtl: 'Hết hạn sau (ngày)', tokTtlHint: 'Để trống: không hết hạn. Tối đa {n} ngày.',
    tokCreate: 'Tạo mã', tokRevoke: 'Thu hồi', tokRevokeConfirm: 'Thu hồi mã “{n}”? Máy đang dùng mã này sẽ bị từ chối ngay từ yêu cầu kế tiếp.',
    tokOnce: 'Mã “{n}” đã được tạo. Hãy sao chép ngay: mã chỉ hiện MỘT LẦN này, sau đó không xem lại được.',
    tokCopy: 'Sao chép', tokCopied: 'Đã sao chép', tokCopyFail: 'Không sao chép được, hãy chọn và sao chép thủ công.',
    tokScrape: 'Cấu hình Prometheus (lưu mã vào tệp /etc/prometheus/mediaserver.token, quyền đọc chỉ cho Prometheus):',
    tokDone: 'Tôi đã lưu mã', tokBadTtl: 'Số ngày phải là số dương, tối đa {n}.',
  },
  en: {
    tokTitle: 'Service tokens', tokIntro: 'For machines (Prometheus, scripts, a camera display in the guard room): long-lived, revocable, limited to the scope chosen.',
    tokNone: 'No service tokens yet.', tokName: 'Name (what uses it)', tokScope: 'Scope', tokBy: 'Made by',
    tokCreatedAt: 'Made', tokLastUsed: 'Last used', tokExpires: 'Expires', tokState: 'State', tokNever: 'Never',
    tokUnused: 'Not used yet', tokActive: 'Active', tokRevoked: 'Revoked {t}', tokExpired: 'Expired',
    'scope.metrics:read': 'Metrics only', 'scope.metrics:read.d': 'Only /metrics for Prometheus; nothing else.',
    'scope.read': 'Read only', 'scope.read.d': 'Reads whatever operators or security staff can see; changes nothing, no users or audit log.',
    'scope.cameras:view': 'Camera viewer', 'scope.cameras:view.d': 'Camera list, camera groups, snapshots and live views (a guard-room display).',
    tokNew: 'Make a service token', tokTtl: 'Expires after (days)', tokTtlHint: 'Empty: never expires. At most {n} days.',
    tokCreate: 'Make token', tokRevoke: 'Revoke', tokRevokeConfirm: 'Revoke “{n}”? A machine using it is refused from its next request.',
    tokOnce: 'Token “{n}” made. Copy it now: it is shown this ONE time and cannot be seen again.',
    tokCopy: 'Copy', tokCopied: 'Copied', tokCopyFail: 'Could not copy; select it and copy by hand.',
    tokScrape: 'Prometheus configuration (save the token in /etc/prometheus/mediaserver.token, readable by Prometheus only):',
    tokDone: 'I have saved it', tokBadTtl: 'The number of days must be positive, at most {n}.',
  },
});

let gen = 0;
export function stop() { gen += 1; }

export async function mount(box) {
  const g = ++gen;
  const list = h('div', { id: 'tokens-list' }, h('p', { class: 'loading' }, t('loading')));
  const shown = h('div', { id: 'token-shown' });
  box.replaceChildren(h('h2', {}, t('tokTitle')), h('p', { class: 'muted' }, t('tokIntro')), shown, list, form(list, shown, g));
  load(list, g);
}

async function load(list, g) {
  let data;
  try { data = await api('GET', '/api/v1/service-tokens'); } catch (err) {
    if (!err.handled && g === gen) list.replaceChildren(h('p', { class: 'msg error section-error' }, errorNode(err)));
    return;
  }
  if (g !== gen) return;
  if (!data.items.length) { list.replaceChildren(h('p', { class: 'empty', id: 'tokens-empty' }, t('tokNone'))); return; }
  const note = h('p', { class: 'msg error', role: 'alert', hidden: true });
  const cols = ['tokName', 'tokScope', 'tokBy', 'tokCreatedAt', 'tokLastUsed', 'tokExpires', 'tokState', ''];
  list.replaceChildren(note, h('div', { class: 'table-wrap' }, labelCells(h('table', { id: 'tokens-table', class: 'audit admin-table' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {}, c ? t(c) : '')))),
    h('tbody', {}, data.items.map((x) => {
      const expired = x.expires_at && Date.parse(x.expires_at) <= Date.now();
      const st = x.revoked_at ? t('tokRevoked', { t: fmtDateTime(x.revoked_at) }) : expired ? t('tokExpired') : t('tokActive');
      return h('tr', { 'data-token-id': x.id, 'data-token-name': x.name, 'data-revoked': String(Boolean(x.revoked_at)) },
        h('td', {}, h('b', {}, x.name)),
        h('td', {}, t(`scope.${x.scope}`), h('div', { class: 'muted small' }, t(`scope.${x.scope}.d`))),
        h('td', {}, x.created_by), h('td', { class: 'nowrap' }, fmtDateTime(x.created_at)),
        h('td', { class: 'nowrap' }, x.last_used_at ? fmtDateTime(x.last_used_at) : t('tokUnused')),
        h('td', { class: 'nowrap' }, x.expires_at ? fmtDateTime(x.expires_at) : t('tokNever')),
        h('td', {}, h('span', { class: `badge ${x.revoked_at || expired ? 'locked' : 'open'}` }, st)),
        h('td', {}, !x.revoked_at && h('button', { type: 'button', class: 'danger token-revoke', onclick: async (ev) => {
          if (!window.confirm(t('tokRevokeConfirm', { n: x.name }))) return;
          ev.currentTarget.disabled = true;
          try { await api('DELETE', `/api/v1/service-tokens/${x.id}`); await load(list, g); } catch (err) {
            if (!err.handled) { note.replaceChildren(errorNode(err)); note.hidden = false; }
          }
        } }, t('tokRevoke'))));
    }))))));
}

function scrapeConfig(token) {
  return ['scrape_configs:', '  - job_name: mediaserver', `    scheme: ${location.protocol.replace(':', '')}`,
    '    metrics_path: /metrics', '    authorization:', '      credentials_file: /etc/prometheus/mediaserver.token',
    '    static_configs:', `      - targets: ["${location.host}"]`, '', `# echo '${token}' > /etc/prometheus/mediaserver.token`].join('\n');
}

function copyButton(id, text) {
  const btn = h('button', { type: 'button', id, class: 'copy' }, t('tokCopy'));
  btn.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(text()); btn.textContent = t('tokCopied'); } catch (_) { btn.textContent = t('tokCopyFail'); }
  });
  return btn;
}

function showOnce(shown, made) {
  const out = h('input', { id: 'token-value', type: 'text', readonly: true, value: made.token, class: 'mono', onfocus: (ev) => ev.target.select() });
  const pre = h('pre', { id: 'token-scrape', class: 'snippet' }, scrapeConfig(made.token));
  shown.replaceChildren(h('div', { class: 'card token-once', role: 'alert' },
    h('p', {}, h('b', {}, t('tokOnce', { n: made.name }))),
    h('div', { class: 'inline-row' }, out, copyButton('token-copy', () => made.token)),
    h('p', { class: 'muted small' }, t('tokScrape')), pre, copyButton('scrape-copy', () => pre.textContent),
    h('div', {}, h('button', { type: 'button', id: 'token-done', class: 'primary', onclick: () => shown.replaceChildren() }, t('tokDone')))));
}

function form(list, shown, g) {
  const name = h('input', { id: 'token-name', type: 'text', required: true, maxlength: 80, placeholder: 'prometheus', autocomplete: 'off' });
  const scopes = h('fieldset', { class: 'scopes' }, h('legend', {}, t('tokScope')), SCOPES.map((s, i) =>
    h('label', { class: 'scope-choice' }, h('input', { type: 'radio', name: 'token-scope', value: s, checked: i === 0 }), ' ',
      h('b', {}, t(`scope.${s}`)), h('span', { class: 'muted small' }, ` — ${t(`scope.${s}.d`)}`))));
  const ttl = h('input', { id: 'token-ttl', type: 'text', inputmode: 'numeric', size: 6, autocomplete: 'off' });
  const msg = h('div', { id: 'token-msg', class: 'msg error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'token-create' }, t('tokCreate'));
  const el = h('form', { id: 'token-form', class: 'card admin-form', onsubmit: async (ev) => {
    ev.preventDefault();
    msg.hidden = true;
    const days = ttl.value.trim() ? Number(ttl.value.trim().replace(',', '.')) : null;
    if (days !== null && !(days > 0 && days <= 3650)) { msg.textContent = t('tokBadTtl', { n: num(3650) }); msg.hidden = false; return; }
    submit.disabled = true;
    try {
      const scope = el.querySelector('input[name=token-scope]:checked').value;
      const made = await api('POST', '/api/v1/service-tokens', { name: name.value.trim(), scope, ttl_days: days });
      el.reset();
      showOnce(shown, made);
      await load(list, g);
    } catch (err) {
      if (!err.handled) { msg.replaceChildren(errorNode(err)); msg.hidden = false; }
    } finally { submit.disabled = false; }
  } }, h('h3', {}, t('tokNew')),
  h('div', { class: 'field' }, h('label', { for: 'token-name' }, h('span', {}, t('tokName'))), name), scopes,
  h('div', { class: 'field' }, h('label', { for: 'token-ttl' }, h('span', {}, t('tokTtl'))), ttl,
    h('p', { class: 'muted small' }, t('tokTtlHint', { n: num(3650) }))), msg, submit);
  return el;
}
