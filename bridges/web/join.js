// The site's conference page: joins a room over the signalling WebSocket (protocol v1, see
// bridges/signalling.py), answers the server's one offer, publishes microphone, camera and screen, and shows
// the slots the server fills. Plain ES2020, no build step, no external resources.
'use strict';

const I18N = {
  vi: {
    title: 'Hội nghị truyền hình', hostBadge: 'Điểm cầu chính (chủ trì)', locked: 'Phòng đã khóa',
    youAre: 'Điểm cầu: {name}', you: 'Bạn', youNamed: 'Bạn — {name}', selfNoCam: 'Camera đang tắt',
    // connection state
    'st.connecting': 'Đang kết nối…', 'st.joining': 'Đang vào phòng họp…', 'st.negotiating': 'Đang thiết lập đường truyền…',
    'st.connected': 'Đã kết nối', 'st.reconnecting': 'Đang kết nối lại…', 'st.ended': 'Đã kết thúc', 'st.error': 'Không vào được phòng họp',
    'st.waitMedia': 'Đang chờ cho phép camera/micro…',
    reconnectIn: 'Mất kết nối tới máy chủ — đang kết nối lại sau {n} giây…', reconnectNow: 'Đang kết nối lại…',
    firstConnectIn: 'Chưa kết nối được máy chủ — thử lại sau {n} giây…',
    serverRestart: 'Máy chủ đang khởi động lại — đang kết nối lại sau {n} giây…',
    mediaLost: 'Đường truyền hình ảnh/âm thanh bị gián đoạn — đang kết nối lại…',
    mediaTimeout: 'Không thiết lập được đường truyền hình ảnh/âm thanh (có thể tường lửa chặn) — đang thử lại…',
    // quality
    'q.good': 'Đường truyền: tốt', 'q.fair': 'Đường truyền: trung bình', 'q.poor': 'Đường truyền: kém', 'q.none': 'Đường truyền: —',
    qTip: 'Độ trễ khứ hồi: {rtt} · Mất gói nhận: {loss}%', qNoRtt: 'chưa đo được',
    // controls
    'mic.mute': 'Tắt micro', 'mic.unmute': 'Bật micro', 'mic.moderated': 'Micro bị chủ trì tắt', 'mic.none': 'Không có micro', 'mic.blocked': 'Micro bị chặn',
    'cam.mute': 'Tắt camera', 'cam.unmute': 'Bật camera', 'cam.moderated': 'Camera bị chủ trì tắt', 'cam.none': 'Không có camera', 'cam.blocked': 'Camera bị chặn',
    'screen.start': 'Chia sẻ màn hình', 'screen.stop': 'Dừng chia sẻ', leave: 'Rời cuộc họp', end: 'Kết thúc cuộc họp', 'lock.on': 'Khóa phòng', 'lock.off': 'Mở khóa phòng',
    sharingNote: 'Bạn đang chia sẻ màn hình', screenUnsupported: 'Trình duyệt này không hỗ trợ chia sẻ màn hình.',
    screenCancelled: 'Chưa chia sẻ màn hình (đã hủy hoặc bị chặn).', screenFailed: 'Không chia sẻ được màn hình: {m}',
    screenTaken: '{name} đã bắt đầu trình chiếu — đã dừng chia sẻ màn hình của bạn.',
    'mod.you.mute_audio': 'Chủ trì đã tắt micro của bạn', 'mod.you.unmute_audio': 'Chủ trì đã bật lại micro của bạn',
    'mod.you.mute_video': 'Chủ trì đã tắt camera của bạn', 'mod.you.unmute_video': 'Chủ trì đã bật lại camera của bạn',
    // tiles
    'tile.host': 'Điểm cầu chính', 'tile.speaker': 'Đang phát biểu', 'tile.screen': 'Trình chiếu: {name}',
    'tile.screenAnon': 'Trình chiếu', waitingHost: 'Đang chờ điểm cầu chính kết nối…', offline: 'Chưa kết nối',
    camOff: 'Camera đang tắt', gridEmpty: 'Chưa có điểm cầu nào kết nối', speaking: 'Đang phát biểu',
    micOffTip: 'Micro đang tắt', camOffTip: 'Camera đang tắt', pinnedTip: 'Đang được ghim', sharingTip: 'Đang trình chiếu',
    modTip: '(chủ trì tắt)', unknownSite: 'Điểm cầu',
    // moderation panel
    modTitle: 'Điều hành cuộc họp', modCount: '{c}/{n} điểm cầu đã kết nối',
    'mod.mute_audio': 'Tắt micro', 'mod.unmute_audio': 'Bật micro', 'mod.mute_video': 'Tắt hình',
    'mod.unmute_video': 'Bật hình', 'mod.pin': 'Ghim lên màn hình các điểm cầu', 'mod.unpin': 'Bỏ ghim',
    'mod.remove': 'Mời rời cuộc họp',
    'done.mute_audio': 'Đã tắt micro của {name}', 'done.unmute_audio': 'Đã bật micro của {name}',
    'done.mute_video': 'Đã tắt hình của {name}', 'done.unmute_video': 'Đã bật hình của {name}',
    'done.pin': 'Đã ghim {name} lên màn hình các điểm cầu', 'done.unpin': 'Đã bỏ ghim — các điểm cầu theo người phát biểu',
    'done.remove': 'Đã mời {name} rời cuộc họp', 'done.end': 'Đã kết thúc cuộc họp',
    pinFollow: 'Màn hình các điểm cầu: theo người đang phát biểu', pinOn: 'Đang ghim: {name}', unpin: 'Bỏ ghim',
    confirmRemove: 'Mời điểm cầu «{name}» rời cuộc họp?', confirmEnd: 'Kết thúc cuộc họp cho tất cả các điểm cầu?',
    'conn.connected': 'Đã kết nối', 'conn.connecting': 'Đang kết nối', 'conn.new': 'Đang kết nối', 'conn.failed': 'Lỗi kết nối',
    'conn.disconnected': 'Mất kết nối', 'conn.closed': 'Đã ngắt', 'conn.offline': 'Chưa kết nối',
    apiFailed: 'Không thực hiện được: {m}', apiForbidden: 'Chỉ điểm cầu chính mới được điều hành phòng họp.',
    apiNotConnected: 'Điểm cầu này không còn trong cuộc họp.', apiNotRunning: 'Cuộc họp không còn diễn ra.',
    apiHostRemove: 'Không thể mời điểm cầu chính ra; hãy kết thúc cuộc họp.', apiExpired: 'Liên kết tham gia đã hết hạn — không điều hành được.',
    network: 'Không kết nối được máy chủ. Kiểm tra mạng rồi thử lại.',
    // local media
    'media.denied': 'Trình duyệt đã chặn camera/micro. Bấm vào biểu tượng ổ khóa (hoặc biểu tượng camera) ở bên trái thanh địa chỉ, chọn «Cho phép» cho Camera và Micro, rồi tải lại trang. Bạn vẫn đang tham gia để xem và nghe.',
    'media.notfound': 'Không tìm thấy camera hoặc micro trên máy này. Hãy cắm thiết bị rồi tải lại trang. Bạn vẫn đang tham gia để xem và nghe.',
    'media.busy': 'Camera hoặc micro đang được ứng dụng khác sử dụng (Zoom, Teams…). Hãy đóng ứng dụng đó rồi tải lại trang. Bạn vẫn đang tham gia để xem và nghe.',
    'media.insecure': 'Trình duyệt chỉ cho dùng camera/micro trên kết nối an toàn (https). Hãy mở liên kết https do văn phòng UBND huyện gửi. Bạn vẫn đang tham gia để xem và nghe.',
    'media.noCam': 'Không mở được camera — điểm cầu chỉ gửi âm thanh.',
    'media.noMic': 'Không mở được micro — điểm cầu chỉ gửi hình ảnh.',
    'media.other': 'Không mở được camera/micro ({m}). Bạn vẫn đang tham gia để xem và nghe.',
    codecWarn: 'Trình duyệt này không hỗ trợ mã {codec} mà phòng họp dùng — hình ảnh có thể không hiển thị. Hãy dùng Google Chrome hoặc Microsoft Edge bản mới.',
    audioUnlock: 'Bấm vào đây để bật âm thanh cuộc họp', dismiss: 'Đóng', retry: 'Thử lại',
    rejoin: 'Tham gia lại', useHere: 'Dùng cửa sổ này', reload: 'Tải lại trang',
    // end of session
    'bye.replaced': 'Phiên này đã được mở ở cửa sổ khác.', 'bye.removed': 'Chủ trì đã mời điểm cầu của bạn rời cuộc họp.',
    'bye.ended': 'Cuộc họp đã kết thúc. Cảm ơn quý đại biểu đã tham dự.', 'bye.left': 'Bạn đã rời cuộc họp.',
    // errors (codes from the server, plus no_token found here)
    'err.no_token': 'Liên kết không có mã tham gia. Hãy mở đúng liên kết được gửi cho điểm cầu của bạn (dạng …/join#token=…).',
    'err.invalid_token': 'Liên kết tham gia không hợp lệ. Hãy mở đúng liên kết được gửi cho điểm cầu của bạn.',
    'err.token_expired': 'Liên kết tham gia đã hết hạn — xin liên kết mới từ văn phòng UBND huyện.',
    'err.token_revoked': 'Liên kết tham gia đã bị thu hồi — xin liên kết mới từ văn phòng UBND huyện.',
    'err.not_a_join_token': 'Đây không phải liên kết tham gia của điểm cầu — xin liên kết tham gia từ văn phòng UBND huyện.',
    'err.room_locked': 'Phòng họp đã khóa — điểm cầu mới không vào được. Hãy liên hệ chủ trì cuộc họp.',
    'err.room_full': 'Phòng họp đã đủ số điểm cầu tối đa. Hãy liên hệ văn phòng UBND huyện.',
    'err.wrong_room': 'Liên kết này dành cho một phòng họp khác.',
    'err.not_a_member': 'Điểm cầu của bạn không thuộc phòng họp này. Hãy liên hệ văn phòng UBND huyện.',
    'err.unknown_room': 'Phòng họp không tồn tại hoặc đã ngừng hoạt động.',
    'err.too_many_joins': 'Nhiều điểm cầu đang vào cùng lúc — đang tự động thử lại…',
    'err.meeting_ended': 'Cuộc họp đã kết thúc.',
    'err.bad_sdp': 'Trình duyệt và máy chủ không thống nhất được thông số truyền hình ảnh/âm thanh — đang thử kết nối lại.',
    'err.unknown_type': 'Máy chủ không hiểu một thông điệp của trang (lỗi phần mềm). Cuộc họp vẫn tiếp tục.',
    'err.bad_message': 'Máy chủ từ chối một thông điệp của trang (lỗi phần mềm). Cuộc họp vẫn tiếp tục.',
    'err.unsupported_version': 'Trang họp đã cũ so với máy chủ — hãy tải lại trang (Ctrl+F5).',
    'err.join_timeout': 'Máy chủ chờ quá lâu — đang thử lại…', 'err.bad_join': 'Yêu cầu tham gia bị từ chối — đang thử lại…',
    'err.generic': 'Lỗi: {m}', errDetail: 'Mã lỗi: {code}',
  },
  en: {
    title: 'Video conference', hostBadge: 'Host site (chair)', locked: 'Room locked',
    youAre: 'Site: {name}', you: 'You', youNamed: 'You — {name}', selfNoCam: 'Camera is off',
    'st.connecting': 'Connecting…', 'st.joining': 'Joining the meeting…', 'st.negotiating': 'Setting up media…',
    'st.connected': 'Connected', 'st.reconnecting': 'Reconnecting…', 'st.ended': 'Ended', 'st.error': 'Could not join',
    'st.waitMedia': 'Waiting for camera/microphone permission…',
    reconnectIn: 'Connection to the server lost — reconnecting in {n} s…', reconnectNow: 'Reconnecting…',
    firstConnectIn: 'Cannot reach the server — retrying in {n} s…',
    serverRestart: 'The server is restarting — reconnecting in {n} s…',
    mediaLost: 'Audio/video connection interrupted — reconnecting…',
    mediaTimeout: 'Could not set up the audio/video connection (a firewall may be blocking it) — retrying…',
    'q.good': 'Connection: good', 'q.fair': 'Connection: fair', 'q.poor': 'Connection: poor', 'q.none': 'Connection: —',
    qTip: 'Round-trip time: {rtt} · Inbound packet loss: {loss}%', qNoRtt: 'not measured yet',
    'mic.mute': 'Mute mic', 'mic.unmute': 'Unmute mic', 'mic.moderated': 'Mic muted by chair', 'mic.none': 'No microphone', 'mic.blocked': 'Mic blocked',
    'cam.mute': 'Stop camera', 'cam.unmute': 'Start camera', 'cam.moderated': 'Camera off by chair', 'cam.none': 'No camera', 'cam.blocked': 'Camera blocked',
    'screen.start': 'Share screen', 'screen.stop': 'Stop sharing', leave: 'Leave', end: 'End meeting', 'lock.on': 'Lock room', 'lock.off': 'Unlock room',
    sharingNote: 'You are sharing your screen', screenUnsupported: 'This browser cannot share the screen.',
    screenCancelled: 'Screen not shared (cancelled or blocked).', screenFailed: 'Could not share the screen: {m}',
    screenTaken: '{name} started presenting — your screen share was stopped.',
    'mod.you.mute_audio': 'The chair muted your microphone', 'mod.you.unmute_audio': 'The chair unmuted your microphone',
    'mod.you.mute_video': 'The chair turned off your camera', 'mod.you.unmute_video': 'The chair turned your camera back on',
    'tile.host': 'Host site', 'tile.speaker': 'Speaking', 'tile.screen': 'Presenting: {name}',
    'tile.screenAnon': 'Presentation', waitingHost: 'Waiting for the host site to connect…', offline: 'Not connected',
    camOff: 'Camera is off', gridEmpty: 'No site has connected yet', speaking: 'Speaking',
    micOffTip: 'Microphone off', camOffTip: 'Camera off', pinnedTip: 'Pinned', sharingTip: 'Presenting',
    modTip: '(by the chair)', unknownSite: 'Site',
    modTitle: 'Meeting control', modCount: '{c}/{n} sites connected',
    'mod.mute_audio': 'Mute mic', 'mod.unmute_audio': 'Unmute mic', 'mod.mute_video': 'Stop video',
    'mod.unmute_video': 'Allow video', 'mod.pin': 'Pin on every site\'s screen', 'mod.unpin': 'Unpin',
    'mod.remove': 'Remove from the meeting',
    'done.mute_audio': '{name}: microphone muted', 'done.unmute_audio': '{name}: microphone unmuted',
    'done.mute_video': '{name}: video stopped', 'done.unmute_video': '{name}: video allowed',
    'done.pin': '{name} is pinned on every site\'s screen', 'done.unpin': 'Unpinned — sites follow the active speaker',
    'done.remove': '{name} was removed from the meeting', 'done.end': 'The meeting has ended',
    pinFollow: 'Sites\' screens: follow the active speaker', pinOn: 'Pinned: {name}', unpin: 'Unpin',
    confirmRemove: 'Remove site “{name}” from the meeting?', confirmEnd: 'End the meeting for every site?',
    'conn.connected': 'Connected', 'conn.connecting': 'Connecting', 'conn.new': 'Connecting', 'conn.failed': 'Connection failed',
    'conn.disconnected': 'Connection lost', 'conn.closed': 'Disconnected', 'conn.offline': 'Not connected',
    apiFailed: 'Failed: {m}', apiForbidden: 'Only the host site may control the meeting.',
    apiNotConnected: 'That site is no longer in the meeting.', apiNotRunning: 'The meeting is no longer running.',
    apiHostRemove: 'The host site cannot be removed; end the meeting instead.', apiExpired: 'The join link has expired — cannot moderate.',
    network: 'Cannot reach the server. Check the network and try again.',
    'media.denied': 'The browser blocked the camera/microphone. Click the padlock (or camera) icon left of the address bar, choose “Allow” for Camera and Microphone, then reload the page. You are still in the meeting to watch and listen.',
    'media.notfound': 'No camera or microphone was found on this computer. Plug one in and reload the page. You are still in the meeting to watch and listen.',
    'media.busy': 'The camera or microphone is in use by another application (Zoom, Teams…). Close it and reload the page. You are still in the meeting to watch and listen.',
    'media.insecure': 'Browsers allow the camera/microphone only over a secure (https) connection. Open the https link sent by the district office. You are still in the meeting to watch and listen.',
    'media.noCam': 'Could not open the camera — sending audio only.',
    'media.noMic': 'Could not open the microphone — sending video only.',
    'media.other': 'Could not open the camera/microphone ({m}). You are still in the meeting to watch and listen.',
    codecWarn: 'This browser does not support the {codec} codec the room uses — video may not show. Use a recent Google Chrome or Microsoft Edge.',
    audioUnlock: 'Click here to turn on the meeting sound', dismiss: 'Close', retry: 'Try again',
    rejoin: 'Join again', useHere: 'Use this window', reload: 'Reload page',
    'bye.replaced': 'This session was opened in another window.', 'bye.removed': 'The chair removed your site from the meeting.',
    'bye.ended': 'The meeting has ended. Thank you for attending.', 'bye.left': 'You left the meeting.',
    'err.no_token': 'The link has no join token. Open the exact link sent to your site (…/join#token=…).',
    'err.invalid_token': 'The join link is not valid. Open the exact link sent to your site.',
    'err.token_expired': 'The join link has expired — ask the district People\'s Committee office for a new one.',
    'err.token_revoked': 'The join link was revoked — ask the district People\'s Committee office for a new one.',
    'err.not_a_join_token': 'This is not a site join link — ask the district office for one.',
    'err.room_locked': 'The meeting room is locked — new sites cannot join. Contact the chair.',
    'err.room_full': 'The meeting room already has the maximum number of sites. Contact the district office.',
    'err.wrong_room': 'This link is for another meeting room.',
    'err.not_a_member': 'Your site is not a member of this meeting room. Contact the district office.',
    'err.unknown_room': 'The meeting room does not exist or is no longer active.',
    'err.too_many_joins': 'Many sites are joining at once — retrying automatically…',
    'err.meeting_ended': 'The meeting has ended.',
    'err.bad_sdp': 'The browser and the server could not agree on media parameters — reconnecting.',
    'err.unknown_type': 'The server did not understand a message from this page (software bug). The meeting continues.',
    'err.bad_message': 'The server rejected a message from this page (software bug). The meeting continues.',
    'err.unsupported_version': 'This page is older than the server — reload it (Ctrl+F5).',
    'err.join_timeout': 'The server waited too long — retrying…', 'err.bad_join': 'The join request was refused — retrying…',
    'err.generic': 'Error: {m}', errDetail: 'Error code: {code}',
  },
};

