"""The cap on a hosted visitor's queued and running jobs (backends/jobs.py): places taken at admission,
kept while running, shared by every key a visitor presents, and given back when the queue dropped a job."""

from __future__ import annotations

import pytest

from backends.errors import TooManyJobs
from backends.jobs import JobCap
from backends.settings import PlaygroundSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def join() -> object:
    """One request to join the queue (the UI passes the HTTP request)."""
    return object()


def test_a_visitor_gets_the_cap_and_then_a_message_in_both_languages():
    cap = JobCap(2)
    cap.admit(("session:a", "ip:10.0.0.1"), join())
    cap.admit(("session:a", "ip:10.0.0.1"), join())
    with pytest.raises(TooManyJobs) as caught:
        cap.admit(("session:a", "ip:10.0.0.1"), join())
    assert str(caught.value) == (
        "You already have 2 jobs queued or running on this demo, and it allows 2 at a time per visitor. "
        "Wait for one to finish (or stop it), then try again."
    )
    assert "每位访客同时最多 2 个" in caught.value.message_in("zh")
    assert cap.count(("ip:10.0.0.1",)) == 2
    cap.admit(("session:b", "ip:10.0.0.2"), join())  # another visitor is not affected


def test_new_sessions_from_one_address_share_its_places():
    cap = JobCap(2)
    cap.admit(("session:1", "ip:10.0.0.1"), join())
    cap.admit(("session:2", "ip:10.0.0.1"), join())
    with pytest.raises(TooManyJobs):
        cap.admit(("session:3", "ip:10.0.0.1"), join())


def test_a_job_keeps_its_place_from_admission_to_its_end():
    cap = JobCap(1)
    keys, request = ("v", "ip:1"), join()
    cap.admit(keys, request)
    job = cap.begin(keys, request)  # takes the place it was admitted with: still one
    assert cap.count(keys) == 1
    with pytest.raises(TooManyJobs):
        cap.admit(keys, join())
    cap.end(job)
    assert cap.count(keys) == 0
    cap.admit(keys, join())


def test_a_handler_that_was_not_admitted_is_checked_when_it_begins():
    cap = JobCap(1)
    first = cap.begin(("v",), join())
    with pytest.raises(TooManyJobs):
        cap.begin(("v",), join())
    cap.end(first)
    cap.end(first)  # twice is harmless
    assert cap.begin(("v",), join()) is not None


def test_a_job_the_queue_dropped_gives_its_place_back_after_the_grace():
    clock = Clock()
    held: set[int] = set()
    cap = JobCap(1, waiting=lambda request: id(request) in held, grace_s=10, clock=clock)
    request = join()
    held.add(id(request))
    cap.admit(("v",), request)
    clock.now += 60
    with pytest.raises(TooManyJobs):  # still in Gradio's queue: it keeps its place however long it waits
        cap.admit(("v",), join())
    held.clear()  # the client went away and Gradio dropped it
    cap.admit(("v",), join())
    # Between its admission and the queue holding it, a job is not in the queue yet: the grace keeps it.
    clock.now += 1
    with pytest.raises(TooManyJobs):
        cap.admit(("v",), join())
    clock.now += 10
    cap.admit(("v",), join())


def test_no_limit_counts_nothing():
    cap = JobCap(None)
    for _ in range(50):
        cap.admit(("v",), join())
    assert cap.begin(("v",), join()) is None
    cap.end(None)


def test_the_setting_is_two_on_a_hosted_demo_and_off_locally():
    assert PlaygroundSettings.from_mapping({"PLAYGROUND_MODE": "hosted"}).jobs_per_visitor == 2
    assert PlaygroundSettings.from_mapping({}).jobs_per_visitor is None
    assert PlaygroundSettings.from_mapping({"PLAYGROUND_JOBS_PER_VISITOR": "5", "SPACE_ID": "a/b"}).jobs_per_visitor == 5
    assert PlaygroundSettings.from_mapping({}).playground_grid_max_pixels == 128 * 1024 * 1024
    with pytest.raises(Exception, match=r"PLAYGROUND_JOBS_PER_VISITOR='0' is not allowed; use a whole number of jobs"):
        PlaygroundSettings.from_mapping({"PLAYGROUND_JOBS_PER_VISITOR": "0"})
    with pytest.raises(Exception, match=r"PLAYGROUND_GRID_MAX_PIXELS='lots' is not allowed"):
        PlaygroundSettings.from_mapping({"PLAYGROUND_GRID_MAX_PIXELS": "lots"})
