// The dashboard in headless Chromium (Debian's package, driven by playwright-core), against
// a real `dream serve`: sign in, the overview following tracks sent through the API, tiers and
// products, a customer's plan and usage, key rotation, the audit log, the test/live switch,
// sign-out; a wrong key, an expired session, a cross-site form post and another tenant's data
// are refused. Every page is saved as a screenshot in target/dashboard/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { resolve } from "node:path";

import {
  launchChromium,
  newProject,
  OPERATOR_TOKEN,
  png,
  startServer,
} from "../../../clients/typescript/test/server.mjs";
import { apiOf, shot, shots, trackAs, userToken } from "./support.mjs";

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

/** Tracks `amount` for `userId` through the API, as the app would. */
async function track(keys, userId, amount) {
  const token = await userToken(api, keys, userId);
  await trackAs(api, keys, token, { amount });
  return token;
}

async function signIn(page, credential) {
  await page.goto(`${server.baseUrl}/dashboard`);
  await page.waitForURL(/\/dashboard\/sign-in/);
  await page.fill("#credential", credential);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
}

test("dream serve prints the dashboard's address", () => {
  assert.match(server.output, /Dashboard: http:\/\/127\.0\.0\.1:\d+\/dashboard/);
});

test("a developer signs in, watches usage arrive, manages the catalogue and a customer, rotates a key, reads the audit log, and signs out", async () => {
  const keys = await newProject(server.baseUrl);
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());

  // A wrong key is refused, on the sign-in page.
  await signIn(page, "sk_test_not_a_real_key_at_all_000000");
  assert.match(await page.textContent(".flash.error"), /not valid/);
  await shot(page, "sign-in-refused");

  await signIn(page, keys.test.secretKey);
  await page.waitForURL(/\/dashboard\/overview/);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "dream_dashboard");
  assert.ok(session, "a session cookie");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.equal(await page.evaluate(() => document.cookie.includes("dream_dashboard")), false);
  assert.equal(await page.textContent("#stat-usage"), "0");
  assert.equal(await page.getAttribute(".mode-switch .mode.test", "aria-pressed"), "true");

  // Usage tracked through the API appears without a reload.
  await track(keys, "user_ada", 3);
  await track(keys, "user_bob", 2);
  await page.waitForFunction(() => document.querySelector("#stat-usage")?.textContent === "5", null, {
    timeout: 10000,
  });
  assert.equal(await page.textContent("#stat-active"), "2");
  assert.ok(await page.$("#usage-chart svg.chart path"), "the usage chart is drawn");

  // Tiers and products.
  await page.click("nav.side >> text=Tiers & products");
  await page.click("details.create:has-text('New tier') > summary");
  const tierForm = page.locator("details.create:has-text('New tier') form");
  await tierForm.locator("input[name=name]").fill("pro");
  await tierForm.locator("input[name=displayName]").fill("Pro");
  await tierForm.locator("input[name=amount]").fill("twenty");
  await tierForm.locator("textarea[name=limits]").fill("requests 10000 hard");
  await Promise.all([page.waitForLoadState("load"), tierForm.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".flash.error"), /not an amount/);
  // The refused form comes back open, as typed.
  assert.equal(await tierForm.locator("input[name=amount]").inputValue(), "twenty");
  await tierForm.locator("input[name=name]").fill("pro");
  await tierForm.locator("input[name=displayName]").fill("Pro");
  await tierForm.locator("input[name=amount]").fill("29.00");
  await tierForm.locator("textarea[name=limits]").fill("requests -5 hard");
  await Promise.all([page.waitForLoadState("load"), tierForm.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".flash.error"), /limits\[0\]\.limit/);
  await tierForm.locator("input[name=name]").fill("pro");
  await tierForm.locator("input[name=displayName]").fill("Pro");
  await tierForm.locator("input[name=amount]").fill("29.00");
  await tierForm.locator("textarea[name=limits]").fill("requests 10000 hard");
  await Promise.all([page.waitForLoadState("load"), tierForm.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".flash.notice"), /Tier pro created/);
  assert.match(await page.textContent("#tiers"), /\$29\.00 \/ month/);
  // Editing a tier: its form is filled in with what it is now.
  const proRow = page.locator("#tiers tr:has-text('pro')").last();
  await proRow.locator("details.edit > summary").click();
  const editForm = proRow.locator("details.edit form");
  assert.equal(await editForm.locator("input[name=amount]").inputValue(), "29.00");
  await editForm.locator("input[name=displayName]").fill("Pro plus");
  await editForm.locator("input[name=rateRequests]").fill("50");
  await editForm.locator("input[name=ratePer]").fill("60");
  await Promise.all([page.waitForLoadState("load"), editForm.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".flash.notice"), /Tier pro saved/);
  assert.match(await page.textContent("#tiers"), /Pro plus/);
  assert.match(await page.textContent("#tiers"), /50 \/ 60 s/);
  const tiers = await api("/v1/tiers", { key: keys.test.secretKey });
  const pro = tiers.body.tiers.find((t) => t.name === "pro");
  assert.deepEqual([pro.displayName, pro.rateLimit], ["Pro plus", { requests: 50, perSeconds: 60 }]);
  // Usage-based billing and a trial, from the same form; a blank trial removes it again.
  await proRow.locator("details.edit > summary").click();
  await editForm.locator("textarea[name=limits]").fill("requests 10000 soft then 0.05 per 100");
  await editForm.locator("input[name=trialDays]").fill("14");
  await Promise.all([page.waitForLoadState("load"), editForm.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".flash.notice"), /Tier pro saved/);
  assert.match(await page.textContent("#tiers"), /14-day trial/);
  assert.match(await page.textContent("#tiers"), /then \$0\.05 per 100/);
  let metered = (await api("/v1/tiers", { key: keys.test.secretKey })).body.tiers.find(
    (t) => t.name === "pro",
  );
  assert.deepEqual(
    [metered.trial, metered.limits[0].overage],
    [
      { days: 14, paymentMethod: "required" },
      { unitAmount: 5, perUnits: 100 },
    ],
  );
  await proRow.locator("details.edit > summary").click();
  assert.equal(
    await editForm.locator("textarea[name=limits]").inputValue(),
    "requests 10000 soft then 0.05 per 100",
  );
  await editForm.locator("input[name=trialDays]").fill("");
  await Promise.all([page.waitForLoadState("load"), editForm.locator("button[type=submit]").click()]);
  metered = (await api("/v1/tiers", { key: keys.test.secretKey })).body.tiers.find((t) => t.name === "pro");
  assert.equal(metered.trial, undefined, "a blank trial removes it");
  assert.doesNotMatch(await page.textContent("#tiers"), /day trial/);

  await page.click("details.create:has-text('New product') > summary");
  const productForm = page.locator("details.create:has-text('New product') form");
  await productForm.locator("input[name=name]").fill("Dream T-shirt");
  await productForm.locator("textarea[name=description]").fill("Organic cotton, one size.");
  await productForm.locator("input[name=amount]").fill("25");
  await Promise.all([page.waitForLoadState("load"), productForm.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".flash.notice"), /Product Dream T-shirt created/);
  await page.click("details.create:has-text('New product') > summary");
  await productForm.locator("input[name=name]").fill("Sticker pack");
  await productForm.locator("input[name=amount]").fill("4.50");
  await Promise.all([page.waitForLoadState("load"), productForm.locator("button[type=submit]").click()]);
  const sticker = page.locator("#products tr:has-text('Sticker pack')");
  await Promise.all([page.waitForLoadState("load"), sticker.locator("button:has-text('Archive')").click()]);
  assert.match(await page.textContent(".flash.notice"), /Product Sticker pack archived/);
  assert.match(await sticker.textContent(), /archived/);
  const listed = await api("/v1/products", { headers: { "x-publishable-key": keys.test.publishableKey } });
  assert.deepEqual(
    listed.body.products.map((p) => p.name),
    ["Dream T-shirt"],
    "the public catalogue after the archive",
  );
  await shot(page, "catalog");

  // A customer: search, plan override, usage reset.
  await page.click("nav.side >> text=Customers");
  await page.fill("input[name=q]", "ada");
  await Promise.all([page.waitForLoadState("load"), page.click("form.search button")]);
  const rows = await page.$$eval("table tbody tr", (trs) => trs.map((tr) => tr.textContent));
  assert.equal(rows.length, 1);
  assert.match(rows[0], /user_ada/);
  await shot(page, "customers");
  await Promise.all([page.waitForLoadState("load"), page.click("a:has-text('user_ada')")]);
  await page.selectOption("#tier", "pro");
  await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Save plan')")]);
  assert.match(await page.textContent(".flash.notice"), /Plan set to Pro plus by hand/);
  assert.match(await page.textContent("#customer-tier"), /Pro plus/);
  assert.match(await page.textContent("table.usage"), /3 \/ 10,000/);
  await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Reset usage')")]);
  assert.match(await page.textContent(".flash.notice"), /Usage reset/);
  assert.match(await page.textContent("table.usage"), /0 \/ 10,000/);
  const detail = await api("/v1/customers/user_ada", { key: keys.test.secretKey });
  assert.deepEqual([detail.body.tier.name, detail.body.planOverride], ["pro", true]);
  await shot(page, "customer");

  // A paid subscription, so the overview has revenue and an event to show.
  const token = await track(keys, "user_cy", 1);
  await api("/v1/settings", {
    key: keys.test.secretKey,
    method: "PATCH",
    body: { billing: { siteUrl: "http://localhost:3000" } },
  });
  const checkout = await api("/v1/billing/checkout", {
    method: "POST",
    body: { tier: "pro" },
    headers: { "x-publishable-key": keys.test.publishableKey, authorization: `Bearer ${token}` },
  });
  assert.equal(checkout.status, 200, JSON.stringify(checkout.body));
  const paid = await fetch(`${checkout.body.url}/complete`, { method: "POST", redirect: "manual" });
  assert.equal(paid.status, 303);
  await page.click("nav.side >> text=Overview");
  await page.waitForFunction(() => document.querySelector("#stat-mrr")?.textContent === "$29.00", null, {
    timeout: 15000,
  });
  await shot(page, "overview");

  await page.click("nav.side >> text=Webhook events");
  assert.match(await page.textContent("table.events"), /checkout\.session\.completed/);
  await page.click("table.events summary >> nth=0");
  assert.match(await page.textContent("pre.json"), /"id": "evt_/);
  await shot(page, "events");

  // JWT settings, saved through the API.
  await page.click("nav.side >> text=Keys & settings");
  await page.fill("textarea[name=allowedOrigins]", "https://app.example.com\nhttp://localhost:5173");
  await page.fill("input[name=leewaySeconds]", "30");
  await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Save settings')")]);
  assert.match(await page.textContent(".flash.notice"), /Settings saved/);
  const settings = await api("/v1/settings", { key: keys.test.secretKey });
  assert.deepEqual(
    [settings.body.jwt.allowedOrigins, settings.body.jwt.leewaySeconds, settings.body.devIssuerEnabled],
    [["https://app.example.com", "http://localhost:5173"], 30, true],
  );

  // Rotating the secret key shows the new key once, on the page the rotation redirects to;
  // it works at once. Reloading that page rotates nothing, and the rotation form sent again
  // (its token now spent) is refused.
  await page.click("nav.side >> text=Keys & settings");
  const keysBefore = (await api("/v1/keys", { key: keys.test.secretKey })).body.keys.length;
  const spentToken = await page.getAttribute(
    "form[action='/dashboard/keys/rotate'] input[name=csrf]",
    "value",
  );
  await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Rotate secret key')")]);
  assert.equal(
    new URL(page.url()).pathname,
    "/dashboard/settings",
    "the rotation redirects (post/redirect/get)",
  );
  const newKey = (await page.textContent("#new-secret-key")).trim();
  assert.match(newKey, /^sk_test_/);
  assert.notEqual(newKey, keys.test.secretKey);
  assert.equal((await api("/v1/keys", { key: newKey })).status, 200);
  await shot(page, "settings-rotated");
  await page.reload();
  assert.equal(await page.$("#new-secret-key"), null, "the new key is shown once");
  const resent = await page.evaluate(async (csrf) => {
    const response = await fetch("/dashboard/keys/rotate", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `csrf=${encodeURIComponent(csrf)}&overlap=3600`,
    });
    return response.status;
  }, spentToken);
  assert.equal(resent, 403, "the spent form token is refused");
  const keysAfter = (await api("/v1/keys", { key: newKey })).body.keys;
  assert.equal(keysAfter.length, keysBefore + 1, "one rotation made one key");
  const rotations = (await api("/v1/audit-log?limit=100", { key: newKey })).body.data.filter(
    (e) => e.action === "rotateSecretKey",
  );
  assert.equal(rotations.length, 1, "one rotation in the audit log");

  // Every change above is in the audit log, made by the dashboard.
  await page.click("nav.side >> text=Audit log");
  const audit = await page.textContent("#audit");
  for (const action of [
    "createTier",
    "createProduct",
    "archiveProduct",
    "updateCustomer",
    "resetCustomerUsage",
    "rotateSecretKey",
  ]) {
    assert.match(audit, new RegExp(action), `${action} in the audit log`);
  }
  assert.match(audit, /dashboard/);
  assert.ok(!audit.includes(keys.test.secretKey), "the audit log never shows a secret key");
  await shot(page, "audit");

  // Live data needs the live key; with it, the switch moves between modes.
  await Promise.all([page.waitForLoadState("load"), page.click(".mode-switch .mode.live")]);
  await page.waitForURL(/sign-in/);
  assert.match(await page.textContent(".flash"), /live secret key/);
  await page.fill("#credential", keys.live.secretKey);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
  await page.waitForURL(/overview/);
  assert.ok(await page.$(".live-banner"), "live mode is announced");
  assert.match(await page.textContent(".who code"), /^sk_live_/, "live mode acts as the live key");
  assert.equal(await page.textContent("#stat-usage"), "0", "live mode shows no test usage");
  await shot(page, "overview-live");
  await Promise.all([page.waitForLoadState("load"), page.click(".mode-switch .mode.test")]);
  assert.equal(await page.$(".live-banner"), null);
  assert.equal(await page.textContent("#stat-usage"), "6");

  await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Sign out')")]);
  await page.waitForURL(/sign-in/);
  await page.goto(`${server.baseUrl}/dashboard/customers`);
  await page.waitForURL(/sign-in/);
  await shot(page, "sign-in");
  await context.close();
});

