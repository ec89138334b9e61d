"""The dashboard as a WSGI application: routes, templates (jinja2), static files.

Read-only: GET and HEAD only. A page that cannot show its content says why in one plain
sentence (framework.ui.source.Problem); anything unexpected is logged with its traceback
and answered with a one-line error page, and the server goes on serving. Each answer
carries its server-side time in a Server-Timing header (`app;dur=<ms>`).
"""

from __future__ import annotations

import importlib.util
import logging
import mimetypes
import os
import re
import threading
import time
from typing import Callable, Optional
from urllib.parse import parse_qs, quote, unquote

from framework.ui.source import Problem, Source

log = logging.getLogger("mlops.ui")

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "templates")
STATIC = os.path.join(HERE, "static")
PLOTLY_JS = "plotly.min.js"
# Pages and scripts come from this server only: nothing from a CDN. plotly.js adds <style>
# elements of its own, hence the inline styles.
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; script-src 'self'; "
     "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
]
NAV = [("runs", "Runs", "/runs"), ("data", "Data", "/data"), ("model", "Model", "/model"),
       ("lineage", "Lineage", "/lineage"), ("ct", "Continuous training", "/ct"),
       ("release", "Release", "/release")]


def plotly_js_path() -> Optional[str]:
    """plotly.min.js inside the installed `plotly` package, or None without it."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "package_data", PLOTLY_JS)
    return path if os.path.isfile(path) else None


class BadRequest(Problem):
    def __init__(self, message: str):
        super().__init__(message, status=400)


def _int(query: dict, name: str, default: Optional[int] = None) -> Optional[int]:
    raw = (query.get(name) or [""])[0].strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be a number, got {raw!r}") from None


def _text(query: dict, name: str) -> Optional[str]:
    raw = (query.get(name) or [""])[0].strip()
    return raw or None


# -- template filters --------------------------------------------------------------------


def _number(value, digits: int = 4) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        if abs(value) >= 1e5:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def _percent(value, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.{digits}f}%"


def _ms(value) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def _path(value) -> str:
    return quote(str(value), safe="")


class Dashboard:
    """The WSGI application. `source` defaults to the settings' stores, opened read-only."""

    def __init__(self, settings, source: Optional[Source] = None, definition: bool = True):
        import jinja2

        self.settings = settings
        self.source = source or Source(settings, definition=definition)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                      autoescape=jinja2.select_autoescape(["html"]),
                                      trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(num=_number, pct=_percent, ms=_ms, path=_path)
        self.env.globals.update(nav=NAV, settings=settings, read_only=True)
        self._plotly: Optional[bytes] = None
        self._plotly_lock = threading.Lock()
        self.routes: list[tuple[re.Pattern, str, Callable]] = [
            (re.compile(r"^/$"), "runs", lambda m, q: self.redirect("/runs")),
            (re.compile(r"^/runs/?$"), "runs", self.runs),
            (re.compile(r"^/runs/(?P<run>[^/]+)/?$"), "runs", self.run),
            (re.compile(r"^/artifacts/(?P<id>\d+)/?$"), "runs", self.artifact),
            (re.compile(r"^/data/?$"), "data", self.data),
            (re.compile(r"^/model/?$"), "model", self.model),
            (re.compile(r"^/lineage/?$"), "lineage", self.lineage),
            (re.compile(r"^/ct/?$"), "ct", self.ct),
            (re.compile(r"^/release/?$"), "release", self.release),
        ]

    # -- WSGI ---------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        if method not in ("GET", "HEAD"):
            return self._send(start_response, 405, b"the dashboard is read-only: GET only\n",
                              "text/plain; charset=utf-8", started, method,
                              extra=[("Allow", "GET, HEAD")])
        if path == "/favicon.ico":
            return self._send(start_response, 204, b"", "image/x-icon", started, method,
                              cache="public, max-age=86400")
        if path.startswith("/static/"):
            return self._static(start_response, path[len("/static/"):], started, method)
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        section, handler, match = "", None, None
        for pattern, route_section, route_handler in self.routes:
            match = pattern.match(path)
            if match:
                section, handler = route_section, route_handler
                break
        try:
            if handler is None:
                raise Problem(f"no page at {path}", status=404)
            answer = handler(match, query)
            if isinstance(answer, tuple):  # a redirect
                status, location = answer
                return self._send(start_response, status, b"", "text/plain", started, method,
                                  extra=[("Location", location)])
            status, body = 200, answer
        except Problem as problem:
            status = problem.status
            body = self.render("problem.html", section, problem=problem, error=None)
        except Exception as exc:  # logged in full; the page gets one line, the server goes on
            log.exception("the page %s failed", path)
            self.source.forget_store()
            line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            status = 500
            body = self.render("problem.html", section, problem=None,
                               error=f"{type(exc).__name__}: {line}"[:500])
        return self._send(start_response, status, body.encode("utf-8"),
                          "text/html; charset=utf-8", started, method)

    def _send(self, start_response, status: int, body: bytes, content_type: str,
              started: float, method: str, extra: Optional[list] = None, cache: str = "no-store"):
        reason = {200: "OK", 204: "No Content", 302: "Found", 304: "Not Modified", 400: "Bad Request",
                  404: "Not Found", 405: "Method Not Allowed",
                  500: "Internal Server Error"}.get(status, "")
        elapsed = (time.perf_counter() - started) * 1000
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
                   ("Cache-Control", cache), ("Server-Timing", f"app;dur={elapsed:.2f}"),
                   *SECURITY_HEADERS, *(extra or [])]
        start_response(f"{status} {reason}", headers)
        return [b""] if method == "HEAD" else [body]

    def redirect(self, location: str):
        return 302, location

    def _static(self, start_response, name: str, started: float, method: str):
        if name == PLOTLY_JS:
            body = self._plotly_bytes()
            if body is None:
                return self._send(start_response, 404, b"// plotly is not installed\n",
                                  "text/javascript", started, method)
            return self._send(start_response, 200, body, "text/javascript; charset=utf-8",
                              started, method, cache="public, max-age=86400")
        if "/" in name or name.startswith(".") or not os.path.isfile(os.path.join(STATIC, name)):
            return self._send(start_response, 404, b"not found\n", "text/plain", started, method)
        with open(os.path.join(STATIC, name), "rb") as handle:
            body = handle.read()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        return self._send(start_response, 200, body, kind, started, method,
                          cache="public, max-age=300")

    def _plotly_bytes(self) -> Optional[bytes]:
        with self._plotly_lock:
            if self._plotly is None:
                path = plotly_js_path()
                if path is None:
                    return None
                with open(path, "rb") as handle:
                    self._plotly = handle.read()
            return self._plotly

    def render(self, template: str, section: str, **context) -> str:
        return self.env.get_template(template).render(
            section=section, pipeline=self.source.pipeline, env=self.settings.env,
            store=self._where(), charts_available=plotly_js_path() is not None, **context)

    def _where(self) -> str:
        try:
            return self.source.where
        except Exception:  # describing the store must never break a page
            return "?"

    # -- pages ----------------------------------------------------------------------------

    def runs(self, match, query) -> str:
        from framework.ui.ct import decisions
        from framework.ui.runs import runs_page

        pipeline = _text(query, "pipeline") or self.source.pipeline
        records = decisions(self.source) if pipeline == self.source.pipeline else []
        data = runs_page(self.source, pipeline, _text(query, "status"), _int(query, "page", 1),
                         ct_records=records)
        return self.render("runs.html", "runs", data=data)

    def run(self, match, query) -> str:
        from framework.ui.run import run_detail

        data = run_detail(self.source, unquote(match.group("run")), self.settings)
        return self.render("run.html", "runs", data=data)

    def artifact(self, match, query) -> str:
        from framework.ui.run import artifact_detail

        data = artifact_detail(self.source, int(match.group("id")))
        return self.render("artifact.html", "runs", data=data)

    def data(self, match, query) -> str:
        from framework.ui.data import data_page

        data = data_page(self.source, _text(query, "pipeline"), _int(query, "examples"),
                         _int(query, "statistics"), _text(query, "split"),
                         _int(query, "compare"))
        return self.render("data.html", "data", data=data)

    def model(self, match, query) -> str:
        from framework.ui.model import model_page

        data = model_page(self.source, _text(query, "pipeline"), _int(query, "evaluation"),
                          _text(query, "run"), _text(query, "version"))
        return self.render("model.html", "model", data=data)

    def lineage(self, match, query) -> str:
        from framework.ui.lineage import lineage_page

        data = lineage_page(self.source, _text(query, "pipeline"), _text(query, "ref"),
                            _int(query, "artifact"))
        return self.render("lineage.html", "lineage", data=data)

    def ct(self, match, query) -> str:
        from framework.ui.ct import ct_page

        data = ct_page(self.source, _int(query, "page", 1), _text(query, "fired") == "1")
        return self.render("ct.html", "ct", data=data)

    def release(self, match, query) -> str:
        from framework.ui.release import release_page

        return self.render("release.html", "release", data=release_page(self.source))
