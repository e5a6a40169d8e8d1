// "Lịch tự động" (admin, operator): the shared scheduler's jobs in words — "Hằng ngày lúc 02:00",
// "Thứ Hai–Thứ Sáu lúc 07:30", "Mỗi 6 giờ", "Một lần lúc 07:30 08/12/2026" — with the cron expression only as a
// detail. A job is made or edited from simple choices (daily / some weekdays / every N / once) that become the
// server's cron or interval; enable/disable, run now, delete (API-made jobs only: the config's are read-only),
// and each job's last runs with their outcome in words.
import { addStrings, t, tOr, h, api, errorNode, relative, modal } from './core.js';
import { dateTime, weekdayName, num } from './i18n.js';
import { dateField, timeField } from './picker.js';

/** Actions the console can schedule, with their arguments (the server checks them again when the job runs). */
const ACTIONS = ['recording.set_mode', 'room.record', 'index.maintenance'];
const MODES = ['continuous', 'motion', 'off'];
const ORDER = [1, 2, 3, 4, 5, 6, 0]; // the week as a Vietnamese calendar shows it: Thứ Hai … Chủ Nhật
const UNITS = { min: 60, hour: 3600, day: 86400 };

addStrings({
  vi: {
    jobTitle: 'Lịch tự động', jobIntro: 'Các tác vụ máy chủ tự chạy theo lịch (giờ Việt Nam).', jobNone: 'Chưa có lịch tự động nào.',
    jobNew: '+ Thêm lịch', jobEdit: 'Sửa', jobRun: 'Chạy ngay', jobDelete: 'Xóa', jobEnable: 'Bật', jobDisable: 'Tắt',
    jobOn: 'Đang bật', jobOff: 'Đã tắt', jobNext: 'Lần chạy tới: {t}', jobNoNext: 'Không có lần chạy tới', jobRuns: 'Các lần chạy gần đây',
    jobNoRuns: 'Chưa chạy lần nào.', jobFromConfig: 'Khai báo trong tệp cấu hình (chỉ xem, chạy ngay được)', jobSystem: 'Tác vụ hệ thống',
    jobDeleteConfirm: 'Xóa lịch “{n}”? Tác vụ sẽ không tự chạy nữa.', jobStarted: 'Đã bắt đầu chạy “{n}”.',
    jobCron: 'Biểu thức cron', jobSpec: 'Chi tiết kỹ thuật', jobId: 'Mã lịch', jobIdHint: 'Chữ thường không dấu, chữ số, gạch ngang; ví dụ: ghi-cong-ban-dem',
    jobAction: 'Việc cần làm', jobWhen: 'Khi nào', jobSave: 'Lưu lịch', jobCancel: 'Hủy',
    'act.recording.set_mode': 'Đổi chế độ ghi của camera', 'act.room.record': 'Ghi hình phòng họp',
    'act.index.maintenance': 'Bảo trì chỉ mục (dọn phiên đăng nhập hết hạn)', 'act.meeting.remind': 'Gửi thư nhắc lịch họp', 'act.recordings.retention': 'Dọn ghi hình cũ theo thời hạn lưu',
    jobCamera: 'Camera', jobMode: 'Chế độ ghi', 'mode.continuous': 'Ghi liên tục', 'mode.motion': 'Ghi khi có chuyển động', 'mode.off': 'Tắt ghi',
    jobRoom: 'Phòng họp', jobDuration: 'Ghi trong (phút)', jobStop: 'Dừng ghi (thay vì bắt đầu)',
    'how.daily': 'Hằng ngày', 'how.weekly': 'Vào các ngày trong tuần', 'how.interval': 'Lặp lại đều', 'how.once': 'Một lần',
    jobAt: 'Lúc (giờ:phút)', jobOnDay: 'Ngày', jobEvery: 'Mỗi', 'unit.min': 'phút', 'unit.hour': 'giờ', 'unit.day': 'ngày',
    'w.daily': 'Hằng ngày lúc {t}', 'w.weekly': '{d} lúc {t}', 'w.every': 'Mỗi {n} {u}', 'w.every1': 'Mỗi {u}', 'w.once': 'Một lần lúc {t}', 'w.cron': 'Theo lịch riêng (cron)',
    'out.ok': 'Thành công', 'out.error': 'Lỗi', 'out.timeout': 'Quá thời gian cho phép', 'out.interrupted': 'Bị gián đoạn (máy chủ dừng)',
    'out.missed': 'Bỏ lỡ (máy chủ tắt quá lâu)', 'out.running': 'Đang chạy', jobLate: 'trễ {s} giây',
    jobNeedDays: 'Chọn ít nhất một ngày trong tuần.', jobBadTime: 'Giờ chưa đúng dạng giờ:phút (24 giờ).', jobBadDate: 'Ngày chưa đúng dạng ngày/tháng/năm.',
    jobBadEvery: 'Khoảng lặp phải là số nguyên dương.', jobBadId: 'Mã lịch chưa đúng quy định.', jobNeedArg: 'Hãy chọn camera hoặc phòng họp.',
    jobPast: 'Thời điểm này đã qua.', jobNeedDate: 'Nhập ngày chạy (ngày/tháng/năm).',
  },
  en: {
    jobTitle: 'Scheduled jobs', jobIntro: 'Jobs the server runs by itself on a schedule (Vietnam time).', jobNone: 'No scheduled jobs yet.',
    jobNew: '+ Add a job', jobEdit: 'Edit', jobRun: 'Run now', jobDelete: 'Delete', jobEnable: 'Enable', jobDisable: 'Disable',
    jobOn: 'Enabled', jobOff: 'Disabled', jobNext: 'Next run: {t}', jobNoNext: 'No next run', jobRuns: 'Recent runs',
    jobNoRuns: 'Not run yet.', jobFromConfig: 'Defined in the configuration file (read-only; can run now)', jobSystem: 'System job',
    jobDeleteConfirm: 'Delete the job “{n}”? It will not run by itself any more.', jobStarted: '“{n}” started.',
    jobCron: 'Cron expression', jobSpec: 'Technical detail', jobId: 'Job id', jobIdHint: 'Lower-case letters, digits, hyphens; e.g. gate-night-recording',
    jobAction: 'What to do', jobWhen: 'When', jobSave: 'Save job', jobCancel: 'Cancel',
    'act.recording.set_mode': 'Change a camera\'s recording mode', 'act.room.record': 'Record a meeting room',
    'act.index.maintenance': 'Index maintenance (purge expired sessions)', 'act.meeting.remind': 'Send meeting reminders', 'act.recordings.retention': 'Delete old footage (retention)',
    jobCamera: 'Camera', jobMode: 'Recording mode', 'mode.continuous': 'Record continuously', 'mode.motion': 'Record on motion', 'mode.off': 'Do not record',
    jobRoom: 'Meeting room', jobDuration: 'Record for (minutes)', jobStop: 'Stop recording (instead of starting)',
    'how.daily': 'Every day', 'how.weekly': 'On some weekdays', 'how.interval': 'Repeat every', 'how.once': 'Once',
    jobAt: 'At (hours:minutes)', jobOnDay: 'Date', jobEvery: 'Every', 'unit.min': 'minutes', 'unit.hour': 'hours', 'unit.day': 'days',
    'w.daily': 'Every day at {t}', 'w.weekly': '{d} at {t}', 'w.every': 'Every {n} {u}', 'w.every1': 'Every {u}', 'unit1.min': 'minute', 'unit1.hour': 'hour', 'unit1.day': 'day', 'w.once': 'Once at {t}', 'w.cron': 'Custom schedule (cron)',
    'out.ok': 'Succeeded', 'out.error': 'Failed', 'out.timeout': 'Took too long', 'out.interrupted': 'Interrupted (server stopped)',
    'out.missed': 'Missed (server was off too long)', 'out.running': 'Running', jobLate: '{s} s late',
    jobNeedDays: 'Choose at least one weekday.', jobBadTime: 'The time is not hours:minutes (24-hour).', jobBadDate: 'The date is not day/month/year.',
    jobBadEvery: 'The interval must be a positive whole number.', jobBadId: 'The job id does not follow the rules.', jobNeedArg: 'Choose a camera or meeting room.',
    jobPast: 'That time has already passed.', jobNeedDate: 'Type the date to run it (day/month/year).',
  },
});

