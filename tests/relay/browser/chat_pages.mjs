// The relay chat page (GET /) in headless Chromium: a page on node A and one on
// node B join one channel with a password and chat both ways; a wrong password
// is refused first. Driven only through the page's DOM (ids in chat_page.h).
//
//   CHROMIUM=/usr/lib/chromium/chromium node chat_pages.mjs WS_A WS_B
import { chromium } from 'playwright-core';

const [wsA, wsB] = process.argv.slice(2);
if (!wsA || !wsB) {
  console.error('usage: chat_pages.mjs WS_HOST:PORT_A WS_HOST:PORT_B');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/lib/chromium/chromium';
// The first open of a channel waits for the DHT lock's start-up grace.
const JOIN_MS = 30000;
const DELIVER_MS = 20000;

const tag = Math.random().toString(36).slice(2, 10);
const channel = `browser-${tag}`;
const password = `pw-${tag}`;
const errors = [];
const pages = {};

function fail(message) {
  throw new Error(message);
}

async function open(browser, name, ws) {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const at = m.location().url;
    errors.push(`${name} console: ${m.text()}${at ? ` (${at})` : ''}`);
  });
  page.on('pageerror', (e) => errors.push(`${name} pageerror: ${e.message}`));
  page.on('crash', () => errors.push(`${name} crashed`));
  const response = await page.goto(`http://${ws}/`);
  if (!response || response.status() !== 200) fail(`${name}: GET / answered ${response && response.status()}`);
  pages[name] = page;
  return page;
}

const status = (page) => page.locator('#status').textContent();

// Fills the join form and waits until the page reports joined or refused (the
// page shows "joining #…" on submit, so an earlier refusal does not match).
async function join(page, name, pass) {
  await page.fill('#channel', channel);
  await page.fill('#password', pass);
  await page.click('#join', { timeout: 10000 });  // enabled once the socket is open
  try {
    await page.waitForFunction(
      () => /^in #|could not join/.test(document.getElementById('status').textContent),
      null, { timeout: JOIN_MS });
  } catch {
    fail(`${name}: no answer to the join within ${JOIN_MS} ms (status: "${await status(page)}")`);
  }
  return status(page);
}

// The page's message list, as [class, text] pairs.
const lines = (page) => page.$$eval('#messages li', (li) => li.map((e) => [e.className, e.textContent]));

async function say(from, fromName, to, toName, text, viaEnter) {
  await from.fill('#text', text);
  if (viaEnter) await from.press('#text', 'Enter');
  else await from.click('#send');
  const shown = (page, cls, timeout, where) =>
    page.waitForFunction(([t, c]) => [...document.querySelectorAll('#messages li')]
      .some((e) => e.textContent === t && e.className === c), [text, cls], { timeout })
      .catch(async () => fail(`"${text}" never showed in ${where} within ${timeout} ms ` +
        `(status: "${await status(page)}", lines: ${JSON.stringify(await lines(page))})`));
  await shown(from, 'mine', 5000, `${fromName} (as sent)`);
  await shown(to, '', DELIVER_MS, `${toName} (delivered)`);
}

const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
let code = 0;
try {
  const p1 = await open(browser, 'page 1 (node A)', wsA);
  const p2 = await open(browser, 'page 2 (node B)', wsB);

  let s = await join(p1, 'page 1', password);
  if (s !== `in #${channel}`) fail(`page 1: join refused: "${s}"`);

  // Node B learns the channel (and its password hash) from the DHT/overlay.
  s = await join(p2, 'page 2', `wrong-${tag}`);
  if (!s.includes('invalid password')) fail(`page 2: a wrong password gave "${s}", want "invalid password"`);
  if (!(await p2.isDisabled('#text'))) fail('page 2: the message box is enabled after a refused join');

  s = await join(p2, 'page 2', password);
  if (s !== `in #${channel}`) fail(`page 2: join with the right password refused: "${s}"`);

  const m1 = `hello from A ${tag}`;
  const m2 = `hello from B ${tag}`;
  await say(p1, 'page 1', p2, 'page 2', m1, true);
  await say(p2, 'page 2', p1, 'page 1', m2, false);

  // Exactly these, once each: no duplicates, no copy of one's own message.
  const want1 = [['mine', m1], ['', m2]];
  const want2 = [['', m1], ['mine', m2]];
  const got1 = await lines(p1);
  const got2 = await lines(p2);
  if (JSON.stringify(got1) !== JSON.stringify(want1)) fail(`page 1 lines ${JSON.stringify(got1)}, want ${JSON.stringify(want1)}`);
  if (JSON.stringify(got2) !== JSON.stringify(want2)) fail(`page 2 lines ${JSON.stringify(got2)}, want ${JSON.stringify(want2)}`);
  if (errors.length) fail('errors on the pages');
  console.log(`ok: channel ${channel} across ${wsA} and ${wsB}, both ways; wrong password refused`);
} catch (e) {
  console.log(`FAIL: ${e.message}`);
  if (errors.length) console.log(`page errors:\n  ${errors.join('\n  ')}`);
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
