// A state send from the dev genesis, made, worked and signed by
// nanocurrency-js (not by Chorus), sent to a chorus-nano node's RPC; then
// the RPC must report the new balances and the receivable entry as
// nano-node would. Usage: node foreign_block.mjs HOST:PORT
import * as nano from 'nanocurrency';

const rpc = `http://${process.argv[2]}/`;
const GENESIS_KEY = '34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4';
const GENESIS_HASH = '04270D7F11C4B2B472F2854C5A59F2A7E84226CE9ED799DE75744BD7D85FC9D9';
const MAX = 340282366920938463463374607431768211455n;
const AMOUNT = 1000000000000000000000000000000n;  // 1 NANO

let failures = 0;
function expect(what, got, want) {
  if (got !== want) {
    console.error(`FAIL ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    failures++;
  }
}
async function ask(body) {
  const r = await fetch(rpc, { method: 'POST', body: JSON.stringify(body) });
  expect(`HTTP status of ${body.action}`, r.status, 200);
  return r.json();
}

const genesis = nano.deriveAddress(nano.derivePublicKey(GENESIS_KEY), { useNanoPrefix: true });
const destKey = nano.deriveSecretKey('00'.repeat(32), 7);
const dest = nano.deriveAddress(nano.derivePublicKey(destKey), { useNanoPrefix: true });
const work = await nano.computeWork(GENESIS_HASH, { workThreshold: 'fffc000000000000' });
const { hash, block } = nano.createBlock(GENESIS_KEY, {
  work,
  previous: GENESIS_HASH,
  representative: genesis,
  balance: (MAX - AMOUNT).toString(),
  link: dest,
});

const processed = await ask({ action: 'process', json_block: 'true', subtype: 'send', block });
expect('process', processed.hash, hash.toUpperCase());
const again = await ask({ action: 'process', json_block: true, block });
expect('the same block again', again.error, 'Old block');

// The node holds no representative key, so the send stays unconfirmed: as
// in nano-node, the receivable figures count it only when asked to
// include unconfirmed blocks.
const bal = await ask({ action: 'account_balance', account: dest });
expect('destination balance', bal.balance, '0');
expect('destination receivable (confirmed only)', bal.receivable, '0');
const all = await ask({ action: 'account_balance', account: dest, include_only_confirmed: 'false' });
expect('destination receivable', all.receivable, AMOUNT.toString());
expect('destination pending', all.pending, AMOUNT.toString());
const info = await ask({ action: 'account_info', account: genesis, representative: 'true' });
expect('genesis balance', info.balance, (MAX - AMOUNT).toString());
expect('genesis frontier', info.frontier, hash.toUpperCase());
expect('genesis block_count', info.block_count, '2');
expect('genesis representative', info.representative, genesis);
const unconfirmed = await ask({ action: 'receivable', account: dest, source: 'true' });
expect('receivable (confirmed only)', unconfirmed.blocks, '');
const rec = await ask({ action: 'receivable', account: dest, source: 'true',
                        include_only_confirmed: 'false' });
expect('receivable amount', rec.blocks?.[hash.toUpperCase()]?.amount, AMOUNT.toString());
expect('receivable source', rec.blocks?.[hash.toUpperCase()]?.source, genesis);
const bi = await ask({ action: 'block_info', hash, json_block: 'true' });
expect('block_info amount', bi.amount, AMOUNT.toString());
expect('block_info subtype', bi.subtype, 'send');
expect('block_info signature', bi.contents?.signature, block.signature.toUpperCase());
expect('unopened destination', (await ask({ action: 'account_info', account: dest })).error,
       'Account not found');

if (failures) process.exit(1);
console.log(`ok: a nanocurrency-js block ${hash.slice(0, 16)}… processed, balances and receivable as nano-node reports them`);
