import { keyChangeCommand } from "../../lib/keys.js";

export default keyChangeCommand("accept", ["<%= config.bin %> keys accept web1", "<%= config.bin %> keys accept 'web*'", "<%= config.bin %> keys accept --all"]);
