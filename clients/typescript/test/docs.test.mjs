// The API reference `dream serve` publishes at /docs, in headless Chromium: it renders with
// nothing fetched from anywhere but the server, shows every operation of the spec, and leaves a
// screenshot for a reviewer at target/docs/reference.png.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

import { launchChromium, startServer } from "./server.mjs";

const root = resolve(import.meta.dirname, "../../..");
let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the reference renders offline and lists every operation", async () => {
  const spec = await (await fetch(`${server.baseUrl}/openapi.json`)).json();
  const operationIds = Object.values(spec.paths).flatMap((item) =>
    Object.values(item)
      .map((op) => op.operationId)
      .filter(Boolean),
  );
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const elsewhere = [];
  await page.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.origin === new URL(server.baseUrl).origin) return route.continue();
    elsewhere.push(url.href);
    return route.abort();
  });
  const response = await page.goto(`${server.baseUrl}/docs`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-type"], /text\/html/);
  assert.deepEqual(elsewhere, [], "the page fetches nothing from other origins");

  const shown = await page.$$eval("section.operation", (sections) =>
    sections.map((s) => s.dataset.operationId),
  );
  assert.deepEqual([...shown].sort(), [...operationIds].sort());
  // Each operation has its code samples and a visible title.
  for (const id of ["trackUsage", "createProduct", "listCustomers"]) {
    const section = page.locator(`section[data-operation-id="${id}"]`);
    assert.ok(await section.isVisible(), id);
    const text = await section.innerText();
    assert.match(text, /TypeScript/, id);
    assert.match(text, new RegExp(`\\b${id}\\b`), id);
  }
  // The error-code table and the security schemes are there.
  assert.match(await page.innerText("main"), /usage_limit_exceeded/);
  assert.ok(await page.locator("#security-publishableKey").isVisible());

  mkdirSync(resolve(root, "target/docs"), { recursive: true });
  await page.goto(`${server.baseUrl}/docs#op-trackUsage`);
  await page.screenshot({ path: resolve(root, "target/docs/reference.png") });
});
