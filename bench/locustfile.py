"""Locust load profile: demo accounts mixing page reads, API reads and htmx writes.

Run it through bench/load.sh (throwaway PostgreSQL + demo seed + `ronghe serve --workers N`), or
by hand against a server loaded with `ronghe seed --demo`:

    locust -f bench/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8000

Users sign in as one of the demo accounts (owner, auditor, admin; password ronghe-demo-2026)
exactly as a browser does: GET /login for the CSRF cookie and the hidden csrf_token, then POST
the form. Writes are htmx posts with the X-CSRF-Token header and are chosen so that repeating
them for a minute never trips a business rule:

- auditor: record "conforming" with fresh notes on an item of the in-progress audit that has no
  finding (conforming → conforming with new notes is always allowed);
- owner: save the correction text of a nonconformity they own (keeping its completion date);
- everyone: mark the inbox read.

Request names are grouped (``/audits/[id]/checklist`` …) so the statistics stay readable.
Any non-2xx answer (after redirects) counts as a failure; nothing is whitelisted.
"""

import itertools
import random
import re

from locust import HttpUser, between, task
from locust.exception import StopUser

PASSWORD = "ronghe-demo-2026"  # noqa: S105 - the documented demo password
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
NEW_TOKEN = re.compile(r'id="new-token">([^<]+)<')
RECORDABLE = re.compile(
    r'result-(not_audited|conforming)" id="item-(\d+)">\s*'
    r'<form[^>]*hx-post="/audits/(\d+)/checklist/\2"'
)
NC_LINK = re.compile(r'href="/nonconformities/(\d+)"')
AUDIT_LINK = re.compile(r'href="/audits/(\d+)"')
CORRECTION_DATE = re.compile(r'name="correction_done_on" type="date"\s*value="([^"]*)"')
CORRECTION_FORM = re.compile(r'action="/nonconformities/(\d+)/correction"')

_sequence = itertools.count(1)

READ_PAGES = [
    "/",
    "/dashboard",
    "/requirements",
    "/evidence",
    "/audits",
    "/nonconformities",
    "/reviews",
    "/readiness",
    "/inbox",
]


class DemoUser(HttpUser):
    abstract = True
    email = ""
    wait_time = between(0.5, 2.0)

    csrf = ""
    api_token = ""
    audit_id: int | None = None
    checklist_items: list[int]
    nonconformities: list[tuple[int, str]]

    # --- session -------------------------------------------------------------------------------

    def on_start(self) -> None:
        self.checklist_items = []
        self.nonconformities = []
        self.n = next(_sequence)
        page = self.client.get("/login", name="/login")
        match = CSRF_INPUT.search(page.text)
        if match is None:
            raise StopUser()
        with self.client.post(
            "/login",
            data={"email": self.email, "password": PASSWORD, "csrf_token": match.group(1)},
            name="POST /login",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 303:
                response.failure(f"login as {self.email}: {response.status_code}")
                raise StopUser()
            response.success()
        # The CSRF cookie rotates at sign-in: take the token from a signed-in page.
        home = self.client.get("/account", name="/account")
        match = CSRF_INPUT.search(home.text)
        if match is None:
            raise StopUser()
        self.csrf = match.group(1)
        self.discover()

    def discover(self) -> None:
        """What this user may write to: the in-progress audit's items, their own NCs."""
        audits = self.client.get("/audits", name="/audits")
        for audit_id in sorted(set(AUDIT_LINK.findall(audits.text)), key=int):
            page = self.client.get(
                f"/audits/{audit_id}/checklist?size=200", name="/audits/[id]/checklist"
            )
            items = [int(item) for _result, item, _audit in RECORDABLE.findall(page.text)]
            if items:
                self.audit_id = int(audit_id)
                self.checklist_items = items
                break
        listing = self.client.get("/nonconformities", name="/nonconformities")
        for nc_id in sorted(set(NC_LINK.findall(listing.text)), key=int):
            page = self.client.get(f"/nonconformities/{nc_id}", name="/nonconformities/[id]")
            if CORRECTION_FORM.search(page.text):  # only shown to its owner while it is open
                date = CORRECTION_DATE.search(page.text)
                self.nonconformities.append((int(nc_id), date.group(1) if date else ""))

    def htmx_post(self, path: str, data: dict[str, str], name: str) -> None:
        self.client.post(
            path,
            data=data,
            name=name,
            headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
        )

    # --- reads ---------------------------------------------------------------------------------

    @task(10)
    def read_page(self) -> None:
        self.client.get(random.choice(READ_PAGES))

    @task(2)
    def read_checklist(self) -> None:
        if self.audit_id is None:
            return
        self.client.get(f"/audits/{self.audit_id}/checklist", name="/audits/[id]/checklist")

    @task(1)
    def read_nonconformity(self) -> None:
        if self.nonconformities:
            nc_id, _date = random.choice(self.nonconformities)
            self.client.get(f"/nonconformities/{nc_id}", name="/nonconformities/[id]")

    @task(2)
    def api_goals(self) -> None:
        if not self.api_token:
            response = self.client.post(
                "/account/tokens",
                data={"name": f"load {self.n}"},
                name="POST /account/tokens",
                headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
            )
            match = NEW_TOKEN.search(response.text)
            if match is None:
                return
            self.api_token = match.group(1).strip()
        self.client.get(
            "/api/v1/goals",
            name="/api/v1/goals",
            headers={"Authorization": f"Bearer {self.api_token}"},
        )

    # --- writes --------------------------------------------------------------------------------

    @task(2)
    def mark_inbox_read(self) -> None:
        self.htmx_post("/inbox/read", {}, "POST /inbox/read")


class OwnerUser(DemoUser):
    weight = 2
    email = "owner@demo.example.com"

    @task(3)
    def save_correction(self) -> None:
        if not self.nonconformities:
            return
        nc_id, done_on = random.choice(self.nonconformities)
        self.htmx_post(
            f"/nonconformities/{nc_id}/correction",
            {
                "correction": "Backup restore test repeated and recorded "
                f"(load run {self.n}/{random.randrange(10**6)}).",
                "correction_done_on": done_on,
            },
            "POST /nonconformities/[id]/correction",
        )


class AuditorUser(DemoUser):
    weight = 2
    email = "auditor@demo.example.com"

    @task(3)
    def record_result(self) -> None:
        if self.audit_id is None or not self.checklist_items:
            return
        item = random.choice(self.checklist_items)
        self.htmx_post(
            f"/audits/{self.audit_id}/checklist/{item}",
            {
                "result": "conforming",
                "notes": "Sampled records on site, all complete "
                f"(load run {self.n}/{random.randrange(10**6)}).",
            },
            "POST /audits/[id]/checklist/[item]",
        )


class AdminUser(DemoUser):
    weight = 1
    email = "admin@demo.example.com"
