// Date and time fields that look the same whatever the browser's language: dd/mm/yyyy and 24-hour HH:MM typed
// into text inputs (validated as typed, with a Vietnamese or English hint), never <input type=date/time>, which
// an English-language Chromium shows as "12/05/2026" and "10:23 PM". Values go in and out as ISO parts
// ('YYYY-MM-DD', 'HH:MM') so callers combine them with vnIso() (core.js) into Vietnam-time instants.
//
//   import { dateField, timeField } from './picker.js';
//   const day = dateField('aud-from', { value: '2026-12-07', onchange: (iso) => … });   // iso or '' (or null: invalid)
//   const at = timeField('job-at', { value: '02:00' });
//   form.append(day, at);  day.iso → '2026-12-07' | '' | null;  at.iso → '02:00' | '' | null;  day.setIso('2026-12-08')
import { addStrings, t } from './i18n.js';

addStrings({
  vi: {
    'pick.datePh': 'dd/mm/yyyy', 'pick.timePh': 'HH:MM', 'pick.badDate': 'Ngày chưa đúng: nhập theo dạng ngày/tháng/năm, ví dụ 07/12/2026.',
    'pick.badTime': 'Giờ chưa đúng: nhập theo dạng giờ:phút (24 giờ), ví dụ 07:30 hoặc 19:05.',
    'pick.timeSecPh': 'HH:MM:SS', 'pick.badTimeSec': 'Giờ chưa đúng: nhập theo dạng giờ:phút:giây (24 giờ), ví dụ 08:15:10.',
  },
  en: {
    'pick.datePh': 'dd/mm/yyyy', 'pick.timePh': 'HH:MM', 'pick.badDate': 'Not a date: type day/month/year, e.g. 07/12/2026.',
    'pick.badTime': 'Not a time: type hours:minutes (24-hour), e.g. 07:30 or 19:05.',
    'pick.timeSecPh': 'HH:MM:SS', 'pick.badTimeSec': 'Not a time: type hours:minutes:seconds (24-hour), e.g. 08:15:10.',
  },
});

const pad = (n) => String(n).padStart(2, '0');

/** 'dd/mm/yyyy' (also d/m/yyyy, dd.mm.yyyy, dd-mm-yyyy) → 'YYYY-MM-DD'; '' → ''; anything else → null. */
export function parseDate(text) {
  const s = String(text ?? '').trim();
  if (!s) return '';
  const m = s.match(/^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/);
  if (!m) return null;
  const [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dt = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1970 || dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) return null;
  return `${y}-${pad(mo)}-${pad(d)}`;
}

/** 'YYYY-MM-DD' → 'dd/mm/yyyy' (the same in both languages). */
export function formatDate(iso) {
  const m = String(iso ?? '').match(/^(\d{4})-(\d{2})-(\d{2})$/);
  return m ? `${m[3]}/${m[2]}/${m[1]}` : '';
}

/** 'H:MM' / 'HH:MM' / 'HHMM' / 'HH' (24-hour) → 'HH:MM'; '' → ''; anything else → null. */
export function parseTime(text) {
  const s = String(text ?? '').trim().replace(/\s*(h|giờ)\s*/i, ':').replace(/:$/, '');
  if (!s) return '';
  const m = s.match(/^(\d{1,2})(?:[:.hH]?(\d{2}))?$/);
  if (!m) return null;
  const [hh, mm] = [Number(m[1]), Number(m[2] ?? 0)];
  return hh < 24 && mm < 60 ? `${pad(hh)}:${pad(mm)}` : null;
}

/** 'H:MM:SS' / 'HH:MM' (seconds 00) / 'HH' (24-hour) → 'HH:MM:SS'; '' → ''; anything else → null. */
export function parseTimeSec(text) {
  const s = String(text ?? '').trim();
  const m = s.match(/^(.*?)[:.](\d{2})$/);
  if (m && /[:.]/.test(m[1])) { // three parts: the minutes part must be a valid HH:MM
    const hm = parseTime(m[1]);
    return hm && Number(m[2]) < 60 ? `${hm}:${m[2]}` : null;
  }
  const hm = parseTime(s);
  return hm ? `${hm}:00` : hm;
}

function field(id, { value, onchange, required, parse, show, hint, placeholder, size, label }) {
  const input = document.createElement('input');
  Object.assign(input, { id, name: id, type: 'text', inputMode: 'numeric', autocomplete: 'off', placeholder, size });
  input.className = 'pick-field';
  input.spellcheck = false;
  if (label) input.setAttribute('aria-label', label);
  if (required) input.required = true;
  input.value = show(value || '');
  const check = () => {
    const v = parse(input.value);
    const bad = v === null || (Boolean(required) && v === '');
    input.setCustomValidity(v === null ? t(hint) : '');
    input.toggleAttribute('aria-invalid', bad);
    input.title = v === null ? t(hint) : '';
    return v;
  };
  // The typed value as ISO ('' when empty, null while it is not a valid date/time).
  Object.defineProperty(input, 'iso', { get: () => parse(input.value) });
  input.setIso = (v) => { input.value = show(v || ''); check(); };
  input.addEventListener('input', check);
  input.addEventListener('change', () => {
    const v = check();
    if (v) input.value = show(v); // tidy 7/1/2026 → 07/01/2026, 730 → 07:30
    if (v !== null) onchange?.(v);
  });
  check();
  return input;
}

/** A dd/mm/yyyy date input; ``.iso`` is 'YYYY-MM-DD', '' (empty) or null (not a date). */
export function dateField(id, opts = {}) {
  return field(id, { ...opts, parse: parseDate, show: formatDate, hint: 'pick.badDate', placeholder: t('pick.datePh'), size: 10 });
}

/** A 24-hour HH:MM time input (HH:MM:SS with ``seconds: true``); ``.iso`` is that, '' (empty) or null (not a time). */
export function timeField(id, opts = {}) {
  if (opts.seconds) {
    return field(id, { ...opts, parse: parseTimeSec, show: (v) => v, hint: 'pick.badTimeSec', placeholder: t('pick.timeSecPh'), size: 8 });
  }
  return field(id, { ...opts, parse: parseTime, show: (v) => v, hint: 'pick.badTime', placeholder: t('pick.timePh'), size: 5 });
}