const pad = (n) => String(n).padStart(2, '0');

/** A job's schedule as choices: {how: daily|weekly|interval|once|cron, time, days, every, unit, date}. */
export function choicesOf(job) {
  if (job.kind === 'interval') {
    const s = Number(job.spec);
    const unit = s % 86400 === 0 ? 'day' : s % 3600 === 0 ? 'hour' : 'min';
    return { how: 'interval', every: Math.max(1, Math.round(s / UNITS[unit])), unit };
  }
  if (job.kind === 'once') {
    const d = new Date(job.spec);
    const vn = new Date(d.getTime() + 7 * 3600e3); // Vietnam keeps UTC+7 all year
    return { how: 'once', date: vn.toISOString().slice(0, 10), time: vn.toISOString().slice(11, 16) };
  }
  const m = String(job.spec).trim().match(/^(\d{1,2}) (\d{1,2}) \* \* (\*|[0-7](?:[-,][0-7])*)$/);
  if (!m) return { how: 'cron' };
  const time = `${pad(m[2])}:${pad(m[1])}`;
  if (m[3] === '*') return { how: 'daily', time };
  const days = new Set();
  for (const part of m[3].split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let d = a; d <= (b ?? a); d += 1) days.add(d % 7);
  }
  return days.size === 7 ? { how: 'daily', time } : { how: 'weekly', time, days: [...days] };
}

