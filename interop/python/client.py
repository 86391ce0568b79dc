"""Drives Debian's python3-paho-mqtt for Petrel's interop tests.

Speaks the same command line and JSON-lines output as interop/js/client.js,
so the Go tests treat both alike:

  client.py HOST PORT VERSION CLIENT_ID pub TOPIC,QOS,RETAIN,HEX [...]
  client.py HOST PORT VERSION CLIENT_ID sub FILTER QOS
  client.py HOST PORT VERSION CLIENT_ID will TOPIC,QOS,RETAIN,HEX

VERSION is 31, 311 or 5. Output lines are {"event": ...} objects: connected,
subscribed (with granted), message (topic, qos, retain, payload as hex),
published (after each acknowledgement), error. pub exits once every message
is acknowledged; sub and will run until killed, and on SIGTERM disconnect
and exit 0.

Written for paho-mqtt 1.6 (Debian bookworm); on 2.x it asks for the 1.x
callback signatures so it keeps working.
"""

import json
import os
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt

TIMEOUT = 15

out_lock = threading.Lock()


def emit(**fields):
    with out_lock:
        print(json.dumps(fields), flush=True)


def fail(msg):
    emit(event="error", error=msg)
    # Callbacks run on paho's network thread, where sys.exit would end only
    # that thread.
    os._exit(1)


def parse_message(arg):
    topic, qos, retain, payload = arg.rsplit(",", 3)
    return topic, int(qos), retain == "1", bytes.fromhex(payload)


def reason_value(rc):
    # v5 callbacks pass ReasonCodes objects, v3 plain ints.
    return getattr(rc, "value", rc)


def main():
    host, port, version, client_id, cmd = sys.argv[1:6]
    args = sys.argv[6:]
    protocol = {"31": mqtt.MQTTv31, "311": mqtt.MQTTv311, "5": mqtt.MQTTv5}[version]

    kwargs = {"client_id": client_id, "protocol": protocol}
    if hasattr(mqtt, "CallbackAPIVersion"):
        kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
    if protocol != mqtt.MQTTv5:
        # paho refuses clean_session for v5, where connect() takes clean_start.
        kwargs["clean_session"] = True
    client = mqtt.Client(**kwargs)

    connected = threading.Event()
    subscribed = threading.Event()

    def on_connect(client, userdata, flags, rc, properties=None):
        if reason_value(rc) != 0:
            fail("CONNACK refused: %s" % rc)
        emit(event="connected")
        connected.set()

    def on_subscribe(client, userdata, mid, granted, properties=None):
        emit(event="subscribed", granted=[reason_value(g) for g in granted])
        subscribed.set()

    def on_message(client, userdata, msg):
        emit(event="message", topic=msg.topic, qos=msg.qos,
             retain=bool(msg.retain), payload=msg.payload.hex())

    def on_disconnect(client, userdata, rc, properties=None):
        if reason_value(rc) != 0:
            fail("connection lost: %s" % rc)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect

    if cmd == "will":
        topic, qos, retain, payload = parse_message(args[0])
        client.will_set(topic, payload, qos, retain)

    def on_term(signum, frame):
        client.disconnect()
        client.loop_stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)

    client.connect(host, int(port), keepalive=30)
    client.loop_start()
    if not connected.wait(TIMEOUT):
        fail("no CONNACK in %ds" % TIMEOUT)

    if cmd == "pub":
        for arg in args:
            topic, qos, retain, payload = parse_message(arg)
            info = client.publish(topic, payload, qos, retain)
            info.wait_for_publish(TIMEOUT)
            if not info.is_published():
                fail("publish to %s not acknowledged in %ds" % (topic, TIMEOUT))
            emit(event="published", topic=topic)
        client.disconnect()
        client.loop_stop()
        return

    if cmd == "sub":
        filt, qos = args[0], int(args[1])
        client.subscribe(filt, qos)
        if not subscribed.wait(TIMEOUT):
            fail("no SUBACK in %ds" % TIMEOUT)

    # sub and will stay connected until the test ends the process: SIGKILL
    # drops the connection, SIGTERM (handled from the start) disconnects.
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
