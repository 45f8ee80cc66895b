#!/usr/bin/env python3
"""Stateful fake ConnectWise Manage and Autotask APIs for the lifecycle
tests, served through FakePSA (fakepsa.py) as its default answer:

    psa = FakePSA(); psa.start()
    cw = FakeConnectWise(); psa.default(cw)

Each keeps its tickets and notes, checks the credentials and the fields
the vendor requires, and answers with the vendor's shapes and error
bodies (see ../shared/spec/psa/README.md).  What the Prism contract tests
check against the vendors' own schemas, these check as behaviour: ids,
lookups by key, picklist labels.
"""

import base64
import json
import re
import threading
import urllib.parse

CW_CODEBASE = "v2025_1/"
CW_BASE = "/" + CW_CODEBASE + "apis/3.0"


def _json_answer(status, obj):
    return {"status": status, "body": obj}


class FakeConnectWise:
    """company_id, public_key, private_key, client_id: the credentials it
    accepts.  tickets: id -> dict; notes: id -> [text]."""

    def __init__(self, company_id="acme", public_key="pub",
                 private_key="priv", client_id="client-guid"):
        self.company_id = company_id
        self.auth = "Basic " + base64.b64encode(
            ("%s+%s:%s" % (company_id, public_key, private_key))
            .encode()).decode()
        self.client_id = client_id
        self.tickets = {}
        self.notes = {}
        self.next_id = 1000
        self.lock = threading.Lock()

    def _error(self, status, code, message, errors=()):
        return _json_answer(status, {
            "code": code, "message": message,
            "errors": [{"code": "InvalidField", "message": m,
                        "resource": "ticket", "field": f}
                       for f, m in errors]})

    def __call__(self, r):
        path = r.path
        if path.startswith("/login/companyinfo/"):
            if path.rsplit("/", 1)[1] != self.company_id:
                return _json_answer(404, None)
            return _json_answer(200, {"CompanyName": "Acme MSP",
                                      "Codebase": CW_CODEBASE,
                                      "VersionCode": "v2025.1"})
        if not path.startswith(CW_BASE):
            return _json_answer(404, {"code": "NotFound",
                                      "message": "no route " + path})
        if r.header("Authorization") != self.auth:
            return self._error(401, "Unauthorized",
                               "The credentials are not valid")
        if r.header("clientId") != self.client_id:
            return self._error(400, "InvalidClientId",
                               "clientId header is missing or unknown")
        if not (r.header("Accept") or "").startswith(
                "application/vnd.connectwise.com+json; version="):
            return self._error(406, "NotAcceptable", "Accept header")
        rest = path[len(CW_BASE):]
        with self.lock:
            return self._route(r, rest)

    def _route(self, r, rest):
        m = re.fullmatch(r"/service/tickets/(\d+)(/notes)?", rest)
        if rest == "/service/tickets" and r.method == "GET":
            return self._find(r)
        if rest == "/service/tickets" and r.method == "POST":
            return self._create(r.json())
        if m and m.group(2) and r.method == "POST":
            return self._note(int(m.group(1)), r.json())
        if m and not m.group(2) and r.method == "PATCH":
            return self._patch(int(m.group(1)), r.json())
        return self._error(404, "NotFound", "no route " + rest)

    def _find(self, r):
        q = urllib.parse.parse_qs(r.query)
        cond = q.get("conditions", [""])[0]
        m = re.fullmatch(r'externalXRef="((?:[^"\\]|\\.)*)" and '
                         r'closedFlag=false', cond)
        if not m:
            return self._error(400, "InvalidConditions",
                               "cannot read conditions %r" % cond)
        key = re.sub(r"\\(.)", r"\1", m.group(1))
        found = [{"id": t["id"], "summary": t["summary"]}
                 for t in sorted(self.tickets.values(),
                                 key=lambda t: -t["id"])
                 if t.get("externalXRef") == key and not t["closedFlag"]]
        return _json_answer(200, found[:int(q.get("pageSize", ["25"])[0])])

    def _create(self, t):
        errors = []
        if not isinstance(t, dict):
            return self._error(400, "InvalidObject", "not an object")
        s = t.get("summary")
        if not isinstance(s, str) or not s:
            errors.append(("summary", "summary is required"))
        elif len(s.encode("utf-16-le")) // 2 > 100:
            errors.append(("summary", "summary longer than 100"))
        if not (t.get("company") or {}).get("identifier"):
            errors.append(("company", "company is required"))
        if (t.get("company") or {}).get("identifier") == "NoSuchCo":
            errors.append(("company/identifier", "Company not found."))
        if not (t.get("board") or {}).get("name"):
            errors.append(("board", "board is required"))
        if len(t.get("externalXRef") or "") > 100:
            errors.append(("externalXRef", "longer than 100"))
        if errors:
            return self._error(400, "InvalidObject",
                               "ticket object is invalid", errors)
        self.next_id += 1
        t = dict(t, id=self.next_id, closedFlag=False,
                 status=t.get("status") or {"name": "New"})
        self.tickets[t["id"]] = t
        self.notes[t["id"]] = []
        return _json_answer(201, t)

    def _note(self, tid, n):
        if tid not in self.tickets:
            return self._error(404, "NotFound",
                               "Ticket %d not found" % tid)
        if not isinstance(n, dict) or not n.get("text"):
            return self._error(400, "InvalidObject", "text is required",
                               [("text", "text is required")])
        self.notes[tid].append(n["text"])
        return _json_answer(201, {"id": len(self.notes[tid]),
                                  "ticketId": tid, "text": n["text"]})

    def _patch(self, tid, ops):
        if tid not in self.tickets:
            return self._error(404, "NotFound",
                               "Ticket %d not found" % tid)
        if not isinstance(ops, list):
            return self._error(400, "InvalidObject", "expected a list")
        t = self.tickets[tid]
        for op in ops:
            if op.get("op") != "replace" or op.get("path") != "status/name":
                return self._error(400, "InvalidPatch", "unsupported op")
            t["status"] = {"name": op.get("value")}
            t["closedFlag"] = op.get("value") == "Closed"
        return _json_answer(200, t)

    def open_tickets(self):
        with self.lock:
            return [t for t in self.tickets.values() if not t["closedFlag"]]


