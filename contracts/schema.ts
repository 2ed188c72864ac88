// One definition per message: a TypeBox schema is at once the TypeScript type (Static<>), a
// JSON Schema document (docs/contracts.md points other languages at it) and a compiled
// runtime validator. TypeBox was chosen over hand-written guards for that single source, and
// over zod because its compiled checks are fast enough for the return hot path.

import { type TSchema, type Static } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { ValidationError } from "./errors.js";

export interface Validator<T extends TSchema> {
  schema: T;
  /** Throws ValidationError naming every bad field; returns the value typed. */
  parse(value: unknown): Static<T>;
  is(value: unknown): value is Static<T>;
}

export function validator<T extends TSchema>(what: string, schema: T): Validator<T> {
  let compiled: TypeCheck<T> | undefined;
  const check = () => (compiled ??= TypeCompiler.Compile(schema));
  return {
    schema,
    is: (value: unknown): value is Static<T> => check().Check(value),
    parse(value: unknown): Static<T> {
      const c = check();
      if (c.Check(value)) return value;
      // Only the first 20, taken lazily: spreading every error of a 100,000-item array of the
      // wrong type first cost half a second per message.
      const problems: { path: string; message: string }[] = [];
      for (const e of c.Errors(value)) {
        problems.push({ path: e.path, message: e.message });
        if (problems.length === 20) break;
      }
      throw new ValidationError(what, problems);
    },
  };
}
