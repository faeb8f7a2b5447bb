import { useEffect, useState } from "react";
import { DreamAPIError } from "@dream-api/sdk";
import type { CartCheckoutOutcome, Product } from "@dream-api/sdk/client";

import { api, money } from "./api";
import { useCart } from "./cart";

/** Where the shop is: `#/` the catalogue, `#/product/<id>`, `#/cart`; `?order=<id>` after paying. */
function useRoute(): string {
  const [hash, setHash] = useState(location.hash || "#/");
  useEffect(() => {
    const changed = () => setHash(location.hash || "#/");
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return hash;
}

function Picture({ product, large = false }: { product: Product; large?: boolean }) {
  const image = product.images[0];
  // A product without pictures gets a placeholder; one uploaded in the dashboard shows at once.
  return image ? (
    <img className={large ? "picture large" : "picture"} src={image.url} alt={product.name} />
  ) : (
    <div className={large ? "picture large placeholder" : "picture placeholder"} aria-label={product.name}>
      {product.name.slice(0, 1)}
    </div>
  );
}

function Catalogue({ products }: { products: Product[] }) {
  if (products.length === 0) return <p className="muted">Nothing for sale yet.</p>;
  return (
    <ul className="grid" id="catalogue">
      {products.map((product) => (
        <li key={product.id}>
          <a href={`#/product/${product.id}`} className="tile">
            <Picture product={product} />
            <span className="name">{product.name}</span>
            {product.prices[0] && (
              <span className="price">{money(product.prices[0].unitAmount, product.prices[0].currency)}</span>
            )}
          </a>
        </li>
      ))}
    </ul>
  );
}

function ProductPage({ product, onAdd }: { product: Product; onAdd: () => void }) {
  const price = product.prices[0];
  return (
    <article className="product" id="product">
      <Picture product={product} large />
      <div>
        <h2>{product.name}</h2>
        {product.description && <p>{product.description}</p>}
        {price && <p className="price">{money(price.unitAmount, price.currency)}</p>}
        {product.images.length > 1 && (
          <div className="more">
            {product.images.slice(1).map((image) => (
              <img key={image.assetId} src={image.url} alt="" />
            ))}
          </div>
        )}
        <button id="add" disabled={!price} onClick={onAdd}>
          Add to cart
        </button>
      </div>
    </article>
  );
}

function Confirmation({ order }: { order: string }) {
  const [outcome, setOutcome] = useState<CartCheckoutOutcome | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stop = false;
    // The payment is recorded when Stripe's webhook lands, a moment after the redirect.
    const look = async (tries: number) => {
      try {
        const read = await api.products.checkoutOutcome(order);
        if (stop) return;
        setOutcome(read);
        if (!read.recorded && tries < 15) setTimeout(() => void look(tries + 1), 1000);
      } catch (e) {
        if (!stop) setError(e instanceof DreamAPIError ? e.message : String(e));
      }
    };
    void look(0);
    return () => {
      stop = true;
    };
  }, [order]);
  if (error) return <p className="error">{error}</p>;
  if (!outcome) return <p className="muted">Looking up your order…</p>;
  return (
    <section className="card" id="confirmation">
      <h2>{outcome.status === "complete" ? "Thank you for your order" : "Your order is not paid yet"}</h2>
      {outcome.customerEmail && (
        <p className="muted">
          A receipt goes to <b id="email">{outcome.customerEmail}</b>.
        </p>
      )}
      <ul className="lines" id="order-lines">
        {outcome.items.map((item, i) => (
          <li key={i}>
            <span className="name">{item.name}</span>
            <span className="qty">
              {item.quantity} × {money(item.unitAmount, outcome.currency)}
            </span>
            <span className="amount">{money(item.amountTotal, outcome.currency)}</span>
          </li>
        ))}
      </ul>
      <p className="total">
        Total <span id="order-total">{money(outcome.amountTotal, outcome.currency)}</span>
      </p>
      <p className="muted" id="order-state">
        {outcome.recorded ? "Payment confirmed." : "Confirming your payment…"}
      </p>
      <a href="#/">Continue shopping</a>
    </section>
  );
}

