// Small private files (keys, seeds, pins, custom grains, schedules) are replaced, never
// rewritten in place: written to a temp name created with its final mode, synced, then renamed,
// so a reader (or a crash) sees the old file or the new one, never half of either, and the
// content is never readable by others, not even for a moment.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
