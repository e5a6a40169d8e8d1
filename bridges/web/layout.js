// The tiles: the chair's grid of sites (best-fitting 16:9 tiles), a site's stage (the share, the speaker or the
// host large, the rest beside it — stacked on a phone), labels, "Đang phát biểu" from who is talking now, and
// "Mất kết nối" on a site whose media stopped.
import { nameOf, t } from '/console/i18n.js';
import { renderControls } from './controls.js';
import { paintTileQuality } from './quality.js';
import { $, S, escapeHtml, icon, setHtml, setText } from './state.js';

const PHONE = window.matchMedia('(max-width: 700px)');
PHONE.addEventListener('change', () => renderTiles());

// ------------------------------------------------------------------------------------------ layout

export function setupLayout(isHost) {
  if (S.isHost === isHost) return;
  S.isHost = isHost;
  document.body.dataset.role = isHost ? 'host' : 'site';
  $('#panel').hidden = !isHost;
  $('#btn-end').hidden = !isHost;
  $('#btn-lock').hidden = !isHost;
  $('#grid').hidden = !isHost;
  const selfBox = $('#self-box');
  if (isHost) {
    $('#panel').insertBefore(selfBox, $('#panel').firstChild);
    $('#self-view').play().catch(() => { /* no camera yet */ });  // moving a media element pauses it
  }
  renderControls();
}

export function makeTile(name) {
  const tile = document.createElement('div');
  tile.className = 'tile';
  tile.dataset.slot = name;
  tile.dataset.site = '';
  tile.dataset.live = 'false';
  tile.innerHTML = '<video autoplay playsinline muted></video>'
    + '<div class="placeholder"><span class="ph-text"></span></div>'
    + '<div class="label"><span class="icons"></span><span class="name"></span></div>'
    + '<div class="tag"></div>'
    + '<div class="lost" hidden><span class="lost-text"></span></div>'
    + '<div class="q" data-level="none" hidden><i class="bars"><b></b><b></b><b></b></i><span class="q-text"></span></div>';
  return tile;
}

export function ensureSlotElements() {
  const stage = $('#stage');
  const grid = $('#grid');
  for (const slot of Object.values(S.slotsByMid)) {
    if (slot.kind === 'audio') {
      if (!S.audios.has(slot.name)) {
        const a = document.createElement('audio');
        a.autoplay = true;
        a.dataset.slot = slot.name;
        $('#audio-sink').appendChild(a);
        S.audios.set(slot.name, a);
      }
      continue;
    }
    if (S.tiles.has(slot.name)) continue;
    const tile = makeTile(slot.name);
    if (slot.name === 'screen' && S.isHost) {
      tile.classList.add('screen-tile');
      $('#screen-area').appendChild(tile);
    } else if (slot.name.startsWith('site:')) {
      grid.appendChild(tile);
    } else {
      tile.classList.add(`tile-${slot.name}`);
      stage.insertBefore(tile, $('#self-box').parentNode === stage ? $('#self-box') : null);
    }
    S.tiles.set(slot.name, tile);
  }
}

export function siteName(id) {
  if (!id) return '';
  const r = S.rosterMap[id];
  if (r && r.name) return nameOf(r);
  if (S.welcome && id === S.welcome.site) return nameOf({ name: S.welcome.site_name, name_en: S.welcome.site_name_en });
  return id;
}

export const connected = (id) => Boolean(id && id !== S.site && S.rosterMap[id] && S.rosterMap[id].connected);

// The site filling a slot: what the server said in 'slots', else inferred from the room state. (The server
// only sends changes; assignments it made before the offer had m-line ids are never sent — see the report.)
export function slotSite(name) {
  const mid = S.midByName[name];
  if (mid != null && Object.prototype.hasOwnProperty.call(S.assign, mid)) return S.assign[mid] ?? null;
  if (name.startsWith('site:')) { const id = name.slice(5); return connected(id) ? id : null; }
  if (name === 'host') return connected(S.hostSite) ? S.hostSite : null;
  if (name === 'screen') return S.screenSite && S.screenSite !== S.site ? S.screenSite : null;
  if (name === 'speaker') return spotSite(S.hostSite);
  return null;
}