// Error codes after which the page stops and waits for the user (anything else is retried).
const FATAL = new Set(['no_token', 'invalid_token', 'token_expired', 'token_revoked', 'not_a_join_token', 'room_locked',
  'room_full', 'wrong_room', 'not_a_member', 'unknown_room', 'meeting_ended', 'unsupported_version']);
// Errors reported during a running session that leave it usable.
const SOFT = new Set(['unknown_type', 'bad_message']);
const FINAL_BYE = new Set(['replaced', 'removed', 'ended']);
const PROTOCOL_VERSION = 1;
const LANG_KEY = 'join.lang';
const ICE_WAIT_MS = 2000;
const STATS_MS = 2000;
const PING_MS = 15000;
const SILENCE_MS = 45000;          // no message at all for this long: the socket is dead
const MEDIA_CONNECT_MS = 20000;    // ICE must connect within this after the answer
const MEDIA_GRACE_MS = 8000;       // 'disconnected' for this long: rebuild
const CAMERA_MAX_BPS = 900000;
const SCREEN_MAX_BPS = 1500000;

const S = {
  lang: localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'vi',
  token: null, claims: {}, room: null, site: null,
  ws: null, pc: null, gen: 0, phase: 'connecting', statusKey: 'st.connecting',
  welcome: null, everWelcomed: false, isHost: null, hostSite: null,
  publish: {}, slotsByMid: {}, midByName: {}, assign: {},
  roster: [], rosterMap: {}, speaker: null, pinned: null, screenSite: null, locked: false,
  mediaReady: null, mediaSettled: false, local: null, mic: null, cam: null, mediaProblem: null,
  userMuted: { audio: false, video: false }, moderated: { audio: false, video: false },
  screenTrack: null, shareAcked: false,
  final: null, attempt: 0, fastRetry: false, reconnectTimer: null, countdownTimer: null, byeReason: null,
  pingTimer: null, lastMsgAt: 0, mediaTimer: null, graceTimer: null,
  quality: { prev: null, level: 'none', rtt: null, loss: 0 },
  errorTimer: null, errorCode: null, errorMessage: '',
  tiles: new Map(), audios: new Map(), siteRows: new Map(), needAudioUnlock: false,
};

