#!/usr/bin/python3
"""A complete dcos-node framework in Python, written from proto/ alone.

It runs one command task on the cluster and exits 0 when the task finished, 1 when it
ended otherwise, 2 when the master refused the framework or no master answered. On its
way it does everything a real framework must (see docs/frameworks.md):

- finds the leading master among --masters (a standby answers UNAVAILABLE and names the
  leader in the `dcos-leader` trailer);
- subscribes, then reconciles (asks the master for the state of its tasks);
- treats three missed heartbeats as a lost master and subscribes again with its
  framework id (failover_timeout keeps the framework and its task meanwhile);
- launches on the first offer that fits and declines the others with a filter;
- acknowledges every status update that carries a uuid (NOT_FOUND: nothing to do);
- reads the task's exit code from TaskStatus.exit_code; tears the framework down at
  the end.

Usage (generate the dcos.v1 modules first with generate.sh):
    /usr/bin/python3 hello_framework.py --masters=127.0.0.1:5050 --command='echo hello'
"""
import argparse
import getpass
import os
import queue
import sys
import threading
import time
import uuid

import grpc

LEADER_METADATA = "dcos-leader"
TERMINAL = {"TASK_STATE_FINISHED", "TASK_STATE_FAILED", "TASK_STATE_KILLED", "TASK_STATE_ERROR",
            "TASK_STATE_LOST", "TASK_STATE_DROPPED", "TASK_STATE_GONE", "TASK_STATE_GONE_BY_OPERATOR"}
CALL_TIMEOUT_S = 10
MISSED_HEARTBEATS = 3


def load_protocol(gen_dir):
    """Imports the generated dcos.v1 modules (generate.sh writes them to gen_dir)."""
    sys.path.insert(0, gen_dir)
    from dcos.v1 import common_pb2, offers_pb2, resources_pb2, scheduler_pb2, scheduler_pb2_grpc, tasks_pb2, cluster_pb2
    return argparse.Namespace(common=common_pb2, offers=offers_pb2, resources=resources_pb2, scheduler=scheduler_pb2,
                              scheduler_grpc=scheduler_pb2_grpc, tasks=tasks_pb2, cluster=cluster_pb2)


def log(line):
    print(line, flush=True)


class Refused(Exception):
    """The master refused the framework for good (an ERROR event or a non-retryable status)."""