export function siteFlags(id) {
  const r = id ? S.rosterMap[id] : null;
  const muted = (r && r.muted) || {};
  const mod = (r && r.moderated) || {};
  return {
    micOff: Boolean(muted.audio || mod.audio), camOff: Boolean(muted.video || mod.video),
    modAudio: Boolean(mod.audio), modVideo: Boolean(mod.video), sharing: Boolean(r && r.sharing),
  };
}

export function iconsHtml(id, withPin) {
  const f = siteFlags(id);
  let html = '';
  if (f.micOff) html += `<span class="st st-mic${f.modAudio ? ' mod' : ''}" title="${escapeHtml(t('micOffTip') + (f.modAudio ? ` ${t('modTip')}` : ''))}">${icon('micOff')}</span>`;
  if (f.camOff) html += `<span class="st st-cam${f.modVideo ? ' mod' : ''}" title="${escapeHtml(t('camOffTip') + (f.modVideo ? ` ${t('modTip')}` : ''))}">${icon('camOff')}</span>`;
  if (withPin && id && S.pinned === id) html += `<span class="st st-pin" title="${escapeHtml(t('pinnedTip'))}">${icon('pin')}</span>`;
  if (f.sharing) html += `<span class="st st-share" title="${escapeHtml(t('sharingTip'))}">${icon('screen')}</span>`;
  return html;
}

export function renderTiles() {
  if (S.isHost === null) return;
  let visibleGrid = 0;
  const spot = spotSite();
  for (const [name, tile] of S.tiles) {
    const site = slotSite(name);
    tile.dataset.site = site || '';
    const live = tile.dataset.live === 'true';
    const label = tile.querySelector('.label .name');
    const icons = tile.querySelector('.label .icons');
    const ph = tile.querySelector('.ph-text');
    const tag = tile.querySelector('.tag');
    const flags = siteFlags(site);
    const lost = Boolean(site && S.rosterMap[site] && S.rosterMap[site].media === 'lost');
    const talking = Boolean(site && !lost && S.talking.has(site));
    let empty = !site;
    let phText = '';
    let tagText = '';
    if (name.startsWith('site:')) {
      const id = name.slice(5);
      setText(label, siteName(id));
      phText = site ? (flags.camOff ? t('camOff') : '') : t('offline');
      if (talking) tagText = t('speaking');
      tile.classList.toggle('speaking', talking);
      tile.classList.toggle('pinned', Boolean(site && S.pinned === site));
      // The spotlighted site (pinned, else speaking) comes first and large: the server sends it in HD.
      const isSpot = Boolean(site && site === spot);
      tile.classList.toggle('spot', isSpot);
      tile.style.order = isSpot ? '-1' : site ? '0' : '1';
      if (site) visibleGrid += 1;
    } else if (name === 'screen') {
      setText(label, site ? t('tile.screen', { name: siteName(site) }) : t('tile.screenAnon'));
    } else if (name === 'host') {
      setText(label, site ? siteName(site) : '');
      phText = site ? (flags.camOff ? t('camOff') : '') : t('waitingHost');
      tagText = t('tile.host');
      empty = false;  // the host tile always shows, with a placeholder while the host is away
      tile.classList.toggle('waiting', !site);
    } else if (name === 'speaker') {
      setText(label, site ? siteName(site) : '');
      phText = site && flags.camOff ? t('camOff') : '';
      // Only someone talking now is "Đang phát biểu": the slot keeps the last speaker's picture after that.
      tagText = site ? (S.pinned === site ? t('pinnedTip') : talking ? t('tile.speaker') : '') : '';
      tile.classList.toggle('speaking', talking);
      if (!site && live) empty = false;  // frames flow although we were not told whose they are
    }
    setHtml(icons, site ? iconsHtml(site, name.startsWith('site:')) : '');
    setText(ph, phText);
    ph.parentNode.hidden = !phText;
    setText(tag, tagText);
    tag.hidden = !tagText;
    label.parentNode.hidden = !label.textContent && !icons.innerHTML;
    tile.classList.toggle('empty', empty);
    tile.classList.toggle('cam-off', Boolean(site && flags.camOff));
    tile.classList.toggle('media-lost', lost);
    const lostBox = tile.querySelector('.lost');
    lostBox.hidden = !lost;
    setText(lostBox.firstChild, lost ? t('conn.lost') : '');
    if (S.isHost && name.startsWith('site:')) paintTileQuality(tile, site);
  }
  if (S.isHost) {
    const n = visibleGrid;
    const cols = n <= 1 ? 1 : n <= 4 ? 2 : n <= 9 ? 3 : n <= 16 ? 4 : 5;
    const grid = $('#grid');
    grid.style.setProperty('--cols', String(cols));
    grid.style.setProperty('--rows', String(Math.max(1, Math.ceil(n / cols))));
    grid.dataset.count = String(n);
    grid.dataset.spot = spot && n >= SPOT_MIN_TILES ? spot : '';
    const screenOn = Boolean(slotSite('screen'));
    $('#stage').dataset.layout = screenOn ? 'host-screen' : 'host-grid';
    $('#grid-empty').hidden = n > 0;
    fitGrid();
  } else {
    layoutSiteStage();
  }
  const sharing = Boolean(S.screenTrack);
  $('#share-note').hidden = !sharing;
  $('#share-note').textContent = t('sharingNote');
}

