// Billing through the SDK against a live `dream serve`, whose test mode runs on the local
// Stripe emulator: a checkout paid on the emulator's hosted page makes the user `pro`, the
// portal opens, and the event log and payments show it. Webhook signatures made by Stripe's
// own library (the official `stripe` npm package) are accepted; others are refused.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import Stripe from "stripe";

import { DreamAPI, DreamAPIError } from "../dist/index.js";
import { newProject, startServer } from "./server.mjs";

const SECRET = "whsec_sdk_billing_test";
const stripe = new Stripe("sk_test_unused");
const root = resolve(import.meta.dirname, "../../..");
let server;
before(async () => {
  server = await startServer({ env: { STRIPE_WEBHOOK_SECRETS: SECRET } });
});
after(() => server?.stop());

async function eventually(what, check) {
  for (let i = 0; i < 150; i++) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not seen within 15 s`);
}

test("a user buys pro through the SDK; the webhook sets the plan", async () => {
  const keys = await newProject(server.baseUrl);
  const admin = new DreamAPI({ secretKey: keys.test.secretKey, baseUrl: server.baseUrl });
  await admin.tiers.create({
    name: "pro",
    displayName: "Pro",
    price: { currency: "usd", unitAmount: 2900, interval: "month" },
    limits: [{ metric: "requests", limit: 50000, enforcement: "hard" }],
  });
  await admin.settings.update({ billing: { siteUrl: "https://app.example.com" } });
  const api = new DreamAPI({ publishableKey: keys.test.publishableKey, baseUrl: server.baseUrl });
  const me = await api.auth.init();
  assert.equal(me.tier.name, "free");

  await assert.rejects(api.billing.createPortalSession(), (e) => {
    assert.ok(e instanceof DreamAPIError);
    assert.equal(e.code, "no_billing_account");
    assert.equal(e.status, 409);
    return true;
  });
  await assert.rejects(api.billing.createCheckout({ tier: "free" }), (e) => e.code === "validation_failed");

  const { url } = await api.billing.createCheckout({ tier: "pro", successUrl: "/welcome" });
  const paid = await fetch(`${url}/complete`, { method: "POST", redirect: "manual" });
  assert.equal(paid.headers.get("location"), "https://app.example.com/welcome");
  const upgraded = await eventually("the pro plan", async () => {
    const state = await api.auth.init();
    return state.tier.name === "pro" && state;
  });
  assert.equal(upgraded.usage.find((u) => u.metric === "requests")?.limit, 50000);
  const portal = await api.billing.createPortalSession({ returnUrl: "https://app.example.com/account" });
  assert.match(portal.url, /^http/);
  await assert.rejects(api.billing.createCheckout({ tier: "pro" }), (e) => e.code === "subscription_exists");

  const { data: events } = await admin.billing.listEvents();
  assert.ok(events.some((e) => e.type === "checkout.session.completed" && e.status === "processed"));
  const { data: payments } = await eventually("the invoice's payment", async () => {
    const list = await admin.billing.listPayments();
    return list.data.length > 0 && list;
  });
  assert.deepEqual(
    payments.map((p) => [p.kind, p.amount, p.userId]),
    [["subscription", 2900, me.userId]],
  );
});

test("a webhook signed by the official stripe package is accepted; one signed otherwise is not", async () => {
  const keys = await newProject(server.baseUrl);
  const admin = new DreamAPI({ secretKey: keys.test.secretKey, baseUrl: server.baseUrl });
  const account = `acct_${Date.now()}`;
  await admin.settings.update({ billing: { connectedAccount: account } });
  const session = JSON.parse(
    readFileSync(resolve(root, "conformance/fixtures/stripe/checkout_session_payment.json"), "utf8"),
  );
  const event = (id) =>
    JSON.stringify({
      id,
      object: "event",
      api_version: "2026-06-24.dahlia",
      account,
      created: Math.floor(Date.now() / 1000),
      data: { object: { ...session, id: `cs_test_${id}`, amount_total: 1234, metadata: {} } },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type: "checkout.session.completed",
    });
  const deliver = (payload, header) =>
    fetch(`${server.baseUrl}/v1/webhooks/stripe`, {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": header },
      body: payload,
    });

  const good = event("evt_signed_by_stripe_node");
  const accepted = await deliver(
    good,
    stripe.webhooks.generateTestHeaderString({ payload: good, secret: SECRET }),
  );
  assert.equal(accepted.status, 200);
  assert.deepEqual(await accepted.json(), {
    received: true,
    eventId: "evt_signed_by_stripe_node",
    duplicate: false,
  });

  const other = event("evt_signed_with_another_secret");
  const refused = await deliver(
    other,
    stripe.webhooks.generateTestHeaderString({ payload: other, secret: "whsec_someone_else" }),
  );
  assert.equal(refused.status, 400);
  assert.equal((await refused.json()).code, "invalid_signature");

  const { data: payments } = await admin.billing.listPayments();
  assert.deepEqual(
    payments.map((p) => [p.id, p.amount]),
    [["cs_test_evt_signed_by_stripe_node", 1234]],
  );
});
