// The product page's SaaS snippet, as written there, against a running `dream serve`:
//   DREAM_API_URL=http://127.0.0.1:8787 DREAM_PUBLISHABLE_KEY=pk_test_… node examples/saas.mjs
// With a test key and no identity provider on the page, `auth.init()` starts a development
// session (the project must have the development issuer enabled, as `dream serve`'s
// development project does). The checkout needs a paid tier named `pro` and, outside a
// browser, the project's `billing.siteUrl` setting to return to: `node examples/setup.mjs`
// makes both.
import { DreamAPI } from "@dream-api/sdk";

// Frontend - just the publishable key
const api = new DreamAPI({ publishableKey: process.env.DREAM_PUBLISHABLE_KEY });

// User signs up (Clerk handles auth)
await api.auth.init();

// Track usage
await api.usage.track();
const { usageCount, limit, remaining } = await api.usage.check();

// Upgrade to paid tier
await api.billing.createCheckout({ tier: "pro" });

console.log(JSON.stringify({ usageCount, limit, remaining }));
