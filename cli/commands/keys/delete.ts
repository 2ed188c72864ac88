import { keyChangeCommand } from "../../lib/keys.js";

export default keyChangeCommand("delete", ["<%= config.bin %> keys delete web1", "<%= config.bin %> keys delete --all"]);
