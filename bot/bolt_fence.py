"""The Bolt fence: the one place that reaches into slack-bolt's internals, for speed.

Mirrors **slack-bolt 1.30** (pinned ``<1.31`` in pyproject.toml). Every other module in
``bot/`` uses Bolt as its documentation shows; what is here replaces two internal steps
with equivalents that give the same answers for less CPU, measured on the ask modal's
submission (docs/performance.md, "Inquiries at scale"):

- **Matching listeners.** Bolt tries the listeners in order and asks each built-in
  matcher (``app.view("inquiry")``, ``app.action(...)``) through its keyword-argument
  injection, which builds the request's whole argument set each time: ~30 µs a matcher,
  and a view submission passes ~25 of them before its own. A built-in matcher's function
  takes the body only (``slack_bolt/listener_matcher/builtins.py``,
  ``build_listener_matcher``), so it is called with the body directly.
- **Parsing the form body.** Slack sends interactive payloads as ``payload=<JSON>``,
  percent-encoded; a modal in Japanese is thousands of escapes, and
  ``urllib.parse.parse_qsl`` decodes them one at a time in Python (~0.6 ms for the ask
  modal). ``parse_body`` here is Bolt's ``slack_bolt.request.internals.parse_body`` with
  a ``parse_qsl`` that decodes them in C (0.02 ms) — the same result for every input
  (tests/unit/test_bolt_fence.py compares both on hostile and random bodies).
- **Building a function's arguments.** Before every custom middleware and listener,
  Bolt's ``build_async_required_kwargs`` computes all ~30 arguments it can inject —
  the body looked up as eight kinds of payload, a dozen ``say``/``respond``/… helpers
  made — and keeps the two or three the function names: ~20 µs each time, four times
  for every slash command (three middleware and the listener). ``required_kwargs``
  builds only the arguments named when each of them is one of the few it can take
  straight from the request (``context``, ``body``, ``ack``, ``next``…), the very
  values Bolt would pass, and leaves in the context the helpers Bolt's builder makes
  there (``say``, ``respond``…); any other name takes Bolt's own path.
- **The request's context.** ``AsyncApp._init_context`` constructs a new
  ``AsyncWebClient`` for every request (so a listener may change its token safely):
  the constructor reads four proxy variables from the environment and formats the
  user agent each time (~10 µs). ``init_context`` copies a client constructed once from
  the same arguments and sets what differs per request (token, team, its own list of
  retry handlers): the same attributes, a new object per request as before. The
  environment's proxy is read once per process (when the first request needs the copy)
  instead of on every request.
- **The query string.** Slack posts to a URL without one; Bolt parses the empty
  string with ``urllib.parse.parse_qs`` all the same. ``parse_query("")`` is ``{}``.
- **Dispatching.** ``dispatch`` is ``AsyncApp.async_dispatch`` with
  ``AsyncioListenerRunner.run``'s ``process_before_response`` branch inlined, minus the
  debug lines Bolt formats for every request whether its logger writes them or not
  (a listener's name per listener tried, the response body on completion); a custom
  middleware's function and a callable ``authorize`` are called with their arguments
  built directly (``custom_middleware_process``, ``callable_authorize``) instead of
  through Bolt's generic argument sets. With DEBUG logging, lazy listeners or without
  ``process_before_response`` it is Bolt's own.
- **The aiohttp response.** ``to_aiohttp_response`` is the aiohttp adapter's own with
  the body encoded once (the adapter hands aiohttp a ``str``, which goes through
  aiohttp's payload registry) and the charset dropped without a regular expression:
  the same status, headers and bytes.

``install()`` is idempotent; with any other Bolt version it changes nothing (stock Bolt
is correct, only slower) and logs why.
"""

from __future__ import annotations

import binascii
import json
import logging
import re
import urllib.parse
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from aiohttp import web
from slack_bolt.adapter import aiohttp as bolt_aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncCallableAuthorize
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.kwargs_injection import async_utils
from slack_bolt.listener import async_listener
from slack_bolt.listener_matcher.async_builtins import AsyncBuiltinListenerMatcher
from slack_bolt.logger import _configure_from_base_logger, _configure_from_root
from slack_bolt.logger.messages import (
    warning_unhandled_by_global_middleware as _warning_unhandled_by_global_middleware,
)
from slack_bolt.middleware import async_custom_middleware
from slack_bolt.middleware.async_custom_middleware import AsyncCustomMiddleware
from slack_bolt.request import async_request
from slack_bolt.request import internals as request_internals
from slack_bolt.response import BoltResponse
from slack_bolt.util.utils import get_name_for_callable as _name_for_callable
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("madoguchi.slack")

