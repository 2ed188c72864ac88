// Salt's argument convention: positional arguments, and `key=value` as keyword arguments;
// values are parsed as YAML so `2` is a number, `True` a boolean and `[a, b]` a list, while
// `echo hi` stays a string. A value that is not valid YAML is kept as the string typed.

import { parse } from "yaml";

const KW = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]*)$/;

export function yamlValue(s: string): unknown {
  if (s.trim() === "") return s;
  try {
    const v = parse(s);
    return v === null && !/^\s*(null|~|Null|NULL)\s*$/.test(s) ? s : v;
  } catch {
    return s;
  }
}

export function parseFunArgs(raw: string[]): { arg: unknown[]; kwarg: Record<string, unknown> } {
  const arg: unknown[] = [];
  const kwarg: Record<string, unknown> = {};
  for (const r of raw) {
    const m = KW.exec(r);
    if (m) kwarg[m[1]] = yamlValue(m[2]);
    else arg.push(yamlValue(r));
  }
  return { arg, kwarg };
}
