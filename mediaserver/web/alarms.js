// The console's alarm banner: what staff must act on now (a full disk that blocks recording), polled from
// GET /api/v1/system/alarms; and the texts of the camera-robustness error codes (err.<code>, see errorText).
// console.js imports this module once; it starts itself and shows nothing until an alarm holds.
import { addStrings, t, h, api, state, fmtDateTime } from './core.js';

const POLL_MS = 10000;

addStrings({
  vi: {
    'err.camera_offline': 'Camera mất kết nối, không xem trực tiếp được.',
    'err.disk_full': 'Không ghi được: đĩa đầy.',
    alarmDiskFull: 'Không ghi được: đĩa đầy — từ {since}. Camera bị ảnh hưởng: {cameras}. Hãy giải phóng dung lượng ổ dữ liệu; việc ghi hình tự tiếp tục khi có chỗ trống.',
    alarmNoCamera: 'không có',
  },
  en: {
    'err.camera_offline': 'The camera is disconnected: no live view.',
    'err.disk_full': 'Not recording: disk full.',
    alarmDiskFull: 'Not recording: disk full — since {since}. Cameras affected: {cameras}. Free space on the data disk; recording resumes by itself once there is room.',
    alarmNoCamera: 'none',
  },
});

let banner = null;
let names = null; // camera id → display name, read once an alarm names cameras

function show(alarms) {
  const items = alarms.filter((a) => a.code === 'disk_full');
  if (!items.length) {
    if (banner) { banner.remove(); banner = null; }
    return;
  }
  const text = items.map((a) => t('alarmDiskFull', {
    since: fmtDateTime(new Date(a.since * 1000).toISOString()),
    cameras: a.cameras.length ? a.cameras.map((id) => names?.get(id) || id).join(', ') : t('alarmNoCamera'),
  })).join(' ');
  if (!banner) {
    banner = h('div', { id: 'alarm-banner', role: 'alert', class: 'alarm-banner',
      style: 'position:sticky;top:0;z-index:1000;background:#b00020;color:#fff;padding:.6em 1em;font-weight:600;overflow-wrap:anywhere' });
    document.body.prepend(banner);
  }
  banner.textContent = text;
}

/** Read the alarms now (a page that saw a camera's recording blocked or unblocked calls this). */
export function refresh() { poll(); }

async function poll() {
  if (!state.token || document.hidden) return;
  try {
    const alarms = (await api('GET', '/api/v1/system/alarms')).alarms || [];
    if (!names && alarms.some((a) => a.cameras?.length)) {
      names = new Map((await api('GET', '/api/v1/cameras').catch(() => ({ items: [] }))).items.map((c) => [c.id, c.name]));
    }
    show(alarms);
  } catch (_) { /* a failed round keeps what is shown; the next one retries */ }
}

setInterval(poll, POLL_MS);
setTimeout(poll, 1000);
