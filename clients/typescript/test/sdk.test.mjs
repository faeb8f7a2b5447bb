// The SDK against a live `dream serve`: every facade method, the token paths (fetch, cache,
// refresh ahead of expiry, one shared refresh for concurrent calls, refresh-and-retry on
// token_expired), retries that are safe, and errors as DreamAPIError.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { DreamAPI, DreamAPIError } from "../dist/index.js";
import { trackUsage } from "../dist/generated/api.js";
import { flakyFront, newProject, startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** A fresh project, an admin SDK for it, and a getToken that mints dev tokens. */
async function setup({ expiresInSeconds = 3600 } = {}) {
  const keys = await newProject(server.baseUrl);
  const admin = new DreamAPI({ secretKey: keys.test.secretKey, baseUrl: server.baseUrl });
  const calls = [];
  const tokenFor = (userId) => async () => {
    calls.push(userId);
    return (await admin.dev.createToken({ userId, expiresInSeconds })).token;
  };
  return { keys, admin, tokenFor, calls };
}

describe("auth", () => {
  test("init verifies the token from getToken and names the user", async () => {
    const { keys, tokenFor, calls } = await setup();
    const api = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: server.baseUrl,
      getToken: tokenFor("user_init"),
    });
    const me = await api.auth.init();
    assert.equal(me.userId, "user_init");
    assert.equal(me.tier.name, "free");
    await api.usage.check();
    assert.equal(calls.length, 1, "the token is cached between calls");
  });

  test("without getToken, a test key starts a development session", async () => {
    const { keys } = await setup();
    const api = new DreamAPI({ publishableKey: keys.test.publishableKey, baseUrl: server.baseUrl });
    const me = await api.auth.init();
    assert.match(me.userId, /^dev_/);
    const usage = await api.usage.track();
    assert.equal(usage.usageCount, 1);
  });

  test("a development session keeps its user across refreshes", async () => {
    const { keys } = await setup();
    const api = new DreamAPI({ publishableKey: keys.test.publishableKey, baseUrl: server.baseUrl });
    const first = await api.auth.init();
    await api.usage.track();
    await api.auth.refresh();
    const again = await api.auth.init();
    assert.equal(again.userId, first.userId);
    assert.equal((await api.usage.check()).usageCount, 1);
  });

  test("a failing getToken surfaces as token_unavailable, not as a network error", async () => {
    const { keys } = await setup();
    let calls = 0;
    const api = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: server.baseUrl,
      getToken: () => {
        calls += 1;
        throw new Error("identity provider unreachable");
      },
    });
    await assert.rejects(
      api.usage.track(),
      (e) => e instanceof DreamAPIError && e.code === "token_unavailable" && /unreachable/.test(e.message),
    );
    assert.equal(calls, 1, "a token failure is not retried as if it were the network");
  });

  test("a live key without getToken says how to pass one", async () => {
    const { keys } = await setup();
    const api = new DreamAPI({ publishableKey: keys.live.publishableKey, baseUrl: server.baseUrl });
    await assert.rejects(
      api.auth.init(),
      (e) => e instanceof DreamAPIError && e.code === "missing_credentials" && /getToken/.test(e.message),
    );
  });

  test("a token close to expiry is refreshed before use", async () => {
    const { keys, tokenFor, calls } = await setup({ expiresInSeconds: 20 });
    const api = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: server.baseUrl,
      getToken: tokenFor("user_short"),
      refreshBeforeExpirySeconds: 30,
    });
    await api.usage.track();
    await api.usage.track();
    await api.usage.check();
    assert.equal(
      calls.length,
      3,
      "each call found the token inside the refresh window and fetched a new one",
    );
  });

  test("concurrent calls share one refresh", async () => {
    const { keys, admin } = await setup();
    let fetches = 0;
    const getToken = async () => {
      fetches += 1;
      await new Promise((ok) => setTimeout(ok, 100));
      return (await admin.dev.createToken({ userId: "user_crowd" })).token;
    };
    const api = new DreamAPI({ publishableKey: keys.test.publishableKey, baseUrl: server.baseUrl, getToken });
    const results = await Promise.all(Array.from({ length: 20 }, () => api.usage.track()));
    assert.equal(fetches, 1);
    assert.deepEqual(
      results.map((r) => r.usageCount).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  test("a token_expired answer refreshes once and retries, so the user never sees it", async () => {
    const { keys, admin } = await setup();
    await admin.settings.update({ jwt: { leewaySeconds: 0 } });
    const tokens = [
      (await admin.dev.createToken({ userId: "user_late", expiresInSeconds: 1 })).token,
      (await admin.dev.createToken({ userId: "user_late", expiresInSeconds: 3600 })).token,
    ];
    await new Promise((ok) => setTimeout(ok, 2100));
    let fetches = 0;
    const api = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: server.baseUrl,
      getToken: () => tokens[fetches++],
      // Trust the cached token however old, so the server is the one to say it expired.
      refreshBeforeExpirySeconds: -3600,
    });
    const me = await api.auth.init();
    assert.equal(me.userId, "user_late");
    assert.equal(fetches, 2);
  });
});

