// The product page's SaaS snippet, as written there, against a running `dream serve`:
//   DREAM_API_URL=http://127.0.0.1:8787 DREAM_PUBLISHABLE_KEY=pk_test_… node examples/saas.mjs
// With a test key and no identity provider on the page, `auth.init()` starts a development
// session (the project must have the development issuer enabled, as `dream serve`'s
// development project does).
import { DreamAPI } from "@dream-api/sdk";

// Frontend - just the publishable key
const api = new DreamAPI({ publishableKey: process.env.DREAM_PUBLISHABLE_KEY });

// User signs up (Clerk handles auth)
await api.auth.init();

// Track usage
await api.usage.track();
const { usageCount, limit, remaining } = await api.usage.check();

console.log(JSON.stringify({ usageCount, limit, remaining }));
