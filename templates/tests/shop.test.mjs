// The shop template as a buyer uses it, in headless Chromium: its production build served by a
// plain static file server, against a real `dream serve` on the Stripe emulator. The catalogue
// with pictures (and a placeholder for a product without one), a product page, a cart that
// survives a reload, guest checkout with an email, a declined card that pays nothing, then the
// test card, and the order confirmation read back from the API. Screenshots in target/templates/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { launchChromium, newProject, png, startServer } from "../../clients/typescript/test/server.mjs";
import { buildAndServe, shots } from "./support.mjs";

let server;
let browser;
let site;
let keys;
const secret = () => ({ authorization: `Bearer ${keys.test.secretKey}` });

before(async () => {
  server = await startServer();
  keys = await newProject(server.baseUrl);
  const picture = await fetch(`${server.baseUrl}/v1/assets?filename=mug.png`, {
    method: "POST",
    headers: { ...secret(), "content-type": "image/png" },
    body: png(60, 60, [200, 60, 40]),
  }).then((r) => r.json());
  for (const product of [
    {
      name: "Dream mug",
      description: "Stoneware, 350 ml.",
      images: [picture.id],
      prices: [{ currency: "usd", unitAmount: 1250 }],
    },
    { name: "Dream sticker", prices: [{ currency: "usd", unitAmount: 300 }] },
  ]) {
    const created = await fetch(`${server.baseUrl}/v1/products`, {
      method: "POST",
      headers: { ...secret(), "content-type": "application/json" },
      body: JSON.stringify(product),
    });
    assert.equal(created.status, 201, await created.text());
  }
  site = await buildAndServe("shop", server.baseUrl, keys.test.publishableKey);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  site?.close();
  await server?.stop();
});

test("browse with pictures, a cart across a reload, a declined card, then pay and see the order", async () => {
  const shop = `http://127.0.0.1:${site.address().port}/`;
  const page = await browser.newPage({ viewport: { width: 1100, height: 860 } });
  const shot = (name) => page.screenshot({ path: join(shots, `shop-${name}.png`), fullPage: true });
  const payments = async () =>
    (await fetch(`${server.baseUrl}/v1/billing/payments`, { headers: secret() }).then((r) => r.json())).data;

  await page.goto(shop);
  await page.waitForSelector("#catalogue");
  await page.waitForFunction(() => [...document.images].every((i) => i.complete));
  const tiles = await page.$$eval("#catalogue .tile", (tiles) =>
    tiles.map((t) => ({
      name: t.querySelector(".name").textContent,
      price: t.querySelector(".price").textContent,
      picture: t.querySelector("img")?.naturalWidth ?? "placeholder",
    })),
  );
  assert.deepEqual(
    tiles.sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: "Dream mug", price: "$12.50", picture: 60 },
      { name: "Dream sticker", price: "$3.00", picture: "placeholder" },
    ],
  );
  await shot("1-catalogue");

  await page.click("a.tile:has-text('Dream mug')");
  await page.waitForSelector("#product");
  assert.match(await page.textContent("#product"), /Stoneware, 350 ml\./);
  await page.click("#add");
  await page.click("#add");
  await shot("2-product");
  await page.goto(`${shop}#/`);
  await page.click("a.tile:has-text('Dream sticker')");
  await page.click("#add");
  assert.equal(await page.textContent("#cart-link"), "Cart (3)");
  await page.reload();
  await page.waitForSelector("#cart-link");
  assert.equal(await page.textContent("#cart-link"), "Cart (3)", "the cart survives a reload");

  await page.click("#cart-link");
  await page.waitForSelector("#cart-total");
  assert.equal(await page.textContent("#cart-total"), "$28.00");
  await page.fill("#email-input", "guest@example.com");
  await shot("3-cart");
  await Promise.all([page.waitForURL(/\/checkout\//), page.click("#checkout")]);
  assert.equal(await page.textContent("#total"), "$28.00");
  const pay = async (card) => {
    await page.fill("#card", card);
    await page.fill("#exp", "12 / 34");
    await page.fill("#cvc", "123");
    await Promise.all([page.waitForLoadState("load"), page.click("#pay")]);
  };
  await pay("4000 0000 0000 0002");
  assert.equal(await page.textContent("#card-error"), "Your card was declined.");
  await shot("4-declined");
  await page.waitForTimeout(500);
  assert.deepEqual(await payments(), [], "a declined card records no payment");

  await pay("4242 4242 4242 4242");
  await page.waitForURL((url) => url.href.startsWith(shop) && url.searchParams.has("order"));
  await page.waitForFunction(
    () => document.querySelector("#order-state")?.textContent === "Payment confirmed.",
    null,
    {
      timeout: 20000,
    },
  );
  const lines = await page.$$eval("#order-lines li", (lis) => lis.map((li) => li.textContent));
  assert.deepEqual(lines.sort(), ["Dream mug2 × $12.50$25.00", "Dream sticker1 × $3.00$3.00"]);
  assert.equal(await page.textContent("#order-total"), "$28.00");
  assert.equal(await page.textContent("#email"), "guest@example.com");
  assert.equal(await page.textContent("#cart-link"), "Cart (0)", "the bought cart is emptied");
  await shot("5-confirmation");
  const [payment] = await payments();
  assert.deepEqual(
    [payment.kind, payment.amount, payment.customerEmail],
    ["cart", 2800, "guest@example.com"],
  );
  await page.close();
});
