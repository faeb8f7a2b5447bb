// Prints the SDK's size as an app would ship it: bundled for the browser and minified by
// esbuild, then gzipped. Run after `npm run build -w @dream-api/sdk`.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { resolve } from "node:path";

const result = await build({
  entryPoints: [resolve(import.meta.dirname, "dist/index.js")],
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  write: false,
});
const code = result.outputFiles[0].contents;
console.log(
  `@dream-api/sdk bundle: ${code.length} bytes minified, ${gzipSync(code, { level: 9 }).length} bytes gzipped`,
);