const $ = (sel) => document.querySelector(sel);

function t(key, vars) {
  let s = I18N[S.lang][key] ?? I18N.vi[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

const ICONS = {
  mic: '<path d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z"/>',
  micOff: '<path d="M19 11h-2c0 .8-.2 1.6-.5 2.3l1.5 1.5A7 7 0 0 0 19 11zM15 11.2V5a3 3 0 0 0-5.9-.8zM4.3 3 3 4.3l6 6V11a3 3 0 0 0 4.5 2.6l1.6 1.6A5 5 0 0 1 7 11H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 3.5-1.4l3.2 3.2 1.3-1.3z"/>',
  cam: '<path d="M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11z"/>',
  camOff: '<path d="M21 6.5l-4 4V7a1 1 0 0 0-1-1H9.8L21 17.2zM3.3 2 2 3.3 4.7 6H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12c.2 0 .4-.1.5-.2l3.2 3.2 1.3-1.3z"/>',
  screen: '<path d="M20 4H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h6v2H8v2h8v-2h-2v-2h6a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 12H4V6h16zM12 7l-4 4h3v3h2v-3h3z"/>',
  leave: '<path d="M12 9c-1.6 0-3.1.3-4.6.7v3.1c0 .4-.2.7-.6.9-1 .5-1.8 1.1-2.6 1.8a1 1 0 0 1-1.4 0L.3 13a1 1 0 0 1 0-1.4A16.9 16.9 0 0 1 12 7c4.6 0 8.7 1.8 11.7 4.6a1 1 0 0 1 0 1.4l-2.5 2.5a1 1 0 0 1-1.4 0c-.8-.7-1.6-1.3-2.6-1.8a1 1 0 0 1-.6-.9V9.7C15.1 9.3 13.6 9 12 9z"/>',
  end: '<path d="M6 6h12v12H6z"/>',
  pin: '<path d="M16 3l5 5-3 1-4 4 1 5-2 2-4-4-5 5-1-1 5-5-4-4 2-2 5 1 4-4z"/>',
  remove: '<path d="M14 17l1.4-1.4-2.6-2.6H22v-2h-9.2l2.6-2.6L14 7l-5 5zM4 5h7V3H4a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h7v-2H4z"/>',
  lock: '<path d="M18 8h-1V6a5 5 0 0 0-10 0v2H6a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V10a2 2 0 0 0-2-2zm-6 9a2 2 0 1 1 2-2 2 2 0 0 1-2 2zm3.1-9H8.9V6a3.1 3.1 0 0 1 6.2 0z"/>',
};
const icon = (name) => `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">${ICONS[name]}</svg>`;

// ------------------------------------------------------------------------------------------ language

function applyLang() {
  document.documentElement.lang = S.lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('#lang-toggle [data-lang]')) {
    el.classList.toggle('active', el.dataset.lang === S.lang);
  }
  $('#grid').setAttribute('aria-label', S.lang === 'vi' ? 'Điểm cầu' : 'Sites');
  renderAll();
}

function renderAll() {
  renderHeader();
  renderStatus();
  renderControls();
  renderTiles();
  renderPanel();
  renderQuality();
  renderError();
  renderEnded();
  renderBanner();
  renderMediaWarning();
}

// ------------------------------------------------------------------------------------------ token

function parseToken() {
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, '')).get('token');
  const token = fromHash || new URLSearchParams(location.search).get('token');
  if (!token) return null;
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = part + '='.repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    if (!claims || typeof claims.room !== 'string' || !claims.room) return { token, claims: null };
    return { token, claims };
  } catch (_) {
    return { token, claims: null };
  }
}

// ------------------------------------------------------------------------------------------ state + status

function setPhase(phase, statusKey) {
  S.phase = phase;
  document.body.dataset.state = phase;
  if (statusKey) S.statusKey = statusKey;
  renderStatus();
  renderBanner();
}

function renderStatus() {
  const el = $('#status');
  let text = t(S.statusKey);
  if (S.phase === 'connected' && S.welcome) text = `${t('st.connected')}`;
  el.textContent = text;
  el.dataset.phase = S.phase;
}

