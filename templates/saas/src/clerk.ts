/**
 * Sign-in with Clerk, when `VITE_CLERK_PUBLISHABLE_KEY` is set: Clerk's browser SDK (clerk-js),
 * loaded from the Clerk instance's Frontend API as Clerk's docs show, with its sign-in form
 * mounted in the page. The Dream SDK finds `window.Clerk.session` by itself and sends its
 * tokens; the project's settings name the Clerk instance as the JWT issuer.
 */

/** The part of clerk-js this app uses. */
export interface Clerk {
  load(): Promise<void>;
  user: { id: string } | null | undefined;
  session: { getToken(options?: { skipCache?: boolean }): Promise<string | null> } | null | undefined;
  mountSignIn(node: HTMLDivElement): void;
  unmountSignIn(node: HTMLDivElement): void;
  signOut(): Promise<void>;
  addListener(listener: (resources: { user?: { id: string } | null }) => void): () => void;
}

declare global {
  interface Window {
    Clerk?: Clerk;
  }
}

export const clerkPublishableKey: string | undefined =
  import.meta.env.VITE_CLERK_PUBLISHABLE_KEY || undefined;

/** The Frontend API host a Clerk publishable key names: `pk_test_` + base64 of `host$`. */
export function frontendApi(publishableKey: string): string {
  const encoded = publishableKey.split("_")[2] ?? "";
  let host = "";
  try {
    host = atob(encoded).replace(/\$$/, "");
  } catch {
    // Not base64: reported below.
  }
  if (!/^[a-z0-9.-]+$/i.test(host))
    throw new Error("VITE_CLERK_PUBLISHABLE_KEY is not a Clerk publishable key.");
  return host;
}

let loading: Promise<Clerk> | undefined;

/** Loads clerk-js once and starts it. */
export function loadClerk(publishableKey: string): Promise<Clerk> {
  loading ??= (async () => {
    if (!window.Clerk) {
      await new Promise<void>((resolve, reject) => {
        const script = document.createElement("script");
        script.src = `https://${frontendApi(publishableKey)}/npm/@clerk/clerk-js@5/dist/clerk.browser.js`;
        script.async = true;
        script.crossOrigin = "anonymous";
        script.dataset.clerkPublishableKey = publishableKey;
        script.onload = () => resolve();
        script.onerror = () => reject(new Error("Clerk's sign-in could not be loaded: is the network up?"));
        document.head.append(script);
      });
    }
    const clerk = window.Clerk;
    if (!clerk) throw new Error("Clerk's script loaded but did not start.");
    await clerk.load();
    return clerk;
  })();
  return loading;
}
