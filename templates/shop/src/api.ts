import { DreamAPI } from "@dream-api/sdk";

/** The shop's one client: the publishable key only. Guests buy without an account. */
export const api = new DreamAPI({
  publishableKey: import.meta.env.VITE_DREAM_PUBLISHABLE_KEY,
  baseUrl: import.meta.env.VITE_DREAM_API_URL,
});

/** An amount in a currency's smallest unit, as money: `$12.50`, `¥500`. */
export function money(amount: number, currency: string): string {
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(amount / 10 ** digits);
}
