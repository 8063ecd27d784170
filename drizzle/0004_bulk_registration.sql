ALTER TABLE "classroom_users" ADD COLUMN "batch_id" text;--> statement-breakpoint
ALTER TABLE "classroom_users" ADD COLUMN "last_login_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "classroom_users_token_expiry_idx" ON "classroom_users" USING btree ("token_expires_at") WHERE "classroom_users"."status" = 'registered';