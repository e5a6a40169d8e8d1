// The chair's view of each site's link: the server's per-site stats (GET …/live, every LIVE_POLL_MS) shown on
// each grid tile as bars with the numbers on hover, and the warnings in words. A site whose media stopped is
// marked from the roster at once ("Mất kết nối"), without waiting for this poll.
import { addStrings, num, pct, t } from '/console/i18n.js';
import { api } from './moderation.js';
import { S, setText } from './state.js';

addStrings({
  vi: {
    'lq.tip': 'Độ trễ {rtt} · mất gói {loss} · {fps} khung hình/giây · {res} · {kbps} kbit/s',
    'lq.low': 'Nhận hình nhỏ (đường truyền không đủ cho HD)',
    'lq.w.media_lost': 'Mất kết nối', 'lq.w.high_loss': 'Mất gói cao', 'lq.w.high_rtt': 'Độ trễ cao',
    'lq.w.low_fps': 'Hình giật (ít khung hình)', 'lq.w.low_bitrate': 'Băng thông thấp',
    'lq.good': 'Đường truyền tốt', 'lq.fair': 'Đường truyền trung bình', 'lq.poor': 'Đường truyền kém',
  },
  en: {
    'lq.tip': 'RTT {rtt} · loss {loss} · {fps} fps · {res} · {kbps} kbit/s',
    'lq.low': 'Receiving thumbnails (its link cannot carry HD)',
    'lq.w.media_lost': 'Connection lost', 'lq.w.high_loss': 'High packet loss', 'lq.w.high_rtt': 'High latency',
    'lq.w.low_fps': 'Choppy video (low frame rate)', 'lq.w.low_bitrate': 'Low bandwidth',
    'lq.good': 'Good connection', 'lq.fair': 'Fair connection', 'lq.poor': 'Poor connection',
  },
});

export const LIVE_POLL_MS = 2000;

/** The level a site's numbers earn: the warnings decide (any warning but low video is poor). */
export function levelOf(q) {
  if (!q) return 'none';
  const w = q.warnings || [];
  if (w.includes('media_lost') || w.includes('high_loss') || w.includes('high_rtt')) return 'poor';
  if (w.length || (q.packet_loss_pct || 0) >= 2 || (q.rtt_ms || 0) >= 150) return 'fair';
  return 'good';
}

export function qualityText(q) {
  if (!q) return '';
  const res = q.width && q.height ? `${q.width}×${q.height}` : '—';
  const tip = t('lq.tip', {
    rtt: q.rtt_ms == null ? '—' : `${num(q.rtt_ms)} ms`, loss: pct(q.packet_loss_pct || 0, 1),
    fps: num(q.fps_in || 0), res, kbps: num(q.bitrate_in_kbps || 0),
  });
  const words = (q.warnings || []).map((w) => t(`lq.w.${w}`));
  if (q.layer === 'low') words.push(t('lq.low'));
  return [t(`lq.${levelOf(q)}`), ...words, tip].join(' — ');
}

/** Paint one tile's quality badge (bars and the first warning in words). */
export function paintTileQuality(tile, site) {
  const badge = tile.querySelector('.q');
  if (!badge) return;
  const q = site ? S.live[site] : null;
  const lost = site && S.rosterMap[site] && S.rosterMap[site].media === 'lost';
  badge.hidden = !q && !lost;
  const level = lost ? 'poor' : levelOf(q);
  badge.dataset.level = level;
  const warn = lost ? 'media_lost' : (q && q.warnings && q.warnings[0]) || '';
  setText(badge.querySelector('.q-text'), warn && warn !== 'media_lost' ? t(`lq.w.${warn}`) : '');
  badge.title = q ? qualityText(q) : t('lq.w.media_lost');
}

async function poll() {
  if (!S.isHost || !S.everWelcomed || S.final || document.hidden) return;
  try {
    const live = await api('/live', undefined, 'GET');
    S.live = Object.fromEntries((live.sites || []).filter((s) => s.connected).map((s) => [s.site, s]));
  } catch (_) {
    return;  // the next poll tries again; the roster still says who is connected
  }
  for (const tile of S.tiles.values()) if (tile.dataset.slot.startsWith('site:')) paintTileQuality(tile, tile.dataset.site);
}

export function startQualityPoll() {
  if (S.liveTimer) return;
  S.liveTimer = setInterval(poll, LIVE_POLL_MS);
}