function renderHeader() {
  const w = S.welcome;
  document.title = w ? `${w.room_name} — ${t('title')}` : t('title');
  $('#room-name').textContent = w ? w.room_name : t('title');
  $('#site-name').textContent = w ? t('youAre', { name: w.site_name }) : '';
  $('#host-badge').hidden = !(w && w.host);
  $('#host-badge').textContent = t('hostBadge');
  const lock = $('#lock-badge');
  lock.hidden = !S.locked;
  lock.innerHTML = `${icon('lock')}<span>${escapeHtml(t('locked'))}</span>`;
  $('#self-box .name').textContent = w ? t('youNamed', { name: w.site_name }) : t('you');
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

let bannerKey = null;
let bannerVars = null;
function setBanner(key, vars) {
  bannerKey = key;
  bannerVars = vars || null;
  renderBanner();
}
function renderBanner() {
  const el = $('#banner');
  el.hidden = !bannerKey;
  el.textContent = bannerKey ? t(bannerKey, bannerVars) : '';
}

function toast(text, kind) {
  const box = $('#toasts');
  const el = document.createElement('div');
  el.className = `toast ${kind || ''}`;
  el.textContent = text;
  box.appendChild(el);
  setTimeout(() => el.classList.add('gone'), 5000);
  setTimeout(() => el.remove(), 5600);
  while (box.children.length > 4) box.firstChild.remove();
}

// Shows an error in #error (data-code = the code). Fatal errors make it a centred panel (body[data-state=error]).
function showError(code, message, opts) {
  S.errorCode = code;
  S.errorMessage = message || '';
  clearTimeout(S.errorTimer);
  if (opts && opts.autoHideMs) S.errorTimer = setTimeout(hideError, opts.autoHideMs);
  renderError();
}
function hideError() {
  clearTimeout(S.errorTimer);
  S.errorCode = null;
  S.errorMessage = '';
  renderError();
}
function renderError() {
  const el = $('#error');
  const code = S.errorCode;
  el.hidden = !code;
  el.dataset.code = code || '';
  if (!code) return;
  const key = `err.${code}`;
  const known = key in I18N.vi;
  $('#error-text').textContent = known ? t(key) : t('err.generic', { m: S.errorMessage || code });
  $('#error-detail').textContent = t('errDetail', { code }) + (known && S.errorMessage ? ` — ${S.errorMessage}` : '');
  const retry = $('#btn-retry');
  retry.hidden = !(S.phase === 'error' && code !== 'no_token');
  retry.textContent = t('retry');
}

function renderEnded() {
  const box = $('#ended');
  const show = S.phase === 'ended';
  box.hidden = !show;
  if (!show) return;
  const reason = S.final === 'left' ? 'left' : S.byeReason || 'ended';
  const msg = $('#ended-msg');
  msg.dataset.reason = reason;
  msg.textContent = t(`bye.${reason}`);
  $('#btn-rejoin').textContent = reason === 'replaced' ? t('useHere') : t('rejoin');
}

function renderMediaWarning() {
  const p = S.mediaProblem;
  $('#media-warning').hidden = !p || p.dismissed;
  if (p) $('#media-warning-text').textContent = t(p.key, { m: p.m || '', codec: p.codec || '' });
  $('#media-warning-close').textContent = t('dismiss');
}

// ------------------------------------------------------------------------------------------ local media

async function getLocalMedia() {
  S.mediaSettled = false;
  try {
    await openLocalMedia();
  } finally {
    S.mediaSettled = true;
    renderControls();
    if (S.statusKey === 'st.waitMedia') { S.statusKey = 'st.negotiating'; renderStatus(); }
  }
}

async function openLocalMedia() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    S.mediaProblem = { key: 'media.insecure' };
    renderMediaWarning();
    return;
  }
  const video = { width: 640, height: 360, frameRate: 25 };
  let stream = null;
  let firstErr = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
  } catch (err) {
    firstErr = err;
  }
  if (!stream && firstErr && firstErr.name !== 'NotAllowedError' && firstErr.name !== 'SecurityError') {
    // One of the two devices may be missing or busy: try each alone.
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      S.mediaProblem = { key: 'media.noCam' };
    } catch (_) {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video });
        S.mediaProblem = { key: 'media.noMic' };
      } catch (_e) { /* keep the first error */ }
    }
  }
  if (!stream) {
    const name = firstErr ? firstErr.name : '';
    const key = (name === 'NotAllowedError' || name === 'SecurityError') ? 'media.denied'
      : (name === 'NotFoundError' || name === 'OverconstrainedError') ? 'media.notfound'
        : (name === 'NotReadableError' || name === 'AbortError') ? 'media.busy' : 'media.other';
    S.mediaProblem = { key, m: firstErr ? `${firstErr.name}: ${firstErr.message}` : '' };
    renderMediaWarning();
    renderControls();
    return;
  }
  if (S.final) {  // the page stopped while the browser was asking
    for (const tr of stream.getTracks()) tr.stop();
    return;
  }
  S.local = stream;
  S.mic = stream.getAudioTracks()[0] || null;
  S.cam = stream.getVideoTracks()[0] || null;
  if (S.mic) S.mic.enabled = !S.userMuted.audio;
  if (S.cam) {
    S.cam.enabled = !S.userMuted.video;
    S.cam.contentHint = 'motion';
    $('#self-view').srcObject = new MediaStream([S.cam]);
  }
  for (const tr of stream.getTracks()) {
    tr.addEventListener('ended', () => {
      if (tr === S.mic) S.mic = null;
      if (tr === S.cam) { S.cam = null; $('#self-view').srcObject = null; }
      renderControls();
      sendState();
    });
  }
  renderMediaWarning();
  renderControls();
}

function stopLocalMedia() {
  if (S.local) for (const tr of S.local.getTracks()) tr.stop();
  S.local = null;
  S.mic = null;
  S.cam = null;
  $('#self-view').srcObject = null;
  stopShareTrack();
}