describe("usage", () => {
  test("track and check, with metric and amount", async () => {
    const { keys, tokenFor } = await setup();
    const api = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: server.baseUrl,
      getToken: tokenFor("user_count"),
    });
    assert.equal((await api.usage.track()).usageCount, 1);
    const tracked = await api.usage.track({ amount: 4 });
    assert.deepEqual([tracked.usageCount, tracked.limit, tracked.remaining], [5, 1000, 995]);
    const { usageCount, limit, remaining } = await api.usage.check();
    assert.deepEqual([usageCount, limit, remaining], [5, 1000, 995]);
    const tokens = await api.usage.track({ metric: "ai_tokens", amount: 250 });
    assert.equal(tokens.usageCount, 250);
    assert.equal(tokens.limit ?? null, null);
    assert.equal((await api.usage.check({ metric: "ai_tokens" })).usageCount, 250);
  });

  test("a hard limit throws usage_limit_exceeded, without retrying", async () => {
    const { keys, admin, tokenFor } = await setup();
    await admin.tiers.create({
      name: "tiny",
      displayName: "Tiny",
      isDefault: true,
      limits: [{ metric: "requests", limit: 2, enforcement: "hard" }],
    });
    const front = await flakyFront(server.baseUrl, { failures: 0, mode: "drop" });
    const api = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: front.url,
      getToken: tokenFor("user_tiny"),
      retryDelayMs: 1,
    });
    await api.usage.track({ amount: 2 });
    const before = front.seen.length;
    await assert.rejects(api.usage.track(), (e) => {
      assert.ok(e instanceof DreamAPIError);
      assert.equal(e.code, "usage_limit_exceeded");
      assert.equal(e.status, 402);
      assert.equal(e.type, "usage_limit_error");
      assert.match(e.requestId, /^req_/);
      return true;
    });
    assert.equal(front.seen.length - before, 1, "a usage limit is not retried");
    await front.close();
  });

  test("a track whose response was lost is retried with the same key and counts once", async () => {
    const { keys, tokenFor } = await setup();
    const front = await flakyFront(server.baseUrl, {
      failures: 2,
      mode: "lose-response",
      match: (req) => req.url === "/v1/usage/track",
    });
    const api = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: front.url,
      getToken: tokenFor("user_retry"),
      retryDelayMs: 1,
    });
    const usage = await api.usage.track({ amount: 3 });
    assert.equal(usage.usageCount, 3);
    const tracks = front.seen.filter((r) => r.url === "/v1/usage/track");
    assert.equal(tracks.length, 3);
    assert.equal(
      new Set(tracks.map((r) => r.headers["idempotency-key"])).size,
      1,
      "every attempt carried the same Idempotency-Key",
    );
    assert.equal((await api.usage.check()).usageCount, 3);
    await front.close();
  });

  test("dropped connections are retried for reads, and give network_error when retries run out", async () => {
    const { keys } = await setup();
    const front = await flakyFront(server.baseUrl, { failures: 2, mode: "drop" });
    const api = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: front.url,
      retryDelayMs: 1,
    });
    const { products } = await api.products.list();
    assert.ok(Array.isArray(products));
    const worse = await flakyFront(server.baseUrl, { failures: 10, mode: "drop" });
    const fragile = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: worse.url,
      retryDelayMs: 1,
      maxRetries: 1,
    });
    await assert.rejects(
      fragile.products.list(),
      (e) => e instanceof DreamAPIError && e.code === "network_error" && e.status === 0,
    );
    assert.equal(worse.seen.length, 2, "one attempt and one retry");
    await Promise.all([front.close(), worse.close()]);
  });

  test("writes without an idempotency key are not retried", async () => {
    const { keys } = await setup();
    const front = await flakyFront(server.baseUrl, {
      failures: 1,
      mode: "lose-response",
      match: (req) => req.method === "POST",
    });
    const admin = new DreamAPI({ secretKey: keys.test.secretKey, baseUrl: front.url, retryDelayMs: 1 });
    await assert.rejects(
      admin.products.create({ name: "Once", prices: [{ currency: "usd", unitAmount: 100 }] }),
      (e) => e.status === 503,
    );
    const { products } = await admin.products.list();
    assert.deepEqual(
      products.map((p) => p.name),
      ["Once"],
      "the lost create happened once and was not repeated",
    );
    await front.close();
  });
});

