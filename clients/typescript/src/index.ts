/**
 * `@dream-api/sdk`: the product page's API (`new DreamAPI({ publishableKey })`, `auth.init()`,
 * `usage.track()`, `usage.check()`, `products.list()`, …) on top of the client generated from
 * the OpenAPI document (`./generated/api.ts`, also exported as `@dream-api/sdk/client`).
 *
 * What the facade adds to the generated functions: credentials on every call, user tokens that
 * are fetched, cached, refreshed ahead of expiry and refreshed once more on a `token_expired`
 * answer; retries with backoff where retrying is safe; and one error type, `DreamAPIError`.
 */

import * as api from "./generated/api.js";

export type * from "./generated/api.js";

/** The default base URL: a `dream serve` on this machine. */
export const DEFAULT_BASE_URL = "http://localhost:8787";

/**
 * Supplies the signed-in user's JWT, such as Clerk's `session.getToken()`. `forceRefresh` is
 * set when the API has just refused the last token as expired: return a freshly minted one
 * (for Clerk, `session.getToken({ skipCache: true })`).
 */
export type GetToken = (options: {
  forceRefresh: boolean;
}) => Promise<string | null | undefined> | string | null | undefined;

export interface DreamAPIOptions {
  /** `pk_test_…` or `pk_live_…`: safe in a browser. */
  publishableKey?: string | undefined;
  /** `sk_test_…` or `sk_live_…`: backend only; refused in a browser. */
  secretKey?: string | undefined;
  /** The API's base URL; `DREAM_API_URL` in Node, else `http://localhost:8787`. */
  baseUrl?: string | undefined;
  /**
   * The user's token. Without it, `auth.init()` uses Clerk's browser session when Clerk is on
   * the page, and otherwise, with a test publishable key, a development session.
   */
  getToken?: GetToken | undefined;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof globalThis.fetch | undefined;
  /** Retries after the first attempt, for calls that are safe to repeat. Default 2. */
  maxRetries?: number | undefined;
  /** The first retry's delay in milliseconds, doubled each time (with jitter). Default 250. */
  retryDelayMs?: number | undefined;
  /** Refresh a token this many seconds before it expires. Default 30. */
  refreshBeforeExpirySeconds?: number | undefined;
}

/** Every error the SDK throws: the API's error body, or a network failure (`network_error`). */
export class DreamAPIError extends Error {
  /** The stable error code, such as `usage_limit_exceeded`. */
  readonly code: string;
  /** The HTTP status; 0 when no response arrived. */
  readonly status: number;
  /** The error class, such as `rate_limit_error`. */
  readonly type: string;
  /** The input the error is about. */
  readonly param: string | undefined;
  /** Quote it when reporting a problem. */
  readonly requestId: string | undefined;

  constructor(init: {
    code: string;
    status: number;
    message: string;
    type?: string;
    param?: string | undefined;
    requestId?: string | undefined;
  }) {
    super(init.message);
    this.name = "DreamAPIError";
    this.code = init.code;
    this.status = init.status;
    this.type = init.type ?? "api_error";
    this.param = init.param;
    this.requestId = init.requestId;
  }
}

type Result = api.ApiResponse<number, unknown>;
type Success<R> = R extends { status: 200 | 201; body: infer B } ? B : never;
type Credential = "public" | "user" | "secret" | "none";

interface CallOptions {
  /** Whether the call may be sent again after a failure (GETs, and POSTs with an idempotency key). */
  retryable: boolean;
}

/** A page, or a Web Worker: anywhere code is shipped to users. */
const isBrowser = (): boolean =>
  (typeof (globalThis as { window?: unknown }).window !== "undefined" &&
    typeof (globalThis as { document?: unknown }).document !== "undefined") ||
  typeof (globalThis as { importScripts?: unknown }).importScripts === "function";

function defaultBaseUrl(): string {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.["DREAM_API_URL"] ?? DEFAULT_BASE_URL;
}

/** The `exp` claim of a JWT, in seconds, or undefined when it cannot be read. */
function expiry(token: string): number | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const claims = JSON.parse(globalThis.atob(padded)) as { exp?: unknown };
    return typeof claims.exp === "number" ? claims.exp : undefined;
  } catch {
    return undefined;
  }
}

