// The one catalogue of the server's error codes, in Vietnamese first and English: `err.<code>` texts for
// errorText() (core.js) and the join page. The server's own `message` is English detail for the log and
// the administrator: pages show these texts and offer the server's words only on demand ("Chi tiết").
// tests/test_error_catalogue.py walks every code the server can answer and checks both languages here.
import { addStrings, t } from './i18n.js';

const ERRORS = {
  // requests and sessions
  bad_request: ['Yêu cầu không hợp lệ.', 'The request is not valid.'],
  invalid_json: ['Dữ liệu gửi lên không đúng định dạng JSON.', 'The data sent is not valid JSON.'],
  invalid_input: ['Thông tin nhập chưa hợp lệ, vui lòng kiểm tra lại.', 'Some of the input is not valid; please check it.'],
  body_too_large: ['Dữ liệu gửi lên quá lớn.', 'The data sent is too large.'],
  unsupported_media_type: ['Định dạng dữ liệu không được hỗ trợ.', 'This data format is not supported.'],
  method_not_allowed: ['Thao tác này không được hỗ trợ tại địa chỉ này.', 'This operation is not supported here.'],
  not_found: ['Không tìm thấy mục yêu cầu (có thể đã bị xóa).', 'Not found (it may have been deleted).'],
  conflict: ['Không thực hiện được do xung đột với trạng thái hiện tại.', 'Not possible in the current state.'],
  gone: ['Mục này không còn nữa (đã hết hạn hoặc đã bị xóa).', 'This is no longer available (expired or deleted).'],
  too_many_requests: ['Quá nhiều yêu cầu, vui lòng thử lại sau ít phút.', 'Too many requests; please try again shortly.'],
  http_error: ['Máy chủ từ chối yêu cầu.', 'The server refused the request.'],
  internal: ['Máy chủ gặp lỗi nội bộ; quản trị viên xem chi tiết trong nhật ký.', 'Internal server error; the administrator can see details in the log.'],
  cancelled: ['Thao tác đã bị hủy.', 'The operation was cancelled.'],
  defined_in_config: ['Mục này được khai báo trong tệp cấu hình, chỉ sửa được trong tệp đó.', 'This is defined in the configuration file and can only be changed there.'],
  job_busy: ['Việc này đang chạy; đợi lần chạy hiện tại xong rồi chạy lại.', 'This job is already running; wait for the current run to finish.'],
  // sign-in and permissions
  unauthenticated: ['Vui lòng đăng nhập.', 'Please sign in.'],
  bad_credentials: ['Sai tên đăng nhập hoặc mật khẩu.', 'Wrong user name or password.'],
  locked_out: ['Tài khoản tạm khóa do đăng nhập sai nhiều lần, vui lòng thử lại sau.', 'The account is temporarily locked after too many failed logins; try again later.'],
  login_throttled: ['Địa chỉ này đăng nhập sai quá nhiều lần, vui lòng thử lại sau vài giây.', 'Too many failed logins from this address; try again in a few seconds.'],
  invalid_token: ['Phiên đăng nhập hoặc liên kết không hợp lệ.', 'The session or link is not valid.'],
  token_expired: ['Phiên đăng nhập hoặc liên kết đã hết hạn, vui lòng đăng nhập lại hoặc xin liên kết mới.', 'The session or link has expired; sign in again or ask for a new link.'],
  token_revoked: ['Phiên đăng nhập hoặc liên kết đã bị thu hồi.', 'The session or link has been revoked.'],
  forbidden: ['Tài khoản của bạn không có quyền thực hiện thao tác này.', 'Your account may not do this.'],
  scope_denied: ['Mã truy cập dịch vụ này không được phép dùng chức năng này.', 'This service token may not use this function.'],
  password_change_required: ['Vui lòng đổi mật khẩu khởi tạo trước khi tiếp tục.', 'Please change the initial password first.'],
  weak_password: ['Mật khẩu chưa đủ mạnh: tối thiểu 10 ký tự, gồm ít nhất 3 loại (chữ thường, chữ hoa, chữ số, ký hiệu).', 'The password is too weak: at least 10 characters mixing 3 of lower case, upper case, digits and symbols.'],
  // conference
  unknown_room: ['Không có phòng họp này.', 'There is no such meeting room.'],
  wrong_room: ['Liên kết này dành cho phòng họp khác.', 'This link is for another meeting room.'],
  not_a_join_token: ['Đây không phải liên kết tham gia cuộc họp.', 'This is not a meeting join link.'],
  not_a_member: ['Điểm cầu này không thuộc phòng họp.', 'This site is not a member of the meeting room.'],
  not_invited: ['Điểm cầu này không được mời dự cuộc họp.', 'This site is not invited to the meeting.'],
  room_locked: ['Phòng họp đã được chủ trì khóa.', 'The chair has locked the meeting room.'],
  room_full: ['Phòng họp đã đủ số điểm cầu tối đa.', 'The meeting room has its maximum number of sites.'],
  lobby_full: ['Phòng chờ đã đầy, vui lòng thử lại sau.', 'The lobby is full; please try again later.'],
  too_many_joins: ['Điểm cầu vào lại quá nhiều lần liên tiếp, vui lòng chờ giây lát.', 'Too many joins in a row; please wait a moment.'],
  meeting_not_open: ['Cuộc họp chưa mở (phòng mở trước giờ họp để thử âm thanh, hình ảnh).', 'The meeting is not open yet (the room opens shortly before it for a sound and picture test).'],
  meeting_ended: ['Cuộc họp đã kết thúc.', 'The meeting has ended.'],
  meeting_overlap: ['Phòng họp đã có cuộc họp khác trùng thời gian.', 'The room already has another meeting at that time.'],
  // meeting documents (tài liệu họp)
  document_too_large: ['Tệp quá lớn so với giới hạn cho phép của tài liệu họp.', 'The file is larger than a meeting document may be.'],
  document_type_refused: ['Chỉ nhận tài liệu PDF, ảnh JPEG hoặc PNG; nội dung tệp này không phải các định dạng đó (ví dụ tệp chương trình bị đổi tên).', 'Only PDF, JPEG or PNG documents are accepted; this file\'s content is none of them (e.g. a renamed program).'],
  document_damaged: ['Tệp bị hỏng hoặc không đọc được.', 'The file is damaged or cannot be read.'],
  document_encrypted: ['Tệp PDF có mật khẩu; các điểm cầu không mở được — vui lòng tải lên bản không đặt mật khẩu.', 'The PDF is password-protected; the sites could not open it — upload it without a password.'],
  document_empty: ['Tệp trống.', 'The file is empty.'],
  document_duplicate: ['Cuộc họp đã có tài liệu này.', 'The meeting already has this document.'],
  document_limit: ['Cuộc họp đã đủ số tài liệu tối đa.', 'The meeting already has the most documents allowed.'],
  document_forbidden: ['Liên kết tham gia này không dùng được cho tài liệu của cuộc họp này.', 'This join link cannot open this meeting\'s documents.'],
  document_not_downloadable: ['Tài liệu này chỉ được xem, không được tải về.', 'This document may be viewed but not downloaded.'],
  document_missing: ['Không tìm thấy tệp của tài liệu trên máy chủ.', 'The document\'s file is missing on the server.'],
  no_meeting: ['Phiên họp này không thuộc lịch họp nào nên không có tài liệu.', 'This meeting is not a scheduled one, so it has no documents.'],
  removed: ['Điểm cầu đã được chủ trì mời rời cuộc họp.', 'The chair has removed this site from the meeting.'],
  not_removed: ['Điểm cầu này không bị mời rời cuộc họp.', 'This site has not been removed.'],
  not_waiting: ['Điểm cầu này không còn ở phòng chờ.', 'This site is no longer waiting in the lobby.'],
  not_connected: ['Điểm cầu chưa kết nối.', 'The site is not connected.'],
  not_running: ['Cuộc họp chưa diễn ra.', 'The meeting is not in progress.'],
  not_closed: ['Phòng họp vẫn đang mở.', 'The meeting room is still open.'],
  no_speaker: ['Hiện không có ai đang phát biểu.', 'Nobody has the floor.'],
  not_allowed: ['Thao tác này không được phép.', 'This is not allowed.'],
  codec_mismatch: ['Trình duyệt không dùng được định dạng hình ảnh của cuộc họp; vui lòng dùng Chrome, Edge hoặc Firefox bản mới.', 'The browser cannot use the meeting\'s video format; please use a recent Chrome, Edge or Firefox.'],
  unsupported_version: ['Trang tham gia đã cũ, vui lòng tải lại trang.', 'The join page is out of date; please reload it.'],
  origin_not_allowed: ['Trang này không được phép kết nối tới máy chủ họp (mở trang từ địa chỉ khác).', 'This page may not connect to the meeting server (it was opened from another address).'],
  bad_sdp: ['Trình duyệt gửi thông số kết nối không hợp lệ.', 'The browser sent invalid connection parameters.'],
  chat_empty: ['Tin nhắn trống.', 'The message is empty.'],
  chat_too_long: ['Tin nhắn quá dài.', 'The message is too long.'],
  chat_rate_limited: ['Gửi quá nhiều tin nhắn liên tiếp, vui lòng chờ vài giây.', 'Too many messages in a row; wait a few seconds.'],
  mail_disabled: ['Máy chủ chưa cấu hình thư điện tử nên không gửi được giấy mời.', 'E-mail is not configured on the server, so invitations cannot be sent.'],
  not_recording: ['Phòng họp không đang ghi hình.', 'The room is not being recorded.'],
  // votes (biểu quyết)
  vote_already_open: ['Đang có một nội dung biểu quyết chưa kết thúc; hãy kết thúc trước khi mở nội dung mới.', 'A vote is still open; close it before opening another.'],
  vote_not_open: ['Nội dung biểu quyết này đã kết thúc hoặc chưa được mở.', 'This vote is closed or has not been opened.'],
  vote_already_cast: ['Điểm cầu đã biểu quyết nội dung này; mỗi điểm cầu chỉ biểu quyết một lần.', 'This site has already voted on this question; each site votes once.'],
  vote_chair_only: ['Chỉ điểm cầu chủ trì được mở và kết thúc biểu quyết.', 'Only the chair opens and closes a vote.'],
  vote_question_empty: ['Hãy nhập nội dung cần biểu quyết.', 'Write the question to vote on.'],
  vote_question_too_long: ['Nội dung biểu quyết quá dài (tối đa 500 ký tự).', 'The question is too long (500 characters at most).'],
  vote_bad_choice: ['Lựa chọn biểu quyết không hợp lệ.', 'That is not a valid choice.'],
  // cameras
  camera_offline: ['Camera mất kết nối, không xem trực tiếp được.', 'The camera is disconnected: no live view.'],
  camera_error: ['Camera báo lỗi, vui lòng thử lại sau.', 'The camera reported an error; please try again later.'],
  camera_unreachable: ['Camera không phản hồi (mất mạng hoặc mất điện).', 'The camera did not answer (network or power).'],
  camera_auth_failed: ['Camera từ chối tên đăng nhập hoặc mật khẩu đã lưu.', 'The camera refused the stored user name or password.'],
  camera_no_answer: ['Camera không phản hồi (đã kết nối nhưng không nhận được dữ liệu).', 'The camera does not answer (connected, but nothing comes back).'],
  camera_garbled: ['Camera gửi dữ liệu không hợp lệ (không đúng chuẩn RTSP/ONVIF); kiểm tra địa chỉ và cổng.', 'The camera sends invalid data (not RTSP/ONVIF); check its address and port.'],
  camera_closed: ['Camera ngắt kết nối giữa chừng.', 'The camera hung up.'],
  camera_refused: ['Camera từ chối yêu cầu (báo lỗi); kiểm tra đường dẫn luồng hình.', 'The camera refused the request (an error status); check the stream path.'],
  not_streaming: ['Camera chưa truyền hình ảnh.', 'The camera is not streaming yet.'],
  needs_transcode: ['Camera dùng H.265, trình duyệt không phát trực tiếp được; hãy chọn xem qua chuyển mã.', 'The camera sends H.265, which browsers cannot play live; choose the transcoded view.'],
  too_many_views: ['Đã đạt số người xem trực tiếp tối đa cho camera này.', 'This camera has its maximum number of live viewers.'],
  no_ptz: ['Camera này không điều khiển quay/quét/thu phóng được.', 'This camera has no pan/tilt/zoom.'],
  ptz_preset_not_found: ['Camera không có điểm đặt trước này (có thể đã bị xóa).', 'The camera has no such preset (it may have been removed).'],
  ptz_preset_exists: ['Camera đã có điểm đặt trước trùng tên.', 'The camera already has a preset with this name.'],
  ptz_presets_full: ['Camera đã hết chỗ lưu điểm đặt trước; hãy xóa bớt một điểm.', 'The camera cannot store more presets; remove one first.'],
  ptz_preset_name_invalid: ['Camera không chấp nhận tên điểm đặt trước này.', 'The camera does not accept this preset name.'],
  ptz_moving: ['Camera đang chuyển động; hãy dừng lại rồi lưu điểm đặt trước.', 'The camera is still moving; stop it, then save the preset.'],
  ptz_no_profile: ['Camera không còn cấu hình hình ảnh đã thiết lập.', 'The camera no longer has the media profile it was set up with.'],
  ptz_not_supported: ['Camera không hỗ trợ lệnh điều khiển này.', 'The camera does not support this command.'],
  ptz_failed: ['Camera không thực hiện được lệnh điều khiển.', 'The camera could not carry out the command.'],
  ptz_out_of_range: ['Vị trí hoặc tốc độ vượt quá khả năng của camera.', 'The position or speed is beyond what the camera can do.'],
  // recordings and storage
  no_footage: ['Không có ghi hình trong khoảng thời gian này.', 'There is no footage in this time range.'],
  segment_unreadable: ['Một đoạn ghi hình bị hỏng, không đọc được.', 'A recorded segment is damaged and cannot be read.'],
  insufficient_storage: ['Không đủ chỗ trống trên đĩa để xuất video.', 'Not enough free disk space for the export.'],
  review_no_snapshot: ['Sự kiện này không có ảnh chụp.', 'This event has no snapshot.'],
  review_clip_too_long: ['Đoạn video của sự kiện quá dài; hãy xuất video từ trang Ghi hình.', 'The event\'s clip is too long; export it from the Recordings page.'],
  disk_full: ['Không ghi được: đĩa đầy.', 'Not recording: disk full.'],
  not_ready: ['Tệp chưa sẵn sàng, vui lòng chờ xử lý xong.', 'The file is not ready yet; please wait for it to finish.'],
  export_failed: ['Xuất video không thành công do lỗi ngoài dự kiến; quản trị viên xem chi tiết trong nhật ký.', 'The export failed unexpectedly; the administrator can see details in the log.'],
  interrupted: ['Máy chủ dừng hoặc khởi động lại khi đang xuất nên việc xuất bị dừng; hãy xuất lại.', 'The server stopped or restarted during the export; export again.'],
  export_held: ['Bản xuất đang được giữ làm chứng cứ; hãy bỏ giữ trước khi xóa.', 'The export is under an evidence hold; release the hold before deleting it.'],
  // digital signatures
  signing_config: ['Cấu hình chữ ký số chưa đúng (xem mục signing).', 'The digital signature settings are not valid (see signing).'],
  signing_key_unreadable: ['Không mở được tệp chứng thư số (sai mật khẩu hoặc tệp hỏng).', 'The certificate file cannot be opened (wrong password or damaged file).'],
  signing_token_unavailable: ['Không kết nối được USB token; hãy cắm token và kiểm tra tên token.', 'The USB token cannot be reached; plug it in and check its label.'],
  signing_pin_incorrect: ['Mã PIN của USB token không đúng.', 'The USB token PIN is wrong.'],
  signing_pin_locked: ['Mã PIN của USB token đã bị khóa.', 'The USB token PIN is locked.'],
  signing_key_not_found: ['Không tìm thấy khóa ký hoặc chứng thư số trên token.', 'The signing key or certificate is not on the token.'],
  signing_not_pdf: ['Tài liệu cần ký không phải tệp PDF hợp lệ.', 'The document to sign is not a valid PDF.'],
  signing_pdf_too_large: ['Tệp PDF quá lớn để ký.', 'The PDF is too large to sign.'],
  signing_failed: ['Ký số không thành công; quản trị viên xem chi tiết trong nhật ký.', 'Signing failed; the administrator can see details in the log.'],
  signing_export_not_done: ['Bản xuất chưa hoàn tất nên chưa ký được.', 'The export is not finished, so it cannot be signed yet.'],
  signing_manifest_mismatch: ['Tệp xuất không khớp với bản kê (mã SHA-256 khác); không ký.', 'The exported file does not match its manifest (SHA-256 differs); not signed.'],
  // minutes (biên bản) and signed records
  minutes_issuing: ['Biên bản đang được lập và ký; vui lòng chờ.', 'The minutes are being issued and signed; please wait.'],
  minutes_not_held: ['Cuộc họp chưa diễn ra nên chưa lập được biên bản.', 'The meeting has not been held, so it has no minutes yet.'],
  minutes_meeting_running: ['Cuộc họp đang diễn ra; hãy kết thúc cuộc họp trước khi phát hành biên bản.', 'The meeting is still running; end it before issuing the minutes.'],
  minutes_version_exists: ['Phiên bản biên bản này đã có; bản đã phát hành không bị ghi đè.', 'This version of the minutes already exists; an issued version is never overwritten.'],
  minutes_not_issued: ['Biên bản chưa được phát hành.', 'The minutes have not been issued yet.'],
  minutes_render_failed: ['Không lập được tệp PDF biên bản (thiếu phông chữ tiếng Việt); quản trị viên xem nhật ký.', 'The minutes PDF could not be made (a Vietnamese font is missing); the administrator can see the log.'],
  export_not_signed: ['Bản xuất này không có bản kê đã ký số.', 'This export has no signed manifest.'],
  verify_what: ['Hãy tải lên một tệp PDF đã ký, hoặc bản kê (.json) kèm tệp chữ ký .p7s (và các tệp video trong bản kê).', 'Upload one signed PDF, or a manifest (.json) with its .p7s signature (and the video files it lists).'],
  // several nodes (máy chủ) sharing one index
  node_auth_failed: ['Yêu cầu giữa các máy chủ không được xác thực (sai khóa chung của cụm hoặc đã quá hạn).', 'A request between servers was not authenticated (wrong cluster secret, or expired).'],
  node_unreachable: ['Không liên lạc được với máy chủ đang lưu dữ liệu này; vui lòng thử lại sau.', 'The server that holds this data cannot be reached; please try again later.'],
  node_error: ['Máy chủ đang lưu dữ liệu này báo lỗi; quản trị viên xem chi tiết trong nhật ký.', 'The server that holds this data reported an error; the administrator can see details in the log.'],
  redirect_loop: ['Không xác định được máy chủ chạy phòng họp này; vui lòng tải lại trang sau ít phút.', 'The server running this meeting room could not be determined; please reload the page in a few minutes.'],
};

const vi = {};
const en = {};
for (const [code, [v, e]] of Object.entries(ERRORS)) {
  vi[`err.${code}`] = v;
  en[`err.${code}`] = e;
}
addStrings({
  vi: { ...vi, 'err.details': 'Chi tiết', 'err.detailsFrom': 'Máy chủ báo ({code}): {m}' },
  en: { ...en, 'err.details': 'Details', 'err.detailsFrom': 'The server said ({code}): {m}' },
});

/** Return the codes this catalogue knows (for tests and diagnostics). */
export const knownCodes = () => Object.keys(ERRORS);

/** Return the server's own words for an error, shown only when someone asks for the details. */
export const errorDetail = (err) => t('err.detailsFrom', { code: err.code || '—', m: err.message || '' });
