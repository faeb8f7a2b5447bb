// Prepares a project for the examples beside it, through the API with the secret key: a paid
// `pro` tier, two products for the shop, and the site URL checkouts return to. Run it once
// against a fresh `dream serve` (its banner prints the development project's keys):
//   DREAM_API_URL=http://127.0.0.1:8787 DREAM_SECRET_KEY=sk_test_… node examples/setup.mjs
// Running it again changes nothing: what exists (by tier name, by product name) is kept, and a
// site URL already set is left alone.
import { DreamAPI } from "@dream-api/sdk";

const api = new DreamAPI({ secretKey: process.env.DREAM_SECRET_KEY });

const tiers = await api.tiers.list({ includeArchived: true });
const made = [];
if (!tiers.tiers.some((t) => t.name === "pro")) {
  await api.tiers.create({
    name: "pro",
    displayName: "Pro",
    price: { currency: "usd", unitAmount: 2900, interval: "month" },
    limits: [{ metric: "requests", limit: 10000, enforcement: "hard" }],
  });
  made.push("tier pro");
}

const catalogue = [
  { name: "Dream mug", description: "Stoneware, 350 ml.", prices: [{ currency: "usd", unitAmount: 1500 }] },
  { name: "Dream T-shirt", description: "Organic cotton.", prices: [{ currency: "usd", unitAmount: 2500 }] },
];
const { products } = await api.products.list({ includeArchived: true });
for (const product of catalogue) {
  if (!products.some((p) => p.name === product.name)) {
    await api.products.create(product);
    made.push(`product ${product.name}`);
  }
}

const settings = await api.settings.get();
if (!settings.billing.siteUrl) {
  await api.settings.update({ billing: { siteUrl: process.env.SITE_URL ?? "http://localhost:5173" } });
  made.push("site URL");
}

console.log(JSON.stringify({ made }));
