"""Production topology with real processes: a Sentinel failover under load with replicated
acknowledgement, Redis refusing writes (OOM, read-only) with every process surviving, SIGTERM
during an outage, and a dead drain job recovered with no clock and no callback."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
import requests
from rq import Worker

from tests.support import processes
from tests.support.lifecycle import lifecycle, with_resends
from tests.support.ncs import encode, recording_event, signed_headers
from tests.support.processes import wait_until
from tests.support.redis_server import RedisServer, free_port
from tests.support.sender import SendLog
from tests.support.sentinel import SentinelTopology, wait_for
from tests.support.service import Service, run_service
from tests.test_reliability import _check, quiet
from workers import keys, sessions
from workers.drainers import spawn
from workers.inbox import Submission, encode_entry
from workers.queues import JobPolicy, events_queue
from workers.redis_conn import connect_url

pytestmark = [pytest.mark.integration, pytest.mark.reliability]
SENDERS = 4
GIVE_UP_S = 60  # an NCS-like sender that keeps resending on non-200, for this long


class Answers(SendLog):
    """What the senders saw, with the time of every 200 (for the service gap)."""

    def __init__(self) -> None:
        super().__init__()
        self.ok_times: list[float] = []


def send_until_acknowledged(url: str, events: list[dict[str, Any]], log: Answers) -> None:
    with requests.Session() as http:
        for event in events:
            deadline = time.monotonic() + GIVE_UP_S
            while True:
                body = encode({**event, "notifyMs": int(time.time() * 1000)})
                try:
                    answer = http.post(url, data=body, headers=signed_headers(body), timeout=10)
                    log.note(str(answer.status_code))
                    if answer.status_code == 200:
                        with log.lock:
                            log.acknowledged.append(event)
                            log.ok_times.append(time.monotonic())
                        break
                except requests.RequestException as exc:
                    log.note(type(exc).__name__)
                if time.monotonic() > deadline:
                    with log.lock:
                        log.given_up.append(event)
                    break
                time.sleep(0.1)


def post(service: Service, event: dict[str, Any]) -> requests.Response:
    body = encode(event)
    return requests.post(
        f"{service.base}/agora/ncs", data=body, headers=signed_headers(body), timeout=10
    )


def applied(service: Service, sid: str) -> bool:
    answer = requests.get(f"{service.base}/api/sessions/{sid}", headers=service.auth, timeout=5)
    return answer.ok and answer.json()["state"] == "exited"


def logged(process: Any, text: str) -> bool:
    out, err = processes.output(process)
    return text in out + err


def test_failover_under_load_loses_nothing_acknowledged() -> None:
    topology = SentinelTopology().start()
    rng = random.Random(1212)
    per_session = {f"fo-{i:02d}": lifecycle(f"fo-{i:02d}", uids=("1", "2")) for i in range(30)}
    stream: list[dict[str, Any]] = []
    for events in per_session.values():
        stream.extend(with_resends(events, rng, share=0.2))
    rng.shuffle(stream)
    log = Answers()
    env = {"REDIS_MIN_REPLICAS": "1", "REDIS_WAIT_TIMEOUT_MS": "250", "LOG_LEVEL": "WARNING"}
    try:
        with run_service(topology.url, env, workers=2) as service:
            url = f"{service.base}/agora/ncs"
            senders = [
                threading.Thread(
                    target=send_until_acknowledged, args=(url, stream[i::SENDERS], log)
                )
                for i in range(SENDERS)
            ]
            for sender in senders:
                sender.start()
            wait_until(lambda: len(log.acknowledged) > len(stream) // 3, 60, "a third acknowledged")
            old = topology.primary_port()
            topology.node(old).kill()  # SIGKILL the primary under load
            killed_at = time.monotonic()
            promoted_s = wait_for(lambda: topology.primary_port() != old, 30, "a promotion")
            new = topology.primary_port()
            # The old primary returns, as a replica of the new one (as its rewritten
            # configuration would start it).
            topology.node(old).replica_of = new
            topology.node(old).start()
            try:
                wait_for(lambda: topology._link_up(old), 60, "the old primary rejoining")
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}: {topology.replication()}") from None
            rejoined_s = time.monotonic() - killed_at
            for sender in senders:
                sender.join()
            redis = connect_url(topology.url)
            settle_s = wait_for(lambda: quiet(redis), 60, "every stream drained")
            figures = _check(redis, per_session, log)
            alive = [p.poll() is None for p in [*service.workers, *service.others]]
    finally:
        topology.cleanup()
    gaps = [b - a for a, b in zip(log.ok_times, log.ok_times[1:], strict=False)]
    figures |= {
        "503s": log.answers["503"],
        "seconds_without_service": round(max(gaps), 2),
        "promoted_after_s": round(promoted_s, 2),
        "old_primary_replica_after_s": round(rejoined_s, 2),
        "settled_s": round(settle_s, 2),
    }
    print(f"\nfailover: {figures} | answers {dict(log.answers)}")
    assert figures["lost"] == 0 and figures["duplicates_applied"] == 0
    assert figures["given_up"] == 0
    assert log.answers["503"] > 0, "the failover was not seen by the senders"
    assert all(alive), "a process died in the failover"


def _refusing_writes_is_survived(
    server_url: str, phases: list[tuple[Callable[[], object], str, str]], accept: Any, name: str
) -> None:
    """Each phase makes Redis refuse in a new way: the workers must log the fault named
    first, the clock (which only writes) the second, and all stay up; then ``accept``
    heals Redis and work resumes."""
    with run_service(server_url, {"LOG_LEVEL": "INFO"}, workers=1) as service:
        late: list[Any] = []
        for refuse, fault, clock_fault in phases:
            refuse()
            down = post(service, lifecycle(f"{name}-{fault}")[0])
            assert (down.status_code, down.json()) == (503, {"error": "unavailable"})
            assert requests.get(f"{service.base}/readyz", timeout=5).status_code == 503
            if not late:
                late.append(service.add_worker())  # (re)started while the condition lasts
            clock = service.others[1]
            for process, seen in [*((w, fault) for w in service.workers), (clock, clock_fault)]:
                wait_until(lambda p=process, f=seen: logged(p, f'"fault":"{f}"'), 30, seen)
            assert [p.poll() for p in [*service.workers, *service.others]] == [None] * (
                len(service.workers) + len(service.others)
            )
        accept()
        for event in lifecycle(f"{name}-after"):
            assert post(service, event).status_code == 200
        wait_until(lambda: applied(service, f"{name}-after"), 30, "events applied after")
        assert all(p.poll() is None for p in [*service.workers, *service.others])


def test_out_of_memory_is_survived_by_every_process() -> None:
    server = RedisServer().start()
    admin = redis_lib.Redis(port=server.port)
    try:
        _refusing_writes_is_survived(
            server.url,
            [(lambda: admin.config_set("maxmemory", "1"), "oom", "oom")],  # noeviction
            lambda: admin.config_set("maxmemory", "0"),
            "oom",
        )
    finally:
        server.cleanup()


def test_a_read_only_replica_then_a_lost_primary_are_survived_until_promotion() -> None:
    primary = RedisServer().start()
    replica = RedisServer()
    replica.extra_args = [
        "--replicaof", "127.0.0.1", str(primary.port), "--replica-serve-stale-data", "no",
    ]  # fmt: skip
    replica.start()
    admin = redis_lib.Redis(port=replica.port)
    wait_until(lambda: admin.info("replication")["master_link_status"] == "up", 20, "sync")
    try:
        _refusing_writes_is_survived(
            replica.url,
            # Writes meet READONLY before MASTERDOWN: the clock, which only writes, sees
            # READONLY in both phases; workers also read, and see MASTERDOWN.
            [(lambda: None, "readonly", "readonly"), (primary.kill, "masterdown", "readonly")],
            lambda: admin.replicaof("NO", "ONE"),
            "ro",
        )
    finally:
        replica.cleanup()
        primary.cleanup()


def test_sigterm_is_honoured_during_an_outage() -> None:
    server = RedisServer().start()
    env = {"REDIS_URL": server.url}
    started = [processes.start("worker", env), processes.start("clock", env)]
    try:
        wait_until(lambda: processes.child_pids(started[0].pid), 30, "RQ's scheduler starting")
        server.kill()
        wait_until(lambda: logged(started[0], '"fault":"connection"'), 30, "the worker's fault")
        wait_until(lambda: logged(started[1], '"fault":"connection"'), 30, "the clock's fault")
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            assert process.wait(timeout=10) == 0
    finally:
        for process in started:
            processes.stop(process)
        server.cleanup()


def test_a_killed_drain_job_is_recovered_with_no_clock_and_no_callback(redis_url: str) -> None:
    connection = redis_lib.Redis.from_url(redis_url)
    connection.flushdb()
    streams = [f"s:noclock-{i:04d}" for i in range(3000)]
    with connection.pipeline() as pipe:  # more than a few seconds of draining
        for stream in streams:
            event = recording_event(40, sid=stream[2:])
            pipe.rpush(keys.inbox(stream), encode_entry(Submission("n", stream, event, 0)))
            pipe.set(keys.pending(stream), 1)
            pipe.rpush(keys.READY, stream)
        pipe.execute()
    with run_service(redis_url, {"LOG_LEVEL": "INFO"}, workers=2, clocks=0) as service:
        job_id = spawn(connection, events_queue(connection), JobPolicy(600, ()))

        def drainer_pid() -> int | None:
            for worker in Worker.all(connection=connection):
                if worker.get_current_job_id() == job_id and connection.llen(keys.draining(job_id)):
                    return worker.pid
            return None

        wait_until(drainer_pid, 30, "the drain job working")
        pid = drainer_pid()
        victim = next(w for w in service.workers if w.pid == pid)
        victim.kill()
        victim.wait()
        killed_at = time.monotonic()
        held = [keys.text(s) for s in connection.lrange(keys.draining(job_id), 0, -1)]
        assert held, "the drain job held no stream when killed"

        def held_applied() -> bool:
            return not connection.llen(keys.draining(job_id)) and all(
                sessions.load(connection, s[2:]) for s in held
            )

        wait_until(held_applied, 30, "the dead job's streams applied")
        recovered_s = time.monotonic() - killed_at
        wait_until(lambda: quiet(connection), 60, "every stream drained")
        survivor = next(w for w in service.workers if w is not victim)
        assert survivor.poll() is None
    print(f"\nno-clock recovery: a killed drain job's streams applied {recovered_s:.1f} s after")
    assert recovered_s < 15


def test_the_cli_names_a_redis_fault_in_one_line_without_the_password() -> None:
    closed = f"redis://app:hunter2@127.0.0.1:{free_port()}/0"
    done = processes.run_cli(["sessions", "list"], {"REDIS_URL": closed})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: Redis at {closed.replace('hunter2', '***')} is unavailable (connection); try again"
    ]
    assert "hunter2" not in done.stdout + done.stderr