AT_PICKLISTS = {
    "status": [("1", "New"), ("5", "Complete"), ("8", "In Progress")],
    "priority": [("1", "High"), ("2", "Medium"), ("3", "Low"),
                 ("4", "Critical")],
    "queueID": [("29683496", "Monitoring Alert"), ("29683497", "Tier 2")],
    "source": [("2", "Phone"), ("8", "Monitoring Alert")],
    "issueType": [("11", "Security")],
    "subIssueType": [("213", "Web Filtering")],
}


class FakeAutotask:
    """Serves zone discovery at /discovery/ and the zone at /zone/."""

    def __init__(self, username="api@acme.example", secret="s3cret",
                 code="INTEGRATION-CODE", zone_url=None):
        self.username = username
        self.secret = secret
        self.code = code
        self.zone_url = zone_url  # set by the test: psa.url + "/zone/"
        self.tickets = {}
        self.notes = {}
        self.next_id = 7000
        self.field_requests = 0
        self.lock = threading.Lock()

    def __call__(self, r):
        path = r.path
        if path == "/discovery/V1.0/ZoneInformation":
            user = urllib.parse.parse_qs(r.query).get("user", [""])[0]
            if user != self.username:
                return _json_answer(500, {"errors": [
                    "Zone information could not be determined"]})
            return _json_answer(200, {"zoneName": "Fake Zone",
                                      "url": self.zone_url,
                                      "webUrl": "https://example.invalid/",
                                      "ci": 1})
        if not path.startswith("/zone/V1.0/"):
            return _json_answer(404, {"errors": ["no route " + path]})
        if (r.header("ApiIntegrationCode") != self.code or
                r.header("UserName") != self.username or
                r.header("Secret") != self.secret):
            return _json_answer(401, {"errors": ["Unauthorized"]})
        with self.lock:
            return self._route(r, path[len("/zone/V1.0"):])

    def _route(self, r, rest):
        m = re.fullmatch(r"/Tickets/(\d+)/Notes", rest)
        if rest == "/Tickets/entityInformation/fields" and r.method == "GET":
            self.field_requests += 1
            return _json_answer(200, {"fields": [
                {"name": name, "dataType": "integer", "isPickList": True,
                 "picklistValues": [{"value": v, "label": lab,
                                     "isActive": True, "isSystem": True}
                                    for v, lab in vals]}
                for name, vals in AT_PICKLISTS.items()] + [
                {"name": "title", "dataType": "string", "length": 255,
                 "isPickList": False}]})
        if rest == "/Tickets/query" and r.method == "POST":
            return self._query(r.json())
        if rest == "/Tickets" and r.method == "POST":
            return self._create(r.json())
        if rest == "/Tickets" and r.method == "PATCH":
            return self._patch(r.json())
        if m and r.method == "POST":
            return self._note(int(m.group(1)), r.json())
        return _json_answer(404, {"errors": ["no route " + rest]})

    def _valid(self, field, v):
        return v in [int(x) for x, _ in AT_PICKLISTS[field]]

    def _query(self, q):
        items = list(self.tickets.values())
        for f in q.get("filter", []):
            if f["op"] == "eq":
                items = [t for t in items if t.get(f["field"]) == f["value"]]
            elif f["op"] == "noteq":
                items = [t for t in items if t.get(f["field"]) != f["value"]]
            else:
                return _json_answer(500, {"errors": ["bad op"]})
        items = items[:q.get("maxRecords", 500)]
        return _json_answer(200, {"items": [{"id": t["id"]} for t in items],
                                  "pageDetails": {"count": len(items)}})

    def _create(self, t):
        errs = []
        for k in ("companyID", "status", "priority"):
            if not isinstance(t.get(k), int):
                errs.append("%s is required and must be a number" % k)
        if not t.get("title") or len(t["title"]) > 255:
            errs.append("title is required, at most 255 characters")
        if len(t.get("description") or "") > 8000:
            errs.append("description is longer than 8000 characters")
        if t.get("companyID") == 404:
            errs.append("Value does not exist for the required field "
                        "companyID.")
        for k in ("status", "priority", "queueID", "source", "issueType",
                  "subIssueType"):
            if k in t and isinstance(t[k], int) and not self._valid(k, t[k]):
                errs.append("%s %d is not a valid picklist value"
                            % (k, t[k]))
        if len(t.get("externalID") or "") > 50:
            errs.append("externalID is longer than 50 characters")
        if errs:
            return _json_answer(500, {"errors": errs})
        self.next_id += 1
        self.tickets[self.next_id] = dict(t, id=self.next_id)
        self.notes[self.next_id] = []
        return _json_answer(200, {"itemId": self.next_id})

    def _note(self, tid, n):
        if tid not in self.tickets:
            return _json_answer(404, {"errors": ["ticket not found"]})
        for k in ("description", "noteType", "publish"):
            if k not in n:
                return _json_answer(500, {"errors": [k + " is required"]})
        self.notes[tid].append(n["description"])
        return _json_answer(200, {"itemId": len(self.notes[tid])})

    def _patch(self, p):
        tid = p.get("id")
        if tid not in self.tickets:
            return _json_answer(404, {"errors": ["ticket not found"]})
        self.tickets[tid].update(p)
        return _json_answer(200, {"itemId": tid})

    def open_tickets(self):
        with self.lock:
            return [t for t in self.tickets.values() if t["status"] != 5]