class HelloFramework:
    def __init__(self, pb, masters, command, cpus, mem, role):
        self.pb = pb
        self.masters = masters
        self.command = command
        self.want = {"cpus": cpus, "mem": mem}
        self.role = role
        self.framework_id = None
        self.stream_id = None
        self.stub = None
        self.channel = None
        self.task_id = "hello-python." + uuid.uuid4().hex[:8]
        self.launched = False
        self.result = None

    # ---- connection and leader discovery ----------------------------------------------

    def subscribe(self):
        """Opens the event stream at the leading master; returns (call, first event)."""
        info = self.pb.cluster.FrameworkInfo(
            name="hello-python", user=getpass.getuser(), roles=[self.role],
            failover_timeout=60.0,  # seconds the master keeps us (and our task) while we reconnect
            capabilities=[self.pb.cluster.FrameworkInfo.CAPABILITY_PARTITION_AWARE])
        if self.framework_id is not None:
            info.id.CopyFrom(self.framework_id)  # re-subscribe: the same framework
        request = self.pb.scheduler.SubscribeRequest(framework_info=info)
        hint, attempt, delay = None, 0, 0.5
        deadline = time.monotonic() + 60
        while True:
            address = hint or self.masters[attempt % len(self.masters)]
            hint = None
            channel = grpc.insecure_channel(address)
            call = self.pb.scheduler_grpc.SchedulerServiceStub(channel).Subscribe(request)
            try:
                first = next(call)
            except grpc.RpcError as e:
                channel.close()
                leader = dict(e.trailing_metadata() or ()).get(LEADER_METADATA)
                if e.code() == grpc.StatusCode.UNAVAILABLE and leader:
                    log(f"{address} is not leading; the leader is {leader}")
                    hint = leader
                    continue
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise Refused(f"{address} refused the subscription: {e.code().name}: {e.details()}")
                if time.monotonic() > deadline:
                    raise Refused(f"no master of {','.join(self.masters)} answered: {e.details()}")
                log(f"{address}: {e.code().name} ({e.details()}); trying the next master in {delay:.1f} s")
                attempt += 1
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.channel = channel
            self.stub = self.pb.scheduler_grpc.SchedulerServiceStub(channel)
            log(f"Subscribed at {address}")
            return call, first

    def ids(self):
        return {"framework_id": self.framework_id, "stream_id": self.stream_id}

    # ---- the event loop ---------------------------------------------------------------

    def run(self):
        while self.result is None:
            call, first = self.subscribe()
            events = queue.Queue()

            def read():
                try:
                    for response in call:
                        events.put(response.event)
                except grpc.RpcError as e:
                    events.put(e)
                events.put(None)

            threading.Thread(target=read, daemon=True).start()
            self.handle(first.event)
            heartbeat_s = 15.0
            if first.event.WhichOneof("kind") == "subscribed":
                heartbeat_s = first.event.subscribed.heartbeat_interval_seconds or heartbeat_s
            while self.result is None:
                try:
                    event = events.get(timeout=MISSED_HEARTBEATS * heartbeat_s)
                except queue.Empty:
                    log(f"No event for {MISSED_HEARTBEATS} heartbeat intervals; subscribing again")
                    call.cancel()
                    break
                if event is None or isinstance(event, grpc.RpcError):
                    log(f"The event stream ended ({event.details() if event else 'closed'}); subscribing again")
                    break
                self.handle(event)
            if self.result is None:
                self.channel.close()
        return self.result

    def handle(self, event):
        kind = event.WhichOneof("kind")
        if kind == "subscribed":
            self.framework_id = event.subscribed.framework_id
            self.stream_id = event.subscribed.stream_id
            log(f"Framework {self.framework_id.value}, heartbeat every {event.subscribed.heartbeat_interval_seconds} s")
            # Implicit reconciliation: the master answers with an UPDATE per task it knows.
            self.stub.Reconcile(self.pb.scheduler.ReconcileRequest(**self.ids()), timeout=CALL_TIMEOUT_S)
        elif kind == "offers":
            for offer in event.offers.offers:
                self.consider(offer)
        elif kind == "update":
            self.update(event.update.status)
        elif kind == "error":
            raise Refused(f"the master refused this framework: {event.error.message}")
        # heartbeat, rescind, failure, message: nothing to do for this framework.

    # ---- offers -----------------------------------------------------------------------

    def pick(self, offer):
        """The task's resources out of the offer's unreserved scalars, or None."""
        picked = []
        for name, amount in self.want.items():
            source = next((r for r in offer.resources if r.name == name and r.type == self.pb.common.Value.TYPE_SCALAR
                           and not r.reservations and r.scalar.value >= amount), None)
            if source is None:
                return None
            piece = self.pb.resources.Resource()
            piece.CopyFrom(source)  # keeps allocation_info (the role it was offered to)
            piece.scalar.value = amount
            picked.append(piece)
        return picked

    def consider(self, offer):
        resources = None if self.launched else self.pick(offer)
        if resources is None:
            # A filter keeps the offer away for a while instead of back in a second.
            refuse = 3600.0 if self.launched else 30.0
            try:
                self.stub.Decline(self.pb.scheduler.DeclineRequest(
                    offer_ids=[offer.id], filters=self.pb.offers.Filters(refuse_seconds=refuse), **self.ids()), timeout=CALL_TIMEOUT_S)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:  # NOT_FOUND: rescinded meanwhile
                    raise
            return
        task = self.pb.tasks.TaskInfo(
            name="hello-python", task_id=self.pb.common.TaskID(value=self.task_id), agent_id=offer.agent_id,
            resources=resources, command=self.pb.tasks.CommandInfo(value=self.command))
        launch = self.pb.offers.Offer.Operation(launch=self.pb.offers.Offer.Operation.Launch(task_infos=[task]))
        self.stub.Accept(self.pb.scheduler.AcceptRequest(
            offer_ids=[offer.id], operations=[launch], filters=self.pb.offers.Filters(refuse_seconds=3600.0), **self.ids()),
            timeout=CALL_TIMEOUT_S)
        self.launched = True
        log(f"Launched task {self.task_id} on agent {offer.agent_id.value} ({offer.hostname})")

    # ---- status updates ---------------------------------------------------------------

    def update(self, status):
        state = self.pb.tasks.TaskState.Name(status.state)
        ours = status.task_id.value == self.task_id
        exit_code = f", exit code {status.exit_code}" if status.HasField("exit_code") else ""
        log(f"Task {status.task_id.value} is {state.replace('TASK_STATE_', 'TASK_')}{exit_code}: {status.message}")
        if status.uuid:
            # Acknowledge after handling, so the agent stops resending it. NOT_FOUND means the
            # master has no update awaiting this (a duplicate delivery): nothing to do.
            try:
                self.stub.Acknowledge(self.pb.scheduler.AcknowledgeRequest(
                    agent_id=status.agent_id, task_id=status.task_id, uuid=status.uuid, **self.ids()), timeout=CALL_TIMEOUT_S)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
        if ours and state in TERMINAL:
            self.result = 0 if state == "TASK_STATE_FINISHED" else 1
        elif ours and not self.launched:
            self.launched = True  # reconciliation after a restart told us it exists

    def teardown(self):
        if self.stub is None or self.stream_id is None:
            return
        try:
            self.stub.Teardown(self.pb.scheduler.TeardownRequest(**self.ids()), timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as e:
            log(f"Teardown failed: {e.code().name}: {e.details()}")
        finally:
            self.channel.close()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masters", required=True, help="host:port of the masters, comma-separated")
    parser.add_argument("--command", default="echo hello from python", help="the task's shell command")
    parser.add_argument("--cpus", type=float, default=0.1)
    parser.add_argument("--mem", type=float, default=32.0, help="MB")
    parser.add_argument("--role", default="*")
    parser.add_argument("--gen", default=os.path.join(here, "gen"), help="where generate.sh wrote the dcos.v1 modules")
    args = parser.parse_args()
    pb = load_protocol(args.gen)
    framework = HelloFramework(pb, [m.strip() for m in args.masters.split(",") if m.strip()], args.command, args.cpus, args.mem, args.role)
    try:
        code = framework.run()
    except Refused as e:
        log(f"hello-python: {e}")
        return 2
    framework.teardown()
    log("Done: the task " + ("finished" if code == 0 else "did not finish"))
    return code


if __name__ == "__main__":
    sys.exit(main())
