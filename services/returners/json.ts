// JSON as returners send it to the outside world. Return values are whatever a minion module
// produced; a BigInt (which JSON.stringify refuses) would turn a good return into a delivery
// that fails forever, so it becomes its decimal string instead.

export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
}