export function App() {
  const route = useRoute();
  const cart = useCart();
  const [products, setProducts] = useState<Product[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [email, setEmail] = useState("");
  const [paying, setPaying] = useState(false);
  const order = new URLSearchParams(location.search).get("order");

  useEffect(() => {
    api.products.list().then(
      ({ products }) => setProducts(products),
      (e) => setError(e instanceof Error ? e.message : String(e)),
    );
  }, []);

  // Back from a paid checkout: the cart was bought.
  useEffect(() => {
    if (order) cart.clear();
  }, [order]);

  const byId = new Map((products ?? []).map((p) => [p.id, p]));
  const lines = cart.lines
    .map((line) => {
      const product = byId.get(line.productId);
      const price = product?.prices.find((p) => p.id === line.priceId);
      return product && price ? { ...line, product, price } : null;
    })
    .filter((line) => line !== null);
  const count = lines.reduce((n, l) => n + l.quantity, 0);
  const currency = lines[0]?.price.currency ?? "usd";
  const total = lines.reduce((sum, l) => sum + l.price.unitAmount * l.quantity, 0);

  const checkout = async () => {
    setPaying(true);
    setError(null);
    try {
      const here = `${location.origin}${location.pathname}`;
      const { url } = await api.products.cartCheckout({
        items: lines.map((l) => ({ priceId: l.priceId, quantity: l.quantity })),
        customerEmail: email,
        successUrl: `${here}?order={CHECKOUT_SESSION_ID}`,
        cancelUrl: `${here}#/cart`,
      });
      location.assign(url);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setPaying(false);
    }
  };

  let page;
  if (order) {
    page = <Confirmation order={order} />;
  } else if (products === null) {
    page = <p className="muted">Loading…</p>;
  } else if (route.startsWith("#/product/")) {
    const product = byId.get(route.slice("#/product/".length));
    page = product ? (
      <ProductPage
        product={product}
        onAdd={() => product.prices[0] && cart.add({ priceId: product.prices[0].id, productId: product.id })}
      />
    ) : (
      <p className="muted">No such product.</p>
    );
  } else if (route === "#/cart") {
    page = (
      <section className="card" id="cart">
        <h2>Your cart</h2>
        {lines.length === 0 ? (
          <p className="muted">Your cart is empty.</p>
        ) : (
          <>
            <ul className="lines">
              {lines.map((line) => (
                <li key={line.priceId}>
                  <span className="name">{line.product.name}</span>
                  <input
                    type="number"
                    min={0}
                    max={999}
                    aria-label={`Quantity of ${line.product.name}`}
                    value={line.quantity}
                    onChange={(e) => cart.set(line.priceId, Number(e.target.value))}
                  />
                  <span className="amount">{money(line.price.unitAmount * line.quantity, currency)}</span>
                </li>
              ))}
            </ul>
            <p className="total">
              Total <span id="cart-total">{money(total, currency)}</span>
            </p>
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void checkout();
              }}
            >
              <label>
                Email for the receipt
                <input
                  id="email-input"
                  type="email"
                  required
                  value={email}
                  onChange={(e) => setEmail(e.target.value)}
                />
              </label>
              <button id="checkout" type="submit" disabled={paying}>
                {paying ? "Going to checkout…" : "Check out"}
              </button>
            </form>
          </>
        )}
      </section>
    );
  } else {
    page = <Catalogue products={products} />;
  }

  return (
    <main>
      <header>
        <a href="#/" className="brand">
          Dream Shop
        </a>
        <a href="#/cart" id="cart-link">
          Cart ({count})
        </a>
      </header>
      {error && (
        <p className="error" id="error">
          {error}
        </p>
      )}
      {page}
    </main>
  );
}
