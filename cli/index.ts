// Every CLI command, by id: oclif's "explicit" command strategy loads this one module, which
// the build bundles (cli/bundle.ts) so that a `natrium` invocation reads one file instead of
// resolving hundreds of modules. Add a command here and in its own file under commands/.
import AuditTail from "./commands/audit/tail.js";
import FilesList from "./commands/files/list.js";
import FilesPut from "./commands/files/put.js";
import FilesRm from "./commands/files/rm.js";
import CacheRebuild from "./commands/cache/rebuild.js";
import CacheStatus from "./commands/cache/status.js";
import EventsTail from "./commands/events/tail.js";
import JobcacheCmd from "./commands/jobcache.js";
import JobsActive from "./commands/jobs/active.js";
import JobsDiff from "./commands/jobs/diff.js";
import JobsKill from "./commands/jobs/kill.js";
import JobsList from "./commands/jobs/list.js";
import JobsMinion from "./commands/jobs/minion.js";
import JobsShow from "./commands/jobs/show.js";
import JobsSignal from "./commands/jobs/signal.js";
import JobsWatch from "./commands/jobs/watch.js";
import KeysAccept from "./commands/keys/accept.js";
import KeysDelete from "./commands/keys/delete.js";
import KeysFinger from "./commands/keys/finger.js";
import KeysList from "./commands/keys/list.js";
import KeysReject from "./commands/keys/reject.js";
import MasterCmd from "./commands/master.js";
import MinionCmd from "./commands/minion.js";
import MinionsList from "./commands/minions/list.js";
import MinionsMatch from "./commands/minions/match.js";
import NatsConfig from "./commands/nats-config.js";
import ReturnerStart from "./commands/returner/start.js";
import ReturnersAdd from "./commands/returners/add.js";
import ReturnersDead from "./commands/returners/dead.js";
import ReturnersList from "./commands/returners/list.js";
import ReturnersRemove from "./commands/returners/remove.js";
import ReturnersReset from "./commands/returners/reset.js";
import Run from "./commands/run.js";
import Up from "./commands/up.js";
import UserKeygen from "./commands/user/keygen.js";

export const COMMANDS = {
  "audit:tail": AuditTail,
  "files:list": FilesList,
  "files:put": FilesPut,
  "files:rm": FilesRm,
  "cache:rebuild": CacheRebuild,
  "cache:status": CacheStatus,
  "events:tail": EventsTail,
  jobcache: JobcacheCmd,
  "jobs:active": JobsActive,
  "jobs:diff": JobsDiff,
  "jobs:kill": JobsKill,
  "jobs:list": JobsList,
  "jobs:minion": JobsMinion,
  "jobs:show": JobsShow,
  "jobs:signal": JobsSignal,
  "jobs:watch": JobsWatch,
  "keys:accept": KeysAccept,
  "keys:delete": KeysDelete,
  "keys:finger": KeysFinger,
  "keys:list": KeysList,
  "keys:reject": KeysReject,
  master: MasterCmd,
  minion: MinionCmd,
  "minions:list": MinionsList,
  "minions:match": MinionsMatch,
  "nats-config": NatsConfig,
  "returner:start": ReturnerStart,
  "returners:add": ReturnersAdd,
  "returners:dead": ReturnersDead,
  "returners:list": ReturnersList,
  "returners:remove": ReturnersRemove,
  "returners:reset": ReturnersReset,
  run: Run,
  up: Up,
  "user:keygen": UserKeygen,
};
