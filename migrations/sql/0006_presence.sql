ALTER TABLE "minions" ADD COLUMN "up" boolean;--> statement-breakpoint
ALTER TABLE "minions" ADD COLUMN "presence_changed" timestamp with time zone;