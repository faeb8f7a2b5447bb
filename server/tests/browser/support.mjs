// What the dashboard's browser tests share: API calls with a key, tracking as a user, signing
// in, and screenshots into target/dashboard/.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

export const shots = resolve(import.meta.dirname, "../../../target/dashboard");
mkdirSync(shots, { recursive: true });

/** Calls the API of `server()` (a function: the server starts in `before`). */
export function apiOf(server) {
  return async function api(path, { key, method = "GET", body, headers = {} } = {}) {
    const response = await fetch(`${server().baseUrl}${path}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
}

/** A development token for `userId`, made with the project's secret key. */
export async function userToken(api, keys, userId) {
  const { body } = await api("/v1/dev/tokens", {
    key: keys.test.secretKey,
    method: "POST",
    body: { userId, email: `${userId}@example.com` },
  });
  return body.token;
}

/** Tracks `body` for the user of `token` through the API, as the app would. */
export async function trackAs(api, keys, token, body) {
  const tracked = await api("/v1/usage/track", {
    method: "POST",
    body,
    headers: { "x-publishable-key": keys.test.publishableKey, authorization: `Bearer ${token}` },
  });
  assert.equal(tracked.status, 200, JSON.stringify(tracked.body));
}

export async function shot(page, name) {
  await page.screenshot({ path: resolve(shots, `${name}.png`), fullPage: true });
}
