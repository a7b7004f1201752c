#!/usr/bin/env python3
"""A Spool remote worker in Python, standard library only (3.8+).

It pulls jobs from a `spool serve` over the HTTP API and runs a handler on each:

  - long-polls `POST /v1/queues/{queue}/leases` for at most as many jobs as it has free threads;
  - runs the handler in a thread per job and, while it runs, extends the lease (`/extend`) once half of
    it is gone, so long jobs are not taken back;
  - acks the handler's return value (`/ack`), or nacks its exception (`/nack`): the server applies the
    queue's retry policy (backoff, maxAttempts, then the dead-letter queue). Raise `PermanentError` to send
    the job to the DLQ at once, `RetryLater(seconds)` to choose the delay of the next attempt;
  - stops an attempt that runs past the job's `timeoutSeconds` by nacking it (Python cannot kill a thread:
    the handler's late result is dropped);
  - on SIGTERM / SIGINT stops leasing (a long poll in flight ends within `--wait` seconds; jobs it brings
    are released at once), lets running handlers finish for `--grace` seconds, releases what still runs
    (`/release`: queued again at once, the attempt not spent) and exits 0.

A lease that was lost (409 `lease-lost`: the job expired and went to someone else) is dropped quietly;
ack / nack / extend calls that get no answer or a 5xx are retried with backoff while the lease lasts.

Usage:
  SPOOL_TOKEN=... python3 worker.py --url http://127.0.0.1:7420 --queue emails [--handler mymodule:handle]
      [--concurrency 4] [--wait 20] [--grace 25]

The handler is `handle(payload, job)`: `payload` is the job's JSON payload, `job` the leased job (a dict:
id, attempt, maxAttempts, leaseToken, timeoutSeconds, ...). Its return value (any JSON value) is the job's
result. Without --handler the demo handler at the end of this file runs.
"""

import argparse
import importlib
import json
import os
import random
import signal
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request


class PermanentError(Exception):
    """Raise from a handler when another attempt would fail the same way: the job goes to the DLQ now."""


class RetryLater(Exception):
    """Raise from a handler to retry after `seconds` instead of the queue's backoff (attempts still count)."""

    def __init__(self, seconds, message="retry later"):
        super().__init__(message)
        self.seconds = seconds


class HttpError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body.get('detail') or body.get('title') or body}")
        self.status = status
        self.body = body


