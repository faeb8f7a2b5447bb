// The dashboard's pages as a person reads them, in headless Chromium against a real `dream
// serve`: the overview keeps metrics of different units apart, follows the range selector and
// says which mode its subscriptions are in; money reads the same everywhere; a form the API
// refuses comes back with what was typed and the reason in words; and at 390 px wide every
// page keeps its navigation and fits the screen. Screenshots go to target/dashboard/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { launchChromium, newProject, startServer } from "../../../clients/typescript/test/server.mjs";
import { apiOf, shot, trackAs, userToken } from "./support.mjs";

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

const api = apiOf(() => server);
const track = (keys, token, body) => trackAs(api, keys, token, body);

async function signIn(page, credential) {
  await page.goto(`${server.baseUrl}/dashboard/sign-in`);
  await page.fill("#credential", credential);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  await page.waitForURL(/\/dashboard\/overview/);
}

test("the overview keeps metrics apart, follows the range, says test subscriptions are test ones, and money reads as money in event notes", async () => {
  const keys = await newProject(server.baseUrl);
  const ada = await userToken(api, keys, "user_ada");
  const bob = await userToken(api, keys, "user_bob");
  await track(keys, ada, { amount: 3 });
  await track(keys, ada, { metric: "ai_tokens", amount: 1200 });
  await track(keys, bob, { metric: "ai_tokens", amount: 800 });

  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  await signIn(page, keys.test.secretKey);
  const totals = async () =>
    (await page.$$eval("#stat-usage li", (lis) => lis.map((li) => li.textContent.trim()))).sort();
  await page.waitForFunction(() => document.querySelectorAll("#stat-usage li").length === 2, null, {
    timeout: 10000,
  });
  assert.deepEqual(await totals(), ["2,000 ai_tokens", "3 requests"], "each metric keeps its own unit");
  assert.equal(await page.textContent("#stat-active"), "2", "a user of two metrics counts once");

  // The active-users card follows the range, and agrees with the API's count for it.
  await Promise.all([page.waitForLoadState("load"), page.click("nav.ranges >> text=30 days")]);
  assert.match(await page.textContent(".stats"), /Active users, 30 days/);
  const from = new Date(Date.now() - 29 * 86_400_000).toISOString().replace(/\.\d+Z$/, "Z");
  const usage = await api(`/v1/metrics/usage?interval=day&from=${from}`, { key: keys.test.secretKey });
  assert.equal(usage.status, 200, JSON.stringify(usage.body));
  assert.equal(usage.body.activeUsersTotal, 2);
  assert.equal(await page.textContent("#stat-active"), String(usage.body.activeUsersTotal));

  // A test-mode subscription is not called live.
  await api("/v1/tiers", {
    key: keys.test.secretKey,
    method: "POST",
    body: {
      name: "pro",
      displayName: "Pro",
      price: { currency: "usd", unitAmount: 2900, interval: "month" },
    },
  });
  await api("/v1/settings", {
    key: keys.test.secretKey,
    method: "PATCH",
    body: { billing: { siteUrl: "http://localhost:3000" } },
  });
  const checkout = await api("/v1/billing/checkout", {
    method: "POST",
    body: { tier: "pro" },
    headers: { "x-publishable-key": keys.test.publishableKey, authorization: `Bearer ${ada}` },
  });
  assert.equal(checkout.status, 200, JSON.stringify(checkout.body));
  assert.equal(
    (await fetch(`${checkout.body.url}/complete`, { method: "POST", redirect: "manual" })).status,
    303,
  );
  await page.waitForFunction(() => document.querySelector("#stat-mrr")?.textContent === "$29.00", null, {
    timeout: 15000,
  });
  assert.equal(await page.textContent("#stat-subscriptions"), "1 test subscription");
  await shot(page, "overview-metrics");

  // A guest cart paid: the event's note says the amount as money.
  const product = await api("/v1/products", {
    key: keys.test.secretKey,
    method: "POST",
    body: { name: "Poster", prices: [{ currency: "usd", unitAmount: 1250 }] },
  });
  const cart = await api("/v1/cart/checkout", {
    method: "POST",
    headers: { "x-publishable-key": keys.test.publishableKey },
    body: {
      items: [{ priceId: product.body.prices[0].id, quantity: 2 }],
      customerEmail: "guest@example.com",
      successUrl: "http://localhost:3000/thanks",
      cancelUrl: "http://localhost:3000/cart",
    },
  });
  assert.equal(cart.status, 200, JSON.stringify(cart.body));
  assert.equal(
    (await fetch(`${cart.body.url}/complete`, { method: "POST", redirect: "manual" })).status,
    303,
  );
  await page.click("nav.side >> text=Webhook events");
  for (let i = 0; i < 50 && !/Cart paid/.test(await page.textContent("table.events")); i++) {
    await page.waitForTimeout(200);
    await page.reload();
  }
  const events = await page.textContent("table.events");
  assert.match(events, /Cart paid: \$25\.00\./);
  assert.doesNotMatch(events, /2500 usd/);
  await context.close();
});