test("a form posted from another site is refused and changes nothing", async () => {
  const keys = await newProject(server.baseUrl);
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, keys.test.secretKey);
  await page.waitForURL(/overview/);
  const before = (await api("/v1/keys", { key: keys.test.secretKey })).body.keys.length;

  // A page on another origin that posts the rotation form on load, without the form token.
  const target = `${server.baseUrl}/dashboard/keys/rotate`;
  const evil = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><form method="post" action="${target}"><input name="overlap" value="0"></form>
<script>document.forms[0].submit()</script>`);
  });
  await new Promise((ok) => evil.listen(0, "127.0.0.1", ok));
  try {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === target),
      page.goto(`http://localhost:${evil.address().port}/`),
    ]);
    assert.equal(response.status(), 403);
    await page.waitForLoadState("load");
    assert.match(await page.textContent("h1"), /did not come from your dashboard/);
    await shot(page, "cross-site-refused");
  } finally {
    evil.close();
  }
  // A same-origin post with a wrong token is refused too.
  await page.goto(`${server.baseUrl}/dashboard/overview`);
  const status = await page.evaluate(async () => {
    const response = await fetch("/dashboard/keys/rotate", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "csrf=wrong&overlap=0",
    });
    return response.status;
  });
  assert.equal(status, 403);
  const afterwards = await api("/v1/keys", { key: keys.test.secretKey });
  assert.equal(afterwards.status, 200, "the old secret key still works");
  assert.equal(afterwards.body.keys.length, before, "no key was made");
  await context.close();
});

