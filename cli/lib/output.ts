// Salt's outputters, for one minion's answer at a time so answers print as they arrive:
// nested (default: `web1: True` on one line for scalars, an indented tree for structures),
// yaml, json (one object per minion, like `salt --out json`) and text (`id: value`).

import { stringify } from "yaml";

export const OutFormats = ["nested", "yaml", "json", "text"] as const;
export type OutFormat = (typeof OutFormats)[number];

function scalar(v: unknown): string {
  if (v === true) return "True";
  if (v === false) return "False";
  if (v === null || v === undefined) return "None";
  return String(v);
}

function nested(v: unknown, indent: number): string[] {
  const pad = " ".repeat(indent);
  if (Array.isArray(v)) {
    if (v.length === 0) return [`${pad}[]`];
    return v.flatMap((x) => (x !== null && typeof x === "object" ? [`${pad}-`, ...nested(x, indent + 4)] : [`${pad}- ${scalar(x)}`]));
  }
  if (v !== null && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return [`${pad}{}`];
    return entries.flatMap(([k, x]) => {
      if (x !== null && typeof x === "object") return [`${pad}${k}:`, ...nested(x, indent + 4)];
      const s = scalar(x);
      if (s.includes("\n")) return [`${pad}${k}:`, ...s.split("\n").map((l) => `${pad}    ${l}`)];
      return [`${pad}${k}: ${s}`];
    });
  }
  const s = scalar(v);
  return s.split("\n").map((l) => `${pad}${l}`);
}

export function formatAnswer(format: OutFormat, id: string, value: unknown): string {
  switch (format) {
    case "json":
      return JSON.stringify({ [id]: value }, null, 4);
    case "yaml":
      return stringify({ [id]: value }).trimEnd();
    case "text":
      return `${id}: ${typeof value === "string" ? value : value !== null && typeof value === "object" ? JSON.stringify(value) : scalar(value)}`;
    case "nested": {
      if (value === null || typeof value !== "object") {
        const s = scalar(value);
        if (!s.includes("\n")) return `${id}: ${s}`;
      }
      return [`${id}:`, ...nested(value, 4)].join("\n");
    }
  }
}

/** A fixed-width table for list output. */
export function table(headers: string[], rows: string[][]): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (c ?? "").padEnd(w[i])).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

export function isoTime(ms: number | null | undefined): string {
  return ms ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "-";
}
