CREATE TABLE "classroom_user_tombstones" (
	"user_id" text PRIMARY KEY NOT NULL,
	"sdk_app_id" bigint NOT NULL,
	"origin_id" text NOT NULL,
	"deleted_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lcic_request_id" text
);
--> statement-breakpoint
CREATE INDEX "classroom_user_tombstones_origin_idx" ON "classroom_user_tombstones" USING btree ("sdk_app_id","origin_id");--> statement-breakpoint
CREATE INDEX "classroom_users_listing_idx" ON "classroom_users" USING btree ("sdk_app_id","id") WHERE "classroom_users"."status" = 'registered';