// A WSRelay client for scripts/faults.sh (spec/relay.md §4), run with
// `node --experimental-websocket relay_client.js WS_ADDRESS TOPIC`.
// Subscribes to TOPIC (again every second until the node says ok: a new
// channel's reservation may not have settled yet), prints "subscribed",
// then sends every stdin line as a message on TOPIC and prints each
// delivery as "got MESSAGE". Exits when the socket closes.
'use strict';
const [address, topic] = process.argv.slice(2);
const ws = new WebSocket(`ws://${address}/connect`);
let subscribed = false;
let nonce = 0;
const sends = new Set();  // nonces of our sends, to tell their answers apart
const request = (command, data) => {
  ws.send(JSON.stringify({ command, data, nonce: ++nonce }));
  return nonce;
};
const subscribe = () => { if (!subscribed) request('subscribe', { topic }); };
let retry;
ws.addEventListener('open', () => {
  subscribe();
  retry = setInterval(subscribe, 1000);
  let buffered = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line) sends.add(request('send', { channel: topic, message: line }));
    }
  });
});
ws.addEventListener('message', (event) => {
  const frame = JSON.parse(event.data);
  if (frame.type === 'message') {
    console.log(`got ${frame.data.message}`);
  } else if (frame.type === 'response' && !frame.data.ok) {
    console.log(`refused ${frame.data.reason}`);
  } else if (frame.type === 'response' && sends.has(frame.nonce)) {
    console.log('sent');
  } else if (frame.type === 'response' && !subscribed) {
    subscribed = true;
    clearInterval(retry);
    console.log('subscribed');
  }
});
ws.addEventListener('close', () => process.exit(0));
ws.addEventListener('error', (e) => { console.log(`error ${e.message || e}`); process.exit(1); });
