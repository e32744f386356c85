// Browser end-to-end test of app.py, driven by playwright-core on Debian's /usr/bin/chromium.
//
//   node tests/e2e/drag.mjs <app url> <screenshot.png> [chromium path] [face photo]
//
// The app must run with the bundled facades generator (python app.py --demo). The script:
//   1. presses Start with no points            -> a visible "Start needs points" message;
//   2. presses "Detect landmarks" and a preset -> a visible "need a face model" message (the bundled
//      generator draws facades, not faces);
//   3. uploads a text file as a facade photo   -> a visible error; an example facade still segments;
//   4. clicks a handle and a target on the image, presses Start, and waits until the step
//      counter advances and the image changes; then presses Stop mid-run;
//   5. with a face photo: uploads it under "Your own photo", inverts it with 4 + 2 steps and waits until
//      the drag image shows the inverted face and the status says which loss ran and the PSNR;
//   6. saves a screenshot.
// Any failed expectation exits non-zero with a message that says which step failed.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, openPage, TIMEOUT, waitForText } from './common.mjs';

const [url, screenshot, executablePath = '/usr/bin/chromium', facePhoto = ''] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node drag.mjs <app url> <screenshot.png> [chromium path]');
  process.exit(2);
}
const { browser, page, pageErrors } = await openPage(executablePath);
try {
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: TIMEOUT });
  const status = '#drag-status';
  const image = page.locator('#drag-image img').first();
  await waitForText(page, status, /New image/, 'page load renders the first image');
  await image.waitFor({ state: 'visible', timeout: TIMEOUT });

  // 1. Start with no points.
  await page.locator('#start').click();
  await waitForText(page, status, /Start needs points/, 'Start with no points');

  // 2. Landmarks and a preset on a model that draws no faces.
  await page.locator('#detect').click();
  await waitForText(page, status, /need a face model/, 'Detect landmarks on the facades model');
  await page.locator('#start').click();
  await waitForText(page, status, /Start needs points/, 'Start again, so the next message is new');
  await page.locator('#preset-smile').click();
  await waitForText(page, status, /need a face model/, 'Smile preset on the facades model');

  // 3. A non-image "photo" in the segmentation tab.
  await page.getByRole('tab', { name: 'Segmentation' }).click();
  const junk = join(mkdtempSync(join(tmpdir(), 'e2e-')), 'not-an-image.png');
  writeFileSync(junk, 'this is text, not a PNG\n');
  await page.locator('#seg-photo input[type=file]').setInputFiles(junk);
  await waitForText(page, '#seg-status', /not-an-image\.png: not a readable image/,
    'uploading a non-image');
  // ...and the tab still works: an example facade gets a label map and a legend (or, where the
  // checkpoint is missing, the message that says so).
  await page.locator('#seg-examples button').first().click();
  await waitForText(page, '#seg-status', /Segmented a 256×256 photo|segmentation model is not available/,
    'segmenting an example after the bad upload');
  await page.getByRole('tab', { name: 'Drag' }).click();
  await image.waitFor({ state: 'visible', timeout: TIMEOUT });

  // 4. A handle and a target, then Start: the step counter advances and the image changes.
  const box = await image.boundingBox();
  check(box && box.width > 50, `the drag image is not laid out: ${JSON.stringify(box)}`);
  await image.click({ position: { x: box.width * 0.40, y: box.height * 0.50 } });
  await waitForText(page, status, /Added a handle/, 'first click adds a handle');
  await image.click({ position: { x: box.width * 0.62, y: box.height * 0.42 } });
  await waitForText(page, status, /Added a target/, 'second click adds a target');
  const before = await image.getAttribute('src');

  await page.locator('#start').click();
  await waitForText(page, status, /step [1-9]\d*\//, 'Start streams a first step');
  const firstStep = Number((await page.locator(status).innerText()).match(/step (\d+)\//)[1]);
  await page.waitForFunction(
    ([sel, first]) => {
      const m = document.querySelector(sel)?.innerText.match(/step (\d+)\//);
      return m && Number(m[1]) >= first + 2;
    },
    [status, firstStep], { timeout: TIMEOUT });
  const during = await image.getAttribute('src');
  check(during !== before, 'the image did not change while dragging');
  const counter = (await page.locator(status).innerText()).trim();
  check(/distance [\d.]+ px · \d+ ms\/step/.test(counter), `status lacks distance and ms/step: ${counter}`);

  await page.locator('#stop').click();
  await waitForText(page, status, /— (stopped on request|reached the targets|reached max_steps)/,
    'Stop ends the drag');

  // 5. Your own photo: upload, align, invert with few steps; the inverted face becomes the drag image.
  let inverted = '';
  if (facePhoto) {
    const beforePhoto = await image.getAttribute('src');
    await page.locator('#photo-upload input[type=file]').setInputFiles(facePhoto);
    await waitForText(page, status, /1 face, aligned to \d+×\d+/, 'uploading a face photo');
    await page.locator('#photo-crop img').first().waitFor({ state: 'visible', timeout: TIMEOUT });
    await page.locator('#invert-steps input').fill('4');
    await page.locator('#pti-steps input').fill('2');
    await page.locator('#invert').click();
    // 4 projection + 2 PTI + 40 ToRGB fit + 100 feature-offset steps (the facades recipe fits one)
    await waitForText(page, status, /Inverted face 1 of .* in 146 steps/, 'inverting the photo');
    inverted = (await page.locator(status).innerText()).trim();
    check(/loss .*PSNR [\d.]+ dB/.test(inverted), `the status lacks the loss and PSNR: ${inverted}`);
    check(await image.getAttribute('src') !== beforePhoto, 'the drag image did not change to the inverted photo');
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  check(pageErrors.length === 0, `errors in the page: ${pageErrors.join('; ')}`);
  console.log(`ok: ${counter}; screenshot ${screenshot}`);
  if (inverted) console.log(`photo: ${inverted}`);
} catch (err) {
  await page.screenshot({ path: screenshot.replace(/\.png$/, '') + '-failed.png', fullPage: true }).catch(() => {});
  console.error(`e2e failed: ${err.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
