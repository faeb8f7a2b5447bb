// The SDK in a real browser: the bundled SDK (esbuild, as an app would ship it) is loaded into
// a page served from another origin than the API, in headless Chromium (Debian's package,
// driven by playwright-core), and runs the product page's snippet: init → track → check,
// across origins (CORS). Then a person's upgrade, clicked through: the app's Upgrade button,
// the Stripe emulator's hosted checkout and its Pay button, and back on the app the plan is
// `pro` once the webhook has landed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { resolve } from "node:path";

import { build } from "esbuild";

import { launchChromium, startServer } from "./server.mjs";

const root = resolve(import.meta.dirname, "..");

let server;
let site;
let browser;

before(async () => {
  server = await startServer();
  const bundle = await build({
    entryPoints: [resolve(root, "dist/index.js")],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    write: false,
  });
  const sdk = bundle.outputFiles[0].text;
  const page = `<!doctype html><meta charset="utf-8"><title>Dream API in the browser</title>
<script type="module">
  import { DreamAPI } from "/dream-sdk.js";
  try {
    const api = new DreamAPI({ publishableKey: ${JSON.stringify(server.keys.testPublishable)}, baseUrl: ${JSON.stringify(server.baseUrl)} });
    const me = await api.auth.init();
    await api.usage.track();
    const { usageCount, limit, remaining } = await api.usage.check();
    let secretRefused = false;
    try { new DreamAPI({ secretKey: "sk_test_in_a_browser" }); } catch (e) { secretRefused = e.code === "secret_key_in_browser"; }
    window.__result = { userId: me.userId, usageCount, limit, remaining, secretRefused, origin: location.origin };
  } catch (e) {
    window.__result = { error: String(e), code: e.code };
  }
</script>`;
  // The app's account page: a fixed development user, their plan, and an Upgrade button.
  const shop = `<!doctype html><meta charset="utf-8"><title>Account</title>
<p>Plan: <b id="plan">…</b></p><button id="upgrade">Upgrade to Pro</button>
<script type="module">
  import { DreamAPI } from "/dream-sdk.js";
  const options = { publishableKey: ${JSON.stringify(server.keys.testPublishable)}, baseUrl: ${JSON.stringify(server.baseUrl)} };
  const sessions = new DreamAPI(options);
  const api = new DreamAPI({ ...options, getToken: async () => (await sessions.dev.createSession({ userId: "user_browser_buyer" })).token });
  const show = async () => { document.querySelector("#plan").textContent = (await api.auth.init()).tier.name; };
  document.querySelector("#upgrade").onclick = async () => { location.href = (await api.billing.createCheckout({ tier: "pro" })).url; };
  await show();
  setInterval(show, 300);
</script>`;
  const secret = { authorization: `Bearer ${server.keys.testSecret}`, "content-type": "application/json" };
  const pro = await fetch(`${server.baseUrl}/v1/tiers`, {
    method: "POST",
    headers: secret,
    body: JSON.stringify({
      name: "pro",
      displayName: "Pro",
      price: { currency: "usd", unitAmount: 2900, interval: "month" },
      limits: [{ metric: "requests", limit: 10000, enforcement: "hard" }],
    }),
  });
  assert.equal(pro.status, 201, await pro.text());
  site = http.createServer((req, res) => {
    if (req.url.startsWith("/account")) {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(shop);
    } else if (req.url === "/dream-sdk.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(sdk);
    } else {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(page);
    }
  });
  await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  site?.close();
  server?.stop();
});

test("the bundled SDK signs in, tracks and checks from a page on another origin", async () => {
  const page = await browser.newPage();
  // The page is served by `localhost`, the API by `127.0.0.1`: different origins, so every
  // call is a CORS request with a preflight.
  const url = `http://localhost:${site.address().port}/`;
  await page.goto(url);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 15000 });
  const result = await page.evaluate(() => window.__result);
  assert.equal(result.error, undefined, `${result.error} (${result.code})`);
  assert.notEqual(new URL(server.baseUrl).origin, result.origin);
  assert.match(result.userId, /^dev_/);
  assert.deepEqual([result.usageCount, result.limit, result.remaining], [1, 1000, 999]);
  assert.equal(result.secretRefused, true);
});

test("a person upgrades in the browser: Upgrade, the hosted checkout's Pay, and the plan is pro", async () => {
  const page = await browser.newPage();
  const account = `http://localhost:${site.address().port}/account`;
  await page.goto(account);
  await page.waitForFunction(() => document.querySelector("#plan").textContent === "free", null, {
    timeout: 15000,
  });
  await page.click("#upgrade");
  await page.waitForSelector("#pay", { timeout: 15000 });
  assert.match(await page.title(), /checkout/i);
  await page.click("#pay");
  // Back on the page the checkout started from, which reads the plan until the webhook lands.
  await page.waitForURL((url) => url.href.startsWith(account), { timeout: 15000 });
  await page.waitForFunction(() => document.querySelector("#plan").textContent === "pro", null, {
    timeout: 15000,
  });
  await page.close();
});
