// A swarm scenario's report.html (chorus swarm --scenario ... --report DIR)
// opened in headless Chromium as a person would open it: from the file.
// Every plot section must hold an SVG that has a size on the page and
// marks drawn in it (paths, lines, rects), and the page must log no console
// error and throw nothing.
//
//   CHROMIUM=/usr/lib/chromium/chromium node report_page.mjs DIR/report.html PLOTS
import { chromium } from 'playwright-core';
import { pathToFileURL } from 'node:url';

const [file, plotsArg] = process.argv.slice(2);
const expected = Number(plotsArg);
if (!file || !(expected > 0)) {
  console.error('usage: report_page.mjs REPORT.html EXPECTED_PLOTS');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/lib/chromium/chromium';
const errors = [];
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
         '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
let failed = null;
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load', timeout: 20000 });
  const plots = await page.evaluate(() => [...document.querySelectorAll('svg')].map((svg) => {
    const box = svg.getBoundingClientRect();
    const marks = svg.querySelectorAll('path, polyline, line, rect, circle').length;
    // The heading the plot sits under, to name it in a failure.
    let h = svg.previousElementSibling;
    while (h && !/^H[1-3]$/.test(h.tagName)) h = h.previousElementSibling;
    return { title: h ? h.textContent : '(untitled)', width: box.width, height: box.height, marks };
  }));
  if (plots.length !== expected) {
    failed = `${plots.length} plots on the page, expected ${expected}: ${plots.map((p) => p.title)}`;
  }
  for (const p of plots) {
    if (!(p.width > 50 && p.height > 50)) failed = `plot "${p.title}" has no size: ${p.width}x${p.height}`;
    if (p.marks < 3) failed = `plot "${p.title}" draws only ${p.marks} marks`;
  }
  if (!failed) console.log(`report page: ${plots.length} plots rendered: ${plots.map((p) => `${p.title} (${p.marks} marks)`).join(', ')}`);
} finally {
  await browser.close();
}
if (errors.length) failed = `page errors: ${errors.join('; ')}`;
if (failed) {
  console.error(`FAIL: ${failed}`);
  process.exit(1);
}
