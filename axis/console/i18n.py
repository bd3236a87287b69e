"""Every word the console shows, in Vietnamese (the default) and English.

A page picks its language from the `axis_lang` cookie (the switch in the header), else from
`Accept-Language`, else Vietnamese. Templates say `t("key")`; both dictionaries hold the same
keys (a test checks it, and that every key a template uses exists), so no page is ever half
translated. A new page adds its keys to both.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

DEFAULT = "vi"
COOKIE = "axis_lang"

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "app_name": "Trục liên thông văn bản quốc gia",
        "language_name": "Tiếng Việt",
        "switch_language": "English",
        "nav_home": "Trang chủ",
        "nav_overview": "Tổng quan",
        "nav_agencies": "Cơ quan",
        "nav_deliveries": "Chuyển phát",
        "nav_dead_letters": "Chuyển phát thất bại",
        "nav_registry": "Danh bạ cơ quan",
        "nav_audit": "Nhật ký kiểm toán",
        "nav_documents": "Văn bản của cơ quan",
        "role_operator": "Vận hành",
        "role_auditor": "Kiểm toán viên",
        "role_agency": "Cơ quan",
        "sign_in": "Đăng nhập",
        "sign_out": "Đăng xuất",
        "sign_in_title": "Đăng nhập bảng điều khiển",
        "sign_in_help": "Dán mã truy cập API (của người vận hành, kiểm toán viên hoặc cơ quan) "
        "một lần. Phiên đăng nhập được lưu trên máy chủ và hết hạn sau {hours} giờ.",
        "token_label": "Mã truy cập API",
        "sign_in_refused": "Mã truy cập không đúng hoặc đã bị thu hồi.",
        "signed_out": "Bạn đã đăng xuất.",
        "session_ended": "Phiên đăng nhập đã hết hạn hoặc mã truy cập đã bị thu hồi. "
        "Hãy đăng nhập lại.",
        "signed_in_as": "Đăng nhập với vai trò",
        "session_expires": "Phiên hết hạn lúc",
        "home_title": "Trang chủ",
        "home_intro": "Chọn một trang trong thanh điều hướng.",
        "forbidden_title": "Không có quyền truy cập",
        "forbidden_detail": "Trang này chỉ dành cho vai trò: {roles}.",
        "csrf_title": "Biểu mẫu bị từ chối",
        "csrf_detail": "Biểu mẫu thiếu mã chống giả mạo (CSRF) hoặc mã không khớp. "
        "Hãy tải lại trang rồi gửi lại.",
        "too_many_title": "Quá nhiều yêu cầu",
        "too_many_detail": "Hãy thử lại sau {seconds} giây.",
        "too_large_title": "Biểu mẫu quá lớn",
        "too_large_detail": "Biểu mẫu vượt quá {limit} byte.",
        "timeout_title": "Hết thời gian chờ",
        "timeout_detail": "Biểu mẫu không được gửi đến kịp thời.",
        # The operator's pages: agencies, deliveries and dead letters, registry.
        "not_found_title": "Không tìm thấy",
        "delivery_not_found": "Không có lần chuyển phát này.",
        "job_not_found": "Không có tác vụ gửi lại này (máy chủ chỉ giữ các tác vụ gần đây).",
        "agency_not_found": "Không có cơ quan với mã này.",
        "not_dead_title": "Không thể gửi lại",
        "not_dead_detail": "Lần chuyển phát này không còn ở trạng thái thất bại.",
        "bad_filter_title": "Bộ lọc không hợp lệ",
        "bad_filter_detail": "Một số trường của bộ lọc không hợp lệ",
        "bad_cursor": "Liên kết trang không hợp lệ: hãy tìm lại từ trang đầu.",
        "deliveries_title": "Tra cứu chuyển phát",
        "dead_letters_title": "Chuyển phát thất bại",
        "dead_letters_intro": "Các lần chuyển phát đã dừng thử lại. Gửi lại từng cái, hoặc tất cả "
        "những cái khớp bộ lọc; mỗi lần gửi lại được ghi vào nhật ký kiểm toán "
        "với tên người vận hành.",
        "field_document": "Mã văn bản",
        "field_agency": "Cơ quan",
        "field_state": "Trạng thái",
        "field_since": "Từ",
        "field_until": "Đến",
        "any_state": "Mọi trạng thái",
        "search": "Tìm",
        "created": "Tạo lúc",
        "sender": "Nơi gửi",
        "recipient": "Nơi nhận",
        "kind": "Loại",
        "attempts": "Số lần thử",
        "attempt": "Lần thử",
        "replays": "Số lần gửi lại",
        "last_error": "Lỗi gần nhất",
        "no_deliveries": "Không có chuyển phát nào khớp.",
        "first_page": "Trang đầu",
        "next_page": "Trang sau",
        "replay": "Gửi lại",
        "replay_matching": "Gửi lại tất cả chuyển phát khớp bộ lọc…",
        "state_queued": "Đang chờ",
        "state_retrying": "Đang thử lại",
        "state_delivered": "Đã chuyển",
        "state_dead": "Thất bại",
        "state_acked_done": "Đã tiếp nhận",
        "state_acked_fail": "Bị từ chối tiếp nhận",
        "delivery_title": "Chuyển phát",
        "replayed_one": "Đã xếp lại hàng đợi để gửi lại.",
        "steps_title": "Các bước và lần thử",
        "time": "Thời điểm",
        "step": "Bước",
        "actor": "Người thực hiện",
        "details": "Chi tiết",
        "no_steps": "Nhật ký kiểm toán chưa có bước nào của chuyển phát này.",
        "replay_confirm_title": "Xác nhận gửi lại",
        "replay_confirm_detail": "Bộ lọc này khớp {count} chuyển phát thất bại.",
        "replay_confirm_button": "Gửi lại {count} chuyển phát",
        "cancel": "Huỷ",
        "replay_job_title": "Tiến độ gửi lại",
        "replay_progress": "Đã xử lý {done} trên {total}",
        "replayed_word": "đã gửi lại",
        "skipped_word": "bỏ qua vì không còn thất bại",
        "replay_failed": "Tác vụ dừng vì lỗi; những chuyển phát chưa gửi lại vẫn ở "
        "trạng thái thất bại:",
        "replay_finished": "Hoàn tất.",
        "back_home": "Về trang chủ",
        "overview_title": "Tổng quan hệ thống",
        "refresh": "Làm mới",
        "live": "Cập nhật trực tiếp",
        "sampled_at": "Số liệu lúc",
        "per_second": "/ giây",
        "seconds": "giây",
        "records": "bản ghi",
        "none": "—",
        "documents": "Văn bản",
        "accepted": "Được chấp nhận",
        "rejected": "Bị từ chối",
        "deliveries": "Chuyển phát",
        "delivered": "Thành công",
        "retrying": "Thử lại",
        "dead": "Thất bại",
        "latency": "Độ trễ từ lúc gửi đến lúc chuyển xong (60 giây gần nhất)",
        "consumer_lag": "Độ trễ tiêu thụ theo nhóm và phân vùng",
        "consumer_lag_history": "Độ trễ tiêu thụ trong một giờ qua",
        "rates_history": "Lưu lượng trong một giờ qua",
        "group": "Nhóm",
        "topic": "Chủ đề",
        "partition": "Phân vùng",
        "lag": "Độ trễ",
        "audit": "Nhật ký kiểm toán",
        "audit_lag": "Sự kiện chờ ghi vào nhật ký",
        "log_size": "Số mục trong nhật ký",
        "checkpoint_age": "Tuổi của điểm kiểm tra đã ký gần nhất",
        "no_checkpoint": "chưa có",
        "unsigned_for": "Mục chưa được ký trong",
        "dead_letters": "Chuyển phát thất bại đang chờ gửi lại",
        "alert_lag": "Nhóm {group} chậm {lag} bản ghi (ngưỡng {limit}).",
        "alert_latency": "Độ trễ p99 là {value} giây (ngưỡng {limit} giây).",
        "alert_unsigned": "Nhật ký kiểm toán có mục chưa được ký trong {value} giây "
        "(ngưỡng {limit} giây).",
        "alert_dead_letters": "Có {value} chuyển phát thất bại đang chờ gửi lại (ngưỡng {limit}).",
        "all_clear": "Mọi chỉ số trong ngưỡng.",
    },
    "en": {
        "app_name": "National e-document axis",
        "language_name": "English",
        "switch_language": "Tiếng Việt",
        "nav_home": "Home",
        "nav_overview": "Overview",
        "nav_agencies": "Agencies",
        "nav_deliveries": "Deliveries",
        "nav_dead_letters": "Dead letters",
        "nav_registry": "Registry",
        "nav_audit": "Audit",
        "nav_documents": "Our documents",
        "role_operator": "Operator",
        "role_auditor": "Auditor",
        "role_agency": "Agency",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "sign_in_title": "Sign in to the console",
        "sign_in_help": "Paste an API token (an operator's, an auditor's or an agency's) once. "
        "The session is kept on the server and ends after {hours} hours.",
        "token_label": "API token",
        "sign_in_refused": "The token is unknown or has been revoked.",
        "signed_out": "You are signed out.",
        "session_ended": "Your session has expired or its token was revoked. Sign in again.",
        "signed_in_as": "Signed in as",
        "session_expires": "Session ends at",
        "home_title": "Home",
        "home_intro": "Pick a page in the navigation.",
        "forbidden_title": "Forbidden",
        "forbidden_detail": "This page is for the role: {roles}.",
        "csrf_title": "Form refused",
        "csrf_detail": "The form lacks its anti-forgery (CSRF) token or the token does not "
        "match. Reload the page and send it again.",
        "too_many_title": "Too many requests",
        "too_many_detail": "Try again in {seconds} seconds.",
        "too_large_title": "Form too large",
        "too_large_detail": "The form is larger than {limit} bytes.",
        "timeout_title": "Request timeout",
        "timeout_detail": "The form did not arrive in time.",
        # The operator's pages: agencies, deliveries and dead letters, registry.
        "not_found_title": "Not found",
        "delivery_not_found": "There is no such delivery.",
        "job_not_found": "There is no such replay job (the server keeps recent jobs only).",
        "agency_not_found": "No agency is registered with this code.",
        "not_dead_title": "Cannot replay",
        "not_dead_detail": "This delivery is no longer a dead letter.",
        "bad_filter_title": "Invalid filter",
        "bad_filter_detail": "Some fields of the filter are invalid",
        "bad_cursor": "The page link is invalid: search again from the first page.",
        "deliveries_title": "Deliveries",
        "dead_letters_title": "Dead letters",
        "dead_letters_intro": "Deliveries that stopped retrying. Replay one, or every one the "
        "filter matches; each replay is recorded in the audit log as the operator who did it.",
        "field_document": "Document id",
        "field_agency": "Agency",
        "field_state": "State",
        "field_since": "From",
        "field_until": "Until",
        "any_state": "Any state",
        "search": "Search",
        "created": "Created",
        "sender": "Sender",
        "recipient": "Recipient",
        "kind": "Kind",
        "attempts": "Attempts",
        "attempt": "Attempt",
        "replays": "Replays",
        "last_error": "Last error",
        "no_deliveries": "No delivery matches.",
        "first_page": "First page",
        "next_page": "Next page",
        "replay": "Replay",
        "replay_matching": "Replay every dead letter the filter matches…",
        "state_queued": "Queued",
        "state_retrying": "Retrying",
        "state_delivered": "Delivered",
        "state_dead": "Dead",
        "state_acked_done": "Acknowledged",
        "state_acked_fail": "Refused by recipient",
        "delivery_title": "Delivery",
        "replayed_one": "Queued again for delivery.",
        "steps_title": "Steps and attempts",
        "time": "Time",
        "step": "Step",
        "actor": "Actor",
        "details": "Details",
        "no_steps": "The audit log holds no step of this delivery yet.",
        "replay_confirm_title": "Confirm the replay",
        "replay_confirm_detail": "This filter matches {count} dead letters.",
        "replay_confirm_button": "Replay {count} dead letters",
        "cancel": "Cancel",
        "replay_job_title": "Replay progress",
        "replay_progress": "{done} of {total} done",
        "replayed_word": "replayed",
        "skipped_word": "skipped, no longer dead",
        "replay_failed": "The job stopped on an error; the deliveries not replayed are still dead:",
        "replay_finished": "Finished.",
        "back_home": "Back to the home page",
        "overview_title": "Overview",
        "refresh": "Refresh",
        "live": "Live",
        "sampled_at": "Figures at",
        "per_second": "/ s",
        "seconds": "s",
        "records": "records",
        "none": "—",
        "documents": "Documents",
        "accepted": "Accepted",
        "rejected": "Rejected",
        "deliveries": "Deliveries",
        "delivered": "Delivered",
        "retrying": "Retrying",
        "dead": "Dead",
        "latency": "Submit-to-delivered latency (last 60 s)",
        "consumer_lag": "Consumer lag per group and partition",
        "consumer_lag_history": "Consumer lag over the last hour",
        "rates_history": "Traffic over the last hour",
        "group": "Group",
        "topic": "Topic",
        "partition": "Partition",
        "lag": "Lag",
        "audit": "Audit log",
        "audit_lag": "Events waiting for the audit writer",
        "log_size": "Entries in the log",
        "checkpoint_age": "Age of the last signed checkpoint",
        "no_checkpoint": "none yet",
        "unsigned_for": "Entries unsigned for",
        "dead_letters": "Dead letters waiting for a replay",
        "alert_lag": "Group {group} is {lag} records behind (threshold {limit}).",
        "alert_latency": "Latency p99 is {value} s (threshold {limit} s).",
        "alert_unsigned": "Audit entries have waited {value} s for a signed checkpoint "
        "(threshold {limit} s).",
        "alert_dead_letters": "{value} dead letters are waiting for a replay (threshold {limit}).",
        "all_clear": "Every figure is within its threshold.",
    },
}


def language(request: Request) -> str:
    """The language of `request`'s pages: the switch's cookie, else `Accept-Language`."""
    chosen = request.cookies.get(COOKIE)
    if chosen in TEXTS:
        return chosen
    ranked: list[tuple[float, str]] = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.split("-")[0].lower()
        if primary in TEXTS:
            ranked.append((quality, primary))
    return max(ranked, key=lambda pair: pair[0])[1] if ranked else DEFAULT


Translate = Callable[..., str]


def translator(lang: str) -> Translate:
    """`t(key, **values)` in `lang`."""
    texts = TEXTS[lang]

    def t(key: str, **values: object) -> str:
        return texts[key].format(**values) if values else texts[key]

    return t
