import { useCallback, useEffect, useRef, useState } from "react";
import { DreamAPIError } from "@dream-api/sdk";
import type { CustomerState, MetricUsage, Tier } from "@dream-api/sdk/client";

import { api, TOKENS_PER_GENERATION } from "./api";
import { type Clerk, clerkPublishableKey, loadClerk } from "./clerk";

type Status =
  | { kind: "loading" }
  | { kind: "signed-out"; clerk: Clerk }
  | { kind: "ready"; me: CustomerState }
  | { kind: "error"; message: string };

/** Clerk's sign-in form, mounted by clerk-js. */
function SignIn({ clerk }: { clerk: Clerk }) {
  const node = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const div = node.current;
    if (!div) return undefined;
    clerk.mountSignIn(div);
    return () => clerk.unmountSignIn(div);
  }, [clerk]);
  return (
    <main className="center">
      <h1>Dream SaaS</h1>
      <div id="sign-in" ref={node} />
    </main>
  );
}

/** `$29.00 / month` for a tier's price. */
function price(tier: Tier): string {
  if (!tier.price) return "Free";
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency: tier.price.currency });
  // Amounts are in the currency's smallest unit: cents, or whole yen.
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return `${format.format(tier.price.unitAmount / 10 ** digits)} / ${tier.price.interval}`;
}

function Meter({ usage }: { usage: MetricUsage }) {
  const limit = usage.limit ?? null;
  const share = limit ? Math.min(1, usage.usageCount / limit) : 0;
  return (
    <div className="meter" data-metric={usage.metric}>
      <div className="meter-head">
        <span className="metric">{usage.metric}</span>
        <span className="count">
          {usage.usageCount.toLocaleString()} / {limit === null ? "unlimited" : limit.toLocaleString()}
        </span>
      </div>
      <div
        className="bar"
        role="meter"
        aria-valuemin={0}
        aria-valuemax={limit ?? 0}
        aria-valuenow={usage.usageCount}
      >
        <div className={share >= 1 ? "fill full" : "fill"} style={{ width: `${share * 100}%` }} />
      </div>
    </div>
  );
}

