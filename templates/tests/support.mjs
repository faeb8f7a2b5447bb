// What the template tests share: a template's production build, served as any static host would.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import http from "node:http";
import { extname, join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
export const shots = resolve(root, "target/templates");
mkdirSync(shots, { recursive: true });

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml" };

/** A static file server for a built app: what any static host does, nothing more. */
export function serveStatic(dir) {
  return http.createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = join(dir, path === "/" ? "index.html" : path);
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end("not found");
    }
  });
}

/**
 * Builds `templates/<name>` with `npm run build` (the API's address and the publishable key in
 * the environment, as `.env.local` would give them, and any `env` beside) into a folder of its
 * own, and serves it on a free port.
 */
export async function buildAndServe(name, apiUrl, publishableKey, env = {}) {
  const template = resolve(root, "templates", name);
  const out = mkdtempSync(join(tmpdir(), `dream-${name}-`));
  await run("npm", ["run", "build", "--", "--outDir", out, "--emptyOutDir"], {
    cwd: template,
    env: { ...process.env, VITE_DREAM_API_URL: apiUrl, VITE_DREAM_PUBLISHABLE_KEY: publishableKey, ...env },
  });
  const site = serveStatic(out);
  await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
  site.on("close", () => rmSync(out, { recursive: true, force: true }));
  return site;
}