test("a session shows its own tenant only", async () => {
  const mine = await newProject(server.baseUrl);
  const theirs = await newProject(server.baseUrl);
  await track(theirs, "user_theirs_only", 1);
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, mine.test.secretKey);
  await page.waitForURL(/overview/);
  const response = await page.goto(`${server.baseUrl}/dashboard/customers/user_theirs_only`);
  assert.equal(response.status(), 404);
  await page.goto(`${server.baseUrl}/dashboard/customers?q=user_theirs_only`);
  assert.match(await page.textContent("main"), /No customer matches/);
  // A change aimed at another tenant's product, with this session's own form token, finds
  // nothing to change.
  const product = await api("/v1/products", {
    key: theirs.test.secretKey,
    method: "POST",
    body: { name: "Theirs", prices: [{ currency: "usd", unitAmount: 100 }] },
  });
  await page.goto(`${server.baseUrl}/dashboard/catalog`);
  const csrf = await page.getAttribute("input[name=csrf]", "value");
  const archived = await page.evaluate(
    async ([id, token]) => {
      const response = await fetch(`/dashboard/products/${id}/archive`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `csrf=${token}`,
        redirect: "manual",
      });
      return response.type;
    },
    [product.body.id, csrf],
  );
  assert.equal(archived, "opaqueredirect", "answered with a redirect back to the catalogue");
  await page.goto(`${server.baseUrl}/dashboard/catalog`);
  assert.match(await page.textContent(".flash.error"), /No product/i);
  const still = await api(`/v1/products/${product.body.id}`, { key: theirs.test.secretKey });
  assert.equal(still.body.active, true, "the other tenant's product is untouched");
  // The API answers other origins (CORS); the dashboard never does.
  const origin = { origin: "http://elsewhere.example" };
  const apiRead = await fetch(`${server.baseUrl}/healthz`, { headers: origin });
  assert.equal(apiRead.headers.get("access-control-allow-origin"), origin.origin);
  const dashboardRead = await fetch(`${server.baseUrl}/dashboard/sign-in`, { headers: origin });
  assert.equal(dashboardRead.headers.get("access-control-allow-origin"), null);
  // Without a session, neither pages nor the live feed answer with data.
  const anonymous = await fetch(`${server.baseUrl}/dashboard/overview/live`);
  assert.equal(anonymous.status, 401);
  const redirected = await fetch(`${server.baseUrl}/dashboard/customers`, { redirect: "manual" });
  assert.equal(redirected.status, 303);
  assert.equal(redirected.headers.get("location"), "/dashboard/sign-in");
  await context.close();
});

