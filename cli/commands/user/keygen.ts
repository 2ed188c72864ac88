import { Args, Command, Flags } from "../../lib/oclif.js";
import { stringify } from "yaml";
import { fingerprint } from "../../../contracts/sign.js";
import { UserName } from "../../../contracts/request.js";
import { NatriumError } from "../../../contracts/errors.js";
import { createSigningKeyFile } from "../../../services/common/keys.js";
import { userKeyPath } from "../../lib/identity.js";

export default class UserKeygen extends Command {
  static summary = "Make a key for a user: the CLI signs every request to the master with it";
  static description = `Writes the private key (0600) to ~/.natrium/keys/NAME.sign, or --out, and prints the lines to add under \`users:\` in the master's config. The master accepts the user's requests once it is restarted with them.`;
  static enableJsonFlag = true;
  static args = { name: Args.string({ required: true, description: "the user name (letters, digits, _ . @ -)" }) };
  static examples = ["<%= config.bin %> user keygen alice", "<%= config.bin %> user keygen ci --out ./ci.sign"];
  static flags = {
    out: Flags.string({ description: "where to write the key (default: ~/.natrium/keys/NAME.sign)" }),
  };

  async run(): Promise<{ user: string; file: string; pub: string; finger: string }> {
    const { args, flags } = await this.parse(UserKeygen);
    if (!new RegExp(UserName.pattern!).test(args.name)) {
      this.error(`"${args.name}" is not a valid user name: letters, digits, _ . @ -, up to 64 characters`, { exit: 2 });
    }
    const file = flags.out ?? userKeyPath(args.name);
    let pub: string;
    try {
      pub = createSigningKeyFile(file).pub;
    } catch (err) {
      if (err instanceof NatriumError) this.error(err.message, { exit: 2, code: err.code });
      throw err;
    }
    if (!this.jsonEnabled()) {
      this.log(`Wrote ${file} (keep it private). Add to the master's config:\n`);
      this.log(stringify({ users: { [args.name]: { pub, acl: ["test.ping"] } } }).trimEnd());
      this.log(`\nthen restart the master. Fingerprint: ${fingerprint(pub)}`);
    }
    return { user: args.name, file, pub, finger: fingerprint(pub) };
  }
}
