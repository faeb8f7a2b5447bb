// The SDK in a real browser: the bundled SDK (esbuild, as an app would ship it) is loaded into
// a page served from another origin than the API, in headless Chromium (Debian's package,
// driven by playwright-core), and runs the product page's snippet: init → track → check,
// across origins (CORS). Then a person's upgrade, clicked through: the app's Upgrade button,
// the Stripe emulator's hosted checkout and its Pay button, and back on the app the plan is
// `pro` once the webhook has landed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

import { build } from "esbuild";
import { SignJWT, exportJWK, generateKeyPair } from "jose";

import { DreamAPI } from "../dist/index.js";
import { launchChromium, newProject, png, startServer } from "./server.mjs";

const root = resolve(import.meta.dirname, "..");
const shots = resolve(root, "../../target/checkout");
mkdirSync(shots, { recursive: true });

let server;
let site;
let browser;
let clerk;

before(async () => {
  // The Clerk-shaped issuer below serves its keys over plain HTTP on this machine.
  server = await startServer({ env: { DREAM_JWKS_ALLOW_INSECURE: "true" } });
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
  // A development session kept across reloads: who the page is, what it has counted, and a
  // sign-out button.
  const session = `<!doctype html><meta charset="utf-8"><title>Session</title>
<p>User: <b id="user">…</b> · count <b id="count">…</b></p><button id="sign-out">Sign out</button>
<script type="module">
  import { DreamAPI } from "/dream-sdk.js";
  const api = new DreamAPI({ publishableKey: ${JSON.stringify(server.keys.testPublishable)}, baseUrl: ${JSON.stringify(server.baseUrl)} });
  const me = await api.auth.init();
  const { usageCount } = await api.usage.track();
  document.querySelector("#user").textContent = me.userId;
  document.querySelector("#count").textContent = String(usageCount);
  document.querySelector("#sign-out").onclick = () => { api.auth.signOut(); document.body.dataset.signedOut = "yes"; };
</script>`;
  // Clerk's browser SDK, as the SDK finds it: \`window.Clerk.session.getToken()\`, here handing out
  // RS256 tokens signed by this site, the project's configured issuer (its JWKS served below).
  const clerkPage = `<!doctype html><meta charset="utf-8"><title>Clerk</title>
<script type="module">
  import { DreamAPI } from "/dream-sdk.js";
  window.__tokens = 0;
  window.Clerk = { session: { getToken: async () => { window.__tokens++; return (await fetch("/clerk/token")).text(); } } };
  try {
    const api = new DreamAPI({ publishableKey: clerkKeys.test.publishableKey, baseUrl: ${JSON.stringify(server.baseUrl)} });
    const me = await api.auth.init();
    const { usageCount } = await api.usage.track();
    window.__result = { userId: me.userId, usageCount, tokens: window.__tokens };
  } catch (e) {
    window.__result = { error: String(e), code: e.code };
  }
</script>`;
  site = http.createServer(async (req, res) => {
    if (req.url.startsWith("/account")) {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(shop);
    } else if (req.url === "/session") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(session);
    } else if (req.url === "/clerk") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(
        clerkPage.replace("clerkKeys.test.publishableKey", JSON.stringify(clerk.keys.test.publishableKey)),
      );
    } else if (req.url === "/clerk/token") {
      const token = await new SignJWT({ azp: `http://localhost:${site.address().port}`, sid: "sess_browser" })
        .setProtectedHeader({ alg: "RS256", kid: "clerk-browser", typ: "JWT" })
        .setSubject("user_clerk_browser")
        .setIssuer(clerk.issuer)
        .setIssuedAt()
        .setNotBefore("0s")
        .setExpirationTime("2m")
        .sign(clerk.privateKey);
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(token);
    } else if (req.url === "/.well-known/jwks.json") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [clerk.jwk] }));
    } else if (req.url === "/dream-sdk.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(sdk);
    } else {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(page);
    }
  });
  await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
  // A project whose users sign in with "Clerk": this site is its issuer.
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  clerk = {
    issuer: `http://127.0.0.1:${site.address().port}`,
    privateKey,
    jwk: { ...(await exportJWK(publicKey)), kid: "clerk-browser", alg: "RS256", use: "sig" },
    keys: await newProject(server.baseUrl),
  };
  const configured = await fetch(`${server.baseUrl}/v1/settings`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${clerk.keys.test.secretKey}`, "content-type": "application/json" },
    body: JSON.stringify({
      jwt: { issuer: clerk.issuer, allowedOrigins: [`http://localhost:${site.address().port}`] },
    }),
  });
  assert.equal(configured.status, 200, await configured.text());
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  site?.close();
  await server?.stop();
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
  assert.equal(await page.textContent("#total"), "$29.00 / month");
  assert.match(await page.textContent("ul.lines"), /Pro.*Qty 1 × \$29\.00 \/ month/);
  // Stripe's decline test card: the error on the page, and nothing paid.
  await pay(page, "4000 0000 0000 0002");
  assert.equal(await page.textContent("#card-error"), "Your card was declined.");
  await shot(page, "checkout-declined");
  await page.waitForTimeout(500);
  const customer = await fetch(`${server.baseUrl}/v1/customers/user_browser_buyer`, {
    headers: { authorization: `Bearer ${server.keys.testSecret}` },
  }).then((r) => r.json());
  assert.equal(customer.tier.name, "free", "a declined card changes no plan");
  assert.equal(customer.billing?.subscription ?? null, null);
  await pay(page, "4242 4242 4242 4242");
  // Back on the page the checkout started from, which reads the plan until the webhook lands.
  await page.waitForURL((url) => url.href.startsWith(account), { timeout: 15000 });
  await page.waitForFunction(() => document.querySelector("#plan").textContent === "pro", null, {
    timeout: 15000,
  });
  await page.close();
});

