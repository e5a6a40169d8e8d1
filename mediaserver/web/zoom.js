// Timeline zoom for the recordings page: the zoom levels (24 h → 1 h → 10 min), the visible span around a moment,
// time ticks whose labels never collide whatever the width (a phone's 390 px included), and the gestures that
// zoom — the mouse wheel and a two-finger pinch.
import { TZ } from './core.js';

/** Visible spans, widest first (seconds). */
export const ZOOM_LEVELS = [86400, 3600, 600];
// Tick steps to choose from (seconds): the smallest whose labels keep LABEL_GAP_PX between them is used.
const TICK_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200];
const LABEL_PX = 40; // the width an "HH:MM" label takes at the timeline's 12 px font (measured ≈ 33 px)
const LABEL_GAP_PX = 10;
const PINCH_IN = 1.35; // fingers spread this much (ratio of distances) zoom in one level; closer by its inverse, out
const WHEEL_QUIET_MS = 250; // one level per wheel gesture: further wheel events within this time are ignored

/** The visible [start, end] of ``level`` seconds with ``at`` at fraction ``frac`` of it (0.5: centred), kept inside
 * the day [dayStart, dayEnd]: a wheel zoom keeps the moment under the pointer where it is. */
export function spanAround(at, level, dayStart, dayEnd, frac = 0.5) {
  const len = Math.min(level, dayEnd - dayStart);
  const start = Math.min(Math.max(at - frac * len, dayStart), dayEnd - len);
  return [start, start + len];
}

const hhmm = new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hour12: false });

/**
 * The ticks of [start, end] drawn ``widthPx`` wide: [{ts, frac, label}], at the smallest step whose labels fit
 * (LABEL_PX each, LABEL_GAP_PX apart), on round local times; a label that would stick out of either end is left out.
 */
export function ticks(start, end, widthPx, dayStart) {
  const len = end - start;
  if (!(len > 0) || !(widthPx > 0)) return [];
  const step = TICK_STEPS.find((s) => (s / len) * widthPx >= LABEL_PX + LABEL_GAP_PX) || TICK_STEPS[TICK_STEPS.length - 1];
  const out = [];
  // Local midnight is dayStart, so round local times are multiples of the step from it.
  for (let ts = dayStart + Math.ceil((start - dayStart) / step) * step; ts <= end + 1e-6; ts += step) {
    const x = ((ts - start) / len) * widthPx;
    if (x < LABEL_PX / 2 || x > widthPx - LABEL_PX / 2) continue;
    const label = ts - dayStart >= 86400 ? '24:00' : hhmm.format(new Date(ts * 1000));
    out.push({ ts, frac: (ts - start) / len, label });
  }
  return out;
}

/** Zoom on ``el`` with the wheel (at the pointer) and a pinch (at its centre): calls zoom(+1 | -1, clientX). */
export function wireZoomGestures(el, zoom) {
  let quietUntil = 0;
  el.addEventListener('wheel', (ev) => {
    if (!ev.deltaY) return;
    ev.preventDefault(); // the page must not scroll while the timeline zooms
    const now = performance.now();
    if (now < quietUntil) return;
    quietUntil = now + WHEEL_QUIET_MS;
    zoom(ev.deltaY < 0 ? 1 : -1, ev.clientX);
  }, { passive: false });
  const touches = new Map();
  let base = 0;
  const distance = () => { const [a, b] = [...touches.values()]; return Math.hypot(a.x - b.x, a.y - b.y); };
  const centre = () => { const [a, b] = [...touches.values()]; return (a.x + b.x) / 2; };
  el.addEventListener('pointerdown', (ev) => {
    if (ev.pointerType !== 'touch') return;
    touches.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (touches.size === 2) base = distance();
  });
  el.addEventListener('pointermove', (ev) => {
    if (!touches.has(ev.pointerId)) return;
    touches.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (touches.size !== 2 || !base) return;
    const ratio = distance() / base;
    if (ratio >= PINCH_IN || ratio <= 1 / PINCH_IN) {
      zoom(ratio > 1 ? 1 : -1, centre());
      base = distance(); // a longer pinch goes on to the next level
    }
  });
  const up = (ev) => { touches.delete(ev.pointerId); if (touches.size < 2) base = 0; };
  for (const name of ['pointerup', 'pointercancel']) el.addEventListener(name, up);
  return { pinching: () => touches.size >= 2 };
}