describe("metering from the backend, and entitlements", () => {
  test("the secret key tracks and checks for a user on the user's own counters", async () => {
    const { keys, admin, tokenFor } = await setup();
    await admin.tiers.create({
      name: "plus",
      displayName: "Plus",
      isDefault: true,
      limits: [{ metric: "requests", limit: 10, enforcement: "hard" }],
      features: ["export"],
    });
    const api = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: server.baseUrl,
      getToken: tokenFor("user_metered"),
    });
    assert.equal((await admin.customers.track("user_metered", { amount: 3 })).usageCount, 3);
    assert.equal((await api.usage.track()).usageCount, 4, "the user's side counts on the same counter");
    assert.equal((await admin.customers.checkUsage("user_metered")).usageCount, 4);
    assert.equal(await api.features.has("export"), true);
    assert.equal(await api.features.has("priority_support"), false);
    assert.deepEqual(await api.features.list(), ["export"]);
    assert.equal(await api.usage.allows({ metric: "requests", amount: 6 }), true);
    assert.equal(await api.usage.allows({ metric: "requests", amount: 7 }), false);
    assert.equal(await admin.customers.allows("user_metered", { metric: "requests", amount: 7 }), false);
    assert.equal(await admin.customers.hasFeature("user_metered", "export"), true);
    assert.equal((await api.usage.check()).usageCount, 4, "checks count nothing");
    await assert.rejects(admin.customers.track("user_metered", { amount: 7 }), (e) => {
      assert.equal(e.code, "usage_limit_exceeded");
      return true;
    });
  });

  test("a batch whose response was lost is sent again and counts once", async () => {
    const { keys } = await setup();
    const front = await flakyFront(server.baseUrl, {
      failures: 1,
      mode: "lose-response",
      match: (req) => req.url === "/v1/usage/events",
    });
    const admin = new DreamAPI({ secretKey: keys.test.secretKey, baseUrl: front.url, retryDelayMs: 1 });
    const events = [
      { id: "evt_a", userId: "user_batch", metric: "ai_tokens", amount: 500 },
      { id: "evt_b", userId: "user_batch", metric: "ai_tokens", amount: 250 },
    ];
    const answer = await admin.usage.ingest(events);
    assert.equal(front.seen.filter((r) => r.url === "/v1/usage/events").length, 2, "sent twice");
    assert.deepEqual(
      answer.results.map((r) => r.status),
      ["duplicate", "duplicate"],
      "the retry finds both events counted by the lost attempt",
    );
    assert.equal((await admin.customers.checkUsage("user_batch", { metric: "ai_tokens" })).usageCount, 750);
    await front.close();
  });
});

describe("assets", () => {
  // A PNG's signature and IHDR chunk: enough for the server's type check.
  const png = Uint8Array.from([
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0,
    1, 8, 2, 0, 0, 0,
  ]);

  test("an upload becomes a product image with a public URL serving the same bytes", async () => {
    const { keys, admin } = await setup();
    const mug = await admin.products.create({ name: "Mug", prices: [{ currency: "usd", unitAmount: 1500 }] });
    const asset = await admin.assets.upload({
      filename: "mug.png",
      contentType: "image/png",
      data: png,
      productId: mug.id,
    });
    assert.equal(asset.contentType, "image/png");
    assert.equal(asset.size, png.length);
    assert.equal(asset.productId, mug.id);

    const shop = new DreamAPI({ publishableKey: keys.test.publishableKey, baseUrl: server.baseUrl });
    const [listed] = (await shop.products.list()).products.filter((p) => p.id === mug.id);
    assert.deepEqual(
      listed.images.map((i) => [i.assetId, i.url]),
      [[asset.id, asset.url]],
    );
    const served = await fetch(asset.url);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get("content-type"), "image/png");
    assert.deepEqual(new Uint8Array(await served.arrayBuffer()), png);

    assert.deepEqual((await admin.assets.list({ productId: mug.id })).data, [asset]);
    await admin.assets.delete(asset.id);
    assert.equal((await fetch(asset.url)).status, 404);
    assert.deepEqual((await shop.products.get(mug.id)).images, []);
  });

  test("bytes that are not the declared image type are refused with unsupported_media_type", async () => {
    const { admin } = await setup();
    await assert.rejects(
      admin.assets.upload({
        filename: "x.png",
        contentType: "image/png",
        data: new TextEncoder().encode("<svg/>"),
      }),
      (e) => e instanceof DreamAPIError && e.code === "unsupported_media_type" && e.status === 415,
    );
    assert.deepEqual((await admin.assets.list()).data, []);
  });
});