function randomKey(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The longest `Retry-After` the SDK waits out; beyond it the error is thrown at once. */
const MAX_RETRY_WAIT_MS = 60_000;

/** `Retry-After` in milliseconds: delay-seconds or an HTTP-date; undefined when absent or unreadable. */
function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = Number(value);
  if (value.trim() !== "" && Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * Where a browser keeps its development user, per publishable key: one development user per
 * browser until it signs out, across reloads and tabs (`localStorage`, when the page has it).
 */
const devUserKey = (publishableKey: string): string => `dream-api:dev-user:${publishableKey}`;

type KeyValueStore = {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
};

/** The page's `localStorage`, when there is one it may use (not in Node, not when blocked). */
function localStore(): KeyValueStore | undefined {
  try {
    return (globalThis as { localStorage?: KeyValueStore }).localStorage;
  } catch {
    return undefined;
  }
}

function stored(key: string): string | undefined {
  try {
    return localStore()?.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

function store(key: string, value: string): void {
  try {
    localStore()?.setItem(key, value);
  } catch {
    // Storage full or blocked: the session lasts as long as the page.
  }
}

function forget(key: string): void {
  try {
    localStore()?.removeItem(key);
  } catch {
    // Nothing kept.
  }
}

/** Finds the token source when the app gave none: Clerk on the page, else a dev session. */
function clerkToken(): GetToken | undefined {
  type Session = { getToken(options?: { skipCache?: boolean }): Promise<string | null> };
  const session = (globalThis as { Clerk?: { session?: Session } }).Clerk?.session;
  return session ? ({ forceRefresh }) => session.getToken({ skipCache: forceRefresh }) : undefined;
}

/** Holds the user's token: one fetch at a time, refreshed ahead of expiry. */
class TokenCache {
  private token: string | undefined;
  private expiresAt: number | undefined;
  private inflight: Promise<string> | undefined;

  constructor(
    private readonly source: (forceRefresh: boolean) => Promise<string>,
    private readonly refreshBeforeSeconds: number,
  ) {}

  /**
   * A token that stays valid for a while yet; concurrent callers share one refresh. When a
   * refresh ahead of expiry fails, the current token is used while it is still valid.
   */
  async get(): Promise<string> {
    const now = Date.now() / 1000;
    const token = this.token;
    if (token && (this.expiresAt === undefined || this.expiresAt - now > this.refreshBeforeSeconds)) {
      return token;
    }
    try {
      return await this.fetch(false);
    } catch (error) {
      if (token && this.token === token && this.expiresAt !== undefined && this.expiresAt > now) return token;
      throw error;
    }
  }

  /**
   * Replaces `stale`, which the API refused as expired. Calls that all sent the same stale
   * token share one refresh; one that sent an older token gets the current one.
   */
  replace(stale: string | undefined): Promise<string> {
    if (this.token !== undefined && this.token !== stale && !this.inflight)
      return Promise.resolve(this.token);
    return this.fetch(true);
  }

  /** Forgets the token: the next call fetches one. */
  clear(): void {
    this.token = undefined;
    this.expiresAt = undefined;
  }

  /** Fetches a new token now, whatever the cache holds. */
  refresh(): Promise<string> {
    return this.fetch(true);
  }

  private fetch(forceRefresh: boolean): Promise<string> {
    if (!this.inflight) {
      this.inflight = this.source(forceRefresh)
        .then((token) => {
          this.token = token;
          this.expiresAt = expiry(token);
          return token;
        })
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }
}

export class DreamAPI {
  readonly baseUrl: string;
  private readonly publishableKey: string | undefined;
  private readonly secretKey: string | undefined;
  private readonly fetchImpl: typeof globalThis.fetch | undefined;
  private readonly maxRetries: number;
  private readonly retryDelayMs: number;
  private readonly tokens: TokenCache;
  private readonly getToken: GetToken | undefined;
  /** The user of this instance's development session, kept across its refreshes. */
  private devUserId: string | undefined;

  constructor(options: DreamAPIOptions) {
    if (options.secretKey !== undefined && isBrowser()) {
      throw new DreamAPIError({
        code: "secret_key_in_browser",
        status: 0,
        type: "invalid_request_error",
        message:
          "A secret key must never ship to a browser. Use the publishable key here, and the secret key on your backend.",
      });
    }
    if (!options.publishableKey && !options.secretKey) {
      throw new DreamAPIError({
        code: "missing_credentials",
        status: 0,
        type: "invalid_request_error",
        message: "Pass a publishableKey (browser and apps) or a secretKey (backends).",
      });
    }
    this.baseUrl = (options.baseUrl ?? defaultBaseUrl()).replace(/\/+$/, "");
    this.publishableKey = options.publishableKey;
    this.secretKey = options.secretKey;
    this.fetchImpl = options.fetch;
    this.maxRetries = options.maxRetries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.getToken = options.getToken;
    this.tokens = new TokenCache(
      (forceRefresh) => this.fetchToken(forceRefresh),
      options.refreshBeforeExpirySeconds ?? 30,
    );
  }

  private clientOptions(headers: Record<string, string>): api.ClientOptions {
    return this.fetchImpl
      ? { baseUrl: this.baseUrl, headers, fetch: this.fetchImpl }
      : { baseUrl: this.baseUrl, headers };
  }

  /** The headers for a credential, and the user token among them, if any. */
  private async headers(
    credential: Credential,
  ): Promise<{ headers: Record<string, string>; token?: string }> {
    switch (credential) {
      case "none":
        return { headers: {} };
      case "secret":
        if (!this.secretKey)
          throw missing("This operation needs the secret key: new DreamAPI({ secretKey }).");
        return { headers: { authorization: `Bearer ${this.secretKey}` } };
      case "public":
        if (this.publishableKey) return { headers: { "x-publishable-key": this.publishableKey } };
        if (this.secretKey) return { headers: { authorization: `Bearer ${this.secretKey}` } };
        throw missing("Pass a publishableKey.");
      case "user": {
        if (!this.publishableKey) throw missing("Acting for a user needs the publishable key.");
        const token = await this.tokens.get();
        return {
          headers: { "x-publishable-key": this.publishableKey, authorization: `Bearer ${token}` },
          token,
        };
      }
    }
  }

  /**
   * Where user tokens come from: the app's getToken, Clerk, or a development session (one
   * user per browser, kept in `localStorage`; per instance elsewhere). Failures become a
   * `DreamAPIError`.
   */
  private async fetchToken(forceRefresh: boolean): Promise<string> {
    const source = this.getToken ?? clerkToken();
    if (source) {
      let token: string | null | undefined;
      try {
        token = await source({ forceRefresh });
      } catch (error) {
        throw new DreamAPIError({
          code: "token_unavailable",
          status: 0,
          type: "authentication_error",
          message: `getToken failed: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
      if (!token) throw missing("getToken returned no token: is the user signed in?");
      return token;
    }
    if (this.publishableKey?.startsWith("pk_test_")) {
      const key = devUserKey(this.publishableKey);
      this.devUserId ??= stored(key);
      const body = this.devUserId === undefined ? {} : { userId: this.devUserId };
      const session = await this.call("public", (o) => api.createDevSession(o, { body }), {
        retryable: false,
      });
      this.devUserId = session.userId;
      store(key, session.userId);
      return session.token;
    }
    throw missing("Pass getToken (for Clerk: () => session.getToken()) to act for a user.");
  }

  /**
   * Runs one generated call: credentials, retries where safe, one token refresh on
   * `token_expired`, and the error body turned into a `DreamAPIError`.
   */
  private async call<R extends Result>(
    credential: Credential,
    send: (options: api.ClientOptions) => Promise<R>,
    options: CallOptions,
  ): Promise<Success<R>> {
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      const { headers, token } = await this.headers(credential);
      let result: Result;
      try {
        result = await send(this.clientOptions(headers));
      } catch (error) {
        if (error instanceof api.UnexpectedStatusError) {
          // A status the spec does not document (say, a 502 from a proxy on the way).
          result = { status: error.status, body: error.body, headers: error.headers };
        } else {
          if (options.retryable && attempt < this.maxRetries) {
            await sleep(this.backoff(attempt));
            continue;
          }
          throw new DreamAPIError({
            code: "network_error",
            status: 0,
            message: `The API could not be reached: ${error instanceof Error ? error.message : String(error)}`,
          });
        }
      }
      if (result.status >= 200 && result.status < 300) return result.body as Success<R>;
      const error = toError(result);
      if (credential === "user" && error.code === "token_expired" && !refreshed) {
        refreshed = true;
        await this.tokens.replace(token);
        continue;
      }
      const transient = result.status >= 500 || (result.status === 429 && result.headers.has("retry-after"));
      if (options.retryable && transient && attempt < this.maxRetries) {
        const wait = retryAfterMs(result.headers.get("retry-after")) ?? this.backoff(attempt);
        if (wait > MAX_RETRY_WAIT_MS) throw error;
        await sleep(wait);
        continue;
      }
      throw error;
    }
  }

  private backoff(attempt: number): number {
    const base = this.retryDelayMs * 2 ** attempt;
    return base / 2 + Math.random() * (base / 2);
  }

  /** The signed-in user. */
  readonly auth = {
    /** Verifies the user's token and returns who they are, their tier, limits and usage. */
    init: (): Promise<api.CustomerState> =>
      this.call("user", (o) => api.getCustomerState(o), { retryable: true }),
    /** Fetches a new token now (for the same user), replacing the cached one. */
    refresh: async (): Promise<void> => {
      await this.tokens.refresh();
    },
    /**
     * Ends the development session: the next call starts one for a new user. (With Clerk or
     * your own `getToken`, sign out there; this only forgets the cached token.)
     */
    signOut: (): void => {
      this.tokens.clear();
      if (this.publishableKey) forget(devUserKey(this.publishableKey));
      this.devUserId = undefined;
    },
  };

  /** Usage metering for the signed-in user. */
  readonly usage = {
    /**
     * Counts usage: 1 `requests` by default. Safe to retry: every call carries an
     * Idempotency-Key (yours, or one the SDK makes), so a retried track counts once.
     */
    track: (
      input: { metric?: api.MetricName; amount?: number; idempotencyKey?: string } = {},
    ): Promise<api.Usage> => {
      const { idempotencyKey, body } = trackRequest(input);
      return this.call("user", (o) => api.trackUsage(o, { idempotencyKey, body }), { retryable: true });
    },
    /** The count, limit and remaining allowance of a metric (`requests` by default) this period. */
    check: (input: { metric?: api.MetricName } = {}): Promise<api.Usage> =>
      this.call(
        "user",
        (o) => api.checkUsage(o, input.metric === undefined ? {} : { metric: input.metric }),
        {
          retryable: true,
        },
      ),
    /**
     * Whether the user may use `amount` (default 1) more of `metric` without passing a hard
     * limit. Counts nothing: ask before expensive work, then `track` what was done.
     */
    allows: async (input: { metric: api.MetricName; amount?: number }): Promise<boolean> => {
      const answer = await this.call("user", (o) => api.checkEntitlement(o, unitsQuery(input)), {
        retryable: true,
      });
      return answer.allowed;
    },
    /**
     * Counts a batch of up to 1,000 usage events, each for the user it names (secret key, from
     * your backend). Each event's `id` makes a retry safe: one counted before is answered
     * `duplicate`. Every event is answered in `results`, in order.
     */
    ingest: (events: api.UsageEvent[]): Promise<api.UsageEventResults> =>
      this.call("secret", (o) => api.ingestUsageEvents(o, { body: { events } }), { retryable: true }),
  };

  /** The features the signed-in user's tier unlocks. */
  readonly features = {
    /** Whether the user's tier unlocks `feature` (asked of the server, so a changed tier shows at once). */
    has: async (feature: api.FeatureName): Promise<boolean> => {
      const answer = await this.call("user", (o) => api.checkEntitlement(o, { feature }), {
        retryable: true,
      });
      return answer.allowed;
    },
    /** Every feature the user's tier unlocks. */
    list: async (): Promise<string[]> => (await this.auth.init()).features,
  };

  /**
   * Assets: files such as product images, each served at its public `url` (what an `<img>`
   * loads). Secret key only, so from your backend: a secret key is refused in a browser.
   */
  readonly assets = {
    /**
     * Stores `data` as a new asset typed `contentType` (an image type must match the bytes);
     * with `productId` it becomes that product's last image. Up to the server's per-asset limit
     * (10 MiB by default); refused with `payload_too_large`, `storage_quota_exceeded` or
     * `unsupported_media_type`, and then nothing is stored.
     */
    upload: (input: {
      filename: string;
      contentType: string;
      data: Blob | ArrayBuffer | Uint8Array;
      productId?: string;
    }): Promise<api.Asset> => {
      const body = new Blob([input.data as BlobPart], { type: input.contentType });
      const params: api.UploadAssetParams =
        input.productId === undefined
          ? { filename: input.filename, body }
          : { filename: input.filename, productId: input.productId, body };
      return this.call("secret", (o) => api.uploadAsset(o, params), { retryable: false });
    },
    /** A page of assets, newest first; with `productId`, that product's images in order. */
    list: (input: api.ListAssetsParams = {}): Promise<api.AssetList> =>
      this.call("secret", (o) => api.listAssets(o, input), { retryable: true }),
    get: (assetId: string): Promise<api.Asset> =>
      this.call("secret", (o) => api.getAsset(o, { assetId }), { retryable: true }),
    /** Deletes the asset: it leaves its product's images and its URL answers 404. */
    delete: async (assetId: string): Promise<void> => {
      await this.call("secret", (o) => api.deleteAsset(o, { assetId }), { retryable: false });
    },
  };

  /** The catalogue. Reads work with the publishable key; changes need the secret key. */
  readonly products = {
    list: (input: { includeArchived?: boolean } = {}): Promise<api.ProductList> =>
      this.call(
        "public",
        (o) =>
          api.listProducts(
            o,
            input.includeArchived === undefined ? {} : { includeArchived: input.includeArchived },
          ),
        { retryable: true },
      ),
    get: (productId: string): Promise<api.Product> =>
      this.call("public", (o) => api.getProduct(o, { productId }), { retryable: true }),
    create: (body: api.ProductCreate): Promise<api.Product> =>
      this.call("secret", (o) => api.createProduct(o, { body }), { retryable: false }),
    update: (productId: string, body: api.ProductUpdate): Promise<api.Product> =>
      this.call("secret", (o) => api.updateProduct(o, { productId, body }), { retryable: false }),
    archive: (productId: string): Promise<api.Product> =>
      this.call("secret", (o) => api.archiveProduct(o, { productId }), { retryable: false }),
    /**
     * Guest checkout for a cart (publishable key only): returns `{ id, url }`; send the buyer to
     * `url`. In a browser, paths such as `/thank-you` resolve against the current page; elsewhere
     * against the project's `billing.siteUrl` setting.
     */
    cartCheckout: (input: api.CartCheckoutCreate): Promise<api.CheckoutSession> => {
      const body: api.CartCheckoutCreate = {
        ...input,
        successUrl: inPage(input.successUrl),
        cancelUrl: inPage(input.cancelUrl),
      };
      return this.call("public", (o) => api.cartCheckout(o, { body }), { retryable: false });
    },
    /**
     * What became of a cart checkout, for the order-confirmation page (publishable key only):
     * put `{CHECKOUT_SESSION_ID}` in the `successUrl` and pass the id it becomes. `recorded`
     * turns true when the payment's webhook has landed.
     */
    checkoutOutcome: (sessionId: string): Promise<api.CartCheckoutOutcome> =>
      this.call("public", (o) => api.getCartCheckout(o, { sessionId }), { retryable: true }),
  };

  /** Subscriptions through Stripe: checkout and portal for the user, the event log and payments. */
  readonly billing = {
    /**
     * A Stripe Checkout for a paid tier: returns `{ id, url }`; send the user to `url`. The plan
     * changes once Stripe confirms the payment. In a browser the return URLs default to the
     * current page; elsewhere to the project's `billing.siteUrl` setting.
     */
    createCheckout: (input: {
      tier: string;
      successUrl?: string;
      cancelUrl?: string;
    }): Promise<api.CheckoutSession> => {
      const body: api.CheckoutCreate = { tier: input.tier };
      const successUrl = inPage(input.successUrl ?? currentPage());
      const cancelUrl = inPage(input.cancelUrl ?? currentPage());
      if (successUrl !== undefined) body.successUrl = successUrl;
      if (cancelUrl !== undefined) body.cancelUrl = cancelUrl;
      return this.call("user", (o) => api.createCheckout(o, { body }), { retryable: false });
    },
    /** The Stripe customer portal for the user (they must have started a checkout before). */
    createPortalSession: (input: { returnUrl?: string } = {}): Promise<api.PortalSession> => {
      const returnUrl = inPage(input.returnUrl ?? currentPage());
      return this.call(
        "user",
        (o) => api.createPortalSession(o, { body: returnUrl === undefined ? {} : { returnUrl } }),
        { retryable: false },
      );
    },
    /** The Stripe events routed to the project, newest first (secret key). */
    listEvents: (input: api.ListBillingEventsParams = {}): Promise<api.BillingEventList> =>
      this.call("secret", (o) => api.listBillingEvents(o, input), { retryable: true }),
    /** Paid invoices and carts, newest first (secret key). */
    listPayments: (input: api.ListPaymentsParams = {}): Promise<api.PaymentList> =>
      this.call("secret", (o) => api.listPayments(o, input), { retryable: true }),
  };

  /** Subscription tiers. Reads work with the publishable key; changes need the secret key. */
  readonly tiers = {
    list: (input: { includeArchived?: boolean } = {}): Promise<api.TierList> =>
      this.call(
        "public",
        (o) =>
          api.listTiers(
            o,
            input.includeArchived === undefined ? {} : { includeArchived: input.includeArchived },
          ),
        { retryable: true },
      ),
    get: (tierId: string): Promise<api.Tier> =>
      this.call("public", (o) => api.getTier(o, { tierId }), { retryable: true }),
    create: (body: api.TierCreate): Promise<api.Tier> =>
      this.call("secret", (o) => api.createTier(o, { body }), { retryable: false }),
    update: (tierId: string, body: api.TierUpdate): Promise<api.Tier> =>
      this.call("secret", (o) => api.updateTier(o, { tierId, body }), { retryable: false }),
    archive: (tierId: string): Promise<api.Tier> =>
      this.call("secret", (o) => api.archiveTier(o, { tierId }), { retryable: false }),
  };

  /** Your app's users as your project sees them (secret key). */
  readonly customers = {
    list: (input: api.ListCustomersParams = {}): Promise<api.CustomerList> =>
      this.call("secret", (o) => api.listCustomers(o, input), { retryable: true }),
    get: (userId: string): Promise<api.CustomerDetail> =>
      this.call("secret", (o) => api.getCustomer(o, { userId }), { retryable: true }),
    /** Puts the customer on a tier by name, or back on their plan with `null`. */
    setTier: (userId: string, tier: string | null): Promise<api.Customer> =>
      this.call("secret", (o) => api.updateCustomer(o, { userId, body: { tier } }), { retryable: false }),
    /**
     * Counts usage for the user from your backend, where the user cannot skip it: the same
     * counters and hard limits as `usage.track` in their browser. Safe to retry, like it.
     */
    track: (
      userId: string,
      input: { metric?: api.MetricName; amount?: number; idempotencyKey?: string } = {},
    ): Promise<api.Usage> => {
      const { idempotencyKey, body } = trackRequest(input);
      return this.call("secret", (o) => api.trackCustomerUsage(o, { userId, idempotencyKey, body }), {
        retryable: true,
      });
    },
    /** The user's count, limit and remaining allowance of a metric (`requests` by default). */
    checkUsage: (userId: string, input: { metric?: api.MetricName } = {}): Promise<api.Usage> =>
      this.call(
        "secret",
        (o) =>
          api.checkCustomerUsage(
            o,
            input.metric === undefined ? { userId } : { userId, metric: input.metric },
          ),
        { retryable: true },
      ),
    /** Whether the user's tier unlocks `feature`. */
    hasFeature: async (userId: string, feature: api.FeatureName): Promise<boolean> => {
      const answer = await this.call("secret", (o) => api.checkCustomerEntitlement(o, { userId, feature }), {
        retryable: true,
      });
      return answer.allowed;
    },
    /** Whether the user may use `amount` (default 1) more of `metric`; counts nothing. */
    allows: async (userId: string, input: { metric: api.MetricName; amount?: number }): Promise<boolean> => {
      const answer = await this.call(
        "secret",
        (o) => api.checkCustomerEntitlement(o, { userId, ...unitsQuery(input) }),
        { retryable: true },
      );
      return answer.allowed;
    },
  };

  /** API keys (secret key). */
  readonly keys = {
    list: (): Promise<api.ApiKeyList> => this.call("secret", (o) => api.listApiKeys(o), { retryable: true }),
    /** A new secret key, shown once; older keys stop working after `expiresInSeconds`. */
    rotateSecret: (input: { expiresInSeconds?: number } = {}): Promise<api.SecretKeyRotated> =>
      this.call("secret", (o) => api.rotateSecretKey(o, { body: input }), { retryable: false }),
  };

  /** Per-mode project settings (secret key). */
  readonly settings = {
    get: (): Promise<api.Settings> => this.call("secret", (o) => api.getSettings(o), { retryable: true }),
    update: (body: api.SettingsUpdate): Promise<api.Settings> =>
      this.call("secret", (o) => api.updateSettings(o, { body }), { retryable: false }),
  };

  /** The development issuer (test mode, projects that opted in). */
  readonly dev = {
    /** A token for any user id (secret key). */
    createToken: (body: api.DevTokenCreate): Promise<api.DevToken> =>
      this.call("secret", (o) => api.createDevToken(o, { body }), { retryable: false }),
    /** A development session with the publishable key alone. */
    createSession: (input: { userId?: string } = {}): Promise<api.DevToken> =>
      this.call("public", (o) => api.createDevSession(o, { body: input }), { retryable: false }),
  };
}

/** A track's body and Idempotency-Key (the caller's, or a new one). */
function trackRequest(input: { metric?: api.MetricName; amount?: number; idempotencyKey?: string }): {
  idempotencyKey: string;
  body: api.TrackUsage;
} {
  const body: api.TrackUsage = {};
  if (input.metric !== undefined) body.metric = input.metric;
  if (input.amount !== undefined) body.amount = input.amount;
  return { idempotencyKey: input.idempotencyKey ?? randomKey(), body };
}

/** The query of a "may the user use N more units" check. */
function unitsQuery(input: { metric: api.MetricName; amount?: number }): {
  metric: api.MetricName;
  amount?: number;
} {
  return input.amount === undefined
    ? { metric: input.metric }
    : { metric: input.metric, amount: input.amount };
}

/** The page the SDK runs in, when it runs in one. */
function currentPage(): string | undefined {
  return typeof location === "undefined" ? undefined : location.href;
}

/** In a page, a path resolves against it; elsewhere URLs go as given. */
function inPage<T extends string | undefined>(url: T): T {
  if (url === undefined || typeof location === "undefined" || !url.startsWith("/")) return url;
  return new URL(url, location.href).href as T;
}

function missing(message: string): DreamAPIError {
  return new DreamAPIError({ code: "missing_credentials", status: 0, type: "authentication_error", message });
}

/** The API's error body as a `DreamAPIError`; any other body is described as well as it can be. */
function toError(result: Result): DreamAPIError {
  const body = result.body as Partial<api.ErrorObject> | string | undefined;
  if (body && typeof body === "object" && typeof body.code === "string") {
    return new DreamAPIError({
      code: body.code,
      status: result.status,
      message: body.message ?? body.code,
      type: body.type ?? "api_error",
      param: body.param,
      requestId: body.requestId ?? result.headers.get("x-request-id") ?? undefined,
    });
  }
  return new DreamAPIError({
    code: "unexpected_response",
    status: result.status,
    message: `The API answered ${result.status}${typeof body === "string" ? `: ${body.slice(0, 200)}` : ""}`,
    requestId: result.headers.get("x-request-id") ?? undefined,
  });
}
