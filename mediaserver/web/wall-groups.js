// Camera groups made on this workstation, beside the groups of config.yaml: staff name a group and tick its
// cameras in the console (kept in this browser's localStorage — the groups of config.yaml are shared by every
// workstation and changed there). wall.js shows both kinds as tabs.
import { addStrings, t, h, modal } from './core.js';

const KEY = 'console.wallGroups';
const MAX_GROUPS = 50;
const NAME_MAX = 60;

addStrings({
  vi: {
    grpEdit: '✎ Sửa nhóm', grpTitle: 'Nhóm camera của máy này', grpShared: 'Nhóm trong tệp cấu hình (dùng chung, sửa trong config.yaml):',
    grpNone: 'Chưa có nhóm nào của máy này.', grpAdd: '+ Thêm nhóm', grpName: 'Tên nhóm', grpRemove: 'Xóa nhóm', grpSave: 'Lưu',
    grpNew: 'Nhóm {n}', grpNeedName: 'Mỗi nhóm cần một tên.', grpNeedCamera: 'Nhóm “{g}” chưa có camera nào.',
  },
  en: {
    grpEdit: '✎ Edit groups', grpTitle: "This workstation's camera groups", grpShared: 'Groups in the config file (shared, changed in config.yaml):',
    grpNone: 'No groups on this workstation yet.', grpAdd: '+ Add group', grpName: 'Group name', grpRemove: 'Remove group', grpSave: 'Save',
    grpNew: 'Group {n}', grpNeedName: 'Every group needs a name.', grpNeedCamera: 'Group “{g}” has no camera yet.',
  },
});

/** This workstation's groups: [{id: 'local-…', name, cameras: [camera id]}], only well-formed entries. */
export function localGroups() {
  let raw;
  try { raw = JSON.parse(localStorage.getItem(KEY) || '[]'); } catch (_) { return []; }
  if (!Array.isArray(raw)) return [];
  return raw.filter((g) => g && typeof g.id === 'string' && g.id.startsWith('local-') && typeof g.name === 'string'
    && Array.isArray(g.cameras) && g.cameras.every((c) => typeof c === 'string')).slice(0, MAX_GROUPS);
}

function save(groups) {
  try { localStorage.setItem(KEY, JSON.stringify(groups)); } catch (_) { /* storage refused: this page only */ }
}

/** Open the editor over ``cameras`` (the camera list) and ``shared`` (config.yaml's groups); ``done`` after a save. */
export function editGroups(cameras, shared, done) {
  let groups = localGroups().map((g) => ({ ...g, cameras: [...g.cameras] }));
  const list = h('div', { id: 'grp-list', class: 'grp-list' });
  const error = h('p', { id: 'grp-error', class: 'msg error', role: 'alert', hidden: true });
  const nextId = () => `local-${Math.max(0, ...groups.map((g) => Number(g.id.slice(6)) || 0)) + 1}`;
  const paint = () => {
    list.replaceChildren(...(groups.length ? groups.map((g) => h('fieldset', { class: 'grp', 'data-group': g.id },
      h('div', { class: 'grp-head' },
        h('input', { type: 'text', class: 'grp-name', maxlength: NAME_MAX, value: g.name, 'aria-label': t('grpName'),
          oninput: (ev) => { g.name = ev.target.value; } }),
        h('button', { type: 'button', class: 'warn grp-remove', onclick: () => { groups = groups.filter((x) => x !== g); paint(); } },
          t('grpRemove'))),
      h('div', { class: 'grp-cams' }, cameras.map((c) => h('label', { class: 'grp-cam' },
        h('input', { type: 'checkbox', value: c.id, checked: g.cameras.includes(c.id),
          onchange: (ev) => { g.cameras = ev.target.checked ? [...g.cameras, c.id] : g.cameras.filter((x) => x !== c.id); } }),
        ' ', c.name))))) : [h('p', { class: 'muted' }, t('grpNone'))]));
  };
  paint();
  const dlg = modal(t('grpTitle'), h('div', { class: 'grp-editor' },
    shared.length ? h('p', { class: 'muted small' }, t('grpShared'), ' ', shared.map((g) => g.name).join(', ')) : null,
    list, error,
    h('div', { class: 'row' },
      h('button', { id: 'grp-add', type: 'button', disabled: groups.length >= MAX_GROUPS, onclick: () => {
        groups.push({ id: nextId(), name: t('grpNew', { n: groups.length + 1 }), cameras: [] });
        paint();
        list.querySelector('fieldset:last-child .grp-name')?.select();
      } }, t('grpAdd')),
      h('span', { class: 'spacer' }),
      h('button', { id: 'grp-save', type: 'button', class: 'primary', onclick: () => {
        const clean = groups.map((g) => ({ ...g, name: g.name.trim(), cameras: cameras.map((c) => c.id).filter((id) => g.cameras.includes(id)) }));
        const bad = clean.find((g) => !g.name) ? t('grpNeedName') : clean.find((g) => !g.cameras.length);
        if (bad) {
          error.textContent = typeof bad === 'string' ? bad : t('grpNeedCamera', { g: bad.name });
          error.hidden = false;
          return;
        }
        save(clean);
        dlg.close();
        done();
      } }, t('grpSave')))), { id: 'grp-dialog' });
}
