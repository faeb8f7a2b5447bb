// `dream init` as a new user runs it, from an empty folder, against a fresh `dream serve`: the
// template's README commands — `dream init TEMPLATE DIR` with the secret key, then
// `npm install` and `npm run dev` / `npm run build` in the new folder — give an app that works
// in Chromium. Running init again changes nothing; a folder that is not an app, a live key and
// no key are refused before anything is made.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { promisify } from "node:util";

import { launchChromium, startServer } from "../../clients/typescript/test/server.mjs";
import { serveStatic, shots } from "./support.mjs";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const dream = process.env.DREAM_BIN ?? join(root, "target/debug/dream");

let server;
let browser;
let work;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  work = mkdtempSync(join(tmpdir(), "dream-init-"));
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true, maxRetries: 5 });
});

/** `dream init` in `work`, as the README has it, with the key in the environment. */
async function init(args, env = {}) {
  try {
    const { stdout } = await run(dream, ["init", ...args], {
      cwd: work,
      env: {
        ...process.env,
        DREAM_API_URL: server.baseUrl,
        DREAM_SECRET_KEY: server.keys.testSecret,
        ...env,
      },
    });
    return { code: 0, stdout, stderr: "" };
  } catch (error) {
    return { code: error.code, stdout: error.stdout, stderr: error.stderr };
  }
}

async function admin(path) {
  const response = await fetch(`${server.baseUrl}${path}`, {
    headers: { authorization: `Bearer ${server.keys.testSecret}` },
  });
  assert.ok(response.ok, `${path}: ${response.status}`);
  return response.json();
}

/** Every file under `dir` but installed and built ones, with a hash of its bytes. */
function snapshot(dir) {
  const files = {};
  const walk = (at) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (["node_modules", "dist"].includes(entry.name)) continue;
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(dir, path)] = createHash("sha256").update(readFileSync(path)).digest("hex");
    }
  };
  walk(dir);
  return files;
}

/** `npm run dev` in `dir` on a free port: resolves with its address once Vite answers there. */
async function dev(dir) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const url = `http://127.0.0.1:${port}/`;
  const child = spawn(
    "npm",
    ["run", "dev", "--", "--port", String(port), "--strictPort", "--host", "127.0.0.1"],
    { cwd: dir, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let output = "";
  let exited = null;
  const gone = new Promise((ok) => child.on("exit", ok));
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  child.on("exit", (code) => (exited = code));
  /** Stops npm and Vite (the whole process group) and waits until npm has gone. */
  const stop = async () => {
    const signal = (name) => {
      try {
        process.kill(-child.pid, name);
      } catch {
        // already gone
      }
    };
    signal("SIGTERM");
    const late = setTimeout(() => signal("SIGKILL"), 5000);
    await gone;
    clearTimeout(late);
  };
  // Ready is when the page answers, not when a line is printed: Vite colours its banner when
  // the environment asks for colour, and a coloured banner splits the address.
  const deadline = Date.now() + 60000;
  for (;;) {
    if (exited !== null) throw new Error(`vite exited with ${exited}:\n${output}`);
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(2000) })).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`vite did not answer at ${url} within 60 s:\n${output}`);
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  return { url, stop };
}

/** `npm install` and `npm run dev` in `app`, as its README says; `look` gets a page there. */
async function installAndDev(app, look) {
  await run("npm", ["install", "--no-audit", "--no-fund"], { cwd: app });
  const vite = await dev(app);
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  try {
    const page = await context.newPage();
    await page.goto(vite.url);
    await look(page);
  } finally {
    await vite.stop();
    await context.close();
  }
}

test("refused before anything is made: a folder that is not an app, a live key, no key", async () => {
  const other = join(work, "notes");
  mkdirSync(other);
  writeFileSync(join(other, "todo.txt"), "mine\n");
  const foreign = await init(["shop", "notes"]);
  assert.equal(foreign.code, 1);
  assert.match(foreign.stderr, /notes is not empty and holds no app on @dream-api\/sdk: choose a new folder/);
  assert.deepEqual(readdirSync(other), ["todo.txt"]);

  const live = await init(["shop", "live-app"], { DREAM_SECRET_KEY: server.keys.liveSecret });
  assert.equal(live.code, 1);
  assert.match(live.stderr, /pass its test secret key, sk_test_…, not a live one/);

  const none = await init(["shop", "keyless"], { DREAM_SECRET_KEY: "" });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /dream init needs the project's test secret key: set DREAM_SECRET_KEY=sk_test_…/);

  const down = await init(["shop", "offline"], { DREAM_API_URL: "http://127.0.0.1:9" });
  assert.equal(down.code, 1);
  assert.match(
    down.stderr,
    /no Dream API server answers at http:\/\/127\.0\.0\.1:9: start one with `dream serve`/,
  );

  assert.deepEqual(readdirSync(work).sort(), ["notes"], "no folder was made");
  assert.deepEqual((await admin("/v1/products?includeArchived=true")).products, [], "no product was made");
});

