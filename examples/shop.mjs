// The product page's e-commerce snippet against a running `dream serve`, with the placeholder
// `price_xxx` replaced by the first listed product's price:
//   DREAM_API_URL=http://127.0.0.1:8787 DREAM_PUBLISHABLE_KEY=pk_test_… node examples/shop.mjs
// Outside a browser, the paths `/thank-you` and `/cart` resolve against the project's
// `billing.siteUrl` setting. `node examples/setup.mjs` makes the products and sets it.
import { DreamAPI } from "@dream-api/sdk";

const api = new DreamAPI({ publishableKey: process.env.DREAM_PUBLISHABLE_KEY });

// List products (public, PK only)
const { products } = await api.products.list();

// Guest checkout (no account needed)
const { url } = await api.products.cartCheckout({
  items: [{ priceId: products[0].prices[0].id, quantity: 2 }],
  customerEmail: "buyer@email.com",
  successUrl: "/thank-you",
  cancelUrl: "/cart",
});

console.log(JSON.stringify({ products: products.map((p) => ({ name: p.name, prices: p.prices })), url }));