/** Types a card into the emulator's hosted checkout and presses Pay. */
async function pay(page, number) {
  await page.fill("#card", number);
  await page.fill("#exp", "12 / 34");
  await page.fill("#cvc", "123");
  await Promise.all([page.waitForLoadState("load"), page.click("#pay")]);
}

async function shot(page, name) {
  await page.screenshot({ path: resolve(shots, `${name}.png`), fullPage: true });
}

test("a subscriber switches plan and cancels in the emulator's customer portal; the API sees each change", async () => {
  const keys = await newProject(server.baseUrl);
  const secret = { authorization: `Bearer ${keys.test.secretKey}`, "content-type": "application/json" };
  for (const [name, amount] of [
    ["pro", 2900],
    ["team", 9900],
  ]) {
    const created = await fetch(`${server.baseUrl}/v1/tiers`, {
      method: "POST",
      headers: secret,
      body: JSON.stringify({
        name,
        displayName: name === "pro" ? "Pro" : "Team",
        price: { currency: "usd", unitAmount: amount, interval: "month" },
      }),
    });
    assert.equal(created.status, 201, await created.text());
  }
  await fetch(`${server.baseUrl}/v1/settings`, {
    method: "PATCH",
    headers: secret,
    body: JSON.stringify({ billing: { siteUrl: "http://localhost:3000" } }),
  });
  const { token } = await fetch(`${server.baseUrl}/v1/dev/tokens`, {
    method: "POST",
    headers: secret,
    body: JSON.stringify({ userId: "user_portal", email: "portal@example.com" }),
  }).then((r) => r.json());
  const asUser = {
    authorization: `Bearer ${token}`,
    "x-publishable-key": keys.test.publishableKey,
    "content-type": "application/json",
  };
  const checkout = await fetch(`${server.baseUrl}/v1/billing/checkout`, {
    method: "POST",
    headers: asUser,
    body: JSON.stringify({ tier: "pro" }),
  }).then((r) => r.json());
  assert.equal((await fetch(`${checkout.url}/complete`, { method: "POST", redirect: "manual" })).status, 303);
  const state = () =>
    fetch(`${server.baseUrl}/v1/customers/user_portal`, { headers: secret }).then((r) => r.json());
  const until = async (what, check) => {
    for (let i = 0; i < 150; i++) {
      const value = await state();
      if (check(value)) return value;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${what}: not seen within 15 s`);
  };
  await until("the pro plan", (s) => s.tier?.name === "pro");
  const portal = await fetch(`${server.baseUrl}/v1/billing/portal`, {
    method: "POST",
    headers: asUser,
    body: JSON.stringify({ returnUrl: "http://localhost:3000/account" }),
  }).then((r) => r.json());

  const page = await browser.newPage();
  await page.goto(portal.url);
  assert.equal(await page.textContent("#customer"), "portal@example.com");
  assert.equal(await page.textContent("#plan"), "Pro");
  assert.equal(await page.textContent("#price"), "$29.00 / month");
  await shot(page, "portal");
  await page.check("label.choice:has-text('Team') input");
  await Promise.all([page.waitForLoadState("load"), page.click("#switch")]);
  assert.equal(await page.textContent("#plan"), "Team");
  assert.equal(await page.textContent("#price"), "$99.00 / month");
  const switched = await until("the team plan", (s) => s.tier?.name === "team");
  assert.equal(switched.billing.subscription.cancelAtPeriodEnd, false);
  await shot(page, "portal-switched");

  await Promise.all([page.waitForLoadState("load"), page.click("#cancel")]);
  assert.match(await page.textContent("#ends"), /^Cancels on [A-Z][a-z]{2} \d{1,2}, \d{4}$/);
  const ending = await until(
    "the cancellation at period end",
    (s) => s.billing?.subscription?.cancelAtPeriodEnd === true,
  );
  assert.equal(ending.tier.name, "team", "the plan lasts until the period ends");
  // The user sees it too: their state names the subscription that gives them the tier.
  const mine = await fetch(`${server.baseUrl}/v1/me`, { headers: asUser }).then((r) => r.json());
  assert.deepEqual(
    [mine.tier.name, mine.subscription?.tier.name, mine.subscription?.cancelAtPeriodEnd],
    ["team", "team", true],
  );
  await shot(page, "portal-canceled");
  await Promise.all([page.waitForLoadState("load"), page.click("#renew")]);
  await until("the cancellation taken back", (s) => s.billing?.subscription?.cancelAtPeriodEnd === false);
  assert.equal(await page.getAttribute("#return", "href"), "http://localhost:3000/account");
  await page.close();
});

test("a guest buys from the catalogue: the hosted checkout shows names, pictures, quantities and money; a declined card pays nothing; 4242 pays", async () => {
  const secret = { authorization: `Bearer ${server.keys.testSecret}` };
  const uploaded = await fetch(`${server.baseUrl}/v1/assets?filename=poster.png`, {
    method: "POST",
    headers: { ...secret, "content-type": "image/png" },
    body: png(60, 40, [20, 140, 60]),
  }).then((r) => r.json());
  const product = await fetch(`${server.baseUrl}/v1/products`, {
    method: "POST",
    headers: { ...secret, "content-type": "application/json" },
    body: JSON.stringify({
      name: "Garden poster",
      images: [uploaded.id],
      prices: [{ currency: "usd", unitAmount: 1250 }],
    }),
  }).then((r) => r.json());
  const back = `http://localhost:${site.address().port}/thanks`;
  const checkout = await fetch(`${server.baseUrl}/v1/cart/checkout`, {
    method: "POST",
    headers: { "x-publishable-key": server.keys.testPublishable, "content-type": "application/json" },
    body: JSON.stringify({
      items: [{ priceId: product.prices[0].id, quantity: 2 }],
      customerEmail: "guest@example.com",
      successUrl: back,
      cancelUrl: back,
    }),
  }).then((r) => r.json());
  const page = await browser.newPage();
  await page.goto(checkout.url);
  assert.equal(await page.textContent("#total"), "$25.00");
  assert.equal(await page.textContent("#email"), "guest@example.com");
  assert.match(await page.textContent("ul.lines"), /Garden poster\s*Qty 2 × \$12\.50\s*\$25\.00/);
  await page.waitForFunction(() => [...document.images].every((i) => i.complete));
  assert.deepEqual(
    await page.$$eval("ul.lines img", (imgs) => imgs.map((i) => `${i.naturalWidth}x${i.naturalHeight}`)),
    ["60x40"],
    "the product's picture is drawn",
  );
  await shot(page, "checkout");
  const payments = async () =>
    (
      await fetch(`${server.baseUrl}/v1/billing/payments`, { headers: secret }).then((r) => r.json())
    ).data.filter((p) => p.customerEmail === "guest@example.com");
  await pay(page, "4000 0000 0000 0002");
  assert.equal(await page.textContent("#card-error"), "Your card was declined.");
  await pay(page, "4000 0000 0000 9995");
  assert.equal(await page.textContent("#card-error"), "Your card has insufficient funds.");
  await page.waitForTimeout(500);
  assert.deepEqual(await payments(), [], "declined cards record no payment");
  await pay(page, "4242 4242 4242 4242");
  assert.equal(page.url(), back);
  for (let i = 0; i < 50 && (await payments()).length === 0; i++) await page.waitForTimeout(100);
  const [payment] = await payments();
  assert.deepEqual([payment.amount, payment.currency], [2500, "usd"]);
  // The confirmation page's read: the order, with the publishable key only.
  const shop = new DreamAPI({ publishableKey: server.keys.testPublishable, baseUrl: server.baseUrl });
  const outcome = await shop.products.checkoutOutcome(checkout.id);
  assert.deepEqual(
    [outcome.status, outcome.paymentStatus, outcome.recorded, outcome.customerEmail, outcome.amountTotal],
    ["complete", "paid", true, "guest@example.com", 2500],
  );
  assert.deepEqual(
    outcome.items.map((i) => [i.productId, i.name, i.quantity, i.unitAmount, i.amountTotal]),
    [[product.id, "Garden poster", 2, 1250, 2500]],
  );
  await page.close();
});

test("a development session survives reloads: one user per browser until it signs out", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const url = `http://localhost:${site.address().port}/session`;
  const seen = async () => {
    await page.waitForFunction(() => document.querySelector("#count").textContent !== "…", null, {
      timeout: 15000,
    });
    return [await page.textContent("#user"), await page.textContent("#count")];
  };
  await page.goto(url);
  const [first, one] = await seen();
  assert.match(first, /^dev_/);
  assert.equal(one, "1");
  await page.reload();
  assert.deepEqual(await seen(), [first, "2"], "the same user after a reload, their usage kept");
  // Another tab of the same browser is the same user too.
  const tab = await context.newPage();
  await tab.goto(url);
  await tab.waitForFunction(() => document.querySelector("#count").textContent === "3", null, {
    timeout: 15000,
  });
  assert.equal(await tab.textContent("#user"), first);
  await tab.close();
  await page.click("#sign-out");
  await page.waitForFunction(() => document.body.dataset.signedOut === "yes");
  await page.reload();
  const [second, fresh] = await seen();
  assert.match(second, /^dev_/);
  assert.notEqual(second, first, "a new user after signing out");
  assert.equal(fresh, "1");
  // A browser of its own has its own development user.
  const other = await browser.newContext();
  const elsewhere = await other.newPage();
  await elsewhere.goto(url);
  await elsewhere.waitForFunction(() => document.querySelector("#count").textContent !== "…", null, {
    timeout: 15000,
  });
  assert.notEqual(await elsewhere.textContent("#user"), second);
  await other.close();
  await context.close();
});

test("with Clerk on the page and no getToken, the SDK acts for the Clerk user, verified against the project's issuer", async () => {
  const page = await browser.newPage();
  await page.goto(`http://localhost:${site.address().port}/clerk`);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 15000 });
  const result = await page.evaluate(() => window.__result);
  assert.equal(result.error, undefined, `${result.error} (${result.code})`);
  assert.deepEqual(result, { userId: "user_clerk_browser", usageCount: 1, tokens: 1 });
  const customer = await fetch(`${server.baseUrl}/v1/customers/user_clerk_browser`, {
    headers: { authorization: `Bearer ${clerk.keys.test.secretKey}` },
  });
  assert.equal(customer.status, 200, "the Clerk user is a customer of the Clerk project");
  await page.close();
});