MIRRORED = "1.30."


def unquote_plus(text: str) -> str:
    """``urllib.parse.unquote_plus(text)`` (UTF-8, errors="replace").

    urllib decodes an ASCII string's escapes one by one in Python. Quoted-printable is
    the same escaping with ``=`` for ``%``, and ``binascii.a2b_qp`` decodes it in C; it
    differs only around a ``=`` of the input, line breaks, and escapes that are not two
    hex digits. The first two are ruled out before; the third shows in the length (each
    valid escape shortens the text by exactly two, an invalid one by one at most), and
    anything unusual takes urllib's own path."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if text.isascii() and "=" not in text and "\n" not in text and "\r" not in text:
        raw = binascii.a2b_qp(text.replace("%", "="))
        if len(raw) == len(text) - 2 * text.count("%"):
            return raw.decode("utf-8", "replace")
    return urllib.parse.unquote(text)


def parse_qsl(body: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(body, keep_blank_values=True)`` as of Python 3.11–3.13:
    ``&``-separated, empty fields skipped, a field without ``=`` kept with an empty
    value."""
    pairs = []
    for field in body.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def parse_body(body: str, content_type: str | None) -> Any:
    """``slack_bolt.request.internals.parse_body`` (1.30) on ``parse_qsl`` above."""
    if not body:
        return {}
    if (content_type is not None and content_type == "application/json") or body.startswith("{"):
        return json.loads(body)
    if "payload" in body:
        payload = dict(parse_qsl(body)).get("payload")
        return json.loads(payload) if payload is not None else {}
    return dict(parse_qsl(body))


# The arguments ``required_kwargs`` builds itself, each as Bolt 1.30's
# ``build_async_required_kwargs`` computes it from (logger, request, response):
# ``client`` and ``ack`` are the context's properties, which Bolt reads too.
_DIRECT: dict[str, Callable[[logging.Logger, Any, Any], Any]] = {
    "logger": lambda logger, request, response: logger,
    "client": lambda logger, request, response: request.context.client,
    "req": lambda logger, request, response: request,
    "request": lambda logger, request, response: request,
    "resp": lambda logger, request, response: response,
    "response": lambda logger, request, response: response,
    "context": lambda logger, request, response: request.context,
    "body": lambda logger, request, response: request.body,
    "ack": lambda logger, request, response: request.context.ack,
}
# A middleware's ``next`` (Bolt offers it under both names when ``next_keys_required``).
_NEXT = ("next", "next_")


def required_kwargs(
    *,
    logger: logging.Logger,
    required_arg_names: Any,
    request: Any,
    response: Any,
    next_func: Any = None,
    this_func: Any = None,
    error: Exception | None = None,
    next_keys_required: bool = True,
) -> dict[str, Any]:
    """``slack_bolt.kwargs_injection.async_utils.build_async_required_kwargs`` (1.30) for
    a function whose every argument is in ``_DIRECT`` (or is a middleware's ``next``):
    those arguments only. Anything else (``self``/``cls`` first, which Bolt drops from
    the list the first time; ``say``, ``view``, a context key, ``args``…) takes Bolt's
    own path."""
    names = required_arg_names
    if (
        names
        and error is None
        and all(name in _DIRECT or (next_keys_required and name in _NEXT) for name in names)
    ):
        context = request.context
        # What Bolt's builder leaves in the context whichever arguments are named, made
        # the same way in the same order: listeners read ``context["respond"]`` later.
        context.client, context.ack, context.say, context.respond, context.complete, context.fail  # noqa: B018
        return {
            name: next_func if name in _NEXT else _DIRECT[name](logger, request, response) for name in names
        }
    return _stock_kwargs(
        logger=logger,
        required_arg_names=required_arg_names,
        request=request,
        response=response,
        next_func=next_func,
        this_func=this_func,
        error=error,
        next_keys_required=next_keys_required,
    )


_stock_kwargs = async_utils.build_async_required_kwargs


def parse_query(query: Any) -> Any:
    """``slack_bolt.request.internals.parse_query`` (1.30); ``{}`` straight away for the
    empty query string (``dict(parse_qs(""))``)."""
    if query == "":
        return {}
    return _stock_parse_query(query)


