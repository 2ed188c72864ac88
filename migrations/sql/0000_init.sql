CREATE TABLE "audit" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"kind" text NOT NULL,
	"reason" text NOT NULL,
	"origin" text NOT NULL,
	"detail" jsonb,
	"ts" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"eid" text NOT NULL,
	"subject" text NOT NULL,
	"type" text NOT NULL,
	"jid" text,
	"minion" text,
	"signer" text NOT NULL,
	"ts" timestamp with time zone NOT NULL,
	"body" jsonb NOT NULL,
	CONSTRAINT "events_eid_key" UNIQUE("eid")
);
--> statement-breakpoint
CREATE TABLE "job_returns" (
	"jid" text NOT NULL,
	"minion" text NOT NULL,
	"fun" text NOT NULL,
	"fun_args" jsonb NOT NULL,
	"return" jsonb,
	"retcode" bigint NOT NULL,
	"success" boolean NOT NULL,
	"error" jsonb,
	"start" timestamp with time zone NOT NULL,
	"end" timestamp with time zone NOT NULL,
	"duration_ms" double precision NOT NULL,
	"eid" text NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "job_returns_pkey" PRIMARY KEY("jid","minion")
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"jid" text PRIMARY KEY NOT NULL,
	"fun" text NOT NULL,
	"arg" jsonb NOT NULL,
	"kwarg" jsonb NOT NULL,
	"tgt" jsonb NOT NULL,
	"tgt_type" text NOT NULL,
	"user" text NOT NULL,
	"master" text NOT NULL,
	"expected" text[] NOT NULL,
	"ret" text[] NOT NULL,
	"timeout" double precision NOT NULL,
	"created" timestamp with time zone NOT NULL,
	"expires" timestamp with time zone NOT NULL,
	"finished" timestamp with time zone,
	"done_reason" text,
	"missing" text[],
	"unexpected" text[],
	"seq" bigint NOT NULL,
	"done_seq" bigint
);
--> statement-breakpoint
CREATE TABLE "minions" (
	"id" text PRIMARY KEY NOT NULL,
	"key_state" text,
	"pub" text,
	"box_pub" text,
	"finger" text,
	"key_changed" timestamp with time zone,
	"grains" jsonb,
	"version" text,
	"host" text,
	"first_seen" timestamp with time zone,
	"last_seen" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "projection" (
	"stream" text PRIMARY KEY NOT NULL,
	"last_seq" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audit_kind_ts_idx" ON "audit" USING btree ("kind","ts" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_jid_idx" ON "events" USING btree ("jid","seq");--> statement-breakpoint
CREATE INDEX "events_minion_idx" ON "events" USING btree ("minion","seq");--> statement-breakpoint
CREATE INDEX "events_type_ts_idx" ON "events" USING btree ("type","ts" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "job_returns_minion_idx" ON "job_returns" USING btree ("minion","jid" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "job_returns_failed_idx" ON "job_returns" USING btree ("jid" DESC NULLS LAST,"minion") WHERE "job_returns"."success" = false;--> statement-breakpoint
CREATE INDEX "jobs_created_idx" ON "jobs" USING btree ("created" DESC NULLS LAST,"jid" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "jobs_fun_idx" ON "jobs" USING btree ("fun","created" DESC NULLS LAST);--> statement-breakpoint
CREATE VIEW "public"."salt_events" AS (select "events"."seq" as id, "events"."subject" as tag, "events"."body" as data, "events"."ts" as alter_time,
    null::text as master_id from "events");--> statement-breakpoint
CREATE VIEW "public"."jids" AS (select "jobs"."jid" as jid,
    jsonb_build_object('jid', "jobs"."jid", 'fun', "jobs"."fun", 'arg', "jobs"."arg", 'kwarg', "jobs"."kwarg", 'tgt', "jobs"."tgt",
      'tgt_type', "jobs"."tgt_type", 'user', "jobs"."user", 'minions', to_jsonb("jobs"."expected")) as load
    from "jobs");--> statement-breakpoint
CREATE VIEW "public"."salt_returns" AS (select r.fun as fun, r.jid as jid, r.return as return, r.minion as id,
    case when r.success then 'True' else 'False' end as success, e.body as full_ret, r."end" as alter_time
    from "job_returns" r join "events" e on e.seq = r.seq);