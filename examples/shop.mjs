// The product page's e-commerce snippet (the catalogue part), against a running `dream serve`:
//   DREAM_API_URL=http://127.0.0.1:8787 DREAM_PUBLISHABLE_KEY=pk_test_… node examples/shop.mjs
import { DreamAPI } from "@dream-api/sdk";

const api = new DreamAPI({ publishableKey: process.env.DREAM_PUBLISHABLE_KEY });

// List products (public, PK only)
const { products } = await api.products.list();

console.log(JSON.stringify(products.map((p) => ({ name: p.name, prices: p.prices }))));