_stock_parse_query = request_internals.parse_query

# Per app: (the app's client, a client constructed from the same arguments as Bolt's
# per-request client, token and team left unset).
_templates: dict[int, tuple[AsyncWebClient, AsyncWebClient]] = {}


def _request_client(app: AsyncApp, token: str | None, team_id: str | None) -> AsyncWebClient:
    """What ``AsyncApp._init_context`` (1.30) constructs: ``AsyncWebClient(token=token,
    base_url=…, timeout=…, ssl=…, proxy=…, session=…, trust_env_in_session=…, headers=…,
    team_id=team_id, logger=…, retry_handlers=<a copy of the app client's>)``."""
    base = app._async_client
    held = _templates.get(id(app))
    if held is None or held[0] is not base:
        template = AsyncWebClient(
            token=None,
            base_url=base.base_url,
            timeout=base.timeout,
            ssl=base.ssl,
            proxy=base.proxy,
            session=base.session,
            trust_env_in_session=base.trust_env_in_session,
            headers=base.headers,
            team_id=None,
            logger=base.logger,
            retry_handlers=base.retry_handlers,
        )
        held = _templates[id(app)] = (base, template)
    client = object.__new__(AsyncWebClient)  # copy.copy without its reduce protocol
    client.__dict__.update(held[1].__dict__)
    # The constructor's own steps for the values that differ per request.
    client.token = None if token is None else token.strip()
    client.default_params = {} if team_id is None else {"team_id": team_id}
    client.retry_handlers = base.retry_handlers.copy()
    return client


def _app_logger(name: str, base_logger: logging.Logger | None) -> logging.Logger:
    """``slack_bolt.logger.get_bolt_app_logger(app_name=name, base_logger=…)`` (1.30):
    the same logger, configured the same way on every call, without taking logging's
    module lock each time to look it up (``logging.getLogger`` returns one object per
    name for the life of the process)."""
    logger = _app_loggers.get(name)
    if logger is None:
        logger = _app_loggers[name] = logging.getLogger(name)
    if base_logger is not None:
        _configure_from_base_logger(logger, base_logger)
    else:
        _configure_from_root(logger)
    return logger


_app_loggers: dict[str, logging.Logger] = {}


def init_context(self: AsyncApp, req: Any) -> None:
    """``AsyncApp._init_context`` (1.30) with the per-request client from ``_request_client``."""
    req.context["logger"] = _app_logger(self.name, self._base_logger)
    req.context["token"] = self._token
    req.context["client"] = _request_client(self, self._token, req.context.team_id)
    req.context["listener_runner"] = self.listener_runner


def _no_charset(content_type: str) -> str:
    r"""``re.sub(r";\s*charset=utf-8", "", content_type)``: BoltResponse's two content
    types and one without ``;`` need no regular expression; anything else takes it."""
    if content_type == "application/json;charset=utf-8":
        return "application/json"
    if content_type == "text/plain;charset=utf-8":
        return "text/plain"
    if ";" not in content_type:
        return content_type
    return _CHARSET.sub("", content_type)


_CHARSET = re.compile(r";\s*charset=utf-8")


async def to_aiohttp_response(bolt_resp: BoltResponse) -> web.Response:
    """``slack_bolt.adapter.aiohttp.to_aiohttp_response`` (1.30) with the body given to
    aiohttp as UTF-8 bytes (what its ``StringPayload`` makes of the ``str``: the content
    type carries no charset) and cookies handled only when there are some."""
    if "set-cookie" in bolt_resp.headers:
        return await _stock_to_aiohttp_response(bolt_resp)
    content_type = bolt_resp.headers.pop(
        "content-type",
        ["application/json" if bolt_resp.body.startswith("{") else "text/plain"],
    )[0]
    return web.Response(
        status=bolt_resp.status,
        body=bolt_resp.body.encode("utf-8"),
        headers=bolt_resp.first_headers_without_set_cookie(),
        content_type=_no_charset(content_type),
    )


_stock_to_aiohttp_response = bolt_aiohttp.to_aiohttp_response


def _direct_names(names: Any) -> bool:
    """Whether ``required_kwargs`` builds every one of ``names`` itself. Cached per list
    (a middleware's and a listener's own) and its length: Bolt drops a method's ``self``
    from that very list on the first call."""
    known = _direct_lists.get(id(names))
    if known is None or known[0] is not names or known[1] != len(names):
        ok = bool(names) and all(name in _DIRECT or name in _NEXT for name in names)
        known = _direct_lists[id(names)] = (names, len(names), ok)
    return known[2]