// The pinned site, else the one speaking, never ``except``: a site's speaker slot (except the host) and the
// chair's main view (except itself; the server sends it in HD).
export function spotSite(except = S.site) {
  for (const c of [S.pinned, S.speaker]) if (c && c !== except && connected(c)) return c;
  return null;
}

// With this many sites or more the spotlighted tile takes 2×2 cells; with fewer every tile is large anyway.
const SPOT_MIN_TILES = 2;

// The host's grid: the column count and tile size that give the largest 16:9 tiles for the sites shown
// (the spotlighted tile counts as four cells).
export function fitGrid() {
  const grid = $('#grid');
  const spotted = Boolean(grid.dataset.spot);
  const n = Number(grid.dataset.count || 0) + (spotted ? 3 : 0);
  const clear = () => { grid.style.gridTemplateColumns = ''; grid.style.gridTemplateRows = ''; };
  if (!S.isHost || !n || $('#stage').dataset.layout !== 'host-grid') { clear(); return; }
  const gap = 8;
  const W = $('#stage').clientWidth;
  const H = $('#stage').clientHeight;
  let best = { cols: 1, rows: n, w: 0 };
  for (let cols = spotted ? 2 : 1; cols <= n; cols += 1) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows) * 16 / 9);
    if (w > best.w) best = { cols, rows, w };
  }
  const w = Math.max(80, Math.floor(best.w));
  grid.style.gridTemplateColumns = `repeat(${best.cols}, ${w}px)`;
  grid.style.gridTemplateRows = `repeat(${best.rows}, ${Math.floor((w * 9) / 16)}px)`;
}

// A site's page: the largest area goes to the screen share, else the speaker, else the host.
export function layoutSiteStage() {
  const stage = $('#stage');
  const screen = S.tiles.get('screen');
  const speaker = S.tiles.get('speaker');
  const host = S.tiles.get('host');
  const shown = (tile) => tile && !tile.classList.contains('empty');
  const main = [screen, speaker, host].find(shown) || host;
  const sides = [host, speaker].filter((tile) => tile && tile !== main && shown(tile));
  const areas = [];
  const rows = [];
  sides.forEach((tile, i) => { tile.style.gridArea = `side${i}`; });
  if (PHONE.matches) {
    // A phone: the main picture across the screen, the host/speaker and this site's own camera in pairs below.
    const small = [...sides.map((_, i) => `side${i}`), 'self'];
    areas.push('"main main"');
    rows.push('auto');
    for (let i = 0; i < small.length; i += 2) { areas.push(`"${small[i]} ${small[i + 1] || '.'}"`); rows.push('auto'); }
    stage.style.gridTemplateColumns = 'minmax(0, 1fr) minmax(0, 1fr)';
  } else {
    sides.forEach((_, i) => { areas.push(`"main side${i}"`); rows.push('auto'); });
    areas.push('"main self"', '"main ."');
    rows.push('auto', 'minmax(0, 1fr)');
    stage.style.gridTemplateColumns = '';
  }
  for (const tile of [screen, speaker, host]) if (tile) tile.classList.toggle('main', tile === main);
  if (main) main.style.gridArea = 'main';
  for (const tile of [screen, speaker]) if (tile && !shown(tile)) tile.style.gridArea = 'auto';
  $('#self-box').style.gridArea = 'self';
  stage.style.gridTemplateAreas = areas.join(' ');
  stage.style.gridTemplateRows = rows.join(' ');
  stage.dataset.layout = main === screen ? 'site-screen' : main === speaker ? 'site-speaker' : 'site-host';
}