function checkCodec(codec) {
  try {
    if (!codec || !window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
    const want = `video/${codec}`.toLowerCase();
    const recv = RTCRtpReceiver.getCapabilities('video').codecs.some((c) => c.mimeType.toLowerCase() === want);
    const send = !RTCRtpSender.getCapabilities
      || RTCRtpSender.getCapabilities('video').codecs.some((c) => c.mimeType.toLowerCase() === want);
    if ((!recv || !send) && !S.mediaProblem) {
      S.mediaProblem = { key: 'codecWarn', codec: codec.toUpperCase() };
      renderMediaWarning();
    }
  } catch (_) { /* capabilities unavailable: say nothing */ }
}

// ------------------------------------------------------------------------------------------ signalling

function wsUrl() {
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${proto}://${location.host}/api/v1/rooms/${encodeURIComponent(S.room)}/signal`;
}

function send(msg) {
  const ws = S.ws;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function connect() {
  clearTimeout(S.reconnectTimer);
  clearInterval(S.countdownTimer);
  S.reconnectTimer = null;
  if (S.final) return;
  const gen = ++S.gen;
  S.assign = {};
  S.byeReason = null;
  if (S.phase !== 'reconnecting') setPhase('connecting', 'st.connecting');
  else { S.statusKey = 'st.reconnecting'; setBanner('reconnectNow'); renderStatus(); }
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch (err) {
    scheduleReconnect();
    return;
  }
  S.ws = ws;
  ws.onopen = () => {
    if (ws !== S.ws) return;
    S.lastMsgAt = Date.now();
    ws.send(JSON.stringify({ type: 'join', v: PROTOCOL_VERSION, token: S.token }));
    if (S.phase === 'connecting') { S.statusKey = 'st.joining'; renderStatus(); }
    clearInterval(S.pingTimer);
    S.pingTimer = setInterval(() => {
      if (ws !== S.ws) return;
      if (Date.now() - S.lastMsgAt > SILENCE_MS) { reconnectNow(); return; }
      send({ type: 'ping' });
    }, PING_MS);
  };
  ws.onmessage = (ev) => {
    if (ws !== S.ws) return;
    S.lastMsgAt = Date.now();
    let msg;
    try { msg = JSON.parse(ev.data); } catch (_) { return; }
    if (!msg || typeof msg.type !== 'string') return;
    handleMessage(msg, gen).catch((err) => console.error('join: handling', msg.type, err));
  };
  ws.onclose = () => {
    if (ws !== S.ws) return;
    S.ws = null;
    clearInterval(S.pingTimer);
    if (S.final) return;
    teardownPc();
    scheduleReconnect();
  };
  ws.onerror = () => { /* onclose follows */ };
}

function scheduleReconnect() {
  if (S.final) return;
  clearTimeout(S.reconnectTimer);
  clearInterval(S.countdownTimer);
  let delay;
  const fast = S.fastRetry;
  if (S.fastRetry) {
    S.fastRetry = false;
    delay = 1000 + Math.random() * 1000;
  } else {
    delay = Math.min(10000, 1000 * 2 ** S.attempt);
    S.attempt += 1;
  }
  const bannerFor = S.byeReason === 'server shutting down' ? 'serverRestart'
    : S.everWelcomed ? 'reconnectIn' : 'firstConnectIn';
  setPhase(S.everWelcomed ? 'reconnecting' : 'connecting', S.everWelcomed ? 'st.reconnecting' : 'st.connecting');
  const due = Date.now() + delay;
  const tick = () => setBanner(bannerFor, { n: Math.max(1, Math.ceil((due - Date.now()) / 1000)) });
  if (fast) {
    setBanner(null);  // #error already says that the page retries by itself
  } else {
    tick();
    S.countdownTimer = setInterval(tick, 500);
  }
  S.reconnectTimer = setTimeout(() => {
    clearInterval(S.countdownTimer);
    connect();
  }, delay);
}

// Drop the current socket and peer connection and start again (the server replaces our session).
function reconnectNow(bannerKeyOverride) {
  const ws = S.ws;
  S.ws = null;
  clearInterval(S.pingTimer);
  if (ws) try { ws.close(1000, 'reconnect'); } catch (_) { /* closed already */ }
  teardownPc();
  scheduleReconnect();
  if (bannerKeyOverride) setBanner(bannerKeyOverride);
}

function finish(kind, reason) {
  // kind: 'bye' (replaced/removed/ended), 'left' (the user), 'error' (fatal code)
  S.final = kind;
  if (kind === 'bye') S.byeReason = reason;
  clearTimeout(S.reconnectTimer);
  clearInterval(S.countdownTimer);
  clearInterval(S.pingTimer);
  const ws = S.ws;
  S.ws = null;
  if (ws) try { ws.close(1000, kind); } catch (_) { /* closed already */ }
  teardownPc();
  setBanner(null);
  stopLocalMedia();  // release the camera light; restart() opens the devices again
  if (kind === 'error') {
    setPhase('error', 'st.error');
  } else {
    hideError();
    setPhase('ended', 'st.ended');
  }
  renderAll();
}

function restart() {
  S.final = null;
  S.attempt = 0;
  S.fastRetry = false;
  S.byeReason = null;
  S.everWelcomed = false;
  hideError();
  setPhase('connecting', 'st.connecting');
  renderAll();
  if (!S.local) S.mediaReady = getLocalMedia();
  connect();
}

async function handleMessage(msg, gen) {
  switch (msg.type) {
    case 'welcome': return onWelcome(msg);
    case 'offer': return onOffer(msg, gen);
    case 'slots':
      Object.assign(S.assign, msg.assign || {});
      renderTiles();
      return undefined;
    case 'speaker':
      S.speaker = msg.site ?? null;
      renderTiles();
      renderPanel();
      return undefined;
    case 'roster': return onRoster(msg);
    case 'screen': return onScreen(msg);
    case 'pinned':
      S.pinned = msg.site ?? null;
      renderTiles();
      renderPanel();
      return undefined;
    case 'moderation': return onModeration(msg);
    case 'error': return onError(msg);
    case 'bye': return onBye(msg);
    case 'pong': return undefined;
    default: return undefined;
  }
}

function onWelcome(msg) {
  S.welcome = msg;
  S.everWelcomed = true;
  S.attempt = 0;
  S.site = msg.site;
  S.hostSite = msg.host_site;
  if (S.errorCode && !SOFT.has(S.errorCode)) hideError();
  setupLayout(Boolean(msg.host));
  checkCodec(msg.codec);
  if (S.phase !== 'connected') { S.statusKey = 'st.negotiating'; renderStatus(); }
  renderAll();
}

function onError(msg) {
  const code = String(msg.code || 'error');
  const message = String(msg.message || '');
  if (FATAL.has(code)) {
    showError(code, message);
    finish('error', code);
    return;
  }
  if (code === 'too_many_joins' || code === 'join_timeout' || code === 'bad_join') {
    S.fastRetry = true;  // the server closes the socket next; onclose retries in 1–2 s
    showError(code, message);
    return;
  }
  if (code === 'bad_sdp') {
    showError(code, message);
    reconnectNow();
    return;
  }
  showError(code, message, { autoHideMs: 10000 });
}

function onBye(msg) {
  const reason = String(msg.reason || 'disconnected');
  if (FINAL_BYE.has(reason)) {
    finish('bye', reason);
    return;
  }
  // disconnected, connection failed, server shutting down, …: come back by ourselves.
  S.byeReason = reason;
  reconnectNow();
}

function onRoster(msg) {
  S.roster = Array.isArray(msg.sites) ? msg.sites : [];
  S.rosterMap = Object.fromEntries(S.roster.map((s) => [s.site, s]));
  if ('speaker' in msg) S.speaker = msg.speaker ?? null;
  if ('pinned' in msg) S.pinned = msg.pinned ?? null;
  S.locked = Boolean(msg.locked);
  const sharer = S.roster.find((s) => s.sharing);
  S.screenSite = sharer ? sharer.site : null;
  const me = S.rosterMap[S.site];
  if (me && me.connected && me.moderated) {
    S.moderated = { audio: Boolean(me.moderated.audio), video: Boolean(me.moderated.video) };
  }
  renderHeader();
  renderControls();
  renderTiles();
  renderPanel();
}

function onScreen(msg) {
  const site = msg.site ?? null;
  S.screenSite = site;
  if (S.screenTrack) {
    if (site === S.site) {
      S.shareAcked = true;
    } else if (S.shareAcked) {
      // Someone else started presenting (the latest sharer wins): stop sending ours.
      const name = siteName(site) || t('unknownSite');
      stopShare(false);
      if (site) toast(t('screenTaken', { name }), 'info');
    }
  }
  renderTiles();
  renderPanel();
}

function onModeration(msg) {
  const action = String(msg.action || '');
  const m = /^(mute|unmute)_(audio|video)$/.exec(action);
  if (!m) return;
  S.moderated[m[2]] = m[1] === 'mute';
  toast(t(`mod.you.${action}`), m[1] === 'mute' ? 'warn' : 'info');
  renderControls();
}

function sendState() {
  send({
    type: 'state',
    audio_muted: S.userMuted.audio || !S.mic,
    video_muted: S.userMuted.video || !S.cam,
  });
}

// ------------------------------------------------------------------------------------------ peer connection

function teardownPc() {
  clearTimeout(S.mediaTimer);
  clearTimeout(S.graceTimer);
  const pc = S.pc;
  S.pc = null;
  if (pc) {
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
    try { pc.close(); } catch (_) { /* closed already */ }
  }
  for (const tile of S.tiles.values()) {
    const v = tile.querySelector('video');
    if (v) v.srcObject = null;
    tile.dataset.live = 'false';
  }
  for (const a of S.audios.values()) a.srcObject = null;
  S.quality.prev = null;
  S.quality.level = S.final ? 'none' : 'poor';
  renderQuality();
}

function waitIceGathering(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

async function onOffer(msg, gen) {
  teardownPc();
  S.publish = msg.publish || {};
  S.slotsByMid = msg.slots || {};
  S.midByName = {};
  for (const [mid, slot] of Object.entries(S.slotsByMid)) S.midByName[slot.name] = mid;
  setupLayout(S.welcome ? Boolean(S.welcome.host) : S.isHost === true);
  ensureSlotElements();
  renderTiles();

  const pc = new RTCPeerConnection({ iceServers: [] });
  S.pc = pc;
  pc.ontrack = (ev) => onTrack(ev);
  pc.onconnectionstatechange = () => onPcState(pc);
  await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
  if (!S.mediaSettled) { S.statusKey = 'st.waitMedia'; renderStatus(); }
  await S.mediaReady;
  if (gen !== S.gen || pc !== S.pc) return;

  const pubByMid = {};
  for (const [name, mid] of Object.entries(S.publish)) if (mid != null) pubByMid[mid] = name;
  for (const tr of pc.getTransceivers()) {
    const mid = tr.mid;
    if (mid != null && mid in pubByMid) {
      tr.direction = 'sendonly';
      const name = pubByMid[mid];
      const track = name === 'audio' ? S.mic : name === 'video' ? S.cam : S.screenTrack;
      await tr.sender.replaceTrack(track || null);
    } else if (mid != null && mid in S.slotsByMid) {
      tr.direction = 'recvonly';
    } else {
      tr.direction = 'inactive';
    }
  }
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  await waitIceGathering(pc, ICE_WAIT_MS);
  if (gen !== S.gen || pc !== S.pc) return;
  send({ type: 'answer', sdp: pc.localDescription.sdp });
  sendState();
  if (S.screenTrack) {
    S.shareAcked = false;
    send({ type: 'screen', on: true });
  }
  limitBitrate('video', CAMERA_MAX_BPS);
  limitBitrate('screen', SCREEN_MAX_BPS, 15);
  renderControls();
  clearTimeout(S.mediaTimer);
  S.mediaTimer = setTimeout(() => {
    if (pc === S.pc && pc.connectionState !== 'connected') reconnectNow('mediaTimeout');
  }, MEDIA_CONNECT_MS);
}

function publishTransceiver(name) {
  const mid = S.publish[name];
  if (!S.pc || mid == null) return null;
  return S.pc.getTransceivers().find((tr) => tr.mid === mid) || null;
}

async function limitBitrate(name, maxBitrate, maxFramerate) {
  const tr = publishTransceiver(name);
  if (!tr) return;
  try {
    const params = tr.sender.getParameters();
    if (!params.encodings || !params.encodings.length) return;
    params.encodings[0].maxBitrate = maxBitrate;
    if (maxFramerate) params.encodings[0].maxFramerate = maxFramerate;
    await tr.sender.setParameters(params);
  } catch (_) { /* not supported here: the browser's own rate control applies */ }
}

function onPcState(pc) {
  if (pc !== S.pc) return;
  const st = pc.connectionState;
  if (st === 'connected') {
    clearTimeout(S.mediaTimer);
    clearTimeout(S.graceTimer);
    S.attempt = 0;
    setBanner(null);
    if (S.errorCode === 'bad_sdp' || S.errorCode === 'too_many_joins') hideError();
    setPhase('connected', 'st.connected');
    renderControls();
    sampleQuality();
  } else if (st === 'failed') {
    reconnectNow('mediaLost');
  } else if (st === 'disconnected') {
    clearTimeout(S.graceTimer);
    S.graceTimer = setTimeout(() => {
      if (pc === S.pc && pc.connectionState !== 'connected') reconnectNow('mediaLost');
    }, MEDIA_GRACE_MS);
  }
}

function onTrack(ev) {
  const mid = ev.transceiver && ev.transceiver.mid;
  const slot = mid != null ? S.slotsByMid[mid] : null;
  if (!slot) return;
  const track = ev.track;
  const stream = new MediaStream([track]);
  if (slot.kind === 'audio') {
    const el = S.audios.get(slot.name);
    if (!el) return;
    el.srcObject = stream;
    playAudio(el);
    return;
  }
  const tile = S.tiles.get(slot.name);
  if (!tile) return;
  const video = tile.querySelector('video');
  video.srcObject = stream;
  const live = () => { tile.dataset.live = String(!track.muted && track.readyState === 'live'); renderTiles(); };
  track.addEventListener('mute', live);
  track.addEventListener('unmute', live);
  track.addEventListener('ended', live);
  live();
  video.play().catch(() => { /* muted video autoplays; nothing to do */ });
}

function playAudio(el) {
  const p = el.play();
  if (p && p.catch) {
    p.catch((err) => {
      if (err && err.name === 'NotAllowedError') {
        S.needAudioUnlock = true;
        $('#btn-audio-unlock').hidden = false;
      }
    });
  }
}

// ------------------------------------------------------------------------------------------ layout

function setupLayout(isHost) {
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

function makeTile(name) {
  const tile = document.createElement('div');
  tile.className = 'tile';
  tile.dataset.slot = name;
  tile.dataset.site = '';
  tile.dataset.live = 'false';
  tile.innerHTML = '<video autoplay playsinline muted></video>'
    + '<div class="placeholder"><span class="ph-text"></span></div>'
    + '<div class="label"><span class="icons"></span><span class="name"></span></div>'
    + '<div class="tag"></div>';
  return tile;
}

function ensureSlotElements() {
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

function siteName(id) {
  if (!id) return '';
  const r = S.rosterMap[id];
  if (r && r.name) return r.name;
  if (S.welcome && id === S.welcome.site) return S.welcome.site_name;
  return id;
}

const connected = (id) => Boolean(id && id !== S.site && S.rosterMap[id] && S.rosterMap[id].connected);

// The site filling a slot: what the server said in 'slots', else inferred from the room state. (The server
// only sends changes; assignments it made before the offer had m-line ids are never sent — see the report.)
function slotSite(name) {
  const mid = S.midByName[name];
  if (mid != null && Object.prototype.hasOwnProperty.call(S.assign, mid)) return S.assign[mid] ?? null;
  if (name.startsWith('site:')) { const id = name.slice(5); return connected(id) ? id : null; }
  if (name === 'host') return connected(S.hostSite) ? S.hostSite : null;
  if (name === 'screen') return S.screenSite && S.screenSite !== S.site ? S.screenSite : null;
  if (name === 'speaker') {
    for (const c of [S.pinned, S.speaker]) if (c && c !== S.hostSite && connected(c)) return c;
    return null;
  }
  return null;
}

function siteFlags(id) {
  const r = id ? S.rosterMap[id] : null;
  const muted = (r && r.muted) || {};
  const mod = (r && r.moderated) || {};
  return {
    micOff: Boolean(muted.audio || mod.audio), camOff: Boolean(muted.video || mod.video),
    modAudio: Boolean(mod.audio), modVideo: Boolean(mod.video), sharing: Boolean(r && r.sharing),
  };
}

function iconsHtml(id, withPin) {
  const f = siteFlags(id);
  let html = '';
  if (f.micOff) html += `<span class="st st-mic${f.modAudio ? ' mod' : ''}" title="${escapeHtml(t('micOffTip') + (f.modAudio ? ` ${t('modTip')}` : ''))}">${icon('micOff')}</span>`;
  if (f.camOff) html += `<span class="st st-cam${f.modVideo ? ' mod' : ''}" title="${escapeHtml(t('camOffTip') + (f.modVideo ? ` ${t('modTip')}` : ''))}">${icon('camOff')}</span>`;
  if (withPin && id && S.pinned === id) html += `<span class="st st-pin" title="${escapeHtml(t('pinnedTip'))}">${icon('pin')}</span>`;
  if (f.sharing) html += `<span class="st st-share" title="${escapeHtml(t('sharingTip'))}">${icon('screen')}</span>`;
  return html;
}

function setHtml(el, html) {
  if (el.innerHTML !== html) el.innerHTML = html;
}
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function renderTiles() {
  if (S.isHost === null) return;
  let visibleGrid = 0;
  for (const [name, tile] of S.tiles) {
    const site = slotSite(name);
    tile.dataset.site = site || '';
    const live = tile.dataset.live === 'true';
    const label = tile.querySelector('.label .name');
    const icons = tile.querySelector('.label .icons');
    const ph = tile.querySelector('.ph-text');
    const tag = tile.querySelector('.tag');
    const flags = siteFlags(site);
    let empty = !site;
    let phText = '';
    let tagText = '';
    if (name.startsWith('site:')) {
      const id = name.slice(5);
      setText(label, siteName(id));
      phText = site ? (flags.camOff ? t('camOff') : '') : t('offline');
      if (site && S.speaker === site) tagText = t('speaking');
      tile.classList.toggle('speaking', Boolean(site && S.speaker === site));
      tile.classList.toggle('pinned', Boolean(site && S.pinned === site));
      tile.style.order = site ? '0' : '1';
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
      tagText = site ? (S.pinned === site ? t('pinnedTip') : t('tile.speaker')) : '';
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
  }
  if (S.isHost) {
    const n = visibleGrid;
    const cols = n <= 1 ? 1 : n <= 4 ? 2 : n <= 9 ? 3 : n <= 16 ? 4 : 5;
    const grid = $('#grid');
    grid.style.setProperty('--cols', String(cols));
    grid.style.setProperty('--rows', String(Math.max(1, Math.ceil(n / cols))));
    grid.dataset.count = String(n);
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

// The host's grid: the column count and tile size that give the largest 16:9 tiles for the sites shown.
function fitGrid() {
  const grid = $('#grid');
  const n = Number(grid.dataset.count || 0);
  const clear = () => { grid.style.gridTemplateColumns = ''; grid.style.gridTemplateRows = ''; };
  if (!S.isHost || !n || $('#stage').dataset.layout !== 'host-grid') { clear(); return; }
  const gap = 8;
  const W = $('#stage').clientWidth;
  const H = $('#stage').clientHeight;
  let best = { cols: 1, rows: n, w: 0 };
  for (let cols = 1; cols <= n; cols += 1) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows) * 16 / 9);
    if (w > best.w) best = { cols, rows, w };
  }
  const w = Math.max(80, Math.floor(best.w));
  grid.style.gridTemplateColumns = `repeat(${best.cols}, ${w}px)`;
  grid.style.gridTemplateRows = `repeat(${best.rows}, ${Math.floor((w * 9) / 16)}px)`;
}

// A site's page: the largest area goes to the screen share, else the speaker, else the host.
function layoutSiteStage() {
  const stage = $('#stage');
  const screen = S.tiles.get('screen');
  const speaker = S.tiles.get('speaker');
  const host = S.tiles.get('host');
  const shown = (tile) => tile && !tile.classList.contains('empty');
  const main = [screen, speaker, host].find(shown) || host;
  const sides = [host, speaker].filter((tile) => tile && tile !== main && shown(tile));
  const areas = [];
  const rows = [];
  sides.forEach((tile, i) => { areas.push(`"main side${i}"`); rows.push('auto'); tile.style.gridArea = `side${i}`; });
  areas.push('"main self"', '"main ."');
  rows.push('auto', 'minmax(0, 1fr)');
  for (const tile of [screen, speaker, host]) if (tile) tile.classList.toggle('main', tile === main);
  if (main) main.style.gridArea = 'main';
  for (const tile of [screen, speaker]) if (tile && !shown(tile)) tile.style.gridArea = 'auto';
  $('#self-box').style.gridArea = 'self';
  stage.style.gridTemplateAreas = areas.join(' ');
  stage.style.gridTemplateRows = rows.join(' ');
  stage.dataset.layout = main === screen ? 'site-screen' : main === speaker ? 'site-speaker' : 'site-host';
}

// ------------------------------------------------------------------------------------------ moderation panel

function renderPanel() {
  if (!S.isHost) return;
  const list = $('#site-list');
  const others = S.roster.filter((r) => r.site !== S.site);
  const seen = new Set();
  for (const r of others) {
    seen.add(r.site);
    let row = S.siteRows.get(r.site);
    if (!row) {
      row = document.createElement('li');
      row.className = 'site-row';
      row.dataset.site = r.site;
      row.innerHTML = '<span class="dot"></span><span class="site-name"></span><span class="icons"></span>'
        + '<span class="mod-actions">'
        + `<button type="button" class="mod-btn" data-kind="audio" data-site="${escapeHtml(r.site)}"></button>`
        + `<button type="button" class="mod-btn" data-kind="video" data-site="${escapeHtml(r.site)}"></button>`
        + `<button type="button" class="mod-btn" data-action="pin" data-site="${escapeHtml(r.site)}">${icon('pin')}</button>`
        + `<button type="button" class="mod-btn danger" data-action="remove" data-site="${escapeHtml(r.site)}">${icon('remove')}</button>`
        + '</span>';
      S.siteRows.set(r.site, row);
    }
    list.appendChild(row);  // keeps roster order; moving a row without media is harmless
    const conn = r.connected ? (r.connection || 'connecting') : 'offline';
    row.dataset.connected = String(Boolean(r.connected));
    row.dataset.connection = conn;
    row.classList.toggle('speaking', Boolean(r.connected && S.speaker === r.site));
    const dot = row.querySelector('.dot');
    dot.dataset.conn = conn;
    dot.title = t(`conn.${conn}`) || conn;
    const nm = row.querySelector('.site-name');
    setText(nm, r.name || r.site);
    nm.title = `${r.name || r.site} — ${t(`conn.${conn}`)}`;
    setHtml(row.querySelector('.icons'), r.connected ? iconsHtml(r.site, true) : '');
    const mod = r.moderated || {};
    for (const kind of ['audio', 'video']) {
      const btn = row.querySelector(`.mod-btn[data-kind="${kind}"]`);
      const muted = Boolean(mod[kind]);
      const action = `${muted ? 'unmute' : 'mute'}_${kind}`;
      btn.dataset.action = action;
      btn.classList.toggle('on', muted);
      btn.setAttribute('aria-pressed', String(muted));
      btn.title = t(`mod.${action}`);
      btn.setAttribute('aria-label', `${t(`mod.${action}`)}: ${r.name}`);
      setHtml(btn, icon(kind === 'audio' ? (muted ? 'micOff' : 'mic') : (muted ? 'camOff' : 'cam')));
      btn.disabled = !r.connected;
    }
    const pin = row.querySelector('.mod-btn[data-action="pin"]');
    const pinned = S.pinned === r.site;
    pin.classList.toggle('on', pinned);
    pin.setAttribute('aria-pressed', String(pinned));
    pin.title = t(pinned ? 'mod.unpin' : 'mod.pin');
    pin.setAttribute('aria-label', `${pin.title}: ${r.name}`);
    pin.disabled = !r.connected && !pinned;
    const rm = row.querySelector('.mod-btn[data-action="remove"]');
    rm.title = t('mod.remove');
    rm.setAttribute('aria-label', `${rm.title}: ${r.name}`);
    rm.disabled = !r.connected || r.host;
  }
  for (const [id, row] of S.siteRows) {
    if (!seen.has(id)) { row.remove(); S.siteRows.delete(id); }
  }
  const c = others.filter((r) => r.connected).length;
  setText($('#panel-count'), t('modCount', { c, n: others.length }));
  const ps = $('#pin-state');
  if (S.pinned) {
    ps.innerHTML = `<span>${icon('pin')} ${escapeHtml(t('pinOn', { name: siteName(S.pinned) }))}</span>`
      + `<button type="button" class="small" id="btn-unpin">${escapeHtml(t('unpin'))}</button>`;
  } else {
    ps.textContent = t('pinFollow');
  }
}

async function api(path, body) {
  const opts = { method: 'POST', headers: { Authorization: `Bearer ${S.token}` } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`/api/v1/rooms/${encodeURIComponent(S.room)}${path}`, opts);
  } catch (_) {
    throw new Error(t('network'));
  }
  if (resp.ok) return;
  let code = '';
  let message = `HTTP ${resp.status}`;
  try {
    const data = await resp.json();
    code = (data.error && data.error.code) || '';
    message = (data.error && data.error.message) || message;
  } catch (_) { /* not JSON */ }
  const known = {
    forbidden: 'apiForbidden', not_connected: 'apiNotConnected', not_running: 'apiNotRunning',
    conflict: 'apiHostRemove', token_expired: 'apiExpired',
  }[code];
  throw new Error(known ? t(known) : t('apiFailed', { m: message }));
}

async function moderate(btn) {
  const site = btn.dataset.site;
  const action = btn.dataset.action;
  const name = siteName(site);
  try {
    btn.disabled = true;
    const m = /^(mute|unmute)_(audio|video)$/.exec(action || '');
    if (m) {
      await api(`/sites/${encodeURIComponent(site)}/mute`, { kind: m[2], muted: m[1] === 'mute' });
      toast(t(`done.${action}`, { name }), 'ok');
    } else if (action === 'pin') {
      const unpin = S.pinned === site;
      await api('/pin', { site_id: unpin ? null : site });
      toast(unpin ? t('done.unpin') : t('done.pin', { name }), 'ok');
    } else if (action === 'remove') {
      if (!window.confirm(t('confirmRemove', { name }))) return;
      await api(`/sites/${encodeURIComponent(site)}/remove`);
      toast(t('done.remove', { name }), 'ok');
    }
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    btn.disabled = false;
    renderPanel();
  }
}

async function unpin(btn) {
  btn.disabled = true;
  try {
    await api('/pin', { site_id: null });
    toast(t('done.unpin'), 'ok');
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    btn.disabled = false;
  }
}

async function toggleLock() {
  // The roster that follows carries the new state; the button follows it.
  const btn = $('#btn-lock');
  btn.disabled = true;
  try {
    await api(S.locked ? '/unlock' : '/lock');
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    btn.disabled = false;
  }
}

async function endMeeting() {
  if (!window.confirm(t('confirmEnd'))) return;
  const btn = $('#btn-end');
  btn.disabled = true;
  try {
    await api('/end');
    toast(t('done.end'), 'ok');  // the server's 'bye ended' follows
  } catch (err) {
    toast(err.message, 'error');
  } finally {
    btn.disabled = false;
  }
}

// ------------------------------------------------------------------------------------------ controls

function setCtl(btn, iconName, text, opts) {
  setHtml(btn.querySelector('.ico'), icon(iconName));
  setText(btn.querySelector('.txt'), text);
  btn.title = text;
  btn.disabled = Boolean(opts.disabled);
  btn.classList.toggle('off', Boolean(opts.off));
  btn.classList.toggle('moderated', Boolean(opts.moderated));
  btn.setAttribute('aria-pressed', String(Boolean(opts.pressed)));
}

function renderControls() {
  const inCall = S.phase !== 'ended' && S.phase !== 'error';
  const mic = $('#btn-mic');
  const settled = S.mediaSettled && inCall;  // 'no device' only once the browser has answered
  const blocked = Boolean(S.mediaProblem && (S.mediaProblem.key === 'media.denied' || S.mediaProblem.key === 'media.insecure'));
  if (!S.mic && !settled) setCtl(mic, 'mic', t('mic.mute'), { disabled: true });
  else if (!S.mic) setCtl(mic, 'micOff', t(blocked ? 'mic.blocked' : 'mic.none'), { disabled: true, off: true });
  else if (S.moderated.audio) setCtl(mic, 'micOff', t('mic.moderated'), { disabled: true, off: true, moderated: true, pressed: true });
  else if (S.userMuted.audio) setCtl(mic, 'micOff', t('mic.unmute'), { off: true, pressed: true, disabled: !inCall });
  else setCtl(mic, 'mic', t('mic.mute'), { disabled: !inCall });
  mic.dataset.muted = String(!S.mic || S.userMuted.audio || S.moderated.audio);

  const cam = $('#btn-cam');
  if (!S.cam && !settled) setCtl(cam, 'cam', t('cam.mute'), { disabled: true });
  else if (!S.cam) setCtl(cam, 'camOff', t(blocked ? 'cam.blocked' : 'cam.none'), { disabled: true, off: true });
  else if (S.moderated.video) setCtl(cam, 'camOff', t('cam.moderated'), { disabled: true, off: true, moderated: true, pressed: true });
  else if (S.userMuted.video) setCtl(cam, 'camOff', t('cam.unmute'), { off: true, pressed: true, disabled: !inCall });
  else setCtl(cam, 'cam', t('cam.mute'), { disabled: !inCall });
  cam.dataset.muted = String(!S.cam || S.userMuted.video || S.moderated.video);

  const scr = $('#btn-screen');
  const canShare = Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  if (S.screenTrack) setCtl(scr, 'screen', t('screen.stop'), { pressed: true, disabled: !inCall });
  else setCtl(scr, 'screen', t('screen.start'), { disabled: !inCall || !canShare || !S.pc });
  scr.classList.toggle('active', Boolean(S.screenTrack));
  if (!canShare) scr.title = t('screenUnsupported');

  setCtl($('#btn-leave'), 'leave', t('leave'), { disabled: !inCall });
  setCtl($('#btn-end'), 'end', t('end'), { disabled: !inCall || !S.everWelcomed });
  setCtl($('#btn-lock'), 'lock', t(S.locked ? 'lock.off' : 'lock.on'), { disabled: !inCall || !S.everWelcomed });
  $('#btn-lock').dataset.locked = String(S.locked);

  const selfOff = settled && (!S.cam || S.userMuted.video || S.moderated.video);
  $('#self-box').classList.toggle('cam-off', selfOff);
  $('#self-box .self-off').hidden = !selfOff;
  $('#self-box .self-off').textContent = S.cam ? t('selfNoCam') : t(blocked ? 'cam.blocked' : 'cam.none');
  setHtml($('#self-box .icons'), settled && (!S.mic || S.userMuted.audio || S.moderated.audio)
    ? `<span class="st st-mic${S.moderated.audio ? ' mod' : ''}">${icon('micOff')}</span>` : '');
}

function toggleMic() {
  if (!S.mic || S.moderated.audio) return;
  S.userMuted.audio = !S.userMuted.audio;
  S.mic.enabled = !S.userMuted.audio;
  sendState();
  renderControls();
}

function toggleCam() {
  if (!S.cam || S.moderated.video) return;
  S.userMuted.video = !S.userMuted.video;
  S.cam.enabled = !S.userMuted.video;
  sendState();
  renderControls();
}

async function startShare() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
    toast(t('screenUnsupported'), 'error');
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
  } catch (err) {
    toast(err && err.name === 'NotAllowedError' ? t('screenCancelled') : t('screenFailed', { m: err && err.message }), 'warn');
    return;
  }
  const track = stream.getVideoTracks()[0];
  if (!track) return;
  if (S.phase === 'ended' || S.phase === 'error') { track.stop(); return; }
  track.contentHint = 'detail';
  track.addEventListener('ended', () => { if (S.screenTrack === track) stopShare(true); });
  S.screenTrack = track;
  S.shareAcked = false;
  const tr = publishTransceiver('screen');
  if (tr) {
    try { await tr.sender.replaceTrack(track); } catch (err) { console.error('join: replaceTrack(screen)', err); }
  }
  send({ type: 'screen', on: true });
  renderControls();
  renderTiles();
}

function stopShareTrack() {
  const track = S.screenTrack;
  S.screenTrack = null;
  S.shareAcked = false;
  if (track) track.stop();
}

async function stopShare(tellServer) {
  if (!S.screenTrack) return;
  stopShareTrack();
  const tr = publishTransceiver('screen');
  if (tr) {
    try { await tr.sender.replaceTrack(null); } catch (_) { /* pc closed */ }
  }
  if (tellServer) send({ type: 'screen', on: false });
  renderControls();
  renderTiles();
}

function leave() {
  if (S.screenTrack) send({ type: 'screen', on: false });
  finish('left');
}

// ------------------------------------------------------------------------------------------ quality

async function sampleQuality() {
  const pc = S.pc;
  if (!pc || S.final) return;
  if (pc.connectionState !== 'connected') {
    if (pc.connectionState === 'failed' || pc.connectionState === 'disconnected') {
      S.quality.level = 'poor';
      renderQuality();
    }
    return;
  }
  let report;
  try { report = await pc.getStats(); } catch (_) { return; }
  if (pc !== S.pc) return;
  let rtt = null;
  let selectedId = null;
  let lost = 0;
  let received = 0;
  let remoteRtt = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) selectedId = s.selectedCandidatePairId;
  });
  report.forEach((s) => {
    if (s.type === 'candidate-pair') {
      const chosen = selectedId ? s.id === selectedId : (s.nominated && s.state === 'succeeded');
      if (chosen && typeof s.currentRoundTripTime === 'number') rtt = s.currentRoundTripTime;
    } else if (s.type === 'inbound-rtp') {
      lost += Math.max(0, s.packetsLost || 0);
      received += s.packetsReceived || 0;
    } else if (s.type === 'remote-inbound-rtp' && typeof s.roundTripTime === 'number') {
      remoteRtt = remoteRtt === null ? s.roundTripTime : Math.max(remoteRtt, s.roundTripTime);
    }
  });
  if (rtt === null) rtt = remoteRtt;
  const prev = S.quality.prev;
  let loss = 0;
  if (prev) {
    const dl = lost - prev.lost;
    const dr = received - prev.received;
    loss = dl > 0 && dl + dr > 0 ? (100 * dl) / (dl + dr) : 0;
  }
  S.quality.prev = { lost, received };
  const ms = rtt === null ? null : rtt * 1000;
  let level = 'good';
  if ((ms !== null && ms > 400) || loss > 8) level = 'poor';
  else if ((ms !== null && ms > 150) || loss > 2) level = 'fair';
  S.quality.level = level;
  S.quality.rtt = ms;
  S.quality.loss = loss;
  renderQuality();
}