export function App() {
  const [status, setStatus] = useState<Status>({ kind: "loading" });
  const [tiers, setTiers] = useState<Tier[]>([]);
  const [limitReached, setLimitReached] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const me = await api.auth.init();
      setStatus({ kind: "ready", me });
      return me;
    } catch (error) {
      setStatus({ kind: "error", message: error instanceof Error ? error.message : String(error) });
      return null;
    }
  }, []);

  // Who the user is: with Clerk, whoever is signed in there (nobody: its sign-in form), followed
  // as they sign in and out; without it, the SDK's development session.
  useEffect(() => {
    if (!clerkPublishableKey) {
      void load();
      return undefined;
    }
    let stop: (() => void) | undefined;
    loadClerk(clerkPublishableKey).then(
      (clerk) => {
        let current = clerk.user?.id;
        const follow = () => {
          // A new user must not be sent the last one's cached token.
          api.auth.signOut();
          if (current) void load();
          else setStatus({ kind: "signed-out", clerk });
        };
        follow();
        stop = clerk.addListener(({ user }) => {
          if (user?.id === current) return;
          current = user?.id;
          follow();
        });
      },
      (error: unknown) =>
        setStatus({ kind: "error", message: error instanceof Error ? error.message : String(error) }),
    );
    return () => stop?.();
  }, [load]);

  useEffect(() => {
    api.tiers.list().then(
      ({ tiers }) => setTiers(tiers),
      () => setTiers([]),
    );
    // Back from Stripe: the plan changes when Stripe's webhook reaches the API, a moment after
    // the redirect; look again for a few seconds.
    const back = new URLSearchParams(location.search).get("billing");
    if (back) {
      history.replaceState(null, "", location.pathname);
      setNotice(back === "upgraded" ? "Payment received — your plan is being updated…" : null);
      let tries = 0;
      const timer = setInterval(async () => {
        tries += 1;
        // With Clerk, only once it is up: before, the SDK would find no session to send.
        if (clerkPublishableKey && !(await loadClerk(clerkPublishableKey)).user) return;
        await api.auth.refresh();
        const me = await load();
        if (tries >= 10 || (me && back === "upgraded" && me.tier.name !== "free")) {
          clearInterval(timer);
          setNotice(null);
        }
      }, 1000);
      return () => clearInterval(timer);
    }
    return undefined;
  }, [load]);

  const signOut = () => {
    if (clerkPublishableKey) {
      void window.Clerk?.signOut();
      return;
    }
    api.auth.signOut();
    void load();
  };

  const generate = async () => {
    setBusy(true);
    try {
      await api.usage.track({ metric: "ai_tokens", amount: TOKENS_PER_GENERATION });
      await api.usage.track({ metric: "requests" });
      setLimitReached(null);
      await load();
    } catch (error) {
      if (error instanceof DreamAPIError && error.code === "usage_limit_exceeded") {
        setLimitReached(error.message);
      } else {
        setNotice(error instanceof Error ? error.message : String(error));
      }
    } finally {
      setBusy(false);
    }
  };

  const upgrade = async (tier: string) => {
    const back = `${location.origin}${location.pathname}`;
    const { url } = await api.billing.createCheckout({
      tier,
      successUrl: `${back}?billing=upgraded`,
      cancelUrl: back,
    });
    location.assign(url);
  };

  const manage = async () => {
    const { url } = await api.billing.createPortalSession({
      returnUrl: `${location.origin}${location.pathname}?billing=managed`,
    });
    location.assign(url);
  };

  if (status.kind === "loading") return <main className="center">Loading…</main>;
  if (status.kind === "signed-out") return <SignIn clerk={status.clerk} />;
  if (status.kind === "error")
    return (
      <main className="center">
        <p className="error" id="error">
          {status.message}
        </p>
      </main>
    );

  const { me } = status;
  const onPaidPlan = me.subscription !== undefined || tiers.some((t) => t.name === me.tier.name && t.price);
  // A subscriber changes plan in the customer portal ("Manage billing"); the others upgrade here.
  const paid = onPaidPlan
    ? []
    : tiers
        .filter((t) => t.price && t.name !== me.tier.name)
        .sort((a, b) => (a.price?.unitAmount ?? 0) - (b.price?.unitAmount ?? 0));
  return (
    <main>
      <header>
        <h1>Dream SaaS</h1>
        <span className="user" id="user">
          {me.userId}
        </span>
        <button className="link" id="sign-out" onClick={signOut}>
          Sign out
        </button>
      </header>
      {notice && (
        <p className="notice" id="notice">
          {notice}
        </p>
      )}
      <section className="card">
        <div className="plan">
          <span className="label">Your plan</span>
          <strong id="plan">{me.tier.displayName}</strong>
          {onPaidPlan && (
            <button className="secondary" id="manage" onClick={() => void manage()}>
              Manage billing
            </button>
          )}
        </div>
        <div id="meters">
          {me.usage.map((usage) => (
            <Meter key={usage.metric} usage={usage} />
          ))}
        </div>
        {me.subscription?.cancelAtPeriodEnd && (
          <p className="ending" id="ending">
            Your {me.tier.displayName} plan ends on{" "}
            {new Date(me.subscription.currentPeriodEnd).toLocaleDateString()}. Until then, everything stays as
            it is.
          </p>
        )}
        <p className="muted">Usage resets {new Date(me.periodEnd).toLocaleDateString()}</p>
      </section>
      <section className="card">
        <h2>Generate</h2>
        <p className="muted">Each generation uses {TOKENS_PER_GENERATION} AI tokens and one request.</p>
        {limitReached ? (
          <div className="limit" id="limit" role="status">
            <strong>You have reached your plan's limit.</strong>
            <span>{limitReached}</span>
            {paid.length > 0 && <span>Upgrade to keep going.</span>}
          </div>
        ) : null}
        <button id="generate" disabled={busy || limitReached !== null} onClick={() => void generate()}>
          {busy ? "Generating…" : "Generate"}
        </button>
      </section>
      {paid.length > 0 && (
        <section className="card" id="plans">
          <h2>Upgrade</h2>
          <ul className="tiers">
            {paid.map((tier) => (
              <li key={tier.name}>
                <span className="tier-name">{tier.displayName}</span>
                <span className="tier-price">{price(tier)}</span>
                <button id={`upgrade-${tier.name}`} onClick={() => void upgrade(tier.name)}>
                  Upgrade to {tier.displayName}
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
    </main>
  );
}
