// The SaaS template as a person uses it, in headless Chromium: its production build (`npm run
// build`, with the API's address and a fresh project's publishable key in the environment)
// served by a plain static file server, against a real `dream serve` on the Stripe emulator.
// Sign in (the development session), meter to the free plan's limit, upgrade through the hosted
// checkout, come back as the same user on the new plan (and still after a reload), then switch
// plan and cancel in the customer portal. Every step's screenshot goes to target/templates/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { launchChromium, newProject, startServer } from "../../clients/typescript/test/server.mjs";
import { buildAndServe, shots } from "./support.mjs";

let server;
let browser;
let site;
let keys;

async function admin(path, method = "GET", body) {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${keys.test.secretKey}`, "content-type": "application/json" },
    body: body && JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

before(async () => {
  server = await startServer();
  keys = await newProject(server.baseUrl);
  const { tiers } = await admin("/v1/tiers");
  const free = tiers.find((t) => t.isDefault);
  await admin(`/v1/tiers/${free.id}`, "PATCH", {
    limits: [
      { metric: "ai_tokens", limit: 750, enforcement: "hard" },
      { metric: "requests", limit: 100, enforcement: "hard" },
    ],
  });
  for (const [name, displayName, amount] of [
    ["pro", "Pro", 2900],
    ["team", "Team", 9900],
  ]) {
    await admin("/v1/tiers", "POST", {
      name,
      displayName,
      price: { currency: "usd", unitAmount: amount, interval: "month" },
      limits: [{ metric: "ai_tokens", limit: 100000, enforcement: "hard" }],
    });
  }
  site = await buildAndServe("saas", server.baseUrl, keys.test.publishableKey);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  site?.close();
  await server?.stop();
});

test("sign in, meter to the limit, upgrade, come back on the new plan, switch and cancel in the portal", async () => {
  const app = `http://127.0.0.1:${site.address().port}/`;
  const context = await browser.newContext({ viewport: { width: 1100, height: 860 } });
  const page = await context.newPage();
  const shot = (name) => page.screenshot({ path: join(shots, `saas-${name}.png`), fullPage: true });
  const text = (selector) => page.textContent(selector);

  await page.goto(app);
  await page.waitForSelector("#plan");
  assert.equal(await text("#plan"), "Free");
  const user = await text("#user");
  assert.match(user, /^dev_/);
  await shot("1-signed-in");

  // Three generations fit in 750 tokens; the fourth is refused, and the app says so.
  for (let i = 1; i <= 3; i++) {
    await page.click("#generate");
    await page.waitForFunction(
      (n) => document.querySelector("[data-metric=ai_tokens] .count")?.textContent?.startsWith(`${n * 250}`),
      i,
    );
  }
  await page.click("#generate");
  await page.waitForSelector("#limit");
  assert.match(await text("#limit"), /reached your plan's limit/);
  assert.equal(await page.isDisabled("#generate"), true);
  assert.match(await text("[data-metric=ai_tokens] .count"), /^750 \/ 750/);
  await shot("2-limit");

  // Upgrade: the hosted checkout, the test card, and back as the same user on Pro.
  await Promise.all([page.waitForURL(/\/checkout\//), page.click("#upgrade-pro")]);
  assert.equal(await text("#total"), "$29.00 / month");
  await shot("3-checkout");
  await page.fill("#card", "4242 4242 4242 4242");
  await page.fill("#exp", "12 / 34");
  await page.fill("#cvc", "123");
  await Promise.all([page.waitForURL((url) => url.href.startsWith(app)), page.click("#pay")]);
  await page.waitForFunction(() => document.querySelector("#plan")?.textContent === "Pro", null, {
    timeout: 15000,
  });
  assert.equal(await text("#user"), user, "the same user after the checkout");
  assert.equal(await page.isDisabled("#generate"), false);
  await shot("4-upgraded");
  await page.reload();
  await page.waitForSelector("#plan");
  assert.deepEqual(
    [await text("#user"), await text("#plan")],
    [user, "Pro"],
    "a reload keeps the user and the plan",
  );

  // Manage billing: the portal, switch to Team, back in the app.
  await Promise.all([page.waitForURL(/\/portal\//), page.click("#manage")]);
  assert.equal(await text("#plan"), "Pro");
  await page.check("label.choice:has-text('Team') input");
  await Promise.all([page.waitForLoadState("load"), page.click("#switch")]);
  assert.equal(await text("#plan"), "Team");
  await shot("5-portal-switched");
  await Promise.all([page.waitForLoadState("load"), page.click("#cancel")]);
  assert.match(await text("#ends"), /^Cancels on /);
  await shot("6-portal-canceled");
  await Promise.all([page.waitForURL((url) => url.href.startsWith(app)), page.click("#return")]);
  await page.waitForFunction(() => document.querySelector("#plan")?.textContent === "Team", null, {
    timeout: 15000,
  });
  await page.waitForSelector("#ending", { timeout: 15000 });
  assert.match(await text("#ending"), /^Your Team plan ends on /, "the app says the plan was canceled");
  assert.equal(
    await page.$("#plans"),
    null,
    "a subscriber changes plan in the portal, not through a new checkout",
  );
  await shot("7-back-on-team");
  await context.close();
});
