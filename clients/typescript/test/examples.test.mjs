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
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

async function example(name) {
  const env = {
    ...process.env,
    DREAM_API_URL: server.baseUrl,
    DREAM_PUBLISHABLE_KEY: server.keys.testPublishable,
  };
  const { stdout } = await run(process.execPath, [resolve(root, "examples", name)], { env, cwd: root });
  return JSON.parse(stdout);
}

test("the SaaS snippet signs in, tracks and checks", async () => {
  assert.deepEqual(await example("saas.mjs"), { usageCount: 1, limit: 1000, remaining: 999 });
  // A second run is a new development session: a new user, counted from 1 again.
  assert.deepEqual(await example("saas.mjs"), { usageCount: 1, limit: 1000, remaining: 999 });
});

test("the shop snippet lists the catalogue", async () => {
  const products = await example("shop.mjs");
  assert.ok(Array.isArray(products));
  assert.ok(products.every((p) => typeof p.name === "string" && Array.isArray(p.prices)));
});
