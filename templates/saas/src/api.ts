import { DreamAPI } from "@dream-api/sdk";

/** The app's one client: the publishable key only (safe in a browser). */
export const api = new DreamAPI({
  publishableKey: import.meta.env.VITE_DREAM_PUBLISHABLE_KEY,
  baseUrl: import.meta.env.VITE_DREAM_API_URL,
});

/** What the metered action spends per click: one request and a number of AI tokens. */
export const TOKENS_PER_GENERATION = 250;