test("a form the API refuses comes back as it was typed, with the reason in words", async () => {
  const keys = await newProject(server.baseUrl);
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  await signIn(page, keys.test.secretKey);

  await page.click("nav.side >> text=Tiers & products");
  await page.click("details.create:has-text('New tier') > summary");
  const form = page.locator("details.create:has-text('New tier') form");
  await form.locator("input[name=name]").fill("team");
  await form.locator("input[name=displayName]").fill("Team plan");
  await form.locator("input[name=amount]").fill("49.00");
  await form.locator("textarea[name=limits]").fill("requests 5000 hard\nAI Tokens 100 soft");
  await form.locator("input[name=features]").fill("export, sso");
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/dashboard/tiers")),
    form.locator("button[type=submit]").click(),
  ]);
  assert.equal(response.status(), 422);
  await page.waitForLoadState("load");
  const error = await page.textContent(".flash.error");
  assert.match(error, /Limits, line 2/);
  await shot(page, "form-refused-limits");
  // A metric name the API refuses by its pattern: the message says what is allowed, in words.
  assert.equal(
    await page.getAttribute("details.create:has-text('New tier')", "open"),
    "",
    "the form is open",
  );
  await form.locator("textarea[name=limits]").fill("requests 5000 hard\nAI_Tokens 100 soft");
  await Promise.all([page.waitForLoadState("load"), form.locator("button[type=submit]").click()]);
  const words = await page.textContent(".flash.error");
  assert.match(words, /may hold only lowercase letters, digits/);
  assert.doesNotMatch(words, /pattern|\^\[/);
  assert.deepEqual(
    [
      await form.locator("input[name=name]").inputValue(),
      await form.locator("input[name=displayName]").inputValue(),
      await form.locator("input[name=amount]").inputValue(),
      await form.locator("textarea[name=limits]").inputValue(),
      await form.locator("input[name=features]").inputValue(),
    ],
    ["team", "Team plan", "49.00", "requests 5000 hard\nAI_Tokens 100 soft", "export, sso"],
    "everything typed is still there",
  );
  await shot(page, "form-refused-words");
  await form.locator("textarea[name=limits]").fill("requests 5000 hard\nai_tokens 100 soft");
  await Promise.all([page.waitForLoadState("load"), form.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".flash.notice"), /Tier team created/);

  // Settings: a refused connected account keeps the origins typed beside it.
  await page.click("nav.side >> text=Keys & settings");
  await page.fill("textarea[name=allowedOrigins]", "https://app.example.com");
  await page.fill("input[name=connectedAccount]", "acct-with-dashes");
  await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Save settings')")]);
  assert.match(await page.textContent(".flash.error"), /must be a Stripe account id/);
  assert.equal(await page.inputValue("textarea[name=allowedOrigins]"), "https://app.example.com");
  assert.equal(await page.inputValue("input[name=connectedAccount]"), "acct-with-dashes");
  const settings = await api("/v1/settings", { key: keys.test.secretKey });
  assert.deepEqual(settings.body.jwt.allowedOrigins, [], "nothing was saved");
  await context.close();
});

test("at 390 px wide every page keeps its navigation and fits the screen", async () => {
  const keys = await newProject(server.baseUrl);
  await api("/v1/products", {
    key: keys.test.secretKey,
    method: "POST",
    body: {
      name: "A product with a rather long name to test wrapping",
      prices: [{ currency: "usd", unitAmount: 999 }],
    },
  });
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const page = await context.newPage();
  await signIn(page, keys.test.secretKey);
  for (const [label, name] of [
    ["Overview", "overview"],
    ["Customers", "customers"],
    ["Tiers & products", "catalog"],
    ["Assets", "assets"],
    ["Keys & settings", "settings"],
    ["Webhook events", "events"],
    ["Audit log", "audit"],
  ]) {
    const link = page.locator(`nav.side a:has-text('${label}')`);
    await link.scrollIntoViewIfNeeded();
    assert.ok(await link.isVisible(), `${label} is in the navigation`);
    await Promise.all([page.waitForLoadState("load"), link.click()]);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${label}: the page is ${width} px wide at 390`);
    await shot(page, `narrow-${name}`);
  }
  await context.close();
});