test("an expired session is refused and sent to sign in again", async () => {
  const short = await startServer({ env: { DREAM_DASHBOARD_SESSION_SECONDS: "3" } });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${short.baseUrl}/dashboard/sign-in`);
    await page.fill("#credential", short.keys.testSecret);
    await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
    await page.waitForURL(/overview/);
    await new Promise((ok) => setTimeout(ok, 3500));
    await page.goto(`${short.baseUrl}/dashboard/customers`);
    await page.waitForURL(/sign-in/);
    assert.match(await page.textContent(".flash"), /session expired/);
    await context.close();
  } finally {
    await short.stop();
  }
});

test("a session ends when the key it signed in with is revoked, and goes on with a key it rotated to", async () => {
  const keys = await newProject(server.baseUrl);
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  await signIn(page, keys.test.secretKey);
  await page.waitForURL(/overview/);

  // Rotated here with no overlap: the key the session signed in with is revoked, and the
  // session goes on with the new key it was shown.
  await page.click("nav.side >> text=Keys & settings");
  await page.selectOption("#overlap", "0");
  await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Rotate secret key')")]);
  const newKey = (await page.textContent("#new-secret-key")).trim();
  assert.equal((await api("/v1/keys", { key: keys.test.secretKey })).status, 401);
  await page.goto(`${server.baseUrl}/dashboard/customers`);
  assert.match(page.url(), /\/dashboard\/customers$/);

  // Revoked through the API: the next page ends the session and says why.
  const revoked = await api("/v1/keys/secret/rotate", {
    key: newKey,
    method: "POST",
    body: { expiresInSeconds: 0 },
  });
  assert.equal(revoked.status, 201, JSON.stringify(revoked.body));
  await page.goto(`${server.baseUrl}/dashboard/customers`);
  await page.waitForURL(/sign-in/);
  assert.match(await page.textContent(".flash"), /revoked or rotated away/);
  await page.goto(`${server.baseUrl}/dashboard/overview`);
  await page.waitForURL(/sign-in/);
  await context.close();
});

test("the operator token signs in to every project and picks one", async () => {
  const keys = await newProject(server.baseUrl);
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  await signIn(page, OPERATOR_TOKEN);
  await page.waitForURL(/\/dashboard\/projects/);
  const settings = await api("/v1/settings", { key: keys.test.secretKey });
  const row = page.locator(`tr:has-text('${settings.body.project.id}')`);
  assert.equal(await row.count(), 1, "the new project is listed");
  await shot(page, "projects");
  await Promise.all([page.waitForLoadState("load"), row.locator("button:has-text('Open')").click()]);
  await page.waitForURL(/overview/);
  assert.equal(await page.textContent(".project-name"), settings.body.project.name);
  assert.match(await page.textContent(".who code"), /operator/);
  // An operator sees both modes without another key.
  await Promise.all([page.waitForLoadState("load"), page.click(".mode-switch .mode.live")]);
  assert.ok(await page.$(".live-banner"));
  await context.close();
});

test("product images uploaded, reordered and removed in the dashboard appear on a shop page that lists the catalogue with the publishable key", async () => {
  const keys = await newProject(server.baseUrl);
  const created = await api("/v1/products", {
    key: keys.test.secretKey,
    method: "POST",
    body: { name: "Dream mug", prices: [{ currency: "usd", unitAmount: 1200 }] },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const productId = created.body.id;
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.on("dialog", (dialog) => dialog.accept());
  await signIn(page, keys.test.secretKey);
  await page.click("nav.side >> text=Tiers & products");
  const row = page.locator(`#product-${productId}`);
  const upload = row.locator("form.upload");

  // Two images at once, then a file that claims to be a PNG and is not: refused, nothing stored.
  await upload.locator("input[type=file]").setInputFiles([
    { name: "mug-front.png", mimeType: "image/png", buffer: png(40, 30, [200, 30, 30]) },
    { name: "mug-side.png", mimeType: "image/png", buffer: png(30, 40, [30, 30, 200]) },
  ]);
  await Promise.all([page.waitForLoadState("load"), upload.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".flash.notice"), /Uploaded mug-front\.png, mug-side\.png/);
  await upload
    .locator("input[type=file]")
    .setInputFiles([
      { name: "fake.png", mimeType: "image/png", buffer: Buffer.from("<svg onload=alert(1)>") },
    ]);
  await Promise.all([page.waitForLoadState("load"), upload.locator("button[type=submit]").click()]);
  assert.match(await page.textContent(".flash.error"), /fake\.png: .*Nothing was stored/);

  // The thumbnails are drawn, in upload order.
  const drawn = () =>
    row
      .locator("ol.images img.thumb")
      .evaluateAll((imgs) => imgs.map((i) => `${i.alt} ${i.naturalWidth}x${i.naturalHeight}`));
  await page.waitForFunction(
    (id) =>
      [...document.querySelectorAll(`#${id} ol.images img`)].every((i) => i.complete && i.naturalWidth > 0),
    `product-${productId}`,
  );
  assert.deepEqual(await drawn(), ["mug-front.png 40x30", "mug-side.png 30x40"]);
  await shot(page, "catalog-images");

  // The side view first, then the front removed from the product (its file stays).
  await Promise.all([
    page.waitForLoadState("load"),
    row.locator("button[aria-label='Move mug-side.png earlier']").click(),
  ]);
  assert.match(await page.textContent(".flash.notice"), /Moved an image of Dream mug earlier/);
  assert.deepEqual(await drawn(), ["mug-side.png 30x40", "mug-front.png 40x30"]);
  await Promise.all([
    page.waitForLoadState("load"),
    row.locator("button[aria-label='Remove mug-front.png']").click(),
  ]);
  assert.match(await page.textContent(".flash.notice"), /Removed an image from Dream mug/);
  const product = await api(`/v1/products/${productId}`, { key: keys.test.secretKey });
  assert.deepEqual(
    product.body.images.map((i) => i.filename),
    ["mug-side.png"],
  );

  // The assets page: both files, their sizes, and the product of the one still attached.
  await page.click("nav.side >> text=Assets");
  const files = await page.$$eval("table.assets tbody tr", (trs) =>
    trs.map((tr) => [
      tr.querySelector("td a").textContent,
      ...[...tr.querySelectorAll("td")].slice(2, 5).map((td) => td.textContent.trim()),
    ]),
  );
  assert.equal(files.length, 2, JSON.stringify(files));
  const byName = Object.fromEntries(
    files.map(([file, type, size, product]) => [file, { type, size, product }]),
  );
  assert.deepEqual(byName["mug-side.png"], {
    type: "image/png",
    size: `${png(30, 40, [30, 30, 200]).length} bytes`,
    product: "Dream mug",
  });
  assert.equal(byName["mug-front.png"].product, "—");
  await shot(page, "assets");
  const front = page.locator("table.assets tbody tr:has-text('mug-front.png')");
  await Promise.all([page.waitForLoadState("load"), front.locator("button:has-text('Delete')").click()]);
  assert.match(await page.textContent(".flash.notice"), /File deleted/);
  assert.equal(await page.locator("table.assets tbody tr").count(), 1);

  // A plain shop page on another origin lists the catalogue with the publishable key and
  // shows each product's images: drawn by the browser, not just fetched.
  const shop = `<!doctype html><meta charset="utf-8"><title>Shop</title><main id="shop"></main>
<script type="module">
  const response = await fetch(${JSON.stringify(`${server.baseUrl}/v1/products`)}, {
    headers: { "x-publishable-key": ${JSON.stringify(keys.test.publishableKey)} },
  });
  const { products } = await response.json();
  for (const product of products) {
    const card = document.createElement("article");
    card.innerHTML = "<h2></h2>";
    card.querySelector("h2").textContent = product.name;
    for (const image of product.images) {
      const img = document.createElement("img");
      img.src = image.url;
      img.alt = image.filename;
      card.append(img);
    }
    document.querySelector("#shop").append(card);
  }
  window.__listed = true;
</script>`;
  const site = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(shop);
  });
  await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
  try {
    const shopPage = await context.newPage();
    await shopPage.goto(`http://127.0.0.1:${site.address().port}/`);
    await shopPage.waitForFunction(() => window.__listed && [...document.images].every((i) => i.complete));
    const shown = await shopPage.$$eval("article", (cards) =>
      cards.map((card) => ({
        name: card.querySelector("h2").textContent,
        images: [...card.querySelectorAll("img")].map((i) => `${i.alt} ${i.naturalWidth}x${i.naturalHeight}`),
      })),
    );
    assert.deepEqual(shown, [{ name: "Dream mug", images: ["mug-side.png 30x40"] }]);
    await shopPage.screenshot({ path: resolve(shots, "shop-page.png"), fullPage: true });
  } finally {
    site.close();
    await context.close();
  }
});
