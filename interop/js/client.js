// Drives MQTT.js for Petrel's interop tests. Speaks the same command line
// and JSON-lines output as interop/python/client.py, so the Go tests treat
// both alike:
//
//   node client.js HOST PORT VERSION CLIENT_ID pub            (messages on stdin)
//   node client.js HOST PORT VERSION CLIENT_ID sub FILTER QOS
//   node client.js HOST PORT VERSION CLIENT_ID will MESSAGE [MESSAGE...]
//
// VERSION is 31, 311 or 5; a MESSAGE is TOPIC,QOS,RETAIN,HEX-PAYLOAD. pub
// publishes each message line it reads and reports it acknowledged, and at
// the end of its input disconnects and exits. will opens one connection per
// message, each with that message as its will. sub and will run until
// killed; on SIGTERM they disconnect and exit 0.
'use strict';

const readline = require('node:readline');
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

// connect resolves once CONNACK accepted the connection.
function connect(id, will) {
  const client = mqtt.connect({
    host,
    port: Number(port),
    protocol: 'mqtt',
    ...protocol,
    clientId: id,
    clean: true,
    keepalive: 30,
    connectTimeout: 15000,
    // A lost connection must show up as a failure, not be papered over.
    reconnectPeriod: 0,
    will,
  });
  client.on('error', fail);
  client.on('close', () => {
    if (!client.disconnecting) fail('connection closed');
  });
  client.on('message', (topic, payload, packet) => {
    emit({ event: 'message', topic, qos: packet.qos, retain: packet.retain, payload: payload.toString('hex') });
  });
  return new Promise((resolve) => {
    client.once('connect', () => {
      emit({ event: 'connected' });
      resolve(client);
    });
  });
}

const clients = [];
process.on('SIGTERM', async () => {
  await Promise.all(clients.map((c) => c.endAsync()));
  process.exit(0);
});

async function main() {
  if (cmd === 'will') {
    const pending = args.map((arg, i) => connect(`${clientId}-${i}`, parseMessage(arg)));
    clients.push(...(await Promise.all(pending)));
    return;
  }
  const client = await connect(clientId);
  clients.push(client);
  if (cmd === 'pub') {
    for await (const line of readline.createInterface({ input: process.stdin })) {
      if (!line.trim()) continue;
      const m = parseMessage(line.trim());
      await client.publishAsync(m.topic, m.payload, { qos: m.qos, retain: m.retain });
      emit({ event: 'published', topic: m.topic });
    }
    await client.endAsync();
    process.exit(0);
  } else if (cmd === 'sub') {
    const granted = await client.subscribeAsync(args[0], { qos: Number(args[1]) });
    emit({ event: 'subscribed', granted: granted.map((g) => g.qos) });
  }
}

main().catch(fail);