test("dream init saas: tiers made once, the app installs, builds and runs as the same project", async () => {
  const first = await init(["saas", "my-saas"]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /made a limit of 2500 ai_tokens a month on the default tier free/);
  assert.match(first.stdout, /made the tier pro \(\$29\.00\/month\)/);
  assert.match(first.stdout, /made the tier team \(\$99\.00\/month\)/);
  assert.match(first.stdout, /Next: cd my-saas && npm install && npm run dev/);
  const app = join(work, "my-saas");
  const env = readFileSync(join(app, ".env.local"), "utf8");
  assert.match(env, new RegExp(`^VITE_DREAM_API_URL=${server.baseUrl}$`, "m"));
  assert.match(env, new RegExp(`^VITE_DREAM_PUBLISHABLE_KEY=${server.keys.testPublishable}$`, "m"));
  assert.doesNotMatch(env, /sk_/);
  assert.equal(JSON.parse(readFileSync(join(app, "package.json"), "utf8")).name, "my-saas");
  const files = snapshot(app);
  const tiers = (await admin("/v1/tiers?includeArchived=true")).tiers;

  const second = await init(["saas", "my-saas"]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /nothing made/);
  assert.match(second.stdout, /every file was already there: nothing written/);
  assert.deepEqual(snapshot(app), files, "the second run wrote nothing");
  assert.deepEqual(
    (await admin("/v1/tiers?includeArchived=true")).tiers,
    tiers,
    "the second run made nothing",
  );
  assert.deepEqual(tiers.map((t) => [t.name, t.price?.unitAmount ?? 0]).sort(), [
    ["free", 0],
    ["pro", 2900],
    ["team", 9900],
  ]);

  // The README's next commands; `npm ci` would do as well: the lockfile is the template's.
  await installAndDev(app, async (page) => {
    await page.waitForSelector("#plan");
    assert.equal(await page.textContent("#plan"), "Free");
    assert.match(await page.textContent("#user"), /^dev_/);
    assert.match(await page.textContent("[data-metric=ai_tokens]"), /0\s*\/\s*2,500/);
    await page.screenshot({ path: join(shots, "init-saas-dev.png"), fullPage: true });
  });

  await run("npm", ["run", "build"], { cwd: app });
  const site = serveStatic(join(app, "dist"));
  await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
  const built = await browser.newContext();
  try {
    const page = await built.newPage();
    await page.goto(`http://127.0.0.1:${site.address().port}/`);
    await page.waitForSelector("#plan");
    assert.equal(await page.textContent("#plan"), "Free");
  } finally {
    await built.close();
    site.close();
  }
});

test("dream init shop: products with pictures made once, the catalogue shows them", async () => {
  const first = await init(["shop", "my-shop"]);
  assert.equal(first.code, 0, first.stderr);
  for (const name of ["Dream mug", "Dream T-shirt", "Dream sticker"]) {
    assert.match(first.stdout, new RegExp(`made the product ${name} `));
    assert.match(first.stdout, new RegExp(`made a picture of ${name} `));
  }
  const app = join(work, "my-shop");
  const files = snapshot(app);
  const products = (await admin("/v1/products?includeArchived=true")).products;
  assert.equal(products.length, 3);
  for (const product of products) assert.equal(product.images.length, 1, product.name);

  const second = await init(["shop", "my-shop"]);
  assert.match(second.stdout, /nothing made/);
  assert.match(second.stdout, /nothing written/);
  assert.deepEqual(snapshot(app), files);
  assert.deepEqual((await admin("/v1/products?includeArchived=true")).products, products);

  // A file the developer deleted comes back; the ones they changed are kept.
  rmSync(join(app, "src/cart.ts"));
  writeFileSync(join(app, "README.md"), "# My shop\n");
  const third = await init(["shop", "my-shop"]);
  assert.match(third.stdout, /wrote 1 missing files, kept the \d+ already there/);
  assert.equal(readFileSync(join(app, "README.md"), "utf8"), "# My shop\n");
  assert.equal(snapshot(app)["src/cart.ts"], files["src/cart.ts"]);

  await installAndDev(app, async (page) => {
    await page.waitForFunction(() => {
      const pictures = [...document.querySelectorAll("img")];
      return pictures.length === 3 && pictures.every((img) => img.complete && img.naturalWidth === 480);
    });
    const text = await page.textContent("body");
    for (const line of ["Dream mug", "$15.00", "Dream T-shirt", "$25.00", "Dream sticker", "$3.00"]) {
      assert.ok(text.includes(line), `${line} in ${text}`);
    }
    await page.screenshot({ path: join(shots, "init-shop-dev.png"), fullPage: true });
  });
  await run("npm", ["run", "build"], { cwd: app });
});
