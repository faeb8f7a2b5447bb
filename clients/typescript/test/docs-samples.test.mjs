// The TypeScript samples in the API reference are code, so they must compile: each sample is
// extracted from docs/generated/index.html and type-checked with tsc --strict against the
// built package, as an app importing `@dream-api/sdk/client` would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "../../..");

const unescape = (text) =>
  text
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&");

test("every operation's TypeScript sample type-checks", () => {
  const html = readFileSync(resolve(root, "docs/generated/index.html"), "utf8");
  const sections = [
    ...html.matchAll(/<section class="operation"[^>]*data-operation-id="([^"]+)">(.*?)<\/section>/gs),
  ];
  assert.ok(sections.length >= 26, `found ${sections.length} operations`);
  const dir = resolve(root, "target/docs-samples");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = [];
  for (const [, id, body] of sections) {
    const sample = body.match(/<summary>TypeScript<\/summary><pre><code>(.*?)<\/code><\/pre>/s);
    assert.ok(sample, `${id} has a TypeScript sample`);
    const file = resolve(dir, `${id}.mts`);
    writeFileSync(
      file,
      "declare const PUBLISHABLE_KEY: string;\ndeclare const SECRET_KEY: string;\n" +
        "declare const OPERATOR_TOKEN: string;\ndeclare const userToken: string;\n" +
        "declare const fileBytes: Uint8Array<ArrayBuffer>;\n" +
        unescape(sample[1]) +
        "\n",
    );
    files.push(file);
  }
  const tsc = resolve(root, "node_modules/.bin/tsc");
  const args = ["--noEmit", "--strict", "--exactOptionalPropertyTypes", "--target", "ES2022"];
  args.push("--module", "nodenext", "--moduleResolution", "nodenext", "--lib", "ES2022,DOM", ...files);
  try {
    execFileSync(tsc, args, { cwd: root, encoding: "utf8" });
  } catch (error) {
    assert.fail(`tsc rejected the docs' samples:\n${error.stdout}${error.stderr}`);
  }
});
