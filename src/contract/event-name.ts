/**
 * Event names from Segment-style senders (`Checkout Started`) and snake_case senders
 * (`checkout_started`) must meet as one name, so rules can be written once.
 */
export type EventAliases = Readonly<Record<string, string>>;

/** `Checkout Started`, `checkout-started`, `CheckoutStarted`, ` checkout_started ` → `checkout_started`. */
export function snakeCaseEventName(raw: string): string {
  return raw
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/g, '');
}

/**
 * Normalizes then applies aliases. Aliases may be written in either form (`purchase` or
 * `"Order Completed"`): keys and targets are normalized too, so `{ "Order Completed": order_completed }`
 * and `{ order_completed: order_completed }` mean the same.
 */
export function createEventNameNormalizer(aliases: EventAliases = {}): (raw: string) => string {
  const table = new Map<string, string>();
  for (const [from, to] of Object.entries(aliases))
    table.set(snakeCaseEventName(from), snakeCaseEventName(to));
  const cache = new Map<string, string>();
  return (raw) => {
    let name = cache.get(raw);
    if (name === undefined) {
      const snake = snakeCaseEventName(raw);
      name = table.get(snake) ?? snake;
      if (cache.size < 10_000) cache.set(raw, name);
    }
    return name;
  };
}
