// The emulator's webhook signatures, checked by Stripe's own library: the official `stripe`
// npm package verifies what the emulator sends (`webhooks.constructEvent`), and refuses it once
// the body is altered or the secret is wrong.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import { resolve } from "node:path";

import Stripe from "stripe";

const root = resolve(import.meta.dirname, "../../..");
const SECRET = "whsec_node_signature_test";
const stripe = new Stripe("sk_test_unused");
let emulator;
let receiver;
const deliveries = [];

before(async () => {
  receiver = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    deliveries.push({
      body: Buffer.concat(chunks).toString("utf8"),
      signature: req.headers["stripe-signature"],
    });
    res.writeHead(200).end();
  });
  await new Promise((ok) => receiver.listen(0, "127.0.0.1", ok));
  const hook = `http://127.0.0.1:${receiver.address().port}/hook`;
  const bin = process.env.STRIPE_EMULATOR_BIN ?? resolve(root, "target/debug/stripe-emulator");
  emulator = spawn(bin, ["--port", "0", "--webhook-url", hook, "--webhook-secret", SECRET], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  emulator.baseUrl = await new Promise((ok, fail) => {
    let output = "";
    emulator.on("exit", (code) => fail(new Error(`stripe-emulator exited with ${code}`)));
    emulator.stdout.on("data", (chunk) => {
      output += chunk;
      const match = output.match(/at (http:\/\/\S+)/);
      if (match) ok(match[1]);
    });
  });
});

after(() => {
  emulator?.kill();
  receiver?.close();
});

test("stripe.webhooks.constructEvent accepts the emulator's deliveries", async () => {
  const response = await fetch(`${emulator.baseUrl}/v1/customers`, {
    method: "POST",
    headers: {
      authorization: "Bearer sk_test_signature",
      "content-type": "application/x-www-form-urlencoded",
    },
    body: "email=ada%40example.com&metadata[user_id]=user_ada",
  });
  const customer = await response.json();
  assert.equal(response.status, 200);
  for (let i = 0; i < 100 && deliveries.length === 0; i++) await new Promise((ok) => setTimeout(ok, 20));
  assert.equal(deliveries.length, 1);
  const { body, signature } = deliveries[0];

  const event = stripe.webhooks.constructEvent(body, signature, SECRET);
  assert.equal(event.type, "customer.created");
  assert.equal(event.data.object.id, customer.id);
  assert.equal(event.data.object.metadata.user_id, "user_ada");

  assert.throws(
    () => stripe.webhooks.constructEvent(body.replace("user_ada", "user_eve"), signature, SECRET),
    {
      type: "StripeSignatureVerificationError",
    },
  );
  assert.throws(() => stripe.webhooks.constructEvent(body, signature, "whsec_wrong"), {
    type: "StripeSignatureVerificationError",
  });
});
