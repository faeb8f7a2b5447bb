// The SDK as a user gets it: `npm pack` (whose prepack builds it), the tarball installed into a
// fresh project, the README's snippet type-checked under the module settings projects use —
// bundler and nodenext with TypeScript 7 and 5.9, node10 with 5.9 (7 dropped it) — all with
// `strict` and `noUncheckedIndexedAccess`, then run against dream serve.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

import { startServer } from "./server.mjs";

const run = promisify(execFile);
const sdk = resolve(import.meta.dirname, "..");
const root = resolve(sdk, "../..");
const compilers = {
  7: join(root, "node_modules/typescript/bin/tsc"),
  // TypeScript 5.9 beside the workspace's 7 (scripts/test: npm ci --prefix tools/typescript-5).
  5.9: join(root, "tools/typescript-5/node_modules/typescript/bin/tsc"),
};

let app;
let server;

// What the README shows, written as a strict project would write it.
const snippet = `import { DreamAPI, DreamAPIError } from "@dream-api/sdk";
import type { Product } from "@dream-api/sdk/client";

const api = new DreamAPI({ publishableKey: process.env.DREAM_PUBLISHABLE_KEY ?? "", baseUrl: process.env.DREAM_API_URL });
const { products } = await api.products.list();
const first: Product | undefined = products[0];
const priceId: string | undefined = first?.prices[0]?.id;
const { remaining } = await api.usage.check();
let refused = "";
try {
  await api.customers.list();
} catch (error) {
  if (error instanceof DreamAPIError) refused = error.code;
}
console.log(JSON.stringify({ count: products.length, priceId: priceId ?? null, remaining, refused }));
`;

before(async () => {
  server = await startServer();
  app = mkdtempSync(join(tmpdir(), "dream-sdk-pack-"));
  const { stdout } = await run("npm", ["pack", "--pack-destination", app, "--silent"], { cwd: sdk });
  const tarball = stdout.trim().split("\n").pop();
  assert.match(tarball, /^dream-api-sdk-.*\.tgz$/);
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({
      name: "app",
      private: true,
      type: "module",
      dependencies: { "@dream-api/sdk": `file:./${tarball}` },
    }),
  );
  await run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--silent"], { cwd: app });
  writeFileSync(join(app, "index.ts"), snippet);
  // The SDK README's own example, word for word (its \`clerk\` is the page's Clerk object).
  const readme = readFileSync(join(sdk, "README.md"), "utf8").match(/```typescript\n([\s\S]*?)```/)[1];
  writeFileSync(join(app, "readme.ts"), `${readme}\nexport {};\n`);
  await fetch(`${server.baseUrl}/v1/products`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.keys.testSecret}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "Mug", prices: [{ currency: "usd", unitAmount: 1500 }] }),
  });
});

after(async () => {
  await server?.stop();
  if (app) rmSync(app, { recursive: true, force: true });
});

test("the packed tarball ships the built SDK with its types", () => {
  const files = readdirSync(join(app, "node_modules/@dream-api/sdk/dist"));
  for (const file of ["index.js", "index.d.ts"]) assert.ok(files.includes(file), `${file} in ${files}`);
});

const settings = [
  { ts: 7, module: "preserve", moduleResolution: "bundler" },
  { ts: 7, module: "nodenext", moduleResolution: "nodenext" },
  { ts: 5.9, module: "preserve", moduleResolution: "bundler" },
  { ts: 5.9, module: "nodenext", moduleResolution: "nodenext" },
  { ts: 5.9, module: "es2022", moduleResolution: "node10" },
];

for (const { ts, module, moduleResolution } of settings) {
  test(`TypeScript ${ts}, moduleResolution ${moduleResolution}: the README's example and a strict app type-check`, async () => {
    const config = join(app, `tsconfig.${ts}.${moduleResolution}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module,
          moduleResolution,
          lib: ["es2022", "dom"],
          types: [],
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          noEmit: true,
          skipLibCheck: false,
          ...(moduleResolution === "node10" ? { ignoreDeprecations: "5.0" } : {}),
        },
        files: ["index.ts", "readme.ts", "env.d.ts"],
      }),
    );
    writeFileSync(
      join(app, "env.d.ts"),
      "declare const process: { env: Record<string, string | undefined> };\n" +
        "declare const clerk: { session?: { getToken(): Promise<string | null> } };\n",
    );
    try {
      await run(process.execPath, [compilers[ts], "-p", config], { cwd: app });
    } catch (error) {
      assert.fail(`tsc ${ts} (${moduleResolution}):\n${error.stdout}${error.stderr}`);
    }
  });
}

test("the installed SDK runs the snippet against dream serve", async () => {
  const js = snippet
    .replace(/^import type .*$/m, "")
    .replace(/: Product \| undefined/, "")
    .replace(/: string \| undefined/, "");
  writeFileSync(join(app, "index.mjs"), js);
  const { stdout } = await run(process.execPath, ["index.mjs"], {
    cwd: app,
    env: {
      ...process.env,
      DREAM_API_URL: server.baseUrl,
      DREAM_PUBLISHABLE_KEY: server.keys.testPublishable,
    },
  });
  const result = JSON.parse(stdout.trim().split("\n").pop());
  assert.equal(result.count, 1);
  assert.match(result.priceId, /^price_/);
  assert.equal(result.remaining, 1000, "a new development user has the Free tier's whole allowance");
  assert.equal(
    result.refused,
    "missing_credentials",
    "a secret-key call with the publishable key is a DreamAPIError",
  );
});
