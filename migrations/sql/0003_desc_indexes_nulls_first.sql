DROP INDEX "audit_kind_ts_idx";--> statement-breakpoint
DROP INDEX "events_type_ts_idx";--> statement-breakpoint
DROP INDEX "job_returns_minion_idx";--> statement-breakpoint
DROP INDEX "job_returns_failed_idx";--> statement-breakpoint
DROP INDEX "jobs_created_idx";--> statement-breakpoint
DROP INDEX "jobs_fun_idx";--> statement-breakpoint
DROP INDEX "jobs_user_idx";--> statement-breakpoint
CREATE INDEX "audit_kind_ts_idx" ON "audit" USING btree ("kind","ts" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "events_type_ts_idx" ON "events" USING btree ("type","ts" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "job_returns_minion_idx" ON "job_returns" USING btree ("minion","jid" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "job_returns_failed_idx" ON "job_returns" USING btree ("jid" DESC NULLS FIRST,"minion") WHERE "job_returns"."success" = false;--> statement-breakpoint
CREATE INDEX "jobs_created_idx" ON "jobs" USING btree ("created" DESC NULLS FIRST,"jid" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "jobs_fun_idx" ON "jobs" USING btree ("fun","created" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "jobs_user_idx" ON "jobs" USING btree ("user","created" DESC NULLS FIRST);