/** The server's kind and spec for choices (cron minute hour * * days; interval seconds; once ISO +07:00). */
export function specOf(c) {
  if (c.how === 'interval') return { kind: 'interval', spec: String(c.every * UNITS[c.unit]) };
  if (c.how === 'once') return { kind: 'once', spec: `${c.date}T${c.time}:00+07:00` };
  const [hh, mm] = c.time.split(':').map(Number);
  const days = c.how === 'weekly' ? [...c.days].sort((a, b) => a - b).join(',') : '*';
  return { kind: 'cron', spec: `${mm} ${hh} * * ${days}` };
}

/** Weekdays in words, Monday first, runs of three or more as a span: "Thứ Hai–Thứ Sáu", "Thứ Hai, Thứ Tư". */
export function daysWords(days) {
  const on = ORDER.map((d) => days.includes(d));
  const parts = [];
  for (let i = 0; i < 7; i += 1) {
    if (!on[i]) continue;
    let j = i;
    while (j + 1 < 7 && on[j + 1]) j += 1;
    if (j - i >= 2) parts.push(`${weekdayName(ORDER[i])}–${weekdayName(ORDER[j])}`);
    else for (let k = i; k <= j; k += 1) parts.push(weekdayName(ORDER[k]));
    i = j;
  }
  return parts.join(', ');
}

/** A job's schedule in words. */
export function scheduleWords(job) {
  const c = choicesOf(job);
  if (c.how === 'daily') return t('w.daily', { t: c.time });
  if (c.how === 'weekly') return t('w.weekly', { d: daysWords(c.days), t: c.time });
  if (c.how === 'interval' && c.every === 1) return t('w.every1', { u: tOr(`unit1.${c.unit}`, t(`unit.${c.unit}`)) });
  if (c.how === 'interval') return t('w.every', { n: num(c.every), u: t(`unit.${c.unit}`) });
  if (c.how === 'once') return t('w.once', { t: dateTime(job.spec) });
  return t('w.cron');
}

function actionWords(job) {
  const base = t(`act.${job.action}`) === `act.${job.action}` ? job.action : t(`act.${job.action}`);
  const a = job.args || {};
  if (job.action === 'recording.set_mode') return `${base}: ${[a.camera].flat().join(', ')} → ${t(`mode.${a.mode}`)}`;
  if (job.action === 'room.record') return `${base}: ${a.room}${a.stop ? ` — ${t('jobStop')}` : a.duration_s ? ` (${num(a.duration_s / 60)} ${t('unit.min')})` : ''}`;
  return base;
}

let gen = 0;
export function stop() { gen += 1; }

