// Browser end-to-end test of the paint tab, driven by playwright-core on Debian's /usr/bin/chromium.
//
//   node tests/e2e/paint.mjs <app url> <screenshot.png> [chromium path]
//
// The script:
//   1. opens the Paint tab and starts from a blank facade;
//   2. clicks two corners on the label map: a "window" rectangle is filled;
//   3. presses Render and waits until a new painted photo arrives;
//   4. segments an example facade on the Segmentation tab, presses "Edit these labels" and checks that the
//      paint tab shows the segmentation's map;
//   5. saves a screenshot.
// Any failed expectation exits non-zero with a message that says which step failed.
import { openPage, TIMEOUT, waitForText } from './common.mjs';

const [url, screenshot, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node paint.mjs <app url> <screenshot.png> [chromium path]');
  process.exit(2);
}
async function imageSource(page, selector) {
  return page.locator(`${selector} img`).first().getAttribute('src', { timeout: 1000 }).catch(() => null);
}

async function waitForNewImage(page, selector, before, what) {
  const deadline = Date.now() + TIMEOUT;
  while (Date.now() < deadline) {
    const src = await imageSource(page, selector);
    if (src && src !== before) return src;
    await page.waitForTimeout(250);
  }
  throw new Error(`${what}: no new image in ${selector}`);
}

// Click image pixel (x, y) of a gr.Image whose picture is `size` pixels square.
async function clickPixel(page, selector, x, y, size) {
  const box = await page.locator(`${selector} img`).first().boundingBox();
  await page.mouse.click(box.x + (x + 0.5) * box.width / size, box.y + (y + 0.5) * box.height / size);
}

const { browser, page, pageErrors } = await openPage(executablePath);
try {
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: TIMEOUT });
  await page.getByRole('tab', { name: 'Paint' }).click();

  // 1. A blank facade.
  await page.locator('#paint-blank').click();
  await waitForText(page, '#paint-status', /blank facade/, 'Blank facade');
  await page.locator('#paint-labels img').first().waitFor({ state: 'visible', timeout: TIMEOUT });

  // 2. A window rectangle from two clicks (the class radio starts at "window").
  await clickPixel(page, '#paint-labels', 60, 50, 256);
  await waitForText(page, '#paint-status', /First corner/, 'first rectangle corner');
  await clickPixel(page, '#paint-labels', 120, 130, 256);
  await waitForText(page, '#paint-status', /Filled .* with window/, 'second rectangle corner');

  // 3. Render: a new photo arrives (live rendering may have sent one already: Render must send another).
  await page.waitForTimeout(1000);
  const before = await imageSource(page, '#paint-photo');
  await page.locator('#paint-render').click();
  await waitForNewImage(page, '#paint-photo', before, 'Render');
  await waitForText(page, '#paint-status', /Rendered a 256×256 facade/, 'Render status');

  // 4. "Edit these labels" carries a segmentation over.
  await page.getByRole('tab', { name: 'Segmentation' }).click();
  await page.locator('#seg-examples button').first().click();
  await waitForText(page, '#seg-status', /Segmented a 256×256 photo/, 'segmenting an example');
  const map = await imageSource(page, '#paint-labels');
  await page.locator('#seg-edit').click();
  await waitForText(page, '#paint-status', /segmentation's label map/, 'Edit these labels');
  await waitForNewImage(page, '#paint-labels', map, 'the sent label map');
  await page.locator('#paint-labels img').first().waitFor({ state: 'visible', timeout: TIMEOUT });

  // 5. Screenshot.
  await page.screenshot({ path: screenshot, fullPage: true });
  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
  console.log('paint e2e: ok');
} catch (err) {
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  console.error(String(err.message || err));
  process.exitCode = 1;
} finally {
  await browser.close();
}
