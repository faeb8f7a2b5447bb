// The SaaS template with `VITE_CLERK_PUBLISHABLE_KEY` set, in headless Chromium: the app loads
// clerk-js from the Frontend API the key names and shows Clerk's sign-in; once signed in, the SDK
// sends Clerk's session tokens. Clerk cannot be reached from here, so the script at that address
// is answered (at the network boundary, by Chromium's request routing) with a Clerk-shaped
// stand-in whose tokens are RS256 JWTs from a local issuer — the project's configured issuer,
// its keys served as a JWKS — the way Clerk's tokens arrive.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { join } from "node:path";

import { exportJWK, generateKeyPair, SignJWT } from "jose";

import { launchChromium, newProject, startServer } from "../../clients/typescript/test/server.mjs";
import { buildAndServe, shots } from "./support.mjs";

const FRONTEND_API = "clerk.dream-saas.test";
const CLERK_KEY = `pk_test_${Buffer.from(`${FRONTEND_API}$`).toString("base64")}`;

let server;
let browser;
let site;
let issuer;
let keys;

/** The stand-in for clerk-js: what the app and the SDK use of it, signing in by email. */
const clerkJs = (issuerUrl) => `(() => {
  const listeners = new Set();
  const clerk = {
    user: null,
    session: null,
    async load() {
      const email = localStorage.getItem("clerk-stand-in");
      if (email) signIn(email);
    },
    mountSignIn(node) {
      node.innerHTML = '<form><label>Email address <input id="clerk-email" type="email" required></label> <button id="clerk-continue">Continue</button></form>';
      node.querySelector("form").onsubmit = (event) => {
        event.preventDefault();
        signIn(node.querySelector("input").value);
        for (const listener of listeners) listener({ user: clerk.user });
      };
    },
    unmountSignIn(node) { node.innerHTML = ""; },
    async signOut() {
      localStorage.removeItem("clerk-stand-in");
      clerk.user = null;
      clerk.session = null;
      for (const listener of listeners) listener({ user: null });
    },
    addListener(listener) { listeners.add(listener); return () => listeners.delete(listener); },
  };
  function signIn(email) {
    localStorage.setItem("clerk-stand-in", email);
    const id = "user_" + email.split("@")[0];
    clerk.user = { id };
    clerk.session = {
      async getToken() {
        window.__clerkTokens = (window.__clerkTokens ?? 0) + 1;
        return (await fetch(${JSON.stringify(issuerUrl)} + "/token?sub=" + id)).text();
      },
    };
  }
  window.Clerk = clerk;
})();`;

before(async () => {
  server = await startServer({ env: { DREAM_JWKS_ALLOW_INSECURE: "true" } });
  keys = await newProject(server.baseUrl);
  site = await buildAndServe("saas", server.baseUrl, keys.test.publishableKey, {
    VITE_CLERK_PUBLISHABLE_KEY: CLERK_KEY,
  });
  const origin = `http://127.0.0.1:${site.address().port}`;
  // The local issuer standing in for the Clerk instance: its JWKS, and tokens for the stand-in.
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "clerk-template", alg: "RS256", use: "sig" };
  issuer = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/.well-known/jwks.json") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else if (url.pathname === "/token") {
      const token = await new SignJWT({ azp: origin, sid: "sess_template" })
        .setProtectedHeader({ alg: "RS256", kid: "clerk-template", typ: "JWT" })
        .setSubject(url.searchParams.get("sub"))
        .setIssuer(issuer.url)
        .setIssuedAt()
        .setExpirationTime("2m")
        .sign(privateKey);
      res.writeHead(200, { "content-type": "text/plain", "access-control-allow-origin": "*" });
      res.end(token);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((ok) => issuer.listen(0, "127.0.0.1", ok));
  issuer.url = `http://127.0.0.1:${issuer.address().port}`;
  const configured = await fetch(`${server.baseUrl}/v1/settings`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${keys.test.secretKey}`, "content-type": "application/json" },
    body: JSON.stringify({ jwt: { issuer: issuer.url, allowedOrigins: [origin] } }),
  });
  assert.equal(configured.status, 200, await configured.text());
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  site?.close();
  issuer?.close();
  await server?.stop();
});

test("with a Clerk key: Clerk's sign-in, Clerk's tokens, the same user after a reload, sign out and another user", async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const scripts = [];
  await context.route(`https://${FRONTEND_API}/npm/@clerk/clerk-js@5/dist/clerk.browser.js`, (route) => {
    scripts.push(route.request().url());
    return route.fulfill({ contentType: "text/javascript", body: clerkJs(issuer.url) });
  });
  const page = await context.newPage();
  const shot = (name) => page.screenshot({ path: join(shots, `saas-clerk-${name}.png`), fullPage: true });
  const app = `http://127.0.0.1:${site.address().port}/`;
  const count = () => page.textContent("[data-metric=ai_tokens] .count");

  await page.goto(app);
  await page.waitForSelector("#sign-in #clerk-email");
  assert.equal(scripts.length, 1, "clerk-js is loaded from the Frontend API the key names");
  assert.equal(await page.$("#plan"), null, "nobody is signed in: no plan, no development user");
  await shot("1-sign-in");

  await page.fill("#clerk-email", "ada@example.com");
  await page.click("#clerk-continue");
  await page.waitForSelector("#plan");
  assert.equal(await page.textContent("#user"), "user_ada");
  assert.equal(await page.textContent("#plan"), "Free");
  await page.click("#generate");
  await page.waitForFunction(() =>
    document.querySelector("[data-metric=ai_tokens] .count")?.textContent?.startsWith("250"),
  );
  assert.ok(
    (await page.evaluate(() => window.__clerkTokens)) >= 1,
    "the SDK asked Clerk's session for a token",
  );
  await shot("2-signed-in");

  await page.reload();
  await page.waitForSelector("#plan");
  assert.equal(await page.textContent("#user"), "user_ada");
  assert.match(await count(), /^250 /);

  await page.click("#sign-out");
  await page.waitForSelector("#sign-in #clerk-email");
  await page.fill("#clerk-email", "bob@example.com");
  await page.click("#clerk-continue");
  await page.waitForFunction(() => document.querySelector("#user")?.textContent === "user_bob");
  // Ada used 1 request; Bob none: he is not sent Ada's cached token.
  assert.match(await page.textContent("[data-metric=requests] .count"), /^0 /);
  await shot("3-another-user");
  await context.close();

  const customers = await fetch(`${server.baseUrl}/v1/customers`, {
    headers: { authorization: `Bearer ${keys.test.secretKey}` },
  }).then((r) => r.json());
  const ids = customers.data.map((c) => c.userId).sort();
  assert.ok(ids.includes("user_ada"), JSON.stringify(ids));
  assert.ok(!ids.some((id) => id.startsWith("dev_")), `no development user was made: ${ids}`);
});