export async function mount(body) {
  const g = ++gen;
  const note = h('p', { id: 'jobs-note', class: 'msg', role: 'status', hidden: true });
  const list = h('div', { id: 'jobs-list' }, h('p', { class: 'loading' }, t('loading')));
  const say = (ok, ...n) => { note.className = `msg ${ok ? 'info' : 'error'}`; note.replaceChildren(...n); note.hidden = false; };
  const reload = () => load(list, g, say);
  body.replaceChildren(h('div', { class: 'admin-page' }, h('div', { class: 'head-row' }, h('h2', {}, t('jobTitle')),
    h('button', { type: 'button', id: 'job-new', class: 'primary', onclick: () => editor(null, reload, say) }, t('jobNew'))),
  h('p', { class: 'muted' }, t('jobIntro')), note, list));
  reload();
}

async function load(list, g, say) {
  let data;
  try { data = await api('GET', '/api/v1/schedules'); } catch (err) {
    if (!err.handled && g === gen) list.replaceChildren(h('p', { class: 'msg error section-error' }, errorNode(err)));
    return;
  }
  if (g !== gen) return;
  if (!data.items.length) { list.replaceChildren(h('p', { class: 'empty', id: 'jobs-empty' }, t('jobNone'))); return; }
  const reload = () => load(list, g, say);
  list.replaceChildren(h('ul', { id: 'jobs', class: 'job-cards' }, data.items.map((j) => card(j, reload, say))));
}

function card(j, reload, say) {
  const api_ = j.source === 'api';
  const act = async (fn, done) => { try { await fn(); await reload(); if (done) say(true, done); } catch (err) { if (!err.handled) say(false, errorNode(err)); } };
  const runs = h('div', { class: 'job-runs' });
  const showRuns = async () => {
    try {
      const r = await api('GET', `/api/v1/schedules/${encodeURIComponent(j.id)}/runs`);
      runs.replaceChildren(h('h4', {}, t('jobRuns')), r.items.length ? h('ul', { class: 'runs' }, r.items.slice(0, 5).map((x) =>
        h('li', { 'data-outcome': x.outcome }, h('span', { class: `badge out-${x.outcome}` }, t(`out.${x.outcome}`)), ' ',
          dateTime(x.started_at || x.scheduled_for), x.late_s >= 1 ? ` · ${t('jobLate', { s: num(x.late_s) })}` : '',
          x.error ? h('details', { class: 'err-detail' }, h('summary', {}, t('err.details')), h('small', {}, x.error)) : null)))
        : h('p', { class: 'muted small' }, t('jobNoRuns')));
    } catch (err) { if (!err.handled) runs.replaceChildren(errorNode(err)); }
  };
  showRuns();
  const save = (patch) => api('POST', '/api/v1/schedules', { id: j.id, action: j.action, kind: j.kind, spec: j.spec,
    timezone: j.timezone, grace_s: j.grace_s, args: j.args, enabled: j.enabled, ...patch });
  return h('li', { class: `card job-card${j.enabled ? '' : ' disabled'}`, 'data-job-id': j.id },
    h('div', { class: 'job-head' }, h('strong', { class: 'job-words' }, scheduleWords(j)), ' ',
      h('span', { class: `badge ${j.enabled ? 'open' : 'locked'}` }, t(j.enabled ? 'jobOn' : 'jobOff'))),
    h('div', { class: 'job-what' }, actionWords(j)),
    h('div', { class: 'muted small' }, j.id, ' · ', j.enabled && j.next_run_at ? t('jobNext', { t: `${dateTime(j.next_run_at)} (${relative(j.next_run_at)})` }) : t('jobNoNext')),
    !api_ && h('div', { class: 'muted small' }, t(j.source === 'system' ? 'jobSystem' : 'jobFromConfig')),
    h('details', { class: 'job-spec' }, h('summary', {}, t('jobSpec')), h('code', {}, `${j.kind}: ${j.spec}`)),
    h('div', { class: 'row-actions' },
      h('button', { type: 'button', class: 'job-run', onclick: () => act(async () => { await api('POST', `/api/v1/schedules/${encodeURIComponent(j.id)}/run`); setTimeout(showRuns, 800); }, t('jobStarted', { n: j.id })) }, t('jobRun')),
      api_ && h('button', { type: 'button', class: 'job-edit', onclick: () => editor(j, reload, say) }, t('jobEdit')),
      api_ && h('button', { type: 'button', class: 'job-toggle', onclick: () => act(() => save({ enabled: !j.enabled })) }, t(j.enabled ? 'jobDisable' : 'jobEnable')),
      api_ && h('button', { type: 'button', class: 'danger job-delete', onclick: () => {
        if (window.confirm(t('jobDeleteConfirm', { n: j.id }))) act(() => api('DELETE', `/api/v1/schedules/${encodeURIComponent(j.id)}`));
      } }, t('jobDelete'))),
    runs);
}

