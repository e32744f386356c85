// What the browser scripts share: Debian's chromium launched headless, and waits that say what failed.
import { chromium } from 'playwright-core';

export const TIMEOUT = 60_000;

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

// Wait until `selector` shows text matching `pattern`; on timeout the error names `what` and what it shows.
export async function waitForText(page, selector, pattern, what) {
  try {
    await page.locator(selector).filter({ hasText: pattern }).first().waitFor({ timeout: TIMEOUT });
  } catch {
    const shown = await page.locator(selector).first().innerText().catch(() => '(missing)');
    throw new Error(`${what}: expected ${selector} to show ${pattern}, it shows ${JSON.stringify(shown)}`);
  }
}

// A headless chromium and one page of it; `pageErrors` collects the page's uncaught errors.
export async function openPage(executablePath, pageOptions = { viewport: { width: 1400, height: 1100 } }) {
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage(pageOptions);
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  return { browser, page, pageErrors };
}
