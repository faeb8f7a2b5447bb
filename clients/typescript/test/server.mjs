// Starts a real `dream serve` on a fresh SQLite file and a free port, and reads the
// development project's keys from what it prints. Tests talk to it over HTTP. Also: a
// deliberately flaky HTTP front, the headless Chromium the browser tests use, and real PNGs.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import http from "node:http";
import { deflateSync } from "node:zlib";

import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "../../..");
export const OPERATOR_TOKEN = "op_sdk_tests";

/**
 * @param {{ env?: Record<string, string> }} [options] extra environment for the server
 * @returns {Promise<{ baseUrl: string, keys: Record<string, string>, output: string, stop: () => Promise<void> }>}
 */
export async function startServer({ env = {} } = {}) {
  const bin = process.env.DREAM_BIN ?? join(root, "target/debug/dream");
  const dir = mkdtempSync(join(tmpdir(), "dream-sdk-"));
  const child = spawn(bin, ["--database-url", `sqlite://${join(dir, "dream.db")}`, "serve", "--port", "0"], {
    env: {
      ...process.env,
      DREAM_OPERATOR_TOKEN: OPERATOR_TOKEN,
      DREAM_HOST: "127.0.0.1",
      RUST_LOG: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  child.unref();
  child.stdout.unref?.();
  let output = "";
  const started = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`dream serve did not start:\n${output}`)), 20000);
    child.on("exit", (code) => fail(new Error(`dream serve exited with ${code}:\n${output}`)));
    child.on("error", (error) => {
      clearTimeout(timer);
      fail(new Error(`dream serve did not run (${bin}): ${error.message}`));
    });
    child.stdout.on("data", (chunk) => {
      output += chunk;
      // The banner ends with the Health line; the keys are printed before it. Output may
      // arrive in pieces, so wait for the whole banner.
      if (/Health: \S+\n/.test(output)) {
        clearTimeout(timer);
        ok();
      }
    });
  });
  // Settles when the process is gone, or was never there (a missing binary gives `error`).
  const exited = new Promise((done) => {
    child.once("exit", done);
    child.once("error", done);
  });
  // Stops the server and only then removes its directory: a server still shutting down
  // writes there (SQLite's journal), and removing the directory under it fails.
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 10000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  };
  let baseUrl;
  let keys;
  try {
    await started;
    const find = (pattern) => {
      const match = output.match(pattern);
      if (!match) throw new Error(`dream serve's banner lacks ${pattern}:\n${output}`);
      return match[1];
    };
    const key = (label) => find(new RegExp(`${label}\\s+(\\S+)`));
    baseUrl = find(/running at (http:\/\/\S+)/);
    keys = {
      testPublishable: key("test publishable key"),
      testSecret: key("test secret key"),
      livePublishable: key("live publishable key"),
      liveSecret: key("live secret key"),
    };
  } catch (error) {
    // Never leave a server behind: a live child keeps the test process from exiting.
    await stop();
    throw error;
  }
  return {
    baseUrl,
    keys,
    output,
    stop,
  };
}

/** A new project through the operator route, its dev issuer enabled: fresh state per test. */
export async function newProject(baseUrl) {
  const response = await fetch(`${baseUrl}/v1/projects`, {
    method: "POST",
    headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "SDK test" }),
  });
  if (response.status !== 201) throw new Error(`createProject: ${response.status} ${await response.text()}`);
  const { keys } = await response.json();
  await fetch(`${baseUrl}/v1/settings`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${keys.test.secretKey}`, "content-type": "application/json" },
    body: JSON.stringify({ devIssuerEnabled: true }),
  });
  return keys;
}

/**
 * A real HTTP front for the server that misbehaves on purpose: for the first `failures`
 * requests matching `match`, it either forwards the request and then answers 503 anyway
 * (the response is lost, the work is done), or drops the connection without forwarding.
 */
export async function flakyFront(baseUrl, { failures, mode, match = () => true }) {
  let left = failures;
  const seen = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    const fail = left > 0 && match(req);
    if (fail) left -= 1;
    if (fail && mode === "drop") {
      req.socket.destroy();
      return;
    }
    const headers = { ...req.headers };
    delete headers.host;
    delete headers["content-length"];
    const upstream = await fetch(`${baseUrl}${req.url}`, {
      method: req.method,
      headers,
      body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
    });
    const text = await upstream.text();
    if (fail && mode === "lose-response") {
      res.writeHead(503, { "content-type": "application/json", "x-request-id": "req_flaky" });
      res.end(
        JSON.stringify({
          type: "api_error",
          code: "internal_error",
          message: "flaky front",
          requestId: "req_flaky",
        }),
      );
      return;
    }
    res.writeHead(
      upstream.status,
      Object.fromEntries(
        [...upstream.headers].filter(
          ([name]) => !["content-length", "transfer-encoding", "connection"].includes(name),
        ),
      ),
    );
    res.end(text);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  server.unref();
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    close: () =>
      new Promise((ok) => {
        server.close(ok);
        server.closeAllConnections();
      }),
  };
}

/** Debian's Chromium (never a downloaded browser), headless, driven by playwright-core. */
export async function launchChromium() {
  const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: apt-get install chromium (or set CHROMIUM)`);
  }
  return chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A real PNG of `width` × `height` in one colour, made here so its size proves which one loaded. */
export function png(width, height, [r, g, b]) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const row = Buffer.concat([
    Buffer.from([0]),
    Buffer.from(Array.from({ length: width }, () => [r, g, b]).flat()),
  ]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", pixels),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
