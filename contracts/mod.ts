// The public entry of the contract: what a returner, a service or the CLI imports.
export * from "./errors.js";
export * from "./subjects.js";
export * from "./codec.js";
export * from "./sign.js";
export * from "./jid.js";
export * from "./ids.js";
export * from "./message.js";
export * from "./schema.js";
export * from "./events/index.js";
export * from "./api.js";
export * from "./registry.js";
