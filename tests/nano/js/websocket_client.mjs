// The node's WebSocket API through a real WebSocket client (ws, from npm),
// as a wallet or an exchange subscribes to nano-node's: a send made by
// nanocurrency-js and processed through the RPC must reach the client
// subscribed to its destination as new_unconfirmed_block, then as a
// confirmation in nano-node's shape, and must not reach a client that
// filters on another account. The node votes with the dev genesis key, so
// it confirms the send on its own. Usage: node websocket_client.mjs RPC WS
import WebSocket from 'ws';
import * as nano from 'nanocurrency';

const rpc = `http://${process.argv[2]}/`;
const wsUrl = `ws://${process.argv[3]}`;
const GENESIS_KEY = '34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4';
const GENESIS_HASH = '04270D7F11C4B2B472F2854C5A59F2A7E84226CE9ED799DE75744BD7D85FC9D9';
const MAX = 340282366920938463463374607431768211455n;
const AMOUNT = 1000000000000000000000000000000n;
const WAIT_MS = 20_000; // bound of each wait for a message

let failures = 0;
function expect(what, got, want) {
  if (got !== want) {
    console.error(`FAIL ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    failures++;
  }
}

// A client that keeps every message it gets and can wait for one.
async function connect(name) {
  const ws = new WebSocket(wsUrl);
  const got = [];
  const waiters = [];
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    got.push(m);
    for (const w of [...waiters]) {
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = (what, match) => {
    const seen = got.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`${name}: no ${what} within ${WAIT_MS} ms`));
      }, WAIT_MS);
      const w = {
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      waiters.push(w);
    });
  };
  const send = (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  return { ws, got, next, send };
}

const genesis = nano.deriveAddress(nano.derivePublicKey(GENESIS_KEY), { useNanoPrefix: true });
const dest = nano.deriveAddress(nano.derivePublicKey(nano.deriveSecretKey('00'.repeat(32), 9)), {
  useNanoPrefix: true,
});
const other = nano.deriveAddress(nano.derivePublicKey(nano.deriveSecretKey('00'.repeat(32), 10)), {
  useNanoPrefix: true,
});

// A subscribes to confirmations of the destination (with the block and the
// election), to new blocks and to elections; B only to another account.
const a = await connect('A');
a.send({
  action: 'subscribe',
  topic: 'confirmation',
  ack: true,
  id: 'confirm-1',
  options: { accounts: [dest], include_election_info: 'true', include_block: 'true' },
});
const ack = await a.next('subscribe ack', (m) => m.ack === 'subscribe');
expect('ack id', ack.id, 'confirm-1');
expect('ack time is milliseconds', /^[0-9]{13}$/.test(ack.time), true);
for (const topic of ['new_unconfirmed_block', 'started_election', 'stopped_election']) {
  a.send({ action: 'subscribe', topic, ack: true, id: topic });
  await a.next(`${topic} ack`, (m) => m.ack === 'subscribe' && m.id === topic);
}
a.send({ action: 'ping', id: 'p1' });
expect('pong id', (await a.next('pong', (m) => m.ack === 'pong')).id, 'p1');

const b = await connect('B');
b.send({ action: 'subscribe', topic: 'confirmation', ack: true, options: { accounts: [other] } });
await b.next('subscribe ack', (m) => m.ack === 'subscribe');

// Bad input gets an error answer, and the session stays usable.
a.send('{ not json');
await a.next('error for bad JSON', (m) => typeof m.error === 'string');
a.send({ action: 'subscribe', topic: 'no_such_topic', ack: true, id: 'bad' });
await a.next('error for an unknown topic', (m) => m.id === 'bad' && typeof m.error === 'string');

// The send, made and signed by nanocurrency-js, through the RPC.
const work = await nano.computeWork(GENESIS_HASH, { workThreshold: 'fffc000000000000' });
const { hash, block } = nano.createBlock(GENESIS_KEY, {
  work,
  previous: GENESIS_HASH,
  representative: genesis,
  balance: (MAX - AMOUNT).toString(),
  link: dest,
});
const HASH = hash.toUpperCase();
const r = await fetch(rpc, {
  method: 'POST',
  body: JSON.stringify({ action: 'process', json_block: 'true', subtype: 'send', block }),
});
expect('process', (await r.json()).hash, HASH);

const fresh = await a.next('new_unconfirmed_block', (m) => m.topic === 'new_unconfirmed_block');
// nano-node's shape: the message is the block itself, with its subtype.
expect('new_unconfirmed_block signature', fresh.message?.signature, block.signature.toUpperCase());
expect('new_unconfirmed_block subtype', fresh.message?.subtype, 'send');
const started = await a.next('started_election', (m) => m.topic === 'started_election');
expect('started_election hash', started.message?.hash, HASH);
const conf = await a.next('confirmation', (m) => m.topic === 'confirmation');
expect('confirmation time is milliseconds', /^[0-9]{13}$/.test(conf.time), true);
const m = conf.message ?? {};
expect('confirmation hash', m.hash, HASH);
expect('confirmation account', m.account, genesis);
expect('confirmation amount', m.amount, AMOUNT.toString());
expect('confirmation_type', m.confirmation_type, 'active_quorum');
expect('block subtype', m.block?.subtype, 'send');
expect('block link_as_account', m.block?.link_as_account, dest);
expect('block signature', m.block?.signature, block.signature.toUpperCase());
// The genesis representative's weight once the send left its account.
expect('election_info tally', m.election_info?.tally, (MAX - AMOUNT).toString());
expect('election_info voters', m.election_info?.voters, '1');

// stopped_election is for elections that end without a confirmation, as
// in nano-node: this one was confirmed.
expect('no stopped_election', a.got.filter((m) => m.topic === 'stopped_election').length, 0);

// B filtered on another account: a ping answered after A's confirmation
// proves nothing was queued for B before it.
b.send({ action: 'ping', id: 'after' });
await b.next('pong', (m) => m.ack === 'pong');
expect('B got no confirmation', b.got.filter((m) => m.topic === 'confirmation').length, 0);

// update adds the account to B's filter; unsubscribe stops A's stream.
b.send({ action: 'update', topic: 'confirmation', ack: true, id: 'u', options: { accounts_add: [dest] } });
await b.next('update ack', (m) => m.ack === 'update' && m.id === 'u');
a.send({ action: 'unsubscribe', topic: 'confirmation', ack: true, id: 'bye' });
await a.next('unsubscribe ack', (m) => m.ack === 'unsubscribe' && m.id === 'bye');

a.ws.close();
b.ws.close();
if (failures) {
  console.error(`${failures} failure(s)`);
  process.exit(1);
}
console.log('websocket client: ok');
process.exit(0);
