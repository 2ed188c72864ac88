import { test } from "node:test";
import assert from "node:assert/strict";
import { subjects, encodeToken, decodeToken, parseSubject, checkNamespace } from "../../contracts/subjects.js";
import { SubjectError } from "../../contracts/errors.js";

const J = "20261127082615123456";

test("subjects - exact strings", () => {
  const s = subjects("natrium");
  assert.equal(s.jobNew(J), "natrium.job.20261127082615123456.new");
  assert.equal(s.jobRet(J, "web1"), "natrium.job.20261127082615123456.ret.web1");
  assert.equal(s.jobProg(J, "web1"), "natrium.job.20261127082615123456.prog.web1");
  assert.equal(s.jobDone(J), "natrium.job.20261127082615123456.done");
  assert.equal(s.minionStart("web1"), "natrium.minion.web1.start");
  assert.equal(s.minionGrains("web1"), "natrium.minion.web1.grains");
  assert.equal(s.minionPresence("web1"), "natrium.minion.web1.presence");
  assert.equal(s.minionPresence("web1.example.com"), "natrium.minion.web1=2eexample=2ecom.presence");
  assert.equal(s.heartbeat("web1"), "natrium.hb.web1");
  assert.equal(s.heartbeat("web1.example.com"), "natrium.hb.web1=2eexample=2ecom");
  assert.equal(s.allPresence, "natrium.minion.*.presence");
  assert.equal(s.allHeartbeat, "natrium.hb.*");
  assert.equal(s.api("minions"), "natrium.api.minions");
  assert.equal(s.key("web1", "accepted"), "natrium.key.web1.accepted");
  assert.equal(s.audit("bad_signature"), "natrium.audit.bad_signature");
  assert.equal(s.api("publish"), "natrium.api.publish");
  assert.equal(s.cache("jobs"), "natrium.cache.jobs");
  assert.equal(s.ctl("web1"), "natrium.ctl.web1");
  assert.equal(s.stream, "NATRIUM_EVENTS");
  assert.deepEqual(s.streamSubjects, [
    "natrium.job.*.new", "natrium.job.*.ret.*", "natrium.job.*.done",
    "natrium.minion.>", "natrium.key.>", "natrium.audit.>",
  ]);
});

test("subjects - heartbeats stay out of the events stream; presence events are in it", () => {
  const s = subjects("natrium");
  // The stream's subjects, as NATS matches them: `*` one token, `>` one or more.
  const captured = (subject: string) =>
    s.streamSubjects.some((f) => {
      const ft = f.split(".");
      const st = subject.split(".");
      for (let i = 0; i < ft.length; i++) {
        if (ft[i] === ">") return st.length > i;
        if (ft[i] !== "*" && ft[i] !== st[i]) return false;
      }
      return ft.length === st.length;
    });
  assert.equal(captured(s.heartbeat("web1")), false);
  assert.equal(captured(s.minionPresence("web1")), true);
  assert.equal(captured(s.minionStart("web1")), true);
  assert.deepEqual(parseSubject("natrium", s.heartbeat("db.1")), { kind: "minion.heartbeat", minion: "db.1" });
  assert.deepEqual(parseSubject("natrium", s.minionPresence("db.1")), { kind: "minion.presence", minion: "db.1" });
  assert.equal(parseSubject("natrium", "natrium.hb.a.b"), undefined);
});

test("subjects - minion ids with dots and other characters are encoded reversibly", () => {
  const ids = ["web1.example.com", "a b", "x*y>z", "ünï", "=", "a=2e", "under_score-dash"];
  for (const id of ids) {
    const t = encodeToken(id);
    assert.match(t, /^[A-Za-z0-9_=-]+$/, id);
    assert.equal(decodeToken(t), id);
  }
  assert.equal(encodeToken("web1.example.com"), "web1=2eexample=2ecom");
  const s = subjects("ns1");
  assert.equal(s.jobRet(J, "db.1"), "ns1.job.20261127082615123456.ret.db=2e1");
  assert.deepEqual(parseSubject("ns1", s.jobRet(J, "db.1")), { kind: "job.ret", jid: J, minion: "db.1" });
});

test("subjects - bad names are refused with a typed error", () => {
  assert.throws(() => checkNamespace("Bad.NS"), SubjectError);
  assert.throws(() => subjects("ns").jobNew("123"), SubjectError);
  assert.throws(() => encodeToken(""), SubjectError);
  assert.throws(() => decodeToken("a.b"), SubjectError);
  assert.equal(parseSubject("ns", "ns.job.x.new"), undefined);
  assert.equal(parseSubject("ns", "other.job.20261127082615123456.new"), undefined);
});

test("subjects - returners: dead letters, bucket, durable; names are checked", async () => {
  const { returnerDurable } = await import("../../contracts/permissions.js");
  const { returnerKeys } = await import("../../contracts/returners.js");
  const s = subjects("my-ns");
  assert.equal(s.returnersBucket, "my-ns_returners");
  assert.equal(s.deadStream, "MY_NS_DEAD");
  assert.deepEqual(s.deadSubjects, ["my-ns.dead.*.*"]);
  assert.equal(s.deadLetter("audit-sink", "failed"), "my-ns.dead.audit-sink.failed");
  assert.equal(s.deadLetter("audit_sink", "refused"), "my-ns.dead.audit_sink.refused");
  assert.equal(s.deadLetters("audit-sink"), "my-ns.dead.audit-sink.*");
  assert.equal(s.allDead, "my-ns.dead.>");
  assert.equal(returnerDurable("audit-sink"), "returner_audit-sink");
  assert.equal(returnerKeys.settings("audit-sink"), "settings.audit-sink");
  assert.equal(returnerKeys.status("audit-sink"), "status.audit-sink");
  for (const bad of ["", "a.b", "a b", "a*", "x>", "ü", "a".repeat(65)]) {
    assert.throws(() => s.deadLetter(bad, "failed"), SubjectError, bad);
    assert.throws(() => returnerDurable(bad), SubjectError, bad);
  }
});