function renderQuality() {
  const el = $('#quality');
  const q = S.quality;
  el.dataset.level = q.level;
  setText($('#quality-text'), t(`q.${q.level}`));
  el.title = q.level === 'none' ? '' : t('qTip', {
    rtt: q.rtt === null || q.rtt === undefined ? t('qNoRtt') : `${Math.round(q.rtt)} ms`,
    loss: (q.loss || 0).toFixed(1),
  });
}

// ------------------------------------------------------------------------------------------ start

function bindUi() {
  $('#lang-toggle').addEventListener('click', () => {
    S.lang = S.lang === 'vi' ? 'en' : 'vi';
    try { localStorage.setItem(LANG_KEY, S.lang); } catch (_) { /* private mode */ }
    applyLang();
  });
  $('#btn-mic').addEventListener('click', toggleMic);
  $('#btn-cam').addEventListener('click', toggleCam);
  $('#btn-screen').addEventListener('click', () => (S.screenTrack ? stopShare(true) : startShare()));
  $('#btn-leave').addEventListener('click', leave);
  $('#btn-end').addEventListener('click', endMeeting);
  $('#btn-lock').addEventListener('click', toggleLock);
  $('#btn-retry').addEventListener('click', restart);
  $('#btn-rejoin').addEventListener('click', restart);
  $('#media-warning-close').addEventListener('click', () => {
    if (S.mediaProblem) S.mediaProblem.dismissed = true;
    renderMediaWarning();
  });
  $('#panel').addEventListener('click', (ev) => {
    const btn = ev.target.closest('.mod-btn');
    if (btn && !btn.disabled && btn.dataset.action) moderate(btn);
    if (ev.target.closest('#btn-unpin')) unpin(ev.target.closest('#btn-unpin'));
  });
  $('#btn-audio-unlock').addEventListener('click', () => {
    $('#btn-audio-unlock').hidden = true;
    S.needAudioUnlock = false;
    for (const a of S.audios.values()) if (a.srcObject) playAudio(a);
  });
  window.addEventListener('hashchange', () => location.reload());
  window.addEventListener('pageshow', (ev) => { if (ev.persisted) location.reload(); });
  window.addEventListener('pagehide', () => {
    // Tell the server at once rather than after its heartbeat times out.
    const ws = S.ws;
    S.final = S.final || 'left';
    S.ws = null;
    if (ws) try { ws.close(1000, 'page closed'); } catch (_) { /* closed already */ }
  });
}