async function options(path) {
  try { return (await api('GET', path)).items || []; } catch (_) { return null; } // null: type the id instead
}

async function editor(job, reload, say) {
  const c = job ? choicesOf(job) : { how: 'daily', time: '02:00' };
  const [cams, rooms] = await Promise.all([options('/api/v1/cameras'), options('/api/v1/rooms')]);
  const args = job?.args || {};
  const idIn = h('input', { id: 'job-id', type: 'text', required: true, maxlength: 64, value: job?.id || '', readonly: Boolean(job),
    autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
  const action = h('select', { id: 'job-action' }, ACTIONS.map((a) => h('option', { value: a, selected: (job?.action || ACTIONS[0]) === a }, t(`act.${a}`))));
  const pickOf = (id, items, value) => (items?.length ? h('select', { id }, items.map((x) => h('option', { value: x.id, selected: x.id === value }, x.name ? `${x.name} (${x.id})` : x.id)))
    : h('input', { id, type: 'text', value: value || '' }));
  const cam = pickOf('job-camera', cams, [args.camera].flat()[0]);
  const mode = h('select', { id: 'job-mode' }, MODES.map((m) => h('option', { value: m, selected: args.mode === m }, t(`mode.${m}`))));
  const room = pickOf('job-room', rooms, args.room);
  const dur = h('input', { id: 'job-duration', type: 'text', inputmode: 'numeric', size: 5, value: args.duration_s ? String(args.duration_s / 60) : '60' });
  const stopBox = h('input', { id: 'job-stop', type: 'checkbox', checked: Boolean(args.stop) });
  const lab = (id, key, el) => h('label', { class: 'field', for: id }, h('span', {}, t(key)), el);
  const argBoxes = {
    'recording.set_mode': h('div', { class: 'job-args' }, lab('job-camera', 'jobCamera', cam), lab('job-mode', 'jobMode', mode)),
    'room.record': h('div', { class: 'job-args' }, lab('job-room', 'jobRoom', room), lab('job-duration', 'jobDuration', dur),
      h('label', { class: 'check' }, stopBox, ' ', t('jobStop'))),
    'index.maintenance': h('div', { class: 'job-args' }),
  };
  const showArgs = () => Object.entries(argBoxes).forEach(([a, el]) => { el.hidden = a !== action.value; });
  action.addEventListener('change', showArgs);
  const how = h('select', { id: 'job-how' }, ['daily', 'weekly', 'interval', 'once'].map((x) => h('option', { value: x, selected: c.how === x }, t(`how.${x}`))));
  const at = timeField('job-time', { value: c.time || '02:00', label: t('jobAt') });
  const days = h('div', { class: 'job-days', role: 'group' }, ORDER.map((d) => h('label', { class: 'check day' },
    h('input', { type: 'checkbox', value: String(d), 'data-day': d, checked: (c.days || [1, 2, 3, 4, 5]).includes(d) }), ' ', weekdayName(d))));
  const every = h('input', { id: 'job-every', type: 'text', inputmode: 'numeric', size: 4, value: String(c.every || 6) });
  const unit = h('select', { id: 'job-unit' }, Object.keys(UNITS).map((u) => h('option', { value: u, selected: (c.unit || 'hour') === u }, t(`unit.${u}`))));
  const onDay = dateField('job-date', { value: c.date || '', label: t('jobOnDay') });
  const parts = {
    time: lab('job-time', 'jobAt', at), days, every: h('div', { class: 'inline-row' }, h('span', {}, t('jobEvery')), every, unit),
    date: lab('job-date', 'jobOnDay', onDay),
  };
  const preview = h('p', { id: 'job-preview', class: 'msg info' });
  const current = () => ({ how: how.value, time: at.iso, days: [...days.querySelectorAll('input:checked')].map((x) => Number(x.value)),
    every: Number(every.value.trim()), unit: unit.value, date: onDay.iso });
  const problem = (ch) => {
    if (['daily', 'weekly', 'once'].includes(ch.how) && !ch.time) return 'jobBadTime';
    if (ch.how === 'weekly' && !ch.days.length) return 'jobNeedDays';
    if (ch.how === 'interval' && !(Number.isInteger(ch.every) && ch.every > 0)) return 'jobBadEvery';
    if (ch.how === 'once' && ch.date === '') return 'jobNeedDate';
    if (ch.how === 'once' && !ch.date) return 'jobBadDate';
    if (ch.how === 'once' && Date.parse(specOf(ch).spec) <= Date.now()) return 'jobPast';
    return null;
  };
  const refresh = () => {
    parts.time.hidden = how.value === 'interval';
    parts.days.hidden = how.value !== 'weekly';
    parts.every.hidden = how.value !== 'interval';
    parts.date.hidden = how.value !== 'once';
    const ch = current();
    const bad = problem(ch);
    preview.className = `msg ${bad ? 'error' : 'info'}`;
    preview.textContent = bad ? t(bad) : scheduleWords(specOf(ch));
  };
  for (const el of [how, at, every, unit, onDay]) { el.addEventListener('input', refresh); el.addEventListener('change', refresh); }
  days.addEventListener('change', refresh);
  const msg = h('div', { id: 'job-msg', class: 'msg error', role: 'alert', hidden: true });
  const fail = (...n) => { msg.replaceChildren(...n); msg.hidden = false; };
  const submit = h('button', { type: 'submit', class: 'primary', id: 'job-save' }, t('jobSave'));
  const form = h('form', { id: 'job-form', class: 'admin-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    msg.hidden = true;
    const ch = current();
    const bad = problem(ch);
    if (bad) { fail(t(bad)); return; }
    const id = idIn.value.trim();
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) { fail(t('jobBadId')); return; }
    let jobArgs = {};
    if (action.value === 'recording.set_mode') jobArgs = { camera: cam.value.trim(), mode: mode.value };
    if (action.value === 'room.record') {
      jobArgs = stopBox.checked ? { room: room.value.trim(), stop: true } : { room: room.value.trim(), duration_s: Math.round(Number(dur.value.replace(',', '.')) * 60) };
    }
    if ((jobArgs.camera === '' || jobArgs.room === '')) { fail(t('jobNeedArg')); return; }
    submit.disabled = true;
    try {
      await api('POST', '/api/v1/schedules', { id, action: action.value, ...specOf(ch), args: jobArgs, enabled: job ? job.enabled : true,
        ...(job ? { timezone: job.timezone, grace_s: job.grace_s } : {}) });
      dlg.close();
      await reload();
      say(true, `${t('jobSave')}: ${id} — ${scheduleWords(specOf(ch))}`);
    } catch (err) {
      submit.disabled = false;
      if (!err.handled) fail(errorNode(err));
    }
  } },
  lab('job-id', 'jobId', idIn), h('p', { class: 'muted small' }, t('jobIdHint')),
  lab('job-action', 'jobAction', action), ...Object.values(argBoxes),
  h('fieldset', { class: 'job-when' }, h('legend', {}, t('jobWhen')), how, parts.time, parts.days, parts.every, parts.date),
  preview, msg, h('div', { class: 'row-actions' }, submit, h('button', { type: 'button', onclick: () => dlg.close() }, t('jobCancel'))));
  const dlg = modal(job ? `${t('jobEdit')}: ${job.id}` : t('jobNew').replace('+ ', ''), form, { id: 'job-dialog' });
  showArgs();
  refresh();
  (job ? action : idIn).focus();
}
