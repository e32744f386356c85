// README screenshots of a running app (python app.py --demo --port 7860):
//
//   node tests/e2e/screenshot.mjs http://127.0.0.1:7860 assets/screenshot.png [assets/screenshot_segmentation.png]
//
// The drag tab after a window drag with the model's own settings (seed 3 of the bundled facades generator: the
// window middle that benchmarks/facades_edit.py picks, 12 px to the left), and, when a
// second path is given, the segmentation tab on the first example facade. With PHOTO=<face photo> and
// PHOTO_SHOT=<png> set, also the "Your own photo" workflow: upload, invert (the default settings), the smile preset
// at strength 1 from the photo's landmarks, a 40-step drag. With FACADE=assets/examples/facade_056.jpg and
// FACADE_SHOT=<png> set, the same on a facade photo: upload, invert (the model's own settings), a window drag.
import { openPage } from './common.mjs';

const [url, dragShot, segShot, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
if (!url || !dragShot) {
  console.error('usage: node screenshot.mjs <app url> <drag.png> [segmentation.png] [chromium path]');
  process.exit(2);
}
const { browser, page } = await openPage(executablePath, { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
const status = page.locator('#drag-status');
const image = page.locator('#drag-image img').first();

// Click a handle and its target (pixels of the 128 px image), drag with the model's own settings, and shoot the
// page from its top.
async function dragAndShoot([hx, hy], [tx, ty], path) {
  const box = await image.boundingBox();
  for (const [x, y] of [[hx, hy], [tx, ty]]) {
    await image.click({ position: { x: box.width * (x + 0.5) / 128, y: box.height * (y + 0.5) / 128 } });
    await page.waitForTimeout(400);
  }
  await status.filter({ hasText: /1 handle → target pair/ }).waitFor({ timeout: 30_000 });
  await page.locator('#start').click();
  await status.filter({ hasText: / — / }).waitFor({ timeout: 180_000 });
  await page.mouse.move(0, 0);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(500);
  await page.screenshot({ path });
}
try {
  await page.goto(url, { waitUntil: 'domcontentloaded' });
  await status.filter({ hasText: /New image/ }).waitFor({ timeout: 60_000 });
  await page.getByLabel('Seed').fill('3');
  await page.getByLabel('Seed').press('Enter');
  await status.filter({ hasText: /seed 3/ }).waitFor({ timeout: 60_000 });
  await dragAndShoot([70, 81], [58, 81], dragShot);
  console.log(`drag tab: ${(await status.innerText()).trim()} -> ${dragShot}`);

  if (process.env.PHOTO && process.env.PHOTO_SHOT) {
    await page.locator('#photo-upload input[type=file]').setInputFiles(process.env.PHOTO);
    await status.filter({ hasText: /aligned to/ }).waitFor({ timeout: 60_000 });
    await page.getByLabel('Max steps').last().fill('40');
    await page.getByLabel('Max steps').last().press('Enter');
    await page.locator('#invert').click();
    await status.filter({ hasText: /Inverted face/ }).waitFor({ timeout: 600_000 });
    await page.locator('#preset-smile').click();
    await status.filter({ hasText: /Preset smile/ }).waitFor({ timeout: 30_000 });
    await page.locator('#start').click();
    await status.filter({ hasText: / — / }).waitFor({ timeout: 300_000 });
    await page.mouse.move(0, 0);
    await page.evaluate(() => window.scrollTo(0, 0));  // the clicks scrolled down; show the photo panel
    await page.waitForTimeout(500);
    await page.screenshot({ path: process.env.PHOTO_SHOT });
    console.log(`photo: ${(await status.innerText()).trim()} -> ${process.env.PHOTO_SHOT}`);
  }

  if (process.env.FACADE && process.env.FACADE_SHOT) {  // a facade photo on the bundled model: its centre square
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await status.filter({ hasText: /New image/ }).waitFor({ timeout: 60_000 });
    await page.locator('#photo-upload input[type=file]').setInputFiles(process.env.FACADE);
    await status.filter({ hasText: /centre square/ }).waitFor({ timeout: 60_000 });
    await page.locator('#invert').click();
    await status.filter({ hasText: /Inverted the centre square/ }).waitFor({ timeout: 600_000 });
    await dragAndShoot([64, 48], [52, 48], process.env.FACADE_SHOT);  // the window middle the benchmark picks
    console.log(`facade photo: ${(await status.innerText()).trim()} -> ${process.env.FACADE_SHOT}`);
  }

  if (segShot) {
    await page.getByRole('tab', { name: 'Segmentation' }).click();
    await page.locator('#seg-examples button').first().click();
    await page.locator('#seg-status').filter({ hasText: /Segmented|not available/ }).waitFor({ timeout: 60_000 });
    await page.waitForTimeout(1000);
    await page.screenshot({ path: segShot });
    console.log(`segmentation tab: ${(await page.locator('#seg-status').innerText()).trim()} -> ${segShot}`);
  }
} finally {
  await browser.close();
}
