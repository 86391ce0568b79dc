// Drives MQTT.js for Petrel's interop tests. Speaks the same command line
// and JSON-lines output as interop/python/client.py, so the Go tests treat
// both alike:
//
//   node client.js HOST PORT VERSION CLIENT_ID pub TOPIC,QOS,RETAIN,HEX [...]
//   node client.js HOST PORT VERSION CLIENT_ID sub FILTER QOS
//   node client.js HOST PORT VERSION CLIENT_ID will TOPIC,QOS,RETAIN,HEX
//
// VERSION is 31, 311 or 5. pub exits once every message is acknowledged;
// sub and will run until killed, and on SIGTERM disconnect and exit 0.
'use strict';

const mqtt = require('mqtt');

const emit = (fields) => process.stdout.write(JSON.stringify(fields) + '\n');

function fail(msg) {
  emit({ event: 'error', error: String(msg) });
  process.exit(1);
}

function parseMessage(arg) {
  const parts = arg.split(',');
  const hex = parts.pop();
  const retain = parts.pop() === '1';
  const qos = Number(parts.pop());
  return { topic: parts.join(','), qos, retain, payload: Buffer.from(hex, 'hex') };
}

const [host, port, version, clientId, cmd, ...args] = process.argv.slice(2);
const protocol = {
  31: { protocolId: 'MQIsdp', protocolVersion: 3 },
  311: { protocolId: 'MQTT', protocolVersion: 4 },
  5: { protocolId: 'MQTT', protocolVersion: 5 },
}[version];
if (!protocol) fail(`unknown MQTT version ${version}`);

const opts = {
  host,
  port: Number(port),
  protocol: 'mqtt',
  ...protocol,
  clientId,
  clean: true,
  keepalive: 30,
  connectTimeout: 15000,
  // A lost connection must show up as a failure, not be papered over.
  reconnectPeriod: 0,
};
if (cmd === 'will') opts.will = parseMessage(args[0]);

const client = mqtt.connect(opts);
process.on('SIGTERM', () => client.end(false, {}, () => process.exit(0)));
client.on('error', fail);
client.on('close', () => {
  if (!client.disconnecting) fail('connection closed');
});
client.on('message', (topic, payload, packet) => {
  emit({ event: 'message', topic, qos: packet.qos, retain: packet.retain, payload: payload.toString('hex') });
});

client.once('connect', async () => {
  emit({ event: 'connected' });
  try {
    if (cmd === 'pub') {
      for (const arg of args) {
        const m = parseMessage(arg);
        await client.publishAsync(m.topic, m.payload, { qos: m.qos, retain: m.retain });
        emit({ event: 'published', topic: m.topic });
      }
      await client.endAsync();
      process.exit(0);
    } else if (cmd === 'sub') {
      const granted = await client.subscribeAsync(args[0], { qos: Number(args[1]) });
      emit({ event: 'subscribed', granted: granted.map((g) => g.qos) });
    }
  } catch (err) {
    fail(err);
  }
});
