"""The Bolt fence gives Bolt's answers: its form parsing compared with Bolt's own on
ordinary and hostile bodies, and listeners still matched after ``install()``."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, unquote_plus, urlencode

import pytest
from slack_bolt.request import async_request
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body as bolt_parse_body

from bot import bolt_fence

FORM = "application/x-www-form-urlencoded"


def outcome(parse: Callable[[str, str], Any], body: str) -> tuple[str, Any]:
    """What a parser makes of ``body``: its value, or the kind of error it raised."""
    try:
        return "parsed", parse(body, FORM)
    except ValueError as exc:  # json.JSONDecodeError included
        return "refused", type(exc)


HOSTILE = [
    "",
    "payload",
    "payload=",
    "payload=%7B%7D",
    "a=1&&b=2&",
    "a&b=&=c",
    "%%41=%zz%4",
    "x=%E3%81",  # a UTF-8 sequence cut short
    "x=%E3%81a%82",  # cut by a literal character
    "x=%C3%28%A0%A1%F0%28%8C%BC",  # invalid continuation bytes
    "x=%ED%A0%80",  # an encoded surrogate
    "x=%F4%90%80%80",  # beyond U+10FFFF
    "x=%c3%a9+%C3%A9++%2B",  # lower-case escapes, plus signs
    "x=日本語%E6%97%A5&y=ｶﾅ",  # raw non-ASCII beside escapes
    "a=1;b=2",  # ``;`` is no separator
    "a=1=2&a=3",  # the first ``=`` splits, the last duplicate wins
    "text=%00%0D%0A<!channel>",
]


@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_bodies_parse_as_bolt_parses_them(body: str) -> None:
    assert outcome(bolt_fence.parse_body, body) == outcome(bolt_parse_body, body)


def test_random_bodies_parse_as_bolt_parses_them() -> None:
    rng = random.Random(20261201)
    alphabet = "%%%%%+&==aZ09fF;日ｶ\x00 \t" + "0123456789abcdefABCDEF" * 2
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        assert outcome(bolt_fence.parse_body, body) == outcome(bolt_parse_body, body), body


def test_random_values_decode_as_urllib_decodes_them() -> None:
    """Mostly the quoted-printable path (ASCII, no ``=``), with every kind of broken escape."""
    rng = random.Random(1201)
    alphabet = "%%%%%%+aZ09fFgG \t\x00\x7f~" + "0123456789abcdefABCDEF" * 3
    fast = 0
    for _ in range(20000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        assert bolt_fence.unquote_plus(value) == unquote_plus(value), repr(value)
        fast += "%" in value and "%%" not in value
    assert fast > 1000
    for value in ("%E3%81%82%E3%81", "%", "%4", "%%", "%41%", "abc%", "%ZZ%41", "%e3%81%82"):
        assert bolt_fence.unquote_plus(value) == unquote_plus(value), value


def test_a_modal_payload_parses_as_bolt_parses_it() -> None:
    view = {
        "type": "modal",
        "callback_id": "inquiry",
        "title": {"type": "plain_text", "text": "お問い合わせ＆質問"},
    }
    state = {"subject": {"value": {"type": "plain_text_input", "value": "帳票 100% + & = ? 😀 \n"}}}
    payload = {"type": "view_submission", "view": {**view, "state": {"values": state}}}
    for ensure_ascii in (True, False):
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=ensure_ascii)})
        parsed = bolt_fence.parse_body(body, FORM)
        assert parsed == bolt_parse_body(body, FORM) == payload
    command = "command=%2Fsupport&text=" + quote_plus("kb ｲﾝｽﾄｰﾙ 帳票") + "&user_id=U1"
    assert bolt_fence.parse_body(command, FORM) == bolt_parse_body(command, FORM)
    json_body = json.dumps({"type": "event_callback", "event": {"text": "%41+"}})
    assert bolt_fence.parse_body(json_body, "application/json") == bolt_parse_body(
        json_body, "application/json"
    )


def test_install_routes_bolt_requests_through_the_fence() -> None:
    bolt_fence.install()
    bolt_fence.install()  # idempotent
    assert async_request.parse_body is bolt_fence.parse_body
    request = AsyncBoltRequest(body="command=%2Fsupport&text=id+list", headers={"content-type": FORM})
    assert request.body == {"command": "/support", "text": "id list"}


@pytest.mark.parametrize(
    "names",
    [
        ["ack", "body", "context"],
        ["body", "context", "next"],
        ["context", "next_"],
        ["logger", "client", "req", "request", "resp", "response"],
        ["self", "context", "next"],  # Bolt's path (drops "self")
        ["ack", "say", "view"],  # Bolt's path
        ["context", "who"],  # a context key: Bolt's path
    ],
)
@pytest.mark.parametrize("next_keys_required", [True, False])
def test_a_functions_arguments_are_the_ones_bolt_builds(names: list[str], next_keys_required: bool) -> None:
    from slack_bolt.kwargs_injection.async_utils import build_async_required_kwargs
    from slack_bolt.response import BoltResponse
    from slack_sdk.web.async_client import AsyncWebClient

    logger = logging.getLogger("test")
    response = BoltResponse(status=200, body="")

    def command() -> AsyncBoltRequest:
        return AsyncBoltRequest(
            body="command=%2Fsupport&text=kb+%E5%B8%B3%E7%A5%A8&user_id=U1&team_id=T1&channel_id=C1"
            "&response_url=https%3A%2F%2Fhooks.example%2Fr",
            headers={"content-type": FORM},
            context={"who": "someone", "client": AsyncWebClient(token="xoxb-x")},
        )

    async def next_() -> None:
        return None

    def build(function: Callable[..., dict[str, Any]], request: AsyncBoltRequest) -> dict[str, Any]:
        return function(
            logger=logger,
            required_arg_names=list(names),
            request=request,
            response=response,
            next_func=next_,
            this_func=next_,
            next_keys_required=next_keys_required,
        )

    # The same request: the same objects (the lazily made helpers are ours, made first).
    request = command()
    ours = build(bolt_fence.required_kwargs, request)
    theirs = build(build_async_required_kwargs, request)
    assert ours.keys() == theirs.keys()
    assert all(ours[key] is theirs[key] for key in ours), names
    # Each on a request of its own: the context left alike (Bolt's builder makes ``say``,
    # ``respond``… there, and listeners read them from the context).
    mine, bolts = command(), command()
    build(bolt_fence.required_kwargs, mine)
    build(build_async_required_kwargs, bolts)
    assert list(mine.context) == list(bolts.context)
    assert [type(v) for v in mine.context.values()] == [type(v) for v in bolts.context.values()]


def test_install_builds_a_commands_arguments_through_the_fence() -> None:
    from slack_bolt.listener import async_listener
    from slack_bolt.middleware import async_custom_middleware

    bolt_fence.install()
    assert async_custom_middleware.build_async_required_kwargs is bolt_fence.required_kwargs
    assert async_listener.build_async_required_kwargs is bolt_fence.required_kwargs


def test_a_requests_client_has_the_attributes_bolt_gives_it() -> None:
    """``init_context``'s per-request client: Bolt's constructor's attributes, and a new
    object (with its own retry handlers) for each request."""
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
    from slack_sdk.web.async_client import AsyncWebClient

    async def authorize(enterprise_id: str | None, team_id: str | None) -> None:
        return None

    base = AsyncWebClient(
        base_url="http://127.0.0.1:9/api/",
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
        logger=logging.getLogger("test.web"),
    )
    app = AsyncApp(client=base, authorize=authorize, signing_secret="s", request_verification_enabled=False)
    for token, team in [(None, None), ("xoxb-1 ", "T1"), ("xoxb-2", None)]:
        theirs = AsyncWebClient(
            token=token,
            base_url=base.base_url,
            timeout=base.timeout,
            ssl=base.ssl,
            proxy=base.proxy,
            session=base.session,
            trust_env_in_session=base.trust_env_in_session,
            headers=base.headers,
            team_id=team,
            logger=base.logger,
            retry_handlers=base.retry_handlers.copy(),
        )
        ours = bolt_fence._request_client(app, token, team)
        again = bolt_fence._request_client(app, token, team)
        assert type(ours) is AsyncWebClient
        assert vars(ours) == vars(theirs)
        assert ours is not again and ours.retry_handlers is not again.retry_handlers
        assert ours.retry_handlers is not base.retry_handlers
        assert ours.default_params is not again.default_params


def test_an_empty_query_string_parses_as_bolt_parses_it() -> None:
    from slack_bolt.request.internals import parse_query

    for query in ["", None, "a=1&b=&a=2", {"a": "1"}, {"a": ["1", "2"]}]:
        assert bolt_fence.parse_query(query) == parse_query(query)


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (200, {"text": "帳票 <b>", "blocks": [{"type": "section"}]}, None),
        (200, "", None),
        (200, "plain text", None),
        (404, {"error": "unhandled request"}, None),
        (500, "", {"X-Extra": "1"}),
        (200, "{}", {"content-type": "application/json; charset=utf-8"}),
        (200, "x", {"content-type": "text/html"}),
        (200, "x", {"content-type": "text/html;charset=UTF-8"}),
    ],
)
async def test_an_aiohttp_response_is_the_adapters(status: int, body: Any, headers: Any) -> None:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response
    from slack_bolt.response import BoltResponse

    async def made(convert: Any) -> Any:
        try:
            response = await convert(BoltResponse(status=status, body=body, headers=headers))
        except ValueError as exc:  # aiohttp refuses a charset it finds in the content type
            return "refused", str(exc)
        payload = response.body
        raw = payload if isinstance(payload, bytes) else payload._value
        return response.status, list(response.headers.items()), response.content_type, response.charset, raw

    assert await made(bolt_fence.to_aiohttp_response) == await made(to_aiohttp_response)


def test_install_dispatches_through_the_fence() -> None:
    from slack_bolt.app.async_app import AsyncApp
    from slack_bolt.authorization.async_authorize import AsyncCallableAuthorize
    from slack_bolt.middleware.async_custom_middleware import AsyncCustomMiddleware

    bolt_fence.install()
    assert AsyncApp.async_dispatch is bolt_fence.dispatch
    assert AsyncApp._init_context is bolt_fence.init_context
    assert AsyncCustomMiddleware.async_process is bolt_fence.custom_middleware_process
    assert AsyncCallableAuthorize.__call__ is bolt_fence.callable_authorize
    assert async_request.parse_query is bolt_fence.parse_query
