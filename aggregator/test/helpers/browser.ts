import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium package; CHROMIUM_BIN overrides. */
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

/**
 * Headless Chromium from the system package, driven by playwright-core
 * (which downloads no browser). A missing binary is a failure that says
 * what to install, never a skip.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the dashboard browser tests need chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium), or set CHROMIUM_BIN`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespace for the sandbox; the page is our own, served from localhost.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--js-flags=--expose-gc'],
  });
}
