"""The contact window (SPEC §4.6, §4.7): mail to the contact address becomes a numbered
request, threaded, classified, self-served where possible, acknowledged within limits,
posted to staff; staff list, show, assign, reply to and close requests.

The mail door owns the protocol (SMTP, MIME, decoding) and hands this package plain data:
raw bytes to store before ``250`` (``store_inbound``), then an ``IncomingMail`` parsed
from the stored record (``assess``, ``process_inbound_batch``). Everything decided about a
mail — which request it belongs to, whether it may be answered, what staff see — is
decided here.

A request's number is the id of the stored mail that opened it (unique, increasing, with
gaps where mail was a follow-up or a bounce), shown as ``REQ-000123``. Acknowledgement
limits are rows (``MailAck``), so every instance counts the same acks.

One job per module, each depending only on those above it:

    addresses        a request's names in mail (REQ-000123, [REQ-…], signed reply
                     address), RCPT policy, who may get an automatic mail
    authentication   what the trusted MTA in front says (Authentication-Results, spam
                     verdicts): whether an automatic answer could be backscatter
    assessment       IncomingMail → Assessed: database-free verdicts (classification,
                     automatic mail, bounces, locale), run in the mail door's parser process
    inbox            raw mail stored before 250, read back for processing, marked failed
    batch            what the database says about a batch of mail; its rows written at once
    acknowledgement  may this sender get an acknowledgement now; the request_ack mail
    bounces          addresses our mail cannot reach: marked, staff told (grouped, capped)
    self_service     the accounts area's use case for each self-service category
    intake           a batch of stored mail → requests, follow-ups, bounces, duplicates
    requests         the staff desk (list, show, assign, reply, close) and each request's
                     staff-channel post

Callers use the names below as ``contact_window.X``; the modules are the package's own
business.
"""

from core.contact_window.acknowledgement import (
    ACK_PER_DAY,
    ACK_PER_HOUR,
    BOUNCE_MEMORY,
    LOOP_HEADER,
    answer_date,
    warm_up,
)
from core.contact_window.addresses import (
    SYSTEM_MAIL,
    accepts_recipient,
    bounced_outbox_id,
    format_number,
    parse_number,
    reply_address,
    return_path,
    valid_recipient,
)
from core.contact_window.assessment import (
    CATEGORIES,
    EXCERPT_CHARS,
    Assessed,
    DeliveryFailure,
    IncomingMail,
    assess,
    classify,
    unreadable,
)
from core.contact_window.authentication import MAX_TRACE_HEADERS, TRACE_HEADERS
from core.contact_window.bounces import alert_bounces, mark_bouncing
from core.contact_window.inbox import (
    digest,
    load_inbound,
    load_pending,
    log_resent,
    mark_failed,
    pending_inbound,
    store_inbound,
    store_inbound_many,
)
from core.contact_window.intake import Outcome, process_inbound, process_inbound_batch
from core.contact_window.requests import (
    MessageView,
    RequestDetail,
    RequestSummary,
    alert_staff,
    assign,
    close,
    list_open,
    record_slack_post,
    reply,
    show,
    slack_thread,
)
from core.contact_window.self_service import SELF_SERVICE

__all__ = [
    "ACK_PER_DAY",
    "ACK_PER_HOUR",
    "BOUNCE_MEMORY",
    "CATEGORIES",
    "EXCERPT_CHARS",
    "LOOP_HEADER",
    "MAX_TRACE_HEADERS",
    "SELF_SERVICE",
    "SYSTEM_MAIL",
    "TRACE_HEADERS",
    "Assessed",
    "DeliveryFailure",
    "IncomingMail",
    "MessageView",
    "Outcome",
    "RequestDetail",
    "RequestSummary",
    "accepts_recipient",
    "alert_bounces",
    "alert_staff",
    "answer_date",
    "assess",
    "assign",
    "bounced_outbox_id",
    "classify",
    "close",
    "digest",
    "format_number",
    "list_open",
    "load_inbound",
    "load_pending",
    "log_resent",
    "mark_bouncing",
    "mark_failed",
    "parse_number",
    "pending_inbound",
    "process_inbound",
    "process_inbound_batch",
    "record_slack_post",
    "reply",
    "reply_address",
    "return_path",
    "show",
    "slack_thread",
    "store_inbound",
    "store_inbound_many",
    "unreadable",
    "valid_recipient",
    "warm_up",
]
