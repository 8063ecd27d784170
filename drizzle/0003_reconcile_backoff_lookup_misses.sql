CREATE TABLE "lookup_misses" (
	"key" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "classroom_users" ADD COLUMN "reconcile_failures" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "classroom_users" ADD COLUMN "reconcile_not_before" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "lookup_misses_expires_at_idx" ON "lookup_misses" USING btree ("expires_at");