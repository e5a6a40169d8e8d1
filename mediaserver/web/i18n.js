// Texts in Vietnamese first, English on a toggle: shared by the console and the join page (served at
// /console/i18n.js). Each page registers its strings with addStrings; t() falls back to Vietnamese, then the key.
// Numbers and dates follow vi-VN (3,8 %; 8,8 MB; 14:07 05/12/2026) and are shown in Vietnam time.

export const TZ = 'Asia/Ho_Chi_Minh';
const TEXTS = { vi: {}, en: {} };
let current = 'vi';

/** Read the saved language (Vietnamese unless 'en' was chosen on this browser). */
export function initLang(storageKey) {
  try { current = localStorage.getItem(storageKey) === 'en' ? 'en' : 'vi'; } catch (_) { current = 'vi'; }
  return current;
}

export const lang = () => current;

/** Switch the language and remember it on this browser under ``storageKey``. */
export function setLang(value, storageKey) {
  current = value === 'en' ? 'en' : 'vi';
  if (storageKey) {
    try { localStorage.setItem(storageKey, current); } catch (_) { /* private mode: this page only */ }
  }
  return current;
}

/** Add a page's strings: {vi: {key: text}, en: {key: text}}. */
export function addStrings(strings) {
  for (const l of ['vi', 'en']) Object.assign(TEXTS[l], strings[l] || {});
}

export const hasText = (key) => key in TEXTS.vi;

/** The text for ``key`` in the current language, with {name} placeholders filled from ``vars``. */
export function t(key, vars) {
  let s = TEXTS[current][key] ?? TEXTS.vi[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

export const locale = () => (current === 'en' ? 'en-GB' : 'vi-VN');

/** A number as the language writes it (vi: 1.234,5). */
export function num(n, digits = 0) {
  if (n == null || !Number.isFinite(Number(n))) return '—';
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(Number(n));
}

/** A percentage (0–100) as the language writes it: vi "3,8 %" (a space before %), en "3.8%". */
export function pct(value, digits = 1) {
  const n = num(value, digits);
  return n === '—' ? n : current === 'en' ? `${n}%` : `${n} %`;
}

const SIZE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB']; // binary steps (1 KB = 1024 B), as file managers show them

/** A size in bytes, one decimal from KB up: vi "8,8 MB", en "8.8 MB". */
export function size(bytes) {
  if (bytes == null || !Number.isFinite(Number(bytes))) return '—';
  let v = Number(bytes);
  let i = 0;
  while (v >= 1024 && i < SIZE_UNITS.length - 1) { v /= 1024; i += 1; }
  return `${num(v, i ? 1 : 0)} ${SIZE_UNITS[i]}`;
}

/** A clock time in Vietnam time: 14:07 (with seconds if asked). */
export function clockTime(date, seconds = false) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TZ, hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}), hour12: false,
  }).format(d);
}

/** A date and time in Vietnam time: 14:07 05/12/2026 in Vietnamese, 05/12/2026, 14:07 in English. */
export function dateTime(date) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TZ, day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false,
  }).format(d);
}

/** A site's name in the current language (its English name when there is one and English is on). */
export const nameOf = (site) => (site ? (current === 'en' && site.name_en ? site.name_en : site.name) : '');

/** A day with its weekday in Vietnam time: "Thứ Hai, 07/12/2026" (en: "Monday, 07/12/2026"). */
export function dayDate(date) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TZ, weekday: 'long', day: '2-digit', month: '2-digit', year: 'numeric',
  }).format(d);
}

/** A length of time in words: "1 giờ 5 phút", "2 phút 30 giây", "45 giây". */
export function span(seconds) {
  let s = Math.max(0, Math.round(Number(seconds) || 0));
  const units = current === 'en' ? [['h', 3600], ['min', 60], ['s', 1]] : [['giờ', 3600], ['phút', 60], ['giây', 1]];
  const parts = [];
  for (const [unit, n] of units) {
    if (s >= n && parts.length < 2) { parts.push(`${Math.floor(s / n)} ${unit}`); s %= n; } else if (parts.length) break;
  }
  return parts.length ? parts.join(' ') : `0 ${units[2][0]}`;
}

// ------------------------------------------------------------------------------------------ weekdays
/** The one table of weekday names, index 0 = Sunday (as cron and Date.getDay() count): "Thứ Bảy", never "Thứ 7". */
export const WEEKDAYS = {
  vi: ['Chủ Nhật', 'Thứ Hai', 'Thứ Ba', 'Thứ Tư', 'Thứ Năm', 'Thứ Sáu', 'Thứ Bảy'],
  en: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
};

/** A weekday's name in the current language (0 = Sunday … 6 = Saturday; 7 is Sunday too, as in cron). */
export const weekdayName = (n) => WEEKDAYS[current][((Number(n) % 7) + 7) % 7];
