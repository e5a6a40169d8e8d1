"""What audit-log entries say in words (Vietnamese and English), for the console's log page and the CSV export.

The log stores stable codes (``camera.view``, ``auth.login``); people read "Xem trực tiếp camera". An action
without an entry here is shown as its code, so a new action is never hidden (tests check that every action the
code writes literally has its words).
"""

from __future__ import annotations

ACTIONS: dict[str, tuple[str, str]] = {
    "auth.login": ("Đăng nhập", "Signed in"),
    "auth.login_failed": ("Đăng nhập không thành công", "Failed sign-in"),
    "auth.logout": ("Đăng xuất", "Signed out"),
    "auth.password_changed": ("Đổi mật khẩu", "Changed password"),
    "user.create": ("Tạo người dùng", "Created a user"),
    "user.update": ("Sửa người dùng", "Changed a user"),
    "user.delete": ("Xóa người dùng", "Deleted a user"),
    "user.password_reset": ("Đặt lại mật khẩu người dùng", "Reset a user's password"),
    "service_token.create": ("Tạo mã truy cập dịch vụ", "Made a service token"),
    "service_token.revoke": ("Thu hồi mã truy cập dịch vụ", "Revoked a service token"),
    "site.create": ("Thêm điểm cầu", "Added a site"),
    "site.delete": ("Xóa điểm cầu", "Removed a site"),
    "site.update": ("Sửa điểm cầu", "Changed a site"),
    "room.create": ("Tạo phòng họp", "Created a meeting room"),
    "room.delete": ("Xóa phòng họp", "Deleted a meeting room"),
    "room.update": ("Sửa phòng họp", "Changed a meeting room"),
    "room.join_token": ("Cấp liên kết tham gia", "Issued a join link"),
    "room.lock": ("Khóa phòng họp", "Locked a meeting room"),
    "room.unlock": ("Mở khóa phòng họp", "Unlocked a meeting room"),
    "room.reopen": ("Mở lại phòng họp", "Reopened a meeting room"),
    "room.record.start": ("Bắt đầu ghi hình cuộc họp", "Started recording a meeting"),
    "room.record.stop": ("Dừng ghi hình cuộc họp", "Stopped recording a meeting"),
    "conference.join": ("Điểm cầu vào cuộc họp", "A site joined the meeting"),
    "meeting.remind": ("Gửi thư nhắc lịch họp", "Sent meeting reminders"),
    "conference.end": ("Kết thúc cuộc họp", "Ended a meeting"),
    "conference.leave": ("Điểm cầu rời cuộc họp", "A site left the meeting"),
    "conference.remove": ("Mời điểm cầu rời cuộc họp", "Removed a site from the meeting"),
    "conference.readmit": ("Cho điểm cầu vào lại", "Let a site back in"),
    "conference.lobby_admit": ("Cho điểm cầu ở phòng chờ vào họp", "Admitted a site from the lobby"),
    "conference.lobby_refuse": ("Từ chối điểm cầu ở phòng chờ", "Refused a site in the lobby"),
    "conference.mute_audio": ("Tắt micro điểm cầu", "Muted a site's microphone"),
    "conference.unmute_audio": ("Bật micro điểm cầu", "Unmuted a site's microphone"),
    "conference.mute_video": ("Tắt hình điểm cầu", "Turned off a site's camera"),
    "conference.unmute_video": ("Bật hình điểm cầu", "Turned on a site's camera"),
    "conference.mute_all": ("Tắt micro tất cả điểm cầu", "Muted every site"),
    "conference.pin": ("Ghim hình điểm cầu", "Pinned a site"),
    "conference.present_camera": ("Trình chiếu camera vào cuộc họp", "Showed a camera in the meeting"),
    "conference.hand_up": ("Điểm cầu xin phát biểu", "A site asked to speak"),
    "conference.floor_grant": ("Cho phát biểu", "Gave the floor"),
    "conference.floor_end_turn": ("Kết thúc lượt phát biểu", "Ended a speaking turn"),
    "conference.floor_mode": ("Đổi chế độ phát biểu", "Changed the speaking mode"),
    "conference.vote_open": ("Mở biểu quyết", "Opened a vote"),
    "conference.vote_close": ("Kết thúc biểu quyết", "Closed a vote"),
    "meeting.create": ("Lên lịch cuộc họp", "Scheduled a meeting"),
    "meeting.update": ("Sửa lịch cuộc họp", "Changed a scheduled meeting"),
    "meeting.cancel": ("Hủy cuộc họp", "Cancelled a meeting"),
    "meeting.invite": ("Gửi giấy mời họp", "Sent meeting invitations"),
    "meeting.links": ("Lấy liên kết tham gia", "Fetched the join links"),
    "meeting.absence_reason": ("Ghi lý do vắng mặt", "Recorded why a site was absent"),
    # meeting documents (tài liệu họp)
    "document.upload": ("Đính kèm tài liệu họp", "Attached a meeting document"),
    "document.update": ("Sửa tài liệu họp", "Changed a meeting document"),
    "document.delete": ("Xóa tài liệu họp", "Deleted a meeting document"),
    "document.present": ("Trình chiếu tài liệu họp", "Presented a meeting document"),
    "document.present_stop": ("Dừng trình chiếu tài liệu họp", "Stopped presenting a meeting document"),
    "camera.create": ("Thêm camera", "Added a camera"),
    "camera.delete": ("Xóa camera", "Removed a camera"),
    "camera.view": ("Xem trực tiếp camera", "Watched a camera live"),
    "camera.ptz_move": ("Điều khiển quay/quét camera", "Moved a camera"),
    "camera.ptz_stop": ("Dừng camera", "Stopped a camera"),
    "camera.ptz_zoom": ("Thu phóng camera", "Zoomed a camera"),
    "camera.ptz_goto_preset": ("Chuyển camera tới điểm đặt trước", "Moved a camera to a preset"),
    "camera.preset_set": ("Lưu điểm đặt trước của camera", "Saved a camera preset"),
    "camera.preset_remove": ("Xóa điểm đặt trước của camera", "Removed a camera preset"),
    "footage.playback": ("Xem lại ghi hình", "Played back footage"),
    "footage.segment": ("Tải đoạn ghi hình", "Fetched a recorded segment"),
    "export.create": ("Xuất đoạn ghi hình", "Exported footage"),
    "export.download": ("Tải bản xuất", "Downloaded an export"),
    "export.manifest": ("Tải bản kê đã ký của bản xuất", "Downloaded an export's signed manifest"),
    "minutes.draft": ("Sửa dự thảo biên bản cuộc họp", "Edited the draft minutes of a meeting"),
    "minutes.issue": ("Phát hành biên bản cuộc họp", "Issued the minutes of a meeting"),
    "minutes.download": ("Tải biên bản cuộc họp", "Downloaded the minutes of a meeting"),
    "signature.verify": ("Kiểm tra chữ ký số của tệp tải lên", "Checked the digital signature of an uploaded file"),
    "export.delete": ("Xóa bản xuất", "Deleted an export"),
    "hold.create": ("Giữ làm chứng cứ", "Placed an evidence hold"),
    "hold.release": ("Bỏ giữ chứng cứ", "Released an evidence hold"),
    "review.mark": ("Đánh dấu đã xem sự kiện", "Marked events reviewed"),
    "review.unmark": ("Bỏ đánh dấu đã xem", "Marked events unreviewed"),
    "schedule.upsert": ("Lưu lịch tác vụ", "Saved a scheduled job"),
    "schedule.delete": ("Xóa lịch tác vụ", "Deleted a scheduled job"),
    "schedule.run_now": ("Chạy tác vụ ngay", "Ran a job now"),
    "retention.sweep": ("Dọn ghi hình cũ theo thời hạn lưu", "Deleted old footage (retention)"),
    "retention.disk_full": ("Đĩa đầy: không ghi được", "Disk full: not recording"),
    "retention.disk_blocked": ("Đĩa đầy: tạm dừng ghi", "Disk full: recording blocked"),
    "retention.disk_emergency": ("Đĩa gần đầy: xóa ghi hình cũ nhất", "Disk nearly full: deleted the oldest footage"),
    "retention.disk_recovered": ("Đĩa có chỗ trống trở lại, tiếp tục ghi", "Disk space back: recording again"),
}

