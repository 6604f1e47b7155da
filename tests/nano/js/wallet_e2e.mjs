// A real NANO wallet SDK (nano-wallet-js, pinned in package-lock.json)
// against a chorus-nano node's RPC on the dev network, as a wallet app
// drives it: the dev genesis sends to A; A sees the send as receivable
// once the node counts it confirmed, receives it (opening A), and sends
// part on to B; B receives. A dust send to B (below the wallet's 0.00001
// NANO minimum) must stay out of the wallet's receivable list and in
// account_balance. Balances are checked through fresh wallets and through
// account_balance. Usage: node wallet_e2e.mjs RPC_HOST:PORT
//
// Work: the wallet asks work_generate for the live thresholds
// (SEND_DIFFICULTY fffffff800000000, RECEIVE_DIFFICULTY fffffe0000000000,
// constants of the package with no option to change them) and checks the
// answer against them itself. A dev node refuses that much (above 64x its
// highest threshold, as nano-node's dev network does), and a live send
// would take minutes of CPU per block; so this test sets the package's
// constants to the dev network's thresholds, through the CommonJS build
// whose exports the wallet reads at each use: sends ffc0000000000000 (the
// epoch 2 send threshold), receives fe00000000000000 (the epoch 1
// threshold: the dev ledger has no epoch upgrades, so accounts stay at
// epoch 0 and a receive needs the epoch 1 threshold, above the epoch 2
// receive one, f000000000000000, that live accounts have).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const constants = require('nano-wallet-js/dist/cjs/Constants.js');
constants.SEND_DIFFICULTY = 'ffc0000000000000';
constants.RECEIVE_DIFFICULTY = 'fe00000000000000';
const NanoWallet = require('nano-wallet-js').default;
const nano = require('nanocurrency');

const url = `http://${process.argv[2]}/`;
const GENESIS_KEY = '34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4';
const GENESIS_HASH = '04270D7F11C4B2B472F2854C5A59F2A7E84226CE9ED799DE75744BD7D85FC9D9';
const MAX = 340282366920938463463374607431768211455n;
const TO_A = 10n ** 30n; // 1 NANO
const TO_B = 25n * 10n ** 28n; // 0.25 NANO
const DUST = 1n; // below the wallet's minAmountRaw (10^25 raw)
const WAIT_MS = 60_000; // bound of each wait for the node to confirm

let failures = 0;
function expect(what, got, want) {
  if (got !== want) {
    console.error(`FAIL ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    failures++;
  }
}
process.on('unhandledRejection', (e) => {
  // The wallet precomputes work in the background without a handler.
  console.error(`FAIL unhandled rejection: ${e?.message ?? e}`);
  process.exit(1);
});

// Every request the wallet sends, for the checks and the summary.
const requests = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (target, init) => {
  requests.push(JSON.parse(init.body));
  return realFetch(target, init);
};

// Polls `probe` until it returns a value other than undefined, for at most
// WAIT_MS: the node confirms blocks in its own time.
async function until(what, probe) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const genesisAccount = nano.deriveAddress(nano.derivePublicKey(GENESIS_KEY), {
  useNanoPrefix: true,
});
function wallet(privateKey) {
  return new NanoWallet({
    rpcUrls: url,
    workerUrls: url,
    privateKey,
    representative: genesisAccount,
    timeout: 30_000,
  });
}
const seed = '5EED'.repeat(16);
const genesis = wallet(GENESIS_KEY);
const a = wallet(nano.deriveSecretKey(seed, 1));
const b = wallet(nano.deriveSecretKey(seed, 2));

// Waits until `w` lists the send `hash` as receivable, with `amount`.
async function receivable(w, name, hash, amount) {
  await until(`${name} to see ${hash} as receivable`, async () => {
    await w.sync();
    return w.receivableBlocks.some((r) => r.blockHash === hash) ? true : undefined;
  });
  const entry = w.receivableBlocks.find((r) => r.blockHash === hash);
  expect(`${name}: receivable amount of ${hash}`, entry.amount, amount.toString());
}

await genesis.sync();
expect('genesis balance', genesis.balance, MAX.toString());
expect('genesis frontier', genesis.frontier, GENESIS_HASH);
expect('genesis representative', genesis.currentRepresentative, genesisAccount);

const dust = await genesis.send(b.account, DUST.toString());
const sendA = await genesis.send(a.account, TO_A.toString());
expect('genesis balance after its sends', genesis.balance, (MAX - DUST - TO_A).toString());

await a.sync();
expect('A unopened: balance', a.balance, '0');
expect('A unopened: frontier', a.frontier, null);
await receivable(a, 'A', sendA.hash, TO_A);
const openA = await a.receive(sendA.hash);
expect('A balance after receiving', a.balance, TO_A.toString());
expect('A frontier after receiving', a.frontier, openA.hash);

const sendB = await a.send(b.account, TO_B.toString());
expect('A balance after its send', a.balance, (TO_A - TO_B).toString());
await receivable(b, 'B', sendB.hash, TO_B);
expect(
  'B: the dust send is not listed (below minAmountRaw)',
  b.receivableBlocks.some((r) => r.blockHash === dust.hash),
  false,
);
const openB = await b.receive(sendB.hash);
expect('B balance after receiving', b.balance, TO_B.toString());

// What a fresh wallet of each account reads from the node.
const want = {
  genesis: { account: genesisAccount, balance: MAX - DUST - TO_A, receivable: 0n, frontier: sendA.hash },
  A: { account: a.account, balance: TO_A - TO_B, receivable: 0n, frontier: sendB.hash },
  B: { account: b.account, balance: TO_B, receivable: DUST, frontier: openB.hash },
};
const keys = { genesis: GENESIS_KEY, A: a.config.privateKey, B: b.config.privateKey };
for (const [name, w] of Object.entries(want)) {
  const fresh = wallet(keys[name]);
  await fresh.sync();
  expect(`${name}: wallet balance`, fresh.balance, w.balance.toString());
  expect(`${name}: wallet frontier`, fresh.frontier, w.frontier);
  expect(`${name}: wallet receivable (above its minimum)`, fresh.receivable, '0');
  // account_balance counts confirmed blocks only (nano-node's default):
  // wait for the node to confirm the last block.
  const got = await until(`${name}'s confirmed balance`, async () => {
    const r = await fresh.rpc.accountBalance(w.account);
    return r.balance === w.balance.toString() && r.receivable === w.receivable.toString()
      ? r
      : undefined;
  }).catch((e) => {
    expect(`${name}: account_balance`, e.message, 'matched');
    return undefined;
  });
  if (got) expect(`${name}: account_balance pending`, got.pending, w.receivable.toString());
}
expect(
  'the three balances and the dust add up to the genesis amount',
  want.genesis.balance + want.A.balance + want.B.balance + DUST,
  MAX,
);

// The wallet asked for work at the thresholds set above, never the live ones.
const asked = new Set(requests.filter((r) => r.action === 'work_generate').map((r) => r.difficulty));
expect('work_generate difficulties', [...asked].sort().join(','), 'fe00000000000000,ffc0000000000000');

// Every distinct request shape the wallet sent (the fields, not values).
const shapes = new Set(requests.map((r) => Object.keys(r).join(',')));
console.log(`requests: ${requests.length}`);
for (const s of [...shapes].sort()) console.log(`  ${s}`);
if (failures) {
  console.error(`${failures} failure(s)`);
  process.exit(1);
}
console.log('wallet end to end: ok');
process.exit(0);
