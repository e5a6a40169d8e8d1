// PTZ presets of the large camera view: read from the camera (GET …/presets: ONVIF GetPresets), stored there
// (POST: SetPreset), removed (DELETE: RemovePreset) and gone to (POST …/goto) — the console invents none. PTZ
// errors are shown from their codes (cameras/onvif/ptz_errors.py), never with the camera's SOAP text.
import { addStrings, t, tOr, h, api, errorText } from './core.js';

// One text per error code the PTZ routes answer with (tests/test_ptz.py keeps this list equal to PTZ_CODES).
export const PTZ_ERROR_TEXTS = {
  vi: {
    camera_auth_failed: 'Camera từ chối tên đăng nhập hoặc mật khẩu đã lưu.',
    camera_unreachable: 'Camera không trả lời (kiểm tra mạng hoặc nguồn điện của camera).',
    no_ptz: 'Camera này không có chức năng quay/quét (PTZ).',
    ptz_failed: 'Camera không thực hiện được lệnh điều khiển.',
    ptz_moving: 'Camera đang quay: dừng lại rồi mới lưu vị trí.',
    ptz_no_profile: 'Cấu hình hình ảnh của camera đã thay đổi: cần khai báo lại camera.',
    ptz_not_supported: 'Camera không hỗ trợ lệnh này.',
    ptz_out_of_range: 'Vị trí hoặc tốc độ vượt quá khả năng của camera.',
    ptz_preset_exists: 'Camera đã có một vị trí đặt sẵn cùng tên.',
    ptz_preset_name_invalid: 'Camera không chấp nhận tên vị trí này.',
    ptz_preset_not_found: 'Camera không còn vị trí đặt sẵn này (có thể đã bị xóa).',
    ptz_presets_full: 'Camera đã hết chỗ lưu vị trí đặt sẵn: hãy xóa bớt một vị trí.',
  },
  en: {
    camera_auth_failed: 'The camera refused the stored user name or password.',
    camera_unreachable: 'The camera does not answer (check its network or power).',
    no_ptz: 'This camera has no pan/tilt/zoom (PTZ).',
    ptz_failed: 'The camera could not carry out the command.',
    ptz_moving: 'The camera is moving: stop it, then save the position.',
    ptz_no_profile: 'The camera’s video profile changed: set the camera up again.',
    ptz_not_supported: 'The camera does not support this command.',
    ptz_out_of_range: 'The position or speed is beyond what the camera can do.',
    ptz_preset_exists: 'The camera already has a preset with this name.',
    ptz_preset_name_invalid: 'The camera does not accept this preset name.',
    ptz_preset_not_found: 'The camera no longer has this preset (it may have been removed).',
    ptz_presets_full: 'The camera has no room for more presets: remove one first.',
  },
};

const prefixed = (texts) => Object.fromEntries(Object.entries(texts).map(([k, v]) => [`err.${k}`, v]));
addStrings({ vi: prefixed(PTZ_ERROR_TEXTS.vi), en: prefixed(PTZ_ERROR_TEXTS.en) });
addStrings({
  vi: {
    presetsEmpty: 'Camera chưa có vị trí đặt sẵn nào.', presetName: 'Tên vị trí mới', presetSave: 'Lưu vị trí hiện tại',
    presetRemove: 'Xóa vị trí “{n}”', presetConfirm: 'Xóa vị trí đặt sẵn “{n}” khỏi camera?', presetsLoading: 'Đang đọc vị trí từ camera…',
  },
  en: {
    presetsEmpty: 'The camera has no presets yet.', presetName: 'New preset name', presetSave: 'Save current position',
    presetRemove: 'Remove preset “{n}”', presetConfirm: 'Remove preset “{n}” from the camera?', presetsLoading: 'Reading presets from the camera…',
  },
});

/** A PTZ failure in plain words: the text of its code, else the generic error text (no camera text). */
export function ptzErrorText(err) {
  return tOr(`err.${err.code}`, null) ?? errorText(err);
}

const presetsUrl = (m) => `/api/v1/cameras/${encodeURIComponent(m.cam.id)}/presets`;

/** The presets box of a large view ``m``; ``note(text|null)`` shows a failure under the view. */
export function presetsBox(m, note) {
  const list = h('div', { class: 'ptz-preset-list', id: 'ptz-preset-list' }, h('span', { class: 'muted small' }, t('presetsLoading')));
  const name = h('input', { id: 'ptz-preset-name', type: 'text', maxlength: 64, placeholder: t('presetName'), 'aria-label': t('presetName') });
  const fail = (err) => { if (!err.handled) note(ptzErrorText(err)); };
  const load = async () => {
    try {
      const got = await api('GET', presetsUrl(m));
      note(null);
      paint(got.items);
    } catch (err) {
      list.replaceChildren();
      fail(err);
    }
  };
  const paint = (items) => {
    list.replaceChildren(...(items.length ? items.map((p) => h('span', { class: 'ptz-preset-item' },
      h('button', { type: 'button', class: 'ptz-preset', 'data-preset': p.token, title: p.name,
        onclick: () => api('POST', `${presetsUrl(m)}/${encodeURIComponent(p.token)}/goto`).then(() => note(null), fail) }, p.name),
      h('button', { type: 'button', class: 'ptz-preset-remove', 'data-preset': p.token, title: t('presetRemove', { n: p.name }),
        'aria-label': t('presetRemove', { n: p.name }),
        onclick: async () => {
          if (!window.confirm(t('presetConfirm', { n: p.name }))) return;
          try { await api('DELETE', `${presetsUrl(m)}/${encodeURIComponent(p.token)}`); } catch (err) { fail(err); }
          load();
        } }, '✕')))
      : [h('span', { class: 'muted small', id: 'ptz-presets-empty' }, t('presetsEmpty'))]));
  };
  const save = h('button', { id: 'ptz-preset-save', type: 'button', onclick: async () => {
    const value = name.value.trim();
    if (!value) { name.focus(); return; }
    save.disabled = true;
    try {
      await api('POST', presetsUrl(m), { name: value });
      name.value = '';
      await load();
    } catch (err) { fail(err); } finally { save.disabled = false; }
  } }, t('presetSave'));
  const box = h('div', { class: 'ptz-presets' }, h('span', { class: 'muted' }, t('ptz.presets')), list,
    h('div', { class: 'ptz-preset-new' }, name, save));
  box.load = load;
  return box;
}
