"""The business-day calendar on the web door (SPEC §4.10): ``/calendar`` (the month as a
page, ja/en, ``?month=YYYY-MM``) and ``/calendar.ics`` (the named closed days as
iCalendar, for calendar apps to subscribe to).

Every fact comes from ``core.business_days`` (the one calendar the due dates use); this
module only lays it out. The feed covers this year and next (JST) so a subscription keeps
showing the coming closures without growing forever; each day's UID is its date at the
public host, so a refreshed feed updates events instead of duplicating them.
"""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlsplit

from aiohttp import web
from icalendar import Calendar, Event

from core import business_days
from core.clock import JST
from core.dates import long_date
from core.errors import DomainError
from core.messages import in_locale
from core.unit_of_work import Core
from web.public import SECURITY_HEADERS, locale_of, page

ICS_CONTENT_TYPE = "text/calendar"


def add_routes(core: Core, app: web.Application) -> None:
    pages = CalendarPages(core)
    app.router.add_get("/calendar", pages.month)
    app.router.add_get("/calendar.ics", pages.feed)


class CalendarPages:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.settings = core.settings

    async def month(self, request: web.Request) -> web.Response:
        locale, _ = locale_of(request, self.settings)
        t = in_locale(locale)
        asked = request.query.get("month")
        try:
            month = business_days.parse_month(asked) if asked is not None else None
        except DomainError as exc:
            return page(
                self.settings,
                request,
                "calendar_bad_month.html.j2",
                status=400,
                message=t(exc.message_id, **exc.params),
            )
        view = business_days.month_view(self.settings, self.core.clock.now(), locale, month)
        months = t("calendar.months").split(",")
        weeks = [
            [
                None
                if d is None
                else {
                    "day": d.day.day,
                    "iso": d.day.isoformat(),
                    "business": d.business,
                    "today": d.today,
                    "weekend": "weekend" in d.reasons,
                    "names": "・".join(d.names),
                }
                for d in week
            ]
            for week in view.weeks
        ]
        answer = t(
            "calendar.answer_due",
            date=long_date(view.answer_due, locale),
            days=self.settings.answer_business_days,
            cutoff=self.settings.cutoff.strftime("%H:%M"),
        )
        today_fact = "calendar.today_open" if view.today_is_business_day else "calendar.today_closed"
        return page(
            self.settings,
            request,
            "calendar.html.j2",
            keep={"month": f"{view.year:04d}-{view.month:02d}"} if month else None,
            title=t(
                "calendar.month_title", year=view.year, month=view.month, month_name=months[view.month - 1]
            ),
            heads=t("calendar.grid_heads").split(","),
            weeks=weeks,
            named=[{"date": d.day, "names": "・".join(d.names)} for d in view.named_days],
            no_named=t("calendar.no_closed_days"),
            closed_title=t("calendar.closed_days"),
            legend=t("calendar.legend_page"),
            facts=[
                t(today_fact, date=long_date(view.today, locale)),
                t("calendar.next_business_day", date=long_date(view.next_business_day, locale)),
                answer,
            ],
            previous={
                "month": f"{view.previous[0]:04d}-{view.previous[1]:02d}",
                "label": t("calendar.previous"),
            },
            following={
                "month": f"{view.following[0]:04d}-{view.following[1]:02d}",
                "label": t("calendar.following"),
            },
            feed=self.settings.calendar_feed_url,
            subscribe=t("calendar.subscribe", url=self.settings.calendar_feed_url),
        )

    async def feed(self, request: web.Request) -> web.Response:
        locale, _ = locale_of(request, self.settings)
        now = self.core.clock.now()
        this_year = now.astimezone(JST).year
        days = business_days.closed_days(
            self.settings, date(this_year, 1, 1), date(this_year + 1, 12, 31), locale
        )
        host = urlsplit(self.settings.public_url).hostname or "madoguchi.invalid"
        name = in_locale(locale)("calendar.feed_name", vendor=self.settings.vendor_name)
        cal = Calendar()
        cal.add("prodid", "-//madoguchi//business-day calendar//JA")
        cal.add("version", "2.0")
        cal.add("calscale", "GREGORIAN")
        cal.add("method", "PUBLISH")
        cal.add("x-wr-calname", name)
        cal.add("x-wr-timezone", "Asia/Tokyo")
        for closed in days:
            event = Event()
            # Stable per day and place: a refreshed subscription updates, never duplicates.
            event.add("uid", f"closed-{closed.day:%Y%m%d}@{host}")
            event.add("dtstamp", now)
            event.add("dtstart", closed.day)
            event.add("dtend", closed.day + timedelta(days=1))
            event.add("summary", "・".join(closed.names))
            event.add("categories", [_category(closed.reasons)])
            # Shown, but not "busy": a closure is not the subscriber's own appointment.
            event.add("transp", "TRANSPARENT")
            cal.add_component(event)
        response = web.Response(body=cal.to_ical(), content_type=ICS_CONTENT_TYPE, charset="utf-8")
        response.headers.update(SECURITY_HEADERS)
        response.headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
        response.headers["Cache-Control"] = "public, max-age=3600"
        response.headers["Vary"] = "Accept-Language, Cookie"
        return response


def _category(reasons: tuple[str, ...]) -> str:
    """A machine-readable kind for clients that filter: HOLIDAY or CLOSURE."""
    return "HOLIDAY" if "holiday" in reasons else "CLOSURE"
