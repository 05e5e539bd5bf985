"""The asynchronous export job state machine shared by the three export flows.

A job advances one step per status poll, not per second, so tests are fast and deterministic:
poll 1 reports the queued phase, polls 2..N the processing phase (N = faults.job_polls_until_done),
and poll N+1 and later the final phase ("done", or the failure state a fault asked for).
With job_polls_until_done = 0 the very first poll is final. A stuck job (faults.stick_next_jobs) is
processing from its first poll on and never finishes.
"""
from __future__ import annotations

import threading
import uuid

from .common import utc_now


class Job:
    def __init__(self, api: str, params: dict, failure: str | None, stuck: bool = False):
        self.id = str(uuid.uuid4())
        self.file_id = str(uuid.uuid4())     # v3 and Cometly expose a separate file id
        self.api = api
        self.params = params
        self.failure = failure               # final state if this job is meant to fail
        self.stuck = stuck                   # never leaves the processing phase
        self.created_at = utc_now()
        self.started_at = None
        self.finished_at = None
        self.polls = 0
        self.phase = "queued"                # queued | processing | done | failed
        self.record_count = None
        self.error = None                    # failure message set by the API module
        self.cache = None                    # the generated file bytes, built once
        self.lock = threading.Lock()


class JobStore:
    def __init__(self, faults):
        self._faults = faults
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._by_file: dict[str, Job] = {}

    def create(self, api: str, params: dict) -> Job:
        job = Job(api, params, self._faults.take_job_failure(api), self._faults.take_stuck_job(api))
        with self._lock:
            self._jobs[job.id] = job
            self._by_file[job.file_id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def by_file(self, file_id: str) -> Job | None:
        return self._by_file.get(file_id)

    def all(self, api: str | None = None) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if api is None or j.api == api]

    def poll(self, job: Job) -> str:
        """Count one status poll and return the phase it reports."""
        with job.lock:
            if job.phase in ("done", "failed"):
                return job.phase
            job.polls += 1
            until = max(0, int(self._faults.job_polls_until_done))
            if job.polls > until and not job.stuck:
                job.phase = "failed" if job.failure or job.error else "done"
                job.started_at = job.started_at or utc_now()
                job.finished_at = utc_now()
            elif job.polls >= 2 or job.stuck:
                job.phase = "processing"
                job.started_at = job.started_at or utc_now()
            return job.phase

    def file_bytes(self, job: Job, build) -> bytes:
        """The job's file, generated on first use and kept (exports are immutable once made)."""
        with job.lock:
            if job.cache is None:
                job.cache = build(job)
            return job.cache