_direct_lists: dict[int, tuple[Any, int, bool]] = {}


async def custom_middleware_process(self: AsyncCustomMiddleware, *, req: Any, resp: Any, next: Any) -> Any:
    """``AsyncCustomMiddleware.async_process`` (1.30): its function called with
    ``build_async_required_kwargs``'s arguments, built as ``required_kwargs`` does."""
    names = self.arg_names
    if _direct_names(names):
        context = req.context
        context.client, context.ack, context.say, context.respond, context.complete, context.fail  # noqa: B018
        logger = self.logger
        return await self.func(
            **{name: next if name in _NEXT else _DIRECT[name](logger, req, resp) for name in names}
        )
    return await _stock_custom_process(self, req=req, resp=resp, next=next)


_stock_custom_process = AsyncCustomMiddleware.async_process

# What ``AsyncCallableAuthorize.__call__`` (1.30) offers a function besides ``args``,
# ``logger``, ``client`` and the context's own keys: its keyword arguments and the
# context, which take precedence over a context key of the same name.
_AUTHORIZE_DIRECT = frozenset(
    (
        "context",
        "enterprise_id",
        "team_id",
        "user_id",
        "actor_enterprise_id",
        "actor_team_id",
        "actor_user_id",
    )
)


async def callable_authorize(
    self: AsyncCallableAuthorize,
    *,
    context: Any,
    enterprise_id: str | None,
    team_id: str | None,
    user_id: str | None,
    actor_enterprise_id: str | None = None,
    actor_team_id: str | None = None,
    actor_user_id: str | None = None,
) -> AuthorizeResult | None:
    """``AsyncCallableAuthorize.__call__`` (1.30) for a function whose arguments are all
    in ``_AUTHORIZE_DIRECT``: the same call and checks without building the rest (an
    ``AsyncAuthorizeArgs``, a copy of the context)."""
    names = self.arg_names
    if not all(name in _AUTHORIZE_DIRECT for name in names):
        return await _stock_authorize(
            self,
            context=context,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            actor_enterprise_id=actor_enterprise_id,
            actor_team_id=actor_team_id,
            actor_user_id=actor_user_id,
        )
    offered = {
        "context": context,
        "enterprise_id": enterprise_id,
        "team_id": team_id,
        "user_id": user_id,
        "actor_enterprise_id": actor_enterprise_id,
        "actor_team_id": actor_team_id,
        "actor_user_id": actor_user_id,
    }
    try:
        auth_result: AuthorizeResult | None = await self.func(**{name: offered[name] for name in names})
        if auth_result is None:
            return auth_result
        if isinstance(auth_result, AuthorizeResult):
            return auth_result
        raise ValueError(f"Unexpected returned value from authorize function (type: {type(auth_result)})")
    except SlackApiError as err:
        self.logger.debug(
            f"The stored bot token for enterprise_id: {enterprise_id} team_id: {team_id} "
            f"is no longer valid. (response: {err.response})"
        )
        return None


_stock_authorize = AsyncCallableAuthorize.__call__