describe("catalogue and admin", () => {
  test("products: create, list publicly, get, update, archive", async () => {
    const { keys } = await setup();
    const admin = new DreamAPI({ secretKey: keys.test.secretKey, baseUrl: server.baseUrl });
    const shop = new DreamAPI({ publishableKey: keys.test.publishableKey, baseUrl: server.baseUrl });
    const mug = await admin.products.create({ name: "Mug", prices: [{ currency: "usd", unitAmount: 1500 }] });
    const { products } = await shop.products.list();
    assert.deepEqual(
      products.map((p) => [p.name, p.prices[0].unitAmount]),
      [["Mug", 1500]],
    );
    assert.equal((await shop.products.get(mug.id)).name, "Mug");
    assert.equal((await admin.products.update(mug.id, { name: "Big mug" })).name, "Big mug");
    assert.equal((await admin.products.archive(mug.id)).active, false);
    assert.deepEqual((await shop.products.list()).products, []);
    assert.equal((await admin.products.list({ includeArchived: true })).products.length, 1);
    await assert.rejects(
      shop.products.get("prod_missing"),
      (e) => e.code === "not_found" && e.status === 404 && e.param === "productId",
    );
  });

  test("tiers, customers, keys and settings", async () => {
    const { keys, admin, tokenFor } = await setup();
    const pro = await admin.tiers.create({
      name: "pro",
      displayName: "Pro",
      limits: [{ metric: "requests", limit: 50000, enforcement: "hard" }],
    });
    const shop = new DreamAPI({ publishableKey: keys.test.publishableKey, baseUrl: server.baseUrl });
    assert.deepEqual(
      (await shop.tiers.list()).tiers.map((t) => t.name),
      ["free", "pro"],
    );
    assert.equal((await shop.tiers.get(pro.id)).displayName, "Pro");
    assert.equal(
      (await admin.tiers.update(pro.id, { displayName: "Professional" })).displayName,
      "Professional",
    );
    await assert.rejects(
      admin.tiers.create({ name: "pro", displayName: "Again" }),
      (e) => e.code === "already_exists" && e.status === 409,
    );

    const user = new DreamAPI({
      publishableKey: keys.test.publishableKey,
      baseUrl: server.baseUrl,
      getToken: tokenFor("user_vip"),
    });
    await user.usage.track();
    assert.deepEqual(
      (await admin.customers.list()).data.map((c) => c.userId),
      ["user_vip"],
    );
    assert.equal((await admin.customers.setTier("user_vip", "pro")).tier.name, "pro");
    assert.equal((await user.usage.check()).limit, 50000);
    const detail = await admin.customers.get("user_vip");
    assert.equal(detail.usage[0].usageCount, 1);
    await admin.customers.setTier("user_vip", null);
    assert.equal((await admin.tiers.archive(pro.id)).active, false);

    assert.ok((await admin.keys.list()).keys.some((k) => k.token === keys.test.publishableKey));
    assert.equal((await admin.settings.get()).mode, "test");
    const rotated = await admin.keys.rotateSecret({ expiresInSeconds: 60 });
    assert.match(rotated.secretKey, /^sk_test_/);
  });

  test("the generated functions are usable directly, with results narrowed by status", async () => {
    const { keys } = await setup();
    const result = await trackUsage(
      { baseUrl: server.baseUrl, headers: { "x-publishable-key": keys.test.publishableKey } },
      {},
    );
    assert.equal(result.status, 401);
    assert.equal(result.body.code, "missing_credentials");
    assert.match(result.headers.get("x-request-id"), /^req_/);
  });
});

describe("construction", () => {
  test("a secret key is refused in a browser", () => {
    globalThis.window = {};
    globalThis.document = {};
    try {
      assert.throws(
        () => new DreamAPI({ secretKey: "sk_test_x" }),
        (e) => e.code === "secret_key_in_browser",
      );
      assert.doesNotThrow(() => new DreamAPI({ publishableKey: "pk_test_x" }));
    } finally {
      delete globalThis.window;
      delete globalThis.document;
    }
  });

  test("no key at all is refused, and the base URL defaults to DREAM_API_URL", () => {
    assert.throws(
      () => new DreamAPI({}),
      (e) => e.code === "missing_credentials",
    );
    process.env.DREAM_API_URL = "http://example.invalid:1/";
    try {
      assert.equal(new DreamAPI({ publishableKey: "pk_test_x" }).baseUrl, "http://example.invalid:1");
    } finally {
      delete process.env.DREAM_API_URL;
    }
    assert.equal(new DreamAPI({ publishableKey: "pk_test_x" }).baseUrl, "http://localhost:8787");
  });
});
