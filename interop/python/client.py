"""Drives Debian's python3-paho-mqtt for Petrel's interop tests.

Speaks the same command line and JSON-lines output as interop/js/client.js,
so the Go tests treat both alike:

  client.py HOST PORT VERSION CLIENT_ID pub            (messages on stdin)
  client.py HOST PORT VERSION CLIENT_ID sub FILTER QOS
  client.py HOST PORT VERSION CLIENT_ID will MESSAGE [MESSAGE...]

VERSION is 31, 311 or 5; a MESSAGE is TOPIC,QOS,RETAIN,HEX-PAYLOAD. pub
publishes each message line it reads and reports it acknowledged, and at
the end of its input disconnects and exits. will opens one connection per
message, each with that message as its will. Output lines are JSON objects
whose "event" is connected, subscribed (with granted), message (topic, qos,
retain, payload as hex), published or error. sub and will run until
killed; on SIGTERM they disconnect and exit 0.

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


class Connection:
    """One client connection, its network loop on paho's thread."""

    def __init__(self, host, port, protocol, client_id, will=None):
        kwargs = {"client_id": client_id, "protocol": protocol}
        if hasattr(mqtt, "CallbackAPIVersion"):
            kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
        if protocol != mqtt.MQTTv5:
            # paho refuses clean_session for v5, where connect() takes
            # clean_start.
            kwargs["clean_session"] = True
        self.client = mqtt.Client(**kwargs)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.closing = False
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_message = self.on_message
        self.client.on_disconnect = self.on_disconnect
        if will is not None:
            topic, qos, retain, payload = will
            self.client.will_set(topic, payload, qos, retain)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def on_connect(self, client, userdata, flags, rc, properties=None):
        if reason_value(rc) != 0:
            fail("CONNACK refused: %s" % rc)
        emit(event="connected")
        self.connected.set()

    def on_subscribe(self, client, userdata, mid, granted, properties=None):
        emit(event="subscribed", granted=[reason_value(g) for g in granted])
        self.subscribed.set()

    def on_message(self, client, userdata, msg):
        emit(event="message", topic=msg.topic, qos=msg.qos,
             retain=bool(msg.retain), payload=msg.payload.hex())

    def on_disconnect(self, client, userdata, rc, properties=None):
        if not self.closing:
            fail("connection lost: %s" % rc)

    def wait_connected(self):
        if not self.connected.wait(TIMEOUT):
            fail("no CONNACK in %ds" % TIMEOUT)

    def close(self):
        self.closing = True
        self.client.disconnect()
        self.client.loop_stop()


def main():
    host, port, version, client_id, cmd = sys.argv[1:6]
    args = sys.argv[6:]
    port = int(port)
    protocol = {"31": mqtt.MQTTv31, "311": mqtt.MQTTv311, "5": mqtt.MQTTv5}[version]

    conns = []

    def on_term(signum, frame):
        for c in conns:
            c.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)

    if cmd == "will":
        for i, arg in enumerate(args):
            conns.append(Connection(host, port, protocol, "%s-%d" % (client_id, i), parse_message(arg)))
    else:
        conns.append(Connection(host, port, protocol, client_id))
    for c in conns:
        c.wait_connected()

    if cmd == "pub":
        client = conns[0].client
        for line in sys.stdin:
            if not line.strip():
                continue
            topic, qos, retain, payload = parse_message(line.strip())
            info = client.publish(topic, payload, qos, retain)
            info.wait_for_publish(TIMEOUT)
            if not info.is_published():
                fail("publish to %s not acknowledged in %ds" % (topic, TIMEOUT))
            emit(event="published", topic=topic)
        conns[0].close()
        return

    if cmd == "sub":
        filt, qos = args[0], int(args[1])
        conns[0].client.subscribe(filt, qos)
        if not conns[0].subscribed.wait(TIMEOUT):
            fail("no SUBACK in %ds" % TIMEOUT)

    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
