// The examples under examples/ run unchanged, as separate Node processes, against a live
// `dream serve` and its development project.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";

import { startServer } from "./server.mjs";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../../..");
let server;
let admin;
before(async () => {
  server = await startServer();
  admin = (path, method = "GET", body) =>
    fetch(`${server.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${server.keys.testSecret}`, "content-type": "application/json" },
      body: body && JSON.stringify(body),
    }).then(async (r) => {
      assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.clone().text()}`);
      return r.json();
    });
  // What the snippets assume of the project, made as the README says: examples/setup.mjs with
  // the secret key. A second run changes nothing.
  assert.deepEqual(await setup(), {
    made: ["tier pro", "product Dream mug", "product Dream T-shirt", "site URL"],
  });
  assert.deepEqual(await setup(), { made: [] });
});
after(() => server?.stop());

async function setup() {
  const env = {
    ...process.env,
    DREAM_API_URL: server.baseUrl,
    DREAM_SECRET_KEY: server.keys.testSecret,
    SITE_URL: "https://shop.example.com",
  };
  const { stdout } = await run(process.execPath, [resolve(root, "examples/setup.mjs")], { env, cwd: root });
  return JSON.parse(stdout);
}

async function example(name) {
  const env = {
    ...process.env,
    DREAM_API_URL: server.baseUrl,
    DREAM_PUBLISHABLE_KEY: server.keys.testPublishable,
  };
  const { stdout } = await run(process.execPath, [resolve(root, "examples", name)], { env, cwd: root });
  return JSON.parse(stdout);
}

test("the SaaS snippet signs in, tracks, checks and starts a checkout", async () => {
  assert.deepEqual(await example("saas.mjs"), { usageCount: 1, limit: 1000, remaining: 999 });
  // A second run is a new development session: a new user, counted from 1 again.
  assert.deepEqual(await example("saas.mjs"), { usageCount: 1, limit: 1000, remaining: 999 });
  // Each user's checkout made them a Stripe customer.
  const { data } = await admin("/v1/customers");
  assert.equal(data.length, 2);
  for (const { userId } of data) {
    const detail = await admin(`/v1/customers/${userId}`);
    assert.match(detail.billing?.stripeCustomerId ?? "", /^cus_/, `${userId} has a Stripe customer`);
  }
});

test("the shop snippet lists the catalogue and checks a cart out", async () => {
  const { products, url } = await example("shop.mjs");
  assert.deepEqual(products.map((p) => p.name).sort(), ["Dream T-shirt", "Dream mug"]);
  // The snippet buys two of the first product listed.
  const expected = 2 * products[0].prices[0].unitAmount;
  // Pay on the emulator's hosted page, as a buyer would; the webhook records the payment.
  const paid = await fetch(`${url}/complete`, { method: "POST", redirect: "manual" });
  assert.equal(paid.status, 303);
  assert.equal(paid.headers.get("location"), "https://shop.example.com/thank-you");
  let payments = [];
  for (let i = 0; i < 100 && payments.length === 0; i++) {
    ({ data: payments } = await admin("/v1/billing/payments"));
    if (payments.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(
    payments.map((p) => [p.kind, p.amount, p.currency, p.customerEmail]),
    [["cart", expected, "usd", "buyer@email.com"]],
  );
});
