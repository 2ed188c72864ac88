-- The minion scheduler: a return says which schedule entry it is a run of (job.ret `schedule`).
-- Scheduled runs have no jobs row; the partial index finds one minion's quickly for `jobs minion`.
ALTER TABLE "job_returns" ADD COLUMN "schedule" text;--> statement-breakpoint
CREATE INDEX "job_returns_schedule_idx" ON "job_returns" USING btree ("minion","jid" DESC NULLS FIRST) WHERE "job_returns"."schedule" is not null;