async def dispatch(self: AsyncApp, req: Any) -> BoltResponse:
    """``AsyncApp.async_dispatch`` (1.30), its listener run as ``AsyncioListenerRunner.run``
    runs it with ``process_before_response``, without the debug lines; Bolt's own for
    anything else (see the module's docstring)."""
    runner = self._async_listener_runner
    framework_logger = self._framework_logger
    if (
        not runner.process_before_response
        or req.lazy_only
        or framework_logger.level <= logging.DEBUG
        or framework_logger.isEnabledFor(logging.DEBUG)
        or runner.logger.isEnabledFor(logging.DEBUG)
    ):
        return await _stock_dispatch(self, req)
    self._init_context(req)

    resp: BoltResponse | None = BoltResponse(status=200, body="")
    middleware_state = {"next_called": False}

    async def async_middleware_next() -> None:
        middleware_state["next_called"] = True

    try:
        for middleware in self._async_middleware_list:
            middleware_state["next_called"] = False
            resp = await middleware.async_process(req=req, resp=resp, next=async_middleware_next)  # type: ignore[arg-type]
            if not middleware_state["next_called"]:
                if resp is None:
                    resp = BoltResponse(status=404, body={"error": "no next() calls in middleware"})
                    if self._raise_error_for_unhandled_request is True:
                        try:
                            raise BoltUnhandledRequestError(
                                request=req,
                                current_response=resp,
                                last_global_middleware_name=middleware.name,
                            )
                        except BoltUnhandledRequestError as e:
                            await runner.listener_error_handler.handle(error=e, request=req, response=resp)
                        return resp
                    framework_logger.warning(_warning_unhandled_by_global_middleware(middleware.name, req))
                    return resp
                return resp

        for listener in self._async_listeners:
            if await listener.async_matches(req=req, resp=resp):  # type: ignore[arg-type]
                middleware_resp, next_was_not_called = await listener.run_async_middleware(req=req, resp=resp)  # type: ignore[arg-type]
                if next_was_not_called:
                    if middleware_resp is not None:
                        return middleware_resp
                    continue
                if middleware_resp is not None:
                    resp = middleware_resp
                if listener.lazy_functions:
                    listener_response = await runner.run(
                        request=req,
                        response=resp,  # type: ignore[arg-type]
                        listener_name=_name_for_callable(listener.ack_function),
                        listener=listener,
                    )
                else:
                    listener_response = await _run_listener(runner, req, resp, listener)
                if listener_response is not None:
                    return listener_response

        if resp is None:
            resp = BoltResponse(status=404, body={"error": "unhandled request"})
        if self._raise_error_for_unhandled_request is True:
            try:
                raise BoltUnhandledRequestError(request=req, current_response=resp)
            except BoltUnhandledRequestError as e:
                await runner.listener_error_handler.handle(error=e, request=req, response=resp)
            return resp
        return self._handle_unmatched_requests(req, resp)

    except Exception as error:
        resp = BoltResponse(status=500, body="")
        await self._async_middleware_error_handler.handle(error=error, request=req, response=resp)
        return resp


async def _run_listener(runner: Any, request: Any, response: Any, listener: Any) -> BoltResponse | None:
    """``AsyncioListenerRunner.run`` (1.30) with ``process_before_response``, for a request
    that is not lazy-only and a listener without lazy functions, minus the debug line."""
    ack = request.context.ack
    try:
        await runner.listener_start_handler.handle(request=request, response=response)
        returned_value = await listener.run_ack_function(request=request, response=response)
        if isinstance(returned_value, BoltResponse):
            response = returned_value
        if ack.response is None and listener.auto_acknowledgement:
            await ack()
    except Exception as e:
        if response is None:
            response = BoltResponse(status=500)
        response.status = 500
        await runner.listener_error_handler.handle(error=e, request=request, response=response)
        ack.response = response
    finally:
        await runner.listener_completion_handler.handle(request=request, response=response)
    if response is not None:
        return response  # type: ignore[no-any-return]
    if ack.response is not None:
        return ack.response  # type: ignore[no-any-return]
    return None


_stock_dispatch = AsyncApp.async_dispatch
_installed = False


def install() -> None:
    """Put the equivalents in place (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    found = version("slack-bolt")
    if not found.startswith(MIRRORED):
        log.warning("slack: slack-bolt %s, fence mirrors %sx: Bolt runs unmodified", found, MIRRORED)
        return
    stock = AsyncBuiltinListenerMatcher.async_matches

    async def async_matches(self: AsyncBuiltinListenerMatcher, req: Any, resp: Any) -> bool:
        if self.arg_names == ["body"]:
            return bool(await self.func(body=req.body))  # type: ignore[misc]
        return await stock(self, req, resp)

    AsyncBuiltinListenerMatcher.async_matches = async_matches  # type: ignore[method-assign]
    async_request.parse_body = parse_body  # type: ignore[attr-defined]
    # Where a slash command's middleware and listener get their arguments (each module
    # imported the function by name).
    async_custom_middleware.build_async_required_kwargs = required_kwargs  # type: ignore[attr-defined]
    async_listener.build_async_required_kwargs = required_kwargs  # type: ignore[attr-defined]
    async_request.parse_query = parse_query  # type: ignore[attr-defined]
    AsyncApp._init_context = init_context  # type: ignore[method-assign]
    AsyncApp.async_dispatch = dispatch  # type: ignore[method-assign]
    AsyncCustomMiddleware.async_process = custom_middleware_process  # type: ignore[method-assign]
    AsyncCallableAuthorize.__call__ = callable_authorize  # type: ignore[method-assign]
