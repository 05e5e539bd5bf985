"""Plain-Python baseline: the connector's HTTP flow and decoding with requests, csv and orjson, RECORD lines on stdout.

`python -m benchmarks.baseline --config C --stream S`. No framework, no retries: what a careful script would do.
It keeps the same request pacing (Constant Contact: 4 requests a second) and export poll schedule as the connector.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import sys
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator, Optional
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import orjson
import requests

UTC = timezone.utc
OUT = sys.stdout.buffer
V3_FIELDS = ["email_address", "first_name", "last_name", "email_lists", "phone_number", "company_name", "job_title",
             "social_profiles", "website", "notes", "street", "city", "state", "zip", "country", "anniversary",
             "birthday", "birthday_day", "birthday_month", "source_name", "created_at", "updated_at", "email_optin",
             "email_permission", "email_optin_source", "email_optin_date", "email_optout_date",
             "email_optout_source", "email_optout_reason"]
V2_COLUMNS = ["EMAIL", "FIRST NAME", "MIDDLE NAME", "LAST NAME", "JOB TITLE", "COMPANY NAME", "WORK PHONE",
              "HOME PHONE", "ADDRESS LINE 1", "ADDRESS LINE 2", "ADDRESS LINE 3", "CITY", "STATE",
              "STATE/PROVINCE (INTL)", "COUNTRY", "POSTAL CODE", "SUB POSTAL CODE"] + [
              f"CUSTOM FIELD {n}" for n in range(1, 16)]
V3_INCLUDE = "custom_fields,list_memberships,phone_numbers,street_addresses,taggings,notes"


class PacedSession(requests.Session):
    """A session sending at most `per_second` requests in any one second (0: unpaced)."""

    def __init__(self, per_second: int = 0):
        super().__init__()
        self.per_second, self.sent = per_second, deque()

    def request(self, method: str, url: str, *args, **kwargs) -> requests.Response:
        if self.per_second and len(self.sent) == self.per_second:
            time.sleep(max(0.0, self.sent.popleft() + 1.0 - time.monotonic()))
        self.sent.append(time.monotonic())
        response = super().request(method, url, *args, **kwargs)
        response.raise_for_status()
        return response


def emit(stream: str, records: Iterable[dict]) -> None:
    """RECORD lines as the connector writes them (the CDK's serializer leaves out null fields)."""
    for record in records:
        data = {key: value for key, value in record.items() if value is not None}
        OUT.write(orjson.dumps({"type": "RECORD", "record": {
            "stream": stream, "data": data, "emitted_at": int(time.time() * 1000)}}) + b"\n")


def poll(get: Callable[[], requests.Response], is_done: Callable[[dict], bool]) -> dict:
    """Poll at once, then after 0.2 s doubling up to 10 s (the connector's schedule), until is_done(body)."""
    wait = 0.2
    while not is_done(body := orjson.loads(get().content)):
        time.sleep(wait)
        wait = min(wait * 2, 10.0)
    return body


def field_name(label: str) -> str:
    """`Email address - other` -> email_address, `State/Province (Intl)` -> state_province_intl."""
    return re.sub(r"[^0-9a-z]+", "_", label.rpartition(" - ")[0 if " - " in label else 2].lower()).strip("_")


def rfc3339(value: str) -> Optional[str]:
    """`2018-11-29 15:10:15 -0500`, `...T16:29:13.057 -0500` or `...Z` -> `2018-11-29T20:10:15.000Z`."""
    if not value:
        return None
    value = value[:-1] + "+00:00" if value.endswith("Z") else f"{value[:-6]}{value[-5:-2]}:{value[-2:]}"
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def iso_date(value: str) -> Optional[str]:
    """`6/20/2015` -> `2015-06-20`; a month and day without a year (`12/25`) -> None."""
    parts = re.split(r"[-/]", value) if value else []
    if len(parts) != 3:
        return None
    year, month, day = parts if len(parts[0]) == 4 else (parts[2], parts[0], parts[1])
    return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"


def csv_records(response: requests.Response, dates: set, extra: dict, days: set = frozenset(),
                standard: Optional[set] = None) -> Iterator[dict]:
    """Rows as {field name: value} plus `extra`: empty cells left out, date-times and dates normalized, columns that
    are not `standard` in custom_fields under their labels; a row of the wrong width fails the run."""
    response.raw.auto_close = False  # the text wrapper reads to the end of the body and closes it
    reader = csv.reader(io.TextIOWrapper(response.raw, encoding="utf-8-sig", newline=""))
    header = next(reader, [])
    names = [field_name(label) for label in header]
    fields = [i for i, name in enumerate(names) if standard is None or name in standard]
    custom = [(i, header[i]) for i, name in enumerate(names) if standard is not None and name not in standard]
    date_at = [i for i, name in enumerate(names) if name in dates]
    day_at = [i for i, name in enumerate(names) if name in days]
    for row in reader:
        if len(row) != len(names):
            raise SystemExit(f"line {reader.line_num}: {len(row)} fields, the header has {len(names)}")
        for i in date_at:
            row[i] = rfc3339(row[i])
        for i in day_at:
            row[i] = iso_date(row[i])
        record = {names[i]: row[i] for i in fields if row[i]}
        values = {label: row[i] for i, label in custom if row[i]}
        if values:
            record["custom_fields"] = values
        record.update(extra)
        yield record


def cc_v3(config: dict, stream: str) -> None:
    cc = config["constant_contact"]
    creds, api = cc["credentials"], cc["api_url"].rstrip("/")
    token = requests.post(cc["token_url"], auth=(creds["client_id"], creds["client_secret"]), data={
        "grant_type": "refresh_token", "refresh_token": creds["refresh_token"]}).json()["access_token"]
    http = PacedSession(4)
    http.headers["Authorization"] = f"Bearer {token}"
    if stream == "cc_contacts":
        since = datetime.fromisoformat(config["start_date"].replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%SZ")
        url, params = f"{api}/contacts", {"limit": 500, "status": "all", "include": V3_INCLUDE, "updated_after": since}
        while url:
            body = orjson.loads(http.get(url, params=params).content)
            emit(stream, body["contacts"])
            url, params = body.get("_links", {}).get("next", {}).get("href"), None
            url = url and urljoin(api, url)
        return
    job = http.post(f"{api}/activities/contact_exports", json={"exclude": []}).json()  # every field, custom ones too
    done = poll(lambda: http.get(f"{api}/activities/{job['activity_id']}"), lambda b: b["state"] == "completed")
    file_id = done["_links"]["results"]["href"].rstrip("/").split("/")[-1]
    with http.get(f"{api}/contact_exports/{file_id}", headers={"Accept": "text/csv"}, stream=True) as response:
        emit(stream, csv_records(response, {"created_at", "updated_at", "email_optin_date", "email_optout_date"}, {},
                                 days={"anniversary", "birthday"}, standard=set(V3_FIELDS)))


def cc_v2(config: dict, stream: str) -> None:
    v2 = config["constant_contact_v2"]
    api = v2["api_url"].rstrip("/")
    http = PacedSession(4)
    http.headers["Authorization"] = f"Bearer {v2['access_token']}"
    http.params = {"api_key": v2["api_key"]}
    for lst in http.get(f"{api}/lists").json():
        job = http.post(f"{api}/activities/exportcontacts", json={
            "lists": [lst["id"]], "file_type": "CSV", "sort_by": "EMAIL_ADDRESS", "export_date_added": True,
            "export_added_by": True, "column_names": V2_COLUMNS}).json()
        done = poll(lambda: http.get(f"{api}/activities/{job['id']}"), lambda b: b["status"] == "COMPLETE")
        with http.get(done["file_name"], headers={"Accept": "text/csv"}, stream=True) as response:
            emit(stream, csv_records(response, {"date_added"}, {"list_id": lst["id"]}))


def cometly(config: dict, stream: str) -> None:
    cm = config["cometly"]
    api, zone = cm["api_url"].rstrip("/"), ZoneInfo(cm.get("timezone") or "UTC")
    http = PacedSession()
    http.headers["Authorization"] = f"Bearer {cm['api_key']}"
    start = datetime.fromisoformat(config["start_date"].replace("Z", "+00:00"))
    end, step, second = datetime.now(UTC).replace(microsecond=0), timedelta(days=cm["window_days"]), timedelta(seconds=1)
    while start < end:  # windows tile [start_date, now] at one-second granularity, both ends inclusive
        window = {"start_date": f"{start.astimezone(zone):%Y-%m-%d %H:%M:%S}",
                  "end_date": f"{min(start + step - second, end).astimezone(zone):%Y-%m-%d %H:%M:%S}"}
        start += step
        flags = {"include_comet_tokens": 0, "include_all_emails": 0}
        if stream == "cometly_contacts":
            cursor = None
            while True:
                params = {**window, **flags, "per_page": 5000, **({"cursor": cursor} if cursor else {})}
                body = orjson.loads(http.get(f"{api}/contacts", params=params).content)
                emit(stream, body["data"])
                if not (cursor := body.get("next_cursor")):
                    break
            continue
        job = http.post(f"{api}/contacts/exports", json={**window, **flags}).json()
        done = poll(lambda: http.get(f"{api}/contacts/exports/{job['export_id']}"),
                    lambda b: b["status"] == "completed")
        with requests.get(done["download_url"], stream=True) as response:  # presigned: no Authorization
            response.raise_for_status()
            emit(stream, (orjson.loads(line) for line in gzip.GzipFile(fileobj=response.raw) if not line.isspace()))


READERS = {"cc_contacts": cc_v3, "cc_contacts_export": cc_v3, "cc_v2_contacts_export": cc_v2,
           "cometly_contacts": cometly, "cometly_contacts_export": cometly}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--stream", required=True, choices=sorted(READERS))
    args = parser.parse_args()
    with open(args.config) as file:
        READERS[args.stream](json.load(file), args.stream)
    OUT.flush()


if __name__ == "__main__":
    main()
