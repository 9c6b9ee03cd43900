"""The simulator as seen by greenswitch, a third-party Event Socket client.

Run by check-third-party.sh against fake-freeswitch playing
scenarios/third-party.json: one call that starts when a client subscribes,
answers after 1 s and is hung up by its caller after 3 s (simulated).
"""

import json
import sys

import gevent
import greenswitch
from gevent.queue import Empty, Queue

UUID = "8d1f3c52-3f0b-4d8e-9a57-7e1a2c3b4d5e"
TIMEOUT = 20

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print("%s %s%s" % ("ok  " if ok else "FAIL", name, "" if ok else ": %s" % (detail,)))
    return ok


def wait_for(queue, pred):
    deadline = gevent.get_hub().loop.now() + TIMEOUT
    while True:
        left = deadline - gevent.get_hub().loop.now()
        if left <= 0:
            return None
        try:
            ev = queue.get(timeout=left)
        except Empty:
            return None
        if pred(ev.headers):
            return ev


def main(host, port):
    esl = greenswitch.InboundESL(host=host, port=port, password="ClueCon")
    try:
        esl.connect()
        check("connect and auth", esl.connected)
    except Exception as e:  # noqa: BLE001 - any failure is a failed check
        check("connect and auth", False, repr(e))
        return

    events = Queue()
    for name in ("CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB"):
        esl.register_handle(name, events.put)

    r = esl.send("event plain CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB")
    check("subscribe", r.data == "+OK event listener enabled plain", r.headers)

    answer = wait_for(events, lambda h: h.get("Event-Name") == "CHANNEL_ANSWER")
    if check("CHANNEL_ANSWER received", answer is not None, "timeout"):
        h = answer.headers
        expected = {
            "Unique-ID": UUID,
            "Caller-Caller-ID-Number": "1001",
            "Caller-Caller-ID-Name": "Third Party",
            "Caller-Username": "1001",
            "Caller-Destination-Number": "1002",
            "Answer-State": "answered",
            "Call-Direction": "inbound",
            "Channel-Call-State": "RINGING",
            "variable_cgr_account": "1001",
            "variable_cgr_reqtype": "*prepaid",
            "variable_cgr_notify": "+AUTH_OK",
        }
        wrong = {k: (h.get(k), v) for k, v in expected.items() if h.get(k) != v}
        ts = h.get("Event-Date-Timestamp", "")
        if not (ts.isdigit() and len(ts) == 16):
            wrong["Event-Date-Timestamp"] = ts
        if h.get("Caller-Channel-Answered-Time") != ts:
            wrong["Caller-Channel-Answered-Time"] = h.get("Caller-Channel-Answered-Time")
        check("CHANNEL_ANSWER headers decoded", not wrong, wrong)

    r = esl.send("api uuid_getvar %s cgr_account" % UUID)
    check("api uuid_getvar", r.data == "1001", repr(r.data))
    r = esl.send("api status")
    check("api status", r.data.startswith("UP ") and " is ready" in r.data, repr(r.data))

    r = esl.send("bgapi uuid_exists %s" % UUID)
    job = r.headers.get("Job-UUID", "")
    check("bgapi reply", r.data == "+OK Job-UUID: %s" % job and len(job) == 36, r.headers)
    done = wait_for(events, lambda h: h.get("Event-Name") == "BACKGROUND_JOB")
    if check("BACKGROUND_JOB received", done is not None, "timeout"):
        h = done.headers
        ok = (
            h.get("Job-UUID") == job
            and h.get("Job-Command") == "uuid_exists"
            and h.get("Job-Command-Arg") == UUID
        )
        check("BACKGROUND_JOB headers", ok, h)

    hangup = wait_for(events, lambda h: h.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE")
    if check("CHANNEL_HANGUP_COMPLETE received", hangup is not None, "timeout"):
        h = hangup.headers
        ok = (
            h.get("variable_billsec") == "3"
            and h.get("Hangup-Cause") == "NORMAL_CLEARING"
            and h.get("Answer-State") == "hangup"
        )
        check("CHANNEL_HANGUP_COMPLETE billing headers", ok, h)

    r = esl.send("api sim_record %s" % UUID)
    try:
        record = json.loads(r.data)
        ok = record["hangup_by"] == "caller" and record["billsec"] == 3 and record["answered"]
        check("simulator's call record", ok, record)
    except (ValueError, KeyError) as e:
        check("simulator's call record", False, "%r: %r" % (e, r.data))

    esl.stop()


if __name__ == "__main__":
    try:
        with gevent.Timeout(2 * TIMEOUT + 20):
            main(sys.argv[1], int(sys.argv[2]))
    except gevent.Timeout:
        check("finished in time", False, "timeout")
    passed = sum(results)
    failed = len(results) - passed
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not results else 0)
