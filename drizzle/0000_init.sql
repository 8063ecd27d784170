CREATE TABLE "classroom_users" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "classroom_users_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"sdk_app_id" bigint NOT NULL,
	"origin_id" text NOT NULL,
	"user_id" text,
	"name" text,
	"avatar" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"token_ciphertext" text,
	"token_expires_at" timestamp with time zone,
	"lcic_request_id" text,
	"origin_id_generated" boolean DEFAULT false NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "classroom_users_registered_has_user_id" CHECK ("classroom_users"."status" <> 'registered' OR "classroom_users"."user_id" IS NOT NULL)
);
--> statement-breakpoint
CREATE UNIQUE INDEX "classroom_users_sdk_app_id_origin_id_key" ON "classroom_users" USING btree ("sdk_app_id","origin_id");--> statement-breakpoint
CREATE UNIQUE INDEX "classroom_users_user_id_key" ON "classroom_users" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "classroom_users_pending_idx" ON "classroom_users" USING btree ("updated_at") WHERE "classroom_users"."status" = 'pending';