// The master's file store (Salt's `salt://` file server). Files are objects in the JetStream
// object store `{ns}_files`, named by their path. Only the master writes it, and it signs what
// it stores: the object's description holds a FileRecord (path, SHA-256, size) and the
// master's signature over it, so a minion that fetches `salt://path` runs or installs only
// bytes the master vouched for, even where NATS itself is not locked down.

import { Type, type Static } from "@sinclair/typebox";
import { validator } from "./schema.js";
import { Millis } from "./events/common.js";
import { NatriumError } from "./errors.js";
import { encode } from "./codec.js";

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._@+-]*$/;

/** A path in the file store is invalid. */
export class FilePathError extends NatriumError {
  constructor(path: string, why: string) {
    super("bad_path", `file store path "${path}" is invalid: ${why}`);
  }
}

/**
 * A store path: relative, '/'-separated segments of letters, digits and `._@+-` (not starting
 * with '.' or '-'), at most 255 characters. `salt://` in front is accepted and dropped.
 */
export function checkFilePath(raw: string): string {
  const path = raw.startsWith("salt://") ? raw.slice("salt://".length) : raw;
  if (!path) throw new FilePathError(raw, "it is empty");
  if (path.length > 255) throw new FilePathError(raw, `it is ${path.length} characters; the limit is 255`);
  if (path.startsWith("/")) throw new FilePathError(raw, "it must be relative to the store (no leading '/')");
  for (const seg of path.split("/")) {
    if (!SEGMENT.test(seg)) {
      throw new FilePathError(raw, `segment "${seg}" must be letters, digits and ._@+- and must not start with '.' or '-'`);
    }
  }
  return path;
}

/** `salt://path` → path; anything else → undefined. */
export function saltUrlPath(source: string): string | undefined {
  return source.startsWith("salt://") ? checkFilePath(source) : undefined;
}

/** What the master signs for a stored file. */
export const FileRecord = Type.Object(
  {
    path: Type.String({ maxLength: 255 }),
    /** SHA-256 of the content, lower-case hex. */
    sha256: Type.String({ pattern: "^[0-9a-f]{64}$" }),
    size: Type.Integer({ minimum: 0 }),
    /** When the master stored it. */
    ts: Millis,
    /** The user who put it. */
    by: Type.String({ maxLength: 255 }),
    /** Unix permission bits the file had when it was put, e.g. "0755"; informational. */
    mode: Type.Optional(Type.String({ pattern: "^0[0-7]{3}$" })),
  },
  { additionalProperties: false },
);
export type FileRecord = Static<typeof FileRecord>;
export const fileRecord = validator("file record", FileRecord);

/** The object description: the record and the master's signature over `fileSigned(ns, record)`. */
export const FileDescription = Type.Object({ record: FileRecord, sig: Type.String({ maxLength: 200 }) }, { additionalProperties: false });
export type FileDescription = Static<typeof FileDescription>;
export const fileDescription = validator("file store description", FileDescription);

/** The "subject" the master signs a file record under: binds it to the namespace and path. */
export function fileSigSubject(ns: string, path: string): string {
  return `natrium.file.v1.${ns}/${path}`;
}

/** The bytes signed for a record (msgpack of its fields in a fixed order). */
export function fileSigPayload(r: FileRecord): Uint8Array {
  return encode([r.path, r.sha256, r.size, r.ts, r.by, r.mode ?? null]);
}