ROLES: dict[str, tuple[str, str]] = {
    "admin": ("Quản trị", "Administrator"), "operator": ("Điều hành hội nghị", "Conference operator"),
    "security": ("Bảo vệ / an ninh", "Security staff"), "participant": ("Điểm cầu", "Site"), "": ("—", "—"),
}


def action_words(action: str, lang: str = "vi") -> str:
    """Return an action in words (its code when it has none)."""
    pair = ACTIONS.get(action)
    return action if pair is None else pair[0 if lang == "vi" else 1]


def actor_words(actor: str, lang: str = "vi") -> str:
    """Return who acted in words: a user name as it is; a site, a service token, the CLI or nobody described."""
    vi = lang == "vi"
    if actor == "anonymous":
        return "Chưa đăng nhập" if vi else "Not signed in"
    if actor == "cli":
        return "Dòng lệnh trên máy chủ" if vi else "Command line on the server"
    if actor == "system":
        return "Hệ thống" if vi else "The system"
    kind, _, name = actor.partition(":")
    if name and kind == "site":
        return f"Điểm cầu {name}" if vi else f"Site {name}"
    if name and kind == "service":
        return f"Mã dịch vụ {name}" if vi else f"Service token {name}"
    return actor


def role_words(role: str, lang: str = "vi") -> str:
    """Return a role in words."""
    pair = ROLES.get(role)
    return role if pair is None else pair[0 if lang == "vi" else 1]
