import { keyChangeCommand } from "../../lib/keys.js";

export default keyChangeCommand("reject", ["<%= config.bin %> keys reject web1", "<%= config.bin %> keys reject --all"]);