class SpoolHttp:
    """The few calls of the pull API, JSON in and out, with a bearer token."""

    def __init__(self, url, token=None, timeout=10.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method, path, body=None, timeout=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("accept", "application/json")
        if data is not None:
            req.add_header("content-type", "application/json")
        if self.token:
            req.add_header("authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as res:
                text = res.read().decode("utf-8")
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = {"detail": text}
            raise HttpError(e.code, parsed) from None

    def lease(self, queue, max_jobs, wait_seconds):
        body = {"max": max_jobs, "waitSeconds": wait_seconds}
        return self.call("POST", f"/v1/queues/{queue}/leases", body, timeout=wait_seconds + 15)["jobs"]

    def ack(self, job, result):
        body = {"leaseToken": job["leaseToken"]}
        if result is not None:
            body["result"] = result
        return self.call("POST", f"/v1/jobs/{job['id']}/ack", body)

    def nack(self, job, error, retry_after=None):
        body = {"leaseToken": job["leaseToken"], "error": error}
        if retry_after is not None:
            body["retryAfterSeconds"] = retry_after
        return self.call("POST", f"/v1/jobs/{job['id']}/nack", body)

    def extend(self, job, seconds):
        return self.call("POST", f"/v1/jobs/{job['id']}/extend", {"leaseToken": job["leaseToken"], "leaseSeconds": seconds})

    def release(self, job):
        return self.call("POST", f"/v1/jobs/{job['id']}/release", {"leaseToken": job["leaseToken"]})


def log(message):
    print(f"spool-worker: {message}", flush=True)


class Running:
    """One attempt in flight: its job, its thread's outcome, and when its lease runs out (this clock)."""

    def __init__(self, job):
        self.job = job
        self.started = time.monotonic()
        self.lease_seconds = float(job["leaseSeconds"])
        self.expires = self.started + self.lease_seconds
        self.done = threading.Event()
        self.outcome = None  # ("ok", result) | ("error", exception)
        self.settled = False  # acked, nacked, released or lost: no more calls for it


class Worker:
    def __init__(self, http, queue, handler, concurrency=4, wait_seconds=20.0, grace_seconds=25.0):
        self.http = http
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.wait_seconds = wait_seconds
        self.grace_seconds = grace_seconds
        self.stopping = threading.Event()
        self.running = {}  # job id -> Running
        self.lock = threading.Lock()
        self.wake = threading.Event()

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self):
        keeper = threading.Thread(target=self._keep_leases, name="lease-keeper", daemon=True)
        keeper.start()
        log(f"leasing from {self.http.url} queue {self.queue} (concurrency {self.concurrency})")
        failures = 0
        while not self.stopping.is_set():
            free = self.concurrency - self._count()
            if free <= 0:
                self.wake.wait(0.5)
                self.wake.clear()
                continue
            try:
                jobs = self.http.lease(self.queue, free, self.wait_seconds)
                failures = 0
            except (HttpError, OSError) as e:
                if isinstance(e, HttpError) and e.status in (400, 401, 403, 404):
                    log(f"lease refused, stopping: {e}")
                    self.stopping.set()
                    break
                failures += 1
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log(f"lease failed ({e}); again in {delay:.1f}s")
                self.stopping.wait(delay)
                continue
            if self.stopping.is_set():
                # Told to stop during the long poll: give these back at once (the attempt not spent).
                for job in jobs:
                    self._release(job)
                break
            for job in jobs:
                self._start(job)
        self._shut_down()

    def _count(self):
        with self.lock:
            return len(self.running)

    def _start(self, job):
        r = Running(job)
        with self.lock:
            self.running[job["id"]] = r
        threading.Thread(target=self._attempt, args=(r,), name=f"job-{job['id']}", daemon=True).start()

    def _attempt(self, r):
        try:
            r.outcome = ("ok", self.handler(r.job["payload"], r.job))
        except Exception as e:  # noqa: BLE001 - every handler failure becomes a nack
            r.outcome = ("error", e)
        r.done.set()
        self._settle(r)

    # -- outcomes ---------------------------------------------------------------------------------------

    def _settle(self, r):
        with self.lock:
            if r.settled:
                return  # timed out or released meanwhile: the late outcome is dropped
            r.settled = True
        job = r.job
        kind, value = r.outcome
        try:
            if kind == "ok":
                self._with_retries(r, lambda: self.http.ack(job, value))
                log(f"job {job['id']} attempt {job['attempt']} completed")
            else:
                answer = self._with_retries(r, lambda: self.http.nack(job, error_body(value), retry_after_of(value)))
                log(f"job {job['id']} attempt {job['attempt']} failed ({value}); now {answer['state'] if answer else '?'}")
        except HttpError as e:
            if e.status == 409:
                log(f"job {job['id']}: lease lost before the outcome landed")
            else:
                log(f"job {job['id']}: outcome refused: {e}")
        except OSError as e:
            log(f"job {job['id']}: server unreachable until the lease ran out ({e}); the job will be retried")
        finally:
            self._forget(job["id"])

    def _with_retries(self, r, fn):
        """Call `fn`; on no answer or a 5xx try again with backoff while the lease may still hold."""
        attempt = 0
        while True:
            try:
                return fn()
            except HttpError as e:
                if e.status < 500 or time.monotonic() >= r.expires:
                    raise
            except OSError:
                if time.monotonic() >= r.expires:
                    raise
            attempt += 1
            time.sleep(min(5.0, 0.2 * 2 ** attempt) * random.uniform(0.5, 1.0))

    def _forget(self, job_id):
        with self.lock:
            self.running.pop(job_id, None)
        self.wake.set()

    # -- leases and timeouts ------------------------------------------------------------------------------

    def _keep_leases(self):
        """Extend each running job's lease once half of it is gone; nack attempts past their timeout."""
        while True:
            time.sleep(0.2)
            now = time.monotonic()
            with self.lock:
                current = [r for r in self.running.values() if not r.settled]
            for r in current:
                timeout = r.job.get("timeoutSeconds")
                if timeout and now - r.started > float(timeout):
                    self._time_out(r)
                elif r.expires - now < r.lease_seconds / 2:
                    try:
                        self.http.extend(r.job, r.lease_seconds)
                        r.expires = time.monotonic() + r.lease_seconds
                    except HttpError as e:
                        if e.status == 409:
                            log(f"job {r.job['id']}: lease lost (expired and taken back); its result will be dropped")
                            with self.lock:
                                r.settled = True
                            self._forget(r.job["id"])
                    except OSError as e:
                        log(f"job {r.job['id']}: extend failed ({e}); trying again")

    def _time_out(self, r):
        with self.lock:
            if r.settled:
                return
            r.settled = True
        seconds = r.job.get("timeoutSeconds")
        try:
            self.http.nack(r.job, {"message": f"timed out after {seconds}s", "name": "TimeoutError"})
            log(f"job {r.job['id']} attempt {r.job['attempt']} timed out after {seconds}s")
        except (HttpError, OSError) as e:
            log(f"job {r.job['id']}: timeout nack failed ({e})")
        self._forget(r.job["id"])

    # -- shutdown -----------------------------------------------------------------------------------------

    def stop(self, *_):
        self.stopping.set()
        self.wake.set()

    def _shut_down(self):
        deadline = time.monotonic() + self.grace_seconds
        while self._count() > 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        with self.lock:
            left = [r for r in self.running.values() if not r.settled]
            for r in left:
                r.settled = True
        for r in left:
            self._release(r.job)
        log("stopped")

    def _release(self, job):
        try:
            self.http.release(job)
            log(f"job {job['id']} released at shutdown")
        except (HttpError, OSError) as e:
            log(f"job {job['id']}: release failed ({e}); its lease will expire")


def error_body(e):
    body = {"message": str(e) or type(e).__name__, "name": type(e).__name__}
    body["stack"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-10000:]
    if isinstance(e, PermanentError):
        body["retryable"] = False
    return body


def retry_after_of(e):
    return e.seconds if isinstance(e, RetryLater) else None


def demo_handler(payload, job):
    """The demo handler (replace it with --handler module:function).

    Payload fields it understands: `sleepSeconds` (work that long: longer than the lease shows extension),
    `failUntilAttempt` (raise while the attempt number is below it: shows retries), `permanent` (raise
    PermanentError: straight to the DLQ). It returns what it did.
    """
    payload = payload if isinstance(payload, dict) else {"value": payload}
    if payload.get("permanent"):
        raise PermanentError("this payload can never succeed")
    if job["attempt"] < int(payload.get("failUntilAttempt", 0)):
        raise RuntimeError(f"failing attempt {job['attempt']} on purpose")
    if payload.get("sleepSeconds"):
        time.sleep(float(payload["sleepSeconds"]))
    return {"handledBy": "python", "attempt": job["attempt"], "echo": payload}


def load_handler(spec):
    if not spec:
        return demo_handler
    module_name, _, function = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module_name), function or "handle")


def main(argv=None):
    p = argparse.ArgumentParser(description="A Spool remote worker (Python, standard library only).")
    p.add_argument("--url", default=os.environ.get("SPOOL_URL", "http://127.0.0.1:7420"), help="the server (SPOOL_URL)")
    p.add_argument("--token", default=os.environ.get("SPOOL_TOKEN"), help="a key with consume scope (SPOOL_TOKEN)")
    p.add_argument("--queue", required=True)
    p.add_argument("--handler", help="module:function to run for each job (default: the demo handler)")
    p.add_argument("--concurrency", type=int, default=4, help="jobs run at once (threads), default 4")
    p.add_argument("--wait", type=float, default=20.0, help="long-poll seconds per lease request (0-30), default 20")
    p.add_argument("--grace", type=float, default=25.0, help="seconds running jobs may finish at shutdown, default 25")
    args = p.parse_args(argv)

    worker = Worker(SpoolHttp(args.url, args.token), args.queue, load_handler(args.handler), args.concurrency, args.wait, args.grace)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
