import { useEffect, useState } from "react";

/** A cart line: a price of a product, and how many. */
export interface Line {
  priceId: string;
  productId: string;
  quantity: number;
}

const KEY = "dream-shop-cart";

function read(): Line[] {
  try {
    const lines = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(lines) ? lines.filter((l) => typeof l?.priceId === "string" && l.quantity > 0) : [];
  } catch {
    return [];
  }
}

/** The cart, kept in this browser's storage: it survives reloads and is shared by tabs. */
export function useCart() {
  const [lines, setLines] = useState<Line[]>(read);
  useEffect(() => {
    localStorage.setItem(KEY, JSON.stringify(lines));
  }, [lines]);
  useEffect(() => {
    const other = (event: StorageEvent) => event.key === KEY && setLines(read());
    addEventListener("storage", other);
    return () => removeEventListener("storage", other);
  }, []);
  return {
    lines,
    add: (line: Omit<Line, "quantity">) =>
      setLines((now) =>
        now.some((l) => l.priceId === line.priceId)
          ? now.map((l) =>
              l.priceId === line.priceId ? { ...l, quantity: Math.min(999, l.quantity + 1) } : l,
            )
          : [...now, { ...line, quantity: 1 }],
      ),
    set: (priceId: string, quantity: number) =>
      setLines((now) =>
        quantity <= 0
          ? now.filter((l) => l.priceId !== priceId)
          : now.map((l) => (l.priceId === priceId ? { ...l, quantity: Math.min(999, quantity) } : l)),
      ),
    clear: () => setLines([]),
  };
}
