-- job_returns partitioned by range of jid, one partition per UTC day (a Salt jid begins with
-- its date), so retention drops a whole day at once (services/jobcache/partitions.ts makes new
-- days' partitions). drizzle-kit does not model partitioning: the table's columns and indexes
-- stay as migrations/schema.ts has them; this migration only changes how the rows are stored.
DROP VIEW "public"."salt_returns";--> statement-breakpoint
ALTER TABLE "job_returns" RENAME TO "job_returns_old";--> statement-breakpoint
ALTER TABLE "job_returns_old" RENAME CONSTRAINT "job_returns_pkey" TO "job_returns_old_pkey";--> statement-breakpoint
ALTER INDEX "job_returns_minion_idx" RENAME TO "job_returns_old_minion_idx";--> statement-breakpoint
ALTER INDEX "job_returns_failed_idx" RENAME TO "job_returns_old_failed_idx";--> statement-breakpoint
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
) PARTITION BY RANGE ("jid");--> statement-breakpoint
CREATE INDEX "job_returns_minion_idx" ON "job_returns" USING btree ("minion","jid" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "job_returns_failed_idx" ON "job_returns" USING btree ("jid" DESC NULLS FIRST,"minion") WHERE "job_returns"."success" = false;--> statement-breakpoint
CREATE TABLE "job_returns_default" PARTITION OF "job_returns" DEFAULT;--> statement-breakpoint
-- A partition for every day the history already has; rows whose jid does not begin with a date
-- go to the default partition.
DO $$
DECLARE d text;
BEGIN
  FOR d IN SELECT DISTINCT left("jid", 8) FROM "job_returns_old" WHERE "jid" ~ '^[0-9]{8}' LOOP
    BEGIN
      IF to_char(to_date(d, 'YYYYMMDD'), 'YYYYMMDD') = d THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF "job_returns" FOR VALUES FROM (%L) TO (%L)',
          'job_returns_p' || d, d, to_char(to_date(d, 'YYYYMMDD') + 1, 'YYYYMMDD'));
      END IF;
    EXCEPTION WHEN others THEN
      NULL;
    END;
  END LOOP;
END $$;--> statement-breakpoint
INSERT INTO "job_returns" SELECT * FROM "job_returns_old";--> statement-breakpoint
DROP TABLE "job_returns_old";--> statement-breakpoint
CREATE VIEW "public"."salt_returns" AS (select r.fun::varchar(50) as fun, r.jid::varchar(255) as jid, coalesce(r.return, 'null'::jsonb) as return,
    r.minion::varchar(255) as id, (case when r.success then 'True' else 'False' end)::varchar(10) as success,
    e.body as full_ret, r."end" as alter_time
    from "job_returns" r join "events" e on e.seq = r.seq);
