// Drives MQTT.js over WebSocket for Petrel's interop tests:
//
//   node ws.js URL VERSION CLIENT_ID [CA_FILE]
//
// URL is ws://host:port/path or wss://...; VERSION is 311 or 5; CA_FILE,
// for wss, is the PEM of the CA that signed the server's certificate. The
// client subscribes to echo/CLIENT_ID at QoS 1, publishes "hello over
// WebSocket" there at QoS 1, prints the message it gets back as one JSON
// line and exits 0; any failure prints an error line and exits 1.
'use strict';

const fs = require('node:fs');
const mqtt = require('mqtt');

const emit = (fields) => process.stdout.write(JSON.stringify(fields) + '\n');
const fail = (msg) => {
  emit({ event: 'error', error: String(msg) });
  process.exit(1);
};

const [url, version, clientId, caFile] = process.argv.slice(2);
const client = mqtt.connect(url, {
  protocolVersion: version === '5' ? 5 : 4,
  clientId,
  clean: true,
  connectTimeout: 15000,
  reconnectPeriod: 0,
  ca: caFile ? fs.readFileSync(caFile) : undefined,
});
const topic = `echo/${clientId}`;
client.on('error', fail);
client.on('message', (t, payload, packet) => {
  emit({ event: 'message', topic: t, qos: packet.qos, payload: payload.toString() });
  client.end(false, () => process.exit(0));
});
client.on('connect', async () => {
  try {
    await client.subscribeAsync(topic, { qos: 1 });
    await client.publishAsync(topic, 'hello over WebSocket', { qos: 1 });
  } catch (err) {
    fail(err);
  }
});
setTimeout(() => fail('timed out'), 20000);
