"""A Jenkins HTTP double on 127.0.0.1: the endpoints python-jenkins calls for jobs and builds.

Answers: crumbIssuer/api/json; job/<name>[/job/<name>...]/api/json (name query and job
info); createItem?name=; job/.../config.xml (GET, POST); job/.../buildWithParameters and
build (POST, 201 + Location of a queue item); queue/item/<n>/api/json. It enforces what
a real Jenkins does: basic auth, the crumb header on POST, XML content type on config
posts, no duplicate job names, 404 for an unknown job, and parameters only for a job
that declares them (a multibranch branch job gets them from its Jenkinsfile).
"""

from __future__ import annotations

import base64
import json
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

CRUMB_FIELD, CRUMB = "Jenkins-Crumb", "double-crumb-1234"


@dataclass
class Job:
    config: str
    builds: list[dict] = field(default_factory=list)

    @property
    def parameter_names(self) -> list[str]:
        definitions = ET.fromstring(self.config.encode()).find(".//parameterDefinitions")
        if definitions is None:
            return []
        return [d.findtext("name") for d in definitions]


@dataclass
class JenkinsState:
    user: str
    token: str
    jobs: dict[str, Job] = field(default_factory=dict)
    queue: dict[int, dict] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_queue: int = 1


def _job_path(parts: list[str]) -> tuple[str, list[str]]:
    """['job','a','job','b','config.xml'] -> ('a/b', ['config.xml'])."""
    names = []
    while len(parts) >= 2 and parts[0] == "job":
        names.append(unquote(parts[1]))
        parts = parts[2:]
    return "/".join(names), parts


def make_handler(state: JenkinsState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _send(self, code: int, body: str = "", ctype: str = "application/json",
                  headers: dict | None = None):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Jenkins", "2.440.3")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            expected = "Basic " + base64.b64encode(f"{state.user}:{state.token}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._send(401, "unauthorised", "text/plain")
                return False
            return True

        def _route(self, method: str):
            url = urlsplit(self.path)
            query = dict(parse_qsl(url.query))
            state.requests.append((method, url.path))
            if not self._authorised():
                return
            body = b""
            if method == "POST":
                if self.headers.get(CRUMB_FIELD) != CRUMB:
                    return self._send(403, "No valid crumb was included in the request",
                                      "text/plain")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = [p for p in url.path.split("/") if p]
            if parts == ["crumbIssuer", "api", "json"] and method == "GET":
                return self._send(200, json.dumps({"crumbRequestField": CRUMB_FIELD,
                                                   "crumb": CRUMB}))
            if parts == ["createItem"] and method == "POST":
                return self._create(query.get("name", ""), body)
            if parts[:2] == ["queue", "item"] and method == "GET":
                item = state.queue.get(int(parts[2]))
                return self._send(200, json.dumps(item)) if item else self._send(404)
            name, rest = _job_path(parts)
            job = state.jobs.get(name)
            if not name or job is None:
                return self._send(404, "not found", "text/plain")
            # A job inside a folder is created with POST folder/createItem?name=.
            if rest == ["createItem"] and method == "POST":
                return self._create(f"{name}/{query.get('name', '')}", body)
            if rest == ["api", "json"] and method == "GET":
                return self._send(200, json.dumps(self._info(name, job, query)))
            if rest == ["config.xml"] and method == "GET":
                return self._send(200, job.config, "application/xml")
            if rest == ["config.xml"] and method == "POST":
                if not self._valid_xml(body):
                    return
                job.config = body.decode()
                return self._send(200)
            if rest in (["buildWithParameters"], ["build"]) and method == "POST":
                return self._build(name, job, query, rest[0])
            return self._send(404, "not found", "text/plain")

        def _valid_xml(self, body: bytes) -> bool:
            if not self.headers.get("Content-Type", "").startswith("text/xml"):
                self._send(415, "config.xml must be posted as text/xml", "text/plain")
                return False
            try:
                ET.fromstring(body)
            except ET.ParseError as exc:
                self._send(500, f"bad config.xml: {exc}", "text/plain")
                return False
            return True

        def _create(self, name: str, body: bytes):
            if not name or name.endswith("/"):
                return self._send(400, "no name", "text/plain")
            if name in state.jobs:
                return self._send(400, f"A job already exists with the name '{name}'",
                                  "text/plain")
            if not self._valid_xml(body):
                return
            state.jobs[name] = Job(body.decode())
            return self._send(200)

        def _info(self, name: str, job: Job, query: dict) -> dict:
            short = name.rsplit("/", 1)[-1]
            if query.get("tree") == "name":
                return {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                        "name": short}
            last = job.builds[-1] if job.builds else None
            return {"name": short, "fullName": name, "url": self._url(name),
                    "buildable": True, "nextBuildNumber": len(job.builds) + 1,
                    "lastBuild": last and {"number": last["number"], "url": last["url"]},
                    "builds": [{"number": b["number"], "url": b["url"]} for b in job.builds]}

        def _url(self, name: str) -> str:
            host, port = self.server.server_address[:2]
            return f"http://{host}:{port}/" + "".join(f"job/{n}/" for n in name.split("/"))

        def _build(self, name: str, job: Job, query: dict, kind: str):
            params = {k: v for k, v in query.items() if k != "token"}
            declared = job.parameter_names
            if kind == "buildWithParameters" and not declared:
                return self._send(400, f"{name} is not parameterized", "text/plain")
            unknown = sorted(set(params) - set(declared))
            if unknown:
                return self._send(400, f"unknown parameters {unknown}", "text/plain")
            number = len(job.builds) + 1
            build = {"number": number, "url": f"{self._url(name)}{number}/",
                     "parameters": params}
            job.builds.append(build)
            queue_id = state.next_queue
            state.next_queue += 1
            state.queue[queue_id] = {
                "id": queue_id, "task": {"name": name.rsplit("/", 1)[-1]},
                "actions": [{"parameters": [{"name": k, "value": v}
                                            for k, v in params.items()]}],
                "executable": {"number": number, "url": build["url"]},
            }
            host, port = self.server.server_address[:2]
            return self._send(201, "", "text/plain",
                              {"Location": f"http://{host}:{port}/queue/item/{queue_id}/"})

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

    return Handler


class JenkinsDouble:
    def __init__(self, user: str = "ci-bot", token: str = "s3cret-api-token"):
        self.state = JenkinsState(user, token)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "JenkinsDouble":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