function main() {
  bindUi();
  window.__conf = {
    get pc() { return S.pc; },
    get ws() { return S.ws; },
    get slots() {
      const out = {};
      for (const [mid, slot] of Object.entries(S.slotsByMid)) {
        out[slot.name] = {
          mid, kind: slot.kind, site: slotSite(slot.name),
          told: Object.prototype.hasOwnProperty.call(S.assign, mid),  // false: inferred, the server never said
        };
      }
      return out;
    },
    get state() { return S.phase; },
    get welcome() { return S.welcome; },
    get roster() { return S.roster; },
    get local() { return S.local; },
    get quality() { return { ...S.quality, prev: undefined }; },
  };
  applyLang();
  const parsed = parseToken();
  if (!parsed || !parsed.claims) {
    showError(parsed ? 'invalid_token' : 'no_token', '');
    setPhase('error', 'st.error');
    renderAll();
    return;
  }
  S.token = parsed.token;
  S.claims = parsed.claims;
  S.room = parsed.claims.room;
  S.site = parsed.claims.site || null;
  setPhase('connecting', 'st.connecting');
  renderControls();
  S.mediaReady = getLocalMedia();
  setInterval(sampleQuality, STATS_MS);
  if (window.ResizeObserver) new ResizeObserver(() => fitGrid()).observe($('#stage'));
  connect();
}

main();
